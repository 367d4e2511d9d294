//! Tickets: one per drift fingerprint, with its history.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::actor::Actor;
use super::change::Change;
use super::drift::Drift;
use super::ownership::Ownership;
use super::remedy::Plan;
use super::resource::ResourceRef;
use super::verdict::{Decision, Severity};

/// An approval of one plan by one authenticated principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// `Plan::digest()` of the plan that was approved.
    pub plan_digest: String,
    /// The caller's ARN as AWS authenticated it (never a name the client asserts).
    pub approver_arn: String,
    pub approved_at: DateTime<Utc>,
    /// How it was authenticated, e.g. `lambda-function-url:AWS_IAM`.
    pub via: String,
}

/// Longest history kept on a ticket (DynamoDB items are limited to 400 KB);
/// older entries are dropped, the count is kept.
pub const MAX_HISTORY: usize = 50;

/// What identifies one drift: the same resource drifting again is the same ticket.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint {
    pub account: String,
    pub region: String,
    pub stack: String,
    pub logical_id: String,
}

impl Fingerprint {
    /// Managed resources: (account, region, stack name, logical id). Otherwise the
    /// physical id stands in for the logical id under a `(unmanaged)` stack.
    pub fn for_change(change: &Change, ownership: &Ownership) -> Self {
        let (stack, logical_id) = match ownership.membership() {
            Some(m) => (m.stack_name.clone(), m.logical_id.clone()),
            None => match (&change.stack_hint, &change.resource.physical_id) {
                (Some(h), _) => (
                    h.stack.clone(),
                    h.logical_id.clone().unwrap_or_else(|| "(stack)".into()),
                ),
                (None, Some(id)) if !id.is_empty() => ("(unmanaged)".into(), id.clone()),
                _ => (
                    "(unresolved)".into(),
                    format!("{}:{}", change.api(), change.event_id),
                ),
            },
        };
        Self {
            account: change.account.clone(),
            region: change.region.clone(),
            stack,
            logical_id,
        }
    }

    /// Stable ticket id: `DG-` and 12 hex digits of the fingerprint's SHA-256.
    pub fn ticket_id(&self) -> String {
        let mut h = Sha256::new();
        for part in [&self.account, &self.region, &self.stack, &self.logical_id] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        format!("DG-{}", &hex::encode(h.finalize())[..12])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TicketState {
    Open,
    AwaitingApproval,
    Remediating,
    Resolved,
    /// Drift adopted on purpose (`driftguard accept`).
    Accepted,
    Failed,
}

impl TicketState {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::AwaitingApproval => "AWAITING_APPROVAL",
            Self::Remediating => "REMEDIATING",
            Self::Resolved => "RESOLVED",
            Self::Accepted => "ACCEPTED",
            Self::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "OPEN" => Self::Open,
            "AWAITING_APPROVAL" => Self::AwaitingApproval,
            "REMEDIATING" => Self::Remediating,
            "RESOLVED" => Self::Resolved,
            "ACCEPTED" => Self::Accepted,
            "FAILED" => Self::Failed,
            _ => return None,
        })
    }

    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Resolved | Self::Accepted)
    }

    /// The allowed transitions. Closed tickets re-open when the resource drifts again.
    pub fn can_move_to(&self, to: TicketState) -> bool {
        use TicketState::*;
        match (self, to) {
            (a, b) if *a == b => true,
            (Open, _) => true,
            (AwaitingApproval, Remediating | Resolved | Accepted | Failed | Open) => true,
            (Remediating, Resolved | Failed | Open) => true,
            (Failed, Open | AwaitingApproval | Remediating | Resolved | Accepted) => true,
            (Resolved | Accepted, Open) => true,
            _ => false,
        }
    }
}

impl std::fmt::Display for TicketState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Observed,
    Decided,
    Held,
    Planned,
    Approved,
    Acted,
    Verified,
    StateChanged,
    Note,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketEntry {
    pub at: DateTime<Utc>,
    pub kind: EntryKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("ticket {id}: cannot move from {from} to {to}")]
pub struct TransitionError {
    pub id: String,
    pub from: TicketState,
    pub to: TicketState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: String,
    pub fingerprint: Fingerprint,
    pub state: TicketState,
    pub severity: Severity,
    pub resource: ResourceRef,
    pub ownership: Ownership,
    /// Latest drift per origin: CloudFormation's view and the event's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_drift: Option<Drift>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_actor: Option<Actor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    /// The change that triggered the latest decision (what remediate undoes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_change: Option<Change>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_expires_at: Option<DateTime<Utc>>,
    /// The approval of the stored plan, bound to that plan's digest and to the
    /// AWS principal that made the approval call (authenticated by AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// `Drift::fingerprint` of the drift `last_actor` and `decision` were
    /// taken on: while the resource shows this same drift, the sweep honours
    /// them (a break-glass fix stays unreverted, a pipeline change allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_drift: Option<String>,
    /// `Drift::fingerprint` of the drift `driftguard accept` adopted: the
    /// ticket stays ACCEPTED while the resource shows exactly this drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_drift: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-locking version: every write is conditional on it.
    pub version: u64,
    pub reopened: u32,
    pub events_seen: u64,
    pub history_dropped: u64,
    pub history: Vec<TicketEntry>,
}

impl Ticket {
    pub fn new(
        fingerprint: Fingerprint,
        change: &Change,
        ownership: &Ownership,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: fingerprint.ticket_id(),
            fingerprint,
            state: TicketState::Open,
            severity: Severity::Medium,
            resource: change.resource.clone(),
            ownership: ownership.clone(),
            drift: None,
            event_drift: None,
            last_actor: None,
            decision: None,
            plan: None,
            last_change: None,
            approval_expires_at: None,
            approval: None,
            decided_drift: None,
            accepted_drift: None,
            created_at: at,
            updated_at: at,
            version: 0,
            reopened: 0,
            events_seen: 0,
            history_dropped: 0,
            history: Vec::new(),
        }
    }

    /// The drift the ticket is about: out-of-template drift (the event's)
    /// over CloudFormation's view, CloudFormation's over the event's.
    pub fn current_drift(&self) -> Option<&Drift> {
        super::drift::decisive(self.drift.as_ref(), self.event_drift.as_ref())
    }

    /// Is the ticket about drift CloudFormation cannot see?
    pub fn is_out_of_template(&self) -> bool {
        self.current_drift()
            .is_some_and(|d| d.status == super::drift::DriftStatus::OutOfTemplate)
    }

    pub fn push(&mut self, entry: TicketEntry) {
        self.updated_at = self.updated_at.max(entry.at);
        self.history.push(entry);
        if self.history.len() > MAX_HISTORY {
            let excess = self.history.len() - MAX_HISTORY;
            self.history.drain(..excess);
            self.history_dropped += excess as u64;
        }
    }

    /// Move to `to`, recording why. A closed ticket moving to OPEN counts as re-opened.
    pub fn transition(
        &mut self,
        to: TicketState,
        why: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, TransitionError> {
        if self.state == to {
            return Ok(false);
        }
        if !self.state.can_move_to(to) {
            return Err(TransitionError {
                id: self.id.clone(),
                from: self.state,
                to,
            });
        }
        if self.state.is_closed() && to == TicketState::Open {
            self.reopened += 1;
        }
        let from = self.state;
        self.state = to;
        self.push(TicketEntry {
            at,
            kind: EntryKind::StateChanged,
            event_id: None,
            summary: format!("{from} -> {to}: {why}"),
            actor: None,
            data: serde_json::Value::Null,
        });
        Ok(true)
    }
}
