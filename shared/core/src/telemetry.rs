//! Logging: `tracing` with JSON output, one structured line per decision.
use tracing_subscriber::{fmt, EnvFilter};

/// Install the JSON subscriber used by every Lambda. `RUST_LOG` (or the Lambda
/// `AWS_LAMBDA_LOG_LEVEL`) sets the level; default `info`. Safe to call twice.
pub fn init_json_logging() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| {
            std::env::var("AWS_LAMBDA_LOG_LEVEL")
                .ok()
                .map(|l| l.to_lowercase())
        })
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let _ = fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .flatten_event(true)
        .with_target(false)
        .without_time()
        .try_init();
}

/// One line once a function is wired, just before the runtime's first poll:
/// init's own time since `main` started (config, SDK config, clients, policy).
/// `scripts/bench coldstart` reads it.
pub fn initialized(started: std::time::Instant) {
    tracing::info!(
        init_ms = started.elapsed().as_secs_f64() * 1e3,
        "initialized: config, clients and policy ready"
    );
}
