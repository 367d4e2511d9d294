//! A role's trust policy, read with `iam:GetRole` (issue 34 items 1, 2):
//! detect asks whether an `automation` session's role is a people role,
//! `driftguard doctor` whether each pipeline role admits only CI
//! principals. The AWS implementation is `driftguard_adapters::iam_trust`,
//! the in-memory double `crate::memory::trust` (feature `memory`).
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use driftguard_model::error::PortResult;

/// Reads a role's trust policy.
#[async_trait]
pub trait RoleTrust: Send + Sync {
    /// The trust policy document (`AssumeRolePolicyDocument`, URL-decoded
    /// JSON) of the role `role_arn`; `None` when there is no such role.
    async fn trust_policy(&self, role_arn: &str) -> PortResult<Option<String>>;
}

/// [`RoleTrust`] with one look-up per role for the life of the container
/// (a Lambda execution environment): answers are kept, failures are not.
pub struct CachedRoleTrust {
    inner: Arc<dyn RoleTrust>,
    seen: Mutex<HashMap<String, Option<String>>>,
}

impl CachedRoleTrust {
    /// Cache `inner`'s answers.
    pub fn new(inner: Arc<dyn RoleTrust>) -> Self {
        Self {
            inner,
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, role_arn: &str) -> Option<Option<String>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(role_arn)
            .cloned()
    }
}

#[async_trait]
impl RoleTrust for CachedRoleTrust {
    async fn trust_policy(&self, role_arn: &str) -> PortResult<Option<String>> {
        if let Some(known) = self.cached(role_arn) {
            return Ok(known);
        }
        let answer = self.inner.trust_policy(role_arn).await?;
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(role_arn.to_string(), answer.clone());
        Ok(answer)
    }
}
