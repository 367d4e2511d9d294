//! One sweep run's pure steps around the stack runs: which listed stacks it
//! sweeps ([`choose`]), what the stack runs leave for the next run
//! ([`end_round`]: the cursor), and the summary ([`summarize`]).
use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};

use super::coverage::{CoverageCounts, StackCoverage, StackOutcome};
use super::cursor::{PendingDetection, SweepCursor};
use super::settings::{Selection, SweepSettings};
use super::summary::{attention_rank, StackTotals, SweepSummary};
use crate::ports::StackSummary;
use driftguard_model::events::SCHEMA_VERSION;

/// How one stack's sweep ended.
pub(super) enum StackRun {
    Done(StackCoverage),
    /// Its detection was still running at the deadline: resumed next run.
    Pending(StackCoverage, PendingDetection),
    /// Not started (the deadline was near), with the detection it would resume.
    NotStarted(StackSummary, Option<String>),
}

/// The stack's id, or its name when it has none: one detection per key.
pub(super) fn stack_key(stack: &StackSummary) -> String {
    if stack.stack_id.is_empty() {
        stack.stack_name.clone()
    } else {
        stack.stack_id.clone()
    }
}

/// The listed stacks sorted out.
pub(super) struct Chosen {
    pub totals: StackTotals,
    /// Stacks not selected, by reason.
    pub not_selected: BTreeMap<String, usize>,
    /// The coverage of the skipped stacks.
    pub coverage: Vec<StackCoverage>,
    /// The stacks to sweep, by (name, id).
    pub selected: Vec<StackSummary>,
}

/// Which listed stacks the settings select (each stack key once), which
/// they skip and why.
pub(super) fn choose(
    stacks: Vec<StackSummary>,
    settings: &SweepSettings,
    started_at: DateTime<Utc>,
) -> Chosen {
    let mut chosen = Chosen {
        totals: StackTotals {
            listed: stacks.len(),
            ..StackTotals::default()
        },
        not_selected: BTreeMap::new(),
        coverage: Vec::new(),
        selected: Vec::new(),
    };
    let mut seen = HashSet::new();
    for stack in stacks {
        // Never two detections on one stack: one entry per stack id.
        if !seen.insert(stack_key(&stack)) {
            continue;
        }
        match settings.select(&stack) {
            Selection::Selected => chosen.selected.push(stack),
            Selection::NotSelected(why) => {
                *chosen.not_selected.entry(why.to_string()).or_default() += 1
            }
            Selection::Skipped(why) => {
                chosen.totals.selected += 1;
                tracing::info!(stack = %stack.stack_name, status = %stack.status, reason = %why, "stack skipped");
                chosen.coverage.push(
                    StackCoverage::new(
                        &stack.stack_name,
                        &stack.stack_id,
                        &stack.status,
                        StackOutcome::Skipped,
                        started_at,
                    )
                    .with_reason(why),
                );
            }
        }
    }
    chosen.totals.selected += chosen.selected.len();
    chosen
        .selected
        .sort_by(|a, b| (&a.stack_name, &a.stack_id).cmp(&(&b.stack_name, &b.stack_id)));
    chosen
}

/// What the run leaves: every stack's coverage, and where the next run
/// resumes.
pub(super) struct Ended {
    pub coverage: Vec<StackCoverage>,
    /// `None`: the round is complete.
    pub cursor: Option<SweepCursor>,
    pub round_started_at: DateTime<Utc>,
}

