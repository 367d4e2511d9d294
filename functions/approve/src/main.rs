//! approve's Lambda entry point (behind a function URL with `AuthType:
//! AWS_IAM`): wiring only (see `lib.rs` and `handler.rs`).
use std::sync::Arc;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use driftguard_adapters::load_sdk_config;
use driftguard_core::config::Config;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let started = std::time::Instant::now();
    driftguard_core::telemetry::init_json_logging();
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    let approver = Arc::new(approve::wire(&config, &sdk).await?);
    driftguard_core::telemetry::initialized(started);
    run(service_fn(
        move |event: LambdaEvent<LambdaFunctionUrlRequest>| {
            let approver = approver.clone();
            async move { Ok::<_, Error>(approve::handler::handle(&approver, &event.payload).await) }
        },
    ))
    .await
}
