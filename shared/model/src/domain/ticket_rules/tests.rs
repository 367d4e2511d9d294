//! Unit tests of the ticket rules (moved from detect's inline tests).
#![allow(clippy::unwrap_used)]
use super::*;
use crate::domain::{classify_actor, policy::Policy, Severity, Verdict};
use crate::testing::changes::{sg_change, t0};
use crate::testing::identities::console;

#[test]
fn allow_without_a_ticket_writes_nothing_and_closed_tickets_stay_closed() {
    let c = sg_change("e", console());
    let actor = classify_actor(&c.identity, &Policy::default().identities, t0());
    let ownership = Ownership::Unmanaged;
    let fp = Fingerprint::for_change(&c, &ownership);
    let decision = Decision {
        verdict: Verdict {
            action: Action::Allow,
            reason: "x".into(),
            rule: None,
            dry_run: true,
            requires_approval: false,
            severity: Severity::Low,
            capped_from: None,
            environment: None,
        },
        held: None,
        hit_and_run: None,
    };
    let facts = DecisionFacts {
        change: &c,
        actor: &actor,
        ownership: &ownership,
        drift: None,
        event_drift: None,
        decision: &decision,
        fingerprint: &fp,
    };
    assert_eq!(apply_decision(None, &facts, t0()), TicketUpdate::Nothing);
    let mut closed = Ticket::new(fp.clone(), &c, &ownership, t0());
    closed.state = TicketState::Accepted;
    assert_eq!(
        apply_decision(Some(closed), &facts, t0()),
        TicketUpdate::Nothing
    );
}

#[test]
fn a_ticket_says_what_of_the_record_could_not_be_read() {
    let mut c = sg_change("e", console());
    c.request = serde_json::Value::Null;
    c.unparsed = vec!["request unparsed: number out of range at line 1 column 40".into()];
    let actor = classify_actor(&c.identity, &Policy::default().identities, t0());
    let ownership = Ownership::Unmanaged;
    let fp = Fingerprint::for_change(&c, &ownership);
    let decision = Decision {
        verdict: Verdict {
            action: Action::Ticket,
            reason: "x".into(),
            rule: None,
            dry_run: true,
            requires_approval: false,
            severity: Severity::Medium,
            capped_from: None,
            environment: None,
        },
        held: None,
        hit_and_run: None,
    };
    let facts = DecisionFacts {
        change: &c,
        actor: &actor,
        ownership: &ownership,
        drift: None,
        event_drift: None,
        decision: &decision,
        fingerprint: &fp,
    };
    let TicketUpdate::Create(t) = apply_decision(None, &facts, t0()) else {
        panic!("no ticket")
    };
    let observed = &t.history[0];
    assert!(
        observed
            .summary
            .ends_with("; request unparsed: number out of range at line 1 column 40"),
        "{}",
        observed.summary
    );
    assert_eq!(observed.data["unparsed"][0], c.unparsed[0]);
    assert_eq!(t.last_change.unwrap().unparsed, c.unparsed);
}

/// A decision with `action` (live, medium severity, no rule).
fn decided(action: Action) -> Decision {
    Decision {
        verdict: Verdict {
            action,
            reason: "x".into(),
            rule: None,
            dry_run: false,
            requires_approval: false,
            severity: Severity::Medium,
            capped_from: None,
            environment: None,
        },
        held: None,
        hit_and_run: None,
    }
}

/// `identity`'s SSH opening at `t0 + seconds`, decided `action`, applied to `existing`.
fn apply_at(
    existing: Option<Ticket>,
    event_id: &str,
    identity: crate::domain::Identity,
    seconds: i64,
    action: Action,
) -> TicketUpdate {
    let c = Change {
        time: t0() + chrono::Duration::seconds(seconds),
        ..sg_change(event_id, identity)
    };
    let actor = classify_actor(&c.identity, &Policy::default().identities, t0());
    let ownership = Ownership::Unmanaged;
    let fp = Fingerprint::for_change(&c, &ownership);
    let decision = decided(action);
    let facts = DecisionFacts {
        change: &c,
        actor: &actor,
        ownership: &ownership,
        drift: None,
        event_drift: None,
        decision: &decision,
        fingerprint: &fp,
    };
    apply_decision(existing, &facts, t0() + chrono::Duration::hours(1))
}

