//! The remediate Lambda's SDK calls: every inverse call and its read-back
//! ([`CallApi`] on [`AwsClients`], matched exhaustively over [`Call`] both
//! ways: a new variant does not compile until it has both), the
//! [`PlanExecutor`] running all four strategies, and the [`TemplateSource`].
//!
//! Clients make one SDK attempt per call; the executor's own bounded
//! [`RetryPolicy`] retries (`remediation::executor`), so attempts do not multiply.
use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use serde_json::Value;

use super::errors::map_sdk_error;
use crate::domain::{Plan, Strategy};
use crate::error::{PortError, PortResult};
use crate::remediation::call::{
    Call, CallApi, DeleteBucketPolicy, DeleteRolePolicy, DetachRolePolicy, IpPermission, Observed,
    ObservedBlock, ObservedRule, PutBucketPolicy, PutBucketVersioning, PutParameter,
    PutPublicAccessBlock, PutRolePolicy, RevokeRules, SetQueueAttributes, SetTopicAttributes,
    UpdateFunctionConfiguration,
};
use crate::remediation::executor::{self, WaitPolicy};
use crate::remediation::{
    changeset, cloudcontrol, rollback, Execution, ExecutionError, PlanExecutor, ReadBack,
    StackTemplate, TemplateSource,
};
use crate::resilience::{retry, RetryPolicy};

/// The SDK clients remediation uses.
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub ec2: aws_sdk_ec2::Client,
    pub s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub cloudcontrol: aws_sdk_cloudcontrol::Client,
}

impl AwsClients {
    /// Clients that make one attempt per call: [`AwsExecutor`] retries with its
    /// own bounded policy, so SDK retries would multiply the attempts.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        let config = &super::with_resilience(config, 1);
        Self {
            ec2: aws_sdk_ec2::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(
                // Path-style works with emulators and with every bucket name.
                aws_sdk_s3::config::Builder::from(config)
                    .force_path_style(true)
                    .build(),
            ),
            iam: aws_sdk_iam::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            cloudformation: aws_sdk_cloudformation::Client::new(config),
            cloudcontrol: aws_sdk_cloudcontrol::Client::new(config),
        }
    }
}

// ------------------------------------------------------------ act

fn ip_permission(p: &IpPermission) -> aws_sdk_ec2::types::IpPermission {
    use aws_sdk_ec2::types::{IpRange, Ipv6Range, PrefixListId, UserIdGroupPair};
    let mut b = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol(&p.ip_protocol)
        .set_from_port(p.from_port)
        .set_to_port(p.to_port);
    for r in &p.ip_ranges {
        b = b.ip_ranges(IpRange::builder().cidr_ip(&r.cidr_ip).build());
    }
    for r in &p.ipv6_ranges {
        b = b.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(&r.cidr_ipv6).build());
    }
    for g in &p.user_id_group_pairs {
        b = b.user_id_group_pairs(UserIdGroupPair::builder().group_id(&g.group_id).build());
    }
    for l in &p.prefix_list_ids {
        b = b.prefix_list_ids(
            PrefixListId::builder()
                .prefix_list_id(&l.prefix_list_id)
                .build(),
        );
    }
    b.build()
}

fn permissions(r: &RevokeRules) -> Option<Vec<aws_sdk_ec2::types::IpPermission>> {
    Some(r.ip_permissions.iter().map(ip_permission).collect())
}

/// By rule ids when known (exact), else by permissions.
fn rule_ids(r: &RevokeRules) -> Option<Vec<String>> {
    (!r.security_group_rule_ids.is_empty()).then(|| r.security_group_rule_ids.clone())
}

