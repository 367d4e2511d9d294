//! In-memory port implementations for fast unit tests and the offline replay.
pub mod catalog;
pub mod cloudcontrol;
pub mod deployment;
pub mod members;
pub mod parameters;
pub mod readback;
pub mod remediation;
pub mod rollbacks;
pub mod safety;
pub mod sweep;

pub mod template_history;
pub mod trust;

pub(crate) use crate::sync::lock;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ports::{Claim, Clock, DecisionBus, TicketStore};
use driftguard_model::domain::{Ticket, TicketState};
use driftguard_model::error::{PortError, PortResult};

#[derive(Debug, Clone, PartialEq, Eq)]
enum EventRecord {
    InProgress { lease_until: DateTime<Utc> },
    Done,
}

/// Tickets and processed-event records in memory, with the same conditional
/// semantics as the DynamoDB adapter.
#[derive(Debug, Default)]
pub struct MemoryTicketStore {
    events: Mutex<HashMap<String, EventRecord>>,
    tickets: Mutex<BTreeMap<String, Ticket>>,
    clock_now: Mutex<Option<DateTime<Utc>>>,
}

impl MemoryTicketStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Pin "now" for lease expiry checks (tests).
    pub fn set_now(&self, now: DateTime<Utc>) {
        *lock(&self.clock_now) = Some(now);
    }

    fn now(&self) -> DateTime<Utc> {
        lock(&self.clock_now).unwrap_or_else(Utc::now)
    }

    pub fn tickets(&self) -> Vec<Ticket> {
        lock(&self.tickets).values().cloned().collect()
    }
}

#[async_trait]
impl TicketStore for MemoryTicketStore {
    async fn claim_event(
        &self,
        event_id: &str,
        lease_until: DateTime<Utc>,
        _expires_at: DateTime<Utc>,
    ) -> PortResult<Claim> {
        let now = self.now();
        let mut events = lock(&self.events);
        match events.get(event_id) {
            Some(EventRecord::Done) => Ok(Claim::AlreadyDone),
            Some(EventRecord::InProgress { lease_until: l }) if *l > now => Ok(Claim::InProgress),
            _ => {
                events.insert(
                    event_id.to_string(),
                    EventRecord::InProgress { lease_until },
                );
                Ok(Claim::Fresh)
            }
        }
    }

    async fn complete_event(&self, event_id: &str) -> PortResult<()> {
        lock(&self.events).insert(event_id.to_string(), EventRecord::Done);
        Ok(())
    }

    async fn abandon_event(&self, event_id: &str) -> PortResult<()> {
        lock(&self.events).remove(event_id);
        Ok(())
    }

    async fn get_ticket(&self, id: &str) -> PortResult<Option<Ticket>> {
        Ok(lock(&self.tickets).get(id).cloned())
    }

    async fn create_ticket(&self, ticket: &Ticket) -> PortResult<()> {
        let mut tickets = lock(&self.tickets);
        if tickets.contains_key(&ticket.id) {
            return Err(PortError::Conflict {
                what: format!("ticket {}", ticket.id),
                message: "already exists".into(),
            });
        }
        tickets.insert(ticket.id.clone(), ticket.clone());
        Ok(())
    }

    async fn update_ticket(&self, ticket: &Ticket) -> PortResult<()> {
        let mut tickets = lock(&self.tickets);
        match tickets.get(&ticket.id) {
            Some(stored) if stored.version + 1 == ticket.version => {
                tickets.insert(ticket.id.clone(), ticket.clone());
                Ok(())
            }
            Some(stored) => Err(PortError::Conflict {
                what: format!("ticket {}", ticket.id),
                message: format!(
                    "stored version {} is not {}",
                    stored.version,
                    ticket.version.saturating_sub(1)
                ),
            }),
            None => Err(PortError::NotFound {
                what: format!("ticket {}", ticket.id),
            }),
        }
    }

    async fn list_tickets(&self, state: Option<TicketState>) -> PortResult<Vec<Ticket>> {
        Ok(lock(&self.tickets)
            .values()
            .filter(|t| state.is_none_or(|s| t.state == s))
            .cloned()
            .collect())
    }
}

/// Records published events.
#[derive(Debug, Default)]
pub struct MemoryBus {
    events: Mutex<Vec<(String, serde_json::Value)>>,
    failing: Mutex<u32>,
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// Fail the next `n` publishes as a timed-out `PutEvents` (tests).
    pub fn fail_next(&self, n: u32) {
        *lock(&self.failing) = n;
    }

    pub fn published(&self) -> Vec<(String, serde_json::Value)> {
        lock(&self.events).clone()
    }
}

#[async_trait]
impl DecisionBus for MemoryBus {
    async fn publish(&self, detail_type: &str, detail: &serde_json::Value) -> PortResult<()> {
        {
            let mut failing = lock(&self.failing);
            if *failing > 0 {
                *failing -= 1;
                return Err(PortError::Transient {
                    service: "eventbridge",
                    operation: "PutEvents",
                    message: "timed out (injected)".into(),
                });
            }
        }
        lock(&self.events).push((detail_type.to_string(), detail.clone()));
        Ok(())
    }
}

/// A clock that stands still until moved.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut t = lock(&self.0);
        *t += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.0)
    }
}
