//! S3 public access block: `PutBucketPublicAccessBlock` (weakened) or
//! `DeleteBucketPublicAccessBlock` is undone with `PutPublicAccessBlock` of the
//! template's `PublicAccessBlockConfiguration`. Read back with
//! `GetPublicAccessBlock`. The IAM actions are `s3:PutBucketPublicAccessBlock`
//! / `s3:GetBucketPublicAccessBlock`
//! (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutPublicAccessBlock.html>:
//! "To use this operation, you must have the `s3:PutBucketPublicAccessBlock` permission").
use serde_json::Value;

use super::{expected, mismatched, target_id, truthy, Handler, Undo};
use crate::ports::remediate::{Observed, ReadBack};
use crate::remediate::call::{Call, PublicAccessBlock, PutPublicAccessBlock};
use crate::remediate::planner::PlanInput;
use crate::remediate::template::Lookup;
use driftguard_model::domain::Change;

pub const HANDLER: Handler = Handler {
    family: "public_access_block",
    description: "put the template's PublicAccessBlockConfiguration back on the bucket",
    undoes: &[
        "s3:PutBucketPublicAccessBlock",
        "s3:DeleteBucketPublicAccessBlock",
    ],
    permissions: &[
        "s3:PutBucketPublicAccessBlock",
        "s3:GetBucketPublicAccessBlock",
    ],
    plan,
};

fn plan(i: &PlanInput<'_>, change: &Change) -> Result<Undo, String> {
    let bucket = target_id(i, change, "bucketName")?;
    let config = match expected(i, "PublicAccessBlockConfiguration") {
        Lookup::Found(v) => v,
        Lookup::Absent => {
            return Err(format!(
                "the template declares no PublicAccessBlockConfiguration for bucket {bucket}: nothing to restore (removing a block is never automatic)"
            ))
        }
        Lookup::NotLiteral(why) => return Err(why),
    };
    // Fields the template leaves out are false (CloudFormation's documented default).
    let flag = |f: &str| truthy(config.get(f));
    let block = PublicAccessBlock {
        block_public_acls: flag("BlockPublicAcls"),
        ignore_public_acls: flag("IgnorePublicAcls"),
        block_public_policy: flag("BlockPublicPolicy"),
        restrict_public_buckets: flag("RestrictPublicBuckets"),
    };
    let summary = summary(&block);
    Ok(Undo::one(
        Call::PutPublicAccessBlock(PutPublicAccessBlock {
            bucket: bucket.clone(),
            public_access_block_configuration: block,
        }),
        format!("bucket {bucket} has the template's public access block again ({summary})"),
    ))
}

fn summary(block: &PublicAccessBlock) -> String {
    match serde_json::to_value(block) {
        Ok(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    }
}

/// Converged when every flag reads back as planned (no block at all is not).
pub(crate) fn read_back(c: &PutPublicAccessBlock, seen: &Observed) -> ReadBack {
    let Observed::PublicAccessBlock(got) = seen else {
        return mismatched("s3:GetPublicAccessBlock", seen);
    };
    let want = &c.public_access_block_configuration;
    let converged = got.is_some_and(|g| {
        g.block_public_acls == Some(want.block_public_acls)
            && g.ignore_public_acls == Some(want.ignore_public_acls)
            && g.block_public_policy == Some(want.block_public_policy)
            && g.restrict_public_buckets == Some(want.restrict_public_buckets)
    });
    ReadBack {
        converged,
        detail: format!("s3:GetPublicAccessBlock on {}: {got:?}", c.bucket),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ports::remediate::ObservedBlock;
    use crate::remediate::handlers::testing::{recorded, Case};
    use serde_json::json;

    const TEMPLATE: &str = "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n    Properties:\n      PublicAccessBlockConfiguration:\n        BlockPublicAcls: true\n        IgnorePublicAcls: true\n        BlockPublicPolicy: true\n";

    fn undo(file: &str) -> PutPublicAccessBlock {
        let change = recorded(file, "AWS::S3::Bucket", "corporate-documents");
        let undo = Case::new("Bucket", TEMPLATE)
            .plan(&HANDLER, &change)
            .unwrap();
        let [Call::PutPublicAccessBlock(c)] = undo.calls.as_slice() else {
            panic!("{:?}", undo.calls)
        };
        c.clone()
    }

    #[test]
    fn recorded_put_and_delete_restore_the_template_block() {
        let put = undo("s3-put-bucket-public-access-block.json");
        // RestrictPublicBuckets is left out of the template: false.
        assert_eq!(
            serde_json::to_value(
                Call::PutPublicAccessBlock(put.clone())
                    .to_planned()
                    .parameters
            )
            .unwrap(),
            json!({"Bucket": "corporate-documents", "PublicAccessBlockConfiguration": {"BlockPublicAcls": true, "IgnorePublicAcls": true, "BlockPublicPolicy": true, "RestrictPublicBuckets": false}})
        );
        let deleted = recorded(
            "s3-delete-bucket-public-access-block.json",
            "AWS::S3::Bucket",
            "",
        );
        let undo = Case::new("Bucket", TEMPLATE)
            .plan(&HANDLER, &deleted)
            .unwrap();
        assert_eq!(undo.calls[0].name(), "s3:PutPublicAccessBlock");
    }

    #[test]
    fn no_template_block_is_refused() {
        let change = recorded(
            "s3-put-bucket-public-access-block.json",
            "AWS::S3::Bucket",
            "corporate-documents",
        );
        let case = Case::new(
            "Bucket",
            "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n",
        );
        assert!(case
            .plan(&HANDLER, &change)
            .unwrap_err()
            .contains("nothing to restore"));
    }

    #[test]
    fn read_back_needs_every_flag() {
        let put = undo("s3-put-bucket-public-access-block.json");
        let mut got = ObservedBlock {
            block_public_acls: Some(true),
            ignore_public_acls: Some(true),
            block_public_policy: Some(true),
            restrict_public_buckets: Some(false),
        };
        assert!(read_back(&put, &Observed::PublicAccessBlock(Some(got))).converged);
        got.block_public_policy = Some(false);
        assert!(!read_back(&put, &Observed::PublicAccessBlock(Some(got))).converged);
        assert!(!read_back(&put, &Observed::PublicAccessBlock(None)).converged);
    }
}
