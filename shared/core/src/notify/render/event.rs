//! The bus events notify acts on: the EventBridge envelope parsed into a
//! [`BusEvent`], and the [`TicketFacts`] a result event does not carry.
use chrono::{DateTime, Utc};
use serde_json::Value;

use driftguard_model::domain::{Action, Severity, Ticket};
use driftguard_model::events::{self, DriftDecision, RemediationResult};

/// The two bus events notify acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum NotifyEvent {
    Decision(Box<DriftDecision>),
    Result(Box<RemediationResult>),
}

impl NotifyEvent {
    pub fn ticket_id(&self) -> &str {
        match self {
            Self::Decision(d) => &d.ticket_id,
            Self::Result(r) => &r.ticket_id,
        }
    }

    pub fn state_changed(&self) -> bool {
        match self {
            Self::Decision(d) => d.state_changed,
            Self::Result(r) => r.state_changed,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Decision(_) => "decision",
            Self::Result(_) => "result",
        }
    }
}

/// An EventBridge envelope from the driftguard bus, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct BusEvent {
    /// The envelope `id` (EventBridge's, stable across redeliveries).
    pub id: String,
    pub account: String,
    pub region: String,
    pub time: Option<DateTime<Utc>>,
    pub event: NotifyEvent,
    /// The `detail` exactly as received: the SNS body.
    pub detail: Value,
}

/// Why an envelope could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("missing or empty envelope field `{0}`")]
    MissingField(&'static str),
    #[error("`{detail_type}` detail does not match its schema: {message}")]
    BadDetail {
        detail_type: String,
        message: String,
    },
}

impl EnvelopeError {
    /// A driftguard envelope's non-empty `id` and its `detail` object.
    pub fn id_and_detail(envelope: &Value) -> Result<(&str, &Value), EnvelopeError> {
        let id = envelope
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(EnvelopeError::MissingField("id"))?;
        let detail = envelope
            .get("detail")
            .filter(|d| d.is_object())
            .ok_or(EnvelopeError::MissingField("detail"))?;
        Ok((id, detail))
    }
}

impl BusEvent {
    /// Parse an EventBridge envelope. `Ok(None)` for any other event (other
    /// sources, approvals, sweep summaries; `Drift Accepted` is
    /// `crate::notify::accepted::AcceptedEvent`).
    pub fn parse(envelope: &Value) -> Result<Option<BusEvent>, EnvelopeError> {
        let text = |field: &'static str| envelope.get(field).and_then(Value::as_str);
        if text("source") != Some(events::SOURCE) {
            return Ok(None);
        }
        let detail_type = text("detail-type").ok_or(EnvelopeError::MissingField("detail-type"))?;
        if detail_type != events::DRIFT_DECISION && detail_type != events::REMEDIATION_RESULT {
            return Ok(None);
        }
        let (id, detail) = EnvelopeError::id_and_detail(envelope)?;
        let bad = |e: serde_json::Error| EnvelopeError::BadDetail {
            detail_type: detail_type.to_string(),
            message: e.to_string(),
        };
        let event = if detail_type == events::DRIFT_DECISION {
            NotifyEvent::Decision(Box::new(
                serde_json::from_value(detail.clone()).map_err(bad)?,
            ))
        } else {
            NotifyEvent::Result(Box::new(
                serde_json::from_value(detail.clone()).map_err(bad)?,
            ))
        };
        Ok(Some(BusEvent {
            id: id.to_string(),
            account: text("account").unwrap_or_default().to_string(),
            region: text("region").unwrap_or_default().to_string(),
            time: text("time")
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
            event,
            detail: detail.clone(),
        }))
    }
}

/// Facts a result event does not carry, read from the ticket (best effort).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketFacts {
    pub severity: Option<Severity>,
    pub verdict: Option<Action>,
    /// The ticket's account and region (its fingerprint's): where the
    /// resource is, when a result carries no change. The envelope's account
    /// and region are where driftguard runs, not necessarily the resource's.
    pub account: Option<String>,
    pub region: Option<String>,
}

impl TicketFacts {
    pub fn from_ticket(ticket: &Ticket) -> Self {
        let known = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        Self {
            severity: Some(ticket.severity),
            verdict: ticket.decision.as_ref().map(|d| d.verdict.action),
            account: known(&ticket.fingerprint.account),
            region: known(&ticket.fingerprint.region),
        }
    }
}
