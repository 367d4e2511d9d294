//! What the guardrail would have done to the changes recorded on tickets.
//!
//! Each `observed` history entry with an actor and a table operation becomes a
//! [`Request`]: the actor's principal (driftguard records the role ARN of a
//! role session, what `aws:PrincipalArn` holds), `aws:CalledVia` with
//! CloudFormation for CloudFormation's own calls, and CloudFormation's stack
//! tags for a resource the ticket proves managed. Hot-fixes (console, human,
//! automation, unknown) should be denied; allowed changes (CloudFormation,
//! pipeline, driftguard, break-glass in its window) must never be.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use driftguard_model::domain::ActorKind;
use driftguard_model::domain::Ownership;
use driftguard_model::domain::{EntryKind, Ticket, TicketEntry};
use driftguard_model::sources::operations::lookup;

use super::document::PolicyDocument;
use super::evaluate::{evaluate, Request};
use super::generate::CLOUDFORMATION;
use super::services::{iam_action, LOGICAL_ID_TAG, STACK_NAME_TAG};
use super::GuardrailError;

/// One recorded change, replayed against the statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    pub ticket: String,
    pub at: DateTime<Utc>,
    /// `service:Operation` as driftguard recorded it.
    pub api: String,
    pub request: Request,
    pub actor: ActorKind,
    pub resource: String,
    /// The Sid that denies it, if any.
    pub denied_by: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Simulation {
    /// Changes the policy treats as hot-fixes.
    pub hotfixes: Vec<Replayed>,
    /// Changes the policy allows (must all be allowed by the guardrail too).
    pub allowed: Vec<Replayed>,
    /// Observed entries without an actor or with an operation outside the table.
    pub skipped: usize,
}

impl Simulation {
    pub fn blocked(&self) -> impl Iterator<Item = &Replayed> {
        self.hotfixes.iter().filter(|r| r.denied_by.is_some())
    }

    pub fn wrongly_denied(&self) -> impl Iterator<Item = &Replayed> {
        self.allowed.iter().filter(|r| r.denied_by.is_some())
    }
}

/// Actor kinds whose changes the policy allows.
pub fn is_allowed_actor(kind: ActorKind) -> bool {
    matches!(
        kind,
        ActorKind::Cloudformation
            | ActorKind::Pipeline
            | ActorKind::Driftguard
            | ActorKind::BreakGlass
    )
}

/// `ec2:AuthorizeSecurityGroupIngress on …`: the observed entry's summary
/// starts with the API driftguard parsed from the AWS-set `eventSource` and
/// `eventName`.
fn api_of(entry: &TicketEntry) -> Option<(&str, &str)> {
    entry.summary.split_whitespace().next()?.split_once(':')
}

fn time_of(entry: &TicketEntry) -> DateTime<Utc> {
    entry
        .data
        .get("time")
        .and_then(|t| t.as_str())
        .and_then(|t| t.parse().ok())
        .unwrap_or(entry.at)
}

fn tags_of(ticket: &Ticket) -> BTreeMap<String, String> {
    match &ticket.ownership {
        Ownership::Managed(m) => [
            (STACK_NAME_TAG.to_string(), m.stack_name.clone()),
            (LOGICAL_ID_TAG.to_string(), m.logical_id.clone()),
        ]
        .into(),
        _ => BTreeMap::new(),
    }
}

fn replay(
    ticket: &Ticket,
    entry: &TicketEntry,
    docs: &[PolicyDocument],
) -> Result<Option<Replayed>, GuardrailError> {
    let (Some(actor), Some((service, operation))) = (&entry.actor, api_of(entry)) else {
        return Ok(None);
    };
    let Some(spec) = lookup(service, operation) else {
        return Ok(None);
    };
    let request = Request {
        action: iam_action(spec),
        principal_arn: actor.principal.clone(),
        called_via: if actor.kind == ActorKind::Cloudformation {
            vec![CLOUDFORMATION.to_string()]
        } else {
            Vec::new()
        },
        resource_tags: tags_of(ticket),
        time: time_of(entry),
    };
    let denied_by = evaluate(docs, &request)?;
    Ok(Some(Replayed {
        ticket: ticket.id.clone(),
        at: request.time,
        api: format!("{service}:{operation}"),
        request,
        actor: actor.kind,
        resource: ticket.resource.label(),
        denied_by,
    }))
}

/// Replay every observed change since `since`, oldest first.
pub fn simulate(
    tickets: &[Ticket],
    docs: &[PolicyDocument],
    since: DateTime<Utc>,
) -> Result<Simulation, GuardrailError> {
    let mut sim = Simulation::default();
    for ticket in tickets {
        for entry in &ticket.history {
            if entry.kind != EntryKind::Observed || time_of(entry) < since {
                continue;
            }
            match replay(ticket, entry, docs)? {
                None => sim.skipped += 1,
                Some(r) if is_allowed_actor(r.actor) => sim.allowed.push(r),
                Some(r) => sim.hotfixes.push(r),
            }
        }
    }
    for list in [&mut sim.hotfixes, &mut sim.allowed] {
        list.sort_by(|a, b| (a.at, &a.ticket).cmp(&(b.at, &b.ticket)));
    }
    Ok(sim)
}
