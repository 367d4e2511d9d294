//! Which IAM action authorizes each operation of the `OPERATIONS` table, and
//! which condition key tells, per service, that the resource belongs to a
//! CloudFormation stack.
//!
//! CloudFormation tags what it creates with `aws:cloudformation:stack-name`,
//! `aws:cloudformation:logical-id` and `aws:cloudformation:stack-id` ("In
//! addition to any tags you define, CloudFormation automatically creates the
//! following stack-level tags with the aws: prefix", and "The propagation of
//! stack-level tags to resources, including tags with the aws: prefix, varies
//! by resource type",
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-resource-tags.html>).
//! A policy reads a resource's tags with the global key `aws:ResourceTag/KEY`
//! where the service lists it for the action's resource type in the Service
//! Authorization Reference (the pages cited per service below).
use driftguard_model::sources::operations::OperationSpec;

/// The tag CloudFormation puts on the resources of a stack.
pub const STACK_NAME_TAG: &str = "aws:cloudformation:stack-name";
/// The tag with the resource's logical id in its stack.
pub const LOGICAL_ID_TAG: &str = "aws:cloudformation:logical-id";

/// How a service's resources are recognised as CloudFormation's in a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceKeys {
    /// IAM service prefix (`ec2`, `s3`...).
    pub prefix: &'static str,
    /// The tag condition key, or `None` where the service has none for these
    /// actions (its operations are then left out, and listed as not covered).
    pub resource_tag_key: Option<&'static str>,
    /// The resource type of the Service Authorization Reference that carries it.
    pub resource_type: &'static str,
    /// Anything that limits the key (shown in `driftguard guardrail` notes).
    pub caveat: Option<&'static str>,
    /// The Service Authorization Reference page.
    pub reference: &'static str,
}

const SAR: &str = "https://docs.aws.amazon.com/service-authorization/latest/reference/";

macro_rules! keys {
    ($prefix:literal, $type:literal, $page:literal, $caveat:expr) => {
        ServiceKeys {
            prefix: $prefix,
            resource_tag_key: Some("aws:ResourceTag/${TagKey}"),
            resource_type: $type,
            caveat: $caveat,
            reference: concat!(
                "https://docs.aws.amazon.com/service-authorization/latest/reference/",
                $page
            ),
        }
    };
}

/// Every service of the `OPERATIONS` table, sorted by prefix. The resource
/// types and keys were read from each page's "Resource types" table (the same
/// data parliament's `iam_definition.json` carries).
pub static SERVICES: &[ServiceKeys] = &[
    keys!("dynamodb", "table", "list_amazondynamodb.html", None),
    keys!("ec2", "security-group, instance, network-interface", "list_amazonec2.html", None),
    keys!("iam", "role", "list_awsidentityandaccessmanagementiam.html", None),
    keys!("kms", "key", "list_awskeymanagementservice.html", None),
    keys!("lambda", "function", "list_awslambda.html", None),
    keys!("rds", "db", "list_amazonrds.html", None),
    keys!(
        "s3",
        "bucket",
        "list_amazons3.html",
        Some(
            "general purpose buckets expose their tags to aws:ResourceTag only with ABAC \
             enabled on the bucket (\"By default, ABAC is disabled for all Amazon S3 general \
             purpose buckets\", https://docs.aws.amazon.com/AmazonS3/latest/userguide/buckets-tagging-enable-abac.html); \
             on other buckets the statement never matches"
        )
    ),
    keys!("sns", "topic", "list_amazonsns.html", None),
    keys!("sqs", "queue", "list_amazonsqs.html", None),
    keys!("ssm", "parameter", "list_awssystemsmanager.html", None),
];

/// The Service Authorization Reference index, for services not in [`SERVICES`].
pub const REFERENCE_INDEX: &str = SAR;

/// The service entry for an IAM prefix.
pub fn service(prefix: &str) -> Option<&'static ServiceKeys> {
    SERVICES.iter().find(|s| s.prefix == prefix)
}

/// The IAM action that authorizes `spec`. Mostly `service:Operation`; some S3
/// calls are authorized by another action: DeleteBucketEncryption: "To use this
/// operation, you must have permissions to perform the
/// s3:PutEncryptionConfiguration action"
/// (<https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteBucketEncryption.html>),
/// and likewise PutBucketEncryption (s3:PutEncryptionConfiguration),
/// DeletePublicAccessBlock (s3:PutBucketPublicAccessBlock) and
/// DeleteBucketTagging (s3:PutBucketTagging), per the Permissions section of
/// each API page.
pub fn iam_action(spec: &OperationSpec) -> String {
    let action = match (spec.service, spec.operation) {
        ("s3", "DeleteBucketEncryption" | "PutBucketEncryption") => "PutEncryptionConfiguration",
        ("s3", "DeleteBucketPublicAccessBlock") => "PutBucketPublicAccessBlock",
        ("s3", "DeleteBucketTagging") => "PutBucketTagging",
        (_, op) => op,
    };
    format!("{}:{action}", spec.service)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use driftguard_model::sources::operations::OPERATIONS;

    #[test]
    fn every_service_of_the_table_says_which_key_it_uses() {
        for spec in OPERATIONS {
            let s = service(spec.service)
                .unwrap_or_else(|| panic!("{} has no ServiceKeys entry", spec.service));
            assert!(s.reference.starts_with(REFERENCE_INDEX));
        }
        let mut prefixes: Vec<_> = SERVICES.iter().map(|s| s.prefix).collect();
        prefixes.sort_unstable();
        prefixes.dedup();
        assert_eq!(prefixes.len(), SERVICES.len());
    }

    #[test]
    fn s3_calls_map_to_their_iam_actions() {
        let find = |op| {
            OPERATIONS
                .iter()
                .find(|s| s.service == "s3" && s.operation == op)
                .map(iam_action)
        };
        assert_eq!(
            find("DeleteBucketEncryption").as_deref(),
            Some("s3:PutEncryptionConfiguration")
        );
        assert_eq!(
            find("DeleteBucketPublicAccessBlock").as_deref(),
            Some("s3:PutBucketPublicAccessBlock")
        );
        assert_eq!(
            find("PutBucketPolicy").as_deref(),
            Some("s3:PutBucketPolicy")
        );
    }
}
