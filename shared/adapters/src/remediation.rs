//! The remediate Lambda's SDK calls: every inverse call and its read-back
//! ([`CallApi`] on [`AwsClients`], matched exhaustively over [`Call`] both
//! ways: a new variant does not compile until it has both), the
//! [`PlanExecutor`] running all four strategies (matched exhaustively over
//! [`StrategyCalls`]; the change sets, Cloud Control and rollbacks through
//! their ports in [`super::changesets`], `cloudcontrol` and
//! `rollbacks`). The stack's template is [`super::templates`].
//!
//! Clients make one SDK attempt per call; the executor's own bounded
//! [`RetryPolicy`] retries (`remediation::executor`), so attempts do not multiply.
use std::collections::{BTreeMap, HashMap};

use super::changesets::CfnChangeSets;
use super::cloudcontrol::AwsCloudControl;
use super::errors::map_sdk_error;
use super::rollbacks::CfnStackRollbacks;
use async_trait::async_trait;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use driftguard_core::ports::remediate::{
    CallApi, Execution, ExecutionError, Observed, ObservedBlock, ObservedRule, PlanExecutor,
    ReadBack,
};
use driftguard_core::remediate::call::{
    Call, DeleteBucketPolicy, DeleteRolePolicy, DetachRolePolicy, IpPermission, PutBucketPolicy,
    PutBucketVersioning, PutParameter, PutPublicAccessBlock, PutRolePolicy, RevokeRules,
    SetQueueAttributes, SetTopicAttributes, UpdateFunctionConfiguration,
};
use driftguard_core::remediate::executor::{self, WaitPolicy};
use driftguard_core::remediate::strategy_calls::{RollbackCall, StrategyCalls};
use driftguard_core::remediate::{changeset, cloudcontrol, rollback};
use driftguard_core::resilience::RetryPolicy;
use driftguard_model::domain::{Plan, Strategy};
use driftguard_model::error::{PortError, PortResult};

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

/// An act's SDK result: its output does not matter, its error is classified.
fn acted<T, E>(
    service: &'static str,
    operation: &'static str,
    result: Result<T, SdkError<E, HttpResponse>>,
) -> PortResult<()>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    result
        .map(|_| ())
        .map_err(|e| map_sdk_error(service, operation, e))
}

/// A read's SDK result, its error classified.
fn read<T, E>(
    service: &'static str,
    operation: &'static str,
    result: Result<T, SdkError<E, HttpResponse>>,
) -> PortResult<T>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    result.map_err(|e| map_sdk_error(service, operation, e))
}

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

/// By rule ids when known (exact), else by permissions.
type RuleTargets = (
    Option<Vec<String>>,
    Option<Vec<aws_sdk_ec2::types::IpPermission>>,
);

fn rule_targets(r: &RevokeRules) -> RuleTargets {
    if r.security_group_rule_ids.is_empty() {
        (
            None,
            Some(r.ip_permissions.iter().map(ip_permission).collect()),
        )
    } else {
        (Some(r.security_group_rule_ids.clone()), None)
    }
}

fn public_access_block(
    c: &PutPublicAccessBlock,
) -> aws_sdk_s3::types::PublicAccessBlockConfiguration {
    let want = &c.public_access_block_configuration;
    aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
        .block_public_acls(want.block_public_acls)
        .ignore_public_acls(want.ignore_public_acls)
        .block_public_policy(want.block_public_policy)
        .restrict_public_buckets(want.restrict_public_buckets)
        .build()
}

fn versioning(c: &PutBucketVersioning) -> aws_sdk_s3::types::VersioningConfiguration {
    let status = c.versioning_configuration.status.as_str();
    aws_sdk_s3::types::VersioningConfiguration::builder()
        .status(aws_sdk_s3::types::BucketVersioningStatus::from(status))
        .build()
}

fn environment(c: &UpdateFunctionConfiguration) -> Option<aws_sdk_lambda::types::Environment> {
    c.environment.as_ref().map(|e| {
        let vars: HashMap<String, String> = e.variables.clone().into_iter().collect();
        aws_sdk_lambda::types::Environment::builder()
            .set_variables(Some(vars))
            .build()
    })
}

fn queue_attributes(
    c: &SetQueueAttributes,
) -> HashMap<aws_sdk_sqs::types::QueueAttributeName, String> {
    c.attributes
        .iter()
        .map(|(k, v)| (k.as_str().into(), v.clone()))
        .collect()
}

