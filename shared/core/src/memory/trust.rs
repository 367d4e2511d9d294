//! In-memory [`RoleTrust`]: trust policies by role ARN, and how many
//! look-ups were made.
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use driftguard_model::error::PortResult;

use crate::ports::trust::RoleTrust;

/// Trust policies by role ARN.
#[derive(Default)]
pub struct MemoryRoleTrust {
    policies: Mutex<HashMap<String, String>>,
    calls: AtomicUsize,
}

impl MemoryRoleTrust {
    /// No roles.
    pub fn new() -> Self {
        Self::default()
    }

    /// The role `role_arn` with this trust policy document.
    pub fn add_role(&self, role_arn: &str, document: &str) {
        self.policies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(role_arn.to_string(), document.to_string());
    }

    /// How many look-ups were made.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl RoleTrust for MemoryRoleTrust {
    async fn trust_policy(&self, role_arn: &str) -> PortResult<Option<String>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(self
            .policies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(role_arn)
            .cloned())
    }
}
