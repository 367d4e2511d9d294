//! The notify flow's ports: the SNS topic ([`TopicPublisher`]), the Slack
//! webhook ([`ChatWebhook`]) and where its URL comes from ([`WebhookSource`]),
//! with the delivery error they share.
//!
//! The Slack webhook URL: read from Secrets Manager once per container, kept in
//! a type that never prints it. Anyone holding the URL can post to the channel,
//! so it must not reach logs, errors or events.
//! The Secrets Manager source (`SecretsManagerWebhook`) is the adapter
//! `driftguard_adapters::secrets`.
use async_trait::async_trait;

use crate::notify::render::SnsMessage;
use driftguard_model::error::PortError;

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

/// A Slack incoming-webhook URL. `Debug` and `Display` redact it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookUrl([redacted])")
    }
}

impl std::fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted webhook URL]")
    }
}

/// Why a secret's value is not a usable webhook URL. Static texts only: the
/// value itself is never quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidWebhook {
    #[error("the secret is empty")]
    Empty,
    #[error("the secret is JSON without a string `webhook_url` field")]
    MissingField,
    #[error("the value is not a URL")]
    NotAUrl,
    #[error("the URL scheme is not https (or http)")]
    BadScheme,
}

impl WebhookUrl {
    /// Accepts the bare URL or JSON `{"webhook_url": "..."}`.
    pub fn parse(secret: &str) -> Result<Self, InvalidWebhook> {
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(InvalidWebhook::Empty);
        }
        let candidate = if secret.starts_with('{') {
            let json: serde_json::Value =
                serde_json::from_str(secret).map_err(|_| InvalidWebhook::MissingField)?;
            json.get("webhook_url")
                .and_then(|v| v.as_str())
                .map(|s| s.trim().to_string())
                .ok_or(InvalidWebhook::MissingField)?
        } else {
            secret.to_string()
        };
        // url::ParseError's Display does not quote the input.
        let url = url::Url::parse(&candidate).map_err(|_| InvalidWebhook::NotAUrl)?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(InvalidWebhook::BadScheme);
        }
        Ok(Self(candidate))
    }

    /// The URL itself, for the HTTP client only (`driftguard_adapters::slack`):
    /// never log or format what this returns.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replace the URL (and its secret path) wherever it appears in `text`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.replace(&self.0, "[redacted webhook URL]");
        if let Ok(url) = url::Url::parse(&self.0) {
            let path = url.path();
            if path.len() > 1 {
                out = out.replace(path, "/[redacted]");
            }
        }
        out
    }
}

/// Reading the webhook URL failed. Names the secret, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("secret {secret_id}: cannot read it: {message}")]
    Unavailable { secret_id: String, message: String },
    #[error("secret {secret_id} holds no usable webhook URL: {why}")]
    Invalid {
        secret_id: String,
        why: InvalidWebhook,
    },
}

/// Where the webhook URL comes from.
#[async_trait]
pub trait WebhookSource: Send + Sync {
    async fn webhook_url(&self) -> Result<WebhookUrl, SecretError>;
    /// Forget a cached value (Slack said the webhook is gone: the secret may
    /// have been rotated).
    async fn invalidate(&self) {}
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const URL: &str = "https://hooks.slack.com/services/T000/B000/XXXXSECRET";

    #[test]
    fn parses_bare_url_and_json_forms() {
        assert_eq!(WebhookUrl::parse(URL).unwrap().expose(), URL);
        assert_eq!(
            WebhookUrl::parse(&format!(" {URL}\n")).unwrap().expose(),
            URL
        );
        let json = format!(r##"{{"webhook_url": "{URL}", "channel": "#ops"}}"##);
        assert_eq!(WebhookUrl::parse(&json).unwrap().expose(), URL);
    }

    #[test]
    fn rejects_unusable_values_without_quoting_them() {
        for (value, why) in [
            ("", InvalidWebhook::Empty),
            (r#"{"url": "x"}"#, InvalidWebhook::MissingField),
            ("{not json XXXXSECRET", InvalidWebhook::MissingField),
            ("XXXXSECRET", InvalidWebhook::NotAUrl),
            ("ftp://example.com/XXXXSECRET", InvalidWebhook::BadScheme),
        ] {
            let err = WebhookUrl::parse(value).unwrap_err();
            assert_eq!(err, why);
            let shown = SecretError::Invalid {
                secret_id: "arn:secret".into(),
                why: err,
            }
            .to_string();
            assert!(!shown.contains("XXXXSECRET"), "{shown}");
        }
    }

    #[test]
    fn debug_and_display_redact() {
        let url = WebhookUrl::parse(URL).unwrap();
        assert!(!format!("{url:?}").contains("XXXXSECRET"));
        assert!(!format!("{url}").contains("hooks.slack.com"));
    }

    #[test]
    fn scrub_removes_the_url_and_its_path() {
        let url = WebhookUrl::parse(URL).unwrap();
        let text =
            format!("error sending request for url ({URL}); path /services/T000/B000/XXXXSECRET");
        let scrubbed = url.scrub(&text);
        assert!(!scrubbed.contains("XXXXSECRET"), "{scrubbed}");
    }
}
