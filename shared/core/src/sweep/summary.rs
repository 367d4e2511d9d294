//! The `Drift Sweep Summary` event (`source: driftguard`), documented in
//! `docs/sweep.md`. Bump [`driftguard_model::events::SCHEMA_VERSION`] on breaking changes.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::coverage::{CoverageCounts, StackCoverage, StackOutcome};

/// How many stacks ended which way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackTotals {
    /// Live stacks listed.
    pub listed: usize,
    /// Matched the globs and the required tag.
    pub selected: usize,
    /// Planned for this run (all selected, or the rest of a resumed round).
    pub planned: usize,
    pub swept: usize,
    pub detection_failed: usize,
    pub incomplete: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Not started because the Lambda deadline was near: next run resumes.
    pub not_started: usize,
}

impl StackTotals {
    pub fn count(&mut self, outcome: StackOutcome) {
        match outcome {
            StackOutcome::Swept => self.swept += 1,
            StackOutcome::DetectionFailed => self.detection_failed += 1,
            StackOutcome::Incomplete => self.incomplete += 1,
            StackOutcome::Failed => self.failed += 1,
            StackOutcome::Skipped => self.skipped += 1,
        }
    }
}

/// `Drift Sweep Summary`: one per sweep run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepSummary {
    pub schema_version: u32,
    /// The scheduled event's id (or a generated one).
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
    /// This run continued a round an earlier run could not finish.
    pub resumed: bool,
    /// The round finished: no cursor left. `false`: the next run resumes.
    pub round_complete: bool,
    pub round_started_at: DateTime<Utc>,
    pub stacks: StackTotals,
    /// Stacks not selected, by reason (glob, tag).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub not_selected: BTreeMap<String, usize>,
    /// Resources of the stacks swept in this run.
    pub resources: CoverageCounts,
    /// "N of M resources checked ..." over the stacks swept in this run.
    pub coverage: String,
    pub drifted: usize,
    pub tickets_written: usize,
    pub tickets_resolved: usize,
    pub concurrency: usize,
    /// The most stacks that were being detected at once (never above `concurrency`).
    pub max_in_flight: usize,
    /// Per-stack coverage, the least covered first; capped (see `stacks_omitted`);
    /// every stack's entry is stored as a `COVERAGE#<stack>` item.
    pub stack_coverage: Vec<StackCoverage>,
    pub stacks_omitted: usize,
}

/// Order for the capped per-stack list: problems and drift first.
pub fn attention_rank(c: &StackCoverage) -> (u8, std::cmp::Reverse<usize>, String) {
    let rank = match c.outcome {
        StackOutcome::Failed => 0,
        StackOutcome::Incomplete => 1,
        StackOutcome::DetectionFailed => 2,
        StackOutcome::Swept if c.counts.drifted() > 0 => 3,
        StackOutcome::Swept if c.counts.checked < c.counts.resources => 4,
        StackOutcome::Skipped => 5,
        StackOutcome::Swept => 6,
    };
    (
        rank,
        std::cmp::Reverse(c.counts.drifted()),
        c.stack_name.clone(),
    )
}
