//! Acting, at most once per (ticket, change, plan digest): the claim
//! (`act_once`), then, holding it, rate limits and the circuit breaker, the
//! REMEDIATING mark, the plan executed, and convergence verified (`act`).
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::super::verify::{verify, Verification};
use super::ending::{Ending, Entry};
use super::prepare::Prepared;
use super::{Attempt, Outcome, RemediateError, Remediator};
use crate::idempotency::{self, Claimed, Idempotency, IdempotencyError, IdempotencySettings};
use crate::ports::remediate::ExecutionError;
use crate::resilience::CircuitBreaker;
use driftguard_model::domain::policy::RateLimit;
use driftguard_model::domain::EntryKind;
use driftguard_model::domain::{Plan, Ticket, TicketState};
use driftguard_model::error::PortError;
use driftguard_model::events::RemediationOutcome;

impl Remediator {
    /// Act at most once per (ticket, change, plan digest), whatever the envelope.
    pub(super) async fn act_once(
        &self,
        ticket: Ticket,
        attempt: &Attempt,
        p: Prepared,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Outcome, RemediateError> {
        let change_id = attempt
            .change
            .as_ref()
            .map(|c| c.event_id.as_str())
            .unwrap_or("-");
        let key = idempotency::remediation_key(&ticket.id, change_id, &p.digest);
        let settings = IdempotencySettings {
            record_ttl: Duration::days(self.settings.event_ttl_days),
            lease: self.settings.lease,
            retry: self.settings.retry,
            ..IdempotencySettings::default()
        };
        let once = Idempotency {
            store: self.tickets.as_ref(),
            clock: self.clock.as_ref(),
            settings: &settings,
        };
        let ran = once
            .run(&key, deadline, || async {
                let ending = super::super::changeset::with_deadline(
                    deadline,
                    self.act(&ticket, attempt, &p),
                )
                .await;
                let record = ending.record();
                let result = self.finish(ticket.clone(), attempt, ending).await?;
                Ok::<_, RemediateError>((result, record))
            })
            .await;
        match ran {
            Ok(Claimed::Ran(result)) => self.announce(result, &attempt.event_id).await,
            Ok(Claimed::AlreadyDone) => Ok(Outcome::Duplicate(format!(
                "{key} already done: not acting again"
            ))),
            Err(IdempotencyError::InProgress { key }) => Err(RemediateError::InProgress { key }),
            Err(IdempotencyError::Store { source, .. }) => Err(RemediateError::Store(source)),
            Err(IdempotencyError::Work(e)) => Err(e),
        }
    }

    /// Holding the claim: limits, breaker, REMEDIATING, act, verify. A ticket
    /// already REMEDIATING with this plan was acted on by an attempt that
    /// could not write its result: verify instead of acting again.
    async fn act(&self, ticket: &Ticket, attempt: &Attempt, p: &Prepared) -> Ending {
        let now = self.now();
        let mut entries = p.entries.clone();
        if let Some(a) = &attempt.approval {
            entries.push((
                EntryKind::Approved,
                format!(
                    "plan {} approved by {} via {} at {}",
                    a.plan_digest, a.approver_arn, a.via, a.approved_at
                ),
                Value::Null,
            ));
        }
        let plan_made = Some(p.plan.clone());
        let breaker = self.breaker();
        if ticket.state == TicketState::Remediating {
            return self
                .reverify(ticket, p, &breaker, now, &mut entries)
                .await
                .plan(plan_made)
                .with(entries);
        }
        let taken = match self
            .take_limits(ticket, attempt.environment.as_deref(), &p.membership, now)
            .await
        {
            Ok(t) => t,
            Err(why) => return Ending::refused(why).plan(plan_made).with(entries),
        };
        let stored_circuit = match self.check_breaker(&breaker, ticket, now).await {
            Ok(stored) => stored,
            Err(why) => {
                self.release(&taken, now).await;
                return Ending::refused(why).plan(plan_made).with(entries);
            }
        };
        let marking = match self.mark_remediating(ticket, &plan_made, now).await {
            Ok(marking) => marking,
            Err(refused) => {
                self.release(&taken, now).await;
                return refused.plan(plan_made).with(entries);
            }
        };
        let mut ending = self
            .execute_plan(ticket, p, &breaker, &taken, now, &mut entries)
            .await;
        // Nothing stored and nothing to store (no failure): no write, rather
        // than deleting an item that does not exist.
        let circuit = breaker.state(&ticket.id);
        if stored_circuit || circuit.is_some() {
            if let Err(e) = self.safety.save_circuit(&ticket.id, circuit).await {
                tracing::warn!(ticket = %ticket.id, error = %e, "could not save circuit state");
            }
        }
        ending.base = Some(Box::new(marking));
        ending.clear_approval = true;
        ending.plan(plan_made).with(entries)
    }

    /// A ticket already REMEDIATING: verified when it holds this plan, never
    /// acted on again.
    async fn reverify(
        &self,
        ticket: &Ticket,
        p: &Prepared,
        breaker: &CircuitBreaker,
        now: DateTime<Utc>,
        entries: &mut Vec<Entry>,
    ) -> Ending {
        if ticket.plan.as_ref().map(Plan::digest).as_deref() != Some(p.digest.as_str()) {
            return Ending::refused(format!(
                "ticket is REMEDIATING with another plan than {} (an earlier attempt may have acted): not acting; check the resource",
                p.digest
            ));
        }
        entries.push((
            EntryKind::Note,
            "an earlier attempt acted on this plan and could not record its result: verifying instead of acting".into(),
            Value::Null,
        ));
        let mut e = self.converge(ticket, p, breaker, now, entries).await;
        e.acted = true;
        e.clear_approval = true;
        e
    }

    /// REMEDIATING before touching anything, conditional on the ticket's
    /// version: never act without it. `Ok`: the ticket as written; `Err`:
    /// the refusal (the caller releases the rate-limit slots).
    async fn mark_remediating(
        &self,
        ticket: &Ticket,
        plan_made: &Option<Plan>,
        now: DateTime<Utc>,
    ) -> Result<Ticket, Ending> {
        let mut marking = ticket.clone();
        marking.plan = plan_made.clone();
        if let Err(e) = marking.transition(TicketState::Remediating, "acting on the plan", now) {
            return Err(Ending::refused(format!("{e}: not acting")));
        }
        marking.version += 1;
        if let Err(e) = self.write_ticket(&marking).await {
            // The mark may have landed (its answer lost): the refusal puts the
            // ticket back in the state it had, never leaving it REMEDIATING
            // with nothing done.
            return Err(Ending::refused(format!(
                "could not mark the ticket REMEDIATING ({e}): not acting"
            ))
            .state(ticket.state));
        }
        Ok(marking)
    }

    /// Execute the plan (the ticket is REMEDIATING) and verify it.
    async fn execute_plan(
        &self,
        ticket: &Ticket,
        p: &Prepared,
        breaker: &CircuitBreaker,
        taken: &[(String, RateLimit)],
        now: DateTime<Utc>,
        entries: &mut Vec<Entry>,
    ) -> Ending {
        match self.executor.execute(&p.plan).await {
            Ok(exec) => {
                entries.push((
                    EntryKind::Acted,
                    format!(
                        "executed {} ({} calls)",
                        p.plan.strategy.as_str(),
                        p.plan.calls.len()
                    ),
                    serde_json::json!(exec.notes),
                ));
                let mut e = self.converge(ticket, p, breaker, now, entries).await;
                e.acted = true;
                e
            }
            Err(ExecutionError::Refused(why)) => {
                self.release(taken, now).await;
                Ending::refused(why).state(TicketState::Open)
            }
            Err(ExecutionError::Port(e)) => {
                self.after_failed_call(ticket, p, breaker, now, entries, e)
                    .await
            }
        }
    }

    /// A remediation call failed, after its retries. It may have applied all
    /// the same (a timeout or a dropped connection after AWS acted, then a
    /// retry answered "already gone"), or in part: read the resource back
    /// before calling it a failure. Resolved only when the read-back proves
    /// it; otherwise FAILED with the call's error (the circuit counts one
    /// failure either way).
    async fn after_failed_call(
        &self,
        ticket: &Ticket,
        p: &Prepared,
        breaker: &CircuitBreaker,
        now: DateTime<Utc>,
        entries: &mut Vec<Entry>,
        error: PortError,
    ) -> Ending {
        entries.push((
            EntryKind::Note,
            format!("remediation call failed ({error}): reading the resource back, the call may have applied"),
            Value::Null,
        ));
        let mut verified = self.converge(ticket, p, breaker, now, entries).await;
        // A failed call may have changed part of the resource.
        verified.acted = true;
        if verified.outcome == RemediationOutcome::Resolved {
            verified.reason = format!(
                "{}, although a remediation call reported: {error}",
                verified.reason
            );
            return verified;
        }
        if verified.outcome == RemediationOutcome::Held {
            breaker.record_failure(&ticket.id, now);
        }
        let mut why = format!("remediation call failed: {error}");
        if breaker.check(&ticket.id, now).is_err() {
            why.push_str("; circuit opened for this resource");
        }
        let mut e = Ending::new(RemediationOutcome::Failed, why).state(TicketState::Failed);
        e.verified = verified.verified;
        e.acted = true;
        e
    }

    /// Verify convergence after acting.
    async fn converge(
        &self,
        ticket: &Ticket,
        p: &Prepared,
        breaker: &CircuitBreaker,
        now: DateTime<Utc>,
        entries: &mut Vec<Entry>,
    ) -> Ending {
        let detector = self.drift.as_deref();
        match verify(
            &p.plan,
            &p.membership,
            detector,
            self.executor.as_ref(),
            self.now(),
        )
        .await
        {
            Verification::Converged { method, drift } => {
                breaker.record_success(&ticket.id);
                entries.push((
                    EntryKind::Verified,
                    format!("IN_SYNC, verified by {method}"),
                    Value::Null,
                ));
                let mut e = Ending::new(
                    RemediationOutcome::Resolved,
                    format!("reverted and verified IN_SYNC by {method}"),
                )
                .state(TicketState::Resolved);
                e.verified = Some(drift);
                e
            }
            Verification::NotConverged {
                method,
                reason,
                drift,
            } => {
                breaker.record_failure(&ticket.id, now);
                entries.push((
                    EntryKind::Verified,
                    format!("not converged ({method}): {reason}"),
                    Value::Null,
                ));
                let mut e = Ending::new(
                    RemediationOutcome::Failed,
                    format!("acted, but still drifted: {reason} ({method})"),
                )
                .state(TicketState::Failed);
                e.verified = Some(drift);
                e
            }
            Verification::InProgress { reason } => {
                Ending::new(RemediationOutcome::Held, reason).state(TicketState::Remediating)
            }
            Verification::Unavailable { reason } => {
                breaker.record_failure(&ticket.id, now);
                Ending::new(
                    RemediationOutcome::Failed,
                    format!("acted, but convergence could not be verified: {reason}"),
                )
                .state(TicketState::Failed)
            }
        }
    }
}
