//! An in-memory [`CloudControlRequests`]: records the patches sent and answers
//! with scripted progress events, in order (the last one repeats).
use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;

use super::lock;
use crate::ports::remediate::{CloudControlRequests, RequestProgress, RequestStatus};
use crate::remediate::strategy_calls::UpdateResource;
use driftguard_model::error::{PortError, PortResult};

#[derive(Debug, Default)]
pub struct MemoryCloudControl {
    updates: Mutex<Vec<UpdateResource>>,
    answers: Mutex<VecDeque<PortResult<RequestProgress>>>,
    polls: Mutex<usize>,
}

/// A progress event of request `tok-1` in `status`.
pub fn progress(status: RequestStatus) -> RequestProgress {
    RequestProgress {
        token: Some("tok-1".into()),
        status,
        error_code: None,
        status_message: None,
    }
}

impl MemoryCloudControl {
    /// Answers for `UpdateResource` then each `GetResourceRequestStatus`.
    pub fn answering(answers: Vec<PortResult<RequestProgress>>) -> Self {
        Self {
            answers: Mutex::new(answers.into()),
            ..Self::default()
        }
    }

    /// The patches sent so far.
    pub fn updates(&self) -> Vec<UpdateResource> {
        lock(&self.updates).clone()
    }

    /// How many times the request status was asked.
    pub fn polls(&self) -> usize {
        *lock(&self.polls)
    }

    fn next(&self) -> PortResult<RequestProgress> {
        let mut answers = lock(&self.answers);
        let answer = if answers.len() > 1 {
            answers.pop_front()
        } else {
            answers.front().cloned()
        };
        answer.unwrap_or_else(|| {
            Err(PortError::Unsupported {
                service: "memory",
                operation: "cloudcontrol",
                message: "no answer scripted".into(),
            })
        })
    }
}

#[async_trait]
impl CloudControlRequests for MemoryCloudControl {
    async fn update_resource(&self, call: &UpdateResource) -> PortResult<RequestProgress> {
        lock(&self.updates).push(call.clone());
        self.next()
    }

    async fn request_status(&self, _token: &str) -> PortResult<RequestProgress> {
        *lock(&self.polls) += 1;
        self.next()
    }
}
