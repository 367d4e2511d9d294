//! Which stack owns a resource.
use serde::{Deserialize, Serialize};

/// A resource's place in a CloudFormation stack (from `DescribeStackResources` and
/// `DescribeStacks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackMembership {
    /// The stack's ARN (`StackId`).
    pub stack_id: String,
    /// The stack's name.
    pub stack_name: String,
    /// The resource's logical id in the template (`LogicalResourceId`).
    pub logical_id: String,
    /// The resource's CloudFormation type (`ResourceType`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// e.g. `UPDATE_COMPLETE`, `UPDATE_IN_PROGRESS`.
    pub stack_status: String,
    /// The stack's tags (rules can match on them).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub stack_tags: std::collections::BTreeMap<String, String>,
    /// Set when the owning stack is a nested stack (`DescribeStacks` `ParentId` /
    /// `RootId`). The membership above is the nested stack's own: act on it,
    /// never on the parent's behalf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nested: Option<NestedStack>,
}

/// Where a nested stack sits: `ParentId` is "For nested stacks, the stack ID of the
/// direct parent of this stack", `RootId` "the stack ID of the top-level stack to
/// which the nested stack ultimately belongs" (aws-sdk-cloudformation 1.136 `Stack`;
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Stack.html>).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NestedStack {
    /// The stack id of the direct parent (`ParentId`).
    pub parent_id: String,
    /// The stack id of the top-level stack (`RootId`), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_id: Option<String>,
}

impl StackMembership {
    /// CloudFormation is working on the stack: never act now.
    pub fn operation_in_progress(&self) -> bool {
        stack_operation_in_progress(&self.stack_status)
    }
}

/// `*_IN_PROGRESS` (including `REVIEW_IN_PROGRESS`, `UPDATE_COMPLETE_CLEANUP_IN_PROGRESS`).
pub fn stack_operation_in_progress(status: &str) -> bool {
    status.ends_with("_IN_PROGRESS")
}

/// Which stack owns a resource, if any: driftguard only ever acts on a resource proven to
/// belong to a managed stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ownership {
    /// The resource belongs to this stack.
    Managed(StackMembership),
    /// Proven not to belong to any stack.
    Unmanaged,
    /// Could not be established (lookup failed, resource unresolved): never act.
    Unknown {
        /// Why (the lookup's error, or what was missing).
        reason: String,
    },
    /// Offline replay: nobody looked. The decision is the policy's; the online
    /// path always resolves ownership before acting.
    NotChecked,
}

impl Ownership {
    /// The stack membership, when managed.
    pub fn membership(&self) -> Option<&StackMembership> {
        match self {
            Ownership::Managed(m) => Some(m),
            _ => None,
        }
    }

    /// A short label: `stack/LogicalId`, `unmanaged`, `unknown (why)`, `not checked`.
    pub fn label(&self) -> String {
        match self {
            Ownership::Managed(m) => format!("{}/{}", m.stack_name, m.logical_id),
            Ownership::Unmanaged => "unmanaged".into(),
            Ownership::Unknown { reason } => format!("unknown ({reason})"),
            Ownership::NotChecked => "not checked".into(),
        }
    }
}
