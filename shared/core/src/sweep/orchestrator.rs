//! The sweep run: list → select → plan (cursor) → detect with bounded
//! concurrency → feed drift through the shared pipeline → resolve IN_SYNC
//! tickets → coverage → cursor → `Drift Sweep Summary`.
//!
//! ```text
//! per stack (at most `concurrency` at once, never two on one stack):
//!   DetectStackDrift (or resume the cursor's detection id, or poll the id of
//!   the detection already running) ─► poll DescribeStackDriftDetectionStatus
//!   with backoff ─► DescribeStackResourceDrifts + ListStackResources
//!   ─► MODIFIED/DELETED: Pipeline::process_change (ticket, decision)
//!   ─► IN_SYNC (detection complete only): resolve the open ticket
//!   ─► COVERAGE#<stack>
//! ```
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use rand::Rng;

use crate::detect::Pipeline;
use crate::ports::{
    Clock, DecisionBus, PropertyCheck, PropertyReadBack, StackSummary, TicketStore,
};
use crate::resilience::{retry, RetryPolicy};
use driftguard_model::domain::change::StackHint;
use driftguard_model::domain::ticket::EntryKind;
use driftguard_model::domain::{
    Change, ChangeSource, DriftStatus, Fingerprint, Identity, ResourceRef, Ticket, TicketEntry,
    TicketState,
};
use driftguard_model::error::PortError;
use driftguard_model::events::{SCHEMA_VERSION, SWEEP_SUMMARY};

use super::coverage::{compute_coverage, CoverageCounts, StackCoverage, StackOutcome};
use super::cursor::{plan_run, PendingDetection, Planned, SweepCursor};
use super::ports::{
    DetectionStart, DetectionState, DetectionStatus, Page, ResourceDrift, StackDriftScanner,
    StackInventory, SweepStore,
};
use super::settings::{Selection, SweepSettings};
use super::summary::{attention_rank, StackTotals, SweepSummary};

