//! S3 bucket policy: `PutBucketPolicy` / `DeleteBucketPolicy` is undone with
//! the template's `AWS::S3::BucketPolicy` document, or `DeleteBucketPolicy`
//! when the template declares none. Read back with `GetBucketPolicy`.
use serde_json::Value;

use super::{mismatched, target_id, Handler, Undo};
use crate::ports::remediate::{Observed, ReadBack};
use crate::remediate::call::{Call, DeleteBucketPolicy, PutBucketPolicy};
use crate::remediate::planner::PlanInput;
use crate::remediate::template::{Lookup, TemplateView};
use driftguard_model::domain::Change;

pub const HANDLER: Handler = Handler {
    family: "bucket_policy",
    description: "put the template's AWS::S3::BucketPolicy back, or delete a policy the template does not declare",
    undoes: &["s3:PutBucketPolicy", "s3:DeleteBucketPolicy"],
    permissions: &["s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:GetBucketPolicy"],
    plan,
};

fn plan(i: &PlanInput<'_>, change: &Change) -> Result<Undo, String> {
    let bucket = target_id(i, change, "bucketName")?;
    let template = i.template.map_err(|why| {
        format!("the template is not available ({why}): the bucket policy to restore is unknown")
    })?;
    match declared_policy(template, &i.membership.logical_id, &bucket)? {
        Some((policy_id, document)) => Ok(Undo::one(
            Call::PutBucketPolicy(PutBucketPolicy {
                bucket: bucket.clone(),
                policy: document.to_string(),
            }),
            format!("bucket {bucket} has the policy of template resource {policy_id} again"),
        )),
        None if change.operation == "DeleteBucketPolicy" => Err(format!(
            "the template declares no policy for bucket {bucket}: the deletion already matches it"
        )),
        None => Ok(Undo::one(
            Call::DeleteBucketPolicy(DeleteBucketPolicy {
                bucket: bucket.clone(),
            }),
            format!("bucket {bucket} has no bucket policy, as in the template"),
        )),
    }
}

/// The template's policy resource for this bucket and its document.
fn declared_policy<'t>(
    template: &'t TemplateView,
    logical: &str,
    bucket: &str,
) -> Result<Option<(&'t str, Value)>, String> {
    let declared = template
        .resources_of_type("AWS::S3::BucketPolicy")
        .find(|(_, body)| {
            body.get("Properties")
                .and_then(|p| p.get("Bucket"))
                .is_some_and(|b| template.names_resource(b, logical, bucket))
        });
    let Some((policy_id, _)) = declared else {
        return Ok(None);
    };
    match template.property(policy_id, "PolicyDocument") {
        Lookup::Found(v) => Ok(Some((policy_id, v))),
        Lookup::Absent => Err(format!("{policy_id} has no PolicyDocument")),
        Lookup::NotLiteral(why) => Err(why),
    }
}

/// Converged when the bucket's policy is the planned document (as JSON), or
/// absent when the plan deleted it.
pub(crate) fn read_back(bucket: &str, want: Option<&str>, seen: &Observed) -> ReadBack {
    let Observed::BucketPolicy(got) = seen else {
        return mismatched("s3:GetBucketPolicy", seen);
    };
    let got: Option<Value> = got.as_deref().and_then(|t| serde_json::from_str(t).ok());
    let want: Option<Value> = want.and_then(|t| serde_json::from_str(t).ok());
    ReadBack {
        converged: got == want,
        detail: format!(
            "s3:GetBucketPolicy on {bucket}: {}",
            got.map(|v| v.to_string()).unwrap_or("no policy".into())
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::remediate::handlers::testing::{recorded, Case};
    use serde_json::json;

    const DECLARED: &str = "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n  BucketPolicy:\n    Type: AWS::S3::BucketPolicy\n    Properties:\n      Bucket: !Ref Bucket\n      PolicyDocument: { Version: \"2012-10-17\", Statement: [] }\n";
    const NONE: &str = "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n";

    #[test]
    fn the_recorded_public_policy_is_replaced_by_the_template_one_or_deleted() {
        let change = recorded(
            "s3-put-bucket-policy.json",
            "AWS::S3::Bucket",
            "example-bucket",
        );
        let undo = Case::new("Bucket", DECLARED)
            .plan(&HANDLER, &change)
            .unwrap();
        let [Call::PutBucketPolicy(p)] = undo.calls.as_slice() else {
            panic!("{:?}", undo.calls)
        };
        assert_eq!(
            serde_json::from_str::<Value>(&p.policy).unwrap(),
            json!({"Version": "2012-10-17", "Statement": []})
        );
        let undo = Case::new("Bucket", NONE).plan(&HANDLER, &change).unwrap();
        assert_eq!(
            undo.calls,
            vec![Call::DeleteBucketPolicy(DeleteBucketPolicy {
                bucket: "example-bucket".into()
            })]
        );
    }

    #[test]
    fn a_deletion_the_template_agrees_with_is_not_undone() {
        let change = recorded("s3-delete-bucket-policy.json", "AWS::S3::Bucket", "");
        let err = Case::new("Bucket", NONE)
            .plan(&HANDLER, &change)
            .unwrap_err();
        assert!(err.contains("already matches"), "{err}");
    }

    #[test]
    fn read_back_compares_documents_as_json() {
        let want = r#"{"Version":"2012-10-17","Statement":[]}"#;
        let same = Observed::BucketPolicy(Some(
            r#"{ "Statement": [], "Version": "2012-10-17" }"#.into(),
        ));
        assert!(read_back("b", Some(want), &same).converged);
        assert!(!read_back("b", None, &same).converged);
        assert!(read_back("b", None, &Observed::BucketPolicy(None)).converged);
    }
}
