//! The approval endpoint over the memory ticket store and bus, driven by the
//! function URL request fixtures in `events/approve/` (shaped like the example
//! of <https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads>,
//! "Request payload format").
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::path::Path;
use std::sync::Arc;

use approve::handler::handle;
use approve::Approver;
use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use chrono::{DateTime, Utc};
use driftguard_core::memory::{FixedClock, MemoryBus, MemoryTicketStore};
use driftguard_core::ports::TicketStore;
use driftguard_model::domain::policy::Policy;
use driftguard_model::domain::EntryKind;
use driftguard_model::domain::Plan;
use driftguard_model::domain::{Ticket, TicketState};
use driftguard_model::events::REMEDIATION_APPROVED;
use driftguard_model::testing::tickets::{awaiting_approval, console_actor, revoke_ingress};
use serde_json::Value;

/// The digest the fixtures carry: `plan().digest()` (checked below).
const FIXTURE_DIGEST: &str = "448aa98d8b4bbf150a07211d19e816d2ccdb6abb63e89d94878094e9b0b2b9ea";
const TICKET: &str = "T-approve-1";

fn t0() -> DateTime<Utc> {
    "2026-03-01T10:15:00Z".parse().unwrap()
}

fn policy(allow_self: bool) -> Policy {
    Policy::from_yaml(&format!(
        "identities:\n  approvers:\n    - principal: \"arn:aws:iam::111122223333:role/AWSReservedSSO_Approver_*\"\nremediation:\n  allow_self_approval: {allow_self}\n"
    ))
    .unwrap()
}

fn plan() -> Plan {
    revoke_ingress("sg-0123456789abcdef0", "the console rule is gone")
}

/// A ticket waiting for approval of `plan()`; bob made the change.
fn ticket() -> Ticket {
    let bob = console_actor(
        "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Approver_abc/bob@example.com",
        "bob@example.com",
    );
    let mut t = awaiting_approval(plan(), bob, t0());
    t.id = TICKET.into();
    t
}

struct World {
    store: Arc<MemoryTicketStore>,
    bus: Arc<MemoryBus>,
    approver: Approver,
}

async fn world(allow_self: bool) -> World {
    let store = Arc::new(MemoryTicketStore::new());
    store.create_ticket(&ticket()).await.unwrap();
    let bus = Arc::new(MemoryBus::new());
    let approver = Approver {
        tickets: store.clone(),
        bus: bus.clone(),
        clock: Arc::new(FixedClock::new(t0())),
        policy: Arc::new(policy(allow_self)),
    };
    World {
        store,
        bus,
        approver,
    }
}

fn fixture(name: &str) -> LambdaFunctionUrlRequest {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/approve")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture");
    serde_json::from_str(&text).expect("a function URL request")
}

async fn call(w: &World, name: &str) -> (i64, Value) {
    let r = handle(&w.approver, &fixture(name)).await;
    let body: Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        r.headers.get("content-type").unwrap().to_str().unwrap(),
        "application/json"
    );
    (r.status_code, body)
}

async fn stored(w: &World) -> Ticket {
    w.store.get_ticket(TICKET).await.unwrap().unwrap()
}

#[test]
fn the_fixtures_name_the_test_plan() {
    assert_eq!(
        plan().digest(),
        FIXTURE_DIGEST,
        "regenerate events/approve/*.json"
    );
}

#[tokio::test]
async fn an_approver_approves_the_plan_it_names_and_remediate_is_woken() {
    for name in ["approve-by-approver.json", "approve-base64-body.json"] {
        let w = world(false).await;
        let (status, body) = call(&w, name).await;
        assert_eq!(status, 200, "{name}: {body}");
        let caller =
            "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Approver_abc/alice@example.com";
        assert_eq!(body["approval"]["approver_arn"], caller);
        let t = stored(&w).await;
        let approval = t.approval.clone().unwrap();
        assert_eq!(approval.approver_arn, caller);
        assert_eq!(approval.plan_digest, FIXTURE_DIGEST);
        assert_eq!(approval.via, "lambda-function-url:AWS_IAM");
        assert_eq!(approval.approved_at, t0());
        assert_eq!(t.version, ticket().version + 1);
        assert_eq!(
            t.state,
            TicketState::AwaitingApproval,
            "remediate moves it on"
        );
        let entry = t.history.last().unwrap();
        assert_eq!(entry.kind, EntryKind::Approved);
        assert!(entry.summary.contains(caller), "{}", entry.summary);
        let published = w.bus.published();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].0, REMEDIATION_APPROVED);
        assert_eq!(published[0].1["ticket_id"], TICKET);
        assert_eq!(published[0].1["approved_by"], caller);
    }
}

