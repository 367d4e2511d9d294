//! The sweep's identity-less changes: a decided actor carried while the
//! drift is the same, accepted and allowed drift honoured, ALLOWED tickets.
#![allow(clippy::unwrap_used)]
use serde_json::json;

use super::test_support::*;
use crate::ports::TicketStore;
use driftguard_model::domain::{
    Action, ActorKind, Change, ChangeSource, Drift, Identity, TicketState,
};
use driftguard_model::testing::changes::{sg_change, t0};
use driftguard_model::testing::identities::{console, role};

/// The change a sweep makes of one MODIFIED resource (no identity).
fn sweep_change(event_id: &str, drift: Drift) -> Change {
    Change {
        event_id: event_id.into(),
        time: t0() + chrono::Duration::hours(1),
        source: ChangeSource::Sweep,
        service: "cloudformation".into(),
        operation: "DetectStackDrift".into(),
        identity: Identity::default(),
        request: serde_json::Value::Null,
        stack_hint: Some(driftguard_model::domain::StackHint {
            stack: "app".into(),
            logical_id: Some("WebSG".into()),
            status: Some("UPDATE_COMPLETE".into()),
        }),
        drift_hint: Some(drift),
        unparsed: Vec::new(),
        ..sg_change(event_id, Identity::default())
    }
}

fn later(mut d: Drift) -> Drift {
    d.detected_at = Some(t0() + chrono::Duration::hours(1));
    d
}

fn other_value() -> Drift {
    let mut d = cfn_modified();
    d.differences[0].actual = Some(json!({"CidrIp": "0.0.0.0/0", "FromPort": 3389}));
    d
}

/// Issue 13, item 9: the sweep's change has no identity; the break-glass
/// decision stands while the drift is the same drift.
#[tokio::test]
async fn a_break_glass_change_is_not_reverted_by_a_later_sweep() {
    let h = drift_harness();
    h.drift.set("app", "WebSG", Ok(cfn_modified()));
    let r = h
        .pipeline
        .process_change(sg_change("ev-bg", role("break-glass", "oncall")))
        .await
        .unwrap();
    assert_eq!(r.actor.kind, ActorKind::BreakGlass);
    assert_eq!(r.decision.verdict.action, Action::Ticket);

    let r = h
        .pipeline
        .process_change(sweep_change("sweep:1", later(cfn_modified())))
        .await
        .unwrap();
    assert_eq!(r.actor.kind, ActorKind::BreakGlass, "{:?}", r.actor);
    assert!(r.actor.evidence[0].contains("carried from ticket"));
    assert_eq!(r.decision.verdict.action, Action::Ticket);
    assert_eq!(h.store.tickets()[0].state, TicketState::Open);

    // Another value is another drift: decided afresh (actor unknown).
    let r = h
        .pipeline
        .process_change(sweep_change("sweep:2", other_value()))
        .await
        .unwrap();
    assert_eq!(r.actor.kind, ActorKind::Unknown);
    assert_eq!(r.decision.verdict.action, Action::Revert);
}

