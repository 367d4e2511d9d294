//! Change-set rules against the SDK through [`CfnChangeSets`] and
//! aws-smithy-mocks; each mock is shaped by the documentation cited in
//! [`super`] (DescribeChangeSet, ResourceChange, CreateChangeSet).
#![allow(clippy::unwrap_used)]
use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput;
use aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput;
use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
use aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput;
use aws_sdk_cloudformation::types::{
    Change, ChangeAction, ChangeSetStatus, DeploymentMode, ExecutionStatus, Parameter, Replacement,
    ResourceChange as SdkChange, Stack, StackStatus,
};
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use serde_json::json;

use super::*;
use crate::adapters::aws::changesets::CfnChangeSets;
use crate::resilience::RetryPolicy;

fn stack(status: StackStatus) -> DescribeStacksOutput {
    DescribeStacksOutput::builder()
        .stacks(
            Stack::builder()
                .stack_name("app")
                .stack_status(status)
                .parameters(
                    Parameter::builder()
                        .parameter_key("Level")
                        .parameter_value("info")
                        .build(),
                )
                .creation_time(aws_smithy_types::DateTime::from_secs(0))
                .build(),
        )
        .build()
}

fn modify(logical: &str, replacement: Replacement) -> Change {
    Change::builder()
        .resource_change(
            SdkChange::builder()
                .logical_resource_id(logical)
                .action(ChangeAction::Modify)
                .replacement(replacement)
                .build(),
        )
        .build()
}

fn complete(changes: Vec<Change>, next: Option<&str>) -> DescribeChangeSetOutput {
    DescribeChangeSetOutput::builder()
        .status(ChangeSetStatus::CreateComplete)
        .execution_status(ExecutionStatus::Available)
        .set_changes(Some(changes))
        .set_next_token(next.map(str::to_string))
        .build()
}

pub(crate) fn revert_plan() -> Plan {
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

struct Mocks {
    create: Rule,
    execute: Rule,
    delete: Rule,
}

fn mocks() -> Mocks {
    Mocks {
        create: mock!(aws_sdk_cloudformation::Client::create_change_set)
            .then_output(|| CreateChangeSetOutput::builder().id("cs-arn").build()),
        execute: mock!(aws_sdk_cloudformation::Client::execute_change_set)
            .then_output(|| ExecuteChangeSetOutput::builder().build()),
        delete: mock!(aws_sdk_cloudformation::Client::delete_change_set)
            .then_output(|| DeleteChangeSetOutput::builder().build()),
    }
}

fn stacks_then(statuses: &[StackStatus]) -> Rule {
    let mut b = mock!(aws_sdk_cloudformation::Client::describe_stacks).sequence();
    for s in statuses {
        let s = s.clone();
        b = b.output(move || stack(s.clone()));
    }
    b.repeatedly().build()
}

async fn run_with(rules: &[&Rule], plan: &Plan) -> Result<Vec<String>, ExecutionError> {
    let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, rules);
    let port = CfnChangeSets::new(client, RetryPolicy::quick());
    run(&port, plan, &WaitPolicy::quick()).await
}

#[tokio::test]
async fn revert_drift_change_set_touching_only_the_drifted_resource_is_executed() {
    let m = mocks();
    let create = mock!(aws_sdk_cloudformation::Client::create_change_set)
        .match_requests(|r| {
            r.deployment_mode() == Some(&DeploymentMode::RevertDrift)
                && r.use_previous_template() == Some(true)
                && r.client_token() == Some("cs1")
                && r.parameters()
                    .iter()
                    .all(|p| p.use_previous_value() == Some(true))
        })
        .then_output(|| CreateChangeSetOutput::builder().id("cs-arn").build());
    let execute = mock!(aws_sdk_cloudformation::Client::execute_change_set)
        .match_requests(|r| r.client_request_token() == Some("cs1"))
        .then_output(|| ExecuteChangeSetOutput::builder().build());
    let describe = mock!(aws_sdk_cloudformation::Client::describe_change_set)
        .sequence()
        .output(|| {
            DescribeChangeSetOutput::builder()
                .status(ChangeSetStatus::CreatePending)
                .execution_status(ExecutionStatus::Unavailable)
                .build()
        })
        .output(|| complete(vec![modify("Sg", Replacement::False)], None))
        .build();
    let stacks = stacks_then(&[
        StackStatus::UpdateComplete,
        StackStatus::UpdateInProgress,
        StackStatus::UpdateComplete,
    ]);
    let notes = run_with(
        &[&create, &describe, &execute, &stacks, &m.delete],
        &revert_plan(),
    )
    .await
    .unwrap();
    assert_eq!((create.num_calls(), execute.num_calls()), (1, 1));
    assert_eq!(describe.num_calls(), 2);
    assert!(
        notes.iter().any(|n| n.contains("previews: Modify Sg")),
        "{notes:?}"
    );
    assert!(notes.last().unwrap().contains("UPDATE_COMPLETE"));
    assert_eq!(m.delete.num_calls(), 0);
}

