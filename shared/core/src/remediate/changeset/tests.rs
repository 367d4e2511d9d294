//! The change-set rules that need no SDK: the review, the polls that fit in
//! the time left, the finishing check and wake-up of a handed-over change set.
//! The rules against the SDK (aws-smithy-mocks, each mock shaped by the
//! documentation cited in [`super`]) are `adapters::aws::changesets::tests`.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::testing::plans::revert_plan;

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
    async fn execute(
        &self,
        _: &Plan,
    ) -> Result<crate::ports::remediate::Execution, ExecutionError> {
        unreachable!("verification never executes")
    }
    async fn read_back(&self, _: &Plan) -> PortResult<Option<crate::ports::remediate::ReadBack>> {
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
    let fp = driftguard_model::domain::Fingerprint::for_change(&d.change, &d.ownership);
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
