//! The blast radius around acting: a slot in the per-stack and the global
//! rate-limit windows, and the circuit breaker per resource, both kept in
//! the [`SafetyStore`](super::super::limits::SafetyStore).
use chrono::{DateTime, Duration, Utc};

use super::Remediator;
use crate::remediate::limits::{budgets, Budget};
use crate::resilience::CircuitBreaker;
use driftguard_model::domain::policy::RateLimit;
use driftguard_model::domain::{StackMembership, Ticket};

impl Remediator {
    pub(super) fn breaker(&self) -> CircuitBreaker {
        let settings = self.policy.remediation();
        CircuitBreaker::new(
            settings.circuit_breaker_failures,
            Duration::minutes(i64::from(settings.circuit_breaker_cooldown_minutes)),
        )
    }

    /// Circuit breaker per resource (keyed by ticket: one ticket per resource).
    /// `Ok(true)` when a circuit state was stored for it.
    pub(super) async fn check_breaker(
        &self,
        breaker: &CircuitBreaker,
        ticket: &Ticket,
        now: DateTime<Utc>,
    ) -> Result<bool, String> {
        // Not retried here: the safety store retries its own calls (the one
        // retry layer, once per port call; `driftguard_adapters::safety`).
        let loaded = self.safety.load_circuit(&ticket.id).await;
        let stored = match loaded {
            Ok(Some(state)) => {
                breaker.restore(&ticket.id, state);
                true
            }
            Ok(None) => false,
            Err(e) => return Err(format!("circuit state could not be read ({e}): not acting")),
        };
        breaker
            .check(&ticket.id, now)
            .map(|()| stored)
            .map_err(|until| {
                let failures = breaker
                    .state(&ticket.id)
                    .map(|s| s.consecutive_failures)
                    .unwrap_or_default();
                format!(
                    "circuit open for {} after {failures} consecutive failures, until {until}",
                    ticket.resource.label()
                )
            })
    }

    /// Blast radius: a slot in the stack's and the environment's global
    /// window (`limits::budgets`), or why not.
    pub(super) async fn take_limits(
        &self,
        ticket: &Ticket,
        environment: Option<&str>,
        membership: &StackMembership,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, RateLimit)>, String> {
        let fp = &ticket.fingerprint;
        let budgets = budgets(
            self.policy.rate_limits(),
            &fp.account,
            &fp.region,
            membership,
            environment,
        );
        let mut taken = Vec::new();
        for Budget {
            scope,
            limit,
            label,
        } in budgets
        {
            // Retried by the safety store itself (not here too: 4 × 4 requests
            // per throttled call). A slot taken by an attempt whose answer was
            // lost is counted twice until its window ends (fewer actions, never
            // more).
            let acquired = self.safety.try_acquire(&scope, limit, now).await;
            let refused = match acquired {
                Ok(true) => {
                    taken.push((scope, limit));
                    None
                }
                Ok(false) => Some(format!(
                    "{label} rate limit reached ({} actions per {} minutes{}): ticketed instead of acting",
                    limit.max_actions,
                    limit.window_minutes,
                    match (label, environment) {
                        ("per-stack", _) => format!(" on stack {}", membership.stack_name),
                        (_, Some(env)) => format!(" in environment {env}"),
                        _ => String::new(),
                    }
                )),
                Err(e) => Some(format!("{label} rate limit could not be checked ({e}): not acting")),
            };
            if let Some(why) = refused {
                self.release(&taken, now).await;
                return Err(why);
            }
        }
        Ok(taken)
    }

    pub(super) async fn release(&self, taken: &[(String, RateLimit)], now: DateTime<Utc>) {
        for (scope, limit) in taken {
            if let Err(e) = self.safety.release(scope, *limit, now).await {
                tracing::warn!(scope, error = %e, "could not release rate-limit slot");
            }
        }
    }
}
