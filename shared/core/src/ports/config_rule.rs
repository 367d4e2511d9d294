//! The AWS Config rule's ports: where evaluations go (`PutEvaluations`,
//! [`EvaluationSink`]) and the id Config uses for a resource
//! ([`ConfigIdResolver`]). The rule itself is [`crate::sweep::config_rule`].
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use driftguard_model::error::PortResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Compliance {
    Compliant,
    NonCompliant,
    NotApplicable,
}

impl Compliance {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Compliant => "COMPLIANT",
            Self::NonCompliant => "NON_COMPLIANT",
            Self::NotApplicable => "NOT_APPLICABLE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    pub resource_type: String,
    pub resource_id: String,
    pub compliance: Compliance,
    /// At most [`MAX_ANNOTATION_CHARS`](crate::sweep::config_rule::MAX_ANNOTATION_CHARS) characters.
    pub annotation: String,
    pub ordering_timestamp: DateTime<Utc>,
}

/// Where evaluations go: `PutEvaluations`.
#[async_trait]
pub trait EvaluationSink: Send + Sync {
    /// One call (at most 100 evaluations); returns how many AWS Config rejected.
    async fn put_evaluations(
        &self,
        result_token: &str,
        evaluations: &[Evaluation],
        test_mode: bool,
    ) -> PortResult<usize>;
}

/// A resource type whose AWS Config `resourceId` is not CloudFormation's
/// `PhysicalResourceId` (the ticket's id), and what Config uses instead.
///
/// CloudFormation's physical ids: a role's, a user's name; a managed policy's ARN;
/// a DB instance's identifier ("When you pass the logical ID of this resource to the
/// intrinsic Ref function, Ref returns the ..." name / ARN / identifier:
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-iam-role.html#aws-resource-iam-role-return-values>,
/// aws-resource-iam-user, aws-resource-iam-managedpolicy, aws-resource-rds-dbinstance).
/// Config's `resourceId` ("The ID of the resource (for example, sg-xxxxxx)",
/// <https://docs.aws.amazon.com/config/latest/APIReference/API_ResourceIdentifier.html>)
/// is the stable id: `RoleId` ("The stable and unique string identifying the role",
/// `AROA...`), `UserId` (`AIDA...`), `PolicyId` (`ANPA...`) and the DB instance's
/// `DbiResourceId` ("The Amazon Web Services Region-unique, immutable identifier for
/// the DB instance"). Gap: no recorded configuration item in this repository shows
/// these ids yet; the issue (13, item 10) and the unique-id prefixes of
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids>
/// are the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConfigIdKind {
    IamRoleId,
    IamUserId,
    IamPolicyId,
    RdsDbiResourceId,
}

/// Resolves the id AWS Config uses for a resource named by its physical id.
#[async_trait]
pub trait ConfigIdResolver: Send + Sync {
    /// `None` when the resource no longer exists.
    async fn config_resource_id(
        &self,
        kind: ConfigIdKind,
        physical_id: &str,
    ) -> PortResult<Option<String>>;
}
