//! In-memory [`StackCatalog`], [`DriftDetector`] and [`ActorLookup`] for unit
//! tests and the offline replay. Answers are set up front; calls are counted.
use crate::sync::lock;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ports::{
    ActorLookup, DriftDetector, IdentifiedCall, IdentifiedOwner, StackCatalog,
    StackResourceSummary, StackSummary,
};
use driftguard_model::domain::{Drift, Identity, Ownership, ResourceRef, StackMembership};
use driftguard_model::error::{PortError, PortResult};
use driftguard_model::sources::identifiers::{ambiguous_reason, owner_label, pick, Pick};

/// Stacks and their resources. A physical id not registered is `Unmanaged`,
/// unless an error was set for it with [`MemoryStackCatalog::fail_owner_of`].
#[derive(Debug, Default)]
pub struct MemoryStackCatalog {
    stacks: Mutex<BTreeMap<String, StackSummary>>,
    resources: Mutex<BTreeMap<String, Vec<StackResourceSummary>>>,
    failures: Mutex<HashMap<String, PortError>>,
    pub owner_calls: AtomicUsize,
    /// `owner_of_identifiers` calls.
    pub identifier_calls: AtomicUsize,
}

impl MemoryStackCatalog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add (or replace) a stack.
    pub fn add_stack(&self, name: &str, status: &str) {
        lock(&self.stacks).insert(
            name.to_string(),
            StackSummary {
                stack_id: format!("arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/0"),
                stack_name: name.to_string(),
                status: status.to_string(),
                tags: BTreeMap::new(),
            },
        );
    }

    /// Add a stack whose id names `account` and `region` (member accounts).
    pub fn add_stack_in(&self, name: &str, status: &str, account: &str, region: &str) {
        lock(&self.stacks).insert(
            name.to_string(),
            StackSummary {
                stack_id: format!("arn:aws:cloudformation:{region}:{account}:stack/{name}/0"),
                stack_name: name.to_string(),
                status: status.to_string(),
                tags: BTreeMap::new(),
            },
        );
    }

    pub fn set_stack_status(&self, name: &str, status: &str) {
        if let Some(s) = lock(&self.stacks).get_mut(name) {
            s.status = status.to_string();
        }
    }

    /// Register a resource of a stack (the stack must have been added).
    pub fn add_resource(
        &self,
        stack: &str,
        logical_id: &str,
        resource_type: &str,
        physical_id: &str,
    ) {
        lock(&self.resources)
            .entry(stack.to_string())
            .or_default()
            .push(StackResourceSummary {
                logical_id: logical_id.to_string(),
                physical_id: Some(physical_id.to_string()),
                resource_type: Some(resource_type.to_string()),
                status: Some("CREATE_COMPLETE".into()),
            });
    }

    /// Make `owner_of` fail for this physical id.
    pub fn fail_owner_of(&self, physical_id: &str, error: PortError) {
        lock(&self.failures).insert(physical_id.to_string(), error);
    }
}

#[async_trait]
impl StackCatalog for MemoryStackCatalog {
    async fn owner_of(&self, resource: &ResourceRef) -> PortResult<Ownership> {
        self.owner_calls.fetch_add(1, Ordering::SeqCst);
        let Some(pid) = resource.physical_id.as_deref().filter(|p| !p.is_empty()) else {
            return Ok(Ownership::Unknown {
                reason: "the event does not identify the resource".into(),
            });
        };
        if let Some(e) = lock(&self.failures).get(pid) {
            return Err(e.clone());
        }
        let resources = lock(&self.resources);
        let stacks = lock(&self.stacks);
        for (stack_name, list) in resources.iter() {
            if let Some(r) = list.iter().find(|r| r.physical_id.as_deref() == Some(pid)) {
                let Some(stack) = stacks.get(stack_name) else {
                    continue;
                };
                return Ok(Ownership::Managed(StackMembership {
                    stack_id: stack.stack_id.clone(),
                    stack_name: stack.stack_name.clone(),
                    logical_id: r.logical_id.clone(),
                    resource_type: r.resource_type.clone(),
                    stack_status: stack.status.clone(),
                    stack_tags: stack.tags.clone(),
                    nested: None,
                }));
            }
        }
        Ok(Ownership::Unmanaged)
    }

