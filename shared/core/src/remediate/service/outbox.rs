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
use crate::ports::modify::{modify, write_recognising, Attempts, Edit, Modified, ModifyError};
use crate::resilience::retry;
use chrono::{DateTime, Utc};
use driftguard_model::domain::Unannounced;
use driftguard_model::domain::{Ticket, TicketState};
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

    /// A conditional ticket write (on its version), retried, that recognises
    /// a write whose answer was lost ([`write_recognising`]).
    pub(super) async fn write_ticket(&self, t: &Ticket) -> Result<(), PortError> {
        write_recognising(&*self.tickets, Some(&self.settings.retry), t).await
    }

    /// Write the ending on the ticket (re-reading on conflicts, through
    /// [`modify`]) and build the result. The result goes into the ticket's
    /// outbox in the same write (a transactional outbox): whatever fails
    /// after it, the write that ended the remediation also holds its
    /// announcement.
    pub(super) async fn finish(
        &self,
        ticket: Ticket,
        attempt: &Attempt,
        mut ending: Ending,
    ) -> Result<Finished, RemediateError> {
        let initial_state = ticket.state;
        let now = self.now();
        let base = ending.base.take().map_or(ticket, |b| *b);
        let id = base.id.clone();
        // The result of the last write tried: a re-read after its conflict
        // may show it landed.
        let mut tried: Option<RemediationResult> = None;
        let how = Attempts::new(4)
            .retried(&self.settings.retry)
            .recognising_lost_answers();
        let modified = modify(&*self.tickets, &id, how, Some(Some(base)), |current| {
            let Some(current) = current else {
                return Edit::Stop(missing(&id));
            };
            // Our write may have landed (its answer lost) before another
            // writer moved the ticket on: never apply the ending twice.
            if let Some(result) = tried.take().filter(|_| holds_ending(current, attempt, now)) {
                return Edit::Keep(result);
            }
            let (t, result) = ended(current.clone(), attempt, &ending, initial_state, now);
            tried = Some(result.clone());
            Edit::Write(t, result)
        })
        .await;
        let (saved, result) = match modified {
            Ok(Modified::Written(t, result)) => (t, result),
            Ok(Modified::Kept(t, result)) => (
                t.ok_or_else(|| RemediateError::Store(missing(&id)))?,
                result,
            ),
            Err(
                ModifyError::Stopped(e)
                | ModifyError::Read(e)
                | ModifyError::Write(e)
                | ModifyError::Contended { last: e, .. },
            ) => return Err(RemediateError::Store(e)),
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

/// The ticket with the ending applied and its result in the outbox.
fn ended(
    mut t: Ticket,
    attempt: &Attempt,
    ending: &Ending,
    initial_state: TicketState,
    now: DateTime<Utc>,
) -> (Ticket, RemediationResult) {
    let moves_before = state_moves(&t);
    apply_ending(&mut t, attempt, ending, now);
    // Announced when the state differs from the one the decision
    // announced, or when this ending moved the ticket (out of
    // REMEDIATING back to OPEN: the revert the decision announced
    // did not happen).
    let state_changed = t.state != initial_state || state_moves(&t) > moves_before;
    let result = result_of(&t, attempt, ending, state_changed, now);
    t.unannounced = serde_json::to_value(&result)
        .ok()
        .map(|detail| Unannounced {
            event_id: attempt.event_id.clone(),
            detail,
        });
    t.version += 1;
    (t, result)
}

fn missing(id: &str) -> PortError {
    PortError::NotFound {
        what: format!("ticket {id}"),
    }
}
