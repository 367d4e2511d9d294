//! The ping-pong breaker over tickets written by the real ticket rules.
#![allow(clippy::unwrap_used)]
use chrono::Duration;

use super::*;
use crate::domain::ticket_rules::{apply_decision, DecisionFacts, TicketUpdate};
use crate::domain::{classify_actor, policy::Policy, Fingerprint, Ownership, Verdict};
use crate::testing::changes::{ingress_added, membership, sg_change, t0};
use crate::testing::identities::role;

fn revert(dry_run: bool) -> Decision {
    Decision {
        verdict: Verdict {
            action: Action::Revert,
            reason: "policy rule sg-revert".into(),
            rule: Some("sg-revert".into()),
            dry_run,
            requires_approval: false,
            severity: Severity::Medium,
            capped_from: None,
            environment: None,
        },
        held: None,
        hit_and_run: None,
    }
}

fn actor(name: &str) -> Actor {
    classify_actor(
        &role(name, "s").clone(),
        &Policy::default().identities,
        t0(),
    )
}

/// The ticket after `n` changes by `who`, `minutes` apart, each decided
/// `decision` and then acted on by remediate.
fn ticket_after(n: i64, minutes: i64, who: &str, decision: &Decision) -> Ticket {
    changes(n, minutes, who, decision, true)
}

/// As [`ticket_after`]; `acted`: whether remediate acted after each change.
fn changes(n: i64, minutes: i64, who: &str, decision: &Decision, acted: bool) -> Ticket {
    let ownership = Ownership::Managed(membership("app", "WebSG", "AWS::EC2::SecurityGroup"));
    let mut ticket: Option<Ticket> = None;
    let a = actor(who);
    for i in 0..n {
        let at = t0() + Duration::minutes(i * minutes);
        let mut c = sg_change(&format!("e{i}"), role(who, "s"));
        c.time = at;
        let drift = ingress_added(22, at);
        let fp = Fingerprint::for_change(&c, &ownership);
        let facts = DecisionFacts {
            change: &c,
            actor: &a,
            ownership: &ownership,
            drift: None,
            event_drift: Some(&drift),
            decision,
            fingerprint: &fp,
        };
        let mut t = match apply_decision(ticket, &facts, at) {
            TicketUpdate::Create(t) | TicketUpdate::Update { ticket: t, .. } => t,
            other => panic!("{other:?}"),
        };
        if acted {
            t.push(crate::domain::TicketEntry {
                at,
                kind: EntryKind::Acted,
                event_id: None,
                summary: "revoked".into(),
                actor: None,
                data: serde_json::Value::Null,
            });
        }
        ticket = Some(t);
    }
    ticket.unwrap()
}

fn paths() -> Vec<String> {
    ingress_added(22, t0())
        .property_paths()
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn breaks(ticket: &Ticket, minutes_after: i64, window: i64) -> (bool, Decision) {
    let mut d = revert(false);
    let p = paths();
    let p: Vec<&str> = p.iter().map(String::as_str).collect();
    let at = t0() + Duration::minutes(minutes_after);
    let broke = break_ping_pong(
        ticket,
        &actor("AWSServiceRoleForFMS"),
        at,
        &p,
        Duration::minutes(window),
        &mut d,
    );
    (broke, d)
}

#[test]
fn the_second_flip_back_is_not_reverted() {
    // Two changes reverted: the first one and the first flip back.
    let once = ticket_after(1, 10, "fms-like", &revert(false));
    assert!(!breaks(&once, 10, 60).0, "one earlier revert: revert again");
    let twice = ticket_after(2, 10, "fms-like", &revert(false));
    let (broke, d) = breaks(&twice, 20, 60);
    assert!(broke);
    assert_eq!(d.verdict.action, Action::Ticket);
    assert_eq!(d.verdict.capped_from, Some(Action::Revert));
    assert_eq!(d.verdict.severity, Severity::High);
    let reason = &d.verdict.reason;
    assert!(reason.contains("ping-pong"), "{reason}");
    // Both actors are named: the one flipping back and driftguard.
    assert!(reason.contains("role/fms-like"), "{reason}");
    assert!(reason.contains("AWSServiceRoleForFMS"), "{reason}");
    assert!(reason.contains("driftguard"), "{reason}");
}

#[test]
fn flips_outside_the_window_or_never_acted_on_do_not_count() {
    let spread = ticket_after(2, 90, "fms-like", &revert(false));
    assert!(
        !breaks(&spread, 180, 60).0,
        "the first flip is outside the window"
    );
    let dry = ticket_after(3, 1, "fms-like", &revert(true));
    assert!(
        !breaks(&dry, 3, 60).0,
        "dry-run reverts never flipped anything"
    );
}

#[test]
fn a_decision_that_does_not_act_is_left_alone() {
    let twice = ticket_after(2, 1, "fms-like", &revert(false));
    let mut d = revert(true);
    let p = paths();
    let p: Vec<&str> = p.iter().map(String::as_str).collect();
    let broke = break_ping_pong(
        &twice,
        &actor("x"),
        t0() + Duration::minutes(2),
        &p,
        Duration::minutes(60),
        &mut d,
    );
    assert!(!broke);
    assert_eq!(d, revert(true));
}

#[test]
fn another_property_is_not_the_same_fight() {
    let twice = ticket_after(2, 1, "fms-like", &revert(false));
    let mut d = revert(false);
    let broke = break_ping_pong(
        &twice,
        &actor("x"),
        t0() + Duration::minutes(2),
        &["/Tags"],
        Duration::minutes(60),
        &mut d,
    );
    assert!(!broke);
}

/// Insider review: one change made twice in a row, decided twice before
/// remediate acted, is not two flips back.
#[test]
fn decisions_without_a_revert_between_them_are_not_flips() {
    let rapid = changes(2, 0, "fms-like", &revert(false), false);
    assert!(!breaks(&rapid, 1, 60).0);
}

/// Insider review: a person re-applying their change a third time is
/// reverted again (the breaker settles fights with programs).
#[test]
fn a_person_is_never_stopped_by_the_breaker() {
    let twice = ticket_after(2, 10, "fms-like", &revert(false));
    let mut d = revert(false);
    let p = paths();
    let p: Vec<&str> = p.iter().map(String::as_str).collect();
    let person = Actor {
        kind: ActorKind::Console,
        ..actor("alice")
    };
    let broke = break_ping_pong(
        &twice,
        &person,
        t0() + Duration::minutes(20),
        &p,
        Duration::minutes(60),
        &mut d,
    );
    assert!(!broke);
    assert_eq!(d, revert(false));
}