    /// As the AWS catalog's, over the registered resources: every (identifier,
    /// owner) pair in the identifiers' order, picked by the model's rule.
    async fn owner_of_identifiers(&self, call: &IdentifiedCall<'_>) -> PortResult<IdentifiedOwner> {
        self.identifier_calls.fetch_add(1, Ordering::SeqCst);
        let owners: Vec<(String, StackMembership)> = {
            let resources = lock(&self.resources);
            let stacks = lock(&self.stacks);
            call.identifiers
                .iter()
                .flat_map(|id| {
                    resources.iter().flat_map(move |(stack_name, list)| {
                        list.iter()
                            .filter(move |r| r.physical_id.as_deref() == Some(id.as_str()))
                            .map(move |r| (id, stack_name, r))
                    })
                })
                .filter_map(|(id, stack_name, r)| {
                    let stack = stacks.get(stack_name)?;
                    Some((
                        id.clone(),
                        StackMembership {
                            stack_id: stack.stack_id.clone(),
                            stack_name: stack.stack_name.clone(),
                            logical_id: r.logical_id.clone(),
                            resource_type: r.resource_type.clone(),
                            stack_status: stack.status.clone(),
                            stack_tags: stack.tags.clone(),
                            nested: None,
                        },
                    ))
                })
                .collect()
        };
        let picked = pick(
            call.service,
            call.operation,
            &owners,
            |(id, _)| id.as_str(),
            |(_, m)| m.resource_type.as_deref(),
        );
        Ok(match picked {
            Pick::One((id, m)) => IdentifiedOwner {
                ownership: Ownership::Managed(m),
                identifier: Some(id),
            },
            Pick::Nothing => IdentifiedOwner {
                ownership: Ownership::Unmanaged,
                identifier: None,
            },
            Pick::Ambiguous(many) => IdentifiedOwner {
                ownership: Ownership::Unknown {
                    reason: ambiguous_reason(
                        many.first().map_or("", |(id, _)| id.as_str()),
                        &many
                            .iter()
                            .map(|(_, m)| {
                                owner_label(
                                    &m.stack_name,
                                    &m.logical_id,
                                    m.resource_type.as_deref(),
                                )
                            })
                            .collect::<Vec<_>>(),
                    ),
                },
                identifier: None,
            },
        })
    }

    async fn describe_stack(&self, stack: &str) -> PortResult<Option<StackSummary>> {
        Ok(lock(&self.stacks)
            .values()
            .find(|s| s.stack_name == stack || s.stack_id == stack)
            .cloned())
    }

    async fn list_stacks(&self) -> PortResult<Vec<StackSummary>> {
        Ok(lock(&self.stacks).values().cloned().collect())
    }

    async fn list_stack_resources(&self, stack: &str) -> PortResult<Vec<StackResourceSummary>> {
        let name = lock(&self.stacks)
            .values()
            .find(|s| s.stack_name == stack || s.stack_id == stack)
            .map(|s| s.stack_name.clone());
        Ok(name
            .and_then(|n| lock(&self.resources).get(&n).cloned())
            .unwrap_or_default())
    }
}

/// Drift answers per (stack, logical id); unset ones are `Unsupported`, like
/// an emulator without drift detection.
#[derive(Debug, Default)]
pub struct MemoryDriftDetector {
    answers: Mutex<HashMap<(String, String), PortResult<Drift>>>,
    pub calls: AtomicUsize,
}

impl MemoryDriftDetector {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&self, stack: &str, logical_id: &str, answer: PortResult<Drift>) {
        lock(&self.answers).insert((stack.to_string(), logical_id.to_string()), answer);
    }
}

#[async_trait]
impl DriftDetector for MemoryDriftDetector {
    async fn detect_resource_drift(&self, stack: &str, logical_id: &str) -> PortResult<Drift> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        lock(&self.answers)
            .get(&(stack.to_string(), logical_id.to_string()))
            .cloned()
            .unwrap_or_else(|| {
                Err(PortError::Unsupported {
                    service: "cloudformation",
                    operation: "DetectStackResourceDrift",
                    message: "no drift answer configured".into(),
                })
            })
    }
}

/// Identities per physical id.
#[derive(Debug, Default)]
pub struct MemoryActorLookup {
    identities: Mutex<HashMap<String, PortResult<Option<Identity>>>>,
    pub calls: AtomicUsize,
}

impl MemoryActorLookup {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&self, physical_id: &str, answer: PortResult<Option<Identity>>) {
        lock(&self.identities).insert(physical_id.to_string(), answer);
    }
}

#[async_trait]
impl ActorLookup for MemoryActorLookup {
    async fn find_identity(
        &self,
        resource: &ResourceRef,
        _around: DateTime<Utc>,
    ) -> PortResult<Option<Identity>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let key = resource.physical_id.clone().unwrap_or_default();
        lock(&self.identities)
            .get(&key)
            .cloned()
            .unwrap_or(Ok(None))
    }
}
