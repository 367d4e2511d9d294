//! The remediate Lambda's logic over ports: one EventBridge envelope in, at most
//! one remediation out, and a `Drift Remediation Result` on the bus.
//!
//! Order for each attempt, every stop recorded on the ticket with its reason:
//! stack busy (held) → ownership re-checked → protected → plan (stored on the
//! ticket) → dry-run → approval → rate limits → circuit breaker → act → verify.
use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::limits::SafetyStore;
use super::planner::{plan, PlanInput};
use super::template::{Pseudo, TemplateView};
use super::verify::{verify, Verification};
use super::{ExecutionError, PlanExecutor, TemplateSource};
use crate::domain::ownership::stack_operation_in_progress;
use crate::domain::policy::MatchFacts;
use crate::domain::ticket::EntryKind;
use crate::domain::{
    Action, Actor, Change, Drift, Ownership, Plan, Policy, StackMembership, Ticket, TicketEntry,
    TicketState,
};
use crate::error::PortError;
use crate::events::{
    DriftDecision, RemediationApproved, RemediationOutcome, RemediationResult, DRIFT_DECISION,
    REMEDIATION_APPROVED, REMEDIATION_RESULT, SCHEMA_VERSION, SOURCE,
};
use crate::ports::{Claim, Clock, DecisionBus, DriftDetector, StackCatalog, TicketStore};
use crate::resilience::{retry, CircuitBreaker, RetryPolicy};

/// The EventBridge envelope fields remediate reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    pub id: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub source: String,
    #[serde(default)]
    pub detail: Value,
}

#[derive(Debug, Clone)]
pub struct RemediatorSettings {
    /// `DRY_RUN=true`: plan only, whatever the verdict says.
    pub dry_run: bool,
    /// Processed-event records live this long (`EVENT_TTL_DAYS`).
    pub event_ttl_days: i64,
    /// How long one invocation holds its claim.
    pub lease: Duration,
    pub retry: RetryPolicy,
}

impl Default for RemediatorSettings {
    fn default() -> Self {
        Self {
            dry_run: false,
            event_ttl_days: 7,
            lease: Duration::minutes(15),
            retry: RetryPolicy::default(),
        }
    }
}

/// What one envelope came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Not for remediate (another detail type, a verdict that does not act).
    Ignored(String),
    /// A duplicate delivery: already processed or being processed.
    Duplicate(String),
    /// Processed: the result that was put on the bus.
    Finished(Box<RemediationResult>),
}

#[derive(Debug, thiserror::Error)]
pub enum RemediateError {
    /// The envelope cannot be read: fail so it lands in the DLQ, not in silence.
    #[error("malformed {detail_type} event {id}: {message}")]
    Malformed {
        id: String,
        detail_type: String,
        message: String,
    },
    /// The ticket store is unreachable: fail so the event is retried.
    #[error("ticket store: {0}")]
    Store(PortError),
}

/// Wiring: every port remediate needs.
pub struct Remediator {
    pub tickets: Arc<dyn TicketStore>,
    pub bus: Arc<dyn DecisionBus>,
    pub catalog: Arc<dyn StackCatalog>,
    pub drift: Option<Arc<dyn DriftDetector>>,
    pub templates: Arc<dyn TemplateSource>,
    pub executor: Arc<dyn PlanExecutor>,
    pub safety: Arc<dyn SafetyStore>,
    pub clock: Arc<dyn Clock>,
    pub policy: Arc<Policy>,
    pub settings: RemediatorSettings,
}

/// The facts one attempt works from.
struct Attempt {
    action: Action,
    dry_run: bool,
    requires_approval: bool,
    change: Option<Change>,
    actor: Option<Actor>,
    event_id: String,
    /// Set when executing an approved plan.
    approved: Option<(Plan, String)>,
}

/// How an attempt ended, before it is written down.
struct Ending {
    outcome: RemediationOutcome,
    reason: String,
    state: Option<TicketState>,
    plan: Option<Plan>,
    verified: Option<Drift>,
    approval_expires_at: Option<DateTime<Utc>>,
    entries: Vec<(EntryKind, String, Value)>,
}

impl Ending {
    fn new(outcome: RemediationOutcome, reason: impl Into<String>) -> Self {
        Self {
            outcome,
            reason: reason.into(),
            state: None,
            plan: None,
            verified: None,
            approval_expires_at: None,
            entries: Vec::new(),
        }
    }

    fn state(mut self, s: TicketState) -> Self {
        self.state = Some(s);
        self
    }

    fn plan(mut self, p: Option<Plan>) -> Self {
        self.plan = p;
        self
    }
}

fn ticket_missing(id: &str) -> RemediateError {
    RemediateError::Store(PortError::NotFound {
        what: format!("ticket {id}"),
    })
}

