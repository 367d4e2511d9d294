//! The plain-text fallback: what notifications and clients without blocks show.
use super::event::{BusEvent, TicketFacts};
use super::text::{escape, truncate};
use super::view::View;
use super::SLACK_TEXT_MAX;

/// The plain-text fallback (notifications, clients without blocks).
pub fn plain_text(event: &BusEvent, facts: &TicketFacts) -> String {
    let view = View::of(event, facts);
    let mut lines = vec![
        format!("driftguard: {}", view.headline()),
        format!(
            "Ticket {} ({}), severity {}",
            view.ticket_id,
            view.ticket_state.as_str(),
            view.severity.map_or("unknown", |s| s.as_str())
        ),
        format!("What: {}", view.what_changed_plain()),
        format!("Who: {}", view.who_plain()),
        format!("Where: {}", view.where_plain()),
        format!("Driftguard: {}", view.action_plain()),
        format!("Next: {}", view.next_step_plain()),
    ];
    lines.retain(|l| !l.is_empty());
    truncate(&escape(&lines.join("\n")), SLACK_TEXT_MAX)
}
