//! approve's Lambda entry point (behind a function URL with `AuthType:
//! AWS_IAM`): wiring only (see `lib.rs` and `handler.rs`).
use std::sync::Arc;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use shared::adapters::aws::load_sdk_config;
use shared::config::Config;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let started = std::time::Instant::now();
    shared::telemetry::init_json_logging();
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    let approver = Arc::new(approve::wire(&config, &sdk).await?);
    shared::telemetry::initialized(started);
    run(service_fn(
        move |event: LambdaEvent<LambdaFunctionUrlRequest>| {
            let approver = approver.clone();
            async move { Ok::<_, Error>(approve::handler::handle(&approver, &event.payload).await) }
        },
    ))
    .await
}
