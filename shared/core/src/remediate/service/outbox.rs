//! The transactional outbox: the write that ends a remediation also holds its
//! result (`finish`), which is then put on the bus and cleared (`announce`);
//! a result the bus refused waits in the ticket's outbox until the next run
//! publishes it (`flush_outbox`). Every ticket write is conditional on the
//! ticket's version and recognises a write whose answer was lost
//! (`write_ticket`).
use serde_json::Value;

use super::ending::{apply_ending, holds_ending, result_of, state_moves, Ending};
use super::gates::decided_at;
use super::{Attempt, Outcome, RemediateError, Remediator};
use crate::resilience::retry;
use driftguard_model::domain::Ticket;
use driftguard_model::domain::Unannounced;
use driftguard_model::error::PortError;
use driftguard_model::events::{RemediationResult, REMEDIATION_RESULT};

/// A remediation's ending as written: the result and the ticket holding it
/// in its outbox.
pub(super) struct Finished {
    result: RemediationResult,
    ticket: Ticket,
}

impl Remediator {
    /// Put the result on the bus, then clear the ticket's outbox, where
    /// [`Remediator::finish`] wrote it with the ending. When the put fails
    /// through every retry, the result stays in the outbox and the invocation
    /// fails: the re-delivery publishes it ([`Remediator::flush_outbox`]).
    pub(super) async fn announce(
        &self,
        finished: Finished,
        envelope_id: &str,
    ) -> Result<Outcome, RemediateError> {
        let Finished { result, ticket } = finished;
        let Some(kept) = ticket.unannounced.as_ref() else {
            tracing::error!(ticket = %result.ticket_id, "cannot serialize remediation result");
            return Ok(Outcome::Finished(Box::new(result)));
        };
        match self.put_result(&kept.detail).await {
            Ok(()) => {
                tracing::info!(
                    ticket = %result.ticket_id,
                    outcome = result.outcome.as_str(),
                    state = %result.ticket_state,
                    reason = %result.reason,
                    "remediation result"
                );
                self.clear_outbox(ticket).await;
                Ok(Outcome::Finished(Box::new(result)))
            }
            Err(source) => {
                tracing::warn!(
                    ticket = %result.ticket_id,
                    event = envelope_id,
                    "remediation result kept in the ticket's outbox"
                );
                Err(RemediateError::Unannounced {
                    ticket: result.ticket_id.clone(),
                    source,
                })
            }
        }
    }

    async fn put_result(&self, detail: &Value) -> Result<(), PortError> {
        retry(&self.settings.retry, "eventbridge:PutEvents", || {
            self.bus.publish(REMEDIATION_RESULT, detail)
        })
        .await
    }

    /// Empty the outbox of a ticket whose result is published. A failed
    /// clear is logged: the next run announces the result again (messages
    /// are at least once), never not at all. Returns the ticket as stored.
    async fn clear_outbox(&self, ticket: Ticket) -> Ticket {
        let mut cleared = ticket.clone();
        cleared.unannounced = None;
        cleared.version += 1;
        match self.write_ticket(&cleared).await {
            Ok(()) => cleared,
            Err(e) => {
                tracing::warn!(ticket = %ticket.id, error = %e, "published the outbox but could not clear it");
                ticket
            }
        }
    }

    /// Publish what an earlier invocation could not, then clear the outbox.
    /// A failed clear is logged: the result may then be announced twice
    /// (messages are at least once), never not at all.
    /// Returns the ticket and, when it published one, the event id whose result it was.
    pub(super) async fn flush_outbox(
        &self,
        ticket: Ticket,
    ) -> Result<(Ticket, Option<String>), RemediateError> {
        let Some(kept) = ticket.unannounced.clone() else {
            return Ok((ticket, None));
        };
        self.put_result(&kept.detail)
            .await
            .map_err(|source| RemediateError::Unannounced {
                ticket: ticket.id.clone(),
                source,
            })?;
        tracing::info!(ticket = %ticket.id, event = %kept.event_id, "published the remediation result kept in the outbox");
        Ok((self.clear_outbox(ticket).await, Some(kept.event_id)))
    }

