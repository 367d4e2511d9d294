//! A test scenario's own driftguard plumbing on the emulator, under unique
//! names (the harness's [`resources`] make each piece): the ticket table, the
//! custom event bus, and a queue receiving everything driftguard puts on the
//! bus (moto delivers to SQS targets; Lambda and SNS targets are not
//! implemented there); and the functions' [`Config`] for it.
//!
//! ```ignore
//! let (sdk, prefix, infra) = integration_tests::infra::setup("detect").await;
//! let (config, _policy) = infra.config(POLICY, &[]);
//! // ... run a handler wired with `config`
//! let decisions = infra.receive(1, Duration::from_secs(5)).await?;
//! ```
use std::collections::HashMap;
use std::time::Duration;

use anyhow::Result;
use aws_sdk_dynamodb::types::AttributeValue;
use driftguard_cli::emulator::resources;
use driftguard_core::config::Config;
use serde_json::Value;

/// The ticket table, the bus, and a queue receiving everything driftguard puts
/// on the bus (`source: driftguard`).
#[derive(Debug, Clone)]
pub struct Infra {
    pub table: String,
    pub bus: String,
    pub bus_arn: String,
    pub queue_url: String,
    pub sqs: aws_sdk_sqs::Client,
    pub ddb: aws_sdk_dynamodb::Client,
}

/// The area's emulator ([`crate::moto`]) with one attempt per call, a unique
/// prefix for `area`, and an [`Infra`] under it.
pub async fn setup(area: &str) -> (aws_config::SdkConfig, String, Infra) {
    let sdk = crate::moto().sdk_config().await;
    let prefix = crate::unique(area);
    let infra = Infra::create(&sdk, &prefix)
        .await
        .expect("table, bus, queue");
    (sdk, prefix, infra)
}

impl Infra {
    /// Create everything under names starting with `prefix` (use [`crate::unique`]).
    pub async fn create(config: &aws_config::SdkConfig, prefix: &str) -> Result<Infra> {
        let events = aws_sdk_eventbridge::Client::new(config);
        let sqs = aws_sdk_sqs::Client::new(config);
        let ddb = aws_sdk_dynamodb::Client::new(config);
        let table = format!("{prefix}-tickets");
        let bus = format!("{prefix}-bus");
        resources::create_ticket_table(&ddb, &table).await?;
        let bus_arn = resources::create_bus(&events, &bus).await?;
        let queue_url = resources::route_to_queue(
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
            ddb,
        })
    }

    /// Envelopes delivered to the queue (see [`resources::receive_json`]).
    pub async fn receive(&self, expect: usize, timeout: Duration) -> Result<Vec<Value>> {
        resources::receive_json(&self.sqs, &self.queue_url, expect, timeout).await
    }

    /// The ticket table's item `pk`, read consistently.
    pub async fn item(&self, pk: &str) -> Option<HashMap<String, AttributeValue>> {
        self.ddb
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.into()))
            .consistent_read(true)
            .send()
            .await
            .expect("get item")
            .item()
            .cloned()
    }

    /// The functions' configuration on this plumbing: `TABLE_NAME`,
    /// `EVENT_BUS_NAME`, `POLICY_PATH` (a file holding `policy`, returned with
    /// it: keep it alive while the functions run) and `extra` variables.
    pub fn config(
        &self,
        policy: &str,
        extra: &[(&'static str, String)],
    ) -> (Config, tempfile::NamedTempFile) {
        let policy_file = tempfile::NamedTempFile::new().expect("policy file");
        std::fs::write(policy_file.path(), policy).expect("write the policy");
        let mut env: HashMap<&str, String> = HashMap::from([
            ("TABLE_NAME", self.table.clone()),
            ("EVENT_BUS_NAME", self.bus.clone()),
            ("POLICY_PATH", policy_file.path().display().to_string()),
        ]);
        env.extend(extra.iter().cloned());
        let config = Config::from_lookup(|k| env.get(k).cloned()).expect("configuration");
        (config, policy_file)
    }
}
