//! The decision pipeline: one change in, one decision out, the same whichever
//! way the change was seen.
//!
//! ```text
//! process_raw(&[u8]) / process_event(&Value)   (detect: EventBridge envelopes)
//!   parse ─► claim event id ─► process_change ─► complete (or abandon + Err)
//!
//! process_change(Change)           (the sweep calls this directly, with
//!                                   `change.drift_hint` set: drift detection is skipped)
//!   actor      classify (Config items: CloudTrail LookupEvents, else unknown)
//!   ownership  StackCatalog (reverse lookup, ownership index; cached in the adapter)
//!   drift      DetectStackResourceDrift on the one logical resource, or the
//!              event's own request when detection is unsupported/unavailable (said so)
//!   decide     domain::decide (pure) + DRY_RUN override
//!   ticket     pure ticket_rules::apply_decision (model) + conditional write,
//!              retried on Conflict
//!   publish    "Drift Decision" on the bus, when a ticket was written
//!   log        one JSON line per decision
//! ```
//!
//! Failure policy (see `docs/errors.md`): anything that could lose the event
//! (ticket store, bus, ownership lookups that were throttled or timed out)
//! returns `Err` so Lambda retries and the DLQ keeps the event; drift detection
//! and the OpsCenter mirror degrade instead.
use std::sync::Arc;
use std::time::Instant;

use crate::idempotency::{
    self, Claimed, Idempotency, IdempotencyError, IdempotencySettings, Record,
};
use crate::ports::{
    AccountLookups, ActorLookup, Clock, DecisionBus, DriftDetector, OpsMirror, StackCatalog,
    TicketStore,
};
use crate::resilience::{retry, RetryPolicy};
use chrono::{DateTime, Utc};
use driftguard_model::domain::drift::{decisive, out_of_template};
use driftguard_model::domain::ticket_rules::{apply_decision, DecisionFacts, TicketUpdate};
use driftguard_model::domain::verdict::accepted_decision;
use driftguard_model::domain::{
    actor::classify_actor_in, decide, Actor, ActorKind, Change, ChangeSource, Decision,
    DecisionInput, Drift, DriftOrigin, DriftStatus, Fingerprint, Identity, Observation, Ownership,
    Policy, StackMembership, Ticket, TicketState,
};
use driftguard_model::error::PortError;
use driftguard_model::events::{DriftDecision, DRIFT_DECISION, SCHEMA_VERSION};
use driftguard_model::sources::{self, SourceError};
use rand::Rng;
use serde::Serialize;

/// Logical id used for a stack-level change (a stack status event): the stack itself.
pub const STACK_LOGICAL_ID: &str = "(stack)";

/// The ports the pipeline runs on.
#[derive(Clone)]
pub struct Ports {
    pub catalog: Arc<dyn StackCatalog>,
    pub drift: Arc<dyn DriftDetector>,
    pub actors: Arc<dyn ActorLookup>,
    pub tickets: Arc<dyn TicketStore>,
    pub bus: Arc<dyn DecisionBus>,
    pub ops_mirror: Option<Arc<dyn OpsMirror>>,
    pub clock: Arc<dyn Clock>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// `DRY_RUN=true`: every verdict is dry-run, whatever the policy says.
    pub force_dry_run: bool,
    /// How long a processed-event record lives (its DynamoDB TTL).
    pub event_ttl: chrono::Duration,
    /// How long a claim protects an event being processed; after it, a retry may
    /// take over (the invocation that held it crashed without abandoning).
    pub lease: chrono::Duration,
    /// How long a duplicate delivery waits for a concurrent one to finish before
    /// failing (so Lambda retries it later).
    pub in_progress_wait: std::time::Duration,
    /// The pipeline's own retries around port calls (the SDK retries too).
    pub retry: RetryPolicy,
    /// Optimistic-locking attempts on one ticket before giving up.
    pub max_ticket_attempts: u32,
    /// `WATCHED_ACCOUNTS`: events from any other account are rejected. The
    /// first is the account driftguard runs in (principal patterns that omit
    /// the account match it). Empty: each event's own account is taken as
    /// driftguard's (a single-account replay; the template always sets it).
    pub watched_accounts: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            force_dry_run: false,
            event_ttl: chrono::Duration::days(7),
            lease: chrono::Duration::seconds(150),
            in_progress_wait: std::time::Duration::from_secs(5),
            retry: RetryPolicy {
                max_attempts: 3,
                base_delay: std::time::Duration::from_millis(200),
                max_delay: std::time::Duration::from_secs(2),
                attempt_timeout: std::time::Duration::from_secs(20),
            },
            max_ticket_attempts: 25,
            watched_accounts: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The event cannot be parsed: fail so the DLQ keeps it. Names the field.
    #[error("malformed event: {0}")]
    Malformed(#[source] SourceError),
    /// Another invocation holds the event; fail so Lambda retries later.
    #[error("event {event_id} is being processed by another invocation; retry later")]
    InProgress { event_id: String },
    #[error("{step} failed for event {event_id}: {source}")]
    Port {
        step: &'static str,
        event_id: String,
        #[source]
        source: PortError,
    },
    #[error(
        "ticket {ticket_id}: gave up after {attempts} conflicting writes for event {event_id}"
    )]
    Contention {
        ticket_id: String,
        event_id: String,
        attempts: u32,
    },
}

impl PipelineError {
    pub fn class(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::InProgress { .. } => "in_progress",
            Self::Port { source, .. } => source.class(),
            Self::Contention { .. } => "contention",
        }
    }
}

/// How the ticket was touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketWrite {
    Created,
    Updated,
    /// The event was already on the ticket (a retry after a partial failure).
    AlreadyRecorded,
    /// The event is older than the newest fact the ticket applied: recorded
    /// in the history, nothing decided, nothing published.
    OutOfOrder,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketReport {
    pub id: String,
    pub state: TicketState,
    pub state_changed: bool,
    pub write: TicketWrite,
}

/// What one decision was, for the caller and the log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionReport {
    pub event_id: String,
    pub resource: String,
    pub actor: Actor,
    pub ownership: Ownership,
    pub decision: Decision,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_drift: Option<Drift>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<TicketReport>,
    pub published: bool,
    pub duration_ms: u64,
}

/// The result of one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Decided(Box<DecisionReport>),
    /// Already processed: a duplicate delivery, nothing done.
    Duplicate {
        event_id: String,
    },
    /// Recognized but not acted on (read-only or failed call, unsupported event type...).
    Skipped {
        #[serde(skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        reason: String,
        detail: String,
    },
}

/// The sweep sees a drift without an identity (its actor is `unknown`). When
/// the ticket's last decision was taken on this very drift (same
/// fingerprint), the actor of that decision stands: a break-glass fix stays
/// unreverted, a pipeline change allowed. Pure.
pub fn carried_actor(
    previous: Option<&Ticket>,
    change: &Change,
    fresh: Actor,
    drift: Option<&Drift>,
) -> Actor {
    if change.source != ChangeSource::Sweep || fresh.kind != ActorKind::Unknown {
        return fresh;
    }
    let (Some(ticket), Some(drift)) = (previous, drift) else {
        return fresh;
    };
    let Some(last) = ticket.last_actor.as_ref() else {
        return fresh;
    };
    let fingerprint = drift.fingerprint();
    if last.kind == ActorKind::Unknown || ticket.decided_drift.as_deref() != Some(&fingerprint) {
        return fresh;
    }
    let mut actor = last.clone();
    actor.evidence.insert(
        0,
        format!(
            "carried from ticket {}: the sweep found the same drift (fingerprint {}) the {} change was decided on",
            ticket.id,
            &fingerprint[..12],
            last.kind
        ),
    );
    actor
}

/// Never claim a resource is in sync from the event alone.
fn event_drift_with_note(event_drift: Option<Drift>, note: &str) -> Drift {
    match event_drift {
        Some(mut d) => {
            let previous = match &d.origin {
                DriftOrigin::EventRequest(n) => n.clone(),
                DriftOrigin::Cloudformation => String::new(),
            };
            d.origin = DriftOrigin::EventRequest(if previous.is_empty() {
                note.to_string()
            } else {
                format!("{note}; {previous}")
            });
            if d.status == DriftStatus::InSync {
                d.status = DriftStatus::Unknown;
            }
            d
        }
        None => Drift::from_event(
            Vec::new(),
            format!("{note}; the event does not say which properties changed"),
        ),
    }
}

/// `Some(reason)` when `envelope` (EventBridge's `account`) or `recipient`
/// (the record's account) is not in `watched`. An empty list watches the
/// event's own account: nothing to compare but the two with each other.
pub fn watched_account_problem(
    watched: &[String],
    envelope: Option<&str>,
    recipient: &str,
) -> Option<String> {
    if watched.is_empty() {
        return match envelope {
            Some(e) if !e.is_empty() && e != recipient => Some(format!(
                "envelope account {e} is not the record's account {recipient}"
            )),
            _ => None,
        };
    }
    let is_watched = |a: &str| watched.iter().any(|w| w == a);
    if !is_watched(recipient) {
        return Some(format!(
            "account {recipient} is not watched (WATCHED_ACCOUNTS={})",
            watched.join(",")
        ));
    }
    match envelope {
        Some(e) if !is_watched(e) => Some(format!(
            "envelope account {e} is not watched (WATCHED_ACCOUNTS={})",
            watched.join(",")
        )),
        _ => None,
    }
}

fn identity_is_empty(i: &Identity) -> bool {
    i.principal_arn.is_none()
        && i.session_issuer_arn.is_none()
        && i.invoked_by.is_none()
        && i.identity_type.is_none()
}

// ------------------------------------------------------------ the pipeline

pub struct Pipeline {
    ports: Ports,
    policy: Arc<Policy>,
    settings: Settings,
    /// Records known-good templates after completed deploys (`known_good`).
    known_good: Option<crate::remediate::history::KnownGoodRecorder>,
    /// Member accounts' lookups through their roles (`members`).
    members: Option<Arc<dyn crate::ports::MemberAccounts>>,
    /// Accounts' OU paths and tags, for environments matched by them (`accounts`).
    directory: Option<Arc<dyn crate::ports::AccountDirectory>>,
}

