//! Changes in member accounts (issue 15): looked up through the member's
//! role, never in driftguard's own account; a member whose role cannot be
//! used gets a ticket that says so, once, and no crash.
#![allow(clippy::unwrap_used)]
use std::sync::Arc;

use serde_json::json;

use super::test_support::cfn_modified;
use super::*;
use crate::memory::catalog::{MemoryActorLookup, MemoryDriftDetector, MemoryStackCatalog};
use crate::memory::members::MemoryMemberAccounts;
use crate::memory::{FixedClock, MemoryBus, MemoryTicketStore};
use crate::ports::AccountLookups;
use crate::resilience::RetryPolicy;
use driftguard_model::domain::{policy::Policy, Action, ActorKind, Change, DriftOrigin, Ownership};
use driftguard_model::error::PortError;
use driftguard_model::testing;
use driftguard_model::testing::changes::t0;
use driftguard_model::testing::identities::console_in;
use driftguard_model::testing::policies::{self, sg_revert, OWN};

const HOME: &str = "111111111111";
const MEMBER: &str = "222222222222";
const NO_ROLE: &str = "333333333333";

/// Console, human and unknown changes to a security group reverted live.
fn policy() -> String {
    policies::policy(1, &[OWN], &[&sg_revert("console, human, unknown", true)])
}

struct Harness {
    home: Arc<MemoryStackCatalog>,
    member_drift: Arc<MemoryDriftDetector>,
    members: Arc<MemoryMemberAccounts>,
    store: Arc<MemoryTicketStore>,
    bus: Arc<MemoryBus>,
    pipeline: Pipeline,
}

/// The member's stack `app` owns `sg-0abc`; the central account has a stack
/// of the same name that owns nothing of it.
fn harness() -> Harness {
    harness_with(&policy())
}

fn harness_with(policy: &str) -> Harness {
    let home = Arc::new(MemoryStackCatalog::new());
    home.add_stack("app", "UPDATE_COMPLETE");
    let member = Arc::new(MemoryStackCatalog::new());
    member.add_stack("app", "UPDATE_COMPLETE");
    member.add_resource("app", "WebSG", "AWS::EC2::SecurityGroup", "sg-0abc");
    let member_drift = Arc::new(MemoryDriftDetector::new());
    let members = Arc::new(MemoryMemberAccounts::new());
    members.add(
        MEMBER,
        AccountLookups {
            catalog: member,
            drift: member_drift.clone(),
            actors: Arc::new(MemoryActorLookup::new()),
        },
    );
    let store = Arc::new(MemoryTicketStore::new());
    store.set_now(t0());
    let bus = Arc::new(MemoryBus::new());
    let pipeline = Pipeline::new(
        Ports {
            catalog: home.clone(),
            drift: Arc::new(MemoryDriftDetector::new()),
            actors: Arc::new(MemoryActorLookup::new()),
            tickets: store.clone(),
            bus: bus.clone(),
            ops_mirror: None,
            clock: Arc::new(FixedClock::new(t0())),
        },
        Arc::new(Policy::from_yaml(policy).unwrap()),
        Settings {
            retry: RetryPolicy::quick(),
            watched_accounts: vec![HOME.into(), MEMBER.into(), NO_ROLE.into()],
            ..Settings::default()
        },
    )
    .with_members(members.clone());
    Harness {
        home,
        member_drift,
        members,
        store,
        bus,
        pipeline,
    }
}

/// alice's console change to `sg-0abc` in `account`, in eu-west-1.
fn sg_change(event_id: &str, account: &str) -> Change {
    Change {
        account: account.into(),
        region: "eu-west-1".into(),
        request: json!({"groupId": "sg-0abc"}),
        ..testing::changes::sg_change(event_id, console_in(account))
    }
}

#[tokio::test]
async fn a_member_accounts_change_is_looked_up_through_its_role() {
    let h = harness();
    h.member_drift.set("app", "WebSG", Ok(cfn_modified()));
    let r = h
        .pipeline
        .process_change(sg_change("ev-member", MEMBER))
        .await
        .unwrap();
    assert_eq!(r.actor.kind, ActorKind::Console);
    let m = r.ownership.membership().expect("owner found in the member");
    assert_eq!(
        (m.stack_name.as_str(), m.logical_id.as_str()),
        ("app", "WebSG")
    );
    assert_eq!(r.drift.unwrap().origin, DriftOrigin::Cloudformation);
    assert_eq!(r.decision.verdict.action, Action::Revert);
    assert_eq!(h.members.calls(), 1);
    let tickets = h.store.tickets();
    assert_eq!(tickets.len(), 1);
    assert_eq!(
        (
            tickets[0].fingerprint.account.as_str(),
            tickets[0].fingerprint.region.as_str()
        ),
        (MEMBER, "eu-west-1")
    );
    assert_eq!(h.bus.published().len(), 1);
}

#[tokio::test]
async fn driftguards_own_account_is_looked_up_without_a_member_role() {
    let h = harness();
    h.home
        .add_resource("app", "WebSG", "AWS::EC2::SecurityGroup", "sg-0abc");
    let r = h
        .pipeline
        .process_change(sg_change("ev-home", HOME))
        .await
        .unwrap();
    assert!(r.ownership.membership().is_some());
    assert_eq!(h.members.calls(), 0, "no AssumeRole for the home account");
}

