//! An in-memory [`StackRollbacks`]: stack statuses as set, and the rollback
//! calls started, in order.
use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::ports::remediate::StackRollbacks;
use crate::remediate::strategy_calls::RollbackCall;
use driftguard_model::error::PortResult;

#[derive(Debug, Default)]
pub struct MemoryStackRollbacks {
    statuses: Mutex<BTreeMap<String, String>>,
    started: Mutex<Vec<RollbackCall>>,
}

impl MemoryStackRollbacks {
    /// One stack in `status`.
    pub fn with_status(stack: &str, status: &str) -> Self {
        let rollbacks = Self::default();
        rollbacks.set_status(stack, status);
        rollbacks
    }

    pub fn set_status(&self, stack: &str, status: &str) {
        lock(&self.statuses).insert(stack.to_string(), status.to_string());
    }

    /// The rollback calls started so far.
    pub fn started(&self) -> Vec<RollbackCall> {
        lock(&self.started).clone()
    }
}

#[async_trait]
impl StackRollbacks for MemoryStackRollbacks {
    async fn start(&self, call: &RollbackCall) -> PortResult<()> {
        lock(&self.started).push(call.clone());
        Ok(())
    }

    async fn stack_status(&self, stack: &str) -> PortResult<Option<String>> {
        Ok(lock(&self.statuses).get(stack).cloned())
    }
}
