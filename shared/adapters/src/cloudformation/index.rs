//! The [`OwnershipIndex`] (every physical id of every live stack → its owner)
//! and the catalog's single-flight, resumable build of it.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use driftguard_core::ports::{IdentifiedCall, StackCatalog, StackResourceSummary, StackSummary};
use driftguard_model::error::{PortError, PortResult};
use driftguard_model::sources::identifiers::{pick, Pick};
use futures::StreamExt;

use super::catalog::CfnStackCatalog;
use super::SERVICE;

/// One resource's owner, as the reverse lookup or the index found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRecord {
    pub stack_id: String,
    pub stack_name: String,
    pub logical_id: String,
    pub resource_type: Option<String>,
}

/// Every physical id of every live stack → its owner. Built from `ListStacks` +
/// `ListStackResources`; pure lookups.
#[derive(Debug, Clone, Default)]
pub struct OwnershipIndex {
    stacks: Vec<StackSummary>,
    by_physical_id: HashMap<String, Vec<OwnerRecord>>,
}

impl OwnershipIndex {
    /// Build from stacks and their resources. Entries without a physical id
    /// (the emulator reports some) are skipped.
    pub fn from_parts(parts: Vec<(StackSummary, Vec<StackResourceSummary>)>) -> Self {
        let mut index = Self::default();
        for (stack, resources) in parts {
            for r in resources {
                let Some(pid) = r.physical_id.filter(|p| !p.is_empty()) else {
                    continue;
                };
                index
                    .by_physical_id
                    .entry(pid)
                    .or_default()
                    .push(OwnerRecord {
                        stack_id: stack.stack_id.clone(),
                        stack_name: stack.stack_name.clone(),
                        logical_id: r.logical_id.clone(),
                        resource_type: r.resource_type.filter(|t| !t.is_empty()),
                    });
            }
            index.stacks.push(stack);
        }
        index
    }

    /// The owner of the first candidate found; with several owners of one id
    /// (a role name equal to a bucket name), the one of the expected type wins.
    pub fn lookup(
        &self,
        candidates: &[String],
        resource_type: Option<&str>,
    ) -> Option<&OwnerRecord> {
        candidates.iter().find_map(|c| {
            let owners = self.by_physical_id.get(c)?;
            owners
                .iter()
                .find(|o| resource_type.is_some() && o.resource_type.as_deref() == resource_type)
                .or_else(|| owners.first())
        })
    }

    /// Every owner of one physical id (several when, say, a role and a user
    /// share a name).
    pub fn owners(&self, physical_id: &str) -> &[OwnerRecord] {
        self.by_physical_id
            .get(physical_id)
            .map_or(&[], Vec::as_slice)
    }

    /// The owner a write no operation row lists is attributed to: every
    /// (identifier, owner) pair the index holds for `call`'s identifiers, in
    /// their order, picked by the model's rule (`sources::identifiers::pick`:
    /// the call's service must be able to target the owner's type, never a
    /// custom resource; the type the operation names first). Pure, in memory.
    pub fn pick_for(&self, call: &IdentifiedCall<'_>) -> Pick<(String, OwnerRecord)> {
        let pairs: Vec<(String, OwnerRecord)> = call
            .identifiers
            .iter()
            .flat_map(|id| self.owners(id).iter().map(move |o| (id.clone(), o.clone())))
            .collect();
        pick(
            call.service,
            call.operation,
            &pairs,
            |(id, _)| id.as_str(),
            |(_, o)| o.resource_type.as_deref(),
        )
    }

    pub fn stacks(&self) -> &[StackSummary] {
        &self.stacks
    }

    pub fn stack(&self, name_or_id: &str) -> Option<&StackSummary> {
        self.stacks
            .iter()
            .find(|s| s.stack_name == name_or_id || s.stack_id == name_or_id)
    }

    /// Number of indexed physical ids.
    pub fn len(&self) -> usize {
        self.by_physical_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_physical_id.is_empty()
    }
}

#[derive(Debug, Clone)]
pub(super) struct Cached<T> {
    pub(super) at: Instant,
    pub(super) value: T,
}

/// The ownership index, or the part of a build a passing fault interrupted.
#[derive(Debug, Default)]
pub(super) struct IndexSlot {
    built: Option<Cached<Arc<OwnershipIndex>>>,
    partial: Option<PartialIndex>,
}

