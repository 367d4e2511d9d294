//! Hit-and-run is a fact (issue 33 item 5): a change by an actor the policy
//! does not exempt is recorded even when it was already undone by the time
//! CloudFormation's drift detection looked (open 0.0.0.0/0:22 for two
//! minutes; attach and detach `AdministratorAccess`). CloudFormation's IN_SYNC
//! says the resource is as the template declares now, not that nothing
//! happened: the change is a ticket that resolved itself ("exposed 2 min,
//! undone by …"), announced when its rule's severity is high or above.
//!
//! Only a property CloudFormation checks can read IN_SYNC here: an
//! out-of-template change (a property the template does not declare, a write
//! no operation row lists) is out-of-template drift instead
//! ([`super::out_of_template`], [`super::unlisted_write`]), still open. Pure.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::verdict::{decide, Action, Decision, DecisionInput, Severity};
use super::{ActorKind, ChangeSource, DifferenceKind, Drift, DriftStatus};
use crate::domain::policy::Policy;

/// A change already undone when driftguard looked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HitAndRun {
    /// When the change was made (its event time).
    pub made_at: DateTime<Utc>,
    /// When CloudFormation read the resource IN_SYNC (its drift detection's
    /// timestamp); `None` when it did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<DateTime<Utc>>,
    /// The change that undid it, when one landed on the same ticket inside
    /// the window (`made_at`, `checked_at`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undone: Option<Undo>,
    /// Announced: the rule's severity is high or above.
    pub announced: bool,
}

/// The change that undid a hit-and-run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Undo {
    /// Who made it: the actor's principal, and its session when it has one.
    pub by: String,
    /// Its `service:Operation`.
    pub api: String,
    /// Its event time.
    pub at: DateTime<Utc>,
}

/// Hit-and-runs of this severity and above are announced.
pub const ANNOUNCED_FROM: Severity = Severity::High;

impl HitAndRun {
    /// The resolution in words: "exposed 2 min, undone by … with ec2:Revoke… at …"
    /// when the undo is known, else the most it can have lasted.
    pub fn resolution(&self) -> String {
        let minutes =
            |until: DateTime<Utc>| ((until - self.made_at).num_seconds().max(0) + 59) / 60;
        match (&self.undone, self.checked_at) {
            (Some(u), _) => format!(
                "hit-and-run: exposed {} min, undone by {} with {} at {}",
                minutes(u.at),
                u.by,
                u.api,
                u.at
            ),
            (None, Some(checked)) => format!(
                "hit-and-run: exposed at most {} min: already undone when CloudFormation drift detection read IN_SYNC at {checked}; who undid it is not known",
                minutes(checked)
            ),
            (None, None) => "hit-and-run: already undone when CloudFormation drift detection read IN_SYNC; who undid it is not known".to_string(),
        }
    }

    /// Does a change made at `at` fall inside the window this change was
    /// undone in, so that it may be the undo?
    pub fn undone_within(&self, at: DateTime<Utc>) -> bool {
        self.made_at < at && self.checked_at.is_none_or(|checked| at <= checked)
    }
}

