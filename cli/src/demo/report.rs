//! What the demo prints around the timeline: the introduction, the resources
//! provisioned, the summary table, the checks and the verdict, the `--keep`
//! hints. Each is a pure function of what happened (the lines and their
//! tones) and a thin printer.
use std::time::Instant;

use driftguard_model::domain::{Ticket, TicketState};
use serde_json::Value;

use super::app::{AppStack, Expect, Scene};
use super::checks::{self, Check};
use super::flow::Tally;
use super::screen::{cell, Screen, Tone};
use crate::emulator::deployment::{Deployment, RuleBus};
use crate::emulator::provision::Provisioned;
use crate::emulator::Emulator;

pub(super) fn intro(screen: &mut Screen) {
    screen.say(
        "driftguard demo: console hot-fixes detected, ticketed, reverted, verified",
        Tone::Accent,
    );
    screen.say(
        "and announced, on a local AWS emulator (no AWS account).",
        Tone::Accent,
    );
    screen.blank();
}

/// The resources step's lines: (label, text).
pub(super) fn resources(
    deployment: &Deployment,
    provisioned: &Provisioned,
    slack_url: &str,
) -> Vec<(&'static str, String)> {
    let table = &deployment.table;
    let indexes: Vec<String> = table
        .indexes
        .iter()
        .map(|i| {
            format!(
                "{} ({}, {})",
                i.name,
                i.key.hash,
                i.key.range.as_deref().unwrap_or("-")
            )
        })
        .collect();
    let mut lines = vec![
        ("bus", format!("{} (custom event bus)", provisioned.bus)),
        (
            "table",
            format!(
                "{}: key {}, GSI {}, TTL on {}",
                provisioned.table,
                table.key.hash,
                indexes.join(", "),
                table.ttl_attribute.as_deref().unwrap_or("-")
            ),
        ),
    ];
    for rule in &deployment.rules {
        let bus = match rule.bus {
            RuleBus::Default => "default",
            RuleBus::Driftguard => provisioned.bus.as_str(),
        };
        lines.push((
            "rule",
            format!(
                "{} on {bus} → queue driftguard-{}",
                rule.logical_id,
                rule.functions.join(", ")
            ),
        ));
    }
    lines.push((
        "topic",
        "driftguard-alerts → SQS driftguard-alerts-inbox".to_string(),
    ));
    lines.push(("secret", format!("driftguard/slack-webhook → {slack_url}")));
    lines.push((
        "policy",
        format!(
            "{} ← policy.example.yaml; DRY_RUN=false",
            provisioned.policy_parameter
        ),
    ));
    lines
}

/// One summary row: the change, what detect said, the ticket's state and
/// whether it is the one the scene expects.
struct Row {
    line: String,
    ticket: String,
    as_expected: bool,
}

fn row(n: usize, scene: &Scene, app: &AppStack, tally: &Tally, tickets: &[Ticket]) -> Row {
    let event_id = scene.cloudtrail_event_id();
    let detected = tally.detected.iter().find(|d| d["event_id"] == event_id);
    let text_at = |pointer: &str| {
        detected
            .and_then(|d| d.pointer(pointer))
            .and_then(Value::as_str)
            .unwrap_or("?")
    };
    let account = scene.event["account"].as_str().unwrap_or_default();
    let id = checks::ticket_id_in(account, &app.name, scene.logical_id);
    let ticket = tickets
        .iter()
        .find(|t| t.id == id)
        .map_or("none".to_string(), |t| format!("{} {}", t.id, t.state));
    let want = match scene.expect {
        Expect::Reverted => "RESOLVED",
        // The allowed change leaves a closed ALLOWED record for the sweep.
        Expect::Allowed => "ALLOWED",
        Expect::TicketedNotReverted => "OPEN",
    };
    Row {
        line: format!(
            "{}{}{}{}",
            cell(&format!(" {}", n + 1), 3),
            cell(
                &format!("{} {}", scene.logical_id, scene.expect.as_str()),
                31
            ),
            cell(text_at("/actor/kind"), 12),
            cell(text_at("/decision/verdict/action"), 8),
        ),
        as_expected: ticket.ends_with(want),
        ticket,
    }
}

