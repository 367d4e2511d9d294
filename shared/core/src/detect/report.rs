//! What the pipeline answers: the outcome of one event, the report of one
//! decision, and the errors that fail the event (so Lambda retries and the
//! DLQ keeps it).
use serde::Serialize;

use driftguard_model::domain::{Actor, Decision, Drift, Ownership, TicketState};
use driftguard_model::error::PortError;
use driftguard_model::sources::SourceError;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The event cannot be parsed: fail so the DLQ keeps it. Names the field.
    #[error("malformed event: {0}")]
    Malformed(#[source] SourceError),
    /// Another invocation holds the event; fail so Lambda retries later.
    #[error("event {event_id} is being processed by another invocation; retry later")]
    InProgress { event_id: String },
    #[error("{step} failed for event {event_id}: {source}")]
    Port {
        step: &'static str,
        event_id: String,
        #[source]
        source: PortError,
    },
    #[error(
        "ticket {ticket_id}: gave up after {attempts} conflicting writes for event {event_id}"
    )]
    Contention {
        ticket_id: String,
        event_id: String,
        attempts: u32,
    },
}

impl PipelineError {
    pub fn class(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::InProgress { .. } => "in_progress",
            Self::Port { source, .. } => source.class(),
            Self::Contention { .. } => "contention",
        }
    }

    /// `map_err` for a failed port call: `step` of deciding `event_id`.
    pub(super) fn port(step: &'static str, event_id: &str) -> impl FnOnce(PortError) -> Self {
        let event_id = event_id.to_string();
        move |source| Self::Port {
            step,
            event_id,
            source,
        }
    }
}

/// How the ticket was touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketWrite {
    Created,
    Updated,
    /// The event was already on the ticket (a retry after a partial failure).
    AlreadyRecorded,
    /// The event is older than the newest fact the ticket applied: recorded
    /// in the history, nothing decided, nothing published.
    OutOfOrder,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketReport {
    pub id: String,
    pub state: TicketState,
    pub state_changed: bool,
    pub write: TicketWrite,
}

/// What one decision was, for the caller and the log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionReport {
    pub event_id: String,
    pub resource: String,
    pub actor: Actor,
    pub ownership: Ownership,
    pub decision: Decision,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_drift: Option<Drift>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<TicketReport>,
    pub published: bool,
    pub duration_ms: u64,
}

/// The result of one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Decided(Box<DecisionReport>),
    /// Already processed: a duplicate delivery, nothing done.
    Duplicate {
        event_id: String,
    },
    /// Recognized but not acted on (read-only or failed call, unsupported event type...).
    Skipped {
        #[serde(skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        reason: String,
        detail: String,
    },
}
