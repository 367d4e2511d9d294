#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::sync::Arc;

use chrono::{TimeZone, Utc};

use super::*;
use crate::memory::MemoryTicketStore;
use crate::notify::samples::console_port_22_change;
use crate::testing::tickets::FaultyTickets;
use driftguard_model::domain::{Fingerprint, Ownership, TicketState};

const ID: &str = "ticket-1";

fn ticket() -> Ticket {
    let fp = Fingerprint {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        stack: "app".into(),
        logical_id: "Sg".into(),
    };
    let at = Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap();
    let mut t = Ticket::new(fp, &console_port_22_change(), &Ownership::Unmanaged, at);
    t.id = ID.into();
    t.version = 1;
    t
}

/// The memory store holding [`ticket`].
async fn stored() -> Arc<MemoryTicketStore> {
    let store = Arc::new(MemoryTicketStore::new());
    store.create_ticket(&ticket()).await.unwrap();
    store
}

fn conflict() -> PortError {
    PortError::Conflict {
        what: format!("ticket {ID}"),
        message: "someone else wrote first".into(),
    }
}

fn down() -> PortError {
    PortError::Transient {
        service: "dynamodb",
        operation: "PutItem",
        message: "connection reset".into(),
    }
}

/// The decision of most tests: one more event seen, answering the version read.
fn count_one(current: Option<&Ticket>) -> Edit<u64, &'static str> {
    match current {
        None => Edit::Stop("no ticket"),
        Some(t) => {
            let mut next = t.clone();
            next.events_seen += 1;
            Edit::Write(next, t.version)
        }
    }
}

#[tokio::test]
async fn writes_the_decision_one_version_on() {
    let store = stored().await;
    let done = modify(&*store, ID, Attempts::new(3), None, count_one)
        .await
        .unwrap();
    let Modified::Written(written, read_version) = done else {
        panic!("not written: {done:?}");
    };
    assert_eq!((written.version, read_version), (2, 1));
    assert_eq!(store.get_ticket(ID).await.unwrap(), Some(written));
}

#[tokio::test]
async fn the_version_is_the_read_one_plus_one_whatever_the_decision_left() {
    let store = stored().await;
    let done = modify(&*store, ID, Attempts::new(1), None, |t| {
        let mut next = t.unwrap().clone();
        next.version += 7;
        Edit::<(), ()>::Write(next, ())
    })
    .await
    .unwrap();
    assert!(matches!(done, Modified::Written(t, ()) if t.version == 2));
}

#[tokio::test]
async fn a_decision_to_keep_writes_nothing() {
    // Any update would fail: the answer proves none was tried.
    let store = FaultyTickets::new(stored().await).failing_update(1, down());
    let done = modify(&store, ID, Attempts::new(3), None, |t| {
        Edit::<_, ()>::Keep(t.map(|t| t.state))
    })
    .await
    .unwrap();
    assert_eq!(
        done,
        Modified::Kept(Some(ticket()), Some(TicketState::Open))
    );
}

#[tokio::test]
async fn no_ticket_is_the_decisions_to_judge() {
    let store = MemoryTicketStore::new();
    let stopped = modify(&store, ID, Attempts::new(3), None, count_one).await;
    assert!(matches!(stopped, Err(ModifyError::Stopped("no ticket"))));
    let kept = modify(&store, ID, Attempts::new(3), None, |t| {
        Edit::<_, ()>::Keep(t.is_some())
    })
    .await
    .unwrap();
    assert_eq!(kept, Modified::Kept(None, false));
}

#[tokio::test]
async fn a_write_when_none_was_read_creates_it_as_made() {
    let store = MemoryTicketStore::new();
    let done = modify(&store, ID, Attempts::new(1), None, |t| {
        assert!(t.is_none());
        Edit::<_, ()>::Write(ticket(), "created")
    })
    .await
    .unwrap();
    assert_eq!(done, Modified::Written(ticket(), "created"));
    assert_eq!(store.get_ticket(ID).await.unwrap(), Some(ticket()));
}

#[tokio::test]
async fn a_conflict_once_re_reads_and_decides_again() {
    let store = FaultyTickets::new(stored().await).failing_update(1, conflict());
    let mut asked = 0;
    let done = modify(&store, ID, Attempts::new(3), None, |t| {
        asked += 1;
        count_one(t)
    })
    .await
    .unwrap();
    assert_eq!(asked, 2);
    assert!(matches!(done, Modified::Written(t, 1) if t.version == 2 && t.events_seen == 1));
}