/// Issue 34, item 9: a drift carried as break-glass is decided again when
/// its window ends: the ticket's actor records the window's `not_after`, and
/// a sweep after it finds the same drift and decides it as anyone's.
#[tokio::test]
async fn a_break_glass_drift_is_decided_again_when_its_window_ends() {
    let h = drift_harness();
    h.drift.set("app", "WebSG", Ok(cfn_modified()));
    let r = h
        .pipeline
        .process_change(sg_change("ev-bg", role("break-glass", "oncall")))
        .await
        .unwrap();
    assert_eq!(r.actor.kind, ActorKind::BreakGlass);
    let end = chrono::DateTime::parse_from_rfc3339("2026-12-31T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert_eq!(r.actor.break_glass_until, Some(end));
    let stored = h.store.tickets()[0].last_actor.clone().unwrap();
    assert_eq!(stored.break_glass_until, Some(end), "the ticket records it");

    // Same drift, swept at the window's last instant: still carried.
    let mut at_end = later(cfn_modified());
    at_end.detected_at = Some(end);
    let mut change = sweep_change("sweep:1", at_end.clone());
    change.time = end;
    let r = h.pipeline.process_change(change).await.unwrap();
    assert_eq!(r.actor.kind, ActorKind::BreakGlass, "{:?}", r.actor);
    assert_eq!(r.decision.verdict.action, Action::Ticket);

    // Same drift, swept a second after: decided again, and reverted.
    let after = end + chrono::Duration::seconds(1);
    at_end.detected_at = Some(after);
    let mut change = sweep_change("sweep:2", at_end);
    change.time = after;
    let r = h.pipeline.process_change(change).await.unwrap();
    assert_eq!(r.actor.kind, ActorKind::Unknown, "{:?}", r.actor);
    assert!(
        r.actor.evidence[0].contains("ended at 2026-12-31 00:00:00 UTC"),
        "{:?}",
        r.actor.evidence
    );
    assert_eq!(r.decision.verdict.action, Action::Revert);
}

/// Issue 13, item 9: ACCEPTED lasts while the values are the accepted
/// ones; a changed value reopens.
#[tokio::test]
async fn an_accepted_drift_survives_a_sweep_and_a_changed_value_reopens() {
    let h = drift_harness();
    h.drift.set("app", "WebSG", Ok(cfn_modified()));
    h.pipeline
        .process_change(sg_change("ev-c", console()))
        .await
        .unwrap();
    let mut t = h.store.tickets().pop().unwrap();
    t.transition(TicketState::Accepted, "accepted by test", t0())
        .unwrap();
    t.accepted_drift = t.current_drift().map(Drift::fingerprint);
    t.version += 1;
    h.store.update_ticket(&t).await.unwrap();

    let r = h
        .pipeline
        .process_change(sweep_change("sweep:1", later(cfn_modified())))
        .await
        .unwrap();
    assert_eq!(r.decision.verdict.action, Action::Ignore);
    assert!(
        r.decision.verdict.reason.contains("accepted"),
        "{:?}",
        r.decision
    );
    assert_eq!(h.store.tickets()[0].state, TicketState::Accepted);

    let r = h
        .pipeline
        .process_change(sweep_change("sweep:2", other_value()))
        .await
        .unwrap();
    assert_eq!(r.decision.verdict.action, Action::Revert);
    let t = h.store.tickets().pop().unwrap();
    assert_eq!(t.state, TicketState::Open);
    assert_eq!(t.reopened, 1);
}

/// Issue 13: a pipeline change the policy allows opens no ticket, yet the
/// next sweep sees its drift with no identity. The ALLOWED record keeps the
/// actor and the drift fingerprint: the sweep neither tickets nor reverts
/// that drift; a later different change is decided again.
#[tokio::test]
async fn a_pipeline_change_allowed_by_policy_is_not_undone_by_the_next_sweep() {
    let h = drift_harness();
    h.drift.set("app", "WebSG", Ok(cfn_modified()));
    let r = h
        .pipeline
        .process_change(sg_change("ev-p", role("deploy-pipeline", "codepipeline")))
        .await
        .unwrap();
    assert_eq!(r.actor.kind, ActorKind::Pipeline);
    assert_eq!(r.decision.verdict.action, Action::Allow);
    let t = h.store.tickets().pop().unwrap();
    assert_eq!(t.state, TicketState::Allowed);
    assert!(t.state.is_closed());
    assert_eq!(t.last_actor.as_ref().unwrap().kind, ActorKind::Pipeline);
    assert_eq!(t.decided_drift, Some(cfn_modified().fingerprint()));
    assert!(h.published().is_empty(), "nothing to remediate or announce");

    // The next sweep: same drift, no identity. The allowed decision stands.
    for n in 1..=2 {
        let r = h
            .pipeline
            .process_change(sweep_change(&format!("sweep:{n}"), later(cfn_modified())))
            .await
            .unwrap();
        assert_eq!(r.actor.kind, ActorKind::Pipeline, "{:?}", r.actor);
        assert!(r.actor.evidence[0].contains("carried from ticket"));
        assert_eq!(r.decision.verdict.action, Action::Allow);
    }
    let t = h.store.tickets().pop().unwrap();
    assert_eq!(
        (t.state, t.version),
        (TicketState::Allowed, 1),
        "nothing rewritten"
    );
    assert!(h.published().is_empty(), "neither ticketed nor reverted");

    // A later different value is another drift: decided afresh.
    let r = h
        .pipeline
        .process_change(sweep_change("sweep:3", other_value()))
        .await
        .unwrap();
    assert_eq!(r.actor.kind, ActorKind::Unknown);
    assert_eq!(r.decision.verdict.action, Action::Revert);
    let t = h.store.tickets().pop().unwrap();
    assert_eq!((t.state, t.reopened), (TicketState::Open, 1));
    assert_eq!(h.published().len(), 1);
}

/// A console change after the pipeline's allowed one is decided again, and
/// once that ticket is resolved a new pipeline change is recorded afresh.
#[tokio::test]
async fn a_change_after_an_allowed_one_is_decided_again() {
    let h = drift_harness();
    h.drift.set("app", "WebSG", Ok(cfn_modified()));
    let pipeline = role("deploy-pipeline", "codepipeline");
    h.pipeline
        .process_change(sg_change("ev-p1", pipeline.clone()))
        .await
        .unwrap();
    h.drift.set("app", "WebSG", Ok(other_value()));
    let r = h
        .pipeline
        .process_change(sg_change("ev-c", console()))
        .await
        .unwrap();
    assert_eq!(r.actor.kind, ActorKind::Console);
    assert_eq!(r.decision.verdict.action, Action::Revert);
    let mut t = h.store.tickets().pop().unwrap();
    assert_eq!(t.state, TicketState::Open);

    t.transition(TicketState::Resolved, "reverted by test", t0())
        .unwrap();
    t.version += 1;
    h.store.update_ticket(&t).await.unwrap();
    h.drift.set("app", "WebSG", Ok(cfn_modified()));
    h.pipeline
        .process_change(sg_change("ev-p2", pipeline))
        .await
        .unwrap();
    let t = h.store.tickets().pop().unwrap();
    assert_eq!(t.state, TicketState::Allowed);
    assert_eq!(t.decided_drift, Some(cfn_modified().fingerprint()));
    let r = h
        .pipeline
        .process_change(sweep_change("sweep:1", later(cfn_modified())))
        .await
        .unwrap();
    assert_eq!(r.decision.verdict.action, Action::Allow);
}

#[test]
fn allowed_is_a_closed_state_that_reopens() {
    assert_eq!(TicketState::parse("ALLOWED"), Some(TicketState::Allowed));
    assert_eq!(TicketState::Allowed.as_str(), "ALLOWED");
    assert!(TicketState::Allowed.can_move_to(TicketState::Open));
    assert!(TicketState::Resolved.can_move_to(TicketState::Allowed));
    assert!(!TicketState::Remediating.can_move_to(TicketState::Allowed));
}