impl AwsClients {
    async fn revoke(&self, r: &RevokeRules, egress: bool) -> PortResult<()> {
        let ids = rule_ids(r);
        let perms = if ids.is_some() { None } else { permissions(r) };
        if egress {
            self.ec2
                .revoke_security_group_egress()
                .group_id(&r.group_id)
                .set_security_group_rule_ids(ids)
                .set_ip_permissions(perms)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| map_sdk_error("ec2", "RevokeSecurityGroupEgress", e))
        } else {
            self.ec2
                .revoke_security_group_ingress()
                .group_id(&r.group_id)
                .set_security_group_rule_ids(ids)
                .set_ip_permissions(perms)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| map_sdk_error("ec2", "RevokeSecurityGroupIngress", e))
        }
    }

    async fn put_public_access_block(&self, c: &PutPublicAccessBlock) -> PortResult<()> {
        let want = &c.public_access_block_configuration;
        let block = aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
            .block_public_acls(want.block_public_acls)
            .ignore_public_acls(want.ignore_public_acls)
            .block_public_policy(want.block_public_policy)
            .restrict_public_buckets(want.restrict_public_buckets)
            .build();
        self.s3
            .put_public_access_block()
            .bucket(&c.bucket)
            .public_access_block_configuration(block)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| map_sdk_error("s3", "PutPublicAccessBlock", e))
    }

    async fn put_bucket_policy(&self, c: &PutBucketPolicy) -> PortResult<()> {
        self.s3
            .put_bucket_policy()
            .bucket(&c.bucket)
            .policy(&c.policy)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| map_sdk_error("s3", "PutBucketPolicy", e))
    }

    async fn delete_bucket_policy(&self, c: &DeleteBucketPolicy) -> PortResult<()> {
        self.s3
            .delete_bucket_policy()
            .bucket(&c.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| map_sdk_error("s3", "DeleteBucketPolicy", e))
    }

    async fn put_bucket_versioning(&self, c: &PutBucketVersioning) -> PortResult<()> {
        let status = c.versioning_configuration.status.as_str();
        let config = aws_sdk_s3::types::VersioningConfiguration::builder()
            .status(aws_sdk_s3::types::BucketVersioningStatus::from(status))
            .build();
        self.s3
            .put_bucket_versioning()
            .bucket(&c.bucket)
            .versioning_configuration(config)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| map_sdk_error("s3", "PutBucketVersioning", e))
    }

    async fn detach_role_policy(&self, c: &DetachRolePolicy) -> PortResult<()> {
        self.iam
            .detach_role_policy()
            .role_name(&c.role_name)
            .policy_arn(&c.policy_arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| map_sdk_error("iam", "DetachRolePolicy", e))
    }

    async fn put_role_policy(&self, c: &PutRolePolicy) -> PortResult<()> {
        self.iam
            .put_role_policy()
            .role_name(&c.role_name)
            .policy_name(&c.policy_name)
            .policy_document(&c.policy_document)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| map_sdk_error("iam", "PutRolePolicy", e))
    }

    async fn delete_role_policy(&self, c: &DeleteRolePolicy) -> PortResult<()> {
        self.iam
            .delete_role_policy()
            .role_name(&c.role_name)
            .policy_name(&c.policy_name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| map_sdk_error("iam", "DeleteRolePolicy", e))
    }

    async fn put_parameter(&self, c: &PutParameter) -> PortResult<()> {
        self.ssm
            .put_parameter()
            .name(&c.name)
            .value(&c.value)
            .r#type(aws_sdk_ssm::types::ParameterType::from(c.kind.as_str()))
            .overwrite(c.overwrite)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| map_sdk_error("ssm", "PutParameter", e))
    }

    async fn update_function_configuration(
        &self,
        c: &UpdateFunctionConfiguration,
    ) -> PortResult<()> {
        let env = c.environment.as_ref().map(|e| {
            let vars: HashMap<String, String> = e.variables.clone().into_iter().collect();
            aws_sdk_lambda::types::Environment::builder()
                .set_variables(Some(vars))
                .build()
        });
        self.lambda
            .update_function_configuration()
            .function_name(&c.function_name)
            .set_timeout(c.timeout)
            .set_memory_size(c.memory_size)
            .set_environment(env)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| map_sdk_error("lambda", "UpdateFunctionConfiguration", e))
    }

    async fn set_topic_attributes(&self, c: &SetTopicAttributes) -> PortResult<()> {
        self.sns
            .set_topic_attributes()
            .topic_arn(&c.topic_arn)
            .attribute_name(&c.attribute_name)
            .attribute_value(&c.attribute_value)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| map_sdk_error("sns", "SetTopicAttributes", e))
    }

    async fn set_queue_attributes(&self, c: &SetQueueAttributes) -> PortResult<()> {
        let attributes: HashMap<aws_sdk_sqs::types::QueueAttributeName, String> = c
            .attributes
            .iter()
            .map(|(k, v)| (k.as_str().into(), v.clone()))
            .collect();
        self.sqs
            .set_queue_attributes()
            .queue_url(&c.queue_url)
            .set_attributes(Some(attributes))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| map_sdk_error("sqs", "SetQueueAttributes", e))
    }
}

