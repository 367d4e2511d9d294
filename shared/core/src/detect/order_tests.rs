//! Out of order (issue 17, item 2): events for one resource delivered in
//! the wrong order never reopen a resolved ticket, never undo a newer
//! decision, never revert what a later pipeline deploy made legitimate.
//! Ticket updates carry the source time (`Ticket::source_time`) and a fact
//! older than the newest one applied is recorded, not decided.
//!
//! Why it happens: "CloudTrail typically delivers events within an average
//! of about 5 minutes of an API call. This time is not guaranteed"
//! (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/how-cloudtrail-works.html>),
//! and EventBridge does not promise an order: "EventBridge doesn't guarantee
//! the order of events"
//! (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-troubleshooting.html>);
//! Lambda's async retries re-deliver a failed event minutes later.
#![allow(clippy::unwrap_used)]
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::memory::catalog::{MemoryActorLookup, MemoryDriftDetector, MemoryStackCatalog};
use crate::memory::{FixedClock, MemoryBus, MemoryTicketStore};
use crate::ports::TicketStore;
use crate::resilience::RetryPolicy;
use crate::sweep::resolution;
use driftguard_model::domain::EntryKind;
use driftguard_model::domain::{
    policy::Policy, Action, ActorKind, Change, ChangeSource, Drift, Fingerprint, Identity,
    Ownership, Ticket, TicketState,
};
use driftguard_model::testing;
use driftguard_model::testing::changes::ingress_added;
use driftguard_model::testing::identities::{console, role};
use driftguard_model::testing::policies::{self, sg_revert, OWN, PIPELINE};

/// A failed stack update is rolled back, after an approval.
const FAILED_STACK_UPDATE: &str = r#"  - name: failed-stack-update
    match: { sources: [cloudformation_stack] }
    verdict: rollback
    requires_approval: true
    severity: high"#;

fn policy() -> String {
    let sg = sg_revert("console, human, unknown", true);
    policies::policy(1, &[OWN, PIPELINE], &[&sg, FAILED_STACK_UPDATE])
}

const STACK_ID: &str =
    "arn:aws:cloudformation:us-east-1:123456789012:stack/app/5b3a1c20-0000-11f0-9c3b-0affd1c2b3e4";

fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap() + Duration::minutes(minutes)
}

struct Harness {
    store: Arc<MemoryTicketStore>,
    bus: Arc<MemoryBus>,
    drift: Arc<MemoryDriftDetector>,
    pipeline: Pipeline,
}

impl Harness {
    fn new() -> Self {
        let catalog = Arc::new(MemoryStackCatalog::new());
        catalog.add_stack("app", "UPDATE_COMPLETE");
        catalog.add_resource("app", "WebSG", "AWS::EC2::SecurityGroup", "sg-0abc");
        let drift = Arc::new(MemoryDriftDetector::new());
        let store = Arc::new(MemoryTicketStore::new());
        let bus = Arc::new(MemoryBus::new());
        // Processing happens after every source time below (delivery delay).
        let now = t(24 * 60);
        store.set_now(now);
        let pipeline = Pipeline::new(
            Ports {
                catalog,
                drift: drift.clone(),
                actors: Arc::new(MemoryActorLookup::new()),
                tickets: store.clone(),
                bus: bus.clone(),
                ops_mirror: None,
                clock: Arc::new(FixedClock::new(now)),
            },
            Arc::new(Policy::from_yaml(&policy()).unwrap()),
            Settings {
                retry: RetryPolicy::quick(),
                ..Settings::default()
            },
        );
        Self {
            store,
            bus,
            drift,
            pipeline,
        }
    }

    fn ticket(&self) -> Ticket {
        let tickets = self.store.tickets();
        assert_eq!(tickets.len(), 1, "one ticket: {tickets:?}");
        tickets.into_iter().next().unwrap()
    }

    fn published(&self) -> usize {
        self.bus.published().len()
    }

