//! Notifications: SNS and Slack messages people can act on.
//!
//! The notify flow is this module's own API: [`Notifier`] (noise control:
//! state changes only, one message per bus event id; delivery; failing the
//! invocation on failure), its outcomes, and a fixed webhook URL
//! ([`StaticWebhook`]). Its parts live in the private submodules `service`
//! and `secret`, re-exported here by name. Its ports (SNS, Slack, the webhook
//! URL from Secrets Manager: cached per container, redacted) are
//! [`crate::ports::notify`]. The public submodules keep their prefix:
//! - [`accepted`]: `Drift Accepted` (from `driftguard accept`): checked against
//!   the ticket, then announced from the ticket (pure).
//! - [`render`]: pure rendering of a driftguard bus event ([`render::BusEvent`])
//!   into an SNS message (subject, filterable attributes, JSON body) and a
//!   Slack Block Kit payload with a plain-text fallback.
//! - [`sns`]: the SNS message limits.
//! - `samples` (feature `memory`): real-shaped events for snapshots, fixtures
//!   and the docs (the CLI's `notify` previews); never in a Lambda build.
pub mod accepted;
pub(crate) mod redact;
pub mod render;
#[cfg(any(test, feature = "memory"))]
pub mod samples;
mod secret;
mod service;
pub mod sns;

pub use self::secret::StaticWebhook;
pub use self::service::{
    Notified, Notifier, NotifyError, Skipped, DEFAULT_LEASE_SECONDS, DEFAULT_RECORD_TTL_DAYS,
};
