//! The remediator's tests, one file per theme, over one world built here:
//! fakes for the stack catalog, templates, executor and drift detector, the
//! memory ticket store, bus and safety store, a fixed clock, and the helpers
//! that write what detect and the approval endpoint would.
#![allow(clippy::unwrap_used)]
use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::super::planner::check_targets;
use super::super::{approval_event, bus_envelope};
use super::*;
use crate::idempotency;
use crate::memory::safety::MemorySafetyStore;
use crate::memory::{FixedClock, MemoryBus, MemoryTicketStore};
use crate::ports::remediate::{Execution, ExecutionError, ReadBack, StackTemplate};
use crate::ports::Claim;
use crate::ports::{StackResourceSummary, StackSummary};
use crate::testing::tickets::FaultyTickets;
use driftguard_model::domain::approval::{authorize, Caller};
use driftguard_model::domain::EntryKind;
use driftguard_model::domain::{
    classify_actor, Decision, Drift, Fingerprint, Ownership, Plan, ResourceRef, Severity,
    StackMembership, Strategy, TicketEntry, TicketState, Verdict,
};
use driftguard_model::error::PortResult;
use driftguard_model::events::{
    DriftDecision, RemediationOutcome, DRIFT_DECISION, REMEDIATION_APPROVED, REMEDIATION_RESULT,
    SCHEMA_VERSION,
};
use driftguard_model::testing::changes::{open_ssh, sg_change, t0, SECURITY_GROUP};
use driftguard_model::testing::identities::console;

mod acting;
mod approval;
mod gates;
mod member_accounts;
mod metrics;
mod once;
mod outbox;
mod refusals;
mod reverts_others;
mod rollback_request;
mod trust;

const TEMPLATE: &str = r#"
Resources:
  Sg:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: web
      SecurityGroupIngress:
        - { IpProtocol: tcp, FromPort: 443, ToPort: 443, CidrIp: 0.0.0.0/0 }
"#;

const APPROVERS: &str =
    "identities:\n  approvers: [{ principal: \"arn:aws:iam::123456789012:role/Approver\" }]\n";
const CAROL: &str = "arn:aws:sts::123456789012:assumed-role/Approver/carol@example.com";

struct FakeCatalog {
    ownership: Mutex<Ownership>,
    status: Mutex<String>,
    /// `owner_of` calls still to be throttled.
    throttled: Mutex<u32>,
}

#[async_trait]
impl StackCatalog for FakeCatalog {
    async fn owner_of(&self, _: &ResourceRef) -> PortResult<Ownership> {
        let mut throttled = self.throttled.lock().unwrap();
        if *throttled > 0 {
            *throttled -= 1;
            return Err(PortError::Throttled {
                service: "cloudformation",
                operation: "DescribeStackResources",
                message: "Rate exceeded".into(),
            });
        }
        // As the port says: a Managed answer carries the stack's current status.
        let mut ownership = self.ownership.lock().unwrap().clone();
        if let Ownership::Managed(m) = &mut ownership {
            m.stack_status = self.status.lock().unwrap().clone();
        }
        Ok(ownership)
    }
    async fn describe_stack(&self, stack: &str) -> PortResult<Option<StackSummary>> {
        Ok(Some(StackSummary {
            stack_id: format!("arn:aws:cloudformation:us-east-1:123456789012:stack/{stack}/1"),
            stack_name: stack.into(),
            status: self.status.lock().unwrap().clone(),
            tags: BTreeMap::new(),
        }))
    }
    async fn list_stacks(&self) -> PortResult<Vec<StackSummary>> {
        Ok(vec![])
    }
    async fn list_stack_resources(&self, _: &str) -> PortResult<Vec<StackResourceSummary>> {
        Ok(vec![])
    }
}

struct FakeTemplates;

#[async_trait]
impl TemplateSource for FakeTemplates {
    async fn stack_template(&self, _: &str) -> PortResult<StackTemplate> {
        Ok(StackTemplate {
            body: TEMPLATE.into(),
            parameters: BTreeMap::new(),
            stack_id: String::new(),
        })
    }
}

#[derive(Default)]
struct FakeExecutor {
    executed: Mutex<Vec<Plan>>,
    fail_with: Mutex<Option<ExecutionError>>,
    still_drifted: Mutex<bool>,
    /// What a REVERT_DRIFT preview shows (`None`: cannot preview).
    reverts: Mutex<Option<Result<Vec<String>, ExecutionError>>>,
    previews: Mutex<u32>,
}

