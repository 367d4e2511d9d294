//! The ports `driftguard plan` swaps in when it must not change anything
//! (no `--apply`): every read goes to the real account, every write stays in
//! memory. The decision and the remediation logic are the Lambdas' own.
use driftguard_core::sync::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use driftguard_adapters::safety::DynamoSafetyStore;
use driftguard_core::memory::safety::MemorySafetyStore;
use driftguard_core::memory::{MemoryBus, MemoryTicketStore};
use driftguard_core::ports::remediate::{Execution, ExecutionError, PlanExecutor, ReadBack};
use driftguard_core::ports::SafetyStore;
use driftguard_core::ports::{Claim, DecisionBus, TicketStore};
use driftguard_core::resilience::CircuitState;
use driftguard_model::domain::policy::RateLimit;
use driftguard_model::domain::Plan;
use driftguard_model::domain::{Ticket, TicketState};
use driftguard_model::error::{PortError, PortResult};
use serde_json::Value;

/// How the preview executor's refusal starts: every gate before it passed.
pub const PREVIEW_REFUSAL: &str = "preview: every gate passed";

/// Tickets read from the real table, written to memory on top of it.
pub struct OverlayTickets {
    real: Arc<dyn TicketStore>,
    local: MemoryTicketStore,
}

impl OverlayTickets {
    pub fn new(real: Arc<dyn TicketStore>) -> Self {
        Self {
            real,
            local: MemoryTicketStore::new(),
        }
    }

    /// The tickets this run would have written.
    pub fn written(&self) -> Vec<Ticket> {
        self.local.tickets()
    }
}

#[async_trait]
impl TicketStore for OverlayTickets {
    async fn claim_event(
        &self,
        event_id: &str,
        lease_until: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> PortResult<Claim> {
        self.local
            .claim_event(event_id, lease_until, expires_at)
            .await
    }

    async fn complete_event(&self, event_id: &str) -> PortResult<()> {
        self.local.complete_event(event_id).await
    }

    async fn abandon_event(&self, event_id: &str) -> PortResult<()> {
        self.local.abandon_event(event_id).await
    }

    async fn get_ticket(&self, id: &str) -> PortResult<Option<Ticket>> {
        match self.local.get_ticket(id).await? {
            Some(t) => Ok(Some(t)),
            None => self.real.get_ticket(id).await,
        }
    }

    async fn create_ticket(&self, ticket: &Ticket) -> PortResult<()> {
        if self.real.get_ticket(&ticket.id).await?.is_some() {
            return Err(PortError::Conflict {
                what: format!("ticket {}", ticket.id),
                message: "already exists".into(),
            });
        }
        self.local.create_ticket(ticket).await
    }

    async fn update_ticket(&self, ticket: &Ticket) -> PortResult<()> {
        if self.local.get_ticket(&ticket.id).await?.is_none() {
            // First write to a real ticket: copy it up, then apply the
            // update with the same version rule.
            if let Some(stored) = self.real.get_ticket(&ticket.id).await? {
                self.local.create_ticket(&stored).await?;
            }
        }
        self.local.update_ticket(ticket).await
    }

    async fn list_tickets(&self, state: Option<TicketState>) -> PortResult<Vec<Ticket>> {
        let mut by_id: HashMap<String, Ticket> = self
            .real
            .list_tickets(state)
            .await?
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect();
        for t in self.local.list_tickets(state).await? {
            by_id.insert(t.id.clone(), t);
        }
        Ok(by_id.into_values().collect())
    }
}

/// Publishes to the real bus too when `inner` is set (`--apply`), and keeps
/// what was published.
#[derive(Default)]
pub struct CaptureBus {
    inner: Option<Arc<dyn DecisionBus>>,
    seen: MemoryBus,
}

impl CaptureBus {
    pub fn published(&self) -> Vec<(String, Value)> {
        self.seen.published()
    }
}

#[async_trait]
impl DecisionBus for CaptureBus {
    async fn publish(&self, detail_type: &str, detail: &Value) -> PortResult<()> {
        if let Some(inner) = &self.inner {
            inner.publish(detail_type, detail).await?;
        }
        self.seen.publish(detail_type, detail).await
    }
}

/// Never executes: reaching it means every gate before acting passed.
pub struct PreviewExecutor;

#[async_trait]
impl PlanExecutor for PreviewExecutor {
    async fn execute(&self, plan: &Plan) -> Result<Execution, ExecutionError> {
        Err(ExecutionError::Refused(format!(
            "{PREVIEW_REFUSAL}; --apply would make {} call(s) ({})",
            plan.calls.len(),
            plan.strategy.as_str()
        )))
    }

    async fn read_back(&self, _plan: &Plan) -> PortResult<Option<ReadBack>> {
        Ok(None)
    }

