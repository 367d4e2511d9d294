//! SNS through the moto server: publish with the real publisher, read back from
//! SQS subscriptions (raw delivery and the SNS envelope), and check that
//! subscribers can filter on the message attributes.

use driftguard_adapters::sns::SnsPublisher;
use driftguard_core::notify::render::{sns_message, BusEvent};
use driftguard_core::notify::samples;
use driftguard_core::ports::notify::TopicPublisher;
use driftguard_model::events::RemediationOutcome;
use integration_tests::moto;
use serde_json::Value;

use crate::notify_support::{add_queue, receive, topic_with_queue};

fn port_22_event() -> BusEvent {
    BusEvent::parse(&samples::envelope_for(&samples::console_port_22_decision()))
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn raw_delivery_carries_the_detail_and_string_attributes() {
    let config = moto().sdk_config_with_sdk_retries().await;
    let (topic, queue) = topic_with_queue(&config, true, None).await;
    let event = port_22_event();
    let message = sns_message(&event, &samples::ticket_facts());
    SnsPublisher::from_config(&config, &topic)
        .publish(&message)
        .await
        .expect("publish");

    let got = receive(&config, &queue).await;
    assert_eq!(got.len(), 1);
    let body: Value = serde_json::from_str(got[0].body().unwrap()).unwrap();
    assert_eq!(body, event.detail, "the body is the full JSON detail");
    let attrs = got[0].message_attributes().unwrap();
    // Raw delivery to SQS discards a message with more than 10 attributes
    // (https://docs.aws.amazon.com/sns/latest/dg/SNSMessageAttributes.html); moto
    // does not, so the count is checked here. The ticket id is in the body.
    assert!(
        attrs.len() <= driftguard_core::notify::sns::MAX_MESSAGE_ATTRIBUTES,
        "{}",
        attrs.len()
    );
    assert!(!attrs.contains_key("ticket_id"));
    assert_eq!(body["ticket_id"], samples::TICKET_ID);
    for (name, expected) in [
        ("severity", "high"),
        ("verdict", "revert"),
        ("account", "123456789012"),
        ("region", "us-east-1"),
        ("stack", "web-prod"),
        ("resource_type", "AWS::EC2::SecurityGroup"),
        ("ticket_state", "OPEN"),
        ("outcome", "decided"),
        ("kind", "decision"),
        ("dry_run", "false"),
    ] {
        let attr = attrs
            .get(name)
            .unwrap_or_else(|| panic!("attribute {name}"));
        assert_eq!(attr.data_type(), "String", "{name}");
        assert_eq!(attr.string_value(), Some(expected), "{name}");
    }
}

#[tokio::test]
async fn enveloped_delivery_shows_the_subject_and_attributes() {
    let config = moto().sdk_config_with_sdk_retries().await;
    let (topic, queue) = topic_with_queue(&config, false, None).await;
    let event = BusEvent::parse(&samples::envelope_for(&samples::result(
        RemediationOutcome::Resolved,
    )))
    .unwrap()
    .unwrap();
    let message = sns_message(&event, &samples::ticket_facts());
    SnsPublisher::from_config(&config, &topic)
        .publish(&message)
        .await
        .unwrap();

    let got = receive(&config, &queue).await;
    assert_eq!(got.len(), 1);
    let envelope: Value = serde_json::from_str(got[0].body().unwrap()).unwrap();
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["TopicArn"], topic.as_str());
    assert_eq!(
        envelope["Subject"],
        // SNS subjects are "less than 100 characters long" (Publish API); the
        // render cuts at 99 with "..." (the state is in the message and its
        // attributes).
        "[driftguard] HIGH resolved: web-prod/WebSecurityGroup (123456789012 us-east-1) DG-3f9a1c0b7e21 R..."
    );
    let detail: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(detail["outcome"], "resolved");
    assert_eq!(envelope["MessageAttributes"]["outcome"]["Type"], "String");
    assert_eq!(
        envelope["MessageAttributes"]["outcome"]["Value"],
        "resolved"
    );
    assert_eq!(
        envelope["MessageAttributes"]["ticket_state"]["Value"],
        "RESOLVED"
    );
}

#[tokio::test]
async fn subscribers_filter_on_severity() {
    let config = moto().sdk_config_with_sdk_retries().await;
    let (topic, everything) = topic_with_queue(&config, true, None).await;
    let critical_only = add_queue(
        &config,
        &topic,
        true,
        Some(r#"{"severity": ["critical"], "kind": ["decision"]}"#),
    )
    .await;
    let publisher = SnsPublisher::from_config(&config, &topic);

    // High: the port-22 revert. Critical: the stack rollback awaiting approval.
    let (_, rollback) = samples::decisions()
        .into_iter()
        .find(|(name, _)| *name == "decision-rollback-awaiting-approval")
        .unwrap();
    for envelope in [
        samples::envelope_for(&samples::console_port_22_decision()),
        samples::envelope_for(&rollback),
    ] {
        let event = BusEvent::parse(&envelope).unwrap().unwrap();
        publisher
            .publish(&sns_message(&event, &samples::ticket_facts()))
            .await
            .unwrap();
    }

    assert_eq!(receive(&config, &everything).await.len(), 2);
    let filtered = receive(&config, &critical_only).await;
    assert_eq!(
        filtered.len(),
        1,
        "only the critical decision passes the filter"
    );
    let body: Value = serde_json::from_str(filtered[0].body().unwrap()).unwrap();
    assert_eq!(body["decision"]["verdict"]["action"], "rollback");
}

#[tokio::test]
async fn a_missing_topic_is_an_error_not_a_silent_drop() {
    let config = moto().sdk_config_with_sdk_retries().await;
    let publisher =
        SnsPublisher::from_config(&config, "arn:aws:sns:us-east-1:123456789012:no-such-topic");
    let message = sns_message(&port_22_event(), &samples::ticket_facts());
    let err = publisher.publish(&message).await.unwrap_err();
    assert!(!err.to_string().is_empty());
}
