//! The remediate Lambda's logic over ports: one EventBridge envelope in, at most
//! one remediation out, and a `Drift Remediation Result` on the bus.
//!
//! The envelope is a wake-up call only ("Drift Decision", "Drift Remediation
//! Approved"): remediate reads the ticket it names and acts on what the ticket
//! says (decision, last change, last actor, approval), never on the event's
//! copy, because anyone who may `PutEvents` on the bus or invoke the function
//! can write an event (docs/threat-model.md).
//!
//! An attempt is the pure `gates` (the table `GATES`: held, accepted,
//! stale decision, approval state, stack busy, protected, approval bound to
//! the plan's digest, dry-run, approval needed) plus a short I/O tail; every
//! stop is recorded on the ticket with its reason. The tail: gates → ownership
//! and stack re-checked (`membership`) → gates → plan re-derived from the
//! current template and the ticket's change, its calls checked against the
//! ticket's resource (`prepare`) → gates → claim (ticket, change, plan digest)
//! → rate limits → circuit breaker → REMEDIATING (conditional write) → act →
//! verify (`act_once`, `act`). The gates whose facts are not read yet pass,
//! so the I/O happens in the same order as the checks.
use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::changeset::planned_others;
use super::limits::SafetyStore;
use super::planner::{
    check_targets, plan, plan_excluding, reverts_others_reason, widen_revert_drift, NoPlan,
    PlanInput, Planned,
};
use super::template::{Pseudo, TemplateView};
use super::verify::{verify, Verification};
use super::{ExecutionError, PlanExecutor, TemplateSource};
use crate::idempotency::{
    self, Claimed, Idempotency, IdempotencyError, IdempotencySettings, Record,
};
use crate::ports::{Clock, DecisionBus, DriftDetector, StackCatalog, TicketStore};
use crate::resilience::{retry, CircuitBreaker, RetryPolicy};
use driftguard_model::domain::approval::{still_valid, ApprovalRefused};
use driftguard_model::domain::ownership::stack_operation_in_progress;
use driftguard_model::domain::policy::{MatchFacts, RevertsOthers};
use driftguard_model::domain::ticket::{Approval, EntryKind, Unannounced};
use driftguard_model::domain::{
    Action, Actor, Change, Decision, Drift, Ownership, Plan, Policy, StackMembership, Strategy,
    Ticket, TicketEntry, TicketState,
};
use driftguard_model::error::PortError;
use driftguard_model::events::{
    RemediationOutcome, RemediationResult, DRIFT_DECISION, REMEDIATION_APPROVED,
    REMEDIATION_RESULT, SCHEMA_VERSION, SOURCE,
};

/// The EventBridge envelope fields remediate reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    pub id: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub source: String,
    #[serde(default)]
    pub detail: Value,
}

/// The one field of a wake-up call remediate reads: which ticket to look at.
#[derive(Debug, Clone, Deserialize)]
struct WakeUp {
    ticket_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    Decision,
    Approval,
}

#[derive(Debug, Clone)]
pub struct RemediatorSettings {
    /// `DRY_RUN=true`: plan only, whatever the verdict says.
    pub dry_run: bool,
    /// Processed-event records live this long (`EVENT_TTL_DAYS`).
    pub event_ttl_days: i64,
    /// How long one invocation holds its claim when its deadline is unknown
    /// (the Lambda handler passes the context's deadline instead).
    pub lease: Duration,
    pub retry: RetryPolicy,
}

impl Default for RemediatorSettings {
    fn default() -> Self {
        Self {
            dry_run: false,
            event_ttl_days: 7,
            lease: Duration::minutes(15),
            retry: RetryPolicy::default(),
        }
    }
}

/// What one envelope came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Nothing to do: another detail type, a missing ticket, a ticket whose
    /// decision does not act, a plan already waiting for approval.
    Ignored(String),
    /// This remediation (ticket, change, plan) was already done.
    Duplicate(String),
    /// Processed: the result that was put on the bus.
    Finished(Box<RemediationResult>),
}

#[derive(Debug, thiserror::Error)]
pub enum RemediateError {
    /// The envelope cannot be read: fail so it lands in the DLQ, not in silence.
    #[error("malformed {detail_type} event {id}: {message}")]
    Malformed {
        id: String,
        detail_type: String,
        message: String,
    },
    /// The ticket store is unreachable: fail so the event is retried.
    #[error("ticket store: {0}")]
    Store(PortError),
    /// Another invocation holds this remediation's claim (or crashed holding
    /// it): fail so Lambda retries and the DLQ keeps the event.
    #[error("remediation {key} is in progress in another invocation: retry later")]
    InProgress { key: String },
    /// CloudFormation could not be read before acting, after the retries
    /// (throttled, timed out): nothing was done, so fail and let Lambda
    /// retry rather than refuse for good on a passing fault.
    #[error("before acting: {0}")]
    Unavailable(PortError),
    /// The result is written on the ticket but could not be put on the bus
    /// after the retries: it waits in the ticket's outbox, and failing makes
    /// Lambda retry (or the DLQ keep) the event, whose next run publishes it.
    #[error("ticket {ticket}: remediation result not announced: {source}")]
    Unannounced { ticket: String, source: PortError },
}

/// Why the checks before acting stopped: a conclusion for the ticket, or a
/// passing fault that fails the invocation.
enum Halt {
    End(Box<Ending>),
    Retry(PortError),
}

impl From<Ending> for Halt {
    fn from(e: Ending) -> Self {
        Halt::End(Box::new(e))
    }
}

/// Wiring: every port remediate needs.
pub struct Remediator {
    pub tickets: Arc<dyn TicketStore>,
    pub bus: Arc<dyn DecisionBus>,
    pub catalog: Arc<dyn StackCatalog>,
    pub drift: Option<Arc<dyn DriftDetector>>,
    pub templates: Arc<dyn TemplateSource>,
    pub executor: Arc<dyn PlanExecutor>,
    pub safety: Arc<dyn SafetyStore>,
    pub clock: Arc<dyn Clock>,
    pub policy: Arc<Policy>,
    pub settings: RemediatorSettings,
    /// Which account this remediator acts in, and the member accounts'
    /// remediators (issue 15). Default: one account, every ticket.
    pub accounts: AccountScope,
}

/// The remediator of a member account: the member's remediation role's
/// clients, the central table, bus and policy.
#[async_trait::async_trait]
pub trait MemberRemediators: Send + Sync {
    /// `Err`: the member's role cannot be used (`Failed`: missing or
    /// refusing; retryable: throttled or timed out).
    async fn remediator(
        &self,
        account: &str,
        region: &str,
    ) -> driftguard_model::error::PortResult<Arc<Remediator>>;
}

/// Where a remediator acts: `account` set, it refuses tickets of any other
/// account; `members` set, a ticket of another account is handed to that
/// account's remediator. Never is a member's ticket acted on with another
/// account's credentials.
#[derive(Clone, Default)]
pub struct AccountScope {
    pub account: Option<String>,
    pub members: Option<Arc<dyn MemberRemediators>>,
}

/// The facts one attempt works from: all read from the ticket.
struct Attempt {
    action: Action,
    dry_run: bool,
    requires_approval: bool,
    change: Option<Change>,
    actor: Option<Actor>,
    event_id: String,
    /// Set when acting on the ticket's recorded approval.
    approval: Option<Approval>,
    /// Why detect held the decision (`Decision::held`).
    held: Option<String>,
}

impl Attempt {
    fn from_ticket(ticket: &Ticket, decision: &Decision, event_id: &str, force_dry: bool) -> Self {
        let verdict = &decision.verdict;
        Self {
            action: verdict.action,
            dry_run: verdict.dry_run || force_dry,
            requires_approval: verdict.requires_approval,
            change: ticket.last_change.clone(),
            actor: ticket.last_actor.clone(),
            event_id: event_id.to_string(),
            approval: None,
            held: decision.held.clone(),
        }
    }
}

type Entry = (EntryKind, String, Value);

/// How an attempt ended, before it is written down.
struct Ending {
    outcome: RemediationOutcome,
    reason: String,
    state: Option<TicketState>,
    plan: Option<Plan>,
    verified: Option<Drift>,
    approval_expires_at: Option<DateTime<Utc>>,
    /// Drop the ticket's approval (consumed, or about another plan).
    clear_approval: bool,
    /// An AWS call that changes the resource was made (or had been made).
    acted: bool,
    /// The ticket as last written by this attempt (after REMEDIATING).
    base: Option<Box<Ticket>>,
    entries: Vec<Entry>,
}

impl Ending {
    fn new(outcome: RemediationOutcome, reason: impl Into<String>) -> Self {
        Self {
            outcome,
            reason: reason.into(),
            state: None,
            plan: None,
            verified: None,
            approval_expires_at: None,
            clear_approval: false,
            acted: false,
            base: None,
            entries: Vec::new(),
        }
    }

    fn refused(reason: impl Into<String>) -> Self {
        Self::new(RemediationOutcome::Refused, reason)
    }

    fn state(mut self, s: TicketState) -> Self {
        self.state = Some(s);
        self
    }

    fn plan(mut self, p: Option<Plan>) -> Self {
        self.plan = p;
        self
    }

    fn with(mut self, entries: Vec<Entry>) -> Self {
        self.entries.splice(0..0, entries);
        self
    }

    /// Complete the claim only once the resource was acted on and the ticket
    /// left REMEDIATING; otherwise a later delivery may try again.
    fn record(&self) -> Record {
        if self.acted && self.state != Some(TicketState::Remediating) {
            Record::Complete
        } else {
            Record::Release
        }
    }
}

/// A re-derived plan that passed the checks before acting.
struct Prepared {
    membership: StackMembership,
    plan: Plan,
    digest: String,
    approval_required: Option<String>,
    entries: Vec<Entry>,
}

/// What the gates came to: go on, stop quietly, or end with a reason.
enum Gate {
    Proceed,
    Ignore(String),
    End(Box<Ending>),
}

/// Everything the gates decide on, all read before acting: the ticket, the
/// attempt drawn from it, the stack membership re-checked just now, the
/// policy, the re-derived plan, the time. `membership` and `plan` are filled
/// in as the tail reads them; a gate whose facts are not known yet passes
/// (the tail calls [`gates`] again once they are).
struct GateFacts<'a> {
    wake: Wake,
    ticket: &'a Ticket,
    attempt: &'a Attempt,
    membership: Option<&'a StackMembership>,
    policy: &'a Policy,
    plan: Option<&'a Prepared>,
    now: DateTime<Utc>,
}

type GateCheck = fn(&GateFacts) -> Option<Gate>;

/// The gates, in order. Each stops the attempt or passes (`None`).
const GATES: &[(&str, GateCheck)] = &[
    ("held", gate_held),
    ("accepted", gate_accepted),
    ("stale", gate_stale),
    ("approval_state", gate_approval_state),
    ("stack_busy", gate_stack_busy),
    ("protected", gate_protected),
    ("approval_bound", gate_approval_bound),
    ("dry_run", gate_dry_run),
    ("approval_needed", gate_approval_needed),
];

/// Pure: may this attempt act? The first gate that stops it decides.
fn gates(f: &GateFacts) -> Gate {
    for (name, check) in GATES {
        if let Some(stop) = check(f) {
            tracing::info!(ticket = %f.ticket.id, gate = name, "remediation stopped at a gate");
            return stop;
        }
    }
    Gate::Proceed
}

