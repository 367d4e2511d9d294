//! Bounded retries with exponential backoff and full jitter, per-call timeouts,
//! and a per-resource circuit breaker.
//!
//! [`retry`] is THE retry layer of driftguard. The decision: the AWS SDK makes
//! one attempt per call (`driftguard_adapters::sdk_retry_config`, standard mode,
//! `max_attempts = 1`, used by `load_sdk_config`), and every port call is
//! wrapped in [`retry`] exactly once: by the domain code that calls it (the
//! pipeline, the sweep, the Config rule, idempotency claims, the executor), or
//! by the adapter when no caller does (the safety store, SNS, Secrets Manager,
//! the SSM policy read). Never wrap a call that is already retried: attempts
//! multiply. What is retried is what the one classifier
//! (`driftguard_adapters`'s error classifier) calls throttled or transient
//! ([`PortError::is_retryable`]). Why ours and not the SDK's: the budget is
//! visible at the call site, the same code retries the in-memory doubles in
//! unit tests, and a conflict or a degradation is decided on a classified
//! error, not inside the SDK. Budgets: detect 3 attempts
//! (`detect::Settings`), the sweep 6 (`SweepSettings`), remediate and
//! notify 4 ([`RetryPolicy::default`]); tested in `driftguard_adapters`'s `attempts` module.
//! (Slack is plain HTTP with `Retry-After`: `notify::slack` has its own loop.)
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use driftguard_model::error::PortError;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Total attempts including the first.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Timeout of each attempt.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Fast settings for tests.
    pub fn quick() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            attempt_timeout: Duration::from_secs(10),
        }
    }

    /// Full jitter: uniform in [0, min(max, base * 2^attempt)].
    pub fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .base_delay
            .saturating_mul(1u32.checked_shl(attempt).unwrap_or(u32::MAX))
            .min(self.max_delay);
        let millis = cap.as_millis() as u64;
        if millis == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }
}

/// Run `op` until it succeeds, fails with a non-retryable error, or attempts run out.
/// Each attempt is bounded by `policy.attempt_timeout`.
pub async fn retry<T, F, Fut>(
    policy: &RetryPolicy,
    what: &'static str,
    mut op: F,
) -> Result<T, PortError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, PortError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = match tokio::time::timeout(policy.attempt_timeout, op()).await {
            Ok(r) => r,
            Err(_) => Err(PortError::Transient {
                service: "driftguard",
                operation: what,
                message: format!("attempt timed out after {:?}", policy.attempt_timeout),
            }),
        };
        match result {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() && attempt < policy.max_attempts => {
                let delay = policy.backoff(attempt);
                tracing::debug!(what, attempt, error = %e, delay_ms = delay.as_millis() as u64, "retrying");
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Circuit state of one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CircuitState {
    pub consecutive_failures: u32,
    #[serde(default)]
    pub open_until: Option<DateTime<Utc>>,
}

/// A circuit breaker keyed by resource: after `threshold` consecutive failures
/// the circuit opens for `cooldown`; then one trial is let through (half-open).
/// Pure over its state map, so it can be persisted (on the ticket) or kept in memory.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cooldown: chrono::Duration,
    states: Mutex<HashMap<String, CircuitState>>,
}

impl CircuitBreaker {
    pub fn new(threshold: u32, cooldown: chrono::Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            states: Mutex::new(HashMap::new()),
        }
    }

    fn with_states<R>(&self, f: impl FnOnce(&mut HashMap<String, CircuitState>) -> R) -> R {
        // A poisoned lock only means another thread panicked mid-update; the map is still usable.
        let mut guard = self.states.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// `Err(until)` while the circuit is open.
    pub fn check(&self, key: &str, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        self.with_states(|s| match s.get(key).and_then(|c| c.open_until) {
            Some(until) if now < until => Err(until),
            _ => Ok(()),
        })
    }

    pub fn record_success(&self, key: &str) {
        self.with_states(|s| {
            s.remove(key);
        });
    }

    /// Returns true when this failure opened the circuit.
    pub fn record_failure(&self, key: &str, now: DateTime<Utc>) -> bool {
        let (threshold, cooldown) = (self.threshold, self.cooldown);
        self.with_states(|s| {
            let c = s.entry(key.to_string()).or_insert(CircuitState {
                consecutive_failures: 0,
                open_until: None,
            });
            c.consecutive_failures += 1;
            if c.consecutive_failures >= threshold {
                c.open_until = Some(now + cooldown);
                true
            } else {
                false
            }
        })
    }

    pub fn state(&self, key: &str) -> Option<CircuitState> {
        self.with_states(|s| s.get(key).copied())
    }

    pub fn restore(&self, key: &str, state: CircuitState) {
        self.with_states(|s| {
            s.insert(key.to_string(), state);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn throttled() -> PortError {
        PortError::Throttled {
            service: "test",
            operation: "op",
            message: "slow down".into(),
        }
    }

    #[tokio::test]
    async fn retries_throttling_then_succeeds() {
        let calls = AtomicU32::new(0);
        let r = retry(&RetryPolicy::quick(), "op", || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    Err(throttled())
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(r, Ok(2));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = retry(&RetryPolicy::quick(), "op", || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(throttled()) }
        })
        .await;
        assert!(matches!(r, Err(PortError::Throttled { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn does_not_retry_permanent_errors() {
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = retry(&RetryPolicy::quick(), "op", || {
            calls.fetch_add(1, Ordering::SeqCst);
            async {
                Err(PortError::Failed {
                    service: "t",
                    operation: "o",
                    message: "denied".into(),
                })
            }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn times_out_each_attempt() {
        let policy = RetryPolicy {
            attempt_timeout: Duration::from_millis(10),
            max_attempts: 2,
            ..RetryPolicy::quick()
        };
        let r: Result<(), _> = retry(&policy, "slow", || async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(())
        })
        .await;
        assert!(matches!(r, Err(PortError::Transient { .. })));
    }

    #[test]
    fn backoff_is_bounded() {
        let p = RetryPolicy::default();
        for attempt in 0..40 {
            assert!(p.backoff(attempt) <= p.max_delay);
        }
    }

    #[test]
    fn breaker_opens_after_threshold_and_closes_after_cooldown() {
        let b = CircuitBreaker::new(3, chrono::Duration::minutes(10));
        let t0 = Utc::now();
        assert!(!b.record_failure("sg-1", t0));
        assert!(!b.record_failure("sg-1", t0));
        assert!(b.check("sg-1", t0).is_ok());
        assert!(b.record_failure("sg-1", t0));
        assert!(b.check("sg-1", t0).is_err());
        assert!(b.check("sg-2", t0).is_ok(), "per resource");
        assert!(b.check("sg-1", t0 + chrono::Duration::minutes(11)).is_ok());
        b.record_success("sg-1");
        assert_eq!(b.state("sg-1"), None);
    }
}
