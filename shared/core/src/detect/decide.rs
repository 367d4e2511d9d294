//! The per-change decision flow (`process_change`, and each claimed event):
//! gather what the decision is taken on (actor, ownership, drift, the ticket
//! as read, the account's facts), decide (pure), write the ticket, publish,
//! log.
use std::time::Instant;

use super::{carried_actor, DecisionReport, Pipeline, PipelineError, TicketReport};
use driftguard_model::domain::accepted_decision;
use driftguard_model::domain::decisive;
use driftguard_model::domain::ticket_rules::ping_pong::break_ping_pong;
use driftguard_model::domain::ticket_rules::DecisionFacts;
use driftguard_model::domain::{
    decide, decide_hit_and_run, policy::AccountFacts, Actor, ActorKind, Change, ChangeSource,
    Decision, DecisionInput, Drift, Fingerprint, Ownership, Ticket,
};

/// What one change is decided on, looked up in its account.
struct Gathered {
    actor: Actor,
    ownership: Ownership,
    drift: Option<Drift>,
    event_drift: Option<Drift>,
    /// The ticket the change lands on as read before deciding, `None` when
    /// not read; the read is also the ticket write's first base (the write
    /// is conditional, so a ticket changed since is re-read).
    read: Option<Option<Ticket>>,
    account_facts: Option<AccountFacts>,
}

impl Pipeline {
    /// Decide about one change without claiming its id: what the scheduled sweep
    /// calls. Set `change.drift_hint` (from `DescribeStackResourceDrifts`) and
    /// drift detection is skipped. Re-running with the same `event_id` does not
    /// record the change twice on the ticket (it republishes the decision).
    pub async fn process_change(&self, change: Change) -> Result<DecisionReport, PipelineError> {
        // Boxed: one decision is a large future (see `claim_and_run`'s caller).
        Box::pin(self.run(change, None, Instant::now())).await
    }

