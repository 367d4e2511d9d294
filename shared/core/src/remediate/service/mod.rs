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
//!
//! The files, in the order an attempt goes through them:
//! - `wake`: the envelope, the ticket it names (or the member account's
//!   remediator), the attempt drawn from the ticket, the tail above.
//! - `gates`: the pure gates table.
//! - `prepare`: ownership and the stack re-checked, the plan re-derived.
//! - `act`: the claim, REMEDIATING, acting, verifying.
//! - `safety`: rate limits and the circuit breaker around acting.
//! - `ending`: how an attempt ended, and that ending applied to the ticket.
//! - `outbox`: writing the ending with its result (a transactional outbox),
//!   then announcing it.
use std::sync::Arc;

use chrono::Duration;
use serde::Deserialize;
use serde_json::Value;

use crate::ports::remediate::{MemberRemediators, PlanExecutor, TemplateSource};
use crate::ports::SafetyStore;
use crate::ports::{Clock, DecisionBus, DriftDetector, StackCatalog, TicketStore};
use crate::resilience::RetryPolicy;
use driftguard_model::domain::Approval;
use driftguard_model::domain::{policy::Policy, Action, Actor, Change, Decision, Ticket};
use driftguard_model::error::PortError;
use driftguard_model::events::RemediationResult;

mod act;
mod ending;
mod gates;
mod outbox;
mod prepare;
mod safety;
mod wake;

pub use self::gates::{decided_at, stale_decision};

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
    /// The policy environment of the decision (its global budget).
    environment: Option<String>,
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
            environment: verdict.environment.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
