//! The transactional outbox: a result the bus refused, or an ending whose
//! write answer was lost, is announced once by the retry; a published result
//! leaves no outbox behind.
use super::*;

/// A result the bus refused through every retry waits in the ticket's
/// outbox and fails the invocation; Lambda's retry of the same event
/// publishes it, clears the outbox and does nothing else (one action,
/// one announcement).
#[tokio::test]
async fn an_unannounced_result_waits_in_the_outbox_until_the_retry_publishes_it() {
    let w = world("");
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-out").await;
    let results = |w: &World| {
        w.bus
            .published()
            .into_iter()
            .filter(|(t, _)| t == REMEDIATION_RESULT)
            .count()
    };
    w.bus.fail_next(w.remediator.settings.retry.max_attempts);
    let failed = w.remediator.handle(env.clone()).await;
    assert!(
        matches!(failed, Err(RemediateError::Unannounced { .. })),
        "{failed:?}"
    );
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert_eq!(
        t.state,
        TicketState::Resolved,
        "the result is on the ticket"
    );
    let kept = t.unannounced.expect("kept in the outbox");
    assert_eq!(kept.event_id, env["id"].as_str().unwrap());
    assert_eq!(kept.detail["ticket_state"], json!("RESOLVED"));
    assert_eq!(results(&w), 0);

    let again = w.remediator.handle(env.clone()).await.unwrap();
    assert!(matches!(again, Outcome::Duplicate(_)), "{again:?}");
    assert_eq!(results(&w), 1, "published once, from the outbox");
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert!(t.unannounced.is_none(), "outbox cleared");
    assert_eq!(w.executor.executed.lock().unwrap().len(), 1, "acted once");

    let third = w.remediator.handle(env).await.unwrap();
    assert!(matches!(third, Outcome::Duplicate(_)), "{third:?}");
    assert_eq!(results(&w), 1, "a later duplicate announces nothing");
}

#[tokio::test]
async fn an_ending_that_landed_before_another_write_is_recorded_once() {
    let mut w = world("");
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-moved").await;
    // The ending's write lands, its answer is lost, and before the retry
    // another writer (detect recording a duplicate delivery) moves the
    // ticket on: the retry's conflict must not apply the ending again.
    w.remediator.tickets = Arc::new(FaultyTickets::new(w.store.clone()).moved_after_landing_in(
        TicketState::Resolved,
        lost("UpdateItem", "injected: answer lost"),
    ));
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Resolved, "{}", r.reason);
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    let count = |kind: EntryKind| t.history.iter().filter(|e| e.kind == kind).count();
    assert_eq!(count(EntryKind::Acted), 1, "{:#?}", t.history);
    let closing = t
        .history
        .iter()
        .filter(|e| e.summary.starts_with("remediation resolved"))
        .count();
    assert_eq!(closing, 1, "{:#?}", t.history);
    assert_eq!(t.state, TicketState::Resolved);
    assert!(t.unannounced.is_none(), "published and cleared");
    assert_eq!(w.executor.executed.lock().unwrap().len(), 1);
    assert_eq!(w.bus.published().len(), 1);
}

/// The ending's write landed but every answer to it was lost: the
/// invocation fails, and its re-delivery announces the result the write
/// holds in its outbox, once; nothing is acted on again.
#[tokio::test]
async fn an_ending_whose_write_answer_was_lost_is_announced_by_the_retry() {
    let mut w = world("");
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-lost").await;
    // Every answer to the ending's write is lost: the first attempt is
    // applied, every answer is a timeout (the call reached DynamoDB, the
    // connection did not bring the answer back).
    w.remediator.tickets = Arc::new(FaultyTickets::new(w.store.clone()).losing_answers_in(
        TicketState::Resolved,
        lost("UpdateItem", "injected: answer lost"),
    ));
    let failed = w.remediator.handle(env.clone()).await;
    assert!(
        matches!(failed, Err(RemediateError::Store(_))),
        "{failed:?}"
    );
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert_eq!(t.state, TicketState::Resolved, "the write landed");
    assert!(t.unannounced.is_some(), "with the result in its outbox");
    let results = |w: &World| -> Vec<Value> {
        w.bus
            .published()
            .into_iter()
            .filter(|(t, _)| t == REMEDIATION_RESULT)
            .map(|(_, d)| d)
            .collect()
    };
    assert!(results(&w).is_empty());

    w.remediator.tickets = w.store.clone();
    let again = w.remediator.handle(env.clone()).await.unwrap();
    assert!(matches!(again, Outcome::Duplicate(_)), "{again:?}");
    let sent = results(&w);
    assert_eq!(sent.len(), 1, "announced once, from the outbox");
    assert_eq!(sent[0]["ticket_state"], json!("RESOLVED"));
    assert_eq!(sent[0]["state_changed"], json!(true));
    assert_eq!(w.executor.executed.lock().unwrap().len(), 1, "acted once");
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert!(t.unannounced.is_none(), "outbox cleared");
}

/// A published result leaves no outbox behind.
#[tokio::test]
async fn a_published_result_clears_the_outbox() {
    let w = world("");
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-pub").await;
    w.remediator.handle(env).await.unwrap();
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert_eq!(t.state, TicketState::Resolved);
    assert!(t.unannounced.is_none());
}