/// An index build that has not finished: the stack list and the stacks listed
/// so far. Kept only across throttling and transient errors, for at most the
/// index's lifetime, so that an attempt retries only the calls that failed:
/// restarting every time, a build of `n` calls under a fault rate `p` per call
/// succeeds with probability `(1 - p)^n` per attempt (0.7^21 ≈ 1/1,800 for 20
/// stacks at 30 %), resuming it needs each call to succeed once.
#[derive(Debug)]
struct PartialIndex {
    started: Instant,
    stacks: Option<Vec<StackSummary>>,
    listed: HashMap<String, Vec<StackResourceSummary>>,
}

impl CfnStackCatalog {
    /// The ownership index, rebuilt when older than `max_age`.
    pub async fn ownership_index(&self, max_age: Duration) -> PortResult<Arc<OwnershipIndex>> {
        let mut slot = self.index.lock().await;
        if let Some(c) = slot.built.as_ref().filter(|c| c.at.elapsed() <= max_age) {
            return Ok(c.value.clone());
        }
        let started = Instant::now();
        let mut partial = slot
            .partial
            .take()
            .filter(|p| p.started.elapsed() <= self.settings.index_ttl)
            .unwrap_or_else(|| PartialIndex {
                started,
                stacks: None,
                listed: HashMap::new(),
            });
        let resumed = partial.listed.len();
        let built = self.build_index(&mut partial).await;
        let index = match built {
            Ok(index) => Arc::new(index),
            Err(e) => {
                tracing::info!(
                    listed = partial.listed.len(),
                    resumed,
                    error = %e,
                    kept = e.is_retryable(),
                    "CloudFormation ownership index build interrupted"
                );
                slot.partial = e.is_retryable().then_some(partial);
                return Err(e);
            }
        };
        tracing::info!(
            stacks = index.stacks().len(),
            physical_ids = index.len(),
            resumed,
            duration_ms = started.elapsed().as_millis() as u64,
            "built CloudFormation ownership index"
        );
        slot.built = Some(Cached {
            at: Instant::now(),
            value: index.clone(),
        });
        Ok(index)
    }

    /// Advance `partial`: list the stacks once, then every stack not listed
    /// yet (bounded concurrency, no new call after the attempt's budget). Every
    /// call is made even when one fails, so the next attempt has less to do;
    /// the first error is returned.
    async fn build_index(&self, partial: &mut PartialIndex) -> PortResult<OwnershipIndex> {
        if partial.stacks.is_none() {
            partial.stacks = Some(self.list_stacks().await?);
        }
        let stacks = partial.stacks.clone().unwrap_or_default();
        let budget_ends = Instant::now() + self.settings.index_attempt_budget;
        let missing = stacks
            .iter()
            .filter(|s| !partial.listed.contains_key(&s.stack_id))
            .map(|s| s.stack_id.clone())
            .collect::<Vec<_>>();
        let results: Vec<(String, PortResult<Vec<StackResourceSummary>>)> =
            futures::stream::iter(missing)
                .map(|stack_id| async move {
                    let listed = if Instant::now() < budget_ends {
                        self.list_stack_resources(&stack_id).await
                    } else {
                        Err(PortError::Transient {
                            service: SERVICE,
                            operation: "ListStackResources",
                            message: "the index build's budget for this attempt is spent; \
                                      the next attempt resumes it"
                                .into(),
                        })
                    };
                    (stack_id, listed)
                })
                .buffer_unordered(self.settings.index_concurrency.max(1))
                .collect()
                .await;
        let mut first_error = None;
        for (stack_id, listed) in results {
            match listed {
                Ok(resources) => {
                    partial.listed.insert(stack_id, resources);
                }
                // A permanent error wins: it ends the build without keeping it.
                Err(e) => {
                    if first_error.as_ref().is_none_or(PortError::is_retryable) {
                        first_error = Some(e);
                    }
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        let parts = stacks
            .into_iter()
            .map(|s| {
                let resources = partial.listed.remove(&s.stack_id).unwrap_or_default();
                (s, resources)
            })
            .collect();
        Ok(OwnershipIndex::from_parts(parts))
    }

    pub(super) async fn owner_from_index(
        &self,
        candidates: &[String],
        resource_type: Option<&str>,
    ) -> PortResult<Option<OwnerRecord>> {
        let index = self.ownership_index(self.settings.index_ttl).await?;
        if let Some(found) = index.lookup(candidates, resource_type) {
            return Ok(Some(found.clone()));
        }
        let index = self
            .ownership_index(self.settings.index_refresh_on_miss)
            .await?;
        Ok(index.lookup(candidates, resource_type).cloned())
    }
}
