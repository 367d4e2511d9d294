//! detect's Lambda entry point: wiring only (see `lib.rs` and `handler.rs`).
//! Everything is read from environment variables (`driftguard_core::config`), and
//! `AWS_ENDPOINT_URL` points the SDK at an emulator for `cargo lambda watch`.
use std::sync::Arc;

use driftguard_adapters::load_sdk_config;
use driftguard_core::config::Config;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::value::RawValue;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let started = std::time::Instant::now();
    driftguard_core::telemetry::init_json_logging();
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    let pipeline = Arc::new(detect::wire(&config, &sdk).await?);
    // The payload stays raw JSON: the runtime only checks and copies it, and
    // the decision path parses it once (no `serde_json::Value` of the whole
    // event; BENCHMARKS.md, "Decision path").
    driftguard_core::telemetry::initialized(started);
    run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let pipeline = pipeline.clone();
        // The event's claim is leased until this invocation ends.
        let deadline = chrono::DateTime::<chrono::Utc>::from(event.context.deadline());
        async move {
            detect::handler::handle_raw_until(
                &pipeline,
                event.payload.get().as_bytes(),
                Some(deadline),
            )
            .await
        }
    }))
    .await
}
