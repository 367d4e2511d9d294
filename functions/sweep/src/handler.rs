//! One invocation: a scheduled run (sweep this account and region until the
//! deadline allows, and send the member parts to the sweep queue), or a
//! batch of parts from that queue (each swept through its member's role).
//! Answers with the run's figures (the full summary goes on the bus), or,
//! for parts, with the messages to retry.
use std::time::{Duration, Instant, SystemTime};

use driftguard_core::sweep::fanout::{check_part_message, member_parts};
use driftguard_core::sweep::{RunContext, SweepError, SweepSummary, Sweeper};
use driftguard_model::error::PortError;
pub use lambda_runtime::Diagnostic;
use serde_json::{json, Value};

use crate::{Fanout, Wired};

/// A failed invocation (nothing listed, the summary not published, the
/// member parts not sent).
#[derive(Debug, thiserror::Error)]
pub enum SweepFailed {
    #[error(transparent)]
    Sweep(#[from] SweepError),
    #[error("cannot send the member parts to the sweep queue: {0}")]
    SendParts(#[source] PortError),
}

impl From<SweepFailed> for Diagnostic {
    fn from(e: SweepFailed) -> Self {
        let class = match &e {
            SweepFailed::Sweep(SweepError::ListStacks(p) | SweepError::PublishSummary(p))
            | SweepFailed::SendParts(p) => p.class(),
            SweepFailed::Sweep(SweepError::Serialize(_)) => "serialize",
        };
        Diagnostic {
            error_type: format!("driftguard.{class}"),
            error_message: e.to_string(),
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

/// The function's invocation: parts from the sweep queue, or a scheduled
/// run. The parts are sent before this account is swept, so the members'
/// invocations run beside it; a failure to send fails the invocation
/// before anything is swept (Lambda's retry sends them again).
pub async fn handle_wired(
    wired: &Wired,
    event: Value,
    deadline: Instant,
) -> Result<Value, SweepFailed> {
    if is_queue_batch(&event) {
        return Ok(match &wired.fanout {
            Some(f) => sweep_parts_batch(f, &event, deadline).await,
            None => refuse_batch(
                &event,
                "this sweep has no SWEEP_QUEUE_URL and MEMBER_ROLE_NAME",
            ),
        });
    }
    let ctx = run_context(&event, deadline);
    let mut sent = 0;
    if let Some(f) = &wired.fanout {
        let parts = member_parts(
            &ctx.run_id,
            &f.this_account,
            &f.watched_accounts,
            &f.regions,
        );
        f.queue.send(&parts).await.map_err(SweepFailed::SendParts)?;
        sent = parts.len();
        tracing::info!(run_id = %ctx.run_id, parts = sent, "member parts sent to the sweep queue");
    }
    let summary = wired.sweeper.run(&ctx).await?;
    let mut out = response(&summary);
    out["member_parts_sent"] = json!(sent);
    Ok(out)
}

/// An SQS event (`Records[].eventSource` `aws:sqs`).
/// <https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html>, "Example
/// standard queue message event": `"eventSource": "aws:sqs"`.
pub fn is_queue_batch(event: &Value) -> bool {
    event
        .get("Records")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(|r| r.get("eventSource"))
        .and_then(Value::as_str)
        == Some("aws:sqs")
}

/// What became of one message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartOutcome {
    /// Swept (its round may continue next run).
    Swept { line: String },
    /// Its member role could not be used: a coverage entry, not retried.
    NotSwept { line: String },
    /// Retried by SQS, and in the queue's DLQ after its receives: refused
    /// (garbage, an unwatched account or region) or failed (throttled, the
    /// summary not published).
    Retry { why: String },
}

/// Every message of the batch, one after the other (the mapping's batch
/// size is 1; a larger batch is still handled). The answer is Lambda's
/// partial batch response: "batchItemFailures" with the "itemIdentifier"
/// (the message id) of each message to retry
/// (<https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html>,
/// with `FunctionResponseTypes: [ReportBatchItemFailures]` in template.yaml).
pub async fn sweep_parts_batch(f: &Fanout, event: &Value, deadline: Instant) -> Value {
    let mut failures = Vec::new();
    for record in records(event) {
        let id = record
            .get("messageId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let outcome = sweep_one(f, record, deadline).await;
        match &outcome {
            PartOutcome::Swept { line } => {
                tracing::info!(message_id = id, line, "sweep part swept")
            }
            PartOutcome::NotSwept { line } => {
                tracing::warn!(message_id = id, line, "sweep part not swept")
            }
            PartOutcome::Retry { why } => {
                tracing::error!(message_id = id, why, "sweep part failed, left for retry");
                failures.push(json!({"itemIdentifier": id}));
            }
        }
    }
    json!({"batchItemFailures": failures})
}

fn records(event: &Value) -> &[Value] {
    event
        .get("Records")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

async fn sweep_one(f: &Fanout, record: &Value, deadline: Instant) -> PartOutcome {
    let Some(body) = record.get("body").and_then(Value::as_str) else {
        return PartOutcome::Retry {
            why: "the SQS record has no string `body`".into(),
        };
    };
    let m = match check_part_message(body, &f.this_account, &f.watched_accounts, &f.regions) {
        Ok(m) => m,
        Err(why) => return PartOutcome::Retry { why },
    };
    let part = m.part();
    let where_ = format!("{} {}", part.account, part.region);
    let sweeper = match f.sweepers.sweeper(&part).await {
        Ok(s) => s,
        Err(e) if e.is_retryable() => {
            return PartOutcome::Retry {
                why: format!("{where_}: {e}"),
            }
        }
        Err(e) => {
            return PartOutcome::NotSwept {
                line: format!("{where_}: not swept: member role cannot be used: {e}"),
            }
        }
    };
    let ctx = RunContext {
        run_id: m.run_id.clone(),
        account: part.account.clone(),
        region: part.region.clone(),
        deadline,
    };
    match sweeper.run(&ctx).await {
        Ok(s) => PartOutcome::Swept {
            line: format!(
                "{where_}: {} of {} stacks swept, {} drifted, round {}",
                s.stacks.swept,
                s.stacks.listed,
                s.drifted,
                if s.round_complete {
                    "complete"
                } else {
                    "continues next run"
                }
            ),
        },
        Err(e) => PartOutcome::Retry {
            why: format!("{where_}: {e}"),
        },
    }
}

fn refuse_batch(event: &Value, why: &str) -> Value {
    let failures: Vec<Value> = records(event)
        .iter()
        .map(|r| {
            let id = r
                .get("messageId")
                .and_then(Value::as_str)
                .unwrap_or_default();
            tracing::error!(message_id = id, why, "sweep part refused");
            json!({"itemIdentifier": id})
        })
        .collect();
    json!({"batchItemFailures": failures})
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
    fn a_part_from_the_queue_is_told_from_a_scheduled_run() {
        // events/sweep/part.json is shaped as AWS's "Example standard queue
        // message event" (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html).
        let part: Value =
            serde_json::from_str(include_str!("../../../events/sweep/part.json")).unwrap();
        let scheduled: Value =
            serde_json::from_str(include_str!("../../../events/sweep/scheduled.json")).unwrap();
        assert!(is_queue_batch(&part));
        assert!(!is_queue_batch(&scheduled));
        assert!(!is_queue_batch(&json!({})));
        // Without a fan-out, every message is left for retry (then the DLQ).
        assert_eq!(
            refuse_batch(&part, "no fan-out"),
            json!({"batchItemFailures": [{"itemIdentifier": "059f36b4-87a3-44ab-83d2-661975830a7d"}]})
        );
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
