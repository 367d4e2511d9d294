//! One scheduled invocation: run the sweep until the deadline allows, answer
//! with the run's figures (the full summary goes on the bus).
use std::time::{Duration, Instant, SystemTime};

pub use lambda_runtime::Diagnostic;
use serde_json::{json, Value};
use shared::sweep::{RunContext, SweepError, SweepSummary, Sweeper};

/// A failed invocation (nothing listed, or the summary not published).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct SweepFailed(#[from] pub SweepError);

impl From<SweepFailed> for Diagnostic {
    fn from(e: SweepFailed) -> Self {
        let class = match &e.0 {
            SweepError::ListStacks(p) | SweepError::PublishSummary(p) => p.class(),
            SweepError::Serialize(_) => "serialize",
        };
        Diagnostic {
            error_type: format!("driftguard.{class}"),
            error_message: e.0.to_string(),
        }
    }
}

/// The Lambda deadline (wall clock) as an `Instant`; a deadline in the past
/// gives "now" (nothing new starts).
pub fn deadline_instant(deadline: SystemTime, now: SystemTime) -> Instant {
    Instant::now() + deadline.duration_since(now).unwrap_or(Duration::ZERO)
}

/// The scheduled event (`aws.events`, `Scheduled Event`) gives the run id,
/// account and region; a manual invocation with `{}` works too.
pub fn run_context(event: &Value, deadline: Instant) -> RunContext {
    let text = |k: &str| event.get(k).and_then(Value::as_str).map(str::to_string);
    RunContext {
        run_id: text("id").unwrap_or_else(|| format!("manual-{}", chrono_like_now())),
        account: text("account").unwrap_or_default(),
        region: text("region")
            .or_else(|| std::env::var("AWS_REGION").ok())
            .unwrap_or_default(),
        deadline,
    }
}

fn chrono_like_now() -> u128 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// What the invocation returns: the totals, without the per-stack list.
pub fn response(summary: &SweepSummary) -> Value {
    json!({
        "run_id": summary.run_id,
        "round_complete": summary.round_complete,
        "stacks": summary.stacks,
        "coverage": summary.coverage,
        "drifted": summary.drifted,
        "tickets_written": summary.tickets_written,
        "tickets_resolved": summary.tickets_resolved,
        "max_in_flight": summary.max_in_flight,
        "duration_ms": summary.duration_ms,
    })
}

pub async fn handle(
    sweeper: &Sweeper,
    event: Value,
    deadline: Instant,
) -> Result<Value, SweepFailed> {
    let ctx = run_context(&event, deadline);
    let summary = sweeper.run(&ctx).await?;
    Ok(response(&summary))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_scheduled_event_names_the_run() {
        let event: Value =
            serde_json::from_str(include_str!("../../../events/sweep/scheduled.json")).unwrap();
        let ctx = run_context(&event, Instant::now());
        assert_eq!(ctx.run_id, "7bf73129-1428-4cd3-a780-95db273d1602");
        assert_eq!(
            (ctx.account.as_str(), ctx.region.as_str()),
            ("123456789012", "us-east-1")
        );
        assert!(run_context(&json!({}), Instant::now())
            .run_id
            .starts_with("manual-"));
    }

    #[test]
    fn a_past_deadline_is_now() {
        let now = SystemTime::now();
        let before = Instant::now();
        let d = deadline_instant(now - Duration::from_secs(5), now);
        assert!(d >= before && d <= Instant::now());
        let d = deadline_instant(now + Duration::from_secs(60), now);
        assert!(d > Instant::now() + Duration::from_secs(59));
    }
}
