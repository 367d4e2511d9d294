//! The gates: pure checks on facts all read before acting (the ticket, the
//! attempt drawn from it, the stack membership, the policy, the re-derived
//! plan, the time), one function per gate, run in the order of [`GATES`].
//! The first gate that stops an attempt decides how it ends.
use chrono::{DateTime, Duration, Utc};

use super::ending::Ending;
use super::prepare::Prepared;
use super::wake::Wake;
use super::Attempt;
use driftguard_model::domain::approval::{still_valid, ApprovalRefused};
use driftguard_model::domain::policy::MatchFacts;
use driftguard_model::domain::stack_operation_in_progress;
use driftguard_model::domain::EntryKind;
use driftguard_model::domain::{
    policy::Policy, Action, Plan, StackMembership, Ticket, TicketState,
};
use driftguard_model::events::RemediationOutcome;

/// What the gates came to: go on, stop quietly, or end with a reason.
pub(super) enum Gate {
    Proceed,
    Ignore(String),
    End(Box<Ending>),
}

/// Everything the gates decide on, all read before acting: the ticket, the
/// attempt drawn from it, the stack membership re-checked just now, the
/// policy, the re-derived plan, the time. `membership` and `plan` are filled
/// in as the tail reads them; a gate whose facts are not known yet passes
/// (the tail calls [`gates`] again once they are).
pub(super) struct GateFacts<'a> {
    pub(super) wake: Wake,
    pub(super) ticket: &'a Ticket,
    pub(super) attempt: &'a Attempt,
    pub(super) membership: Option<&'a StackMembership>,
    pub(super) policy: &'a Policy,
    pub(super) plan: Option<&'a Prepared>,
    pub(super) now: DateTime<Utc>,
}

type GateCheck = fn(&GateFacts) -> Option<Gate>;

/// The gates, in order. Each stops the attempt or passes (`None`).
const GATES: &[(&str, GateCheck)] = &[
    ("held", gate_held),
    ("accepted", gate_accepted),
    ("stale", gate_stale),
    ("approval_state", gate_approval_state),
    ("stack_busy", gate_stack_busy),
    ("protected", gate_protected),
    ("approval_bound", gate_approval_bound),
    ("dry_run", gate_dry_run),
    ("approval_needed", gate_approval_needed),
];

/// Pure: may this attempt act? The first gate that stops it decides.
pub(super) fn gates(f: &GateFacts) -> Gate {
    for (name, check) in GATES {
        if let Some(stop) = check(f) {
            tracing::info!(ticket = %f.ticket.id, gate = name, "remediation stopped at a gate");
            return stop;
        }
    }
    Gate::Proceed
}

fn end(e: Ending) -> Option<Gate> {
    Some(Gate::End(Box::new(e)))
}

/// A ticket left REMEDIATING by an attempt that acted: verified, not re-gated.
fn recovering(f: &GateFacts) -> bool {
    f.ticket.state == TicketState::Remediating
}

/// Decision path: detect held the decision (stack busy when it decided).
fn gate_held(f: &GateFacts) -> Option<Gate> {
    let held = f
        .attempt
        .held
        .as_ref()
        .filter(|_| f.wake == Wake::Decision)?;
    end(Ending::new(RemediationOutcome::Held, held.clone()))
}

fn gate_accepted(f: &GateFacts) -> Option<Gate> {
    (f.wake == Wake::Decision && f.ticket.state == TicketState::Accepted).then(|| {
        Gate::End(Box::new(Ending::refused(
            "the drift was accepted on purpose (ticket ACCEPTED)",
        )))
    })
}

/// Decision path: too old to act on (a REMEDIATING ticket is verified whatever its age).
fn gate_stale(f: &GateFacts) -> Option<Gate> {
    if f.wake != Wake::Decision || recovering(f) {
        return None;
    }
    let max = f.policy.remediation().max_decision_age_seconds;
    stale_decision(f.ticket, f.now, max).and_then(|why| end(Ending::refused(why)))
}

/// Approval path: the approval recorded on the ticket (by the approval
/// endpoint, for an authenticated caller) is what counts, while it is valid.
fn gate_approval_state(f: &GateFacts) -> Option<Gate> {
    if f.wake != Wake::Approval || recovering(f) {
        return None;
    }
    let ticket = f.ticket;
    if ticket.state != TicketState::AwaitingApproval {
        return end(Ending::refused(format!(
            "approval ignored: ticket is {}, not AWAITING_APPROVAL",
            ticket.state
        )));
    }
    let Some(approval) = &f.attempt.approval else {
        return end(Ending::refused(
            "no approval is recorded on the ticket: approvals are made through the approval endpoint (`driftguard approve`); the event only wakes remediate up",
        ));
    };
    let expired = ticket
        .approval_expires_at
        .filter(|t| *t < f.now || *t < approval.approved_at)?;
    let mut e = Ending::refused(format!(
        "approval by {} came after the request expired at {expired}: nothing done, ticket re-opened",
        approval.approver_arn
    ))
    .state(TicketState::Open);
    e.clear_approval = true;
    end(e)
}

