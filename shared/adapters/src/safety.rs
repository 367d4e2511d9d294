//! The remediation safety store ([`SafetyStore`]) on the ticket table:
//! rate-limit slot counters (`RATE#<scope>#<window start>`, an `actions`
//! counter and a `ttl`) and circuit-breaker states (`CIRCUIT#<key>`), keys
//! from [`driftguard_core::ports::keys`]. Each call is retried by the one retry layer
//! ([`driftguard_core::resilience::retry`]): remediation calls these ports without a
//! retry of its own, and the SDK makes one attempt (see `super::sdk_retry_config`).
use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use chrono::{DateTime, Duration, Utc};

use super::errors::map_sdk_error;
use driftguard_core::ports::keys;
use driftguard_core::ports::SafetyStore;
use driftguard_core::remediate::limits::window;
use driftguard_core::resilience::{retry, CircuitState, RetryPolicy};
use driftguard_model::domain::policy::RateLimit;
use driftguard_model::error::{PortError, PortResult};

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

    /// The item at `pk`, read consistently (what was just written counts).
    async fn read(&self, pk: String) -> PortResult<Option<HashMap<String, AttributeValue>>> {
        let out = retry(&self.retry, "dynamodb:GetItem", || async {
            self.client
                .get_item()
                .table_name(&self.table)
                .key(keys::PK, AttributeValue::S(pk.clone()))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| dynamo_error("GetItem", e))
        })
        .await?;
        Ok(out.item)
    }

    /// Actions counted in `scope`'s current window, read only (a consistent
    /// `GetItem`; `driftguard plan` previews the limits without taking a slot).
    pub async fn count(
        &self,
        scope: &str,
        limit: RateLimit,
        now: DateTime<Utc>,
    ) -> PortResult<u32> {
        let pk = keys::rate_slot(scope, window(limit, now).0);
        Ok(self
            .read(pk)
            .await?
            .and_then(|i| {
                i.get("actions")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or(0))
    }
}

fn dynamo_error<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    map_sdk_error("dynamodb", operation, err)
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
        let pk = keys::rate_slot(scope, window(limit, now).0);
        let result = retry(&self.retry, "dynamodb:UpdateItem", || async {
            self.client
                .update_item()
                .table_name(&self.table)
                .key(keys::PK, AttributeValue::S(pk.clone()))
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
        let pk = keys::rate_slot(scope, window(limit, now).0);
        let result = retry(&self.retry, "dynamodb:UpdateItem", || async {
            self.client
                .update_item()
                .table_name(&self.table)
                .key(keys::PK, AttributeValue::S(pk.clone()))
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
        let pk = keys::circuit(key);
        let Some(item) = self.read(pk).await? else {
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
        let pk = keys::circuit(key);
        match state {
            None => {
                retry(&self.retry, "dynamodb:DeleteItem", || async {
                    self.client
                        .delete_item()
                        .table_name(&self.table)
                        .key(keys::PK, AttributeValue::S(pk.clone()))
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
                        .item(keys::PK, AttributeValue::S(pk.clone()))
                        .item(
                            "failures",
                            AttributeValue::N(s.consecutive_failures.to_string()),
                        )
                        .item(keys::TTL, AttributeValue::N(ttl.to_string()));
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
