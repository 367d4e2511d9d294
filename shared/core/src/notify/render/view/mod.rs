//! [`View`]: everything the renderers need, pulled once from either event
//! kind, and the short labels for it (headline, emoji, verdict or outcome).
//!
//! The longer parts are in submodules: `what` (what changed), `who`,
//! `location` (where, with console links), `action` (what driftguard does or
//! did, and the next step).
mod action;
mod location;
mod what;
mod who;

use driftguard_model::domain::{Action, Actor, Change, Ownership, Plan, Severity, TicketState};
use driftguard_model::events::{DriftDecision, RemediationOutcome, RemediationResult};

use super::event::{BusEvent, NotifyEvent, TicketFacts};
use super::text::code;

/// Everything the renderers need, pulled once from either event kind.
pub(super) struct View<'a> {
    pub(super) ticket_id: &'a str,
    pub(super) ticket_state: TicketState,
    pub(super) account: String,
    pub(super) region: String,
    pub(super) stack_name: Option<&'a str>,
    stack_id: Option<&'a str>,
    logical_id: Option<&'a str>,
    physical_id: Option<&'a str>,
    pub(super) resource_type: Option<&'a str>,
    change: Option<&'a Change>,
    actor: Option<&'a Actor>,
    ownership: &'a Ownership,
    pub(super) severity: Option<Severity>,
    pub(super) verdict: Option<Action>,
    pub(super) dry_run: bool,
    plan: Option<&'a Plan>,
    pub(super) event: &'a NotifyEvent,
}

impl<'a> View<'a> {
    pub(super) fn of(event: &'a BusEvent, facts: &TicketFacts) -> Self {
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
    pub(super) fn outcome_label(&self) -> &'static str {
        match self.event {
            NotifyEvent::Decision(_) if self.held().is_some() => "held",
            NotifyEvent::Decision(_) => "decided",
            NotifyEvent::Result(r) => r.outcome.as_str(),
        }
    }

    /// `web-prod/WebSecurityGroup`, else the resource itself.
    pub(super) fn target_label(&self) -> String {
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

    pub(super) fn mode(&self) -> &'static str {
        if self.requires_approval() {
            " (approval required)"
        } else if self.dry_run {
            " (dry-run)"
        } else {
            ""
        }
    }

    pub(super) fn headline(&self) -> String {
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

    pub(super) fn emoji(&self) -> &'static str {
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

    pub(super) fn verdict_or_outcome_title(&self) -> &'static str {
        match self.event {
            NotifyEvent::Decision(_) => "Verdict",
            NotifyEvent::Result(_) => "Outcome",
        }
    }

    pub(super) fn verdict_or_outcome(&self) -> String {
        match self.event {
            NotifyEvent::Decision(d) => {
                format!("{}{}", d.decision.verdict.action.as_str(), self.mode())
            }
            NotifyEvent::Result(r) => format!("{}{}", r.outcome.as_str(), result_mode(r)),
        }
    }

    pub(super) fn context_line(&self, event: &BusEvent) -> String {
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
pub(super) fn result_mode(r: &RemediationResult) -> &'static str {
    if r.dry_run && r.outcome != RemediationOutcome::DryRun {
        " (dry-run)"
    } else {
        ""
    }
}

/// The stack name from a stack ARN (`arn:...:stack/NAME/uuid`) or a name.
fn stack_name_of(stack: &str) -> &str {
    match stack.split_once(":stack/") {
        Some((_, rest)) => rest.split('/').next().unwrap_or(rest),
        None => stack,
    }
}
