//! The Slack webhook URL is a credential: it must never appear in logs or in
//! error strings, whatever goes wrong. Every log line of this test binary
//! (tracing and `log` records, down to TRACE for driftguard and DEBUG for
//! everything else: more than production's INFO) is captured in a buffer and
//! searched for the URL's secret path.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#[path = "integration/notify_support/mod.rs"]
mod notify_support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use driftguard_adapters::secrets::SecretsManagerWebhook;
use driftguard_adapters::slack::{SlackClient, SlackWebhook};
use driftguard_cli::emulator::free_port;
use driftguard_core::memory::{FixedClock, MemoryTicketStore};
use driftguard_core::notify::{samples, Notifier};
use driftguard_core::ports::notify::WebhookSource;
use integration_tests::moto;
use serde_json::json;

use notify_support::{create_secret, quick_settings, FakeSlack, Reply};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).to_string()
    }
}

fn notifier(source: Arc<dyn WebhookSource>, attempts: u32) -> Notifier {
    let mut settings = quick_settings(attempts);
    settings.retry.attempt_timeout = Duration::from_millis(500);
    let chat = SlackWebhook::new(source, SlackClient::new(settings).unwrap());
    Notifier::new(
        Arc::new(MemoryTicketStore::new()),
        Arc::new(FixedClock::new(chrono::Utc::now())),
    )
    .with_chat(Arc::new(chat))
}

#[tokio::test]
async fn the_webhook_url_never_reaches_logs_or_errors() {
    let logs = Buffer::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "debug,shared=trace,notify=trace",
        ))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init()
        .expect("the only subscriber of this test binary");

    let config = moto().sdk_config_with_sdk_retries().await;
    let slack = FakeSlack::start(vec![]).await;
    let mut errors: Vec<String> = Vec::new();
    let mut record = |e: &dyn std::fmt::Debug, shown: String| {
        errors.push(shown);
        errors.push(format!("{e:?}"));
    };
    let envelope = |outcome| samples::envelope_for(&samples::result(outcome));
    use driftguard_model::events::RemediationOutcome::*;

    // 1. Delivered, URL read from Secrets Manager (JSON form).
    let secret = create_secret(&config, &json!({ "webhook_url": slack.url }).to_string()).await;
    let source: Arc<dyn WebhookSource> =
        Arc::new(SecretsManagerWebhook::from_config(&config, &secret));
    let n = notifier(source.clone(), 3);
    n.handle(&envelope(Resolved)).await.expect("delivered");

    // 2. 5xx until the attempts run out.
    slack.script(vec![Reply::status(500, "boom"); 3]);
    let e = n.handle(&envelope(Failed)).await.unwrap_err();
    record(&e, e.to_string());

    // 3. A 404 whose body echoes the request path (the secret part of the URL).
    slack.script(vec![Reply {
        echo_path: true,
        ..Reply::status(404, "")
    }]);
    let e = n.handle(&envelope(DryRun)).await.unwrap_err();
    record(&e, e.to_string());

    // 4. A hanging webhook: every attempt times out.
    slack.script(vec![
        Reply {
            delay: Duration::from_secs(2),
            ..Reply::status(200, "ok")
        };
        2
    ]);
    let e = notifier(source.clone(), 2)
        .handle(&envelope(Refused))
        .await
        .unwrap_err();
    record(&e, e.to_string());

    // 5. Nothing listening: connection refused (reqwest's error names the URL).
    let closed = format!(
        "http://127.0.0.1:{}/services/T0DRIFT/B0GUARD/{}",
        free_port().expect("a free local port"),
        slack.token
    );
    let closed_secret = create_secret(&config, &closed).await;
    let e = notifier(
        Arc::new(SecretsManagerWebhook::from_config(&config, &closed_secret)),
        2,
    )
    .handle(&envelope(Held))
    .await
    .unwrap_err();
    record(&e, e.to_string());

    // 6. A secret that is not a URL but contains the token.
    let bad_secret = create_secret(&config, &format!("not a url {}", slack.token)).await;
    let e = notifier(
        Arc::new(SecretsManagerWebhook::from_config(&config, &bad_secret)),
        2,
    )
    .handle(&envelope(AwaitingApproval))
    .await
    .unwrap_err();
    record(&e, e.to_string());

    let logs = logs.text();
    // The scenarios really ran and were logged.
    assert!(
        slack.received().len() >= 6,
        "{} requests",
        slack.received().len()
    );
    for expected in [
        "slack message delivered",
        "slack delivery failed; retrying",
        "slack rejected the message",
        "notification failed: failing the invocation",
    ] {
        assert!(logs.contains(expected), "logs lack {expected:?}:\n{logs}");
    }
    assert_eq!(errors.len(), 10);
    assert!(errors.iter().any(|e| e.contains("HTTP 404")));
    assert!(errors
        .iter()
        .any(|e| e.contains("could not connect") || e.contains("timed out")));
    assert!(errors.iter().any(|e| e.contains("not a URL")));

    for (what, text) in std::iter::once(("logs", &logs)).chain(errors.iter().map(|e| ("error", e)))
    {
        assert!(
            !text.contains(&slack.token),
            "{what} leak the webhook token:\n{text}"
        );
        assert!(
            !text.contains(&slack.url),
            "{what} leak the webhook URL:\n{text}"
        );
        assert!(
            !text.contains("/services/T0DRIFT/B0GUARD/"),
            "{what} leak the webhook path:\n{text}"
        );
    }
}
