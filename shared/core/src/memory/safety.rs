//! In-memory [`SafetyStore`]: rate-limit counters and circuit states, for
//! unit tests and the offline replay.
use crate::sync::lock;
use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ports::keys;
use crate::ports::SafetyStore;
use crate::remediate::limits::window;
use crate::resilience::CircuitState;
use driftguard_model::domain::policy::RateLimit;
use driftguard_model::error::PortResult;

/// In-memory store for unit tests and the offline replay.
#[derive(Debug, Default)]
pub struct MemorySafetyStore {
    counters: Mutex<HashMap<String, u32>>,
    circuits: Mutex<HashMap<String, CircuitState>>,
}

impl MemorySafetyStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Actions counted in `scope`'s current window.
    pub fn count(&self, scope: &str, limit: RateLimit, now: DateTime<Utc>) -> u32 {
        let key = rate_key(scope, limit, now);
        lock(&self.counters).get(&key).copied().unwrap_or(0)
    }
}

fn rate_key(scope: &str, limit: RateLimit, now: DateTime<Utc>) -> String {
    keys::rate_slot(scope, window(limit, now).0)
}

#[async_trait]
impl SafetyStore for MemorySafetyStore {
    async fn try_acquire(
        &self,
        scope: &str,
        limit: RateLimit,
        now: DateTime<Utc>,
    ) -> PortResult<bool> {
        let mut counters = lock(&self.counters);
        let n = counters.entry(rate_key(scope, limit, now)).or_insert(0);
        if *n >= limit.max_actions {
            return Ok(false);
        }
        *n += 1;
        Ok(true)
    }

    async fn release(&self, scope: &str, limit: RateLimit, now: DateTime<Utc>) -> PortResult<()> {
        if let Some(n) = lock(&self.counters).get_mut(&rate_key(scope, limit, now)) {
            *n = n.saturating_sub(1);
        }
        Ok(())
    }

    async fn load_circuit(&self, key: &str) -> PortResult<Option<CircuitState>> {
        Ok(lock(&self.circuits).get(key).copied())
    }

    async fn save_circuit(&self, key: &str, state: Option<CircuitState>) -> PortResult<()> {
        let mut circuits = lock(&self.circuits);
        match state {
            Some(s) => circuits.insert(key.to_string(), s),
            None => circuits.remove(key),
        };
        Ok(())
    }
}