/// No action while the stack has an operation in progress, except
/// CancelUpdateStack, the one call meant for a stack mid-update.
fn gate_stack_busy(f: &GateFacts) -> Option<Gate> {
    let m = f.membership?;
    let status = m.stack_status.as_str();
    let cancelling = f.attempt.action == Action::Rollback && status == "UPDATE_IN_PROGRESS";
    (stack_operation_in_progress(status) && !cancelling).then(|| {
        Gate::End(Box::new(Ending::new(
            RemediationOutcome::Held,
            format!(
                "stack {} has an operation in progress ({status}): re-check later",
                m.stack_name
            ),
        )))
    })
}

fn gate_protected(f: &GateFacts) -> Option<Gate> {
    let m = f.membership?;
    is_protected(f.policy, f.ticket, m).then(|| {
        Gate::End(Box::new(Ending::refused(format!(
            "{} is protected by policy: never touched",
            f.ticket.resource.label()
        ))))
    })
}

/// An approval is for one plan: the stored one, which must be the plan
/// re-derived now.
fn gate_approval_bound(f: &GateFacts) -> Option<Gate> {
    let p = f.plan?;
    let approval = f.attempt.approval.as_ref().filter(|_| !recovering(f))?;
    let stored = f.ticket.plan.as_ref().map(Plan::digest);
    let bound = still_valid(f.ticket, approval, &p.digest, f.policy).and_then(|()| {
        match stored.as_deref() {
            Some(s) if s == p.digest => Ok(()),
            _ => Err(ApprovalRefused::DigestMismatch {
                given: stored.clone().unwrap_or_else(|| "(none)".into()),
                current: p.digest.clone(),
            }),
        }
    });
    let why = match bound.err()? {
        ApprovalRefused::DigestMismatch { .. } => format!(
            "the plan changed since it was approved: approve the new plan {}",
            p.digest
        ),
        other => format!("the approval is not valid ({other}): approve again"),
    };
    end(park(f, p, &why))
}

fn gate_dry_run(f: &GateFacts) -> Option<Gate> {
    let p = f.plan.filter(|_| f.attempt.dry_run)?;
    end(Ending::new(
        RemediationOutcome::DryRun,
        "dry run: the plan was made and stored, nothing was changed",
    )
    .plan(Some(p.plan.clone()))
    .with(p.entries.clone()))
}

/// The policy or the plan needs an approval that is not there: park (once).
fn gate_approval_needed(f: &GateFacts) -> Option<Gate> {
    let p = f.plan?;
    let needs = f.attempt.requires_approval || p.approval_required.is_some();
    if f.attempt.approval.is_some() || !needs || recovering(f) {
        return None;
    }
    let stored = f.ticket.plan.as_ref().map(Plan::digest);
    if f.ticket.state == TicketState::AwaitingApproval && stored.as_deref() == Some(&p.digest) {
        return Some(Gate::Ignore(format!(
            "ticket {} already awaits approval of plan {}",
            f.ticket.id, p.digest
        )));
    }
    let why = p
        .approval_required
        .clone()
        .unwrap_or_else(|| "the policy requires approval".into());
    end(park(f, p, &why))
}

/// Back to AWAITING_APPROVAL with this plan, a fresh expiry, no approval.
fn park(f: &GateFacts, p: &Prepared, why: &str) -> Ending {
    let ttl = Duration::minutes(i64::from(f.policy.remediation().approval_ttl_minutes));
    let expires = f.now + ttl;
    let mut e = Ending::new(
        RemediationOutcome::AwaitingApproval,
        format!(
            "{why}: run `driftguard approve {}` (plan {}) before {expires}",
            f.ticket.id, p.digest
        ),
    )
    .state(TicketState::AwaitingApproval)
    .plan(Some(p.plan.clone()))
    .with(p.entries.clone());
    e.approval_expires_at = Some(expires);
    e.clear_approval = true;
    e
}

fn is_protected(policy: &Policy, ticket: &Ticket, membership: &StackMembership) -> bool {
    let facts = MatchFacts {
        account: &ticket.fingerprint.account,
        region: &ticket.fingerprint.region,
        stack: Some(&membership.stack_name),
        logical_id: Some(&membership.logical_id),
        resource_type: membership
            .resource_type
            .as_deref()
            .or(ticket.resource.resource_type.as_deref()),
        physical_id: ticket.resource.physical_id.as_deref(),
        tags: Some(&membership.stack_tags),
        ..MatchFacts::default()
    };
    policy.is_protected(&facts)
}

/// When detect (or the sweep) made the ticket's current decision: the latest
/// `decided` entry it wrote.
pub fn decided_at(ticket: &Ticket) -> Option<DateTime<Utc>> {
    ticket
        .history
        .iter()
        .rev()
        .find(|e| e.kind == EntryKind::Decided)
        .map(|e| e.at)
}

/// Pure: is the ticket's decision too old to act on?
pub fn stale_decision(ticket: &Ticket, now: DateTime<Utc>, max_age_seconds: u32) -> Option<String> {
    let Some(at) = decided_at(ticket) else {
        return Some(format!(
            "ticket {} records no decision time (no `decided` entry): not acting on it",
            ticket.id
        ));
    };
    let age = (now - at).num_seconds();
    (age > i64::from(max_age_seconds)).then(|| {
        format!(
            "the decision made at {at} is {age} s old, older than remediation.max_decision_age_seconds ({max_age_seconds} s): not acting on a stale decision; the next change or sweep decides again"
        )
    })
}
