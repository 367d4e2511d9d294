//! [`DecisionBus`] on the custom EventBridge bus (`source: driftguard`).
use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

use super::errors::{map_sdk_error, THROTTLING_CODES};
use crate::error::{PortError, PortResult};
use crate::events::SOURCE;
use crate::ports::DecisionBus;

const SERVICE: &str = "events";

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
            .detail(detail.to_string())
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
            let message = format!(
                "entry rejected on bus {}: {code}: {}",
                self.bus_name,
                failed.and_then(|e| e.error_message()).unwrap_or("")
            );
            return Err(if THROTTLING_CODES.contains(&code) {
                PortError::Throttled {
                    service: SERVICE,
                    operation: "PutEvents",
                    message,
                }
            } else if code == "InternalFailure" {
                PortError::Transient {
                    service: SERVICE,
                    operation: "PutEvents",
                    message,
                }
            } else {
                PortError::Failed {
                    service: SERVICE,
                    operation: "PutEvents",
                    message,
                }
            });
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

    #[tokio::test]
    async fn a_rejected_entry_is_an_error() {
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
