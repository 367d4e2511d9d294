//! Change-set strategies: REVERT_DRIFT (create, describe every page, check
//! every change, execute) and the change set back to a known-good template.
//!
//! CloudFormation's rules this module follows (aws-sdk-cloudformation 1.136 API
//! docs, from the CloudFormation API reference,
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeChangeSet.html>):
//! - `ExecutionStatus`: "If the change set execution status is `AVAILABLE`, you
//!   can execute the change set. If you can't execute the change set, the status
//!   indicates why."
//! - `NextToken`: "If the output exceeds 1 MB, a string that identifies the next
//!   page of changes. If there is no additional page, this value is null." Every
//!   page is read before anything is judged.
//! - `ResourceChange.Action`: "`Add` (adds a new resource), `Modify` (changes a
//!   resource), `Remove` (deletes a resource), `Import` (imports a resource),
//!   `Dynamic` (exact action for the resource can't be determined), or
//!   `SyncWithActual`": a revert never removes anything.
//! - `ResourceChange.Replacement`: "For the `Modify` action, indicates whether
//!   CloudFormation will replace the resource by creating a new one and deleting
//!   the old one." `True` or `Conditional` is refused unless the plan was
//!   approved for it (`AllowReplacement`).
//! - `CreateChangeSet.ClientToken`: "Specify this token if you plan to retry
//!   requests so that CloudFormation knows that you're not attempting to create
//!   another change set with the same name." The token is the change set name,
//!   itself derived from the ticket and its decision time.
//!
//! Waits are sized to what is left of the Lambda's time ([`with_deadline`]):
//! when the stack is still updating as time runs out, the attempt hands over
//! (the ticket stays REMEDIATING with the plan and change set name; the next
//! wake-up of that ticket verifies instead of acting, see [`in_progress`]).
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::executor::WaitPolicy;
use super::strategy_calls::{ChangeSetParameters, ChangeSetPlan};
use super::verify::Verification;
use crate::ports::remediate::{
    ChangeSetPage, ChangeSets, CreateRequest, ExecutionError, PlanExecutor, ResourceChange,
    TemplateChoice,
};
use driftguard_model::domain::{Plan, Strategy, Ticket, TicketState};
use driftguard_model::error::{PortError, PortResult};
use driftguard_model::events::{DriftDecision, SCHEMA_VERSION};

/// Time kept back from the Lambda deadline to record the result.
pub const DEADLINE_RESERVE: Duration = Duration::from_secs(10);

tokio::task_local! {
    static DEADLINE: Option<DateTime<Utc>>;
}

/// Run `f` knowing when the invocation times out: change-set waits inside it
/// stop in time to hand over instead of being cut off.
pub async fn with_deadline<F: Future>(deadline: Option<DateTime<Utc>>, f: F) -> F::Output {
    DEADLINE.scope(deadline, f).await
}

fn deadline() -> Option<DateTime<Utc>> {
    DEADLINE.try_with(|d| *d).ok().flatten()
}

/// Pure: how many polls fit before `deadline` (less [`DEADLINE_RESERVE`]); the
/// policy's own bound when there is no deadline.
pub fn polls_within(wait: &WaitPolicy, deadline: Option<DateTime<Utc>>, now: DateTime<Utc>) -> u32 {
    let Some(deadline) = deadline else {
        return wait.max_polls;
    };
    let left = (deadline - now).to_std().unwrap_or_default();
    let usable = left.saturating_sub(DEADLINE_RESERVE);
    let interval = wait.interval.max(Duration::from_millis(1));
    let fit = usable.as_millis() / interval.as_millis();
    u32::try_from(fit).unwrap_or(u32::MAX).min(wait.max_polls)
}

/// What the plan's change set may contain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expectation {
    /// REVERT_DRIFT: the only logical ids it may touch.
    pub only: Option<Vec<String>>,
    /// The plan was approved with replacements allowed.
    pub allow_replacement: bool,
}

/// Pure: may the previewed change set be executed? `Err` says why not.
pub fn review(
    changes: &[ResourceChange],
    execution_status: Option<&str>,
    expect: &Expectation,
) -> Result<(), String> {
    if changes.is_empty() {
        return Err("it contains no changes: CloudFormation sees nothing to revert".into());
    }
    if execution_status != Some("AVAILABLE") {
        return Err(format!(
            "its execution status is {}, not AVAILABLE",
            execution_status.unwrap_or("unknown")
        ));
    }
    let removed: Vec<&str> = changes
        .iter()
        .filter(|c| c.action == "Remove")
        .map(|c| c.logical_id.as_str())
        .collect();
    if !removed.is_empty() {
        return Err(format!("it would delete {}", removed.join(", ")));
    }
    let replaced: Vec<String> = changes
        .iter()
        .filter(|c| matches!(c.replacement.as_deref(), Some("True" | "Conditional")))
        .map(|c| {
            format!(
                "{} (Replacement {})",
                c.logical_id,
                c.replacement.as_deref().unwrap_or("?")
            )
        })
        .collect();
    if !replaced.is_empty() && !expect.allow_replacement {
        return Err(format!(
            "it would replace {}: a replacement needs a person's approval",
            replaced.join(", ")
        ));
    }
    if let Some(only) = &expect.only {
        let mut others: Vec<&str> = changes
            .iter()
            .map(|c| c.logical_id.as_str())
            .filter(|id| !only.iter().any(|o| o == id))
            .collect();
        others.dedup();
        if !others.is_empty() {
            return Err(format!(
                "it would also touch {} (expected only {}): REVERT_DRIFT reverts every drifted resource of the stack",
                others.join(", "),
                only.join(", ")
            ));
        }
    }
    Ok(())
}

