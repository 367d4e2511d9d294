//! A `driftguard rollback` request (`remediation::rollback_request`) goes
//! through the same approval path as the Lambda's own plans: approved for its
//! digest, re-derived by remediate from the version it names, executed once.
use super::*;
use crate::memory::template_history::MemoryTemplateHistory;
use crate::ports::remediate::{KnownGood, TemplateHistory};
use crate::remediate::history::{candidate, rollback_plan, WithHistory};
use crate::remediate::rollback_request::{
    awaiting_approval, plan_time, request_change, stack_ownership, ticket_id, VERSION_KEY,
};

async fn with_versions(w: &mut World) -> Vec<KnownGood> {
    let history = Arc::new(MemoryTemplateHistory::new());
    for body in ["Resources: {V1: {Type: X}}", "Resources: {V2: {Type: X}}"] {
        let good = candidate("app", "UPDATE_COMPLETE", body, BTreeMap::new(), t0()).unwrap();
        history.record(&good).await.unwrap();
    }
    w.remediator.templates = Arc::new(WithHistory {
        inner: FakeTemplates,
        history: history.clone(),
    });
    history.versions("app").await.unwrap()
}

/// What `driftguard rollback app --to 1` stores.
async fn requested(w: &World, versions: &[KnownGood]) -> (String, String) {
    let stack = w.catalog.describe_stack("app").await.unwrap().unwrap();
    let change = request_change(&stack, 1, w.clock.now()).unwrap();
    let ownership = stack_ownership(&stack);
    let id = ticket_id(&change, &ownership);
    let planned = rollback_plan(&versions[0], &id, plan_time(&change)).unwrap();
    let ticket = awaiting_approval(None, &change, &ownership, &planned, &[], 60).unwrap();
    w.store.create_ticket(&ticket).await.unwrap();
    (id, planned.plan.digest())
}

#[tokio::test]
async fn an_approved_rollback_request_executes_the_plan_that_was_approved() {
    let mut w = world("");
    let versions = with_versions(&mut w).await;
    let (id, digest) = requested(&w, &versions).await;
    assert_eq!(approve_stored_plan(&w, &id, CAROL).await, digest);
    let r = finished(
        w.remediator
            .handle(approval_envelope(&id, "e-rb", CAROL))
            .await
            .unwrap(),
    );
    assert!(
        !matches!(
            r.outcome,
            RemediationOutcome::Refused | RemediationOutcome::AwaitingApproval
        ),
        "{:?}: {}",
        r.outcome,
        r.reason
    );
    let executed = w.executor.executed.lock().unwrap().clone();
    assert_eq!(executed.len(), 1);
    assert_eq!(executed[0].digest(), digest);
    assert_eq!(
        executed[0].calls[0].parameters["TemplateBody"],
        "Resources: {V1: {Type: X}}"
    );
}

#[tokio::test]
async fn a_request_is_not_executed_without_an_approval_or_with_another_version() {
    let mut w = world("");
    let versions = with_versions(&mut w).await;
    let (id, _) = requested(&w, &versions).await;
    // Woken without an approval recorded: nothing runs.
    let r = finished(
        w.remediator
            .handle(approval_envelope(&id, "e-none", CAROL))
            .await
            .unwrap(),
    );
    assert_eq!(r.outcome, RemediationOutcome::Refused, "{}", r.reason);
    // Approved, then the version on the ticket is changed: the re-derived
    // plan is another one, the approval does not apply to it.
    approve_stored_plan(&w, &id, CAROL).await;
    edit(&w, &id, |t| {
        if let Some(c) = t.last_change.as_mut() {
            c.request[VERSION_KEY] = json!(2);
        }
    })
    .await;
    approval_of_a_changed_plan(&w, &id, "e-other").await;
    assert!(w.executor.executed.lock().unwrap().is_empty());
}
