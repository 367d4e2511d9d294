//! A change: one observed mutation, normalized from any source.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::actor::Identity;
use super::drift::Drift;
use super::resource::ResourceRef;

/// Where a change was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeSource {
    /// `AWS API Call via CloudTrail` (best-effort delivery).
    Cloudtrail,
    /// `Config Configuration Item Change`.
    ConfigItem,
    /// `Config Rules Compliance Change`.
    ConfigCompliance,
    /// `CloudFormation Drift Detection Status Change`.
    CloudformationDrift,
    /// `CloudFormation Resource Status Change`.
    CloudformationResource,
    /// `CloudFormation Stack Status Change`.
    CloudformationStack,
    /// The scheduled sweep (`DescribeStackResourceDrifts`).
    Sweep,
    /// `driftguard rollback`: a person asked for a rollback to a known-good
    /// version (`remediation::rollback_request`).
    RollbackRequest,
}

impl ChangeSource {
    /// The name in policies and events (`cloudtrail`, `config_item` …).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Cloudtrail => "cloudtrail",
            Self::ConfigItem => "config_item",
            Self::ConfigCompliance => "config_compliance",
            Self::CloudformationDrift => "cloudformation_drift",
            Self::CloudformationResource => "cloudformation_resource",
            Self::CloudformationStack => "cloudformation_stack",
            Self::Sweep => "sweep",
            Self::RollbackRequest => "rollback_request",
        }
    }
}

/// What the source itself says about the owning stack (CloudFormation events
/// and the sweep know it; CloudTrail and Config do not).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackHint {
    /// Stack ARN (`stack-id`) or name.
    pub stack: String,
    /// The resource's logical id in the stack, when the source says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logical_id: Option<String>,
    /// Stack or resource status reported by the event, e.g. `UPDATE_ROLLBACK_FAILED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// One observed mutation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The source's own id: CloudTrail `eventID`, else the EventBridge envelope id.
    pub event_id: String,
    /// When the change happened (CloudTrail `eventTime`, Config's
    /// `configurationItemCaptureTime`, else the envelope's `time`).
    pub time: DateTime<Utc>,
    /// The account the resource is in (CloudTrail `recipientAccountId`, Config
    /// `awsAccountId`, else the envelope's `account`).
    pub account: String,
    /// The region the resource is in (CloudTrail `awsRegion`, else the envelope's `region`).
    pub region: String,
    /// Where the change was seen.
    pub source: ChangeSource,
    /// Short service name, e.g. `ec2`, `s3`, `iam`, `cloudformation`.
    pub service: String,
    /// API operation or event kind, e.g. `AuthorizeSecurityGroupIngress`.
    pub operation: String,
    /// The resource changed, as far as the source names it.
    pub resource: ResourceRef,
    /// Raw facts about who made the call; classified into an [`super::Actor`] with the policy.
    pub identity: Identity,
    /// The request parameters, as the source gave them (CloudTrail
    /// `requestParameters`; Config's changed properties). What exactly was changed.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub request: serde_json::Value,
    /// The response elements, when the source has them (rule ids, versions).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub response: serde_json::Value,
    /// What the source says about the owning stack (CloudFormation events, the sweep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_hint: Option<StackHint>,
    /// Drift already known from the source (sweep, CloudFormation drift event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_hint: Option<Drift>,
    /// Parts of the source record that could not be read, one
    /// "request unparsed: why" (or "response unparsed: why") each: CloudTrail `requestParameters` or `responseElements`
    /// that are valid JSON serde_json cannot hold (a lone UTF-16 surrogate
    /// escape such as `"\ud800"`, a number outside f64's range such as
    /// `1e400`). They are left out (`request`/`response` null) and the change
    /// is decided on the rest of the record, never dropped (issue 33, "Bad input").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unparsed: Vec<String>,
}

impl Change {
    /// `ec2:AuthorizeSecurityGroupIngress`.
    pub fn api(&self) -> String {
        format!("{}:{}", self.service, self.operation)
    }
}

/// Why an event is recognized but is not a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotAChange {
    /// `readOnly: true`, or (a record without `readOnly`) a `Get*`/`List*`/`Describe*` call.
    ReadOnly,
    /// The call failed (`errorCode` set): nothing changed.
    FailedCall,
    /// A Config item whose status is not a change (e.g. `ResourceNotRecorded`).
    NotRecorded,
    /// A status event that carries no mutation (e.g. drift detection found IN_SYNC,
    /// a compliance change to COMPLIANT).
    NoDrift,
    /// An `*_IN_PROGRESS` status: wait for the final one.
    Transitional,
    /// A CloudTrail data event (`managementEvent: false`): an operation on the
    /// resource's data ("data plane operations"), not its configuration.
    DataEvent,
}

impl NotAChange {
    /// The name in events and logs (`read_only`, `failed_call` …).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ReadOnly => "read_only",
            Self::FailedCall => "failed_call",
            Self::NotRecorded => "not_recorded",
            Self::NoDrift => "no_drift",
            Self::Transitional => "transitional",
            Self::DataEvent => "data_event",
        }
    }
}

/// What a source parser makes of one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Observation {
    /// A mutation driftguard decides on.
    Change(Box<Change>),
    /// A recognized event that changes nothing: logged and skipped, never decided.
    NotAChange {
        /// The source's own id (as [`Change::event_id`]).
        event_id: String,
        /// Why it is not a change.
        reason: NotAChange,
        /// Human explanation, e.g. `errorCode=AccessDenied`.
        detail: String,
        /// What the change would have been, when the parser got that far (detect still
        /// records a stack's known-good deploy from it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        change: Option<Box<Change>>,
    },
}

impl Observation {
    /// The source's own id of the event, change or not.
    pub fn event_id(&self) -> &str {
        match self {
            Observation::Change(c) => &c.event_id,
            Observation::NotAChange { event_id, .. } => event_id,
        }
    }
}
