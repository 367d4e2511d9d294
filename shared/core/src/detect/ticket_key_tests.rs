//! Issue 34, item 7: the ticket read under a change's key must hold that
//! change's fingerprint; another fingerprint there is an error, not a match.
#![allow(clippy::unwrap_used)]
use super::test_support::*;
use crate::ports::TicketStore;
use driftguard_model::domain::{Fingerprint, Ticket};
use driftguard_model::testing::changes::sg_change;
use driftguard_model::testing::identities::console;

#[tokio::test]
async fn a_ticket_under_the_key_with_another_fingerprint_is_an_error_not_a_match() {
    let h = drift_harness();
    h.drift.set("app", "WebSG", Ok(cfn_modified()));
    let change = sg_change("ev-1", console());
    let r = h.pipeline.process_change(change.clone()).await.unwrap();
    let stored = h.store.tickets()[0].clone();
    assert_eq!(stored.id.len(), 3 + 32, "128-bit key: {}", stored.id);
    assert_eq!(
        r.ticket.as_ref().map(|t| t.id.as_str()),
        Some(stored.id.as_str())
    );

    // Another resource's ticket planted under this key (a collision, or a
    // forged item): detect refuses to decide on it.
    let other = Fingerprint {
        stack: "other".into(),
        ..stored.fingerprint.clone()
    };
    let mut planted = Ticket::new(other, &change, &stored.ownership, change.time);
    planted.id = stored.id.clone();
    let fresh = crate::memory::MemoryTicketStore::new();
    fresh.create_ticket(&planted).await.unwrap();
    let read = fresh.get_ticket(&stored.id).await.unwrap();
    let e = super::gather::same_fingerprint(&stored.id, &stored.fingerprint, read).unwrap_err();
    assert!(e.to_string().contains("holds the fingerprint"), "{e}");
    assert!(!e.is_retryable());
    // Its own ticket passes.
    let read = h.store.get_ticket(&stored.id).await.unwrap();
    assert!(
        super::gather::same_fingerprint(&stored.id, &stored.fingerprint, read)
            .unwrap()
            .is_some()
    );
}

#[test]
fn every_read_by_key_checks_the_stored_fingerprint() {
    use crate::ports::keys::checked_ticket;
    let change = sg_change("ev-1", console());
    let fp = Fingerprint {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        stack: "app".into(),
        logical_id: "WebSG".into(),
    };
    let t = Ticket::new(
        fp.clone(),
        &change,
        &driftguard_model::domain::Ownership::Unmanaged,
        change.time,
    );
    assert!(checked_ticket(&fp.ticket_id(), Some(t.clone())).is_ok());
    assert!(checked_ticket(&fp.ticket_id(), None).unwrap().is_none());
    let other = Fingerprint {
        logical_id: "Other".into(),
        ..fp
    };
    let e = checked_ticket(&other.ticket_id(), Some(t)).unwrap_err();
    assert!(e.to_string().contains("not that ticket"), "{e}");
}
