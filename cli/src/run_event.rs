//! `driftguard run-event FILE`: one event, end to end, through the functions'
//! own code — detect (parse, owner, drift, actor, verdict, ticket, "Drift
//! Decision") and then remediate on the decision detect published (plan, gates,
//! the undo, the read-back that verifies it, ticket RESOLVED) — against the AWS
//! endpoint the environment names (`AWS_ENDPOINT_URL` for an emulator).
//!
//! Configuration is the Lambdas' own (`driftguard_core::config`: `TABLE_NAME`,
//! `EVENT_BUS_NAME`, `POLICY_PARAMETER`/`POLICY_PATH`, `DRY_RUN`...), and both
//! functions are wired by their own `wire`, so this runs what the deployed
//! functions run. The one difference: the decision is handed to remediate in
//! process, in the envelope EventBridge would deliver, instead of through the
//! bus rule (it is still published on the bus, for notify and anyone else).
//!
//! The scenario `scripts/bench` times it on is [`crate::bench_scenario`].
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use aws_config::SdkConfig;
use driftguard_core::config::Config;
use driftguard_core::detect::Ports;
use driftguard_core::ports::DecisionBus;
use driftguard_model::error::PortResult;
use serde_json::{json, Value};

/// What the run came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// remediate undid the change and read it back: verified.
    Verified,
    /// detect decided, remediate had nothing to undo (or was not asked).
    NotReverted(String),
}

/// The bus detect publishes on, with a copy of every event kept.
struct Observed {
    inner: Arc<dyn DecisionBus>,
    published: Mutex<Vec<(String, Value)>>,
}

#[async_trait]
impl DecisionBus for Observed {
    async fn publish(&self, detail_type: &str, detail: &Value) -> PortResult<()> {
        self.inner.publish(detail_type, detail).await?;
        if let Ok(mut p) = self.published.lock() {
            p.push((detail_type.to_string(), detail.clone()));
        }
        Ok(())
    }
}

/// The envelope EventBridge delivers a driftguard event in (the fields
/// remediate reads: id, source, detail-type, detail).
fn delivered(n: usize, detail_type: &str, detail: &Value, sdk: &SdkConfig) -> Value {
    let now = chrono::Utc::now();
    json!({
        "version": "0",
        "id": format!("run-event-{}-{n}", now.timestamp_nanos_opt().unwrap_or_default()),
        "detail-type": detail_type,
        "source": driftguard_model::events::SOURCE,
        "account": detail.get("account").cloned().unwrap_or(Value::Null),
        "time": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": sdk.region().map(|r| r.to_string()),
        "resources": [],
        "detail": detail,
    })
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e6).round() / 1e3
}

/// Run `file` (an EventBridge event or a bare CloudTrail record) through
/// detect and remediate with the functions' configuration from the
/// environment; one JSON line per step on `out`.
pub async fn run(file: &Path, out: &mut dyn Write) -> Result<RunOutcome> {
    let started = Instant::now();
    let config = Config::from_env().context("configuration (the functions' variables)")?;
    let sdk = driftguard_adapters::load_sdk_config().await;
    run_with(file, &config, &sdk, started, out).await
}

/// The event file as EventBridge delivers it (a bare CloudTrail record is
/// put in its envelope).
fn read_event(file: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(file).with_context(|| format!("read {}", file.display()))?;
    Ok(
        match serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| driftguard_model::sources::record::envelope_for_record(&v))
        {
            Some(envelope) => envelope.to_string().into_bytes(),
            None => bytes,
        },
    )
}

/// The decisions detect published, in order.
fn decisions(observed: &Observed) -> Vec<(String, Value)> {
    observed
        .published
        .lock()
        .map(|p| p.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|(t, _)| t == driftguard_model::events::DRIFT_DECISION)
        .collect()
}

/// What detect's answer alone comes to (before remediate is asked).
fn detected_outcome(detected: &Value) -> RunOutcome {
    RunOutcome::NotReverted(match detected.pointer("/decision/verdict/action") {
        Some(a) => format!("verdict {}", a.as_str().unwrap_or("?")),
        None => format!(
            "{}: {}",
            detected["outcome"].as_str().unwrap_or("?"),
            detected["reason"].as_str().unwrap_or("")
        ),
    })
}

/// What one remediate answer comes to.
fn remediated_outcome(remediated: &Value) -> RunOutcome {
    if remediated["status"] == "processed" && remediated["outcome"] == "resolved" {
        return RunOutcome::Verified;
    }
    RunOutcome::NotReverted(format!(
        "remediate: {} {} ({})",
        remediated["status"].as_str().unwrap_or("?"),
        remediated["outcome"].as_str().unwrap_or(""),
        remediated["reason"].as_str().unwrap_or("")
    ))
}

/// [`run`] with the configuration and the SDK config given (`started`: the
/// instant the step timings count from).
pub async fn run_with(
    file: &Path,
    config: &Config,
    sdk: &SdkConfig,
    started: Instant,
    out: &mut dyn Write,
) -> Result<RunOutcome> {
    let bytes = read_event(file)?;
    let observed = Arc::new(Observed {
        inner: Arc::new(driftguard_adapters::eventbridge::EventBridgeBus::new(
            aws_sdk_eventbridge::Client::new(sdk),
            config.event_bus_name.clone(),
        )),
        published: Mutex::new(Vec::new()),
    });
    let bus = observed.clone();
    let detect = detect::wire_observed(config, sdk, move |ports| Ports {
        bus: bus as Arc<dyn DecisionBus>,
        ..ports
    })
    .await
    .context("wire detect")?;
    let remediator = remediate::wire(config, sdk)
        .await
        .context("wire remediate")?;
    writeln!(out, "{}", json!({"step": "wired", "ms": ms(started)}))?;

    let detected = detect::handler::handle_raw_until(&detect, &bytes, None)
        .await
        .map_err(|e| anyhow::anyhow!("detect: {e}"))?;
    writeln!(
        out,
        "{}",
        json!({"step": "detect", "ms": ms(started), "outcome": detected})
    )?;
    let mut outcome = detected_outcome(&detected);
    for (n, (detail_type, detail)) in decisions(&observed).iter().enumerate() {
        let envelope = delivered(n, detail_type, detail, sdk);
        let remediated = remediate::handler::handle(&remediator, envelope)
            .await
            .map_err(|e| anyhow::anyhow!("remediate: {e}"))?;
        writeln!(
            out,
            "{}",
            json!({"step": "remediate", "ms": ms(started), "outcome": remediated})
        )?;
        outcome = remediated_outcome(&remediated);
    }
    let (verified, why) = match &outcome {
        RunOutcome::Verified => (true, String::new()),
        RunOutcome::NotReverted(why) => (false, why.clone()),
    };
    writeln!(
        out,
        "{}",
        json!({"step": "done", "ms": ms(started), "verified": verified, "why": why})
    )?;
    Ok(outcome)
}

/// Fails unless the run verified a revert (`--expect-revert`).
pub fn expect_revert(outcome: &RunOutcome) -> Result<()> {
    match outcome {
        RunOutcome::Verified => Ok(()),
        RunOutcome::NotReverted(why) => bail!("not reverted: {why}"),
    }
}
