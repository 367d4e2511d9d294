//! The scheduled sweep (the safety net) and the AWS Config custom rule.
//!
//! - [`orchestrator`]: one sweep run ([`Sweeper::run`]): stacks → stack drift
//!   detection (bounded concurrency, deadline-aware, resumable) → the shared
//!   decision [`crate::detect::Pipeline`] → coverage → `Drift Sweep Summary`;
//!   [`orchestrator::resolve`]: closing the tickets of what is back in sync;
//!   `round`: the run's pure steps (which stacks, the cursor it leaves, the
//!   summary).
//! - [`coverage`]: honest per-stack coverage ("N of M resources checked").
//! - [`cursor`]: where an interrupted round resumes (`CURSOR#sweep`).
//! - [`settings`]: `SWEEP_*` environment settings and stack selection.
//! - [`summary`]: the `Drift Sweep Summary` event.
//! - [`ports`]: the sweep's own ports; [`aws`] (= `adapters::aws::sweep`):
//!   CloudFormation and DynamoDB adapters; [`memory`] (= `adapters::memory::sweep`): in-memory store and a scripted scanner for tests.
//! - [`config_rule`]: the AWS Config custom rule (evaluation + `PutEvaluations`).
//!
//! See `docs/sweep.md`.
pub mod config_rule;
pub mod coverage;
pub mod cursor;
pub mod fanout;
pub mod orchestrator;
pub mod ports;
mod round;
pub mod settings;
pub mod summary;

pub use coverage::{compute_coverage, CoverageCounts, StackCoverage, StackOutcome};
pub use cursor::SweepCursor;
pub use orchestrator::{RunContext, SweepError, SweepPorts, Sweeper};
pub use settings::SweepSettings;
pub use summary::SweepSummary;

#[cfg(test)]
mod tests;