    /// Decide about `change`; `known`: its ownership, when it was settled
    /// before the claim (`identified`), else looked up here.
    // long: gather, the people-by-trust re-check (it decides twice), decide, write, announce, report in one readable sequence; split next time it grows
    pub(super) async fn run(
        &self,
        change: Change,
        known: Option<Ownership>,
        started: Instant,
    ) -> Result<DecisionReport, PipelineError> {
        let Gathered {
            actor,
            ownership,
            drift,
            event_drift,
            read,
            account_facts,
        } = self.gather(&change, known).await?;
        let shown = decisive(drift.as_ref(), event_drift.as_ref());
        let previous = read.as_ref().and_then(Option::as_ref);
        let actor = self
            .people_by_trust(actor, &change, |a| {
                self.decide_on(
                    previous,
                    &DecisionInput {
                        change: &change,
                        actor: a,
                        ownership: &ownership,
                        drift: shown,
                        account: account_facts.as_ref(),
                    },
                    event_drift.as_ref(),
                )
            })
            .await;
        let decision = self.decide_on(
            previous,
            &DecisionInput {
                change: &change,
                actor: &actor,
                ownership: &ownership,
                drift: shown,
                account: account_facts.as_ref(),
            },
            event_drift.as_ref(),
        );

        let fingerprint = Fingerprint::for_change(&change, &ownership);
        let facts = DecisionFacts {
            change: &change,
            actor: &actor,
            ownership: &ownership,
            drift: drift.as_ref(),
            event_drift: event_drift.as_ref(),
            decision: &decision,
            fingerprint: &fingerprint,
        };
        let may_have_ticket = decision.verdict.action.tickets()
            || decision.held.is_some()
            || !matches!(ownership, Ownership::NotChecked | Ownership::Unmanaged);
        let written = if may_have_ticket {
            self.write_ticket(&facts, read).await?
        } else {
            None
        };
        let published = self.announce(&facts, written.as_ref()).await?;

        let report = DecisionReport {
            event_id: change.event_id.clone(),
            resource: change.resource.label(),
            actor,
            ownership,
            decision,
            drift,
            event_drift,
            ticket: written.map(|(t, write, state_changed)| TicketReport {
                id: t.id,
                state: t.state,
                state_changed,
                write,
            }),
            published,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        self.record_decision(&report, &change);
        Ok(report)
    }

    /// Actor, ownership, drift, the ticket as read and the account's facts.
    /// Our own calls and CloudFormation's deploys need no drift, ticket or
    /// account lookups.
    async fn gather(
        &self,
        change: &Change,
        known: Option<Ownership>,
    ) -> Result<Gathered, PipelineError> {
        let port_err = |step| PipelineError::port(step, &change.event_id);
        let lookups = self
            .lookups_for(change)
            .await
            .map_err(port_err("assume member role"))?;
        let mut actor = self.actor_of(&lookups, change).await;

        // Our own calls are ignored whatever else is true: no lookups spent on
        // them. CloudFormation's are checked against the owning stack first.
        let cloudformation = actor.kind == ActorKind::Cloudformation
            && change.source != ChangeSource::CloudformationStack;
        let ownership = match known {
            _ if actor.kind == ActorKind::Driftguard => Ownership::NotChecked,
            Some(known) => known,
            None => self
                .ownership_of(&lookups, change)
                .await
                .map_err(port_err("resolve ownership"))?,
        };
        if cloudformation {
            Self::cloudformation_for_another_stack(&mut actor, &ownership);
        }
        let skip_lookups = actor.kind == ActorKind::Driftguard
            || (actor.kind == ActorKind::Cloudformation
                && change.source != ChangeSource::CloudformationStack);

        let (drift, event_drift) = if skip_lookups {
            (None, None)
        } else {
            self.drift_of(&lookups, change, &ownership).await
        };

        let shown = decisive(drift.as_ref(), event_drift.as_ref());
        let read: Option<Option<Ticket>> = if skip_lookups {
            None
        } else {
            Some(
                self.previous_ticket(change, &ownership)
                    .await
                    .map_err(port_err("read ticket"))?,
            )
        };
        let previous = read.as_ref().and_then(Option::as_ref);
        let actor = carried_actor(previous, change, actor, shown);
        let account_facts = if skip_lookups {
            None
        } else {
            self.account_facts(&change.account)
                .await
                .map_err(port_err("look up the account in AWS Organizations"))?
        };
        Ok(Gathered {
            actor,
            ownership,
            drift,
            event_drift,
            read,
            account_facts,
        })
    }

    /// The decision: the one an accepted drift still stands on, else a
    /// hit-and-run's (the change already undone: a ticket that resolves
    /// itself), else the policy's; capped by the ping-pong breaker (the
    /// property already flipped back twice after a revert within the
    /// per-stack window); `DRY_RUN=true` makes it dry-run. Pure.
    fn decide_on(
        &self,
        previous: Option<&Ticket>,
        input: &DecisionInput<'_>,
        event_drift: Option<&Drift>,
    ) -> Decision {
        let mut decision = previous
            .and_then(|t| accepted_decision(t, input.drift))
            .or_else(|| decide_hit_and_run(input, event_drift, &self.policy))
            .unwrap_or_else(|| decide(input, &self.policy));
        if let Some(ticket) = previous {
            let paths = input.drift.map(Drift::property_paths).unwrap_or_default();
            let window = self.policy.rate_limits().per_stack.window_minutes;
            break_ping_pong(
                ticket,
                input.actor,
                input.change.time,
                &paths,
                chrono::Duration::minutes(i64::from(window)),
                &mut decision,
            );
        }
        if self.settings.force_dry_run && !decision.verdict.dry_run {
            decision.verdict.dry_run = true;
            decision.verdict.reason = format!(
                "{}; dry-run forced by DRY_RUN=true",
                decision.verdict.reason
            );
        }
        decision
    }
}
