//! sweep's Lambda entry point: wiring only (see `lib.rs` and `handler.rs`).
//! Configuration: TABLE_NAME, EVENT_BUS_NAME, POLICY_PARAMETER/POLICY_PATH,
//! DRY_RUN, EVENT_TTL_DAYS (`driftguard_core::config`) and SWEEP_STACK_GLOBS,
//! SWEEP_REQUIRED_TAG, SWEEP_CONCURRENCY, SWEEP_DEADLINE_MARGIN_SECS
//! SWEEP_QUEUE_URL (`driftguard_core::sweep`), and for member accounts
//! WATCHED_ACCOUNTS, WATCHED_REGIONS, MEMBER_ROLE_NAME, MEMBER_EXTERNAL_ID;
//! `AWS_ENDPOINT_URL` points the SDK at an emulator.
use std::sync::Arc;
use std::time::SystemTime;

use driftguard_adapters::load_sdk_config;
use driftguard_core::config::Config;
use driftguard_core::sweep::SweepSettings;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let started = std::time::Instant::now();
    driftguard_core::telemetry::init_json_logging();
    let config = Config::from_env()?;
    let settings = SweepSettings::from_env()?;
    let sdk = load_sdk_config().await;
    let wired = Arc::new(sweep::wire_all(&config, settings, &sdk, None).await?);
    driftguard_core::telemetry::initialized(started);
    run(service_fn(move |event: LambdaEvent<Value>| {
        let wired = wired.clone();
        async move {
            let deadline =
                sweep::handler::deadline_instant(event.context.deadline(), SystemTime::now());
            sweep::handler::handle_wired(&wired, event.payload, deadline).await
        }
    }))
    .await
}
