//! Optional [`OpsMirror`]: one OpsCenter OpsItem per ticket (`CreateOpsItem`
//! with the ticket id as dedup string, so re-mirroring never duplicates).
//! Off by default (`OPSCENTER_MIRROR=true` turns it on).
use async_trait::async_trait;
use aws_sdk_ssm::types::{OpsItemDataType, OpsItemDataValue};
use aws_sdk_ssm::Client;

use super::errors::map_sdk_error;
use driftguard_core::ports::OpsMirror;
use driftguard_model::domain::{Severity, Ticket};
use driftguard_model::error::PortResult;

const SERVICE: &str = "ssm";

#[derive(Debug, Clone)]
pub struct OpsCenterMirror {
    client: Client,
}

impl OpsCenterMirror {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// OpsCenter severities are "1" (critical) .. "4" (low).
pub fn ops_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "1",
        Severity::High => "2",
        Severity::Medium => "3",
        Severity::Low => "4",
    }
}

/// The dedup string OpsCenter uses to fold repeated `CreateOpsItem` calls.
pub fn dedup_data(ticket_id: &str) -> String {
    serde_json::json!({ "dedupString": ticket_id }).to_string()
}

#[async_trait]
impl OpsMirror for OpsCenterMirror {
    async fn mirror(&self, ticket: &Ticket) -> PortResult<()> {
        let title: String = format!(
            "driftguard {}: drift on {}",
            ticket.id,
            ticket.ownership.label()
        )
        .chars()
        .take(1024)
        .collect();
        let description: String = format!(
            "{} ({}) drifted; ticket {} is {}. Latest decision: {}",
            ticket.resource.label(),
            ticket.ownership.label(),
            ticket.id,
            ticket.state,
            ticket
                .decision
                .as_ref()
                .map(|d| d.verdict.reason.clone())
                .unwrap_or_default()
        )
        .chars()
        .take(2048)
        .collect();
        self.client
            .create_ops_item()
            .source("driftguard")
            .title(title)
            .description(description)
            .severity(ops_severity(ticket.severity))
            .category("Configuration")
            .operational_data(
                "/aws/dedup",
                OpsItemDataValue::builder()
                    .value(dedup_data(&ticket.id))
                    .r#type(OpsItemDataType::SearchableString)
                    .build(),
            )
            .operational_data(
                "driftguard:ticket",
                OpsItemDataValue::builder()
                    .value(&ticket.id)
                    .r#type(OpsItemDataType::SearchableString)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| map_sdk_error(SERVICE, "CreateOpsItem", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn dedup_string_is_the_ticket_id() {
        assert_eq!(dedup_data("DG-1"), r#"{"dedupString":"DG-1"}"#);
        assert_eq!(ops_severity(Severity::High), "2");
    }
}
