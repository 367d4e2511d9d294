//! Pure rendering of driftguard bus events into messages people can act on:
//! the SNS subject, filterable attributes and body, and a Slack Block Kit
//! payload with a plain-text fallback. No I/O.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use driftguard_model::domain::{
    Action, Actor, ActorKind, Change, DifferenceKind, Drift, Identity, Ownership, Plan,
    PropertyDifference, Severity, Ticket, TicketState,
};
use driftguard_model::events::{self, DriftDecision, RemediationOutcome, RemediationResult};

/// SNS rejects subjects longer than 100 characters.
pub const SNS_SUBJECT_MAX: usize = 100;
/// Slack: `header` blocks take at most 150 characters of plain text.
pub const SLACK_HEADER_MAX: usize = 150;
/// Slack: a `section` block's text is at most 3000 characters.
pub const SLACK_SECTION_MAX: usize = 3000;
/// Slack: each `section` field is at most 2000 characters.
pub const SLACK_FIELD_MAX: usize = 2000;
/// The fallback `text`: Slack accepts far more, but notifications show little of it.
pub const SLACK_TEXT_MAX: usize = 3000;
/// Property differences listed before "…and N more".
const MAX_DIFFERENCES_SHOWN: usize = 8;
/// One value (before or after) shown in a difference.
const VALUE_PREVIEW_MAX: usize = 240;
/// Planned calls listed before "…and N more".
const MAX_CALLS_SHOWN: usize = 5;

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

impl BusEvent {
    /// Parse an EventBridge envelope. `Ok(None)` for any other event (other
    /// sources, approvals, sweep summaries; `Drift Accepted` is
    /// `super::accepted::AcceptedEvent`).
    pub fn parse(envelope: &Value) -> Result<Option<BusEvent>, EnvelopeError> {
        let text = |field: &'static str| envelope.get(field).and_then(Value::as_str);
        if text("source") != Some(events::SOURCE) {
            return Ok(None);
        }
        let detail_type = text("detail-type").ok_or(EnvelopeError::MissingField("detail-type"))?;
        if detail_type != events::DRIFT_DECISION && detail_type != events::REMEDIATION_RESULT {
            return Ok(None);
        }
        let id = text("id")
            .filter(|s| !s.is_empty())
            .ok_or(EnvelopeError::MissingField("id"))?;
        let detail = envelope
            .get("detail")
            .filter(|d| d.is_object())
            .ok_or(EnvelopeError::MissingField("detail"))?;
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
        // body), and SNS allows at most 10 attributes (super::sns::MAX_MESSAGE_ATTRIBUTES).
        ("ticket_state", view.ticket_state.as_str().to_string()),
        ("dry_run", view.dry_run.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    SnsMessage {
        subject: subject(&view),
        // The whole detail, with secret values and large documents summarised.
        body: super::redact::redact_detail(&event.detail).to_string(),
        attributes,
    }
}

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
            field(&format!("*Ticket*\n`{}`", code(view.ticket_id))),
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
            let path = super::redact::path_segments(&format!("/{property}"));
            *value = super::redact::redact(&path, value);
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
        "elements": [{ "type": "mrkdwn", "text": format!("ticket `{}` · {}", code(&ticket.id), ticket.state.as_str()) }],
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

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": truncate(text, SLACK_SECTION_MAX) } })
}

fn field(text: &str) -> Value {
    json!({ "type": "mrkdwn", "text": truncate(text, SLACK_FIELD_MAX) })
}

pub(super) fn or_unknown(s: &str) -> String {
    if s.is_empty() {
        "unknown".to_string()
    } else {
        s.to_string()
    }
}

/// Everything the renderers need, pulled once from either event kind.
struct View<'a> {
    ticket_id: &'a str,
    ticket_state: TicketState,
    account: String,
    region: String,
    stack_name: Option<&'a str>,
    stack_id: Option<&'a str>,
    logical_id: Option<&'a str>,
    physical_id: Option<&'a str>,
    resource_type: Option<&'a str>,
    change: Option<&'a Change>,
    actor: Option<&'a Actor>,
    ownership: &'a Ownership,
    severity: Option<Severity>,
    verdict: Option<Action>,
    dry_run: bool,
    plan: Option<&'a Plan>,
    event: &'a NotifyEvent,
}

impl<'a> View<'a> {
    fn of(event: &'a BusEvent, facts: &TicketFacts) -> Self {
        let (ticket_id, ticket_state, change, actor, ownership, plan) = match &event.event {
            NotifyEvent::Decision(d) => (
                d.ticket_id.as_str(),
                d.ticket_state,
                Some(&d.change),
                Some(&d.actor),
                &d.ownership,
                d.plan.as_ref(),
            ),
            NotifyEvent::Result(r) => (
                r.ticket_id.as_str(),
                r.ticket_state,
                r.change.as_ref(),
                r.actor.as_ref(),
                &r.ownership,
                r.plan.as_ref(),
            ),
        };
        let (severity, verdict, dry_run) = match &event.event {
            NotifyEvent::Decision(d) => (
                Some(d.decision.verdict.severity),
                Some(d.decision.verdict.action),
                d.decision.verdict.dry_run,
            ),
            NotifyEvent::Result(r) => (facts.severity, facts.verdict, r.dry_run),
        };
        let membership = ownership.membership();
        let hint = change.and_then(|c| c.stack_hint.as_ref());
        let non_empty = |s: &'a str| Some(s).filter(|s| !s.is_empty());
        // The change's account and region, else the ticket's, else the
        // envelope's (where driftguard runs: the same in one account).
        Self {
            ticket_id,
            ticket_state,
            account: change
                .map(|c| c.account.clone())
                .filter(|a| !a.is_empty())
                .or_else(|| facts.account.clone())
                .unwrap_or_else(|| event.account.clone()),
            region: change
                .map(|c| c.region.clone())
                .filter(|r| !r.is_empty())
                .or_else(|| facts.region.clone())
                .unwrap_or_else(|| event.region.clone()),
            stack_name: membership
                .map(|m| m.stack_name.as_str())
                .or(hint.map(|h| stack_name_of(&h.stack))),
            stack_id: membership
                .map(|m| m.stack_id.as_str())
                .or(hint.map(|h| h.stack.as_str()))
                .and_then(non_empty),
            logical_id: membership
                .map(|m| m.logical_id.as_str())
                .or(hint.and_then(|h| h.logical_id.as_deref())),
            physical_id: change
                .and_then(|c| c.resource.physical_id.as_deref())
                .and_then(non_empty),
            resource_type: change
                .and_then(|c| c.resource.resource_type.as_deref())
                .or(membership.and_then(|m| m.resource_type.as_deref()))
                .and_then(non_empty),
            change,
            actor,
            ownership,
            severity,
            verdict,
            dry_run,
            plan,
            event: &event.event,
        }
    }