    async fn stack_status(&self, _stack: &str) -> PortResult<Option<String>> {
        Ok(None)
    }
}

/// Rate limits counted from the real table (read only) plus this run's own
/// slots; circuits read from the table, saved in memory. Says what it saw.
pub struct PreviewSafety {
    real: DynamoSafetyStore,
    local: MemorySafetyStore,
    notes: Mutex<Vec<String>>,
}

impl PreviewSafety {
    pub fn new(real: DynamoSafetyStore) -> Self {
        Self {
            real,
            local: MemorySafetyStore::new(),
            notes: Mutex::new(Vec::new()),
        }
    }

    pub fn notes(&self) -> Vec<String> {
        lock(&self.notes).clone()
    }
}

#[async_trait]
impl SafetyStore for PreviewSafety {
    async fn try_acquire(
        &self,
        scope: &str,
        limit: RateLimit,
        now: DateTime<Utc>,
    ) -> PortResult<bool> {
        let used = self.real.count(scope, limit, now).await? + self.local.count(scope, limit, now);
        let free = used < limit.max_actions;
        lock(&self.notes).push(format!(
            "rate limit {scope}: {used} of {} actions used in this {}-minute window{}",
            limit.max_actions,
            limit.window_minutes,
            if free { "" } else { ": full" }
        ));
        if !free {
            return Ok(false);
        }
        self.local.try_acquire(scope, limit, now).await
    }

    async fn release(&self, scope: &str, limit: RateLimit, now: DateTime<Utc>) -> PortResult<()> {
        self.local.release(scope, limit, now).await
    }

    async fn load_circuit(&self, key: &str) -> PortResult<Option<CircuitState>> {
        let state = self.real.load_circuit(key).await?;
        lock(&self.notes).push(match &state {
            Some(s) => format!(
                "circuit breaker: {} consecutive failure(s){}",
                s.consecutive_failures,
                s.open_until
                    .map(|t| format!(", open until {t}"))
                    .unwrap_or_default()
            ),
            None => "circuit breaker: closed (no failures recorded)".into(),
        });
        Ok(state)
    }

    async fn save_circuit(&self, key: &str, state: Option<CircuitState>) -> PortResult<()> {
        self.local.save_circuit(key, state).await
    }
}

/// `--apply`: the real bus, remembered.
pub fn tee(inner: Arc<dyn DecisionBus>) -> CaptureBus {
    CaptureBus {
        inner: Some(inner),
        seen: MemoryBus::new(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use driftguard_model::domain::{Fingerprint, Observation, Ownership};

    fn ticket() -> Ticket {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../events/detect/console-sg-ingress.json"
        ))
        .unwrap();
        let Observation::Change(change) = driftguard_model::sources::parse_bytes(&bytes).unwrap()
        else {
            panic!("a change");
        };
        let ownership = Ownership::Unmanaged;
        Ticket::new(
            Fingerprint::for_change(&change, &ownership),
            &change,
            &ownership,
            change.time,
        )
    }

    #[tokio::test]
    async fn writes_stay_in_the_overlay_and_reads_fall_through() {
        let real = Arc::new(MemoryTicketStore::new());
        let stored = ticket();
        real.create_ticket(&stored).await.unwrap();
        let overlay = OverlayTickets::new(real.clone());

        // A real ticket updated in preview: copied up, the real one untouched.
        let mut updated = overlay.get_ticket(&stored.id).await.unwrap().unwrap();
        updated.state = TicketState::Remediating;
        updated.version += 1;
        overlay.update_ticket(&updated).await.unwrap();
        assert_eq!(
            overlay.get_ticket(&stored.id).await.unwrap().unwrap().state,
            TicketState::Remediating
        );
        assert_eq!(real.tickets(), vec![stored.clone()]);
        // The version rule still holds in the overlay.
        assert!(matches!(
            overlay.update_ticket(&updated).await,
            Err(PortError::Conflict { .. })
        ));
        // Creating a ticket the real table has is a conflict, as on DynamoDB.
        assert!(matches!(
            overlay.create_ticket(&stored).await,
            Err(PortError::Conflict { .. })
        ));
        assert_eq!(overlay.written().len(), 1);
        let now = Utc::now();
        let claim = overlay
            .claim_event("ev", now + chrono::Duration::minutes(1), now)
            .await
            .unwrap();
        assert_eq!(claim, Claim::Fresh);
        assert_eq!(
            real.claim_event("ev", now, now).await.unwrap(),
            Claim::Fresh,
            "the claim did not reach the real store"
        );
    }

    #[tokio::test]
    async fn the_preview_bus_and_executor_change_nothing() {
        let bus = CaptureBus::default();
        bus.publish("Drift Decision", &serde_json::json!({"ticket_id": "t"}))
            .await
            .unwrap();
        assert_eq!(bus.published().len(), 1);
        let plan = Plan {
            strategy: driftguard_model::domain::Strategy::InverseCall,
            calls: Vec::new(),
            expected: "x".into(),
            skipped: Vec::new(),
        };
        match PreviewExecutor.execute(&plan).await {
            Err(ExecutionError::Refused(why)) => assert!(why.starts_with(PREVIEW_REFUSAL)),
            other => panic!("{other:?}"),
        }
    }
}