#[async_trait]
impl PlanExecutor for FakeExecutor {
    async fn execute(&self, plan: &Plan) -> Result<Execution, ExecutionError> {
        self.executed.lock().unwrap().push(plan.clone());
        match self.fail_with.lock().unwrap().clone() {
            Some(e) => Err(e),
            None => Ok(Execution {
                notes: vec!["done".into()],
            }),
        }
    }
    async fn read_back(&self, _: &Plan) -> PortResult<Option<ReadBack>> {
        let drifted = *self.still_drifted.lock().unwrap();
        Ok(Some(ReadBack {
            converged: !drifted,
            detail: "ec2:DescribeSecurityGroupRules on sg-1".into(),
        }))
    }
    async fn stack_status(&self, _: &str) -> PortResult<Option<String>> {
        Ok(Some("UPDATE_ROLLBACK_COMPLETE".into()))
    }
    async fn change_set_reverts(&self, _: &Plan) -> Result<Option<Vec<String>>, ExecutionError> {
        *self.previews.lock().unwrap() += 1;
        self.reverts.lock().unwrap().clone().transpose()
    }
}

/// A drift detector that is unavailable, as on the emulator.
struct NoDriftDetection;

#[async_trait]
impl DriftDetector for NoDriftDetection {
    async fn detect_resource_drift(&self, _: &str, _: &str) -> PortResult<Drift> {
        Err(PortError::Unsupported {
            service: "cloudformation",
            operation: "DetectStackResourceDrift",
            message: "not implemented".into(),
        })
    }
}

/// A ticket store that is down, or a write answered as a permanent failure.
fn down() -> PortError {
    PortError::Failed {
        service: "dynamodb",
        operation: "PutItem",
        message: "connection reset".into(),
    }
}

/// A write's answer lost on the way back (retried): the call reached the store.
fn lost(operation: &'static str, message: &str) -> PortError {
    PortError::Transient {
        service: "dynamodb",
        operation,
        message: message.into(),
    }
}

struct World {
    store: Arc<MemoryTicketStore>,
    bus: Arc<MemoryBus>,
    catalog: Arc<FakeCatalog>,
    executor: Arc<FakeExecutor>,
    safety: Arc<MemorySafetyStore>,
    clock: Arc<FixedClock>,
    remediator: Remediator,
}

fn membership(stack: &str) -> StackMembership {
    driftguard_model::testing::changes::membership(stack, "Sg", SECURITY_GROUP)
}

fn world(policy_yaml: &str) -> World {
    let store = Arc::new(MemoryTicketStore::new());
    store.set_now(t0());
    let bus = Arc::new(MemoryBus::new());
    let catalog = Arc::new(FakeCatalog {
        ownership: Mutex::new(Ownership::Managed(membership("app"))),
        status: Mutex::new("UPDATE_COMPLETE".into()),
        throttled: Mutex::new(0),
    });
    let executor = Arc::new(FakeExecutor::default());
    let safety = Arc::new(MemorySafetyStore::new());
    let clock = Arc::new(FixedClock::new(t0()));
    let remediator = Remediator {
        tickets: store.clone(),
        bus: bus.clone(),
        catalog: catalog.clone(),
        drift: Some(Arc::new(NoDriftDetection)),
        templates: Arc::new(FakeTemplates),
        executor: executor.clone(),
        safety: safety.clone(),
        clock: clock.clone(),
        policy: Arc::new(
            Policy::from_yaml(&format!("version: 1\n{APPROVERS}{policy_yaml}")).unwrap(),
        ),
        settings: RemediatorSettings {
            retry: RetryPolicy::quick(),
            ..RemediatorSettings::default()
        },
        accounts: AccountScope::default(),
    };
    World {
        store,
        bus,
        catalog,
        executor,
        safety,
        clock,
        remediator,
    }
}

/// alice opens SSH to the world on `group` in the console.
fn console_change(group: &str) -> Change {
    Change {
        resource: ResourceRef::new(SECURITY_GROUP, group),
        request: open_ssh(group),
        ..sg_change(&format!("ct-{group}"), console())
    }
}

fn verdict(dry_run: bool, requires_approval: bool) -> Verdict {
    Verdict {
        action: Action::Revert,
        reason: "policy rule open-ingress-is-reverted".into(),
        rule: Some("open-ingress-is-reverted".into()),
        dry_run,
        requires_approval,
        severity: Severity::High,
        capped_from: None,
        environment: None,
    }
}