    fn decision(&self) -> Option<&'a DriftDecision> {
        match self.event {
            NotifyEvent::Decision(d) => Some(d),
            NotifyEvent::Result(_) => None,
        }
    }

    fn result(&self) -> Option<&'a RemediationResult> {
        match self.event {
            NotifyEvent::Result(r) => Some(r),
            NotifyEvent::Decision(_) => None,
        }
    }

    fn held(&self) -> Option<&'a str> {
        self.decision().and_then(|d| d.decision.held.as_deref())
    }

    fn requires_approval(&self) -> bool {
        match self.event {
            NotifyEvent::Decision(d) => {
                d.decision.verdict.requires_approval && d.decision.verdict.action.acts()
            }
            NotifyEvent::Result(r) => r.outcome == RemediationOutcome::AwaitingApproval,
        }
    }

    /// `held`/`decided` for decisions, the outcome for results: an SNS attribute.
    fn outcome_label(&self) -> &'static str {
        match self.event {
            NotifyEvent::Decision(_) if self.held().is_some() => "held",
            NotifyEvent::Decision(_) => "decided",
            NotifyEvent::Result(r) => r.outcome.as_str(),
        }
    }

    /// `web-prod/WebSecurityGroup`, else the resource itself.
    fn target_label(&self) -> String {
        match (self.stack_name, self.logical_id) {
            // A stack-level change: the stack is the resource.
            (Some(s), Some(l)) if s != l => format!("{s}/{l}"),
            (Some(s), _) => s.to_string(),
            _ => self
                .change
                .map(|c| c.resource.label())
                .unwrap_or_else(|| self.ownership.label()),
        }
    }

    fn mode(&self) -> &'static str {
        if self.requires_approval() {
            " (approval required)"
        } else if self.dry_run {
            " (dry-run)"
        } else {
            ""
        }
    }

    fn headline(&self) -> String {
        let target = self.target_label();
        match self.event {
            NotifyEvent::Decision(d) => {
                if let Some(_held) = &d.decision.held {
                    return format!("Drift on {target}: held, the stack is busy");
                }
                match d.decision.verdict.action {
                    Action::Ignore => format!("Change to {target} ignored"),
                    Action::Allow => format!("Change to {target} allowed"),
                    Action::Ticket => format!("Drift on {target}: ticket opened"),
                    Action::Revert => format!("Drift on {target}: revert{}", self.mode()),
                    Action::Rollback => format!("Drift on {target}: stack rollback{}", self.mode()),
                }
            }
            NotifyEvent::Result(r) => match r.outcome {
                RemediationOutcome::Resolved => format!("{target} reverted and back in sync"),
                RemediationOutcome::Failed => format!("Remediation of {target} failed"),
                RemediationOutcome::DryRun => {
                    format!("Dry-run: remediation of {target} planned, nothing changed")
                }
                RemediationOutcome::AwaitingApproval => {
                    format!("Remediation of {target} awaits approval")
                }
                RemediationOutcome::Refused => format!("Remediation of {target} refused"),
                RemediationOutcome::Held => {
                    format!("Remediation of {target} held: the stack is busy")
                }
            },
        }
    }

    fn emoji(&self) -> &'static str {
        match self.event {
            NotifyEvent::Decision(d) if d.decision.held.is_some() => ":double_vertical_bar:",
            NotifyEvent::Decision(d) => match d.decision.verdict.action {
                Action::Ignore | Action::Allow => ":information_source:",
                _ => match d.decision.verdict.severity {
                    Severity::Critical => ":rotating_light:",
                    Severity::High => ":red_circle:",
                    Severity::Medium => ":large_orange_diamond:",
                    Severity::Low => ":large_blue_circle:",
                },
            },
            NotifyEvent::Result(r) => match r.outcome {
                RemediationOutcome::Resolved => ":white_check_mark:",
                RemediationOutcome::Failed => ":x:",
                RemediationOutcome::DryRun => ":memo:",
                RemediationOutcome::AwaitingApproval => ":hourglass_flowing_sand:",
                RemediationOutcome::Refused => ":no_entry:",
                RemediationOutcome::Held => ":double_vertical_bar:",
            },
        }
    }

    /// The drift to show: out-of-template drift (CloudFormation cannot see
    /// it), else CloudFormation's when it has differences, else the event's.
    fn shown_drift(&self) -> Option<&'a Drift> {
        match self.event {
            NotifyEvent::Decision(d) => d
                .event_drift
                .as_ref()
                .filter(|e| e.status == driftguard_model::domain::DriftStatus::OutOfTemplate)
                .or(d.drift.as_ref().filter(|d| !d.differences.is_empty()))
                .or(d.event_drift.as_ref())
                .or(d.drift.as_ref()),
            NotifyEvent::Result(r) => r.verified.as_ref(),
        }
    }

    fn what_changed_mrkdwn(&self) -> String {
        let mut out = String::new();
        if let Some(c) = self.change {
            out.push_str(&format!(
                "`{}` on {}",
                code(&c.api()),
                escape(&c.resource.label())
            ));
        }
        let drift = self.shown_drift();
        let after = self.result().is_some();
        match drift {
            Some(d) if !d.differences.is_empty() => {
                let title = if after {
                    format!("Still different after remediation ({}):", d.status.as_str())
                } else {
                    format!("{} ({}):", drift_origin(d), d.status.as_str())
                };
                push_line(&mut out, &title);
                // Leave room for the "*What changed*" title and the "more" line.
                let budget = SLACK_SECTION_MAX - 200;
                let mut shown = 0;
                for diff in d.differences.iter().take(MAX_DIFFERENCES_SHOWN) {
                    let line = difference_mrkdwn(diff);
                    if out.chars().count() + line.chars().count() + 1 > budget {
                        break;
                    }
                    push_line(&mut out, &line);
                    shown += 1;
                }
                if d.differences.len() > shown {
                    push_line(
                        &mut out,
                        &format!("…and {} more", d.differences.len() - shown),
                    );
                }
            }
            Some(d) if d.status == driftguard_model::domain::DriftStatus::Deleted => {
                push_line(&mut out, "CloudFormation reports the resource *DELETED*");
            }
            Some(d) if after => {
                push_line(
                    &mut out,
                    &format!(
                        "After remediation CloudFormation reports *{}*",
                        d.status.as_str()
                    ),
                );
            }
            _ => {
                if let Some(c) = self.change.filter(|c| !c.request.is_null()) {
                    push_line(
                        &mut out,
                        &format!(
                            "Request: `{}`",
                            code(&preview(&c.request, VALUE_PREVIEW_MAX * 2))
                        ),
                    );
                }
            }
        }
        if out.is_empty() {
            out.push_str("No details in the event.");
        }
        out
    }

    fn what_changed_plain(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = self.change {
            parts.push(format!("{} on {}", c.api(), c.resource.label()));
        }
        if let Some(d) = self.shown_drift() {
            if d.status == driftguard_model::domain::DriftStatus::OutOfTemplate {
                parts.push(
                    "out-of-template drift: a property the template does not declare".to_string(),
                );
            }
            let diffs: Vec<String> = d
                .differences
                .iter()
                .take(3)
                .map(|diff| {
                    let value = |v: &Option<Value>| {
                        v.as_ref()
                            .map_or("nothing".to_string(), |v| preview_at(&diff.path, v, 120))
                    };
                    match diff.kind {
                        DifferenceKind::Add => {
                            format!("{} added {}", diff.path, value(&diff.actual))
                        }
                        DifferenceKind::Remove => {
                            format!("{} removed (was {})", diff.path, value(&diff.expected))
                        }
                        DifferenceKind::NotEqual => {
                            format!(
                                "{} {} -> {}",
                                diff.path,
                                value(&diff.expected),
                                value(&diff.actual)
                            )
                        }
                    }
                })
                .collect();
            if !diffs.is_empty() {
                let more = d.differences.len().saturating_sub(diffs.len());
                let more = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                parts.push(format!("{}{more}", diffs.join(", ")));
            }
            if self.result().is_some() {
                parts.push(format!(
                    "after remediation CloudFormation reports {}",
                    d.status.as_str()
                ));
            }
        }
        parts.join("; ")
    }

    fn who_mrkdwn(&self) -> String {
        let Some(actor) = self.actor else {
            return "Not recorded in this event.".to_string();
        };
        let mut out = format!("*{}*: `{}`", actor_how(actor.kind), code(&actor.principal));
        if let Some(session) = actor.session_name.as_deref().filter(|s| !s.is_empty()) {
            out.push_str(&format!(" (session `{}`)", code(session)));
        }
        for e in actor.evidence.iter().take(6) {
            push_line(&mut out, &format!("• {}", escape(&truncate(e, 300))));
        }
        if let Some(identity) = self.change.map(|c| &c.identity) {
            let extra = identity_extra(identity);
            if !extra.is_empty() {
                push_line(&mut out, &format!("• {}", escape(&extra)));
            }
        }
        out
    }

    fn who_plain(&self) -> String {
        let Some(actor) = self.actor else {
            return String::new();
        };
        let mut out = format!("{} {}", actor_how(actor.kind), actor.principal);
        if let Some(session) = actor.session_name.as_deref().filter(|s| !s.is_empty()) {
            out.push_str(&format!(" (session {session})"));
        }
        if let Some(identity) = self.change.map(|c| &c.identity) {
            let extra = identity_extra(identity);
            if !extra.is_empty() {
                out.push_str(&format!("; {extra}"));
            }
        }
        out
    }

    fn where_fields(&self) -> Vec<Value> {
        let stack = match (self.stack_name, self.stack_id) {
            (Some(name), Some(id)) => link(&stack_console_url(&self.region, id), name),
            (Some(name), None) => escape(name),
            _ => escape(&self.ownership.label()),
        };
        let physical = match self.physical_id {
            Some(id) => match self
                .resource_type
                .and_then(|t| resource_console_url(t, id, &self.region))
            {
                Some(url) => link(&url, id),
                None => format!("`{}`", code(id)),
            },
            None => "unknown".to_string(),
        };
        vec![
            field(&format!(
                "*Account*\n{}",
                escape(&or_unknown(&self.account))
            )),
            field(&format!("*Region*\n{}", escape(&or_unknown(&self.region)))),
            field(&format!("*Stack*\n{stack}")),
            field(&format!(
                "*Logical ID*\n`{}`",
                code(self.logical_id.unwrap_or("unknown"))
            )),
            field(&format!("*Physical ID*\n{physical}")),
            field(&format!(
                "*Type*\n{}",
                escape(self.resource_type.unwrap_or("unknown"))
            )),
        ]
    }

    /// Do the Where fields link to the console?
    fn has_console_links(&self) -> bool {
        self.stack_name.is_some() && self.stack_id.is_some()
            || self.physical_id.is_some_and(|id| {
                self.resource_type
                    .and_then(|t| resource_console_url(t, id, &self.region))
                    .is_some()
            })
    }

    /// `*Where*`, and with console links which account they need: a console
    /// URL names the region, never the account, so a link opens in whatever
    /// account the browser is signed in to. To reach another account one
    /// switches to a role there: "On the Switch Role page, type the account
    /// ID number or the account alias and the name of the role"
    /// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_switch-role-console.html>).
    fn where_title(&self) -> String {
        if !self.has_console_links() {
            return "*Where*".to_string();
        }
        format!(
            "*Where*\nConsole links open in region `{}` of the account you are signed in to: sign in or switch role to account `{}` first.",
            code(&or_unknown(&self.region)),
            code(&or_unknown(&self.account))
        )
    }

    fn where_plain(&self) -> String {
        format!(
            "account {}, region {}, stack {}, logical id {}, physical id {} ({})",
            or_unknown(&self.account),
            or_unknown(&self.region),
            self.stack_name.unwrap_or("unknown"),
            self.logical_id.unwrap_or("unknown"),
            self.physical_id.unwrap_or("unknown"),
            self.resource_type.unwrap_or("unknown type"),
        )
    }

    fn does_or_did(&self) -> &'static str {
        match self.event {
            NotifyEvent::Decision(_) => "will do",
            NotifyEvent::Result(_) => "did",
        }
    }

    fn action_mrkdwn(&self) -> String {
        let mut out = escape(&self.action_summary());
        if let Some(plan) = self.plan {
            push_line(&mut out, &plan_mrkdwn(plan, self.dry_run));
        }
        out
    }

    fn action_plain(&self) -> String {
        let mut out = self.action_summary();
        if let Some(plan) = self.plan {
            let calls: Vec<String> = plan
                .calls
                .iter()
                .map(|c| format!("{}:{}", c.service, c.operation))
                .collect();
            out.push_str(&format!(
                "; plan {} ({}){}",
                plan.strategy.as_str(),
                calls.join(", "),
                if self.dry_run {
                    ", dry-run: nothing will be changed"
                } else {
                    ""
                }
            ));
        }
        out
    }

    fn action_summary(&self) -> String {
        match self.event {
            NotifyEvent::Decision(d) => {
                let v = &d.decision.verdict;
                if let Some(held) = &d.decision.held {
                    return format!(
                        "Nothing yet: {held}. Then the verdict is {}{} — {}",
                        v.action,
                        self.mode(),
                        v.reason
                    );
                }
                let mut s = match v.action {
                    Action::Ignore => "Nothing: the change is ignored".to_string(),
                    Action::Allow => "Nothing: the change is allowed".to_string(),
                    Action::Ticket => "Opens a ticket; changes nothing".to_string(),
                    Action::Revert if v.dry_run => {
                        "Plans a revert to the template (dry-run: nothing will be changed)"
                            .to_string()
                    }
                    Action::Revert if v.requires_approval => {
                        "Reverts to the template once approved".to_string()
                    }
                    Action::Revert => "Reverts the resource to the template now".to_string(),
                    Action::Rollback if v.dry_run => {
                        "Plans a stack rollback (dry-run: nothing will be changed)".to_string()
                    }
                    Action::Rollback if v.requires_approval => {
                        "Rolls the stack back once approved".to_string()
                    }
                    Action::Rollback => "Rolls the stack back now".to_string(),
                };
                s.push_str(&format!(" — {}", v.reason));
                if let Some(from) = v.capped_from {
                    s.push_str(&format!(" (policy asked for {from})"));
                }
                s
            }
            NotifyEvent::Result(r) => {
                let what = match r.outcome {
                    RemediationOutcome::Resolved => {
                        "Remediated; a fresh drift check reports the resource in sync"
                    }
                    RemediationOutcome::Failed => {
                        "Tried to remediate; the resource is still drifted or the call failed"
                    }
                    RemediationOutcome::DryRun => {
                        "Dry-run: made the plan below and changed nothing"
                    }
                    RemediationOutcome::AwaitingApproval => {
                        "Parked the plan below until someone approves it"
                    }
                    RemediationOutcome::Refused => "Refused to act",
                    RemediationOutcome::Held => {
                        "Waiting: the stack has an operation in progress; re-checked later"
                    }
                };
                format!("{what} — {}", r.reason)
            }
        }
    }

    fn verdict_or_outcome_title(&self) -> &'static str {
        match self.event {
            NotifyEvent::Decision(_) => "Verdict",
            NotifyEvent::Result(_) => "Outcome",
        }
    }

    fn verdict_or_outcome(&self) -> String {
        match self.event {
            NotifyEvent::Decision(d) => {
                format!("{}{}", d.decision.verdict.action.as_str(), self.mode())
            }
            NotifyEvent::Result(r) => format!("{}{}", r.outcome.as_str(), result_mode(r)),
        }
    }

    /// The next step, with `cmd` wrapping each command (backticks for Slack).
    fn next_step(&self, cmd: impl Fn(&str) -> String) -> String {
        let t = self.ticket_id;
        let approve = cmd(&format!("driftguard approve {t}"));
        let accept = cmd(&format!("driftguard accept {t}"));
        let adopt = format!("to keep the change, add it to the template, deploy, then {accept}");
        match self.event {
            NotifyEvent::Decision(d) => {
                if d.decision.held.is_some() {
                    return "Nothing now: driftguard re-checks once the stack operation ends.".to_string();
                }
                let v = &d.decision.verdict;
                match v.action {
                    Action::Ignore | Action::Allow => "Nothing to do. If this should not have been allowed, tighten the policy.".to_string(),
                    Action::Ticket => format!("Undo the change by hand, or {adopt}."),
                    _ if v.requires_approval => format!("Review the plan, then {approve} to run it; or {adopt}."),
                    _ if v.dry_run => format!("Review the plan; turn off dry-run for the rule to let driftguard act; or {adopt}."),
                    _ => format!("Nothing: driftguard is acting and reports the result; {adopt}."),
                }
            }
            NotifyEvent::Result(r) => match r.outcome {
                RemediationOutcome::Resolved => "Nothing: the resource matches the template again. If the change was needed, put it in the template and deploy.".to_string(),
                RemediationOutcome::Failed => format!("Fix it by hand and re-run with {approve}; or {adopt}."),
                RemediationOutcome::DryRun => format!("Review the plan; {approve} to run it for real; or {adopt}."),
                RemediationOutcome::AwaitingApproval => format!("{approve} to run the plan; or {adopt}."),
                RemediationOutcome::Refused => format!("Undo the change by hand; or {adopt}."),
                RemediationOutcome::Held => "Nothing now: driftguard re-checks once the stack operation ends.".to_string(),
            },
        }
    }

    fn next_step_mrkdwn(&self) -> String {
        escape(&self.next_step(|c| format!("`{c}`")))
    }

    fn next_step_plain(&self) -> String {
        self.next_step(|c| c.to_string())
    }

    fn context_line(&self, event: &BusEvent) -> String {
        let mut parts = vec![format!("driftguard {}", event.event.kind())];
        if let Some(c) = self.change {
            parts.push(format!("source {}", c.source.as_str()));
            parts.push(format!("event `{}`", code(&c.event_id)));
            parts.push(format!("changed at {}", c.time.to_rfc3339()));
        }
        match &event.event {
            NotifyEvent::Decision(d) => {
                parts.push(format!("decided at {}", d.decided_at.to_rfc3339()))
            }
            NotifyEvent::Result(r) => {
                parts.push(format!("finished at {}", r.finished_at.to_rfc3339()))
            }
        }
        parts.join(" · ")
    }
}

