//! Slack against a local webhook stand-in on 127.0.0.1, with the URL read from
//! Secrets Manager on moto: the Block Kit body, a 429-then-200 sequence that
//! honours Retry-After, and failures that fail the invocation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use driftguard_adapters::secrets::SecretsManagerWebhook;
use driftguard_adapters::slack::{SlackClient, SlackSettings, SlackWebhook};
use driftguard_core::memory::{FixedClock, MemoryTicketStore};
use driftguard_core::notify::render::{slack_message, BusEvent, TicketFacts};
use driftguard_core::notify::StaticWebhook;
use driftguard_core::notify::{samples, Notified, Notifier, NotifyError};
use driftguard_core::ports::notify::{DeliveryError, WebhookSource, WebhookUrl};
use integration_tests::moto;
use serde_json::json;

use crate::notify_support::{create_secret, quick_settings, FakeSlack, Reply};

fn notifier(source: Arc<dyn WebhookSource>, settings: SlackSettings) -> Notifier {
    let chat = SlackWebhook::new(source, SlackClient::new(settings).unwrap());
    Notifier::new(
        Arc::new(MemoryTicketStore::new()),
        Arc::new(FixedClock::new(chrono::Utc::now())),
    )
    .with_chat(Arc::new(chat))
}

fn static_source(slack: &FakeSlack) -> Arc<dyn WebhookSource> {
    Arc::new(StaticWebhook(WebhookUrl::parse(&slack.url).unwrap()))
}

#[tokio::test]
async fn posts_the_block_kit_message_once_per_envelope() {
    let config = moto().sdk_config_with_sdk_retries().await;
    let slack = FakeSlack::start(vec![]).await;
    let secret = create_secret(&config, &slack.url).await;
    let source = Arc::new(SecretsManagerWebhook::from_config(&config, &secret));
    let n = notifier(source, quick_settings(3));

    let envelope = samples::envelope_for(&samples::console_port_22_decision());
    let out = n.handle(&envelope).await.unwrap();
    assert_eq!(
        out,
        Notified::Sent {
            sent: vec!["slack"],
            already_sent: vec![]
        }
    );

    let got = slack.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].content_type.as_deref(), Some("application/json"));
    assert!(got[0].path.ends_with(&slack.token));
    let event = BusEvent::parse(&envelope).unwrap().unwrap();
    // A decision carries its own severity; no ticket facts needed.
    assert_eq!(got[0].body, slack_message(&event, &TicketFacts::default()));
    let body = &got[0].body;
    assert_eq!(body["blocks"][0]["type"], "header");
    assert!(body["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap()
        .contains("web-prod/WebSecurityGroup"));
    let all_text = body.to_string();
    for needle in [
        "/SecurityGroupIngress/1",
        "0.0.0.0/0",
        "AWS console",
        "alice@example.com",
        "198.51.100.7",
        "sg-0123456789abcdef0",
        "cloudformation/home?region=us-east-1#/stacks/stackinfo",
        "ec2:RevokeSecurityGroupIngress",
        "DG-3f9a1c0b7e21",
        "driftguard accept DG-3f9a1c0b7e21",
    ] {
        assert!(all_text.contains(needle), "payload lacks {needle}");
    }
    assert!(body["text"].as_str().unwrap().starts_with("driftguard: "));

    // The same EventBridge event delivered again: nothing is posted.
    assert_eq!(
        n.handle(&envelope).await.unwrap(),
        Notified::Skipped(driftguard_core::notify::Skipped::Duplicate)
    );
    assert_eq!(slack.received().len(), 1);
}

#[tokio::test]
async fn reads_the_json_form_of_the_secret_and_caches_it() {
    let config = moto().sdk_config_with_sdk_retries().await;
    let slack = FakeSlack::start(vec![]).await;
    let secret = create_secret(&config, &json!({ "webhook_url": slack.url }).to_string()).await;
    let source = SecretsManagerWebhook::from_config(&config, &secret);
    let first = source.webhook_url().await.unwrap();
    // Rotating the secret does not change the cached value within the container.
    aws_sdk_secretsmanager::Client::new(&config)
        .put_secret_value()
        .secret_id(&secret)
        .secret_string("https://hooks.slack.com/services/T/B/rotated")
        .send()
        .await
        .unwrap();
    assert_eq!(source.webhook_url().await.unwrap(), first);
    source.invalidate().await;
    assert_ne!(source.webhook_url().await.unwrap(), first);
}

