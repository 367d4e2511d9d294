//! Notifications: SNS and Slack messages people can act on.
//!
//! The notify flow is this module's own API: [`Notifier`] (noise control:
//! state changes only, one message per bus event id; delivery; failing the
//! invocation on failure), its outcomes, and the webhook URL from Secrets
//! Manager ([`WebhookSource`]: cached per container, redacted). Its parts
//! live in the private submodules `service` and `secret`, re-exported here by
//! name. The public submodules keep their prefix:
//! - [`accepted`]: `Drift Accepted` (from `driftguard accept`): checked against
//!   the ticket, then announced from the ticket (pure).
//! - [`render`]: pure rendering of a driftguard bus event ([`render::BusEvent`])
//!   into an SNS message (subject, filterable attributes, JSON body) and a
//!   Slack Block Kit payload with a plain-text fallback.
//! - [`sns`]: the SNS message limits.
//! - [`samples`]: real-shaped events for snapshots, fixtures and the docs.
pub mod accepted;
pub(crate) mod redact;
pub mod render;
pub mod samples;
mod secret;
mod service;
pub mod sns;

use async_trait::async_trait;

use driftguard_model::error::PortError;

pub use self::secret::{InvalidWebhook, SecretError, StaticWebhook, WebhookSource, WebhookUrl};
pub use self::service::{
    Notified, Notifier, NotifyError, Skipped, DEFAULT_LEASE_SECONDS, DEFAULT_RECORD_TTL_DAYS,
};

use self::render::SnsMessage;

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
