//! A ticket store with faults injected on purpose: [`FaultyTickets`] wraps
//! any [`TicketStore`] (the memory store in unit tests, DynamoDB on moto in
//! the integration tests) and answers as the real one does when a read
//! fails, a write fails, or a write lands but its answer is lost. Every
//! fault double of the tests is a configuration of this one wrapper, so the
//! repository keeps exactly three ticket stores: DynamoDB, memory, and the
//! CLI's preview overlay.
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ports::{Claim, TicketStore};
use crate::sync::lock;
use driftguard_model::domain::{Ticket, TicketState};
use driftguard_model::error::{PortError, PortResult};

/// A ticket store whose faults are configured up front; with none, every
/// call goes to `inner` unchanged. Updates are counted from 1 over the
/// wrapper's life, whatever they write.
pub struct FaultyTickets {
    inner: Arc<dyn TicketStore>,
    /// Every `get_ticket` fails with this.
    fail_reads: Option<PortError>,
    /// The `n`th `update_ticket` fails with this, not applied.
    fail_update: Option<(u32, PortError)>,
    /// Every `update_ticket` fails with this, not applied.
    fail_updates: Option<PortError>,
    /// The `n`th `update_ticket` is applied, then answered with this: the
    /// write happened, its answer was lost (retried when the error is).
    lose_update: Option<(u32, PortError)>,
    /// Every `update_ticket` writing a ticket in this state is applied (its
    /// own failure ignored), then answered with the error.
    lose_answers_in: Option<(TicketState, PortError)>,
    /// The first `update_ticket` writing a ticket in this state is applied,
    /// then another writer moves the ticket on (one more event seen, one
    /// more version), then it is answered with the error.
    moved_after_landing_in: Option<(TicketState, PortError)>,
    updates: Mutex<u32>,
    moved: Mutex<bool>,
}

impl FaultyTickets {
    /// `inner` with no fault (yet).
    pub fn new(inner: Arc<dyn TicketStore>) -> Self {
        Self {
            inner,
            fail_reads: None,
            fail_update: None,
            fail_updates: None,
            lose_update: None,
            lose_answers_in: None,
            moved_after_landing_in: None,
            updates: Mutex::new(0),
            moved: Mutex::new(false),
        }
    }

    /// Every read fails: the store is down.
    pub fn failing_reads(mut self, error: PortError) -> Self {
        self.fail_reads = Some(error);
        self
    }

    /// Fail the `n`th `update_ticket` (1-based) without applying it: a crash
    /// before the write reached the store.
    pub fn failing_update(mut self, n: u32, error: PortError) -> Self {
        self.fail_update = Some((n, error));
        self
    }

    /// Fail every `update_ticket` without applying it: another writer
    /// always got there first (with a `Conflict`).
    pub fn failing_updates(mut self, error: PortError) -> Self {
        self.fail_updates = Some(error);
        self
    }

    /// Apply the `n`th `update_ticket` (1-based), then answer `error`: the
    /// connection dropped after the store applied the write.
    pub fn losing_update(mut self, n: u32, error: PortError) -> Self {
        self.lose_update = Some((n, error));
        self
    }

    /// Apply every write of a ticket in `state`, then answer `error`: the
    /// call reached the store, the connection did not bring the answer back.
    pub fn losing_answers_in(mut self, state: TicketState, error: PortError) -> Self {
        self.lose_answers_in = Some((state, error));
        self
    }

    /// The first write of a ticket in `state` lands, another writer moves the
    /// ticket on before the answer comes back, and the answer is `error`.
    pub fn moved_after_landing_in(mut self, state: TicketState, error: PortError) -> Self {
        self.moved_after_landing_in = Some((state, error));
        self
    }

    /// Another writer (detect recording one more delivery) moves the ticket on.
    async fn move_on(&self, id: &str) -> PortResult<()> {
        let mut other = self
            .inner
            .get_ticket(id)
            .await?
            .ok_or_else(|| PortError::NotFound {
                what: format!("ticket {id}"),
            })?;
        other.events_seen += 1;
        other.version += 1;
        self.inner.update_ticket(&other).await
    }
}

#[async_trait]
impl TicketStore for FaultyTickets {
    async fn claim_event(
        &self,
        event_id: &str,
        lease_until: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> PortResult<Claim> {
        self.inner
            .claim_event(event_id, lease_until, expires_at)
            .await
    }
    async fn complete_event(&self, event_id: &str) -> PortResult<()> {
        self.inner.complete_event(event_id).await
    }
    async fn abandon_event(&self, event_id: &str) -> PortResult<()> {
        self.inner.abandon_event(event_id).await
    }
    async fn get_ticket(&self, id: &str) -> PortResult<Option<Ticket>> {
        if let Some(e) = &self.fail_reads {
            return Err(e.clone());
        }
        self.inner.get_ticket(id).await
    }
    async fn create_ticket(&self, ticket: &Ticket) -> PortResult<()> {
        self.inner.create_ticket(ticket).await
    }
    async fn update_ticket(&self, ticket: &Ticket) -> PortResult<()> {
        let n = {
            let mut u = lock(&self.updates);
            *u += 1;
            *u
        };
        if let Some((_, e)) = self.fail_update.as_ref().filter(|(at, _)| *at == n) {
            return Err(e.clone());
        }
        if let Some(e) = &self.fail_updates {
            return Err(e.clone());
        }
        if let Some((_, e)) = self.lose_update.as_ref().filter(|(at, _)| *at == n) {
            self.inner.update_ticket(ticket).await?;
            return Err(e.clone());
        }
        if let Some((_, e)) = self
            .lose_answers_in
            .as_ref()
            .filter(|(s, _)| *s == ticket.state)
        {
            let _ = self.inner.update_ticket(ticket).await;
            return Err(e.clone());
        }
        let first_move = self
            .moved_after_landing_in
            .as_ref()
            .filter(|(s, _)| *s == ticket.state)
            .filter(|_| !std::mem::replace(&mut *lock(&self.moved), true));
        if let Some((_, e)) = first_move {
            self.inner.update_ticket(ticket).await?;
            self.move_on(&ticket.id).await?;
            return Err(e.clone());
        }
        self.inner.update_ticket(ticket).await
    }
    async fn list_tickets(&self, state: Option<TicketState>) -> PortResult<Vec<Ticket>> {
        self.inner.list_tickets(state).await
    }
}
