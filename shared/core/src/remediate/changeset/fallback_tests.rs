//! The REVERT_DRIFT preview that decides between keeping, widening or
//! replacing a change-set plan, over an in-memory [`ChangeSets`].
//!
//! AWS behaviour the fake follows: a drift-aware change set "compare[s]
//! templates with the actual state of your stack resources and bring[s]
//! drifted resources in line with their template definitions" — every
//! drifted resource of the stack, not only the one driftguard means
//! (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/drift-aware-change-sets.html>);
//! `DescribeChangeSet` pages its `Changes` with `NextToken` ("If the output
//! exceeds 1 MB, a string that identifies the next page of changes",
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeChangeSet.html>).
#![allow(clippy::unwrap_used)]
use serde_json::json;

use super::*;
use crate::testing::change_sets::{modify, MemoryChangeSets};
use driftguard_model::domain::{Plan, PlannedCall, Strategy};

/// A stack whose every drifted resource a REVERT_DRIFT change set lists,
/// in pages of one change.
fn drifted_stack(drifted: &[&str]) -> MemoryChangeSets {
    let pages = drifted.iter().map(|id| vec![modify(id, None)]).collect();
    MemoryChangeSets::new(&["Level"], pages)
}

fn plan() -> Plan {
    let name = "driftguard-revert-t1-1772359200";
    Plan {
        strategy: Strategy::RevertDriftChangeSet,
        calls: vec![
            PlannedCall::new(
                "cloudformation",
                "CreateChangeSet",
                json!({"StackName": "app", "ChangeSetName": name, "DeploymentMode": "REVERT_DRIFT", "UsePreviousTemplate": true}),
            ),
            PlannedCall::new(
                "cloudformation",
                "DescribeChangeSet",
                json!({"StackName": "app", "ChangeSetName": name, "ExpectOnlyLogicalIds": ["Sg"]}),
            ),
            PlannedCall::new(
                "cloudformation",
                "ExecuteChangeSet",
                json!({"StackName": "app", "ChangeSetName": name}),
            ),
        ],
        expected: "app/Sg matches its template again".into(),
        skipped: vec![],
    }
}

fn now() -> DateTime<Utc> {
    "2026-03-01T10:05:00Z".parse().unwrap()
}

#[tokio::test]
async fn the_preview_lists_every_drifted_resource_from_every_page_and_is_deleted() {
    let cfn = drifted_stack(&["Sg", "Bucket", "Sg", "Queue"]);
    let ids = reverted_logical_ids(&cfn, &plan(), &WaitPolicy::quick(), now())
        .await
        .unwrap();
    assert_eq!(ids, ["Bucket", "Queue", "Sg"]);
    let created = cfn.created.lock().unwrap().clone();
    assert_eq!(created.len(), 1);
    let throwaway = &created[0].name;
    assert!(created[0].revert_drift, "a drift-aware change set");
    assert_eq!(
        throwaway, "driftguard-preview-1772359500-driftguard-revert-t1-1772359200",
        "its own name and token: never the change set the plan executes"
    );
    assert_eq!(&created[0].client_token, throwaway);
    assert_eq!(*cfn.deleted.lock().unwrap(), vec![throwaway.clone()]);
    assert!(cfn.executed.lock().unwrap().is_empty(), "never executed");
}

#[tokio::test]
async fn a_preview_showing_only_the_tickets_resource_keeps_the_plan_as_it_is() {
    let cfn = drifted_stack(&["Sg"]);
    let ids = reverted_logical_ids(&cfn, &plan(), &WaitPolicy::quick(), now())
        .await
        .unwrap();
    assert_eq!(ids, ["Sg"]);
    // The plan's own change set then previews alike and executes.
    let notes = run(&cfn, &plan(), &WaitPolicy::quick()).await.unwrap();
    assert!(
        notes.iter().any(|n| n.contains("executed change set")),
        "{notes:?}"
    );
}

#[tokio::test]
async fn a_widened_plan_executes_when_the_change_set_reverts_exactly_what_it_lists() {
    let cfn = drifted_stack(&["Sg", "Bucket"]);
    let narrow = run(&cfn, &plan(), &WaitPolicy::quick()).await.unwrap_err();
    assert!(
        narrow.to_string().contains("would also touch Bucket"),
        "{narrow}"
    );
    let widened = crate::remediate::planner::widen_revert_drift(
        crate::remediate::planner::Planned {
            plan: plan(),
            approval_required: None,
        },
        &["Bucket".to_string()],
    );
    assert_eq!(
        expected_ids(&widened.plan.calls[1].parameters),
        ["Bucket", "Sg"]
    );
    assert!(widened.approval_required.unwrap().contains("Bucket"));
    assert!(widened.plan.expected.contains("also reverts Bucket"));
    assert_eq!(planned_others(&widened.plan, "Sg"), ["Bucket"]);
    run(&cfn, &widened.plan, &WaitPolicy::quick())
        .await
        .unwrap();
    assert_eq!(cfn.executed.lock().unwrap().len(), 1);
}

#[test]
fn a_throwaway_name_is_a_valid_change_set_name() {
    let mut long = plan();
    let name = format!("driftguard-revert-{}", "x".repeat(120));
    // Every call of a change-set plan names the same change set (the typed
    // plan, `strategy_calls::ChangeSetPlan`, refuses one that does not).
    for call in &mut long.calls {
        if call.parameters.get("ChangeSetName").is_some() {
            call.parameters["ChangeSetName"] = json!(name);
        }
    }
    let copy = preview_copy(&long, now()).unwrap();
    let throwaway = copy.calls[0].parameters["ChangeSetName"].as_str().unwrap();
    assert!(throwaway.len() <= 128);
    assert_ne!(throwaway, name);
    assert!(throwaway.starts_with("driftguard-preview-"));
    assert!(throwaway
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-'));
    assert_eq!(copy.calls[1].parameters["ChangeSetName"], json!(throwaway));
}
