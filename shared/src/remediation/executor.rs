//! Executes plans through the AWS SDK, every call with bounded retries
//! (backoff, jitter, per-attempt timeout), and reads resources back.
use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::Value;

use super::{changeset, cloudcontrol, rollback, Execution, ExecutionError, PlanExecutor, ReadBack};
use super::{StackTemplate, TemplateSource};
use crate::domain::{Plan, PlannedCall, Strategy};
use crate::error::{PortError, PortResult};
use crate::resilience::{retry, RetryPolicy};

/// Classify an SDK error so callers can retry, degrade or fail.
pub fn classify<E, R>(
    service: &'static str,
    operation: &'static str,
    err: SdkError<E, R>,
) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let message = DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            PortError::Transient {
                service,
                operation,
                message,
            }
        }
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or_default();
            match code {
                "Throttling"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "TooManyRequestsException"
                | "ProvisionedThroughputExceededException"
                | "RequestThrottled"
                | "SlowDown"
                | "ThrottledException"
                | "RequestThrottledException" => PortError::Throttled {
                    service,
                    operation,
                    message,
                },
                "ConditionalCheckFailedException" | "TransactionConflict" => PortError::Conflict {
                    what: format!("{service}:{operation}"),
                    message,
                },
                "InternalError"
                | "InternalFailure"
                | "ServiceUnavailable"
                | "InternalServerError"
                | "InternalServiceError"
                | "ServiceUnavailableException" => PortError::Transient {
                    service,
                    operation,
                    message,
                },
                "NotImplemented" | "UnsupportedActionException" | "UnsupportedOperation" => {
                    PortError::Unsupported {
                        service,
                        operation,
                        message,
                    }
                }
                c if c.contains("NotFound")
                    || c.starts_with("NoSuch")
                    || c == "ParameterNotFound" =>
                {
                    PortError::NotFound {
                        what: format!("{service}:{operation}: {message}"),
                    }
                }
                _ => PortError::Failed {
                    service,
                    operation,
                    message,
                },
            }
        }
        _ => PortError::Failed {
            service,
            operation,
            message,
        },
    }
}

/// How long to wait for asynchronous operations (change sets, Cloud Control
/// requests, stack rollbacks).
#[derive(Debug, Clone, Copy)]
pub struct WaitPolicy {
    pub interval: Duration,
    pub max_polls: u32,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(3),
            max_polls: 40,
        }
    }
}

impl WaitPolicy {
    pub fn quick() -> Self {
        Self {
            interval: Duration::from_millis(1),
            max_polls: 5,
        }
    }
}

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
        let config = &crate::adapters::aws::with_resilience(config, 1);
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

    fn change_sets(&self) -> crate::adapters::aws::changesets::CfnChangeSets {
        crate::adapters::aws::changesets::CfnChangeSets::new(
            self.clients.cloudformation.clone(),
            self.retry,
        )
    }

    pub fn with_policies(mut self, retry: RetryPolicy, wait: WaitPolicy) -> Self {
        self.retry = retry;
        self.wait = wait;
        self
    }
}

pub(crate) fn text(params: &Value, key: &str) -> Result<String, ExecutionError> {
    match params.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::Bool(b)) => Ok(b.to_string()),
        _ => Err(ExecutionError::Refused(format!(
            "planned call lacks `{key}`"
        ))),
    }
}

