//! Ticket rules: how one decided change lands on its ticket. Pure: given the
//! ticket as read (or none) and the decision's facts, they decide whether a
//! ticket is created, updated, reopened, made ALLOWED (so the sweep honours
//! an allowed change), left alone, or marked out of order (a change older
//! than the newest fact the ticket applied is recorded, not decided). The
//! caller (detect) reads the ticket, writes the result conditionally and
//! re-runs [`apply_decision`] on a conflict.
use chrono::{DateTime, Utc};
use serde_json::json;

use super::drift::decisive;
use super::ticket::EntryKind;
use super::{
    Action, Actor, ActorKind, Change, ChangeSource, Decision, Drift, DriftOrigin, DriftStatus,
    Fingerprint, HitAndRun, Ownership, SourceFact, Ticket, TicketEntry, TicketState, Undo,
};

/// Everything a ticket records about one decision.
#[derive(Debug, Clone)]
pub struct DecisionFacts<'a> {
    /// The change decided on.
    pub change: &'a Change,
    /// Who made it, classified.
    pub actor: &'a Actor,
    /// Which stack owns the resource.
    pub ownership: &'a Ownership,
    /// CloudFormation's drift, when drift detection ran.
    pub drift: Option<&'a Drift>,
    /// What the event's own request says was changed.
    pub event_drift: Option<&'a Drift>,
    /// The decision taken.
    pub decision: &'a Decision,
    /// The ticket the change belongs to.
    pub fingerprint: &'a Fingerprint,
}

/// What to write.
#[derive(Debug, Clone, PartialEq)]
pub enum TicketUpdate {
    /// Nothing to record: the verdict does not ticket and no open ticket exists.
    Nothing,
    /// The first ticket for this fingerprint: create it (conditionally: it must not exist).
    Create(Ticket),
    /// The existing ticket with the decision applied: write it over the version read.
    Update {
        /// The ticket to write.
        ticket: Ticket,
        /// Did the ticket change state (open, re-open, allowed)?
        state_changed: bool,
    },
    /// This event is already on the ticket; `state_changed` as recorded then.
    AlreadyRecorded {
        /// The ticket as read.
        ticket: Ticket,
        /// Did the ticket change state when the event was first recorded?
        state_changed: bool,
    },
    /// The change is older than the newest fact the ticket applied
    /// (`Ticket::newer_than`): its observation is recorded (`recorded`: it
    /// already was), the ticket's state and decision stay.
    OutOfOrder {
        /// The ticket with the observation recorded.
        ticket: Ticket,
        /// The observation was already on the ticket: nothing to write.
        recorded: bool,
    },
}

fn decision_summary(d: &Decision) -> String {
    let v = &d.verdict;
    let mode = if v.action.acts() {
        if v.dry_run {
            " (dry-run)"
        } else {
            ""
        }
    } else {
        ""
    };
    match &d.held {
        Some(why) => format!(
            "held: {why}; verdict would be {}{mode}: {}",
            v.action, v.reason
        ),
        None => format!("verdict {}{mode}: {}", v.action, v.reason),
    }
}

/// The observed entry's line: what, on what, by whom, seen how, and what of
/// the record could not be read ("request unparsed: …", issue 33 "Bad input").
fn observed_summary(facts: &DecisionFacts<'_>) -> String {
    let change = facts.change;
    let mut summary = format!(
        "{} on {} by {} {} (seen via {})",
        change.api(),
        change.resource.label(),
        facts.actor.kind,
        facts.actor.principal,
        change.source.as_str()
    );
    for note in &change.unparsed {
        summary.push_str("; ");
        summary.push_str(note);
    }
    summary
}

