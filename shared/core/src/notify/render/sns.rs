//! The SNS message: a subject SNS accepts, the attributes subscribers filter
//! on, and the whole detail (secrets summarised) as the body.
use std::collections::BTreeMap;

use super::event::{BusEvent, NotifyEvent, TicketFacts};
use super::text::or_unknown;
use super::view::{result_mode, View};
use super::SNS_SUBJECT_MAX;
use driftguard_model::domain::display_id;

/// What gets published to SNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsMessage {
    /// At most 100 printable ASCII characters.
    pub subject: String,
    /// The full JSON detail.
    pub body: String,
    /// String message attributes subscribers filter on.
    pub attributes: BTreeMap<String, String>,
}

/// The SNS message for an event.
pub fn sns_message(event: &BusEvent, facts: &TicketFacts) -> SnsMessage {
    let view = View::of(event, facts);
    let attributes = [
        ("kind", event.event.kind().to_string()),
        (
            "severity",
            view.severity.map_or("unknown", |s| s.as_str()).to_string(),
        ),
        (
            "verdict",
            view.verdict.map_or("unknown", |a| a.as_str()).to_string(),
        ),
        ("outcome", view.outcome_label().to_string()),
        ("account", or_unknown(&view.account)),
        ("region", or_unknown(&view.region)),
        ("stack", or_unknown(view.stack_name.unwrap_or(""))),
        (
            "resource_type",
            or_unknown(view.resource_type.unwrap_or("")),
        ),
        // No ticket_id: unique per ticket, useless in a filter policy (it is in the
        // body), and SNS allows at most 10 attributes (crate::notify::sns::MAX_MESSAGE_ATTRIBUTES).
        ("ticket_state", view.ticket_state.as_str().to_string()),
        ("dry_run", view.dry_run.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    SnsMessage {
        subject: subject(&view),
        // The whole detail, with secret values and large documents summarised.
        body: crate::notify::redact::redact_detail(&event.detail).to_string(),
        attributes,
    }
}

/// A subject SNS accepts: printable ASCII, one line, at most 100 characters.
fn subject(view: &View<'_>) -> String {
    let severity = view
        .severity
        .map_or("UNKNOWN", |s| s.as_str())
        .to_ascii_uppercase();
    let what = match view.event {
        NotifyEvent::Decision(d) if d.decision.held.is_some() => "held".to_string(),
        NotifyEvent::Decision(d) => format!(
            "{}{}",
            d.decision.verdict.action.as_str(),
            view.mode().replace("approval required", "approval")
        ),
        NotifyEvent::Result(r) => {
            format!("{}{}", r.outcome.as_str().replace('_', " "), result_mode(r))
        }
    };
    let raw = format!(
        "[driftguard] {severity} {what}: {} ({}) {} {}",
        view.target_label(),
        account_region(&view.account, &view.region),
        display_id(view.ticket_id),
        view.ticket_state.as_str()
    );
    ascii_subject(&raw)
}

/// `111111111111 eu-west-1` for subjects (`unknown` for a missing part).
pub(in crate::notify) fn account_region(account: &str, region: &str) -> String {
    format!("{} {}", or_unknown(account), or_unknown(region))
}

/// `raw` as an SNS subject: printable ASCII, at most 100 characters.
pub(in crate::notify) fn ascii_subject(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.len() <= SNS_SUBJECT_MAX {
        return cleaned.to_string();
    }
    // ASCII only here, so byte indexing is character indexing.
    format!("{}...", cleaned[..SNS_SUBJECT_MAX - 3].trim_end())
}