impl AwsClients {
    async fn revoke(&self, r: &RevokeRules, egress: bool) -> PortResult<()> {
        let (ids, perms) = rule_targets(r);
        if egress {
            let req = self
                .ec2
                .revoke_security_group_egress()
                .group_id(&r.group_id);
            let req = req
                .set_security_group_rule_ids(ids)
                .set_ip_permissions(perms);
            return acted("ec2", "RevokeSecurityGroupEgress", req.send().await);
        }
        let req = self
            .ec2
            .revoke_security_group_ingress()
            .group_id(&r.group_id);
        let req = req
            .set_security_group_rule_ids(ids)
            .set_ip_permissions(perms);
        acted("ec2", "RevokeSecurityGroupIngress", req.send().await)
    }

    async fn act_s3(&self, call: &S3Act<'_>) -> PortResult<()> {
        let s3 = &self.s3;
        match call {
            S3Act::Block(c) => {
                let req = s3.put_public_access_block().bucket(&c.bucket);
                let req = req.public_access_block_configuration(public_access_block(c));
                acted("s3", "PutPublicAccessBlock", req.send().await)
            }
            S3Act::Policy(c) => {
                let req = s3.put_bucket_policy().bucket(&c.bucket).policy(&c.policy);
                acted("s3", "PutBucketPolicy", req.send().await)
            }
            S3Act::NoPolicy(c) => {
                let sent = s3.delete_bucket_policy().bucket(&c.bucket).send().await;
                acted("s3", "DeleteBucketPolicy", sent)
            }
            S3Act::Versioning(c) => {
                let req = s3.put_bucket_versioning().bucket(&c.bucket);
                let sent = req.versioning_configuration(versioning(c)).send().await;
                acted("s3", "PutBucketVersioning", sent)
            }
        }
    }

    async fn act_iam(&self, call: &IamAct<'_>) -> PortResult<()> {
        let iam = &self.iam;
        match call {
            IamAct::Detach(c) => {
                let req = iam.detach_role_policy().role_name(&c.role_name);
                acted(
                    "iam",
                    "DetachRolePolicy",
                    req.policy_arn(&c.policy_arn).send().await,
                )
            }
            IamAct::Put(c) => {
                let req = iam.put_role_policy().role_name(&c.role_name);
                let req = req
                    .policy_name(&c.policy_name)
                    .policy_document(&c.policy_document);
                acted("iam", "PutRolePolicy", req.send().await)
            }
            IamAct::Delete(c) => {
                let req = iam.delete_role_policy().role_name(&c.role_name);
                acted(
                    "iam",
                    "DeleteRolePolicy",
                    req.policy_name(&c.policy_name).send().await,
                )
            }
        }
    }

    async fn put_parameter(&self, c: &PutParameter) -> PortResult<()> {
        let kind = aws_sdk_ssm::types::ParameterType::from(c.kind.as_str());
        let req = self.ssm.put_parameter().name(&c.name).value(&c.value);
        let sent = req.r#type(kind).overwrite(c.overwrite).send().await;
        acted("ssm", "PutParameter", sent)
    }

    async fn update_function(&self, c: &UpdateFunctionConfiguration) -> PortResult<()> {
        let req = self.lambda.update_function_configuration();
        let req = req
            .function_name(&c.function_name)
            .set_environment(environment(c));
        let sent = req
            .set_timeout(c.timeout)
            .set_memory_size(c.memory_size)
            .send()
            .await;
        acted("lambda", "UpdateFunctionConfiguration", sent)
    }

    async fn set_topic(&self, c: &SetTopicAttributes) -> PortResult<()> {
        let req = self.sns.set_topic_attributes().topic_arn(&c.topic_arn);
        let req = req
            .attribute_name(&c.attribute_name)
            .attribute_value(&c.attribute_value);
        acted("sns", "SetTopicAttributes", req.send().await)
    }

    async fn set_queue(&self, c: &SetQueueAttributes) -> PortResult<()> {
        let req = self.sqs.set_queue_attributes().queue_url(&c.queue_url);
        let sent = req.set_attributes(Some(queue_attributes(c))).send().await;
        acted("sqs", "SetQueueAttributes", sent)
    }
}

