//! [`DecisionBus`] on the custom EventBridge bus (`source: driftguard`).
use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

use super::errors::{map_sdk_error, ErrorFacts};
use driftguard_core::ports::DecisionBus;
use driftguard_model::error::{PortError, PortResult};
use driftguard_model::events::SOURCE;

const SERVICE: &str = "events";

/// The PutEvents entry limit: "The maximum size for a PutEvents event entry is 256
/// KB" (<https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html>),
/// the entry's size being "the number of bytes for their UTF-8 encoded forms" of
/// `Source`, `DetailType` and `Detail` (plus 14 for `Time` and each of `Resources`)
/// (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html>).
/// Kept at 256 KB, the documented limit every region and consumer accepts.
pub const MAX_ENTRY_BYTES: usize = driftguard_model::sources::LEGACY_MAX_EVENT_BYTES;

/// The entry's size as EventBridge counts it (no `Time`, no `Resources`: we set neither).
pub fn entry_size(detail_type: &str, detail: &str) -> usize {
    SOURCE.len() + detail_type.len() + detail.len()
}

/// `detail` serialized to fit [`MAX_ENTRY_BYTES`]: when it does not, its largest
/// top-level members are replaced by their summary (hash and size, see
/// `domain::summarize_if_larger`) until it does, and `"truncated": true`
/// says so. The ticket keeps the full record; the event points at it.
pub fn fit_detail(detail_type: &str, detail: &serde_json::Value) -> Result<String, PortError> {
    let text = detail.to_string();
    if entry_size(detail_type, &text) <= MAX_ENTRY_BYTES {
        return Ok(text);
    }
    let Some(map) = detail.as_object() else {
        return Err(too_large(entry_size(detail_type, &text)));
    };
    let mut by_size: Vec<(usize, &String)> =
        map.iter().map(|(k, v)| (v.to_string().len(), k)).collect();
    by_size.sort_unstable_by(|a, b| b.cmp(a));
    let mut fitted = map.clone();
    fitted.insert("truncated".into(), serde_json::Value::Bool(true));
    for (_, key) in by_size {
        if let Some(value) = fitted.remove(key.as_str()) {
            let summary = driftguard_model::domain::summarize_if_larger(value, 1024);
            fitted.insert(key.clone(), summary);
        }
        let text = serde_json::Value::Object(fitted.clone()).to_string();
        if entry_size(detail_type, &text) <= MAX_ENTRY_BYTES {
            tracing::warn!(
                detail_type,
                bytes = text.len(),
                "event detail summarised to fit the PutEvents entry limit"
            );
            return Ok(text);
        }
    }
    let text = serde_json::Value::Object(fitted).to_string();
    Err(too_large(entry_size(detail_type, &text)))
}

fn too_large(size: usize) -> PortError {
    PortError::Failed {
        service: SERVICE,
        operation: "PutEvents",
        message: format!(
            "entry is {size} bytes, over the {MAX_ENTRY_BYTES}-byte PutEvents entry limit"
        ),
    }
}

#[derive(Debug, Clone)]
pub struct EventBridgeBus {
    client: Client,
    bus_name: String,
}

impl EventBridgeBus {
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        Self {
            client,
            bus_name: bus_name.into(),
        }
    }

    pub fn bus_name(&self) -> &str {
        &self.bus_name
    }
}

#[async_trait]
impl DecisionBus for EventBridgeBus {
    async fn publish(&self, detail_type: &str, detail: &serde_json::Value) -> PortResult<()> {
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(SOURCE)
            .detail_type(detail_type)
            .detail(fit_detail(detail_type, detail)?)
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| map_sdk_error(SERVICE, "PutEvents", e))?;
        // PutEvents succeeds as a call even when an entry is rejected.
        if out.failed_entry_count() > 0 {
            let failed = out.entries().iter().find(|e| e.error_code().is_some());
            let code = failed.and_then(|e| e.error_code()).unwrap_or("unknown");
            // An entry's error code is classified like a call's (the one classifier).
            let facts = ErrorFacts {
                code: Some(code.to_string()),
                message: Some(format!(
                    "entry rejected on bus {}: {}",
                    self.bus_name,
                    failed.and_then(|e| e.error_message()).unwrap_or("")
                )),
                ..ErrorFacts::default()
            };
            return Err(facts.classify(SERVICE, "PutEvents"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
    use aws_sdk_eventbridge::types::PutEventsResultEntry;
    use aws_smithy_mocks::{mock, mock_client};

    #[tokio::test]
    async fn publishes_on_the_bus_with_driftguard_source() {
        let rule = mock!(Client::put_events)
            .match_requests(|r| {
                let e = &r.entries()[0];
                e.source() == Some("driftguard")
                    && e.event_bus_name() == Some("driftguard")
                    && e.detail_type() == Some("Drift Decision")
                    && e.detail() == Some(r#"{"a":1}"#)
            })
            .then_output(|| PutEventsOutput::builder().failed_entry_count(0).build());
        let bus = EventBridgeBus::new(mock_client!(aws_sdk_eventbridge, [&rule]), "driftguard");
        bus.publish("Drift Decision", &serde_json::json!({"a": 1}))
            .await
            .unwrap();
        assert_eq!(rule.num_calls(), 1);
    }

    #[test]
    fn a_detail_at_the_entry_limit_is_sent_as_is_and_one_byte_more_is_summarised() {
        let dt = "Drift Decision";
        // {"a":"..."} is 8 bytes of JSON around the string.
        let room = MAX_ENTRY_BYTES - entry_size(dt, "") - 8;
        let at_limit = serde_json::json!({ "a": "x".repeat(room) });
        let text = fit_detail(dt, &at_limit).unwrap();
        assert_eq!(entry_size(dt, &text), MAX_ENTRY_BYTES);
        assert_eq!(text, at_limit.to_string());

        let over = serde_json::json!({ "ticket_id": "DG-1", "a": "x".repeat(room + 1) });
        let text = fit_detail(dt, &over).unwrap();
        assert!(entry_size(dt, &text) <= MAX_ENTRY_BYTES);
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["truncated"], true);
        assert_eq!(v["ticket_id"], "DG-1", "small members stay");
        assert_eq!(v["a"]["summarized"], true);
        // Not an object: nothing to summarise, a clear error instead of a rejected entry.
        let err = fit_detail(dt, &serde_json::json!("x".repeat(MAX_ENTRY_BYTES))).unwrap_err();
        assert!(err.to_string().contains("PutEvents entry limit"), "{err}");
    }

    #[tokio::test]
    async fn a_rejected_entry_is_an_error() {
        // The call succeeds with "FailedEntryCount: The number of failed entries.", and
        // a failed entry carries no event id: "If the submission was successful, the
        // entry has the event ID in it. Otherwise, you can use the error code and error
        // message to identify the problem with the entry." (PutEventsResultEntry,
        // aws-sdk-eventbridge; https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEventsResultEntry.html)
        let rule = mock!(Client::put_events).then_output(|| {
            PutEventsOutput::builder()
                .failed_entry_count(1)
                .entries(
                    PutEventsResultEntry::builder()
                        .error_code("ThrottlingException")
                        .error_message("slow down")
                        .build(),
                )
                .build()
        });
        let bus = EventBridgeBus::new(mock_client!(aws_sdk_eventbridge, [&rule]), "driftguard");
        let err = bus
            .publish("Drift Decision", &serde_json::json!({}))
            .await
            .unwrap_err();
        assert!(matches!(err, PortError::Throttled { .. }), "{err:?}");
    }
}
