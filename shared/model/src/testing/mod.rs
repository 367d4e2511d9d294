//! Test builders shared by every crate's tests: identities, changes, plans,
//! tickets, policy texts and raw CloudTrail JSON, so a test says what differs
//! and takes the rest from here instead of copying it.
//!
//! Compiled only for the model's own tests (`cfg(test)`) and for crates that
//! enable the model's `testing` feature, which they do from their
//! dev-dependencies only (`driftguard-core`'s own `testing` feature enables
//! it): never in a Lambda build (`bash scripts/check-walls` checks).
//!
//! Every builder returns the same values on every call: tests assert on
//! them.
pub mod changes;
pub mod identities;
pub mod policies;
pub mod records;
pub mod tickets;
