//! The notify Lambda as deployed (`notify::wire` from environment-style
//! configuration) against moto: claims in the DynamoDB ticket table, SNS read
//! back from an SQS subscription, the webhook URL from Secrets Manager, Slack
//! on a local listener.

use std::collections::HashMap;

use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_core::config::Config;
use driftguard_core::notify::samples;
use driftguard_core::ports::TicketStore;
use driftguard_model::events::RemediationOutcome;
use integration_tests::moto;
use serde_json::{json, Value};

use crate::notify_support::{
    create_secret, create_ticket_table, quick_settings, receive, topic_with_queue, FakeSlack, Reply,
};

struct Deployed {
    config: aws_config::SdkConfig,
    table: String,
    queue: String,
    slack: FakeSlack,
    notifier: driftguard_core::notify::Notifier,
}

async fn deploy() -> Deployed {
    let config = moto().sdk_config_with_sdk_retries().await;
    let table = create_ticket_table(&config).await;
    let (topic, queue) = topic_with_queue(&config, true, None).await;
    let slack = FakeSlack::start(vec![]).await;
    let secret = create_secret(&config, &slack.url).await;
    let env: HashMap<&str, String> = HashMap::from([
        ("TABLE_NAME", table.clone()),
        ("TOPIC_ARN", topic),
        ("SLACK_SECRET_ARN", secret),
        ("EVENT_TTL_DAYS", "3".to_string()),
    ]);
    let cfg = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let notifier = notify::wire_with(&cfg, &config, quick_settings(2)).unwrap();
    Deployed {
        config,
        table,
        queue,
        slack,
        notifier,
    }
}

async fn event_record(
    d: &Deployed,
    id: &str,
) -> Option<HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    aws_sdk_dynamodb::Client::new(&d.config)
        .get_item()
        .table_name(&d.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("EVENT#{id}")),
        )
        .send()
        .await
        .unwrap()
        .item()
        .cloned()
}

#[tokio::test]
async fn one_message_per_event_on_both_channels_and_redelivery_is_a_no_op() {
    let d = deploy().await;
    let envelope = samples::envelope_for(&samples::console_port_22_decision());
    let envelope_id = envelope["id"].as_str().unwrap().to_string();

    let first = notify::handler::handle(&d.notifier, envelope.clone())
        .await
        .unwrap();
    assert_eq!(
        first,
        json!({ "status": "sent", "sent": ["sns", "slack"], "already_sent": [] })
    );
    let again = notify::handler::handle(&d.notifier, envelope.clone())
        .await
        .unwrap();
    assert_eq!(again, json!({ "status": "skipped", "reason": "duplicate" }));

    assert_eq!(receive(&d.config, &d.queue).await.len(), 1);
    assert_eq!(d.slack.received().len(), 1);
    let record = event_record(&d, &format!("notify:{envelope_id}"))
        .await
        .expect("claim record");
    assert_eq!(record["status"].as_s().unwrap(), "DONE");
    assert!(record.contains_key("ttl"));

    // No state change: nothing is sent, nothing is claimed.
    let mut quiet = samples::console_port_22_decision();
    quiet.state_changed = false;
    quiet.decided_at += chrono::Duration::seconds(1);
    let out = notify::handler::handle(&d.notifier, samples::envelope_for(&quiet))
        .await
        .unwrap();
    assert_eq!(out["reason"], "no_state_change");
    assert_eq!(d.slack.received().len(), 1);
}

#[tokio::test]
async fn a_slack_outage_fails_the_invocation_and_the_retry_does_not_resend_sns() {
    let d = deploy().await;
    d.slack.script(vec![
        Reply::status(500, "boom"),
        Reply::status(502, "bad gateway"),
    ]);
    let envelope = samples::envelope_for(&samples::result(RemediationOutcome::Failed));

    let err = notify::handler::handle(&d.notifier, envelope.clone())
        .await
        .unwrap_err();
    let diagnostic = lambda_diagnostic(err);
    assert_eq!(diagnostic.0, "driftguard.delivery_failed");
    assert!(
        diagnostic.1.contains("slack unavailable after 2 attempts"),
        "{}",
        diagnostic.1
    );
    assert_eq!(receive(&d.config, &d.queue).await.len(), 1, "SNS went out");

    // Lambda's retry: Slack is back; SNS is not sent a second time.
    let retried = notify::handler::handle(&d.notifier, envelope)
        .await
        .unwrap();
    assert_eq!(
        retried,
        json!({ "status": "sent", "sent": ["slack"], "already_sent": ["sns"] })
    );
    assert!(receive(&d.config, &d.queue).await.is_empty());
    assert_eq!(d.slack.received().len(), 3);
}

#[tokio::test]
async fn results_take_severity_from_the_ticket_in_dynamodb() {
    let d = deploy().await;
    let decision = samples::console_port_22_decision();
    let fingerprint =
        driftguard_model::domain::Fingerprint::for_change(&decision.change, &decision.ownership);
    let mut ticket = driftguard_model::domain::Ticket::new(
        fingerprint,
        &decision.change,
        &decision.ownership,
        chrono::Utc::now(),
    );
    // The ticket under its own key: reads by key check that the stored
    // fingerprint hashes to it (issue 34 item 7), so the samples' fixed id
    // would not be found.
    ticket.severity = driftguard_model::domain::Severity::Critical;
    ticket.decision = Some(decision.decision.clone());
    DynamoTicketStore::new(aws_sdk_dynamodb::Client::new(&d.config), &d.table)
        .create_ticket(&ticket)
        .await
        .unwrap();

    let mut result = samples::result(RemediationOutcome::Resolved);
    result.ticket_id = ticket.id.clone();
    let envelope = samples::envelope_for(&result);
    notify::handler::handle(&d.notifier, envelope)
        .await
        .unwrap();
    let got = receive(&d.config, &d.queue).await;
    let attrs = got[0].message_attributes().unwrap();
    assert_eq!(attrs["severity"].string_value(), Some("critical"));
    assert_eq!(attrs["verdict"].string_value(), Some("revert"));
    assert_eq!(attrs["outcome"].string_value(), Some("resolved"));
    let slack_body: &Value = &d.slack.received()[0].body;
    assert!(slack_body.to_string().contains("*Severity*\\ncritical"));
}

fn lambda_diagnostic(err: notify::handler::HandlerError) -> (String, String) {
    let d = notify::handler::Diagnostic::from(err);
    (d.error_type, d.error_message)
}
