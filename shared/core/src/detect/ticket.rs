//! The ticket write: the pure ticket rules
//! ([`driftguard_model::domain::ticket_rules`]) applied to the ticket as
//! read, written conditionally, and on a conflict (someone else wrote first)
//! re-read and re-applied, a bounded number of times.
use rand::Rng;

use super::{Pipeline, PipelineError, TicketWrite};
use crate::resilience::retry;
use driftguard_model::domain::ticket_rules::{apply_decision, DecisionFacts, TicketUpdate};
use driftguard_model::domain::Ticket;
use driftguard_model::error::PortError;

/// A ticket as written (or found already written): how, and whether its
/// state changed.
pub(super) type Written = (Ticket, TicketWrite, bool);

/// What a [`TicketUpdate`] asks of the store.
enum Put {
    /// Nothing to write: the answer as it stands.
    Done(Option<Written>),
    Create(Ticket),
    /// A conditional update, then the answer.
    Update(Written),
}

impl Put {
    fn of(update: TicketUpdate) -> Self {
        match update {
            TicketUpdate::Nothing => Self::Done(None),
            TicketUpdate::AlreadyRecorded {
                ticket,
                state_changed,
            } => Self::Done(Some((ticket, TicketWrite::AlreadyRecorded, state_changed))),
            TicketUpdate::OutOfOrder {
                ticket,
                recorded: true,
            } => Self::Done(Some((ticket, TicketWrite::OutOfOrder, false))),
            TicketUpdate::OutOfOrder { ticket, .. } => {
                Self::Update((ticket, TicketWrite::OutOfOrder, false))
            }
            TicketUpdate::Create(ticket) => Self::Create(ticket),
            TicketUpdate::Update {
                ticket,
                state_changed,
            } => Self::Update((ticket, TicketWrite::Updated, state_changed)),
        }
    }
}

impl Pipeline {
    /// `read`: the ticket as read before deciding, if it was (the first
    /// attempt's base: one `GetItem` fewer); a conflict re-reads.
    pub(super) async fn write_ticket(
        &self,
        facts: &DecisionFacts<'_>,
        mut read: Option<Option<Ticket>>,
    ) -> Result<Option<Written>, PipelineError> {
        let ticket_id = facts.fingerprint.ticket_id();
        let event_id = &facts.change.event_id;
        let attempts = self.settings.max_ticket_attempts.max(1);
        for attempt in 1..=attempts {
            let existing = match read.take() {
                Some(existing) => existing,
                None => retry(&self.settings.retry, "get_ticket", || {
                    self.ports.tickets.get_ticket(&ticket_id)
                })
                .await
                .map_err(PipelineError::port("read ticket", event_id))?,
            };
            let now = self.ports.clock.now();
            match self
                .put(Put::of(apply_decision(existing, facts, now)))
                .await
            {
                Ok(done) => return Ok(done),
                // Someone else wrote first: re-read and re-apply.
                Err(PortError::Conflict { .. }) | Err(PortError::NotFound { .. }) => {
                    tracing::debug!(ticket_id = %ticket_id, attempt, "ticket write conflict: re-reading");
                    conflict_pause(attempt).await;
                }
                Err(e) => return Err(PipelineError::port("write ticket", event_id)(e)),
            }
        }
        Err(PipelineError::Contention {
            ticket_id,
            event_id: event_id.clone(),
            attempts,
        })
    }

    /// The write a [`Put`] asks for (with the pipeline's retries).
    async fn put(&self, put: Put) -> Result<Option<Written>, PortError> {
        match put {
            Put::Done(done) => Ok(done),
            Put::Create(ticket) => retry(&self.settings.retry, "create_ticket", || {
                self.ports.tickets.create_ticket(&ticket)
            })
            .await
            .map(|_| Some((ticket, TicketWrite::Created, true))),
            Put::Update((ticket, write, state_changed)) => {
                retry(&self.settings.retry, "update_ticket", || {
                    self.ports.tickets.update_ticket(&ticket)
                })
                .await
                .map(|_| Some((ticket, write, state_changed)))
            }
        }
    }
}

/// A random pause before re-reading a contended ticket, longer with each
/// attempt (up to 100 ms).
async fn conflict_pause(attempt: u32) {
    let cap = (5 * u64::from(attempt)).min(100);
    let pause = rand::rng().random_range(0..=cap);
    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
}
