//! Acting on a plan: the revert executed and verified by reading the
//! resource back, dry runs, the rate limits and the circuit breaker around
//! acting, and a call that failed although its change applied.
use super::*;

#[tokio::test]
async fn revert_acts_verifies_by_read_back_and_resolves() {
    let w = world("");
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-1").await;
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Resolved, "{}", r.reason);
    assert!(r.reason.contains("read back"), "{}", r.reason);
    assert!(
        r.reason.contains("drift detection unavailable"),
        "says which verification: {}",
        r.reason
    );
    let plan = r.plan.clone().unwrap();
    assert_eq!(plan.strategy, Strategy::InverseCall);
    assert_eq!(plan.calls[0].operation, "RevokeSecurityGroupIngress");
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert_eq!(t.state, TicketState::Resolved);
    assert_eq!(t.plan, Some(plan));
    assert_eq!(w.executor.executed.lock().unwrap().len(), 1);
    let published = w.bus.published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].0, REMEDIATION_RESULT);
    assert_eq!(published[0].1["outcome"], "resolved");
}

#[tokio::test]
async fn dry_run_plans_but_changes_nothing() {
    let w = world("");
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(true, false), "e-dry").await;
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::DryRun);
    assert!(r.dry_run);
    assert!(r.plan.is_some());
    assert!(w.executor.executed.lock().unwrap().is_empty());
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert_eq!(t.state, TicketState::Open);
    assert!(t.plan.is_some(), "plan stored on the ticket");
    // The global DRY_RUN override wins over a verdict that acts.
    let mut w2 = world("");
    w2.remediator.settings.dry_run = true;
    let (_, env) = decision(&w2, "sg-1", "Sg", "app", verdict(false, false), "e-dry2").await;
    assert_eq!(
        finished(w2.remediator.handle(env).await.unwrap()).outcome,
        RemediationOutcome::DryRun
    );
    assert!(w2.executor.executed.lock().unwrap().is_empty());
}

#[tokio::test]
async fn rate_limit_reached_refuses_and_tickets() {
    let w = world("rate_limits: { per_stack: { max_actions: 1, window_minutes: 60 } }");
    let (_, first) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-r1").await;
    let (id2, second) = decision(&w, "sg-2", "Sg2", "app", verdict(false, false), "e-r2").await;
    *w.catalog.ownership.lock().unwrap() = Ownership::Managed(membership("app"));
    assert_eq!(
        finished(w.remediator.handle(first).await.unwrap()).outcome,
        RemediationOutcome::Resolved
    );
    let mut m = membership("app");
    m.logical_id = "Sg2".into();
    *w.catalog.ownership.lock().unwrap() = Ownership::Managed(m);
    let r = finished(w.remediator.handle(second).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Refused);
    assert!(
        r.reason.contains("per-stack rate limit reached"),
        "{}",
        r.reason
    );
    assert!(r.plan.is_some(), "the plan is still shown");
    assert_eq!(w.executor.executed.lock().unwrap().len(), 1);
    let t = w.store.get_ticket(&id2).await.unwrap().unwrap();
    assert_eq!(t.state, TicketState::Open);
    assert!(t
        .history
        .iter()
        .any(|e| e.summary.contains("rate limit reached")));
    // The global limit is untouched by the refused attempt.
    let global = w.remediator.policy.rate_limits().global;
    assert_eq!(w.safety.count("global", global, t0()), 1);
}

#[tokio::test]
async fn circuit_opens_after_repeated_failures() {
    let w =
        world("remediation: { circuit_breaker_failures: 2, circuit_breaker_cooldown_minutes: 60 }");
    *w.executor.fail_with.lock().unwrap() = Some(ExecutionError::Port(PortError::Failed {
        service: "ec2",
        operation: "RevokeSecurityGroupIngress",
        message: "UnauthorizedOperation".into(),
    }));
    // The refused call changed nothing: the read-back still shows the drift.
    *w.executor.still_drifted.lock().unwrap() = true;
    for (n, expect) in [
        (1, RemediationOutcome::Failed),
        (2, RemediationOutcome::Failed),
        (3, RemediationOutcome::Refused),
    ] {
        // A new change each time: one change is remediated at most once.
        let (id, env) = decision(
            &w,
            "sg-1",
            "Sg",
            "app",
            verdict(false, false),
            &format!("e-cb{n}"),
        )
        .await;
        redecide(&w, &id, &format!("ct-cb{n}")).await;
        let r = finished(w.remediator.handle(env).await.unwrap());
        assert_eq!(r.outcome, expect, "attempt {n}: {}", r.reason);
        if n == 2 {
            assert!(r.reason.contains("circuit opened"), "{}", r.reason);
        }
        if n == 3 {
            assert!(r.reason.contains("circuit open"), "{}", r.reason);
        }
    }
    assert_eq!(
        w.executor.executed.lock().unwrap().len(),
        2,
        "no call while the circuit is open"
    );
    // After the cooldown one trial goes through, and success closes the circuit.
    *w.executor.fail_with.lock().unwrap() = None;
    *w.executor.still_drifted.lock().unwrap() = false;
    w.clock.advance(Duration::minutes(61));
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-cb4").await;
    redecide(&w, &id, "ct-cb4").await;
    assert_eq!(
        finished(w.remediator.handle(env).await.unwrap()).outcome,
        RemediationOutcome::Resolved
    );
}

/// The revoke applied but its answer was lost, and the retry was told the
/// rule is gone ("InvalidPermission.NotFound"): the call failed, the
/// resource is reverted. The read-back decides: resolved, acted once, the
/// circuit not counting a failure.
#[tokio::test]
async fn a_failed_call_whose_change_applied_is_resolved_by_the_read_back() {
    let w =
        world("remediation: { circuit_breaker_failures: 1, circuit_breaker_cooldown_minutes: 60 }");
    *w.executor.fail_with.lock().unwrap() = Some(ExecutionError::Port(PortError::Failed {
        service: "ec2",
        operation: "RevokeSecurityGroupIngress",
        message: "InvalidPermission.NotFound".into(),
    }));
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-la").await;
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Resolved, "{}", r.reason);
    assert!(
        r.reason.contains("InvalidPermission.NotFound"),
        "{}",
        r.reason
    );
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert_eq!(t.state, TicketState::Resolved);
    assert!(t
        .history
        .iter()
        .any(|e| e.summary.contains("the call may have applied")));
    assert_eq!(w.executor.executed.lock().unwrap().len(), 1);
    // A threshold of one failure would have opened the circuit: no failure counted.
    let circuit = w.safety.load_circuit(&id).await.unwrap();
    assert!(
        circuit.is_none_or(|c| c.consecutive_failures == 0 && c.open_until.is_none()),
        "{circuit:?}"
    );
}

#[tokio::test]
async fn still_drifted_after_acting_fails_with_the_reason() {
    let w = world("");
    *w.executor.still_drifted.lock().unwrap() = true;
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-nc").await;
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Failed);
    assert!(r.reason.contains("still drifted"), "{}", r.reason);
    assert_eq!(
        w.store.get_ticket(&id).await.unwrap().unwrap().state,
        TicketState::Failed
    );
}
