//! Blast radius: per-stack and global rate limits (conditional counters per
//! fixed window) and the per-resource circuit breaker's persisted state.
//!
//! DynamoDB items live in the ticket table: `RATE#<scope>#<window start>` with an
//! `actions` counter and a `ttl`; `CIRCUIT#<key>` with the breaker state.
use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};

use crate::domain::policy::RateLimit;
use crate::error::{PortError, PortResult};
use crate::resilience::{retry, CircuitState, RetryPolicy};

/// The rate-limit window containing `now`: (start, end), epoch seconds.
pub fn window(limit: RateLimit, now: DateTime<Utc>) -> (i64, i64) {
    let len = i64::from(limit.window_minutes.max(1)) * 60;
    let start = now.timestamp().div_euclid(len) * len;
    (start, start + len)
}

/// Rate-limit counters and circuit states, persisted.
#[async_trait]
pub trait SafetyStore: Send + Sync {
    /// Take one action slot in `scope`'s current window; `false` when the window is full.
    async fn try_acquire(
        &self,
        scope: &str,
        limit: RateLimit,
        now: DateTime<Utc>,
    ) -> PortResult<bool>;
    /// Give a slot back (a later check refused, so nothing was done).
    async fn release(&self, scope: &str, limit: RateLimit, now: DateTime<Utc>) -> PortResult<()>;
    async fn load_circuit(&self, key: &str) -> PortResult<Option<CircuitState>>;
    /// `None` clears it (a success closes the circuit).
    async fn save_circuit(&self, key: &str, state: Option<CircuitState>) -> PortResult<()>;
}

/// In-memory store for unit tests and the offline replay.
#[derive(Debug, Default)]
pub struct MemorySafetyStore {
    counters: Mutex<HashMap<String, u32>>,
    circuits: Mutex<HashMap<String, CircuitState>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
    format!("RATE#{scope}#{}", window(limit, now).0)
}

fn circuit_key(key: &str) -> String {
    format!("CIRCUIT#{key}")
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

/// The DynamoDB store (ticket table).
#[derive(Debug, Clone)]
pub struct DynamoSafetyStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    retry: RetryPolicy,
}

impl DynamoSafetyStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            retry: RetryPolicy::default(),
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}