    async fn run(&self, change: Change) -> DecisionReport {
        self.pipeline.process_change(change).await.unwrap()
    }
}

fn deploy_pipeline() -> Identity {
    role("deploy-pipeline", "codepipeline")
}

/// `identity`'s change to `sg-0abc` at `at`.
fn sg_change(event_id: &str, at: DateTime<Utc>, identity: Identity) -> Change {
    Change {
        time: at,
        request: json!({"groupId": "sg-0abc"}),
        ..testing::changes::sg_change(event_id, identity)
    }
}

fn modified(port: u16, at: DateTime<Utc>) -> Drift {
    ingress_added(port, at)
}

fn in_sync(at: DateTime<Utc>) -> Drift {
    Drift {
        status: driftguard_model::domain::DriftStatus::InSync,
        differences: Vec::new(),
        ..ingress_added(22, at)
    }
}

/// The sweep's change: no identity, the drift CloudFormation found at `at`.
fn sweep_change(event_id: &str, drift: Drift) -> Change {
    Change {
        source: ChangeSource::Sweep,
        service: "cloudformation".into(),
        operation: "DetectStackDrift".into(),
        stack_hint: Some(driftguard_model::domain::StackHint {
            stack: "app".into(),
            logical_id: Some("WebSG".into()),
            status: Some("UPDATE_COMPLETE".into()),
        }),
        time: drift.detected_at.unwrap(),
        drift_hint: Some(drift),
        unparsed: Vec::new(),
        ..sg_change(event_id, t(0), Identity::default())
    }
}

fn stack_status(id: &str, at: DateTime<Utc>, status: &str) -> serde_json::Value {
    json!({
        "version": "0", "id": id,
        "detail-type": "CloudFormation Stack Status Change", "source": "aws.cloudformation",
        "account": "123456789012", "time": at, "region": "us-east-1", "resources": [STACK_ID],
        "detail": {"stack-id": STACK_ID, "status-details": {"status": status, "status-reason": "test"}}
    })
}

fn out_of_order_entries(t: &Ticket) -> usize {
    t.history
        .iter()
        .filter(|e| e.kind == EntryKind::Observed && e.data["out_of_order"] == json!(true))
        .count()
}

#[test]
fn the_source_time_only_moves_forward() {
    let change = sg_change("e1", t(10), console());
    let fp = Fingerprint::for_change(&change, &Ownership::Unmanaged);
    let mut ticket = Ticket::new(fp, &change, &Ownership::Unmanaged, t(60));
    assert_eq!(ticket.newer_than(t(0)), None, "nothing applied yet");
    ticket.last_change = Some(change);
    // A ticket written before the field: the last change's time stands in.
    assert_eq!(ticket.newer_than(t(5)), Some(t(10)));
    assert_eq!(ticket.newer_than(t(10)), None, "the same instant applies");
    ticket.applied_at_source(t(30));
    ticket.applied_at_source(t(20));
    assert_eq!(ticket.source_time, Some(t(30)), "never back");
    assert_eq!(ticket.newer_than(t(29)), Some(t(30)));
    assert_eq!(ticket.newer_than(t(31)), None);
}

#[tokio::test]
async fn an_older_console_change_a_newer_allowed_deploy_made_in_sync_is_not_reverted() {
    let h = Harness::new();
    // The pipeline's deploy (10:10) is delivered first: an ALLOWED record of
    // its drift.
    h.drift.set("app", "WebSG", Ok(modified(443, t(10))));
    let r = h.run(sg_change("deploy", t(10), deploy_pipeline())).await;
    assert_eq!(r.decision.verdict.action, Action::Allow);
    // The console change it superseded (10:02) arrives late, when the
    // resource reads IN_SYNC: nothing of it is left to revert.
    h.drift.set("app", "WebSG", Ok(in_sync(t(12))));
    let r = h.run(sg_change("console", t(2), console())).await;
    assert_eq!(r.ticket.unwrap().write, TicketWrite::OutOfOrder);
    assert!(!r.published, "nothing for remediate to act on");
    let stored = h.ticket();
    assert_eq!(
        stored.state,
        TicketState::Allowed,
        "the newer decision stands"
    );
    assert_eq!(stored.last_actor.unwrap().kind, ActorKind::Pipeline);
    assert_eq!(stored.source_time, Some(t(10)));
    assert_eq!(h.published(), 0);
    // Re-delivered (Lambda's async retry): still recorded once, nothing published.
    let r = h.run(sg_change("console", t(2), console())).await;
    assert_eq!(r.ticket.unwrap().write, TicketWrite::OutOfOrder);
    let stored = h.ticket();
    assert_eq!(out_of_order_entries(&stored), 1);
    assert_eq!((stored.events_seen, h.published()), (2, 0));
}

