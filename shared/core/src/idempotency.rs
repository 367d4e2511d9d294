//! The one idempotency helper: claim → work → complete or abandon, for detect
//! (source event ids), remediate (ticket + change + plan digest) and notify
//! (bus event ids and channels).
//!
//! Modelled on Powertools for AWS Lambda (Python)
//! `aws_lambda_powertools/utilities/idempotency/base.py`: a record is
//! `INPROGRESS` or `COMPLETE`; an `INPROGRESS` record whose in-progress expiry
//! has not passed is an error for the caller ("Expires in-progress executions
//! if the Lambda function times out halfway through",
//! github.com/aws-powertools/powertools-lambda-python `docs/utilities/idempotency.md`),
//! and the in-progress expiry is the invocation's deadline (the Lambda
//! context's remaining time). A failed piece of work deletes its record so a
//! retry runs it again.
//!
//! The rules, the same for every caller:
//! - `Fresh` (no record, or an earlier attempt's lease ran out): run the work;
//! - `AlreadyDone`: a duplicate, answered without running anything;
//! - `InProgress` (another invocation holds the lease): wait at most
//!   `in_progress_wait`, then fail with [`IdempotencyError::InProgress`], so
//!   Lambda retries the event (and the DLQ keeps it), never acknowledge it;
//! - the lease is the invocation's deadline when the handler knows it, else
//!   `now + lease` (a crashed attempt cannot hold a claim past its own
//!   timeout, so Lambda's retry finds it free).
//!
//! The record's DynamoDB key (`pk = EVENT#<key>`) is made in
//! `adapters::aws::dynamodb` only; the key strings are made here only.
use std::future::Future;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use rand::Rng;

use crate::ports::{Claim, Clock, TicketStore};
use crate::resilience::{retry, RetryPolicy};
use driftguard_model::error::PortError;

/// The claim key of a source event detect processes (the raw event id: the
/// records written before this helper existed keep working).
pub fn detect_key(event_id: &str) -> String {
    event_id.to_string()
}

/// The claim key of one remediation: once per ticket, change and plan, not per
/// envelope (a re-published decision is the same remediation).
pub fn remediation_key(ticket_id: &str, change_id: &str, plan_digest: &str) -> String {
    format!("remediate:{ticket_id}:{change_id}:{plan_digest}")
}

/// The claim key of notifying one bus event.
pub fn notify_key(bus_event_id: &str) -> String {
    format!("notify:{bus_event_id}")
}

/// What notify claims instead of the envelope id for a `Drift Accepted`: the
/// ticket and its acceptance time, so a redelivered, re-published or copied
/// event announces one acceptance once (as remediate claims the change, not
/// the envelope). Used as the `bus_event_id` of [`notify_key`] and
/// [`notify_channel_key`].
pub fn acceptance_id(ticket_id: &str, accepted_at: DateTime<Utc>) -> String {
    let at = accepted_at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    format!("accepted:{ticket_id}:{at}")
}

/// The claim key of one channel's delivery of one bus event.
pub fn notify_channel_key(bus_event_id: &str, channel: &str) -> String {
    format!("notify:{bus_event_id}:{channel}")
}

#[derive(Debug, Clone)]
pub struct IdempotencySettings {
    /// How long a COMPLETE record lives (its DynamoDB TTL).
    pub record_ttl: Duration,
    /// The lease when the invocation's deadline is not known.
    pub lease: Duration,
    /// How long to wait for a concurrent holder before failing.
    pub in_progress_wait: StdDuration,
    /// Retries around the store calls.
    pub retry: RetryPolicy,
}

impl Default for IdempotencySettings {
    fn default() -> Self {
        Self {
            record_ttl: Duration::days(7),
            lease: Duration::seconds(150),
            in_progress_wait: StdDuration::ZERO,
            retry: RetryPolicy::default(),
        }
    }
}

/// What the work says about its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// Done: a duplicate later is answered without running.
    Complete,
    /// Nothing was done that must not be repeated: drop the claim so a later
    /// delivery runs again.
    Release,
}

/// The work ran, or it had already run.
#[derive(Debug, Clone, PartialEq)]
pub enum Claimed<T> {
    Ran(T),
    AlreadyDone,
}

#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError<E> {
    /// Another invocation holds the claim: fail so the event is retried later.
    #[error("{key} is being processed by another invocation: retry later")]
    InProgress { key: String },
    #[error("idempotency record {key}: {source}")]
    Store { key: String, source: PortError },
    /// The work failed; its claim was dropped.
    #[error(transparent)]
    Work(E),
}

/// The lease of a claim made at `now`: the invocation's deadline when known.
pub fn lease_until(
    now: DateTime<Utc>,
    deadline: Option<DateTime<Utc>>,
    fallback: Duration,
) -> DateTime<Utc> {
    match deadline {
        Some(d) if d > now => d,
        _ => now + fallback,
    }
}

/// The helper, borrowed from whoever holds the store and clock.
pub struct Idempotency<'a> {
    pub store: &'a dyn TicketStore,
    pub clock: &'a dyn Clock,
    pub settings: &'a IdempotencySettings,
}

