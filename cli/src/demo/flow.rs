//! Runs the real functions over what EventBridge delivered: each function's
//! queue (the stand-in for its Lambda trigger) is drained into the same handler
//! the Lambda runs, until every queue stays empty. Each handler's answer
//! becomes timeline lines.
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use driftguard_core::detect::Pipeline;
use driftguard_core::notify::Notifier;
use driftguard_core::remediate::Remediator;
use serde_json::Value;

use super::screen::{Screen, Tone};
use super::slack::SlackListener;
use crate::emulator::provision::Provisioned;

/// The three functions, wired exactly as their `main.rs` wires them.
pub struct Functions {
    pub detect: Pipeline,
    pub remediate: Remediator,
    pub notify: Notifier,
}

/// Everything the handlers answered, for the summary and the checks.
#[derive(Debug, Default)]
pub struct Tally {
    /// detect's answers (`driftguard_core::detect::Outcome` as JSON).
    pub detected: Vec<Value>,
    /// remediate's answers.
    pub remediated: Vec<Value>,
    /// (ticket, state) of every bus event notify got that changed a ticket's state.
    pub state_changes: Vec<(String, String)>,
    /// Messages notify published to SNS, as the subscribed queue received them.
    pub sns_messages: usize,
    /// Invocations that failed (a Lambda would retry them, then dead-letter them).
    pub failures: Vec<String>,
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The queue order within a round follows the flow: detect, remediate, notify.
const ORDER: [&str; 3] = ["detect", "remediate", "notify"];
/// How long the whole flow of one change may take before the demo gives up.
const FLOW_DEADLINE: Duration = Duration::from_secs(60);

pub struct Runner<'a> {
    pub functions: &'a Functions,
    pub sqs: aws_sdk_sqs::Client,
    pub provisioned: &'a Provisioned,
    pub slack: &'a SlackListener,
    pub slack_seen: usize,
}

impl Runner<'_> {
    /// Drain every function's queue until two rounds in a row find nothing.
    pub async fn run_until_quiet(&mut self, screen: &mut Screen, tally: &mut Tally) -> Result<()> {
        let deadline = Instant::now() + FLOW_DEADLINE;
        let mut quiet_rounds = 0;
        while quiet_rounds < 2 {
            let mut handled = 0;
            for function in ORDER {
                let Some(url) = self.provisioned.queues.get(function).cloned() else {
                    continue;
                };
                for envelope in self.receive(&url).await? {
                    handled += 1;
                    self.invoke(function, envelope, screen, tally).await;
                    self.show_new_slack_messages(screen);
                }
            }
            handled += self.count_sns(screen, tally).await?;
            if handled == 0 {
                quiet_rounds += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            } else {
                quiet_rounds = 0;
            }
            if Instant::now() > deadline {
                tally
                    .failures
                    .push("the queues did not go quiet within 60 s".into());
                break;
            }
        }
        Ok(())
    }

    /// Receive and delete what one queue holds (the Lambda poller's job).
    async fn receive(&self, url: &str) -> Result<Vec<Value>> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .send()
            .await
            .with_context(|| format!("receive from {url}"))?;
        let mut bodies = Vec::new();
        for m in out.messages() {
            let body = m.body().unwrap_or_default();
            bodies.push(serde_json::from_str(body).unwrap_or(Value::String(body.to_string())));
            if let Some(handle) = m.receipt_handle() {
                self.sqs
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .with_context(|| format!("delete from {url}"))?;
            }
        }
        Ok(bodies)
    }

    async fn invoke(
        &self,
        function: &str,
        envelope: Value,
        screen: &mut Screen,
        tally: &mut Tally,
    ) {
        match function {
            "detect" => match detect::handler::handle(&self.functions.detect, envelope).await {
                Ok(out) => {
                    show_detected(screen, &out);
                    tally.detected.push(out);
                }
                Err(e) => fail(screen, tally, "detect", &e.to_string()),
            },
            "remediate" => {
                match remediate::handler::handle(&self.functions.remediate, envelope).await {
                    Ok(out) => {
                        show_remediated(screen, &out);
                        tally.remediated.push(out);
                    }
                    Err(e) => fail(screen, tally, "remediate", &e.to_string()),
                }
            }
            "notify" => {
                let changed = envelope.pointer("/detail/state_changed") == Some(&Value::Bool(true));
                let ticket = text(&envelope, "/detail/ticket_id").to_string();
                let state = text(&envelope, "/detail/ticket_state").to_string();
                let kind = text(&envelope, "/detail-type").to_string();
                match notify::handler::handle(&self.functions.notify, envelope).await {
                    Ok(out) => {
                        if changed {
                            tally.state_changes.push((ticket.clone(), state.clone()));
                        }
                        show_notified(screen, &kind, &ticket, &state, &out);
                    }
                    Err(e) => fail(screen, tally, "notify", &e.to_string()),
                }
            }
            other => fail(screen, tally, other, "no handler for this function"),
        }
    }

    fn show_new_slack_messages(&mut self, screen: &mut Screen) {
        let messages = self.slack.messages();
        for m in messages.iter().skip(self.slack_seen) {
            let text = m["text"].as_str().unwrap_or("(no text)");
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| {
                    l.starts_with("driftguard:")
                        || l.starts_with("Ticket ")
                        || l.starts_with("Driftguard:")
                })
                .collect();
            screen.step(
                "slack",
                "message received by the local webhook:",
                Tone::Accent,
            );
            screen.quote(&lines, Tone::Plain);
        }
        self.slack_seen = messages.len();
    }

    async fn count_sns(&self, screen: &mut Screen, tally: &mut Tally) -> Result<usize> {
        let messages = self.receive(&self.provisioned.alerts_queue).await?;
        for m in &messages {
            let subject = text(m, "/Subject");
            screen.step(
                "sns",
                &format!("alert topic → inbox queue: {subject}"),
                Tone::Dim,
            );
        }
        tally.sns_messages += messages.len();
        Ok(messages.len())
    }
}