fn entries_for(
    facts: &DecisionFacts<'_>,
    now: DateTime<Utc>,
    state_changed: bool,
) -> [TicketEntry; 2] {
    let change = facts.change;
    let shown = decisive(facts.drift, facts.event_drift);
    let observed = TicketEntry {
        at: now,
        kind: EntryKind::Observed,
        event_id: Some(change.event_id.clone()),
        summary: observed_summary(facts),
        actor: Some(facts.actor.clone()),
        data: json!({
            "time": change.time,
            "source": change.source,
            "drift_status": shown.map(|d| d.status.as_str()),
            "drift_origin": shown.map(|d| match &d.origin {
                _ if d.status == DriftStatus::OutOfTemplate => "out_of_template",
                DriftOrigin::Cloudformation => "cloudformation",
                DriftOrigin::EventRequest(_) => "event_request",
            }),
            "property_paths": shown.map(|d| d.property_paths()).unwrap_or_default(),
            "unparsed": change.unparsed,
        }),
    };
    let decided = TicketEntry {
        at: now,
        kind: if facts.decision.held.is_some() {
            EntryKind::Held
        } else {
            EntryKind::Decided
        },
        event_id: Some(change.event_id.clone()),
        summary: decision_summary(facts.decision),
        actor: None,
        data: json!({
            "action": facts.decision.verdict.action,
            "rule": facts.decision.verdict.rule,
            "dry_run": facts.decision.verdict.dry_run,
            "held": facts.decision.held,
            "state_changed": state_changed,
        }),
    };
    [observed, decided]
}

/// Decide how a ticket changes. Pure: the caller reads `existing` and writes
/// the result conditionally, re-running this on `Conflict`.
pub fn apply_decision(
    existing: Option<Ticket>,
    facts: &DecisionFacts<'_>,
    now: DateTime<Utc>,
) -> TicketUpdate {
    let tickets = facts.decision.verdict.action.tickets() || facts.decision.held.is_some();
    match existing {
        None if !tickets => {
            allowed_record(facts, now).map_or(TicketUpdate::Nothing, TicketUpdate::Create)
        }
        None => {
            let mut t = first_ticket(facts, now, decided_drift(facts));
            if let Some(h) = &facts.decision.hit_and_run {
                resolves_itself(&mut t, h, now);
            }
            TicketUpdate::Create(t)
        }
        Some(t) => {
            match recorded(&t, facts.change.event_id.as_str()) {
                Some(Recorded::OutOfOrder) => {
                    return TicketUpdate::OutOfOrder {
                        ticket: t,
                        recorded: true,
                    }
                }
                Some(Recorded::Decided { state_changed }) => {
                    return TicketUpdate::AlreadyRecorded {
                        ticket: t,
                        state_changed,
                    }
                }
                None => {}
            }
            if let Some(newest) = t.newer_than(facts.change.time) {
                if !decided_despite_newer(&t, facts, tickets) {
                    return out_of_order(t, facts, now, newest);
                }
            }
            // Only a change decided as nothing to do can be the undo: one
            // the policy tickets or acts on (an out-of-template write
            // CloudFormation cannot see) reopens the ticket instead.
            if !tickets && facts.decision.hit_and_run.is_none() {
                if let Some(undone) = undo_of(&t, facts) {
                    return undo_recorded(t, facts, now, undone);
                }
            }
            if let Some(h) = &facts.decision.hit_and_run {
                return hit_and_run_on(t, facts, now, h);
            }
            if !tickets && t.state.is_closed() {
                // An allowed or ignored change on a closed ticket: nothing to reopen;
                // an allowed one is recorded so the sweep honours it.
                return reallowed(t, facts, now);
            }
            updated(t, facts, now, tickets)
        }
    }
}

/// A hit-and-run (already undone when CloudFormation looked) on an existing
/// ticket. An open ticket's drift is not this change's: the change is
/// recorded, the ticket's decision and state stay. A closed ticket drifted
/// again: it reopens and resolves itself at once.
fn hit_and_run_on(
    t: Ticket,
    facts: &DecisionFacts<'_>,
    now: DateTime<Utc>,
    h: &HitAndRun,
) -> TicketUpdate {
    if !t.state.is_closed() {
        return updated(t, facts, now, false);
    }
    match updated(t, facts, now, true) {
        TicketUpdate::Update { mut ticket, .. } => {
            resolves_itself(&mut ticket, h, now);
            TicketUpdate::Update {
                ticket,
                state_changed: true,
            }
        }
        other => other,
    }
}