/// `Replacement` "indicates whether CloudFormation will replace the resource by
/// creating a new one and deleting the old one": True and Conditional are refused.
#[tokio::test]
async fn a_change_set_with_a_replacement_is_refused_and_deleted() {
    for replacement in [Replacement::True, Replacement::Conditional] {
        let m = mocks();
        let r = replacement.clone();
        let describe = mock!(aws_sdk_cloudformation::Client::describe_change_set)
            .then_output(move || complete(vec![modify("Sg", r.clone())], None));
        let stacks = stacks_then(&[StackStatus::UpdateComplete]);
        let err = run_with(
            &[&m.create, &describe, &m.execute, &m.delete, &stacks],
            &revert_plan(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, ExecutionError::Refused(why) if why.contains("would replace Sg") && why.contains(replacement.as_str())),
            "{err}"
        );
        assert_eq!(m.execute.num_calls(), 0, "nothing executed");
        assert_eq!(m.delete.num_calls(), 1, "the change set is cleaned up");
    }
}

/// A drift-aware change set reverts every drifted resource of the stack: a
/// second drifted resource in it refuses the one-resource revert.
#[tokio::test]
async fn a_change_set_reverting_a_second_drifted_resource_is_refused() {
    let m = mocks();
    let describe = mock!(aws_sdk_cloudformation::Client::describe_change_set).then_output(|| {
        complete(
            vec![
                modify("Sg", Replacement::False),
                modify("Database", Replacement::False),
            ],
            None,
        )
    });
    let stacks = stacks_then(&[StackStatus::UpdateComplete]);
    let err = run_with(
        &[&m.create, &describe, &m.execute, &m.delete, &stacks],
        &revert_plan(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, ExecutionError::Refused(why) if why.contains("would also touch Database")),
        "{err}"
    );
    assert_eq!(m.execute.num_calls(), 0);
    assert_eq!(m.delete.num_calls(), 1);
}

/// `NextToken`: "If the output exceeds 1 MB, a string that identifies the next
/// page of changes." The second page's resource is seen and refuses the set.
#[tokio::test]
async fn every_page_of_the_change_set_is_reviewed() {
    let m = mocks();
    let first = mock!(aws_sdk_cloudformation::Client::describe_change_set)
        .match_requests(|r| r.next_token().is_none())
        .then_output(|| complete(vec![modify("Sg", Replacement::False)], Some("page-2")));
    let second = mock!(aws_sdk_cloudformation::Client::describe_change_set)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(|| complete(vec![modify("Database", Replacement::True)], None));
    let stacks = stacks_then(&[StackStatus::UpdateComplete]);
    let err = run_with(
        &[&m.create, &first, &second, &m.execute, &m.delete, &stacks],
        &revert_plan(),
    )
    .await
    .unwrap_err();
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    assert!(
        matches!(&err, ExecutionError::Refused(why) if why.contains("Database")),
        "{err}"
    );
    assert_eq!(m.execute.num_calls(), 0);
}

/// `ExecutionStatus`: "If the change set execution status is AVAILABLE, you can
/// execute the change set." OBSOLETE ("the stack was already updated") is refused.
#[tokio::test]
async fn a_change_set_that_is_not_available_is_not_executed() {
    let m = mocks();
    let describe = mock!(aws_sdk_cloudformation::Client::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .execution_status(ExecutionStatus::Obsolete)
            .changes(modify("Sg", Replacement::False))
            .build()
    });
    let stacks = stacks_then(&[StackStatus::UpdateComplete]);
    let err = run_with(
        &[&m.create, &describe, &m.execute, &m.delete, &stacks],
        &revert_plan(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("OBSOLETE, not AVAILABLE"), "{err}");
    assert_eq!(m.execute.num_calls(), 0);
}

#[tokio::test]
async fn an_empty_revert_drift_change_set_is_refused() {
    let m = mocks();
    let describe = mock!(aws_sdk_cloudformation::Client::describe_change_set)
        .then_output(|| complete(vec![], None));
    let stacks = stacks_then(&[StackStatus::UpdateComplete]);
    let err = run_with(&[&m.create, &describe, &m.delete, &stacks], &revert_plan())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExecutionError::Refused(why) if why.contains("no changes")),
        "{err}"
    );
}

