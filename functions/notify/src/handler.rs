//! notify's logic: hand the EventBridge envelope to the shared notifier and turn
//! its outcome into the Lambda response, or a failed invocation (Lambda retries,
//! then the DLQ keeps the event).
use driftguard_core::notify::{Notifier, NotifyError};
pub use lambda_runtime::Diagnostic;
use serde_json::Value;

/// A failed invocation.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct HandlerError(#[from] pub NotifyError);

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Self {
        Diagnostic {
            // e.g. `driftguard.delivery_failed`: groupable in metrics.
            error_type: format!("driftguard.{}", e.0.class()),
            // Delivery errors never carry the webhook URL (see driftguard_adapters::slack).
            error_message: e.0.to_string(),
        }
    }
}

/// Process one envelope. The response says what was sent or why nothing was.
pub async fn handle(notifier: &Notifier, event: Value) -> Result<Value, HandlerError> {
    handle_until(notifier, event, None).await
}

/// [`handle`] inside an invocation ending at `deadline` (the claims' lease).
pub async fn handle_until(
    notifier: &Notifier,
    event: Value,
    deadline: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Value, HandlerError> {
    let notified = notifier.handle_until(&event, deadline).await?;
    Ok(notified.summary())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use driftguard_core::memory::{FixedClock, MemoryTicketStore};
    use driftguard_core::notify::render::SnsMessage;
    use driftguard_core::notify::samples;
    use driftguard_core::ports::notify::{ChatWebhook, DeliveryError, TopicPublisher};
    use serde_json::json;

    use super::*;

    #[derive(Default)]
    struct Sent(Mutex<Vec<String>>);

    #[async_trait]
    impl TopicPublisher for Sent {
        async fn publish(&self, m: &SnsMessage) -> Result<(), DeliveryError> {
            self.0.lock().unwrap().push(m.subject.clone());
            Ok(())
        }
    }

    struct DownSlack;

    #[async_trait]
    impl ChatWebhook for DownSlack {
        async fn post(&self, _: &Value) -> Result<(), DeliveryError> {
            Err(DeliveryError::Exhausted {
                attempts: 4,
                last: "HTTP 500: oops".into(),
            })
        }
    }

    fn notifier(chat: Option<Arc<dyn ChatWebhook>>) -> (Notifier, Arc<Sent>) {
        let sent = Arc::new(Sent::default());
        let mut n = Notifier::new(
            Arc::new(MemoryTicketStore::new()),
            Arc::new(FixedClock::new(chrono::Utc::now())),
        )
        .with_topic(sent.clone());
        if let Some(chat) = chat {
            n = n.with_chat(chat);
        }
        (n, sent)
    }

    #[tokio::test]
    async fn every_event_fixture_is_handled() {
        let (n, sent) = notifier(None);
        for (name, envelope) in samples::all_envelopes() {
            let out = handle(&n, envelope.clone()).await.unwrap();
            let expected = if envelope["detail"]["state_changed"] == json!(true) {
                "sent"
            } else {
                "skipped"
            };
            assert_eq!(out["status"], expected, "{name}: {out}");
        }
        assert_eq!(sent.0.lock().unwrap().len(), 12);
    }

    #[tokio::test]
    async fn redelivery_answers_skipped_duplicate() {
        let (n, _) = notifier(None);
        let envelope = samples::envelope_for(&samples::console_port_22_decision());
        assert_eq!(
            handle(&n, envelope.clone()).await.unwrap()["status"],
            "sent"
        );
        let again = handle(&n, envelope).await.unwrap();
        assert_eq!(again, json!({ "status": "skipped", "reason": "duplicate" }));
    }

    #[tokio::test]
    async fn a_failed_delivery_fails_the_invocation_with_a_typed_diagnostic() {
        let (n, _) = notifier(Some(Arc::new(DownSlack)));
        let envelope = samples::envelope_for(&samples::console_port_22_decision());
        let err = handle(&n, envelope).await.unwrap_err();
        let diagnostic = Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "driftguard.delivery_failed");
        assert!(
            diagnostic.error_message.contains("slack"),
            "{}",
            diagnostic.error_message
        );
    }

    #[tokio::test]
    async fn an_accepted_ticket_is_announced_and_its_redelivery_is_a_no_op() {
        let sent = Arc::new(Sent::default());
        let store = Arc::new(MemoryTicketStore::new());
        use driftguard_core::ports::TicketStore;
        store
            .create_ticket(&samples::accepted_ticket())
            .await
            .unwrap();
        let n = Notifier::new(store, Arc::new(FixedClock::new(chrono::Utc::now())))
            .with_topic(sent.clone());
        let envelope = samples::envelope_for(&samples::drift_accepted());
        let out = handle(&n, envelope.clone()).await.unwrap();
        assert_eq!(
            out,
            json!({ "status": "sent", "sent": ["sns"], "already_sent": [] })
        );
        assert_eq!(
            sent.0.lock().unwrap().as_slice(),
            ["[driftguard] MEDIUM accepted: shop-web/AppRole (123456789012 us-east-1) DG-5ca672420087 ACCEPTED"]
        );
        let again = handle(&n, envelope).await.unwrap();
        assert_eq!(again, json!({ "status": "skipped", "reason": "duplicate" }));
        assert_eq!(sent.0.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_acceptance_of_a_ticket_that_is_not_accepted_is_skipped() {
        let (n, sent) = notifier(None);
        let envelope = samples::envelope_for(&samples::drift_accepted());
        let out = handle(&n, envelope).await.unwrap();
        assert_eq!(
            out,
            json!({ "status": "skipped", "reason": "not_accepted" })
        );
        assert!(sent.0.lock().unwrap().is_empty());
    }
}