impl Idempotency<'_> {
    /// Claim `key`, run `work`, record the result. `deadline`: when the
    /// invocation ends (the Lambda context's deadline).
    pub async fn run<T, E, F, Fut>(
        &self,
        key: &str,
        deadline: Option<DateTime<Utc>>,
        work: F,
    ) -> Result<Claimed<T>, IdempotencyError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(T, Record), E>>,
    {
        if self.claim(key, deadline).await? == Claim::AlreadyDone {
            tracing::info!(key, "idempotency: already done");
            return Ok(Claimed::AlreadyDone);
        }
        match work().await {
            Ok((value, Record::Complete)) => {
                self.complete(key).await;
                Ok(Claimed::Ran(value))
            }
            Ok((value, Record::Release)) => {
                self.abandon(key).await;
                Ok(Claimed::Ran(value))
            }
            Err(e) => {
                self.abandon(key).await;
                Err(IdempotencyError::Work(e))
            }
        }
    }

    /// `Fresh` or `AlreadyDone`; `InProgress` after the wait is an error.
    pub async fn claim<E>(
        &self,
        key: &str,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<Claim, IdempotencyError<E>> {
        let give_up = Instant::now() + self.settings.in_progress_wait;
        let mut wait = StdDuration::from_millis(20);
        loop {
            let now = self.clock.now();
            let lease = lease_until(now, deadline, self.settings.lease);
            let expires = now + self.settings.record_ttl;
            let claim = retry(&self.settings.retry, "claim_event", || {
                self.store.claim_event(key, lease, expires)
            })
            .await
            .map_err(|source| IdempotencyError::Store {
                key: key.to_string(),
                source,
            })?;
            match claim {
                Claim::InProgress if Instant::now() < give_up => {
                    let jitter = rand::rng().random_range(0..=wait.as_millis() as u64 / 2);
                    tokio::time::sleep(wait + StdDuration::from_millis(jitter)).await;
                    wait = (wait * 2).min(StdDuration::from_millis(500));
                }
                Claim::InProgress => {
                    tracing::warn!(key, "idempotency: in progress elsewhere, failing");
                    return Err(IdempotencyError::InProgress {
                        key: key.to_string(),
                    });
                }
                other => return Ok(other),
            }
        }
    }

    /// Mark `key` done. A failure is logged: the record's lease runs out and
    /// the caller's own state (the ticket) stops a second action.
    pub async fn complete(&self, key: &str) {
        let done = retry(&self.settings.retry, "complete_event", || {
            self.store.complete_event(key)
        })
        .await;
        if let Err(e) = done {
            tracing::warn!(key, error = %e, "idempotency: could not mark done");
        }
    }

    /// Drop the claim so a retry runs the work again.
    pub async fn abandon(&self, key: &str) {
        if let Err(e) = self.store.abandon_event(key).await {
            tracing::warn!(key, error = %e, "idempotency: could not drop the claim; it expires with its lease");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::memory::{FixedClock, MemoryTicketStore};
    use driftguard_model::testing::changes::t0;

    /// A memory store and a clock at `t0()`, quick retries.
    struct Fixture {
        store: MemoryTicketStore,
        clock: FixedClock,
        settings: IdempotencySettings,
    }

    impl Fixture {
        fn new() -> Self {
            let store = MemoryTicketStore::new();
            store.set_now(t0());
            Self {
                store,
                clock: FixedClock::new(t0()),
                settings: IdempotencySettings {
                    retry: RetryPolicy::quick(),
                    ..IdempotencySettings::default()
                },
            }
        }

        fn idempotency(&self) -> Idempotency<'_> {
            Idempotency {
                store: &self.store,
                clock: &self.clock,
                settings: &self.settings,
            }
        }
    }

    /// Work under key `k` that returns `value` and records `record`.
    async fn run(
        h: &Idempotency<'_>,
        value: u32,
        record: Record,
    ) -> Result<Claimed<u32>, IdempotencyError<String>> {
        h.run(
            "k",
            None,
            || async move { Ok::<_, String>((value, record)) },
        )
        .await
    }

    #[tokio::test]
    async fn work_runs_once_then_duplicates_are_answered() {
        let f = Fixture::new();
        let h = f.idempotency();
        let first = run(&h, 1, Record::Complete).await.unwrap();
        assert_eq!(first, Claimed::Ran(1));
        let again = run(&h, 2, Record::Complete).await.unwrap();
        assert_eq!(again, Claimed::AlreadyDone);
    }

    #[tokio::test]
    async fn failed_or_released_work_runs_again() {
        let f = Fixture::new();
        let h = f.idempotency();
        let failed = h
            .run("k", None, || async { Err::<((), Record), _>("boom") })
            .await;
        assert!(matches!(failed, Err(IdempotencyError::Work("boom"))));
        let released = run(&h, 1, Record::Release).await.unwrap();
        assert_eq!(released, Claimed::Ran(1));
        let ran = run(&h, 2, Record::Complete).await.unwrap();
        assert_eq!(ran, Claimed::Ran(2));
    }

    #[tokio::test]
    async fn a_held_claim_fails_the_caller_until_its_lease_runs_out() {
        let f = Fixture::new();
        let h = f.idempotency();
        let deadline = t0() + Duration::seconds(30);
        assert_eq!(
            h.claim::<()>("k", Some(deadline)).await.unwrap(),
            Claim::Fresh
        );
        let busy = run(&h, 1, Record::Complete).await;
        assert!(matches!(busy, Err(IdempotencyError::InProgress { .. })));
        // The crashed holder's lease was its deadline: after it, a retry runs.
        f.store.set_now(deadline + Duration::seconds(1));
        let ran = run(&h, 1, Record::Complete).await.unwrap();
        assert_eq!(ran, Claimed::Ran(1));
    }

    #[test]
    fn the_lease_is_the_deadline_when_known() {
        let fallback = Duration::seconds(150);
        let d = t0() + Duration::seconds(40);
        assert_eq!(lease_until(t0(), Some(d), fallback), d);
        assert_eq!(lease_until(t0(), None, fallback), t0() + fallback);
        assert_eq!(
            lease_until(t0(), Some(t0() - Duration::seconds(1)), fallback),
            t0() + fallback
        );
    }
}
