//! The checks before acting that read AWS: ownership and the stack's state
//! re-checked (`membership`), and the plan re-derived from the current
//! template and the ticket's change (`prepare`), never the stored plan.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::super::changeset::planned_others;
use super::super::planner::{
    check_targets, plan, plan_excluding, reverts_others_reason, widen_revert_drift, NoPlan,
    PlanInput, Planned,
};
use super::super::template::{Pseudo, TemplateView};
use super::ending::{Ending, Entry};
use super::gates::decided_at;
use super::{Attempt, Remediator};
use crate::ports::remediate::KnownGood;
use crate::ports::StackResourceSummary;
use crate::resilience::retry;
use driftguard_model::domain::policy::RevertsOthers;
use driftguard_model::domain::EntryKind;
use driftguard_model::domain::{
    Action, Ownership, Plan, StackMembership, Strategy, Ticket, TicketState,
};
use driftguard_model::error::PortError;

/// Why the checks before acting stopped: a conclusion for the ticket, or a
/// passing fault that fails the invocation.
pub(super) enum Halt {
    End(Box<Ending>),
    Retry(PortError),
}

impl From<Ending> for Halt {
    fn from(e: Ending) -> Self {
        Halt::End(Box::new(e))
    }
}

/// A re-derived plan that passed the checks before acting.
pub(super) struct Prepared {
    pub(super) membership: StackMembership,
    pub(super) plan: Plan,
    pub(super) digest: String,
    pub(super) approval_required: Option<String>,
    pub(super) entries: Vec<Entry>,
}

impl Remediator {
    /// Re-check ownership and the stack's state just before acting.
    pub(super) async fn membership(
        &self,
        ticket: &Ticket,
        attempt: &Attempt,
    ) -> Result<StackMembership, Halt> {
        let mut membership = if attempt.action == Action::Rollback {
            // A rollback acts on the stack itself: proven owned when the stack exists.
            let stack = ticket
                .ownership
                .membership()
                .map(|m| m.stack_name.clone())
                .or_else(|| {
                    attempt
                        .change
                        .as_ref()
                        .and_then(|c| c.stack_hint.as_ref())
                        .map(|h| h.stack.clone())
                })
                .unwrap_or_else(|| ticket.fingerprint.stack.clone());
            StackMembership {
                stack_id: stack.clone(),
                stack_name: stack,
                logical_id: ticket.fingerprint.logical_id.clone(),
                resource_type: ticket.resource.resource_type.clone(),
                stack_status: String::new(),
                stack_tags: BTreeMap::new(),
                nested: None,
            }
        } else {
            let m = self.managed_membership(ticket).await?;
            // owner_of described the stack just now (`StackCatalog::owner_of`):
            // its status is current, no second `DescribeStacks`.
            if !m.stack_status.is_empty() {
                return Ok(m);
            }
            m
        };
        let stack = &membership.stack_name;
        match retry(&self.settings.retry, "describe_stack", || {
            self.catalog.describe_stack(stack)
        })
        .await
        {
            Ok(Some(s)) => {
                membership.stack_id = s.stack_id;
                membership.stack_status = s.status;
                if membership.stack_tags.is_empty() {
                    membership.stack_tags = s.tags;
                }
            }
            Ok(None) => {
                return Err(Ending::refused(format!(
                    "stack {} does not exist",
                    membership.stack_name
                ))
                .into())
            }
            Err(e) if e.is_retryable() => return Err(Halt::Retry(e)),
            Err(e) => {
                return Err(Ending::refused(format!(
                    "stack {} could not be described: {e}",
                    membership.stack_name
                ))
                .into())
            }
        }
        Ok(membership)
    }

    async fn managed_membership(&self, ticket: &Ticket) -> Result<StackMembership, Halt> {
        let owner = retry(&self.settings.retry, "owner_of", || {
            self.catalog.owner_of(&ticket.resource)
        })
        .await;
        let ending = match owner {
            Ok(Ownership::Managed(m)) => {
                if let Some(before) = ticket.ownership.membership() {
                    if before.stack_name != m.stack_name || before.logical_id != m.logical_id {
                        return Err(Ending::refused(format!(
                            "ownership changed: ticket says {}/{}, CloudFormation now says {}/{}",
                            before.stack_name, before.logical_id, m.stack_name, m.logical_id
                        ))
                        .into());
                    }
                }
                return Ok(m);
            }
            Ok(Ownership::Unmanaged) => Ending::refused(format!(
                "{} is not managed by any stack",
                ticket.resource.label()
            )),
            Ok(other) => Ending::refused(format!("ownership not proven: {}", other.label())),
            Err(e) if e.is_retryable() => return Err(Halt::Retry(e)),
            Err(e) => Ending::refused(format!("ownership could not be re-checked: {e}")),
        };
        Err(ending.into())
    }

    async fn template(
        &self,
        m: &StackMembership,
        account: &str,
        region: &str,
    ) -> Result<TemplateView, String> {
        let t = self
            .templates
            .stack_template(&m.stack_name)
            .await
            .map_err(|e| format!("GetTemplate failed: {e}"))?;
        TemplateView::parse(
            &t.body,
            t.parameters,
            &Pseudo {
                stack_name: m.stack_name.clone(),
                stack_id: if t.stack_id.is_empty() {
                    m.stack_id.clone()
                } else {
                    t.stack_id
                },
                account: account.to_string(),
                region: region.to_string(),
            },
        )
    }

