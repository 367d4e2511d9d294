//! A fixed Slack webhook URL (local runs, tests). The URL's type and the port
//! are [`crate::ports::notify`]; the Secrets Manager source
//! (`SecretsManagerWebhook`) is the adapter `driftguard_adapters::secrets`.
use async_trait::async_trait;

use crate::ports::notify::{SecretError, WebhookSource, WebhookUrl};

/// A fixed URL (local runs, tests).
#[derive(Debug, Clone)]
pub struct StaticWebhook(pub WebhookUrl);

#[async_trait]
impl WebhookSource for StaticWebhook {
    async fn webhook_url(&self) -> Result<WebhookUrl, SecretError> {
        Ok(self.0.clone())
    }
}
