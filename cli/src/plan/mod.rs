//! `driftguard plan EVENT_FILE [--apply]`: what driftguard does with one
//! event, against the account (or an emulator), through the Lambdas' own code:
//! detect's pipeline (`detect::wire_with`) then remediate's
//! (`remediate::wire`). It prints the owner, the drift (CloudFormation's and
//! the event's), the actor and its evidence, the verdict, the exact plan and
//! the gates passed or the one that stopped it.
//!
//! Without `--apply` nothing is written: tickets, claims and rate-limit slots
//! stay in memory over the real table ([`preview::OverlayTickets`],
//! [`preview::PreviewSafety`]), nothing is put on the bus, and the executor
//! refuses at the last step ([`preview::PreviewExecutor`]): reaching it means
//! every gate before acting passed. With `--apply` the real ports are used:
//! the same gates, rate limits, approvals and claims as the Lambdas (a
//! deployed remediate function woken by the same decision loses the claim and
//! does not act twice).
pub mod preview;

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_adapters::safety::DynamoSafetyStore;
use driftguard_core::config::Config;
use driftguard_core::detect::{DecisionReport, Outcome};
use driftguard_core::remediate::{Outcome as RemediationOutcome, Remediator};
use driftguard_model::domain::{Drift, DriftOrigin, Plan};
use driftguard_model::events::{RemediationResult, DRIFT_DECISION, SOURCE};
use serde_json::{json, Value};

use preview::{CaptureBus, OverlayTickets, PreviewExecutor, PreviewSafety, PREVIEW_REFUSAL};

#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub endpoint: Option<String>,
    pub table: String,
    pub bus: String,
    pub apply: bool,
    pub json: bool,
    /// A policy file instead of the functions' `POLICY_PARAMETER` / `POLICY_PATH`.
    pub policy: Option<std::path::PathBuf>,
    /// The policy's SSM parameter (what the deployed functions read).
    pub policy_parameter: Option<String>,
}

/// The event as EventBridge delivers it: an envelope as is, a bare
/// CloudTrail record (events/recorded/, a trail's log entry) wrapped.
pub fn read_event(path: &Path) -> Result<Value> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let v: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not JSON", path.display()))?;
    Ok(driftguard_model::sources::record::envelope_for_record(&v).unwrap_or(v))
}

/// The functions' configuration, with the table and bus from the flags.
fn config(o: &PlanOptions) -> Result<Config> {
    Config::from_lookup(|k| match k {
        "TABLE_NAME" => Some(o.table.clone()),
        "EVENT_BUS_NAME" => Some(o.bus.clone()),
        "POLICY_PARAMETER" if o.policy_parameter.is_some() => o.policy_parameter.clone(),
        "POLICY_PARAMETER" if o.policy.is_some() => None,
        "POLICY_PATH" if o.policy.is_some() => o.policy.as_ref().map(|p| p.display().to_string()),
        _ => std::env::var(k).ok(),
    })
    .context("configuration")
}

/// What one run saw, for printing.
struct Run {
    outcome: Outcome,
    remediation: Option<Remediated>,
    preview: Option<Arc<PreviewSafety>>,
    written: Vec<String>,
}

struct Remediated {
    outcome: RemediationOutcome,
    /// Ticket entries remediate wrote in this run, in order.
    entries: Vec<String>,
}

/// Wire detect and remediate: real ports with `--apply`, preview ports without.
async fn wire(
    o: &PlanOptions,
) -> Result<(
    driftguard_core::detect::Pipeline,
    Remediator,
    Option<(Arc<OverlayTickets>, Arc<CaptureBus>, Arc<PreviewSafety>)>,
)> {
    let config = config(o)?;
    let sdk = crate::ops::sdk_config(o.endpoint.as_deref()).await;
    let mut remediator = remediate::wire(&config, &sdk).await?;
    if o.apply {
        let pipeline = detect::wire(&config, &sdk).await?;
        return Ok((pipeline, remediator, None));
    }
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let tickets = Arc::new(OverlayTickets::new(Arc::new(DynamoTicketStore::new(
        ddb.clone(),
        o.table.clone(),
    ))));
    let bus = Arc::new(CaptureBus::default());
    let safety = Arc::new(PreviewSafety::new(DynamoSafetyStore::new(
        ddb,
        o.table.clone(),
    )));
    let (t, b) = (tickets.clone(), bus.clone());
    let pipeline = detect::wire_with(&config, &sdk, move |mut ports| {
        ports.tickets = t;
        ports.bus = b;
        ports.ops_mirror = None;
        ports
    })
    .await?;
    remediator.tickets = tickets.clone();
    remediator.bus = bus.clone();
    remediator.executor = Arc::new(PreviewExecutor);
    remediator.safety = safety.clone();
    Ok((pipeline, remediator, Some((tickets, bus, safety))))
}

