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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use rand::Rng;

use crate::detect::Pipeline;
use crate::ports::{Clock, DecisionBus, PropertyReadBack, StackSummary, TicketStore};
use crate::resilience::{retry, RetryPolicy};
use driftguard_model::domain::StackHint;
use driftguard_model::domain::{Change, ChangeSource, Identity, ResourceRef};
use driftguard_model::error::PortError;
use driftguard_model::events::SWEEP_SUMMARY;

use super::coverage::{compute_coverage, StackCoverage, StackOutcome};
use super::cursor::{plan_run, PendingDetection, Planned, SweepCursor};
use super::round::{
    choose, end_round, log_finished, log_swept, stack_key, summarize, Chosen, RunFacts, StackRun,
};
use super::settings::SweepSettings;
use super::summary::SweepSummary;
use crate::ports::sweep::{
    DetectionStart, DetectionState, DetectionStatus, Page, ResourceDrift, StackDriftScanner,
    StackInventory, SweepStore,
};

pub mod resolve;

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

/// Why a stack's detection did not produce results this run.
enum DetectionEnd {
    Finished(String, DetectionStatus, DateTime<Utc>),
    OutOfTime(PendingDetection),
    Failed(&'static str, PortError),
}

/// How a started stack's sweep ended.
enum Swept {
    /// Its detection finished (this id) and its results were used.
    Checked(String),
    /// Its detection was still running at the deadline.
    Pending(PendingDetection),
    /// Its detection, or reading its results, failed.
    Failed,
}

/// A finished detection: its id, its status, when it was started.
struct Detected {
    id: String,
    status: DetectionStatus,
    started_at: DateTime<Utc>,
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
            identifiers: Vec::new(),
            listed_identifiers: 0,
            identifiers_truncated: false,
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
        let cursor = self.load_cursor().await;
        let stacks = all_pages(&s.retry, "list_stacks", |token| {
            self.ports.inventory.list_stacks_page(token)
        })
        .await
        .map_err(SweepError::ListStacks)?;
        let Chosen {
            mut totals,
            not_selected,
            coverage,
            selected,
        } = choose(stacks, s, started_at);
        let plan = plan_run(
            selected,
            |st| (st.stack_name.as_str(), st.stack_id.as_str()),
            cursor.as_ref(),
            started_at,
            s.max_detection_age,
        );
        totals.planned = plan.len();
        tracing::info!(
            run_id = %ctx.run_id,
            stacks_listed = totals.listed,
            stacks_selected = totals.selected,
            stacks_planned = totals.planned,
            resumed = cursor.is_some(),
            next_stack = cursor.as_ref().and_then(|c| c.next_stack.as_deref()).unwrap_or(""),
            concurrency = s.concurrency,
            "sweep started"
        );
        let runs: Vec<StackRun> = futures::stream::iter(plan)
            .map(|planned| self.sweep_stack(planned, ctx))
            .buffer_unordered(s.concurrency.max(1))
            .collect()
            .await;
        let now = self.ports.clock.now();
        let ended = end_round(
            runs,
            coverage,
            &mut totals,
            cursor.as_ref(),
            started_at,
            now,
        );
        self.save_cursor(ended.cursor.as_ref()).await;
        self.finish_handed_over().await;
        let run = RunFacts {
            run_id: ctx.run_id.clone(),
            started_at,
            finished_at: now,
            duration_ms: started.elapsed().as_millis() as u64,
            resumed: cursor.is_some(),
            concurrency: s.concurrency,
            max_in_flight: self.max_in_flight.load(Ordering::SeqCst),
            max_stacks_in_summary: s.max_stacks_in_summary,
        };
        let summary = summarize(totals, not_selected, ended, run);
        self.publish_summary(&summary).await?;
        Ok(summary)
    }

