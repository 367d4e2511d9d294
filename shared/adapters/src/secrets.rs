//! `WebhookSource` over Secrets Manager `GetSecretValue`: the Slack webhook
//! URL, read once per container. Errors name the secret, never its value.
use async_trait::async_trait;
use tokio::sync::RwLock;

use super::errors::map_sdk_error;
use driftguard_core::ports::notify::{InvalidWebhook, SecretError, WebhookSource, WebhookUrl};
use driftguard_core::resilience::{retry, RetryPolicy};

/// The URL in Secrets Manager (`SLACK_SECRET_ARN`), read on first use and
/// cached for the life of the container. Failed reads are not cached.
pub struct SecretsManagerWebhook {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    cached: RwLock<Option<WebhookUrl>>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for SecretsManagerWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsManagerWebhook")
            .field("secret_id", &self.secret_id)
            .finish_non_exhaustive()
    }
}

impl SecretsManagerWebhook {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
            cached: RwLock::new(None),
            retry: RetryPolicy::default(),
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn from_config(config: &aws_config::SdkConfig, secret_id: impl Into<String>) -> Self {
        Self::new(aws_sdk_secretsmanager::Client::new(config), secret_id)
    }

    async fn fetch(&self) -> Result<WebhookUrl, SecretError> {
        let out = retry(&self.retry, "secretsmanager:GetSecretValue", || async {
            self.client
                .get_secret_value()
                .secret_id(&self.secret_id)
                .send()
                .await
                .map_err(|e| map_sdk_error("secretsmanager", "GetSecretValue", e))
        })
        .await
        .map_err(|e| SecretError::Unavailable {
            secret_id: self.secret_id.clone(),
            // The request carries only the secret id; the error cannot hold the value.
            message: e.to_string(),
        })?;
        let text = match (out.secret_string(), out.secret_binary()) {
            (Some(s), _) => s.to_string(),
            (None, Some(b)) => {
                String::from_utf8(b.as_ref().to_vec()).map_err(|_| SecretError::Invalid {
                    secret_id: self.secret_id.clone(),
                    why: InvalidWebhook::NotAUrl,
                })?
            }
            (None, None) => String::new(),
        };
        WebhookUrl::parse(&text).map_err(|why| SecretError::Invalid {
            secret_id: self.secret_id.clone(),
            why,
        })
    }
}

#[async_trait]
impl WebhookSource for SecretsManagerWebhook {
    async fn webhook_url(&self) -> Result<WebhookUrl, SecretError> {
        if let Some(url) = self.cached.read().await.as_ref() {
            return Ok(url.clone());
        }
        let mut slot = self.cached.write().await;
        if let Some(url) = slot.as_ref() {
            return Ok(url.clone());
        }
        let url = self.fetch().await?;
        tracing::info!(secret_id = %self.secret_id, "slack webhook URL read from Secrets Manager");
        *slot = Some(url.clone());
        Ok(url)
    }

    async fn invalidate(&self) {
        *self.cached.write().await = None;
    }
}