fn end(e: Ending) -> Option<Gate> {
    Some(Gate::End(Box::new(e)))
}

/// A ticket left REMEDIATING by an attempt that acted: verified, not re-gated.
fn recovering(f: &GateFacts) -> bool {
    f.ticket.state == TicketState::Remediating
}

/// Decision path: detect held the decision (stack busy when it decided).
fn gate_held(f: &GateFacts) -> Option<Gate> {
    let held = f
        .attempt
        .held
        .as_ref()
        .filter(|_| f.wake == Wake::Decision)?;
    end(Ending::new(RemediationOutcome::Held, held.clone()))
}

fn gate_accepted(f: &GateFacts) -> Option<Gate> {
    (f.wake == Wake::Decision && f.ticket.state == TicketState::Accepted).then(|| {
        Gate::End(Box::new(Ending::refused(
            "the drift was accepted on purpose (ticket ACCEPTED)",
        )))
    })
}

/// Decision path: too old to act on (a REMEDIATING ticket is verified whatever its age).
fn gate_stale(f: &GateFacts) -> Option<Gate> {
    if f.wake != Wake::Decision || recovering(f) {
        return None;
    }
    let max = f.policy.remediation().max_decision_age_seconds;
    stale_decision(f.ticket, f.now, max).and_then(|why| end(Ending::refused(why)))
}

/// Approval path: the approval recorded on the ticket (by the approval
/// endpoint, for an authenticated caller) is what counts, while it is valid.
fn gate_approval_state(f: &GateFacts) -> Option<Gate> {
    if f.wake != Wake::Approval || recovering(f) {
        return None;
    }
    let ticket = f.ticket;
    if ticket.state != TicketState::AwaitingApproval {
        return end(Ending::refused(format!(
            "approval ignored: ticket is {}, not AWAITING_APPROVAL",
            ticket.state
        )));
    }
    let Some(approval) = &f.attempt.approval else {
        return end(Ending::refused(
            "no approval is recorded on the ticket: approvals are made through the approval endpoint (`driftguard approve`); the event only wakes remediate up",
        ));
    };
    let expired = ticket
        .approval_expires_at
        .filter(|t| *t < f.now || *t < approval.approved_at)?;
    let mut e = Ending::refused(format!(
        "approval by {} came after the request expired at {expired}: nothing done, ticket re-opened",
        approval.approver_arn
    ))
    .state(TicketState::Open);
    e.clear_approval = true;
    end(e)
}

/// No action while the stack has an operation in progress, except
/// CancelUpdateStack, the one call meant for a stack mid-update.
fn gate_stack_busy(f: &GateFacts) -> Option<Gate> {
    let m = f.membership?;
    let status = m.stack_status.as_str();
    let cancelling = f.attempt.action == Action::Rollback && status == "UPDATE_IN_PROGRESS";
    (stack_operation_in_progress(status) && !cancelling).then(|| {
        Gate::End(Box::new(Ending::new(
            RemediationOutcome::Held,
            format!(
                "stack {} has an operation in progress ({status}): re-check later",
                m.stack_name
            ),
        )))
    })
}

fn gate_protected(f: &GateFacts) -> Option<Gate> {
    let m = f.membership?;
    is_protected(f.policy, f.ticket, m).then(|| {
        Gate::End(Box::new(Ending::refused(format!(
            "{} is protected by policy: never touched",
            f.ticket.resource.label()
        ))))
    })
}

/// An approval is for one plan: the stored one, which must be the plan
/// re-derived now.
fn gate_approval_bound(f: &GateFacts) -> Option<Gate> {
    let p = f.plan?;
    let approval = f.attempt.approval.as_ref().filter(|_| !recovering(f))?;
    let stored = f.ticket.plan.as_ref().map(Plan::digest);
    let bound = still_valid(f.ticket, approval, &p.digest, f.policy).and_then(|()| {
        match stored.as_deref() {
            Some(s) if s == p.digest => Ok(()),
            _ => Err(ApprovalRefused::DigestMismatch {
                given: stored.clone().unwrap_or_else(|| "(none)".into()),
                current: p.digest.clone(),
            }),
        }
    });
    let why = match bound.err()? {
        ApprovalRefused::DigestMismatch { .. } => format!(
            "the plan changed since it was approved: approve the new plan {}",
            p.digest
        ),
        other => format!("the approval is not valid ({other}): approve again"),
    };
    end(park(f, p, &why))
}

fn gate_dry_run(f: &GateFacts) -> Option<Gate> {
    let p = f.plan.filter(|_| f.attempt.dry_run)?;
    end(Ending::new(
        RemediationOutcome::DryRun,
        "dry run: the plan was made and stored, nothing was changed",
    )
    .plan(Some(p.plan.clone()))
    .with(p.entries.clone()))
}

/// The policy or the plan needs an approval that is not there: park (once).
fn gate_approval_needed(f: &GateFacts) -> Option<Gate> {
    let p = f.plan?;
    let needs = f.attempt.requires_approval || p.approval_required.is_some();
    if f.attempt.approval.is_some() || !needs || recovering(f) {
        return None;
    }
    let stored = f.ticket.plan.as_ref().map(Plan::digest);
    if f.ticket.state == TicketState::AwaitingApproval && stored.as_deref() == Some(&p.digest) {
        return Some(Gate::Ignore(format!(
            "ticket {} already awaits approval of plan {}",
            f.ticket.id, p.digest
        )));
    }
    let why = p
        .approval_required
        .clone()
        .unwrap_or_else(|| "the policy requires approval".into());
    end(park(f, p, &why))
}

/// Back to AWAITING_APPROVAL with this plan, a fresh expiry, no approval.
fn park(f: &GateFacts, p: &Prepared, why: &str) -> Ending {
    let ttl = Duration::minutes(i64::from(f.policy.remediation().approval_ttl_minutes));
    let expires = f.now + ttl;
    let mut e = Ending::new(
        RemediationOutcome::AwaitingApproval,
        format!(
            "{why}: run `driftguard approve {}` (plan {}) before {expires}",
            f.ticket.id, p.digest
        ),
    )
    .state(TicketState::AwaitingApproval)
    .plan(Some(p.plan.clone()))
    .with(p.entries.clone());
    e.approval_expires_at = Some(expires);
    e.clear_approval = true;
    e
}

fn is_protected(policy: &Policy, ticket: &Ticket, membership: &StackMembership) -> bool {
    let facts = MatchFacts {
        account: &ticket.fingerprint.account,
        region: &ticket.fingerprint.region,
        stack: Some(&membership.stack_name),
        logical_id: Some(&membership.logical_id),
        resource_type: membership
            .resource_type
            .as_deref()
            .or(ticket.resource.resource_type.as_deref()),
        physical_id: ticket.resource.physical_id.as_deref(),
        tags: Some(&membership.stack_tags),
        ..MatchFacts::default()
    };
    policy.is_protected(&facts)
}

/// When detect (or the sweep) made the ticket's current decision: the latest
/// `decided` entry it wrote.
pub fn decided_at(ticket: &Ticket) -> Option<DateTime<Utc>> {
    ticket
        .history
        .iter()
        .rev()
        .find(|e| e.kind == EntryKind::Decided)
        .map(|e| e.at)
}

/// Pure: is the ticket's decision too old to act on?
pub fn stale_decision(ticket: &Ticket, now: DateTime<Utc>, max_age_seconds: u32) -> Option<String> {
    let Some(at) = decided_at(ticket) else {
        return Some(format!(
            "ticket {} records no decision time (no `decided` entry): not acting on it",
            ticket.id
        ));
    };
    let age = (now - at).num_seconds();
    (age > i64::from(max_age_seconds)).then(|| {
        format!(
            "the decision made at {at} is {age} s old, older than remediation.max_decision_age_seconds ({max_age_seconds} s): not acting on a stale decision; the next change or sweep decides again"
        )
    })
}

impl Remediator {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Handle one envelope with no known deadline (tests, the demo).
    pub async fn handle(&self, event: Value) -> Result<Outcome, RemediateError> {
        self.handle_until(event, None).await
    }

