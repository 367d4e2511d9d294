//! The sweep's ports: what stacks exist (inventory), stack-level drift
//! detection (scanner), where the cursor and coverage are kept (store), and
//! the organization-scale fan-out's queue of parts and the sweepers of the
//! parts ([`crate::sweep::fanout`]).
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::ports::{StackResourceSummary, StackSummary};
use crate::sweep::fanout::SweepPart;
use crate::sweep::{StackCoverage, SweepCursor, Sweeper};
use driftguard_model::domain::Drift;
use driftguard_model::error::PortResult;

/// One page of a paged listing. Pages are fetched (and retried) one at a
/// time: a throttled page does not restart the listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

impl<T> Page<T> {
    /// Everything in one page (in-memory ports).
    pub fn last(items: Vec<T>) -> Self {
        Self {
            items,
            next_token: None,
        }
    }
}

/// Live stacks and their resources.
#[async_trait]
pub trait StackInventory: Send + Sync {
    /// One page of live stacks with status and tags (`DescribeStacks`).
    async fn list_stacks_page(&self, next_token: Option<String>) -> PortResult<Page<StackSummary>>;
    /// One page of `ListStackResources`.
    async fn list_stack_resources_page(
        &self,
        stack: &str,
        next_token: Option<String>,
    ) -> PortResult<Page<StackResourceSummary>>;
}

/// What `DetectStackDrift` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetectionStart {
    Started {
        detection_id: String,
    },
    /// CloudFormation refused because a detection already runs on the stack;
    /// the id is given when the error message names it.
    AlreadyRunning {
        detection_id: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DetectionState {
    DetectionInProgress,
    DetectionComplete,
    /// At least one resource could not be checked; the others' results stand.
    DetectionFailed,
}

impl DetectionState {
    pub fn parse(s: &str) -> Self {
        match s {
            "DETECTION_COMPLETE" => Self::DetectionComplete,
            "DETECTION_FAILED" => Self::DetectionFailed,
            _ => Self::DetectionInProgress,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::DetectionInProgress => "DETECTION_IN_PROGRESS",
            Self::DetectionComplete => "DETECTION_COMPLETE",
            Self::DetectionFailed => "DETECTION_FAILED",
        }
    }
}

/// `DescribeStackDriftDetectionStatus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetectionStatus {
    pub state: DetectionState,
    /// `DRIFTED`, `IN_SYNC`, `NOT_CHECKED`, `UNKNOWN`.
    pub stack_drift_status: Option<String>,
    pub reason: Option<String>,
}

/// One entry of `DescribeStackResourceDrifts`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceDrift {
    pub logical_id: String,
    pub physical_id: Option<String>,
    pub resource_type: Option<String>,
    pub drift: Drift,
}

/// CloudFormation stack-level drift detection.
#[async_trait]
pub trait StackDriftScanner: Send + Sync {
    /// `DetectStackDrift`.
    async fn start_detection(&self, stack: &str) -> PortResult<DetectionStart>;
    /// `DescribeStackDriftDetectionStatus`.
    async fn detection_status(&self, detection_id: &str) -> PortResult<DetectionStatus>;
    /// One page of `DescribeStackResourceDrifts`, every status (coverage needs
    /// IN_SYNC and NOT_CHECKED too).
    async fn resource_drifts_page(
        &self,
        stack: &str,
        next_token: Option<String>,
    ) -> PortResult<Page<ResourceDrift>>;
}

/// Where the sweep keeps its cursor (`CURSOR#sweep`) and per-stack coverage
/// (`COVERAGE#<stack>`).
#[async_trait]
pub trait SweepStore: Send + Sync {
    async fn load_cursor(&self) -> PortResult<Option<SweepCursor>>;
    /// `None` clears the cursor (the round finished).
    async fn save_cursor(&self, cursor: Option<&SweepCursor>) -> PortResult<()>;
    async fn save_coverage(&self, coverage: &StackCoverage) -> PortResult<()>;
    async fn load_coverage(&self, stack_name: &str) -> PortResult<Option<StackCoverage>>;
}

/// One part of a scheduled run, as a message on the sweep queue
/// (`SWEEP_QUEUE_URL`): the scheduled run sends one per member account and
/// region; each is swept by its own invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartMessage {
    /// The scheduled run that planned it.
    pub run_id: String,
    pub account: String,
    pub region: String,
}

impl PartMessage {
    pub fn part(&self) -> SweepPart {
        SweepPart {
            account: self.account.clone(),
            region: self.region.clone(),
        }
    }
}

/// Where the scheduled run puts the parts (SQS in a deployment).
#[async_trait]
pub trait PartQueue: Send + Sync {
    /// Send every message; `Err` when one could not be sent (it names them).
    async fn send(&self, messages: &[PartMessage]) -> PortResult<()>;
}

/// The sweeper of one part (the member's role, clients and cursor).
#[async_trait]
pub trait PartSweepers: Send + Sync {
    /// `Err`: the part cannot be swept (its member role is missing or denies).
    async fn sweeper(&self, part: &SweepPart) -> PortResult<Arc<Sweeper>>;
}
