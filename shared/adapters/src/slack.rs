//! Slack incoming-webhook client: honours 429 `Retry-After` (capped), retries
//! 5xx, timeouts and connection failures with backoff and jitter, and keeps the
//! webhook URL out of every error and log line.
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;

use driftguard_core::ports::notify::{ChatWebhook, DeliveryError, WebhookSource, WebhookUrl};
use driftguard_core::resilience::RetryPolicy;

/// Longest response body quoted in an error (Slack answers with short codes
/// such as `invalid_payload` or `no_service`).
const BODY_QUOTE_MAX: usize = 200;

#[derive(Debug, Clone, Copy)]
pub struct SlackSettings {
    /// Attempts (including the first), backoff and per-attempt timeout.
    pub retry: RetryPolicy,
    /// The longest `Retry-After` honoured; longer asks wait this long.
    pub max_retry_after: Duration,
    pub connect_timeout: Duration,
}

impl Default for SlackSettings {
    /// Worst case 4 x 3 s attempts + 3 x 4 s waits = 24 s: inside notify's
    /// 30 s Lambda timeout, with room for SNS and the claims.
    fn default() -> Self {
        Self {
            retry: RetryPolicy {
                max_attempts: 4,
                base_delay: Duration::from_millis(250),
                max_delay: Duration::from_secs(2),
                attempt_timeout: Duration::from_secs(3),
            },
            max_retry_after: Duration::from_secs(4),
            connect_timeout: Duration::from_secs(2),
        }
    }
}

/// Posts JSON payloads to a webhook URL.
#[derive(Debug, Clone)]
pub struct SlackClient {
    http: reqwest::Client,
    settings: SlackSettings,
}

/// What one attempt came to.
enum Attempt {
    Delivered,
    /// Worth retrying; `wait` is the server's `Retry-After`, if it gave one.
    Retry {
        reason: String,
        wait: Option<Duration>,
    },
    Permanent(DeliveryError),
}

impl SlackClient {
    /// Fails only if the TLS backend cannot be initialised.
    pub fn new(settings: SlackSettings) -> Result<Self, DeliveryError> {
        let http = reqwest::Client::builder()
            .timeout(settings.retry.attempt_timeout)
            .connect_timeout(settings.connect_timeout)
            // A webhook never redirects; following one would send the message elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| DeliveryError::Exhausted {
                attempts: 0,
                last: format!("cannot build the HTTP client: {}", e.without_url()),
            })?;
        Ok(Self { http, settings })
    }

    pub fn settings(&self) -> &SlackSettings {
        &self.settings
    }

    /// POST `payload` until Slack accepts it, rejects it, or attempts run out.
    pub async fn post(
        &self,
        url: &WebhookUrl,
        payload: &serde_json::Value,
    ) -> Result<(), DeliveryError> {
        let policy = &self.settings.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (reason, wait) = match self.attempt(url, payload).await {
                Attempt::Delivered => {
                    tracing::info!(attempt, "slack message delivered");
                    return Ok(());
                }
                Attempt::Permanent(e) => {
                    tracing::warn!(attempt, error = %e, "slack rejected the message");
                    return Err(e);
                }
                Attempt::Retry { reason, wait } => (reason, wait),
            };
            if attempt >= policy.max_attempts {
                tracing::warn!(attempt, reason = %reason, "slack delivery failed; no attempts left");
                return Err(DeliveryError::Exhausted {
                    attempts: attempt,
                    last: reason,
                });
            }
            let delay = match wait {
                Some(asked) => asked.min(self.settings.max_retry_after),
                None => policy.backoff(attempt),
            };
            tracing::warn!(
                attempt,
                reason = %reason,
                delay_ms = delay.as_millis() as u64,
                retry_after_honoured = wait.is_some(),
                "slack delivery failed; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(&self, url: &WebhookUrl, payload: &serde_json::Value) -> Attempt {
        let response = match self.http.post(url.expose()).json(payload).send().await {
            Ok(r) => r,
            Err(e) => {
                let reason = describe(e, url);
                return Attempt::Retry { reason, wait: None };
            }
        };
        let status = response.status();
        if status.is_success() {
            return Attempt::Delivered;
        }
        let wait = retry_after(response.headers());
        let body = match response.text().await {
            Ok(body) => url.scrub(&driftguard_core::notify::render::truncate(
                body.trim(),
                BODY_QUOTE_MAX,
            )),
            Err(e) => format!("(body unreadable: {})", describe(e, url)),
        };
        if status.as_u16() == 429 {
            return Attempt::Retry {
                reason: format!("HTTP 429 rate limited: {body}"),
                wait,
            };
        }
        if status.is_server_error() || status.as_u16() == 408 {
            return Attempt::Retry {
                reason: format!("HTTP {}: {body}", status.as_u16()),
                wait: None,
            };
        }
        Attempt::Permanent(DeliveryError::Rejected {
            status: status.as_u16(),
            body,
        })
    }
}

/// A reqwest error with its causes, without the URL (reqwest's `Display`
/// includes it) and with any trace of it scrubbed from the causes.
fn describe(e: reqwest::Error, url: &WebhookUrl) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut text = format!("{kind}: {e}");
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    url.scrub(&text)
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.with_timezone(&Utc) - Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// Slack as a [`ChatWebhook`]: the URL from its source, the client's retries.
pub struct SlackWebhook {
    source: Arc<dyn WebhookSource>,
    client: SlackClient,
}

impl SlackWebhook {
    pub fn new(source: Arc<dyn WebhookSource>, client: SlackClient) -> Self {
        Self { source, client }
    }
}

#[async_trait]
impl ChatWebhook for SlackWebhook {
    async fn post(&self, payload: &serde_json::Value) -> Result<(), DeliveryError> {
        let url = self.source.webhook_url().await?;
        let result = self.client.post(&url, payload).await;
        // 403/404/410: the webhook was revoked or the channel archived; the
        // secret may have been rotated since we cached it.
        if let Err(DeliveryError::Rejected {
            status: 403 | 404 | 410,
            ..
        }) = &result
        {
            self.source.invalidate().await;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(
            retry_after(&h),
            Some(Duration::ZERO),
            "a past date means now"
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }
}