/// A stack still updating when the polls run out is handed over (Ok, with a
/// note), not reported as a failure that would open the circuit breaker.
#[tokio::test]
async fn a_slow_update_is_handed_over_not_failed() {
    let m = mocks();
    let describe = mock!(aws_sdk_cloudformation::Client::describe_change_set)
        .then_output(|| complete(vec![modify("Sg", Replacement::False)], None));
    let stacks = stacks_then(&[StackStatus::UpdateComplete, StackStatus::UpdateInProgress]);
    let notes = run_with(
        &[&m.create, &describe, &m.execute, &m.delete, &stacks],
        &revert_plan(),
    )
    .await
    .unwrap();
    assert_eq!(m.execute.num_calls(), 1);
    assert!(notes.last().unwrap().contains("handed over"), "{notes:?}");
}

#[test]
fn removals_are_refused_and_replacements_need_the_plan_to_allow_them() {
    let remove = ResourceChange {
        logical_id: "Sg".into(),
        action: "Remove".into(),
        ..Default::default()
    };
    let expect = Expectation::default();
    let why = review(&[remove], Some("AVAILABLE"), &expect).unwrap_err();
    assert!(why.contains("would delete Sg"), "{why}");
    let replace = ResourceChange {
        logical_id: "Db".into(),
        action: "Modify".into(),
        replacement: Some("Conditional".into()),
        ..Default::default()
    };
    assert!(review(std::slice::from_ref(&replace), Some("AVAILABLE"), &expect).is_err());
    let allowed = Expectation {
        only: None,
        allow_replacement: true,
    };
    assert!(review(&[replace], Some("AVAILABLE"), &allowed).is_ok());
}

#[test]
fn polls_fit_in_the_time_left() {
    let wait = WaitPolicy {
        interval: Duration::from_secs(3),
        max_polls: 40,
    };
    let now: DateTime<Utc> = "2026-03-01T10:00:00Z".parse().unwrap();
    assert_eq!(polls_within(&wait, None, now), 40);
    // 40 s left, 10 s kept back: 30 s of 3 s polls.
    let deadline = now + chrono::Duration::seconds(40);
    assert_eq!(polls_within(&wait, Some(deadline), now), 10);
    assert_eq!(polls_within(&wait, Some(now), now), 0);
    let far = now + chrono::Duration::hours(1);
    assert_eq!(polls_within(&wait, Some(far), now), 40);
}

struct Status(&'static str);

#[async_trait::async_trait]
impl PlanExecutor for Status {
    async fn execute(&self, _: &Plan) -> Result<super::super::Execution, ExecutionError> {
        unreachable!("verification never executes")
    }
    async fn read_back(&self, _: &Plan) -> PortResult<Option<super::super::ReadBack>> {
        Ok(None)
    }
    async fn stack_status(&self, _: &str) -> PortResult<Option<String>> {
        Ok(Some(self.0.to_string()))
    }
}

/// The finishing check: while the handed-over update runs, verification waits
/// (Held, REMEDIATING); once the stack settled, drift detection judges it.
#[tokio::test]
async fn a_handed_over_change_set_is_verified_once_the_stack_settles() {
    let plan = revert_plan();
    let running = in_progress(&plan, "app", &Status("UPDATE_IN_PROGRESS")).await;
    assert!(
        matches!(running, Some(Verification::InProgress { .. })),
        "{running:?}"
    );
    assert!(in_progress(&plan, "app", &Status("UPDATE_COMPLETE"))
        .await
        .is_none());
    let mut other = plan.clone();
    other.strategy = Strategy::InverseCall;
    assert!(in_progress(&other, "app", &Status("UPDATE_IN_PROGRESS"))
        .await
        .is_none());
}

/// The sweep's finishing check: only a REMEDIATING change-set ticket that has
/// rested is woken, with its own decision and `state_changed: false`.
#[test]
fn a_rested_handed_over_ticket_is_woken_with_its_own_decision() {
    use crate::notify::samples;
    let d = samples::console_port_22_decision();
    let fp = crate::domain::Fingerprint::for_change(&d.change, &d.ownership);
    let t0 = d.change.time;
    let mut t = Ticket::new(fp, &d.change, &d.ownership, t0);
    t.last_change = Some(d.change.clone());
    t.last_actor = Some(d.actor.clone());
    t.decision = Some(d.decision.clone());
    t.plan = Some(revert_plan());
    t.state = TicketState::Remediating;
    t.updated_at = t0;
    let soon = t0 + chrono::Duration::minutes(1);
    let later = t0 + chrono::Duration::minutes(HANDOVER_RECHECK_MINUTES);
    assert!(finishing_wake(&t, soon).is_none(), "not rested yet");
    let wake = finishing_wake(&t, later).unwrap();
    assert_eq!(wake.ticket_id, t.id);
    assert!(!wake.state_changed);
    assert_eq!(wake.decision, d.decision);
    let mut inverse = t.clone();
    inverse.plan.as_mut().unwrap().strategy = Strategy::InverseCall;
    assert!(finishing_wake(&inverse, later).is_none());
    t.state = TicketState::Resolved;
    assert!(finishing_wake(&t, later).is_none());
}
