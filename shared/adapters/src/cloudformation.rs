//! CloudFormation: which stack owns a resource ([`CfnStackCatalog`]) and what
//! CloudFormation thinks drifted ([`CfnDriftDetector`]).
//!
//! Ownership is resolved in two ways:
//! 1. the reverse lookup `DescribeStackResources(PhysicalResourceId)`, cached per
//!    container with a TTL ("stack for X does not exist" proves `Unmanaged`);
//! 2. when that call is unavailable (throttled past the SDK's retries, or an
//!    emulator without it), an [`OwnershipIndex`] built from `ListStacks` +
//!    `ListStackResources` (paged, cached; the sweep reuses it).
//!
//! A CloudTrail event does not always name a resource the way CloudFormation's
//! `PhysicalResourceId` does (an ARN instead of a role, function or bucket name;
//! a parameter name with or without its leading slash): [`physical_id_candidates`]
//! lists every form worth trying.
use driftguard_core::sync::lock;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_cloudformation::Client;
use futures::StreamExt;

use super::errors::map_sdk_error;
use driftguard_core::ports::{DriftDetector, StackCatalog, StackResourceSummary, StackSummary};
use driftguard_model::domain::{
    DifferenceKind, Drift, DriftOrigin, DriftStatus, NestedStack, Ownership, PropertyDifference,
    ResourceRef, StackMembership,
};
use driftguard_model::error::{PortError, PortResult};

const SERVICE: &str = "cloudformation";

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

/// The physical-id forms worth trying for a resource, most specific first.
pub fn physical_id_candidates(resource: &ResourceRef) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |s: String| {
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    };
    let resource_type = resource.resource_type.as_deref().unwrap_or("");
    for id in [resource.physical_id.as_deref(), resource.arn.as_deref()]
        .into_iter()
        .flatten()
    {
        let id = id.trim();
        add(id.to_string());
        for alt in alternate_forms(resource_type, id) {
            add(alt);
        }
    }
    out
}

fn alternate_forms(resource_type: &str, id: &str) -> Vec<String> {
    let mut alts = Vec::new();
    if let Some(rest) = id.strip_prefix("arn:") {
        // arn:partition:service:region:account:resource
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        if let [_partition, service, region, account, resource] = parts[..] {
            match service {
                "s3" => alts.push(resource.to_string()),
                "iam" => {
                    // role/path/name, user/name, instance-profile/name; managed
                    // policies keep their ARN as physical id.
                    if let Some(name) = resource.rsplit('/').next() {
                        alts.push(name.to_string());
                    }
                }
                "lambda" => {
                    if let Some(name) = resource.strip_prefix("function:") {
                        alts.push(name.split(':').next().unwrap_or(name).to_string());
                    }
                }
                "ssm" => {
                    if let Some(name) = resource.strip_prefix("parameter") {
                        // `parameter/a/b` is the parameter `/a/b`; `parameter/x` may be `x`.
                        alts.push(name.to_string());
                        alts.push(name.trim_start_matches('/').to_string());
                    }
                }
                "sqs" => alts.push(format!(
                    "https://sqs.{region}.amazonaws.com/{account}/{resource}"
                )),
                "logs" => {
                    if let Some(name) = resource.strip_prefix("log-group:") {
                        alts.push(name.trim_end_matches(":*").to_string());
                    }
                }
                _ => {
                    if let Some(last) = resource.rsplit(['/', ':']).next() {
                        alts.push(last.to_string());
                    }
                }
            }
        }
    } else if let Some(name) = id.split_once(":function:").map(|(_, n)| n) {
        // Lambda partial ARN `123456789012:function:name`.
        alts.push(name.split(':').next().unwrap_or(name).to_string());
    } else if resource_type == "AWS::SSM::Parameter" {
        if let Some(stripped) = id.strip_prefix('/') {
            alts.push(stripped.to_string());
        } else {
            alts.push(format!("/{id}"));
        }
    }
    alts
}

#[derive(Debug, Clone)]
struct Cached<T> {
    at: Instant,
    value: T,
}

/// The ownership index, or the part of a build a passing fault interrupted.
#[derive(Debug, Default)]
struct IndexSlot {
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

/// What one reverse lookup proved.
#[derive(Debug, Clone)]
enum ReverseLookup {
    Owned(OwnerRecord),
    NotOwned,
    /// The owning stack is known but the resource is not in its full listing
    /// (deleted meanwhile?): neither owned nor proven unmanaged. Never cached.
    Inconclusive(String),
}

/// [`StackCatalog`] over CloudFormation, with per-container caches.
#[derive(Debug)]
pub struct CfnStackCatalog {
    client: Client,
    settings: CatalogSettings,
    owners: Mutex<HashMap<String, Cached<ReverseLookup>>>,
    /// Set when the endpoint does not support the reverse lookup (an emulator):
    /// go straight to the index until then instead of failing a call per event.
    reverse_lookup_off_until: Mutex<Option<Instant>>,
    /// Single-flight: concurrent callers wait for one build.
    index: tokio::sync::Mutex<IndexSlot>,
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

    /// Forget cached answers (tests, or after a stack operation).
    pub async fn invalidate(&self) {
        lock(&self.owners).clear();
        *self.index.lock().await = IndexSlot::default();
    }

    fn reverse_lookup_off(&self) -> bool {
        lock(&self.reverse_lookup_off_until).is_some_and(|until| Instant::now() < until)
    }

    fn cached_owner(&self, physical_id: &str) -> Option<ReverseLookup> {
        let owners = lock(&self.owners);
        owners
            .get(physical_id)
            .filter(|c| c.at.elapsed() <= self.settings.owner_ttl)
            .map(|c| c.value.clone())
    }

    fn remember_owner(&self, physical_id: &str, value: ReverseLookup) {
        lock(&self.owners).insert(
            physical_id.to_string(),
            Cached {
                at: Instant::now(),
                value,
            },
        );
    }