/// ` (dry-run)` unless the outcome already says so.
fn result_mode(r: &RemediationResult) -> &'static str {
    if r.dry_run && r.outcome != RemediationOutcome::DryRun {
        " (dry-run)"
    } else {
        ""
    }
}

fn push_line(out: &mut String, line: &str) {
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(line);
}

fn drift_origin(d: &Drift) -> &'static str {
    if d.status == driftguard_model::domain::DriftStatus::OutOfTemplate {
        return "Out-of-template drift, a property the template does not declare (CloudFormation drift detection does not check it)";
    }
    match d.origin {
        driftguard_model::domain::DriftOrigin::Cloudformation => "CloudFormation drift detection",
        driftguard_model::domain::DriftOrigin::EventRequest(_) => "From the API request",
    }
}

fn difference_mrkdwn(diff: &PropertyDifference) -> String {
    let value = |v: &Option<Value>| match v {
        Some(v) => format!("`{}`", code(&preview_at(&diff.path, v, VALUE_PREVIEW_MAX))),
        None => "_nothing_".to_string(),
    };
    let path = code(&truncate(&diff.path, 200));
    match diff.kind {
        DifferenceKind::Add => format!("• `{path}` added: {}", value(&diff.actual)),
        DifferenceKind::Remove => format!("• `{path}` removed (was {})", value(&diff.expected)),
        DifferenceKind::NotEqual => format!(
            "• `{path}`: {} → {}",
            value(&diff.expected),
            value(&diff.actual)
        ),
    }
}