/// The plan's change-set calls, typed ([`ChangeSetPlan`]); a call a change-set
/// plan does not make refuses it.
fn typed(plan: &Plan) -> Result<ChangeSetPlan, ExecutionError> {
    ChangeSetPlan::of(plan).map_err(|e| ExecutionError::Refused(e.to_string()))
}

/// Pure: the plan's `CreateChangeSet` call as a request and what its preview may contain.
pub fn request_of(
    plan: &Plan,
    parameter_keys: &[String],
) -> Result<(CreateRequest, Expectation), ExecutionError> {
    let ChangeSetPlan {
        create, describe, ..
    } = typed(plan)?;
    let template = match &create.template_body {
        Some(body) => TemplateChoice::Body(body.clone()),
        None => TemplateChoice::Previous,
    };
    // A plan with parameter values (a known-good version) passes exactly those;
    // otherwise every current parameter keeps its previous value.
    let parameters = match &create.parameters {
        Some(ChangeSetParameters::Values(given)) => given
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect(),
        _ => parameter_keys.iter().map(|k| (k.clone(), None)).collect(),
    };
    let expect = Expectation {
        only: describe
            .as_ref()
            .and_then(|d| d.expect_only_logical_ids.clone()),
        allow_replacement: describe
            .as_ref()
            .and_then(|d| d.allow_replacement)
            .unwrap_or(false),
    };
    let request = CreateRequest {
        revert_drift: create.revert_drift(),
        client_token: create.change_set_name.clone(),
        stack: create.stack_name,
        name: create.change_set_name,
        template,
        parameters,
    };
    Ok((request, expect))
}