impl Remediator {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Handle one envelope (the Lambda's whole job).
    pub async fn handle(&self, event: Value) -> Result<Outcome, RemediateError> {
        let envelope: Envelope =
            serde_json::from_value(event).map_err(|e| RemediateError::Malformed {
                id: "?".into(),
                detail_type: "?".into(),
                message: e.to_string(),
            })?;
        if envelope.source != SOURCE {
            return Ok(Outcome::Ignored(format!(
                "source {} is not {SOURCE}",
                envelope.source
            )));
        }
        let malformed = |e: serde_json::Error| RemediateError::Malformed {
            id: envelope.id.clone(),
            detail_type: envelope.detail_type.clone(),
            message: e.to_string(),
        };
        match envelope.detail_type.as_str() {
            DRIFT_DECISION => {
                let decision: DriftDecision =
                    serde_json::from_value(envelope.detail.clone()).map_err(malformed)?;
                let action = decision.decision.verdict.action;
                if !action.acts() {
                    return Ok(Outcome::Ignored(format!(
                        "verdict {action} does not remediate"
                    )));
                }
                self.claimed(&envelope.id, || self.on_decision(&envelope.id, &decision))
                    .await
            }
            REMEDIATION_APPROVED => {
                let approved: RemediationApproved =
                    serde_json::from_value(envelope.detail.clone()).map_err(malformed)?;
                self.claimed(&envelope.id, || self.on_approval(&envelope.id, &approved))
                    .await
            }
            other => Ok(Outcome::Ignored(format!(
                "detail-type {other} is not for remediate"
            ))),
        }
    }

    /// Idempotency: claim `remediate:<envelope id>`, run, complete (or abandon on failure).
    async fn claimed<F, Fut>(&self, envelope_id: &str, work: F) -> Result<Outcome, RemediateError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<RemediationResult, RemediateError>>,
    {
        let key = format!("remediate:{envelope_id}");
        let now = self.now();
        let claim = self
            .tickets
            .claim_event(
                &key,
                now + self.settings.lease,
                now + Duration::days(self.settings.event_ttl_days),
            )
            .await
            .map_err(RemediateError::Store)?;
        match claim {
            Claim::AlreadyDone => {
                return Ok(Outcome::Duplicate(format!("{key} already processed")))
            }
            Claim::InProgress => {
                return Ok(Outcome::Duplicate(format!("{key} is being processed")))
            }
            Claim::Fresh => {}
        }
        match work().await {
            Ok(result) => {
                self.publish(&result).await;
                if let Err(e) = self.tickets.complete_event(&key).await {
                    // The lease expires and a retry may re-run: remediation itself is guarded by the ticket state.
                    tracing::warn!(event = %key, error = %e, "could not mark event done");
                }
                Ok(Outcome::Finished(Box::new(result)))
            }
            Err(e) => {
                if let Err(abandon) = self.tickets.abandon_event(&key).await {
                    tracing::warn!(event = %key, error = %abandon, "could not drop claim");
                }
                Err(e)
            }
        }
    }

    async fn publish(&self, result: &RemediationResult) {
        let detail = match serde_json::to_value(result) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialize remediation result");
                return;
            }
        };
        let sent = retry(&self.settings.retry, "eventbridge:PutEvents", || {
            self.bus.publish(REMEDIATION_RESULT, &detail)
        })
        .await;
        match sent {
            Ok(()) => tracing::info!(
                ticket = %result.ticket_id,
                outcome = result.outcome.as_str(),
                state = %result.ticket_state,
                reason = %result.reason,
                "remediation result"
            ),
            // The ticket already holds the same facts: degrade, do not fail the invocation.
            Err(e) => {
                tracing::error!(ticket = %result.ticket_id, error = %e, "could not publish remediation result")
            }
        }
    }

    async fn on_decision(
        &self,
        envelope_id: &str,
        d: &DriftDecision,
    ) -> Result<RemediationResult, RemediateError> {
        let ticket = self
            .tickets
            .get_ticket(&d.ticket_id)
            .await
            .map_err(RemediateError::Store)?
            .ok_or_else(|| ticket_missing(&d.ticket_id))?;
        let verdict = &d.decision.verdict;
        let attempt = Attempt {
            action: verdict.action,
            dry_run: verdict.dry_run || self.settings.dry_run,
            requires_approval: verdict.requires_approval,
            change: Some(d.change.clone()),
            actor: Some(d.actor.clone()),
            event_id: envelope_id.to_string(),
            approved: None,
        };
        let ending = if let Some(held) = &d.decision.held {
            Ending::new(RemediationOutcome::Held, held.clone())
        } else if ticket.state == TicketState::Accepted {
            Ending::new(
                RemediationOutcome::Refused,
                "the drift was accepted on purpose (ticket ACCEPTED)",
            )
        } else {
            self.attempt(&ticket, &attempt).await
        };
        self.finish(ticket, &attempt, ending).await
    }

    async fn on_approval(
        &self,
        envelope_id: &str,
        a: &RemediationApproved,
    ) -> Result<RemediationResult, RemediateError> {
        let ticket = self
            .tickets
            .get_ticket(&a.ticket_id)
            .await
            .map_err(RemediateError::Store)?
            .ok_or_else(|| ticket_missing(&a.ticket_id))?;
        let now = self.now();
        let mut attempt = Attempt {
            action: ticket
                .decision
                .as_ref()
                .map(|d| d.verdict.action)
                .unwrap_or(Action::Revert),
            dry_run: self.settings.dry_run,
            requires_approval: false,
            change: ticket.last_change.clone(),
            actor: ticket.last_actor.clone(),
            event_id: envelope_id.to_string(),
            approved: None,
        };
        let ending = if ticket.state != TicketState::AwaitingApproval {
            Ending::new(
                RemediationOutcome::Refused,
                format!(
                    "approval by {} ignored: ticket is {}, not AWAITING_APPROVAL",
                    a.approved_by, ticket.state
                ),
            )
        } else if let Some(expired) = ticket
            .approval_expires_at
            .filter(|t| *t < now || *t < a.approved_at)
        {
            Ending::new(
                RemediationOutcome::Refused,
                format!("approval by {} came after the request expired at {expired}: nothing done, ticket re-opened", a.approved_by),
            )
            .state(TicketState::Open)
        } else if let Some(plan) = ticket.plan.clone() {
            attempt.approved = Some((plan, a.approved_by.clone()));
            self.attempt(&ticket, &attempt).await
        } else {
            Ending::new(
                RemediationOutcome::Refused,
                "ticket has no stored plan to approve",
            )
        };
        self.finish(ticket, &attempt, ending).await
    }

    /// Re-check ownership and the stack's state just before acting.
    async fn membership(
        &self,
        ticket: &Ticket,
        attempt: &Attempt,
    ) -> Result<StackMembership, Ending> {
        let refused = |why: String| Ending::new(RemediationOutcome::Refused, why);
        let mut membership = if attempt.action == Action::Rollback {
            // A rollback acts on the stack itself: proven owned when the stack exists.
            let stack = ticket
                .ownership
                .membership()
                .map(|m| m.stack_name.clone())
                .or_else(|| {
                    attempt
                        .change
                        .as_ref()
                        .and_then(|c| c.stack_hint.as_ref())
                        .map(|h| h.stack.clone())
                })
                .unwrap_or_else(|| ticket.fingerprint.stack.clone());
            StackMembership {
                stack_id: stack.clone(),
                stack_name: stack,
                logical_id: ticket.fingerprint.logical_id.clone(),
                resource_type: ticket.resource.resource_type.clone(),
                stack_status: String::new(),
                stack_tags: BTreeMap::new(),
                nested: None,
            }
        } else {
            match self.catalog.owner_of(&ticket.resource).await {
                Ok(Ownership::Managed(m)) => {
                    if let Some(before) = ticket.ownership.membership() {
                        if before.stack_name != m.stack_name || before.logical_id != m.logical_id {
                            return Err(refused(format!(
                                "ownership changed: ticket says {}/{}, CloudFormation now says {}/{}",
                                before.stack_name, before.logical_id, m.stack_name, m.logical_id
                            )));
                        }
                    }
                    m
                }
                Ok(Ownership::Unmanaged) => {
                    return Err(refused(format!(
                        "{} is not managed by any stack",
                        ticket.resource.label()
                    )))
                }
                Ok(other) => {
                    return Err(refused(format!("ownership not proven: {}", other.label())))
                }
                Err(e) => return Err(refused(format!("ownership could not be re-checked: {e}"))),
            }
        };
        match self.catalog.describe_stack(&membership.stack_name).await {
            Ok(Some(s)) => {
                membership.stack_id = s.stack_id;
                membership.stack_status = s.status;
                if membership.stack_tags.is_empty() {
                    membership.stack_tags = s.tags;
                }
            }
            Ok(None) => {
                return Err(refused(format!(
                    "stack {} does not exist",
                    membership.stack_name
                )))
            }
            Err(e) => {
                return Err(refused(format!(
                    "stack {} could not be described: {e}",
                    membership.stack_name
                )))
            }
        }
        Ok(membership)
    }

    async fn template(
        &self,
        m: &StackMembership,
        account: &str,
        region: &str,
    ) -> Result<TemplateView, String> {
        let t = self
            .templates
            .stack_template(&m.stack_name)
            .await
            .map_err(|e| format!("GetTemplate failed: {e}"))?;
        TemplateView::parse(
            &t.body,
            t.parameters,
            &Pseudo {
                stack_name: m.stack_name.clone(),
                stack_id: if t.stack_id.is_empty() {
                    m.stack_id.clone()
                } else {
                    t.stack_id
                },
                account: account.to_string(),
                region: region.to_string(),
            },
        )
    }

    /// One remediation attempt: the safety checks, the plan, and (maybe) acting.
    async fn attempt(&self, ticket: &Ticket, attempt: &Attempt) -> Ending {
        let now = self.now();
        let membership = match self.membership(ticket, attempt).await {
            Ok(m) => m,
            Err(ending) => return ending,
        };
        let status = membership.stack_status.clone();
        // CancelUpdateStack is the one call meant for a stack that is mid-update.
        let cancelling = attempt.action == Action::Rollback && status == "UPDATE_IN_PROGRESS";
        if stack_operation_in_progress(&status) && !cancelling {
            return Ending::new(
                RemediationOutcome::Held,
                format!(
                    "stack {} has an operation in progress ({status}): re-check later",
                    membership.stack_name
                ),
            );
        }
        let facts = MatchFacts {
            account: &ticket.fingerprint.account,
            region: &ticket.fingerprint.region,
            stack: Some(&membership.stack_name),
            logical_id: Some(&membership.logical_id),
            resource_type: membership
                .resource_type
                .as_deref()
                .or(ticket.resource.resource_type.as_deref()),
            physical_id: ticket.resource.physical_id.as_deref(),
            tags: Some(&membership.stack_tags),
            ..MatchFacts::default()
        };
        if self.policy.is_protected(&facts) {
            return Ending::new(
                RemediationOutcome::Refused,
                format!(
                    "{} is protected by policy: never touched",
                    ticket.resource.label()
                ),
            );
        }

        // Plan first (or take the approved one).
        let (plan_made, approval_required, mut entries) = match &attempt.approved {
            Some((approved, by)) => (
                approved.clone(),
                None,
                vec![(
                    EntryKind::Approved,
                    format!("plan approved by {by}"),
                    Value::Null,
                )],
            ),
            None => {
                let template = self
                    .template(
                        &membership,
                        &ticket.fingerprint.account,
                        &ticket.fingerprint.region,
                    )
                    .await;
                let resources = if attempt.action == Action::Rollback {
                    self.catalog
                        .list_stack_resources(&membership.stack_name)
                        .await
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                let change = attempt.change.as_ref().or(ticket.last_change.as_ref());
                let input = PlanInput {
                    ticket_id: &ticket.id,
                    action: attempt.action,
                    change,
                    drift: ticket.drift.as_ref(),
                    event_drift: ticket.event_drift.as_ref(),
                    resource: &ticket.resource,
                    membership: &membership,
                    stack_status: &status,
                    template: template.as_ref().map_err(|s| s.as_str()),
                    stack_resources: &resources,
                    policy: &self.policy,
                    now,
                };
                match plan(&input) {
                    Ok(p) => {
                        let summary =
                            format!("planned {}: {}", p.plan.strategy.as_str(), p.plan.expected);
                        let data = serde_json::to_value(&p.plan).unwrap_or(Value::Null);
                        (
                            p.plan,
                            p.approval_required,
                            vec![(EntryKind::Planned, summary, data)],
                        )
                    }
                    Err(no) => {
                        let mut e = Ending::new(RemediationOutcome::Refused, no.reason);
                        e.entries.push((
                            EntryKind::Note,
                            "no remediation strategy applies".into(),
                            serde_json::to_value(&no.skipped).unwrap_or(Value::Null),
                        ));
                        return e;
                    }
                }
            }
        };
        let with = |mut e: Ending, entries: Vec<(EntryKind, String, Value)>| {
            e.entries = entries;
            e
        };
        let plan_made = Some(plan_made);

        if attempt.dry_run {
            return with(
                Ending::new(
                    RemediationOutcome::DryRun,
                    "dry run: the plan was made and stored, nothing was changed",
                )
                .plan(plan_made),
                entries,
            );
        }
        if attempt.approved.is_none() && (attempt.requires_approval || approval_required.is_some())
        {
            let ttl = Duration::minutes(i64::from(self.policy.remediation().approval_ttl_minutes));
            let expires = now + ttl;
            let why = approval_required.unwrap_or_else(|| "the policy requires approval".into());
            let mut e = Ending::new(
                RemediationOutcome::AwaitingApproval,
                format!(
                    "{why}: run `driftguard approve {}` before {expires}",
                    ticket.id
                ),
            )
            .state(TicketState::AwaitingApproval)
            .plan(plan_made);
            e.approval_expires_at = Some(expires);
            return with(e, entries);
        }

        // Blast radius.
        let limits = self.policy.rate_limits();
        let stack_scope = format!("stack#{}", membership.stack_name);
        let scopes = [
            (stack_scope.as_str(), limits.per_stack, "per-stack"),
            ("global", limits.global, "global"),
        ];
        let mut taken = Vec::new();
        for (scope, limit, label) in scopes {
            let refused = match self.safety.try_acquire(scope, limit, now).await {
                Ok(true) => {
                    taken.push((scope, limit));
                    None
                }
                Ok(false) => Some(format!(
                    "{label} rate limit reached ({} actions per {} minutes{}): ticketed instead of acting",
                    limit.max_actions,
                    limit.window_minutes,
                    if label == "per-stack" { format!(" on stack {}", membership.stack_name) } else { String::new() }
                )),
                Err(e) => Some(format!("{label} rate limit could not be checked ({e}): not acting")),
            };
            if let Some(why) = refused {
                self.release(&taken, now).await;
                return with(
                    Ending::new(RemediationOutcome::Refused, why).plan(plan_made),
                    entries,
                );
            }
        }

        // Circuit breaker per resource (keyed by ticket: one ticket per resource).
        let settings = self.policy.remediation();
        let breaker = CircuitBreaker::new(
            settings.circuit_breaker_failures,
            Duration::minutes(i64::from(settings.circuit_breaker_cooldown_minutes)),
        );
        match self.safety.load_circuit(&ticket.id).await {
            Ok(Some(state)) => breaker.restore(&ticket.id, state),
            Ok(None) => {}
            Err(e) => {
                self.release(&taken, now).await;
                return with(
                    Ending::new(
                        RemediationOutcome::Refused,
                        format!("circuit state could not be read ({e}): not acting"),
                    )
                    .plan(plan_made),
                    entries,
                );
            }
        }
        if let Err(until) = breaker.check(&ticket.id, now) {
            self.release(&taken, now).await;
            let failures = breaker
                .state(&ticket.id)
                .map(|s| s.consecutive_failures)
                .unwrap_or_default();
            return with(
                Ending::new(
                    RemediationOutcome::Refused,
                    format!(
                        "circuit open for {} after {failures} consecutive failures, until {until}",
                        ticket.resource.label()
                    ),
                )
                .plan(plan_made),
                entries,
            );
        }

        // Mark the ticket REMEDIATING before touching anything, so a crash leaves a trace.
        let Some(plan_ref) = plan_made.as_ref() else {
            return Ending::new(RemediationOutcome::Refused, "no plan");
        };
        let mut marking = ticket.clone();
        marking.plan = plan_made.clone();
        if marking
            .transition(TicketState::Remediating, "acting on the plan", now)
            .is_ok()
        {
            marking.version += 1;
            if let Err(e) = self.tickets.update_ticket(&marking).await {
                self.release(&taken, now).await;
                return with(
                    Ending::new(
                        RemediationOutcome::Refused,
                        format!("could not mark the ticket REMEDIATING ({e}): not acting"),
                    )
                    .plan(plan_made),
                    entries,
                );
            }
        }
        let execution = self.executor.execute(plan_ref).await;
        let mut ending = match execution {
            Ok(exec) => {
                entries.push((
                    EntryKind::Acted,
                    format!(
                        "executed {} ({} calls)",
                        plan_ref.strategy.as_str(),
                        plan_ref.calls.len()
                    ),
                    serde_json::json!(exec.notes),
                ));
                let detector = self.drift.as_deref();
                match verify(
                    plan_ref,
                    &membership,
                    detector,
                    self.executor.as_ref(),
                    self.now(),
                )
                .await
                {
                    Verification::Converged { method, drift } => {
                        breaker.record_success(&ticket.id);
                        entries.push((
                            EntryKind::Verified,
                            format!("IN_SYNC, verified by {method}"),
                            Value::Null,
                        ));
                        let mut e = Ending::new(
                            RemediationOutcome::Resolved,
                            format!("reverted and verified IN_SYNC by {method}"),
                        )
                        .state(TicketState::Resolved);
                        e.verified = Some(drift);
                        e
                    }
                    Verification::NotConverged {
                        method,
                        reason,
                        drift,
                    } => {
                        breaker.record_failure(&ticket.id, now);
                        entries.push((
                            EntryKind::Verified,
                            format!("not converged ({method}): {reason}"),
                            Value::Null,
                        ));
                        let mut e = Ending::new(
                            RemediationOutcome::Failed,
                            format!("acted, but still drifted: {reason} ({method})"),
                        )
                        .state(TicketState::Failed);
                        e.verified = Some(drift);
                        e
                    }
                    Verification::InProgress { reason } => {
                        Ending::new(RemediationOutcome::Held, reason)
                            .state(TicketState::Remediating)
                    }
                    Verification::Unavailable { reason } => {
                        breaker.record_failure(&ticket.id, now);
                        Ending::new(
                            RemediationOutcome::Failed,
                            format!("acted, but convergence could not be verified: {reason}"),
                        )
                        .state(TicketState::Failed)
                    }
                }
            }
            Err(ExecutionError::Refused(why)) => {
                self.release(&taken, now).await;
                Ending::new(RemediationOutcome::Refused, why).state(TicketState::Open)
            }
            Err(ExecutionError::Port(e)) => {
                let opened = breaker.record_failure(&ticket.id, now);
                let mut why = format!("remediation call failed: {e}");
                if opened {
                    why.push_str("; circuit opened for this resource");
                }
                Ending::new(RemediationOutcome::Failed, why).state(TicketState::Failed)
            }
        };
        if let Err(e) = self
            .safety
            .save_circuit(&ticket.id, breaker.state(&ticket.id))
            .await
        {
            tracing::warn!(ticket = %ticket.id, error = %e, "could not save circuit state");
        }
        ending.plan = plan_made;
        ending.entries.splice(0..0, entries);
        ending
    }

    async fn release(
        &self,
        taken: &[(&str, crate::domain::policy::RateLimit)],
        now: DateTime<Utc>,
    ) {
        for (scope, limit) in taken {
            if let Err(e) = self.safety.release(scope, *limit, now).await {
                tracing::warn!(scope, error = %e, "could not release rate-limit slot");
            }
        }
    }

    /// Write the ending on the ticket (re-reading on conflicts) and build the result.
    async fn finish(
        &self,
        ticket: Ticket,
        attempt: &Attempt,
        ending: Ending,
    ) -> Result<RemediationResult, RemediateError> {
        let initial_state = ticket.state;
        let now = self.now();
        let mut current = ticket;
        let mut conflicts = 0;
        let saved = loop {
            let mut t = current.clone();
            if let Some(p) = &ending.plan {
                t.plan = Some(p.clone());
            }
            if ending.approval_expires_at.is_some()
                || ending
                    .state
                    .is_some_and(|s| s != TicketState::AwaitingApproval)
            {
                t.approval_expires_at = ending.approval_expires_at;
            }
            for (kind, summary, data) in &ending.entries {
                t.push(TicketEntry {
                    at: now,
                    kind: *kind,
                    event_id: Some(attempt.event_id.clone()),
                    summary: summary.clone(),
                    actor: None,
                    data: data.clone(),
                });
            }
            let kind = match ending.outcome {
                RemediationOutcome::Held => EntryKind::Held,
                _ => EntryKind::Note,
            };
            t.push(TicketEntry {
                at: now,
                kind,
                event_id: Some(attempt.event_id.clone()),
                summary: format!("remediation {}: {}", ending.outcome.as_str(), ending.reason),
                actor: None,
                data: Value::Null,
            });
            if let Some(to) = ending.state {
                if let Err(e) = t.transition(to, &ending.reason, now) {
                    t.push(TicketEntry {
                        at: now,
                        kind: EntryKind::Note,
                        event_id: Some(attempt.event_id.clone()),
                        summary: format!("state not changed: {e}"),
                        actor: None,
                        data: Value::Null,
                    });
                }
            }
            t.version += 1;
            match self.tickets.update_ticket(&t).await {
                Ok(()) => break t,
                Err(PortError::Conflict { .. }) if conflicts < 3 => {
                    conflicts += 1;
                    current = self
                        .tickets
                        .get_ticket(&t.id)
                        .await
                        .map_err(RemediateError::Store)?
                        .ok_or_else(|| ticket_missing(&t.id))?;
                }
                Err(e) => return Err(RemediateError::Store(e)),
            }
        };
        Ok(RemediationResult {
            schema_version: SCHEMA_VERSION,
            ticket_id: saved.id.clone(),
            ticket_state: saved.state,
            state_changed: saved.state != initial_state,
            outcome: ending.outcome,
            reason: ending.reason,
            dry_run: attempt.dry_run,
            plan: ending.plan.or(saved.plan.clone()),
            verified: ending.verified,
            change: attempt.change.clone(),
            actor: attempt.actor.clone(),
            ownership: saved.ownership.clone(),
            finished_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Mutex;

    use async_trait::async_trait;
    use serde_json::json;

    use super::super::limits::MemorySafetyStore;
    use super::super::{approval_event, bus_envelope, Execution, ReadBack, StackTemplate};
    use super::*;
    use crate::adapters::memory::{FixedClock, MemoryBus, MemoryTicketStore};
    use crate::domain::{
        classify_actor, ChangeSource, Decision, Fingerprint, Identity, ResourceRef, Severity,
        Strategy, Verdict,
    };
    use crate::error::PortResult;
    use crate::ports::{StackResourceSummary, StackSummary};

    const TEMPLATE: &str = r#"
Resources:
  Sg:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: web
      SecurityGroupIngress:
        - { IpProtocol: tcp, FromPort: 443, ToPort: 443, CidrIp: 0.0.0.0/0 }
"#;

    struct FakeCatalog {
        ownership: Mutex<Ownership>,
        status: Mutex<String>,
    }

    #[async_trait]
    impl StackCatalog for FakeCatalog {
        async fn owner_of(&self, _: &ResourceRef) -> PortResult<Ownership> {
            Ok(self.ownership.lock().unwrap().clone())
        }
        async fn describe_stack(&self, stack: &str) -> PortResult<Option<StackSummary>> {
            Ok(Some(StackSummary {
                stack_id: format!("arn:aws:cloudformation:us-east-1:123456789012:stack/{stack}/1"),
                stack_name: stack.into(),
                status: self.status.lock().unwrap().clone(),
                tags: BTreeMap::new(),
            }))
        }
        async fn list_stacks(&self) -> PortResult<Vec<StackSummary>> {
            Ok(vec![])
        }
        async fn list_stack_resources(&self, _: &str) -> PortResult<Vec<StackResourceSummary>> {
            Ok(vec![])
        }
    }

    struct FakeTemplates;

    #[async_trait]
    impl TemplateSource for FakeTemplates {
        async fn stack_template(&self, _: &str) -> PortResult<StackTemplate> {
            Ok(StackTemplate {
                body: TEMPLATE.into(),
                parameters: BTreeMap::new(),
                stack_id: String::new(),
            })
        }
    }

    #[derive(Default)]
    struct FakeExecutor {
        executed: Mutex<Vec<Plan>>,
        fail_with: Mutex<Option<ExecutionError>>,
        still_drifted: Mutex<bool>,
    }

    #[async_trait]
    impl PlanExecutor for FakeExecutor {
        async fn execute(&self, plan: &Plan) -> Result<Execution, ExecutionError> {
            self.executed.lock().unwrap().push(plan.clone());
            match self.fail_with.lock().unwrap().clone() {
                Some(e) => Err(e),
                None => Ok(Execution {
                    notes: vec!["done".into()],
                }),
            }
        }
        async fn read_back(&self, _: &Plan) -> PortResult<Option<ReadBack>> {
            let drifted = *self.still_drifted.lock().unwrap();
            Ok(Some(ReadBack {
                converged: !drifted,
                detail: "ec2:DescribeSecurityGroupRules on sg-1".into(),
            }))
        }
        async fn stack_status(&self, _: &str) -> PortResult<Option<String>> {
            Ok(Some("UPDATE_ROLLBACK_COMPLETE".into()))
        }
    }

    /// A drift detector that is unavailable, as on the emulator.
    struct NoDriftDetection;

    #[async_trait]
    impl DriftDetector for NoDriftDetection {
        async fn detect_resource_drift(&self, _: &str, _: &str) -> PortResult<Drift> {
            Err(PortError::Unsupported {
                service: "cloudformation",
                operation: "DetectStackResourceDrift",
                message: "not implemented".into(),
            })
        }
    }

    struct World {
        store: Arc<MemoryTicketStore>,
        bus: Arc<MemoryBus>,
        catalog: Arc<FakeCatalog>,
        executor: Arc<FakeExecutor>,
        safety: Arc<MemorySafetyStore>,
        clock: Arc<FixedClock>,
        remediator: Remediator,
    }

    fn t0() -> DateTime<Utc> {
        "2026-03-01T10:00:00Z".parse().unwrap()
    }

    fn membership(stack: &str) -> StackMembership {
        StackMembership {
            stack_id: format!("arn:aws:cloudformation:us-east-1:123456789012:stack/{stack}/1"),
            stack_name: stack.into(),
            logical_id: "Sg".into(),
            resource_type: Some("AWS::EC2::SecurityGroup".into()),
            stack_status: "UPDATE_COMPLETE".into(),
            stack_tags: BTreeMap::new(),
            nested: None,
        }
    }

    fn world(policy_yaml: &str) -> World {
        let store = Arc::new(MemoryTicketStore::new());
        store.set_now(t0());
        let bus = Arc::new(MemoryBus::new());
        let catalog = Arc::new(FakeCatalog {
            ownership: Mutex::new(Ownership::Managed(membership("app"))),
            status: Mutex::new("UPDATE_COMPLETE".into()),
        });
        let executor = Arc::new(FakeExecutor::default());
        let safety = Arc::new(MemorySafetyStore::new());
        let clock = Arc::new(FixedClock::new(t0()));
        let remediator = Remediator {
            tickets: store.clone(),
            bus: bus.clone(),
            catalog: catalog.clone(),
            drift: Some(Arc::new(NoDriftDetection)),
            templates: Arc::new(FakeTemplates),
            executor: executor.clone(),
            safety: safety.clone(),
            clock: clock.clone(),
            policy: Arc::new(Policy::from_yaml(&format!("version: 1\n{policy_yaml}")).unwrap()),
            settings: RemediatorSettings {
                retry: RetryPolicy::quick(),
                ..RemediatorSettings::default()
            },
        };
        World {
            store,
            bus,
            catalog,
            executor,
            safety,
            clock,
            remediator,
        }
    }

    fn console_change(group: &str) -> Change {
        Change {
            event_id: format!("ct-{group}"),
            time: t0(),
            account: "123456789012".into(),
            region: "us-east-1".into(),
            source: ChangeSource::Cloudtrail,
            service: "ec2".into(),
            operation: "AuthorizeSecurityGroupIngress".into(),
            resource: ResourceRef::new("AWS::EC2::SecurityGroup", group),
            identity: Identity {
                identity_type: Some("AssumedRole".into()),
                principal_arn: Some("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com".into()),
                session_issuer_arn: Some("arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123456789abcdef".into()),
                session_name: Some("alice@example.com".into()),
                user_agent: Some("AWS Internal".into()),
                source_ip: Some("198.51.100.7".into()),
                console_session: true,
                ..Identity::default()
            },
            request: json!({
                "groupId": group,
                "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                    "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}
            }),
            response: Value::Null,
            stack_hint: None,
            drift_hint: None,
        }
    }

    fn verdict(dry_run: bool, requires_approval: bool) -> Verdict {
        Verdict {
            action: Action::Revert,
            reason: "policy rule open-ingress-is-reverted".into(),
            rule: Some("open-ingress-is-reverted".into()),
            dry_run,
            requires_approval,
            severity: Severity::High,
            capped_from: None,
        }
    }

    /// Creates the ticket detect would have made and returns the decision envelope.
    async fn decision(
        w: &World,
        group: &str,
        logical: &str,
        stack: &str,
        v: Verdict,
        envelope_id: &str,
    ) -> (String, Value) {
        let change = console_change(group);
        let mut m = membership(stack);
        m.logical_id = logical.into();
        let ownership = Ownership::Managed(m);
        let fp = Fingerprint::for_change(&change, &ownership);
        let actor = classify_actor(
            &change.identity,
            &w.remediator.policy.identities,
            change.time,
        );
        let ticket_id = fp.ticket_id();
        if w.store.get_ticket(&ticket_id).await.unwrap().is_none() {
            let mut ticket = Ticket::new(fp, &change, &ownership, t0());
            ticket.last_change = Some(change.clone());
            ticket.last_actor = Some(actor.clone());
            ticket.decision = Some(Decision {
                verdict: v.clone(),
                held: None,
            });
            w.store.create_ticket(&ticket).await.unwrap();
        }
        let detail = DriftDecision {
            schema_version: SCHEMA_VERSION,
            ticket_id: ticket_id.clone(),
            ticket_state: TicketState::Open,
            state_changed: true,
            change,
            actor,
            ownership,
            drift: None,
            event_drift: None,
            decision: Decision {
                verdict: v,
                held: None,
            },
            plan: None,
            decided_at: t0(),
        };
        (
            ticket_id,
            bus_envelope(
                envelope_id,
                DRIFT_DECISION,
                &detail,
                "123456789012",
                "us-east-1",
                t0(),
            ),
        )
    }

    fn finished(o: Outcome) -> RemediationResult {
        match o {
            Outcome::Finished(r) => *r,
            other => panic!("expected a finished remediation, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn revert_acts_verifies_by_read_back_and_resolves() {
        let w = world("");
        let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-1").await;
        let r = finished(w.remediator.handle(env).await.unwrap());
        assert_eq!(r.outcome, RemediationOutcome::Resolved, "{}", r.reason);
        assert!(r.reason.contains("read back"), "{}", r.reason);
        assert!(
            r.reason.contains("drift detection unavailable"),
            "says which verification: {}",
            r.reason
        );
        let plan = r.plan.clone().unwrap();
        assert_eq!(plan.strategy, Strategy::InverseCall);
        assert_eq!(plan.calls[0].operation, "RevokeSecurityGroupIngress");
        let t = w.store.get_ticket(&id).await.unwrap().unwrap();
        assert_eq!(t.state, TicketState::Resolved);
        assert_eq!(t.plan, Some(plan));
        assert_eq!(w.executor.executed.lock().unwrap().len(), 1);
        let published = w.bus.published();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].0, REMEDIATION_RESULT);
        assert_eq!(published[0].1["outcome"], "resolved");
    }

    #[tokio::test]
    async fn duplicate_delivery_remediates_at_most_once() {
        let w = world("");
        let (_, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-dup").await;
        finished(w.remediator.handle(env.clone()).await.unwrap());
        assert!(matches!(
            w.remediator.handle(env).await.unwrap(),
            Outcome::Duplicate(_)
        ));
        assert_eq!(w.executor.executed.lock().unwrap().len(), 1);
        assert_eq!(w.bus.published().len(), 1);
    }

    #[tokio::test]
    async fn dry_run_plans_but_changes_nothing() {
        let w = world("");
        let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(true, false), "e-dry").await;
        let r = finished(w.remediator.handle(env).await.unwrap());
        assert_eq!(r.outcome, RemediationOutcome::DryRun);
        assert!(r.dry_run);
        assert!(r.plan.is_some());
        assert!(w.executor.executed.lock().unwrap().is_empty());
        let t = w.store.get_ticket(&id).await.unwrap().unwrap();
        assert_eq!(t.state, TicketState::Open);
        assert!(t.plan.is_some(), "plan stored on the ticket");
        // The global DRY_RUN override wins over a verdict that acts.
        let mut w2 = world("");
        w2.remediator.settings.dry_run = true;
        let (_, env) = decision(&w2, "sg-1", "Sg", "app", verdict(false, false), "e-dry2").await;
        assert_eq!(
            finished(w2.remediator.handle(env).await.unwrap()).outcome,
            RemediationOutcome::DryRun
        );
        assert!(w2.executor.executed.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn approval_required_parks_then_the_approval_executes() {
        let w = world("remediation: { approval_ttl_minutes: 30 }");
        let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, true), "e-appr").await;
        let parked = finished(w.remediator.handle(env).await.unwrap());
        assert_eq!(parked.outcome, RemediationOutcome::AwaitingApproval);
        assert!(parked.reason.contains(&format!("driftguard approve {id}")));
        let t = w.store.get_ticket(&id).await.unwrap().unwrap();
        assert_eq!(t.state, TicketState::AwaitingApproval);
        assert_eq!(t.approval_expires_at, Some(t0() + Duration::minutes(30)));
        assert!(w.executor.executed.lock().unwrap().is_empty());

        w.clock.advance(Duration::minutes(10));
        let approval = approval_event(&id, "carol@example.com", t0() + Duration::minutes(10));
        let env = bus_envelope(
            "e-ok",
            REMEDIATION_APPROVED,
            &approval,
            "123456789012",
            "us-east-1",
            t0(),
        );
        let done = finished(w.remediator.handle(env).await.unwrap());
        assert_eq!(
            done.outcome,
            RemediationOutcome::Resolved,
            "{}",
            done.reason
        );
        assert_eq!(w.executor.executed.lock().unwrap().len(), 1);
        let t = w.store.get_ticket(&id).await.unwrap().unwrap();
        assert_eq!(t.state, TicketState::Resolved);
        assert!(t
            .history
            .iter()
            .any(|e| e.summary.contains("approved by carol@example.com")));
    }

    #[tokio::test]
    async fn an_expired_approval_is_refused_and_says_so() {
        let w = world("remediation: { approval_ttl_minutes: 30 }");
        let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, true), "e-exp").await;
        finished(w.remediator.handle(env).await.unwrap());
        w.clock.advance(Duration::minutes(31));
        let approval = approval_event(&id, "carol@example.com", t0() + Duration::minutes(31));
        let env = bus_envelope(
            "e-late",
            REMEDIATION_APPROVED,
            &approval,
            "123456789012",
            "us-east-1",
            t0(),
        );
        let r = finished(w.remediator.handle(env).await.unwrap());
        assert_eq!(r.outcome, RemediationOutcome::Refused);
        assert!(r.reason.contains("expired"), "{}", r.reason);
        assert!(w.executor.executed.lock().unwrap().is_empty());
        assert_eq!(
            w.store.get_ticket(&id).await.unwrap().unwrap().state,
            TicketState::Open
        );
    }

    #[tokio::test]
    async fn rate_limit_reached_refuses_and_tickets() {
        let w = world("rate_limits: { per_stack: { max_actions: 1, window_minutes: 60 } }");
        let (_, first) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-r1").await;
        let (id2, second) = decision(&w, "sg-2", "Sg2", "app", verdict(false, false), "e-r2").await;
        *w.catalog.ownership.lock().unwrap() = Ownership::Managed(membership("app"));
        assert_eq!(
            finished(w.remediator.handle(first).await.unwrap()).outcome,
            RemediationOutcome::Resolved
        );
        let mut m = membership("app");
        m.logical_id = "Sg2".into();
        *w.catalog.ownership.lock().unwrap() = Ownership::Managed(m);
        let r = finished(w.remediator.handle(second).await.unwrap());
        assert_eq!(r.outcome, RemediationOutcome::Refused);
        assert!(
            r.reason.contains("per-stack rate limit reached"),
            "{}",
            r.reason
        );
        assert!(r.plan.is_some(), "the plan is still shown");
        assert_eq!(w.executor.executed.lock().unwrap().len(), 1);
        let t = w.store.get_ticket(&id2).await.unwrap().unwrap();
        assert_eq!(t.state, TicketState::Open);
        assert!(t
            .history
            .iter()
            .any(|e| e.summary.contains("rate limit reached")));
        // The global limit is untouched by the refused attempt.
        let global = w.remediator.policy.rate_limits().global;
        assert_eq!(w.safety.count("global", global, t0()), 1);
    }

    #[tokio::test]
    async fn circuit_opens_after_repeated_failures() {
        let w = world(
            "remediation: { circuit_breaker_failures: 2, circuit_breaker_cooldown_minutes: 60 }",
        );
        *w.executor.fail_with.lock().unwrap() = Some(ExecutionError::Port(PortError::Failed {
            service: "ec2",
            operation: "RevokeSecurityGroupIngress",
            message: "UnauthorizedOperation".into(),
        }));
        for (n, expect) in [
            (1, RemediationOutcome::Failed),
            (2, RemediationOutcome::Failed),
            (3, RemediationOutcome::Refused),
        ] {
            let (_, env) = decision(
                &w,
                "sg-1",
                "Sg",
                "app",
                verdict(false, false),
                &format!("e-cb{n}"),
            )
            .await;
            let r = finished(w.remediator.handle(env).await.unwrap());
            assert_eq!(r.outcome, expect, "attempt {n}: {}", r.reason);
            if n == 2 {
                assert!(r.reason.contains("circuit opened"), "{}", r.reason);
            }
            if n == 3 {
                assert!(r.reason.contains("circuit open"), "{}", r.reason);
            }
        }
        assert_eq!(
            w.executor.executed.lock().unwrap().len(),
            2,
            "no call while the circuit is open"
        );
        // After the cooldown one trial goes through, and success closes the circuit.
        *w.executor.fail_with.lock().unwrap() = None;
        w.clock.advance(Duration::minutes(61));
        let (_, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-cb4").await;
        assert_eq!(
            finished(w.remediator.handle(env).await.unwrap()).outcome,
            RemediationOutcome::Resolved
        );
    }

    #[tokio::test]
    async fn still_drifted_after_acting_fails_with_the_reason() {
        let w = world("");
        *w.executor.still_drifted.lock().unwrap() = true;
        let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-nc").await;
        let r = finished(w.remediator.handle(env).await.unwrap());
        assert_eq!(r.outcome, RemediationOutcome::Failed);
        assert!(r.reason.contains("still drifted"), "{}", r.reason);
        assert_eq!(
            w.store.get_ticket(&id).await.unwrap().unwrap().state,
            TicketState::Failed
        );
    }

    #[tokio::test]
    async fn safety_rules_hold_or_refuse_before_planning() {
        // Stack busy: held.
        let w = world("");
        *w.catalog.status.lock().unwrap() = "UPDATE_IN_PROGRESS".into();
        let (_, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-h").await;
        assert_eq!(
            finished(w.remediator.handle(env).await.unwrap()).outcome,
            RemediationOutcome::Held
        );
        // Not owned any more: refused.
        let w = world("");
        *w.catalog.ownership.lock().unwrap() = Ownership::Unmanaged;
        let (_, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-u").await;
        let r = finished(w.remediator.handle(env).await.unwrap());
        assert_eq!(r.outcome, RemediationOutcome::Refused);
        assert!(r.reason.contains("not managed"));
        // Protected: refused.
        let w = world("protected: [{ stack: \"app\" }]");
        let (_, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-p").await;
        let r = finished(w.remediator.handle(env).await.unwrap());
        assert!(r.reason.contains("protected"), "{}", r.reason);
        assert!(w.executor.executed.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_impossible_revert_is_refused_and_the_ticket_says_why() {
        let w = world("");
        let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-imp").await;
        let mut env = env;
        env["detail"]["change"]["operation"] = json!("ModifySecurityGroupRules");
        let r = finished(w.remediator.handle(env).await.unwrap());
        assert_eq!(r.outcome, RemediationOutcome::Refused);
        assert!(
            r.reason
                .contains("no inverse-call handler for ec2:ModifySecurityGroupRules"),
            "{}",
            r.reason
        );
        let t = w.store.get_ticket(&id).await.unwrap().unwrap();
        assert!(t
            .history
            .iter()
            .any(|e| e.summary.contains("no inverse-call handler")));
        assert_eq!(w.bus.published()[0].1["outcome"], "refused");
    }

    #[tokio::test]
    async fn an_unreachable_ticket_store_fails_the_invocation_so_nothing_is_lost() {
        let w = world("");
        let (_, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-lost").await;
        let mut env = env;
        env["detail"]["ticket_id"] = json!("DG-doesnotexist");
        assert!(matches!(
            w.remediator.handle(env.clone()).await,
            Err(RemediateError::Store(_))
        ));
        // The claim was dropped: a retry processes the event again.
        assert!(matches!(
            w.remediator.handle(env).await,
            Err(RemediateError::Store(_))
        ));
    }

    #[tokio::test]
    async fn verdicts_that_do_not_act_and_foreign_events_are_ignored() {
        let w = world("");
        let (_, mut env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-i").await;
        env["detail"]["decision"]["verdict"]["action"] = json!("ignore");
        assert!(matches!(
            w.remediator.handle(env).await.unwrap(),
            Outcome::Ignored(_)
        ));
        let foreign = json!({"id": "x", "detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2", "detail": {}});
        assert!(matches!(
            w.remediator.handle(foreign).await.unwrap(),
            Outcome::Ignored(_)
        ));
        assert!(w.executor.executed.lock().unwrap().is_empty());
    }
}
