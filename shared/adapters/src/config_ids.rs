//! The id AWS Config uses for a resource whose CloudFormation physical id differs
//! ([`driftguard_core::ports::config_rule::ConfigIdKind`]): IAM `GetRole`/`GetUser`/`GetPolicy`
//! and, for RDS DB instances, Cloud Control `GetResource` (its `DbiResourceId`
//! property) so that no RDS SDK is needed.
use async_trait::async_trait;
use aws_config::SdkConfig;

use super::errors::map_sdk_error;
use driftguard_core::ports::config_rule::{ConfigIdKind, ConfigIdResolver};
use driftguard_model::error::{PortError, PortResult};

/// [`ConfigIdResolver`] over IAM and Cloud Control.
#[derive(Debug, Clone)]
pub struct AwsConfigIds {
    iam: aws_sdk_iam::Client,
    cloudcontrol: aws_sdk_cloudcontrol::Client,
}

impl AwsConfigIds {
    pub fn new(iam: aws_sdk_iam::Client, cloudcontrol: aws_sdk_cloudcontrol::Client) -> Self {
        Self { iam, cloudcontrol }
    }

    pub fn from_sdk(sdk: &SdkConfig) -> Self {
        Self::new(
            aws_sdk_iam::Client::new(sdk),
            aws_sdk_cloudcontrol::Client::new(sdk),
        )
    }