fn count(list: &[Value], pointer: &str, value: &str) -> usize {
    list.iter()
        .filter(|v| v.pointer(pointer).and_then(Value::as_str) == Some(value))
        .count()
}

/// The totals line, and whether nothing failed.
fn totals(scenes: usize, tally: &Tally, tickets: &[Ticket]) -> (String, bool) {
    let reverted = count(&tally.remediated, "/outcome", "resolved");
    let failed = count(&tally.remediated, "/outcome", "failed") + tally.failures.len();
    let line = format!(
        "changes {scenes}  tickets {}  reverted {reverted}  allowed {}  ticketed {}  failed {failed}",
        tickets
            .iter()
            .filter(|t| t.state != TicketState::Allowed)
            .count(),
        count(&tally.detected, "/decision/verdict/action", "allow"),
        count(&tally.detected, "/decision/verdict/action", "ticket"),
    );
    (line, failed == 0)
}

/// The summary: one row per change, the totals, the notifications.
pub(super) fn summary(
    screen: &mut Screen,
    app: &AppStack,
    scenes: &[Scene],
    tally: &Tally,
    tickets: &[Ticket],
    slack: usize,
) {
    screen.blank();
    screen.heading("summary");
    // 3 + 31 + 12 + 8 + 26 = 80 columns.
    screen.say(
        &format!(
            "{}{}{}{}{}",
            cell(" #", 3),
            cell("change", 31),
            cell("actor", 12),
            cell("verdict", 8),
            "ticket"
        ),
        Tone::Dim,
    );
    for (n, scene) in scenes.iter().enumerate() {
        let row = row(n, scene, app, tally, tickets);
        let tone = if row.as_expected {
            Tone::Good
        } else {
            Tone::Bad
        };
        let painted = screen.paint(&row.ticket, tone);
        screen.say(&format!("{}{painted}", row.line), Tone::Plain);
    }
    let (line, clean) = totals(scenes.len(), tally, tickets);
    screen.blank();
    screen.say(&line, if clean { Tone::Good } else { Tone::Bad });
    screen.say(
        &format!(
            "notifications: {slack} Slack messages, {} SNS messages, {} ticket state changes",
            tally.sns_messages,
            tally.state_changes.len()
        ),
        Tone::Plain,
    );
}

/// 7. The checks, one line each, then the verdict; whether all passed.
pub(super) fn checks(screen: &mut Screen, checks: &[Check], started: Instant) -> bool {
    screen.blank();
    screen.heading("7. checks, through the APIs");
    for c in checks {
        let (mark, tone) = if c.ok {
            ("✔", Tone::Good)
        } else {
            ("✘", Tone::Bad)
        };
        screen.say(
            &format!(" {} {}", screen.paint(mark, tone), c.what),
            Tone::Plain,
        );
        screen.detail(5, &c.detail, Tone::Dim);
    }
    let passed = checks.iter().all(|c| c.ok);
    screen.blank();
    let secs = started.elapsed().as_secs_f32();
    if passed {
        screen.say(
            &format!("demo passed: every expected outcome happened ({secs:.1} s)"),
            Tone::Good,
        );
    } else {
        let failed = checks.iter().filter(|c| !c.ok).count();
        screen.say(
            &format!("demo FAILED: {failed} expected outcome(s) did not happen ({secs:.1} s)"),
            Tone::Bad,
        );
    }
    passed
}

/// `--keep`: where the emulator runs and what to try on it.
pub(super) fn kept(screen: &mut Screen, emulator: &Emulator, app: &AppStack) {
    let endpoint = &emulator.endpoint;
    let bastion = checks::ticket_id(app, "BastionSecurityGroup");
    screen.blank();
    screen.say(
        &format!("The emulator is still running on {endpoint}. Look around:"),
        Tone::Plain,
    );
    for hint in [
        format!("  driftguard tickets list --endpoint {endpoint}"),
        format!("  driftguard tickets show {bastion} --endpoint {endpoint}"),
        format!("  driftguard accept {bastion} --endpoint {endpoint}"),
    ] {
        screen.say(&hint, Tone::Accent);
    }
    if let Some(pid) = emulator.pid() {
        screen.say(&format!("Stop it with: kill {pid}"), Tone::Plain);
    }
}