/// The S3 acts, borrowed from their [`Call`]s.
enum S3Act<'c> {
    Block(&'c PutPublicAccessBlock),
    Policy(&'c PutBucketPolicy),
    NoPolicy(&'c DeleteBucketPolicy),
    Versioning(&'c PutBucketVersioning),
}

/// The IAM acts, borrowed from their [`Call`]s.
enum IamAct<'c> {
    Detach(&'c DetachRolePolicy),
    Put(&'c PutRolePolicy),
    Delete(&'c DeleteRolePolicy),
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

fn observed_block(g: &aws_sdk_s3::types::PublicAccessBlockConfiguration) -> ObservedBlock {
    ObservedBlock {
        block_public_acls: g.block_public_acls(),
        ignore_public_acls: g.ignore_public_acls(),
        block_public_policy: g.block_public_policy(),
        restrict_public_buckets: g.restrict_public_buckets(),
    }
}

fn strings(map: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    map.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// IAM returns policy documents URL-encoded (RFC 3986).
fn decoded(raw: &str) -> String {
    urlencoding::decode(raw)
        .map(|d| d.into_owned())
        .unwrap_or_else(|_| raw.to_string())
}

impl AwsClients {
    async fn security_group_rules(&self, group: &str) -> PortResult<Observed> {
        let filter = aws_sdk_ec2::types::Filter::builder()
            .name("group-id")
            .values(group);
        let req = self
            .ec2
            .describe_security_group_rules()
            .filters(filter.build());
        let out = read("ec2", "DescribeSecurityGroupRules", req.send().await)?;
        let rules = out.security_group_rules().iter().map(observed_rule);
        Ok(Observed::SecurityGroupRules(rules.collect()))
    }

    async fn s3_state(&self, call: &S3Act<'_>) -> PortResult<Observed> {
        let s3 = &self.s3;
        match call {
            S3Act::Block(c) => {
                let sent = s3.get_public_access_block().bucket(&c.bucket).send().await;
                let out = absent(read("s3", "GetPublicAccessBlock", sent))?;
                let block =
                    out.and_then(|o| o.public_access_block_configuration().map(observed_block));
                Ok(Observed::PublicAccessBlock(block))
            }
            S3Act::Policy(PutBucketPolicy { bucket, .. })
            | S3Act::NoPolicy(DeleteBucketPolicy { bucket }) => {
                let sent = s3.get_bucket_policy().bucket(bucket).send().await;
                let out = absent(read("s3", "GetBucketPolicy", sent))?;
                Ok(Observed::BucketPolicy(
                    out.and_then(|o| o.policy().map(str::to_string)),
                ))
            }
            S3Act::Versioning(c) => {
                let sent = s3.get_bucket_versioning().bucket(&c.bucket).send().await;
                let out = read("s3", "GetBucketVersioning", sent)?;
                Ok(Observed::BucketVersioning(
                    out.status().map(|s| s.as_str().to_string()),
                ))
            }
        }
    }

    async fn iam_state(&self, call: &IamAct<'_>) -> PortResult<Observed> {
        let iam = &self.iam;
        match call {
            IamAct::Detach(c) => {
                let sent = iam
                    .list_attached_role_policies()
                    .role_name(&c.role_name)
                    .send()
                    .await;
                let out = read("iam", "ListAttachedRolePolicies", sent)?;
                let arns = out
                    .attached_policies()
                    .iter()
                    .filter_map(|a| a.policy_arn());
                Ok(Observed::AttachedPolicies(
                    arns.map(str::to_string).collect(),
                ))
            }
            IamAct::Put(PutRolePolicy {
                role_name,
                policy_name,
                ..
            })
            | IamAct::Delete(DeleteRolePolicy {
                role_name,
                policy_name,
            }) => {
                let req = iam
                    .get_role_policy()
                    .role_name(role_name)
                    .policy_name(policy_name);
                let out = absent(read("iam", "GetRolePolicy", req.send().await))?;
                Ok(Observed::RolePolicy(
                    out.map(|o| decoded(o.policy_document())),
                ))
            }
        }
    }

    async fn parameter(&self, name: &str) -> PortResult<Observed> {
        let out = read(
            "ssm",
            "GetParameter",
            self.ssm.get_parameter().name(name).send().await,
        )?;
        let value = out.parameter().and_then(|p| p.value()).unwrap_or_default();
        Ok(Observed::Parameter(value.to_string()))
    }

    async fn function_configuration(&self, function: &str) -> PortResult<Observed> {
        let req = self
            .lambda
            .get_function_configuration()
            .function_name(function);
        let out = read("lambda", "GetFunctionConfiguration", req.send().await)?;
        Ok(Observed::FunctionConfiguration {
            timeout: out.timeout(),
            memory_size: out.memory_size(),
            variables: strings(out.environment().and_then(|e| e.variables())),
        })
    }

    async fn topic_attributes(&self, topic: &str) -> PortResult<Observed> {
        let sent = self
            .sns
            .get_topic_attributes()
            .topic_arn(topic)
            .send()
            .await;
        let out = read("sns", "GetTopicAttributes", sent)?;
        Ok(Observed::TopicAttributes(strings(out.attributes())))
    }

    async fn queue_attributes(&self, queue: &str) -> PortResult<Observed> {
        let all = aws_sdk_sqs::types::QueueAttributeName::All;
        let req = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue)
            .attribute_names(all);
        let out = read("sqs", "GetQueueAttributes", req.send().await)?;
        let attributes = out.attributes().into_iter().flatten();
        Ok(Observed::QueueAttributes(
            attributes
                .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                .collect(),
        ))
    }
}

#[async_trait]
impl CallApi for AwsClients {
    async fn act(&self, call: &Call) -> PortResult<()> {
        match call {
            Call::RevokeSecurityGroupIngress(c) => self.revoke(c, false).await,
            Call::RevokeSecurityGroupEgress(c) => self.revoke(c, true).await,
            Call::PutPublicAccessBlock(c) => self.act_s3(&S3Act::Block(c)).await,
            Call::PutBucketPolicy(c) => self.act_s3(&S3Act::Policy(c)).await,
            Call::DeleteBucketPolicy(c) => self.act_s3(&S3Act::NoPolicy(c)).await,
            Call::PutBucketVersioning(c) => self.act_s3(&S3Act::Versioning(c)).await,
            Call::DetachRolePolicy(c) => self.act_iam(&IamAct::Detach(c)).await,
            Call::PutRolePolicy(c) => self.act_iam(&IamAct::Put(c)).await,
            Call::DeleteRolePolicy(c) => self.act_iam(&IamAct::Delete(c)).await,
            Call::PutParameter(c) => self.put_parameter(c).await,
            Call::UpdateFunctionConfiguration(c) => self.update_function(c).await,
            Call::SetTopicAttributes(c) => self.set_topic(c).await,
            Call::SetQueueAttributes(c) => self.set_queue(c).await,
        }
    }

    async fn observe(&self, call: &Call) -> PortResult<Observed> {
        match call {
            Call::RevokeSecurityGroupIngress(r) | Call::RevokeSecurityGroupEgress(r) => {
                self.security_group_rules(&r.group_id).await
            }
            Call::PutPublicAccessBlock(c) => self.s3_state(&S3Act::Block(c)).await,
            Call::PutBucketPolicy(c) => self.s3_state(&S3Act::Policy(c)).await,
            Call::DeleteBucketPolicy(c) => self.s3_state(&S3Act::NoPolicy(c)).await,
            Call::PutBucketVersioning(c) => self.s3_state(&S3Act::Versioning(c)).await,
            Call::DetachRolePolicy(c) => self.iam_state(&IamAct::Detach(c)).await,
            Call::PutRolePolicy(c) => self.iam_state(&IamAct::Put(c)).await,
            Call::DeleteRolePolicy(c) => self.iam_state(&IamAct::Delete(c)).await,
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

    fn change_sets(&self) -> CfnChangeSets {
        CfnChangeSets::new(self.clients.cloudformation.clone(), self.retry)
    }

    fn rollbacks(&self) -> CfnStackRollbacks {
        CfnStackRollbacks::new(self.clients.cloudformation.clone())
    }

    pub fn with_policies(mut self, retry: RetryPolicy, wait: WaitPolicy) -> Self {
        self.retry = retry;
        self.wait = wait;
        self
    }

    /// Cancel / continue / roll back, then wait a bounded time: verify judges the status.
    async fn rollback(&self, call: &RollbackCall) -> Result<Vec<String>, ExecutionError> {
        let api = self.rollbacks();
        let mut notes = rollback::run(&api, call, &self.retry).await?;
        let stack = call.stack();
        let status = rollback::wait_for_stack(&api, stack, &self.retry, &self.wait).await?;
        notes.push(format!(
            "stack {stack} is {}",
            status.as_deref().unwrap_or("gone")
        ));
        Ok(notes)
    }
}

#[async_trait]
impl PlanExecutor for AwsExecutor {
    async fn execute(&self, plan: &Plan) -> Result<Execution, ExecutionError> {
        let typed = StrategyCalls::of(plan).map_err(|e| ExecutionError::Refused(e.to_string()))?;
        let notes = match typed {
            StrategyCalls::Inverse(calls) => {
                executor::run_typed(&self.clients, &self.retry, &calls).await?
            }
            // The change-set logic reads its typed calls from the plan itself
            // (`changeset::request_of`), as `driftguard rollback` does.
            StrategyCalls::ChangeSet(_) => {
                changeset::run(&self.change_sets(), plan, &self.wait).await?
            }
            StrategyCalls::CloudControl(update) => {
                let api = AwsCloudControl::new(self.clients.cloudcontrol.clone());
                cloudcontrol::run(&api, &update, &self.retry, &self.wait).await?
            }
            StrategyCalls::Rollback(call) => self.rollback(&call).await?,
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
        rollback::stack_status(&self.rollbacks(), stack, &self.retry).await
    }

    async fn change_set_reverts(&self, plan: &Plan) -> Result<Option<Vec<String>>, ExecutionError> {
        let ids = changeset::reverted_logical_ids(
            &self.change_sets(),
            plan,
            &self.wait,
            chrono::Utc::now(),
        )
        .await?;
        Ok(Some(ids))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_ssm::operation::get_parameter::GetParameterOutput;
    use aws_sdk_ssm::operation::put_parameter::PutParameterOutput;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use driftguard_model::domain::PlannedCall;
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
