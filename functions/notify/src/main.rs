//! notify's Lambda entry point: wiring only (see `lib.rs` and `handler.rs`).
//! Everything is read from environment variables (`driftguard_core::config`): TABLE_NAME,
//! TOPIC_ARN, SLACK_SECRET_ARN, EVENT_TTL_DAYS; `AWS_ENDPOINT_URL` points the SDK
//! at an emulator for `cargo lambda watch`.
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
    // Built once per container: the webhook URL cache lives as long as it does.
    let notifier = Arc::new(notify::wire(&config, &sdk).await?);
    driftguard_core::telemetry::initialized(started);
    run(service_fn(move |event: LambdaEvent<Value>| {
        let notifier = notifier.clone();
        // The claims are leased until this invocation ends.
        let deadline = chrono::DateTime::<chrono::Utc>::from(event.context.deadline());
        async move { notify::handler::handle_until(&notifier, event.payload, Some(deadline)).await }
    }))
    .await
}
