//! The notify flow over ports: parse the bus event, keep the noise down, render,
//! deliver, and fail the invocation when a delivery fails.
//!
//! Noise control:
//! - only events with `state_changed: true` are sent: one message per ticket
//!   state change, not per observed event;
//! - `Drift Accepted` is announced only while the ticket, re-read from the
//!   table, is ACCEPTED by the acceptance the event names (`super::accepted`);
//! - the EventBridge envelope id is claimed (`notify:<id>`) so a redelivery of
//!   the same event is a no-op;
//! - each channel is claimed too (`notify:<id>:sns`, `notify:<id>:slack`), so
//!   when Slack fails and Lambda retries, SNS is not sent twice.
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tracing::Instrument;

use super::accepted::{self, AcceptedEvent};
use super::render::{self, BusEvent, EnvelopeError, NotifyEvent, SnsMessage, TicketFacts};
use crate::idempotency::{
    self, Claimed, Idempotency, IdempotencyError, IdempotencySettings, Record,
};
use crate::ports::notify::{ChatWebhook, DeliveryError, TopicPublisher};
use crate::ports::{Clock, TicketStore};
use crate::resilience::{retry, RetryPolicy};
use driftguard_model::error::PortError;

/// Processed-event records live this long (`EVENT_TTL_DAYS`, default 7).
pub const DEFAULT_RECORD_TTL_DAYS: i64 = 7;
/// Longer than the function's timeout: a crashed attempt's claim lapses before
/// Lambda's retry arrives.
pub const DEFAULT_LEASE_SECONDS: i64 = 120;

/// Why nothing was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// Not a `Drift Decision` / `Drift Remediation Result` / `Drift Accepted`
    /// from driftguard.
    NotOurs,
    /// The ticket's state did not change.
    NoStateChange,
    /// A `Drift Accepted` whose ticket is not ACCEPTED by the acceptance the
    /// event names (forged, stale, or the ticket moved on).
    NotAccepted,
    /// This envelope was already notified.
    Duplicate,
    /// Neither TOPIC_ARN nor SLACK_SECRET_ARN is configured.
    NoChannels,
}

