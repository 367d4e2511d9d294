//! The domain: pure types and decisions, no I/O.
//!
//! The vocabulary lives in private submodules, re-exported here by name so
//! each item has one path (`domain::Change`, `domain::Ticket`, …):
//! `acceptance`, `actor` (who acted, [`classify_actor`]), `change` (one
//! observed change), `drift`, `ownership`, `remedy` (plans), `resource`,
//! `ticket`, `verdict` ([`decide`]). The rule sets with their own vocabulary
//! are public modules and keep their prefix: [`policy`], [`approval`],
//! [`arn`], [`ticket_rules`].
mod acceptance;
mod actor;
pub mod approval;
pub mod arn;
mod change;
mod drift;
mod hit_and_run;
mod ownership;
mod people;
pub mod policy;
mod remedy;
mod resource;
mod ticket;
pub mod ticket_rules;
pub mod trust;
mod verdict;

pub use self::acceptance::Acceptance;
pub use self::actor::{classify_actor, classify_actor_in, Actor, ActorKind, Identity};
pub use self::change::{Change, ChangeSource, NotAChange, Observation, StackHint};
pub use self::drift::{
    decisive, out_of_template, unlisted_write, DifferenceKind, Drift, DriftOrigin, DriftStatus,
    PropertyDifference,
};
pub use self::hit_and_run::{decide_hit_and_run, HitAndRun, Undo, ANNOUNCED_FROM};
pub use self::ownership::{stack_operation_in_progress, NestedStack, Ownership, StackMembership};
pub use self::remedy::{canonical_json, Plan, PlannedCall, Strategy};
pub use self::resource::ResourceRef;
pub use self::ticket::{
    display_id, summarize_if_larger, Approval, EntryKind, Fingerprint, SourceFact, Ticket,
    TicketEntry, TicketIdForm, TicketKeyError, TicketState, TransitionError, Unannounced,
    DISPLAY_ID_HEX, DYNAMODB_MAX_ITEM_BYTES, MAX_ENTRY_DATA_BYTES, MAX_HISTORY, MAX_HISTORY_BYTES,
    MAX_TICKET_BYTES, TICKET_ID_HEX,
};
pub use self::verdict::{
    accepted_decision, decide, Action, Decision, DecisionInput, Severity, Verdict,
};

#[cfg(test)]
mod environment_tests;
#[cfg(test)]
mod people_tests;
#[cfg(test)]
mod policy_props;
#[cfg(test)]
mod tests;
