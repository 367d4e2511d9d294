//! S3 bucket versioning: a `PutBucketVersioning` that changed the status is
//! undone with `PutBucketVersioning` of the template's
//! `VersioningConfiguration.Status`. Read back with `GetBucketVersioning`.
//!
//! Refused when the template declares no versioning ("If the versioning state
//! has never been set on a bucket, it has no versioning state", and a bucket
//! once versioned can only be `Enabled` or `Suspended`,
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketVersioning.html>),
//! and when the hot-fix changed MFA delete: changing it needs "the x-amz-mfa
//! request header" of the bucket owner's device (same page), which driftguard
//! does not have.
use serde_json::Value;

use super::{expected, mismatched, target_id, Handler, Undo};
use crate::ports::remediate::{Observed, ReadBack};
use crate::remediate::call::{Call, PutBucketVersioning, VersioningConfiguration};
use crate::remediate::planner::PlanInput;
use crate::remediate::template::Lookup;
use driftguard_model::domain::Change;

pub const HANDLER: Handler = Handler {
    family: "bucket_versioning",
    description: "set the template's VersioningConfiguration Status again (refused without one, or when MFA delete changed)",
    undoes: &["s3:PutBucketVersioning"],
    permissions: &["s3:PutBucketVersioning", "s3:GetBucketVersioning"],
    plan,
};

fn requested(change: &Change) -> &Value {
    &change.request["VersioningConfiguration"]
}

fn plan(i: &PlanInput<'_>, change: &Change) -> Result<Undo, String> {
    let bucket = target_id(i, change, "bucketName")?;
    if requested(change).get("MfaDelete").is_some() {
        return Err(format!(
            "the change sets MFA delete on bucket {bucket}: changing it back needs the bucket owner's MFA device"
        ));
    }
    let status = match expected(i, "VersioningConfiguration") {
        Lookup::Found(v) => v
            .get("Status")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or("the template's VersioningConfiguration has no Status")?,
        Lookup::Absent => {
            return Err(format!(
                "the template declares no versioning for bucket {bucket}: a versioned bucket cannot return to unversioned"
            ))
        }
        Lookup::NotLiteral(why) => return Err(why),
    };
    if requested(change).get("Status").and_then(Value::as_str) == Some(status.as_str()) {
        return Err(format!(
            "the change set versioning {status}, as the template does: nothing to undo"
        ));
    }
    let expected = format!("bucket {bucket} has versioning {status} again, as in the template");
    Ok(Undo::one(
        Call::PutBucketVersioning(PutBucketVersioning {
            bucket,
            versioning_configuration: VersioningConfiguration { status },
        }),
        expected,
    ))
}

/// Converged when the status reads back as planned.
pub(crate) fn read_back(c: &PutBucketVersioning, seen: &Observed) -> ReadBack {
    let Observed::BucketVersioning(got) = seen else {
        return mismatched("s3:GetBucketVersioning", seen);
    };
    ReadBack {
        converged: got.as_deref() == Some(c.versioning_configuration.status.as_str()),
        detail: format!("s3:GetBucketVersioning on {}: {got:?}", c.bucket),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::remediate::handlers::testing::{recorded, Case};
    use serde_json::json;

    const TEMPLATE: &str = "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n    Properties:\n      VersioningConfiguration: { Status: Enabled }\n";

    #[test]
    fn the_recorded_mfa_delete_change_is_refused() {
        let change = recorded("s3-put-bucket-versioning.json", "AWS::S3::Bucket", "bucket");
        let err = Case::new("Bucket", TEMPLATE)
            .plan(&HANDLER, &change)
            .unwrap_err();
        assert!(err.contains("MFA"), "{err}");
    }

    #[test]
    fn suspended_versioning_is_enabled_again_and_read_back() {
        let mut change = recorded("s3-put-bucket-versioning.json", "AWS::S3::Bucket", "bucket");
        change.request["VersioningConfiguration"] = json!({"Status": "Suspended", "xmlns": "x"});
        let undo = Case::new("Bucket", TEMPLATE)
            .plan(&HANDLER, &change)
            .unwrap();
        assert_eq!(
            undo.calls[0].to_planned().parameters,
            json!({"Bucket": "bucket", "VersioningConfiguration": {"Status": "Enabled"}})
        );
        let [Call::PutBucketVersioning(c)] = undo.calls.as_slice() else {
            panic!("{:?}", undo.calls)
        };
        let seen = |s: Option<&str>| Observed::BucketVersioning(s.map(str::to_string));
        assert!(read_back(c, &seen(Some("Enabled"))).converged);
        assert!(!read_back(c, &seen(Some("Suspended"))).converged);
        let bare = Case::new(
            "Bucket",
            "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n",
        );
        assert!(bare
            .plan(&HANDLER, &change)
            .unwrap_err()
            .contains("cannot return"));
    }
}