    /// `DbiResourceId` of an `AWS::RDS::DBInstance` ("The Amazon Web Services
    /// Region-unique, immutable identifier for the DB instance", a read-only
    /// property of the resource type schema,
    /// https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbinstance.html);
    /// `GetResource` "Returns information about the current state of the specified
    /// resource"; `Properties` is "A list of the resource properties and their current
    /// values." (aws-sdk-cloudcontrol 1.120 GetResource, ResourceDescription).
    async fn dbi_resource_id(&self, db_instance: &str) -> PortResult<Option<String>> {
        let out = self
            .cloudcontrol
            .get_resource()
            .type_name("AWS::RDS::DBInstance")
            .identifier(db_instance)
            .send()
            .await
            .map_err(|e| map_sdk_error("cloudcontrol", "GetResource", e));
        let out = match out {
            Ok(out) => out,
            Err(PortError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let props = out
            .resource_description()
            .and_then(|d| d.properties())
            .unwrap_or("{}");
        let value: serde_json::Value =
            serde_json::from_str(props).map_err(|e| PortError::Failed {
                service: "cloudcontrol",
                operation: "GetResource",
                message: format!("ResourceDescription.Properties is not JSON: {e}"),
            })?;
        Ok(value
            .get("DbiResourceId")
            .and_then(|v| v.as_str())
            .map(str::to_string))
    }
}

fn none_if_gone(r: PortResult<Option<String>>) -> PortResult<Option<String>> {
    match r {
        Err(PortError::NotFound { .. }) => Ok(None),
        other => other,
    }
}

#[async_trait]
impl ConfigIdResolver for AwsConfigIds {
    async fn config_resource_id(
        &self,
        kind: ConfigIdKind,
        physical_id: &str,
    ) -> PortResult<Option<String>> {
        let found = match kind {
            ConfigIdKind::IamRoleId => self
                .iam
                .get_role()
                .role_name(physical_id)
                .send()
                .await
                .map(|o| o.role().map(|r| r.role_id().to_string()))
                .map_err(|e| map_sdk_error("iam", "GetRole", e)),
            ConfigIdKind::IamUserId => self
                .iam
                .get_user()
                .user_name(physical_id)
                .send()
                .await
                .map(|o| o.user().map(|u| u.user_id().to_string()))
                .map_err(|e| map_sdk_error("iam", "GetUser", e)),
            ConfigIdKind::IamPolicyId => self
                .iam
                .get_policy()
                .policy_arn(physical_id)
                .send()
                .await
                .map(|o| o.policy().and_then(|p| p.policy_id()).map(str::to_string))
                .map_err(|e| map_sdk_error("iam", "GetPolicy", e)),
            ConfigIdKind::RdsDbiResourceId => self.dbi_resource_id(physical_id).await,
        };
        let found = none_if_gone(found)?;
        tracing::debug!(?kind, physical_id, config_id = ?found, "resolved the AWS Config resource id");
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_cloudcontrol::operation::get_resource::GetResourceOutput;
    use aws_sdk_cloudcontrol::types::ResourceDescription;
    use aws_sdk_iam::operation::get_role::{GetRoleError, GetRoleOutput};
    use aws_sdk_iam::types::Role;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;

    fn resolver(
        iam_rules: &[&aws_smithy_mocks::Rule],
        cc_rules: &[&aws_smithy_mocks::Rule],
    ) -> AwsConfigIds {
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, iam_rules);
        let cc = mock_client!(aws_sdk_cloudcontrol, RuleMode::MatchAny, cc_rules);
        AwsConfigIds::new(iam, cc)
    }

    #[tokio::test]
    async fn role_name_resolves_to_the_role_id_and_a_missing_role_to_none() {
        // GetRole: RoleId "The stable and unique string identifying the role"
        // (aws-sdk-iam 1.133 Role); a missing role is NoSuchEntity ("The request was
        // rejected because it referenced a resource entity that does not exist. The error
        // message describes the resource.", aws-sdk-iam 1.133 GetRole;
        // https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRole.html).
        let found = mock!(aws_sdk_iam::Client::get_role)
            .match_requests(|r| r.role_name() == Some("orders-AppRole-1X2Y"))
            .then_output(|| {
                GetRoleOutput::builder()
                    .role(
                        Role::builder()
                            .path("/")
                            .role_name("orders-AppRole-1X2Y")
                            .role_id("AROAEXAMPLEROLEID0001")
                            .arn("arn:aws:iam::123456789012:role/orders-AppRole-1X2Y")
                            .create_date(aws_smithy_types::DateTime::from_secs(0))
                            .build()
                            .unwrap(),
                    )
                    .build()
            });
        let gone = mock!(aws_sdk_iam::Client::get_role)
            .match_requests(|r| r.role_name() == Some("gone"))
            .then_error(|| {
                GetRoleError::generic(
                    ErrorMetadata::builder()
                        .code("NoSuchEntity")
                        .message("The role with name gone cannot be found.")
                        .build(),
                )
            });
        let r = resolver(&[&found, &gone], &[]);
        assert_eq!(
            r.config_resource_id(ConfigIdKind::IamRoleId, "orders-AppRole-1X2Y")
                .await
                .unwrap()
                .as_deref(),
            Some("AROAEXAMPLEROLEID0001")
        );
        assert_eq!(
            r.config_resource_id(ConfigIdKind::IamRoleId, "gone")
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn db_instance_resolves_to_its_dbi_resource_id() {
        // Cloud Control GetResource: ResourceDescription.Properties "A list of the
        // resource properties and their current values." (aws-sdk-cloudcontrol 1.120
        // ResourceDescription; https://docs.aws.amazon.com/cloudcontrolapi/latest/APIReference/API_GetResource.html).
        let rule = mock!(aws_sdk_cloudcontrol::Client::get_resource)
            .match_requests(|r| {
                r.type_name() == Some("AWS::RDS::DBInstance") && r.identifier() == Some("orders-db")
            })
            .then_output(|| {
                GetResourceOutput::builder()
                    .type_name("AWS::RDS::DBInstance")
                    .resource_description(
                        ResourceDescription::builder()
                            .identifier("orders-db")
                            .properties(
                                r#"{"DBInstanceIdentifier":"orders-db","DbiResourceId":"db-ABCDEFGHIJKLMNOPQRSTUVWXY0"}"#,
                            )
                            .build(),
                    )
                    .build()
            });
        let r = resolver(&[], &[&rule]);
        assert_eq!(
            r.config_resource_id(ConfigIdKind::RdsDbiResourceId, "orders-db")
                .await
                .unwrap()
                .as_deref(),
            Some("db-ABCDEFGHIJKLMNOPQRSTUVWXY0")
        );
    }
}