// ------------------------------------------------------------ read back

/// `NotFound` is an answer ("no policy", "no block"), not a failure.
fn absent<T>(r: PortResult<T>) -> PortResult<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(PortError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn observed_rule(rule: &aws_sdk_ec2::types::SecurityGroupRule) -> ObservedRule {
    ObservedRule {
        id: rule.security_group_rule_id().map(str::to_string),
        egress: rule.is_egress(),
        protocol: rule.ip_protocol().map(str::to_string),
        from_port: rule.from_port(),
        to_port: rule.to_port(),
        cidr_ipv4: rule.cidr_ipv4().map(str::to_string),
        cidr_ipv6: rule.cidr_ipv6().map(str::to_string),
        prefix_list_id: rule.prefix_list_id().map(str::to_string),
        group_id: rule
            .referenced_group_info()
            .and_then(|g| g.group_id())
            .map(str::to_string),
    }
}

impl AwsClients {
    async fn security_group_rules(&self, group: &str) -> PortResult<Observed> {
        let filter = aws_sdk_ec2::types::Filter::builder()
            .name("group-id")
            .values(group)
            .build();
        let out = self
            .ec2
            .describe_security_group_rules()
            .filters(filter)
            .send()
            .await
            .map_err(|e| map_sdk_error("ec2", "DescribeSecurityGroupRules", e))?;
        Ok(Observed::SecurityGroupRules(
            out.security_group_rules()
                .iter()
                .map(observed_rule)
                .collect(),
        ))
    }

    async fn public_access_block(&self, bucket: &str) -> PortResult<Observed> {
        let out = self
            .s3
            .get_public_access_block()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| map_sdk_error("s3", "GetPublicAccessBlock", e));
        let block = absent(out)?.and_then(|o| {
            o.public_access_block_configuration()
                .map(|g| ObservedBlock {
                    block_public_acls: g.block_public_acls(),
                    ignore_public_acls: g.ignore_public_acls(),
                    block_public_policy: g.block_public_policy(),
                    restrict_public_buckets: g.restrict_public_buckets(),
                })
        });
        Ok(Observed::PublicAccessBlock(block))
    }

    async fn bucket_policy(&self, bucket: &str) -> PortResult<Observed> {
        let out = self
            .s3
            .get_bucket_policy()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| map_sdk_error("s3", "GetBucketPolicy", e));
        Ok(Observed::BucketPolicy(
            absent(out)?.and_then(|o| o.policy().map(str::to_string)),
        ))
    }

    async fn bucket_versioning(&self, bucket: &str) -> PortResult<Observed> {
        let out = self
            .s3
            .get_bucket_versioning()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| map_sdk_error("s3", "GetBucketVersioning", e))?;
        Ok(Observed::BucketVersioning(
            out.status().map(|s| s.as_str().to_string()),
        ))
    }

    async fn attached_policies(&self, role: &str) -> PortResult<Observed> {
        let out = self
            .iam
            .list_attached_role_policies()
            .role_name(role)
            .send()
            .await
            .map_err(|e| map_sdk_error("iam", "ListAttachedRolePolicies", e))?;
        Ok(Observed::AttachedPolicies(
            out.attached_policies()
                .iter()
                .filter_map(|a| a.policy_arn().map(str::to_string))
                .collect(),
        ))
    }

    /// IAM returns the document URL-encoded (RFC 3986): decoded here.
    async fn role_policy(&self, role: &str, name: &str) -> PortResult<Observed> {
        let out = self
            .iam
            .get_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .map_err(|e| map_sdk_error("iam", "GetRolePolicy", e));
        Ok(Observed::RolePolicy(absent(out)?.map(|o| {
            let raw = o.policy_document();
            urlencoding::decode(raw)
                .map(|d| d.into_owned())
                .unwrap_or_else(|_| raw.to_string())
        })))
    }

    async fn parameter(&self, name: &str) -> PortResult<Observed> {
        let out = self
            .ssm
            .get_parameter()
            .name(name)
            .send()
            .await
            .map_err(|e| map_sdk_error("ssm", "GetParameter", e))?;
        Ok(Observed::Parameter(
            out.parameter()
                .and_then(|p| p.value())
                .unwrap_or_default()
                .to_string(),
        ))
    }

    async fn function_configuration(&self, function: &str) -> PortResult<Observed> {
        let out = self
            .lambda
            .get_function_configuration()
            .function_name(function)
            .send()
            .await
            .map_err(|e| map_sdk_error("lambda", "GetFunctionConfiguration", e))?;
        let variables: BTreeMap<String, String> = out
            .environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        Ok(Observed::FunctionConfiguration {
            timeout: out.timeout(),
            memory_size: out.memory_size(),
            variables,
        })
    }

    async fn topic_attributes(&self, topic: &str) -> PortResult<Observed> {
        let out = self
            .sns
            .get_topic_attributes()
            .topic_arn(topic)
            .send()
            .await
            .map_err(|e| map_sdk_error("sns", "GetTopicAttributes", e))?;
        Ok(Observed::TopicAttributes(
            out.attributes()
                .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        ))
    }

    async fn queue_attributes(&self, queue: &str) -> PortResult<Observed> {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .map_err(|e| map_sdk_error("sqs", "GetQueueAttributes", e))?;
        Ok(Observed::QueueAttributes(
            out.attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                        .collect()
                })
                .unwrap_or_default(),
        ))
    }
}