    /// The plan, re-derived from the current template and the ticket's change
    /// (the stored plan is never executed), its calls checked against the
    /// ticket's resource.
    pub(super) async fn prepare(
        &self,
        ticket: &Ticket,
        attempt: &Attempt,
        membership: StackMembership,
    ) -> Result<Prepared, Ending> {
        let status = membership.stack_status.clone();
        let template = self
            .template(
                &membership,
                &ticket.fingerprint.account,
                &ticket.fingerprint.region,
            )
            .await;
        let (resources, known_good) = self.rollback_facts(attempt, &membership).await;
        let input = PlanInput {
            ticket_id: &ticket.id,
            action: attempt.action,
            change: attempt.change.as_ref(),
            drift: ticket.drift.as_ref(),
            event_drift: ticket.event_drift.as_ref(),
            resource: &ticket.resource,
            membership: &membership,
            stack_status: &status,
            template: template.as_ref().map_err(|s| s.as_str()),
            stack_resources: &resources,
            known_good: &known_good,
            policy: &self.policy,
            now: ticket_plan_time(ticket),
        };
        let planned = match plan(&input) {
            Ok(p) => self.settle_revert_drift(ticket, &input, p).await,
            Err(no) => Err(no),
        };
        checked(planned, ticket, membership)
    }

    /// What a rollback plans from: the stack's resources and its known-good
    /// versions (none for other actions, and none when they cannot be read).
    async fn rollback_facts(
        &self,
        attempt: &Attempt,
        membership: &StackMembership,
    ) -> (Vec<StackResourceSummary>, Vec<KnownGood>) {
        let resources = if attempt.action == Action::Rollback {
            self.catalog
                .list_stack_resources(&membership.stack_name)
                .await
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let known_good = if attempt.action == Action::Rollback {
            self.templates
                .known_good(&membership.stack_name)
                .await
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        (resources, known_good)
    }

    /// A REVERT_DRIFT change set reverts every drifted resource of the stack:
    /// a throwaway preview says which, then the plan is kept (only the
    /// ticket's), widened for a person's approval or replaced by the next
    /// strategy, as `remediation.change_set_reverts_others` says; a preview
    /// that fails falls back too. A ticket REMEDIATING is verified, never
    /// acted on: no new preview, the stored plan names what was reverted.
    async fn settle_revert_drift(
        &self,
        ticket: &Ticket,
        input: &PlanInput<'_>,
        planned: Planned,
    ) -> Result<Planned, NoPlan> {
        if planned.plan.strategy != Strategy::RevertDriftChangeSet {
            return Ok(planned);
        }
        let own = input.membership.logical_id.as_str();
        let why = if ticket.state == TicketState::Remediating {
            match ticket.plan.as_ref() {
                Some(s) if s.strategy != Strategy::RevertDriftChangeSet => format!(
                    "an earlier attempt acted on the {} plan: verifying that one",
                    s.strategy.as_str()
                ),
                stored => {
                    let others = stored.map(|s| planned_others(s, own)).unwrap_or_default();
                    return Ok(widen_revert_drift(planned, &others));
                }
            }
        } else {
            match self.executor.change_set_reverts(&planned.plan).await {
                Ok(ids) => {
                    let others: Vec<String> =
                        ids.unwrap_or_default().into_iter().filter(|id| id != own).collect();
                    if others.is_empty() {
                        return Ok(planned);
                    }
                    match self.policy.remediation().change_set_reverts_others {
                        RevertsOthers::RequireApproval => {
                            return Ok(widen_revert_drift(planned, &others))
                        }
                        RevertsOthers::FallBack => {
                            reverts_others_reason(&input.membership.stack_name, &others)
                        }
                    }
                }
                Err(e) => format!(
                    "the drift-aware change set could not be previewed ({e}): falling back to the next strategy"
                ),
            }
        };
        plan_excluding(input, &[(Strategy::RevertDriftChangeSet, why)])
    }
}

/// Pure: the plan (or why there is none) checked against the ticket's
/// resource, with the entry that records it.
// The `Err` is `prepare`'s own, returned unchanged: boxing it here would
// only unbox it there.
#[allow(clippy::result_large_err)]
fn checked(
    planned: Result<Planned, NoPlan>,
    ticket: &Ticket,
    membership: StackMembership,
) -> Result<Prepared, Ending> {
    let planned = planned.map_err(|no| {
        let mut e = Ending::refused(no.reason);
        e.entries.push((
            EntryKind::Note,
            "no remediation strategy applies".into(),
            serde_json::to_value(&no.skipped).unwrap_or(Value::Null),
        ));
        e
    })?;
    let plan = planned.plan;
    if let Err(why) = check_targets(&plan, &ticket.resource, &membership) {
        return Err(Ending::refused(format!(
            "the plan does not target the ticket's resource: {why}"
        )));
    }
    let digest = plan.digest();
    let entries = vec![(
        EntryKind::Planned,
        format!(
            "planned {} (plan {digest}): {}",
            plan.strategy.as_str(),
            plan.expected
        ),
        serde_json::to_value(&plan).unwrap_or(Value::Null),
    )];
    Ok(Prepared {
        membership,
        plan,
        digest,
        approval_required: planned.approval_required,
        entries,
    })
}

/// The time the plan is made for: change set names derive from it, so the
/// same ticket decision gives the same plan (and digest) on every attempt.
fn ticket_plan_time(ticket: &Ticket) -> DateTime<Utc> {
    decided_at(ticket)
        .or(ticket.last_change.as_ref().map(|c| c.time))
        .unwrap_or(ticket.created_at)
}
