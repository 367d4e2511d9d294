//! detect's entry points: one EventBridge envelope in, parsed, checked
//! against the watched accounts, its source event id claimed (a duplicate
//! delivery is a no-op), the change decided, the claim completed (or
//! abandoned with `Err` so Lambda retries).
use std::ops::ControlFlow;
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::{DecisionReport, Outcome, Pipeline, PipelineError};
use crate::idempotency::{
    self, Claimed, Idempotency, IdempotencyError, IdempotencySettings, Record,
};
use driftguard_model::domain::{Change, Observation, Ownership};
use driftguard_model::sources::{self, EnvelopeHeader, SourceError};

/// What an envelope asks of the pipeline once read: decide its change
/// (`Continue`), or answer without deciding (`Break`: skipped or malformed).
type Admitted = ControlFlow<Result<Outcome, PipelineError>, Change>;

impl Pipeline {
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
        match self.admit(&header, observation, started).await {
            // Boxed: the decision is a large future; on the heap it does not
            // weigh on the caller's stack (the demo runs detect and remediate
            // inside one task).
            ControlFlow::Continue(change) => match self.identify(change, started).await {
                ControlFlow::Continue((change, known)) => {
                    Box::pin(self.claim_and_run(change, known, deadline, started)).await
                }
                ControlFlow::Break(answer) => answer,
            },
            ControlFlow::Break(answer) => answer,
        }
    }

    /// The change the envelope carries, or the answer instead: an unsupported
    /// or malformed event, an event that is not a change (a completed deploy
    /// records its known-good template), an event of an unwatched account.
    async fn admit(
        &self,
        header: &EnvelopeHeader,
        observation: Result<Observation, SourceError>,
        started: Instant,
    ) -> Admitted {
        let observation = match observation {
            Ok(o) => o,
            Err(e) => return ControlFlow::Break(unparsed(header, e)),
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
                    self.record_deploy(header, c).await;
                }
                tracing::info!(
                    event_id = %event_id,
                    outcome = "skipped",
                    reason = reason.as_str(),
                    detail = %detail,
                    duration_ms = started.elapsed().as_millis() as u64,
                    "not a change"
                );
                return ControlFlow::Break(Ok(Outcome::Skipped {
                    event_id: Some(event_id),
                    reason: reason.as_str().to_string(),
                    detail,
                }));
            }
        };
        if let Some(detail) = self.foreign_account(header, &change) {
            tracing::warn!(
                event_id = %change.event_id,
                outcome = "skipped",
                reason = "foreign_account",
                detail = %detail,
                duration_ms = started.elapsed().as_millis() as u64,
                "event from an account driftguard does not watch: rejected, no ticket"
            );
            return ControlFlow::Break(Ok(Outcome::Skipped {
                event_id: Some(change.event_id),
                reason: "foreign_account".into(),
                detail,
            }));
        }
        ControlFlow::Continue(change)
    }

    /// Claim the change's event id, decide (on `known` ownership when
    /// identification settled it), complete the claim.
    async fn claim_and_run(
        &self,
        change: Change,
        known: Option<Ownership>,
        deadline: Option<DateTime<Utc>>,
        started: Instant,
    ) -> Result<Outcome, PipelineError> {
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
                    self.run(change, known, started)
                        .await
                        .map(|report| (report, Record::Complete))
                },
            )
            .await;
        settled(ran, event_id, started)
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

    /// Why the event is not one of a watched account's, if it is not. The
    /// envelope's `account` and the record's `recipientAccountId` (the
    /// account whose resource changed) must both be watched; the caller's
    /// `userIdentity.accountId` may be foreign (a cross-account change to our
    /// resource is exactly what must be seen), it only never matches a
    /// pattern of driftguard's account.
    pub(super) fn foreign_account(
        &self,
        header: &EnvelopeHeader,
        change: &Change,
    ) -> Option<String> {
        watched_account_problem(
            &self.settings.watched_accounts,
            header.account.as_deref(),
            &change.account,
        )
    }
}

/// An event that could not be read as an observation: an unsupported type is
/// skipped (a routing mistake, retrying cannot help), a malformed one fails.
fn unparsed(header: &EnvelopeHeader, e: SourceError) -> Result<Outcome, PipelineError> {
    match e {
        SourceError::Unsupported {
            source_name,
            detail_type,
        } => {
            // A routing mistake, not a bad event: retrying cannot help.
            tracing::warn!(
                outcome = "skipped",
                reason = "unsupported_event",
                source_name = %source_name,
                detail_type = %detail_type,
                "event type not handled by driftguard; check the EventBridge rule pattern"
            );
            Ok(Outcome::Skipped {
                event_id: header.id.clone(),
                reason: "unsupported_event".into(),
                detail: format!("source `{source_name}`, detail-type `{detail_type}`"),
            })
        }
        e => {
            tracing::error!(
                outcome = "malformed",
                field = e.field().unwrap_or(""),
                error = %e,
                event_id = header.id.as_deref().unwrap_or(""),
                "malformed event"
            );
            Err(PipelineError::Malformed(e))
        }
    }
}

/// The outcome of a claimed run: a duplicate delivery (logged), the decision,
/// or why the event fails.
fn settled(
    ran: Result<Claimed<DecisionReport>, IdempotencyError<PipelineError>>,
    event_id: String,
    started: Instant,
) -> Result<Outcome, PipelineError> {
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
