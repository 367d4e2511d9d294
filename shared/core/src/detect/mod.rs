//! The decision pipeline: one change in, one decision out, the same whichever
//! way the change was seen.
//!
//! ```text
//! process_raw(&[u8]) / process_event(&Value)   (detect: EventBridge envelopes)
//!   parse ─► claim event id ─► process_change ─► complete (or abandon + Err)
//!
//! process_change(Change)           (the sweep calls this directly, with
//!                                   `change.drift_hint` set: drift detection is skipped)
//!   actor      classify (Config items: CloudTrail LookupEvents, else unknown)
//!   ownership  StackCatalog (reverse lookup, ownership index; cached in the adapter);
//!              a write no operation row lists: its identifiers in the ownership
//!              index, before the claim (`identified`: no managed owner, skipped)
//!   drift      DetectStackResourceDrift on the one logical resource, or the
//!              event's own request when detection is unsupported/unavailable (said so)
//!   decide     domain::decide (pure) + DRY_RUN override
//!   ticket     pure ticket_rules::apply_decision (model) + conditional write,
//!              retried on Conflict
//!   publish    "Drift Decision" on the bus, when a ticket was written
//!   log        one JSON line per decision
//! ```
//!
//! Failure policy (see `docs/errors.md`): anything that could lose the event
//! (ticket store, bus, ownership lookups that were throttled or timed out)
//! returns `Err` so Lambda retries and the DLQ keeps the event; drift detection
//! and the OpsCenter mirror degrade instead.
//!
//! Where each step lives: `event` (parse, claim, complete), `decide` (the
//! per-change flow), `identified` (the owner of a write no operation row
//! lists, from its identifiers), `actor` (who acted), `gather` (ownership, drift, the
//! ticket as read), `ticket` (the write, retried on conflict), `publish`
//! (announce, log, metrics), `settings` (ports and settings), `report`
//! (outcomes and errors); `accounts`, `members` and `known_good` extend the
//! pipeline for Organizations facts, member accounts and known-good
//! templates.
use std::sync::Arc;

use driftguard_model::domain::policy::Policy;

mod accounts;
mod actor;
mod decide;
mod event;
mod gather;
mod identified;
mod known_good;
mod members;
mod people;
mod publish;
mod report;
mod settings;
mod ticket;

pub use self::actor::carried_actor;
pub use self::event::watched_account_problem;
pub use self::report::{DecisionReport, Outcome, PipelineError, TicketReport, TicketWrite};
pub use self::settings::{Ports, Settings};

/// Logical id used for a stack-level change (a stack status event): the stack itself.
pub const STACK_LOGICAL_ID: &str = "(stack)";

pub struct Pipeline {
    ports: Ports,
    policy: Arc<Policy>,
    settings: Settings,
    /// Records known-good templates after completed deploys (`known_good`).
    known_good: Option<crate::remediate::history::KnownGoodRecorder>,
    /// Member accounts' lookups through their roles (`members`).
    members: Option<Arc<dyn crate::ports::MemberAccounts>>,
    /// Accounts' OU paths and tags, for environments matched by them (`accounts`).
    directory: Option<Arc<dyn crate::ports::AccountDirectory>>,
    /// Roles' trust policies, for people roles (`people`).
    role_trust: Option<Arc<dyn crate::ports::trust::RoleTrust>>,
}

impl Pipeline {
    pub fn new(ports: Ports, policy: Arc<Policy>, settings: Settings) -> Self {
        Self {
            ports,
            policy,
            settings,
            known_good: None,
            members: None,
            directory: None,
            role_trust: None,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod flow_tests;

#[cfg(test)]
mod event_tests;

#[cfg(test)]
mod drift_tests;

#[cfg(test)]
mod hit_and_run_tests;

#[cfg(test)]
mod sweep_tests;

#[cfg(test)]
mod member_tests;

#[cfg(test)]
mod order_tests;

#[cfg(test)]
mod identified_tests;

#[cfg(test)]
mod people_tests;

#[cfg(test)]
mod ticket_key_tests;
