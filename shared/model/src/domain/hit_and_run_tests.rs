//! Hit-and-run: the decision (pure) and how its ticket resolves itself.
#![allow(clippy::unwrap_used)]
use chrono::Duration;

use super::*;
use crate::domain::ticket_rules::{apply_decision, DecisionFacts, TicketUpdate};
use crate::domain::{
    classify_actor, Actor, Change, EntryKind, Fingerprint, Ownership, Ticket, TicketState,
};
use crate::testing::changes::{ingress_added, membership, sg_change, t0, SECURITY_GROUP};
use crate::testing::identities::{console, role};
use crate::testing::policies::{policy, sg_revert, OWN, PIPELINE};

fn sg_policy(severity: &str) -> Policy {
    let text = policy(1, &[OWN, PIPELINE], &[&sg_revert("console, human", true)]);
    Policy::from_yaml(&text.replace("severity: high", &format!("severity: {severity}"))).unwrap()
}

fn managed() -> Ownership {
    Ownership::Managed(membership("app", "WebSG", SECURITY_GROUP))
}

/// CloudFormation's answer `minutes` after [`t0`]: IN_SYNC.
fn in_sync(minutes: i64) -> Drift {
    Drift {
        status: DriftStatus::InSync,
        differences: Vec::new(),
        detected_at: Some(t0() + Duration::minutes(minutes)),
        ..ingress_added(22, t0())
    }
}

/// What the event says it did: SSH opened.
fn opened() -> Drift {
    Drift::from_event(ingress_added(22, t0()).differences, "the request")
}

fn actor_of(change: &Change, policy: &Policy) -> Actor {
    classify_actor(&change.identity, &policy.identities, change.time)
}

fn hit_and_run(change: &Change, drift: &Drift, policy: &Policy) -> Option<Decision> {
    let actor = actor_of(change, policy);
    let ownership = managed();
    let input = DecisionInput {
        change,
        actor: &actor,
        ownership: &ownership,
        drift: Some(drift),
        account: None,
    };
    decide_hit_and_run(&input, Some(&opened()), policy)
}

#[test]
fn a_change_already_undone_is_a_ticket_that_says_how_long_it_lasted() {
    let p = sg_policy("high");
    let d = hit_and_run(&sg_change("e-open", console()), &in_sync(2), &p).unwrap();
    // Nothing left to revert: the policy's revert becomes a ticket.
    assert_eq!(d.verdict.action, Action::Ticket);
    assert_eq!(d.verdict.capped_from, Some(Action::Revert));
    assert_eq!(d.verdict.rule.as_deref(), Some("sg-revert"));
    assert_eq!(d.verdict.severity, Severity::High);
    let h = d.hit_and_run.unwrap();
    assert_eq!(h.made_at, t0());
    assert_eq!(h.checked_at, Some(t0() + Duration::minutes(2)));
    assert!(h.announced);
    assert_eq!(
        h.resolution(),
        format!("hit-and-run: exposed at most 2 min: already undone when CloudFormation drift detection read IN_SYNC at {}; who undid it is not known", t0() + Duration::minutes(2))
    );
    assert!(
        d.verdict
            .reason
            .starts_with("policy rule sg-revert; hit-and-run: exposed at most 2 min"),
        "{}",
        d.verdict.reason
    );
}

#[test]
fn below_high_severity_it_is_recorded_not_announced() {
    for (severity, announced) in [
        ("low", false),
        ("medium", false),
        ("high", true),
        ("critical", true),
    ] {
        let d = hit_and_run(
            &sg_change("e", console()),
            &in_sync(1),
            &sg_policy(severity),
        )
        .unwrap();
        assert_eq!(d.hit_and_run.unwrap().announced, announced, "{severity}");
    }
}

#[test]
fn exempt_actors_other_sources_allowed_changes_and_real_drift_are_not_hit_and_runs() {
    let p = sg_policy("high");
    let console_change = sg_change("e", console());
    // Drift still there: decided as before.
    assert!(hit_and_run(&console_change, &ingress_added(22, t0()), &p).is_none());
    // The pipeline and driftguard itself are exempt.
    let pipeline = sg_change("e", role("deploy-pipeline", "run-1"));
    assert!(hit_and_run(&pipeline, &in_sync(1), &p).is_none());
    let own = sg_change("e", role("driftguard-remediation", "revert"));
    assert!(hit_and_run(&own, &in_sync(1), &p).is_none());
    // Not an actor's call (a sweep's or CloudFormation's own report).
    let swept = Change {
        source: crate::domain::ChangeSource::Sweep,
        ..console_change.clone()
    };
    assert!(hit_and_run(&swept, &in_sync(1), &p).is_none());
    // A policy that allows the actor.
    let allow = Policy::from_yaml(&policy(
        1,
        &[OWN],
        &["  - name: console-ok\n    match: { actors: [console] }\n    verdict: allow\n"],
    ))
    .unwrap();
    assert!(hit_and_run(&console_change, &in_sync(1), &allow).is_none());
}