impl Pipeline {
    pub fn new(ports: Ports, policy: Arc<Policy>, settings: Settings) -> Self {
        Self {
            ports,
            policy,
            settings,
            known_good: None,
            members: None,
            directory: None,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// One EventBridge envelope (detect's entry point): parse, claim the source
    /// event id, process, complete. A duplicate delivery is a no-op; a failure
    /// that could lose the event abandons the claim and returns `Err`.
    pub async fn process_event(&self, event: &serde_json::Value) -> Result<Outcome, PipelineError> {
        self.process_event_until(event, None).await
    }

    /// [`Pipeline::process_event`] inside an invocation that ends at `deadline`
    /// (the Lambda context's): the event's claim is leased until then, so a
    /// crashed attempt's claim expires with it and Lambda's retry runs again.
    pub async fn process_event_until(
        &self,
        event: &serde_json::Value,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Outcome, PipelineError> {
        let started = Instant::now();
        self.process_parsed(sources::ParsedEnvelope::of_value(event), deadline, started)
            .await
    }

    /// detect's entry point: the envelope as the raw payload the Lambda runtime
    /// received, parsed in one pass by [`sources::parse_envelope_bytes`] (the
    /// code `shared/benches/decision_path.rs` measures). Same outcome as
    /// [`Pipeline::process_event_until`] of the same bytes as a `Value`.
    pub async fn process_raw_until(
        &self,
        payload: &[u8],
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Outcome, PipelineError> {
        let started = Instant::now();
        self.process_parsed(sources::parse_envelope_bytes(payload), deadline, started)
            .await
    }

    async fn process_parsed(
        &self,
        parsed: sources::ParsedEnvelope,
        deadline: Option<DateTime<Utc>>,
        started: Instant,
    ) -> Result<Outcome, PipelineError> {
        let sources::ParsedEnvelope {
            observation,
            header,
        } = parsed;
        let observation = match observation {
            Ok(o) => o,
            Err(SourceError::Unsupported {
                source_name,
                detail_type,
            }) => {
                // A routing mistake, not a bad event: retrying cannot help.
                tracing::warn!(
                    outcome = "skipped",
                    reason = "unsupported_event",
                    source_name = %source_name,
                    detail_type = %detail_type,
                    "event type not handled by driftguard; check the EventBridge rule pattern"
                );
                return Ok(Outcome::Skipped {
                    event_id: header.id,
                    reason: "unsupported_event".into(),
                    detail: format!("source `{source_name}`, detail-type `{detail_type}`"),
                });
            }
            Err(e) => {
                tracing::error!(
                    outcome = "malformed",
                    field = e.field().unwrap_or(""),
                    error = %e,
                    event_id = header.id.as_deref().unwrap_or(""),
                    "malformed event"
                );
                return Err(PipelineError::Malformed(e));
            }
        };
        let change = match observation {
            Observation::Change(c) => *c,
            Observation::NotAChange {
                event_id,
                reason,
                detail,
                change,
            } => {
                if let Some(c) = change.as_deref() {
                    self.record_deploy(&header, c).await;
                }
                tracing::info!(
                    event_id = %event_id,
                    outcome = "skipped",
                    reason = reason.as_str(),
                    detail = %detail,
                    duration_ms = started.elapsed().as_millis() as u64,
                    "not a change"
                );
                return Ok(Outcome::Skipped {
                    event_id: Some(event_id),
                    reason: reason.as_str().to_string(),
                    detail,
                });
            }
        };
        if let Some(detail) = self.foreign_account(&header, &change) {
            tracing::warn!(
                event_id = %change.event_id,
                outcome = "skipped",
                reason = "foreign_account",
                detail = %detail,
                duration_ms = started.elapsed().as_millis() as u64,
                "event from an account driftguard does not watch: rejected, no ticket"
            );
            return Ok(Outcome::Skipped {
                event_id: Some(change.event_id),
                reason: "foreign_account".into(),
                detail,
            });
        }
        let event_id = change.event_id.clone();
        let settings = self.idempotency_settings();
        let once = Idempotency {
            store: self.ports.tickets.as_ref(),
            clock: self.ports.clock.as_ref(),
            settings: &settings,
        };
        let ran = once
            .run(
                &idempotency::detect_key(&event_id),
                deadline,
                move || async move {
                    self.run(change, started)
                        .await
                        .map(|report| (report, Record::Complete))
                },
            )
            .await;
        match ran {
            Ok(Claimed::AlreadyDone) => {
                tracing::info!(
                    event_id = %event_id,
                    outcome = "duplicate",
                    duration_ms = started.elapsed().as_millis() as u64,
                    "duplicate delivery: already processed"
                );
                Ok(Outcome::Duplicate { event_id })
            }
            Ok(Claimed::Ran(report)) => Ok(Outcome::Decided(Box::new(report))),
            Err(IdempotencyError::InProgress { .. }) => Err(PipelineError::InProgress { event_id }),
            Err(IdempotencyError::Store { source, .. }) => Err(PipelineError::Port {
                step: "claim event",
                event_id,
                source,
            }),
            Err(IdempotencyError::Work(e)) => {
                tracing::error!(
                    event_id = %event_id,
                    outcome = "failed",
                    class = e.class(),
                    error = %e,
                    duration_ms = started.elapsed().as_millis() as u64,
                    "decision failed; the invocation fails so Lambda retries"
                );
                Err(e)
            }
        }
    }

    /// The claim rules (idempotency helper) from the pipeline's settings: a
    /// duplicate delivery waits `in_progress_wait` for a concurrent one, then
    /// fails (20 concurrent deliveries → one processes, the rest see DONE).
    fn idempotency_settings(&self) -> IdempotencySettings {
        IdempotencySettings {
            record_ttl: self.settings.event_ttl,
            lease: self.settings.lease,
            in_progress_wait: self.settings.in_progress_wait,
            retry: self.settings.retry,
        }
    }

    /// Decide about one change without claiming its id: what the scheduled sweep
    /// calls. Set `change.drift_hint` (from `DescribeStackResourceDrifts`) and
    /// drift detection is skipped. Re-running with the same `event_id` does not
    /// record the change twice on the ticket (it republishes the decision).
    pub async fn process_change(&self, change: Change) -> Result<DecisionReport, PipelineError> {
        self.run(change, Instant::now()).await
    }

    async fn run(&self, change: Change, started: Instant) -> Result<DecisionReport, PipelineError> {
        let event_id = change.event_id.clone();
        let port_err = |step: &'static str| {
            let event_id = event_id.clone();
            move |source: PortError| PipelineError::Port {
                step,
                event_id,
                source,
            }
        };

        let lookups = self
            .lookups_for(&change)
            .await
            .map_err(port_err("assume member role"))?;
        let mut actor = self.actor_of(&lookups, &change).await;

        // Our own calls are ignored whatever else is true: no lookups spent on
        // them. CloudFormation's are checked against the owning stack first.
        let cloudformation = actor.kind == ActorKind::Cloudformation
            && change.source != ChangeSource::CloudformationStack;
        let ownership = if actor.kind == ActorKind::Driftguard {
            Ownership::NotChecked
        } else {
            self.ownership_of(&lookups, &change)
                .await
                .map_err(port_err("resolve ownership"))?
        };
        if cloudformation {
            Self::cloudformation_for_another_stack(&mut actor, &ownership);
        }
        let skip_lookups = actor.kind == ActorKind::Driftguard
            || (actor.kind == ActorKind::Cloudformation
                && change.source != ChangeSource::CloudformationStack);

        let (drift, event_drift) = if skip_lookups {
            (None, None)
        } else {
            self.drift_of(&lookups, &change, &ownership).await
        };

        let shown = decisive(drift.as_ref(), event_drift.as_ref());
        // `None` when not read; the read is also the ticket write's first
        // base (the write is conditional, so a ticket changed since is re-read).
        let read: Option<Option<Ticket>> = if skip_lookups {
            None
        } else {
            Some(
                self.previous_ticket(&change, &ownership)
                    .await
                    .map_err(port_err("read ticket"))?,
            )
        };
        let previous = read.as_ref().and_then(Option::as_ref);
        let actor = carried_actor(previous, &change, actor, shown);
        let account_facts = if skip_lookups {
            None
        } else {
            self.account_facts(&change.account)
                .await
                .map_err(port_err("look up the account in AWS Organizations"))?
        };
        let mut decision = previous
            .and_then(|t| accepted_decision(t, shown))
            .unwrap_or_else(|| {
                decide(
                    &DecisionInput {
                        change: &change,
                        actor: &actor,
                        ownership: &ownership,
                        drift: shown,
                        account: account_facts.as_ref(),
                    },
                    &self.policy,
                )
            });
        if self.settings.force_dry_run && !decision.verdict.dry_run {
            decision.verdict.dry_run = true;
            decision.verdict.reason = format!(
                "{}; dry-run forced by DRY_RUN=true",
                decision.verdict.reason
            );
        }

        let fingerprint = Fingerprint::for_change(&change, &ownership);
        let facts = DecisionFacts {
            change: &change,
            actor: &actor,
            ownership: &ownership,
            drift: drift.as_ref(),
            event_drift: event_drift.as_ref(),
            decision: &decision,
            fingerprint: &fingerprint,
        };
        let may_have_ticket = decision.verdict.action.tickets()
            || decision.held.is_some()
            || !matches!(ownership, Ownership::NotChecked | Ownership::Unmanaged);
        let written = if may_have_ticket {
            self.write_ticket(&facts, read).await?
        } else {
            None
        };

        let mut published = false;
        // An ALLOWED record is for the sweep: nothing to remediate or announce.
        // Nor an out-of-order change: the ticket's newer decision stands.
        let announced = written
            .as_ref()
            .filter(|(t, w, _)| t.state != TicketState::Allowed && *w != TicketWrite::OutOfOrder);
        if let Some((ticket, _, state_changed)) = announced {
            if *state_changed {
                self.mirror(ticket).await;
            }
            let detail = DriftDecision {
                schema_version: SCHEMA_VERSION,
                ticket_id: ticket.id.clone(),
                ticket_state: ticket.state,
                state_changed: *state_changed,
                change: change.clone(),
                actor: actor.clone(),
                ownership: ownership.clone(),
                drift: drift.clone(),
                event_drift: event_drift.clone(),
                decision: decision.clone(),
                // The remediation planner fills this in once it is wired in.
                plan: None,
                decided_at: self.ports.clock.now(),
            };
            let detail = serde_json::to_value(&detail).map_err(|e| PipelineError::Port {
                step: "publish decision",
                event_id: event_id.clone(),
                source: PortError::Failed {
                    service: "driftguard",
                    operation: "serialize",
                    message: e.to_string(),
                },
            })?;
            retry(&self.settings.retry, "publish", || {
                self.ports.bus.publish(DRIFT_DECISION, &detail)
            })
            .await
            .map_err(port_err("publish decision"))?;
            published = true;
        }

        let report = DecisionReport {
            event_id: event_id.clone(),
            resource: change.resource.label(),
            actor,
            ownership,
            decision,
            drift,
            event_drift,
            ticket: written.map(|(t, write, state_changed)| TicketReport {
                id: t.id,
                state: t.state,
                state_changed,
                write,
            }),
            published,
            duration_ms: started.elapsed().as_millis() as u64,
        };
        log_decision(&report, &change);
        crate::metrics::emit(&crate::metrics::decision(
            &report,
            &change,
            self.ports.clock.now(),
        ));
        Ok(report)
    }

    /// Why the event is not one of a watched account's, if it is not. The
    /// envelope's `account` and the record's `recipientAccountId` (the
    /// account whose resource changed) must both be watched; the caller's
    /// `userIdentity.accountId` may be foreign (a cross-account change to our
    /// resource is exactly what must be seen), it only never matches a
    /// pattern of driftguard's account.
    fn foreign_account(&self, header: &sources::EnvelopeHeader, change: &Change) -> Option<String> {
        watched_account_problem(
            &self.settings.watched_accounts,
            header.account.as_deref(),
            &change.account,
        )
    }

    /// The account principal patterns without one match: driftguard's.
    fn home_account<'a>(&'a self, change: &'a Change) -> &'a str {
        self.settings
            .watched_accounts
            .first()
            .map(String::as_str)
            .or(self.policy.identities.home_account())
            .unwrap_or(&change.account)
    }

    fn classify(&self, identity: &Identity, change: &Change) -> Actor {
        classify_actor_in(
            identity,
            &self.policy.identities,
            change.time,
            Some(self.home_account(change)),
        )
    }

    /// CloudFormation acted on a resource: its own deploy only when the stack
    /// that owns the resource has an operation in progress. Otherwise it acted
    /// for some other stack (anyone may deploy a stack whose resource targets
    /// another stack's, e.g. an `AWS::EC2::SecurityGroupIngress`): decided by
    /// policy like any other automation.
    fn cloudformation_for_another_stack(actor: &mut Actor, ownership: &Ownership) {
        let Ownership::Managed(m) = ownership else {
            return;
        };
        if m.operation_in_progress() {
            actor.evidence.push(format!(
                "owning stack {} is {}: CloudFormation's own operation",
                m.stack_name, m.stack_status
            ));
            return;
        }
        actor.kind = ActorKind::Automation;
        actor.evidence.push(format!(
            "CloudFormation acted for another stack: owner {} is {}",
            m.stack_name, m.stack_status
        ));
    }

    async fn actor_of(&self, lookups: &AccountLookups, change: &Change) -> Actor {
        let needs_lookup = matches!(
            change.source,
            ChangeSource::ConfigItem | ChangeSource::ConfigCompliance
        ) && identity_is_empty(&change.identity);
        if !needs_lookup {
            return self.classify(&change.identity, change);
        }
        let (identity, note) = if !change.resource.is_resolved() {
            (
                Identity::default(),
                "no resource name to look the actor up by".to_string(),
            )
        } else {
            match retry(&self.settings.retry, "lookup_actor", || {
                lookups.actors.find_identity(&change.resource, change.time)
            })
            .await
            {
                Ok(Some(identity)) => (
                    identity,
                    "identity from CloudTrail LookupEvents".to_string(),
                ),
                Ok(None) => (
                    Identity::default(),
                    "CloudTrail LookupEvents found no matching write call".to_string(),
                ),
                Err(e) => {
                    tracing::warn!(event_id = %change.event_id, error = %e, "actor lookup failed: actor unknown");
                    (
                        Identity::default(),
                        format!("CloudTrail LookupEvents failed: {e}"),
                    )
                }
            }
        };
        let mut actor = self.classify(&identity, change);
        actor.evidence.insert(0, note);
        actor
    }

    /// The ticket this change would land on, read before deciding: its last
    /// actor and accepted drift are honoured while the drift is the same.
    async fn previous_ticket(
        &self,
        change: &Change,
        ownership: &Ownership,
    ) -> Result<Option<Ticket>, PortError> {
        let id = Fingerprint::for_change(change, ownership).ticket_id();
        retry(&self.settings.retry, "get_ticket", || {
            self.ports.tickets.get_ticket(&id)
        })
        .await
    }

    /// `Err` only for failures worth a retry (throttling, timeouts); other
    /// failures make the ownership `Unknown`, which caps the verdict to a ticket.
    async fn ownership_of(
        &self,
        lookups: &AccountLookups,
        change: &Change,
    ) -> Result<Ownership, PortError> {
        let degrade = |e: PortError| {
            if e.is_retryable() {
                Err(e)
            } else {
                Ok(Ownership::Unknown {
                    reason: e.to_string(),
                })
            }
        };
        if let Some(hint) = &change.stack_hint {
            let stack = match retry(&self.settings.retry, "describe_stack", || {
                lookups.catalog.describe_stack(&hint.stack)
            })
            .await
            {
                Ok(s) => s,
                Err(e) => return degrade(e),
            };
            return Ok(match stack {
                Some(s) => Ownership::Managed(StackMembership {
                    stack_id: s.stack_id,
                    stack_name: s.stack_name,
                    logical_id: hint
                        .logical_id
                        .clone()
                        .unwrap_or_else(|| STACK_LOGICAL_ID.to_string()),
                    resource_type: change.resource.resource_type.clone(),
                    stack_status: s.status,
                    stack_tags: s.tags,
                    nested: None,
                }),
                None => Ownership::Unknown {
                    reason: format!("stack {} named by the event no longer exists", hint.stack),
                },
            });
        }
        if !change.resource.is_resolved() {
            return Ok(Ownership::Unknown {
                reason: format!("the {} event does not identify the resource", change.api()),
            });
        }
        match retry(&self.settings.retry, "owner_of", || {
            lookups.catalog.owner_of(&change.resource)
        })
        .await
        {
            Ok(o) => Ok(o),
            Err(e) => degrade(e),
        }
    }

    /// CloudFormation's view and the event's own. CloudFormation's wins when
    /// it answers; otherwise the event's view says why it stands alone.
    async fn drift_of(
        &self,
        lookups: &AccountLookups,
        change: &Change,
        ownership: &Ownership,
    ) -> (Option<Drift>, Option<Drift>) {
        if let Some(hint) = &change.drift_hint {
            return match hint.origin {
                DriftOrigin::Cloudformation => (Some(hint.clone()), sources::request_drift(change)),
                DriftOrigin::EventRequest(_) => (
                    None,
                    Some(event_drift_with_note(
                        Some(hint.clone()),
                        "reported by the source",
                    )),
                ),
            };
        }
        let from_event = sources::request_drift(change);
        let note = match ownership.membership() {
            Some(m) if m.logical_id == STACK_LOGICAL_ID => {
                "a stack-level event: no single resource to check".to_string()
            }
            Some(m) if m.operation_in_progress() => format!(
                "stack {} has an operation in progress ({}): drift detection deferred",
                m.stack_name, m.stack_status
            ),
            Some(m) => {
                let detected = retry(&self.settings.retry, "detect_drift", || {
                    lookups
                        .drift
                        .detect_resource_drift(&m.stack_name, &m.logical_id)
                })
                .await;
                match detected {
                    // CloudFormation checks only the template's properties: a
                    // change the event proves elsewhere is out-of-template drift.
                    Ok(d) => {
                        let event = out_of_template(&d, from_event.as_ref()).or(from_event);
                        return (Some(d), event);
                    }
                    Err(PortError::Unsupported { message, .. }) => {
                        format!("CloudFormation drift detection unsupported here ({message})")
                    }
                    Err(e) => {
                        tracing::warn!(event_id = %change.event_id, error = %e, "drift detection failed: using the event's request");
                        format!(
                            "CloudFormation drift detection unavailable ({}: {e})",
                            e.class()
                        )
                    }
                }
            }
            None => format!(
                "drift detection not run: ownership is {}",
                ownership.label()
            ),
        };
        (None, Some(event_drift_with_note(from_event, &note)))
    }

    /// `read`: the ticket as read before deciding, if it was (the first
    /// attempt's base: one `GetItem` fewer); a conflict re-reads.
    async fn write_ticket(
        &self,
        facts: &DecisionFacts<'_>,
        mut read: Option<Option<Ticket>>,
    ) -> Result<Option<(Ticket, TicketWrite, bool)>, PipelineError> {
        let ticket_id = facts.fingerprint.ticket_id();
        let event_id = facts.change.event_id.clone();
        let port_err = |step: &'static str| {
            let event_id = event_id.clone();
            move |source: PortError| PipelineError::Port {
                step,
                event_id,
                source,
            }
        };
        let attempts = self.settings.max_ticket_attempts.max(1);
        for attempt in 1..=attempts {
            let existing = match read.take() {
                Some(existing) => existing,
                None => retry(&self.settings.retry, "get_ticket", || {
                    self.ports.tickets.get_ticket(&ticket_id)
                })
                .await
                .map_err(port_err("read ticket"))?,
            };
            let now = self.ports.clock.now();
            let result = match apply_decision(existing, facts, now) {
                TicketUpdate::Nothing => return Ok(None),
                TicketUpdate::AlreadyRecorded {
                    ticket,
                    state_changed,
                } => return Ok(Some((ticket, TicketWrite::AlreadyRecorded, state_changed))),
                TicketUpdate::OutOfOrder {
                    ticket,
                    recorded: true,
                } => return Ok(Some((ticket, TicketWrite::OutOfOrder, false))),
                TicketUpdate::OutOfOrder { ticket, .. } => {
                    retry(&self.settings.retry, "update_ticket", || {
                        self.ports.tickets.update_ticket(&ticket)
                    })
                    .await
                    .map(|_| (ticket, TicketWrite::OutOfOrder, false))
                }
                TicketUpdate::Create(ticket) => {
                    retry(&self.settings.retry, "create_ticket", || {
                        self.ports.tickets.create_ticket(&ticket)
                    })
                    .await
                    .map(|_| (ticket, TicketWrite::Created, true))
                }
                TicketUpdate::Update {
                    ticket,
                    state_changed,
                } => retry(&self.settings.retry, "update_ticket", || {
                    self.ports.tickets.update_ticket(&ticket)
                })
                .await
                .map(|_| (ticket, TicketWrite::Updated, state_changed)),
            };
            match result {
                Ok(done) => return Ok(Some(done)),
                // Someone else wrote first: re-read and re-apply.
                Err(PortError::Conflict { .. }) | Err(PortError::NotFound { .. }) => {
                    tracing::debug!(ticket_id = %ticket_id, attempt, "ticket write conflict: re-reading");
                    let cap = (5 * u64::from(attempt)).min(100);
                    let pause = rand::rng().random_range(0..=cap);
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
                Err(e) => return Err(port_err("write ticket")(e)),
            }
        }
        Err(PipelineError::Contention {
            ticket_id,
            event_id,
            attempts,
        })
    }

    async fn mirror(&self, ticket: &Ticket) {
        if let Some(m) = &self.ports.ops_mirror {
            if let Err(e) = m.mirror(ticket).await {
                // Optional: OpsCenter is a copy, the ticket table is the record.
                tracing::warn!(ticket_id = %ticket.id, error = %e, "OpsCenter mirror failed");
            }
        }
    }
}

fn log_decision(report: &DecisionReport, change: &Change) {
    let stack = match &report.ownership {
        Ownership::Managed(m) => m.stack_name.as_str(),
        _ => "",
    };
    let v = &report.decision.verdict;
    tracing::info!(
        event_id = %report.event_id,
        outcome = "decided",
        resource = %report.resource,
        api = %change.api(),
        source = change.source.as_str(),
        stack,
        ownership = %report.ownership.label(),
        actor_kind = report.actor.kind.as_str(),
        principal = %report.actor.principal,
        verdict = v.action.as_str(),
        rule = v.rule.as_deref().unwrap_or(""),
        dry_run = v.dry_run,
        held = report.decision.held.is_some(),
        drift_status = report.drift.as_ref().or(report.event_drift.as_ref()).map(|d| d.status.as_str()).unwrap_or(""),
        ticket_id = report.ticket.as_ref().map(|t| t.id.as_str()).unwrap_or(""),
        ticket_state = report.ticket.as_ref().map(|t| t.state.as_str()).unwrap_or(""),
        state_changed = report.ticket.as_ref().is_some_and(|t| t.state_changed),
        published = report.published,
        duration_ms = report.duration_ms,
        "decision"
    );
}

mod accounts;
mod known_good;
mod members;

#[cfg(test)]
mod member_tests;

#[cfg(test)]
mod order_tests;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::atomic::{AtomicU32, Ordering};

    use async_trait::async_trait;
    use chrono::TimeZone;

    use super::*;
    use crate::memory::catalog::{MemoryActorLookup, MemoryDriftDetector, MemoryStackCatalog};
    use crate::memory::{FixedClock, MemoryBus, MemoryTicketStore};
    use driftguard_model::domain::ticket::EntryKind;
    use driftguard_model::domain::{Action, DifferenceKind, PropertyDifference, ResourceRef};
    use driftguard_model::error::PortResult;
    use serde_json::json;

    const POLICY: &str = r#"
version: 1
defaults: { dry_run: true, verdict: ticket, severity: medium }
identities:
  own: [{ principal: "arn:aws:iam::*:role/driftguard-remediation" }]
  pipeline: [{ principal: "arn:aws:iam::*:role/deploy-pipeline" }]
rules:
  - name: sg-revert
    match: { actors: [console, human], resource_types: ["AWS::EC2::SecurityGroup"] }
    verdict: revert
    dry_run: false
    severity: high
"#;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap()
    }

    fn console() -> Identity {
        Identity {
            identity_type: Some("AssumedRole".into()),
            principal_arn: Some("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com".into()),
            session_issuer_arn: Some("arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123456789abcdef".into()),
            session_name: Some("alice@example.com".into()),
            user_agent: Some("AWS Internal".into()),
            source_ip: Some("198.51.100.7".into()),
            console_session: true,
            ..Identity::default()
        }
    }

    fn role(name: &str, session: &str) -> Identity {
        Identity {
            identity_type: Some("AssumedRole".into()),
            principal_arn: Some(format!(
                "arn:aws:sts::123456789012:assumed-role/{name}/{session}"
            )),
            session_issuer_arn: Some(format!("arn:aws:iam::123456789012:role/{name}")),
            session_name: Some(session.into()),
            user_agent: Some("aws-sdk-rust/1.0".into()),
            ..Identity::default()
        }
    }

    fn cloudformation() -> Identity {
        Identity {
            identity_type: Some("AssumedRole".into()),
            invoked_by: Some("cloudformation.amazonaws.com".into()),
            source_ip: Some("cloudformation.amazonaws.com".into()),
            user_agent: Some("cloudformation.amazonaws.com".into()),
            ..Identity::default()
        }
    }

    fn sg_change(event_id: &str, identity: Identity) -> Change {
        Change {
            event_id: event_id.into(),
            time: t0(),
            account: "123456789012".into(),
            region: "us-east-1".into(),
            source: ChangeSource::Cloudtrail,
            service: "ec2".into(),
            operation: "AuthorizeSecurityGroupIngress".into(),
            resource: ResourceRef::new("AWS::EC2::SecurityGroup", "sg-0abc"),
            identity,
            request: json!({"groupId": "sg-0abc", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
            response: serde_json::Value::Null,
            stack_hint: None,
            drift_hint: None,
        }
    }

    fn cfn_modified() -> Drift {
        Drift {
            status: DriftStatus::Modified,
            differences: vec![PropertyDifference {
                path: "/SecurityGroupIngress/1".into(),
                expected: None,
                actual: Some(json!({"CidrIp": "0.0.0.0/0", "FromPort": 22})),
                kind: DifferenceKind::Add,
            }],
            expected_properties: None,
            actual_properties: None,
            origin: DriftOrigin::Cloudformation,
            detected_at: Some(t0()),
        }
    }

    /// A bus that fails the next `n` publishes.
    #[derive(Default)]
    struct FlakyBus {
        inner: MemoryBus,
        fail_next: AtomicU32,
    }

    #[async_trait]
    impl DecisionBus for FlakyBus {
        async fn publish(&self, detail_type: &str, detail: &serde_json::Value) -> PortResult<()> {
            if self
                .fail_next
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(PortError::Failed {
                    service: "events",
                    operation: "PutEvents",
                    message: "AccessDeniedException".into(),
                });
            }
            self.inner.publish(detail_type, detail).await
        }
    }

    struct Harness {
        catalog: Arc<MemoryStackCatalog>,
        drift: Arc<MemoryDriftDetector>,
        actors: Arc<MemoryActorLookup>,
        store: Arc<MemoryTicketStore>,
        bus: Arc<FlakyBus>,
        pipeline: Arc<Pipeline>,
    }

    impl Harness {
        fn published(&self) -> Vec<DriftDecision> {
            self.bus
                .inner
                .published()
                .into_iter()
                .map(|(dt, d)| {
                    assert_eq!(dt, DRIFT_DECISION);
                    serde_json::from_value(d).unwrap()
                })
                .collect()
        }
    }

    fn harness_with(settings: Settings) -> Harness {
        harness_policy(settings, POLICY)
    }

    fn harness_policy(settings: Settings, policy: &str) -> Harness {
        let catalog = Arc::new(MemoryStackCatalog::new());
        catalog.add_stack("app", "UPDATE_COMPLETE");
        catalog.add_resource("app", "WebSG", "AWS::EC2::SecurityGroup", "sg-0abc");
        catalog.add_resource("app", "Bucket", "AWS::S3::Bucket", "app-bucket");
        let drift = Arc::new(MemoryDriftDetector::new());
        let actors = Arc::new(MemoryActorLookup::new());
        let store = Arc::new(MemoryTicketStore::new());
        store.set_now(t0());
        let bus = Arc::new(FlakyBus::default());
        let ports = Ports {
            catalog: catalog.clone(),
            drift: drift.clone(),
            actors: actors.clone(),
            tickets: store.clone(),
            bus: bus.clone(),
            ops_mirror: None,
            clock: Arc::new(FixedClock::new(t0())),
        };
        let pipeline = Arc::new(Pipeline::new(
            ports,
            Arc::new(Policy::from_yaml(policy).unwrap()),
            settings,
        ));
        Harness {
            catalog,
            drift,
            actors,
            store,
            bus,
            pipeline,
        }
    }

    fn quick() -> Settings {
        Settings {
            retry: RetryPolicy::quick(),
            in_progress_wait: std::time::Duration::from_secs(2),
            ..Settings::default()
        }
    }

    fn harness() -> Harness {
        harness_with(quick())
    }

    #[tokio::test]
    async fn console_change_on_a_managed_resource_opens_a_ticket_and_publishes() {
        let h = harness();
        h.drift.set("app", "WebSG", Ok(cfn_modified()));
        let r = h
            .pipeline
            .process_change(sg_change("ev-1", console()))
            .await
            .unwrap();
        assert_eq!(r.actor.kind, ActorKind::Console);
        assert_eq!(r.ownership.membership().unwrap().logical_id, "WebSG");
        assert_eq!(r.decision.verdict.action, Action::Revert);
        assert_eq!(r.drift.as_ref().unwrap().status, DriftStatus::Modified);
        let t = r.ticket.unwrap();
        assert_eq!(
            (t.state, t.state_changed, t.write),
            (TicketState::Open, true, TicketWrite::Created)
        );

        let tickets = h.store.tickets();
        assert_eq!(tickets.len(), 1);
        let stored = &tickets[0];
        assert_eq!(stored.id, t.id);
        assert_eq!(stored.fingerprint.stack, "app");
        assert_eq!(stored.last_actor.as_ref().unwrap().kind, ActorKind::Console);
        assert_eq!(stored.severity, driftguard_model::domain::Severity::High);
        assert_eq!(stored.version, 1);
        assert_eq!(stored.history.len(), 2);
        assert!(stored.drift.is_some(), "CloudFormation's view is kept");

        let events = h.published();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].ticket_id, t.id);
        assert!(events[0].state_changed);
        assert_eq!(events[0].plan, None);
        assert_eq!(
            events[0].drift.as_ref().unwrap().origin,
            DriftOrigin::Cloudformation
        );
    }