/// The decision on a change CloudFormation already reads IN_SYNC, when the
/// policy would ticket or act on it as made (matched on the event's own
/// drift, `event_drift`): a ticket, never an action (there is nothing left to
/// undo), that resolves itself; `None` when it is not a hit-and-run (not an
/// actor's CloudTrail call, not IN_SYNC, or the policy allows or ignores it),
/// and [`decide`] answers as before.
pub fn decide_hit_and_run(
    input: &DecisionInput<'_>,
    event_drift: Option<&Drift>,
    policy: &Policy,
) -> Option<Decision> {
    let checked = input.drift.filter(|d| d.status == DriftStatus::InSync)?;
    // Only a change the event itself proves (a difference read from its
    // request) can have been undone: an unread or unparsed request proves
    // nothing, and CloudFormation's IN_SYNC may then just not see it.
    let proven =
        event_drift.is_some_and(|e| e.status != DriftStatus::InSync && !e.differences.is_empty());
    if !proven || !input.change.unparsed.is_empty() {
        return None;
    }
    if event_drift.is_some_and(|e| agrees_with_template(e, checked)) {
        // The change set what the template declares (a repair, or a no-op
        // such as attaching a policy the template lists): IN_SYNC is its
        // own doing, nothing was undone.
        return None;
    }
    let exempt = matches!(
        input.actor.kind,
        ActorKind::Driftguard | ActorKind::Cloudformation | ActorKind::Pipeline
    );
    if exempt || input.change.source != ChangeSource::Cloudtrail {
        return None;
    }
    let as_made = decide(
        &DecisionInput {
            drift: event_drift.filter(|d| d.status != DriftStatus::InSync),
            ..input.clone()
        },
        policy,
    );
    let mut verdict = as_made.verdict;
    if !verdict.action.tickets() {
        return None;
    }
    let hit_and_run = HitAndRun {
        made_at: input.change.time,
        checked_at: checked.detected_at,
        undone: None,
        announced: verdict.severity >= ANNOUNCED_FROM,
    };
    if verdict.action != Action::Ticket {
        verdict.capped_from = verdict.capped_from.or(Some(verdict.action));
        verdict.action = Action::Ticket;
    }
    verdict.reason = format!(
        "{}; {}: nothing left to undo",
        verdict.reason,
        hit_and_run.resolution()
    );
    Some(Decision {
        verdict,
        held: None,
        hit_and_run: Some(hit_and_run),
    })
}

/// Does every difference the event proves leave the resource as the
/// template (CloudFormation's `ExpectedProperties`) declares it: a value set
/// or added that the template has, a value removed that it has not? `false`
/// when the event proves no difference or CloudFormation gave no expected
/// properties (nothing shows the change agreed with the template).
fn agrees_with_template(event: &Drift, checked: &Drift) -> bool {
    let Some(expected) = checked.expected_properties.as_ref() else {
        return false;
    };
    !event.differences.is_empty()
        && event.differences.iter().all(|d| {
            let top = format!("/{}", top_property(&d.path));
            // An added list item's index is where AWS put it, not the template.
            let declared = match d.kind {
                DifferenceKind::Add => expected.pointer(&top),
                _ => expected.pointer(&d.path).or_else(|| expected.pointer(&top)),
            };
            match d.kind {
                DifferenceKind::Remove => d
                    .expected
                    .as_ref()
                    .or(d.actual.as_ref())
                    .map_or(declared.is_none(), |v| {
                        !declared.is_some_and(|t| holds(t, v))
                    }),
                _ => d
                    .actual
                    .as_ref()
                    .is_some_and(|v| declared.is_some_and(|t| holds(t, v))),
            }
        })
}

/// The property's first name in a JSON pointer (`/A/1` → `A`).
fn top_property(path: &str) -> &str {
    path.trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
}

/// Does the template's value `declared` hold `value`: equal to it, or a list
/// with an element equal to it (objects: every key `value` names agrees;
/// numbers and their strings agree, as CloudFormation renders either)?
fn holds(declared: &Value, value: &Value) -> bool {
    agrees(declared, value)
        || declared
            .as_array()
            .is_some_and(|items| items.iter().any(|i| agrees(i, value)))
}

fn agrees(declared: &Value, value: &Value) -> bool {
    match (declared, value) {
        (Value::Object(d), Value::Object(v)) => v
            .iter()
            .all(|(k, x)| d.get(k).is_some_and(|y| agrees(y, x))),
        (Value::Array(d), Value::Array(v)) => {
            d.len() == v.len() && d.iter().zip(v).all(|(a, b)| agrees(a, b))
        }
        (Value::String(d), Value::Number(v)) | (Value::Number(v), Value::String(d)) => {
            *d == v.to_string()
        }
        _ => declared == value,
    }
}

#[cfg(test)]
#[path = "hit_and_run_tests.rs"]
mod tests;