fn plan_mrkdwn(plan: &Plan, dry_run: bool) -> String {
    let mut out = format!(
        "*Plan* `{}`{}:",
        plan.strategy.as_str(),
        if dry_run {
            " (dry-run: nothing will be changed)"
        } else {
            ""
        }
    );
    for call in plan.calls.iter().take(MAX_CALLS_SHOWN) {
        push_line(
            &mut out,
            &format!(
                "• `{}:{}` `{}`",
                code(&call.service),
                code(&call.operation),
                code(&preview(&call.parameters, VALUE_PREVIEW_MAX))
            ),
        );
    }
    if plan.calls.len() > MAX_CALLS_SHOWN {
        push_line(
            &mut out,
            &format!("…and {} more calls", plan.calls.len() - MAX_CALLS_SHOWN),
        );
    }
    if !plan.expected.is_empty() {
        push_line(&mut out, &format!("Expected: {}", escape(&plan.expected)));
    }
    for (strategy, why) in plan.skipped.iter().take(3) {
        push_line(
            &mut out,
            &format!(
                "_Skipped `{}`: {}_",
                strategy.as_str(),
                escape(&truncate(why, 200))
            ),
        );
    }
    out
}

fn actor_how(kind: ActorKind) -> &'static str {
    match kind {
        ActorKind::Console => "AWS console",
        ActorKind::Human => "CLI/SDK with a person's credentials",
        ActorKind::Automation => "Role or service",
        ActorKind::BreakGlass => "Break-glass role",
        ActorKind::Pipeline => "Deploy pipeline",
        ActorKind::Driftguard => "driftguard itself",
        ActorKind::Cloudformation => "CloudFormation",
        ActorKind::Unknown => "Unknown",
    }
}

