//! SNS publisher: subject, String message attributes subscribers filter on,
//! and the full JSON detail as the body. The SDK's standard retry mode retries
//! throttling and 5xx; what is left is classified for the caller.
use async_trait::async_trait;
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;

use super::render::SnsMessage;
use super::{DeliveryError, TopicPublisher};
use crate::error::PortError;

#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsPublisher {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
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
        let out = request.send().await.map_err(classify)?;
        tracing::info!(
            topic_arn = %self.topic_arn,
            message_id = out.message_id().unwrap_or_default(),
            "published to SNS"
        );
        Ok(())
    }
}

fn classify<E, R>(err: SdkError<E, R>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let message = DisplayErrorContext(&err).to_string();
    let (service, operation) = ("sns", "Publish");
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            PortError::Transient {
                service,
                operation,
                message,
            }
        }
        SdkError::ServiceError(e) => match e.err().code() {
            Some("Throttled" | "Throttling" | "ThrottlingException") => PortError::Throttled {
                service,
                operation,
                message,
            },
            Some("NotFound") => PortError::NotFound {
                what: "SNS topic".to_string(),
            },
            Some("InternalError" | "KMSThrottling") => PortError::Transient {
                service,
                operation,
                message,
            },
            _ => PortError::Failed {
                service,
                operation,
                message,
            },
        },
        _ => PortError::Failed {
            service,
            operation,
            message,
        },
    }
}