/// Issue 34, item 6: a record with the pipeline's identity one second after
/// a console change (forged and invoked directly, or a real deploy) does not
/// hide the console change while its drift is still there: the console
/// change is decided on its own merits and reverted.
#[tokio::test]
async fn a_newer_allow_by_another_actor_does_not_hide_an_older_console_change() {
    let h = Harness::new();
    h.drift.set("app", "WebSG", Ok(modified(22, t(3))));
    let forged = Change {
        time: t(2) + Duration::seconds(1),
        ..sg_change("forged", t(2), deploy_pipeline())
    };
    let r = h.run(forged).await;
    assert_eq!(r.decision.verdict.action, Action::Allow);
    assert_eq!(h.ticket().state, TicketState::Allowed);
    let r = h.run(sg_change("console", t(2), console())).await;
    assert_eq!(r.decision.verdict.action, Action::Revert);
    assert_ne!(r.ticket.unwrap().write, TicketWrite::OutOfOrder);
    assert!(r.published, "remediate is asked to act");
    let stored = h.ticket();
    assert_eq!(stored.state, TicketState::Open);
    assert_eq!(stored.last_actor.unwrap().kind, ActorKind::Console);
    assert_eq!(stored.last_change.unwrap().event_id, "console");
    assert_eq!(
        stored.source_time,
        Some(t(2) + Duration::seconds(1)),
        "the source time never moves back"
    );
    // Re-delivered: already recorded, not decided again.
    let r = h.run(sg_change("console", t(2), console())).await;
    assert_eq!(r.ticket.unwrap().write, TicketWrite::AlreadyRecorded);
    assert_eq!(h.ticket().events_seen, 2);
}

/// The same person's newer change still hides their older one (an allow
/// rule for both, say): only another actor's allow is suspect.
#[tokio::test]
async fn a_newer_change_by_the_same_actor_still_hides_an_older_one() {
    let h = Harness::new();
    h.drift.set("app", "WebSG", Ok(modified(22, t(3))));
    h.run(sg_change("newer", t(3), console())).await;
    assert_eq!(h.published(), 1);
    let r = h.run(sg_change("older", t(2), console())).await;
    assert_eq!(r.ticket.unwrap().write, TicketWrite::OutOfOrder);
    assert_eq!(h.published(), 1);
}

#[tokio::test]
async fn an_older_change_never_reopens_a_resolved_ticket_and_a_newer_one_does() {
    let h = Harness::new();
    h.drift.set("app", "WebSG", Ok(modified(22, t(0))));
    h.run(sg_change("c1", t(0), console())).await;
    assert_eq!(h.published(), 1);
    // Resolved on a check made at 10:30 (the sweep's IN_SYNC).
    let resolved = resolution(h.ticket(), t(30), "det-1", t(31)).unwrap();
    assert_eq!(resolved.source_time, Some(t(30)));
    h.store.update_ticket(&resolved).await.unwrap();
    // A change from 10:20, before the check, delivered after it.
    let r = h.run(sg_change("c2", t(20), console())).await;
    assert_eq!(r.ticket.unwrap().write, TicketWrite::OutOfOrder);
    let stored = h.ticket();
    assert_eq!((stored.state, stored.reopened), (TicketState::Resolved, 0));
    assert_eq!(h.published(), 1);
    // A change from after the check reopens.
    let r = h.run(sg_change("c3", t(40), console())).await;
    assert!(r.published);
    let stored = h.ticket();
    assert_eq!((stored.state, stored.reopened), (TicketState::Open, 1));
    assert_eq!(stored.source_time, Some(t(40)));
}

