//! What driftguard does (a decision) or did (a result), its plan, and the
//! next step for the people reading.
use driftguard_model::domain::{Action, Plan};
use driftguard_model::events::RemediationOutcome;

use super::View;
use crate::notify::render::event::NotifyEvent;
use crate::notify::render::text::{code, escape, preview, push_line, truncate};
use crate::notify::render::{MAX_CALLS_SHOWN, VALUE_PREVIEW_MAX};

impl View<'_> {
    pub(in crate::notify::render) fn does_or_did(&self) -> &'static str {
        match self.event {
            NotifyEvent::Decision(_) => "will do",
            NotifyEvent::Result(_) => "did",
        }
    }

    pub(in crate::notify::render) fn action_mrkdwn(&self) -> String {
        let mut out = escape(&self.action_summary());
        if let Some(plan) = self.plan {
            push_line(&mut out, &plan_mrkdwn(plan, self.dry_run));
        }
        out
    }

    pub(in crate::notify::render) fn action_plain(&self) -> String {
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

    pub(in crate::notify::render) fn next_step_mrkdwn(&self) -> String {
        escape(&self.next_step(|c| format!("`{c}`")))
    }

    pub(in crate::notify::render) fn next_step_plain(&self) -> String {
        self.next_step(|c| c.to_string())
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