#[async_trait]
impl CallApi for AwsClients {
    async fn act(&self, call: &Call) -> PortResult<()> {
        match call {
            Call::RevokeSecurityGroupIngress(c) => self.revoke(c, false).await,
            Call::RevokeSecurityGroupEgress(c) => self.revoke(c, true).await,
            Call::PutPublicAccessBlock(c) => self.put_public_access_block(c).await,
            Call::PutBucketPolicy(c) => self.put_bucket_policy(c).await,
            Call::DeleteBucketPolicy(c) => self.delete_bucket_policy(c).await,
            Call::PutBucketVersioning(c) => self.put_bucket_versioning(c).await,
            Call::DetachRolePolicy(c) => self.detach_role_policy(c).await,
            Call::PutRolePolicy(c) => self.put_role_policy(c).await,
            Call::DeleteRolePolicy(c) => self.delete_role_policy(c).await,
            Call::PutParameter(c) => self.put_parameter(c).await,
            Call::UpdateFunctionConfiguration(c) => self.update_function_configuration(c).await,
            Call::SetTopicAttributes(c) => self.set_topic_attributes(c).await,
            Call::SetQueueAttributes(c) => self.set_queue_attributes(c).await,
        }
    }

    async fn observe(&self, call: &Call) -> PortResult<Observed> {
        match call {
            Call::RevokeSecurityGroupIngress(r) | Call::RevokeSecurityGroupEgress(r) => {
                self.security_group_rules(&r.group_id).await
            }
            Call::PutPublicAccessBlock(c) => self.public_access_block(&c.bucket).await,
            Call::PutBucketPolicy(c) => self.bucket_policy(&c.bucket).await,
            Call::DeleteBucketPolicy(c) => self.bucket_policy(&c.bucket).await,
            Call::PutBucketVersioning(c) => self.bucket_versioning(&c.bucket).await,
            Call::DetachRolePolicy(c) => self.attached_policies(&c.role_name).await,
            Call::PutRolePolicy(c) => self.role_policy(&c.role_name, &c.policy_name).await,
            Call::DeleteRolePolicy(c) => self.role_policy(&c.role_name, &c.policy_name).await,
            Call::PutParameter(c) => self.parameter(&c.name).await,
            Call::UpdateFunctionConfiguration(c) => {
                self.function_configuration(&c.function_name).await
            }
            Call::SetTopicAttributes(c) => self.topic_attributes(&c.topic_arn).await,
            Call::SetQueueAttributes(c) => self.queue_attributes(&c.queue_url).await,
        }
    }
}

