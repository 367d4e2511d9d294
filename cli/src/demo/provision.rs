//! driftguard's own resources on the emulator, as `template.yaml` declares
//! them ([`Deployment`]): the custom bus, the ticket table, every rule with an
//! event pattern (targeting one SQS queue per function, standing in for the
//! Lambda trigger: moto cannot invoke Lambdas), the alert topic with an SQS
//! subscription, the Slack webhook secret and the policy parameter.
use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, bail, Context, Result};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use driftguard_core::config::Config;

use super::deployment::{Deployment, KeySpec, RuleBus, TableSpec};

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

pub async fn provision(
    sdk: &SdkConfig,
    deployment: &Deployment,
    slack_webhook_url: &str,
) -> Result<Provisioned> {
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let ddb = aws_sdk_dynamodb::Client::new(sdk);

    events
        .create_event_bus()
        .name(&deployment.bus_name)
        .send()
        .await
        .with_context(|| format!("create event bus {}", deployment.bus_name))?;
    create_table(&ddb, DEMO_TABLE, &deployment.table).await?;

    let mut queues = BTreeMap::new();
    let mut queue_arns = BTreeMap::new();
    for function in deployment.functions() {
        let (url, arn) = create_queue(&sqs, &format!("driftguard-{function}")).await?;
        queues.insert(function.clone(), url);
        queue_arns.insert(function, arn);
    }
    for rule in &deployment.rules {
        let bus = match rule.bus {
            RuleBus::Default => "default",
            RuleBus::Driftguard => deployment.bus_name.as_str(),
        };
        events
            .put_rule()
            .name(&rule.logical_id)
            .event_bus_name(bus)
            .event_pattern(rule.pattern.to_string())
            .send()
            .await
            .with_context(|| format!("put rule {}", rule.logical_id))?;
        for function in &rule.functions {
            let arn = queue_arns
                .get(function)
                .ok_or_else(|| anyhow!("no queue for {function}"))?;
            events
                .put_targets()
                .rule(&rule.logical_id)
                .event_bus_name(bus)
                .targets(
                    aws_sdk_eventbridge::types::Target::builder()
                        .id(function)
                        .arn(arn)
                        .build()
                        .context("rule target")?,
                )
                .send()
                .await
                .with_context(|| format!("put target {function} on {}", rule.logical_id))?;
        }
    }

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
    let (alerts_queue, alerts_arn) = create_queue(&sqs, "driftguard-alerts-inbox").await?;
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(alerts_arn)
        .send()
        .await
        .context("subscribe the inbox queue to the alert topic")?;

    let slack_secret_arn = aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(SLACK_SECRET)
        .secret_string(slack_webhook_url)
        .send()
        .await
        .context("create the Slack webhook secret")?
        .arn()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no ARN for the Slack secret"))?;

    aws_sdk_ssm::Client::new(sdk)
        .put_parameter()
        .name(&deployment.policy_parameter)
        .value(POLICY_EXAMPLE)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .with_context(|| format!("put the policy in {}", deployment.policy_parameter))?;

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

async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<(String, String)> {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .with_context(|| format!("create queue {name}"))?
        .queue_url()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no URL for queue {name}"))?;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .with_context(|| format!("ARN of queue {name}"))?
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .ok_or_else(|| anyhow!("no ARN for queue {name}"))?;
    Ok((url, arn))
}

fn key_schema(key: &KeySpec) -> Result<Vec<KeySchemaElement>> {
    let mut out = vec![KeySchemaElement::builder()
        .attribute_name(&key.hash)
        .key_type(KeyType::Hash)
        .build()
        .context("hash key")?];
    if let Some(range) = &key.range {
        out.push(
            KeySchemaElement::builder()
                .attribute_name(range)
                .key_type(KeyType::Range)
                .build()
                .context("range key")?,
        );
    }
    Ok(out)
}

async fn create_table(ddb: &aws_sdk_dynamodb::Client, name: &str, spec: &TableSpec) -> Result<()> {
    let mut create = ddb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&spec.key)?));
    for (attr, kind) in &spec.attributes {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attr)
                .attribute_type(ScalarAttributeType::from(kind.as_str()))
                .build()
                .context("attribute definition")?,
        );
    }
    for index in &spec.indexes {
        create = create.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&index.name)
                .set_key_schema(Some(key_schema(&index.key)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(index.projection.as_str()))
                        .build(),
                )
                .build()
                .context("global secondary index")?,
        );
    }
    create
        .send()
        .await
        .with_context(|| format!("create table {name}"))?;
    if let Some(ttl) = &spec.ttl_attribute {
        ddb.update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(ttl)
                    .enabled(true)
                    .build()
                    .context("TTL")?,
            )
            .send()
            .await
            .with_context(|| format!("enable TTL on {name}"))?;
    }
    Ok(())
}
