//! driftguard's own resources on the emulator, as `template.yaml` declares
//! them ([`Deployment`]): the custom bus, the ticket table, every rule with an
//! event pattern (targeting one SQS queue per function, standing in for the
//! Lambda trigger: moto cannot invoke Lambdas), the alert topic with an SQS
//! subscription, the Slack webhook secret and the policy parameter.
use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, bail, Context, Result};
use aws_config::SdkConfig;
use driftguard_core::config::Config;

use super::deployment::{Deployment, RuleBus};
use super::resources;

/// The policy the demo deploys (the one the docs describe).
pub const POLICY_EXAMPLE: &str = include_str!("../../../policy.example.yaml");
/// The table's name in the demo (CloudFormation names it on AWS: see the stack outputs).
pub const DEMO_TABLE: &str = "driftguard-tickets";
const TOPIC: &str = "driftguard-alerts";
const SLACK_SECRET: &str = "driftguard/slack-webhook";

#[derive(Debug, Clone)]
pub struct Provisioned {
    pub bus: String,
    pub table: String,
    /// Function binary → the queue its rules deliver to.
    pub queues: BTreeMap<String, String>,
    pub topic_arn: String,
    /// The SQS queue subscribed to the alert topic.
    pub alerts_queue: String,
    pub slack_secret_arn: String,
    pub policy_parameter: String,
    pub rules: usize,
}

impl Provisioned {
    /// The functions' environment, as template.yaml sets it, with `DryRun=false`
    /// (a deployment past its trial period) so reverts really happen.
    pub fn environment(&self) -> HashMap<&'static str, String> {
        HashMap::from([
            ("TABLE_NAME", self.table.clone()),
            ("EVENT_BUS_NAME", self.bus.clone()),
            ("POLICY_PARAMETER", self.policy_parameter.clone()),
            ("DRY_RUN", "false".to_string()),
            ("TOPIC_ARN", self.topic_arn.clone()),
            ("SLACK_SECRET_ARN", self.slack_secret_arn.clone()),
            ("OPSCENTER_MIRROR", "false".to_string()),
            ("EVENT_TTL_DAYS", "7".to_string()),
        ])
    }

    /// The functions' [`Config`], checked against the variables the template declares.
    pub fn config(&self, deployment: &Deployment) -> Result<Config> {
        let env = self.environment();
        for var in env.keys() {
            if !deployment.environment.iter().any(|v| v == var) {
                bail!("template.yaml does not give the functions {var}: the demo is out of date");
            }
        }
        Ok(Config::from_lookup(|k| env.get(k).cloned())?)
    }
}

/// driftguard's resources on the emulator at `sdk`, as `deployment` declares
/// them; notify's Slack webhook secret holds `slack_webhook_url`.
pub async fn provision(
    sdk: &SdkConfig,
    deployment: &Deployment,
    slack_webhook_url: &str,
) -> Result<Provisioned> {
    resources::create_bus(&aws_sdk_eventbridge::Client::new(sdk), &deployment.bus_name).await?;
    resources::create_table(
        &aws_sdk_dynamodb::Client::new(sdk),
        DEMO_TABLE,
        &deployment.table,
    )
    .await?;
    let queues = route_rules(sdk, deployment).await?;
    let (topic_arn, alerts_queue) = alert_topic(sdk).await?;
    let slack_secret_arn = slack_secret(sdk, slack_webhook_url).await?;
    put_policy(sdk, &deployment.policy_parameter).await?;
    Ok(Provisioned {
        bus: deployment.bus_name.clone(),
        table: DEMO_TABLE.to_string(),
        queues,
        topic_arn,
        alerts_queue,
        slack_secret_arn,
        policy_parameter: deployment.policy_parameter.clone(),
        rules: deployment.rules.len(),
    })
}

/// One queue per function, and every rule with its targets on those queues;
/// function → queue URL.
async fn route_rules(sdk: &SdkConfig, deployment: &Deployment) -> Result<BTreeMap<String, String>> {
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut queues = BTreeMap::new();
    let mut queue_arns = BTreeMap::new();
    for function in deployment.functions() {
        let (url, arn) = resources::create_queue(&sqs, &format!("driftguard-{function}")).await?;
        queues.insert(function.clone(), url);
        queue_arns.insert(function, arn);
    }
    for rule in &deployment.rules {
        let bus = match rule.bus {
            RuleBus::Default => "default",
            RuleBus::Driftguard => deployment.bus_name.as_str(),
        };
        resources::put_rule(&events, bus, &rule.logical_id, &rule.pattern).await?;
        for function in &rule.functions {
            let arn = queue_arns
                .get(function)
                .ok_or_else(|| anyhow!("no queue for {function}"))?;
            resources::put_target(&events, bus, &rule.logical_id, function, arn).await?;
        }
    }
    Ok(queues)
}

