//! [`TicketStore`] on the single DynamoDB table.
//!
//! Keys: [`driftguard_core::ports::keys`], the one key schema of the table.
//! Schema (see `template.yaml` and `docs/events.md`): partition key `pk` (S), no
//! sort key, TTL attribute `ttl`, GSI `by-state` (`state` + `updated_at`, ALL).
//! - ticket: `pk = TICKET#<id>`, `state`, `updated_at`, `version` (N), `body`
//!   (the ticket as JSON). Every write is conditional on `version`.
//! - processed event: `pk = EVENT#<source event id>`, `status`
//!   (`IN_PROGRESS`|`DONE`), `lease_until` (epoch s), `ttl` (epoch s).
use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, SecondsFormat, Utc};

use super::errors::map_sdk_error;
use driftguard_core::ports::keys::{
    claim as event_key, ticket as ticket_key, PK, TICKET_PREFIX, TTL,
};
use driftguard_core::ports::{Claim, TicketStore};
use driftguard_model::domain::{Ticket, TicketState};
use driftguard_model::error::{PortError, PortResult};

const SERVICE: &str = "dynamodb";
pub const STATE_INDEX: &str = "by-state";
const IN_PROGRESS: &str = "IN_PROGRESS";
const DONE: &str = "DONE";

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Clone)]
pub struct DynamoTicketStore {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// `updated_at` sorts lexicographically: fixed-width UTC with milliseconds.
pub fn sortable_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn ticket_item(t: &Ticket) -> PortResult<Item> {
    let body = serde_json::to_string(t).map_err(|e| PortError::Failed {
        service: SERVICE,
        operation: "PutItem",
        message: format!("cannot serialize ticket {}: {e}", t.id),
    })?;
    Ok(HashMap::from([
        (PK.to_string(), s(ticket_key(&t.id))),
        ("state".to_string(), s(t.state.as_str())),
        ("updated_at".to_string(), s(sortable_time(t.updated_at))),
        ("version".to_string(), n(t.version)),
        ("body".to_string(), s(body)),
    ]))
}

fn ticket_from_item(item: &Item) -> PortResult<Ticket> {
    let pk = item
        .get(PK)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default();
    let body = item
        .get("body")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| PortError::Failed {
            service: SERVICE,
            operation: "GetItem",
            message: format!("item {pk} has no string attribute `body`"),
        })?;
    serde_json::from_str(body).map_err(|e| PortError::Failed {
        service: SERVICE,
        operation: "GetItem",
        message: format!("item {pk}: `body` is not a ticket: {e}"),
    })
}

impl DynamoTicketStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn event_status(&self, event_id: &str) -> PortResult<Option<String>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(event_key(event_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| map_sdk_error(SERVICE, "GetItem", e))?;
        Ok(out
            .item()
            .and_then(|i| i.get("status"))
            .and_then(|v| v.as_s().ok())
            .cloned())
    }

    fn conflict_on(id: &str, e: PortError) -> PortError {
        match e {
            PortError::Conflict { message, .. } => PortError::Conflict {
                what: format!("ticket {id}"),
                message,
            },
            other => other,
        }
    }
}

#[async_trait]
impl TicketStore for DynamoTicketStore {
    async fn claim_event(
        &self,
        event_id: &str,
        lease_until: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> PortResult<Claim> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(event_key(event_id)))
            .item("status", s(IN_PROGRESS))
            .item("lease_until", n(lease_until.timestamp()))
            .item(TTL, n(expires_at.timestamp()))
            // New, or an earlier attempt's lease ran out (it crashed without abandoning).
            .condition_expression(
                "attribute_not_exists(pk) OR (#status = :in_progress AND lease_until < :now)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .expression_attribute_values(":now", n(Utc::now().timestamp()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Fresh),
            Err(e) => match map_sdk_error(SERVICE, "PutItem", e) {
                PortError::Conflict { .. } => match self.event_status(event_id).await?.as_deref() {
                    Some(DONE) => Ok(Claim::AlreadyDone),
                    _ => Ok(Claim::InProgress),
                },
                other => Err(other),
            },
        }
    }

    async fn complete_event(&self, event_id: &str) -> PortResult<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(event_key(event_id)))
            .update_expression("SET #status = :done REMOVE lease_until")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":done", s(DONE))
            .send()
            .await
            .map_err(|e| map_sdk_error(SERVICE, "UpdateItem", e))?;
        Ok(())
    }

    async fn abandon_event(&self, event_id: &str) -> PortResult<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(event_key(event_id)))
            // Never forget a completed event.
            .condition_expression("#status = :in_progress")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":in_progress", s(IN_PROGRESS))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match map_sdk_error(SERVICE, "DeleteItem", e) {
                PortError::Conflict { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn get_ticket(&self, id: &str) -> PortResult<Option<Ticket>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(ticket_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| map_sdk_error(SERVICE, "GetItem", e))?;
        let read = out.item().map(ticket_from_item).transpose()?;
        driftguard_core::ports::keys::checked_ticket(id, read)
    }

    async fn create_ticket(&self, ticket: &Ticket) -> PortResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(ticket_item(ticket)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| Self::conflict_on(&ticket.id, map_sdk_error(SERVICE, "PutItem", e)))?;
        Ok(())
    }

    async fn update_ticket(&self, ticket: &Ticket) -> PortResult<()> {
        let expected = ticket.version.saturating_sub(1);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(ticket_item(ticket)?))
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", n(expected))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match Self::conflict_on(&ticket.id, map_sdk_error(SERVICE, "PutItem", e)) {
                PortError::Conflict { what, message } => match self.get_ticket(&ticket.id).await? {
                    None => Err(PortError::NotFound { what }),
                    Some(stored) => Err(PortError::Conflict {
                        what,
                        message: format!(
                            "{message} (stored version {}, expected {expected})",
                            stored.version
                        ),
                    }),
                },
                other => Err(other),
            },
        }
    }

    async fn list_tickets(&self, state: Option<TicketState>) -> PortResult<Vec<Ticket>> {
        let mut tickets = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let (items, next) = match state {
                Some(st) => {
                    let out = self
                        .client
                        .query()
                        .table_name(&self.table)
                        .index_name(STATE_INDEX)
                        .key_condition_expression("#state = :state")
                        .expression_attribute_names("#state", "state")
                        .expression_attribute_values(":state", s(st.as_str()))
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| map_sdk_error(SERVICE, "Query", e))?;
                    (out.items().to_vec(), out.last_evaluated_key().cloned())
                }
                None => {
                    let out = self
                        .client
                        .scan()
                        .table_name(&self.table)
                        .filter_expression("begins_with(pk, :prefix)")
                        .expression_attribute_values(":prefix", s(TICKET_PREFIX))
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| map_sdk_error(SERVICE, "Scan", e))?;
                    (out.items().to_vec(), out.last_evaluated_key().cloned())
                }
            };
            for item in &items {
                tickets.push(ticket_from_item(item)?);
            }
            match next.filter(|k| !k.is_empty()) {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        Ok(tickets)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sortable_time_is_fixed_width() {
        let t = DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(sortable_time(t), "2026-03-01T10:00:00.000Z");
    }
}