fn identity_extra(identity: &Identity) -> String {
    let mut parts = Vec::new();
    if let Some(ip) = identity.source_ip.as_deref() {
        parts.push(format!("source IP {ip}"));
    }
    if let Some(agent) = identity.user_agent.as_deref() {
        parts.push(format!("user agent {}", truncate(agent, 120)));
    }
    parts.join(" · ")
}

/// The stack name from a stack ARN (`arn:...:stack/NAME/uuid`) or a name.
fn stack_name_of(stack: &str) -> &str {
    match stack.split_once(":stack/") {
        Some((_, rest)) => rest.split('/').next().unwrap_or(rest),
        None => stack,
    }
}

/// CloudFormation console link to a stack (id or name).
pub fn stack_console_url(region: &str, stack_id: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/cloudformation/home?region={region}#/stacks/stackinfo?stackId={}",
        urlencoding::encode(stack_id)
    )
}

/// Console links for the resource types where the URL is easy to build.
pub fn resource_console_url(
    resource_type: &str,
    physical_id: &str,
    region: &str,
) -> Option<String> {
    let id = urlencoding::encode(physical_id);
    Some(match resource_type {
        "AWS::EC2::SecurityGroup" => format!(
            "https://{region}.console.aws.amazon.com/ec2/home?region={region}#SecurityGroup:groupId={id}"
        ),
        "AWS::S3::Bucket" => format!("https://s3.console.aws.amazon.com/s3/buckets/{id}?region={region}"),
        "AWS::IAM::Role" => format!("https://console.aws.amazon.com/iam/home#/roles/details/{id}"),
        "AWS::SSM::Parameter" => format!(
            "https://{region}.console.aws.amazon.com/systems-manager/parameters/{id}/description?region={region}"
        ),
        _ => return None,
    })
}