/// Pure: the logical ids a plan's `DescribeChangeSet` call expects
/// (`ExpectOnlyLogicalIds`); empty when it names none.
pub fn expected_ids(describe_parameters: &Value) -> Vec<String> {
    describe_parameters
        .get("ExpectOnlyLogicalIds")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Pure: the logical ids of a stored REVERT_DRIFT plan other than `own`
/// (what an earlier attempt's preview showed and the plan was widened to).
pub fn planned_others(plan: &Plan, own: &str) -> Vec<String> {
    if plan.strategy != Strategy::RevertDriftChangeSet {
        return Vec::new();
    }
    plan.calls
        .iter()
        .filter(|c| c.operation == "DescribeChangeSet")
        .flat_map(|c| expected_ids(&c.parameters))
        .filter(|id| id != own)
        .collect()
}

/// Pure: the plan's change set under a throwaway name, made at `now`, to be
/// previewed and deleted, never executed: its own name (and so its own
/// `ClientToken`) never collides with the change set the plan executes.
pub fn preview_copy(plan: &Plan, now: DateTime<Utc>) -> Result<Plan, ExecutionError> {
    let name = typed(plan)?.create.change_set_name;
    let mut throwaway = format!("driftguard-preview-{}-{name}", now.timestamp());
    throwaway.truncate(128);
    let mut copy = plan.clone();
    for call in &mut copy.calls {
        if call.parameters.get("ChangeSetName").is_some() {
            call.parameters["ChangeSetName"] = Value::String(throwaway.clone());
        }
    }
    Ok(copy)
}

/// The logical ids (sorted, once each) a REVERT_DRIFT plan's change set
/// would touch: a throwaway copy ([`preview_copy`]) is created, read to its
/// last page and deleted. A drift-aware change set reverts every drifted
/// resource of the stack, so this is how the planner learns whether the
/// ticket's resource is the only one.
pub async fn reverted_logical_ids(
    cfn: &dyn ChangeSets,
    plan: &Plan,
    wait: &WaitPolicy,
    now: DateTime<Utc>,
) -> Result<Vec<String>, ExecutionError> {
    let copy = preview_copy(plan, now)?;
    let p = preview_plan(cfn, &copy, wait).await?;
    discard(cfn, &p).await;
    let mut ids: Vec<String> = p.changes.into_iter().map(|c| c.logical_id).collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// A created, previewed, not yet executed change set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub stack: String,
    pub name: String,
    pub id: Option<String>,
    pub revert_drift: bool,
    pub changes: Vec<ResourceChange>,
    pub execution_status: Option<String>,
    pub expect: Expectation,
}

/// Create the plan's change set and read every page of its preview; nothing
/// is executed (`driftguard rollback` shows this before asking).
pub async fn preview_plan(
    cfn: &dyn ChangeSets,
    plan: &Plan,
    wait: &WaitPolicy,
) -> Result<Preview, ExecutionError> {
    let stack = typed(plan)?.create.stack_name;
    let keys = cfn.parameter_keys(&stack).await?;
    let (request, expect) = request_of(plan, &keys)?;
    let name = request.name.clone();
    let id = cfn.create(&request).await?;
    let Some((changes, execution_status)) = preview(cfn, &stack, &name, wait).await? else {
        return Err(ExecutionError::Refused(format!(
            "change set {name} was not ready in the time left: deleted, nothing executed; a later attempt makes it again"
        )));
    };
    Ok(Preview {
        stack,
        name,
        id,
        revert_drift: request.revert_drift,
        changes,
        execution_status,
        expect,
    })
}

/// Delete a previewed change set that will not be executed.
pub async fn discard(cfn: &dyn ChangeSets, preview: &Preview) {
    delete(cfn, &preview.stack, &preview.name).await;
}

/// Create, preview (every page), review and execute the plan's change set;
/// wait for the stack as long as the Lambda's time allows.
pub async fn run(
    cfn: &dyn ChangeSets,
    plan: &Plan,
    wait: &WaitPolicy,
) -> Result<Vec<String>, ExecutionError> {
    let p = preview_plan(cfn, plan, wait).await?;
    let mut notes = vec![
        format!(
            "created change set {} on {}{} (id {})",
            p.name,
            p.stack,
            if p.revert_drift {
                " (REVERT_DRIFT)"
            } else {
                ""
            },
            p.id.as_deref().unwrap_or("?")
        ),
        format!(
            "change set {} previews: {}",
            p.name,
            describe_changes(&p.changes)
        ),
    ];
    notes.extend(execute_previewed(cfn, &p, wait).await?);
    Ok(notes)
}

/// Review a previewed change set (deleted when refused), execute it and wait
/// for the stack as long as the time left allows (then hand over).
pub async fn execute_previewed(
    cfn: &dyn ChangeSets,
    p: &Preview,
    wait: &WaitPolicy,
) -> Result<Vec<String>, ExecutionError> {
    let (stack, name) = (&p.stack, &p.name);
    if let Err(why) = review(&p.changes, p.execution_status.as_deref(), &p.expect) {
        delete(cfn, stack, name).await;
        return Err(ExecutionError::Refused(format!(
            "change set {name}: {why}; deleted, nothing executed"
        )));
    }
    cfn.execute(stack, name, name).await?;
    let mut notes = vec![format!("executed change set {name}")];
    let status = wait_for_stack(cfn, stack, wait).await?;
    match status.as_deref() {
        Some(s) if s.ends_with("_IN_PROGRESS") => {
            notes.push(format!(
                "stack {stack} is still {s} as this attempt's time runs out: handed over, the ticket stays REMEDIATING with change set {name}"
            ));
            Ok(notes)
        }
        Some(s) if s.ends_with("_COMPLETE") && !s.contains("ROLLBACK") => {
            notes.push(format!("stack {stack} is {s}"));
            Ok(notes)
        }
        other => Err(ExecutionError::Port(PortError::Failed {
            service: "cloudformation",
            operation: "ExecuteChangeSet",
            message: format!(
                "stack {stack} ended {}",
                other.unwrap_or("in an unknown state")
            ),
        })),
    }
}

/// The preview in words: `Modify Sg, Add Topic (Replacement True)`.
pub fn describe_changes(changes: &[ResourceChange]) -> String {
    if changes.is_empty() {
        return "no changes".into();
    }
    changes
        .iter()
        .map(|c| {
            let replacement = match c.replacement.as_deref() {
                Some(r @ ("True" | "Conditional")) => format!(", Replacement {r}"),
                _ => String::new(),
            };
            format!("{} {}{replacement}", c.action, c.logical_id)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Poll the first page until the change set is created, then read every page.
/// `None` (and the change set deleted) when it is not ready in time.
async fn preview(
    cfn: &dyn ChangeSets,
    stack: &str,
    name: &str,
    wait: &WaitPolicy,
) -> Result<Option<(Vec<ResourceChange>, Option<String>)>, ExecutionError> {
    let polls = polls_within(wait, deadline(), Utc::now()).max(1);
    for poll in 0..polls {
        if poll > 0 {
            tokio::time::sleep(wait.interval).await;
        }
        let page = cfn.describe(stack, name, None).await?;
        match page.status.as_deref() {
            Some("CREATE_COMPLETE") => {
                let execution_status = page.execution_status.clone();
                let changes = all_changes(cfn, stack, name, page).await?;
                return Ok(Some((changes, execution_status)));
            }
            Some("FAILED") => {
                let reason = page
                    .status_reason
                    .unwrap_or_else(|| "no reason given".into());
                delete(cfn, stack, name).await;
                return Err(ExecutionError::Refused(format!(
                    "change set {name} failed to create: {reason}"
                )));
            }
            _ => {}
        }
    }
    delete(cfn, stack, name).await;
    Ok(None)
}

/// Bound on `DescribeChangeSet` pages (each up to 1 MB).
pub const MAX_PAGES: usize = 100;

async fn all_changes(
    cfn: &dyn ChangeSets,
    stack: &str,
    name: &str,
    first: ChangeSetPage,
) -> Result<Vec<ResourceChange>, ExecutionError> {
    let mut changes = first.changes;
    let mut next = first.next_token;
    let mut pages = 1;
    while let Some(token) = next {
        if pages >= MAX_PAGES {
            delete(cfn, stack, name).await;
            return Err(ExecutionError::Refused(format!(
                "change set {name} has more than {MAX_PAGES} pages of changes: not reviewed, deleted"
            )));
        }
        let page = cfn.describe(stack, name, Some(&token)).await?;
        changes.extend(page.changes);
        next = page.next_token;
        pages += 1;
    }
    Ok(changes)
}

/// Poll until the stack is no longer `*_IN_PROGRESS`, or the time left runs out.
pub async fn wait_for_stack(
    cfn: &dyn ChangeSets,
    stack: &str,
    wait: &WaitPolicy,
) -> PortResult<Option<String>> {
    let polls = polls_within(wait, deadline(), Utc::now()).max(1);
    let mut last = None;
    for poll in 0..polls {
        if poll > 0 {
            tokio::time::sleep(wait.interval).await;
        }
        last = cfn.stack_status(stack).await?;
        match &last {
            Some(s) if s.ends_with("_IN_PROGRESS") => continue,
            _ => return Ok(last),
        }
    }
    Ok(last)
}

async fn delete(cfn: &dyn ChangeSets, stack: &str, name: &str) {
    if let Err(e) = cfn.delete(stack, name).await {
        // A leftover change set is harmless: it is never executed.
        tracing::warn!(stack, change_set = name, error = %e, "could not delete change set");
    }
}

/// The finishing check of a handed-over change set: while the stack is still
/// updating, verification waits (the ticket stays REMEDIATING and the next
/// wake-up checks again) instead of running drift detection mid-update.
pub async fn in_progress(
    plan: &Plan,
    stack: &str,
    executor: &dyn PlanExecutor,
) -> Option<Verification> {
    if plan.strategy != Strategy::RevertDriftChangeSet {
        return None;
    }
    match executor.stack_status(stack).await {
        Ok(Some(s)) if s.ends_with("_IN_PROGRESS") => Some(Verification::InProgress {
            reason: format!(
                "stack {stack} is {s}: the change set is still being applied; the ticket stays REMEDIATING and the next check finishes it"
            ),
        }),
        _ => None,
    }
}

/// How long a handed-over ticket rests before the sweep wakes it again.
pub const HANDOVER_RECHECK_MINUTES: i64 = 5;

/// Pure: the wake-up that finishes a handed-over change set or rollback: a
/// ticket REMEDIATING with a change-set or rollback plan, untouched for
/// [`HANDOVER_RECHECK_MINUTES`], gets its decision re-delivered (remediate then
/// verifies instead of acting; `state_changed: false`, so notify stays quiet).
pub fn finishing_wake(ticket: &Ticket, now: DateTime<Utc>) -> Option<DriftDecision> {
    let plan = ticket.plan.as_ref()?;
    let waits = matches!(
        plan.strategy,
        Strategy::RevertDriftChangeSet | Strategy::StackRollback
    );
    let rested = now - ticket.updated_at >= chrono::Duration::minutes(HANDOVER_RECHECK_MINUTES);
    if ticket.state != TicketState::Remediating || !waits || !rested {
        return None;
    }
    Some(DriftDecision {
        schema_version: SCHEMA_VERSION,
        ticket_id: ticket.id.clone(),
        ticket_state: ticket.state,
        state_changed: false,
        change: ticket.last_change.clone()?,
        actor: ticket.last_actor.clone()?,
        ownership: ticket.ownership.clone(),
        drift: ticket.drift.clone(),
        event_drift: ticket.event_drift.clone(),
        decision: ticket.decision.clone()?,
        plan: Some(plan.clone()),
        decided_at: now,
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fallback_tests;
