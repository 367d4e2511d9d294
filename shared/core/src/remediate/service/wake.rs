//! Waking up: the envelope is read for the one thing it may say (which
//! ticket to look at), the ticket is read, a ticket of a member account is
//! handed to that account's remediator, and the attempt drawn from the
//! ticket goes through the gates, the checks before acting and acting.
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::ending::Ending;
use super::gates::{gates, Gate, GateFacts};
use super::prepare::Halt;
use super::{Attempt, Envelope, Outcome, RemediateError, Remediator};
use crate::resilience::retry;
use driftguard_model::domain::Ticket;
use driftguard_model::events::{DRIFT_DECISION, REMEDIATION_APPROVED, SOURCE};

/// The one field of a wake-up call remediate reads: which ticket to look at.
#[derive(Debug, Clone, Deserialize)]
struct WakeUp {
    ticket_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wake {
    Decision,
    Approval,
}

impl Remediator {
    pub(super) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Handle one envelope with no known deadline (tests, the demo).
    pub async fn handle(&self, event: Value) -> Result<Outcome, RemediateError> {
        self.handle_until(event, None).await
    }

    /// Handle one envelope (the Lambda's whole job). `deadline`: when this
    /// invocation times out (the Lambda context's deadline), the claim's lease.
    pub async fn handle_until(
        &self,
        event: Value,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Outcome, RemediateError> {
        let envelope: Envelope =
            serde_json::from_value(event).map_err(|e| RemediateError::Malformed {
                id: "?".into(),
                detail_type: "?".into(),
                message: e.to_string(),
            })?;
        if envelope.source != SOURCE {
            return Ok(Outcome::Ignored(format!(
                "source {} is not {SOURCE}",
                envelope.source
            )));
        }
        let wake = match envelope.detail_type.as_str() {
            DRIFT_DECISION => Wake::Decision,
            REMEDIATION_APPROVED => Wake::Approval,
            other => {
                return Ok(Outcome::Ignored(format!(
                    "detail-type {other} is not for remediate"
                )))
            }
        };
        let wake_up: WakeUp = serde_json::from_value(envelope.detail.clone()).map_err(|e| {
            RemediateError::Malformed {
                id: envelope.id.clone(),
                detail_type: envelope.detail_type.clone(),
                message: e.to_string(),
            }
        })?;
        // Boxed: the whole attempt (gates, plan, act, verify, outbox) is one
        // large future; on the heap it does not weigh on the caller's stack
        // (the CLI's demo runs detect and remediate inside one task).
        Box::pin(self.wake(wake, &wake_up.ticket_id, &envelope.id, deadline)).await
    }

    /// Read the ticket and act on what it says.
    async fn wake(
        &self,
        wake: Wake,
        ticket_id: &str,
        envelope_id: &str,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Outcome, RemediateError> {
        let Some(ticket) = retry(&self.settings.retry, "get_ticket", || {
            self.tickets.get_ticket(ticket_id)
        })
        .await
        .map_err(RemediateError::Store)?
        else {
            return Ok(Outcome::Ignored(format!(
                "ticket {ticket_id} does not exist: nothing to do"
            )));
        };
        let ticket_account = ticket.fingerprint.account.clone();
        let elsewhere = !ticket_account.is_empty()
            && self
                .accounts
                .account
                .as_ref()
                .is_some_and(|a| *a != ticket_account);
        if elsewhere {
            let Some(members) = &self.accounts.members else {
                return Ok(Outcome::Ignored(format!(
                    "ticket {ticket_id} is in account {ticket_account}, not this remediator's {}",
                    self.accounts.account.as_deref().unwrap_or_default()
                )));
            };
            let region = ticket.fingerprint.region.clone();
            let member = retry(&self.settings.retry, "sts:AssumeRole", || {
                members.remediator(&ticket_account, &region)
            })
            .await;
            return match member {
                // Boxed: the remediation's future is large, and two of them
                // inline would double this one's (debug-build stacks).
                Ok(m) => Box::pin(m.wake_ticket(wake, ticket, envelope_id, deadline)).await,
                Err(e) if e.is_retryable() => Err(RemediateError::Unavailable(e)),
                Err(e) => {
                    tracing::warn!(ticket = %ticket_id, account = %ticket_account, error = %e, "member remediation role cannot be used: not remediated");
                    let why = format!(
                        "account {ticket_account}'s remediation role cannot be used: {e}; \
                         not remediated, left for a human (docs/multi-account.md)"
                    );
                    Box::pin(self.refuse_unreachable(ticket, envelope_id, why)).await
                }
            };
        }
        Box::pin(self.wake_ticket(wake, ticket, envelope_id, deadline)).await
    }

    /// A ticket whose member account cannot be reached: refused on the
    /// ticket (an entry, the result on the bus, so notify says it once per
    /// decision), when its verdict remediates at all.
    async fn refuse_unreachable(
        &self,
        ticket: Ticket,
        envelope_id: &str,
        why: String,
    ) -> Result<Outcome, RemediateError> {
        let Some(decision) = ticket.decision.clone().filter(|d| d.verdict.action.acts()) else {
            return Ok(Outcome::Ignored(format!("ticket {}: {why}", ticket.id)));
        };
        let attempt = Attempt::from_ticket(&ticket, &decision, envelope_id, self.settings.dry_run);
        // A redelivery of the same decision: said once already.
        if ticket.history.iter().any(|e| {
            e.event_id.as_deref() == Some(attempt.event_id.as_str()) && e.summary.contains(&why)
        }) {
            return Ok(Outcome::Duplicate(format!(
                "ticket {} already says: {why}",
                ticket.id
            )));
        }
        self.conclude(ticket, &attempt, Ending::refused(why)).await
    }

    /// Act on what a ticket of this remediator's account says.
    async fn wake_ticket(
        &self,
        wake: Wake,
        ticket: Ticket,
        envelope_id: &str,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Outcome, RemediateError> {
        let ticket_id = ticket.id.clone();
        let ticket_id = ticket_id.as_str();
        let (ticket, flushed) = self.flush_outbox(ticket).await?;
        if flushed.as_deref() == Some(envelope_id) {
            return Ok(Outcome::Duplicate(format!(
                "{envelope_id} was handled; its result waited in ticket {ticket_id}'s outbox and is now published"
            )));
        }
        let Some(decision) = ticket.decision.clone() else {
            return Ok(Outcome::Ignored(format!(
                "ticket {ticket_id} has no decision: nothing to do"
            )));
        };
        let action = decision.verdict.action;
        if !action.acts() {
            return Ok(Outcome::Ignored(format!(
                "ticket {ticket_id}'s verdict {action} does not remediate"
            )));
        }
        let mut attempt =
            Attempt::from_ticket(&ticket, &decision, envelope_id, self.settings.dry_run);
        if wake == Wake::Approval {
            attempt.approval = ticket.approval.clone();
        }
        self.through_gates(wake, ticket, &attempt, deadline).await
    }

    /// The tail of an attempt: gates → membership → gates → prepare → gates
    /// → act (once). Each stop is concluded on the ticket.
    async fn through_gates(
        &self,
        wake: Wake,
        ticket: Ticket,
        attempt: &Attempt,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Outcome, RemediateError> {
        let now = self.now();
        let before = GateFacts {
            wake,
            ticket: &ticket,
            attempt,
            membership: None,
            policy: &self.policy,
            plan: None,
            now,
        };
        if let Gate::End(ending) = gates(&before) {
            return self.conclude(ticket.clone(), attempt, *ending).await;
        }
        let membership = match self.membership(&ticket, attempt).await {
            Ok(m) => m,
            Err(Halt::End(ending)) => return self.conclude(ticket.clone(), attempt, *ending).await,
            Err(Halt::Retry(e)) => return Err(RemediateError::Unavailable(e)),
        };
        let owned = GateFacts {
            membership: Some(&membership),
            ..before
        };
        if let Gate::End(ending) = gates(&owned) {
            return self.conclude(ticket.clone(), attempt, *ending).await;
        }
        let prepared = match self.prepare(&ticket, attempt, membership).await {
            Ok(p) => p,
            Err(ending) => return self.conclude(ticket.clone(), attempt, ending).await,
        };
        let planned = GateFacts {
            membership: Some(&prepared.membership),
            plan: Some(&prepared),
            ..before
        };
        match gates(&planned) {
            Gate::End(ending) => self.conclude(ticket.clone(), attempt, *ending).await,
            Gate::Ignore(why) => Ok(Outcome::Ignored(why)),
            Gate::Proceed => {
                self.act_once(ticket.clone(), attempt, prepared, deadline)
                    .await
            }
        }
    }

    async fn conclude(
        &self,
        ticket: Ticket,
        attempt: &Attempt,
        ending: Ending,
    ) -> Result<Outcome, RemediateError> {
        let result = self.finish(ticket, attempt, ending).await?;
        self.announce(result, &attempt.event_id).await
    }
}