    /// A conditional ticket write (on its version), retried. A write whose
    /// answer was lost (it timed out, the connection dropped, yet DynamoDB
    /// applied it) fails its retry's condition: the ticket is re-read, and
    /// when it is the very ticket written (same version, same content), the
    /// write landed. Without this, a lost answer after REMEDIATING or after
    /// the ending would read as a conflict with another invocation.
    pub(super) async fn write_ticket(&self, t: &Ticket) -> Result<(), PortError> {
        let faulted = std::sync::atomic::AtomicBool::new(false);
        let written = retry(&self.settings.retry, "update_ticket", || async {
            let r = self.tickets.update_ticket(t).await;
            if r.as_ref().is_err_and(PortError::is_retryable) {
                faulted.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            r
        })
        .await;
        match written {
            Err(PortError::Conflict { .. }) if faulted.into_inner() => {
                let stored = retry(&self.settings.retry, "get_ticket", || {
                    self.tickets.get_ticket(&t.id)
                })
                .await?;
                // The ticket written: same version, state and history (whole
                // equality would depend on every field round-tripping exactly).
                let ours = stored.is_some_and(|s| {
                    s.version == t.version
                        && s.state == t.state
                        && s.history.len() == t.history.len()
                });
                if ours {
                    Ok(())
                } else {
                    written
                }
            }
            other => other,
        }
    }

    /// Write the ending on the ticket (re-reading on conflicts) and build the
    /// result. The result goes into the ticket's outbox in the same write
    /// (a transactional outbox): whatever fails after it, the write that
    /// ended the remediation also holds its announcement.
    pub(super) async fn finish(
        &self,
        ticket: Ticket,
        attempt: &Attempt,
        mut ending: Ending,
    ) -> Result<Finished, RemediateError> {
        let initial_state = ticket.state;
        let now = self.now();
        let mut current = ending.base.take().map_or(ticket, |b| *b);
        let mut conflicts = 0;
        let (saved, result) = loop {
            let mut t = current.clone();
            let moves_before = state_moves(&t);
            apply_ending(&mut t, attempt, &ending, now);
            // Announced when the state differs from the one the decision
            // announced, or when this ending moved the ticket (out of
            // REMEDIATING back to OPEN: the revert the decision announced
            // did not happen).
            let state_changed = t.state != initial_state || state_moves(&t) > moves_before;
            let result = result_of(&t, attempt, &ending, state_changed, now);
            t.unannounced = serde_json::to_value(&result)
                .ok()
                .map(|detail| Unannounced {
                    event_id: attempt.event_id.clone(),
                    detail,
                });
            t.version += 1;
            match self.write_ticket(&t).await {
                Ok(()) => break (t, result),
                Err(PortError::Conflict { .. }) if conflicts < 3 => {
                    conflicts += 1;
                    current = retry(&self.settings.retry, "get_ticket", || {
                        self.tickets.get_ticket(&t.id)
                    })
                    .await
                    .map_err(RemediateError::Store)?
                    .ok_or_else(|| {
                        RemediateError::Store(PortError::NotFound {
                            what: format!("ticket {}", t.id),
                        })
                    })?;
                    // Our write may have landed (its answer lost) before
                    // another writer moved the ticket on: never apply the
                    // ending twice.
                    if holds_ending(&current, attempt, now) {
                        break (current, result);
                    }
                }
                Err(e) => return Err(RemediateError::Store(e)),
            }
        };
        crate::metrics::emit(&crate::metrics::remediation(
            &result,
            saved
                .decision
                .as_ref()
                .map_or(saved.severity, |d| d.verdict.severity),
            attempt.action,
            decided_at(&saved),
        ));
        Ok(Finished {
            result,
            ticket: saved,
        })
    }
}