/// The ports the sweep runs on (the pipeline has its own).
#[derive(Clone)]
pub struct SweepPorts {
    pub inventory: Arc<dyn StackInventory>,
    pub scanner: Arc<dyn StackDriftScanner>,
    pub store: Arc<dyn SweepStore>,
    pub tickets: Arc<dyn TicketStore>,
    pub bus: Arc<dyn DecisionBus>,
    pub clock: Arc<dyn Clock>,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// Without the stack list there is nothing to sweep: fail so it shows.
    #[error("cannot list stacks: {0}")]
    ListStacks(#[source] PortError),
    #[error("cannot publish the sweep summary: {0}")]
    PublishSummary(#[source] PortError),
    #[error("cannot serialize the sweep summary: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// Who is running and when it must stop.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub run_id: String,
    /// Used when a stack id is not an ARN (account and region of the event).
    pub account: String,
    pub region: String,
    /// The Lambda deadline.
    pub deadline: Instant,
}

enum StackRun {
    Done(StackCoverage),
    Pending(StackCoverage, PendingDetection),
    NotStarted(StackSummary, Option<String>),
}

/// Why a stack's detection did not produce results this run.
enum DetectionEnd {
    Finished(String, DetectionStatus, DateTime<Utc>),
    OutOfTime(PendingDetection),
    Failed(&'static str, PortError),
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub struct Sweeper {
    ports: SweepPorts,
    pipeline: Arc<Pipeline>,
    settings: SweepSettings,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Reads out-of-template properties back through the resource's own API:
    /// the only check that may resolve an out-of-template ticket.
    read_back: Option<Arc<dyn PropertyReadBack>>,
    /// Records known-good templates of stable, in-sync stacks (rollback targets).
    history: Option<KnownGoodRecorder>,
}

/// Where the sweep reads a stack's processed template and stores known-good
/// versions (shared with detect's deploy events).
use crate::remediate::history::KnownGoodRecorder;

/// Every page of a listing, each page retried on its own (a throttled page
/// does not restart the listing).
pub async fn all_pages<T, F, Fut>(
    policy: &RetryPolicy,
    what: &'static str,
    mut page: F,
) -> Result<Vec<T>, PortError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, PortError>>,
{
    const MAX_PAGES: usize = 10_000;
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let p = retry(policy, what, || page(token.clone())).await?;
        items.extend(p.items);
        match p.next_token {
            // A token that repeats would loop forever: stop there.
            Some(next) if Some(&next) != token.as_ref() => token = Some(next),
            _ => return Ok(items),
        }
    }
    Ok(items)
}

/// `arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/ID` → (account, region).
pub fn account_region_of(stack_id: &str) -> Option<(String, String)> {
    let mut parts = stack_id.strip_prefix("arn:")?.splitn(5, ':');
    let (_partition, service, region, account) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (service == "cloudformation" && !region.is_empty() && !account.is_empty())
        .then(|| (account.to_string(), region.to_string()))
}

/// The change the pipeline sees for one drifted resource. The event id is stable
/// per (stack, logical id, detection): re-reading one detection is idempotent.
pub fn change_for_drift(
    stack: &StackSummary,
    detection_id: &str,
    drift: &ResourceDrift,
    account: &str,
    region: &str,
    now: DateTime<Utc>,
) -> Change {
    Change {
        event_id: format!(
            "sweep:{}:{}:{}",
            stack.stack_name, drift.logical_id, detection_id
        ),
        time: drift.drift.detected_at.unwrap_or(now),
        account: account.to_string(),
        region: region.to_string(),
        source: ChangeSource::Sweep,
        service: "cloudformation".into(),
        operation: "DetectStackDrift".into(),
        resource: ResourceRef {
            resource_type: drift.resource_type.clone(),
            physical_id: drift.physical_id.clone(),
            arn: None,
        },
        identity: Identity::default(),
        request: serde_json::Value::Null,
        response: serde_json::Value::Null,
        stack_hint: Some(StackHint {
            stack: if stack.stack_id.is_empty() {
                stack.stack_name.clone()
            } else {
                stack.stack_id.clone()
            },
            logical_id: Some(drift.logical_id.clone()),
            status: Some(stack.status.clone()),
        }),
        drift_hint: Some(drift.drift.clone()),
        unparsed: Vec::new(),
    }
}

/// May a check made at `checked_at` close `ticket`? Only open-like tickets and
/// ALLOWED records whose last change is not newer than the check (a change
/// after the check may not be in it); REMEDIATING is left to remediate.
fn resolvable(ticket: &Ticket, checked_at: DateTime<Utc>) -> bool {
    let last_change = ticket
        .last_change
        .as_ref()
        .map(|c| c.time)
        .unwrap_or(ticket.updated_at);
    matches!(
        ticket.state,
        TicketState::Open
            | TicketState::AwaitingApproval
            | TicketState::Failed
            | TicketState::Allowed
    ) && checked_at >= last_change
        // Nor a check older than the newest fact the ticket applied.
        && ticket.newer_than(checked_at).is_none()
}

/// The drift the last decision was taken on is gone: that decision (a
/// break-glass fix, an allowed pipeline change) no longer covers a drift the
/// sweep finds later, even one with the same values.
fn spend_decision(ticket: &mut Ticket) {
    ticket.decided_drift = None;
}

/// Resolve `ticket` because its resource was checked IN_SYNC at `checked_at`.
/// Pure. Never an out-of-template ticket: CloudFormation did not look at the
/// property ("Only resource properties explicitly defined in the stack
/// template are checked for drift",
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackResourceDrift.html>),
/// so its IN_SYNC says nothing about it; see [`read_back_resolution`].
pub fn resolution(
    mut ticket: Ticket,
    checked_at: DateTime<Utc>,
    detection_id: &str,
    now: DateTime<Utc>,
) -> Option<Ticket> {
    if !resolvable(&ticket, checked_at) || ticket.is_out_of_template() {
        return None;
    }
    let why = format!(
        "back in sync: CloudFormation drift detection {detection_id} checked it IN_SYNC at {checked_at}"
    );
    ticket.transition(TicketState::Resolved, &why, now).ok()?;
    spend_decision(&mut ticket);
    ticket.applied_at_source(checked_at);
    ticket.push(TicketEntry {
        at: now,
        kind: EntryKind::Verified,
        event_id: Some(format!("sweep-in-sync:{detection_id}")),
        summary: why,
        actor: None,
        data: serde_json::json!({
            "source": "sweep",
            "detection_id": detection_id,
            "drift_status": DriftStatus::InSync.as_str(),
            "checked_at": checked_at,
        }),
    });
    ticket.version += 1;
    ticket.updated_at = now;
    Some(ticket)
}

/// Resolve an out-of-template ticket because a read-back through the
/// resource's own API (made at `now`) found the differences gone. Pure.
pub fn read_back_resolution(
    mut ticket: Ticket,
    check: &PropertyCheck,
    now: DateTime<Utc>,
) -> Option<Ticket> {
    if check.still_drifted || !resolvable(&ticket, now) {
        return None;
    }
    let why = format!(
        "back as the template says: the out-of-template change is gone ({})",
        check.detail
    );
    ticket.transition(TicketState::Resolved, &why, now).ok()?;
    spend_decision(&mut ticket);
    ticket.applied_at_source(now);
    ticket.push(TicketEntry {
        at: now,
        kind: EntryKind::Verified,
        event_id: Some(format!("sweep-read-back:{}", now.timestamp())),
        summary: why,
        actor: None,
        data: serde_json::json!({
            "source": "sweep",
            "method": check.method,
            "detail": check.detail,
        }),
    });
    ticket.version += 1;
    ticket.updated_at = now;
    Some(ticket)
}

impl Sweeper {
    pub fn new(ports: SweepPorts, pipeline: Arc<Pipeline>, settings: SweepSettings) -> Self {
        Self {
            ports,
            pipeline,
            settings,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            read_back: None,
            history: None,
        }
    }

    /// Record a known-good version of every stable stack a completed detection
    /// finds IN_SYNC (see `remediation::history`).
    pub fn with_history(mut self, recorder: KnownGoodRecorder) -> Self {
        self.history = Some(recorder);
        self
    }

    /// A stable stack that a completed detection found IN_SYNC is known good:
    /// its processed template and parameters become its next version (an
    /// unchanged one is not repeated).
    async fn record_known_good(&self, stack: &StackSummary, status: &DetectionStatus) {
        let Some(r) = &self.history else { return };
        if status.state != DetectionState::DetectionComplete
            || status.stack_drift_status.as_deref() != Some("IN_SYNC")
        {
            return;
        }
        let now = self.ports.clock.now();
        match crate::remediate::history::record_current(
            r.templates.as_ref(),
            r.history.as_ref(),
            &stack.stack_name,
            &stack.status,
            now,
        )
        .await
        {
            Ok(recorded) => {
                tracing::info!(stack = %stack.stack_name, ?recorded, "known-good template")
            }
            Err(why) => {
                tracing::info!(stack = %stack.stack_name, why, "known-good template not recorded")
            }
        }
    }

    /// Let out-of-template tickets be resolved by reading the resource back.
    pub fn with_read_back(mut self, read_back: Arc<dyn PropertyReadBack>) -> Self {
        self.read_back = Some(read_back);
        self
    }

    /// The finishing check of handed-over change sets and rollbacks: their
    /// decision is re-delivered so remediate verifies them
    /// (`remediation::changeset::finishing_wake`).
    async fn finish_handed_over(&self) {
        let tickets = match self
            .ports
            .tickets
            .list_tickets(Some(driftguard_model::domain::TicketState::Remediating))
            .await
        {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list REMEDIATING tickets: handed-over remediations wait for the next run");
                return;
            }
        };
        let now = self.ports.clock.now();
        for ticket in &tickets {
            let Some(wake) = crate::remediate::changeset::finishing_wake(ticket, now) else {
                continue;
            };
            let published = match serde_json::to_value(&wake) {
                Ok(detail) => self
                    .ports
                    .bus
                    .publish(driftguard_model::events::DRIFT_DECISION, &detail)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match published {
                Ok(()) => {
                    tracing::info!(ticket_id = %ticket.id, "handed-over remediation woken for its finishing check")
                }
                Err(e) => {
                    tracing::warn!(ticket_id = %ticket.id, error = %e, "cannot wake a handed-over remediation")
                }
            }
        }
    }

    /// An out-of-template ticket: read the properties back, when a read-back
    /// is configured and knows them. `None`: nothing may be concluded.
    async fn read_back_of(&self, ticket: &Ticket) -> Option<PropertyCheck> {
        let read_back = self.read_back.as_ref()?;
        let drift = ticket.current_drift()?;
        let resource = ResourceRef {
            resource_type: ticket
                .ownership
                .membership()
                .and_then(|m| m.resource_type.clone())
                .or(ticket.resource.resource_type.clone()),
            ..ticket.resource.clone()
        };
        match read_back.check(&resource, &drift.differences).await {
            Ok(check) => check,
            Err(e) => {
                tracing::warn!(ticket_id = %ticket.id, error = %e, "out-of-template read-back failed: ticket stays open");
                None
            }
        }
    }

    pub fn settings(&self) -> &SweepSettings {
        &self.settings
    }

    /// One sweep run. `Err` only when nothing could be swept (stack listing) or
    /// the summary could not be published; per-stack failures are reported in it.
    pub async fn run(&self, ctx: &RunContext) -> Result<SweepSummary, SweepError> {
        let started = Instant::now();
        let started_at = self.ports.clock.now();
        self.max_in_flight.store(0, Ordering::SeqCst);
        let s = &self.settings;

        let cursor = match retry(&s.retry, "load_cursor", || self.ports.store.load_cursor()).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the sweep cursor: starting a new round");
                None
            }
        };
        let stacks = all_pages(&s.retry, "list_stacks", |token| {
            self.ports.inventory.list_stacks_page(token)
        })
        .await
        .map_err(SweepError::ListStacks)?;

        let mut totals = StackTotals {
            listed: stacks.len(),
            ..StackTotals::default()
        };
        let mut not_selected: BTreeMap<String, usize> = BTreeMap::new();
        let mut coverage: Vec<StackCoverage> = Vec::new();
        let mut seen = HashSet::new();
        let mut selected = Vec::new();
        for stack in stacks {
            // Never two detections on one stack: one entry per stack id.
            let key = if stack.stack_id.is_empty() {
                stack.stack_name.clone()
            } else {
                stack.stack_id.clone()
            };
            if !seen.insert(key) {
                continue;
            }
            match s.select(&stack) {
                Selection::Selected => selected.push(stack),
                Selection::NotSelected(why) => {
                    *not_selected.entry(why.to_string()).or_default() += 1
                }
                Selection::Skipped(why) => {
                    totals.selected += 1;
                    tracing::info!(stack = %stack.stack_name, status = %stack.status, reason = %why, "stack skipped");
                    coverage.push(
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
        totals.selected += selected.len();
        selected.sort_by(|a, b| (&a.stack_name, &a.stack_id).cmp(&(&b.stack_name, &b.stack_id)));
        let plan = plan_run(
            selected,
            |st| (st.stack_name.as_str(), st.stack_id.as_str()),
            cursor.as_ref(),
            started_at,
            s.max_detection_age,
        );
        totals.planned = plan.len();
        let resumed = cursor.is_some();
        tracing::info!(
            run_id = %ctx.run_id,
            stacks_listed = totals.listed,
            stacks_selected = totals.selected,
            stacks_planned = totals.planned,
            resumed,
            next_stack = cursor.as_ref().and_then(|c| c.next_stack.as_deref()).unwrap_or(""),
            concurrency = s.concurrency,
            "sweep started"
        );

        let runs: Vec<StackRun> = futures::stream::iter(plan)
            .map(|planned| self.sweep_stack(planned, ctx))
            .buffer_unordered(s.concurrency.max(1))
            .collect()
            .await;

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
        let now = self.ports.clock.now();
        // A pending detection that was not even polled this time stays pending.
        if let Some(old) = &cursor {
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
        let round_started_at = cursor
            .as_ref()
            .map(|c| c.round_started_at)
            .unwrap_or(started_at);
        let new_cursor = (next_stack.is_some() || !pending.is_empty()).then_some(SweepCursor {
            round_started_at,
            next_stack,
            pending,
            updated_at: now,
        });
        if let Err(e) = retry(&s.retry, "save_cursor", || {
            self.ports.store.save_cursor(new_cursor.as_ref())
        })
        .await
        {
            tracing::error!(error = %e, "cannot store the sweep cursor: the next run starts a new round");
        }

        self.finish_handed_over().await;
        let mut resources = CoverageCounts::default();
        let (mut written, mut resolved) = (0, 0);
        for c in &coverage {
            resources.add(&c.counts);
            written += c.tickets.len();
            resolved += c.resolved.len();
        }
        coverage.sort_by_key(attention_rank);
        let stacks_omitted = coverage.len().saturating_sub(s.max_stacks_in_summary);
        coverage.truncate(s.max_stacks_in_summary);
        let summary = SweepSummary {
            schema_version: SCHEMA_VERSION,
            run_id: ctx.run_id.clone(),
            started_at,
            finished_at: now,
            duration_ms: started.elapsed().as_millis() as u64,
            resumed,
            round_complete: new_cursor.is_none(),
            round_started_at,
            stacks: totals,
            not_selected,
            coverage: resources.sentence(),
            drifted: resources.drifted(),
            resources,
            tickets_written: written,
            tickets_resolved: resolved,
            concurrency: s.concurrency,
            max_in_flight: self.max_in_flight.load(Ordering::SeqCst),
            stack_coverage: coverage,
            stacks_omitted,
        };
        let detail = serde_json::to_value(&summary)?;
        let published = retry(&s.retry, "publish_summary", || {
            self.ports.bus.publish(SWEEP_SUMMARY, &detail)
        })
        .await;
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
            published = published.is_ok(),
            "sweep finished"
        );
        crate::metrics::emit(&crate::metrics::sweep(&summary));
        published.map_err(SweepError::PublishSummary)?;
        Ok(summary)
    }

    async fn sweep_stack(&self, planned: Planned<StackSummary>, ctx: &RunContext) -> StackRun {
        let s = &self.settings;
        let Planned {
            stack,
            resume_detection,
        } = planned;
        let start_cutoff = ctx.deadline.checked_sub(s.deadline_margin);
        if start_cutoff.is_none_or(|c| Instant::now() >= c) {
            return StackRun::NotStarted(stack, resume_detection);
        }
        let now_in_flight = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let _guard = InFlight(&self.in_flight);
        self.max_in_flight
            .fetch_max(now_in_flight, Ordering::SeqCst);

        let started = Instant::now();
        let stack_key = if stack.stack_id.is_empty() {
            stack.stack_name.clone()
        } else {
            stack.stack_id.clone()
        };
        let poll_cutoff = ctx
            .deadline
            .checked_sub(s.finish_reserve)
            .unwrap_or(ctx.deadline);
        let mut cov = StackCoverage::new(
            &stack.stack_name,
            &stack.stack_id,
            &stack.status,
            StackOutcome::Swept,
            self.ports.clock.now(),
        );

        let (detection_id, status, detection_started_at) = match self
            .detect(&stack, &stack_key, resume_detection, poll_cutoff)
            .await
        {
            DetectionEnd::Finished(id, status, at) => (id, status, at),
            DetectionEnd::OutOfTime(pending) => {
                cov.outcome = StackOutcome::Incomplete;
                cov.detection_id = Some(pending.detection_id.clone());
                cov.reason = Some(
                    "the Lambda deadline came before the detection finished: resumed next run"
                        .into(),
                );
                cov.duration_ms = started.elapsed().as_millis() as u64;
                self.store_coverage(&cov).await;
                return StackRun::Pending(cov, pending);
            }
            DetectionEnd::Failed(step, e) => {
                tracing::warn!(stack = %stack.stack_name, step, error = %e, class = e.class(), "stack drift detection failed");
                cov.outcome = StackOutcome::Failed;
                cov.push_error(format!("{step}: {e}"));
                cov.duration_ms = started.elapsed().as_millis() as u64;
                self.store_coverage(&cov).await;
                return StackRun::Done(cov);
            }
        };
        cov.detection_id = Some(detection_id.clone());
        cov.stack_drift_status = status.stack_drift_status.clone();
        if status.state == DetectionState::DetectionFailed {
            cov.outcome = StackOutcome::DetectionFailed;
            cov.reason = status.reason.clone();
        }

        let drifts = match all_pages(&s.retry, "resource_drifts", |token| {
            self.ports.scanner.resource_drifts_page(&stack_key, token)
        })
        .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(stack = %stack.stack_name, error = %e, "cannot read resource drifts");
                cov.outcome = StackOutcome::Failed;
                cov.push_error(format!("DescribeStackResourceDrifts: {e}"));
                cov.duration_ms = started.elapsed().as_millis() as u64;
                self.store_coverage(&cov).await;
                return StackRun::Done(cov);
            }
        };
        let resources = match all_pages(&s.retry, "list_stack_resources", |token| {
            self.ports
                .inventory
                .list_stack_resources_page(&stack_key, token)
        })
        .await
        {
            Ok(r) => r,
            Err(e) => {
                // Coverage then only knows what the drift results name.
                cov.push_error(format!(
                    "ListStackResources: {e}; unsupported resources not counted"
                ));
                Vec::new()
            }
        };
        cov.set_counts(compute_coverage(&resources, &drifts));

        let (account, region) = account_region_of(&stack.stack_id)
            .unwrap_or_else(|| (ctx.account.clone(), ctx.region.clone()));
        for d in &drifts {
            if !d.drift.status.is_drifted() {
                continue;
            }
            cov.drifted.push(d.logical_id.clone());
            let change = change_for_drift(
                &stack,
                &detection_id,
                d,
                &account,
                &region,
                self.ports.clock.now(),
            );
            match self.pipeline.process_change(change).await {
                Ok(report) => {
                    if let Some(t) = report.ticket {
                        cov.tickets.push(t.id);
                    }
                }
                Err(e) => {
                    tracing::error!(stack = %stack.stack_name, logical_id = %d.logical_id, class = e.class(), error = %e, "sweep decision failed");
                    cov.outcome = StackOutcome::Failed;
                    cov.push_error(format!("{}: {e}", d.logical_id));
                }
            }
        }

        self.record_known_good(&stack, &status).await;
        // Only a completed detection proves IN_SYNC; NOT_CHECKED never resolves.
        if status.state == DetectionState::DetectionComplete {
            for d in drifts
                .iter()
                .filter(|d| d.drift.status == DriftStatus::InSync)
            {
                let fingerprint = Fingerprint {
                    account: account.clone(),
                    region: region.clone(),
                    stack: stack.stack_name.clone(),
                    logical_id: d.logical_id.clone(),
                };
                let checked_at = d.drift.detected_at.unwrap_or(detection_started_at);
                match self
                    .resolve_in_sync(&fingerprint, checked_at, &detection_id)
                    .await
                {
                    Ok(Some(id)) => cov.resolved.push(id),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(stack = %stack.stack_name, logical_id = %d.logical_id, error = %e, "cannot resolve ticket");
                        cov.push_error(format!("resolve {}: {e}", d.logical_id));
                    }
                }
            }
        }

        cov.duration_ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            stack = %stack.stack_name,
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
        self.store_coverage(&cov).await;
        StackRun::Done(cov)
    }

    /// Start (or resume, or join) a detection and poll it to the end or the cutoff.
    async fn detect(
        &self,
        stack: &StackSummary,
        stack_key: &str,
        resume: Option<String>,
        poll_cutoff: Instant,
    ) -> DetectionEnd {
        let s = &self.settings;
        let mut resumed = resume;
        loop {
            let started_at = self.ports.clock.now();
            let is_resumed = resumed.is_some();
            let detection_id = match resumed.take() {
                Some(id) => id,
                None => match self.start_detection(stack_key, poll_cutoff).await {
                    Ok(Some(id)) => id,
                    Ok(None) => {
                        return DetectionEnd::Failed(
                            "DetectStackDrift",
                            PortError::Transient {
                                service: "cloudformation",
                                operation: "DetectStackDrift",
                                message: "another drift detection kept running on the stack until the deadline".into(),
                            },
                        )
                    }
                    Err(e) => return DetectionEnd::Failed("DetectStackDrift", e),
                },
            };
            let mut delay = s.poll.initial;
            loop {
                let status = retry(&s.retry, "detection_status", || {
                    self.ports.scanner.detection_status(&detection_id)
                })
                .await;
                match status {
                    Ok(st) if st.state != DetectionState::DetectionInProgress => {
                        return DetectionEnd::Finished(detection_id, st, started_at)
                    }
                    Ok(_) => {}
                    Err(e) if is_resumed && !e.is_retryable() => {
                        // CloudFormation forgot the old detection: start a new one.
                        tracing::info!(stack = %stack.stack_name, detection_id = %detection_id, error = %e, "cannot resume the pending detection: starting a new one");
                        break;
                    }
                    Err(e) => return DetectionEnd::Failed("DescribeStackDriftDetectionStatus", e),
                }
                let jittered = delay
                    + Duration::from_millis(
                        rand::rng().random_range(0..=delay.as_millis() as u64 / 4),
                    );
                if Instant::now() + jittered >= poll_cutoff {
                    return DetectionEnd::OutOfTime(PendingDetection {
                        stack_name: stack.stack_name.clone(),
                        detection_id,
                        started_at,
                    });
                }
                tokio::time::sleep(jittered).await;
                delay = (delay * 2).min(s.poll.max);
            }
        }
    }

    /// `Ok(None)`: another detection without a known id kept running until the cutoff.
    async fn start_detection(
        &self,
        stack_key: &str,
        poll_cutoff: Instant,
    ) -> Result<Option<String>, PortError> {
        let s = &self.settings;
        let mut delay = s.poll.initial;
        loop {
            match retry(&s.retry, "start_detection", || {
                self.ports.scanner.start_detection(stack_key)
            })
            .await?
            {
                DetectionStart::Started { detection_id } => return Ok(Some(detection_id)),
                DetectionStart::AlreadyRunning {
                    detection_id: Some(id),
                } => {
                    tracing::info!(stack = %stack_key, detection_id = %id, "a drift detection is already running: polling it");
                    return Ok(Some(id));
                }
                DetectionStart::AlreadyRunning { detection_id: None } => {
                    if Instant::now() + delay >= poll_cutoff {
                        return Ok(None);
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(s.poll.max);
                }
            }
        }
    }

    async fn resolve_in_sync(
        &self,
        fingerprint: &Fingerprint,
        checked_at: DateTime<Utc>,
        detection_id: &str,
    ) -> Result<Option<String>, PortError> {
        let s = &self.settings;
        let id = fingerprint.ticket_id();
        const ATTEMPTS: u32 = 5;
        for _ in 0..ATTEMPTS {
            let Some(ticket) = retry(&s.retry, "get_ticket", || {
                self.ports.tickets.get_ticket(&id)
            })
            .await?
            else {
                return Ok(None);
            };
            let now = self.ports.clock.now();
            let resolved = if ticket.is_out_of_template() {
                // IN_SYNC says nothing about a property the template does not declare.
                match self.read_back_of(&ticket).await {
                    Some(check) => read_back_resolution(ticket, &check, now),
                    None => {
                        tracing::info!(ticket_id = %id, "out-of-template ticket not resolved by IN_SYNC: no read-back of its properties");
                        None
                    }
                }
            } else {
                resolution(ticket, checked_at, detection_id, now)
            };
            let Some(resolved) = resolved else {
                return Ok(None);
            };
            match retry(&s.retry, "update_ticket", || {
                self.ports.tickets.update_ticket(&resolved)
            })
            .await
            {
                Ok(()) => {
                    tracing::info!(ticket_id = %id, stack = %fingerprint.stack, logical_id = %fingerprint.logical_id, detection_id, "ticket resolved: resource back in sync");
                    return Ok(Some(id));
                }
                // Someone else wrote first: re-read and decide again.
                Err(PortError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(PortError::Conflict {
            what: format!("ticket {id}"),
            message: format!("still conflicting after {ATTEMPTS} attempts"),
        })
    }

    async fn store_coverage(&self, cov: &StackCoverage) {
        if let Err(e) = retry(&self.settings.retry, "save_coverage", || {
            self.ports.store.save_coverage(cov)
        })
        .await
        {
            tracing::warn!(stack = %cov.stack_name, error = %e, "cannot store stack coverage");
        }
    }
}
