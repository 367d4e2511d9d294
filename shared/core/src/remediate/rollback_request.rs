//! `driftguard rollback STACK [--to VERSION]` as a ticket: the rollback plan
//! waits in AWAITING_APPROVAL exactly like a plan the remediate Lambda made,
//! and is approved the same way (`driftguard approve`, the IAM-authenticated
//! approval endpoint, then remediate acts).
//!
//! Everything here is pure. The request is a [`Change`] of source
//! [`ChangeSource::RollbackRequest`] whose request names the version
//! (`RollbackToVersion`); the ticket's decision is a `rollback` verdict that
//! requires approval; its `decided` entry's time is the plan's time. So
//! remediate, woken by the approval, re-derives the same plan (planner:
//! `stack_rollback` → [`super::history::rollback_plan`] of
//! [`requested_version`]) with the same digest, and acts only on that.
//!
//! What is caller-set here (the version, the ticket itself: the CLI writes
//! the table with the caller's credentials) proves nothing about who asked;
//! the approval endpoint takes the approver from the verified signature, and
//! the digest binds the approval to this version's template and parameters.
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::changeset::describe_changes;
use super::planner::Planned;
use crate::detect::STACK_LOGICAL_ID;
use crate::ports::remediate::ResourceChange;
use crate::ports::StackSummary;
use driftguard_model::domain::StackHint;
use driftguard_model::domain::{
    Action, Actor, ActorKind, Change, ChangeSource, Decision, Fingerprint, Identity, Ownership,
    ResourceRef, Severity, StackMembership, Ticket, TicketState, Verdict,
};
use driftguard_model::domain::{EntryKind, TicketEntry};

/// The operation a rollback request records.
pub const OPERATION: &str = "RollbackToKnownGood";
/// The request key naming the version to roll back to.
pub const VERSION_KEY: &str = "RollbackToVersion";

/// Pure: the version a rollback request asks for (`None`: the one before the latest).
pub fn requested_version(change: Option<&Change>) -> Option<u32> {
    let change = change.filter(|c| c.source == ChangeSource::RollbackRequest)?;
    change
        .request
        .get(VERSION_KEY)
        .and_then(Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
}

/// Pure: account and region of a stack id
/// (`arn:PARTITION:cloudformation:REGION:ACCOUNT:stack/NAME/ID`).
pub fn stack_account_region(stack_id: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = stack_id.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "cloudformation", region, account, _]
            if !region.is_empty() && account.len() == 12 =>
        {
            Some((account.to_string(), region.to_string()))
        }
        _ => None,
    }
}

/// Pure: the change a rollback request records for `stack`.
pub fn request_change(
    stack: &StackSummary,
    version: u32,
    now: DateTime<Utc>,
) -> Result<Change, String> {
    let (account, region) = stack_account_region(&stack.stack_id).ok_or_else(|| {
        format!(
            "stack id {} is not a CloudFormation stack ARN",
            stack.stack_id
        )
    })?;
    Ok(Change {
        event_id: format!(
            "rollback-{}-v{version}-{}",
            stack.stack_name,
            now.timestamp()
        ),
        time: now,
        account,
        region,
        source: ChangeSource::RollbackRequest,
        service: "cloudformation".into(),
        operation: OPERATION.into(),
        resource: ResourceRef::new("AWS::CloudFormation::Stack", stack.stack_id.clone()),
        identity: Identity::default(),
        request: json!({ "StackName": stack.stack_name, VERSION_KEY: version }),
        response: Value::Null,
        stack_hint: Some(StackHint {
            stack: stack.stack_name.clone(),
            logical_id: None,
            status: Some(stack.status.clone()),
        }),
        drift_hint: None,
        unparsed: Vec::new(),
    })
}

/// Pure: the stack as the owner of its own stack-level ticket.
pub fn stack_ownership(stack: &StackSummary) -> Ownership {
    Ownership::Managed(StackMembership {
        stack_id: stack.stack_id.clone(),
        stack_name: stack.stack_name.clone(),
        logical_id: STACK_LOGICAL_ID.into(),
        resource_type: Some("AWS::CloudFormation::Stack".into()),
        stack_status: stack.status.clone(),
        stack_tags: stack.tags.clone(),
        nested: None,
    })
}

