//! `TopicPublisher` over SNS `Publish`. Throttling and transient failures are
//! retried by the one retry layer ([`driftguard_core::resilience::retry`]; the SDK makes
//! one attempt), classified by `errors`.
use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;

use super::errors::map_sdk_error;
use driftguard_core::notify::render::SnsMessage;
use driftguard_core::notify::sns::check_attributes;
use driftguard_core::ports::notify::{DeliveryError, TopicPublisher};
use driftguard_core::resilience::{retry, RetryPolicy};
use driftguard_model::error::PortError;

#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
    retry: RetryPolicy,
}

impl SnsPublisher {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
            retry: RetryPolicy::default(),
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn from_config(config: &aws_config::SdkConfig, topic_arn: impl Into<String>) -> Self {
        Self::new(aws_sdk_sns::Client::new(config), topic_arn)
    }

    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }
}

#[async_trait]
impl TopicPublisher for SnsPublisher {
    async fn publish(&self, message: &SnsMessage) -> Result<(), DeliveryError> {
        check_attributes(message)?;
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&message.subject)
            .message(&message.body);
        for (name, value) in &message.attributes {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| PortError::Failed {
                    service: "sns",
                    operation: "Publish",
                    message: format!("message attribute {name}: {e}"),
                })?;
            request = request.message_attributes(name, attribute);
        }
        let out = retry(&self.retry, "sns:Publish", || {
            let request = request.clone();
            async move {
                request
                    .send()
                    .await
                    .map_err(|e| map_sdk_error("sns", "Publish", e))
            }
        })
        .await?;
        tracing::info!(
            topic_arn = %self.topic_arn,
            message_id = out.message_id().unwrap_or_default(),
            "published to SNS"
        );
        Ok(())
    }
}
