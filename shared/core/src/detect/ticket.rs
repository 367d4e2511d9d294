//! The ticket write: the pure ticket rules
//! ([`driftguard_model::domain::ticket_rules`]) applied to the ticket as
//! read, written through [`crate::ports::modify`] (conditionally, and on a
//! conflict, someone else wrote first, re-read and re-applied, a bounded
//! number of times).
use std::convert::Infallible;

use super::{Pipeline, PipelineError, TicketWrite};
use crate::ports::modify::{modify, Attempts, Edit, Modified, ModifyError};
use driftguard_model::domain::ticket_rules::{apply_decision, DecisionFacts, TicketUpdate};
use driftguard_model::domain::Ticket;

/// A ticket as written (or found already written): how, and whether its
/// state changed.
pub(super) type Written = (Ticket, TicketWrite, bool);

/// What a [`TicketUpdate`] asks of the store: keep the ticket as read
/// (`None`: nothing to answer), or write one (create it when none was read);
/// with how and whether its state changed.
fn edit(update: TicketUpdate) -> Edit<Option<(TicketWrite, bool)>, Infallible> {
    match update {
        TicketUpdate::Nothing => Edit::Keep(None),
        // The ticket as read is the answer.
        TicketUpdate::AlreadyRecorded { state_changed, .. } => {
            Edit::Keep(Some((TicketWrite::AlreadyRecorded, state_changed)))
        }
        TicketUpdate::OutOfOrder { recorded: true, .. } => {
            Edit::Keep(Some((TicketWrite::OutOfOrder, false)))
        }
        TicketUpdate::OutOfOrder { ticket, .. } => {
            Edit::Write(ticket, Some((TicketWrite::OutOfOrder, false)))
        }
        TicketUpdate::Create(ticket) => Edit::Write(ticket, Some((TicketWrite::Created, true))),
        TicketUpdate::Update {
            ticket,
            state_changed,
        } => Edit::Write(ticket, Some((TicketWrite::Updated, state_changed))),
    }
}

impl Pipeline {
    /// `read`: the ticket as read before deciding, if it was (the first
    /// attempt's base: one `GetItem` fewer); a conflict re-reads.
    pub(super) async fn write_ticket(
        &self,
        facts: &DecisionFacts<'_>,
        read: Option<Option<Ticket>>,
    ) -> Result<Option<Written>, PipelineError> {
        let ticket_id = facts.fingerprint.ticket_id();
        let event_id = &facts.change.event_id;
        // A ticket gone since it was read is re-read too.
        let how = Attempts::new(self.settings.max_ticket_attempts)
            .retried(&self.settings.retry)
            .pausing()
            .missing_rereads();
        let modified = modify(&*self.ports.tickets, &ticket_id, how, read, |existing| {
            edit(apply_decision(
                existing.cloned(),
                facts,
                self.ports.clock.now(),
            ))
        })
        .await;
        match modified {
            Ok(Modified::Written(ticket, how)) => Ok(how.map(|(w, changed)| (ticket, w, changed))),
            Ok(Modified::Kept(ticket, how)) => Ok(ticket
                .zip(how)
                .map(|(ticket, (w, changed))| (ticket, w, changed))),
            Err(ModifyError::Stopped(never)) => match never {},
            Err(ModifyError::Read(e)) => Err(PipelineError::port("read ticket", event_id)(e)),
            Err(ModifyError::Write(e)) => Err(PipelineError::port("write ticket", event_id)(e)),
            Err(ModifyError::Contended { attempts, .. }) => Err(PipelineError::Contention {
                ticket_id,
                event_id: event_id.clone(),
                attempts,
            }),
        }
    }
}
