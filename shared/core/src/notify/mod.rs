//! Notifications: SNS and Slack messages people can act on.
//!
//! - [`accepted`]: `Drift Accepted` (from `driftguard accept`): checked against
//!   the ticket, then announced from the ticket (pure).
//! - [`render`]: pure rendering of a driftguard bus event into an SNS message
//!   (subject, filterable attributes, JSON body) and a Slack Block Kit payload
//!   with a plain-text fallback.
//! - [`slack`]: the incoming-webhook client (429 `Retry-After`, bounded retries).
//! - [`secret`]: the webhook URL from Secrets Manager, cached per container, redacted.
//! - [`sns`]: the SNS publisher.
//! - [`service`]: the notify flow: noise control (state changes only, one
//!   message per bus event id), delivery, failing the invocation on failure.
//! - [`samples`]: real-shaped events for snapshots, fixtures and the docs.
pub mod accepted;
pub mod redact;
pub mod render;
pub mod samples;
pub mod secret;
pub mod service;
pub mod sns;

use async_trait::async_trait;

use driftguard_model::error::PortError;

pub use render::{BusEvent, NotifyEvent, SnsMessage, TicketFacts};
pub use secret::{SecretError, WebhookUrl};
pub use service::{Notified, Notifier, NotifyError, Skipped};

/// Why one channel could not deliver a message. Never carries the webhook URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The webhook URL could not be read from Secrets Manager.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// Slack answered with a status that retrying will not fix (400 invalid_payload,
    /// 403, 404 no_service, 410 channel archived...).
    #[error("slack rejected the message: HTTP {status}: {body}")]
    Rejected { status: u16, body: String },
    /// Throttling, 5xx, timeouts or connection failures, until the attempts ran out.
    #[error("slack unavailable after {attempts} attempts: {last}")]
    Exhausted { attempts: u32, last: String },
    /// SNS (or another AWS port) failed.
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Publishes to the SNS topic.
#[async_trait]
pub trait TopicPublisher: Send + Sync {
    async fn publish(&self, message: &SnsMessage) -> Result<(), DeliveryError>;
}

/// Posts a Slack payload (`text` + `blocks`) to the configured webhook.
#[async_trait]
pub trait ChatWebhook: Send + Sync {
    async fn post(&self, payload: &serde_json::Value) -> Result<(), DeliveryError>;
}
