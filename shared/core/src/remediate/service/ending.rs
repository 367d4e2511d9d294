//! How an attempt ended, before it is written down ([`Ending`]), and the pure
//! functions that write it on the ticket ([`apply_ending`]) and make the
//! result announced for it ([`result_of`]).
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Attempt;
use crate::idempotency::Record;
use driftguard_model::domain::EntryKind;
use driftguard_model::domain::{Drift, Plan, Ticket, TicketEntry, TicketState};
use driftguard_model::events::{RemediationOutcome, RemediationResult, SCHEMA_VERSION};

pub(super) type Entry = (EntryKind, String, Value);

/// How an attempt ended, before it is written down.
pub(super) struct Ending {
    pub(super) outcome: RemediationOutcome,
    pub(super) reason: String,
    pub(super) state: Option<TicketState>,
    pub(super) plan: Option<Plan>,
    pub(super) verified: Option<Drift>,
    pub(super) approval_expires_at: Option<DateTime<Utc>>,
    /// Drop the ticket's approval (consumed, or about another plan).
    pub(super) clear_approval: bool,
    /// An AWS call that changes the resource was made (or had been made).
    pub(super) acted: bool,
    /// The ticket as last written by this attempt (after REMEDIATING).
    pub(super) base: Option<Box<Ticket>>,
    pub(super) entries: Vec<Entry>,
}

impl Ending {
    pub(super) fn new(outcome: RemediationOutcome, reason: impl Into<String>) -> Self {
        Self {
            outcome,
            reason: reason.into(),
            state: None,
            plan: None,
            verified: None,
            approval_expires_at: None,
            clear_approval: false,
            acted: false,
            base: None,
            entries: Vec::new(),
        }
    }

    pub(super) fn refused(reason: impl Into<String>) -> Self {
        Self::new(RemediationOutcome::Refused, reason)
    }

    pub(super) fn state(mut self, s: TicketState) -> Self {
        self.state = Some(s);
        self
    }

    pub(super) fn plan(mut self, p: Option<Plan>) -> Self {
        self.plan = p;
        self
    }

    pub(super) fn with(mut self, entries: Vec<Entry>) -> Self {
        self.entries.splice(0..0, entries);
        self
    }

    /// Complete the claim only once the resource was acted on and the ticket
    /// left REMEDIATING; otherwise a later delivery may try again.
    pub(super) fn record(&self) -> Record {
        if self.acted && self.state != Some(TicketState::Remediating) {
            Record::Complete
        } else {
            Record::Release
        }
    }
}

/// Whether the ticket already holds this attempt's ending: its closing note,
/// stamped with the attempt's event id and the ending's time.
pub(super) fn holds_ending(t: &Ticket, attempt: &Attempt, at: DateTime<Utc>) -> bool {
    t.history.iter().any(|e| {
        e.at == at
            && e.event_id.as_deref() == Some(attempt.event_id.as_str())
            && e.summary.starts_with("remediation ")
    })
}

/// The number of state changes in a ticket's history.
pub(super) fn state_moves(t: &Ticket) -> usize {
    t.history
        .iter()
        .filter(|e| e.kind == EntryKind::StateChanged)
        .count()
}

/// The result announced for `ending`, written on `saved`.
pub(super) fn result_of(
    saved: &Ticket,
    attempt: &Attempt,
    ending: &Ending,
    state_changed: bool,
    now: DateTime<Utc>,
) -> RemediationResult {
    RemediationResult {
        schema_version: SCHEMA_VERSION,
        ticket_id: saved.id.clone(),
        ticket_state: saved.state,
        state_changed,
        outcome: ending.outcome,
        reason: ending.reason.clone(),
        dry_run: attempt.dry_run,
        plan: ending.plan.clone().or(saved.plan.clone()),
        verified: ending.verified.clone(),
        change: attempt.change.clone(),
        actor: attempt.actor.clone(),
        ownership: saved.ownership.clone(),
        finished_at: now,
    }
}

/// Pure: the ending's facts on the ticket.
pub(super) fn apply_ending(t: &mut Ticket, attempt: &Attempt, ending: &Ending, now: DateTime<Utc>) {
    if let Some(p) = &ending.plan {
        t.plan = Some(p.clone());
    }
    if ending.clear_approval {
        t.approval = None;
    }
    if ending.approval_expires_at.is_some()
        || ending
            .state
            .is_some_and(|s| s != TicketState::AwaitingApproval)
    {
        t.approval_expires_at = ending.approval_expires_at;
    }
    let entry = |kind: EntryKind, summary: String, data: Value| TicketEntry {
        at: now,
        kind,
        event_id: Some(attempt.event_id.clone()),
        summary,
        actor: None,
        data,
    };
    for (kind, summary, data) in &ending.entries {
        t.push(entry(*kind, summary.clone(), data.clone()));
    }
    let kind = match ending.outcome {
        RemediationOutcome::Held => EntryKind::Held,
        _ => EntryKind::Note,
    };
    t.push(entry(
        kind,
        format!("remediation {}: {}", ending.outcome.as_str(), ending.reason),
        Value::Null,
    ));
    if let Some(to) = ending.state {
        // Verified at `now`: a change the ticket applied from later than
        // that is not in the verification, so it does not get resolved.
        if let Some(newest) = t.newer_than(now).filter(|_| to == TicketState::Resolved) {
            t.push(entry(
                EntryKind::Note,
                format!(
                    "not resolved: a change from {newest} is newer than this verification ({now})"
                ),
                Value::Null,
            ));
            return;
        }
        if to == TicketState::Resolved {
            t.applied_at_source(now);
        }
        if let Err(e) = t.transition(to, &ending.reason, now) {
            t.push(entry(
                EntryKind::Note,
                format!("state not changed: {e}"),
                Value::Null,
            ));
        }
    }
}
