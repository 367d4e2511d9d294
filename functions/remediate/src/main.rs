//! remediate's Lambda entry point: wiring only (see `lib.rs` and `handler.rs`).
//! The function runs as the `driftguard-remediation` role, which the policy's
//! `identities.own` names, so detect ignores the changes it makes (no loops).
use std::sync::Arc;

use driftguard_adapters::load_sdk_config;
use driftguard_core::config::Config;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let started = std::time::Instant::now();
    driftguard_core::telemetry::init_json_logging();
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    let remediator = Arc::new(remediate::wire(&config, &sdk).await?);
    driftguard_core::telemetry::initialized(started);
    run(service_fn(move |event: LambdaEvent<Value>| {
        let remediator = remediator.clone();
        // The claim's lease ends with this invocation.
        let deadline = chrono::DateTime::<chrono::Utc>::from(event.context.deadline());
        async move {
            remediate::handler::handle_until(&remediator, event.payload, Some(deadline)).await
        }
    }))
    .await
}
