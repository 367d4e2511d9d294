//! The reverse lookup `DescribeStackResources(PhysicalResourceId)`, its
//! per-container cache, and the paging of the owner's stack when the answer
//! stops at its first 100 resources.
use std::time::Instant;

use driftguard_core::ports::StackCatalog;
use driftguard_core::sync::lock;
use driftguard_model::error::{PortError, PortResult};

use super::catalog::CfnStackCatalog;
use super::index::{Cached, OwnerRecord};
use super::SERVICE;
use crate::errors::map_sdk_error;

/// What one reverse lookup proved.
#[derive(Debug, Clone)]
pub(super) enum ReverseLookup {
    Owned(OwnerRecord),
    NotOwned,
    /// The owning stack is known but the resource is not in its full listing
    /// (deleted meanwhile?): neither owned nor proven unmanaged. Never cached.
    Inconclusive(String),
}

impl CfnStackCatalog {
    pub(super) fn reverse_lookup_off(&self) -> bool {
        lock(&self.reverse_lookup_off_until).is_some_and(|until| Instant::now() < until)
    }

    pub(super) fn cached_owner(&self, physical_id: &str) -> Option<ReverseLookup> {
        let owners = lock(&self.owners);
        owners
            .get(physical_id)
            .filter(|c| c.at.elapsed() <= self.settings.owner_ttl)
            .map(|c| c.value.clone())
    }

    pub(super) fn remember_owner(&self, physical_id: &str, value: ReverseLookup) {
        lock(&self.owners).insert(
            physical_id.to_string(),
            Cached {
                at: Instant::now(),
                value,
            },
        );
    }

    /// `DescribeStackResources(PhysicalResourceId)`.
    pub(super) async fn reverse_lookup(
        &self,
        physical_id: &str,
        resource_type: Option<&str>,
    ) -> PortResult<ReverseLookup> {
        let result = self
            .client
            .describe_stack_resources()
            .physical_resource_id(physical_id)
            .send()
            .await;
        match result {
            Ok(out) => {
                // "If PhysicalResourceId is specified, the associated resources of the
                // stack that the resource belongs to are returned" and "Only the first
                // 100 resources will be returned. If your stack has more resources than
                // this, you should use ListStackResources instead." (aws-sdk-cloudformation
                // 1.136 DescribeStackResources;
                // https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResources.html)
                // So an answer without our physical id names the owner but not the
                // resource: page that stack before concluding anything.
                let entries: Vec<OwnerRecord> = out
                    .stack_resources()
                    .iter()
                    .filter_map(|r| {
                        Some(OwnerRecord {
                            stack_id: r.stack_id().filter(|s| !s.is_empty())?.to_string(),
                            stack_name: r.stack_name().filter(|s| !s.is_empty())?.to_string(),
                            logical_id: r
                                .logical_resource_id()
                                .filter(|s| !s.is_empty())?
                                .to_string(),
                            resource_type: r
                                .resource_type()
                                .filter(|s| !s.is_empty())
                                .map(str::to_string),
                        })
                        .filter(|_| {
                            r.physical_resource_id()
                                .is_none_or(|p| p.is_empty() || p == physical_id)
                        })
                    })
                    .collect();
                if let Some(best) = best_owner(&entries, resource_type) {
                    return Ok(ReverseLookup::Owned(best));
                }
                match out
                    .stack_resources()
                    .iter()
                    .find_map(|r| r.stack_id().filter(|s| !s.is_empty()))
                {
                    // The owner's first 100 resources, ours not among them.
                    Some(stack_id) => {
                        self.find_in_stack(stack_id, physical_id, resource_type)
                            .await
                    }
                    None => Ok(ReverseLookup::NotOwned),
                }
            }
            Err(err) => lookup_error(
                map_sdk_error(SERVICE, "DescribeStackResources", err),
                physical_id,
            ),
        }
    }

    /// Page `ListStackResources` of the stack the reverse lookup named.
    async fn find_in_stack(
        &self,
        stack_id: &str,
        physical_id: &str,
        resource_type: Option<&str>,
    ) -> PortResult<ReverseLookup> {
        let resources = self.list_stack_resources(stack_id).await?;
        let stack_name = stack_name_of(stack_id);
        let entries: Vec<OwnerRecord> = resources
            .into_iter()
            .filter(|r| r.physical_id.as_deref() == Some(physical_id))
            .map(|r| OwnerRecord {
                stack_id: stack_id.to_string(),
                stack_name: stack_name.clone(),
                logical_id: r.logical_id,
                resource_type: r.resource_type,
            })
            .collect();
        let found = best_owner(&entries, resource_type);
        tracing::info!(
            stack_id,
            physical_id,
            found = found.is_some(),
            "resource beyond the reverse lookup's first 100: paged ListStackResources"
        );
        Ok(match found {
            Some(owner) => ReverseLookup::Owned(owner),
            None => ReverseLookup::Inconclusive(format!(
                "stack {stack_id} was named as the owner of {physical_id} but does not list it"
            )),
        })
    }
}

/// What a failed reverse lookup of `physical_id` proves: `NotOwned` when AWS
/// says no stack owns it, `Unsupported` when the endpoint cannot answer the
/// lookup, else nothing (the error itself).
fn lookup_error(mapped: PortError, physical_id: &str) -> PortResult<ReverseLookup> {
    // AWS answers "Stack for <physical id> does not exist" for a resource
    // no stack owns. Only that proves "unmanaged": an emulator without
    // the lookup answers "Stack with id None does not exist".
    match &mapped {
        PortError::Failed { message, .. }
            if message.contains("does not exist") && message.contains(physical_id) =>
        {
            Ok(ReverseLookup::NotOwned)
        }
        PortError::Failed { message, .. } if message.contains("does not exist") => {
            Err(PortError::Unsupported {
                service: SERVICE,
                operation: "DescribeStackResources",
                message: format!("reverse lookup by physical id not answered: {message}"),
            })
        }
        _ => Err(mapped),
    }
}

/// The entry of `entries` of `resource_type`, else the first.
fn best_owner(entries: &[OwnerRecord], resource_type: Option<&str>) -> Option<OwnerRecord> {
    entries
        .iter()
        .find(|o| resource_type.is_some() && o.resource_type.as_deref() == resource_type)
        .or_else(|| entries.first())
        .cloned()
}

/// `arn:aws:cloudformation:<region>:<account>:stack/<name>/<uuid>` → `<name>`;
/// anything else is returned as is (a name).
pub(super) fn stack_name_of(stack_id: &str) -> String {
    stack_id
        .split_once(":stack/")
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap_or(stack_id)
        .to_string()
}