#[tokio::test]
async fn a_sweep_result_older_than_an_events_decision_does_not_undo_it() {
    let h = Harness::new();
    h.drift.set("app", "WebSG", Ok(modified(443, t(10))));
    h.run(sg_change("deploy", t(10), deploy_pipeline())).await;
    // A sweep started at 10:05 reports the drift it saw then (another value).
    let r = h.run(sweep_change("sweep:old", modified(22, t(5)))).await;
    assert_eq!(r.ticket.unwrap().write, TicketWrite::OutOfOrder);
    assert!(!r.published);
    let stored = h.ticket();
    assert_eq!(stored.state, TicketState::Allowed);
    assert_eq!(
        stored.decision.unwrap().verdict.action,
        Action::Allow,
        "the deploy's decision stands"
    );
    // Nor does an IN_SYNC check older than the decision resolve anything.
    assert!(resolution(h.ticket(), t(5), "det-old", t(60)).is_none());
    // A sweep after the deploy with another value is decided afresh.
    let r = h.run(sweep_change("sweep:new", modified(22, t(15)))).await;
    assert_eq!(r.decision.verdict.action, Action::Revert);
    assert!(r.published);
}

#[tokio::test]
async fn an_old_cloudformation_status_after_a_newer_one_does_not_re_decide() {
    let h = Harness::new();
    let newer = stack_status("s2", t(20), "UPDATE_ROLLBACK_FAILED");
    let older = stack_status("s1", t(5), "UPDATE_FAILED");
    h.pipeline.process_event(&newer).await.unwrap();
    assert_eq!(h.published(), 1);
    let Outcome::Decided(r) = h.pipeline.process_event(&older).await.unwrap() else {
        panic!("a failed status is a change")
    };
    assert_eq!(r.ticket.unwrap().write, TicketWrite::OutOfOrder);
    let stored = h.ticket();
    assert_eq!(
        stored.last_change.unwrap().operation,
        "UPDATE_ROLLBACK_FAILED",
        "the rollback is planned from the newest status"
    );
    assert_eq!(h.published(), 1);
}

#[tokio::test]
async fn events_in_order_are_all_decided() {
    let h = Harness::new();
    h.drift.set("app", "WebSG", Ok(modified(22, t(0))));
    for (n, at) in [0, 1, 1, 5].into_iter().enumerate() {
        let r = h.run(sg_change(&format!("c{n}"), t(at), console())).await;
        assert_ne!(r.ticket.unwrap().write, TicketWrite::OutOfOrder);
    }
    let stored = h.ticket();
    assert_eq!((stored.events_seen, out_of_order_entries(&stored)), (4, 0));
    assert_eq!(stored.source_time, Some(t(5)));
}

/// As above where drift detection is unavailable (moto, a resource type
/// CloudFormation cannot check): the event's own request is the drift.
#[tokio::test]
async fn a_newer_allow_does_not_hide_an_older_console_change_without_drift_detection() {
    let h = Harness::new();
    let forged = Change {
        time: t(2) + Duration::seconds(1),
        ..sg_change("forged", t(2), deploy_pipeline())
    };
    let r = h.run(forged).await;
    assert_eq!(r.decision.verdict.action, Action::Allow);
    assert_eq!(h.ticket().state, TicketState::Allowed, "{:?}", h.ticket());
    let r = h.run(sg_change("console", t(2), console())).await;
    assert_eq!(r.decision.verdict.action, Action::Revert);
    assert_ne!(
        r.ticket.unwrap().write,
        TicketWrite::OutOfOrder,
        "{:#?}",
        h.ticket()
    );
    assert!(r.published);
}
