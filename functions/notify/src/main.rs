//! notify's Lambda entry point: wiring only (see `lib.rs` and `handler.rs`).
//! Everything is read from environment variables (`shared::config`): TABLE_NAME,
//! TOPIC_ARN, SLACK_SECRET_ARN, EVENT_TTL_DAYS; `AWS_ENDPOINT_URL` points the SDK
//! at an emulator for `cargo lambda watch`.
use std::sync::Arc;

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use shared::adapters::aws::load_sdk_config;
use shared::config::Config;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let started = std::time::Instant::now();
    shared::telemetry::init_json_logging();
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    // Built once per container: the webhook URL cache lives as long as it does.
    let notifier = Arc::new(notify::wire(&config, &sdk).await?);
    shared::telemetry::initialized(started);
    run(service_fn(move |event: LambdaEvent<Value>| {
        let notifier = notifier.clone();
        // The claims are leased until this invocation ends.
        let deadline = chrono::DateTime::<chrono::Utc>::from(event.context.deadline());
        async move { notify::handler::handle_until(&notifier, event.payload, Some(deadline)).await }
    }))
    .await
}