/// The alert topic and the SQS queue subscribed to it: (topic ARN, queue URL).
async fn alert_topic(sdk: &SdkConfig) -> Result<(String, String)> {
    let sns = aws_sdk_sns::Client::new(sdk);
    let topic_arn = sns
        .create_topic()
        .name(TOPIC)
        .send()
        .await
        .context("create the alert topic")?
        .topic_arn()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no ARN for the alert topic"))?;
    let (alerts_queue, alerts_arn) =
        resources::create_queue(&aws_sdk_sqs::Client::new(sdk), "driftguard-alerts-inbox").await?;
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(alerts_arn)
        .send()
        .await
        .context("subscribe the inbox queue to the alert topic")?;
    Ok((topic_arn, alerts_queue))
}

/// The Slack webhook secret; its ARN.
async fn slack_secret(sdk: &SdkConfig, url: &str) -> Result<String> {
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(SLACK_SECRET)
        .secret_string(url)
        .send()
        .await
        .context("create the Slack webhook secret")?
        .arn()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no ARN for the Slack secret"))
}

/// `policy.example.yaml` with its break-glass window opened for the demo's
/// incident: from an hour before `now` to a day after. The example's own
/// window is a week in March 2026 (a standing window is warned about), and
/// the demo's events carry the current time, so without this the break-glass
/// scene would fall outside it. Every other line is the example's.
pub fn demo_policy(now: chrono::DateTime<chrono::Utc>) -> String {
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let opened = stamp(now - chrono::Duration::hours(1));
    let closes = stamp(now + chrono::Duration::days(1));
    POLICY_EXAMPLE
        .lines()
        .map(|line| {
            let indent = &line[..line.len() - line.trim_start().len()];
            match line.trim_start().split_once(':') {
                Some(("not_before", _)) => format!("{indent}not_before: {opened}"),
                Some(("not_after", _)) => format!("{indent}not_after: {closes}"),
                _ => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `policy.example.yaml` in the policy parameter ([`demo_policy`]).
async fn put_policy(sdk: &SdkConfig, parameter: &str) -> Result<()> {
    aws_sdk_ssm::Client::new(sdk)
        .put_parameter()
        .name(parameter)
        .value(demo_policy(chrono::Utc::now()))
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .with_context(|| format!("put the policy in {parameter}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;
    use driftguard_model::domain::{
        classify_actor,
        policy::{Policy, PolicyWarning},
        ActorKind, Identity,
    };

    /// The demo's break-glass scene (its events carry the current time) is
    /// inside the demo policy's window, and the demo policy is the example
    /// otherwise: same rules, no warnings.
    #[test]
    fn the_demo_policy_opens_the_break_glass_window_around_now() {
        let now = chrono::Utc.with_ymd_and_hms(2027, 6, 1, 12, 0, 0).unwrap();
        let text = demo_policy(now);
        let policy = Policy::from_yaml(&text)
            .unwrap()
            .with_home_account("123456789012");
        let none: &[PolicyWarning] = &[];
        assert_eq!(policy.warnings(), none);
        let example = Policy::from_yaml(POLICY_EXAMPLE).unwrap();
        assert_eq!(policy.rules.len(), example.rules.len());
        assert_eq!(text.lines().count(), POLICY_EXAMPLE.lines().count());
        let oncall = Identity {
            identity_type: Some("AssumedRole".into()),
            principal_arn: Some(
                "arn:aws:sts::123456789012:assumed-role/BreakGlass/oncall-carol".into(),
            ),
            session_issuer_arn: Some("arn:aws:iam::123456789012:role/BreakGlass".into()),
            session_name: Some("oncall-carol".into()),
            ..Identity::default()
        };
        let actor = classify_actor(&oncall, &policy.identities, now);
        assert_eq!(actor.kind, ActorKind::BreakGlass, "{actor:?}");
        let later = now + chrono::Duration::days(2);
        assert_ne!(
            classify_actor(&oncall, &policy.identities, later).kind,
            ActorKind::BreakGlass
        );
    }
}