    /// `DescribeStackResources(PhysicalResourceId)`.
    async fn reverse_lookup(
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
            Err(err) => {
                let mapped = map_sdk_error(SERVICE, "DescribeStackResources", err);
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
                            message: format!(
                                "reverse lookup by physical id not answered: {message}"
                            ),
                        })
                    }
                    _ => Err(mapped),
                }
            }
        }
    }

    /// `DescribeStacks`: the stack and, for a nested stack, where it sits.
    async fn describe_stack_nesting(
        &self,
        stack: &str,
    ) -> PortResult<Option<(StackSummary, Option<NestedStack>)>> {
        match self.client.describe_stacks().stack_name(stack).send().await {
            Ok(out) => Ok(out.stacks().iter().find_map(|st| {
                let summary = summary_from_stack(st).filter(|s| s.status != "DELETE_COMPLETE")?;
                Some((summary, nesting_of(st)))
            })),
            Err(err) => match map_sdk_error(SERVICE, "DescribeStacks", err) {
                PortError::Failed { message, .. } if message.contains("does not exist") => Ok(None),
                other => Err(other),
            },
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

    async fn owner_from_index(
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
fn stack_name_of(stack_id: &str) -> String {
    stack_id
        .split_once(":stack/")
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap_or(stack_id)
        .to_string()
}

/// `ParentId`/`RootId` of a nested stack; `None` for a top-level stack.
fn nesting_of(s: &aws_sdk_cloudformation::types::Stack) -> Option<NestedStack> {
    let parent_id = s.parent_id().filter(|p| !p.is_empty())?;
    Some(NestedStack {
        parent_id: parent_id.to_string(),
        root_id: s.root_id().filter(|r| !r.is_empty()).map(str::to_string),
    })
}

/// A `DescribeStacks` entry → [`StackSummary`]; `None` without a stack name.
pub(crate) fn summary_from_stack(s: &aws_sdk_cloudformation::types::Stack) -> Option<StackSummary> {
    Some(StackSummary {
        stack_id: s.stack_id().unwrap_or_default().to_string(),
        stack_name: s.stack_name()?.to_string(),
        status: s
            .stack_status()
            .map(|st| st.as_str().to_string())
            .unwrap_or_default(),
        tags: s
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect::<BTreeMap<_, _>>(),
    })
}

/// A `ListStackResources` entry → [`StackResourceSummary`]; `None` without a
/// logical id, empty strings read as absent.
pub(crate) fn resource_summary_from_sdk(
    r: &aws_sdk_cloudformation::types::StackResourceSummary,
) -> Option<StackResourceSummary> {
    Some(StackResourceSummary {
        logical_id: r
            .logical_resource_id()
            .filter(|s| !s.is_empty())?
            .to_string(),
        physical_id: r
            .physical_resource_id()
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        resource_type: r
            .resource_type()
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        status: r.resource_status().map(|s| s.as_str().to_string()),
    })
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

/// The tag CloudFormation puts on the resources it creates, naming the stack.
pub const STACK_ID_TAG: &str = "aws:cloudformation:stack-id";

/// `arn:aws:cloudformation:<region>:...` → `<region>`.
pub fn region_of_stack_arn(stack_id: &str) -> Option<&str> {
    let mut parts = stack_id.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("cloudformation"), Some(region)) if !region.is_empty() => {
            Some(region)
        }
        _ => None,
    }
}

/// [`StackCatalog`] over the watched regions, for global services. IAM's events
/// reach a us-east-1 deployment only ("For most global services, events are logged
/// as occurring in US East (N. Virginia) Region",
/// https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-concepts.html#cloudtrail-concepts-global-service-events),
/// while the role's stack may live in any region. For a global resource: the
/// role's `aws:cloudformation:stack-id` tag (`ListRoleTags`) goes straight to the
/// right region; otherwise each watched region is asked (each catalog caches its
/// answers). Regional resources are looked up in the home region only.
#[derive(Debug)]
pub struct MultiRegionCatalog {
    /// Home region first.
    regions: Vec<(String, CfnStackCatalog)>,
    iam: Option<aws_sdk_iam::Client>,
    /// Stack name or id → region, learnt from ownership answers (drift routing).
    stack_regions: Mutex<HashMap<String, String>>,
}

impl MultiRegionCatalog {
    /// `regions`: (region, catalog), the home region first; `iam` for role tags.
    pub fn new(regions: Vec<(String, CfnStackCatalog)>, iam: Option<aws_sdk_iam::Client>) -> Self {
        Self {
            regions,
            iam,
            stack_regions: Mutex::new(HashMap::new()),
        }
    }

    /// An IAM client for the role-tag lookup (IAM is global: any region's endpoint).
    pub fn iam_client(sdk: &aws_config::SdkConfig) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(sdk)
    }

    /// The region a stack was found in; `None`: the home region.
    pub fn region_of_stack(&self, stack: &str) -> Option<String> {
        region_of_stack_arn(stack)
            .map(str::to_string)
            .or_else(|| lock(&self.stack_regions).get(stack).cloned())
    }

    fn catalog_for_stack(&self, stack: &str) -> PortResult<&CfnStackCatalog> {
        let region = self.region_of_stack(stack);
        self.regions
            .iter()
            .find(|(r, _)| region.as_deref().is_none_or(|want| want == r))
            .map(|(_, c)| c)
            .ok_or_else(|| PortError::Failed {
                service: SERVICE,
                operation: "DescribeStacks",
                message: format!("stack {stack} is in region {region:?}, which is not watched"),
            })
    }

    /// The region named by the role's `aws:cloudformation:stack-id` tag, if any.
    /// Only a routing hint ("aws:" tags are reserved: "You can't create, edit, or
    /// delete tag keys that begin with aws:",
    /// https://docs.aws.amazon.com/IAM/latest/UserGuide/id_tags.html): ownership is
    /// still proven by that region's CloudFormation.
    async fn tagged_region(&self, resource: &ResourceRef) -> Option<String> {
        let iam = self.iam.as_ref()?;
        if resource.resource_type.as_deref() != Some("AWS::IAM::Role") {
            return None;
        }
        let id = resource.physical_id.as_deref()?;
        let name = id.rsplit('/').next().filter(|n| !n.is_empty())?;
        // ListRoleTags: "Lists the tags that are attached to the specified role."
        // (aws-sdk-iam 1.133; https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListRoleTags.html)
        match iam.list_role_tags().role_name(name).send().await {
            Ok(out) => out
                .tags()
                .iter()
                .find(|t| t.key() == STACK_ID_TAG)
                .and_then(|t| region_of_stack_arn(t.value()))
                .map(str::to_string),
            Err(e) => {
                let e = map_sdk_error("iam", "ListRoleTags", e);
                tracing::info!(role = name, error = %e, "role tags unavailable: asking every watched region");
                None
            }
        }
    }

    fn remember(&self, region: &str, ownership: &Ownership) {
        if let Ownership::Managed(m) = ownership {
            let mut map = lock(&self.stack_regions);
            map.insert(m.stack_name.clone(), region.to_string());
            map.insert(m.stack_id.clone(), region.to_string());
        }
    }

    async fn owner_in_every_region(&self, resource: &ResourceRef) -> PortResult<Ownership> {
        let mut unknown: Option<String> = None;
        for (region, catalog) in &self.regions {
            match catalog.owner_of(resource).await {
                Ok(o @ Ownership::Managed(_)) => {
                    self.remember(region, &o);
                    return Ok(o);
                }
                Ok(Ownership::Unmanaged) => {}
                Ok(other) => unknown = Some(format!("{region}: {}", other.label())),
                Err(e) if e.is_retryable() => return Err(e),
                Err(e) => unknown = Some(format!("{region}: {e}")),
            }
        }
        // Unmanaged only when every watched region proved it.
        Ok(match unknown {
            Some(reason) => Ownership::Unknown { reason },
            None => Ownership::Unmanaged,
        })
    }
}

#[async_trait]
impl StackCatalog for MultiRegionCatalog {
    async fn owner_of(&self, resource: &ResourceRef) -> PortResult<Ownership> {
        let Some((home, home_catalog)) = self.regions.first() else {
            return Ok(Ownership::Unknown {
                reason: "no watched region".into(),
            });
        };
        let global = resource
            .resource_type
            .as_deref()
            .is_some_and(super::cloudtrail::is_global_service_type);
        if !global || self.regions.len() == 1 {
            let o = home_catalog.owner_of(resource).await?;
            self.remember(home, &o);
            return Ok(o);
        }
        if let Some(region) = self.tagged_region(resource).await {
            if let Some((r, catalog)) = self.regions.iter().find(|(r, _)| *r == region) {
                let o = catalog.owner_of(resource).await?;
                tracing::info!(resource = %resource.label(), region = %r, owner = %o.label(), "owner looked up in the region the stack-id tag names");
                if matches!(o, Ownership::Managed(_)) {
                    self.remember(r, &o);
                    return Ok(o);
                }
            }
        }
        self.owner_in_every_region(resource).await
    }

    async fn describe_stack(&self, stack: &str) -> PortResult<Option<StackSummary>> {
        self.catalog_for_stack(stack)?.describe_stack(stack).await
    }

    /// The home region's stacks (the sweep's scope).
    async fn list_stacks(&self) -> PortResult<Vec<StackSummary>> {
        match self.regions.first() {
            Some((_, c)) => c.list_stacks().await,
            None => Ok(Vec::new()),
        }
    }

    async fn list_stack_resources(&self, stack: &str) -> PortResult<Vec<StackResourceSummary>> {
        self.catalog_for_stack(stack)?
            .list_stack_resources(stack)
            .await
    }
}

/// [`DriftDetector`] routed to the region the [`MultiRegionCatalog`] found the
/// stack in (home region otherwise).
#[derive(Debug)]
pub struct MultiRegionDriftDetector {
    catalog: Arc<MultiRegionCatalog>,
    /// Home region first.
    detectors: Vec<(String, CfnDriftDetector)>,
}

impl MultiRegionDriftDetector {
    pub fn new(
        catalog: Arc<MultiRegionCatalog>,
        detectors: Vec<(String, CfnDriftDetector)>,
    ) -> Self {
        Self { catalog, detectors }
    }
}

#[async_trait]
impl DriftDetector for MultiRegionDriftDetector {
    async fn detect_resource_drift(&self, stack: &str, logical_id: &str) -> PortResult<Drift> {
        let region = self.catalog.region_of_stack(stack);
        let detector = self
            .detectors
            .iter()
            .find(|(r, _)| region.as_deref().is_none_or(|want| want == r))
            .map(|(_, d)| d)
            .ok_or_else(|| PortError::Unsupported {
                service: SERVICE,
                operation: "DetectStackResourceDrift",
                message: "no watched region".into(),
            })?;
        detector.detect_resource_drift(stack, logical_id).await
    }
}

/// [`DriftDetector`] over `DetectStackResourceDrift`.
#[derive(Debug, Clone)]
pub struct CfnDriftDetector {
    client: Client,
}

impl CfnDriftDetector {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// A property value as CloudFormation reports it (JSON text), as JSON when it parses.
fn json_or_string(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|_| serde_json::Value::String(s.to_string()))
}

/// A `PropertyDifference` value, typed as the resource document has it.
///
/// `ExpectedValue`/`ActualValue` are strings ("The actual property value of the
/// resource property.", aws-sdk-cloudformation 1.136 `PropertyDifference`), while
/// `ExpectedProperties`/`ActualProperties` are "a JSON structure".
/// Objects and arrays are parsed; a scalar is a number or boolean only when the
/// document has that very value, typed, at the difference's path: otherwise a
/// string such as `"true"` or `"42"` stays a string, so a Cloud Control `test`
/// op compares it as what it is.
fn difference_value(
    raw: &str,
    document: Option<&serde_json::Value>,
    path: &str,
) -> serde_json::Value {
    use serde_json::Value;
    let typed_in_document = |v: &Value| document.and_then(|d| d.pointer(path)) == Some(v);
    match serde_json::from_str::<Value>(raw) {
        Ok(v) if v.is_object() || v.is_array() => v,
        // The document's typed scalar, when it is this very value.
        Ok(v @ (Value::Number(_) | Value::Bool(_))) if typed_in_document(&v) => v,
        _ => Value::String(raw.to_string()),
    }
}

/// CloudFormation's drift record → [`Drift`].
pub fn drift_from_sdk(d: &aws_sdk_cloudformation::types::StackResourceDrift) -> Drift {
    let expected_properties = d.expected_properties().map(json_or_string);
    let actual_properties = d.actual_properties().map(json_or_string);
    Drift {
        status: d
            .stack_resource_drift_status()
            .map(|s| DriftStatus::parse(s.as_str()))
            .unwrap_or(DriftStatus::Unknown),
        differences: d
            .property_differences()
            .iter()
            .map(|p| {
                let path = p.property_path().unwrap_or_default();
                PropertyDifference {
                    path: path.to_string(),
                    expected: p
                        .expected_value()
                        .map(|v| difference_value(v, expected_properties.as_ref(), path)),
                    actual: p
                        .actual_value()
                        .map(|v| difference_value(v, actual_properties.as_ref(), path)),
                    kind: p
                        .difference_type()
                        .map(|k| DifferenceKind::parse(k.as_str()))
                        .unwrap_or(DifferenceKind::NotEqual),
                }
            })
            .collect(),
        expected_properties,
        actual_properties,
        origin: DriftOrigin::Cloudformation,
        detected_at: d.timestamp().and_then(super::to_chrono),
    }
}

#[async_trait]
impl DriftDetector for CfnDriftDetector {
    async fn detect_resource_drift(&self, stack: &str, logical_id: &str) -> PortResult<Drift> {
        let out = self
            .client
            .detect_stack_resource_drift()
            .stack_name(stack)
            .logical_resource_id(logical_id)
            .send()
            .await
            .map_err(
                |err| match map_sdk_error(SERVICE, "DetectStackResourceDrift", err) {
                    // "Drift detection is not supported for resource type ..." and the like.
                    PortError::Failed { message, .. }
                        if message.to_ascii_lowercase().contains("not supported") =>
                    {
                        PortError::Unsupported {
                            service: SERVICE,
                            operation: "DetectStackResourceDrift",
                            message,
                        }
                    }
                    other => other,
                },
            )?;
        let drift = out
            .stack_resource_drift()
            .ok_or_else(|| PortError::Failed {
                service: SERVICE,
                operation: "DetectStackResourceDrift",
                message: format!("no drift record returned for {stack}/{logical_id}"),
            })?;
        unsupported_status(drift, stack, logical_id)?;
        Ok(drift_from_sdk(drift))
    }
}

/// `UNSUPPORTED` (a `StackResourceDriftStatus` value: aws-sdk-cloudformation 1.136
/// lists "DELETED", "IN_SYNC", "MODIFIED", "NOT_CHECKED", "UNKNOWN", "UNSUPPORTED")
/// is its own outcome, the port's `Unsupported`, carrying `DriftStatusReason` ("The
/// reason for the drift status."): nothing was checked, so it must neither read as
/// in sync nor as an unknown that happens to be reported NOT_APPLICABLE.
/// `UNKNOWN` ("CloudFormation could not run drift detection for the resource. See
/// the DriftStatusReason for details.") stays a `Drift` and its reason is logged.
fn unsupported_status(
    drift: &aws_sdk_cloudformation::types::StackResourceDrift,
    stack: &str,
    logical_id: &str,
) -> PortResult<()> {
    use aws_sdk_cloudformation::types::StackResourceDriftStatus as S;
    let reason = drift.drift_status_reason().unwrap_or("no reason given");
    match drift.stack_resource_drift_status() {
        Some(S::Unsupported) => Err(PortError::Unsupported {
            service: SERVICE,
            operation: "DetectStackResourceDrift",
            message: format!("UNSUPPORTED for {stack}/{logical_id}: {reason}"),
        }),
        Some(S::UnknownValue) => {
            tracing::info!(
                stack,
                logical_id,
                reason,
                "drift detection reported UNKNOWN"
            );
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_cloudformation::operation::describe_stack_resources::{
        DescribeStackResourcesError, DescribeStackResourcesOutput,
    };
    use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
    use aws_sdk_cloudformation::operation::detect_stack_resource_drift::{
        DetectStackResourceDriftError, DetectStackResourceDriftOutput,
    };
    use aws_sdk_cloudformation::operation::list_stack_resources::{
        ListStackResourcesError, ListStackResourcesOutput,
    };
    use aws_sdk_cloudformation::operation::list_stacks::ListStacksOutput;
    use aws_sdk_cloudformation::types::{
        DifferenceType, PropertyDifference as SdkDifference, Stack, StackResource,
        StackResourceDrift, StackResourceDriftStatus, StackResourceSummary as SdkResourceSummary,
        StackStatus, StackSummary as SdkStackSummary, Tag,
    };
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;

    const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1";

    fn describe_stacks_rule(status: StackStatus) -> aws_smithy_mocks::Rule {
        mock!(Client::describe_stacks).then_output(move || {
            DescribeStacksOutput::builder()
                .stacks(
                    Stack::builder()
                        .stack_id(STACK_ID)
                        .stack_name("app")
                        .stack_status(status.clone())
                        .tags(Tag::builder().key("team").value("payments").build())
                        .build(),
                )
                .build()
        })
    }

    fn validation_error(message: &str) -> DescribeStackResourcesError {
        DescribeStackResourcesError::generic(
            ErrorMetadata::builder()
                .code("ValidationError")
                .message(message)
                .build(),
        )
    }

    #[tokio::test]
    async fn reverse_lookup_finds_the_owner_and_caches_it() {
        // DescribeStackResources by PhysicalResourceId answers with the owning stack's
        // resources: "You must specify either StackName or PhysicalResourceId, but not
        // both" and "Only the first 100 resources will be returned. If your stack has
        // more resources than this, you should use ListStackResources instead."
        // (aws-sdk-cloudformation 1.136, DescribeStackResources;
        // https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResources.html)
        let lookup = mock!(Client::describe_stack_resources)
            .match_requests(|r| r.physical_resource_id() == Some("sg-0abc"))
            .then_output(|| {
                DescribeStackResourcesOutput::builder()
                    .stack_resources(
                        StackResource::builder()
                            .stack_id(STACK_ID)
                            .stack_name("app")
                            .logical_resource_id("WebSG")
                            .physical_resource_id("sg-0abc")
                            .resource_type("AWS::EC2::SecurityGroup")
                            .build(),
                    )
                    .build()
            });
        let stacks = describe_stacks_rule(StackStatus::UpdateComplete);
        let client = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            [&lookup, &stacks]
        );
        let catalog = CfnStackCatalog::new(client);
        let resource = ResourceRef::new("AWS::EC2::SecurityGroup", "sg-0abc");
        for _ in 0..2 {
            let Ownership::Managed(m) = catalog.owner_of(&resource).await.unwrap() else {
                panic!("expected managed");
            };
            assert_eq!(m.stack_name, "app");
            assert_eq!(m.logical_id, "WebSG");
            assert_eq!(m.stack_status, "UPDATE_COMPLETE");
            assert_eq!(
                m.stack_tags.get("team").map(String::as_str),
                Some("payments")
            );
        }
        assert_eq!(lookup.num_calls(), 1, "second lookup served from the cache");
        assert_eq!(
            stacks.num_calls(),
            2,
            "stack status is read fresh every time"
        );
    }

    const BIG_STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/big/2";

    fn big_stack_resource(i: usize) -> StackResource {
        StackResource::builder()
            .stack_id(BIG_STACK_ID)
            .stack_name("big")
            .logical_resource_id(format!("Queue{i}"))
            .physical_resource_id(format!("big-queue-{i}"))
            .resource_type("AWS::SQS::Queue")
            .build()
    }

    fn big_summary(i: usize) -> SdkResourceSummary {
        SdkResourceSummary::builder()
            .logical_resource_id(format!("Queue{i}"))
            .physical_resource_id(format!("big-queue-{i}"))
            .resource_type("AWS::SQS::Queue")
            .build()
    }

    #[tokio::test]
    async fn resource_130_of_a_150_resource_stack_is_found_by_paging_list_stack_resources() {
        // "If PhysicalResourceId is specified, the associated resources of the stack
        // that the resource belongs to are returned." / "Only the first 100 resources
        // will be returned. If your stack has more resources than this, you should use
        // ListStackResources instead." (aws-sdk-cloudformation 1.136
        // DescribeStackResources; https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResources.html)
        // So the lookup of #130 answers resources #1..#100 of its stack, not #130.
        let lookup = mock!(Client::describe_stack_resources)
            .match_requests(|r| r.physical_resource_id() == Some("big-queue-130"))
            .then_output(|| {
                DescribeStackResourcesOutput::builder()
                    .set_stack_resources(Some((1..=100).map(big_stack_resource).collect()))
                    .build()
            });
        // ListStackResources: "Returns descriptions of all resources of the specified
        // stack", NextToken: "If the output exceeds 1 MB, a string that identifies the
        // next page of stack resources. If no additional page exists, this value is
        // null." (same SDK; https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListStackResources.html)
        let page1 = mock!(Client::list_stack_resources)
            .match_requests(|r| r.stack_name() == Some(BIG_STACK_ID) && r.next_token().is_none())
            .then_output(|| {
                ListStackResourcesOutput::builder()
                    .set_stack_resource_summaries(Some((1..=100).map(big_summary).collect()))
                    .next_token("page-2")
                    .build()
            });
        let page2 = mock!(Client::list_stack_resources)
            .match_requests(|r| r.next_token() == Some("page-2"))
            .then_output(|| {
                ListStackResourcesOutput::builder()
                    .set_stack_resource_summaries(Some((101..=150).map(big_summary).collect()))
                    .build()
            });
        let stacks = mock!(Client::describe_stacks)
            .match_requests(|r| r.stack_name() == Some(BIG_STACK_ID))
            .then_output(|| {
                DescribeStacksOutput::builder()
                    .stacks(
                        Stack::builder()
                            .stack_id(BIG_STACK_ID)
                            .stack_name("big")
                            .stack_status(StackStatus::UpdateComplete)
                            .build(),
                    )
                    .build()
            });
        let client = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            [&lookup, &page1, &page2, &stacks]
        );
        let catalog = CfnStackCatalog::new(client);
        let o = catalog
            .owner_of(&ResourceRef::new("AWS::SQS::Queue", "big-queue-130"))
            .await
            .unwrap();
        let m = o.membership().expect("managed, not unmanaged");
        assert_eq!(
            (m.stack_name.as_str(), m.logical_id.as_str()),
            ("big", "Queue130")
        );
        assert_eq!(m.nested, None);
        assert_eq!((page1.num_calls(), page2.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn owner_named_but_resource_not_listed_is_unknown_not_unmanaged() {
        let lookup = mock!(Client::describe_stack_resources).then_output(|| {
            DescribeStackResourcesOutput::builder()
                .set_stack_resources(Some((1..=100).map(big_stack_resource).collect()))
                .build()
        });
        let list = mock!(Client::list_stack_resources).then_output(|| {
            ListStackResourcesOutput::builder()
                .set_stack_resource_summaries(Some((1..=100).map(big_summary).collect()))
                .build()
        });
        let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&lookup, &list]);
        let catalog = CfnStackCatalog::new(client);
        let resource = ResourceRef::new("AWS::SQS::Queue", "big-queue-999");
        let o = catalog.owner_of(&resource).await.unwrap();
        assert!(matches!(o, Ownership::Unknown { .. }), "{o:?}");
        catalog.owner_of(&resource).await.unwrap();
        assert_eq!(
            lookup.num_calls(),
            2,
            "an inconclusive answer is not cached"
        );
    }

    #[tokio::test]
    async fn resource_of_a_nested_stack_resolves_to_the_nested_stack_and_says_so() {
        // The reverse lookup answers "the stack that the resource belongs to" (see
        // above): for a resource declared in a nested stack's template, that is the
        // nested stack. DescribeStacks of it carries ParentId ("For nested stacks, the
        // stack ID of the direct parent of this stack") and RootId ("the stack ID of
        // the top-level stack to which the nested stack ultimately belongs")
        // (aws-sdk-cloudformation 1.136 Stack; https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Stack.html).
        const NESTED: &str =
            "arn:aws:cloudformation:us-east-1:123456789012:stack/app-NetworkStack-1AB/3";
        const PARENT: &str = STACK_ID;
        let lookup = mock!(Client::describe_stack_resources).then_output(|| {
            DescribeStackResourcesOutput::builder()
                .stack_resources(
                    StackResource::builder()
                        .stack_id(NESTED)
                        .stack_name("app-NetworkStack-1AB")
                        .logical_resource_id("WebSG")
                        .physical_resource_id("sg-0nested")
                        .resource_type("AWS::EC2::SecurityGroup")
                        .build(),
                )
                .build()
        });
        let stacks = mock!(Client::describe_stacks)
            .match_requests(|r| r.stack_name() == Some(NESTED))
            .then_output(|| {
                DescribeStacksOutput::builder()
                    .stacks(
                        Stack::builder()
                            .stack_id(NESTED)
                            .stack_name("app-NetworkStack-1AB")
                            .stack_status(StackStatus::UpdateComplete)
                            .parent_id(PARENT)
                            .root_id(PARENT)
                            .build(),
                    )
                    .build()
            });
        let client = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            [&lookup, &stacks]
        );
        let catalog = CfnStackCatalog::new(client);
        let o = catalog
            .owner_of(&ResourceRef::new("AWS::EC2::SecurityGroup", "sg-0nested"))
            .await
            .unwrap();
        let m = o.membership().unwrap();
        assert_eq!(m.stack_id, NESTED, "the nested stack, never the parent");
        assert_eq!(m.logical_id, "WebSG");
        assert_eq!(
            m.nested,
            Some(NestedStack {
                parent_id: PARENT.to_string(),
                root_id: Some(PARENT.to_string()),
            })
        );
    }

    const EU_STACK: &str = "arn:aws:cloudformation:eu-west-1:123456789012:stack/iam-eu/9";

    /// A region's CloudFormation: owns `owned` (stack iam-eu) or owns nothing; any
    /// other physical id (the role's ARN) is "Stack for <id> does not exist".
    fn region_client(owned: Option<&'static str>) -> (Client, aws_smithy_mocks::Rule) {
        let other = mock!(Client::describe_stack_resources)
            .match_requests(|r| {
                r.physical_resource_id()
                    .is_some_and(|p| p.starts_with("arn:"))
            })
            .then_error(|| {
                validation_error(
                    "Stack for arn:aws:iam::123456789012:role/eu-app-AppRole-1 does not exist",
                )
            });
        let lookup = match owned {
            Some(role) => mock!(Client::describe_stack_resources)
                .match_requests(move |r| r.physical_resource_id() == Some(role))
                .then_output(move || {
                    DescribeStackResourcesOutput::builder()
                        .stack_resources(
                            StackResource::builder()
                                .stack_id(EU_STACK)
                                .stack_name("iam-eu")
                                .logical_resource_id("AppRole")
                                .physical_resource_id(role)
                                .resource_type("AWS::IAM::Role")
                                .build(),
                        )
                        .build()
                }),
            None => mock!(Client::describe_stack_resources)
                .then_error(|| validation_error("Stack for eu-app-AppRole-1 does not exist")),
        };
        let stacks = mock!(Client::describe_stacks).then_output(|| {
            DescribeStacksOutput::builder()
                .stacks(
                    Stack::builder()
                        .stack_id(EU_STACK)
                        .stack_name("iam-eu")
                        .stack_status(StackStatus::UpdateComplete)
                        .build(),
                )
                .build()
        });
        let client = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            [&other, &lookup, &stacks]
        );
        (client, lookup)
    }

    fn iam_with_tags(tags: Vec<(&'static str, &'static str)>) -> aws_sdk_iam::Client {
        use aws_sdk_iam::operation::list_role_tags::ListRoleTagsOutput;
        let rule = mock!(aws_sdk_iam::Client::list_role_tags).then_output(move || {
            ListRoleTagsOutput::builder()
                .set_tags(Some(
                    tags.iter()
                        .map(|(k, v)| {
                            aws_sdk_iam::types::Tag::builder()
                                .key(*k)
                                .value(*v)
                                .build()
                                .unwrap()
                        })
                        .collect(),
                ))
                .build()
                .unwrap()
        });
        mock_client!(aws_sdk_iam, [&rule])
    }

    #[tokio::test]
    async fn an_iam_role_in_a_stack_in_another_region_is_found_from_us_east_1() {
        // The event arrives in us-east-1 (see MultiRegionCatalog); the role's stack is
        // in eu-west-1. With the stack-id tag: straight there, us-east-1 not asked.
        let role = ResourceRef::new(
            "AWS::IAM::Role",
            "arn:aws:iam::123456789012:role/eu-app-AppRole-1",
        );
        for tagged in [true, false] {
            let (home, home_lookup) = region_client(None);
            let (eu, eu_lookup) = region_client(Some("eu-app-AppRole-1"));
            let tags = if tagged {
                vec![(STACK_ID_TAG, EU_STACK)]
            } else {
                vec![]
            };
            let catalog = Arc::new(MultiRegionCatalog::new(
                vec![
                    ("us-east-1".into(), CfnStackCatalog::new(home)),
                    ("eu-west-1".into(), CfnStackCatalog::new(eu.clone())),
                ],
                Some(iam_with_tags(tags)),
            ));
            let o = catalog.owner_of(&role).await.unwrap();
            let m = o.membership().expect("managed by the eu-west-1 stack");
            assert_eq!(
                (m.stack_id.as_str(), m.logical_id.as_str()),
                (EU_STACK, "AppRole")
            );
            assert_eq!(
                home_lookup.num_calls() == 0,
                tagged,
                "tagged: home not asked"
            );
            assert!(eu_lookup.num_calls() >= 1);
            assert_eq!(
                catalog.region_of_stack("iam-eu").as_deref(),
                Some("eu-west-1")
            );
        }
        // A regional resource is looked up at home only.
        let sg_missing = || {
            mock!(Client::describe_stack_resources)
                .then_error(|| validation_error("Stack for sg-0zzz does not exist"))
        };
        let (home_lookup, eu_lookup) = (sg_missing(), sg_missing());
        let home = mock_client!(aws_sdk_cloudformation, [&home_lookup]);
        let eu = mock_client!(aws_sdk_cloudformation, [&eu_lookup]);
        let catalog = MultiRegionCatalog::new(
            vec![
                ("us-east-1".into(), CfnStackCatalog::new(home)),
                ("eu-west-1".into(), CfnStackCatalog::new(eu)),
            ],
            None,
        );
        let sg = ResourceRef::new("AWS::EC2::SecurityGroup", "sg-0zzz");
        assert_eq!(catalog.owner_of(&sg).await.unwrap(), Ownership::Unmanaged);
        assert_eq!((home_lookup.num_calls(), eu_lookup.num_calls()), (1, 0));
    }

    #[tokio::test]
    async fn drift_is_detected_in_the_region_the_stack_was_found_in() {
        let (home, _) = region_client(None);
        let (eu, _) = region_client(Some("eu-app-AppRole-1"));
        let catalog = Arc::new(MultiRegionCatalog::new(
            vec![
                ("us-east-1".into(), CfnStackCatalog::new(home)),
                ("eu-west-1".into(), CfnStackCatalog::new(eu)),
            ],
            None,
        ));
        catalog
            .owner_of(&ResourceRef::new("AWS::IAM::Role", "eu-app-AppRole-1"))
            .await
            .unwrap();
        let eu_drift = mock!(Client::detect_stack_resource_drift).then_output(|| {
            DetectStackResourceDriftOutput::builder()
                .stack_resource_drift(
                    StackResourceDrift::builder()
                        .stack_id(EU_STACK)
                        .logical_resource_id("AppRole")
                        .resource_type("AWS::IAM::Role")
                        .stack_resource_drift_status(StackResourceDriftStatus::InSync)
                        .timestamp(aws_smithy_types::DateTime::from_secs(0))
                        .build(),
                )
                .build()
        });
        let home_drift = mock!(Client::detect_stack_resource_drift)
            .then_output(|| DetectStackResourceDriftOutput::builder().build());
        let detector = MultiRegionDriftDetector::new(
            catalog,
            vec![
                (
                    "us-east-1".into(),
                    CfnDriftDetector::new(mock_client!(aws_sdk_cloudformation, [&home_drift])),
                ),
                (
                    "eu-west-1".into(),
                    CfnDriftDetector::new(mock_client!(aws_sdk_cloudformation, [&eu_drift])),
                ),
            ],
        );
        let d = detector
            .detect_resource_drift("iam-eu", "AppRole")
            .await
            .unwrap();
        assert_eq!(d.status, DriftStatus::InSync);
        assert_eq!((eu_drift.num_calls(), home_drift.num_calls()), (1, 0));
    }

    #[test]
    fn stack_name_is_read_from_the_stack_arn() {
        assert_eq!(stack_name_of(BIG_STACK_ID), "big");
        assert_eq!(stack_name_of("plain-name"), "plain-name");
    }

    #[tokio::test]
    async fn stack_for_physical_id_does_not_exist_means_unmanaged() {
        // The API reference documents no error for a physical id no stack owns.
        // CloudFormation answers unknown stacks with a 400 ValidationError (recorded
        // response in boto/boto3#2807: "<Code>ValidationError</Code> <Message>Stack
        // with id foo does not exist</Message>"); the exact text for a physical id
        // ("Stack for <id> does not exist") has no recorded response yet: a gap.
        let lookup = mock!(Client::describe_stack_resources)
            .then_error(|| validation_error("Stack for sg-0zzz does not exist"));
        let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&lookup]);
        let catalog = CfnStackCatalog::new(client);
        let o = catalog
            .owner_of(&ResourceRef::new("AWS::EC2::SecurityGroup", "sg-0zzz"))
            .await
            .unwrap();
        assert_eq!(o, Ownership::Unmanaged);
    }

    fn index_rules() -> (aws_smithy_mocks::Rule, aws_smithy_mocks::Rule) {
        let list = mock!(Client::list_stacks).then_output(|| {
            ListStacksOutput::builder()
                .stack_summaries(
                    SdkStackSummary::builder()
                        .stack_id(STACK_ID)
                        .stack_name("app")
                        .stack_status(StackStatus::CreateComplete)
                        .build(),
                )
                .stack_summaries(
                    SdkStackSummary::builder()
                        .stack_id("arn:aws:cloudformation:us-east-1:123456789012:stack/old/0")
                        .stack_name("old")
                        .stack_status(StackStatus::DeleteComplete)
                        .build(),
                )
                .build()
        });
        let resources = mock!(Client::list_stack_resources)
            .match_requests(|r| r.stack_name() == Some(STACK_ID))
            .then_output(|| {
                ListStackResourcesOutput::builder()
                    .stack_resource_summaries(
                        SdkResourceSummary::builder()
                            .logical_resource_id("AppRole")
                            .physical_resource_id("app-AppRole-XYZ")
                            .resource_type("AWS::IAM::Role")
                            .build(),
                    )
                    .stack_resource_summaries(
                        SdkResourceSummary::builder()
                            .logical_resource_id("Skipped")
                            .build(),
                    )
                    .build()
            });
        (list, resources)
    }

    #[tokio::test]
    async fn throttled_reverse_lookup_falls_back_to_the_index_and_resolves_arns() {
        let lookup = mock!(Client::describe_stack_resources).then_error(|| {
            DescribeStackResourcesError::generic(
                ErrorMetadata::builder()
                    .code("Throttling")
                    .message("Rate exceeded")
                    .build(),
            )
        });
        let (list, resources) = index_rules();
        let stacks = describe_stacks_rule(StackStatus::CreateComplete);
        let client = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            [&lookup, &list, &resources, &stacks]
        );
        let catalog = CfnStackCatalog::new(client);
        // CloudTrail names the role by ARN; CloudFormation by name.
        let role = ResourceRef::new(
            "AWS::IAM::Role",
            "arn:aws:iam::123456789012:role/app-AppRole-XYZ",
        );
        let Ownership::Managed(m) = catalog.owner_of(&role).await.unwrap() else {
            panic!("expected managed via the index");
        };
        assert_eq!(
            (m.stack_name.as_str(), m.logical_id.as_str()),
            ("app", "AppRole")
        );
        // Not in the index: proven unmanaged (the index lists every live stack).
        let other = ResourceRef::new("AWS::IAM::Role", "someone-elses-role");
        assert_eq!(
            catalog.owner_of(&other).await.unwrap(),
            Ownership::Unmanaged
        );
        assert_eq!(list.num_calls(), 1, "index built once and cached");
    }

    /// Three stacks; the listing of the second is throttled once.
    fn interrupted_index_rules() -> (
        aws_smithy_mocks::Rule,
        aws_smithy_mocks::Rule,
        aws_smithy_mocks::Rule,
    ) {
        let list = mock!(Client::list_stacks).then_output(|| {
            let mut out = ListStacksOutput::builder();
            for n in 1..=3 {
                out = out.stack_summaries(
                    SdkStackSummary::builder()
                        .stack_id(format!(
                            "arn:aws:cloudformation:us-east-1:123456789012:stack/s{n}/0"
                        ))
                        .stack_name(format!("s{n}"))
                        .stack_status(StackStatus::CreateComplete)
                        .build(),
                );
            }
            out.build()
        });
        let listing = |n: u32| {
            ListStackResourcesOutput::builder()
                .stack_resource_summaries(
                    SdkResourceSummary::builder()
                        .logical_resource_id("Group")
                        .physical_resource_id(format!("sg-{n}"))
                        .resource_type("AWS::EC2::SecurityGroup")
                        .build(),
                )
                .build()
        };
        let second = mock!(Client::list_stack_resources)
            .match_requests(|r| r.stack_name().is_some_and(|s| s.contains("stack/s2/")))
            .sequence()
            .error(|| {
                ListStackResourcesError::generic(
                    ErrorMetadata::builder()
                        .code("Throttling")
                        .message("Rate exceeded")
                        .build(),
                )
            })
            .output(move || listing(2))
            .build();
        let others = mock!(Client::list_stack_resources)
            .match_requests(|r| r.stack_name().is_some_and(|s| !s.contains("stack/s2/")))
            .then_output(move || listing(1));
        (list, second, others)
    }

    #[tokio::test]
    async fn an_interrupted_index_build_resumes_with_the_calls_that_failed() {
        let (list, second, others) = interrupted_index_rules();
        // One attempt per call, as the Lambdas' SDK makes (`adapters::aws::attempts`).
        let client = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            [&list, &second, &others],
            |c| c.retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        );
        let catalog = CfnStackCatalog::new(client);
        let first = catalog.ownership_index(Duration::from_secs(300)).await;
        assert!(
            matches!(first, Err(PortError::Throttled { .. })),
            "the throttled listing fails the attempt: {first:?}"
        );
        assert_eq!(others.num_calls(), 2, "the other stacks were listed anyway");
        let index = catalog
            .ownership_index(Duration::from_secs(300))
            .await
            .unwrap();
        assert_eq!(index.stacks().len(), 3);
        assert!(index.lookup(&["sg-2".to_string()], None).is_some());
        assert_eq!(list.num_calls(), 1, "the stack list is kept");
        assert_eq!(
            second.num_calls(),
            2,
            "only the failed listing is made again"
        );
        assert_eq!(
            others.num_calls(),
            2,
            "the listed stacks are not listed again"
        );
    }

    #[tokio::test]
    async fn a_permanent_error_drops_the_interrupted_build() {
        let list = mock!(Client::list_stacks).then_output(|| {
            ListStacksOutput::builder()
                .stack_summaries(
                    SdkStackSummary::builder()
                        .stack_id(STACK_ID)
                        .stack_name("app")
                        .stack_status(StackStatus::CreateComplete)
                        .build(),
                )
                .build()
        });
        let denied = mock!(Client::list_stack_resources).then_error(|| {
            ListStackResourcesError::generic(
                ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("not authorized")
                    .build(),
            )
        });
        let client = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            [&list, &denied],
            |c| c.retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        );
        let catalog = CfnStackCatalog::new(client);
        for _ in 0..2 {
            let e = catalog.ownership_index(Duration::from_secs(300)).await;
            assert!(matches!(e, Err(PortError::Failed { .. })), "{e:?}");
        }
        assert_eq!(
            list.num_calls(),
            2,
            "a permanent error restarts the build from the stack list"
        );
    }

    #[tokio::test]
    async fn throttled_then_success_is_retried_by_the_sdk() {
        // The adapter under an SDK configured to retry (the Lambdas' SDK makes
        // one attempt: see `adapters::aws::attempts`; then a throttled reverse
        // lookup falls back to the index, as the test above shows).
        let lookup = mock!(Client::describe_stack_resources)
            .sequence()
            .http_response(|| {
                aws_smithy_runtime_api::http::Response::new(
                    aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
                    aws_smithy_types::body::SdkBody::from(
                        "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>",
                    ),
                )
            })
            .output(|| {
                DescribeStackResourcesOutput::builder()
                    .stack_resources(
                        StackResource::builder()
                            .stack_id(STACK_ID)
                            .stack_name("app")
                            .logical_resource_id("Bucket")
                            .physical_resource_id("app-bucket")
                            .resource_type("AWS::S3::Bucket")
                            .build(),
                    )
                    .build()
            })
            .build();
        let stacks = describe_stacks_rule(StackStatus::UpdateInProgress);
        let client = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            [&lookup, &stacks],
            |c| c.retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(1))
            )
        );
        let catalog = CfnStackCatalog::new(client);
        let o = catalog
            .owner_of(&ResourceRef::new("AWS::S3::Bucket", "app-bucket"))
            .await
            .unwrap();
        let m = o.membership().unwrap();
        assert_eq!(m.logical_id, "Bucket");
        assert!(m.operation_in_progress());
        assert_eq!(lookup.num_calls(), 2);
    }

    #[tokio::test]
    async fn emulator_answer_without_the_physical_id_is_not_proof_of_unmanaged() {
        // moto 5.2.5 answers the reverse lookup with "Stack with id None does not exist".
        let lookup = mock!(Client::describe_stack_resources)
            .then_error(|| validation_error("Stack with id None does not exist"));
        let (list, resources) = index_rules();
        let stacks = describe_stacks_rule(StackStatus::CreateComplete);
        let client = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            [&lookup, &list, &resources, &stacks]
        );
        let catalog = CfnStackCatalog::new(client);
        let o = catalog
            .owner_of(&ResourceRef::new("AWS::IAM::Role", "app-AppRole-XYZ"))
            .await
            .unwrap();
        assert!(matches!(o, Ownership::Managed(_)), "{o:?}");
    }

    #[tokio::test]
    async fn detect_drift_modified_with_property_differences() {
        // "This information includes actual and expected property values for resources
        // in which CloudFormation detects drift. Only resource properties explicitly
        // defined in the stack template are checked for drift." (aws-sdk-cloudformation
        // 1.136, DetectStackResourceDrift;
        // https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DetectStackResourceDrift.html)
        let rule = mock!(Client::detect_stack_resource_drift)
            .match_requests(|r| r.stack_name() == Some("app") && r.logical_resource_id() == Some("WebSG"))
            .then_output(|| {
                DetectStackResourceDriftOutput::builder()
                    .stack_resource_drift(
                        StackResourceDrift::builder()
                            .stack_id(STACK_ID)
                            .logical_resource_id("WebSG")
                            .resource_type("AWS::EC2::SecurityGroup")
                            .stack_resource_drift_status(StackResourceDriftStatus::Modified)
                            .expected_properties(r#"{"GroupDescription":"web"}"#)
                            .actual_properties(r#"{"GroupDescription":"web","SecurityGroupIngress":[{"CidrIp":"0.0.0.0/0"}]}"#)
                            .property_differences(
                                SdkDifference::builder()
                                    .property_path("/SecurityGroupIngress/0")
                                    .actual_value(r#"{"CidrIp":"0.0.0.0/0","FromPort":22}"#)
                                    .difference_type(DifferenceType::Add)
                                    .build(),
                            )
                            .timestamp(aws_smithy_types::DateTime::from_secs(1_770_000_000))
                            .build(),
                    )
                    .build()
            });
        let client = mock_client!(aws_sdk_cloudformation, [&rule]);
        let drift = CfnDriftDetector::new(client)
            .detect_resource_drift("app", "WebSG")
            .await
            .unwrap();
        assert_eq!(drift.status, DriftStatus::Modified);
        assert_eq!(drift.origin, DriftOrigin::Cloudformation);
        assert_eq!(drift.differences.len(), 1);
        assert_eq!(drift.differences[0].path, "/SecurityGroupIngress/0");
        assert_eq!(drift.differences[0].kind, DifferenceKind::Add);
        assert_eq!(
            drift.differences[0].actual.as_ref().unwrap()["FromPort"],
            22
        );
        assert!(drift.expected_properties.is_some() && drift.detected_at.is_some());
    }

    #[tokio::test]
    async fn detect_drift_unsupported_type_is_unsupported() {
        // "Resources that don't currently support drift detection can't be checked."
        // (DetectStackResourceDrift, aws-sdk-cloudformation 1.136)
        let rule = mock!(Client::detect_stack_resource_drift).then_error(|| {
            DetectStackResourceDriftError::generic(
                ErrorMetadata::builder()
                    .code("ValidationError")
                    .message(
                        "Drift detection is not supported for resource type AWS::SSM::Parameter",
                    )
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_cloudformation, [&rule]);
        let err = CfnDriftDetector::new(client)
            .detect_resource_drift("app", "Param")
            .await
            .unwrap_err();
        assert!(matches!(err, PortError::Unsupported { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn detect_drift_unsupported_status_is_unsupported_and_keeps_the_reason() {
        // StackResourceDriftStatus "UNSUPPORTED" with DriftStatusReason ("The reason for
        // the drift status.") (aws-sdk-cloudformation 1.136 StackResourceDrift;
        // https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackResourceDrift.html).
        // The reason text is ours: no recorded response with this status is at hand.
        let rule = mock!(Client::detect_stack_resource_drift).then_output(|| {
            DetectStackResourceDriftOutput::builder()
                .stack_resource_drift(
                    StackResourceDrift::builder()
                        .stack_id(STACK_ID)
                        .logical_resource_id("Param")
                        .resource_type("AWS::SSM::Parameter")
                        .stack_resource_drift_status(StackResourceDriftStatus::Unsupported)
                        .drift_status_reason("Drift detection is not supported for this resource")
                        .timestamp(aws_smithy_types::DateTime::from_secs(0))
                        .build(),
                )
                .build()
        });
        let client = mock_client!(aws_sdk_cloudformation, [&rule]);
        let err = CfnDriftDetector::new(client)
            .detect_resource_drift("app", "Param")
            .await
            .unwrap_err();
        let PortError::Unsupported { message, .. } = &err else {
            panic!("expected Unsupported, got {err:?}");
        };
        assert!(
            message.starts_with("UNSUPPORTED for app/Param"),
            "{message}"
        );
        assert!(
            message.contains("not supported for this resource"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn detect_drift_emulator_500_is_unsupported() {
        let rule = mock!(Client::detect_stack_resource_drift).then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(500).unwrap(),
                aws_smithy_types::body::SdkBody::from(
                    "<!doctype html><title>500 Internal Server Error</title>",
                ),
            )
        });
        let client = mock_client!(aws_sdk_cloudformation, [&rule]);
        let err = CfnDriftDetector::new(client)
            .detect_resource_drift("app", "WebSG")
            .await
            .unwrap_err();
        assert!(matches!(err, PortError::Unsupported { .. }), "{err:?}");
    }

    #[test]
    fn candidates_cover_names_that_differ_from_physical_ids() {
        let c = |t: &str, id: &str| physical_id_candidates(&ResourceRef::new(t, id));
        assert_eq!(
            c("AWS::IAM::Role", "arn:aws:iam::1:role/path/r1"),
            vec!["arn:aws:iam::1:role/path/r1", "r1"]
        );
        assert_eq!(
            c("AWS::S3::Bucket", "arn:aws:s3:::b1"),
            vec!["arn:aws:s3:::b1", "b1"]
        );
        assert_eq!(
            c(
                "AWS::Lambda::Function",
                "arn:aws:lambda:us-east-1:1:function:f1:live"
            )[1],
            "f1"
        );
        assert_eq!(
            c("AWS::Lambda::Function", "1:function:f1"),
            vec!["1:function:f1", "f1"]
        );
        assert_eq!(c("AWS::SSM::Parameter", "/app/p"), vec!["/app/p", "app/p"]);
        assert_eq!(
            c(
                "AWS::SSM::Parameter",
                "arn:aws:ssm:us-east-1:1:parameter/app/p"
            )[1],
            "/app/p"
        );
        assert_eq!(c("AWS::EC2::SecurityGroup", "sg-1"), vec!["sg-1"]);
        assert_eq!(
            c("AWS::SQS::Queue", "arn:aws:sqs:us-east-1:1:q")[1],
            "https://sqs.us-east-1.amazonaws.com/1/q"
        );
        assert!(physical_id_candidates(&ResourceRef::unresolved()).is_empty());
    }
}

#[cfg(test)]
mod difference_value_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_cloudformation::types::{
        DifferenceType, PropertyDifference as SdkDifference, StackResourceDrift,
        StackResourceDriftStatus,
    };
    use serde_json::json;

    fn record(expected: &str, actual: &str, docs: Option<(&str, &str)>) -> StackResourceDrift {
        let mut b = StackResourceDrift::builder()
            .stack_id("arn:aws:cloudformation:us-east-1:123456789012:stack/app/1")
            .logical_resource_id("Queue")
            .resource_type("AWS::SQS::Queue")
            .stack_resource_drift_status(StackResourceDriftStatus::Modified)
            .timestamp(aws_smithy_types::DateTime::from_secs(0))
            .property_differences(
                SdkDifference::builder()
                    .property_path("/VisibilityTimeout")
                    .expected_value(expected)
                    .actual_value(actual)
                    .difference_type(DifferenceType::NotEqual)
                    .build(),
            );
        if let Some((e, a)) = docs {
            b = b.expected_properties(e).actual_properties(a);
        }
        b.build()
    }

    #[test]
    fn scalar_strings_are_not_coerced_without_a_typed_document() {
        let d = drift_from_sdk(&record("true", "42", None));
        assert_eq!(d.differences[0].expected, Some(json!("true")));
        assert_eq!(d.differences[0].actual, Some(json!("42")));
    }

    #[test]
    fn the_properties_document_types_the_value_at_its_path() {
        let d = drift_from_sdk(&record(
            "30",
            "45",
            Some((r#"{"VisibilityTimeout":30}"#, r#"{"VisibilityTimeout":45}"#)),
        ));
        assert_eq!(d.differences[0].expected, Some(json!(30)));
        assert_eq!(d.differences[0].actual, Some(json!(45)));
    }
}