fn link(url: &str, label: &str) -> String {
    // `|` ends the URL part of a Slack link; labels are ids, keep them readable.
    format!(
        "<{}|{}>",
        url.replace('|', "%7C"),
        escape(label).replace('|', "/")
    )
}

/// Slack mrkdwn control characters (`&`, `<`, `>`) escaped, as Slack asks.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text for inside a `code` span: escaped, and no backtick that would end it.
fn code(text: &str) -> String {
    escape(&text.replace('`', "'"))
}

/// Compact JSON (or the bare string) cut to `max` characters, secrets
/// summarised ([`super::redact`]).
fn preview(value: &Value, max: usize) -> String {
    preview_at("", value, max)
}

/// [`preview`] of a value found at a property path (`/Environment/Variables`).
fn preview_at(path: &str, value: &Value, max: usize) -> String {
    let value = &super::redact::redact(&super::redact::path_segments(path), value);
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    truncate(&text, max)
}

/// Cut to at most `max` characters (not bytes), ending in `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
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
        view.ticket_id,
        view.ticket_state.as_str()
    );
    ascii_subject(&raw)
}

/// `111111111111 eu-west-1` for subjects (`unknown` for a missing part).
pub(super) fn account_region(account: &str, region: &str) -> String {
    format!("{} {}", or_unknown(account), or_unknown(region))
}

