//! The domain: pure types and decisions, no I/O.
pub mod acceptance;
pub mod actor;
pub mod approval;
pub mod arn;
pub mod change;
pub mod drift;
pub mod ownership;
pub mod policy;
pub mod remedy;
pub mod resource;
pub mod ticket;
pub mod ticket_rules;
pub mod verdict;

pub use acceptance::Acceptance;
pub use actor::{classify_actor, Actor, ActorKind, Identity};
pub use change::{Change, ChangeSource, NotAChange, Observation};
pub use drift::{DifferenceKind, Drift, DriftOrigin, DriftStatus, PropertyDifference};
pub use ownership::{NestedStack, Ownership, StackMembership};
pub use policy::{AccountFacts, Policy, PolicyError};
pub use remedy::{Plan, PlannedCall, Strategy};
pub use resource::ResourceRef;
pub use ticket::{Approval, Fingerprint, Ticket, TicketEntry, TicketState};
pub use verdict::{decide, Action, Decision, DecisionInput, Severity, Verdict};

#[cfg(test)]
mod environment_tests;
#[cfg(test)]
mod policy_props;
#[cfg(test)]
mod tests;
