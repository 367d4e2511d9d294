//! Typed calls: one variant per inverse call driftguard can make, with typed
//! fields. A plan stores them in the `{service, operation, parameters}` shape
//! of [`PlannedCall`](driftguard_model::domain::PlannedCall) (what stored tickets and approvals' digests already hold);
//! [`Call::from_planned`] reads that shape back, naming the field that is wrong.
//! The change-set, Cloud Control and rollback calls are typed the same way, one
//! enum per strategy, in [`super::strategy_calls`].
//!
//! The AWS adapter (`adapters::aws::remediation`) matches [`Call`] exhaustively
//! for the act and for the read-back, so a new variant does not compile until
//! both exist; the pure judgement of a read-back is the handler's
//! (`handlers::judge`).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A planned call that is not one driftguard can make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("the executor does not know {service}:{operation}")]
    Unknown { service: String, operation: String },
    #[error("planned call {api} has bad parameters: {message}")]
    Parameters { api: &'static str, message: String },
    /// The calls are known but do not make a plan of their strategy (a
    /// change-set plan without `CreateChangeSet`, two rollback calls, ...).
    #[error("a {strategy} plan {problem}")]
    Shape {
        strategy: &'static str,
        problem: String,
    },
}

/// One `IpPermissions` item, as the EC2 API names its fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpPermission {
    pub ip_protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_ranges: Vec<IpRange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ipv6_ranges: Vec<Ipv6Range>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_id_group_pairs: Vec<GroupPair>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefix_list_ids: Vec<PrefixListRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpRange {
    pub cidr_ip: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipv6Range {
    pub cidr_ipv6: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupPair {
    pub group_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PrefixListRef {
    pub prefix_list_id: String,
}

/// `RevokeSecurityGroupIngress` / `RevokeSecurityGroupEgress`: by rule ids when
/// the hot-fix's response named them, else by the permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RevokeRules {
    pub group_id: String,
    #[serde(default)]
    pub ip_permissions: Vec<IpPermission>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_group_rule_ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutPublicAccessBlock {
    pub bucket: String,
    pub public_access_block_configuration: PublicAccessBlock,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutBucketPolicy {
    pub bucket: String,
    /// The policy document, as JSON text.
    pub policy: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteBucketPolicy {
    pub bucket: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersioningConfiguration {
    /// `Enabled` or `Suspended`.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutBucketVersioning {
    pub bucket: String,
    pub versioning_configuration: VersioningConfiguration,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DetachRolePolicy {
    pub role_name: String,
    pub policy_arn: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRolePolicy {
    pub role_name: String,
    pub policy_name: String,
    /// The policy document, as JSON text.
    pub policy_document: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteRolePolicy {
    pub role_name: String,
    pub policy_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutParameter {
    pub name: String,
    pub value: String,
    #[serde(rename = "Type")]
    pub kind: String,
    pub overwrite: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateFunctionConfiguration {
    pub function_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_size: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetTopicAttributes {
    pub topic_arn: String,
    pub attribute_name: String,
    pub attribute_value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SetQueueAttributes {
    pub queue_url: String,
    pub attributes: BTreeMap<String, String>,
}

/// One typed-call enum: a variant per call, its stored `service:Operation`, a
/// word for the execution notes, and the stored `{service, operation,
/// parameters}` shape both ways ([`driftguard_model::domain::PlannedCall`]). Used for [`Call`] here and
/// for the multi-step strategies' calls (`super::strategy_calls`).
macro_rules! calls {
    ($(#[$meta:meta])* $enum:ident {
        $($variant:ident($payload:ty) = $service:literal : $operation:literal => $done:literal,)*
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $enum {
            $($variant($payload),)*
        }

        impl $enum {
            /// `service:Operation`, as the plan stores it.
            pub fn name(&self) -> &'static str {
                match self {
                    $($enum::$variant(_) => concat!($service, ":", $operation),)*
                }
            }

            /// What the call did, in a word (execution notes).
            pub fn done(&self) -> &'static str {
                match self {
                    $($enum::$variant(_) => $done,)*
                }
            }

            /// The stored shape. The payloads are plain structs of strings,
            /// numbers, booleans and maps, so serialising them cannot fail;
            /// `Null` if it ever did.
            pub fn to_planned(&self) -> ::driftguard_model::domain::PlannedCall {
                let (service, operation, parameters) = match self {
                    $($enum::$variant(p) => ($service, $operation, serde_json::to_value(p)),)*
                };
                ::driftguard_model::domain::PlannedCall::new(
                    service,
                    operation,
                    parameters.unwrap_or(serde_json::Value::Null),
                )
            }

            /// Read a stored call back (`{service, operation, parameters}`).
            pub fn from_planned(
                call: &::driftguard_model::domain::PlannedCall,
            ) -> Result<$enum, $crate::remediate::call::CallError> {
                use $crate::remediate::call::CallError;
                match (call.service.as_str(), call.operation.as_str()) {
                    $(($service, $operation) => serde_json::from_value(call.parameters.clone())
                        .map($enum::$variant)
                        .map_err(|e| CallError::Parameters {
                            api: concat!($service, ":", $operation),
                            message: e.to_string(),
                        }),)*
                    (service, operation) => Err(CallError::Unknown {
                        service: service.to_string(),
                        operation: operation.to_string(),
                    }),
                }
            }
        }

        impl serde::Serialize for $enum {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.to_planned().serialize(s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $enum {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let planned = ::driftguard_model::domain::PlannedCall::deserialize(d)?;
                $enum::from_planned(&planned).map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use calls;

calls! {
    /// Every inverse call driftguard can make.
    Call {
        RevokeSecurityGroupIngress(RevokeRules) = "ec2":"RevokeSecurityGroupIngress" => "revoked",
        RevokeSecurityGroupEgress(RevokeRules) = "ec2":"RevokeSecurityGroupEgress" => "revoked",
        PutPublicAccessBlock(PutPublicAccessBlock) = "s3":"PutPublicAccessBlock" => "restored",
        PutBucketPolicy(PutBucketPolicy) = "s3":"PutBucketPolicy" => "restored",
        DeleteBucketPolicy(DeleteBucketPolicy) = "s3":"DeleteBucketPolicy" => "deleted",
        PutBucketVersioning(PutBucketVersioning) = "s3":"PutBucketVersioning" => "restored",
        DetachRolePolicy(DetachRolePolicy) = "iam":"DetachRolePolicy" => "detached",
        PutRolePolicy(PutRolePolicy) = "iam":"PutRolePolicy" => "restored",
        DeleteRolePolicy(DeleteRolePolicy) = "iam":"DeleteRolePolicy" => "deleted",
        PutParameter(PutParameter) = "ssm":"PutParameter" => "restored",
        UpdateFunctionConfiguration(UpdateFunctionConfiguration) = "lambda":"UpdateFunctionConfiguration" => "restored",
        SetTopicAttributes(SetTopicAttributes) = "sns":"SetTopicAttributes" => "restored",
        SetQueueAttributes(SetQueueAttributes) = "sqs":"SetQueueAttributes" => "restored",
    }
}

impl Call {
    /// A removal whose target is already gone reached the state it wanted.
    pub fn gone_is_done(&self) -> bool {
        matches!(
            self,
            Call::RevokeSecurityGroupIngress(_)
                | Call::RevokeSecurityGroupEgress(_)
                | Call::DetachRolePolicy(_)
                | Call::DeleteRolePolicy(_)
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use driftguard_model::domain::PlannedCall;
    use serde_json::json;

    /// A ticket's plan as stored before the typed calls (every inverse call the
    /// planner made then, in the `{service, operation, parameters}` shape).
    const STORED_PLAN: &str = r#"{
      "strategy": "inverse_call",
      "calls": [
        {"service": "ec2", "operation": "RevokeSecurityGroupIngress", "parameters": {"GroupId": "sg-1", "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}], "SecurityGroupRuleIds": ["sgr-9"]}},
        {"service": "ec2", "operation": "RevokeSecurityGroupEgress", "parameters": {"GroupId": "sg-1", "IpPermissions": [{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-2"}]}]}},
        {"service": "s3", "operation": "PutPublicAccessBlock", "parameters": {"Bucket": "b", "PublicAccessBlockConfiguration": {"BlockPublicAcls": true, "IgnorePublicAcls": true, "BlockPublicPolicy": true, "RestrictPublicBuckets": false}}},
        {"service": "s3", "operation": "PutBucketPolicy", "parameters": {"Bucket": "b", "Policy": "{\"Version\":\"2012-10-17\"}"}},
        {"service": "s3", "operation": "DeleteBucketPolicy", "parameters": {"Bucket": "b"}},
        {"service": "iam", "operation": "DetachRolePolicy", "parameters": {"RoleName": "r", "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}},
        {"service": "iam", "operation": "PutRolePolicy", "parameters": {"RoleName": "r", "PolicyName": "p", "PolicyDocument": "{}"}},
        {"service": "iam", "operation": "DeleteRolePolicy", "parameters": {"RoleName": "r", "PolicyName": "p"}},
        {"service": "ssm", "operation": "PutParameter", "parameters": {"Name": "/a", "Value": "info", "Type": "String", "Overwrite": true}},
        {"service": "lambda", "operation": "UpdateFunctionConfiguration", "parameters": {"FunctionName": "fn", "Timeout": 10, "MemorySize": 128, "Environment": {"Variables": {"MODE": "safe"}}}},
        {"service": "sns", "operation": "SetTopicAttributes", "parameters": {"TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "AttributeName": "DisplayName", "AttributeValue": "x"}},
        {"service": "sqs", "operation": "SetQueueAttributes", "parameters": {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q", "Attributes": {"VisibilityTimeout": "45"}}}
      ],
      "expected": "as the template says"
    }"#;

    #[test]
    fn stored_plans_read_as_typed_calls_and_write_back_byte_for_byte() {
        let plan: driftguard_model::domain::Plan = serde_json::from_str(STORED_PLAN).unwrap();
        let digest = plan.digest();
        let typed: Vec<Call> = plan
            .calls
            .iter()
            .map(|c| Call::from_planned(c).unwrap())
            .collect();
        assert_eq!(typed.len(), 12);
        let again = driftguard_model::domain::Plan {
            calls: typed.iter().map(Call::to_planned).collect(),
            ..plan.clone()
        };
        assert_eq!(again, plan);
        // An approval names the plan by its digest: it must not move.
        assert_eq!(again.digest(), digest);
        // Serde of the enum itself is the same shape.
        let one: Call =
            serde_json::from_value(serde_json::to_value(&plan.calls[8]).unwrap()).unwrap();
        assert_eq!(
            serde_json::to_value(&one).unwrap(),
            serde_json::to_value(&plan.calls[8]).unwrap()
        );
    }

    #[test]
    fn unknown_calls_and_bad_fields_are_named() {
        let unknown = PlannedCall::new("ec2", "TerminateInstances", json!({}));
        assert_eq!(
            Call::from_planned(&unknown).unwrap_err().to_string(),
            "the executor does not know ec2:TerminateInstances"
        );
        let bad = PlannedCall::new("ssm", "PutParameter", json!({"Name": "/a"}));
        let err = Call::from_planned(&bad).unwrap_err().to_string();
        assert!(
            err.contains("ssm:PutParameter") && err.contains("`Value`"),
            "{err}"
        );
    }
}
