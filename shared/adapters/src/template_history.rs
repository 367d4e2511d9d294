//! [`TemplateHistory`] on the ticket table (one partition key `pk`, no sort
//! key; the table is encrypted with driftguard's KMS key, `template.yaml`
//! `TicketTable.SSESpecification`).
//!
//! Key prefixes (items of this kind only; tickets and events: `dynamodb.rs`):
//! - [`HEAD_PREFIX`] `TEMPLATES#<stack>`: the stack's kept versions, `latest`
//!   (N, the condition of every head write) and `body` = JSON list of
//!   `{version, digest}`, oldest first;
//! - [`VERSION_PREFIX`] `TEMPLATE#<stack>#<version>`: one [`KnownGood`] as
//!   JSON in `body` (at most `MAX_TEMPLATE_BYTES` of template: an item holds
//!   400 KB).
//!
//! Recording writes the version item first (`attribute_not_exists(pk)`), then
//! the head conditional on the `latest` it read, then drops versions beyond
//! `MAX_VERSIONS` (best effort: a leftover item is never listed).
use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};

use super::errors::map_sdk_error;
use driftguard_core::ports::remediate::{KnownGood, Recorded, TemplateHistory};
use driftguard_core::remediate::history::MAX_VERSIONS;
use driftguard_model::error::{PortError, PortResult};

const SERVICE: &str = "dynamodb";
pub const HEAD_PREFIX: &str = "TEMPLATES#";
pub const VERSION_PREFIX: &str = "TEMPLATE#";

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Kept {
    version: u32,
    digest: String,
}

#[derive(Debug, Clone)]
pub struct DynamoTemplateHistory {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn head_key(stack: &str) -> String {
    format!("{HEAD_PREFIX}{stack}")
}

pub fn version_key(stack: &str, version: u32) -> String {
    format!("{VERSION_PREFIX}{stack}#{version}")
}

fn failed(operation: &'static str, message: String) -> PortError {
    PortError::Failed {
        service: SERVICE,
        operation,
        message,
    }
}

fn body_of<T: serde::de::DeserializeOwned>(item: &Item, what: &str) -> PortResult<T> {
    let body = item
        .get("body")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| failed("GetItem", format!("{what} has no string attribute `body`")))?;
    serde_json::from_str(body)
        .map_err(|e| failed("GetItem", format!("{what}: `body` is unreadable: {e}")))
}

impl DynamoTemplateHistory {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn get(&self, key: String) -> PortResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| map_sdk_error(SERVICE, "GetItem", e))?;
        Ok(out.item().cloned())
    }

    async fn head(&self, stack: &str) -> PortResult<Vec<Kept>> {
        match self.get(head_key(stack)).await? {
            Some(item) => body_of(&item, &head_key(stack)),
            None => Ok(Vec::new()),
        }
    }

    async fn put_version(&self, good: &KnownGood) -> PortResult<()> {
        let body = serde_json::to_string(good)
            .map_err(|e| failed("PutItem", format!("cannot serialize {}: {e}", good.stack)))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(version_key(&good.stack, good.version)))
            .item("body", s(body))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| map_sdk_error(SERVICE, "PutItem", e))?;
        Ok(())
    }

    async fn put_head(&self, stack: &str, kept: &[Kept], previous: Option<u32>) -> PortResult<()> {
        let body = serde_json::to_string(kept).map_err(|e| {
            failed(
                "PutItem",
                format!("cannot serialize the head of {stack}: {e}"),
            )
        })?;
        let latest = kept.last().map_or(0, |k| k.version);
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(head_key(stack)))
            .item("latest", AttributeValue::N(latest.to_string()))
            .item("body", s(body));
        req = match previous {
            Some(p) => req
                .condition_expression("latest = :previous")
                .expression_attribute_values(":previous", AttributeValue::N(p.to_string())),
            None => req.condition_expression("attribute_not_exists(pk)"),
        };
        req.send()
            .await
            .map_err(|e| map_sdk_error(SERVICE, "PutItem", e))?;
        Ok(())
    }

    async fn delete(&self, key: String) {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(key.clone()))
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(key, error = %map_sdk_error(SERVICE, "DeleteItem", e), "could not drop a template version");
        }
    }
}

#[async_trait]
impl TemplateHistory for DynamoTemplateHistory {
    async fn record(&self, candidate: &KnownGood) -> PortResult<Recorded> {
        let stack = &candidate.stack;
        let mut kept = self.head(stack).await?;
        let previous = kept.last().map(|k| k.version);
        if let Some(latest) = kept.last().filter(|k| k.digest == candidate.digest) {
            return Ok(Recorded::Unchanged(latest.version));
        }
        let mut good = candidate.clone();
        good.version = previous.map_or(1, |p| p + 1);
        self.put_version(&good).await?;
        kept.push(Kept {
            version: good.version,
            digest: good.digest.clone(),
        });
        let keep = usize::try_from(MAX_VERSIONS).unwrap_or(usize::MAX);
        let dropped: Vec<Kept> = if kept.len() > keep {
            kept.drain(..kept.len() - keep).collect()
        } else {
            Vec::new()
        };
        if let Err(e) = self.put_head(stack, &kept, previous).await {
            // Another recorder won: this version is not listed, drop it.
            self.delete(version_key(stack, good.version)).await;
            return Err(e);
        }
        for old in dropped {
            self.delete(version_key(stack, old.version)).await;
        }
        Ok(Recorded::New(good.version))
    }

    async fn versions(&self, stack: &str) -> PortResult<Vec<KnownGood>> {
        let mut out = Vec::new();
        for k in self.head(stack).await? {
            let key = version_key(stack, k.version);
            if let Some(item) = self.get(key.clone()).await? {
                out.push(body_of(&item, &key)?);
            }
        }
        Ok(out)
    }
}
