//! [`CfnStackCatalog`]: its settings, its caches, and the [`StackCatalog`]
//! port: the reverse lookup first, the ownership index when it is unavailable.
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_cloudformation::Client;
use driftguard_core::ports::{
    IdentifiedCall, IdentifiedOwner, StackCatalog, StackResourceSummary, StackSummary,
};
use driftguard_core::sync::lock;
use driftguard_model::domain::{Ownership, ResourceRef, StackMembership};
use driftguard_model::error::{PortError, PortResult};
use driftguard_model::sources::identifiers::{ambiguous_reason, owner_label, Pick};

use super::candidates::physical_id_candidates;
use super::index::{Cached, IndexSlot, OwnerRecord};
use super::reverse::ReverseLookup;
use super::stacks::resource_summary_from_sdk;
use super::SERVICE;
use crate::errors::map_sdk_error;

/// Cache lifetimes of the catalog.
#[derive(Debug, Clone, Copy)]
pub struct CatalogSettings {
    /// How long a reverse-lookup answer (owned by X / not owned) is trusted.
    pub owner_ttl: Duration,
    /// How long the ownership index is trusted.
    pub index_ttl: Duration,
    /// A resource missing from an index older than this triggers one rebuild
    /// (a stack created since would otherwise read as "unmanaged").
    pub index_refresh_on_miss: Duration,
    /// Concurrent `ListStackResources` calls while building the index.
    pub index_concurrency: usize,
    /// How long one attempt at building the index may keep starting
    /// `ListStackResources` calls. What is left (and what failed with a
    /// throttling or transient error) waits for the next attempt, which resumes
    /// the build instead of restarting it. So one attempt lasts at most this
    /// plus one call, whatever the number of stacks.
    pub index_attempt_budget: Duration,
}

impl Default for CatalogSettings {
    fn default() -> Self {
        Self {
            owner_ttl: Duration::from_secs(300),
            index_ttl: Duration::from_secs(300),
            index_refresh_on_miss: Duration::from_secs(30),
            index_concurrency: 4,
            index_attempt_budget: Duration::from_secs(10),
        }
    }
}

/// [`StackCatalog`] over CloudFormation, with per-container caches.
#[derive(Debug)]
pub struct CfnStackCatalog {
    pub(super) client: Client,
    pub(super) settings: CatalogSettings,
    pub(super) owners: Mutex<HashMap<String, Cached<ReverseLookup>>>,
    /// Set when the endpoint does not support the reverse lookup (an emulator):
    /// go straight to the index until then instead of failing a call per event.
    pub(super) reverse_lookup_off_until: Mutex<Option<Instant>>,
    /// Single-flight: concurrent callers wait for one build.
    pub(super) index: tokio::sync::Mutex<IndexSlot>,
}

impl CfnStackCatalog {
    pub fn new(client: Client) -> Self {
        Self::with_settings(client, CatalogSettings::default())
    }

    pub fn with_settings(client: Client, settings: CatalogSettings) -> Self {
        Self {
            client,
            settings,
            owners: Mutex::new(HashMap::new()),
            reverse_lookup_off_until: Mutex::new(None),
            index: tokio::sync::Mutex::new(IndexSlot::default()),
        }
    }

    /// Forget cached answers (tests, or after a stack operation).
    pub async fn invalidate(&self) {
        lock(&self.owners).clear();
        *self.index.lock().await = IndexSlot::default();
    }

    async fn membership(&self, owner: &OwnerRecord) -> PortResult<Ownership> {
        let stack_key = if owner.stack_id.is_empty() {
            &owner.stack_name
        } else {
            &owner.stack_id
        };
        match self.describe_stack_nesting(stack_key).await? {
            Some((stack, nested)) => Ok(Ownership::Managed(StackMembership {
                stack_id: stack.stack_id,
                stack_name: stack.stack_name,
                logical_id: owner.logical_id.clone(),
                resource_type: owner.resource_type.clone(),
                stack_status: stack.status,
                stack_tags: stack.tags,
                nested,
            })),
            // The stack was deleted since the answer was cached.
            None => Ok(Ownership::Unmanaged),
        }
    }
}