/// The stack runs counted into `totals`, and the cursor they leave: the
/// first stack not started, and the detections still running (a pending one
/// not even polled this time stays pending).
pub(super) fn end_round(
    runs: Vec<StackRun>,
    mut coverage: Vec<StackCoverage>,
    totals: &mut StackTotals,
    old: Option<&SweepCursor>,
    started_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Ended {
    let mut pending = BTreeMap::new();
    let mut not_started: Vec<(StackSummary, Option<String>)> = Vec::new();
    for run in runs {
        match run {
            StackRun::Done(c) => coverage.push(c),
            StackRun::Pending(c, p) => {
                pending.insert(c.stack_id.clone(), p);
                coverage.push(c);
            }
            StackRun::NotStarted(stack, resume) => not_started.push((stack, resume)),
        }
    }
    for c in &coverage {
        totals.count(c.outcome);
    }
    totals.not_started = not_started.len();
    if let Some(old) = old {
        for (stack, resume) in &not_started {
            if let (Some(id), Some(p)) = (resume, old.pending.get(&stack.stack_id)) {
                if &p.detection_id == id {
                    pending.insert(stack.stack_id.clone(), p.clone());
                }
            }
        }
    }
    let next_stack = not_started
        .iter()
        .map(|(st, _)| st.stack_name.clone())
        .min();
    let round_started_at = old.map(|c| c.round_started_at).unwrap_or(started_at);
    let cursor = (next_stack.is_some() || !pending.is_empty()).then_some(SweepCursor {
        round_started_at,
        next_stack,
        pending,
        updated_at: now,
    });
    Ended {
        coverage,
        cursor,
        round_started_at,
    }
}

/// The run's own facts for its summary.
pub(super) struct RunFacts {
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub resumed: bool,
    pub concurrency: usize,
    pub max_in_flight: usize,
    pub max_stacks_in_summary: usize,
}

/// The `Drift Sweep Summary` of a run: the least covered stacks first,
/// capped.
pub(super) fn summarize(
    stacks: StackTotals,
    not_selected: BTreeMap<String, usize>,
    ended: Ended,
    run: RunFacts,
) -> SweepSummary {
    let Ended {
        mut coverage,
        cursor,
        round_started_at,
    } = ended;
    let mut resources = CoverageCounts::default();
    let (mut written, mut resolved) = (0, 0);
    for c in &coverage {
        resources.add(&c.counts);
        written += c.tickets.len();
        resolved += c.resolved.len();
    }
    coverage.sort_by_key(attention_rank);
    let stacks_omitted = coverage.len().saturating_sub(run.max_stacks_in_summary);
    coverage.truncate(run.max_stacks_in_summary);
    SweepSummary {
        schema_version: SCHEMA_VERSION,
        run_id: run.run_id,
        started_at: run.started_at,
        finished_at: run.finished_at,
        duration_ms: run.duration_ms,
        resumed: run.resumed,
        round_complete: cursor.is_none(),
        round_started_at,
        stacks,
        not_selected,
        coverage: resources.sentence(),
        drifted: resources.drifted(),
        resources,
        tickets_written: written,
        tickets_resolved: resolved,
        concurrency: run.concurrency,
        max_in_flight: run.max_in_flight,
        stack_coverage: coverage,
        stacks_omitted,
    }
}

/// The `sweep finished` log line.
pub(super) fn log_finished(summary: &SweepSummary, published: bool) {
    let t = &summary.stacks;
    tracing::info!(
        run_id = %summary.run_id,
        stacks_listed = t.listed,
        stacks_selected = t.selected,
        stacks_swept = t.swept,
        stacks_detection_failed = t.detection_failed,
        stacks_incomplete = t.incomplete,
        stacks_failed = t.failed,
        stacks_skipped = t.skipped,
        stacks_not_started = t.not_started,
        resources = summary.resources.resources,
        resources_checked = summary.resources.checked,
        resources_not_checked = summary.resources.not_checked,
        resources_not_reported = summary.resources.not_reported,
        drifted = summary.drifted,
        tickets_written = summary.tickets_written,
        tickets_resolved = summary.tickets_resolved,
        max_in_flight = summary.max_in_flight,
        round_complete = summary.round_complete,
        coverage = %summary.coverage,
        duration_ms = summary.duration_ms,
        published,
        "sweep finished"
    );
}

/// The `stack swept` log line.
pub(super) fn log_swept(cov: &StackCoverage, detection_id: &str) {
    tracing::info!(
        stack = %cov.stack_name,
        outcome = cov.outcome.as_str(),
        detection_id = %detection_id,
        stack_drift_status = cov.stack_drift_status.as_deref().unwrap_or(""),
        resources = cov.counts.resources,
        checked = cov.counts.checked,
        drifted = cov.counts.drifted(),
        not_checked = cov.counts.not_checked,
        not_reported = cov.counts.not_reported,
        tickets = cov.tickets.len(),
        resolved = cov.resolved.len(),
        duration_ms = cov.duration_ms,
        coverage = %cov.coverage,
        "stack swept"
    );
}