// ------------------------------------------------------------ the executor

/// Runs plans against AWS.
#[derive(Debug, Clone)]
pub struct AwsExecutor {
    pub clients: AwsClients,
    pub retry: RetryPolicy,
    pub wait: WaitPolicy,
}

impl AwsExecutor {
    pub fn new(clients: AwsClients) -> Self {
        Self {
            clients,
            retry: RetryPolicy::default(),
            wait: WaitPolicy::default(),
        }
    }

    pub fn with_policies(mut self, retry: RetryPolicy, wait: WaitPolicy) -> Self {
        self.retry = retry;
        self.wait = wait;
        self
    }

    /// Cancel / continue / roll back, then wait a bounded time: verify judges the status.
    async fn rollback(&self, plan: &Plan) -> Result<Vec<String>, ExecutionError> {
        let cfn = &self.clients.cloudformation;
        if plan.calls.first().map(|c| c.operation.as_str()) == Some("CreateChangeSet") {
            return changeset::run(cfn, plan, &self.retry, &self.wait).await;
        }
        let mut notes = rollback::run(cfn, plan, &self.retry).await?;
        if let Some(stack) = plan
            .calls
            .first()
            .and_then(|c| c.parameters.get("StackName"))
            .and_then(Value::as_str)
        {
            let status = rollback::wait_for_stack(cfn, stack, &self.retry, &self.wait).await?;
            notes.push(format!(
                "stack {stack} is {}",
                status.as_deref().unwrap_or("gone")
            ));
        }
        Ok(notes)
    }
}

#[async_trait]
impl PlanExecutor for AwsExecutor {
    async fn execute(&self, plan: &Plan) -> Result<Execution, ExecutionError> {
        let cfn = &self.clients.cloudformation;
        let notes = match plan.strategy {
            Strategy::RevertDriftChangeSet => {
                changeset::run(cfn, plan, &self.retry, &self.wait).await?
            }
            Strategy::CloudControlPatch => {
                cloudcontrol::run(&self.clients.cloudcontrol, plan, &self.retry, &self.wait).await?
            }
            Strategy::StackRollback => self.rollback(plan).await?,
            Strategy::InverseCall => executor::run_calls(&self.clients, &self.retry, plan).await?,
        };
        Ok(Execution { notes })
    }

    async fn read_back(&self, plan: &Plan) -> PortResult<Option<ReadBack>> {
        if plan.strategy != Strategy::InverseCall {
            return Ok(None);
        }
        executor::read_back_calls(&self.clients, &self.retry, plan)
            .await
            .map(Some)
    }

    async fn stack_status(&self, stack: &str) -> PortResult<Option<String>> {
        rollback::stack_status(&self.clients.cloudformation, stack, &self.retry).await
    }
}

/// `GetTemplate` (Original stage) plus `DescribeStacks` parameter values.
#[derive(Debug, Clone)]
pub struct CfnTemplateSource {
    pub client: aws_sdk_cloudformation::Client,
    pub retry: RetryPolicy,
}

