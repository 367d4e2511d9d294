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
//! Also the scenario `scripts/bench` times (`scenario_setup`, `scenario_open`):
//! driftguard's resources on an emulator, and a CloudFormation stack whose
//! security group a console user opens to 0.0.0.0/0 on port 22.
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

use crate::demo::deployment::Deployment;
use crate::demo::{app, provision};

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

/// [`run`] with the configuration and the SDK config given (`started`: the
/// instant the step timings count from).
pub async fn run_with(
    file: &Path,
    config: &Config,
    sdk: &SdkConfig,
    started: Instant,
    out: &mut dyn Write,
) -> Result<RunOutcome> {
    let bytes = std::fs::read(file).with_context(|| format!("read {}", file.display()))?;
    // A bare CloudTrail record, as EventBridge would deliver it.
    let bytes = match serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| driftguard_model::sources::record::envelope_for_record(&v))
    {
        Some(envelope) => envelope.to_string().into_bytes(),
        None => bytes,
    };
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
    let decisions: Vec<(String, Value)> = observed
        .published
        .lock()
        .map(|p| p.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|(t, _)| t == driftguard_model::events::DRIFT_DECISION)
        .collect();
    let mut outcome = RunOutcome::NotReverted(match detected.pointer("/decision/verdict/action") {
        Some(a) => format!("verdict {}", a.as_str().unwrap_or("?")),
        None => format!(
            "{}: {}",
            detected["outcome"].as_str().unwrap_or("?"),
            detected["reason"].as_str().unwrap_or("")
        ),
    });
    for (n, (detail_type, detail)) in decisions.iter().enumerate() {
        let envelope = delivered(n, detail_type, detail, sdk);
        let remediated = remediate::handler::handle(&remediator, envelope)
            .await
            .map_err(|e| anyhow::anyhow!("remediate: {e}"))?;
        writeln!(
            out,
            "{}",
            json!({"step": "remediate", "ms": ms(started), "outcome": remediated})
        )?;
        if remediated["status"] == "processed" && remediated["outcome"] == "resolved" {
            outcome = RunOutcome::Verified;
        } else {
            outcome = RunOutcome::NotReverted(format!(
                "remediate: {} {} ({})",
                remediated["status"].as_str().unwrap_or("?"),
                remediated["outcome"].as_str().unwrap_or(""),
                remediated["reason"].as_str().unwrap_or("")
            ));
        }
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

// ------------------------------------------------------------ the bench scenario

/// The stack `scenario_open` creates: one security group, HTTPS only.
const SCENARIO_TEMPLATE: &str = r#"{
  "AWSTemplateFormatVersion": "2010-09-09",
  "Description": "driftguard bench: a security group a console user opens to the world",
  "Resources": {
    "WebSecurityGroup": {
      "Type": "AWS::EC2::SecurityGroup",
      "Properties": {
        "GroupDescription": "bench web (HTTPS only)",
        "SecurityGroupIngress": [
          {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"}
        ]
      }
    }
  }
}"#;

/// driftguard's resources on the emulator at `sdk` (as the demo provisions
/// them from template.yaml); prints the functions' environment as `export`
/// lines for a shell to `eval`.
pub async fn scenario_setup(sdk: &SdkConfig, webhook: &str, out: &mut dyn Write) -> Result<()> {
    let (_, provisioned) = scenario_provision(sdk, webhook).await?;
    let mut env: Vec<_> = provisioned.environment().into_iter().collect();
    env.sort();
    for (k, v) in env {
        writeln!(out, "export {k}='{v}'")?;
    }
    Ok(())
}

/// driftguard's resources on the emulator at `sdk`, and the functions'
/// configuration for them (what `scenario_setup` exports).
pub async fn scenario_config(sdk: &SdkConfig) -> Result<Config> {
    // notify is not run: its webhook is never called.
    let (deployment, provisioned) = scenario_provision(sdk, "http://127.0.0.1:9/unused").await?;
    provisioned.config(&deployment)
}

async fn scenario_provision(
    sdk: &SdkConfig,
    webhook: &str,
) -> Result<(Deployment, provision::Provisioned)> {
    let deployment = Deployment::from_builtin_template().context("read template.yaml")?;
    let provisioned = provision::provision(sdk, &deployment, webhook)
        .await
        .context("provision driftguard's resources")?;
    Ok((deployment, provisioned))
}

/// A fresh stack `stack` with one security group, created through
/// CloudFormation; then a console user opens 22/tcp to 0.0.0.0/0 on it. With
/// `event`, the CloudTrail event of that call is written there (the
/// `events/detect/console-sg-ingress.json` fixture with the real ids). Prints
/// the group id.
pub async fn scenario_open(
    sdk: &SdkConfig,
    stack: &str,
    event: Option<&Path>,
    out: &mut dyn Write,
) -> Result<()> {
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    cfn.create_stack()
        .stack_name(stack)
        .template_body(SCENARIO_TEMPLATE)
        .send()
        .await
        .with_context(|| format!("create stack {stack}"))?;
    app::wait_for_create(&cfn, stack).await?;
    let group = cfn
        .describe_stack_resource()
        .stack_name(stack)
        .logical_resource_id("WebSecurityGroup")
        .send()
        .await
        .with_context(|| format!("the security group of {stack}"))?
        .stack_resource_detail()
        .and_then(|r| r.physical_resource_id())
        .map(str::to_string)
        .context("no physical id for WebSecurityGroup")?;
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let why = "temp ssh for debugging";
    let response = app::open_ssh(&ec2, &group, "0.0.0.0/0", why).await?;
    if let Some(path) = event {
        let envelope = app::console_sg_ingress_event(&group, "0.0.0.0/0", why, response)?;
        std::fs::write(path, serde_json::to_vec_pretty(&envelope)?)
            .with_context(|| format!("write {}", path.display()))?;
    }
    writeln!(out, "{group}")?;
    Ok(())
}

/// `true` while `group` still lets 0.0.0.0/0 in on port 22.
pub async fn scenario_is_open(sdk: &SdkConfig, group: &str) -> Result<bool> {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let rules = ec2
        .describe_security_group_rules()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-id")
                .values(group)
                .build(),
        )
        .send()
        .await
        .with_context(|| format!("describe the rules of {group}"))?;
    Ok(rules.security_group_rules().iter().any(|r| {
        r.is_egress() == Some(false)
            && r.cidr_ipv4() == Some("0.0.0.0/0")
            && r.from_port().is_some_and(|p| p <= 22)
            && r.to_port().is_some_and(|p| p >= 22)
    }))
}

/// Fails unless the run verified a revert (`--expect-revert`).
pub fn expect_revert(outcome: &RunOutcome) -> Result<()> {
    match outcome {
        RunOutcome::Verified => Ok(()),
        RunOutcome::NotReverted(why) => bail!("not reverted: {why}"),
    }
}
