//! Events driftguard puts on its own bus (`source: driftguard`). Schemas are
//! documented in `docs/events.md`; bump `SCHEMA_VERSION` on breaking changes.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{
    Acceptance, Actor, Change, Decision, Drift, Fingerprint, Ownership, Plan, ResourceRef, Ticket,
    TicketState,
};

pub const SOURCE: &str = "driftguard";
pub const SCHEMA_VERSION: u32 = 1;

pub const DRIFT_DECISION: &str = "Drift Decision";
pub const REMEDIATION_RESULT: &str = "Drift Remediation Result";
pub const REMEDIATION_APPROVED: &str = "Drift Remediation Approved";
pub const SWEEP_SUMMARY: &str = "Drift Sweep Summary";
pub const DRIFT_ACCEPTED: &str = "Drift Accepted";

/// `Drift Decision`: detect (or the sweep) decided what to do about a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftDecision {
    pub schema_version: u32,
    pub ticket_id: String,
    pub ticket_state: TicketState,
    /// Did this decision change the ticket's state (open, re-open)? notify sends
    /// one message per state change.
    pub state_changed: bool,
    pub change: Change,
    pub actor: Actor,
    pub ownership: Ownership,
    /// CloudFormation's view, when drift detection ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
    /// What the event's own request says was changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_drift: Option<Drift>,
    pub decision: Decision,
    /// The planned action, when the verdict acts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    pub decided_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemediationOutcome {
    /// Acted and verified IN_SYNC.
    Resolved,
    /// Acted (or tried) and the resource is still drifted, or the call failed.
    Failed,
    /// Dry-run: the plan was made and stored, nothing was changed.
    DryRun,
    /// Parked until `driftguard approve`.
    AwaitingApproval,
    /// A safety rule refused to act (protected, not owned, rate limit, circuit open,
    /// no strategy applies): the reason says which.
    Refused,
    /// The stack has an operation in progress: re-checked later.
    Held,
}

impl RemediationOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Resolved => "resolved",
            Self::Failed => "failed",
            Self::DryRun => "dry_run",
            Self::AwaitingApproval => "awaiting_approval",
            Self::Refused => "refused",
            Self::Held => "held",
        }
    }
}

/// `Drift Remediation Result`: what remediate did and whether it converged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemediationResult {
    pub schema_version: u32,
    pub ticket_id: String,
    pub ticket_state: TicketState,
    pub state_changed: bool,
    pub outcome: RemediationOutcome,
    pub reason: String,
    pub dry_run: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    /// The drift check after acting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<Drift>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    pub ownership: Ownership,
    pub finished_at: DateTime<Utc>,
}

/// `Drift Remediation Approved`: put by `driftguard approve TICKET`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemediationApproved {
    pub schema_version: u32,
    pub ticket_id: String,
    pub approved_by: String,
    pub approved_at: DateTime<Utc>,
}

/// `Drift Accepted`: put by `driftguard accept TICKET` once the ticket is
/// ACCEPTED. A wake-up call for notify, which re-reads the ticket and
/// announces only what the ticket says (anyone allowed to `PutEvents` on the
/// bus can write this event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftAccepted {
    pub schema_version: u32,
    pub ticket_id: String,
    pub ticket_state: TicketState,
    pub fingerprint: Fingerprint,
    pub resource: ResourceRef,
    /// Who accepted (what `--by` or `$USER` said: a label, not proof).
    pub accepted_by: String,
    pub reason: String,
    /// The time of the ticket's acceptance note: notify announces the event
    /// only while the ticket's latest acceptance is this one.
    pub accepted_at: DateTime<Utc>,
    /// `Drift::fingerprint` of the drift adopted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_drift: Option<String>,
}

impl DriftAccepted {
    /// The event for `ticket` in its acceptance `a`.
    pub fn of(ticket: &Ticket, a: &Acceptance) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            ticket_id: ticket.id.clone(),
            ticket_state: ticket.state,
            fingerprint: ticket.fingerprint.clone(),
            resource: ticket.resource.clone(),
            accepted_by: a.by.clone(),
            reason: a.reason.clone(),
            accepted_at: a.at,
            accepted_drift: ticket.accepted_drift.clone(),
        }
    }
}
