//! `remediation.change_set_reverts_others`: a REVERT_DRIFT change set whose
//! preview also reverts other drifted resources of the stack. A drift-aware
//! change set "compare[s] templates with the actual state of your stack
//! resources and bring[s] drifted resources in line with their template
//! definitions"
//! (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/drift-aware-change-sets.html>):
//! every drifted resource, so the preview (the fake executor's
//! `change_set_reverts`) can list more than the ticket's.
use super::*;
use driftguard_model::domain::DriftStatus;
use driftguard_model::domain::{DifferenceKind, DriftOrigin, PropertyDifference};

const REQUIRE_APPROVAL: &str = "remediation:\n  change_set_reverts_others: require_approval\n";

/// CloudFormation's drift result for `Sg`: MODIFIED (a rule added).
fn cfn_drift() -> Drift {
    Drift {
        status: DriftStatus::Modified,
        differences: vec![PropertyDifference {
            path: "/SecurityGroupIngress/1".into(),
            expected: None,
            actual: Some(
                json!({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0"}),
            ),
            kind: DifferenceKind::Add,
        }],
        expected_properties: None,
        actual_properties: None,
        origin: DriftOrigin::Cloudformation,
        detected_at: Some(t0()),
    }
}

/// A ticket for `Sg` with CloudFormation's drift result, whose REVERT_DRIFT
/// preview shows `reverts`.
async fn drifted(
    w: &World,
    reverts: Option<Result<Vec<String>, ExecutionError>>,
    env_id: &str,
) -> (String, Value) {
    let (id, env) = decision(w, "sg-1", "Sg", "app", verdict(false, false), env_id).await;
    edit(w, &id, |t| t.drift = Some(cfn_drift())).await;
    *w.executor.reverts.lock().unwrap() = reverts;
    (id, env)
}

fn ids(v: &[&str]) -> Option<Result<Vec<String>, ExecutionError>> {
    Some(Ok(v.iter().map(|s| s.to_string()).collect()))
}

fn expect_only(plan: &Plan) -> Value {
    plan.calls
        .iter()
        .find(|c| c.operation == "DescribeChangeSet")
        .map(|c| c.parameters["ExpectOnlyLogicalIds"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn only_the_tickets_resource_drifted_the_change_set_is_executed() {
    let w = world("");
    let (_, env) = drifted(&w, ids(&["Sg"]), "e-only").await;
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Resolved, "{}", r.reason);
    let executed = w.executor.executed.lock().unwrap().clone();
    assert_eq!(executed.len(), 1);
    assert_eq!(executed[0].strategy, Strategy::RevertDriftChangeSet);
    assert_eq!(expect_only(&executed[0]), json!(["Sg"]));
    assert_eq!(*w.executor.previews.lock().unwrap(), 1);
}

#[tokio::test]
async fn by_default_other_drifted_resources_fall_back_to_the_inverse_call() {
    let w = world("");
    let (id, env) = drifted(&w, ids(&["Bucket", "Sg", "Topic"]), "e-fall").await;
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Resolved, "{}", r.reason);
    let plan = r.plan.unwrap();
    assert_eq!(plan.strategy, Strategy::InverseCall);
    assert_eq!(plan.calls[0].operation, "RevokeSecurityGroupIngress");
    let (skipped, why) = &plan.skipped[0];
    assert_eq!(*skipped, Strategy::RevertDriftChangeSet);
    assert!(why.contains("also revert Bucket, Topic"), "{why}");
    assert!(why.contains("fall_back"), "{why}");
    let executed = w.executor.executed.lock().unwrap().clone();
    assert_eq!(executed.len(), 1, "only the one resource is touched");
    assert_eq!(executed[0].strategy, Strategy::InverseCall);
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert_eq!(t.state, TicketState::Resolved);
}

#[tokio::test]
async fn with_require_approval_the_plan_lists_every_reverted_resource_and_waits() {
    let w = world(REQUIRE_APPROVAL);
    let (id, env) = drifted(&w, ids(&["Bucket", "Sg"]), "e-appr").await;
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(
        r.outcome,
        RemediationOutcome::AwaitingApproval,
        "{}",
        r.reason
    );
    assert!(r.reason.contains("also Bucket"), "{}", r.reason);
    assert!(r.reason.contains("driftguard approve"), "{}", r.reason);
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert_eq!(t.state, TicketState::AwaitingApproval);
    let stored = t.plan.clone().unwrap();
    assert_eq!(stored.strategy, Strategy::RevertDriftChangeSet);
    assert_eq!(expect_only(&stored), json!(["Bucket", "Sg"]));
    assert!(
        stored.expected.contains("also reverts Bucket"),
        "{}",
        stored.expected
    );
    assert!(w.executor.executed.lock().unwrap().is_empty());

    // The approval is of that plan; the re-derived plan (a new preview) is
    // the same, so the widened change set is what executes.
    let digest = approve_stored_plan(&w, &id, CAROL).await;
    let r = finished(
        w.remediator
            .handle(approval_envelope(&id, "e-appr-ok", CAROL))
            .await
            .unwrap(),
    );
    assert_eq!(r.outcome, RemediationOutcome::Resolved, "{}", r.reason);
    let executed = w.executor.executed.lock().unwrap().clone();
    assert_eq!(executed.len(), 1);
    assert_eq!(executed[0].digest(), digest);
    assert_eq!(expect_only(&executed[0]), json!(["Bucket", "Sg"]));
    assert_eq!(*w.executor.previews.lock().unwrap(), 2);
}

#[tokio::test]
async fn an_approved_plan_is_not_run_when_another_resource_drifted_since() {
    let w = world(REQUIRE_APPROVAL);
    let (id, env) = drifted(&w, ids(&["Bucket", "Sg"]), "e-grow").await;
    finished(w.remediator.handle(env).await.unwrap());
    approve_stored_plan(&w, &id, CAROL).await;
    *w.executor.reverts.lock().unwrap() = ids(&["Bucket", "Queue", "Sg"]);
    approval_of_a_changed_plan(&w, &id, "e-grow-ok").await;
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert_eq!(
        expect_only(t.plan.as_ref().unwrap()),
        json!(["Bucket", "Queue", "Sg"])
    );
    assert!(w.executor.executed.lock().unwrap().is_empty());
}

#[tokio::test]
async fn with_no_strategy_to_fall_back_to_the_revert_is_refused_naming_the_others() {
    let w = world("");
    let (id, env) = drifted(&w, ids(&["Bucket", "Sg"]), "e-none").await;
    // A change no inverse-call handler undoes.
    edit(&w, &id, |t| {
        if let Some(c) = t.last_change.as_mut() {
            c.operation = "ModifySecurityGroupRules".into();
        }
    })
    .await;
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Refused, "{}", r.reason);
    assert!(
        r.reason.contains("no remediation strategy applies"),
        "{}",
        r.reason
    );
    assert!(r.reason.contains("also revert Bucket"), "{}", r.reason);
    assert!(
        r.reason.contains("no inverse-call handler"),
        "every reason is listed: {}",
        r.reason
    );
    assert!(w.executor.executed.lock().unwrap().is_empty());
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert_eq!(t.state, TicketState::Open);
}

#[tokio::test]
async fn a_preview_that_fails_falls_back_too() {
    let w = world(REQUIRE_APPROVAL);
    let failed = ExecutionError::Refused(
        "change set driftguard-preview-x failed to create: The submitted information didn't contain changes."
            .into(),
    );
    let (_, env) = drifted(&w, Some(Err(failed)), "e-fail").await;
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Resolved, "{}", r.reason);
    let plan = r.plan.unwrap();
    assert_eq!(plan.strategy, Strategy::InverseCall);
    assert!(
        plan.skipped[0].1.contains("could not be previewed"),
        "{:?}",
        plan.skipped
    );
}

#[tokio::test]
async fn a_dry_run_stores_the_fallback_plan_and_changes_nothing() {
    let w = world("");
    let (id, env) = drifted(&w, ids(&["Bucket", "Sg"]), "e-dry").await;
    edit(&w, &id, |t| {
        if let Some(d) = t.decision.as_mut() {
            d.verdict.dry_run = true;
        }
    })
    .await;
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::DryRun, "{}", r.reason);
    assert_eq!(r.plan.unwrap().strategy, Strategy::InverseCall);
    assert!(w.executor.executed.lock().unwrap().is_empty());
}
