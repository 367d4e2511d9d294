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
