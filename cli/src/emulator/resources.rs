//! Resources on the emulator, one call sequence each: the ticket table (as
//! `template.yaml` declares it), event buses, SQS queues, EventBridge rules
//! routed to queues (moto delivers to SQS targets; it cannot invoke Lambdas),
//! CloudFormation stacks.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use serde_json::Value;

use super::deployment::{Deployment, KeySpec, TableSpec};

/// How long a stack may take to reach the status waited for.
const STACK_WITHIN: Duration = Duration::from_secs(30);

/// The ticket table named `name`, with the keys, index and TTL `template.yaml` declares.
pub async fn create_ticket_table(ddb: &aws_sdk_dynamodb::Client, name: &str) -> Result<()> {
    let deployment = Deployment::from_builtin_template().context("read template.yaml")?;
    create_table(ddb, name, &deployment.table).await
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

/// A table as `spec` declares it (keys, attributes, indexes), then its TTL.
pub async fn create_table(
    ddb: &aws_sdk_dynamodb::Client,
    name: &str,
    spec: &TableSpec,
) -> Result<()> {
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
    match &spec.ttl_attribute {
        Some(ttl) => enable_ttl(ddb, name, ttl).await,
        None => Ok(()),
    }
}

async fn enable_ttl(ddb: &aws_sdk_dynamodb::Client, table: &str, attribute: &str) -> Result<()> {
    ddb.update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(attribute)
                .enabled(true)
                .build()
                .context("TTL")?,
        )
        .send()
        .await
        .with_context(|| format!("enable TTL on {table}"))?;
    Ok(())
}

/// A custom event bus; its ARN.
pub async fn create_bus(events: &aws_sdk_eventbridge::Client, name: &str) -> Result<String> {
    events
        .create_event_bus()
        .name(name)
        .send()
        .await
        .with_context(|| format!("create event bus {name}"))?
        .event_bus_arn()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("no ARN for bus {name}"))
}

/// An SQS queue; its URL and ARN.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<(String, String)> {
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

/// The rule `rule` on `bus` with `pattern`.
pub async fn put_rule(
    events: &aws_sdk_eventbridge::Client,
    bus: &str,
    rule: &str,
    pattern: &Value,
) -> Result<()> {
    events
        .put_rule()
        .name(rule)
        .event_bus_name(bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .with_context(|| format!("put rule {rule}"))?;
    Ok(())
}

/// The target `id` (`arn`) on the rule `rule` of `bus`.
pub async fn put_target(
    events: &aws_sdk_eventbridge::Client,
    bus: &str,
    rule: &str,
    id: &str,
    arn: &str,
) -> Result<()> {
    events
        .put_targets()
        .rule(rule)
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id(id)
                .arn(arn)
                .build()
                .context("rule target")?,
        )
        .send()
        .await
        .with_context(|| format!("put target {id} on {rule}"))?;
    Ok(())
}

/// A queue named `rule` and a rule `rule` on `bus` matching `pattern` that
/// targets it; the queue's URL.
pub async fn route_to_queue(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    bus: &str,
    rule: &str,
    pattern: &Value,
) -> Result<String> {
    let (url, arn) = create_queue(sqs, rule).await?;
    put_rule(events, bus, rule, pattern).await?;
    put_target(events, bus, rule, "queue", &arn).await?;
    Ok(url)
}

/// Receive (and delete) messages until `expect` arrived or `timeout` passed;
/// bodies parsed as JSON (EventBridge delivers the full envelope). Returns what
/// arrived, possibly fewer (or more) than `expect`.
pub async fn receive_json(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    expect: usize,
    timeout: Duration,
) -> Result<Vec<Value>> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    loop {
        let resp = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(if out.len() >= expect { 0 } else { 1 })
            .send()
            .await
            .context("receive message")?;
        let messages = resp.messages();
        for m in messages {
            let body = m.body().unwrap_or_default();
            out.push(
                serde_json::from_str(body)
                    .with_context(|| format!("message body is not JSON: {body}"))?,
            );
            if let Some(handle) = m.receipt_handle() {
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .context("delete message")?;
            }
        }
        if (messages.is_empty() && out.len() >= expect) || Instant::now() >= deadline {
            return Ok(out);
        }
    }
}

/// Create the stack `name` from `template` (with `CAPABILITY_IAM`, for the
/// templates that declare roles) and wait until it is `CREATE_COMPLETE`.
pub async fn create_stack(
    cfn: &aws_sdk_cloudformation::Client,
    name: &str,
    template: &str,
) -> Result<()> {
    cfn.create_stack()
        .stack_name(name)
        .template_body(template)
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityIam)
        .send()
        .await
        .with_context(|| format!("create stack {name}"))?;
    wait_for_stack(cfn, name).await
}

/// Poll `stack` (every 100 ms, up to 30 s) until it is `CREATE_COMPLETE`.
/// Fails as soon as it leaves `*_IN_PROGRESS` any other way.
pub async fn wait_for_stack(cfn: &aws_sdk_cloudformation::Client, stack: &str) -> Result<()> {
    wait_for_status(cfn, stack, "CREATE_COMPLETE").await
}

/// Poll `stack` (every 100 ms, up to 30 s) until it is `want` (e.g.
/// `UPDATE_COMPLETE` after an update). Fails as soon as it leaves
/// `*_IN_PROGRESS` any other way.
pub async fn wait_for_status(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
    want: &str,
) -> Result<()> {
    let deadline = Instant::now() + STACK_WITHIN;
    loop {
        let out = cfn
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .with_context(|| format!("describe stack {stack}"))?;
        let status = out
            .stacks()
            .first()
            .and_then(|s| s.stack_status())
            .with_context(|| format!("no status for stack {stack}"))?
            .as_str();
        if status == want {
            return Ok(());
        }
        if !status.ends_with("IN_PROGRESS") {
            bail!("stack {stack}: {status}");
        }
        if Instant::now() >= deadline {
            bail!("stack {stack} did not reach {want}: still {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The stack's resources as logical id → physical id (empty when the
/// resource has none yet).
pub async fn physical_ids(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
) -> Result<HashMap<String, String>> {
    let out = cfn
        .list_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .with_context(|| format!("list the resources of stack {stack}"))?;
    Ok(out
        .stack_resource_summaries()
        .iter()
        .filter_map(|r| {
            Some((
                r.logical_resource_id()?.to_string(),
                r.physical_resource_id().unwrap_or_default().to_string(),
            ))
        })
        .collect())
}

/// Every rule of security group `group` (inbound and outbound), read back
/// through EC2.
pub async fn group_rules(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
) -> Result<Vec<aws_sdk_ec2::types::SecurityGroupRule>> {
    let out = ec2
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
    Ok(out.security_group_rules().to_vec())
}

/// The inbound rules of security group `group` ([`group_rules`]).
pub async fn ingress_rules(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
) -> Result<Vec<aws_sdk_ec2::types::SecurityGroupRule>> {
    let mut rules = group_rules(ec2, group).await?;
    rules.retain(|r| r.is_egress() == Some(false));
    Ok(rules)
}

/// [`ingress_rules`] as (from port, IPv4 CIDR); -1 for a rule without a port.
pub async fn ingress(ec2: &aws_sdk_ec2::Client, group: &str) -> Result<Vec<(i32, String)>> {
    Ok(ingress_rules(ec2, group)
        .await?
        .iter()
        .map(|r| {
            (
                r.from_port().unwrap_or(-1),
                r.cidr_ipv4().unwrap_or_default().to_string(),
            )
        })
        .collect())
}
