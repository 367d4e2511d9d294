//! CloudFormation stacks in the emulator: wait for creation, read the
//! logical-to-physical id map.
use std::collections::HashMap;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Poll `stack` (every 100 ms, up to 10 s) until it is `CREATE_COMPLETE`.
/// Fails as soon as it leaves `*_IN_PROGRESS` any other way.
pub async fn wait_for_stack(cfn: &aws_sdk_cloudformation::Client, stack: &str) -> Result<()> {
    wait_for_status(cfn, stack, "CREATE_COMPLETE").await
}

/// Poll `stack` (every 100 ms, up to 10 s) until it is `want` (e.g.
/// `UPDATE_COMPLETE` after an update). Fails as soon as it leaves
/// `*_IN_PROGRESS` any other way.
pub async fn wait_for_status(
    cfn: &aws_sdk_cloudformation::Client,
    stack: &str,
    want: &str,
) -> Result<()> {
    for _ in 0..100 {
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("stack {stack} did not reach {want}")
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
        .with_context(|| format!("list resources of stack {stack}"))?;
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

/// The hot-fix scenario's stack (remediate_moto, handlers_moto): a web security
/// group allowing 443, a bucket with a full public access block, a parameter
/// whose value is `Ref Level` (default `info`) and a bare role, plus `extra`
/// resources (a JSON object of logical id → resource).
pub fn hotfix_template(prefix: &str, extra: serde_json::Value) -> String {
    let mut resources = serde_json::json!({
        "WebSG": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "web tier",
            "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"}]
        }},
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {
            "BucketName": format!("{prefix}-data"),
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": true, "IgnorePublicAcls": true,
                "BlockPublicPolicy": true, "RestrictPublicBuckets": true
            }
        }},
        "LevelParam": {"Type": "AWS::SSM::Parameter", "Properties": {
            "Name": format!("/{prefix}/level"), "Type": "String", "Value": {"Ref": "Level"}
        }},
        "AppRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
        }}}
    });
    if let (Some(all), Some(more)) = (resources.as_object_mut(), extra.as_object()) {
        all.extend(more.clone());
    }
    serde_json::json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {"Level": {"Type": "String", "Default": "info"}},
        "Resources": resources
    })
    .to_string()
}
