//! driftguard-model: the pure vocabulary and rules. No I/O, no async, no SDK.
//!
//! - [`domain`]: changes, actors, ownership, drift, policy, verdicts, tickets,
//!   remedies, and the pure rules over them.
//! - [`sources`]: parsers from EventBridge envelopes (CloudTrail, AWS Config,
//!   CloudFormation events) into [`domain::Change`].
//! - [`events`]: the events driftguard puts on its own bus.
//! - [`error`]: the classified port error every adapter returns.
//! - `testing` (tests, and feature `testing` from dev-dependencies only):
//!   the test builders every crate's tests share.
//!
//! Depended on by `driftguard-core` (the flows) and, through it, by the
//! adapters, the functions and the CLI; it depends on none of them.
#![warn(missing_docs)]
pub mod domain;
pub mod error;
pub mod events;
pub mod sources;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
