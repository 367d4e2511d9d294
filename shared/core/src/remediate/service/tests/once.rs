//! At most once per (ticket, change, plan digest): duplicate deliveries, a
//! crash after acting, a REMEDIATING mark that failed or landed unrecognised,
//! lost answers to ticket writes, a claim held by another invocation.
use super::*;

#[tokio::test]
async fn duplicate_delivery_remediates_at_most_once() {
    let w = world("");
    let (_, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-dup").await;
    finished(w.remediator.handle(env.clone()).await.unwrap());
    assert!(matches!(
        w.remediator.handle(env).await.unwrap(),
        Outcome::Duplicate(_)
    ));
    assert_eq!(w.executor.executed.lock().unwrap().len(), 1);
    assert_eq!(w.bus.published().len(), 1);
}

#[tokio::test]
async fn a_decision_delivered_twice_with_new_envelope_ids_acts_once() {
    let w = world("");
    let (_, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-1").await;
    finished(w.remediator.handle(env.clone()).await.unwrap());
    let mut again = env;
    again["id"] = json!("e-2-republished");
    assert!(matches!(
        w.remediator.handle(again).await.unwrap(),
        Outcome::Duplicate(_)
    ));
    assert_eq!(w.executor.executed.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_crash_after_acting_is_verified_not_repeated_on_retry() {
    let mut w = world("");
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-crash").await;
    // Update 1 marks REMEDIATING, update 2 writes the result: it fails.
    w.remediator.tickets = Arc::new(FaultyTickets::new(w.store.clone()).failing_update(2, down()));
    assert!(matches!(
        w.remediator.handle(env.clone()).await,
        Err(RemediateError::Store(_))
    ));
    assert_eq!(w.executor.executed.lock().unwrap().len(), 1);
    assert_eq!(
        w.store.get_ticket(&id).await.unwrap().unwrap().state,
        TicketState::Remediating
    );
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Resolved, "{}", r.reason);
    assert_eq!(
        w.executor.executed.lock().unwrap().len(),
        1,
        "not acted twice"
    );
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert!(t
        .history
        .iter()
        .any(|e| e.summary.contains("verifying instead of acting")));
}

#[tokio::test]
async fn failing_to_mark_remediating_means_not_acting() {
    let mut w = world("");
    let (_, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-m").await;
    w.remediator.tickets = Arc::new(FaultyTickets::new(w.store.clone()).failing_update(1, down()));
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Refused);
    assert!(r.reason.contains("REMEDIATING"), "{}", r.reason);
    assert!(w.executor.executed.lock().unwrap().is_empty());
}

/// The REMEDIATING mark landed but its answer says it failed (not
/// retried): remediate does not act, and the refusal puts the ticket
/// back OPEN instead of leaving it REMEDIATING with nothing done.
#[tokio::test]
async fn a_mark_that_landed_unrecognised_is_undone_not_left_remediating() {
    let mut w = world("");
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-ml").await;
    // Update 1 lands and is answered with a permanent failure (not retried).
    // Reads must work for the refusal to be written: only the answer of
    // update 1 is wrong, so reads go through to the inner store.
    w.remediator.tickets = Arc::new(FaultyTickets::new(w.store.clone()).losing_update(1, down()));
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Refused, "{}", r.reason);
    assert!(w.executor.executed.lock().unwrap().is_empty());
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert_eq!(t.state, TicketState::Open);
}

/// A write DynamoDB applied but whose answer was lost fails its retry's
/// version condition: re-read, it is the ticket written, so remediate
/// goes on (acts once) instead of refusing or calling it a conflict.
#[tokio::test]
async fn a_lost_answer_to_a_ticket_write_is_recognised_on_re_read() {
    for n in [1, 2] {
        let mut w = world("");
        let (id, env) = decision(
            &w,
            "sg-1",
            "Sg",
            "app",
            verdict(false, false),
            &format!("e-lost{n}"),
        )
        .await;
        // Update 1 marks REMEDIATING, update 2 writes the result.
        w.remediator.tickets = Arc::new(
            FaultyTickets::new(w.store.clone())
                .losing_update(n, lost("PutItem", "connection reset by peer")),
        );
        let r = finished(w.remediator.handle(env).await.unwrap());
        assert_eq!(
            r.outcome,
            RemediationOutcome::Resolved,
            "update {n}: {}",
            r.reason
        );
        assert_eq!(w.executor.executed.lock().unwrap().len(), 1, "update {n}");
        let t = w.store.get_ticket(&id).await.unwrap().unwrap();
        assert_eq!(t.state, TicketState::Resolved, "update {n}");
    }
}

#[tokio::test]
async fn a_claim_in_progress_fails_the_invocation() {
    let mut w = world("");
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-ip").await;
    w.remediator.settings.dry_run = true;
    let plan = finished(w.remediator.handle(env.clone()).await.unwrap())
        .plan
        .unwrap();
    w.remediator.settings.dry_run = false;
    let key = idempotency::remediation_key(&id, "ct-sg-1", &plan.digest());
    let far = t0() + Duration::hours(1);
    assert_eq!(
        w.store.claim_event(&key, far, far).await.unwrap(),
        Claim::Fresh
    );
    let mut again = env;
    again["id"] = json!("e-ip-2");
    assert!(matches!(
        w.remediator.handle(again).await,
        Err(RemediateError::InProgress { .. })
    ));
    assert!(w.executor.executed.lock().unwrap().is_empty());
}
