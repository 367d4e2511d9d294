//! Ports: every trait the flows depend on, with the types in their
//! signatures that exist for them (the domain's own types stay in
//! `driftguard_model`). AWS implementations live in `driftguard_adapters`,
//! in-memory ones in [`crate::memory`].
//!
//! The ports every flow shares are here (`StackCatalog`, `DriftDetector`,
//! `ActorLookup`, `TicketStore`, `DecisionBus`, `OpsMirror`, `Clock`,
//! `PropertyReadBack`, `SafetyStore`, `ParameterReader`, `AccountDirectory`,
//! `MemberAccounts`); an area's own are in a public part named after it, and
//! nothing is re-exported from the parts (one path per item):
//! - [`notify`]: SNS, the Slack webhook and its URL;
//! - [`sweep`]: stack inventory, stack drift scanner, sweep store, the
//!   fan-out's part queue and part sweepers;
//! - [`config_rule`]: the AWS Config rule's evaluation sink and id resolver;
//! - [`remediate`]: plan executor, template source, member remediators, and
//!   the executor's narrow ports (inverse calls, change sets, Cloud Control,
//!   stack rollbacks, template history);
//! - [`deployment`]: what `driftguard doctor` reads;
//! - [`keys`]: THE DynamoDB key schema (pure); [`modify`]: the one ticket
//!   read-modify-write.
pub mod config_rule;
pub mod deployment;
pub mod keys;
pub mod modify;
pub mod notify;
pub mod remediate;
pub mod sweep;
pub mod trust;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use driftguard_model::domain::{Drift, Identity, Ownership, ResourceRef, Ticket, TicketState};
use driftguard_model::error::PortResult;

/// A stack as the catalog sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackSummary {
    pub stack_id: String,
    pub stack_name: String,
    pub status: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// One resource of a stack (`ListStackResources`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackResourceSummary {
    pub logical_id: String,
    pub physical_id: Option<String>,
    pub resource_type: Option<String>,
    pub status: Option<String>,
}

/// Which stacks exist and which resources they own.
#[async_trait]
pub trait StackCatalog: Send + Sync {
    /// The stack owning a resource: `Unmanaged` when proven not owned, `Unknown`
    /// when it cannot be established. A `Managed` answer carries the stack's
    /// status and tags as read by this call (not from a cache): remediate acts
    /// on it without describing the stack again.
    async fn owner_of(&self, resource: &ResourceRef) -> PortResult<Ownership>;
    /// Current state of one stack (name or id); `None` if it does not exist.
    async fn describe_stack(&self, stack: &str) -> PortResult<Option<StackSummary>>;
    /// Every stack that is not deleted.
    async fn list_stacks(&self) -> PortResult<Vec<StackSummary>>;
    async fn list_stack_resources(&self, stack: &str) -> PortResult<Vec<StackResourceSummary>>;
    /// The owner of a write no operation row lists, from the identifiers its
    /// record names (`sources::identifiers`), answered from the ownership index
    /// in memory: an owner entry is accepted only when its type can be the
    /// call's target (`sources::identifiers::pick`; never a custom resource).
    /// No match is `Unmanaged` and, on a warm index, costs no AWS call (no
    /// rebuild on a miss); a match costs the owning stack's description (its
    /// status and tags, as `owner_of`). Catalogs that cannot answer say
    /// `Unknown`.
    async fn owner_of_identifiers(&self, call: &IdentifiedCall<'_>) -> PortResult<IdentifiedOwner> {
        let _ = call;
        Ok(IdentifiedOwner {
            ownership: Ownership::Unknown {
                reason: "this catalog cannot look a resource up by its identifiers".into(),
            },
            identifier: None,
        })
    }
}

/// A write no operation row lists, as the catalog is asked about it.
#[derive(Debug, Clone, Copy)]
pub struct IdentifiedCall<'a> {
    /// `s3` (the event source's first label).
    pub service: &'a str,
    /// `PutBucketCors`.
    pub operation: &'a str,
    /// The record's identifiers, most telling first
    /// (`ResourceRef::identifiers`).
    pub identifiers: &'a [String],
    /// How many of the first `identifiers` come from `resources[]`
    /// (`ResourceRef::listed_identifiers`).
    pub listed: usize,
}

impl IdentifiedCall<'_> {
    /// How strongly the record ties `id` to the call
    /// (`sources::identifiers::pick`): 2 listed in `resources[]`, 0 named by
    /// the request or the response only.
    pub fn rank(&self, id: &str) -> u8 {
        let listed = self.identifiers.iter().take(self.listed).any(|c| c == id);
        if listed {
            2
        } else {
            0
        }
    }
}

/// What the catalog found for an [`IdentifiedCall`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentifiedOwner {
    /// `Managed` (the owner), `Unmanaged` (no identifier is any stack's
    /// resource of a type the call can target) or `Unknown` (why not).
    pub ownership: Ownership,
    /// The identifier that matched, in the form the owner's stack stores it
    /// (the resource's physical id).
    pub identifier: Option<String>,
}

/// CloudFormation drift detection on one resource.
#[async_trait]
pub trait DriftDetector: Send + Sync {
    /// `DetectStackResourceDrift`. `Unsupported` when the type is not supported.
    async fn detect_resource_drift(&self, stack: &str, logical_id: &str) -> PortResult<Drift>;
}