    /// Where the last run stopped; unreadable: a new round.
    async fn load_cursor(&self) -> Option<SweepCursor> {
        match retry(&self.settings.retry, "load_cursor", || {
            self.ports.store.load_cursor()
        })
        .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the sweep cursor: starting a new round");
                None
            }
        }
    }

    async fn save_cursor(&self, cursor: Option<&SweepCursor>) {
        if let Err(e) = retry(&self.settings.retry, "save_cursor", || {
            self.ports.store.save_cursor(cursor)
        })
        .await
        {
            tracing::error!(error = %e, "cannot store the sweep cursor: the next run starts a new round");
        }
    }

    /// Put the summary on the bus, log and measure the run whether it went or not.
    async fn publish_summary(&self, summary: &SweepSummary) -> Result<(), SweepError> {
        let detail = serde_json::to_value(summary)?;
        let published = retry(&self.settings.retry, "publish_summary", || {
            self.ports.bus.publish(SWEEP_SUMMARY, &detail)
        })
        .await;
        log_finished(summary, published.is_ok());
        crate::metrics::emit(&crate::metrics::sweep(summary));
        published.map_err(SweepError::PublishSummary)
    }

    /// One planned stack: not started when the deadline is near; otherwise
    /// swept, its coverage stored.
    async fn sweep_stack(&self, planned: Planned<StackSummary>, ctx: &RunContext) -> StackRun {
        let Planned {
            stack,
            resume_detection,
        } = planned;
        let start_cutoff = ctx.deadline.checked_sub(self.settings.deadline_margin);
        if start_cutoff.is_none_or(|c| Instant::now() >= c) {
            return StackRun::NotStarted(stack, resume_detection);
        }
        let now_in_flight = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let _guard = InFlight(&self.in_flight);
        self.max_in_flight
            .fetch_max(now_in_flight, Ordering::SeqCst);

        let started = Instant::now();
        let mut cov = StackCoverage::new(
            &stack.stack_name,
            &stack.stack_id,
            &stack.status,
            StackOutcome::Swept,
            self.ports.clock.now(),
        );
        let swept = self
            .sweep_started(&stack, resume_detection, ctx, &mut cov)
            .await;
        cov.duration_ms = started.elapsed().as_millis() as u64;
        if let Swept::Checked(detection_id) = &swept {
            log_swept(&cov, detection_id);
        }
        self.store_coverage(&cov).await;
        match swept {
            Swept::Pending(pending) => StackRun::Pending(cov, pending),
            Swept::Checked(_) | Swept::Failed => StackRun::Done(cov),
        }
    }

    /// A started stack: its detection, the decisions on what drifted, a
    /// known-good version, the tickets of what is back in sync; all of it
    /// told in `cov`.
    async fn sweep_started(
        &self,
        stack: &StackSummary,
        resume: Option<String>,
        ctx: &RunContext,
        cov: &mut StackCoverage,
    ) -> Swept {
        let stack_key = stack_key(stack);
        let poll_cutoff = ctx
            .deadline
            .checked_sub(self.settings.finish_reserve)
            .unwrap_or(ctx.deadline);
        let detected = match self.detect(stack, &stack_key, resume, poll_cutoff).await {
            DetectionEnd::Finished(id, status, started_at) => Detected {
                id,
                status,
                started_at,
            },
            DetectionEnd::OutOfTime(pending) => {
                cov.outcome = StackOutcome::Incomplete;
                cov.detection_id = Some(pending.detection_id.clone());
                cov.reason = Some(
                    "the Lambda deadline came before the detection finished: resumed next run"
                        .into(),
                );
                return Swept::Pending(pending);
            }
            DetectionEnd::Failed(step, e) => {
                tracing::warn!(stack = %stack.stack_name, step, error = %e, class = e.class(), "stack drift detection failed");
                cov.outcome = StackOutcome::Failed;
                cov.push_error(format!("{step}: {e}"));
                return Swept::Failed;
            }
        };
        cov.detection_id = Some(detected.id.clone());
        cov.stack_drift_status = detected.status.stack_drift_status.clone();
        if detected.status.state == DetectionState::DetectionFailed {
            cov.outcome = StackOutcome::DetectionFailed;
            cov.reason = detected.status.reason.clone();
        }
        let Some(drifts) = self.read_drifts(stack, &stack_key, cov).await else {
            return Swept::Failed;
        };
        let (account, region) = account_region_of(&stack.stack_id)
            .unwrap_or_else(|| (ctx.account.clone(), ctx.region.clone()));
        let place = (account.as_str(), region.as_str());
        self.decide_drifted(stack, place, &detected.id, &drifts, cov)
            .await;
        self.record_known_good(stack, &detected.status).await;
        // Only a completed detection proves IN_SYNC; NOT_CHECKED never resolves.
        if detected.status.state == DetectionState::DetectionComplete {
            self.resolve_all_in_sync(stack, place, &detected, &drifts, cov)
                .await;
        }
        Swept::Checked(detected.id)
    }

    /// The stack's resource drifts, and its coverage counted from them and
    /// its resources. `None`: the drifts could not be read (told in `cov`).
    async fn read_drifts(
        &self,
        stack: &StackSummary,
        stack_key: &str,
        cov: &mut StackCoverage,
    ) -> Option<Vec<ResourceDrift>> {
        let s = &self.settings;
        let drifts = match all_pages(&s.retry, "resource_drifts", |token| {
            self.ports.scanner.resource_drifts_page(stack_key, token)
        })
        .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(stack = %stack.stack_name, error = %e, "cannot read resource drifts");
                cov.outcome = StackOutcome::Failed;
                cov.push_error(format!("DescribeStackResourceDrifts: {e}"));
                return None;
            }
        };
        let resources = match all_pages(&s.retry, "list_stack_resources", |token| {
            self.ports
                .inventory
                .list_stack_resources_page(stack_key, token)
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
        Some(drifts)
    }

    /// Every drifted resource through the shared decision (its ticket).
    async fn decide_drifted(
        &self,
        stack: &StackSummary,
        (account, region): (&str, &str),
        detection_id: &str,
        drifts: &[ResourceDrift],
        cov: &mut StackCoverage,
    ) {
        for d in drifts.iter().filter(|d| d.drift.status.is_drifted()) {
            cov.drifted.push(d.logical_id.clone());
            let change = change_for_drift(
                stack,
                detection_id,
                d,
                account,
                region,
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
