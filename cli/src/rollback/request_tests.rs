//! `driftguard rollback` as a ticket awaiting approval, over memory doubles
//! and an in-memory change-set port. CloudFormation's behaviour the fake
//! follows: `DescribeChangeSet` lists the change set's `Changes`
//! (<https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeChangeSet.html>);
//! a change set is executed only by `ExecuteChangeSet`, which the CLI never
//! calls (<https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ExecuteChangeSet.html>:
//! "Updates a stack using the input information that was provided when the
//! specified change set was created").
#![allow(clippy::unwrap_used)]
use std::collections::BTreeMap;

use driftguard_core::memory::catalog::MemoryStackCatalog;
use driftguard_core::memory::template_history::MemoryTemplateHistory;
use driftguard_core::memory::MemoryTicketStore;
use driftguard_core::remediate::decided_at;
use driftguard_core::remediate::history::candidate;
use driftguard_core::remediate::planner::{plan, PlanInput};
use driftguard_core::remediate::rollback_request::previewed_changes;
use driftguard_core::testing::change_sets::{modify, MemoryChangeSets};
use driftguard_model::domain::approval::{authorize, Caller};
use driftguard_model::domain::{policy::Policy, Action, Strategy, TicketState};

use super::*;

struct World {
    catalog: MemoryStackCatalog,
    history: MemoryTemplateHistory,
    change_sets: MemoryChangeSets,
    tickets: MemoryTicketStore,
}

fn now() -> DateTime<Utc> {
    "2026-03-02T09:00:00Z".parse().unwrap()
}

async fn world() -> World {
    let w = World {
        catalog: MemoryStackCatalog::new(),
        history: MemoryTemplateHistory::new(),
        // The preview CloudFormation shows: the database modified in place.
        change_sets: MemoryChangeSets::new(
            &["Env"],
            vec![vec![modify("Db", Some("AWS::RDS::DBInstance"))]],
        ),
        tickets: MemoryTicketStore::new(),
    };
    w.catalog.add_stack("app", "UPDATE_COMPLETE");
    for body in ["Resources: {V1: {Type: X}}", "Resources: {V2: {Type: X}}"] {
        let params = BTreeMap::from([("Env".to_string(), "prod".to_string())]);
        let good = candidate(
            "app",
            "UPDATE_COMPLETE",
            body,
            params,
            "2026-03-01T10:00:00Z".parse().unwrap(),
        )
        .unwrap();
        w.history.record(&good).await.unwrap();
    }
    w.tickets.set_now(now());
    w
}

fn ports(w: &World) -> RollbackPorts<'_> {
    RollbackPorts {
        catalog: &w.catalog,
        history: &w.history,
        change_sets: &w.change_sets,
        tickets: &w.tickets,
        wait: WaitPolicy::quick(),
        approval_ttl_minutes: 60,
    }
}

fn args(dry_run: bool) -> RollbackArgs {
    RollbackArgs {
        stack: "app".into(),
        to: None,
        dry_run,
    }
}