#[async_trait]
impl TemplateSource for CfnTemplateSource {
    async fn stack_template(&self, stack: &str) -> PortResult<StackTemplate> {
        let c = &self.client;
        let template = retry(&self.retry, "cloudformation:GetTemplate", || async {
            c.get_template()
                .stack_name(stack)
                .template_stage(aws_sdk_cloudformation::types::TemplateStage::Original)
                .send()
                .await
                .map_err(|e| map_sdk_error("cloudformation", "GetTemplate", e))
        })
        .await?;
        let stacks = retry(&self.retry, "cloudformation:DescribeStacks", || async {
            c.describe_stacks()
                .stack_name(stack)
                .send()
                .await
                .map_err(|e| map_sdk_error("cloudformation", "DescribeStacks", e))
        })
        .await?;
        let described = stacks.stacks().first();
        let parameters = described
            .map(|s| {
                s.parameters()
                    .iter()
                    .filter_map(|p| {
                        let value = p.resolved_value().or(p.parameter_value())?;
                        Some((p.parameter_key()?.to_string(), value.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(StackTemplate {
            body: template.template_body().unwrap_or_default().to_string(),
            parameters,
            stack_id: described
                .and_then(|s| s.stack_id())
                .unwrap_or_default()
                .to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::domain::PlannedCall;
    use aws_sdk_ssm::operation::get_parameter::GetParameterOutput;
    use aws_sdk_ssm::operation::put_parameter::PutParameterOutput;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use serde_json::json;

    fn clients_with_ssm(ssm: aws_sdk_ssm::Client) -> AwsClients {
        let none: [&Rule; 0] = [];
        AwsClients {
            ec2: mock_client!(aws_sdk_ec2, RuleMode::MatchAny, none),
            s3: mock_client!(aws_sdk_s3, RuleMode::MatchAny, none),
            iam: mock_client!(aws_sdk_iam, RuleMode::MatchAny, none),
            ssm,
            lambda: mock_client!(aws_sdk_lambda, RuleMode::MatchAny, none),
            sns: mock_client!(aws_sdk_sns, RuleMode::MatchAny, none),
            // aws-sdk-sqs has no `test-util` in shared's dev-dependencies; never called here.
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::Config::builder()
                    .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
                    .region(aws_sdk_sqs::config::Region::new("us-east-1"))
                    .build(),
            ),
            cloudformation: mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, none),
            cloudcontrol: mock_client!(aws_sdk_cloudcontrol, RuleMode::MatchAny, none),
        }
    }

    fn restore_plan() -> Plan {
        Plan {
            strategy: Strategy::InverseCall,
            calls: vec![PlannedCall::new(
                "ssm",
                "PutParameter",
                json!({"Name": "/app/level", "Value": "info", "Type": "String", "Overwrite": true}),
            )],
            expected: String::new(),
            skipped: vec![],
        }
    }

    const THROTTLED: &str = r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;

    #[tokio::test]
    async fn throttling_is_retried_with_backoff_then_succeeds() {
        let put = mock!(aws_sdk_ssm::Client::put_parameter)
            .match_requests(|r| r.value() == Some("info") && r.overwrite() == Some(true))
            .sequence()
            .http_status(400, Some(THROTTLED.into()))
            .times(2)
            .output(|| PutParameterOutput::builder().version(3).build())
            .build();
        let get = mock!(aws_sdk_ssm::Client::get_parameter).then_output(|| {
            GetParameterOutput::builder()
                .parameter(
                    aws_sdk_ssm::types::Parameter::builder()
                        .name("/app/level")
                        .value("info")
                        .build(),
                )
                .build()
        });
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&put, &get]);
        let executor = AwsExecutor::new(clients_with_ssm(ssm))
            .with_policies(RetryPolicy::quick(), WaitPolicy::quick());
        let done = executor.execute(&restore_plan()).await.unwrap();
        assert_eq!(put.num_calls(), 3, "two throttled attempts, then success");
        assert!(done.notes[0].contains("restored"));
        let rb = executor.read_back(&restore_plan()).await.unwrap().unwrap();
        assert!(rb.converged, "{}", rb.detail);
    }

    #[tokio::test]
    async fn throttling_that_never_ends_gives_up_after_bounded_attempts() {
        let put = mock!(aws_sdk_ssm::Client::put_parameter)
            .sequence()
            .http_status(400, Some(THROTTLED.into()))
            .repeatedly()
            .build();
        // One SDK attempt per call, as `AwsClients::new` configures: the executor's policy bounds it.
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&put], |c| c
            .retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled()));
        let executor = AwsExecutor::new(clients_with_ssm(ssm))
            .with_policies(RetryPolicy::quick(), WaitPolicy::quick());
        let err = executor.execute(&restore_plan()).await.unwrap_err();
        assert!(
            matches!(err, ExecutionError::Port(PortError::Throttled { .. })),
            "{err}"
        );
        assert_eq!(put.num_calls(), RetryPolicy::quick().max_attempts as usize);
    }
}