/// Pure: the ticket id a rollback request of `stack` uses (the stack's own
/// stack-level ticket, the one stack status events open).
pub fn ticket_id(change: &Change, ownership: &Ownership) -> String {
    Fingerprint::for_change(change, ownership).ticket_id()
}

/// Pure: the plan's time: the request's `decided` entry (remediate derives
/// change set names from it, so it re-derives the same plan).
pub fn plan_time(change: &Change) -> DateTime<Utc> {
    change.time
}

/// Pure: the ticket (the stack's existing one, or a new one) awaiting
/// approval of `planned`, with the preview's change list on its history.
/// Refused while a remediation of the stack is under way.
pub fn awaiting_approval(
    existing: Option<Ticket>,
    change: &Change,
    ownership: &Ownership,
    planned: &Planned,
    previewed: &[ResourceChange],
    approval_ttl_minutes: u32,
) -> Result<Ticket, String> {
    let now = change.time;
    let mut t = match existing {
        Some(t) if t.state == TicketState::Remediating => {
            return Err(format!(
                "ticket {} of this stack is REMEDIATING: wait for it to finish",
                t.id
            ))
        }
        Some(mut t) => {
            t.version += 1;
            t
        }
        None => Ticket::new(
            Fingerprint::for_change(change, ownership),
            change,
            ownership,
            now,
        ),
    };
    t.resource = change.resource.clone();
    t.ownership = ownership.clone();
    t.last_change = Some(change.clone());
    t.last_actor = Some(Actor {
        break_glass_until: None,
        kind: ActorKind::Unknown,
        principal: "driftguard rollback".into(),
        session_name: None,
        evidence: vec!["a rollback requested with the driftguard CLI (caller-set)".into()],
    });
    t.decision = Some(Decision {
        verdict: verdict(change),
        held: None,
        hit_and_run: None,
    });
    t.plan = Some(planned.plan.clone());
    t.approval = None;
    t.approval_expires_at = Some(now + Duration::minutes(i64::from(approval_ttl_minutes)));
    push(
        &mut t,
        now,
        EntryKind::Decided,
        "rollback requested with `driftguard rollback`".into(),
        Value::Null,
    );
    let digest = planned.plan.digest();
    push(
        &mut t,
        now,
        EntryKind::Planned,
        format!(
            "planned {} (plan {digest}): {}; previewed: {}",
            planned.plan.strategy.as_str(),
            planned.plan.expected,
            describe_changes(previewed)
        ),
        json!({ "plan": planned.plan, "previewed_changes": previewed_json(previewed) }),
    );
    if t.state != TicketState::Open && !t.state.can_move_to(TicketState::AwaitingApproval) {
        t.transition(TicketState::Open, "rollback requested", now)
            .map_err(|e| e.to_string())?;
    }
    t.transition(
        TicketState::AwaitingApproval,
        "rollback plan awaits approval",
        now,
    )
    .map_err(|e| e.to_string())?;
    Ok(t)
}

fn verdict(change: &Change) -> Verdict {
    Verdict {
        action: Action::Rollback,
        reason: format!("rollback requested: {}", change.request),
        rule: None,
        dry_run: false,
        requires_approval: true,
        severity: Severity::High,
        capped_from: None,
        environment: None,
    }
}

fn push(t: &mut Ticket, at: DateTime<Utc>, kind: EntryKind, summary: String, data: Value) {
    t.push(TicketEntry {
        at,
        kind,
        event_id: None,
        summary,
        actor: None,
        data,
    });
}

fn previewed_json(changes: &[ResourceChange]) -> Value {
    Value::Array(
        changes
            .iter()
            .map(|c| {
                json!({
                    "LogicalResourceId": c.logical_id,
                    "ResourceType": c.resource_type,
                    "Action": c.action,
                    "Replacement": c.replacement,
                })
            })
            .collect(),
    )
}

/// Pure: the preview's change list recorded on the ticket (its latest
/// `planned` entry with one), for `driftguard approve` to show.
pub fn previewed_changes(ticket: &Ticket) -> Option<String> {
    ticket
        .history
        .iter()
        .rev()
        .filter(|e| e.kind == EntryKind::Planned)
        .find_map(|e| {
            e.summary
                .split_once("; previewed: ")
                .map(|(_, c)| c.to_string())
        })
}
