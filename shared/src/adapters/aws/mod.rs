//! Port implementations over the AWS SDK for Rust.
//!
//! - [`cloudformation`]: the `StackCatalog` (reverse lookup, ownership index,
//!   caches) and the `DriftDetector`;
//! - [`dynamodb`]: the `TicketStore` on the single ticket table;
//! - [`eventbridge`]: the `DecisionBus` on the custom bus;
//! - [`cloudtrail`]: the `ActorLookup` (`LookupEvents`) for Config items;
//! - [`opscenter`]: the optional `OpsMirror`;
//! - [`errors`]: SDK error → [`crate::error::PortError`].
//!
//! Every client is built from [`load_sdk_config`] (or a config passed through
//! [`with_resilience`]): bounded retries and per-attempt and per-operation
//! timeouts, so a throttled or hanging AWS call cannot eat the Lambda's budget.
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

pub mod changesets;
pub mod cloudformation;
pub mod cloudtrail;
pub mod config_ids;
pub mod dynamodb;
pub mod errors;
pub mod eventbridge;
pub mod opscenter;
pub mod readback;
pub mod template_history;

pub use errors::map_sdk_error;

/// Default total attempts per SDK call (first try included).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);

/// Retry settings: adaptive (client-side rate limiting on throttling) unless
/// `AWS_RETRY_MODE=standard`; `AWS_MAX_ATTEMPTS` bounds the attempts (tests set 1).
pub fn retry_config_from_env() -> RetryConfig {
    let attempts = std::env::var("AWS_MAX_ATTEMPTS")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(DEFAULT_MAX_ATTEMPTS);
    let base = match std::env::var("AWS_RETRY_MODE").ok().as_deref() {
        Some("standard") | Some("legacy") => RetryConfig::standard(),
        _ => RetryConfig::adaptive(),
    };
    base.with_max_attempts(attempts)
        .with_initial_backoff(Duration::from_millis(100))
        .with_max_backoff(Duration::from_secs(2))
}

pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The SDK config every Lambda uses: region, credentials and `AWS_ENDPOINT_URL`
/// from the environment, plus bounded retries and timeouts.
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config_from_env())
        .timeout_config(timeout_config())
        .load()
        .await
}

/// Apply driftguard's retry and timeout settings to an existing config (tests
/// build theirs for the emulator), with an explicit attempt bound.
pub fn with_resilience(config: &SdkConfig, max_attempts: u32) -> SdkConfig {
    config
        .to_builder()
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(max_attempts.max(1))
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(200)),
        )
        .timeout_config(timeout_config())
        .build()
}

/// Epoch seconds → SDK timestamp helpers shared by adapters.
pub(crate) fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

pub(crate) fn to_smithy(t: chrono::DateTime<chrono::Utc>) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs(t.timestamp())
}
