//! Plans as the planner stores them, for tests of the strategies that run them.
use serde_json::json;

use driftguard_model::domain::{Plan, PlannedCall, Strategy};

/// A REVERT_DRIFT plan of Sg in stack `app` (change set `cs1`), as the planner stores it.
pub fn revert_plan() -> Plan {
    Plan {
        strategy: Strategy::RevertDriftChangeSet,
        calls: vec![
            PlannedCall::new(
                "cloudformation",
                "CreateChangeSet",
                json!({"StackName": "app", "ChangeSetName": "cs1", "DeploymentMode": "REVERT_DRIFT"}),
            ),
            PlannedCall::new(
                "cloudformation",
                "DescribeChangeSet",
                json!({"StackName": "app", "ChangeSetName": "cs1", "ExpectOnlyLogicalIds": ["Sg"]}),
            ),
            PlannedCall::new(
                "cloudformation",
                "ExecuteChangeSet",
                json!({"StackName": "app", "ChangeSetName": "cs1"}),
            ),
        ],
        expected: "Sg matches its template".into(),
        skipped: vec![],
    }
}