/// Who changed a resource when the event does not say (Config items).
#[async_trait]
pub trait ActorLookup: Send + Sync {
    /// CloudTrail `LookupEvents` by resource name around a time.
    async fn find_identity(
        &self,
        resource: &ResourceRef,
        around: DateTime<Utc>,
    ) -> PortResult<Option<Identity>>;
}

/// Outcome of claiming a source event id (idempotency).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First delivery (or an earlier attempt's lease expired): process it.
    Fresh,
    /// Already processed: a duplicate delivery, do nothing.
    AlreadyDone,
    /// Another invocation is processing it right now.
    InProgress,
}

/// Tickets and processed-event records.
#[async_trait]
pub trait TicketStore: Send + Sync {
    /// Claim an event id with a lease; the record expires (TTL) after `expires_at`.
    async fn claim_event(
        &self,
        event_id: &str,
        lease_until: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> PortResult<Claim>;
    /// Mark a claimed event processed.
    async fn complete_event(&self, event_id: &str) -> PortResult<()>;
    /// Drop a claim after a failure so a retry can process the event again.
    async fn abandon_event(&self, event_id: &str) -> PortResult<()>;

    async fn get_ticket(&self, id: &str) -> PortResult<Option<Ticket>>;
    /// Create; `Conflict` if a ticket with that id exists.
    async fn create_ticket(&self, ticket: &Ticket) -> PortResult<()>;
    /// Write `ticket` if the stored version is still `ticket.version - 1`;
    /// `Conflict` otherwise. Callers bump `version` before calling.
    async fn update_ticket(&self, ticket: &Ticket) -> PortResult<()>;
    async fn list_tickets(&self, state: Option<TicketState>) -> PortResult<Vec<Ticket>>;
}

/// The custom event bus driftguard talks on.
#[async_trait]
pub trait DecisionBus: Send + Sync {
    /// `PutEvents` with `source: driftguard`.
    async fn publish(&self, detail_type: &str, detail: &serde_json::Value) -> PortResult<()>;
}

/// Optional mirror of tickets to Systems Manager OpsCenter.
#[async_trait]
pub trait OpsMirror: Send + Sync {
    async fn mirror(&self, ticket: &Ticket) -> PortResult<()>;
}

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// What a read-back through the resource's own API found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyCheck {
    /// Are the differences still there?
    pub still_drifted: bool,
    /// The calls made, e.g. `iam:ListAttachedRolePolicies`.
    pub method: String,
    pub detail: String,
}

/// Reads the properties CloudFormation drift detection does not check
/// (out-of-template drift) through the resource's own API. The only thing
/// that may resolve an out-of-template ticket.
#[async_trait]
pub trait PropertyReadBack: Send + Sync {
    /// `Ok(None)`: no read-back for this resource type or property.
    async fn check(
        &self,
        resource: &ResourceRef,
        differences: &[driftguard_model::domain::PropertyDifference],
    ) -> PortResult<Option<PropertyCheck>>;
}

/// Remediation blast radius: rate-limit counters and circuit states, persisted
/// (`adapters::aws::safety`, `adapters::memory::safety`).
#[async_trait]
pub trait SafetyStore: Send + Sync {
    /// Take one action slot in `scope`'s current window; `false` when the window is full.
    async fn try_acquire(
        &self,
        scope: &str,
        limit: driftguard_model::domain::policy::RateLimit,
        now: DateTime<Utc>,
    ) -> PortResult<bool>;
    /// Give a slot back (a later check refused, so nothing was done).
    async fn release(
        &self,
        scope: &str,
        limit: driftguard_model::domain::policy::RateLimit,
        now: DateTime<Utc>,
    ) -> PortResult<()>;
    async fn load_circuit(&self, key: &str) -> PortResult<Option<crate::resilience::CircuitState>>;
    /// `None` clears it (a success closes the circuit).
    async fn save_circuit(
        &self,
        key: &str,
        state: Option<crate::resilience::CircuitState>,
    ) -> PortResult<()>;
}

/// Reads one (String or SecureString, decrypted) SSM parameter: the policy
/// (`adapters::aws::ssm` over `GetParameter`; tests pass a map).
#[async_trait]
pub trait ParameterReader: Send + Sync {
    /// The parameter's value; `NotFound` when it does not exist.
    async fn read_parameter(&self, name: &str) -> PortResult<String>;
}

/// The lookups detect makes where a change happened: driftguard's own
/// account's, or a member account's through its role (issue 15).
#[derive(Clone)]
pub struct AccountLookups {
    pub catalog: std::sync::Arc<dyn StackCatalog>,
    pub drift: std::sync::Arc<dyn DriftDetector>,
    pub actors: std::sync::Arc<dyn ActorLookup>,
}

impl std::fmt::Debug for AccountLookups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountLookups")
    }
}

/// AWS Organizations' view of an account: its OU path and tags, for the
/// policy's environments matched by `match.ou` / `match.tags`.
#[async_trait]
pub trait AccountDirectory: Send + Sync {
    async fn facts(
        &self,
        account: &str,
    ) -> PortResult<driftguard_model::domain::policy::AccountFacts>;
}

/// Member accounts reached through a role driftguard assumes there.
#[async_trait]
pub trait MemberAccounts: Send + Sync {
    /// The lookups of `account` in `region`. `Err`: the role cannot be used
    /// (access denied or missing: `Failed`, not retried; throttled or timed
    /// out: retryable).
    async fn lookups(&self, account: &str, region: &str) -> PortResult<AccountLookups>;
    /// The role assumed in `account` (named when it cannot be used).
    fn role_arn(&self, account: &str, region: &str) -> String;
}
