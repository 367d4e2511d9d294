//! Shared emulator infrastructure for integration tests: the ticket table, the
//! custom event bus, and EventBridge rules routed to SQS queues (moto delivers
//! to SQS targets; Lambda and SNS targets are not implemented there).
//!
//! ```ignore
//! let config = moto.sdk_config().await;
//! let infra = Infra::create(&config, &unique("detect")).await?;
//! // ... run a handler with TABLE_NAME = infra.table, EVENT_BUS_NAME = infra.bus
//! let decisions = infra.receive(1, Duration::from_secs(5)).await?;
//! ```
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use serde_json::Value;

/// The GSI of the ticket table (see `template.yaml`).
pub const STATE_INDEX: &str = "by-state";

/// Create the ticket table with the exact schema of the conventions: `pk` (S)
/// hash key, TTL on `ttl`, GSI `by-state` (`state` S hash, `updated_at` S range, ALL).
pub async fn create_ticket_table(ddb: &aws_sdk_dynamodb::Client, name: &str) -> Result<()> {
    let key = |attr: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(attr)
            .key_type(kind)
            .build()
            .context("key schema")
    };
    let attr = |attr: &str| {
        AttributeDefinition::builder()
            .attribute_name(attr)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .context("attribute definition")
    };
    ddb.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("state")?)
        .attribute_definitions(attr("updated_at")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(STATE_INDEX)
                .key_schema(key("state", KeyType::Hash)?)
                .key_schema(key("updated_at", KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .context("GSI")?,
        )
        .send()
        .await
        .with_context(|| format!("create table {name}"))?;
    ddb.update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .context("TTL spec")?,
        )
        .send()
        .await
        .with_context(|| format!("enable TTL on {name}"))?;
    Ok(())
}

/// Create a custom event bus; returns its ARN.
pub async fn create_bus(events: &aws_sdk_eventbridge::Client, name: &str) -> Result<String> {
    let out = events
        .create_event_bus()
        .name(name)
        .send()
        .await
        .with_context(|| format!("create bus {name}"))?;
    out.event_bus_arn()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no ARN for bus {name}"))
}

/// Create an SQS queue and a rule on `bus` matching `pattern` that targets it.
/// Returns the queue URL.
pub async fn route_to_queue(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    bus: &str,
    rule: &str,
    pattern: &Value,
) -> Result<String> {
    let url = sqs
        .create_queue()
        .queue_name(rule)
        .send()
        .await
        .with_context(|| format!("create queue {rule}"))?
        .queue_url()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no URL for queue {rule}"))?;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .context("queue ARN")?
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .ok_or_else(|| anyhow!("no ARN for queue {rule}"))?;
    events
        .put_rule()
        .name(rule)
        .event_bus_name(bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .with_context(|| format!("put rule {rule}"))?;
    events
        .put_targets()
        .rule(rule)
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(arn)
                .build()
                .context("target")?,
        )
        .send()
        .await
        .with_context(|| format!("put target on {rule}"))?;
    Ok(url)
}

/// Receive (and delete) messages until `expect` arrived or `timeout` passed;
/// bodies parsed as JSON (EventBridge delivers the full envelope). Returns what
/// arrived, possibly fewer (or more) than `expect`.
pub async fn receive_json(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    expect: usize,
    timeout: Duration,
) -> Result<Vec<Value>> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    loop {
        let resp = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(if out.len() >= expect { 0 } else { 1 })
            .send()
            .await
            .context("receive message")?;
        let messages = resp.messages();
        for m in messages {
            let body = m.body().unwrap_or_default();
            out.push(
                serde_json::from_str(body)
                    .with_context(|| format!("message body is not JSON: {body}"))?,
            );
            if let Some(handle) = m.receipt_handle() {
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .context("delete message")?;
            }
        }
        if (messages.is_empty() && out.len() >= expect) || Instant::now() >= deadline {
            return Ok(out);
        }
    }
}

/// The ticket table, the bus, and a queue receiving everything driftguard puts
/// on the bus (`source: driftguard`).
#[derive(Debug, Clone)]
pub struct Infra {
    pub table: String,
    pub bus: String,
    pub bus_arn: String,
    pub queue_url: String,
    pub sqs: aws_sdk_sqs::Client,
}

impl Infra {
    /// Create everything under names starting with `prefix` (use [`crate::unique`]).
    pub async fn create(config: &aws_config::SdkConfig, prefix: &str) -> Result<Infra> {
        let ddb = aws_sdk_dynamodb::Client::new(config);
        let events = aws_sdk_eventbridge::Client::new(config);
        let sqs = aws_sdk_sqs::Client::new(config);
        let table = format!("{prefix}-tickets");
        let bus = format!("{prefix}-bus");
        create_ticket_table(&ddb, &table).await?;
        let bus_arn = create_bus(&events, &bus).await?;
        let queue_url = route_to_queue(
            &events,
            &sqs,
            &bus,
            &format!("{prefix}-all"),
            &serde_json::json!({"source": ["driftguard"]}),
        )
        .await?;
        Ok(Infra {
            table,
            bus,
            bus_arn,
            queue_url,
            sqs,
        })
    }

    /// Envelopes delivered to the queue (see [`receive_json`]).
    pub async fn receive(&self, expect: usize, timeout: Duration) -> Result<Vec<Value>> {
        receive_json(&self.sqs, &self.queue_url, expect, timeout).await
    }
}