#[tokio::test]
async fn refusals_are_403_or_409_and_change_nothing() {
    for (name, status, code) in [
        ("approve-own-change.json", 403, "self_approval"),
        ("approve-not-an-approver.json", 403, "not_an_approver"),
        ("approve-other-plan.json", 409, "digest_mismatch"),
        ("approve-unknown-ticket.json", 404, "no_ticket"),
        ("approve-without-iam-auth.json", 403, "bad_request"),
    ] {
        let w = world(false).await;
        let (got, body) = call(&w, name).await;
        assert_eq!(
            (got, body["code"].as_str().unwrap()),
            (status, code),
            "{name}: {body}"
        );
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()));
        assert_eq!(stored(&w).await, ticket(), "{name} wrote the ticket");
        assert!(w.bus.published().is_empty(), "{name} woke remediate");
    }
}

#[tokio::test]
async fn a_bad_body_is_400_naming_the_field() {
    let w = world(false).await;
    let (status, body) = call(&w, "approve-missing-digest.json").await;
    assert_eq!(status, 400);
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("plan_digest") && error.contains("missing"),
        "{error}"
    );
    // A name in the body is never the approver: the field is not even read.
    assert_eq!(stored(&w).await, ticket());
}

#[tokio::test]
async fn self_approval_needs_the_policy() {
    let w = world(true).await;
    let (status, body) = call(&w, "approve-own-change.json").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_ticket_not_awaiting_or_expired_is_409() {
    let w = world(false).await;
    let mut t = stored(&w).await;
    t.state = TicketState::Open;
    t.version += 1;
    w.store.update_ticket(&t).await.unwrap();
    let (status, body) = call(&w, "approve-by-approver.json").await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (409, "not_awaiting_approval")
    );

    let mut w = world(false).await;
    w.approver.clock = Arc::new(FixedClock::new(t0() + chrono::Duration::hours(2)));
    let (status, body) = call(&w, "approve-by-approver.json").await;
    assert_eq!((status, body["code"].as_str().unwrap()), (409, "expired"));
}

#[tokio::test]
async fn a_changed_plan_is_not_approved_by_an_old_digest() {
    let w = world(false).await;
    let mut t = stored(&w).await;
    let mut other = plan();
    other.calls[0].parameters = serde_json::json!({"GroupId": "sg-ffffffffffffffff0"});
    t.plan = Some(other);
    t.version += 1;
    w.store.update_ticket(&t).await.unwrap();
    let (status, body) = call(&w, "approve-by-approver.json").await;
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (409, "digest_mismatch")
    );
    assert!(stored(&w).await.approval.is_none());
}

#[tokio::test]
async fn a_get_is_405() {
    let w = world(false).await;
    let mut r = fixture("approve-by-approver.json");
    r.request_context.http.method = Some("GET".into());
    let resp = handle(&w.approver, &r).await;
    assert_eq!(resp.status_code, 405);
}

/// The caller's `userId`, `callerId`, `accountId` and `principalOrgId` are read
/// from `requestContext.authorizer.iam` besides `userArn`
/// (<https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads>).
#[test]
fn the_request_reads_every_caller_fact_lambda_passes() {
    use approve::request::ApproveRequest;
    let mut event = fixture("approve-by-approver.json");
    let r = ApproveRequest::from_event(&event).unwrap();
    assert_eq!(
        r.caller_user_id.as_deref(),
        Some("AROAEXAMPLEAPPROVER:alice@example.com")
    );
    assert_eq!(
        r.caller_id.as_deref(),
        Some("AROAEXAMPLEAPPROVER:alice@example.com")
    );
    assert_eq!(r.caller_account.as_deref(), Some("111122223333"));
    assert_eq!(r.caller_org, None, "principalOrgId is null in the fixture");
    let iam = event
        .request_context
        .authorizer
        .as_mut()
        .and_then(|a| a.iam.as_mut())
        .unwrap();
    iam.other
        .insert("principalOrgId".into(), Value::from("o-a1b2c3d4e5"));
    let r = ApproveRequest::from_event(&event).unwrap();
    assert_eq!(r.caller_org.as_deref(), Some("o-a1b2c3d4e5"));
}

/// An approver pinned by role unique id (`unique_id`) is matched through the
/// function URL: the request's `userId` carries it; another id is refused.
#[tokio::test]
async fn an_approver_pinned_by_unique_id_is_matched_through_the_url() {
    let pinned = |id: &str| {
        Policy::from_yaml(&format!(
            "identities:\n  approvers:\n    - principal: \"arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Approver_*\"\n      unique_id: {id}\n"
        ))
        .unwrap()
    };
    let mut w = world(false).await;
    w.approver.policy = Arc::new(pinned("AROAEXAMPLEAPPROVER"));
    let (status, body) = call(&w, "approve-by-approver.json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        stored(&w).await.approval.unwrap().approver_id.as_deref(),
        Some("AROAEXAMPLEAPPROVER:alice@example.com")
    );
    let mut w = world(false).await;
    w.approver.policy = Arc::new(pinned("AROAEXAMPLEOTHERROLE"));
    let (status, body) = call(&w, "approve-by-approver.json").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("not_an_approver")),
        "{body}"
    );
}
