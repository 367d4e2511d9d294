//! Approvals: a plan that needs one is parked, the approval recorded on the
//! ticket executes it; an expired approval, or one for another plan, does not.
use super::*;

#[tokio::test]
async fn approval_required_parks_then_the_approval_executes() {
    let w = world("remediation: { approval_ttl_minutes: 30 }");
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, true), "e-appr").await;
    let parked = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(parked.outcome, RemediationOutcome::AwaitingApproval);
    assert!(parked.reason.contains(&format!("driftguard approve {id}")));
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert_eq!(t.state, TicketState::AwaitingApproval);
    assert_eq!(t.approval_expires_at, Some(t0() + Duration::minutes(30)));
    assert!(w.executor.executed.lock().unwrap().is_empty());

    w.clock.advance(Duration::minutes(10));
    approve_stored_plan(&w, &id, CAROL).await;
    let env = approval_envelope(&id, "e-ok", "mallory");
    let done = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(
        done.outcome,
        RemediationOutcome::Resolved,
        "{}",
        done.reason
    );
    assert_eq!(w.executor.executed.lock().unwrap().len(), 1);
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert_eq!(t.state, TicketState::Resolved);
    assert!(t
        .history
        .iter()
        .any(|e| e.summary.contains(&format!("approved by {CAROL}"))));
    assert_eq!(t.approval, None, "the approval was used up");
}

#[tokio::test]
async fn an_expired_approval_is_refused_and_says_so() {
    let w = world("remediation: { approval_ttl_minutes: 30 }");
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, true), "e-exp").await;
    finished(w.remediator.handle(env).await.unwrap());
    approve_stored_plan(&w, &id, CAROL).await;
    w.clock.advance(Duration::minutes(31));
    let env = approval_envelope(&id, "e-late", "carol");
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Refused);
    assert!(r.reason.contains("expired"), "{}", r.reason);
    assert!(w.executor.executed.lock().unwrap().is_empty());
    assert_eq!(
        w.store.get_ticket(&id).await.unwrap().unwrap().state,
        TicketState::Open
    );
}

/// Park for approval, approve the stored plan (A), then a new decision
/// on the same ticket means plan B: `port` is B's port.
async fn approved_then_replaced(w: &World, port: i64) -> (String, String) {
    let (id, env) = decision(w, "sg-1", "Sg", "app", verdict(false, true), "e-a").await;
    let parked = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(parked.outcome, RemediationOutcome::AwaitingApproval);
    let digest_a = approve_stored_plan(w, &id, CAROL).await;
    edit(w, &id, |t| {
        let c = t.last_change.as_mut().unwrap();
        c.event_id = "ct-b".into();
        c.request["ipPermissions"]["items"][0]["fromPort"] = json!(port);
        c.request["ipPermissions"]["items"][0]["toPort"] = json!(port);
    })
    .await;
    (id, digest_a)
}

#[tokio::test]
async fn an_approval_of_plan_a_does_not_run_plan_b() {
    let w = world("");
    let (id, digest_a) = approved_then_replaced(&w, 3389).await;
    let r = finished(
        w.remediator
            .handle(approval_envelope(&id, "e-ok", "carol"))
            .await
            .unwrap(),
    );
    assert_eq!(r.outcome, RemediationOutcome::AwaitingApproval);
    assert!(
        r.reason.contains("the plan changed since it was approved"),
        "{}",
        r.reason
    );
    assert!(w.executor.executed.lock().unwrap().is_empty());
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert_eq!(t.approval, None);
    let digest_b = t.plan.as_ref().unwrap().digest();
    assert_ne!(digest_a, digest_b);
    assert!(r.reason.contains(&digest_b), "{}", r.reason);
    // Approving B runs B.
    approve_stored_plan(&w, &id, CAROL).await;
    let done = finished(
        w.remediator
            .handle(approval_envelope(&id, "e-ok2", "carol"))
            .await
            .unwrap(),
    );
    assert_eq!(
        done.outcome,
        RemediationOutcome::Resolved,
        "{}",
        done.reason
    );
    let ran = w.executor.executed.lock().unwrap().clone();
    assert_eq!(ran.len(), 1);
    assert_eq!(ran[0].digest(), digest_b);
}

#[tokio::test]
async fn a_new_decision_while_waiting_clears_the_approval() {
    let w = world("");
    let (id, _) = approved_then_replaced(&w, 3389).await;
    redecide(&w, &id, "ct-b").await;
    let env = bus_envelope(
        "e-b",
        DRIFT_DECISION,
        &json!({"ticket_id": id}),
        "123456789012",
        "us-east-1",
        t0(),
    );
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::AwaitingApproval);
    assert_eq!(
        w.store.get_ticket(&id).await.unwrap().unwrap().approval,
        None
    );
    let r = finished(
        w.remediator
            .handle(approval_envelope(&id, "e-late", "carol"))
            .await
            .unwrap(),
    );
    assert_eq!(r.outcome, RemediationOutcome::Refused);
    assert!(r.reason.contains("no approval is recorded"), "{}", r.reason);
    assert!(w.executor.executed.lock().unwrap().is_empty());
}
