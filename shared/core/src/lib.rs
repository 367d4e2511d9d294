//! driftguard-core: the flows, named after the Lambdas that run them, over
//! ports. No AWS SDK, no HTTP client: those live in `driftguard-adapters`.
//!
//! - [`detect`]: one event in, one decision and ticket out.
//! - [`remediate`]: plans, gates, execution over narrow ports, verification.
//! - [`notify`]: SNS and Slack messages people can act on.
//! - [`sweep`]: the scheduled safety net and the AWS Config rule.
//! - [`ports`]: every trait the flows depend on, with the types in their
//!   signatures that exist for them.
//! - `memory` (feature `memory`): in-memory implementations of the ports
//!   (tests, the CLI's previews); never in a Lambda build.
pub mod codify;
pub mod config;
pub mod detect;
pub mod guardrail;
pub mod idempotency;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod metrics;
pub mod notify;
pub mod ports;
pub mod remediate;
pub mod resilience;
pub mod sweep;
pub mod sync;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
