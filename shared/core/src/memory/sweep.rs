//! In-memory sweep ports (`crate::ports::sweep`) for unit tests and emulator
//! tests (moto has no stack drift detection): a store, and a scripted drift
//! scanner.
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use driftguard_model::domain::{Drift, DriftOrigin, DriftStatus, PropertyDifference};
use driftguard_model::error::{PortError, PortResult};

use super::lock;
use crate::ports::sweep::{
    DetectionStart, DetectionState, DetectionStatus, Page, ResourceDrift, StackDriftScanner,
    SweepStore,
};
use crate::sweep::StackCoverage;
use crate::sweep::SweepCursor;

/// The sweep queue in memory: what the scheduled run sent.
#[derive(Debug, Default)]
pub struct MemoryPartQueue {
    sent: Mutex<Vec<crate::ports::sweep::PartMessage>>,
}

impl MemoryPartQueue {
    pub fn sent(&self) -> Vec<crate::ports::sweep::PartMessage> {
        lock(&self.sent).clone()
    }
}

#[async_trait]
impl crate::ports::sweep::PartQueue for MemoryPartQueue {
    async fn send(&self, messages: &[crate::ports::sweep::PartMessage]) -> PortResult<()> {
        lock(&self.sent).extend_from_slice(messages);
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct MemorySweepStore {
    cursor: Mutex<Option<SweepCursor>>,
    coverage: Mutex<BTreeMap<String, StackCoverage>>,
}

impl MemorySweepStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cursor(&self) -> Option<SweepCursor> {
        lock(&self.cursor).clone()
    }

    pub fn coverage(&self) -> BTreeMap<String, StackCoverage> {
        lock(&self.coverage).clone()
    }
}

#[async_trait]
impl SweepStore for MemorySweepStore {
    async fn load_cursor(&self) -> PortResult<Option<SweepCursor>> {
        Ok(lock(&self.cursor).clone())
    }

    async fn save_cursor(&self, cursor: Option<&SweepCursor>) -> PortResult<()> {
        *lock(&self.cursor) = cursor.cloned();
        Ok(())
    }

    async fn save_coverage(&self, coverage: &StackCoverage) -> PortResult<()> {
        lock(&self.coverage).insert(coverage.stack_name.clone(), coverage.clone());
        Ok(())
    }

    async fn load_coverage(&self, stack_name: &str) -> PortResult<Option<StackCoverage>> {
        Ok(lock(&self.coverage).get(stack_name).cloned())
    }
}

/// A drift record as CloudFormation would report it.
pub fn resource_drift(
    logical_id: &str,
    physical_id: &str,
    resource_type: &str,
    status: DriftStatus,
    paths: &[&str],
) -> ResourceDrift {
    ResourceDrift {
        logical_id: logical_id.to_string(),
        physical_id: Some(physical_id.to_string()).filter(|p| !p.is_empty()),
        resource_type: Some(resource_type.to_string()),
        drift: Drift {
            status,
            differences: paths
                .iter()
                .map(|p| PropertyDifference {
                    path: p.to_string(),
                    expected: None,
                    actual: None,
                    kind: driftguard_model::domain::DifferenceKind::NotEqual,
                })
                .collect(),
            expected_properties: None,
            actual_properties: None,
            origin: DriftOrigin::Cloudformation,
            detected_at: None,
        },
    }
}

/// The stack name in a stack ARN (`...:stack/NAME/ID`), or the key itself.
pub fn stack_name_of(key: &str) -> &str {
    key.split_once(":stack/")
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap_or(key)
}

/// A [`StackDriftScanner`] answering from a script: per stack name, the drift
/// results; detections complete after `polls_until_complete` status calls.
#[derive(Debug, Default)]
pub struct ScriptedDriftScanner {
    drifts: Mutex<HashMap<String, Vec<ResourceDrift>>>,
    /// Stacks whose next DetectStackDrift answers "already in progress".
    busy: Mutex<HashMap<String, Option<String>>>,
    failed: Mutex<HashMap<String, PortError>>,
    detections: Mutex<HashMap<String, (String, usize)>>,
    pub polls_until_complete: AtomicUsize,
    pub starts: AtomicUsize,
    pub status_calls: AtomicUsize,
    pub drift_reads: AtomicUsize,
    next_id: AtomicUsize,
}

impl ScriptedDriftScanner {
    pub fn new() -> Self {
        Self::default()
    }

