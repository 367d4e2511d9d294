//! `Drift Accepted` (put by `driftguard accept`) → an announcement on SNS and
//! Slack. The event is only a wake-up call: anyone allowed to `PutEvents` on
//! the bus can write one, so notify re-reads the ticket and announces what the
//! ticket says, and only while the ticket is ACCEPTED by the acceptance the
//! event names ([`announcement`], pure). The SNS body and the Slack message
//! are built from the ticket, never from the event's copy.
use serde_json::Value;

use super::render::{self, EnvelopeError, SnsMessage};
use driftguard_model::domain::{Acceptance, Ticket, TicketState};
use driftguard_model::events::{self, DriftAccepted};

/// A `Drift Accepted` envelope from driftguard's bus, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedEvent {
    /// The envelope `id` (EventBridge's, stable across redeliveries).
    pub id: String,
    pub detail: DriftAccepted,
}

impl AcceptedEvent {
    /// `Ok(None)` for any other event.
    pub fn parse(envelope: &Value) -> Result<Option<AcceptedEvent>, EnvelopeError> {
        let text = |field: &'static str| envelope.get(field).and_then(Value::as_str);
        if text("source") != Some(events::SOURCE)
            || text("detail-type") != Some(events::DRIFT_ACCEPTED)
        {
            return Ok(None);
        }
        let (id, detail) = EnvelopeError::id_and_detail(envelope)?;
        let detail =
            serde_json::from_value(detail.clone()).map_err(|e| EnvelopeError::BadDetail {
                detail_type: events::DRIFT_ACCEPTED.to_string(),
                message: e.to_string(),
            })?;
        Ok(Some(AcceptedEvent {
            id: id.to_string(),
            detail,
        }))
    }
}

/// What notify announces: the ticket as the table has it, and its acceptance.
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    pub ticket: Ticket,
    pub acceptance: Acceptance,
}

/// Why a `Drift Accepted` event is not announced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAnnounced {
    #[error("no ticket {0} in the table")]
    NoTicket(String),
    #[error("ticket {id} is {state}, not ACCEPTED")]
    NotAccepted { id: String, state: TicketState },
    #[error("ticket {0} is ACCEPTED but its history no longer records who accepted it")]
    NoRecord(String),
    #[error(
        "ticket {id} was last accepted at {ticket_at}; the event names an acceptance at {event_at}"
    )]
    OtherAcceptance {
        id: String,
        ticket_at: String,
        event_at: String,
    },
}

/// Announce `event` only if `ticket` (just read from the table) is ACCEPTED
/// and its latest acceptance is the one the event names.
pub fn announcement(
    ticket: Option<Ticket>,
    event: &DriftAccepted,
) -> Result<Announcement, NotAnnounced> {
    let ticket = ticket
        .filter(|t| t.id == event.ticket_id)
        .ok_or_else(|| NotAnnounced::NoTicket(event.ticket_id.clone()))?;
    if ticket.state != TicketState::Accepted {
        return Err(NotAnnounced::NotAccepted {
            id: ticket.id,
            state: ticket.state,
        });
    }
    let acceptance = ticket
        .acceptance()
        .ok_or_else(|| NotAnnounced::NoRecord(ticket.id.clone()))?;
    if acceptance.at != event.accepted_at {
        return Err(NotAnnounced::OtherAcceptance {
            id: ticket.id,
            ticket_at: acceptance.at.to_rfc3339(),
            event_at: event.accepted_at.to_rfc3339(),
        });
    }
    Ok(Announcement { ticket, acceptance })
}

