//! The change-set port ([`crate::remediation::changeset::ChangeSets`]) over the
//! CloudFormation SDK: `CreateChangeSet` (with `ClientToken`), one page of
//! `DescribeChangeSet`, `ExecuteChangeSet` (with `ClientRequestToken`),
//! `DeleteChangeSet` and the stack status. Every call goes through the one
//! retry layer ([`crate::resilience::retry`]) and the one error classifier
//! ([`super::map_sdk_error`]).
use async_trait::async_trait;
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetType, DeploymentMode, Parameter, ResourceChange as SdkResourceChange,
};
use aws_sdk_cloudformation::Client;

use super::map_sdk_error;
use crate::error::{PortError, PortResult};
use crate::remediation::changeset::{
    ChangeSetPage, ChangeSets, CreateRequest, ResourceChange, TemplateChoice,
};
use crate::resilience::{retry, RetryPolicy};

const SERVICE: &str = "cloudformation";

/// [`ChangeSets`] on one CloudFormation client.
#[derive(Debug, Clone)]
pub struct CfnChangeSets {
    client: Client,
    retry: RetryPolicy,
}

impl CfnChangeSets {
    pub fn new(client: Client, retry: RetryPolicy) -> Self {
        Self { client, retry }
    }
}

fn parameters(request: &CreateRequest) -> Vec<Parameter> {
    request
        .parameters
        .iter()
        .map(|(key, value)| match value {
            Some(v) => Parameter::builder()
                .parameter_key(key)
                .parameter_value(v)
                .build(),
            None => Parameter::builder()
                .parameter_key(key)
                .use_previous_value(true)
                .build(),
        })
        .collect()
}

fn change_of(rc: &SdkResourceChange) -> ResourceChange {
    ResourceChange {
        logical_id: rc.logical_resource_id().unwrap_or("?").to_string(),
        resource_type: rc.resource_type().map(str::to_string),
        action: rc
            .action()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default(),
        replacement: rc.replacement().map(|r| r.as_str().to_string()),
    }
}

#[async_trait]
impl ChangeSets for CfnChangeSets {
    async fn parameter_keys(&self, stack: &str) -> PortResult<Vec<String>> {
        let out = retry(&self.retry, "cloudformation:DescribeStacks", || async {
            self.client
                .describe_stacks()
                .stack_name(stack)
                .send()
                .await
                .map_err(|e| map_sdk_error(SERVICE, "DescribeStacks", e))
        })
        .await?;
        Ok(out
            .stacks()
            .first()
            .map(|s| s.parameters())
            .unwrap_or_default()
            .iter()
            .filter_map(|p| p.parameter_key().map(str::to_string))
            .collect())
    }

    async fn create(&self, request: &CreateRequest) -> PortResult<Option<String>> {
        let params = parameters(request);
        let out = retry(&self.retry, "cloudformation:CreateChangeSet", || async {
            let mut req = self
                .client
                .create_change_set()
                .stack_name(&request.stack)
                .change_set_name(&request.name)
                .client_token(&request.client_token)
                .change_set_type(ChangeSetType::Update)
                .set_parameters(Some(params.clone()))
                .capabilities(Capability::CapabilityIam)
                .capabilities(Capability::CapabilityNamedIam)
                .capabilities(Capability::CapabilityAutoExpand)
                .description("driftguard remediation");
            req = match &request.template {
                TemplateChoice::Previous => req.use_previous_template(true),
                TemplateChoice::Body(body) => req.template_body(body),
            };
            if request.revert_drift {
                req = req.deployment_mode(DeploymentMode::RevertDrift);
            }
            req.send()
                .await
                .map_err(|e| map_sdk_error(SERVICE, "CreateChangeSet", e))
        })
        .await?;
        Ok(out.id().map(str::to_string))
    }

    async fn describe(
        &self,
        stack: &str,
        name: &str,
        next_token: Option<&str>,
    ) -> PortResult<ChangeSetPage> {
        let out = retry(&self.retry, "cloudformation:DescribeChangeSet", || async {
            self.client
                .describe_change_set()
                .stack_name(stack)
                .change_set_name(name)
                .set_next_token(next_token.map(str::to_string))
                .send()
                .await
                .map_err(|e| map_sdk_error(SERVICE, "DescribeChangeSet", e))
        })
        .await?;
        Ok(ChangeSetPage {
            id: out.change_set_id().map(str::to_string),
            status: out.status().map(|s| s.as_str().to_string()),
            status_reason: out.status_reason().map(str::to_string),
            execution_status: out.execution_status().map(|s| s.as_str().to_string()),
            changes: out
                .changes()
                .iter()
                .filter_map(|c| c.resource_change())
                .map(change_of)
                .collect(),
            next_token: out.next_token().map(str::to_string),
        })
    }

    async fn execute(&self, stack: &str, name: &str, token: &str) -> PortResult<()> {
        retry(&self.retry, "cloudformation:ExecuteChangeSet", || async {
            self.client
                .execute_change_set()
                .stack_name(stack)
                .change_set_name(name)
                .client_request_token(token)
                .send()
                .await
                .map_err(|e| map_sdk_error(SERVICE, "ExecuteChangeSet", e))
        })
        .await
        .map(|_| ())
    }

    async fn delete(&self, stack: &str, name: &str) -> PortResult<()> {
        retry(&self.retry, "cloudformation:DeleteChangeSet", || async {
            self.client
                .delete_change_set()
                .stack_name(stack)
                .change_set_name(name)
                .send()
                .await
                .map_err(|e| map_sdk_error(SERVICE, "DeleteChangeSet", e))
        })
        .await
        .map(|_| ())
    }

    async fn stack_status(&self, stack: &str) -> PortResult<Option<String>> {
        let out = retry(&self.retry, "cloudformation:DescribeStacks", || async {
            self.client
                .describe_stacks()
                .stack_name(stack)
                .send()
                .await
                .map_err(|e| map_sdk_error(SERVICE, "DescribeStacks", e))
        })
        .await;
        match out {
            Ok(o) => Ok(o
                .stacks()
                .first()
                .and_then(|s| s.stack_status())
                .map(|s| s.as_str().to_string())),
            // "If the stack doesn't exist, a ValidationError is returned."
            // (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html)
            Err(PortError::Failed { message, .. }) if message.contains("does not exist") => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}
