//! The [`TemplateSource`] over CloudFormation: a stack's processed template
//! and its parameter values (detect's known-good history, remediate's plans,
//! the sweep). CloudFormation only, so functions that plan but never act link
//! no other service.
use std::collections::BTreeMap;

use async_trait::async_trait;
use driftguard_core::ports::remediate::{StackTemplate, TemplateSource};
use driftguard_core::resilience::{retry, RetryPolicy};
use driftguard_model::error::PortResult;

use super::errors::map_sdk_error;

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
                .map_err(|e| map_sdk_error("cloudformation", "GetTemplate", e))
        })
        .await?;
        let body = template.template_body().unwrap_or_default().to_string();
        if !driftguard_core::remediate::template::declares_parameters(&body) {
            // No parameters to resolve: the values (and this call) are not
            // needed. A stack's parameter values are those of its template's
            // Parameters section, which "allows users to pass values at
            // runtime when creating or updating a stack"
            // (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/template-anatomy.html).
            return Ok(StackTemplate {
                body,
                parameters: BTreeMap::new(),
                stack_id: String::new(),
            });
        }
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
            body,
            parameters,
            stack_id: described
                .and_then(|s| s.stack_id())
                .unwrap_or_default()
                .to_string(),
        })
    }
}