/// The ticket's hit-and-run with this change as its undo ("exposed 2 min,
/// undone by …"): the ticket is RESOLVED by a hit-and-run whose undo is not
/// known yet, the change falls inside its window and CloudFormation read it
/// IN_SYNC too (the revoke that put the template's rules back, say).
fn undo_of(t: &Ticket, facts: &DecisionFacts<'_>) -> Option<HitAndRun> {
    let mut h = t.decision.as_ref()?.hit_and_run.clone()?;
    let undo = t.state == TicketState::Resolved
        && facts.drift.is_some_and(|d| d.status == DriftStatus::InSync)
        && h.undone.is_none()
        && h.undone_within(facts.change.time);
    undo.then(|| {
        h.undone = Some(Undo {
            by: match &facts.actor.session_name {
                Some(session) => format!("{} (session {session})", facts.actor.principal),
                None => facts.actor.principal.clone(),
            },
            api: facts.change.api(),
            at: facts.change.time,
        });
        h
    })
}

/// The undo recorded on its hit-and-run's ticket: observed, the resolution
/// restated with who undid it; the ticket stays RESOLVED (nothing to announce).
fn undo_recorded(
    mut t: Ticket,
    facts: &DecisionFacts<'_>,
    now: DateTime<Utc>,
    h: HitAndRun,
) -> TicketUpdate {
    let [observed, _] = entries_for(facts, now, false);
    t.push(observed);
    t.push(TicketEntry {
        at: now,
        kind: EntryKind::Note,
        event_id: Some(facts.change.event_id.clone()),
        summary: h.resolution(),
        actor: None,
        data: json!({ "hit_and_run": h }),
    });
    if let Some(d) = t.decision.as_mut() {
        d.hit_and_run = Some(h);
    }
    t.last_actor = Some(facts.actor.clone());
    apply_source(&mut t, facts, now);
    t.events_seen += 1;
    t.version += 1;
    t.updated_at = now;
    TicketUpdate::Update {
        ticket: t,
        state_changed: false,
    }
}

/// A hit-and-run's ticket resolves itself, saying how long it was exposed.
fn resolves_itself(t: &mut Ticket, h: &HitAndRun, now: DateTime<Utc>) {
    // OPEN -> RESOLVED is always allowed.
    let _ = t.transition(TicketState::Resolved, &h.resolution(), now);
}

/// How a ticket already records an event.
enum Recorded {
    /// Marked out of order: recorded, not decided.
    OutOfOrder,
    /// Decided; `state_changed` as recorded then.
    Decided { state_changed: bool },
}

