//! The Slack incoming-webhook payloads: Block Kit blocks plus the `text`
//! fallback, for bus events and for tickets accepted on purpose.
use serde_json::{json, Value};

use driftguard_model::domain::{display_id, Ticket, TicketState};

use super::event::{BusEvent, TicketFacts};
use super::plain::plain_text;
use super::text::{code, escape, or_unknown, truncate};
use super::view::View;
use super::{SLACK_FIELD_MAX, SLACK_HEADER_MAX, SLACK_SECTION_MAX, SLACK_TEXT_MAX};

/// The Slack incoming-webhook payload: Block Kit plus the `text` fallback.
pub fn slack_message(event: &BusEvent, facts: &TicketFacts) -> Value {
    let view = View::of(event, facts);
    let mut blocks = vec![json!({
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": truncate(&format!("{} {}", view.emoji(), view.headline()), SLACK_HEADER_MAX),
            "emoji": true,
        }
    })];
    blocks.push(section(&format!(
        "*What changed*\n{}",
        view.what_changed_mrkdwn()
    )));
    blocks.push(section(&format!("*Who*\n{}", view.who_mrkdwn())));
    blocks.push(json!({
        "type": "section",
        "text": { "type": "mrkdwn", "text": truncate(&view.where_title(), SLACK_SECTION_MAX) },
        "fields": view.where_fields(),
    }));
    blocks.push(json!({ "type": "divider" }));
    blocks.push(section(&format!(
        "*What driftguard {}*\n{}",
        view.does_or_did(),
        view.action_mrkdwn()
    )));
    blocks.push(json!({
        "type": "section",
        "fields": [
            field(&format!("*Ticket*\n`{}`", code(display_id(view.ticket_id)))),
            field(&format!("*State*\n{}", view.ticket_state.as_str())),
            field(&format!("*Severity*\n{}", view.severity.map_or("unknown", |s| s.as_str()))),
            field(&format!("*{}*\n{}", view.verdict_or_outcome_title(), view.verdict_or_outcome())),
        ],
    }));
    blocks.push(section(&format!(
        "*Next step*\n{}",
        view.next_step_mrkdwn()
    )));
    blocks.push(json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": truncate(&view.context_line(event), SLACK_SECTION_MAX) }],
    }));
    json!({
        "text": plain_text(event, facts),
        "blocks": blocks,
    })
}

/// The codify snippet for an accepted ticket, as Slack blocks: what to put in
/// the template to keep the drift (`crate::codify`; secrets summarised as in
/// every other message). Empty when the ticket is not ACCEPTED or has nothing
/// to codify.
pub fn codify_blocks(ticket: &Ticket) -> Vec<Value> {
    if ticket.state != TicketState::Accepted {
        return Vec::new();
    }
    let Ok(mut c) = crate::codify::from_ticket(ticket, None) else {
        return Vec::new();
    };
    for e in &mut c.edits {
        if let crate::codify::Edit::Set { property, value } = e {
            let path = crate::notify::redact::path_segments(&format!("/{property}"));
            *value = crate::notify::redact::redact(&path, value);
        }
    }
    // No backtick run that would end the code block early.
    let snippet = truncate(
        &crate::codify::snippet(&c).replace('`', "'"),
        SLACK_SECTION_MAX - 200,
    );
    vec![
        section(&format!(
            "*Keep it in the template*\nThe drift was accepted: put this under `Resources` so the template says what `{}` now is. For the exact diff of your template run `driftguard codify {} --template FILE`.",
            code(&c.logical_id),
            code(&c.ticket_id)
        )),
        section(&format!("```{}```", escape(&snippet))),
    ]
}

/// The Slack message for a ticket accepted on purpose (`driftguard accept`):
/// who accepted it and why, and the codify snippet.
pub fn accepted_slack_message(ticket: &Ticket, by: &str, reason: &str) -> Value {
    let resource = format!(
        "{}/{}",
        ticket.fingerprint.stack, ticket.fingerprint.logical_id
    );
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": truncate(&format!("✅ Drift accepted: {resource}"), SLACK_HEADER_MAX),
                "emoji": true,
            }
        }),
        section(&format!(
            "*Accepted by* {}\n*Why* {}\n*Where* account `{}`, region `{}`",
            escape(by),
            escape(reason),
            code(&or_unknown(&ticket.fingerprint.account)),
            code(&or_unknown(&ticket.fingerprint.region))
        )),
    ];
    blocks.extend(codify_blocks(ticket));
    blocks.push(json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": format!("ticket `{}` · {}", code(ticket.display_id()), ticket.state.as_str()) }],
    }));
    json!({
        "text": truncate(
            &escape(&format!(
                "driftguard: drift on {resource} (account {}, region {}) accepted by {by}: {reason}",
                or_unknown(&ticket.fingerprint.account),
                or_unknown(&ticket.fingerprint.region)
            )),
            SLACK_TEXT_MAX
        ),
        "blocks": blocks,
    })
}

pub(super) fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": truncate(text, SLACK_SECTION_MAX) } })
}

pub(super) fn field(text: &str) -> Value {
    json!({ "type": "mrkdwn", "text": truncate(text, SLACK_FIELD_MAX) })
}
