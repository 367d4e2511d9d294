//! Events driftguard puts on its own bus (`source: driftguard`). Schemas are
//! documented in `docs/events.md`; bump `SCHEMA_VERSION` on breaking changes.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{
    Acceptance, Actor, Change, Decision, Drift, Fingerprint, Ownership, Plan, ResourceRef, Ticket,
    TicketState,
};

/// The `source` of every event driftguard puts on its bus.
pub const SOURCE: &str = "driftguard";
/// The version of the event schemas (`docs/events.md`), in every detail.
pub const SCHEMA_VERSION: u32 = 1;

/// `detail-type` of [`DriftDecision`].
pub const DRIFT_DECISION: &str = "Drift Decision";
/// `detail-type` of [`RemediationResult`].
pub const REMEDIATION_RESULT: &str = "Drift Remediation Result";
/// `detail-type` of [`RemediationApproved`].
pub const REMEDIATION_APPROVED: &str = "Drift Remediation Approved";
/// `detail-type` of the sweep's summary of one run.
pub const SWEEP_SUMMARY: &str = "Drift Sweep Summary";
/// `detail-type` of [`DriftAccepted`].
pub const DRIFT_ACCEPTED: &str = "Drift Accepted";

/// `Drift Decision`: detect (or the sweep) decided what to do about a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftDecision {
    /// [`SCHEMA_VERSION`] when the event was put.
    pub schema_version: u32,
    /// The ticket the decision landed on.
    pub ticket_id: String,
    /// The ticket's state after the decision.
    pub ticket_state: TicketState,
    /// Did this decision change the ticket's state (open, re-open)? notify sends
    /// one message per state change.
    pub state_changed: bool,
    /// The change decided on.
    pub change: Change,
    /// Who made it, classified.
    pub actor: Actor,
    /// Which stack owns the resource.
    pub ownership: Ownership,
    /// CloudFormation's view, when drift detection ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
    /// What the event's own request says was changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_drift: Option<Drift>,
    /// The verdict (or why it is held).
    pub decision: Decision,
    /// The planned action, when the verdict acts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    /// When detect decided.
    pub decided_at: DateTime<Utc>,
}

/// What one remediate invocation came to.
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
    /// The name in the event and in metrics (`resolved`, `dry_run` …).
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
    /// [`SCHEMA_VERSION`] when the event was put.
    pub schema_version: u32,
    /// The ticket remediated.
    pub ticket_id: String,
    /// The ticket's state after remediate.
    pub ticket_state: TicketState,
    /// Did this result change the ticket's state? notify sends one message per state change.
    pub state_changed: bool,
    /// What remediate came to.
    pub outcome: RemediationOutcome,
    /// Why, in words (the refusal, the failure, the verification).
    pub reason: String,
    /// The plan was only made and stored, nothing was changed.
    pub dry_run: bool,
    /// The plan made (and run, unless dry-run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    /// The drift check after acting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<Drift>,
    /// The change remediated (the ticket's last change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    /// Who made that change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// Which stack owns the resource.
    pub ownership: Ownership,
    /// When remediate finished.
    pub finished_at: DateTime<Utc>,
}

/// `Drift Remediation Approved`: put by the approval endpoint (`functions/approve`)
/// once it recorded an approval on the ticket: remediate's wake-up call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemediationApproved {
    /// [`SCHEMA_VERSION`] when the event was put.
    pub schema_version: u32,
    /// The ticket whose stored plan was approved.
    pub ticket_id: String,
    /// The approver's ARN as AWS authenticated it. A wake-up only: remediate acts on the
    /// ticket's own stored approval.
    pub approved_by: String,
    /// When the approval was given.
    pub approved_at: DateTime<Utc>,
}

/// `Drift Accepted`: put by `driftguard accept TICKET` once the ticket is
/// ACCEPTED. A wake-up call for notify, which re-reads the ticket and
/// announces only what the ticket says (anyone allowed to `PutEvents` on the
/// bus can write this event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftAccepted {
    /// [`SCHEMA_VERSION`] when the event was put.
    pub schema_version: u32,
    /// The ticket accepted.
    pub ticket_id: String,
    /// The ticket's state (ACCEPTED).
    pub ticket_state: TicketState,
    /// What identifies the drift adopted.
    pub fingerprint: Fingerprint,
    /// The drifted resource.
    pub resource: ResourceRef,
    /// Who accepted (what `--by` or `$USER` said: a label, not proof).
    pub accepted_by: String,
    /// Why it was accepted, as the person typed it.
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