fn dynamo_error<E, R>(
    operation: &'static str,
    err: aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> PortError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
    R: std::fmt::Debug,
{
    super::executor::classify("dynamodb", operation, err)
}

impl DynamoSafetyStore {
    /// Actions counted in `scope`'s current window, read only (a consistent
    /// `GetItem`; `driftguard plan` previews the limits without taking a slot).
    pub async fn count(
        &self,
        scope: &str,
        limit: RateLimit,
        now: DateTime<Utc>,
    ) -> PortResult<u32> {
        let pk = rate_key(scope, limit, now);
        let out = retry(&self.retry, "dynamodb:GetItem", || async {
            self.client
                .get_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(pk.clone()))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| dynamo_error("GetItem", e))
        })
        .await?;
        Ok(out
            .item
            .and_then(|i| {
                i.get("actions")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or(0))
    }
}

#[async_trait]
impl SafetyStore for DynamoSafetyStore {
    async fn try_acquire(
        &self,
        scope: &str,
        limit: RateLimit,
        now: DateTime<Utc>,
    ) -> PortResult<bool> {
        let (_, end) = window(limit, now);
        let pk = rate_key(scope, limit, now);
        let result = retry(&self.retry, "dynamodb:UpdateItem", || async {
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(pk.clone()))
                .update_expression("ADD actions :one SET #ttl = :ttl")
                // Atomic: two concurrent remediations cannot both take the last slot.
                .condition_expression("attribute_not_exists(actions) OR actions < :max")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .expression_attribute_values(
                    ":max",
                    AttributeValue::N(limit.max_actions.to_string()),
                )
                .expression_attribute_values(":ttl", AttributeValue::N((end + 86_400).to_string()))
                .send()
                .await
                .map_err(|e| dynamo_error("UpdateItem", e))
        })
        .await;
        match result {
            Ok(_) => Ok(true),
            Err(PortError::Conflict { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn release(&self, scope: &str, limit: RateLimit, now: DateTime<Utc>) -> PortResult<()> {
        let pk = rate_key(scope, limit, now);
        let result = retry(&self.retry, "dynamodb:UpdateItem", || async {
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(pk.clone()))
                .update_expression("ADD actions :minus")
                .condition_expression("actions > :zero")
                .expression_attribute_values(":minus", AttributeValue::N("-1".into()))
                .expression_attribute_values(":zero", AttributeValue::N("0".into()))
                .send()
                .await
                .map_err(|e| dynamo_error("UpdateItem", e))
        })
        .await;
        match result {
            Ok(_) | Err(PortError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn load_circuit(&self, key: &str) -> PortResult<Option<CircuitState>> {
        let pk = circuit_key(key);
        let out = retry(&self.retry, "dynamodb:GetItem", || async {
            self.client
                .get_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(pk.clone()))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| dynamo_error("GetItem", e))
        })
        .await?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let failures = item
            .get("failures")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let open_until = item
            .get("open_until")
            .and_then(|v| v.as_s().ok())
            .and_then(|s| s.parse().ok());
        Ok(Some(CircuitState {
            consecutive_failures: failures,
            open_until,
        }))
    }

    async fn save_circuit(&self, key: &str, state: Option<CircuitState>) -> PortResult<()> {
        let pk = circuit_key(key);
        match state {
            None => {
                retry(&self.retry, "dynamodb:DeleteItem", || async {
                    self.client
                        .delete_item()
                        .table_name(&self.table)
                        .key("pk", AttributeValue::S(pk.clone()))
                        .send()
                        .await
                        .map_err(|e| dynamo_error("DeleteItem", e))
                })
                .await?;
            }
            Some(s) => {
                // Forget a breaker nobody touched for a week.
                let ttl = (s.open_until.unwrap_or_else(Utc::now) + Duration::days(7)).timestamp();
                retry(&self.retry, "dynamodb:PutItem", || async {
                    let mut put = self
                        .client
                        .put_item()
                        .table_name(&self.table)
                        .item("pk", AttributeValue::S(pk.clone()))
                        .item(
                            "failures",
                            AttributeValue::N(s.consecutive_failures.to_string()),
                        )
                        .item("ttl", AttributeValue::N(ttl.to_string()));
                    if let Some(until) = s.open_until {
                        put = put.item("open_until", AttributeValue::S(until.to_rfc3339()));
                    }
                    put.send().await.map_err(|e| dynamo_error("PutItem", e))
                })
                .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn windows_are_fixed_and_aligned() {
        let limit = RateLimit {
            max_actions: 1,
            window_minutes: 60,
        };
        let t: DateTime<Utc> = "2026-03-01T10:59:59Z".parse().unwrap();
        let (s, e) = window(limit, t);
        assert_eq!(e - s, 3600);
        assert_eq!(
            s,
            "2026-03-01T10:00:00Z"
                .parse::<DateTime<Utc>>()
                .unwrap()
                .timestamp()
        );
    }

    #[tokio::test]
    async fn memory_counters_cap_per_window_and_release() {
        let store = MemorySafetyStore::new();
        let limit = RateLimit {
            max_actions: 2,
            window_minutes: 10,
        };
        let t: DateTime<Utc> = "2026-03-01T10:00:00Z".parse().unwrap();
        assert!(store.try_acquire("stack#app", limit, t).await.unwrap());
        assert!(store.try_acquire("stack#app", limit, t).await.unwrap());
        assert!(!store.try_acquire("stack#app", limit, t).await.unwrap());
        assert!(store.try_acquire("stack#other", limit, t).await.unwrap());
        store.release("stack#app", limit, t).await.unwrap();
        assert!(store.try_acquire("stack#app", limit, t).await.unwrap());
        assert!(store
            .try_acquire("stack#app", limit, t + Duration::minutes(10))
            .await
            .unwrap());
    }
}