/// `raw` as an SNS subject: printable ASCII, at most 100 characters.
pub(super) fn ascii_subject(raw: &str) -> String {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::notify::samples;

    fn facts() -> TicketFacts {
        samples::ticket_facts()
    }

    fn render_all(name: &str, envelope: &Value) {
        let event = BusEvent::parse(envelope).unwrap().unwrap();
        let slack = slack_message(&event, &facts());
        check_slack_limits(&slack);
        let sns = sns_message(&event, &facts());
        assert!(sns.subject.len() <= SNS_SUBJECT_MAX);
        assert!(
            sns.subject.chars().all(|c| (' '..='~').contains(&c)),
            "{}",
            sns.subject
        );
        // The body is the detail, secrets summarised (super::redact).
        assert_eq!(
            serde_json::from_str::<Value>(&sns.body).unwrap(),
            crate::notify::redact::redact_detail(&envelope["detail"])
        );
        insta::assert_json_snapshot!(format!("{name}__slack"), slack);
        insta::assert_snapshot!(
            format!("{name}__sns"),
            format!(
                "subject: {}\nattributes: {:#?}",
                sns.subject, sns.attributes
            )
        );
    }

    fn check_slack_limits(payload: &Value) {
        let blocks = payload["blocks"].as_array().unwrap();
        assert!(blocks.len() <= 50);
        for b in blocks {
            if b["type"] == "header" {
                assert!(b["text"]["text"].as_str().unwrap().chars().count() <= SLACK_HEADER_MAX);
            }
            if let Some(t) = b["text"]["text"].as_str() {
                assert!(t.chars().count() <= SLACK_SECTION_MAX);
            }
            if let Some(fields) = b["fields"].as_array() {
                assert!(fields.len() <= 10);
                for f in fields {
                    assert!(f["text"].as_str().unwrap().chars().count() <= SLACK_FIELD_MAX);
                }
            }
        }
        assert!(payload["text"].as_str().unwrap().chars().count() <= SLACK_TEXT_MAX);
    }

    #[test]
    fn every_sample_renders_within_limits_and_matches_its_snapshot() {
        for (name, envelope) in samples::all_envelopes() {
            render_all(&name, &envelope);
        }
    }

    #[test]
    fn plain_text_fallback_for_the_console_port_22_change() {
        let envelope = samples::envelope_for(&samples::console_port_22_decision());
        let event = BusEvent::parse(&envelope).unwrap().unwrap();
        insta::assert_snapshot!(plain_text(&event, &TicketFacts::default()));
    }

    /// A decision whose change, drift and plan carry secret values: a Lambda
    /// environment variable, a SecureString PutParameter, a large policy document.
    fn secret_laden_decision() -> (DriftDecision, Vec<&'static str>) {
        let mut decision = samples::console_port_22_decision();
        let statements: Vec<Value> = (0..30)
            .map(|i| json!({"Sid": format!("S{i}"), "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::LEAKY-BUCKET-NAME/*"}))
            .collect();
        decision.change.request = json!({
            "name": "/app/db-password", "type": "SecureString", "value": "SECURESTRING-VALUE-1", "overwrite": true,
            "policyDocument": {"Version": "2012-10-17", "Statement": statements},
        });
        decision.drift.as_mut().unwrap().differences = vec![
            PropertyDifference {
                path: "/Environment/Variables/DB_PASSWORD".into(),
                expected: Some(json!("ENV-VALUE-EXPECTED")),
                actual: Some(json!("ENV-VALUE-ACTUAL")),
                kind: DifferenceKind::NotEqual,
            },
            PropertyDifference {
                path: "/Environment/Variables".into(),
                expected: None,
                actual: Some(json!({"API_KEY": "ENV-OBJECT-VALUE"})),
                kind: DifferenceKind::Add,
            },
        ];
        decision.event_drift = None;
        decision.plan.as_mut().unwrap().calls[0].parameters = json!({
            "FunctionName": "orders", "Environment": {"Variables": {"DB_PASSWORD": "PLAN-ENV-VALUE"}}
        });
        let secrets = vec![
            "SECURESTRING-VALUE-1",
            "LEAKY-BUCKET-NAME",
            "ENV-VALUE-EXPECTED",
            "ENV-VALUE-ACTUAL",
            "ENV-OBJECT-VALUE",
            "PLAN-ENV-VALUE",
        ];
        (decision, secrets)
    }

    #[test]
    fn a_secret_value_never_appears_in_slack_sns_or_email_text() {
        let (decision, secrets) = secret_laden_decision();
        let envelope = samples::envelope_for(&decision);
        let event = BusEvent::parse(&envelope).unwrap().unwrap();
        let slack = slack_message(&event, &facts()).to_string();
        let sns = sns_message(&event, &facts());
        let text = plain_text(&event, &facts());
        for secret in &secrets {
            for (channel, rendered) in [
                ("slack", &slack),
                ("sns body", &sns.body),
                ("sns subject", &sns.subject),
                ("text", &text),
            ] {
                assert!(
                    !rendered.contains(secret),
                    "{secret} leaked into {channel}: {rendered}"
                );
            }
        }
        // Names stay, values become summaries.
        assert!(
            slack.contains("DB_PASSWORD") && slack.contains("‹redacted"),
            "{slack}"
        );
        assert!(
            sns.body.contains("/app/db-password") && sns.body.contains("‹document: 30 statements")
        );
        // The plan with a secret is shown summarised, not dropped.
        let slack_value = slack_message(&event, &facts());
        insta::assert_json_snapshot!("decision-with-secrets__slack", slack_value);
    }

    #[test]
    fn long_differences_are_truncated_within_slack_limits() {
        let mut decision = samples::console_port_22_decision();
        let drift = decision.drift.as_mut().unwrap();
        drift.differences = (0..40)
            .map(|i| PropertyDifference {
                path: format!("/Tags/{i}/Value"),
                expected: Some(Value::String("x".repeat(5000))),
                actual: Some(Value::String("é".repeat(5000))),
                kind: DifferenceKind::NotEqual,
            })
            .collect();
        let event = BusEvent::parse(&samples::envelope_for(&decision))
            .unwrap()
            .unwrap();
        let slack = slack_message(&event, &facts());
        check_slack_limits(&slack);
        let what = slack["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(what.contains("more"), "{what}");
    }

    #[test]
    fn out_of_template_drift_is_shown_as_such_over_cloudformations_in_sync() {
        let mut decision = samples::console_port_22_decision();
        let cfn = decision.drift.clone().unwrap();
        let mut in_sync = cfn.clone();
        in_sync.status = driftguard_model::domain::DriftStatus::InSync;
        in_sync.differences.clear();
        in_sync.expected_properties = Some(serde_json::json!({"GroupDescription": "web"}));
        decision.event_drift =
            driftguard_model::domain::drift::out_of_template(&in_sync, Some(&cfn));
        decision.drift = Some(in_sync);
        assert!(decision.event_drift.is_some());
        let event = BusEvent::parse(&samples::envelope_for(&decision))
            .unwrap()
            .unwrap();
        let slack = slack_message(&event, &facts());
        check_slack_limits(&slack);
        let what = slack["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(what.contains("Out-of-template drift"), "{what}");
        assert!(what.contains("OUT_OF_TEMPLATE"), "{what}");
        let plain = plain_text(&event, &facts());
        assert!(plain.contains("out-of-template drift"), "{plain}");
    }

    #[test]
    fn mrkdwn_control_characters_and_backticks_are_escaped() {
        let mut decision = samples::console_port_22_decision();
        decision.actor.principal = "arn:aws:iam::1:user/<!channel>&`x`".into();
        let event = BusEvent::parse(&samples::envelope_for(&decision))
            .unwrap()
            .unwrap();
        let who = slack_message(&event, &facts())["blocks"][2]["text"]["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(who.contains("&lt;!channel&gt;&amp;'x'"), "{who}");
        assert!(!who.contains("<!channel>"));
    }

    #[test]
    fn subject_is_ascii_and_at_most_100_characters() {
        let mut decision = samples::console_port_22_decision();
        if let Ownership::Managed(m) = &mut decision.ownership {
            m.stack_name = format!("stäck-{}", "n".repeat(200));
        }
        let event = BusEvent::parse(&samples::envelope_for(&decision))
            .unwrap()
            .unwrap();
        let s = sns_message(&event, &facts()).subject;
        assert_eq!(s.len(), SNS_SUBJECT_MAX);
        assert!(s.ends_with("..."));
        assert!(s.is_ascii());
        assert!(s.contains("st?ck-"));
    }

    #[test]
    fn envelopes_from_other_sources_or_detail_types_are_not_ours() {
        let mut envelope = samples::envelope_for(&samples::console_port_22_decision());
        envelope["detail-type"] = json!(events::SWEEP_SUMMARY);
        assert_eq!(BusEvent::parse(&envelope).unwrap(), None);
        envelope["detail-type"] = json!(events::DRIFT_DECISION);
        envelope["source"] = json!("aws.ec2");
        assert_eq!(BusEvent::parse(&envelope).unwrap(), None);
    }

    #[test]
    fn a_malformed_detail_is_an_error_naming_the_detail_type() {
        let mut envelope = samples::envelope_for(&samples::console_port_22_decision());
        envelope["detail"] = json!({ "ticket_id": 5 });
        let err = BusEvent::parse(&envelope).unwrap_err();
        assert!(matches!(err, EnvelopeError::BadDetail { .. }));
        assert!(err.to_string().contains(events::DRIFT_DECISION));
        envelope["id"] = json!("");
        envelope["detail"] =
            samples::envelope_for(&samples::console_port_22_decision())["detail"].clone();
        assert_eq!(
            BusEvent::parse(&envelope).unwrap_err(),
            EnvelopeError::MissingField("id")
        );
    }

    #[test]
    fn console_links_for_stack_and_easy_resource_types() {
        assert_eq!(
            stack_console_url("eu-west-1", "arn:aws:cloudformation:eu-west-1:1:stack/web/abc"),
            "https://eu-west-1.console.aws.amazon.com/cloudformation/home?region=eu-west-1#/stacks/stackinfo?stackId=arn%3Aaws%3Acloudformation%3Aeu-west-1%3A1%3Astack%2Fweb%2Fabc"
        );
        assert!(
            resource_console_url("AWS::SSM::Parameter", "/app/flag", "us-east-1")
                .unwrap()
                .contains("parameters/%2Fapp%2Fflag/description")
        );
        assert!(resource_console_url("AWS::IAM::Role", "app-role", "us-east-1").is_some());
        assert!(resource_console_url("AWS::S3::Bucket", "b", "us-east-1").is_some());
        assert_eq!(
            resource_console_url("AWS::SQS::Queue", "q", "us-east-1"),
            None
        );
    }

    /// `value` as if it came from member account 111111111111 in eu-west-1,
    /// delivered on the central bus (account 999999999999, us-east-1).
    fn from_member(value: &Value) -> Value {
        let text = value
            .to_string()
            .replace(samples::ACCOUNT, "111111111111")
            .replace(samples::REGION, "eu-west-1");
        let mut envelope: Value = serde_json::from_str(&text).unwrap();
        envelope["account"] = json!("999999999999");
        envelope["region"] = json!("us-east-1");
        envelope
    }

    /// Every console URL in a Slack payload.
    fn console_urls(slack: &Value) -> Vec<String> {
        let text = slack.to_string();
        text.match_indices("<https://")
            .map(|(at, _)| {
                let rest = &text[at + 1..];
                rest[..rest.find('|').unwrap()].to_string()
            })
            .collect()
    }

    #[test]
    fn a_member_accounts_change_names_its_account_and_region_and_links_to_that_region() {
        let envelope = from_member(&samples::envelope_for(&samples::console_port_22_decision()));
        let event = BusEvent::parse(&envelope).unwrap().unwrap();
        let sns = sns_message(&event, &TicketFacts::default());
        assert_eq!(sns.attributes["account"], "111111111111");
        assert_eq!(sns.attributes["region"], "eu-west-1");
        assert!(
            sns.subject.contains("(111111111111 eu-west-1)"),
            "{}",
            sns.subject
        );
        assert!(sns.subject.len() <= SNS_SUBJECT_MAX);

        let slack = slack_message(&event, &TicketFacts::default());
        check_slack_limits(&slack);
        let blocks = slack["blocks"].as_array().unwrap();
        let place = blocks
            .iter()
            .find(|b| {
                b["text"]["text"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("*Where*"))
            })
            .unwrap();
        let title = place["text"]["text"].as_str().unwrap();
        assert!(
            title.contains("region `eu-west-1`")
                && title.contains("switch role to account `111111111111`"),
            "{title}"
        );
        let fields: Vec<&str> = place["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["text"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&"*Account*\n111111111111"), "{fields:?}");
        assert!(fields.contains(&"*Region*\neu-west-1"), "{fields:?}");
        let urls = console_urls(&slack);
        assert!(urls.len() >= 2, "stack and security group: {urls:?}");
        for url in &urls {
            assert!(
                url.starts_with("https://eu-west-1.console.aws.amazon.com/")
                    && url.contains("region=eu-west-1"),
                "{url}"
            );
        }
        // Nothing says the central account or region.
        let all = slack.to_string();
        assert!(
            !all.contains("999999999999") && !all.contains("us-east-1"),
            "{all}"
        );
        let text = plain_text(&event, &TicketFacts::default());
        assert!(
            text.contains("Where: account 111111111111, region eu-west-1,"),
            "{text}"
        );
    }

    #[test]
    fn a_result_without_its_change_takes_the_account_and_region_from_the_ticket() {
        let mut result = samples::result(RemediationOutcome::Resolved);
        result.change = None;
        let envelope = from_member(&samples::envelope_for(&result));
        let event = BusEvent::parse(&envelope).unwrap().unwrap();
        let facts = TicketFacts {
            account: Some("111111111111".into()),
            region: Some("eu-west-1".into()),
            ..facts()
        };
        let sns = sns_message(&event, &facts);
        assert_eq!(
            (
                sns.attributes["account"].as_str(),
                sns.attributes["region"].as_str()
            ),
            ("111111111111", "eu-west-1")
        );
        let slack = slack_message(&event, &facts).to_string();
        assert!(slack.contains("*Account*\\n111111111111"), "{slack}");
        for url in console_urls(&slack_message(&event, &facts)) {
            assert!(url.contains("eu-west-1"), "{url}");
        }
        // Without the ticket, the envelope's (where driftguard runs) as before.
        let sns = sns_message(&event, &TicketFacts::default());
        assert_eq!(sns.attributes["account"], "999999999999");
    }

    #[test]
    fn where_without_console_links_says_nothing_about_signing_in() {
        let mut decision = samples::console_port_22_decision();
        decision.ownership = Ownership::Unmanaged;
        decision.change.resource =
            driftguard_model::domain::ResourceRef::new("AWS::SQS::Queue", "q");
        let event = BusEvent::parse(&samples::envelope_for(&decision))
            .unwrap()
            .unwrap();
        let slack = slack_message(&event, &TicketFacts::default());
        assert!(console_urls(&slack).is_empty());
        assert!(!slack.to_string().contains("switch role"), "{slack}");
    }

    #[test]
    fn results_take_severity_and_verdict_from_the_ticket() {
        let envelope = samples::envelope_for(&samples::result(RemediationOutcome::Resolved));
        let event = BusEvent::parse(&envelope).unwrap().unwrap();
        let without = sns_message(&event, &TicketFacts::default());
        assert_eq!(without.attributes["severity"], "unknown");
        let with = sns_message(&event, &facts());
        assert_eq!(with.attributes["severity"], "high");
        assert_eq!(with.attributes["verdict"], "revert");
        assert_eq!(with.attributes["outcome"], "resolved");
    }

    fn accepted_ticket() -> Ticket {
        samples::accepted_ticket()
    }

    #[test]
    fn an_accepted_ticket_carries_the_codify_snippet() {
        let slack =
            accepted_slack_message(&accepted_ticket(), "carol", "needed <for> the migration");
        check_slack_limits(&slack);
        let text = slack.to_string();
        assert!(text.contains("ManagedPolicyArns"), "{text}");
        assert!(
            text.contains("&lt;for&gt;"),
            "caller text is escaped: {text}"
        );
        insta::assert_json_snapshot!("accepted-ticket__slack", slack);
    }

    #[test]
    fn only_accepted_tickets_get_a_snippet() {
        let mut t = accepted_ticket();
        t.state = TicketState::Open;
        assert!(codify_blocks(&t).is_empty());
    }
}