#[async_trait]
impl StackCatalog for CfnStackCatalog {
    async fn owner_of(&self, resource: &ResourceRef) -> PortResult<Ownership> {
        let candidates = physical_id_candidates(resource);
        if candidates.is_empty() {
            return Ok(Ownership::Unknown {
                reason: "the event does not identify the resource".into(),
            });
        }
        let resource_type = resource.resource_type.as_deref();
        let mut unavailable: Option<PortError> = None;
        let mut inconclusive: Option<String> = None;
        for candidate in &candidates {
            let answer = match self.cached_owner(candidate) {
                Some(hit) => hit,
                None if self.reverse_lookup_off() => {
                    unavailable = Some(PortError::Unsupported {
                        service: SERVICE,
                        operation: "DescribeStackResources",
                        message: "reverse lookup recently unsupported by this endpoint".into(),
                    });
                    break;
                }
                None => match self.reverse_lookup(candidate, resource_type).await {
                    Ok(answer) => {
                        if !matches!(answer, ReverseLookup::Inconclusive(_)) {
                            self.remember_owner(candidate, answer.clone());
                        }
                        answer
                    }
                    Err(e) => {
                        if matches!(e, PortError::Unsupported { .. }) {
                            *lock(&self.reverse_lookup_off_until) =
                                Some(Instant::now() + self.settings.owner_ttl);
                        }
                        unavailable = Some(e);
                        break;
                    }
                },
            };
            match answer {
                ReverseLookup::Owned(owner) => return self.membership(&owner).await,
                ReverseLookup::Inconclusive(reason) => inconclusive = Some(reason),
                ReverseLookup::NotOwned => {}
            }
        }
        let Some(why) = unavailable else {
            // "Unmanaged" requires proof: a stack that was named as the owner is not it.
            return Ok(match inconclusive {
                Some(reason) => Ownership::Unknown { reason },
                None => Ownership::Unmanaged,
            });
        };
        tracing::info!(
            resource = %resource.label(),
            error = %why,
            class = why.class(),
            "reverse lookup unavailable: falling back to the ownership index"
        );
        match self.owner_from_index(&candidates, resource_type).await? {
            Some(owner) => {
                for c in &candidates {
                    if self.cached_owner(c).is_none() {
                        self.remember_owner(c, ReverseLookup::Owned(owner.clone()));
                    }
                }
                self.membership(&owner).await
            }
            // The index lists every live stack's resources: not in it means not owned.
            None => Ok(Ownership::Unmanaged),
        }
    }

    /// From the ownership index only: no reverse lookup, no rebuild on a miss
    /// (the index's own lifetime, `index_ttl`, still applies). A miss on a warm
    /// index makes no AWS call; a match describes the owning stack.
    async fn owner_of_identifiers(&self, call: &IdentifiedCall<'_>) -> PortResult<IdentifiedOwner> {
        if call.identifiers.is_empty() {
            return Ok(IdentifiedOwner {
                ownership: Ownership::Unknown {
                    reason: "the event names no identifier".into(),
                },
                identifier: None,
            });
        }
        let index = self.ownership_index(self.settings.index_ttl).await?;
        match index.pick_for(call) {
            Pick::One((identifier, owner)) => Ok(IdentifiedOwner {
                ownership: self.membership(&owner).await?,
                identifier: Some(identifier),
            }),
            Pick::Nothing => Ok(IdentifiedOwner {
                ownership: Ownership::Unmanaged,
                identifier: None,
            }),
            Pick::Ambiguous(owners) => {
                let labels: Vec<String> = owners
                    .iter()
                    .map(|(_, o)| {
                        owner_label(&o.stack_name, &o.logical_id, o.resource_type.as_deref())
                    })
                    .collect();
                let id = owners.first().map_or("", |(id, _)| id.as_str());
                Ok(IdentifiedOwner {
                    ownership: Ownership::Unknown {
                        reason: ambiguous_reason(id, &labels),
                    },
                    identifier: None,
                })
            }
        }
    }

    async fn describe_stack(&self, stack: &str) -> PortResult<Option<StackSummary>> {
        Ok(self.describe_stack_nesting(stack).await?.map(|(s, _)| s))
    }

    async fn list_stacks(&self) -> PortResult<Vec<StackSummary>> {
        let summaries: Vec<_> = self
            .client
            .list_stacks()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| map_sdk_error(SERVICE, "ListStacks", e))?;
        Ok(summaries
            .iter()
            .filter_map(|s| {
                let status = s
                    .stack_status()
                    .map(|st| st.as_str().to_string())
                    .unwrap_or_default();
                if status == "DELETE_COMPLETE" {
                    return None;
                }
                Some(StackSummary {
                    stack_id: s.stack_id().unwrap_or_default().to_string(),
                    stack_name: s.stack_name()?.to_string(),
                    status,
                    tags: BTreeMap::new(),
                })
            })
            .collect())
    }

    async fn list_stack_resources(&self, stack: &str) -> PortResult<Vec<StackResourceSummary>> {
        let items: Vec<_> = self
            .client
            .list_stack_resources()
            .stack_name(stack)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| map_sdk_error(SERVICE, "ListStackResources", e))?;
        Ok(items.iter().filter_map(resource_summary_from_sdk).collect())
    }
}