    /// What `DescribeStackResourceDrifts` returns for this stack from now on.
    pub fn set_drifts(&self, stack_name: &str, drifts: Vec<ResourceDrift>) {
        lock(&self.drifts).insert(stack_name.to_string(), drifts);
    }

    /// The next `DetectStackDrift` on this stack answers "already in progress".
    pub fn set_busy(&self, stack_name: &str, running_detection: Option<&str>) {
        lock(&self.busy).insert(
            stack_name.to_string(),
            running_detection.map(str::to_string),
        );
        if let Some(id) = running_detection {
            lock(&self.detections).insert(id.to_string(), (stack_name.to_string(), 0));
        }
    }

    /// `DetectStackDrift` on this stack fails with `error`.
    pub fn fail(&self, stack_name: &str, error: PortError) {
        lock(&self.failed).insert(stack_name.to_string(), error);
    }
}

#[async_trait]
impl StackDriftScanner for ScriptedDriftScanner {
    async fn start_detection(&self, stack: &str) -> PortResult<DetectionStart> {
        let name = stack_name_of(stack).to_string();
        self.starts.fetch_add(1, Ordering::SeqCst);
        if let Some(e) = lock(&self.failed).get(&name) {
            return Err(e.clone());
        }
        if let Some(running) = lock(&self.busy).remove(&name) {
            return Ok(DetectionStart::AlreadyRunning {
                detection_id: running,
            });
        }
        let id = format!(
            "det-{}-{}",
            name,
            self.next_id.fetch_add(1, Ordering::SeqCst)
        );
        lock(&self.detections).insert(id.clone(), (name, 0));
        Ok(DetectionStart::Started { detection_id: id })
    }

    async fn detection_status(&self, detection_id: &str) -> PortResult<DetectionStatus> {
        self.status_calls.fetch_add(1, Ordering::SeqCst);
        let mut detections = lock(&self.detections);
        let Some((_, polls)) = detections.get_mut(detection_id) else {
            return Err(PortError::Failed {
                service: "cloudformation",
                operation: "DescribeStackDriftDetectionStatus",
                message: format!("detection {detection_id} does not exist"),
            });
        };
        *polls += 1;
        let done = *polls > self.polls_until_complete.load(Ordering::SeqCst);
        Ok(DetectionStatus {
            state: if done {
                DetectionState::DetectionComplete
            } else {
                DetectionState::DetectionInProgress
            },
            stack_drift_status: done.then(|| "DRIFTED".to_string()),
            reason: None,
        })
    }

    async fn resource_drifts_page(
        &self,
        stack: &str,
        _next_token: Option<String>,
    ) -> PortResult<Page<ResourceDrift>> {
        self.drift_reads.fetch_add(1, Ordering::SeqCst);
        Ok(Page::last(
            lock(&self.drifts)
                .get(stack_name_of(stack))
                .cloned()
                .unwrap_or_default(),
        ))
    }
}

#[async_trait]
impl crate::ports::sweep::StackInventory for super::catalog::MemoryStackCatalog {
    async fn list_stacks_page(
        &self,
        _next_token: Option<String>,
    ) -> PortResult<Page<crate::ports::StackSummary>> {
        crate::ports::StackCatalog::list_stacks(self)
            .await
            .map(Page::last)
    }

    async fn list_stack_resources_page(
        &self,
        stack: &str,
        _next_token: Option<String>,
    ) -> PortResult<Page<crate::ports::StackResourceSummary>> {
        crate::ports::StackCatalog::list_stack_resources(self, stack)
            .await
            .map(Page::last)
    }
}