/// Whether the ticket already records `event_id` (a retry after a partial
/// failure), and how.
fn recorded(t: &Ticket, event_id: &str) -> Option<Recorded> {
    let pos = t
        .history
        .iter()
        .position(|e| e.kind == EntryKind::Observed && e.event_id.as_deref() == Some(event_id))?;
    if t.history[pos].data.get("out_of_order") == Some(&json!(true)) {
        return Some(Recorded::OutOfOrder);
    }
    let state_changed = t.history[pos + 1..]
        .iter()
        .find(|e| e.event_id.as_deref() == Some(event_id) && e.kind != EntryKind::Observed)
        .and_then(|e| e.data.get("state_changed"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    Some(Recorded::Decided { state_changed })
}

/// The existing ticket updated with this decision: a ticketing decision
/// reopens a closed ticket (or raises an open one's severity) and becomes
/// the ticket's decision; any decision records its actor, drift and history.
fn updated(
    mut t: Ticket,
    facts: &DecisionFacts<'_>,
    now: DateTime<Utc>,
    tickets: bool,
) -> TicketUpdate {
    let mut state_changed = false;
    if tickets {
        if t.state.is_closed() {
            let why = format!(
                "drifted again ({} by {})",
                facts.change.api(),
                facts.actor.kind
            );
            // Closed → OPEN is always allowed.
            state_changed = t.transition(TicketState::Open, &why, now).unwrap_or(false);
            t.severity = facts.decision.verdict.severity;
        } else {
            t.severity = t.severity.max(facts.decision.verdict.severity);
        }
        t.decision = Some(facts.decision.clone());
        t.last_change = Some(facts.change.clone());
        t.ownership = facts.ownership.clone();
        t.resource = facts.change.resource.clone();
    }
    if let Some(d) = facts.drift {
        t.drift = Some(d.clone());
    }
    if let Some(d) = facts.event_drift {
        t.event_drift = Some(d.clone());
    }
    t.last_actor = Some(facts.actor.clone());
    t.decided_drift = decided_drift(facts);
    record_change(t, facts, now, state_changed)
}

/// The drift fingerprint worth an ALLOWED record: the policy allowed (not
/// ignored, not held) a known actor's change on a managed resource, and the
/// change shows a drift a later sweep can recognise. Without the record the
/// sweep, whose changes carry no identity, would decide that drift afresh as
/// `unknown` and ticket or revert what the pipeline was allowed to do.
fn allowance(facts: &DecisionFacts<'_>) -> Option<String> {
    let allowed = facts.decision.verdict.action == Action::Allow
        && facts.decision.held.is_none()
        && facts.actor.kind != ActorKind::Unknown
        && facts.ownership.membership().is_some();
    allowed.then(|| decided_drift(facts)).flatten()
}

/// A new ALLOWED ticket recording an allowed change (see [`allowance`]).
fn allowed_record(facts: &DecisionFacts<'_>, now: DateTime<Utc>) -> Option<Ticket> {
    let drift = allowance(facts)?;
    let mut t = first_ticket(facts, now, Some(drift));
    t.state = TicketState::Allowed;
    Some(t)
}

/// Version 1 of a ticket for the decided change: its facts, its decision, the
/// decided drift fingerprint and the first history entries.
fn first_ticket(facts: &DecisionFacts<'_>, now: DateTime<Utc>, drift: Option<String>) -> Ticket {
    let mut t = Ticket::new(
        facts.fingerprint.clone(),
        facts.change,
        facts.ownership,
        now,
    );
    t.version = 1;
    t.severity = facts.decision.verdict.severity;
    t.drift = facts.drift.cloned();
    t.event_drift = facts.event_drift.cloned();
    t.last_actor = Some(facts.actor.clone());
    t.decided_drift = drift;
    t.decision = Some(facts.decision.clone());
    t.last_change = Some(facts.change.clone());
    apply_source(&mut t, facts, now);
    t.events_seen = 1;
    for e in entries_for(facts, now, true) {
        t.push(e);
    }
    t
}

/// An allowed change on a closed ticket: it becomes ALLOWED with this actor
/// and drift, unless it already records exactly this drift (a sweep seeing
/// the allowed drift again writes nothing).
fn reallowed(mut t: Ticket, facts: &DecisionFacts<'_>, now: DateTime<Utc>) -> TicketUpdate {
    let Some(drift) = allowance(facts) else {
        return TicketUpdate::Nothing;
    };
    if t.state == TicketState::Allowed && t.decided_drift.as_deref() == Some(drift.as_str()) {
        return TicketUpdate::Nothing;
    }
    let why = format!(
        "{} by {} allowed by policy",
        facts.change.api(),
        facts.actor.kind
    );
    let Ok(state_changed) = t.transition(TicketState::Allowed, &why, now) else {
        return TicketUpdate::Nothing;
    };
    t.drift = facts.drift.cloned().or(t.drift);
    t.event_drift = facts.event_drift.cloned().or(t.event_drift);
    t.last_actor = Some(facts.actor.clone());
    t.decided_drift = Some(drift);
    t.decision = Some(facts.decision.clone());
    t.last_change = Some(facts.change.clone());
    record_change(t, facts, now, state_changed)
}

/// The decided change recorded on `t`, the next version: its source time
/// applied, the event counted, its history entries pushed.
fn record_change(
    mut t: Ticket,
    facts: &DecisionFacts<'_>,
    now: DateTime<Utc>,
    state_changed: bool,
) -> TicketUpdate {
    apply_source(&mut t, facts, now);
    t.events_seen += 1;
    t.version += 1;
    for e in entries_for(facts, now, state_changed) {
        t.push(e);
    }
    t.updated_at = now;
    TicketUpdate::Update {
        ticket: t,
        state_changed,
    }
}

/// An older change a newer fact must not hide (issue 34, item 6): the newer
/// change was not acted on (allowed, ignored, ticketed, dry-run or held) and
/// was made by someone else, while this change, a call CloudTrail recorded
/// with its AWS-set identity (not a sweep's or Config's observation, which
/// name nobody), is ticketed or acted on over a difference that is still
/// there (not a hit-and-run). Anyone who can invoke detect, or fool a rule,
/// could otherwise launder a genuine change with a record a second newer
/// (an allowed pipeline one, or one capped to a ticket: `aws_service`,
/// break-glass). It is decided on its own merits; remediate re-derives its
/// plan from the current template, so a revert undoes only what the
/// template still does not declare. A newer change by the same actor, one
/// reverted live, or a fact that was not a change (a sweep's check) still
/// hides it.
fn decided_despite_newer(t: &Ticket, facts: &DecisionFacts<'_>, tickets: bool) -> bool {
    tickets
        && facts.change.source == ChangeSource::Cloudtrail
        && facts.decision.hit_and_run.is_none()
        && t.source_fact
            .as_ref()
            .is_some_and(|f| !f.acted && !f.made_by(facts.actor))
}

/// The change's source time applied to `t`, with who made it.
fn apply_source(t: &mut Ticket, facts: &DecisionFacts<'_>, now: DateTime<Utc>) {
    let fact = SourceFact {
        kind: facts.actor.kind,
        principal: facts.actor.principal.clone(),
        acted: facts.decision.verdict.action.acts()
            && !facts.decision.verdict.dry_run
            && facts.decision.held.is_none(),
    };
    t.applied_change_at_source(source_time(facts, now), fact);
}

/// The source time a change sets on its ticket: its event time, never past
/// `now` (a forged far-future time, e.g. a direct invocation's payload,
/// would otherwise make every later genuine change look out of order).
fn source_time(facts: &DecisionFacts<'_>, now: DateTime<Utc>) -> DateTime<Utc> {
    facts.change.time.min(now)
}

/// A change older than the newest fact the ticket applied (see
/// `Ticket::newer_than`), delivered out of order: its observation is
/// recorded and marked, nothing else changes (no reopening, no new decision,
/// actor, drift or source time), and nothing is published.
fn out_of_order(
    mut t: Ticket,
    facts: &DecisionFacts<'_>,
    now: DateTime<Utc>,
    newest: DateTime<Utc>,
) -> TicketUpdate {
    let [mut observed, _] = entries_for(facts, now, false);
    if let Some(data) = observed.data.as_object_mut() {
        data.insert("out_of_order".into(), json!(true));
        data.insert("newest_applied".into(), json!(newest));
    }
    t.push(observed);
    t.push(TicketEntry {
        at: now,
        kind: EntryKind::Note,
        event_id: Some(facts.change.event_id.clone()),
        summary: format!(
            "out of order: {} at {} is older than the newest fact applied ({newest}): recorded, not decided",
            facts.change.api(),
            facts.change.time
        ),
        actor: None,
        data: json!({ "out_of_order": true }),
    });
    t.events_seen += 1;
    t.version += 1;
    t.updated_at = now;
    TicketUpdate::OutOfOrder {
        ticket: t,
        recorded: false,
    }
}

/// The fingerprint of the drift this decision was taken on.
fn decided_drift(facts: &DecisionFacts<'_>) -> Option<String> {
    decisive(facts.drift, facts.event_drift).map(Drift::fingerprint)
}

pub mod ping_pong;
#[cfg(test)]
mod tests;