fn strings(params: &Value, key: &str) -> Vec<String> {
    params
        .get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn int(v: &Value, key: &str) -> Option<i32> {
    v.get(key)
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
}

fn ip_permissions(params: &Value) -> Vec<aws_sdk_ec2::types::IpPermission> {
    use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, PrefixListId, UserIdGroupPair};
    let list = |p: &Value, key: &str, inner: &str| -> Vec<String> {
        p.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.get(inner).and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    params
        .get("IpPermissions")
        .and_then(Value::as_array)
        .map(|perms| {
            perms
                .iter()
                .map(|p| {
                    let mut b = IpPermission::builder()
                        .set_ip_protocol(
                            p.get("IpProtocol")
                                .and_then(Value::as_str)
                                .map(str::to_string),
                        )
                        .set_from_port(int(p, "FromPort"))
                        .set_to_port(int(p, "ToPort"));
                    for cidr in list(p, "IpRanges", "CidrIp") {
                        b = b.ip_ranges(IpRange::builder().cidr_ip(cidr).build());
                    }
                    for cidr in list(p, "Ipv6Ranges", "CidrIpv6") {
                        b = b.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(cidr).build());
                    }
                    for group in list(p, "UserIdGroupPairs", "GroupId") {
                        b = b.user_id_group_pairs(
                            UserIdGroupPair::builder().group_id(group).build(),
                        );
                    }
                    for prefix in list(p, "PrefixListIds", "PrefixListId") {
                        b = b.prefix_list_ids(
                            PrefixListId::builder().prefix_list_id(prefix).build(),
                        );
                    }
                    b.build()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A revoke of a rule that is already gone is the state we wanted.
fn already_gone(e: &PortError) -> bool {
    matches!(e, PortError::NotFound { .. })
        || matches!(e, PortError::Failed { message, .. } if message.contains("InvalidPermission.NotFound"))
}

impl AwsExecutor {
    /// One inverse call.
    async fn call(&self, call: &PlannedCall) -> Result<String, ExecutionError> {
        let p = &call.parameters;
        let c = &self.clients;
        let r = &self.retry;
        let api = format!("{}:{}", call.service, call.operation);
        match (call.service.as_str(), call.operation.as_str()) {
            ("ec2", op @ ("RevokeSecurityGroupIngress" | "RevokeSecurityGroupEgress")) => {
                let group = text(p, "GroupId")?;
                let rule_ids = strings(p, "SecurityGroupRuleIds");
                let perms = ip_permissions(p);
                let egress = op == "RevokeSecurityGroupEgress";
                let result = retry(r, "ec2:RevokeSecurityGroupRule", || async {
                    if egress {
                        let mut req = c.ec2.revoke_security_group_egress().group_id(&group);
                        req = if rule_ids.is_empty() {
                            req.set_ip_permissions(Some(perms.clone()))
                        } else {
                            req.set_security_group_rule_ids(Some(rule_ids.clone()))
                        };
                        req.send()
                            .await
                            .map(|_| ())
                            .map_err(|e| classify("ec2", "RevokeSecurityGroupEgress", e))
                    } else {
                        let mut req = c.ec2.revoke_security_group_ingress().group_id(&group);
                        req = if rule_ids.is_empty() {
                            req.set_ip_permissions(Some(perms.clone()))
                        } else {
                            req.set_security_group_rule_ids(Some(rule_ids.clone()))
                        };
                        req.send()
                            .await
                            .map(|_| ())
                            .map_err(|e| classify("ec2", "RevokeSecurityGroupIngress", e))
                    }
                })
                .await;
                match result {
                    Ok(()) => Ok(format!("{api} {group}: revoked")),
                    Err(e) if already_gone(&e) => {
                        Ok(format!("{api} {group}: rule already gone ({e})"))
                    }
                    Err(e) => Err(e.into()),
                }
            }
            ("s3", "PutPublicAccessBlock") => {
                let bucket = text(p, "Bucket")?;
                let cfg = &p["PublicAccessBlockConfiguration"];
                let flag = |k: &str| super::planner::truthy(cfg.get(k));
                let block = aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                    .block_public_acls(flag("BlockPublicAcls"))
                    .ignore_public_acls(flag("IgnorePublicAcls"))
                    .block_public_policy(flag("BlockPublicPolicy"))
                    .restrict_public_buckets(flag("RestrictPublicBuckets"))
                    .build();
                retry(r, "s3:PutPublicAccessBlock", || async {
                    c.s3.put_public_access_block()
                        .bucket(&bucket)
                        .public_access_block_configuration(block.clone())
                        .send()
                        .await
                        .map_err(|e| classify("s3", "PutPublicAccessBlock", e))
                })
                .await?;
                Ok(format!("{api} {bucket}: restored"))
            }
            ("s3", "PutBucketPolicy") => {
                let bucket = text(p, "Bucket")?;
                let policy = text(p, "Policy")?;
                retry(r, "s3:PutBucketPolicy", || async {
                    c.s3.put_bucket_policy()
                        .bucket(&bucket)
                        .policy(&policy)
                        .send()
                        .await
                        .map_err(|e| classify("s3", "PutBucketPolicy", e))
                })
                .await?;
                Ok(format!("{api} {bucket}: restored"))
            }
            ("s3", "DeleteBucketPolicy") => {
                let bucket = text(p, "Bucket")?;
                retry(r, "s3:DeleteBucketPolicy", || async {
                    c.s3.delete_bucket_policy()
                        .bucket(&bucket)
                        .send()
                        .await
                        .map_err(|e| classify("s3", "DeleteBucketPolicy", e))
                })
                .await?;
                Ok(format!("{api} {bucket}: deleted"))
            }
            ("iam", "DetachRolePolicy") => {
                let role = text(p, "RoleName")?;
                let arn = text(p, "PolicyArn")?;
                let result = retry(r, "iam:DetachRolePolicy", || async {
                    c.iam
                        .detach_role_policy()
                        .role_name(&role)
                        .policy_arn(&arn)
                        .send()
                        .await
                        .map_err(|e| classify("iam", "DetachRolePolicy", e))
                })
                .await;
                match result {
                    Ok(_) => Ok(format!("{api} {role} {arn}: detached")),
                    Err(e) if already_gone(&e) => {
                        Ok(format!("{api} {role} {arn}: already detached"))
                    }
                    Err(e) => Err(e.into()),
                }
            }
            ("iam", "PutRolePolicy") => {
                let role = text(p, "RoleName")?;
                let name = text(p, "PolicyName")?;
                let doc = text(p, "PolicyDocument")?;
                retry(r, "iam:PutRolePolicy", || async {
                    c.iam
                        .put_role_policy()
                        .role_name(&role)
                        .policy_name(&name)
                        .policy_document(&doc)
                        .send()
                        .await
                        .map_err(|e| classify("iam", "PutRolePolicy", e))
                })
                .await?;
                Ok(format!("{api} {role}/{name}: restored"))
            }
            ("iam", "DeleteRolePolicy") => {
                let role = text(p, "RoleName")?;
                let name = text(p, "PolicyName")?;
                let result = retry(r, "iam:DeleteRolePolicy", || async {
                    c.iam
                        .delete_role_policy()
                        .role_name(&role)
                        .policy_name(&name)
                        .send()
                        .await
                        .map_err(|e| classify("iam", "DeleteRolePolicy", e))
                })
                .await;
                match result {
                    Ok(_) => Ok(format!("{api} {role}/{name}: deleted")),
                    Err(e) if already_gone(&e) => Ok(format!("{api} {role}/{name}: already gone")),
                    Err(e) => Err(e.into()),
                }
            }
            ("ssm", "PutParameter") => {
                let name = text(p, "Name")?;
                let value = text(p, "Value")?;
                let kind = aws_sdk_ssm::types::ParameterType::from(text(p, "Type")?.as_str());
                retry(r, "ssm:PutParameter", || async {
                    c.ssm
                        .put_parameter()
                        .name(&name)
                        .value(&value)
                        .r#type(kind.clone())
                        .overwrite(true)
                        .send()
                        .await
                        .map_err(|e| classify("ssm", "PutParameter", e))
                })
                .await?;
                Ok(format!("{api} {name}: restored"))
            }
            ("lambda", "UpdateFunctionConfiguration") => {
                let function = text(p, "FunctionName")?;
                let env = p.get("Environment").map(|e| {
                    let vars: HashMap<String, String> = e
                        .get("Variables")
                        .and_then(Value::as_object)
                        .map(|o| {
                            o.iter()
                                .map(|(k, v)| {
                                    (k.clone(), v.as_str().unwrap_or_default().to_string())
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    aws_sdk_lambda::types::Environment::builder()
                        .set_variables(Some(vars))
                        .build()
                });
                retry(r, "lambda:UpdateFunctionConfiguration", || async {
                    c.lambda
                        .update_function_configuration()
                        .function_name(&function)
                        .set_timeout(int(p, "Timeout"))
                        .set_memory_size(int(p, "MemorySize"))
                        .set_environment(env.clone())
                        .send()
                        .await
                        .map_err(|e| classify("lambda", "UpdateFunctionConfiguration", e))
                })
                .await?;
                Ok(format!("{api} {function}: restored"))
            }
            ("sns", "SetTopicAttributes") => {
                let topic = text(p, "TopicArn")?;
                let name = text(p, "AttributeName")?;
                let value = text(p, "AttributeValue")?;
                retry(r, "sns:SetTopicAttributes", || async {
                    c.sns
                        .set_topic_attributes()
                        .topic_arn(&topic)
                        .attribute_name(&name)
                        .attribute_value(&value)
                        .send()
                        .await
                        .map_err(|e| classify("sns", "SetTopicAttributes", e))
                })
                .await?;
                Ok(format!("{api} {topic} {name}: restored"))
            }
            ("sqs", "SetQueueAttributes") => {
                let queue = text(p, "QueueUrl")?;
                let attributes: HashMap<aws_sdk_sqs::types::QueueAttributeName, String> = p
                    .get("Attributes")
                    .and_then(Value::as_object)
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| {
                                (
                                    k.as_str().into(),
                                    v.as_str().unwrap_or_default().to_string(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                retry(r, "sqs:SetQueueAttributes", || async {
                    c.sqs
                        .set_queue_attributes()
                        .queue_url(&queue)
                        .set_attributes(Some(attributes.clone()))
                        .send()
                        .await
                        .map_err(|e| classify("sqs", "SetQueueAttributes", e))
                })
                .await?;
                Ok(format!("{api} {queue}: restored"))
            }
            _ => Err(ExecutionError::Refused(format!(
                "the executor does not know {api}"
            ))),
        }
    }

    /// Read one inverse call's resource back.
    async fn read_back_call(&self, call: &PlannedCall) -> PortResult<ReadBack> {
        let p = &call.parameters;
        let c = &self.clients;
        let r = &self.retry;
        let s = |k: &str| {
            p.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        match (call.service.as_str(), call.operation.as_str()) {
            ("ec2", op @ ("RevokeSecurityGroupIngress" | "RevokeSecurityGroupEgress")) => {
                let group = s("GroupId");
                let egress = op == "RevokeSecurityGroupEgress";
                let out = retry(r, "ec2:DescribeSecurityGroupRules", || async {
                    c.ec2
                        .describe_security_group_rules()
                        .filters(
                            aws_sdk_ec2::types::Filter::builder()
                                .name("group-id")
                                .values(&group)
                                .build(),
                        )
                        .send()
                        .await
                        .map_err(|e| classify("ec2", "DescribeSecurityGroupRules", e))
                })
                .await?;
                let ids = strings(p, "SecurityGroupRuleIds");
                let perms = p
                    .get("IpPermissions")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let still: Vec<String> = out
                    .security_group_rules()
                    .iter()
                    .filter(|rule| rule.is_egress() == Some(egress))
                    .filter(|rule| {
                        rule.security_group_rule_id()
                            .is_some_and(|id| ids.iter().any(|i| i == id))
                            || perms.iter().any(|perm| rule_matches(rule, perm))
                    })
                    .map(|rule| rule.security_group_rule_id().unwrap_or("?").to_string())
                    .collect();
                Ok(ReadBack {
                    converged: still.is_empty(),
                    detail: if still.is_empty() {
                        format!(
                            "ec2:DescribeSecurityGroupRules on {group}: the revoked rule is gone"
                        )
                    } else {
                        format!(
                            "ec2:DescribeSecurityGroupRules on {group}: still present: {}",
                            still.join(", ")
                        )
                    },
                })
            }
            ("s3", "PutPublicAccessBlock") => {
                let bucket = s("Bucket");
                let out = retry(r, "s3:GetPublicAccessBlock", || async {
                    c.s3.get_public_access_block()
                        .bucket(&bucket)
                        .send()
                        .await
                        .map_err(|e| classify("s3", "GetPublicAccessBlock", e))
                })
                .await;
                let cfg = &p["PublicAccessBlockConfiguration"];
                let want = |k: &str| super::planner::truthy(cfg.get(k));
                let got = match out {
                    Ok(o) => o.public_access_block_configuration().cloned(),
                    Err(PortError::NotFound { .. }) => None,
                    Err(e) => return Err(e),
                };
                let converged = got.as_ref().is_some_and(|g| {
                    g.block_public_acls() == Some(want("BlockPublicAcls"))
                        && g.ignore_public_acls() == Some(want("IgnorePublicAcls"))
                        && g.block_public_policy() == Some(want("BlockPublicPolicy"))
                        && g.restrict_public_buckets() == Some(want("RestrictPublicBuckets"))
                });
                Ok(ReadBack {
                    converged,
                    detail: format!("s3:GetPublicAccessBlock on {bucket}: {got:?}"),
                })
            }
            ("s3", op @ ("PutBucketPolicy" | "DeleteBucketPolicy")) => {
                let bucket = s("Bucket");
                let out = retry(r, "s3:GetBucketPolicy", || async {
                    c.s3.get_bucket_policy()
                        .bucket(&bucket)
                        .send()
                        .await
                        .map_err(|e| classify("s3", "GetBucketPolicy", e))
                })
                .await;
                let got: Option<Value> = match out {
                    Ok(o) => o.policy().and_then(|t| serde_json::from_str(t).ok()),
                    Err(PortError::NotFound { .. }) => None,
                    Err(e) => return Err(e),
                };
                let want: Option<Value> = (op == "PutBucketPolicy")
                    .then(|| serde_json::from_str(&s("Policy")).ok())
                    .flatten();
                Ok(ReadBack {
                    converged: got == want,
                    detail: format!(
                        "s3:GetBucketPolicy on {bucket}: {}",
                        got.map(|v| v.to_string()).unwrap_or("no policy".into())
                    ),
                })
            }
            ("iam", "DetachRolePolicy") => {
                let role = s("RoleName");
                let arn = s("PolicyArn");
                let out = retry(r, "iam:ListAttachedRolePolicies", || async {
                    c.iam
                        .list_attached_role_policies()
                        .role_name(&role)
                        .send()
                        .await
                        .map_err(|e| classify("iam", "ListAttachedRolePolicies", e))
                })
                .await?;
                let attached = out
                    .attached_policies()
                    .iter()
                    .any(|a| a.policy_arn() == Some(arn.as_str()));
                Ok(ReadBack {
                    converged: !attached,
                    detail: format!(
                        "iam:ListAttachedRolePolicies on {role}: {arn} {}",
                        if attached {
                            "is still attached"
                        } else {
                            "is not attached"
                        }
                    ),
                })
            }
            ("iam", op @ ("PutRolePolicy" | "DeleteRolePolicy")) => {
                let role = s("RoleName");
                let name = s("PolicyName");
                let out = retry(r, "iam:GetRolePolicy", || async {
                    c.iam
                        .get_role_policy()
                        .role_name(&role)
                        .policy_name(&name)
                        .send()
                        .await
                        .map_err(|e| classify("iam", "GetRolePolicy", e))
                })
                .await;
                let got: Option<Value> = match out {
                    // IAM returns the document URL-encoded.
                    Ok(o) => {
                        let raw = o.policy_document();
                        let decoded = urlencoding::decode(raw)
                            .map(|d| d.into_owned())
                            .unwrap_or_else(|_| raw.to_string());
                        serde_json::from_str(&decoded).ok()
                    }
                    Err(PortError::NotFound { .. }) => None,
                    Err(e) => return Err(e),
                };
                let want: Option<Value> = (op == "PutRolePolicy")
                    .then(|| serde_json::from_str(&s("PolicyDocument")).ok())
                    .flatten();
                Ok(ReadBack {
                    converged: got == want,
                    detail: format!(
                        "iam:GetRolePolicy {role}/{name}: {}",
                        got.map(|v| v.to_string()).unwrap_or("absent".into())
                    ),
                })
            }
            ("ssm", "PutParameter") => {
                let name = s("Name");
                let out = retry(r, "ssm:GetParameter", || async {
                    c.ssm
                        .get_parameter()
                        .name(&name)
                        .send()
                        .await
                        .map_err(|e| classify("ssm", "GetParameter", e))
                })
                .await?;
                let got = out
                    .parameter()
                    .and_then(|p| p.value())
                    .unwrap_or_default()
                    .to_string();
                Ok(ReadBack {
                    converged: got == s("Value"),
                    detail: format!("ssm:GetParameter {name}: value {got:?}"),
                })
            }
            ("lambda", "UpdateFunctionConfiguration") => {
                let function = s("FunctionName");
                let out = retry(r, "lambda:GetFunctionConfiguration", || async {
                    c.lambda
                        .get_function_configuration()
                        .function_name(&function)
                        .send()
                        .await
                        .map_err(|e| classify("lambda", "GetFunctionConfiguration", e))
                })
                .await?;
                let mut mismatches = Vec::new();
                if let Some(t) = int(p, "Timeout") {
                    if out.timeout() != Some(t) {
                        mismatches.push(format!("Timeout {:?}", out.timeout()));
                    }
                }
                if let Some(m) = int(p, "MemorySize") {
                    if out.memory_size() != Some(m) {
                        mismatches.push(format!("MemorySize {:?}", out.memory_size()));
                    }
                }
                if let Some(want) = p.get("Environment").and_then(|e| e.get("Variables")) {
                    let got: serde_json::Map<String, Value> = out
                        .environment()
                        .and_then(|e| e.variables())
                        .map(|v| {
                            v.iter()
                                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                                .collect()
                        })
                        .unwrap_or_default();
                    if &Value::Object(got) != want {
                        mismatches.push("Environment".into());
                    }
                }
                Ok(ReadBack {
                    converged: mismatches.is_empty(),
                    detail: format!(
                        "lambda:GetFunctionConfiguration {function}: {}",
                        if mismatches.is_empty() {
                            "matches".to_string()
                        } else {
                            mismatches.join(", ")
                        }
                    ),
                })
            }
            ("sns", "SetTopicAttributes") => {
                let topic = s("TopicArn");
                let name = s("AttributeName");
                let out = retry(r, "sns:GetTopicAttributes", || async {
                    c.sns
                        .get_topic_attributes()
                        .topic_arn(&topic)
                        .send()
                        .await
                        .map_err(|e| classify("sns", "GetTopicAttributes", e))
                })
                .await?;
                let got = out
                    .attributes()
                    .and_then(|a| a.get(&name))
                    .cloned()
                    .unwrap_or_default();
                Ok(ReadBack {
                    converged: got == s("AttributeValue"),
                    detail: format!("sns:GetTopicAttributes {topic}: {name}={got:?}"),
                })
            }
            ("sqs", "SetQueueAttributes") => {
                let queue = s("QueueUrl");
                let out = retry(r, "sqs:GetQueueAttributes", || async {
                    c.sqs
                        .get_queue_attributes()
                        .queue_url(&queue)
                        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                        .send()
                        .await
                        .map_err(|e| classify("sqs", "GetQueueAttributes", e))
                })
                .await?;
                let got = out.attributes().cloned().unwrap_or_default();
                let mismatches: Vec<String> = p
                    .get("Attributes")
                    .and_then(Value::as_object)
                    .map(|o| {
                        o.iter()
                            .filter(|(k, v)| {
                                got.get(&aws_sdk_sqs::types::QueueAttributeName::from(k.as_str()))
                                    .map(String::as_str)
                                    != v.as_str()
                            })
                            .map(|(k, _)| k.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(ReadBack {
                    converged: mismatches.is_empty(),
                    detail: format!(
                        "sqs:GetQueueAttributes {queue}: {}",
                        if mismatches.is_empty() {
                            "matches".to_string()
                        } else {
                            format!("differs at {}", mismatches.join(", "))
                        }
                    ),
                })
            }
            (service, operation) => Err(PortError::Unsupported {
                service: "driftguard",
                operation: "read_back",
                message: format!("no read-back for {service}:{operation}"),
            }),
        }
    }
}

/// Does a described rule match a planned permission (protocol, ports, a source)?
fn rule_matches(rule: &aws_sdk_ec2::types::SecurityGroupRule, perm: &Value) -> bool {
    let protocol = perm
        .get("IpProtocol")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let rp = rule.ip_protocol().unwrap_or_default();
    let same_protocol =
        rp == protocol || (matches!(rp, "-1" | "all") && matches!(protocol, "-1" | "all"));
    if !same_protocol {
        return false;
    }
    if perm.get("FromPort").is_some() && rule.from_port() != int(perm, "FromPort") {
        return false;
    }
    if perm.get("ToPort").is_some() && rule.to_port() != int(perm, "ToPort") {
        return false;
    }
    let has = |list: &str, key: &str, value: Option<&str>| {
        value.is_some_and(|v| {
            perm.get(list).and_then(Value::as_array).is_some_and(|a| {
                a.iter()
                    .any(|r| r.get(key).and_then(Value::as_str) == Some(v))
            })
        })
    };
    has("IpRanges", "CidrIp", rule.cidr_ipv4())
        || has("Ipv6Ranges", "CidrIpv6", rule.cidr_ipv6())
        || has("PrefixListIds", "PrefixListId", rule.prefix_list_id())
        || has(
            "UserIdGroupPairs",
            "GroupId",
            rule.referenced_group_info().and_then(|g| g.group_id()),
        )
}

#[async_trait]
impl PlanExecutor for AwsExecutor {
    async fn execute(&self, plan: &Plan) -> Result<Execution, ExecutionError> {
        let cfn = &self.clients.cloudformation;
        let notes = match plan.strategy {
            Strategy::RevertDriftChangeSet => {
                changeset::run(&self.change_sets(), plan, &self.wait).await?
            }
            Strategy::CloudControlPatch => {
                cloudcontrol::run(&self.clients.cloudcontrol, plan, &self.retry, &self.wait).await?
            }
            Strategy::StackRollback => match plan.calls.first().map(|c| c.operation.as_str()) {
                Some("CreateChangeSet") => {
                    changeset::run(&self.change_sets(), plan, &self.wait).await?
                }
                _ => {
                    let mut notes = rollback::run(cfn, plan, &self.retry).await?;
                    if let Some(stack) = plan
                        .calls
                        .first()
                        .and_then(|c| c.parameters.get("StackName"))
                        .and_then(Value::as_str)
                    {
                        // Rollbacks are asynchronous: wait a bounded time, verify judges the status.
                        let status =
                            rollback::wait_for_stack(cfn, stack, &self.retry, &self.wait).await?;
                        notes.push(format!(
                            "stack {stack} is {}",
                            status.as_deref().unwrap_or("gone")
                        ));
                    }
                    notes
                }
            },
            Strategy::InverseCall => {
                let mut notes = Vec::new();
                for call in &plan.calls {
                    notes.push(self.call(call).await?);
                }
                notes
            }
        };
        Ok(Execution { notes })
    }

    async fn read_back(&self, plan: &Plan) -> PortResult<Option<ReadBack>> {
        if plan.strategy != Strategy::InverseCall {
            return Ok(None);
        }
        let mut details = Vec::new();
        let mut converged = true;
        for call in &plan.calls {
            let rb = self.read_back_call(call).await?;
            converged &= rb.converged;
            details.push(rb.detail);
        }
        Ok(Some(ReadBack {
            converged,
            detail: details.join("; "),
        }))
    }

    async fn stack_status(&self, stack: &str) -> PortResult<Option<String>> {
        rollback::stack_status(&self.clients.cloudformation, stack, &self.retry).await
    }
}

/// `GetTemplate` (Processed stage: transforms such as SAM `Globals` applied) plus
/// `DescribeStacks` parameter values (`ResolvedValue` for SSM parameter types).
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
                .template_stage(aws_sdk_cloudformation::types::TemplateStage::Processed)
                .send()
                .await
                .map_err(|e| classify("cloudformation", "GetTemplate", e))
        })
        .await?;
        let stacks = retry(&self.retry, "cloudformation:DescribeStacks", || async {
            c.describe_stacks()
                .stack_name(stack)
                .send()
                .await
                .map_err(|e| classify("cloudformation", "DescribeStacks", e))
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