/// The SNS message: the same ten attributes as decisions and results
/// (`kind` = `accepted`, `outcome` = `accepted`), the body the `Drift
/// Accepted` detail rebuilt from the ticket.
pub fn sns_message(a: &Announcement) -> SnsMessage {
    let t = &a.ticket;
    let verdict = t.decision.as_ref().map(|d| &d.verdict);
    let attributes = [
        ("kind", "accepted".to_string()),
        ("severity", t.severity.as_str().to_string()),
        (
            "verdict",
            verdict.map_or("unknown", |v| v.action.as_str()).to_string(),
        ),
        ("outcome", "accepted".to_string()),
        ("account", render::or_unknown(&t.fingerprint.account)),
        ("region", render::or_unknown(&t.fingerprint.region)),
        ("stack", render::or_unknown(&t.fingerprint.stack)),
        (
            "resource_type",
            render::or_unknown(t.resource.resource_type.as_deref().unwrap_or("")),
        ),
        ("ticket_state", t.state.as_str().to_string()),
        ("dry_run", verdict.is_some_and(|v| v.dry_run).to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let subject = format!(
        "[driftguard] {} accepted: {}/{} ({}) {} {}",
        t.severity.as_str().to_ascii_uppercase(),
        t.fingerprint.stack,
        t.fingerprint.logical_id,
        render::account_region(&t.fingerprint.account, &t.fingerprint.region),
        t.display_id(),
        t.state.as_str()
    );
    let body = serde_json::to_value(DriftAccepted::of(t, &a.acceptance)).unwrap_or(Value::Null);
    SnsMessage {
        subject: render::ascii_subject(&subject),
        body: body.to_string(),
        attributes,
    }
}

/// The Slack message: who accepted, why, and the codify snippet
/// ([`render::accepted_slack_message`]).
pub fn slack_message(a: &Announcement) -> Value {
    render::accepted_slack_message(&a.ticket, &a.acceptance.by, &a.acceptance.reason)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::notify::samples;

    fn event() -> (Ticket, DriftAccepted) {
        let ticket = samples::accepted_ticket();
        let detail = samples::drift_accepted();
        (ticket, detail)
    }

    #[test]
    fn an_accepted_ticket_is_announced_from_the_ticket() {
        let (ticket, detail) = event();
        let a = announcement(Some(ticket.clone()), &detail).unwrap();
        assert_eq!(a.acceptance.by, "carol");
        let sns = sns_message(&a);
        assert_eq!(
            sns.attributes.len(),
            crate::notify::sns::MAX_MESSAGE_ATTRIBUTES
        );
        let body: Value = serde_json::from_str(&sns.body).unwrap();
        assert_eq!(body, serde_json::to_value(&detail).unwrap());
        insta::assert_snapshot!(
            "accepted-ticket__sns",
            format!(
                "subject: {}\nattributes: {:#?}",
                sns.subject, sns.attributes
            )
        );
        assert_eq!(
            slack_message(&a),
            render::accepted_slack_message(
                &ticket,
                "carol",
                "the migration job needs it until Friday"
            )
        );
    }

    #[test]
    fn a_forged_event_announces_only_what_the_ticket_says() {
        let (ticket, mut detail) = event();
        detail.accepted_by = "mallory".into();
        detail.reason = "<!channel> trust me".into();
        let a = announcement(Some(ticket), &detail).unwrap();
        let sns = sns_message(&a);
        let slack = slack_message(&a).to_string();
        for text in [&sns.body, &slack] {
            assert!(
                !text.contains("mallory") && !text.contains("trust me"),
                "{text}"
            );
        }
        assert!(slack.contains("carol"), "{slack}");
    }

    #[test]
    fn nothing_is_announced_unless_the_ticket_is_accepted_by_that_acceptance() {
        let (ticket, detail) = event();
        assert!(matches!(
            announcement(None, &detail),
            Err(NotAnnounced::NoTicket(_))
        ));
        let mut open = ticket.clone();
        open.state = TicketState::Open;
        assert!(matches!(
            announcement(Some(open), &detail),
            Err(NotAnnounced::NotAccepted {
                state: TicketState::Open,
                ..
            })
        ));
        let mut other = ticket.clone();
        other.id = "DG-000000000000".into();
        assert!(matches!(
            announcement(Some(other), &detail),
            Err(NotAnnounced::NoTicket(_))
        ));
        let mut earlier = detail.clone();
        earlier.accepted_at -= chrono::Duration::hours(1);
        let err = announcement(Some(ticket.clone()), &earlier).unwrap_err();
        assert!(matches!(err, NotAnnounced::OtherAcceptance { .. }), "{err}");
        let mut forgotten = ticket;
        forgotten.history.clear();
        assert!(matches!(
            announcement(Some(forgotten), &detail),
            Err(NotAnnounced::NoRecord(_))
        ));
    }

    #[test]
    fn the_envelope_parses_and_other_events_are_not_this_one() {
        let envelope = samples::envelope_for(&samples::drift_accepted());
        let parsed = AcceptedEvent::parse(&envelope).unwrap().unwrap();
        assert_eq!(parsed.detail, samples::drift_accepted());
        assert_eq!(parsed.id, envelope["id"].as_str().unwrap());
        let decision = samples::envelope_for(&samples::console_port_22_decision());
        assert_eq!(AcceptedEvent::parse(&decision).unwrap(), None);
        let mut bad = envelope;
        bad["detail"] = serde_json::json!({ "ticket_id": 1 });
        let err = AcceptedEvent::parse(&bad).unwrap_err();
        assert!(err.to_string().contains("Drift Accepted"), "{err}");
    }
}