fn written(u: TicketUpdate) -> Ticket {
    match u {
        TicketUpdate::Create(t) | TicketUpdate::Update { ticket: t, .. } => t,
        other => panic!("not written: {other:?}"),
    }
}

/// Issue 34, item 6: a newer fact by another actor that was not acted on
/// (here ignored on an open ticket) does not hide an older change; the same
/// actor's newer fact, or another actor's newer change reverted live, still
/// does.
#[test]
fn only_a_newer_fact_acted_on_or_by_the_same_actor_hides_an_older_change() {
    use crate::testing::identities::role;
    let first = written(apply_at(None, "a", console(), 0, Action::Ticket));
    let other = role("deploy-pipeline", "codepipeline");
    let let_stand = written(apply_at(
        Some(first.clone()),
        "b",
        other.clone(),
        60,
        Action::Ignore,
    ));
    let fact = let_stand.source_fact.clone().unwrap();
    assert!(!fact.acted);
    assert_eq!(
        let_stand.source_time,
        Some(t0() + chrono::Duration::seconds(60))
    );
    // The console's change from 30 s: decided despite the newer ignore.
    let older = written(apply_at(
        Some(let_stand.clone()),
        "c",
        console(),
        30,
        Action::Revert,
    ));
    assert_eq!(
        older.decision.as_ref().unwrap().verdict.action,
        Action::Revert
    );
    assert_eq!(older.source_time, let_stand.source_time, "never moves back");
    assert_eq!(
        older.source_fact,
        Some(fact),
        "the newest fact's maker stays"
    );
    // An older change let stand itself is still out of order.
    assert!(matches!(
        apply_at(Some(let_stand.clone()), "d", console(), 30, Action::Allow),
        TicketUpdate::OutOfOrder { .. }
    ));
    // The same actor's newer fact hides it.
    let same = written(apply_at(
        Some(first.clone()),
        "e",
        other.clone(),
        60,
        Action::Ignore,
    ));
    assert!(matches!(
        apply_at(Some(same), "f", other.clone(), 30, Action::Revert),
        TicketUpdate::OutOfOrder { .. }
    ));
    // Another actor's newer change reverted live hides it.
    let reverted = written(apply_at(
        Some(first.clone()),
        "g",
        other.clone(),
        60,
        Action::Revert,
    ));
    assert!(reverted.source_fact.as_ref().unwrap().acted);
    assert!(matches!(
        apply_at(Some(reverted), "h", console(), 30, Action::Revert),
        TicketUpdate::OutOfOrder { .. }
    ));
    // Insider review: another actor's newer fact that only tickets (a forged
    // aws_service or break-glass record, say) does not.
    let ticketed = written(apply_at(Some(first), "i", other, 60, Action::Ticket));
    assert!(!ticketed.source_fact.as_ref().unwrap().acted);
    let older = written(apply_at(Some(ticketed), "j", console(), 30, Action::Revert));
    assert_eq!(older.last_change.unwrap().event_id, "j");
}

/// A newer record whose time lies past the clock (a forged one, say) is
/// clamped to the clock and still names its maker: the older change that
/// follows is decided.
#[test]
fn a_future_allowed_record_still_names_its_maker() {
    use crate::testing::identities::role;
    let pipeline = role("deploy-pipeline", "codepipeline");
    // Processed at t0 + 1 h; the record says t0 + 2 h.
    let allowed = written(apply_at(None, "a", pipeline, 7_200, Action::Ticket));
    let fact = allowed.source_fact.clone().expect("the maker");
    assert_eq!(allowed.source_time, Some(t0() + chrono::Duration::hours(1)));
    let mut let_stand = allowed;
    let_stand.source_fact = Some(SourceFact {
        acted: false,
        ..fact
    });
    let older = written(apply_at(
        Some(let_stand),
        "b",
        console(),
        30,
        Action::Revert,
    ));
    assert_eq!(older.last_change.unwrap().event_id, "b");
}

/// A fact that is not a change (a sweep's check, a verification) clears the
/// newest maker: an older change stays out of order behind it.
#[test]
fn a_check_newer_than_every_change_hides_older_changes() {
    let first = written(apply_at(None, "a", console(), 0, Action::Ticket));
    let mut checked = first;
    checked.applied_at_source(t0() + chrono::Duration::seconds(60));
    assert_eq!(checked.source_fact, None);
    assert!(matches!(
        apply_at(Some(checked), "b", console(), 30, Action::Revert),
        TicketUpdate::OutOfOrder { .. }
    ));
}