fn fail(screen: &mut Screen, tally: &mut Tally, function: &str, error: &str) {
    screen.step("failed", &format!("{function}: {error}"), Tone::Bad);
    tally.failures.push(format!("{function}: {error}"));
}

fn verdict_tone(action: &str) -> Tone {
    match action {
        "revert" | "rollback" => Tone::Warn,
        "allow" | "ignore" => Tone::Good,
        _ => Tone::Accent,
    }
}

pub fn owner_text(ownership: &Value) -> String {
    match text(ownership, "/kind") {
        "managed" => format!(
            "{} / {} ({})",
            text(ownership, "/stack_name"),
            text(ownership, "/logical_id"),
            text(ownership, "/stack_status")
        ),
        "unknown" => format!("unknown: {}", text(ownership, "/reason")),
        other => other.to_string(),
    }
}

pub fn actor_text(actor: &Value) -> String {
    let who = match text(actor, "/session_name") {
        "" => text(actor, "/principal"),
        s => s,
    };
    format!("{}  {who}", text(actor, "/kind"))
}

fn show_detected(screen: &mut Screen, out: &Value) {
    match text(out, "/outcome") {
        "decided" => {
            screen.step("detected", text(out, "/resource"), Tone::Plain);
            screen.step("actor", &actor_text(&out["actor"]), Tone::Plain);
            screen.step("owner", &owner_text(&out["ownership"]), Tone::Plain);
            let v = &out["decision"]["verdict"];
            let action = text(v, "/action");
            let mut verdict = format!(
                "{action}: {}, severity {}",
                text(v, "/reason"),
                text(v, "/severity")
            );
            if v["dry_run"] == Value::Bool(true) {
                verdict.push_str(" (dry-run)");
            }
            screen.step("verdict", &verdict, verdict_tone(action));
            match out.get("ticket").filter(|t| !t.is_null()) {
                Some(t) => screen.step(
                    "ticket",
                    &format!(
                        "{} {}",
                        driftguard_model::domain::display_id(text(t, "/id")),
                        text(t, "/state")
                    ),
                    Tone::Plain,
                ),
                None => screen.step("ticket", "none (nothing to track)", Tone::Dim),
            }
        }
        other => screen.step(
            "detected",
            &format!("{other}: {} {}", text(out, "/reason"), text(out, "/detail")),
            Tone::Dim,
        ),
    }
}

pub fn plan_text(plan: &Value) -> String {
    let calls: Vec<String> = plan["calls"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{}:{}", text(c, "/service"), text(c, "/operation")))
        .collect();
    format!("{} {}", text(plan, "/strategy"), calls.join(", "))
}

fn show_remediated(screen: &mut Screen, out: &Value) {
    if text(out, "/status") != "processed" {
        screen.step(
            "remediate",
            &format!("{}: {}", text(out, "/status"), text(out, "/reason")),
            Tone::Dim,
        );
        return;
    }
    if let Some(plan) = out.get("plan").filter(|p| !p.is_null()) {
        screen.step("plan", &plan_text(plan), Tone::Plain);
    }
    let outcome = text(out, "/outcome");
    let tone = match outcome {
        "resolved" => Tone::Good,
        "failed" => Tone::Bad,
        _ => Tone::Warn,
    };
    screen.step(
        "action",
        &format!("{outcome} → ticket {}", text(out, "/ticket_state")),
        tone,
    );
    screen.step("verified", text(out, "/reason"), tone);
}

fn show_notified(screen: &mut Screen, kind: &str, ticket: &str, state: &str, out: &Value) {
    let about = format!(
        "{kind} for {} ({state})",
        driftguard_model::domain::display_id(ticket)
    );
    match text(out, "/status") {
        "sent" => {
            let channels: Vec<&str> = out["sent"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            screen.step(
                "notified",
                &format!("{}: {about}", channels.join(" + ")),
                Tone::Good,
            );
        }
        _ => screen.step(
            "notify",
            &format!("skipped ({}): {about}", text(out, "/reason")),
            Tone::Dim,
        ),
    }
}
