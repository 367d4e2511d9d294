//! An in-memory `PropertyReadBack`: answers set per physical id.
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::ports::{PropertyCheck, PropertyReadBack};
use driftguard_model::domain::{PropertyDifference, ResourceRef};
use driftguard_model::error::PortResult;

#[derive(Debug, Default)]
pub struct MemoryReadBack {
    answers: Mutex<HashMap<String, PortResult<Option<PropertyCheck>>>>,
    pub calls: AtomicUsize,
}

impl MemoryReadBack {
    pub fn new() -> Self {
        Self::default()
    }

    /// What reading `physical_id` back answers; unset ids answer `Ok(None)`.
    pub fn set(&self, physical_id: &str, answer: PortResult<Option<PropertyCheck>>) {
        lock(&self.answers).insert(physical_id.to_string(), answer);
    }
}

#[async_trait]
impl PropertyReadBack for MemoryReadBack {
    async fn check(
        &self,
        resource: &ResourceRef,
        _differences: &[PropertyDifference],
    ) -> PortResult<Option<PropertyCheck>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let id = resource.physical_id.clone().unwrap_or_default();
        lock(&self.answers).get(&id).cloned().unwrap_or(Ok(None))
    }
}