    #[tokio::test]
    async fn unsupported_drift_detection_falls_back_to_the_event_and_says_so() {
        let h = harness();
        let r = h
            .pipeline
            .process_change(sg_change("ev-1", console()))
            .await
            .unwrap();
        assert!(r.drift.is_none());
        let d = r.event_drift.unwrap();
        assert_ne!(d.status, DriftStatus::InSync, "never claims in sync");
        let DriftOrigin::EventRequest(note) = &d.origin else {
            panic!("event origin expected")
        };
        assert!(note.contains("unsupported"), "{note}");
        assert_eq!(h.drift.calls.load(Ordering::SeqCst), 1);
        assert_eq!(h.store.tickets().len(), 1);
    }

    #[tokio::test]
    async fn failing_drift_detection_degrades_instead_of_failing() {
        let h = harness();
        h.drift.set(
            "app",
            "WebSG",
            Err(PortError::Throttled {
                service: "cloudformation",
                operation: "DetectStackResourceDrift",
                message: "Rate exceeded".into(),
            }),
        );
        let r = h
            .pipeline
            .process_change(sg_change("ev-1", console()))
            .await
            .unwrap();
        let DriftOrigin::EventRequest(note) = &r.event_drift.unwrap().origin else {
            panic!()
        };
        assert!(note.contains("unavailable (throttled"), "{note}");
        assert!(r.ticket.is_some());
    }

