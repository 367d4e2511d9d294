//! Hit-and-run through detect (issue 33 item 5): a change already undone
//! when CloudFormation's drift detection looks is a ticket that resolved
//! itself, announced from severity high; the undo is named when it lands.
#![allow(clippy::unwrap_used)]
use chrono::Duration;
use serde_json::json;

use super::test_support::*;
use driftguard_model::domain::{
    Action, Change, Drift, DriftOrigin, DriftStatus, EntryKind, TicketState,
};
use driftguard_model::testing::changes::{open_ssh, sg_change, t0};
use driftguard_model::testing::identities::console;
use driftguard_model::testing::policies::{self, sg_revert, OWN, PIPELINE};

/// CloudFormation's answer two minutes after [`t0`]: `sg-0abc` IN_SYNC, its
/// template allowing only 10.0.0.0/8 on 443.
fn in_sync() -> Drift {
    let template = json!({"GroupDescription": "web", "SecurityGroupIngress": [
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "10.0.0.0/8"}]});
    Drift {
        status: DriftStatus::InSync,
        differences: Vec::new(),
        expected_properties: Some(template.clone()),
        actual_properties: Some(template),
        origin: DriftOrigin::Cloudformation,
        detected_at: Some(t0() + Duration::minutes(2)),
    }
}

/// The console's revoke of the SSH rule, one minute after it was opened.
fn revoke() -> Change {
    Change {
        operation: "RevokeSecurityGroupIngress".into(),
        time: t0() + Duration::minutes(1),
        request: open_ssh("sg-0abc"),
        ..sg_change("ev-revoke", console())
    }
}

#[tokio::test]
async fn an_opening_already_undone_is_a_resolved_ticket_and_the_undo_is_named() {
    let h = harness();
    h.drift.set("app", "WebSG", Ok(in_sync()));
    let r = h
        .pipeline
        .process_change(sg_change("ev-open", console()))
        .await
        .unwrap();
    assert_eq!(r.decision.verdict.action, Action::Ticket);
    assert_eq!(r.decision.verdict.capped_from, Some(Action::Revert));
    assert!(r.decision.hit_and_run.as_ref().unwrap().announced);
    let ticket = r.ticket.as_ref().unwrap();
    assert_eq!(ticket.state, TicketState::Resolved);
    assert!(ticket.state_changed);
    assert!(r.published);
    assert_eq!(h.published().len(), 1);
    let stored = &h.store.tickets()[0];
    assert!(
        stored.history.iter().any(|e| e
            .summary
            .starts_with("OPEN -> RESOLVED: hit-and-run: exposed at most 2 min: already undone")),
        "{:?}",
        stored.history
    );

    // The revoke is IN_SYNC by its own doing: not another hit-and-run, the undo.
    let r = h.pipeline.process_change(revoke()).await.unwrap();
    assert_eq!(r.decision.verdict.action, Action::Ignore);
    assert!(r.decision.hit_and_run.is_none());
    let tickets = h.store.tickets();
    let [stored] = tickets.as_slice() else {
        panic!("{tickets:?}")
    };
    assert_eq!(stored.state, TicketState::Resolved);
    let note = stored.history.last().unwrap();
    assert_eq!(note.kind, EntryKind::Note);
    assert!(
        note.summary.starts_with("hit-and-run: exposed 1 min, undone by arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123456789abcdef (session alice@example.com) with ec2:RevokeSecurityGroupIngress at 2026-03-01 10:01:00 UTC"),
        "{}",
        note.summary
    );
    // Nothing new to say: the ticket's state did not change.
    assert!(h.published().iter().skip(1).all(|d| !d.state_changed));
}

#[tokio::test]
async fn below_high_severity_the_ticket_is_the_record_and_nothing_is_announced() {
    let medium = sg_revert("console, human", true).replace("severity: high", "severity: medium");
    let h = harness_policy(quick(), &policies::policy(1, &[OWN, PIPELINE], &[&medium]));
    h.drift.set("app", "WebSG", Ok(in_sync()));
    let r = h
        .pipeline
        .process_change(sg_change("ev-open", console()))
        .await
        .unwrap();
    assert_eq!(r.ticket.unwrap().state, TicketState::Resolved);
    assert!(!r.published);
    assert!(h.published().is_empty());
}
