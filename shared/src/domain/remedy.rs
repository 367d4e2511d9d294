//! Remedies: an ordered plan of strategies; the first that applies wins.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// `CreateChangeSet` with `DeploymentMode=REVERT_DRIFT`, inspected, then executed.
    RevertDriftChangeSet,
    /// The exact undo of a known hot-fix.
    InverseCall,
    /// Cloud Control `UpdateResource` with a JSON Patch starting with `test` ops.
    CloudControlPatch,
    /// Cancel, continue-rollback, rollback, or a change set to the last good template.
    StackRollback,
}

impl Strategy {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::RevertDriftChangeSet => "revert_drift_change_set",
            Self::InverseCall => "inverse_call",
            Self::CloudControlPatch => "cloud_control_patch",
            Self::StackRollback => "stack_rollback",
        }
    }
}

/// One API call a plan will make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedCall {
    /// e.g. `ec2`.
    pub service: String,
    /// e.g. `RevokeSecurityGroupIngress`.
    pub operation: String,
    pub parameters: serde_json::Value,
}

impl PlannedCall {
    pub fn new(service: &str, operation: &str, parameters: serde_json::Value) -> Self {
        Self {
            service: service.into(),
            operation: operation.into(),
            parameters,
        }
    }
}

/// A remediation plan: the calls, their parameters and the expected result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub strategy: Strategy,
    pub calls: Vec<PlannedCall>,
    /// What the resource should look like afterwards, in words.
    pub expected: String,
    /// Strategies tried first that did not apply, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<(Strategy, String)>,
}