    #[tokio::test]
    async fn cloudformation_and_driftguard_changes_open_no_ticket_and_skip_lookups() {
        // Issue 12 item 2: CloudFormation's calls are no longer blessed without a
        // look: the owner is looked up once (the owning stack is deploying), drift
        // detection is still skipped and nothing is ticketed.
        let h = harness();
        h.catalog.set_stack_status("app", "UPDATE_IN_PROGRESS");
        let by_cfn = h
            .pipeline
            .process_change(sg_change("ev-cfn", cloudformation()))
            .await
            .unwrap();
        assert_eq!(by_cfn.actor.kind, ActorKind::Cloudformation);
        assert_eq!(by_cfn.decision.verdict.action, Action::Ignore);
        assert!(
            by_cfn
                .actor
                .evidence
                .iter()
                .any(|e| e.contains("app is UPDATE_IN_PROGRESS")),
            "{:?}",
            by_cfn.actor.evidence
        );
        assert_eq!(h.catalog.owner_calls.load(Ordering::SeqCst), 1);
        h.catalog.set_stack_status("app", "UPDATE_COMPLETE");
        let ours = h
            .pipeline
            .process_change(sg_change(
                "ev-dg",
                role("driftguard-remediation", "driftguard-remediate"),
            ))
            .await
            .unwrap();
        assert_eq!(ours.actor.kind, ActorKind::Driftguard);
        assert_eq!(ours.decision.verdict.action, Action::Ignore);
        assert!(ours.ticket.is_none() && by_cfn.ticket.is_none());
        assert!(h.store.tickets().is_empty());
        assert!(h.published().is_empty());
        assert_eq!(
            h.catalog.owner_calls.load(Ordering::SeqCst),
            1,
            "driftguard: none"
        );
        assert_eq!(h.drift.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn cloudformation_acting_for_another_stack_is_decided_by_policy() {
        // Someone's own stack holds an AWS::EC2::SecurityGroupIngress aimed at
        // `app`'s group: CloudTrail shows CloudFormation's call, but `app` is not
        // deploying, so CloudFormation acted for another stack.
        let h = harness();
        let r = h
            .pipeline
            .process_change(sg_change("ev-cfn-other", cloudformation()))
            .await
            .unwrap();
        assert_eq!(r.actor.kind, ActorKind::Automation);
        assert!(
            r.actor.evidence.iter().any(
                |e| e == "CloudFormation acted for another stack: owner app is UPDATE_COMPLETE"
            ),
            "{:?}",
            r.actor.evidence
        );
        // The test policy reverts console/human changes only: the default verdict.
        assert_eq!(r.decision.verdict.action, Action::Ticket);
        assert!(r.ticket.is_some());
        assert_eq!(h.drift.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn events_from_unwatched_accounts_are_rejected_with_a_reason() {
        let h = harness_with(Settings {
            watched_accounts: vec!["111122223333".into()],
            ..quick()
        });
        let o = h
            .pipeline
            .process_event(&cloudtrail_envelope("ev-foreign"))
            .await
            .unwrap();
        let Outcome::Skipped { reason, detail, .. } = o else {
            panic!("{o:?}")
        };
        assert_eq!(reason, "foreign_account");
        assert!(detail.contains("123456789012 is not watched"), "{detail}");
        assert!(h.store.tickets().is_empty() && h.published().is_empty());

        let watched = harness_with(Settings {
            watched_accounts: vec!["123456789012".into()],
            ..quick()
        });
        let mut envelope = cloudtrail_envelope("ev-envelope");
        envelope["account"] = json!("999988887777");
        let o = watched.pipeline.process_event(&envelope).await.unwrap();
        assert!(
            matches!(o, Outcome::Skipped { ref reason, ref detail, .. }
                if reason == "foreign_account" && detail.contains("envelope account 999988887777")),
            "{o:?}"
        );
        let o = watched
            .pipeline
            .process_event(&cloudtrail_envelope("ev-home"))
            .await
            .unwrap();
        assert!(matches!(o, Outcome::Decided(_)), "{o:?}");
    }

    /// `POLICY` with environments: prod reverts the console change live,
    /// dev only tickets it.
    const ENV_POLICY: &str = r#"
version: 2
defaults: { dry_run: true, verdict: ticket, severity: medium }
identities:
  own: [{ principal: "arn:aws:iam::*:role/driftguard-remediation" }]
  pipeline: [{ principal: "arn:aws:iam::*:role/deploy-pipeline" }]
rules:
  - name: sg-revert
    match: { actors: [console, human], resource_types: ["AWS::EC2::SecurityGroup"] }
    verdict: revert
    severity: high
environments:
  - name: prod
    match: { accounts: ["111111111111"] }
    defaults: { dry_run: false }
  - name: dev
    match: { accounts: ["222222222222"] }
    rules:
      - name: dev-ticket-only
        verdict: ticket
        severity: low
"#;

    #[tokio::test]
    async fn the_same_event_is_reverted_in_the_prod_account_and_ticketed_in_the_dev_account() {
        let h = harness_policy(
            Settings {
                watched_accounts: vec!["111111111111".into(), "222222222222".into()],
                ..quick()
            },
            ENV_POLICY,
        );
        h.drift.set("app", "WebSG", Ok(cfn_modified()));
        // The member account's event as the central bus receives it: the
        // envelope's and the record's account are the member's.
        let in_account = |account: &str| {
            let text = cloudtrail_envelope(&format!("ev-{account}"))
                .to_string()
                .replace("123456789012", account);
            serde_json::from_str::<serde_json::Value>(&text).unwrap()
        };
        let mut reports = Vec::new();
        for account in ["111111111111", "222222222222"] {
            let o = h
                .pipeline
                .process_event(&in_account(account))
                .await
                .unwrap();
            let Outcome::Decided(r) = o else {
                panic!("{account}: {o:?}")
            };
            assert_eq!(r.actor.kind, ActorKind::Console, "{account}");
            reports.push(r);
        }
        let (prod, dev) = (&reports[0].decision.verdict, &reports[1].decision.verdict);
        assert_eq!(
            (
                prod.action,
                prod.dry_run,
                prod.environment.as_deref(),
                prod.rule.as_deref()
            ),
            (Action::Revert, false, Some("prod"), Some("sg-revert"))
        );
        assert_eq!(
            (dev.action, dev.environment.as_deref(), dev.rule.as_deref()),
            (Action::Ticket, Some("dev"), Some("dev-ticket-only"))
        );
        // Two tickets, one per account, each with its account, region and verdict.
        let mut tickets = h.store.tickets();
        tickets.sort_by(|a, b| a.fingerprint.account.cmp(&b.fingerprint.account));
        assert_eq!(tickets.len(), 2);
        for (t, (account, env, action)) in tickets.iter().zip([
            ("111111111111", "prod", Action::Revert),
            ("222222222222", "dev", Action::Ticket),
        ]) {
            assert_eq!(t.fingerprint.account, account);
            assert_eq!(t.fingerprint.region, "us-east-1");
            let v = &t.decision.as_ref().unwrap().verdict;
            assert_eq!((v.action, v.environment.as_deref()), (action, Some(env)));
        }
        assert_eq!(
            tickets[0].severity,
            driftguard_model::domain::Severity::High
        );
        assert_eq!(tickets[1].severity, driftguard_model::domain::Severity::Low);
        // The published decisions say it too (remediate acts on prod's only).
        let events = h.published();
        assert_eq!(events.len(), 2);
        for e in &events {
            let env = e.decision.verdict.environment.as_deref();
            match e.change.account.as_str() {
                "111111111111" => assert!(env == Some("prod") && e.decision.verdict.action.acts()),
                "222222222222" => assert!(env == Some("dev") && !e.decision.verdict.action.acts()),
                other => panic!("{other}"),
            }
        }
        // An account watched but in no environment: the top-level rules.
        let other = harness_policy(
            Settings {
                watched_accounts: vec!["123456789012".into()],
                ..quick()
            },
            ENV_POLICY,
        );
        other.drift.set("app", "WebSG", Ok(cfn_modified()));
        let o = other
            .pipeline
            .process_event(&cloudtrail_envelope("ev-home"))
            .await
            .unwrap();
        let Outcome::Decided(r) = o else {
            panic!("{o:?}")
        };
        let v = &r.decision.verdict;
        assert_eq!(
            (v.action, v.dry_run, v.environment.as_deref()),
            (Action::Revert, true, None)
        );
    }

    #[test]
    fn watched_account_problems_name_the_account() {
        let w = vec!["123456789012".to_string()];
        assert_eq!(
            watched_account_problem(&w, Some("123456789012"), "123456789012"),
            None
        );
        assert!(watched_account_problem(&w, None, "210987654321").is_some());
        assert!(
            watched_account_problem(&[], Some("210987654321"), "123456789012")
                .unwrap()
                .contains("not the record's account")
        );
        assert_eq!(watched_account_problem(&[], None, "123456789012"), None);
    }

    #[tokio::test]
    async fn pipeline_change_is_allowed_and_only_recorded_on_an_open_ticket() {
        let h = harness();
        let pipeline_role = role("deploy-pipeline", "codepipeline-deploy");
        let r = h
            .pipeline
            .process_change(sg_change("ev-p1", pipeline_role.clone()))
            .await
            .unwrap();
        assert_eq!(r.decision.verdict.action, Action::Allow);
        // No open ticket: a closed ALLOWED record for the sweep, nothing published.
        assert_eq!(r.ticket.unwrap().state, TicketState::Allowed);
        assert!(h.published().is_empty());

        h.pipeline
            .process_change(sg_change("ev-c1", console()))
            .await
            .unwrap();
        let r = h
            .pipeline
            .process_change(sg_change("ev-p2", pipeline_role))
            .await
            .unwrap();
        let t = r.ticket.unwrap();
        assert_eq!(
            (t.state, t.state_changed, t.write),
            (TicketState::Open, false, TicketWrite::Updated)
        );
        let stored = &h.store.tickets()[0];
        assert_eq!((stored.events_seen, stored.reopened), (3, 1));
        assert_eq!(
            stored.decision.as_ref().unwrap().verdict.action,
            Action::Revert,
            "the ticketing verdict stays"
        );
        assert_eq!(
            stored.last_actor.as_ref().unwrap().kind,
            ActorKind::Pipeline
        );
    }

    #[tokio::test]
    async fn unmanaged_resources_are_ticketed_not_remediated() {
        let h = harness();
        let mut c = sg_change("ev-1", console());
        c.resource = ResourceRef::new("AWS::EC2::SecurityGroup", "sg-not-in-any-stack");
        let r = h.pipeline.process_change(c).await.unwrap();
        assert_eq!(r.ownership, Ownership::Unmanaged);
        // Issue 13 item 8: ticketed (the sg-revert rule is capped), never acted on.
        assert_eq!(r.decision.verdict.action, Action::Ticket);
        assert_eq!(r.decision.verdict.capped_from, Some(Action::Revert));
        assert_eq!(h.store.tickets().len(), 1);
    }

    #[tokio::test]
    async fn stack_operation_in_progress_records_a_held_decision() {
        let h = harness();
        h.catalog.set_stack_status("app", "UPDATE_IN_PROGRESS");
        let r = h
            .pipeline
            .process_change(sg_change("ev-1", console()))
            .await
            .unwrap();
        assert!(r
            .decision
            .held
            .as_deref()
            .unwrap()
            .contains("UPDATE_IN_PROGRESS"));
        assert_eq!(
            h.drift.calls.load(Ordering::SeqCst),
            0,
            "no drift check on a busy stack"
        );
        let stored = &h.store.tickets()[0];
        assert!(stored.history.iter().any(|e| e.kind == EntryKind::Held));
        assert!(h.published()[0].decision.held.is_some());
    }

    #[tokio::test]
    async fn a_resolved_ticket_is_reopened() {
        let h = harness();
        h.pipeline
            .process_change(sg_change("ev-1", console()))
            .await
            .unwrap();
        let mut t = h.store.tickets().remove(0);
        t.transition(TicketState::Resolved, "reverted", t0())
            .unwrap();
        t.version += 1;
        h.store.update_ticket(&t).await.unwrap();

        let r = h
            .pipeline
            .process_change(sg_change("ev-2", console()))
            .await
            .unwrap();
        let report = r.ticket.unwrap();
        assert_eq!(
            (report.state, report.state_changed),
            (TicketState::Open, true)
        );
        let stored = &h.store.tickets()[0];
        assert_eq!(stored.reopened, 1);
        assert_eq!(stored.version, 3);
        assert!(h.published()[1].state_changed);
    }

    #[tokio::test]
    async fn twenty_concurrent_events_on_one_resource_make_one_ticket() {
        let h = harness();
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let p = h.pipeline.clone();
                tokio::spawn(async move {
                    p.process_change(sg_change(&format!("ev-{i}"), console()))
                        .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let tickets = h.store.tickets();
        assert_eq!(tickets.len(), 1);
        assert_eq!(tickets[0].events_seen, 20);
        assert_eq!(tickets[0].version, 20);
        let opened = h.published().iter().filter(|e| e.state_changed).count();
        assert_eq!(opened, 1, "exactly one decision opened the ticket");
    }

    #[tokio::test]
    async fn the_same_change_twice_is_recorded_once() {
        let h = harness();
        h.pipeline
            .process_change(sg_change("ev-1", console()))
            .await
            .unwrap();
        let r = h
            .pipeline
            .process_change(sg_change("ev-1", console()))
            .await
            .unwrap();
        assert_eq!(r.ticket.unwrap().write, TicketWrite::AlreadyRecorded);
        assert_eq!(h.store.tickets()[0].events_seen, 1);
    }

    #[tokio::test]
    async fn config_items_look_the_actor_up_and_fall_back_to_unknown() {
        let h = harness();
        let mut c = sg_change("cfg-1", Identity::default());
        c.source = ChangeSource::ConfigItem;
        c.service = "config".into();
        c.operation = "ConfigurationItemChange".into();
        h.actors.set("sg-0abc", Ok(Some(console())));
        let r = h.pipeline.process_change(c.clone()).await.unwrap();
        assert_eq!(r.actor.kind, ActorKind::Console);
        assert!(r.actor.evidence[0].contains("LookupEvents"));

        h.actors.set(
            "sg-0abc",
            Err(PortError::Unsupported {
                service: "cloudtrail",
                operation: "LookupEvents",
                message: "not implemented".into(),
            }),
        );
        c.event_id = "cfg-2".into();
        let r = h.pipeline.process_change(c).await.unwrap();
        assert_eq!(r.actor.kind, ActorKind::Unknown);
        assert!(
            r.actor.evidence[0].contains("LookupEvents failed"),
            "{:?}",
            r.actor.evidence
        );
        assert_eq!(
            r.decision.verdict.action,
            Action::Ticket,
            "unknown actors are ticketed"
        );
    }

    #[tokio::test]
    async fn throttled_ownership_fails_but_other_failures_degrade_to_unknown() {
        let h = harness();
        h.catalog.fail_owner_of(
            "sg-0abc",
            PortError::Throttled {
                service: "cloudformation",
                operation: "ListStacks",
                message: "Rate exceeded".into(),
            },
        );
        let err = h
            .pipeline
            .process_change(sg_change("ev-1", console()))
            .await
            .unwrap_err();
        assert_eq!(err.class(), "throttled");
        assert!(h.store.tickets().is_empty());

        h.catalog.fail_owner_of(
            "sg-0abc",
            PortError::Failed {
                service: "cloudformation",
                operation: "DescribeStackResources",
                message: "AccessDenied".into(),
            },
        );
        let r = h
            .pipeline
            .process_change(sg_change("ev-1", console()))
            .await
            .unwrap();
        assert!(matches!(r.ownership, Ownership::Unknown { .. }));
        assert_eq!(
            r.decision.verdict.action,
            Action::Ticket,
            "capped: ownership not proven"
        );
    }

    #[tokio::test]
    async fn dry_run_override_forces_dry_run() {
        let h = harness_with(Settings {
            force_dry_run: true,
            ..quick()
        });
        let r = h
            .pipeline
            .process_change(sg_change("ev-1", console()))
            .await
            .unwrap();
        assert_eq!(r.decision.verdict.action, Action::Revert);
        assert!(r.decision.verdict.dry_run);
    }

    #[tokio::test]
    async fn sweep_changes_with_a_drift_hint_skip_detection() {
        let h = harness();
        let mut c = sg_change("sweep-1", Identity::default());
        c.source = ChangeSource::Sweep;
        c.drift_hint = Some(cfn_modified());
        let r = h.pipeline.process_change(c).await.unwrap();
        assert_eq!(h.drift.calls.load(Ordering::SeqCst), 0);
        assert_eq!(r.drift.unwrap().status, DriftStatus::Modified);
        assert!(r.ticket.is_some());
    }

    // ---------------------------------------------------------------- process_event

    fn cloudtrail_envelope(event_id: &str) -> serde_json::Value {
        json!({
            "version": "0",
            "id": format!("env-{event_id}"),
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.ec2",
            "account": "123456789012",
            "time": "2026-03-01T10:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {
                "eventVersion": "1.09",
                "userIdentity": {
                    "type": "AssumedRole",
                    "principalId": "AROAEXAMPLE:alice@example.com",
                    "arn": "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com",
                    "accountId": "123456789012",
                    "sessionContext": {
                        "sessionIssuer": {
                            "type": "Role",
                            "arn": "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123456789abcdef"
                        }
                    }
                },
                "eventTime": "2026-03-01T10:00:00Z",
                "eventSource": "ec2.amazonaws.com",
                "eventName": "AuthorizeSecurityGroupIngress",
                "awsRegion": "us-east-1",
                "sourceIPAddress": "198.51.100.7",
                "userAgent": "AWS Internal",
                "requestParameters": {
                    "groupId": "sg-0abc",
                    "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                        "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}
                },
                "responseElements": {"_return": true},
                "eventID": event_id,
                "readOnly": false,
                "eventType": "AwsApiCall",
                "managementEvent": true,
                "recipientAccountId": "123456789012",
                "sessionCredentialFromConsole": "true"
            }
        })
    }

    #[tokio::test]
    async fn duplicate_delivery_is_a_no_op() {
        let h = harness();
        let event = cloudtrail_envelope("11111111-2222-3333-4444-555555555555");
        let first = h.pipeline.process_event(&event).await.unwrap();
        let Outcome::Decided(report) = first else {
            panic!("{first:?}")
        };
        assert_eq!(report.actor.kind, ActorKind::Console);
        let second = h.pipeline.process_event(&event).await.unwrap();
        assert!(matches!(second, Outcome::Duplicate { .. }), "{second:?}");
        assert_eq!(h.store.tickets().len(), 1);
        assert_eq!(h.published().len(), 1);
    }

    #[tokio::test]
    async fn twenty_concurrent_deliveries_of_one_event_make_one_ticket_and_one_decision() {
        let h = harness();
        let event = Arc::new(cloudtrail_envelope("ev-concurrent"));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (p, e) = (h.pipeline.clone(), event.clone());
                tokio::spawn(async move { p.process_event(&e).await })
            })
            .collect();
        let mut decided = 0;
        for t in tasks {
            match t.await.unwrap().unwrap() {
                Outcome::Decided(_) => decided += 1,
                Outcome::Duplicate { .. } => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(decided, 1);
        assert_eq!(h.store.tickets().len(), 1);
        assert_eq!(h.store.tickets()[0].events_seen, 1);
        assert_eq!(h.published().len(), 1);
    }

    #[tokio::test]
    async fn a_failed_publish_fails_the_event_and_the_retry_republishes() {
        let h = harness();
        h.bus.fail_next.store(1, Ordering::SeqCst);
        let event = cloudtrail_envelope("ev-publish");
        let err = h.pipeline.process_event(&event).await.unwrap_err();
        assert!(err.to_string().contains("publish decision"), "{err}");
        assert_eq!(h.store.tickets().len(), 1, "the ticket was written");
        assert!(h.published().is_empty());

        // Lambda retries: the claim was released, the event is on the ticket already.
        let Outcome::Decided(r) = h.pipeline.process_event(&event).await.unwrap() else {
            panic!()
        };
        let t = r.ticket.unwrap();
        assert_eq!(t.write, TicketWrite::AlreadyRecorded);
        assert!(
            t.state_changed,
            "the retry still reports the ticket as opened"
        );
        assert_eq!(h.published().len(), 1);
        assert_eq!(h.store.tickets()[0].events_seen, 1);
    }

    #[tokio::test]
    async fn malformed_events_fail_naming_the_field() {
        let h = harness();
        let mut event = cloudtrail_envelope("ev-bad");
        event["detail"].as_object_mut().unwrap().remove("eventName");
        let err = h.pipeline.process_event(&event).await.unwrap_err();
        assert!(matches!(err, PipelineError::Malformed(_)));
        assert!(err.to_string().contains("detail.eventName"), "{err}");
        assert!(h
            .pipeline
            .process_event(&json!({"detail": {}}))
            .await
            .unwrap_err()
            .to_string()
            .contains("source"));
    }

    #[tokio::test]
    async fn read_only_and_unsupported_events_are_skipped() {
        let h = harness();
        let mut event = cloudtrail_envelope("ev-ro");
        event["detail"]["eventName"] = json!("DescribeSecurityGroups");
        event["detail"]["readOnly"] = json!(true);
        let o = h.pipeline.process_event(&event).await.unwrap();
        assert!(
            matches!(o, Outcome::Skipped { ref reason, .. } if reason == "read_only"),
            "{o:?}"
        );
        let o = h
            .pipeline
            .process_event(
                &json!({"source": "aws.s3", "detail-type": "Object Created", "detail": {}}),
            )
            .await
            .unwrap();
        assert!(
            matches!(o, Outcome::Skipped { ref reason, .. } if reason == "unsupported_event"),
            "{o:?}"
        );
    }

    // ------------------------------------------- drift CloudFormation cannot see

    /// Rules for out-of-template drift, type resolution and the sweep tests.
    const DRIFT_POLICY: &str = r#"
version: 1
defaults: { dry_run: true, verdict: ticket, severity: medium }
identities:
  pipeline: [{ principal: "arn:aws:iam::*:role/deploy-pipeline" }]
  break_glass:
    - principal: "arn:aws:iam::*:role/break-glass"
      not_before: "2026-01-01T00:00:00Z"
      not_after: "2026-12-31T00:00:00Z"
rules:
  - name: out-of-template-reverted
    match: { drift: [out_of_template], resource_types: ["AWS::IAM::Role", "AWS::S3::Bucket"] }
    verdict: revert
    dry_run: false
    severity: high
  - name: bucket-by-owner-type
    match: { resource_types: ["AWS::S3::Bucket"], api_resource_types: ["AWS::S3::BucketPolicy"] }
    verdict: revert
    severity: critical
  - name: sg-revert
    match: { actors: [console, human, unknown], resource_types: ["AWS::EC2::SecurityGroup"] }
    verdict: revert
    dry_run: false
    severity: high
"#;

    fn drift_harness() -> Harness {
        let h = harness_policy(quick(), DRIFT_POLICY);
        h.catalog
            .add_resource("app", "AppRole", "AWS::IAM::Role", "app-role");
        h
    }

    /// CloudFormation's answer for a resource whose template declares only
    /// `expected`: IN_SYNC, because "Only resource properties explicitly
    /// defined in the stack template are checked for drift"
    /// (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DetectStackResourceDrift.html;
    /// aws-cloudformation/cloudformation-coverage-roadmap#2489 for managed
    /// policies, #936 for inline policies). `ExpectedProperties` is "A JSON
    /// structure that contains the expected property values of the stack
    /// resource, as defined in the stack template"
    /// (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackResourceDrift.html).
    fn cfn_in_sync(expected: Option<serde_json::Value>) -> Drift {
        Drift {
            status: DriftStatus::InSync,
            differences: Vec::new(),
            actual_properties: expected.clone(),
            expected_properties: expected,
            origin: DriftOrigin::Cloudformation,
            detected_at: Some(t0()),
        }
    }

    fn api_change(
        event_id: &str,
        service: &str,
        operation: &str,
        resource: ResourceRef,
        request: serde_json::Value,
    ) -> Change {
        Change {
            service: service.into(),
            operation: operation.into(),
            resource,
            request,
            ..sg_change(event_id, console())
        }
    }

    fn trust_policy() -> serde_json::Value {
        json!({"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}})
    }

    fn attach_admin(event_id: &str) -> Change {
        api_change(
            event_id,
            "iam",
            "AttachRolePolicy",
            ResourceRef::new("AWS::IAM::Role", "app-role"),
            json!({"roleName": "app-role", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
        )
    }

    async fn assert_out_of_template(h: &Harness, change: Change, path: &str) -> DecisionReport {
        let r = h.pipeline.process_change(change).await.unwrap();
        assert_eq!(r.drift.as_ref().unwrap().status, DriftStatus::InSync);
        let oot = r.event_drift.as_ref().unwrap();
        assert_eq!(oot.status, DriftStatus::OutOfTemplate, "{oot:?}");
        assert_eq!(oot.property_paths(), vec![path]);
        assert_eq!(
            r.decision.verdict.action,
            Action::Revert,
            "{:?}",
            r.decision
        );
        assert_eq!(
            r.decision.verdict.rule.as_deref(),
            Some("out-of-template-reverted")
        );
        let ticket = h.store.tickets().pop().unwrap();
        assert!(ticket.is_out_of_template(), "{ticket:?}");
        assert!(ticket.history[0].summary.contains("by console"));
        assert_eq!(ticket.history[0].data["drift_status"], "OUT_OF_TEMPLATE");
        assert_eq!(ticket.history[0].data["drift_origin"], "out_of_template");
        r
    }

    #[tokio::test]
    async fn an_attached_managed_policy_cloudformation_calls_in_sync_is_out_of_template_drift() {
        let h = drift_harness();
        h.drift
            .set("app", "AppRole", Ok(cfn_in_sync(Some(trust_policy()))));
        assert_out_of_template(&h, attach_admin("ev-attach"), "/ManagedPolicyArns").await;
    }

    #[tokio::test]
    async fn an_inline_policy_cloudformation_calls_in_sync_is_out_of_template_drift() {
        let h = drift_harness();
        // Without ExpectedProperties, IN_SYNC to a change the event proves
        // means the property was not checked.
        h.drift.set("app", "AppRole", Ok(cfn_in_sync(None)));
        let change = api_change(
            "ev-inline",
            "iam",
            "PutRolePolicy",
            ResourceRef::new("AWS::IAM::Role", "app-role"),
            json!({"roleName": "app-role", "policyName": "hotfix", "policyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}"}),
        );
        assert_out_of_template(&h, change, "/Policies").await;
    }

    fn put_bucket_policy(event_id: &str) -> Change {
        api_change(
            event_id,
            "s3",
            "PutBucketPolicy",
            ResourceRef::new("AWS::S3::BucketPolicy", "app-bucket"),
            json!({"bucketName": "app-bucket", "bucketPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::app-bucket/*"}]}}),
        )
    }

    #[tokio::test]
    async fn a_bucket_policy_on_a_bucket_without_one_in_the_template_is_out_of_template_drift() {
        let h = drift_harness();
        h.drift.set(
            "app",
            "Bucket",
            Ok(cfn_in_sync(Some(json!({"BucketName": "app-bucket"})))),
        );
        let r = assert_out_of_template(&h, put_bucket_policy("ev-bp"), "/PolicyDocument").await;
        assert_eq!(
            r.ownership.membership().unwrap().resource_type.as_deref(),
            Some("AWS::S3::Bucket")
        );
    }

    #[tokio::test]
    async fn a_declared_property_cloudformation_checked_in_sync_is_still_ignored() {
        let h = drift_harness();
        let mut declared = trust_policy();
        declared["ManagedPolicyArns"] = json!(["arn:aws:iam::aws:policy/AdministratorAccess"]);
        h.drift
            .set("app", "AppRole", Ok(cfn_in_sync(Some(declared))));
        let r = h
            .pipeline
            .process_change(attach_admin("ev-declared"))
            .await
            .unwrap();
        assert_eq!(r.decision.verdict.action, Action::Ignore);
        assert_ne!(
            r.event_drift.unwrap().status,
            DriftStatus::OutOfTemplate,
            "CloudFormation looked at ManagedPolicyArns"
        );
    }

    /// Issue 13, item 7: a PutBucketPolicy on a bucket whose stack has no
    /// AWS::S3::BucketPolicy resolves to the AWS::S3::Bucket; the rule is
    /// matched on that type, the API's type stays a second fact.
    #[tokio::test]
    async fn a_bucket_policy_change_is_matched_by_a_bucket_rule() {
        let h = drift_harness();
        let r = h
            .pipeline
            .process_change(put_bucket_policy("ev-bp-type"))
            .await
            .unwrap();
        assert_eq!(
            r.decision.verdict.rule.as_deref(),
            Some("bucket-by-owner-type"),
            "{:?}",
            r.decision
        );
        assert_eq!(
            r.decision.verdict.severity,
            driftguard_model::domain::Severity::Critical
        );
    }

    /// Issue 13, item 8: a change to a resource no stack owns is ticketed
    /// (low severity by default) and never remediated.
    #[tokio::test]
    async fn an_unmanaged_change_is_ticketed_and_never_remediated() {
        let h = drift_harness();
        let mut change = sg_change("ev-unmanaged", console());
        change.resource = ResourceRef::new("AWS::EC2::SecurityGroup", "sg-stray");
        let r = h.pipeline.process_change(change).await.unwrap();
        assert_eq!(r.ownership, Ownership::Unmanaged);
        assert_eq!(r.decision.verdict.action, Action::Ticket);
        assert_eq!(r.decision.verdict.capped_from, Some(Action::Revert));
        let t = r.ticket.unwrap();
        assert_eq!(t.state, TicketState::Open);
        assert_eq!(h.published().len(), 1);
        assert!(!h.published()[0].decision.verdict.action.acts());
    }

    /// The change a sweep makes of one MODIFIED resource (no identity).
    fn sweep_change(event_id: &str, drift: Drift) -> Change {
        Change {
            event_id: event_id.into(),
            time: t0() + chrono::Duration::hours(1),
            source: ChangeSource::Sweep,
            service: "cloudformation".into(),
            operation: "DetectStackDrift".into(),
            identity: Identity::default(),
            request: serde_json::Value::Null,
            stack_hint: Some(driftguard_model::domain::change::StackHint {
                stack: "app".into(),
                logical_id: Some("WebSG".into()),
                status: Some("UPDATE_COMPLETE".into()),
            }),
            drift_hint: Some(drift),
            ..sg_change(event_id, Identity::default())
        }
    }

    fn later(mut d: Drift) -> Drift {
        d.detected_at = Some(t0() + chrono::Duration::hours(1));
        d
    }

    fn other_value() -> Drift {
        let mut d = cfn_modified();
        d.differences[0].actual = Some(json!({"CidrIp": "0.0.0.0/0", "FromPort": 3389}));
        d
    }

    /// Issue 13, item 9: the sweep's change has no identity; the break-glass
    /// decision stands while the drift is the same drift.
    #[tokio::test]
    async fn a_break_glass_change_is_not_reverted_by_a_later_sweep() {
        let h = drift_harness();
        h.drift.set("app", "WebSG", Ok(cfn_modified()));
        let r = h
            .pipeline
            .process_change(sg_change("ev-bg", role("break-glass", "oncall")))
            .await
            .unwrap();
        assert_eq!(r.actor.kind, ActorKind::BreakGlass);
        assert_eq!(r.decision.verdict.action, Action::Ticket);

        let r = h
            .pipeline
            .process_change(sweep_change("sweep:1", later(cfn_modified())))
            .await
            .unwrap();
        assert_eq!(r.actor.kind, ActorKind::BreakGlass, "{:?}", r.actor);
        assert!(r.actor.evidence[0].contains("carried from ticket"));
        assert_eq!(r.decision.verdict.action, Action::Ticket);
        assert_eq!(h.store.tickets()[0].state, TicketState::Open);

        // Another value is another drift: decided afresh (actor unknown).
        let r = h
            .pipeline
            .process_change(sweep_change("sweep:2", other_value()))
            .await
            .unwrap();
        assert_eq!(r.actor.kind, ActorKind::Unknown);
        assert_eq!(r.decision.verdict.action, Action::Revert);
    }

    /// Issue 13, item 9: ACCEPTED lasts while the values are the accepted
    /// ones; a changed value reopens.
    #[tokio::test]
    async fn an_accepted_drift_survives_a_sweep_and_a_changed_value_reopens() {
        let h = drift_harness();
        h.drift.set("app", "WebSG", Ok(cfn_modified()));
        h.pipeline
            .process_change(sg_change("ev-c", console()))
            .await
            .unwrap();
        let mut t = h.store.tickets().pop().unwrap();
        t.transition(TicketState::Accepted, "accepted by test", t0())
            .unwrap();
        t.accepted_drift = t.current_drift().map(Drift::fingerprint);
        t.version += 1;
        h.store.update_ticket(&t).await.unwrap();

        let r = h
            .pipeline
            .process_change(sweep_change("sweep:1", later(cfn_modified())))
            .await
            .unwrap();
        assert_eq!(r.decision.verdict.action, Action::Ignore);
        assert!(
            r.decision.verdict.reason.contains("accepted"),
            "{:?}",
            r.decision
        );
        assert_eq!(h.store.tickets()[0].state, TicketState::Accepted);

        let r = h
            .pipeline
            .process_change(sweep_change("sweep:2", other_value()))
            .await
            .unwrap();
        assert_eq!(r.decision.verdict.action, Action::Revert);
        let t = h.store.tickets().pop().unwrap();
        assert_eq!(t.state, TicketState::Open);
        assert_eq!(t.reopened, 1);
    }

    /// Issue 13: a pipeline change the policy allows opens no ticket, yet the
    /// next sweep sees its drift with no identity. The ALLOWED record keeps the
    /// actor and the drift fingerprint: the sweep neither tickets nor reverts
    /// that drift; a later different change is decided again.
    #[tokio::test]
    async fn a_pipeline_change_allowed_by_policy_is_not_undone_by_the_next_sweep() {
        let h = drift_harness();
        h.drift.set("app", "WebSG", Ok(cfn_modified()));
        let r = h
            .pipeline
            .process_change(sg_change("ev-p", role("deploy-pipeline", "codepipeline")))
            .await
            .unwrap();
        assert_eq!(r.actor.kind, ActorKind::Pipeline);
        assert_eq!(r.decision.verdict.action, Action::Allow);
        let t = h.store.tickets().pop().unwrap();
        assert_eq!(t.state, TicketState::Allowed);
        assert!(t.state.is_closed());
        assert_eq!(t.last_actor.as_ref().unwrap().kind, ActorKind::Pipeline);
        assert_eq!(t.decided_drift, Some(cfn_modified().fingerprint()));
        assert!(h.published().is_empty(), "nothing to remediate or announce");

        // The next sweep: same drift, no identity. The allowed decision stands.
        for n in 1..=2 {
            let r = h
                .pipeline
                .process_change(sweep_change(&format!("sweep:{n}"), later(cfn_modified())))
                .await
                .unwrap();
            assert_eq!(r.actor.kind, ActorKind::Pipeline, "{:?}", r.actor);
            assert!(r.actor.evidence[0].contains("carried from ticket"));
            assert_eq!(r.decision.verdict.action, Action::Allow);
        }
        let t = h.store.tickets().pop().unwrap();
        assert_eq!(
            (t.state, t.version),
            (TicketState::Allowed, 1),
            "nothing rewritten"
        );
        assert!(h.published().is_empty(), "neither ticketed nor reverted");

        // A later different value is another drift: decided afresh.
        let r = h
            .pipeline
            .process_change(sweep_change("sweep:3", other_value()))
            .await
            .unwrap();
        assert_eq!(r.actor.kind, ActorKind::Unknown);
        assert_eq!(r.decision.verdict.action, Action::Revert);
        let t = h.store.tickets().pop().unwrap();
        assert_eq!((t.state, t.reopened), (TicketState::Open, 1));
        assert_eq!(h.published().len(), 1);
    }

    /// A console change after the pipeline's allowed one is decided again, and
    /// once that ticket is resolved a new pipeline change is recorded afresh.
    #[tokio::test]
    async fn a_change_after_an_allowed_one_is_decided_again() {
        let h = drift_harness();
        h.drift.set("app", "WebSG", Ok(cfn_modified()));
        let pipeline = role("deploy-pipeline", "codepipeline");
        h.pipeline
            .process_change(sg_change("ev-p1", pipeline.clone()))
            .await
            .unwrap();
        h.drift.set("app", "WebSG", Ok(other_value()));
        let r = h
            .pipeline
            .process_change(sg_change("ev-c", console()))
            .await
            .unwrap();
        assert_eq!(r.actor.kind, ActorKind::Console);
        assert_eq!(r.decision.verdict.action, Action::Revert);
        let mut t = h.store.tickets().pop().unwrap();
        assert_eq!(t.state, TicketState::Open);

        t.transition(TicketState::Resolved, "reverted by test", t0())
            .unwrap();
        t.version += 1;
        h.store.update_ticket(&t).await.unwrap();
        h.drift.set("app", "WebSG", Ok(cfn_modified()));
        h.pipeline
            .process_change(sg_change("ev-p2", pipeline))
            .await
            .unwrap();
        let t = h.store.tickets().pop().unwrap();
        assert_eq!(t.state, TicketState::Allowed);
        assert_eq!(t.decided_drift, Some(cfn_modified().fingerprint()));
        let r = h
            .pipeline
            .process_change(sweep_change("sweep:1", later(cfn_modified())))
            .await
            .unwrap();
        assert_eq!(r.decision.verdict.action, Action::Allow);
    }

    #[test]
    fn allowed_is_a_closed_state_that_reopens() {
        assert_eq!(TicketState::parse("ALLOWED"), Some(TicketState::Allowed));
        assert_eq!(TicketState::Allowed.as_str(), "ALLOWED");
        assert!(TicketState::Allowed.can_move_to(TicketState::Open));
        assert!(TicketState::Resolved.can_move_to(TicketState::Allowed));
        assert!(!TicketState::Remediating.can_move_to(TicketState::Allowed));
    }

    #[tokio::test]
    async fn a_decided_change_prints_one_emf_line_by_severity_and_action() {
        let h = harness();
        h.drift.set("app", "WebSG", Ok(cfn_modified()));
        let mut change = sg_change("ev-emf", console());
        change.time = t0() - chrono::Duration::seconds(90);
        let capture = crate::metrics::capture();
        h.pipeline.process_change(change).await.unwrap();
        let lines = capture.lines();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        let line = &lines[0];
        let (metrics, dimensions) = crate::metrics::declared(line);
        assert_eq!(
            metrics,
            [
                ("ChangesSeen", "Count"),
                ("DriftTicketsOpened", "Count"),
                ("ExposureToDetection", "Seconds")
            ]
            .map(|(n, u)| (n.to_string(), u.to_string()))
        );
        assert_eq!(
            dimensions,
            json!([["Function"], ["Function", "Severity", "Action"]])
        );
        assert_eq!(
            (&line["Function"], &line["Severity"], &line["Action"]),
            (&json!("detect"), &json!("high"), &json!("revert"))
        );
        assert_eq!(line["DriftTicketsOpened"], 1.0);
        // CloudTrail eventTime -> the decision, 90 s later.
        assert_eq!(line["ExposureToDetection"], 90.0);
    }

    #[tokio::test]
    async fn an_ignored_change_is_seen_but_opens_no_ticket_and_has_no_exposure() {
        let h = harness();
        let capture = crate::metrics::capture();
        h.pipeline
            .process_change(sg_change(
                "ev-own",
                role("driftguard-remediation", "driftguard-remediate"),
            ))
            .await
            .unwrap();
        let lines = capture.lines();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert_eq!(lines[0]["ChangesSeen"], 1.0);
        assert_eq!(lines[0]["DriftTicketsOpened"], 0.0);
        assert!(lines[0].get("ExposureToDetection").is_none());
    }
}
