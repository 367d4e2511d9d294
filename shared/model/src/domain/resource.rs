//! A reference to the AWS resource a change touched.
use serde::{Deserialize, Serialize};

/// The resource a change touched, in CloudFormation's vocabulary where known.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRef {
    /// CloudFormation resource type, e.g. `AWS::EC2::SecurityGroup`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// The id CloudFormation reports as `PhysicalResourceId` (group id, bucket
    /// name, role name, parameter name, function name, topic ARN, queue URL...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_id: Option<String>,
    /// The resource's ARN, when the source gives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// For a write no operation row lists: every identifier its record names,
    /// in the forms CloudFormation stores physical ids in, most telling first
    /// (`sources::identifiers::extract`); the catalog looks the owner up by
    /// them (`StackCatalog::owner_of_identifiers`). Empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<String>,
    /// How many of the first `identifiers` come from the record's
    /// `resources[]`, CloudTrail's own list of the resources accessed: they
    /// outrank the request's and the response's (`sources::identifiers::pick`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub listed_identifiers: usize,
    /// The extraction stopped at a bound: the record may name more than
    /// `identifiers`, so finding no owner among them proves nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub identifiers_truncated: bool,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl ResourceRef {
    /// A resource of `resource_type` with physical id `physical_id`, no ARN.
    pub fn new(resource_type: &str, physical_id: impl Into<String>) -> Self {
        Self {
            resource_type: Some(resource_type.to_string()),
            physical_id: Some(physical_id.into()),
            arn: None,
            identifiers: Vec::new(),
            listed_identifiers: 0,
            identifiers_truncated: false,
        }
    }

    /// Unresolved: we know a write happened but not to what (unknown operation
    /// or a request without the identifying parameter).
    pub fn unresolved() -> Self {
        Self::default()
    }

    /// The same with its ARN.
    pub fn with_arn(mut self, arn: impl Into<String>) -> Self {
        self.arn = Some(arn.into());
        self
    }

    /// Is there a (non-empty) physical id to look the owner up by?
    pub fn is_resolved(&self) -> bool {
        self.physical_id.as_deref().is_some_and(|id| !id.is_empty())
    }

    /// A short human label: `AWS::EC2::SecurityGroup sg-123`.
    pub fn label(&self) -> String {
        match (&self.resource_type, &self.physical_id) {
            (Some(t), Some(id)) => format!("{t} {id}"),
            (None, Some(id)) => id.clone(),
            (Some(t), None) => format!("{t} (unresolved)"),
            (None, None) => "(unresolved resource)".to_string(),
        }
    }
}
