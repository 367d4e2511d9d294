//! driftguard shared library.
//!
//! - [`domain`]: the pure model (changes, actors, ownership, drift, policy, verdicts,
//!   tickets, remedies). No I/O.
//! - [`sources`]: parsers from EventBridge envelopes into [`domain::Change`].
//! - [`ports`]: the traits the functions depend on.
//! - [`adapters`]: implementations of the ports over the AWS SDK and in memory.
pub mod adapters;
pub mod codify;
pub mod config;
pub mod deployment;
pub mod domain;
pub mod error;
pub mod events;
pub mod guardrail;
pub mod idempotency;
pub mod metrics;
pub mod notify;
pub mod pipeline;
pub mod ports;
pub mod remediation;
pub mod resilience;
pub mod sources;
pub mod sweep;
pub mod sync;
pub mod telemetry;

pub use domain::*;
