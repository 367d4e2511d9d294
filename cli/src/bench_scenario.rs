//! `driftguard bench-scenario`: the scenario `scripts/bench` times, on the
//! one moto harness ([`crate::emulator`]): driftguard's resources on an
//! emulator (provisioned from template.yaml as the demo does), and a
//! CloudFormation stack whose security group a console user opens to
//! 0.0.0.0/0 on port 22. `driftguard run-event` then runs that change's event.
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use driftguard_core::config::Config;

use crate::demo::app;
use crate::demo::slack::SlackListener;
use crate::emulator::deployment::Deployment;
use crate::emulator::provision::{self, Provisioned};
use crate::emulator::{resources, Emulator};

/// The webhook notify posts to when none is given (nothing listens there).
pub const UNUSED_WEBHOOK: &str = "http://127.0.0.1:9/unused";

/// The stack `open` creates: one security group, HTTPS only.
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

/// `export K='V'` lines, sorted by name.
fn exports(out: &mut dyn Write, vars: Vec<(&'static str, String)>) -> Result<()> {
    let mut vars = vars;
    vars.sort();
    for (k, v) in vars {
        writeln!(out, "export {k}='{v}'")?;
    }
    Ok(())
}

/// driftguard's resources on the emulator at `sdk`; prints the functions'
/// environment as `export` lines for a shell to `eval`.
pub async fn setup(sdk: &SdkConfig, webhook: &str, out: &mut dyn Write) -> Result<()> {
    let (_, provisioned) = provision_all(sdk, webhook).await?;
    exports(out, provisioned.environment().into_iter().collect())
}

/// `setup --start-emulator`: a moto server of our own (and, without
/// `webhook`, a local listener answering as Slack does), driftguard's
/// resources on it; prints the emulator's environment and the functions',
/// then `# ready`, and runs until killed. The server stops with this process
/// (the harness's watchdog), so `scripts/bench` stops both with one `kill`.
pub async fn start_and_setup(webhook: Option<&str>, out: &mut dyn Write) -> Result<()> {
    let emulator = Emulator::start()?;
    let listener = match webhook {
        Some(_) => None,
        None => Some(SlackListener::start().await?),
    };
    let url = match (webhook, &listener) {
        (Some(url), _) => url.to_string(),
        (None, Some(listener)) => listener.url.clone(),
        (None, None) => UNUSED_WEBHOOK.to_string(),
    };
    exports(out, crate::emulator::environment(&emulator.endpoint))?;
    setup(&emulator.sdk_config().await, &url, out).await?;
    writeln!(out, "# ready")?;
    out.flush()?;
    std::future::pending::<()>().await;
    Ok(())
}

/// driftguard's resources on the emulator at `sdk`, and the functions'
/// configuration for them (what `setup` exports).
pub async fn config(sdk: &SdkConfig) -> Result<Config> {
    // notify is not run: its webhook is never called.
    let (deployment, provisioned) = provision_all(sdk, UNUSED_WEBHOOK).await?;
    provisioned.config(&deployment)
}

async fn provision_all(sdk: &SdkConfig, webhook: &str) -> Result<(Deployment, Provisioned)> {
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
pub async fn open(
    sdk: &SdkConfig,
    stack: &str,
    event: Option<&Path>,
    out: &mut dyn Write,
) -> Result<()> {
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    resources::create_stack(&cfn, stack, SCENARIO_TEMPLATE).await?;
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
pub async fn is_open(sdk: &SdkConfig, group: &str) -> Result<bool> {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    Ok(resources::ingress_rules(&ec2, group)
        .await?
        .iter()
        .any(|r| {
            r.cidr_ipv4() == Some("0.0.0.0/0")
                && r.from_port().is_some_and(|p| p <= 22)
                && r.to_port().is_some_and(|p| p >= 22)
        }))
}
