//! The scheduled sweep (the safety net) and the AWS Config custom rule.
//!
//! The sweep itself is this module's own API; its parts live in private
//! submodules, re-exported here by name (one path per item):
//! - `orchestrator`: one sweep run ([`Sweeper::run`]): stacks → stack drift
//!   detection (bounded concurrency, deadline-aware, resumable) → the shared
//!   decision [`crate::detect::Pipeline`] → coverage → `Drift Sweep Summary`;
//!   its `resolve` part closes the tickets of what is back in sync.
//! - `round`: a run's pure steps (which stacks, the cursor it leaves, the
//!   summary).
//! - `coverage`: honest per-stack coverage ("N of M resources checked").
//! - `cursor`: where an interrupted round resumes (`CURSOR#sweep`).
//! - `settings`: `SWEEP_*` environment settings and stack selection.
//! - `summary`: the `Drift Sweep Summary` event.
//!
//! The public submodules keep their prefix: [`fanout`] (one sweep part per account and region, over a queue) and
//! [`config_rule`] (the AWS Config custom rule: evaluation + `PutEvaluations`).
//!
//! See `docs/sweep.md`.
pub mod config_rule;
mod coverage;
mod cursor;
pub mod fanout;
mod orchestrator;
mod round;
mod settings;
mod summary;

pub use self::coverage::{compute_coverage, CoverageCounts, StackCoverage, StackOutcome};
pub use self::cursor::{PendingDetection, SweepCursor};
pub use self::orchestrator::{RunContext, SweepError, SweepPorts, Sweeper};
pub use self::settings::{PollSettings, Selection, SweepConfigError, SweepSettings};
pub use self::summary::{StackTotals, SweepSummary};

/// For the detect tests that replay a sweep's resolution.
#[cfg(test)]
pub(crate) use self::orchestrator::resolve::resolution;

#[cfg(test)]
mod tests;
