//! config-rule's Lambda entry point: wiring only (see `lib.rs` and `handler.rs`).
//! AWS Config invokes it with a `ConfigEvent`; TABLE_NAME names the ticket
//! table; `AWS_ENDPOINT_URL` points the SDK at an emulator.
use std::sync::Arc;

use aws_lambda_events::event::config::ConfigEvent;
use driftguard_adapters::load_sdk_config;
use driftguard_core::config::Config;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let started = std::time::Instant::now();
    driftguard_core::telemetry::init_json_logging();
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    let rule = Arc::new(config_rule::wire(&config, &sdk)?);
    driftguard_core::telemetry::initialized(started);
    run(service_fn(move |event: LambdaEvent<ConfigEvent>| {
        let rule = rule.clone();
        async move { config_rule::handler::handle(&rule, event.payload).await }
    }))
    .await
}
