//! Stops before acting: safety rules, a revert that cannot be planned, a
//! missing ticket or an unreachable store, verdicts and events that are not
//! remediate's, a throttled ownership re-check.
use super::*;

#[tokio::test]
async fn safety_rules_hold_or_refuse_before_planning() {
    // Stack busy: held.
    let w = world("");
    *w.catalog.status.lock().unwrap() = "UPDATE_IN_PROGRESS".into();
    let (_, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-h").await;
    assert_eq!(
        finished(w.remediator.handle(env).await.unwrap()).outcome,
        RemediationOutcome::Held
    );
    // Not owned any more: refused.
    let w = world("");
    *w.catalog.ownership.lock().unwrap() = Ownership::Unmanaged;
    let (_, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-u").await;
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Refused);
    assert!(r.reason.contains("not managed"));
    // Protected: refused.
    let w = world("protected: [{ stack: \"app\" }]");
    let (_, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-p").await;
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert!(r.reason.contains("protected"), "{}", r.reason);
    assert!(w.executor.executed.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_impossible_revert_is_refused_and_the_ticket_says_why() {
    let w = world("");
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-imp").await;
    edit(&w, &id, |t| {
        t.last_change.as_mut().unwrap().operation = "ModifySecurityGroupRules".into()
    })
    .await;
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Refused);
    assert!(
        r.reason
            .contains("no inverse-call handler for ec2:ModifySecurityGroupRules"),
        "{}",
        r.reason
    );
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert!(t
        .history
        .iter()
        .any(|e| e.summary.contains("no inverse-call handler")));
    assert_eq!(w.bus.published()[0].1["outcome"], "refused");
}

#[tokio::test]
async fn a_missing_ticket_changes_nothing_and_an_unreachable_store_fails() {
    let w = world("");
    let (_, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-lost").await;
    let mut missing = env.clone();
    missing["detail"]["ticket_id"] = json!("DG-doesnotexist");
    assert!(matches!(
        w.remediator.handle(missing).await.unwrap(),
        Outcome::Ignored(why) if why.contains("does not exist")
    ));
    // The store is down: fail, so Lambda retries and the DLQ keeps the event.
    let mut w = w;
    w.remediator.tickets = Arc::new(FaultyTickets::new(w.store.clone()).failing_reads(down()));
    assert!(matches!(
        w.remediator.handle(env).await,
        Err(RemediateError::Store(_))
    ));
    assert!(w.executor.executed.lock().unwrap().is_empty());
    assert!(w.bus.published().is_empty());
}

#[tokio::test]
async fn verdicts_that_do_not_act_and_foreign_events_are_ignored() {
    let w = world("");
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-i").await;
    edit(&w, &id, |t| {
        t.decision.as_mut().unwrap().verdict.action = Action::Ignore;
    })
    .await;
    assert!(matches!(
        w.remediator.handle(env).await.unwrap(),
        Outcome::Ignored(_)
    ));
    let foreign = json!({"id": "x", "detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2", "detail": {}});
    assert!(matches!(
        w.remediator.handle(foreign).await.unwrap(),
        Outcome::Ignored(_)
    ));
    assert!(w.executor.executed.lock().unwrap().is_empty());
}

/// CloudFormation throttling the ownership re-check past the retries is a
/// passing fault: the invocation fails (Lambda retries it, then the DLQ)
/// and the ticket is not refused for good; within the retries it is
/// absorbed.
#[tokio::test]
async fn a_throttled_ownership_re_check_fails_the_invocation_not_the_ticket() {
    let w = world("");
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-thr").await;
    *w.catalog.throttled.lock().unwrap() = w.remediator.settings.retry.max_attempts;
    assert!(matches!(
        w.remediator.handle(env.clone()).await,
        Err(RemediateError::Unavailable(PortError::Throttled { .. }))
    ));
    assert!(w.executor.executed.lock().unwrap().is_empty());
    assert_eq!(
        w.store.get_ticket(&id).await.unwrap().unwrap().state,
        TicketState::Open
    );
    *w.catalog.throttled.lock().unwrap() = w.remediator.settings.retry.max_attempts - 1;
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Resolved, "{}", r.reason);
    assert_eq!(w.executor.executed.lock().unwrap().len(), 1);
}
