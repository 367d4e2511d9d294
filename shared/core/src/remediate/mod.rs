//! Remediation: plan, safety checks, execution and verification of reverts and
//! stack rollbacks. See `docs/remediation.md`.
//!
//! - [`planner`]: pure, from a ticket's facts to a [`driftguard_model::domain::Plan`]; the
//!   inverse calls come from [`handlers`] (one file per hot-fix family, one
//!   registry) as typed [`call::Call`]s.
//! - [`template`]: `GetTemplate` + parameters, resolved for simple literals.
//! - [`executor`]: runs inverse calls and reads them back through the
//!   [`crate::ports::remediate::CallApi`] port; the AWS executor
//!   (`driftguard_adapters::remediation`) adds [`changeset`], [`cloudcontrol`],
//!   [`rollback`] for the multi-step strategies, each over its own port (all in
//!   [`crate::ports::remediate`]), with their calls typed in [`strategy_calls`]
//!   (one enum per strategy).
//! - [`limits`]: blast-radius rate limits and the persisted circuit breaker.
//! - [`verify`]: the convergence check after acting.
//! - the remediate Lambda's logic over ports ([`Remediator`]) is this module's
//!   own API: its parts live in the private submodule `service` and are
//!   re-exported here by name. The other submodules are public and keep their
//!   prefix (`remediate::call::Call`, `remediate::planner::plan`): nothing
//!   else is re-exported from them.

use chrono::{DateTime, Utc};

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
    decided_at, stale_decision, AccountScope, Outcome, RemediateError, Remediator,
    RemediatorSettings,
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