#[tokio::test]
async fn a_member_without_its_role_gets_a_ticket_that_says_so_once() {
    let h = harness();
    let first = h
        .pipeline
        .process_change(sg_change("ev-1", NO_ROLE))
        .await
        .unwrap();
    let Ownership::Unknown { reason } = &first.ownership else {
        panic!("{:?}", first.ownership)
    };
    assert!(
        reason.contains("arn:aws:iam::333333333333:role/driftguard-read")
            && reason.contains("AccessDenied"),
        "{reason}"
    );
    assert_eq!(
        first.decision.verdict.action,
        Action::Ticket,
        "capped: not proven managed"
    );
    let t = first.ticket.unwrap();
    assert!(t.state_changed);
    // The next event of that account on the same resource: the same ticket,
    // no new state, so no second notification.
    let second = h
        .pipeline
        .process_change(sg_change("ev-2", NO_ROLE))
        .await
        .unwrap();
    let t2 = second.ticket.unwrap();
    assert_eq!((t2.id.as_str(), t2.state_changed), (t.id.as_str(), false));
    assert_eq!(h.store.tickets().len(), 1);
    let stored = &h.store.tickets()[0];
    assert_eq!(stored.fingerprint.account, NO_ROLE);
}

#[tokio::test]
async fn a_throttled_assume_role_is_retried_and_then_fails_the_event() {
    let h = harness();
    let throttled = || PortError::Throttled {
        service: "sts",
        operation: "AssumeRole",
        message: "Throttling: Rate exceeded".into(),
    };
    h.members.fail_next(vec![throttled()]);
    h.member_drift.set("app", "WebSG", Ok(cfn_modified()));
    let r = h
        .pipeline
        .process_change(sg_change("ev-a", MEMBER))
        .await
        .unwrap();
    assert!(r.ownership.membership().is_some(), "retried, then found");
    h.members.fail_next((0..10).map(|_| throttled()).collect());
    let e = h
        .pipeline
        .process_change(sg_change("ev-b", MEMBER))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("AssumeRole"), "{e}");
}

/// Issue 15: environments by OU path and account tag. The same change is
/// reverted in an account of the prod OU and ticketed in one tagged env=dev.
const ORG_ENVIRONMENTS: &str = r#"environments:
  - name: prod
    match: { ou: "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/" }
    defaults: { dry_run: false }
  - name: dev
    match: { tags: { env: dev } }
    rules:
      - name: dev-ticket-only
        verdict: ticket
        severity: low
  - name: sandbox
    match: { accounts: ["333333333333"] }
    rules:
      - name: sandbox-ignore
        verdict: ignore
"#;

fn org_policy() -> String {
    let sg = sg_revert("console, human, unknown", false);
    policies::policy(2, &[OWN], &[&sg]) + ORG_ENVIRONMENTS
}

fn org_harness() -> (Harness, Arc<crate::memory::members::MemoryAccountDirectory>) {
    let h = harness_with(&org_policy());
    h.home
        .add_resource("app", "WebSG", "AWS::EC2::SecurityGroup", "sg-0abc");
    let directory = Arc::new(
        crate::memory::members::MemoryAccountDirectory::default()
            .with(
                HOME,
                "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-22222222/",
                &[],
            )
            .with(
                MEMBER,
                "o-a1b2c3d4e5/r-ab12/ou-ab12-33333333/",
                &[("env", "dev")],
            ),
    );
    let h = Harness {
        pipeline: h.pipeline.with_account_directory(directory.clone()),
        ..h
    };
    (h, directory)
}

#[tokio::test]
async fn environments_by_ou_and_tag_revert_in_prod_and_ticket_in_dev() {
    let (h, directory) = org_harness();
    h.member_drift.set("app", "WebSG", Ok(cfn_modified()));
    let prod = h
        .pipeline
        .process_change(sg_change("ev-prod", HOME))
        .await
        .unwrap();
    assert_eq!(prod.decision.verdict.action, Action::Revert);
    assert!(!prod.decision.verdict.dry_run);
    assert_eq!(prod.decision.verdict.environment.as_deref(), Some("prod"));
    let dev = h
        .pipeline
        .process_change(sg_change("ev-dev", MEMBER))
        .await
        .unwrap();
    assert_eq!(dev.decision.verdict.action, Action::Ticket);
    assert_eq!(
        dev.decision.verdict.rule.as_deref(),
        Some("dev-ticket-only")
    );
    assert_eq!(dev.decision.verdict.environment.as_deref(), Some("dev"));
    assert_eq!(directory.calls(), 2, "one Organizations lookup per account");
}

#[tokio::test]
async fn an_account_listed_by_id_needs_no_organizations_lookup() {
    let (h, directory) = org_harness();
    let r = h
        .pipeline
        .process_change(sg_change("ev-sandbox", NO_ROLE))
        .await
        .unwrap();
    assert_eq!(r.decision.verdict.environment.as_deref(), Some("sandbox"));
    assert_eq!(directory.calls(), 0);
}

#[tokio::test]
async fn an_account_organizations_cannot_answer_for_fails_the_event_rather_than_guess() {
    let h = harness_with(&org_policy());
    h.home
        .add_resource("app", "WebSG", "AWS::EC2::SecurityGroup", "sg-0abc");
    // No directory at all: the decision is not made with the wrong rules.
    let e = h
        .pipeline
        .process_change(sg_change("ev-x", HOME))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("AWS Organizations"), "{e}");
    assert!(h.store.tickets().is_empty());
    // A directory that does not know the account: the same.
    let (h, _) = org_harness();
    let e = h
        .pipeline
        .process_change(sg_change("ev-y", "444444444444"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("AccountNotFoundException"), "{e}");
}