fn facts_for<'a>(
    change: &'a Change,
    actor: &'a Actor,
    ownership: &'a Ownership,
    decision: &'a Decision,
    (fp, drift): (&'a Fingerprint, &'a Drift),
) -> DecisionFacts<'a> {
    DecisionFacts {
        change,
        actor,
        ownership,
        drift: Some(drift),
        event_drift: None,
        decision,
        fingerprint: fp,
    }
}

/// The ticket `change` (already undone) lands on, from `existing`.
fn land(existing: Option<Ticket>, change: &Change, checked: i64) -> TicketUpdate {
    let p = sg_policy("high");
    let decision = hit_and_run(change, &in_sync(checked), &p).unwrap();
    land_decided(existing, change, checked, &decision)
}

/// The ticket `change`, decided `decision` on CloudFormation's IN_SYNC at
/// `checked` minutes, lands on.
fn land_decided(
    existing: Option<Ticket>,
    change: &Change,
    checked: i64,
    decision: &Decision,
) -> TicketUpdate {
    let actor = actor_of(change, &sg_policy("high"));
    let ownership = managed();
    let fp = Fingerprint::for_change(change, &ownership);
    let drift = in_sync(checked);
    let facts = facts_for(change, &actor, &ownership, decision, (&fp, &drift));
    apply_decision(existing, &facts, t0() + Duration::minutes(checked))
}

#[test]
fn a_change_that_sets_what_the_template_declares_is_no_hit_and_run() {
    let p = sg_policy("high");
    let change = sg_change("e", console());
    let template = |ingress: serde_json::Value| Drift {
        expected_properties: Some(serde_json::json!({ "SecurityGroupIngress": ingress })),
        ..in_sync(1)
    };
    // The template has the rule (its port as a string): a no-op or a repair.
    let declared = template(
        serde_json::json!([{"CidrIp": "0.0.0.0/0", "FromPort": "22", "IpProtocol": "tcp"}]),
    );
    assert!(hit_and_run(&change, &declared, &p).is_none());
    // It has another rule only: the change was undone.
    let other = template(serde_json::json!([{"CidrIp": "10.0.0.0/8", "FromPort": 443}]));
    assert!(hit_and_run(&change, &other, &p).is_some());
}

#[test]
fn its_ticket_resolves_itself_and_the_undo_is_named_when_it_lands() {
    let open = sg_change("e-open", console());
    let TicketUpdate::Create(t) = land(None, &open, 3) else {
        panic!()
    };
    assert_eq!(t.state, TicketState::Resolved);
    let last = t.history.last().unwrap();
    assert_eq!(last.kind, EntryKind::StateChanged);
    assert!(
        last.summary
            .starts_with("OPEN -> RESOLVED: hit-and-run: exposed at most 3 min"),
        "{}",
        last.summary
    );

    // The revoke two minutes later, read IN_SYNC too: the policy ignores it
    // (it put the template back), the ticket names it as the undo.
    let revoke = Change {
        event_id: "e-revoke".into(),
        operation: "RevokeSecurityGroupIngress".into(),
        time: t0() + Duration::minutes(2),
        ..open.clone()
    };
    let ignored = crate::domain::decide(
        &DecisionInput {
            change: &revoke,
            actor: &actor_of(&revoke, &sg_policy("high")),
            ownership: &managed(),
            drift: Some(&in_sync(4)),
            account: None,
        },
        &sg_policy("high"),
    );
    assert_eq!(ignored.verdict.action, Action::Ignore);
    let TicketUpdate::Update {
        ticket,
        state_changed,
    } = land_decided(Some(t.clone()), &revoke, 4, &ignored)
    else {
        panic!()
    };
    assert!(!state_changed);
    assert_eq!(ticket.state, TicketState::Resolved);
    let h = ticket
        .decision
        .as_ref()
        .unwrap()
        .hit_and_run
        .as_ref()
        .unwrap();
    assert_eq!(h.made_at, t0());
    let note = ticket.history.last().unwrap();
    assert_eq!(note.kind, EntryKind::Note);
    assert!(
        note.summary.starts_with(&format!(
            "hit-and-run: exposed 2 min, undone by {} (session alice@example.com) with ec2:RevokeSecurityGroupIngress at ",
            actor_of(&revoke, &sg_policy("high")).principal
        )),
        "{}",
        note.summary
    );
    assert_eq!(ticket.events_seen, 2);
    // A retry of the same event is already recorded.
    assert!(matches!(
        land_decided(Some(ticket), &revoke, 4, &ignored),
        TicketUpdate::AlreadyRecorded { .. }
    ));
}

