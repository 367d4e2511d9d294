//! Remediation: plan, safety checks, execution and verification of reverts and
//! stack rollbacks. See `docs/remediation.md`.
//!
//! - [`planner`]: pure, from a ticket's facts to a [`driftguard_model::domain::Plan`]; the
//!   inverse calls come from [`handlers`] (one file per hot-fix family, one
//!   registry) as typed [`call::Call`]s.
//! - [`template`]: `GetTemplate` + parameters, resolved for simple literals.
//! - [`executor`]: runs inverse calls and reads them back through the
//!   [`call::CallApi`] port; the AWS executor (`adapters::aws::remediation`)
//!   adds [`changeset`], [`cloudcontrol`], [`rollback`] for the multi-step
//!   strategies, each over its own port, with their calls typed in
//!   [`strategy_calls`] (one enum per strategy).
//! - [`limits`]: blast-radius rate limits and the persisted circuit breaker.
//! - [`verify`]: the convergence check after acting.
//! - the remediate Lambda's logic over ports ([`Remediator`]) is this module's
//!   own API: its parts live in the private submodule `service` and are
//!   re-exported here by name. The other submodules are public and keep their
//!   prefix (`remediate::call::Call`, `remediate::planner::plan`): nothing
//!   else is re-exported from them.
use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use driftguard_model::domain::Plan;
use driftguard_model::error::{PortError, PortResult};
use driftguard_model::events::{RemediationApproved, SCHEMA_VERSION};

pub mod call;
pub mod changeset;
pub mod cloudcontrol;
pub mod executor;
pub mod handlers;
pub mod history;
pub mod limits;
pub mod planner;
#[cfg(test)]
mod planner_unlisted_tests;
pub mod rollback;
pub mod rollback_request;
mod service;
pub mod strategy_calls;
pub mod template;
pub mod verify;

pub use self::service::{
    decided_at, stale_decision, AccountScope, MemberRemediators, Outcome, RemediateError,
    Remediator, RemediatorSettings,
};

/// The `Drift Remediation Approved` detail the approval endpoint puts on the bus.
pub fn approval_event(
    ticket_id: &str,
    approved_by: &str,
    now: DateTime<Utc>,
) -> RemediationApproved {
    RemediationApproved {
        schema_version: SCHEMA_VERSION,
        ticket_id: ticket_id.to_string(),
        approved_by: approved_by.to_string(),
        approved_at: now,
    }
}

/// A full EventBridge envelope around a driftguard detail, as the bus delivers
/// it (fixtures, tests, `cargo lambda invoke`).
pub fn bus_envelope(
    id: &str,
    detail_type: &str,
    detail: &impl serde::Serialize,
    account: &str,
    region: &str,
    time: DateTime<Utc>,
) -> serde_json::Value {
    serde_json::json!({
        "version": "0",
        "id": id,
        "detail-type": detail_type,
        "source": driftguard_model::events::SOURCE,
        "account": account,
        "time": time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": region,
        "resources": [],
        "detail": serde_json::to_value(detail).unwrap_or(serde_json::Value::Null),
    })
}

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

/// Runs plans. The AWS implementation is `adapters::aws::remediation::AwsExecutor`.
#[async_trait]
pub trait PlanExecutor: Send + Sync {
    async fn execute(&self, plan: &Plan) -> Result<Execution, ExecutionError>;
    /// Read the resource back through its own API (inverse-call plans). `None`
    /// when the plan has no read-back (change sets, Cloud Control, rollbacks).
    async fn read_back(&self, plan: &Plan) -> PortResult<Option<ReadBack>>;
    /// The stack's status after a rollback call (`DescribeStacks`).
    async fn stack_status(&self, stack: &str) -> PortResult<Option<String>>;
    /// The logical ids a REVERT_DRIFT plan's change set would revert, from a
    /// throwaway preview ([`changeset::reverted_logical_ids`]; nothing is
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
    /// The stack's known-good versions, oldest first ([`history`]); none by default.
    async fn known_good(&self, _stack: &str) -> PortResult<Vec<history::KnownGood>> {
        Ok(Vec::new())
    }
}