#[tokio::test]
async fn a_conflict_forever_gives_up_after_the_bound() {
    let store = FaultyTickets::new(stored().await).failing_updates(conflict());
    let mut asked = 0;
    let given_up = modify(&store, ID, Attempts::new(3), None, |t| {
        asked += 1;
        count_one(t)
    })
    .await;
    assert_eq!(asked, 3);
    assert!(matches!(
        given_up,
        Err(ModifyError::Contended {
            attempts: 3,
            last: PortError::Conflict { .. }
        })
    ));
    assert_eq!(store.get_ticket(ID).await.unwrap(), Some(ticket()));
}

#[tokio::test]
async fn the_callers_read_serves_the_first_attempt_only() {
    // Reads fail: the first attempt works on the caller's read, the re-read
    // after a conflict is the store's.
    let faulty = || FaultyTickets::new(Arc::new(MemoryTicketStore::new())).failing_reads(down());
    let store = faulty();
    store.create_ticket(&ticket()).await.unwrap();
    let done = modify(
        &store,
        ID,
        Attempts::new(3),
        Some(Some(ticket())),
        count_one,
    )
    .await
    .unwrap();
    assert!(matches!(done, Modified::Written(t, 1) if t.version == 2));

    let store = faulty().failing_update(1, conflict());
    store.create_ticket(&ticket()).await.unwrap();
    let failed = modify(
        &store,
        ID,
        Attempts::new(3),
        Some(Some(ticket())),
        count_one,
    )
    .await;
    assert!(matches!(
        failed,
        Err(ModifyError::Read(PortError::Transient { .. }))
    ));
}

#[tokio::test]
async fn other_write_failures_are_not_conflicts() {
    let store = FaultyTickets::new(stored().await).failing_update(1, down());
    let failed = modify(&store, ID, Attempts::new(3), None, count_one).await;
    assert!(matches!(
        failed,
        Err(ModifyError::Write(PortError::Transient { .. }))
    ));
}

#[tokio::test]
async fn a_ticket_gone_since_read_re_reads_only_when_asked() {
    // The caller read a ticket the store no longer has: the update answers NotFound.
    let store = MemoryTicketStore::new();
    let failed = modify(
        &store,
        ID,
        Attempts::new(3),
        Some(Some(ticket())),
        count_one,
    )
    .await;
    assert!(matches!(
        failed,
        Err(ModifyError::Write(PortError::NotFound { .. }))
    ));
    let how = Attempts::new(3).missing_rereads();
    let stopped = modify(&store, ID, how, Some(Some(ticket())), count_one).await;
    assert!(matches!(stopped, Err(ModifyError::Stopped("no ticket"))));
}

#[tokio::test]
async fn a_lost_answer_is_recognised_as_the_write_landed() {
    let policy = RetryPolicy::quick();
    let lose = || FaultyTickets::new(Arc::new(MemoryTicketStore::new())).losing_update(1, down());
    let store = lose();
    store.create_ticket(&ticket()).await.unwrap();
    let how = Attempts::new(1).retried(&policy).recognising_lost_answers();
    let done = modify(&store, ID, how, None, count_one).await.unwrap();
    assert!(matches!(done, Modified::Written(t, 1) if t.version == 2));
    // Without recognising it, the retry's conflict is someone else's write.
    let store = lose();
    store.create_ticket(&ticket()).await.unwrap();
    let how = Attempts::new(1).retried(&policy);
    let failed = modify(&store, ID, how, None, count_one).await;
    assert!(matches!(
        failed,
        Err(ModifyError::Contended { attempts: 1, .. })
    ));
}

#[tokio::test]
async fn an_async_decision_is_awaited_between_read_and_write() {
    let store = stored().await;
    let done = modify_async(&*store, ID, Attempts::new(1).pausing(), None, |t| {
        let t = t.cloned();
        async move {
            tokio::task::yield_now().await;
            count_one(t.as_ref())
        }
    })
    .await
    .unwrap();
    assert!(matches!(done, Modified::Written(t, 1) if t.events_seen == 1));
}
