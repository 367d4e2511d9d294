//! What `driftguard doctor` reads about a deployment and the account it
//! watches: one small read-only port ([`DeploymentProbe`]) and the plain facts
//! it returns. The checks themselves are pure functions over these facts (in
//! the CLI); the AWS implementation is `driftguard_adapters::deployment`,
//! the in-memory double `crate::memory::deployment` (feature `memory`).
use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Serialize;

use driftguard_model::error::PortResult;

/// One resource of the driftguard stack (`ListStackResources`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackResource {
    pub logical_id: String,
    pub resource_type: String,
    /// Empty when CloudFormation has none (yet).
    pub physical_id: String,
}

/// The driftguard stack: its parameters and resources.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StackFacts {
    pub name: String,
    pub status: String,
    pub parameters: BTreeMap<String, String>,
    pub resources: Vec<StackResource>,
}

impl StackFacts {
    /// The physical id of the resource with this logical id, if it has one.
    pub fn physical(&self, logical_id: &str) -> Option<&str> {
        self.resources
            .iter()
            .find(|r| r.logical_id == logical_id)
            .map(|r| r.physical_id.as_str())
            .filter(|p| !p.is_empty())
    }

    pub fn of_type<'a>(
        &'a self,
        resource_type: &'a str,
    ) -> impl Iterator<Item = &'a StackResource> {
        self.resources
            .iter()
            .filter(move |r| r.resource_type == resource_type)
    }
}

/// Whether a trail's selectors log management write events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum ManagementEvents {
    /// Management events with writes (`ReadWriteType` All or WriteOnly, or an
    /// advanced selector on `eventCategory = Management` that keeps writes).
    Writes,
    /// Selectors exist but exclude management writes: why.
    Excluded(String),
}

/// One trail as seen from one region (`DescribeTrails` with shadow trails,
/// `GetTrailStatus`, `GetEventSelectors`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrailFacts {
    pub name: String,
    pub arn: String,
    pub home_region: String,
    pub multi_region: bool,
    pub include_global_service_events: bool,
    pub logging: bool,
    pub management_events: ManagementEvents,
}

/// One EventBridge rule (`DescribeRule`, `ListTargetsByRule`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleFacts {
    pub name: String,
    /// `ENABLED`, `DISABLED`, `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`.
    pub state: String,
    pub targets: usize,
}

/// One AWS Config configuration recorder and whether it records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecorderFacts {
    pub name: String,
    pub recording: bool,
}

/// The read-only calls doctor makes. `Ok(None)` / empty: the thing does not
/// exist; `Err`: it could not be read (access denied, unreachable).
#[async_trait]
pub trait DeploymentProbe: Send + Sync {
    /// The stack's parameters and every resource (all pages).
    async fn stack(&self, name: &str) -> PortResult<Option<StackFacts>>;
    /// The trails that apply in `region`, with their status and selectors.
    async fn trails(&self, region: &str) -> PortResult<Vec<TrailFacts>>;
    /// The configuration recorders of the home region.
    async fn recorders(&self) -> PortResult<Vec<RecorderFacts>>;
    /// One rule on `bus` (`None`: the default bus).
    async fn rule(&self, bus: Option<&str>, name: &str) -> PortResult<Option<RuleFacts>>;
    /// Messages visible in a queue (`ApproximateNumberOfMessages`), by URL or name.
    async fn queue_depth(&self, queue_url: &str) -> PortResult<u64>;
    /// An SSM parameter's value, decrypted.
    async fn parameter(&self, name: &str) -> PortResult<Option<String>>;
    /// A secret's `SecretString`.
    async fn secret(&self, id: &str) -> PortResult<Option<String>>;
    /// A DynamoDB table's status (`ACTIVE`...).
    async fn table_status(&self, name: &str) -> PortResult<Option<String>>;
    /// Whether the event bus exists.
    async fn bus_exists(&self, name: &str) -> PortResult<bool>;
    /// An IAM role's ARN.
    async fn role_arn(&self, name: &str) -> PortResult<Option<String>>;
    /// An IAM role's unique id (`RoleId`, `AROA…`): what `identities.own`
    /// entries are pinned by. `None`: no such role, or not known.
    async fn role_id(&self, _name: &str) -> PortResult<Option<String>> {
        Ok(None)
    }
}