impl Skipped {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::NotOurs => "not_ours",
            Self::NoStateChange => "no_state_change",
            Self::NotAccepted => "not_accepted",
            Self::Duplicate => "duplicate",
            Self::NoChannels => "no_channels",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notified {
    /// `sent`: delivered now; `already_sent`: delivered by an earlier attempt.
    Sent {
        sent: Vec<&'static str>,
        already_sent: Vec<&'static str>,
    },
    Skipped(Skipped),
}

impl Notified {
    /// The Lambda's response.
    pub fn summary(&self) -> serde_json::Value {
        match self {
            Self::Sent { sent, already_sent } => {
                json!({ "status": "sent", "sent": sent, "already_sent": already_sent })
            }
            Self::Skipped(why) => json!({ "status": "skipped", "reason": why.as_str() }),
        }
    }
}

/// A failed invocation: Lambda retries it, then the DLQ keeps it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("invalid event: {0}")]
    Envelope(#[from] EnvelopeError),
    #[error("bus event {0} is being notified by another invocation; retry later")]
    InProgress(String),
    #[error("ticket store: {0}")]
    Store(#[from] PortError),
    #[error("notifying bus event {event_id} failed: {}", describe(.failures))]
    Delivery {
        event_id: String,
        failures: Vec<(&'static str, DeliveryError)>,
    },
}

impl NotifyError {
    /// Short machine-readable class, for the Lambda error type and metrics.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Envelope(_) => "invalid_event",
            Self::InProgress(_) => "in_progress",
            Self::Store(_) => "store",
            Self::Delivery { .. } => "delivery_failed",
        }
    }
}

fn describe(failures: &[(&'static str, DeliveryError)]) -> String {
    failures
        .iter()
        .map(|(channel, e)| format!("{channel}: {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

pub struct Notifier {
    store: Arc<dyn TicketStore>,
    clock: Arc<dyn Clock>,
    topic: Option<Arc<dyn TopicPublisher>>,
    chat: Option<Arc<dyn ChatWebhook>>,
    claims: IdempotencySettings,
}

impl Notifier {
    pub fn new(store: Arc<dyn TicketStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            topic: None,
            chat: None,
            claims: IdempotencySettings {
                record_ttl: Duration::days(DEFAULT_RECORD_TTL_DAYS),
                lease: Duration::seconds(DEFAULT_LEASE_SECONDS),
                ..IdempotencySettings::default()
            },
        }
    }

    pub fn with_topic(mut self, topic: Arc<dyn TopicPublisher>) -> Self {
        self.topic = Some(topic);
        self
    }

    pub fn with_chat(mut self, chat: Arc<dyn ChatWebhook>) -> Self {
        self.chat = Some(chat);
        self
    }

    pub fn with_record_ttl(mut self, ttl: Duration) -> Self {
        self.claims.record_ttl = ttl;
        self
    }

    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.claims.lease = lease;
        self
    }

    /// Handle one EventBridge envelope.
    pub async fn handle(&self, envelope: &serde_json::Value) -> Result<Notified, NotifyError> {
        self.handle_until(envelope, None).await
    }

    /// [`Notifier::handle`] inside an invocation ending at `deadline` (the
    /// Lambda context's): the claims are leased until then.
    pub async fn handle_until(
        &self,
        envelope: &serde_json::Value,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Notified, NotifyError> {
        if let Some(event) = AcceptedEvent::parse(envelope)? {
            let span = tracing::info_span!(
                "notify",
                bus_event_id = %event.id,
                ticket_id = %event.detail.ticket_id,
                kind = "accepted",
            );
            return self
                .handle_accepted(&event, deadline)
                .instrument(span)
                .await;
        }
        let Some(event) = BusEvent::parse(envelope)? else {
            tracing::info!(
                detail_type = envelope
                    .get("detail-type")
                    .and_then(|v| v.as_str())
                    .unwrap_or(""),
                source = envelope
                    .get("source")
                    .and_then(|v| v.as_str())
                    .unwrap_or(""),
                "not a driftguard decision or result: skipped"
            );
            return Ok(Notified::Skipped(Skipped::NotOurs));
        };
        let span = tracing::info_span!(
            "notify",
            bus_event_id = %event.id,
            ticket_id = %event.event.ticket_id(),
            kind = event.event.kind(),
        );
        self.handle_event(&event, deadline).instrument(span).await
    }

    async fn handle_event(
        &self,
        event: &BusEvent,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Notified, NotifyError> {
        if !event.event.state_changed() {
            tracing::info!(
                reason = "no_state_change",
                "skipped: the ticket state did not change"
            );
            return Ok(Notified::Skipped(Skipped::NoStateChange));
        }
        if let Some(skipped) = self.no_channels() {
            return Ok(skipped);
        }
        let facts = self.ticket_facts(event).await;
        let outgoing = Outgoing {
            event_id: &event.id,
            claim: event.id.clone(),
            sns: render::sns_message(event, &facts),
            slack: render::slack_message(event, &facts),
        };
        self.send_once(&outgoing, deadline).await
    }

    /// `Drift Accepted`: announced from the ticket as the table has it, and
    /// only while it is ACCEPTED by the acceptance the event names.
    async fn handle_accepted(
        &self,
        event: &AcceptedEvent,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Notified, NotifyError> {
        if let Some(skipped) = self.no_channels() {
            return Ok(skipped);
        }
        let id = event.detail.ticket_id.as_str();
        let ticket = retry(&RetryPolicy::default(), "get_ticket", || {
            self.store.get_ticket(id)
        })
        .await?;
        let announcement = match accepted::announcement(ticket, &event.detail) {
            Ok(a) => a,
            Err(why) => {
                tracing::warn!(reason = "not_accepted", why = %why, "skipped: the ticket does not say so");
                return Ok(Notified::Skipped(Skipped::NotAccepted));
            }
        };
        let outgoing = Outgoing {
            event_id: &event.id,
            claim: idempotency::acceptance_id(id, announcement.acceptance.at),
            sns: accepted::sns_message(&announcement),
            slack: accepted::slack_message(&announcement),
        };
        self.send_once(&outgoing, deadline).await
    }

    fn no_channels(&self) -> Option<Notified> {
        if self.topic.is_some() || self.chat.is_some() {
            return None;
        }
        tracing::warn!(
            reason = "no_channels",
            "skipped: neither SNS nor Slack is configured"
        );
        Some(Notified::Skipped(Skipped::NoChannels))
    }

    /// Deliver `outgoing` under its claim: a redelivery is a no-op.
    async fn send_once(
        &self,
        outgoing: &Outgoing<'_>,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Notified, NotifyError> {
        let key = idempotency::notify_key(&outgoing.claim);
        let ran = self
            .idempotency()
            .run(&key, deadline, || async {
                self.deliver(outgoing, deadline)
                    .await
                    .map(|n| (n, Record::Complete))
            })
            .await;
        match ran {
            Ok(Claimed::Ran(notified)) => Ok(notified),
            Ok(Claimed::AlreadyDone) => {
                tracing::info!(
                    reason = "duplicate",
                    "skipped: this bus event was already notified"
                );
                Ok(Notified::Skipped(Skipped::Duplicate))
            }
            Err(IdempotencyError::InProgress { .. }) => {
                Err(NotifyError::InProgress(outgoing.event_id.to_string()))
            }
            Err(IdempotencyError::Store { source, .. }) => Err(NotifyError::Store(source)),
            Err(IdempotencyError::Work(e)) => {
                // The claim was dropped so Lambda's retry sends what failed.
                tracing::error!(error = %e, "notification failed: failing the invocation");
                Err(e)
            }
        }
    }

    /// The one idempotency helper with notify's record TTL and lease.
    fn idempotency(&self) -> Idempotency<'_> {
        Idempotency {
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
            settings: &self.claims,
        }
    }

    /// Result events carry no severity or verdict: read them from the ticket.
    async fn ticket_facts(&self, event: &BusEvent) -> TicketFacts {
        if matches!(event.event, NotifyEvent::Decision(_)) {
            return TicketFacts::default();
        }
        match self.store.get_ticket(event.event.ticket_id()).await {
            Ok(Some(ticket)) => TicketFacts::from_ticket(&ticket),
            Ok(None) => TicketFacts::default(),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the ticket; sending without severity");
                TicketFacts::default()
            }
        }
    }

    async fn deliver(
        &self,
        outgoing: &Outgoing<'_>,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Notified, NotifyError> {
        let id = outgoing.claim.as_str();
        let mut sent = Vec::new();
        let mut already_sent = Vec::new();
        let mut failures = Vec::new();

        if let Some(topic) = &self.topic {
            let outcome = self
                .once(id, "sns", deadline, || topic.publish(&outgoing.sns))
                .await;
            record(outcome, "sns", &mut sent, &mut already_sent, &mut failures);
        }
        if let Some(chat) = &self.chat {
            let outcome = self
                .once(id, "slack", deadline, || chat.post(&outgoing.slack))
                .await;
            record(
                outcome,
                "slack",
                &mut sent,
                &mut already_sent,
                &mut failures,
            );
        }

        if failures.is_empty() {
            Ok(Notified::Sent { sent, already_sent })
        } else {
            Err(NotifyError::Delivery {
                event_id: outgoing.event_id.to_string(),
                failures,
            })
        }
    }

    /// Deliver on one channel unless an earlier attempt already did.
    /// `Ok(true)`: sent now; `Ok(false)`: sent before.
    async fn once<F, Fut>(
        &self,
        bus_event_id: &str,
        channel: &'static str,
        deadline: Option<DateTime<Utc>>,
        send: F,
    ) -> Result<bool, DeliveryError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), DeliveryError>>,
    {
        let id = idempotency::notify_channel_key(bus_event_id, channel);
        let ran = self
            .idempotency()
            .run(&id, deadline, || async {
                send().await.map(|()| ((), Record::Complete))
            })
            .await;
        match ran {
            Ok(Claimed::Ran(())) => {
                tracing::info!(channel, "notification delivered");
                Ok(true)
            }
            Ok(Claimed::AlreadyDone) => Ok(false),
            Err(IdempotencyError::InProgress { key }) => {
                Err(DeliveryError::Port(PortError::Conflict {
                    what: key,
                    message: "another invocation is delivering on this channel".into(),
                }))
            }
            Err(IdempotencyError::Store { source, .. }) => Err(DeliveryError::Port(source)),
            Err(IdempotencyError::Work(e)) => {
                tracing::warn!(channel, error = %e, "delivery failed");
                Err(e)
            }
        }
    }
}

/// One bus event's messages, rendered before its claim is taken.
struct Outgoing<'a> {
    /// The envelope id (errors and logs).
    event_id: &'a str,
    /// What the claims are keyed on: the envelope id, or for `Drift
    /// Accepted` the acceptance (`idempotency::acceptance_id`).
    claim: String,
    sns: SnsMessage,
    slack: serde_json::Value,
}

fn record(
    outcome: Result<bool, DeliveryError>,
    channel: &'static str,
    sent: &mut Vec<&'static str>,
    already_sent: &mut Vec<&'static str>,
    failures: &mut Vec<(&'static str, DeliveryError)>,
) {
    match outcome {
        Ok(true) => sent.push(channel),
        Ok(false) => already_sent.push(channel),
        Err(e) => failures.push((channel, e)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::memory::{FixedClock, MemoryTicketStore};
    use crate::notify::render::SnsMessage;
    use crate::notify::samples;
    use async_trait::async_trait;
    use driftguard_model::events::RemediationOutcome;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder {
        sns: Mutex<Vec<SnsMessage>>,
        slack: Mutex<Vec<serde_json::Value>>,
        fail_slack: Mutex<u32>,
    }

    struct Topic(Arc<Recorder>);
    struct Chat(Arc<Recorder>);

    #[async_trait]
    impl TopicPublisher for Topic {
        async fn publish(&self, m: &SnsMessage) -> Result<(), DeliveryError> {
            self.0.sns.lock().unwrap().push(m.clone());
            Ok(())
        }
    }

    #[async_trait]
    impl ChatWebhook for Chat {
        async fn post(&self, p: &serde_json::Value) -> Result<(), DeliveryError> {
            let mut fail = self.0.fail_slack.lock().unwrap();
            if *fail > 0 {
                *fail -= 1;
                return Err(DeliveryError::Exhausted {
                    attempts: 4,
                    last: "HTTP 500".into(),
                });
            }
            self.0.slack.lock().unwrap().push(p.clone());
            Ok(())
        }
    }

    fn notifier(rec: &Arc<Recorder>, store: Arc<MemoryTicketStore>) -> Notifier {
        let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
        Notifier::new(store, clock)
            .with_topic(Arc::new(Topic(rec.clone())))
            .with_chat(Arc::new(Chat(rec.clone())))
    }

    #[tokio::test]
    async fn sends_once_per_envelope_and_redelivery_is_a_no_op() {
        let rec = Arc::new(Recorder::default());
        let n = notifier(&rec, Arc::new(MemoryTicketStore::new()));
        let envelope = samples::envelope_for(&samples::console_port_22_decision());
        let first = n.handle(&envelope).await.unwrap();
        assert_eq!(
            first,
            Notified::Sent {
                sent: vec!["sns", "slack"],
                already_sent: vec![]
            }
        );
        assert_eq!(
            n.handle(&envelope).await.unwrap(),
            Notified::Skipped(Skipped::Duplicate)
        );
        assert_eq!(rec.sns.lock().unwrap().len(), 1);
        assert_eq!(rec.slack.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn events_without_a_state_change_are_not_sent() {
        let rec = Arc::new(Recorder::default());
        let n = notifier(&rec, Arc::new(MemoryTicketStore::new()));
        let mut decision = samples::console_port_22_decision();
        decision.state_changed = false;
        let out = n.handle(&samples::envelope_for(&decision)).await.unwrap();
        assert_eq!(out, Notified::Skipped(Skipped::NoStateChange));
        assert!(rec.sns.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failed_channel_fails_the_invocation_and_the_retry_sends_only_it() {
        let rec = Arc::new(Recorder::default());
        *rec.fail_slack.lock().unwrap() = 1;
        let n = notifier(&rec, Arc::new(MemoryTicketStore::new()));
        let envelope = samples::envelope_for(&samples::result(RemediationOutcome::Failed));
        let err = n.handle(&envelope).await.unwrap_err();
        assert!(matches!(&err, NotifyError::Delivery { failures, .. } if failures[0].0 == "slack"));
        assert!(err
            .to_string()
            .contains("slack: slack unavailable after 4 attempts"));
        let retried = n.handle(&envelope).await.unwrap();
        assert_eq!(
            retried,
            Notified::Sent {
                sent: vec!["slack"],
                already_sent: vec!["sns"]
            }
        );
        assert_eq!(rec.sns.lock().unwrap().len(), 1, "SNS is not sent twice");
        assert_eq!(rec.slack.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_concurrent_invocation_holding_the_claim_makes_this_one_retry() {
        let rec = Arc::new(Recorder::default());
        let store = Arc::new(MemoryTicketStore::new());
        let envelope = samples::envelope_for(&samples::console_port_22_decision());
        let id = format!("notify:{}", envelope["id"].as_str().unwrap());
        let far = chrono::Utc::now() + Duration::hours(1);
        store.claim_event(&id, far, far).await.unwrap();
        let n = notifier(&rec, store);
        assert!(matches!(
            n.handle(&envelope).await,
            Err(NotifyError::InProgress(_))
        ));
        assert!(rec.sns.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn other_events_are_skipped_and_malformed_ones_fail() {
        let rec = Arc::new(Recorder::default());
        let n = notifier(&rec, Arc::new(MemoryTicketStore::new()));
        let other = json!({ "id": "1", "source": "aws.ec2", "detail-type": "x", "detail": {} });
        assert_eq!(
            n.handle(&other).await.unwrap(),
            Notified::Skipped(Skipped::NotOurs)
        );
        let mut bad = samples::envelope_for(&samples::console_port_22_decision());
        bad["detail"] = json!({ "nope": true });
        assert!(matches!(
            n.handle(&bad).await,
            Err(NotifyError::Envelope(_))
        ));
    }

    #[tokio::test]
    async fn results_are_enriched_with_the_ticket_severity() {
        use driftguard_model::domain::{Fingerprint, Severity, Ticket};
        let rec = Arc::new(Recorder::default());
        let store = Arc::new(MemoryTicketStore::new());
        let decision = samples::console_port_22_decision();
        let fp = Fingerprint::for_change(&decision.change, &decision.ownership);
        let mut ticket = Ticket::new(
            fp,
            &decision.change,
            &decision.ownership,
            chrono::Utc::now(),
        );
        ticket.id = samples::TICKET_ID.into();
        ticket.severity = Severity::Critical;
        ticket.decision = Some(decision.decision.clone());
        store.create_ticket(&ticket).await.unwrap();
        let n = notifier(&rec, store);
        n.handle(&samples::envelope_for(&samples::result(
            RemediationOutcome::Resolved,
        )))
        .await
        .unwrap();
        let sns = rec.sns.lock().unwrap();
        assert_eq!(sns[0].attributes["severity"], "critical");
        assert_eq!(sns[0].attributes["verdict"], "revert");
    }

    #[tokio::test]
    async fn an_acceptance_is_announced_once_from_the_ticket() {
        let rec = Arc::new(Recorder::default());
        let store = Arc::new(MemoryTicketStore::new());
        store
            .create_ticket(&samples::accepted_ticket())
            .await
            .unwrap();
        let n = notifier(&rec, store);
        let envelope = samples::envelope_for(&samples::drift_accepted());
        assert_eq!(
            n.handle(&envelope).await.unwrap(),
            Notified::Sent {
                sent: vec!["sns", "slack"],
                already_sent: vec![]
            }
        );
        {
            let sns = rec.sns.lock().unwrap();
            assert_eq!(sns[0].attributes["kind"], "accepted");
            assert_eq!(sns[0].attributes["ticket_state"], "ACCEPTED");
            let slack = rec.slack.lock().unwrap()[0].to_string();
            assert!(
                slack.contains("Drift accepted") && slack.contains("carol"),
                "{slack}"
            );
        }
        // A redelivery, and a copy under another envelope id, send nothing:
        // the claim is the acceptance's.
        let mut copy = envelope.clone();
        copy["id"] = json!("00000000-0000-0000-0000-000000000000");
        for again in [envelope, copy] {
            assert_eq!(
                n.handle(&again).await.unwrap(),
                Notified::Skipped(Skipped::Duplicate)
            );
        }
        assert_eq!(rec.sns.lock().unwrap().len(), 1);
        assert_eq!(rec.slack.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_acceptance_the_ticket_does_not_show_is_not_announced() {
        let rec = Arc::new(Recorder::default());
        let store = Arc::new(MemoryTicketStore::new());
        let mut open = samples::accepted_ticket();
        open.state = driftguard_model::domain::TicketState::Open;
        store.create_ticket(&open).await.unwrap();
        let n = notifier(&rec, store);
        let forged = samples::envelope_for(&samples::drift_accepted());
        assert_eq!(
            n.handle(&forged).await.unwrap(),
            Notified::Skipped(Skipped::NotAccepted)
        );
        // No ticket at all: the same.
        let n = notifier(&rec, Arc::new(MemoryTicketStore::new()));
        assert_eq!(
            n.handle(&forged).await.unwrap(),
            Notified::Skipped(Skipped::NotAccepted)
        );
        assert!(rec.sns.lock().unwrap().is_empty());
        assert!(rec.slack.lock().unwrap().is_empty());
    }
}
