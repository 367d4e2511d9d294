//! SNS messages: subject, String message attributes subscribers filter on,
//! and the full JSON detail as the body. The publisher (`SnsPublisher`) is
//! the adapter `driftguard_adapters::sns`.
use super::render::SnsMessage;
use driftguard_model::error::PortError;

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