#[tokio::test]
async fn a_dry_run_shows_the_preview_deletes_it_and_stores_nothing() {
    let w = world().await;
    let r = request(&ports(&w), &args(true), now()).await.unwrap();
    assert!(r.ticket.is_none());
    assert!(w.tickets.tickets().is_empty());
    assert!(
        r.lines.iter().any(|l| l.contains("Modify Db")),
        "{:?}",
        r.lines
    );
    assert!(r
        .lines
        .iter()
        .any(|l| l == &format!("digest     {}", r.digest)));
    let created = w.change_sets.created_names();
    assert_eq!(created.len(), 1);
    assert!(created[0].starts_with("driftguard-preview-"), "{created:?}");
    assert_eq!(w.change_sets.deleted.lock().unwrap().clone(), created);
    assert!(w.change_sets.executed.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_request_waits_for_approval_with_the_plan_and_the_previewed_changes() {
    let w = world().await;
    let r = request(&ports(&w), &args(false), now()).await.unwrap();
    let stored = w.tickets.tickets();
    assert_eq!(stored.len(), 1);
    let t = &stored[0];
    assert_eq!(Some(t), r.ticket.as_ref());
    assert_eq!(t.state, TicketState::AwaitingApproval);
    assert_eq!(
        t.approval_expires_at,
        Some(now() + chrono::Duration::minutes(60))
    );
    let p = t.plan.as_ref().unwrap();
    assert_eq!(p.digest(), r.digest);
    assert_eq!(p.strategy, Strategy::StackRollback);
    assert_eq!(
        p.calls[0].parameters["TemplateBody"], "Resources: {V1: {Type: X}}",
        "the version before the latest"
    );
    assert_eq!(previewed_changes(t).as_deref(), Some("Modify Db"));
    let decision = t.decision.as_ref().unwrap();
    assert_eq!(decision.verdict.action, Action::Rollback);
    assert!(decision.verdict.requires_approval);
    assert!(
        w.change_sets.executed.lock().unwrap().is_empty(),
        "nothing runs before the approval"
    );
    assert!(r
        .lines
        .last()
        .unwrap()
        .contains(&format!("driftguard approve {}", t.id)));

    // The approval endpoint accepts it for an approver, bound to the digest.
    let policy = Policy::from_yaml(
        "identities:\n  approvers: [{ principal: \"arn:aws:iam::123456789012:role/Approver\" }]\n",
    )
    .unwrap();
    let caller =
        Caller::parse("arn:aws:sts::123456789012:assumed-role/Approver/carol@example.com").unwrap();
    let approval = authorize(t, &r.digest, &caller, "test", &policy, now()).unwrap();
    assert_eq!(approval.plan_digest, r.digest);
}

#[tokio::test]
async fn remediate_re_derives_exactly_the_stored_plan() {
    let w = world().await;
    let args = RollbackArgs {
        to: Some(2),
        ..args(false)
    };
    let r = request(&ports(&w), &args, now()).await.unwrap();
    let t = r.ticket.unwrap();
    let versions = w.history.versions("app").await.unwrap();
    let membership = t.ownership.membership().unwrap().clone();
    let policy = Policy::from_yaml("").unwrap();
    // What remediate's `prepare` passes the planner for this ticket.
    let again = plan(&PlanInput {
        ticket_id: &t.id,
        action: Action::Rollback,
        change: t.last_change.as_ref(),
        drift: None,
        event_drift: None,
        resource: &t.resource,
        membership: &membership,
        stack_status: "UPDATE_COMPLETE",
        template: Err("not read"),
        stack_resources: &[],
        known_good: &versions,
        policy: &policy,
        now: decided_at(&t).unwrap(),
    })
    .unwrap();
    assert_eq!(again.plan.digest(), r.digest);
    assert_eq!(
        again.plan.calls[0].parameters["TemplateBody"], "Resources: {V2: {Type: X}}",
        "--to 2 is what the request asks for"
    );
}

#[tokio::test]
async fn a_stack_being_remediated_is_not_requested_again() {
    let w = world().await;
    let r = request(&ports(&w), &args(false), now()).await.unwrap();
    let mut t = r.ticket.unwrap();
    t.transition(TicketState::Remediating, "acting", now())
        .unwrap();
    t.version += 1;
    w.tickets.update_ticket(&t).await.unwrap();
    let err = request(&ports(&w), &args(false), now()).await.unwrap_err();
    assert!(err.to_string().contains("REMEDIATING"), "{err}");
}

#[tokio::test]
async fn a_missing_version_is_refused_before_anything_is_created() {
    let w = world().await;
    let args = RollbackArgs {
        to: Some(9),
        ..args(false)
    };
    let err = request(&ports(&w), &args, now()).await.unwrap_err();
    assert!(err.to_string().contains("no known-good version 9"), "{err}");
    assert!(w.change_sets.created.lock().unwrap().is_empty());
}
