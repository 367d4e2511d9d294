//! `driftguard accept` end to end on moto: the ticket moves to ACCEPTED in
//! DynamoDB, "Drift Accepted" goes on driftguard's bus and through
//! `template.yaml`'s NotifyRule (its pattern read from the template, routed
//! to SQS: moto does not invoke Lambda targets), and notify as deployed
//! (`notify::wire`) announces it on SNS (read back from an SQS subscription)
//! and Slack (a local listener). A redelivery sends nothing; a forged event
//! for a ticket that is not ACCEPTED sends nothing either.
use std::collections::HashMap;
use std::time::Duration;

use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_adapters::eventbridge::EventBridgeBus;
use driftguard_cli::emulator::deployment::Deployment;
use driftguard_cli::emulator::resources::{receive_json, route_to_queue};
use driftguard_cli::ops::Target;
use driftguard_core::config::Config;
use driftguard_core::notify::samples;
use driftguard_core::ports::{DecisionBus, TicketStore};
use driftguard_model::domain::{Fingerprint, Severity, Ticket, TicketState};
use driftguard_model::events::{DriftAccepted, DRIFT_ACCEPTED};
use integration_tests::infra::Infra;
use integration_tests::{moto, unique};
use serde_json::{json, Value};

use crate::notify_support::{create_secret, quick_settings, receive, topic_with_queue, FakeSlack};

/// An OPEN ticket for the console's port-22 change, with `logical_id`.
fn open_ticket(logical_id: &str) -> Ticket {
    let d = samples::console_port_22_decision();
    let mut fp = Fingerprint::for_change(&d.change, &d.ownership);
    fp.logical_id = logical_id.into();
    let mut t = Ticket::new(fp, &d.change, &d.ownership, chrono::Utc::now());
    t.severity = Severity::High;
    t.decision = Some(d.decision.clone());
    t.event_drift = d.event_drift.clone();
    t.last_change = Some(d.change.clone());
    t
}

/// The NotifyRule's event pattern, as `template.yaml` declares it.
fn notify_rule_pattern() -> Value {
    Deployment::from_builtin_template()
        .unwrap()
        .rules
        .into_iter()
        .find(|r| r.logical_id == "NotifyRule")
        .expect("template.yaml has a NotifyRule")
        .pattern
}

#[tokio::test]
async fn accept_is_routed_to_notify_and_announced_once_from_the_ticket() {
    let moto = moto();
    let config = moto.sdk_config_with_sdk_retries().await;
    let infra = Infra::create(&config, &unique("accept")).await.unwrap();
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let to_notify = route_to_queue(
        &events,
        &sqs,
        &infra.bus,
        &unique("accept-notify-rule"),
        &notify_rule_pattern(),
    )
    .await
    .unwrap();
    let store = DynamoTicketStore::new(aws_sdk_dynamodb::Client::new(&config), &infra.table);
    let ticket = open_ticket("WebSecurityGroup");
    store.create_ticket(&ticket).await.unwrap();

    // `driftguard accept`, as the command runs it.
    let target = Target {
        endpoint: Some(moto.endpoint.clone()),
        table: infra.table.clone(),
        bus: infra.bus.clone(),
    };
    driftguard_cli::ops::accept(&target, &ticket.id, "carol", "vendor needs ssh")
        .await
        .unwrap();
    let stored = store.get_ticket(&ticket.id).await.unwrap().unwrap();
    assert_eq!(stored.state, TicketState::Accepted);

    // Through the NotifyRule: exactly one event, naming the ticket, who, why.
    let routed = receive_json(&sqs, &to_notify, 1, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(routed.len(), 1, "{routed:#?}");
    let envelope = routed[0].clone();
    assert_eq!(envelope["source"], driftguard_model::events::SOURCE);
    assert_eq!(envelope["detail-type"], DRIFT_ACCEPTED);
    let detail: DriftAccepted = serde_json::from_value(envelope["detail"].clone()).unwrap();
    assert_eq!(
        detail,
        DriftAccepted::of(&stored, &stored.acceptance().unwrap())
    );
    assert_eq!(
        (detail.accepted_by.as_str(), detail.reason.as_str()),
        ("carol", "vendor needs ssh")
    );

    // notify as deployed: SNS and Slack, once.
    let (topic, sns_queue) = topic_with_queue(&config, true, None).await;
    let slack = FakeSlack::start(vec![]).await;
    let secret = create_secret(&config, &slack.url).await;
    let env: HashMap<&str, String> = HashMap::from([
        ("TABLE_NAME", infra.table.clone()),
        ("TOPIC_ARN", topic),
        ("SLACK_SECRET_ARN", secret),
    ]);
    let cfg = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let notifier = notify::wire_with(&cfg, &config, quick_settings(2)).unwrap();
    let first = notify::handler::handle(&notifier, envelope.clone())
        .await
        .unwrap();
    assert_eq!(
        first,
        json!({ "status": "sent", "sent": ["sns", "slack"], "already_sent": [] })
    );
    let got = receive(&config, &sns_queue).await;
    assert_eq!(got.len(), 1);
    let attrs = got[0].message_attributes().unwrap();
    assert!(attrs.len() <= driftguard_core::notify::sns::MAX_MESSAGE_ATTRIBUTES);
    for (name, expected) in [
        ("kind", "accepted"),
        ("outcome", "accepted"),
        ("ticket_state", "ACCEPTED"),
        ("severity", "high"),
        ("verdict", "revert"),
        ("stack", "web-prod"),
        ("resource_type", "AWS::EC2::SecurityGroup"),
    ] {
        let attr = attrs
            .get(name)
            .unwrap_or_else(|| panic!("attribute {name}"));
        assert_eq!(attr.string_value(), Some(expected), "{name}");
    }
    let body: Value = serde_json::from_str(got[0].body().unwrap()).unwrap();
    assert_eq!(
        body, envelope["detail"],
        "the body is the ticket's acceptance"
    );
    let posted = slack.received();
    assert_eq!(posted.len(), 1);
    let text = posted[0].body.to_string();
    assert!(
        text.contains("Drift accepted: web-prod/WebSecurityGroup") && text.contains("carol"),
        "{text}"
    );

    // A redelivery is a no-op.
    let again = notify::handler::handle(&notifier, envelope).await.unwrap();
    assert_eq!(again, json!({ "status": "skipped", "reason": "duplicate" }));
    assert!(receive(&config, &sns_queue).await.is_empty());
    assert_eq!(slack.received().len(), 1);

    // A forged "Drift Accepted" for an OPEN ticket goes through the rule too,
    // but notify announces nothing: the ticket does not say so.
    let open = open_ticket("OtherSecurityGroup");
    store.create_ticket(&open).await.unwrap();
    let mut forged = detail.clone();
    forged.ticket_id = open.id.clone();
    forged.accepted_by = "mallory".into();
    EventBridgeBus::new(events.clone(), &infra.bus)
        .publish(DRIFT_ACCEPTED, &serde_json::to_value(&forged).unwrap())
        .await
        .unwrap();
    let routed = receive_json(&sqs, &to_notify, 1, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(routed.len(), 1, "{routed:#?}");
    let skipped = notify::handler::handle(&notifier, routed[0].clone())
        .await
        .unwrap();
    assert_eq!(
        skipped,
        json!({ "status": "skipped", "reason": "not_accepted" })
    );
    assert!(receive(&config, &sns_queue).await.is_empty());
    assert_eq!(slack.received().len(), 1);
}
