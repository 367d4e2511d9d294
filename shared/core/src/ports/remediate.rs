//! Remediation's ports: the plan executor and the template source the
//! remediate flow holds, the member accounts' remediators, and the narrow
//! ports the executor makes its calls through, one per strategy: inverse
//! calls and their read-backs ([`CallApi`]), change sets ([`ChangeSets`]),
//! Cloud Control ([`CloudControlRequests`]), stack rollbacks
//! ([`StackRollbacks`]), and the known-good template history
//! ([`TemplateHistory`]). The rules over them are in [`crate::remediate`].
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::remediate::call::Call;
use crate::remediate::strategy_calls::{RollbackCall, UpdateResource};
use crate::remediate::Remediator;
use driftguard_model::domain::Plan;
use driftguard_model::error::{PortError, PortResult};

/// Why executing a plan stopped.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ExecutionError {
    /// The preview showed the plan is not safe after all (e.g. the change set
    /// touches other resources); nothing was changed.
    #[error("refused: {0}")]
    Refused(String),
    /// A call failed (after bounded retries).
    #[error(transparent)]
    Port(#[from] PortError),
}

/// What execution did, call by call, in words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Execution {
    pub notes: Vec<String>,
}

/// A resource read back through its own API after an inverse call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBack {
    pub converged: bool,
    /// Which API was read and what it showed.
    pub detail: String,
}

/// Runs plans. The AWS implementation is `driftguard_adapters::remediation::AwsExecutor`.
#[async_trait]
pub trait PlanExecutor: Send + Sync {
    async fn execute(&self, plan: &Plan) -> Result<Execution, ExecutionError>;
    /// Read the resource back through its own API (inverse-call plans). `None`
    /// when the plan has no read-back (change sets, Cloud Control, rollbacks).
    async fn read_back(&self, plan: &Plan) -> PortResult<Option<ReadBack>>;
    /// The stack's status after a rollback call (`DescribeStacks`).
    async fn stack_status(&self, stack: &str) -> PortResult<Option<String>>;
    /// The logical ids a REVERT_DRIFT plan's change set would revert, from a
    /// throwaway preview ([`crate::remediate::changeset::reverted_logical_ids`]; nothing is
    /// executed). `Ok(None)` when this executor cannot preview (the default):
    /// the plan is kept, and the review before executing still refuses a
    /// change set that touches other resources.
    async fn change_set_reverts(
        &self,
        _plan: &Plan,
    ) -> Result<Option<Vec<String>>, ExecutionError> {
        Ok(None)
    }
}

/// A stack's template and parameter values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackTemplate {
    pub body: String,
    pub parameters: BTreeMap<String, String>,
    /// Empty when the stack was not described (a template that declares no
    /// parameters needs no `DescribeStacks`): the caller knows it.
    pub stack_id: String,
}

/// `GetTemplate`, and `DescribeStacks` for the parameters' values when the
/// template declares any.
#[async_trait]
pub trait TemplateSource: Send + Sync {
    async fn stack_template(&self, stack: &str) -> PortResult<StackTemplate>;
    /// The stack's known-good versions, oldest first ([`crate::remediate::history`]); none by default.
    async fn known_good(&self, _stack: &str) -> PortResult<Vec<KnownGood>> {
        Ok(Vec::new())
    }
}

/// The remediator of a member account: the member's remediation role's
/// clients, the central table, bus and policy.
#[async_trait::async_trait]
pub trait MemberRemediators: Send + Sync {
    /// `Err`: the member's role cannot be used (`Failed`: missing or
    /// refusing; retryable: throttled or timed out).
    async fn remediator(
        &self,
        account: &str,
        region: &str,
    ) -> driftguard_model::error::PortResult<Arc<Remediator>>;
}

/// One security-group rule as `DescribeSecurityGroupRules` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedRule {
    pub id: Option<String>,
    pub egress: Option<bool>,
    pub protocol: Option<String>,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub cidr_ipv4: Option<String>,
    pub cidr_ipv6: Option<String>,
    pub prefix_list_id: Option<String>,
    pub group_id: Option<String>,
}

/// A bucket's public access block as `GetPublicAccessBlock` shows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObservedBlock {
    pub block_public_acls: Option<bool>,
    pub ignore_public_acls: Option<bool>,
    pub block_public_policy: Option<bool>,
    pub restrict_public_buckets: Option<bool>,
}

/// What reading a call's resource back showed (the adapter's answer; the
/// handler judges it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// `ec2:DescribeSecurityGroupRules` of the group.
    SecurityGroupRules(Vec<ObservedRule>),
    /// `s3:GetPublicAccessBlock`; `None` when the bucket has none.
    PublicAccessBlock(Option<ObservedBlock>),
    /// `s3:GetBucketPolicy`; `None` when the bucket has none.
    BucketPolicy(Option<String>),
    /// `s3:GetBucketVersioning`: the status; `None` when it was never set.
    BucketVersioning(Option<String>),
    /// `iam:ListAttachedRolePolicies`: the attached ARNs.
    AttachedPolicies(Vec<String>),
    /// `iam:GetRolePolicy`, URL-decoded; `None` when the role has no such policy.
    RolePolicy(Option<String>),
    /// `ssm:GetParameter`: the value.
    Parameter(String),
    /// `lambda:GetFunctionConfiguration`.
    FunctionConfiguration {
        timeout: Option<i32>,
        memory_size: Option<i32>,
        variables: BTreeMap<String, String>,
    },
    /// `sns:GetTopicAttributes`.
    TopicAttributes(BTreeMap<String, String>),
    /// `sqs:GetQueueAttributes` (All).
    QueueAttributes(BTreeMap<String, String>),
}