    /// Handle one envelope (the Lambda's whole job). `deadline`: when this
    /// invocation times out (the Lambda context's deadline), the claim's lease.
    pub async fn handle_until(
        &self,
        event: Value,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Outcome, RemediateError> {
        let envelope: Envelope =
            serde_json::from_value(event).map_err(|e| RemediateError::Malformed {
                id: "?".into(),
                detail_type: "?".into(),
                message: e.to_string(),
            })?;
        if envelope.source != SOURCE {
            return Ok(Outcome::Ignored(format!(
                "source {} is not {SOURCE}",
                envelope.source
            )));
        }
        let wake = match envelope.detail_type.as_str() {
            DRIFT_DECISION => Wake::Decision,
            REMEDIATION_APPROVED => Wake::Approval,
            other => {
                return Ok(Outcome::Ignored(format!(
                    "detail-type {other} is not for remediate"
                )))
            }
        };
        let wake_up: WakeUp = serde_json::from_value(envelope.detail.clone()).map_err(|e| {
            RemediateError::Malformed {
                id: envelope.id.clone(),
                detail_type: envelope.detail_type.clone(),
                message: e.to_string(),
            }
        })?;
        self.wake(wake, &wake_up.ticket_id, &envelope.id, deadline)
            .await
    }

    /// Read the ticket and act on what it says.
    async fn wake(
        &self,
        wake: Wake,
        ticket_id: &str,
        envelope_id: &str,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Outcome, RemediateError> {
        let Some(ticket) = retry(&self.settings.retry, "get_ticket", || {
            self.tickets.get_ticket(ticket_id)
        })
        .await
        .map_err(RemediateError::Store)?
        else {
            return Ok(Outcome::Ignored(format!(
                "ticket {ticket_id} does not exist: nothing to do"
            )));
        };
        let ticket_account = ticket.fingerprint.account.clone();
        let elsewhere = !ticket_account.is_empty()
            && self
                .accounts
                .account
                .as_ref()
                .is_some_and(|a| *a != ticket_account);
        if elsewhere {
            let Some(members) = &self.accounts.members else {
                return Ok(Outcome::Ignored(format!(
                    "ticket {ticket_id} is in account {ticket_account}, not this remediator's {}",
                    self.accounts.account.as_deref().unwrap_or_default()
                )));
            };
            let region = ticket.fingerprint.region.clone();
            let member = retry(&self.settings.retry, "sts:AssumeRole", || {
                members.remediator(&ticket_account, &region)
            })
            .await;
            return match member {
                // Boxed: the remediation's future is large, and two of them
                // inline would double this one's (debug-build stacks).
                Ok(m) => Box::pin(m.wake_ticket(wake, ticket, envelope_id, deadline)).await,
                Err(e) if e.is_retryable() => Err(RemediateError::Unavailable(e)),
                Err(e) => {
                    tracing::warn!(ticket = %ticket_id, account = %ticket_account, error = %e, "member remediation role cannot be used: not remediated");
                    let why = format!(
                        "account {ticket_account}'s remediation role cannot be used: {e}; \
                         not remediated, left for a human (docs/multi-account.md)"
                    );
                    Box::pin(self.refuse_unreachable(ticket, envelope_id, why)).await
                }
            };
        }
        Box::pin(self.wake_ticket(wake, ticket, envelope_id, deadline)).await
    }

    /// A ticket whose member account cannot be reached: refused on the
    /// ticket (an entry, the result on the bus, so notify says it once per
    /// decision), when its verdict remediates at all.
    async fn refuse_unreachable(
        &self,
        ticket: Ticket,
        envelope_id: &str,
        why: String,
    ) -> Result<Outcome, RemediateError> {
        let Some(decision) = ticket.decision.clone().filter(|d| d.verdict.action.acts()) else {
            return Ok(Outcome::Ignored(format!("ticket {}: {why}", ticket.id)));
        };
        let attempt = Attempt::from_ticket(&ticket, &decision, envelope_id, self.settings.dry_run);
        // A redelivery of the same decision: said once already.
        if ticket.history.iter().any(|e| {
            e.event_id.as_deref() == Some(attempt.event_id.as_str()) && e.summary.contains(&why)
        }) {
            return Ok(Outcome::Duplicate(format!(
                "ticket {} already says: {why}",
                ticket.id
            )));
        }
        self.conclude(ticket, &attempt, Ending::refused(why)).await
    }

    /// Act on what a ticket of this remediator's account says.
    async fn wake_ticket(
        &self,
        wake: Wake,
        ticket: Ticket,
        envelope_id: &str,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Outcome, RemediateError> {
        let ticket_id = ticket.id.clone();
        let ticket_id = ticket_id.as_str();
        let (ticket, flushed) = self.flush_outbox(ticket).await?;
        if flushed.as_deref() == Some(envelope_id) {
            return Ok(Outcome::Duplicate(format!(
                "{envelope_id} was handled; its result waited in ticket {ticket_id}'s outbox and is now published"
            )));
        }
        let Some(decision) = ticket.decision.clone() else {
            return Ok(Outcome::Ignored(format!(
                "ticket {ticket_id} has no decision: nothing to do"
            )));
        };
        let action = decision.verdict.action;
        if !action.acts() {
            return Ok(Outcome::Ignored(format!(
                "ticket {ticket_id}'s verdict {action} does not remediate"
            )));
        }
        let mut attempt =
            Attempt::from_ticket(&ticket, &decision, envelope_id, self.settings.dry_run);
        if wake == Wake::Approval {
            attempt.approval = ticket.approval.clone();
        }
        let now = self.now();
        let before = GateFacts {
            wake,
            ticket: &ticket,
            attempt: &attempt,
            membership: None,
            policy: &self.policy,
            plan: None,
            now,
        };
        if let Gate::End(ending) = gates(&before) {
            return self.conclude(ticket.clone(), &attempt, *ending).await;
        }
        let membership = match self.membership(&ticket, &attempt).await {
            Ok(m) => m,
            Err(Halt::End(ending)) => {
                return self.conclude(ticket.clone(), &attempt, *ending).await
            }
            Err(Halt::Retry(e)) => return Err(RemediateError::Unavailable(e)),
        };
        let owned = GateFacts {
            membership: Some(&membership),
            ..before
        };
        if let Gate::End(ending) = gates(&owned) {
            return self.conclude(ticket.clone(), &attempt, *ending).await;
        }
        let prepared = match self.prepare(&ticket, &attempt, membership).await {
            Ok(p) => p,
            Err(ending) => return self.conclude(ticket.clone(), &attempt, ending).await,
        };
        let planned = GateFacts {
            membership: Some(&prepared.membership),
            plan: Some(&prepared),
            ..before
        };
        match gates(&planned) {
            Gate::End(ending) => self.conclude(ticket.clone(), &attempt, *ending).await,
            Gate::Ignore(why) => Ok(Outcome::Ignored(why)),
            Gate::Proceed => {
                self.act_once(ticket.clone(), &attempt, prepared, deadline)
                    .await
            }
        }
    }

    async fn conclude(
        &self,
        ticket: Ticket,
        attempt: &Attempt,
        ending: Ending,
    ) -> Result<Outcome, RemediateError> {
        let result = self.finish(ticket, attempt, ending).await?;
        self.announce(result, &attempt.event_id).await
    }

    /// Re-check ownership and the stack's state just before acting.
    async fn membership(
        &self,
        ticket: &Ticket,
        attempt: &Attempt,
    ) -> Result<StackMembership, Halt> {
        let mut membership = if attempt.action == Action::Rollback {
            // A rollback acts on the stack itself: proven owned when the stack exists.
            let stack = ticket
                .ownership
                .membership()
                .map(|m| m.stack_name.clone())
                .or_else(|| {
                    attempt
                        .change
                        .as_ref()
                        .and_then(|c| c.stack_hint.as_ref())
                        .map(|h| h.stack.clone())
                })
                .unwrap_or_else(|| ticket.fingerprint.stack.clone());
            StackMembership {
                stack_id: stack.clone(),
                stack_name: stack,
                logical_id: ticket.fingerprint.logical_id.clone(),
                resource_type: ticket.resource.resource_type.clone(),
                stack_status: String::new(),
                stack_tags: BTreeMap::new(),
                nested: None,
            }
        } else {
            let m = self.managed_membership(ticket).await?;
            // owner_of described the stack just now (`StackCatalog::owner_of`):
            // its status is current, no second `DescribeStacks`.
            if !m.stack_status.is_empty() {
                return Ok(m);
            }
            m
        };
        let stack = &membership.stack_name;
        match retry(&self.settings.retry, "describe_stack", || {
            self.catalog.describe_stack(stack)
        })
        .await
        {
            Ok(Some(s)) => {
                membership.stack_id = s.stack_id;
                membership.stack_status = s.status;
                if membership.stack_tags.is_empty() {
                    membership.stack_tags = s.tags;
                }
            }
            Ok(None) => {
                return Err(Ending::refused(format!(
                    "stack {} does not exist",
                    membership.stack_name
                ))
                .into())
            }
            Err(e) if e.is_retryable() => return Err(Halt::Retry(e)),
            Err(e) => {
                return Err(Ending::refused(format!(
                    "stack {} could not be described: {e}",
                    membership.stack_name
                ))
                .into())
            }
        }
        Ok(membership)
    }

    async fn managed_membership(&self, ticket: &Ticket) -> Result<StackMembership, Halt> {
        let owner = retry(&self.settings.retry, "owner_of", || {
            self.catalog.owner_of(&ticket.resource)
        })
        .await;
        let ending = match owner {
            Ok(Ownership::Managed(m)) => {
                if let Some(before) = ticket.ownership.membership() {
                    if before.stack_name != m.stack_name || before.logical_id != m.logical_id {
                        return Err(Ending::refused(format!(
                            "ownership changed: ticket says {}/{}, CloudFormation now says {}/{}",
                            before.stack_name, before.logical_id, m.stack_name, m.logical_id
                        ))
                        .into());
                    }
                }
                return Ok(m);
            }
            Ok(Ownership::Unmanaged) => Ending::refused(format!(
                "{} is not managed by any stack",
                ticket.resource.label()
            )),
            Ok(other) => Ending::refused(format!("ownership not proven: {}", other.label())),
            Err(e) if e.is_retryable() => return Err(Halt::Retry(e)),
            Err(e) => Ending::refused(format!("ownership could not be re-checked: {e}")),
        };
        Err(ending.into())
    }

    async fn template(
        &self,
        m: &StackMembership,
        account: &str,
        region: &str,
    ) -> Result<TemplateView, String> {
        let t = self
            .templates
            .stack_template(&m.stack_name)
            .await
            .map_err(|e| format!("GetTemplate failed: {e}"))?;
        TemplateView::parse(
            &t.body,
            t.parameters,
            &Pseudo {
                stack_name: m.stack_name.clone(),
                stack_id: if t.stack_id.is_empty() {
                    m.stack_id.clone()
                } else {
                    t.stack_id
                },
                account: account.to_string(),
                region: region.to_string(),
            },
        )
    }

    /// The plan, re-derived from the current template and the ticket's change
    /// (the stored plan is never executed), its calls checked against the
    /// ticket's resource.
    async fn prepare(
        &self,
        ticket: &Ticket,
        attempt: &Attempt,
        membership: StackMembership,
    ) -> Result<Prepared, Ending> {
        let status = membership.stack_status.clone();
        let template = self
            .template(
                &membership,
                &ticket.fingerprint.account,
                &ticket.fingerprint.region,
            )
            .await;
        let resources = if attempt.action == Action::Rollback {
            self.catalog
                .list_stack_resources(&membership.stack_name)
                .await
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let known_good = if attempt.action == Action::Rollback {
            self.templates
                .known_good(&membership.stack_name)
                .await
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let input = PlanInput {
            ticket_id: &ticket.id,
            action: attempt.action,
            change: attempt.change.as_ref(),
            drift: ticket.drift.as_ref(),
            event_drift: ticket.event_drift.as_ref(),
            resource: &ticket.resource,
            membership: &membership,
            stack_status: &status,
            template: template.as_ref().map_err(|s| s.as_str()),
            stack_resources: &resources,
            known_good: &known_good,
            policy: &self.policy,
            now: ticket_plan_time(ticket),
        };
        let planned = match plan(&input) {
            Ok(p) => self.settle_revert_drift(ticket, &input, p).await,
            Err(no) => Err(no),
        };
        let planned = planned.map_err(|no| {
            let mut e = Ending::refused(no.reason);
            e.entries.push((
                EntryKind::Note,
                "no remediation strategy applies".into(),
                serde_json::to_value(&no.skipped).unwrap_or(Value::Null),
            ));
            e
        })?;
        let plan = planned.plan;
        if let Err(why) = check_targets(&plan, &ticket.resource, &membership) {
            return Err(Ending::refused(format!(
                "the plan does not target the ticket's resource: {why}"
            )));
        }
        let digest = plan.digest();
        let entries = vec![(
            EntryKind::Planned,
            format!(
                "planned {} (plan {digest}): {}",
                plan.strategy.as_str(),
                plan.expected
            ),
            serde_json::to_value(&plan).unwrap_or(Value::Null),
        )];
        Ok(Prepared {
            membership,
            plan,
            digest,
            approval_required: planned.approval_required,
            entries,
        })
    }

    /// A REVERT_DRIFT change set reverts every drifted resource of the stack:
    /// a throwaway preview says which, then the plan is kept (only the
    /// ticket's), widened for a person's approval or replaced by the next
    /// strategy, as `remediation.change_set_reverts_others` says; a preview
    /// that fails falls back too. A ticket REMEDIATING is verified, never
    /// acted on: no new preview, the stored plan names what was reverted.
    async fn settle_revert_drift(
        &self,
        ticket: &Ticket,
        input: &PlanInput<'_>,
        planned: Planned,
    ) -> Result<Planned, NoPlan> {
        if planned.plan.strategy != Strategy::RevertDriftChangeSet {
            return Ok(planned);
        }
        let own = input.membership.logical_id.as_str();
        let why = if ticket.state == TicketState::Remediating {
            match ticket.plan.as_ref() {
                Some(s) if s.strategy != Strategy::RevertDriftChangeSet => format!(
                    "an earlier attempt acted on the {} plan: verifying that one",
                    s.strategy.as_str()
                ),
                stored => {
                    let others = stored.map(|s| planned_others(s, own)).unwrap_or_default();
                    return Ok(widen_revert_drift(planned, &others));
                }
            }
        } else {
            match self.executor.change_set_reverts(&planned.plan).await {
                Ok(ids) => {
                    let others: Vec<String> =
                        ids.unwrap_or_default().into_iter().filter(|id| id != own).collect();
                    if others.is_empty() {
                        return Ok(planned);
                    }
                    match self.policy.remediation().change_set_reverts_others {
                        RevertsOthers::RequireApproval => {
                            return Ok(widen_revert_drift(planned, &others))
                        }
                        RevertsOthers::FallBack => {
                            reverts_others_reason(&input.membership.stack_name, &others)
                        }
                    }
                }
                Err(e) => format!(
                    "the drift-aware change set could not be previewed ({e}): falling back to the next strategy"
                ),
            }
        };
        plan_excluding(input, &[(Strategy::RevertDriftChangeSet, why)])
    }

    /// Act at most once per (ticket, change, plan digest), whatever the envelope.
    async fn act_once(
        &self,
        ticket: Ticket,
        attempt: &Attempt,
        p: Prepared,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Outcome, RemediateError> {
        let change_id = attempt
            .change
            .as_ref()
            .map(|c| c.event_id.as_str())
            .unwrap_or("-");
        let key = idempotency::remediation_key(&ticket.id, change_id, &p.digest);
        let settings = IdempotencySettings {
            record_ttl: Duration::days(self.settings.event_ttl_days),
            lease: self.settings.lease,
            retry: self.settings.retry,
            ..IdempotencySettings::default()
        };
        let once = Idempotency {
            store: self.tickets.as_ref(),
            clock: self.clock.as_ref(),
            settings: &settings,
        };
        let ran = once
            .run(&key, deadline, || async {
                let ending =
                    super::changeset::with_deadline(deadline, self.act(&ticket, attempt, &p)).await;
                let record = ending.record();
                let result = self.finish(ticket.clone(), attempt, ending).await?;
                Ok::<_, RemediateError>((result, record))
            })
            .await;
        match ran {
            Ok(Claimed::Ran(result)) => self.announce(result, &attempt.event_id).await,
            Ok(Claimed::AlreadyDone) => Ok(Outcome::Duplicate(format!(
                "{key} already done: not acting again"
            ))),
            Err(IdempotencyError::InProgress { key }) => Err(RemediateError::InProgress { key }),
            Err(IdempotencyError::Store { source, .. }) => Err(RemediateError::Store(source)),
            Err(IdempotencyError::Work(e)) => Err(e),
        }
    }

    /// Holding the claim: limits, breaker, REMEDIATING, act, verify. A ticket
    /// already REMEDIATING with this plan was acted on by an attempt that
    /// could not write its result: verify instead of acting again.
    async fn act(&self, ticket: &Ticket, attempt: &Attempt, p: &Prepared) -> Ending {
        let now = self.now();
        let mut entries = p.entries.clone();
        if let Some(a) = &attempt.approval {
            entries.push((
                EntryKind::Approved,
                format!(
                    "plan {} approved by {} via {} at {}",
                    a.plan_digest, a.approver_arn, a.via, a.approved_at
                ),
                Value::Null,
            ));
        }
        let plan_made = Some(p.plan.clone());
        let breaker = self.breaker();
        if ticket.state == TicketState::Remediating {
            if ticket.plan.as_ref().map(Plan::digest).as_deref() != Some(p.digest.as_str()) {
                return Ending::refused(format!(
                    "ticket is REMEDIATING with another plan than {} (an earlier attempt may have acted): not acting; check the resource",
                    p.digest
                ))
                .plan(plan_made)
                .with(entries);
            }
            entries.push((
                EntryKind::Note,
                "an earlier attempt acted on this plan and could not record its result: verifying instead of acting".into(),
                Value::Null,
            ));
            let mut e = self.converge(ticket, p, &breaker, now, &mut entries).await;
            e.acted = true;
            e.clear_approval = true;
            return e.plan(plan_made).with(entries);
        }
        let taken = match self.take_limits(&p.membership, now).await {
            Ok(t) => t,
            Err(why) => return Ending::refused(why).plan(plan_made).with(entries),
        };
        let stored_circuit = match self.check_breaker(&breaker, ticket, now).await {
            Ok(stored) => stored,
            Err(why) => {
                self.release(&taken, now).await;
                return Ending::refused(why).plan(plan_made).with(entries);
            }
        };
        // REMEDIATING before touching anything, conditional on the ticket's
        // version: never act without it.
        let mut marking = ticket.clone();
        marking.plan = plan_made.clone();
        if let Err(e) = marking.transition(TicketState::Remediating, "acting on the plan", now) {
            self.release(&taken, now).await;
            return Ending::refused(format!("{e}: not acting"))
                .plan(plan_made)
                .with(entries);
        }
        marking.version += 1;
        if let Err(e) = self.write_ticket(&marking).await {
            self.release(&taken, now).await;
            // The mark may have landed (its answer lost): the refusal puts the
            // ticket back in the state it had, never leaving it REMEDIATING
            // with nothing done.
            return Ending::refused(format!(
                "could not mark the ticket REMEDIATING ({e}): not acting"
            ))
            .state(ticket.state)
            .plan(plan_made)
            .with(entries);
        }
        let mut ending = match self.executor.execute(&p.plan).await {
            Ok(exec) => {
                entries.push((
                    EntryKind::Acted,
                    format!(
                        "executed {} ({} calls)",
                        p.plan.strategy.as_str(),
                        p.plan.calls.len()
                    ),
                    serde_json::json!(exec.notes),
                ));
                let mut e = self.converge(ticket, p, &breaker, now, &mut entries).await;
                e.acted = true;
                e
            }
            Err(ExecutionError::Refused(why)) => {
                self.release(&taken, now).await;
                Ending::refused(why).state(TicketState::Open)
            }
            Err(ExecutionError::Port(e)) => {
                self.after_failed_call(ticket, p, &breaker, now, &mut entries, e)
                    .await
            }
        };
        // Nothing stored and nothing to store (no failure): no write, rather
        // than deleting an item that does not exist.
        let circuit = breaker.state(&ticket.id);
        if stored_circuit || circuit.is_some() {
            if let Err(e) = self.safety.save_circuit(&ticket.id, circuit).await {
                tracing::warn!(ticket = %ticket.id, error = %e, "could not save circuit state");
            }
        }
        ending.base = Some(Box::new(marking));
        ending.clear_approval = true;
        ending.plan(plan_made).with(entries)
    }

    /// A remediation call failed, after its retries. It may have applied all
    /// the same (a timeout or a dropped connection after AWS acted, then a
    /// retry answered "already gone"), or in part: read the resource back
    /// before calling it a failure. Resolved only when the read-back proves
    /// it; otherwise FAILED with the call's error (the circuit counts one
    /// failure either way).
    async fn after_failed_call(
        &self,
        ticket: &Ticket,
        p: &Prepared,
        breaker: &CircuitBreaker,
        now: DateTime<Utc>,
        entries: &mut Vec<Entry>,
        error: PortError,
    ) -> Ending {
        entries.push((
            EntryKind::Note,
            format!("remediation call failed ({error}): reading the resource back, the call may have applied"),
            Value::Null,
        ));
        let mut verified = self.converge(ticket, p, breaker, now, entries).await;
        // A failed call may have changed part of the resource.
        verified.acted = true;
        if verified.outcome == RemediationOutcome::Resolved {
            verified.reason = format!(
                "{}, although a remediation call reported: {error}",
                verified.reason
            );
            return verified;
        }
        if verified.outcome == RemediationOutcome::Held {
            breaker.record_failure(&ticket.id, now);
        }
        let mut why = format!("remediation call failed: {error}");
        if breaker.check(&ticket.id, now).is_err() {
            why.push_str("; circuit opened for this resource");
        }
        let mut e = Ending::new(RemediationOutcome::Failed, why).state(TicketState::Failed);
        e.verified = verified.verified;
        e.acted = true;
        e
    }

    fn breaker(&self) -> CircuitBreaker {
        let settings = self.policy.remediation();
        CircuitBreaker::new(
            settings.circuit_breaker_failures,
            Duration::minutes(i64::from(settings.circuit_breaker_cooldown_minutes)),
        )
    }

    /// Circuit breaker per resource (keyed by ticket: one ticket per resource).
    /// `Ok(true)` when a circuit state was stored for it.
    async fn check_breaker(
        &self,
        breaker: &CircuitBreaker,
        ticket: &Ticket,
        now: DateTime<Utc>,
    ) -> Result<bool, String> {
        let loaded = retry(&self.settings.retry, "load_circuit", || {
            self.safety.load_circuit(&ticket.id)
        })
        .await;
        let stored = match loaded {
            Ok(Some(state)) => {
                breaker.restore(&ticket.id, state);
                true
            }
            Ok(None) => false,
            Err(e) => return Err(format!("circuit state could not be read ({e}): not acting")),
        };
        breaker
            .check(&ticket.id, now)
            .map(|()| stored)
            .map_err(|until| {
                let failures = breaker
                    .state(&ticket.id)
                    .map(|s| s.consecutive_failures)
                    .unwrap_or_default();
                format!(
                    "circuit open for {} after {failures} consecutive failures, until {until}",
                    ticket.resource.label()
                )
            })
    }

    /// Blast radius: a slot in the per-stack and the global window, or why not.
    async fn take_limits(
        &self,
        membership: &StackMembership,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, driftguard_model::domain::policy::RateLimit)>, String> {
        let limits = self.policy.rate_limits();
        let scopes = [
            (
                format!("stack#{}", membership.stack_name),
                limits.per_stack,
                "per-stack",
            ),
            ("global".to_string(), limits.global, "global"),
        ];
        let mut taken = Vec::new();
        for (scope, limit, label) in scopes {
            // Retried: a slot taken by an attempt whose answer was lost is
            // counted twice until its window ends (fewer actions, never more).
            let acquired = retry(&self.settings.retry, "try_acquire", || {
                self.safety.try_acquire(&scope, limit, now)
            })
            .await;
            let refused = match acquired {
                Ok(true) => {
                    taken.push((scope, limit));
                    None
                }
                Ok(false) => Some(format!(
                    "{label} rate limit reached ({} actions per {} minutes{}): ticketed instead of acting",
                    limit.max_actions,
                    limit.window_minutes,
                    if label == "per-stack" { format!(" on stack {}", membership.stack_name) } else { String::new() }
                )),
                Err(e) => Some(format!("{label} rate limit could not be checked ({e}): not acting")),
            };
            if let Some(why) = refused {
                self.release(&taken, now).await;
                return Err(why);
            }
        }
        Ok(taken)
    }

    /// Verify convergence after acting.
    async fn converge(
        &self,
        ticket: &Ticket,
        p: &Prepared,
        breaker: &CircuitBreaker,
        now: DateTime<Utc>,
        entries: &mut Vec<Entry>,
    ) -> Ending {
        let detector = self.drift.as_deref();
        match verify(
            &p.plan,
            &p.membership,
            detector,
            self.executor.as_ref(),
            self.now(),
        )
        .await
        {
            Verification::Converged { method, drift } => {
                breaker.record_success(&ticket.id);
                entries.push((
                    EntryKind::Verified,
                    format!("IN_SYNC, verified by {method}"),
                    Value::Null,
                ));
                let mut e = Ending::new(
                    RemediationOutcome::Resolved,
                    format!("reverted and verified IN_SYNC by {method}"),
                )
                .state(TicketState::Resolved);
                e.verified = Some(drift);
                e
            }
            Verification::NotConverged {
                method,
                reason,
                drift,
            } => {
                breaker.record_failure(&ticket.id, now);
                entries.push((
                    EntryKind::Verified,
                    format!("not converged ({method}): {reason}"),
                    Value::Null,
                ));
                let mut e = Ending::new(
                    RemediationOutcome::Failed,
                    format!("acted, but still drifted: {reason} ({method})"),
                )
                .state(TicketState::Failed);
                e.verified = Some(drift);
                e
            }
            Verification::InProgress { reason } => {
                Ending::new(RemediationOutcome::Held, reason).state(TicketState::Remediating)
            }
            Verification::Unavailable { reason } => {
                breaker.record_failure(&ticket.id, now);
                Ending::new(
                    RemediationOutcome::Failed,
                    format!("acted, but convergence could not be verified: {reason}"),
                )
                .state(TicketState::Failed)
            }
        }
    }

    async fn release(
        &self,
        taken: &[(String, driftguard_model::domain::policy::RateLimit)],
        now: DateTime<Utc>,
    ) {
        for (scope, limit) in taken {
            if let Err(e) = self.safety.release(scope, *limit, now).await {
                tracing::warn!(scope, error = %e, "could not release rate-limit slot");
            }
        }
    }

    /// Put the result on the bus, then clear the ticket's outbox, where
    /// [`Remediator::finish`] wrote it with the ending. When the put fails
    /// through every retry, the result stays in the outbox and the invocation
    /// fails: the re-delivery publishes it ([`Remediator::flush_outbox`]).
    async fn announce(
        &self,
        finished: Finished,
        envelope_id: &str,
    ) -> Result<Outcome, RemediateError> {
        let Finished { result, ticket } = finished;
        let Some(kept) = ticket.unannounced.as_ref() else {
            tracing::error!(ticket = %result.ticket_id, "cannot serialize remediation result");
            return Ok(Outcome::Finished(Box::new(result)));
        };
        match self.put_result(&kept.detail).await {
            Ok(()) => {
                tracing::info!(
                    ticket = %result.ticket_id,
                    outcome = result.outcome.as_str(),
                    state = %result.ticket_state,
                    reason = %result.reason,
                    "remediation result"
                );
                self.clear_outbox(ticket).await;
                Ok(Outcome::Finished(Box::new(result)))
            }
            Err(source) => {
                tracing::warn!(
                    ticket = %result.ticket_id,
                    event = envelope_id,
                    "remediation result kept in the ticket's outbox"
                );
                Err(RemediateError::Unannounced {
                    ticket: result.ticket_id.clone(),
                    source,
                })
            }
        }
    }

    async fn put_result(&self, detail: &Value) -> Result<(), PortError> {
        retry(&self.settings.retry, "eventbridge:PutEvents", || {
            self.bus.publish(REMEDIATION_RESULT, detail)
        })
        .await
    }

    /// Empty the outbox of a ticket whose result is published. A failed
    /// clear is logged: the next run announces the result again (messages
    /// are at least once), never not at all. Returns the ticket as stored.
    async fn clear_outbox(&self, ticket: Ticket) -> Ticket {
        let mut cleared = ticket.clone();
        cleared.unannounced = None;
        cleared.version += 1;
        match self.write_ticket(&cleared).await {
            Ok(()) => cleared,
            Err(e) => {
                tracing::warn!(ticket = %ticket.id, error = %e, "published the outbox but could not clear it");
                ticket
            }
        }
    }

    /// Publish what an earlier invocation could not, then clear the outbox.
    /// A failed clear is logged: the result may then be announced twice
    /// (messages are at least once), never not at all.
    /// Returns the ticket and, when it published one, the event id whose result it was.
    async fn flush_outbox(
        &self,
        ticket: Ticket,
    ) -> Result<(Ticket, Option<String>), RemediateError> {
        let Some(kept) = ticket.unannounced.clone() else {
            return Ok((ticket, None));
        };
        self.put_result(&kept.detail)
            .await
            .map_err(|source| RemediateError::Unannounced {
                ticket: ticket.id.clone(),
                source,
            })?;
        tracing::info!(ticket = %ticket.id, event = %kept.event_id, "published the remediation result kept in the outbox");
        Ok((self.clear_outbox(ticket).await, Some(kept.event_id)))
    }

    /// A conditional ticket write (on its version), retried. A write whose
    /// answer was lost (it timed out, the connection dropped, yet DynamoDB
    /// applied it) fails its retry's condition: the ticket is re-read, and
    /// when it is the very ticket written (same version, same content), the
    /// write landed. Without this, a lost answer after REMEDIATING or after
    /// the ending would read as a conflict with another invocation.
    async fn write_ticket(&self, t: &Ticket) -> Result<(), PortError> {
        let faulted = std::sync::atomic::AtomicBool::new(false);
        let written = retry(&self.settings.retry, "update_ticket", || async {
            let r = self.tickets.update_ticket(t).await;
            if r.as_ref().is_err_and(PortError::is_retryable) {
                faulted.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            r
        })
        .await;
        match written {
            Err(PortError::Conflict { .. }) if faulted.into_inner() => {
                let stored = retry(&self.settings.retry, "get_ticket", || {
                    self.tickets.get_ticket(&t.id)
                })
                .await?;
                // The ticket written: same version, state and history (whole
                // equality would depend on every field round-tripping exactly).
                let ours = stored.is_some_and(|s| {
                    s.version == t.version
                        && s.state == t.state
                        && s.history.len() == t.history.len()
                });
                if ours {
                    Ok(())
                } else {
                    written
                }
            }
            other => other,
        }
    }

    /// Write the ending on the ticket (re-reading on conflicts) and build the
    /// result. The result goes into the ticket's outbox in the same write
    /// (a transactional outbox): whatever fails after it, the write that
    /// ended the remediation also holds its announcement.
    async fn finish(
        &self,
        ticket: Ticket,
        attempt: &Attempt,
        mut ending: Ending,
    ) -> Result<Finished, RemediateError> {
        let initial_state = ticket.state;
        let now = self.now();
        let mut current = ending.base.take().map_or(ticket, |b| *b);
        let mut conflicts = 0;
        let (saved, result) = loop {
            let mut t = current.clone();
            let moves_before = state_moves(&t);
            apply_ending(&mut t, attempt, &ending, now);
            // Announced when the state differs from the one the decision
            // announced, or when this ending moved the ticket (out of
            // REMEDIATING back to OPEN: the revert the decision announced
            // did not happen).
            let state_changed = t.state != initial_state || state_moves(&t) > moves_before;
            let result = result_of(&t, attempt, &ending, state_changed, now);
            t.unannounced = serde_json::to_value(&result)
                .ok()
                .map(|detail| Unannounced {
                    event_id: attempt.event_id.clone(),
                    detail,
                });
            t.version += 1;
            match self.write_ticket(&t).await {
                Ok(()) => break (t, result),
                Err(PortError::Conflict { .. }) if conflicts < 3 => {
                    conflicts += 1;
                    current = retry(&self.settings.retry, "get_ticket", || {
                        self.tickets.get_ticket(&t.id)
                    })
                    .await
                    .map_err(RemediateError::Store)?
                    .ok_or_else(|| {
                        RemediateError::Store(PortError::NotFound {
                            what: format!("ticket {}", t.id),
                        })
                    })?;
                    // Our write may have landed (its answer lost) before
                    // another writer moved the ticket on: never apply the
                    // ending twice.
                    if holds_ending(&current, attempt, now) {
                        break (current, result);
                    }
                }
                Err(e) => return Err(RemediateError::Store(e)),
            }
        };
        crate::metrics::emit(&crate::metrics::remediation(
            &result,
            saved
                .decision
                .as_ref()
                .map_or(saved.severity, |d| d.verdict.severity),
            attempt.action,
            decided_at(&saved),
        ));
        Ok(Finished {
            result,
            ticket: saved,
        })
    }
}

/// A remediation's ending as written: the result and the ticket holding it
/// in its outbox.
struct Finished {
    result: RemediationResult,
    ticket: Ticket,
}

/// Whether the ticket already holds this attempt's ending: its closing note,
/// stamped with the attempt's event id and the ending's time.
fn holds_ending(t: &Ticket, attempt: &Attempt, at: DateTime<Utc>) -> bool {
    t.history.iter().any(|e| {
        e.at == at
            && e.event_id.as_deref() == Some(attempt.event_id.as_str())
            && e.summary.starts_with("remediation ")
    })
}

/// The number of state changes in a ticket's history.
fn state_moves(t: &Ticket) -> usize {
    t.history
        .iter()
        .filter(|e| e.kind == EntryKind::StateChanged)
        .count()
}

/// The result announced for `ending`, written on `saved`.
fn result_of(
    saved: &Ticket,
    attempt: &Attempt,
    ending: &Ending,
    state_changed: bool,
    now: DateTime<Utc>,
) -> RemediationResult {
    RemediationResult {
        schema_version: SCHEMA_VERSION,
        ticket_id: saved.id.clone(),
        ticket_state: saved.state,
        state_changed,
        outcome: ending.outcome,
        reason: ending.reason.clone(),
        dry_run: attempt.dry_run,
        plan: ending.plan.clone().or(saved.plan.clone()),
        verified: ending.verified.clone(),
        change: attempt.change.clone(),
        actor: attempt.actor.clone(),
        ownership: saved.ownership.clone(),
        finished_at: now,
    }
}

/// The time the plan is made for: change set names derive from it, so the
/// same ticket decision gives the same plan (and digest) on every attempt.
fn ticket_plan_time(ticket: &Ticket) -> DateTime<Utc> {
    decided_at(ticket)
        .or(ticket.last_change.as_ref().map(|c| c.time))
        .unwrap_or(ticket.created_at)
}

/// Pure: the ending's facts on the ticket.
fn apply_ending(t: &mut Ticket, attempt: &Attempt, ending: &Ending, now: DateTime<Utc>) {
    if let Some(p) = &ending.plan {
        t.plan = Some(p.clone());
    }
    if ending.clear_approval {
        t.approval = None;
    }
    if ending.approval_expires_at.is_some()
        || ending
            .state
            .is_some_and(|s| s != TicketState::AwaitingApproval)
    {
        t.approval_expires_at = ending.approval_expires_at;
    }
    let entry = |kind: EntryKind, summary: String, data: Value| TicketEntry {
        at: now,
        kind,
        event_id: Some(attempt.event_id.clone()),
        summary,
        actor: None,
        data,
    };
    for (kind, summary, data) in &ending.entries {
        t.push(entry(*kind, summary.clone(), data.clone()));
    }
    let kind = match ending.outcome {
        RemediationOutcome::Held => EntryKind::Held,
        _ => EntryKind::Note,
    };
    t.push(entry(
        kind,
        format!("remediation {}: {}", ending.outcome.as_str(), ending.reason),
        Value::Null,
    ));
    if let Some(to) = ending.state {
        // Verified at `now`: a change the ticket applied from later than
        // that is not in the verification, so it does not get resolved.
        if let Some(newest) = t.newer_than(now).filter(|_| to == TicketState::Resolved) {
            t.push(entry(
                EntryKind::Note,
                format!(
                    "not resolved: a change from {newest} is newer than this verification ({now})"
                ),
                Value::Null,
            ));
            return;
        }
        if to == TicketState::Resolved {
            t.applied_at_source(now);
        }
        if let Err(e) = t.transition(to, &ending.reason, now) {
            t.push(entry(
                EntryKind::Note,
                format!("state not changed: {e}"),
                Value::Null,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Mutex;

    use async_trait::async_trait;
    use serde_json::json;

    use super::super::{approval_event, bus_envelope, Execution, ReadBack, StackTemplate};
    use super::*;
    use crate::memory::safety::MemorySafetyStore;
    use crate::memory::{FixedClock, MemoryBus, MemoryTicketStore};
    use crate::ports::Claim;
    use crate::ports::{StackResourceSummary, StackSummary};
    use driftguard_model::domain::approval::{authorize, Caller};
    use driftguard_model::domain::{
        classify_actor, ChangeSource, Decision, Fingerprint, Identity, ResourceRef, Severity,
        Strategy, Verdict,
    };
    use driftguard_model::error::PortResult;
    use driftguard_model::events::{DriftDecision, REMEDIATION_APPROVED};

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
        async fn change_set_reverts(
            &self,
            _: &Plan,
        ) -> Result<Option<Vec<String>>, ExecutionError> {
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

    /// A ticket store that fails on purpose: every read, or one given update
    /// (the result write after acting: a crash between acting and recording).
    struct FlakyStore {
        inner: Arc<MemoryTicketStore>,
        fail_reads: bool,
        fail_update: Mutex<Option<u32>>,
        /// Apply this `update_ticket` (1-based), then answer as if the
        /// connection dropped: the write happened, its answer was lost.
        lose_update: Option<u32>,
        updates: Mutex<u32>,
    }

    impl FlakyStore {
        fn failing_reads(inner: Arc<MemoryTicketStore>) -> Self {
            Self {
                inner,
                fail_reads: true,
                fail_update: Mutex::new(None),
                lose_update: None,
                updates: Mutex::new(0),
            }
        }

        /// Fail the `n`th `update_ticket` (1-based), once.
        fn failing_update(inner: Arc<MemoryTicketStore>, n: u32) -> Self {
            Self {
                inner,
                fail_reads: false,
                fail_update: Mutex::new(Some(n)),
                lose_update: None,
                updates: Mutex::new(0),
            }
        }

        /// Apply the `n`th `update_ticket`, then lose its answer.
        fn losing_update(inner: Arc<MemoryTicketStore>, n: u32) -> Self {
            Self {
                inner,
                fail_reads: false,
                fail_update: Mutex::new(None),
                lose_update: Some(n),
                updates: Mutex::new(0),
            }
        }
    }

    fn down() -> PortError {
        PortError::Failed {
            service: "dynamodb",
            operation: "PutItem",
            message: "connection reset".into(),
        }
    }

    #[async_trait]
    impl TicketStore for FlakyStore {
        async fn claim_event(
            &self,
            id: &str,
            lease: DateTime<Utc>,
            expires: DateTime<Utc>,
        ) -> PortResult<Claim> {
            self.inner.claim_event(id, lease, expires).await
        }
        async fn complete_event(&self, id: &str) -> PortResult<()> {
            self.inner.complete_event(id).await
        }
        async fn abandon_event(&self, id: &str) -> PortResult<()> {
            self.inner.abandon_event(id).await
        }
        async fn get_ticket(&self, id: &str) -> PortResult<Option<Ticket>> {
            if self.fail_reads {
                return Err(down());
            }
            self.inner.get_ticket(id).await
        }
        async fn create_ticket(&self, t: &Ticket) -> PortResult<()> {
            self.inner.create_ticket(t).await
        }
        async fn update_ticket(&self, t: &Ticket) -> PortResult<()> {
            let n = {
                let mut u = self.updates.lock().unwrap();
                *u += 1;
                *u
            };
            let fail = {
                let mut f = self.fail_update.lock().unwrap();
                let hit = *f == Some(n);
                if hit {
                    *f = None;
                }
                hit
            };
            if fail {
                return Err(down());
            }
            self.inner.update_ticket(t).await?;
            if self.lose_update == Some(n) && self.fail_reads {
                // Applied, answered as a permanent failure: not retried.
                return Err(down());
            }
            if self.lose_update == Some(n) {
                return Err(PortError::Transient {
                    service: "dynamodb",
                    operation: "PutItem",
                    message: "connection reset by peer".into(),
                });
            }
            Ok(())
        }
        async fn list_tickets(&self, s: Option<TicketState>) -> PortResult<Vec<Ticket>> {
            self.inner.list_tickets(s).await
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

    fn t0() -> DateTime<Utc> {
        "2026-03-01T10:00:00Z".parse().unwrap()
    }

    fn membership(stack: &str) -> StackMembership {
        StackMembership {
            stack_id: format!("arn:aws:cloudformation:us-east-1:123456789012:stack/{stack}/1"),
            stack_name: stack.into(),
            logical_id: "Sg".into(),
            resource_type: Some("AWS::EC2::SecurityGroup".into()),
            stack_status: "UPDATE_COMPLETE".into(),
            stack_tags: BTreeMap::new(),
            nested: None,
        }
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

    fn console_change(group: &str) -> Change {
        Change {
            event_id: format!("ct-{group}"),
            time: t0(),
            account: "123456789012".into(),
            region: "us-east-1".into(),
            source: ChangeSource::Cloudtrail,
            service: "ec2".into(),
            operation: "AuthorizeSecurityGroupIngress".into(),
            resource: ResourceRef::new("AWS::EC2::SecurityGroup", group),
            identity: Identity {
                identity_type: Some("AssumedRole".into()),
                principal_arn: Some("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com".into()),
                session_issuer_arn: Some("arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123456789abcdef".into()),
                session_name: Some("alice@example.com".into()),
                user_agent: Some("AWS Internal".into()),
                source_ip: Some("198.51.100.7".into()),
                console_session: true,
                ..Identity::default()
            },
            request: json!({
                "groupId": group,
                "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                    "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}
            }),
            response: Value::Null,
            stack_hint: None,
            drift_hint: None,
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

    fn finished(o: Outcome) -> RemediationResult {
        match o {
            Outcome::Finished(r) => *r,
            other => panic!("expected a finished remediation, got {other:?}"),
        }
    }

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
        let w = world(
            "remediation: { circuit_breaker_failures: 2, circuit_breaker_cooldown_minutes: 60 }",
        );
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
        let w = world(
            "remediation: { circuit_breaker_failures: 1, circuit_breaker_cooldown_minutes: 60 }",
        );
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
        w.remediator.tickets = Arc::new(FlakyStore::failing_reads(w.store.clone()));
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

    fn executed_groups(w: &World) -> Vec<Value> {
        w.executor
            .executed
            .lock()
            .unwrap()
            .iter()
            .map(|p| p.calls[0].parameters["GroupId"].clone())
            .collect()
    }

    #[tokio::test]
    async fn a_forged_decision_changes_nothing_the_ticket_decides() {
        let w = world("");
        let mut real = verdict(false, false);
        real.action = Action::Ticket;
        let (id, env) = decision(&w, "sg-1", "Sg", "app", real, "e-real").await;
        // Someone with events:PutEvents sends revert, not dry-run, no approval.
        let mut forged = env;
        forged["id"] = json!("e-forged");
        forged["detail"]["decision"]["verdict"]["action"] = json!("revert");
        forged["detail"]["decision"]["verdict"]["dry_run"] = json!(false);
        forged["detail"]["decision"]["verdict"]["requires_approval"] = json!(false);
        let before = w.store.get_ticket(&id).await.unwrap().unwrap();
        assert!(matches!(
            w.remediator.handle(forged).await.unwrap(),
            Outcome::Ignored(why) if why.contains("does not remediate")
        ));
        assert!(w.executor.executed.lock().unwrap().is_empty());
        assert!(w.bus.published().is_empty());
        assert_eq!(w.store.get_ticket(&id).await.unwrap().unwrap(), before);
    }

    #[tokio::test]
    async fn the_change_acted_on_is_the_tickets_not_the_events() {
        let w = world("");
        let (_, mut env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-c").await;
        env["detail"]["change"]["request"]["groupId"] = json!("sg-victim");
        env["detail"]["change"]["resource"]["physical_id"] = json!("sg-victim");
        let r = finished(w.remediator.handle(env).await.unwrap());
        assert_eq!(r.outcome, RemediationOutcome::Resolved, "{}", r.reason);
        assert_eq!(executed_groups(&w), vec![json!("sg-1")]);
    }

    #[tokio::test]
    async fn a_stale_decision_is_refused() {
        let w = world("remediation: { max_decision_age_seconds: 900 }");
        let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-old").await;
        w.clock.advance(Duration::seconds(901));
        let r = finished(w.remediator.handle(env).await.unwrap());
        assert_eq!(r.outcome, RemediationOutcome::Refused);
        assert!(
            r.reason.contains("remediation.max_decision_age_seconds"),
            "{}",
            r.reason
        );
        assert!(w.executor.executed.lock().unwrap().is_empty());
        assert_eq!(
            w.store.get_ticket(&id).await.unwrap().unwrap().state,
            TicketState::Open
        );
        // The age counts from the ticket's decision, not the event's time.
        assert!(stale_decision(
            &w.store.get_ticket(&id).await.unwrap().unwrap(),
            t0() + Duration::seconds(899),
            900
        )
        .is_none());
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

    #[tokio::test]
    async fn a_tampered_stored_plan_is_refused_and_never_executed() {
        let w = world("");
        let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, true), "e-t").await;
        finished(w.remediator.handle(env).await.unwrap());
        approve_stored_plan(&w, &id, CAROL).await;
        // Table write: the stored plan now opens the group to the world.
        edit(&w, &id, |t| {
            let call = &mut t.plan.as_mut().unwrap().calls[0];
            call.operation = "AuthorizeSecurityGroupIngress".into();
            call.parameters["GroupId"] = json!("sg-admin");
        })
        .await;
        let r = finished(
            w.remediator
                .handle(approval_envelope(&id, "e-t2", "carol"))
                .await
                .unwrap(),
        );
        assert_eq!(
            r.outcome,
            RemediationOutcome::AwaitingApproval,
            "{}",
            r.reason
        );
        assert!(w.executor.executed.lock().unwrap().is_empty());
        // The re-derived plan replaced the tampered one on the ticket.
        let t = w.store.get_ticket(&id).await.unwrap().unwrap();
        assert_eq!(
            t.plan.as_ref().unwrap().calls[0].parameters["GroupId"],
            "sg-1"
        );
    }

    #[tokio::test]
    async fn a_stored_plan_is_never_what_a_decision_executes() {
        let w = world("");
        let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-s").await;
        let mut evil = Plan {
            strategy: Strategy::InverseCall,
            calls: vec![driftguard_model::domain::PlannedCall::new(
                "ec2",
                "AuthorizeSecurityGroupIngress",
                json!({"GroupId": "sg-admin"}),
            )],
            expected: "x".into(),
            skipped: vec![],
        };
        edit(&w, &id, |t| t.plan = Some(evil.clone())).await;
        let r = finished(w.remediator.handle(env).await.unwrap());
        assert_eq!(r.outcome, RemediationOutcome::Resolved, "{}", r.reason);
        let ran = w.executor.executed.lock().unwrap().clone();
        assert_eq!(ran[0].calls[0].operation, "RevokeSecurityGroupIngress");
        assert_eq!(ran[0].calls[0].parameters["GroupId"], "sg-1");
        // And a plan aimed elsewhere fails the target check.
        let m = membership("app");
        let sg1 = ResourceRef::new("AWS::EC2::SecurityGroup", "sg-1");
        assert!(check_targets(&evil, &sg1, &m)
            .unwrap_err()
            .contains("GroupId=sg-admin"));
        evil.calls[0] = driftguard_model::domain::PlannedCall::new(
            "cloudformation",
            "ExecuteChangeSet",
            json!({"StackName": "driftguard"}),
        );
        assert!(check_targets(&evil, &sg1, &m).is_err());
        evil.calls[0] =
            driftguard_model::domain::PlannedCall::new("kms", "PutKeyPolicy", json!({}));
        assert!(check_targets(&evil, &sg1, &m).is_err());
        evil.calls[0] = driftguard_model::domain::PlannedCall::new(
            "ec2",
            "RevokeSecurityGroupIngress",
            json!({"GroupId": "sg-1"}),
        );
        assert!(check_targets(&evil, &sg1, &m).is_ok());
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
        w.remediator.tickets = Arc::new(FlakyStore::failing_update(w.store.clone(), 2));
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
        w.remediator.tickets = Arc::new(FlakyStore::failing_update(w.store.clone(), 1));
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
        let mut store = FlakyStore::losing_update(w.store.clone(), 1);
        store.fail_reads = true; // with lose_update: the permanent answer
        let store = Arc::new(store);
        // Reads must work for the refusal to be written: only the answer of
        // update 1 is wrong, so read through the inner store.
        w.remediator.tickets = Arc::new(ReadsThrough(store));
        let r = finished(w.remediator.handle(env).await.unwrap());
        assert_eq!(r.outcome, RemediationOutcome::Refused, "{}", r.reason);
        assert!(w.executor.executed.lock().unwrap().is_empty());
        let t = w.store.get_ticket(&id).await.unwrap().unwrap();
        assert_eq!(t.state, TicketState::Open);
    }

    /// A FlakyStore whose reads always go to the inner store.
    struct ReadsThrough(Arc<FlakyStore>);

    #[async_trait]
    impl TicketStore for ReadsThrough {
        async fn claim_event(
            &self,
            id: &str,
            lease: DateTime<Utc>,
            expires: DateTime<Utc>,
        ) -> PortResult<Claim> {
            self.0.claim_event(id, lease, expires).await
        }
        async fn complete_event(&self, id: &str) -> PortResult<()> {
            self.0.complete_event(id).await
        }
        async fn abandon_event(&self, id: &str) -> PortResult<()> {
            self.0.abandon_event(id).await
        }
        async fn get_ticket(&self, id: &str) -> PortResult<Option<Ticket>> {
            self.0.inner.get_ticket(id).await
        }
        async fn create_ticket(&self, t: &Ticket) -> PortResult<()> {
            self.0.create_ticket(t).await
        }
        async fn update_ticket(&self, t: &Ticket) -> PortResult<()> {
            self.0.update_ticket(t).await
        }
        async fn list_tickets(&self, s: Option<TicketState>) -> PortResult<Vec<Ticket>> {
            self.0.list_tickets(s).await
        }
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
            w.remediator.tickets = Arc::new(FlakyStore::losing_update(w.store.clone(), n));
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

    /// A result the bus refused through every retry waits in the ticket's
    /// outbox and fails the invocation; Lambda's retry of the same event
    /// publishes it, clears the outbox and does nothing else (one action,
    /// one announcement).
    #[tokio::test]
    async fn an_unannounced_result_waits_in_the_outbox_until_the_retry_publishes_it() {
        let w = world("");
        let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-out").await;
        let results = |w: &World| {
            w.bus
                .published()
                .into_iter()
                .filter(|(t, _)| t == REMEDIATION_RESULT)
                .count()
        };
        w.bus.fail_next(w.remediator.settings.retry.max_attempts);
        let failed = w.remediator.handle(env.clone()).await;
        assert!(
            matches!(failed, Err(RemediateError::Unannounced { .. })),
            "{failed:?}"
        );
        let t = w.store.get_ticket(&id).await.unwrap().unwrap();
        assert_eq!(
            t.state,
            TicketState::Resolved,
            "the result is on the ticket"
        );
        let kept = t.unannounced.expect("kept in the outbox");
        assert_eq!(kept.event_id, env["id"].as_str().unwrap());
        assert_eq!(kept.detail["ticket_state"], json!("RESOLVED"));
        assert_eq!(results(&w), 0);

        let again = w.remediator.handle(env.clone()).await.unwrap();
        assert!(matches!(again, Outcome::Duplicate(_)), "{again:?}");
        assert_eq!(results(&w), 1, "published once, from the outbox");
        let t = w.store.get_ticket(&id).await.unwrap().unwrap();
        assert!(t.unannounced.is_none(), "outbox cleared");
        assert_eq!(w.executor.executed.lock().unwrap().len(), 1, "acted once");

        let third = w.remediator.handle(env).await.unwrap();
        assert!(matches!(third, Outcome::Duplicate(_)), "{third:?}");
        assert_eq!(results(&w), 1, "a later duplicate announces nothing");
    }

    /// A ticket store whose answers to the ending's write are lost: the first
    /// attempt is applied, every answer is a timeout (the call reached
    /// DynamoDB, the connection did not bring the answer back).
    struct LostEndingAnswers {
        inner: Arc<MemoryTicketStore>,
    }

    #[async_trait]
    impl TicketStore for LostEndingAnswers {
        async fn claim_event(
            &self,
            event_id: &str,
            lease_until: DateTime<Utc>,
            expires_at: DateTime<Utc>,
        ) -> PortResult<crate::ports::Claim> {
            self.inner
                .claim_event(event_id, lease_until, expires_at)
                .await
        }
        async fn complete_event(&self, event_id: &str) -> PortResult<()> {
            self.inner.complete_event(event_id).await
        }
        async fn abandon_event(&self, event_id: &str) -> PortResult<()> {
            self.inner.abandon_event(event_id).await
        }
        async fn get_ticket(&self, id: &str) -> PortResult<Option<Ticket>> {
            self.inner.get_ticket(id).await
        }
        async fn create_ticket(&self, ticket: &Ticket) -> PortResult<()> {
            self.inner.create_ticket(ticket).await
        }
        async fn update_ticket(&self, ticket: &Ticket) -> PortResult<()> {
            if ticket.state != TicketState::Resolved {
                return self.inner.update_ticket(ticket).await;
            }
            let _ = self.inner.update_ticket(ticket).await;
            Err(PortError::Transient {
                service: "dynamodb",
                operation: "UpdateItem",
                message: "injected: answer lost".into(),
            })
        }
        async fn list_tickets(&self, state: Option<TicketState>) -> PortResult<Vec<Ticket>> {
            self.inner.list_tickets(state).await
        }
    }

    /// The ending's write lands, its answer is lost, and before the retry
    /// another writer (detect recording a duplicate delivery) moves the
    /// ticket on: the retry's conflict must not apply the ending again.
    struct LandedThenMoved {
        inner: Arc<MemoryTicketStore>,
        moved: Mutex<bool>,
    }

    #[async_trait]
    impl TicketStore for LandedThenMoved {
        async fn claim_event(
            &self,
            event_id: &str,
            lease_until: DateTime<Utc>,
            expires_at: DateTime<Utc>,
        ) -> PortResult<crate::ports::Claim> {
            self.inner
                .claim_event(event_id, lease_until, expires_at)
                .await
        }
        async fn complete_event(&self, event_id: &str) -> PortResult<()> {
            self.inner.complete_event(event_id).await
        }
        async fn abandon_event(&self, event_id: &str) -> PortResult<()> {
            self.inner.abandon_event(event_id).await
        }
        async fn get_ticket(&self, id: &str) -> PortResult<Option<Ticket>> {
            self.inner.get_ticket(id).await
        }
        async fn create_ticket(&self, ticket: &Ticket) -> PortResult<()> {
            self.inner.create_ticket(ticket).await
        }
        async fn update_ticket(&self, ticket: &Ticket) -> PortResult<()> {
            let first_ending = ticket.state == TicketState::Resolved && {
                let mut moved = self.moved.lock().unwrap();
                !std::mem::replace(&mut *moved, true)
            };
            if !first_ending {
                return self.inner.update_ticket(ticket).await;
            }
            self.inner.update_ticket(ticket).await?;
            let mut other = self.inner.get_ticket(&ticket.id).await?.unwrap();
            other.events_seen += 1;
            other.version += 1;
            self.inner.update_ticket(&other).await?;
            Err(PortError::Transient {
                service: "dynamodb",
                operation: "UpdateItem",
                message: "injected: answer lost".into(),
            })
        }
        async fn list_tickets(&self, state: Option<TicketState>) -> PortResult<Vec<Ticket>> {
            self.inner.list_tickets(state).await
        }
    }

    #[tokio::test]
    async fn an_ending_that_landed_before_another_write_is_recorded_once() {
        let mut w = world("");
        let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-moved").await;
        w.remediator.tickets = Arc::new(LandedThenMoved {
            inner: w.store.clone(),
            moved: Mutex::new(false),
        });
        let r = finished(w.remediator.handle(env).await.unwrap());
        assert_eq!(r.outcome, RemediationOutcome::Resolved, "{}", r.reason);
        let t = w.store.get_ticket(&id).await.unwrap().unwrap();
        let count = |kind: EntryKind| t.history.iter().filter(|e| e.kind == kind).count();
        assert_eq!(count(EntryKind::Acted), 1, "{:#?}", t.history);
        let closing = t
            .history
            .iter()
            .filter(|e| e.summary.starts_with("remediation resolved"))
            .count();
        assert_eq!(closing, 1, "{:#?}", t.history);
        assert_eq!(t.state, TicketState::Resolved);
        assert!(t.unannounced.is_none(), "published and cleared");
        assert_eq!(w.executor.executed.lock().unwrap().len(), 1);
        assert_eq!(w.bus.published().len(), 1);
    }

    /// The ending's write landed but every answer to it was lost: the
    /// invocation fails, and its re-delivery announces the result the write
    /// holds in its outbox, once; nothing is acted on again.
    #[tokio::test]
    async fn an_ending_whose_write_answer_was_lost_is_announced_by_the_retry() {
        let mut w = world("");
        let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-lost").await;
        w.remediator.tickets = Arc::new(LostEndingAnswers {
            inner: w.store.clone(),
        });
        let failed = w.remediator.handle(env.clone()).await;
        assert!(
            matches!(failed, Err(RemediateError::Store(_))),
            "{failed:?}"
        );
        let t = w.store.get_ticket(&id).await.unwrap().unwrap();
        assert_eq!(t.state, TicketState::Resolved, "the write landed");
        assert!(t.unannounced.is_some(), "with the result in its outbox");
        let results = |w: &World| -> Vec<Value> {
            w.bus
                .published()
                .into_iter()
                .filter(|(t, _)| t == REMEDIATION_RESULT)
                .map(|(_, d)| d)
                .collect()
        };
        assert!(results(&w).is_empty());

        w.remediator.tickets = w.store.clone();
        let again = w.remediator.handle(env.clone()).await.unwrap();
        assert!(matches!(again, Outcome::Duplicate(_)), "{again:?}");
        let sent = results(&w);
        assert_eq!(sent.len(), 1, "announced once, from the outbox");
        assert_eq!(sent[0]["ticket_state"], json!("RESOLVED"));
        assert_eq!(sent[0]["state_changed"], json!(true));
        assert_eq!(w.executor.executed.lock().unwrap().len(), 1, "acted once");
        let t = w.store.get_ticket(&id).await.unwrap().unwrap();
        assert!(t.unannounced.is_none(), "outbox cleared");
    }

    /// A published result leaves no outbox behind.
    #[tokio::test]
    async fn a_published_result_clears_the_outbox() {
        let w = world("");
        let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-pub").await;
        w.remediator.handle(env).await.unwrap();
        let t = w.store.get_ticket(&id).await.unwrap().unwrap();
        assert_eq!(t.state, TicketState::Resolved);
        assert!(t.unannounced.is_none());
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

    /// One row of the gates table: what the ticket and the attempt look like,
    /// which facts are known, and where the attempt must stop.
    struct Row {
        name: &'static str,
        wake: Wake,
        edit: fn(&mut Ticket, &mut Attempt, &mut StackMembership),
        policy: &'static str,
        planned: bool,
        expect: Option<RemediationOutcome>,
        says: &'static str,
    }

    fn gate_ticket() -> (Ticket, Attempt) {
        let change = console_change("sg-1");
        let mut m = membership("app");
        m.logical_id = "Sg".into();
        let ownership = Ownership::Managed(m);
        let fp = Fingerprint::for_change(&change, &ownership);
        let mut ticket = Ticket::new(fp, &change, &ownership, t0());
        ticket.last_change = Some(change);
        let decision = Decision {
            verdict: verdict(false, false),
            held: None,
        };
        ticket.decision = Some(decision.clone());
        ticket.push(decided_entry(t0()));
        let attempt = Attempt::from_ticket(&ticket, &decision, "env-1", false);
        (ticket, attempt)
    }

    fn gate_plan(membership: StackMembership) -> Prepared {
        let plan = Plan {
            strategy: driftguard_model::domain::Strategy::InverseCall,
            calls: vec![driftguard_model::domain::PlannedCall {
                service: "ec2".into(),
                operation: "RevokeSecurityGroupIngress".into(),
                parameters: json!({"GroupId": "sg-1"}),
            }],
            expected: "port 22 closed".into(),
            skipped: Vec::new(),
        };
        let digest = plan.digest();
        Prepared {
            membership,
            plan,
            digest,
            approval_required: None,
            entries: Vec::new(),
        }
    }

    fn approval(digest: &str) -> Approval {
        Approval {
            plan_digest: digest.into(),
            approver_arn: CAROL.into(),
            approved_at: t0(),
            via: "lambda-function-url:AWS_IAM".into(),
        }
    }

    fn awaiting(t: &mut Ticket) {
        t.state = TicketState::AwaitingApproval;
        t.approval_expires_at = Some(t0() + Duration::minutes(30));
    }

    #[test]
    fn gates_table() {
        use RemediationOutcome as O;
        let rows = [
            Row {
                name: "fresh decision, every fact known",
                wake: Wake::Decision,
                edit: |_, _, _| {},
                policy: "",
                planned: true,
                expect: None,
                says: "",
            },
            Row {
                name: "held by detect",
                wake: Wake::Decision,
                edit: |_, a, _| a.held = Some("stack busy when decided".into()),
                policy: "",
                planned: true,
                expect: Some(O::Held),
                says: "stack busy when decided",
            },
            Row {
                name: "accepted drift",
                wake: Wake::Decision,
                edit: |t, _, _| t.state = TicketState::Accepted,
                policy: "",
                planned: true,
                expect: Some(O::Refused),
                says: "accepted on purpose",
            },
            Row {
                name: "stale decision",
                wake: Wake::Decision,
                edit: |t, _, _| {
                    t.history
                        .iter_mut()
                        .for_each(|e| e.at = t0() - Duration::days(2))
                },
                policy: "",
                planned: true,
                expect: Some(O::Refused),
                says: "stale decision",
            },
            Row {
                name: "stale but REMEDIATING: verified",
                wake: Wake::Decision,
                edit: |t, _, _| {
                    t.state = TicketState::Remediating;
                    t.history
                        .iter_mut()
                        .for_each(|e| e.at = t0() - Duration::days(2));
                },
                policy: "",
                planned: false,
                expect: None,
                says: "",
            },
            Row {
                name: "approval on an OPEN ticket",
                wake: Wake::Approval,
                edit: |_, _, _| {},
                policy: "",
                planned: true,
                expect: Some(O::Refused),
                says: "not AWAITING_APPROVAL",
            },
            Row {
                name: "approval wake-up, none recorded",
                wake: Wake::Approval,
                edit: |t, _, _| awaiting(t),
                policy: "",
                planned: true,
                expect: Some(O::Refused),
                says: "no approval is recorded",
            },
            Row {
                name: "approval after the expiry",
                wake: Wake::Approval,
                edit: |t, a, _| {
                    awaiting(t);
                    t.approval_expires_at = Some(t0() - Duration::minutes(1));
                    a.approval = Some(approval("d"));
                },
                policy: "",
                planned: true,
                expect: Some(O::Refused),
                says: "expired",
            },
            Row {
                name: "stack mid-update",
                wake: Wake::Decision,
                edit: |_, _, m| m.stack_status = "UPDATE_IN_PROGRESS".into(),
                policy: "",
                planned: false,
                expect: Some(O::Held),
                says: "operation in progress",
            },
            Row {
                name: "rollback may cancel a mid-update stack",
                wake: Wake::Decision,
                edit: |_, a, m| {
                    a.action = Action::Rollback;
                    m.stack_status = "UPDATE_IN_PROGRESS".into();
                },
                policy: "",
                planned: false,
                expect: None,
                says: "",
            },
            Row {
                name: "protected stack",
                wake: Wake::Decision,
                edit: |_, _, _| {},
                policy: "protected: [{ stack: \"app\" }]\n",
                planned: false,
                expect: Some(O::Refused),
                says: "protected by policy",
            },
            Row {
                name: "approved another plan",
                wake: Wake::Approval,
                edit: |t, a, _| {
                    awaiting(t);
                    a.approval = Some(approval("other-digest"));
                },
                policy: "",
                planned: true,
                expect: Some(O::AwaitingApproval),
                says: "approve",
            },
            Row {
                name: "dry run",
                wake: Wake::Decision,
                edit: |_, a, _| a.dry_run = true,
                policy: "",
                planned: true,
                expect: Some(O::DryRun),
                says: "dry run",
            },
            Row {
                name: "dry run is not judged before the plan exists",
                wake: Wake::Decision,
                edit: |_, a, _| a.dry_run = true,
                policy: "",
                planned: false,
                expect: None,
                says: "",
            },
            Row {
                name: "policy requires approval",
                wake: Wake::Decision,
                edit: |_, a, _| a.requires_approval = true,
                policy: "",
                planned: true,
                expect: Some(O::AwaitingApproval),
                says: "the policy requires approval",
            },
        ];
        for row in rows {
            let (mut ticket, mut attempt) = gate_ticket();
            let mut m = membership("app");
            m.logical_id = "Sg".into();
            (row.edit)(&mut ticket, &mut attempt, &mut m);
            let policy =
                Policy::from_yaml(&format!("version: 1\n{APPROVERS}{}", row.policy)).unwrap();
            let prepared = gate_plan(m.clone());
            let facts = GateFacts {
                wake: row.wake,
                ticket: &ticket,
                attempt: &attempt,
                membership: Some(&m),
                policy: &policy,
                plan: row.planned.then_some(&prepared),
                now: t0() + Duration::seconds(30),
            };
            match (gates(&facts), row.expect) {
                (Gate::Proceed, None) => {}
                (Gate::End(e), Some(outcome)) => {
                    assert_eq!(e.outcome, outcome, "{}: {}", row.name, e.reason);
                    assert!(e.reason.contains(row.says), "{}: {}", row.name, e.reason);
                }
                (Gate::Ignore(why), _) => panic!("{}: ignored: {why}", row.name),
                (Gate::Proceed, Some(o)) => panic!("{}: proceeded, expected {o:?}", row.name),
                (Gate::End(e), None) => panic!("{}: stopped: {}", row.name, e.reason),
            }
        }
    }

    #[test]
    fn a_plan_already_awaiting_approval_is_not_parked_twice() {
        let (mut ticket, mut attempt) = gate_ticket();
        attempt.requires_approval = true;
        let prepared = gate_plan(membership("app"));
        awaiting(&mut ticket);
        ticket.plan = Some(prepared.plan.clone());
        let policy = Policy::from_yaml(&format!("version: 1\n{APPROVERS}")).unwrap();
        let facts = GateFacts {
            wake: Wake::Decision,
            ticket: &ticket,
            attempt: &attempt,
            membership: Some(&prepared.membership),
            policy: &policy,
            plan: Some(&prepared),
            now: t0(),
        };
        assert!(matches!(gates(&facts), Gate::Ignore(why) if why.contains("already awaits")));
    }

    #[tokio::test]
    async fn a_verified_revert_prints_one_emf_line_with_its_exposure_window() {
        let w = world("");
        let (_, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-emf").await;
        let capture = crate::metrics::capture();
        let r = finished(w.remediator.handle(env).await.unwrap());
        assert_eq!(r.outcome, RemediationOutcome::Resolved, "{}", r.reason);
        let lines = capture.lines();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        let line = &lines[0];
        let (metrics, dimensions) = crate::metrics::declared(line);
        let names: Vec<&str> = metrics.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "Reverted",
                "RolledBack",
                "RemediationsRefused",
                "RemediationsFailed",
                "RemediationDuration",
                "ExposureWindow"
            ]
        );
        assert!(metrics.contains(&("ExposureWindow".into(), "Seconds".into())));
        assert!(metrics.contains(&("RemediationDuration".into(), "Milliseconds".into())));
        assert_eq!(
            dimensions,
            json!([["Function"], ["Function", "Severity", "Action"]])
        );
        assert_eq!(
            (&line["Function"], &line["Severity"], &line["Action"]),
            (&json!("remediate"), &json!("high"), &json!("revert"))
        );
        assert_eq!(
            (
                line["Reverted"].as_f64(),
                line["RemediationsFailed"].as_f64()
            ),
            (Some(1.0), Some(0.0))
        );
        // CloudTrail eventTime (the change's time) -> verified back in sync.
        let window = (r.finished_at - r.change.as_ref().unwrap().time).num_milliseconds();
        assert_eq!(
            line["ExposureWindow"].as_f64(),
            Some(window as f64 / 1000.0)
        );
    }

    #[tokio::test]
    async fn a_dry_run_counts_nothing_as_reverted_and_has_no_exposure_window() {
        let w = world("");
        let (_, env) = decision(&w, "sg-1", "Sg", "app", verdict(true, false), "e-emf-dry").await;
        let capture = crate::metrics::capture();
        finished(w.remediator.handle(env).await.unwrap());
        let lines = capture.lines();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert_eq!(lines[0]["Reverted"].as_f64(), Some(0.0));
        assert_eq!(lines[0]["outcome"], "dry_run");
        assert!(lines[0].get("ExposureWindow").is_none());
        assert!(lines[0].get("RemediationDuration").is_none());
    }

    mod member_accounts;
    mod reverts_others;
    mod rollback_request;
}
