//! notify: `Drift Decision`, `Drift Remediation Result` and `Drift Accepted`
//! events → SNS and Slack, one message per ticket state change.
//!
//! [`wire`] builds the [`Notifier`] from configuration and an SDK config (what
//! `main.rs` runs, and what the emulator tests run); [`handler`] is the
//! per-event logic. Rendering and delivery live in `driftguard_core::notify`.
use std::sync::Arc;

use aws_config::SdkConfig;
use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_adapters::secrets::SecretsManagerWebhook;
use driftguard_adapters::slack::{SlackClient, SlackSettings, SlackWebhook};
use driftguard_adapters::sns::SnsPublisher;
use driftguard_core::config::{Config, ConfigError};
use driftguard_core::notify::Notifier;
use driftguard_core::ports::notify::DeliveryError;
use driftguard_core::ports::SystemClock;

pub mod handler;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("slack client: {0}")]
    Slack(#[from] DeliveryError),
}

/// The notifier from configuration: claims in `TABLE_NAME`, SNS when
/// `TOPIC_ARN` is set, Slack when `SLACK_SECRET_ARN` is set.
pub async fn wire(config: &Config, sdk: &SdkConfig) -> Result<Notifier, WireError> {
    wire_with(config, sdk, SlackSettings::default())
}

/// [`wire`] with explicit Slack retry settings (tests shorten the waits).
pub fn wire_with(
    config: &Config,
    sdk: &SdkConfig,
    slack: SlackSettings,
) -> Result<Notifier, WireError> {
    let table = config.require_table()?;
    let store = Arc::new(DynamoTicketStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        table,
    ));
    let mut notifier =
        Notifier::new(store, Arc::new(SystemClock)).with_record_ttl(config.event_ttl());
    if let Some(topic) = &config.topic_arn {
        notifier = notifier.with_topic(Arc::new(SnsPublisher::from_config(sdk, topic)));
    }
    if let Some(secret) = &config.slack_secret_arn {
        let source = Arc::new(SecretsManagerWebhook::from_config(sdk, secret));
        notifier = notifier.with_chat(Arc::new(SlackWebhook::new(
            source,
            SlackClient::new(slack)?,
        )));
    }
    tracing::info!(
        sns = config.topic_arn.is_some(),
        slack = config.slack_secret_arn.is_some(),
        "notify wired"
    );
    Ok(notifier)
}