#[test]
fn a_later_hit_and_run_reopens_and_resolves_a_closed_ticket() {
    let TicketUpdate::Create(t) = land(None, &sg_change("e-1", console()), 3) else {
        panic!()
    };
    let again = Change {
        event_id: "e-2".into(),
        time: t0() + Duration::minutes(30),
        ..sg_change("e-2", console())
    };
    let TicketUpdate::Update {
        ticket,
        state_changed,
    } = land(Some(t), &again, 32)
    else {
        panic!()
    };
    assert!(state_changed);
    assert_eq!(ticket.state, TicketState::Resolved);
    assert_eq!(ticket.reopened, 1);
    assert_eq!(
        ticket.decision.unwrap().hit_and_run.unwrap().made_at,
        again.time
    );
}

#[test]
fn an_open_tickets_drift_is_not_the_hit_and_runs() {
    let change = sg_change("e-1", console());
    let ownership = managed();
    let mut open = Ticket::new(
        Fingerprint::for_change(&change, &ownership),
        &change,
        &ownership,
        t0(),
    );
    open.version = 1;
    let later = Change {
        event_id: "e-2".into(),
        time: t0() + Duration::minutes(5),
        ..change
    };
    let TicketUpdate::Update {
        ticket,
        state_changed,
    } = land(Some(open), &later, 6)
    else {
        panic!()
    };
    assert!(!state_changed);
    assert_eq!(ticket.state, TicketState::Open);
    assert!(ticket.decision.is_none());
}

#[test]
fn a_change_the_policy_acts_on_inside_the_window_reopens_the_ticket_not_its_undo() {
    // Insider review (stop 43): an out-of-template change CloudFormation
    // reads IN_SYNC too (it cannot see it), made inside the hit-and-run's
    // window, was taken as the undo: the ticket stayed RESOLVED, no revert.
    let p = sg_policy("high");
    let open = sg_change("e-open", console());
    let TicketUpdate::Create(t) = land(None, &open, 3) else {
        panic!()
    };
    let second = Change {
        event_id: "e-second".into(),
        time: t0() + Duration::minutes(1),
        ..open.clone()
    };
    let acted = crate::domain::decide(
        &DecisionInput {
            change: &second,
            actor: &actor_of(&second, &p),
            ownership: &managed(),
            drift: Some(&opened()),
            account: None,
        },
        &p,
    );
    assert!(acted.verdict.action.acts(), "{:?}", acted.verdict);
    let TicketUpdate::Update {
        ticket,
        state_changed,
    } = land_decided(Some(t), &second, 4, &acted)
    else {
        panic!()
    };
    assert!(state_changed);
    assert_eq!(ticket.state, TicketState::Open);
    let h = ticket
        .decision
        .as_ref()
        .and_then(|d| d.hit_and_run.as_ref());
    assert!(h.is_none_or(|h| h.undone.is_none()), "{h:?}");
}

#[test]
fn no_hit_and_run_without_a_difference_the_event_proves() {
    // An unread or unparsed request proves no change: CloudFormation's
    // IN_SYNC may just not see it, so it is decided as before.
    let p = sg_policy("high");
    let ownership = managed();
    let checked = in_sync(3);
    let change = sg_change("e-unread", console());
    let actor = actor_of(&change, &p);
    let input = DecisionInput {
        change: &change,
        actor: &actor,
        ownership: &ownership,
        drift: Some(&checked),
        account: None,
    };
    assert!(decide_hit_and_run(&input, None, &p).is_none());
    let unparsed = Change {
        unparsed: vec!["request unparsed: lone leading surrogate".into()],
        ..sg_change("e-unparsed", console())
    };
    let input = DecisionInput {
        change: &unparsed,
        ..input
    };
    assert!(decide_hit_and_run(&input, Some(&opened()), &p).is_none());
}
