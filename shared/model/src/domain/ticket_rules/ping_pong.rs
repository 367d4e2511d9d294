//! The ping-pong breaker (issue 34 item 5): when someone keeps putting back
//! what driftguard reverts (AWS Firewall Manager closing a port the template
//! opens, a Config remediation, a colleague's script), reverting again only
//! burns the rate budgets. Pure: it reads the ticket's history as read
//! before deciding.
//!
//! A *flip back* is a change on the ticket whose decision was a live
//! remediation (an acting verdict, not dry-run, not held). When the ticket
//! already records two flips back of a property this change touches within
//! the window (the policy's per-stack rate-limit window), this change is
//! the second time the property was flipped back after a revert: it is not
//! remediated; the ticket says so at high severity and names the actors.
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::domain::{Action, Actor, ActorKind, Decision, EntryKind, Severity, Ticket};

/// How many earlier reverted changes of one property, within the window,
/// stop the next revert.
pub const FLIPS_BEFORE_BREAK: usize = 2;

/// One earlier change of the property that driftguard acted on.
#[derive(Debug, Clone, PartialEq)]
struct Flip {
    at: DateTime<Utc>,
    actor: String,
}

/// The property paths an observed entry recorded.
fn paths_of(entry_data: &Value) -> Vec<&str> {
    entry_data
        .get("property_paths")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Whether the decision recorded for `event_id` after position `from` acted live.
fn acted_live(ticket: &Ticket, from: usize, event_id: &str) -> bool {
    ticket.history[from..]
        .iter()
        .find(|e| e.kind == EntryKind::Decided && e.event_id.as_deref() == Some(event_id))
        .is_some_and(|e| {
            let action: Option<Action> = e
                .data
                .get("action")
                .and_then(|a| serde_json::from_value(a.clone()).ok());
            action.is_some_and(|a| a.acts())
                && e.data.get("dry_run") == Some(&Value::Bool(false))
                && e.data.get("held").is_none_or(Value::is_null)
        })
}

/// Whether remediate acted (an `Acted` entry) after the observation at
/// `from` and before the next observation: the change was really put back,
/// not merely decided twice in a row (an insider making one change twice in
/// a second would otherwise count two flips).
fn reverted_before_next(ticket: &Ticket, from: usize) -> bool {
    ticket.history[from + 1..]
        .iter()
        .take_while(|e| e.kind != EntryKind::Observed)
        .any(|e| e.kind == EntryKind::Acted)
}

/// The earlier live-remediated changes on `ticket` of any of `paths`, at
/// most `window` before `at` (a change without paths: of the resource),
/// each put back by remediate before the next change.
fn flips(ticket: &Ticket, paths: &[&str], at: DateTime<Utc>, window: Duration) -> Vec<Flip> {
    let mut found = Vec::new();
    for (i, e) in ticket.history.iter().enumerate() {
        let (Some(event_id), Some(actor)) = (e.event_id.as_deref(), e.actor.as_ref()) else {
            continue;
        };
        if e.kind != EntryKind::Observed || actor.kind == ActorKind::Driftguard {
            continue;
        }
        let time = e
            .data
            .get("time")
            .and_then(|t| serde_json::from_value::<DateTime<Utc>>(t.clone()).ok())
            .unwrap_or(e.at);
        let recorded = paths_of(&e.data);
        let same_property =
            (paths.is_empty() && recorded.is_empty()) || recorded.iter().any(|p| paths.contains(p));
        if time <= at
            && at - time <= window
            && same_property
            && acted_live(ticket, i, event_id)
            && reverted_before_next(ticket, i)
        {
            found.push(Flip {
                at: time,
                actor: actor.principal.clone(),
            });
        }
    }
    found
}

/// The breaker: `decision` for the change by `actor` at `at` touching
/// `paths` on `ticket`, capped to a high-severity ticket when the property
/// was already flipped back [`FLIPS_BEFORE_BREAK`] times after a
/// remediation within `window`. `true` when it broke.
pub fn break_ping_pong(
    ticket: &Ticket,
    actor: &Actor,
    at: DateTime<Utc>,
    paths: &[&str],
    window: Duration,
    decision: &mut Decision,
) -> bool {
    if !decision.verdict.action.acts() || decision.verdict.dry_run || decision.held.is_some() {
        return false;
    }
    // A fight with a program (AWS's remediators, a script): never a
    // person's change, which a person re-applying it three times would
    // otherwise keep (insider review).
    if !matches!(actor.kind, ActorKind::Automation | ActorKind::AwsService) {
        return false;
    }
    let earlier = flips(ticket, paths, at, window);
    if earlier.len() < FLIPS_BEFORE_BREAK {
        return false;
    }
    let mut actors: Vec<&str> = earlier.iter().map(|f| f.actor.as_str()).collect();
    actors.push(actor.principal.as_str());
    actors.sort_unstable();
    actors.dedup();
    let first = earlier.iter().map(|f| f.at).min().unwrap_or(at);
    let why = format!(
        "ping-pong: {} changed {} time(s) since {first}, each remediated by driftguard, within {} min; \
         actors: {} and driftguard: no more reverts until a person decides",
        if paths.is_empty() {
            "the resource".to_string()
        } else {
            paths.join(", ")
        },
        earlier.len() + 1,
        window.num_minutes(),
        actors.join(", "),
    );
    decision.verdict.cap(Action::Ticket, &why);
    decision.verdict.severity = decision.verdict.severity.max(Severity::High);
    true
}

#[cfg(test)]
mod tests;