/// Entries of `after` not in `before` (remediate appends to the history).
fn new_entries(before: usize, after: Option<driftguard_model::domain::Ticket>) -> Vec<String> {
    after
        .map(|t| {
            t.history
                .iter()
                .skip(before)
                .map(|e| {
                    let kind = serde_json::to_value(e.kind).unwrap_or(Value::Null);
                    format!("{}: {}", kind.as_str().unwrap_or("entry"), e.summary)
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn remediate_ticket(
    remediator: &Remediator,
    report: &DecisionReport,
) -> Result<Option<Remediated>> {
    let Some(ticket) = &report.ticket else {
        return Ok(None);
    };
    if !report.decision.verdict.action.acts() || !report.published {
        return Ok(None);
    }
    let before = remediator
        .tickets
        .get_ticket(&ticket.id)
        .await?
        .map(|t| t.history.len())
        .unwrap_or(0);
    let envelope = json!({
        "id": format!("plan-{}", report.event_id),
        "detail-type": DRIFT_DECISION,
        "source": SOURCE,
        "detail": {"ticket_id": ticket.id},
    });
    let outcome = remediator.handle(envelope).await?;
    let after = remediator.tickets.get_ticket(&ticket.id).await?;
    Ok(Some(Remediated {
        outcome,
        entries: new_entries(before, after),
    }))
}

async fn execute(event: &Value, o: &PlanOptions) -> Result<Run> {
    let (pipeline, remediator, preview) = wire(o).await?;
    let outcome = pipeline
        .process_event(event)
        .await
        .context("detect refused the event")?;
    let remediation = match &outcome {
        Outcome::Decided(report) => remediate_ticket(&remediator, report).await?,
        _ => None,
    };
    let written = preview
        .as_ref()
        .map(|(tickets, bus, _)| {
            let mut w: Vec<String> = tickets
                .written()
                .iter()
                .map(|t| format!("ticket {} ({})", t.id, t.state))
                .collect();
            w.extend(
                bus.published()
                    .into_iter()
                    .map(|(dt, _)| format!("bus event {dt}")),
            );
            w
        })
        .unwrap_or_default();
    Ok(Run {
        outcome,
        remediation,
        preview: preview.map(|(_, _, s)| s),
        written,
    })
}

fn value(v: &Option<Value>) -> String {
    v.as_ref()
        .map(Value::to_string)
        .unwrap_or_else(|| "-".into())
}

fn drift_lines(label: &str, d: Option<&Drift>) -> Vec<String> {
    let Some(d) = d else {
        return vec![format!("{label}: none")];
    };
    let origin = match &d.origin {
        DriftOrigin::Cloudformation => "CloudFormation".to_string(),
        DriftOrigin::EventRequest(note) => format!("from the event's request ({note})"),
    };
    let mut lines = vec![format!("{label}: {} {origin}", d.status.as_str())];
    for diff in &d.differences {
        lines.push(format!(
            "  {} {:?}: expected {} actual {}",
            diff.path,
            diff.kind,
            value(&diff.expected),
            value(&diff.actual)
        ));
    }
    lines
}

fn plan_lines(plan: &Plan) -> Vec<String> {
    let mut lines = vec![format!(
        "plan {} ({}): {}",
        plan.strategy.as_str(),
        plan.digest(),
        plan.expected
    )];
    for (i, c) in plan.calls.iter().enumerate() {
        lines.push(format!(
            "  {}. {}:{} {}",
            i + 1,
            c.service,
            c.operation,
            c.parameters
        ));
    }
    for (s, why) in &plan.skipped {
        lines.push(format!("  (not {}: {why})", s.as_str()));
    }
    lines
}

fn decision_lines(r: &DecisionReport) -> Vec<String> {
    let v = &r.decision.verdict;
    let mut lines = vec![
        format!("event: {} on {}", r.event_id, r.resource),
        format!("owner: {}", r.ownership.label()),
    ];
    lines.extend(drift_lines("drift (CloudFormation)", r.drift.as_ref()));
    lines.extend(drift_lines("drift (event)", r.event_drift.as_ref()));
    lines.push(format!("actor: {} {}", r.actor.kind, r.actor.principal));
    lines.extend(r.actor.evidence.iter().map(|e| format!("  evidence: {e}")));
    lines.push(format!(
        "verdict: {}{} (rule {}, severity {:?}, approval {}): {}",
        v.action,
        if v.dry_run { " dry-run" } else { "" },
        v.rule.as_deref().unwrap_or("-"),
        v.severity,
        if v.requires_approval {
            "required"
        } else {
            "not required"
        },
        v.reason
    ));
    if let Some(held) = &r.decision.held {
        lines.push(format!("held: {held}"));
    }
    lines
}

fn result_lines(result: &RemediationResult, preview: bool) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(plan) = &result.plan {
        lines.extend(plan_lines(plan));
    }
    if preview && result.reason.starts_with(PREVIEW_REFUSAL) {
        lines.push(format!("gates: all passed; {}", result.reason));
    } else {
        lines.push(format!(
            "gates: stopped ({}): {}",
            result.outcome.as_str(),
            result.reason
        ));
    }
    if !preview {
        lines.push(format!(
            "ticket {}: {}",
            result.ticket_id, result.ticket_state
        ));
    }
    lines
}

fn remediation_lines(r: &Remediated, preview: bool) -> Vec<String> {
    let mut lines = match &r.outcome {
        RemediationOutcome::Finished(result) => result_lines(result, preview),
        RemediationOutcome::Ignored(why) => vec![format!("remediate: ignored: {why}")],
        RemediationOutcome::Duplicate(why) => vec![format!("remediate: duplicate: {why}")],
    };
    lines.extend(r.entries.iter().map(|e| format!("  {e}")));
    lines
}

fn render(run: &Run, o: &PlanOptions) -> Vec<String> {
    let mut lines = match &run.outcome {
        Outcome::Decided(report) => decision_lines(report),
        Outcome::Duplicate { event_id } => {
            vec![format!(
                "event {event_id}: already processed (a duplicate delivery): nothing to do"
            )]
        }
        Outcome::Skipped { reason, detail, .. } => vec![format!("skipped ({reason}): {detail}")],
    };
    match &run.remediation {
        Some(r) => lines.extend(remediation_lines(r, !o.apply)),
        None => lines.push("remediate: not woken (the verdict does not act)".into()),
    }
    if let Some(safety) = &run.preview {
        lines.extend(safety.notes().into_iter().map(|n| format!("  {n}")));
        lines.push(format!(
            "preview: nothing was written; in memory only: {}",
            if run.written.is_empty() {
                "nothing".to_string()
            } else {
                run.written.join(", ")
            }
        ));
    }
    lines
}

fn to_json(run: &Run, o: &PlanOptions) -> Value {
    let remediation = run.remediation.as_ref().map(|r| match &r.outcome {
        RemediationOutcome::Finished(result) => json!({
            "outcome": result.outcome.as_str(),
            "reason": result.reason,
            "plan": result.plan,
            "plan_digest": result.plan.as_ref().map(Plan::digest),
            "ticket_state": result.ticket_state,
            "all_gates_passed": result.reason.starts_with(PREVIEW_REFUSAL) || result.outcome.as_str() == "resolved",
            "entries": r.entries,
        }),
        RemediationOutcome::Ignored(why) => json!({"outcome": "ignored", "reason": why}),
        RemediationOutcome::Duplicate(why) => json!({"outcome": "duplicate", "reason": why}),
    });
    json!({
        "mode": if o.apply { "apply" } else { "preview" },
        "detect": run.outcome,
        "remediate": remediation,
        "limits": run.preview.as_ref().map(|s| s.notes()),
        "preview_writes": if o.apply { Value::Null } else { json!(run.written) },
    })
}

/// Plan (or apply) one event file and print the result.
pub async fn run(file: &Path, o: &PlanOptions, out: &mut dyn std::io::Write) -> Result<()> {
    let event = read_event(file)?;
    if !event.is_object() {
        bail!(
            "{}: expected a JSON object (an EventBridge event or a CloudTrail record)",
            file.display()
        );
    }
    let run = execute(&event, o).await?;
    if o.json {
        writeln!(out, "{}", to_json(&run, o))?;
    } else {
        for line in render(&run, o) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(())
}
