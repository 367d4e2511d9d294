//! Which stack owns a resource.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackMembership {
    pub stack_id: String,
    pub stack_name: String,
    pub logical_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// e.g. `UPDATE_COMPLETE`, `UPDATE_IN_PROGRESS`.
    pub stack_status: String,
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
    pub parent_id: String,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Ownership {
    Managed(StackMembership),
    /// Proven not to belong to any stack.
    Unmanaged,
    /// Could not be established (lookup failed, resource unresolved): never act.
    Unknown {
        reason: String,
    },
    /// Offline replay: nobody looked. The decision is the policy's; the online
    /// path always resolves ownership before acting.
    NotChecked,
}

impl Ownership {
    pub fn membership(&self) -> Option<&StackMembership> {
        match self {
            Ownership::Managed(m) => Some(m),
            _ => None,
        }
    }

    pub fn label(&self) -> String {
        match self {
            Ownership::Managed(m) => format!("{}/{}", m.stack_name, m.logical_id),
            Ownership::Unmanaged => "unmanaged".into(),
            Ownership::Unknown { reason } => format!("unknown ({reason})"),
            Ownership::NotChecked => "not checked".into(),
        }
    }
}