/// The port the executor acts and reads back through: the AWS adapter is
/// `driftguard_adapters::remediation::AwsClients`, the double [`crate::memory::remediation::MemoryCalls`].
#[async_trait]
pub trait CallApi: Send + Sync {
    /// Make the call (one attempt; the executor retries).
    async fn act(&self, call: &Call) -> PortResult<()>;
    /// Read the call's resource back through its own API.
    async fn observe(&self, call: &Call) -> PortResult<Observed>;
}

/// The template a change set is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateChoice {
    /// `UsePreviousTemplate` (REVERT_DRIFT: the current template).
    Previous,
    /// A template body (a known-good version from the history).
    Body(String),
}

/// One parameter of the change set: `None` = `UsePreviousValue`.
pub type ParameterChoice = (String, Option<String>);

/// A `CreateChangeSet` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    pub stack: String,
    pub name: String,
    pub client_token: String,
    pub revert_drift: bool,
    pub template: TemplateChoice,
    pub parameters: Vec<ParameterChoice>,
}

/// One `ResourceChange` as the preview lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceChange {
    pub logical_id: String,
    pub resource_type: Option<String>,
    /// `Add`, `Modify`, `Remove`, `Import`, `Dynamic`, `SyncWithActual`.
    pub action: String,
    /// `True`, `False`, `Conditional` (Modify only).
    pub replacement: Option<String>,
}

/// One page of `DescribeChangeSet`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeSetPage {
    pub id: Option<String>,
    /// `CREATE_PENDING`, `CREATE_IN_PROGRESS`, `CREATE_COMPLETE`, `FAILED`, ...
    pub status: Option<String>,
    pub status_reason: Option<String>,
    /// `AVAILABLE`, `UNAVAILABLE`, `OBSOLETE`, ...
    pub execution_status: Option<String>,
    pub changes: Vec<ResourceChange>,
    pub next_token: Option<String>,
}

/// The CloudFormation calls change sets need (AWS: `driftguard_adapters::changesets::CfnChangeSets`).
#[async_trait]
pub trait ChangeSets: Send + Sync {
    /// The stack's parameter keys (`DescribeStacks`).
    async fn parameter_keys(&self, stack: &str) -> PortResult<Vec<String>>;
    /// `CreateChangeSet`; the change set id.
    async fn create(&self, request: &CreateRequest) -> PortResult<Option<String>>;
    /// One page of `DescribeChangeSet`.
    async fn describe(
        &self,
        stack: &str,
        name: &str,
        next_token: Option<&str>,
    ) -> PortResult<ChangeSetPage>;
    /// `ExecuteChangeSet` with a `ClientRequestToken`.
    async fn execute(&self, stack: &str, name: &str, token: &str) -> PortResult<()>;
    async fn delete(&self, stack: &str, name: &str) -> PortResult<()>;
    /// `DescribeStacks` status; `None` when the stack does not exist.
    async fn stack_status(&self, stack: &str) -> PortResult<Option<String>>;
}

/// Where a Cloud Control request is (`ProgressEvent.OperationStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    /// `PENDING`, `IN_PROGRESS`, `CANCEL_IN_PROGRESS` (or not said).
    Running,
    /// `SUCCESS`.
    Success,
    /// `FAILED`.
    Failed,
    /// `CANCEL_COMPLETE`.
    Cancelled,
}

/// One `ProgressEvent` of a Cloud Control request, as far as driftguard reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestProgress {
    /// `RequestToken`, to ask `GetResourceRequestStatus` with.
    pub token: Option<String>,
    pub status: RequestStatus,
    /// `ErrorCode` (a `HandlerErrorCode`, e.g. `InvalidRequest`).
    pub error_code: Option<String>,
    pub status_message: Option<String>,
}

/// The Cloud Control calls a patch needs; each one attempt (the caller retries).
#[async_trait]
pub trait CloudControlRequests: Send + Sync {
    /// `UpdateResource`: the request's first progress event.
    async fn update_resource(&self, call: &UpdateResource) -> PortResult<RequestProgress>;
    /// `GetResourceRequestStatus` of a request token.
    async fn request_status(&self, token: &str) -> PortResult<RequestProgress>;
}

/// The CloudFormation calls a rollback needs; each one attempt (the caller retries).
#[async_trait]
pub trait StackRollbacks: Send + Sync {
    /// `CancelUpdateStack`, `ContinueUpdateRollback` or `RollbackStack`.
    async fn start(&self, call: &RollbackCall) -> PortResult<()>;
    /// `DescribeStacks` status; `None` when the stack does not exist.
    async fn stack_status(&self, stack: &str) -> PortResult<Option<String>>;
}

/// One known-good version of a stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownGood {
    pub stack: String,
    pub version: u32,
    /// The processed template body (`GetTemplate TemplateStage=Processed`).
    pub template_body: String,
    pub parameters: BTreeMap<String, String>,
    /// The stack status it was recorded in (`CREATE_COMPLETE`/`UPDATE_COMPLETE`).
    pub stack_status: String,
    pub recorded_at: DateTime<Utc>,
    /// sha256 of template and parameters: an unchanged stack is not recorded twice.
    pub digest: String,
}

/// What [`TemplateHistory::record`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    New(u32),
    Unchanged(u32),
}

#[async_trait]
pub trait TemplateHistory: Send + Sync {
    /// Store `candidate` as the next version unless it equals the latest one.
    /// `candidate.version` is ignored (assigned by the store).
    async fn record(&self, candidate: &KnownGood) -> PortResult<Recorded>;
    /// Every kept version of a stack, oldest first.
    async fn versions(&self, stack: &str) -> PortResult<Vec<KnownGood>>;
}
