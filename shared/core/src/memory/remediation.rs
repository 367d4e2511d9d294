//! An in-memory [`CallApi`]: records the calls made, answers read-backs as set
//! per call name (`ssm:PutParameter`), and fails the next call on demand.
use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::ports::remediate::{CallApi, Observed};
use crate::remediate::call::Call;
use driftguard_model::error::{PortError, PortResult};

#[derive(Debug, Default)]
pub struct MemoryCalls {
    acted: Mutex<Vec<Call>>,
    observed: Mutex<HashMap<&'static str, PortResult<Observed>>>,
    fail_next: Mutex<Option<PortError>>,
}

impl MemoryCalls {
    pub fn new() -> Self {
        Self::default()
    }

    /// The calls made so far, in order.
    pub fn acted(&self) -> Vec<Call> {
        lock(&self.acted).clone()
    }

    /// What reading back a call of this name answers (unset: `Unsupported`).
    pub fn observe_as(&self, call: &'static str, answer: PortResult<Observed>) {
        lock(&self.observed).insert(call, answer);
    }

    /// The next `act` fails with `error` (and is not recorded).
    pub fn fail_next(&self, error: PortError) {
        *lock(&self.fail_next) = Some(error);
    }
}

#[async_trait]
impl CallApi for MemoryCalls {
    async fn act(&self, call: &Call) -> PortResult<()> {
        if let Some(e) = lock(&self.fail_next).take() {
            return Err(e);
        }
        lock(&self.acted).push(call.clone());
        Ok(())
    }

    async fn observe(&self, call: &Call) -> PortResult<Observed> {
        lock(&self.observed)
            .get(call.name())
            .cloned()
            .unwrap_or_else(|| {
                Err(PortError::Unsupported {
                    service: "memory",
                    operation: "observe",
                    message: format!("no read-back set for {}", call.name()),
                })
            })
    }
}
