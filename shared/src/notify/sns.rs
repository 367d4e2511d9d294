//! SNS publisher: subject, String message attributes subscribers filter on,
//! and the full JSON detail as the body. The SDK's standard retry mode retries
//! throttling and 5xx; what is left is classified for the caller.
use async_trait::async_trait;
use aws_sdk_sns::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;

use super::render::SnsMessage;
use super::{DeliveryError, TopicPublisher};
use crate::error::PortError;

/// At most this many message attributes per message: "For SQS subscriptions, a
/// maximum of 10 message attributes can be sent when Raw Message Delivery is enabled.
/// [...] Messages with more than 10 message attributes directed towards Raw Message
/// Delivery enabled Amazon SQS subscriptions will be discarded as client side errors."
/// (<https://docs.aws.amazon.com/sns/latest/dg/SNSMessageAttributes.html>)
pub const MAX_MESSAGE_ATTRIBUTES: usize = 10;

/// Refuse a message a raw-delivery SQS subscriber would silently lose.
pub fn check_attributes(message: &SnsMessage) -> Result<(), PortError> {
    let count = message.attributes.len();
    if count > MAX_MESSAGE_ATTRIBUTES {
        return Err(PortError::Failed {
            service: "sns",
            operation: "Publish",
            message: format!(
                "message has {count} message attributes, over SNS's {MAX_MESSAGE_ATTRIBUTES} \
                 (raw delivery to SQS discards such messages)"
            ),
        });
    }
    Ok(())
}

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

#[cfg(test)]
mod attribute_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn message(attributes: usize) -> SnsMessage {
        SnsMessage {
            subject: "s".into(),
            body: "{}".into(),
            attributes: (0..attributes)
                .map(|i| (format!("a{i}"), "v".to_string()))
                .collect(),
        }
    }

    #[test]
    fn ten_attributes_pass_and_eleven_are_refused() {
        assert!(check_attributes(&message(MAX_MESSAGE_ATTRIBUTES)).is_ok());
        let err = check_attributes(&message(MAX_MESSAGE_ATTRIBUTES + 1)).unwrap_err();
        assert!(err.to_string().contains("11 message attributes"), "{err}");
    }
}