#[tokio::test]
async fn a_429_is_retried_after_retry_after() {
    let slack = FakeSlack::start(vec![Reply::throttled("1")]).await;
    let settings = SlackSettings {
        max_retry_after: Duration::from_secs(5),
        ..quick_settings(3)
    };
    let n = notifier(static_source(&slack), settings);
    let started = Instant::now();
    let envelope = samples::envelope_for(&samples::result(
        driftguard_model::events::RemediationOutcome::AwaitingApproval,
    ));
    let out = n.handle(&envelope).await.unwrap();
    assert_eq!(
        out,
        Notified::Sent {
            sent: vec!["slack"],
            already_sent: vec![]
        }
    );
    let got = slack.received();
    assert_eq!(got.len(), 2, "429 then 200");
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_millis(950),
        "waited {gap:?}, Retry-After said 1 s"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(got[0].body, got[1].body, "the same message is re-sent");
}

#[tokio::test]
async fn a_long_retry_after_is_capped() {
    let slack = FakeSlack::start(vec![Reply::throttled("3600")]).await;
    let settings = SlackSettings {
        max_retry_after: Duration::from_millis(300),
        ..quick_settings(3)
    };
    let url = WebhookUrl::parse(&slack.url).unwrap();
    let started = Instant::now();
    SlackClient::new(settings)
        .unwrap()
        .post(&url, &json!({ "text": "hi" }))
        .await
        .unwrap();
    let got = slack.received();
    assert_eq!(got.len(), 2);
    assert!(got[1].at - got[0].at >= Duration::from_millis(290));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "capped at 300 ms"
    );
}

#[tokio::test]
async fn a_persistent_500_fails_the_invocation_and_the_retry_sends_again() {
    let slack = FakeSlack::start(vec![
        Reply::status(500, "internal_error"),
        Reply::status(503, "unavailable"),
        Reply::status(500, "internal_error"),
    ])
    .await;
    let n = notifier(static_source(&slack), quick_settings(3));
    let envelope = samples::envelope_for(&samples::result(
        driftguard_model::events::RemediationOutcome::Failed,
    ));

    let err = n.handle(&envelope).await.unwrap_err();
    let NotifyError::Delivery { failures, .. } = &err else {
        panic!("expected a delivery failure, got {err}");
    };
    assert_eq!(failures[0].0, "slack");
    assert!(
        matches!(&failures[0].1, DeliveryError::Exhausted { attempts: 3, last } if last.contains("HTTP 500")),
        "{:?}",
        failures[0].1
    );
    assert_eq!(slack.received().len(), 3, "bounded: 3 attempts");

    // Lambda retries the invocation: the claim was abandoned, so it sends.
    let retried = n.handle(&envelope).await.unwrap();
    assert_eq!(
        retried,
        Notified::Sent {
            sent: vec!["slack"],
            already_sent: vec![]
        }
    );
    assert_eq!(slack.received().len(), 4);
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let slack = FakeSlack::start(vec![Reply::status(400, "invalid_payload")]).await;
    let n = notifier(static_source(&slack), quick_settings(4));
    let envelope = samples::envelope_for(&samples::console_port_22_decision());
    let err = n.handle(&envelope).await.unwrap_err();
    assert!(
        err.to_string().contains("HTTP 400: invalid_payload"),
        "{err}"
    );
    assert_eq!(slack.received().len(), 1);
}

#[tokio::test]
async fn a_hanging_webhook_times_out_and_is_retried() {
    let slack = FakeSlack::start(vec![Reply {
        delay: Duration::from_secs(3),
        ..Reply::status(200, "ok")
    }])
    .await;
    let mut settings = quick_settings(2);
    settings.retry.attempt_timeout = Duration::from_millis(300);
    let url = WebhookUrl::parse(&slack.url).unwrap();
    SlackClient::new(settings)
        .unwrap()
        .post(&url, &json!({ "text": "hi" }))
        .await
        .expect("second attempt succeeds");
    assert_eq!(slack.received().len(), 2);
}