/// Creates the ticket detect would have made and returns the decision envelope.
async fn decision(
    w: &World,
    group: &str,
    logical: &str,
    stack: &str,
    v: Verdict,
    envelope_id: &str,
) -> (String, Value) {
    let change = console_change(group);
    let mut m = membership(stack);
    m.logical_id = logical.into();
    let ownership = Ownership::Managed(m);
    let fp = Fingerprint::for_change(&change, &ownership);
    let actor = classify_actor(
        &change.identity,
        &w.remediator.policy.identities,
        change.time,
    );
    let ticket_id = fp.ticket_id();
    if w.store.get_ticket(&ticket_id).await.unwrap().is_none() {
        let mut ticket = Ticket::new(fp, &change, &ownership, t0());
        ticket.last_change = Some(change.clone());
        ticket.last_actor = Some(actor.clone());
        ticket.decision = Some(Decision {
            verdict: v.clone(),
            held: None,
            hit_and_run: None,
        });
        ticket.push(decided_entry(w.clock.now()));
        w.store.create_ticket(&ticket).await.unwrap();
    }
    let detail = DriftDecision {
        schema_version: SCHEMA_VERSION,
        ticket_id: ticket_id.clone(),
        ticket_state: TicketState::Open,
        state_changed: true,
        change,
        actor,
        ownership,
        drift: None,
        event_drift: None,
        decision: Decision {
            verdict: v,
            held: None,
            hit_and_run: None,
        },
        plan: None,
        decided_at: t0(),
    };
    (
        ticket_id,
        bus_envelope(
            envelope_id,
            DRIFT_DECISION,
            &detail,
            "123456789012",
            "us-east-1",
            t0(),
        ),
    )
}

fn decided_entry(at: DateTime<Utc>) -> TicketEntry {
    TicketEntry {
        at,
        kind: EntryKind::Decided,
        event_id: None,
        summary: "decided".into(),
        actor: None,
        data: Value::Null,
    }
}

/// Edit the stored ticket the way someone with table write (or detect) would.
async fn edit(w: &World, id: &str, f: impl FnOnce(&mut Ticket)) {
    let mut t = w.store.get_ticket(id).await.unwrap().unwrap();
    f(&mut t);
    t.version += 1;
    w.store.update_ticket(&t).await.unwrap();
}

/// A new change on the same ticket, decided now (what detect writes).
async fn redecide(w: &World, id: &str, change_id: &str) {
    let now = w.clock.now();
    edit(w, id, |t| {
        if let Some(c) = t.last_change.as_mut() {
            c.event_id = change_id.into();
        }
        t.push(decided_entry(now));
    })
    .await;
}

/// What the approval endpoint writes: `authorize` for an authenticated caller.
async fn approve_stored_plan(w: &World, id: &str, caller: &str) -> String {
    let t = w.store.get_ticket(id).await.unwrap().unwrap();
    let digest = t.plan.as_ref().unwrap().digest();
    let caller = Caller::parse(caller).unwrap();
    let approval = authorize(
        &t,
        &digest,
        &caller,
        "test",
        &w.remediator.policy,
        w.clock.now(),
    )
    .unwrap();
    edit(w, id, |t| t.approval = Some(approval)).await;
    digest
}

/// The wake-up call; what `approved_by` says does not count.
fn approval_envelope(id: &str, envelope_id: &str, by: &str) -> Value {
    bus_envelope(
        envelope_id,
        REMEDIATION_APPROVED,
        &approval_event(id, by, t0()),
        "123456789012",
        "us-east-1",
        t0(),
    )
}

/// carol's approval arrives for a plan that is no longer the ticket's: the
/// ticket waits for a new approval (the plan changed).
async fn approval_of_a_changed_plan(w: &World, id: &str, envelope_id: &str) {
    let r = finished(
        w.remediator
            .handle(approval_envelope(id, envelope_id, CAROL))
            .await
            .unwrap(),
    );
    assert_eq!(
        r.outcome,
        RemediationOutcome::AwaitingApproval,
        "{}",
        r.reason
    );
    assert!(r.reason.contains("the plan changed"), "{}", r.reason);
}

fn finished(o: Outcome) -> RemediationResult {
    match o {
        Outcome::Finished(r) => *r,
        other => panic!("expected a finished remediation, got {other:?}"),
    }
}
