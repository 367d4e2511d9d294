//! The rollback port ([`StackRollbacks`]) over the CloudFormation SDK:
//! `CancelUpdateStack`, `ContinueUpdateRollback` (with `ResourcesToSkip` only
//! when the plan names some), `RollbackStack` (matched exhaustively over
//! [`RollbackCall`]) and the stack status, one attempt each (the caller,
//! `remediation::rollback`, retries).
use async_trait::async_trait;
use aws_sdk_cloudformation::Client;

use super::errors::map_sdk_error;
use driftguard_core::ports::remediate::StackRollbacks;
use driftguard_core::remediate::strategy_calls::RollbackCall;
use driftguard_model::error::{PortError, PortResult};

const SERVICE: &str = "cloudformation";

/// [`StackRollbacks`] on one CloudFormation client.
#[derive(Debug, Clone)]
pub struct CfnStackRollbacks {
    client: Client,
}

impl CfnStackRollbacks {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// `DescribeStacks` status of one stack, one attempt; `None` when it does not
/// exist: "If the stack doesn't exist, a ValidationError is returned."
/// (<https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html>),
/// whose message says "Stack with id X does not exist".
pub(crate) async fn stack_status(client: &Client, stack: &str) -> PortResult<Option<String>> {
    let out = client
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| map_sdk_error(SERVICE, "DescribeStacks", e));
    match out {
        Ok(o) => Ok(o
            .stacks()
            .first()
            .and_then(|s| s.stack_status())
            .map(|s| s.as_str().to_string())),
        Err(PortError::Failed { message, .. }) if message.contains("does not exist") => Ok(None),
        Err(e) => Err(e),
    }
}

#[async_trait]
impl StackRollbacks for CfnStackRollbacks {
    async fn start(&self, call: &RollbackCall) -> PortResult<()> {
        let cfn = &self.client;
        match call {
            RollbackCall::CancelUpdateStack(c) => cfn
                .cancel_update_stack()
                .stack_name(&c.stack_name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| map_sdk_error(SERVICE, "CancelUpdateStack", e)),
            RollbackCall::ContinueUpdateRollback(c) => {
                let skip = c.resources_to_skip.clone().filter(|s| !s.is_empty());
                cfn.continue_update_rollback()
                    .stack_name(&c.stack_name)
                    .set_resources_to_skip(skip)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| map_sdk_error(SERVICE, "ContinueUpdateRollback", e))
            }
            RollbackCall::RollbackStack(c) => cfn
                .rollback_stack()
                .stack_name(&c.stack_name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| map_sdk_error(SERVICE, "RollbackStack", e)),
        }
    }

    async fn stack_status(&self, stack: &str) -> PortResult<Option<String>> {
        stack_status(&self.client, stack).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_cloudformation::operation::cancel_update_stack::CancelUpdateStackOutput;
    use aws_sdk_cloudformation::operation::continue_update_rollback::ContinueUpdateRollbackOutput;
    use aws_sdk_cloudformation::operation::rollback_stack::RollbackStackOutput;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use serde_json::{json, Value};

    use driftguard_core::ports::remediate::ExecutionError;
    use driftguard_core::remediate::rollback::run;
    use driftguard_core::resilience::RetryPolicy;
    use driftguard_model::domain::PlannedCall;

    /// The plan's rollback call, read from the stored shape.
    fn plan(op: &str, params: Value) -> RollbackCall {
        RollbackCall::from_planned(&PlannedCall::new("cloudformation", op, params)).unwrap()
    }

    fn port(client: &Client) -> CfnStackRollbacks {
        CfnStackRollbacks::new(client.clone())
    }

    #[tokio::test]
    async fn cancel_update_stack() {
        let rule = mock!(aws_sdk_cloudformation::Client::cancel_update_stack)
            .match_requests(|r| r.stack_name() == Some("app"))
            .then_output(|| CancelUpdateStackOutput::builder().build());
        let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::Sequential, [&rule]);
        let notes = run(
            &port(&cfn),
            &plan("CancelUpdateStack", json!({"StackName": "app"})),
            &RetryPolicy::quick(),
        )
        .await
        .unwrap();
        assert_eq!(rule.num_calls(), 1);
        assert!(notes[0].contains("cancelled"));
    }

    #[tokio::test]
    async fn continue_update_rollback_skips_only_what_the_plan_names() {
        let without = mock!(aws_sdk_cloudformation::Client::continue_update_rollback)
            .match_requests(|r| r.resources_to_skip().is_empty())
            .then_output(|| ContinueUpdateRollbackOutput::builder().build());
        let with = mock!(aws_sdk_cloudformation::Client::continue_update_rollback)
            .match_requests(|r| r.resources_to_skip() == ["Broken".to_string()])
            .then_output(|| ContinueUpdateRollbackOutput::builder().build());
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            [&without, &with]
        );
        run(
            &port(&cfn),
            &plan("ContinueUpdateRollback", json!({"StackName": "app"})),
            &RetryPolicy::quick(),
        )
        .await
        .unwrap();
        run(
            &port(&cfn),
            &plan(
                "ContinueUpdateRollback",
                json!({"StackName": "app", "ResourcesToSkip": ["Broken"]}),
            ),
            &RetryPolicy::quick(),
        )
        .await
        .unwrap();
        assert_eq!((without.num_calls(), with.num_calls()), (1, 1));
    }

    fn stacks(status: aws_sdk_cloudformation::types::StackStatus) -> aws_smithy_mocks::Rule {
        use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
        use aws_sdk_cloudformation::types::Stack;
        mock!(aws_sdk_cloudformation::Client::describe_stacks).then_output(move || {
            DescribeStacksOutput::builder()
                .stacks(
                    Stack::builder()
                        .stack_name("app")
                        .stack_status(status.clone())
                        .creation_time(aws_smithy_types::DateTime::from_secs(0))
                        .build(),
                )
                .build()
        })
    }

    #[tokio::test]
    async fn rollback_stack_on_update_failed() {
        let rule = mock!(aws_sdk_cloudformation::Client::rollback_stack)
            .then_output(|| RollbackStackOutput::builder().stack_id("arn").build());
        let status = stacks(aws_sdk_cloudformation::types::StackStatus::UpdateFailed);
        let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&status, &rule]);
        run(
            &port(&cfn),
            &plan("RollbackStack", json!({"StackName": "app"})),
            &RetryPolicy::quick(),
        )
        .await
        .unwrap();
        assert_eq!(rule.num_calls(), 1);
    }

    /// RollbackStack: "This operation will delete a stack if it doesn't contain a
    /// last known stable state. A last known stable state includes any status in a
    /// `*_COMPLETE`." (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_RollbackStack.html)
    /// A CREATE_FAILED stack never completed: even a stored RollbackStack plan is
    /// refused when the live status is CREATE_FAILED.
    #[tokio::test]
    async fn a_create_failed_stack_is_never_rolled_back() {
        let rule = mock!(aws_sdk_cloudformation::Client::rollback_stack)
            .then_output(|| RollbackStackOutput::builder().stack_id("arn").build());
        for live in [
            aws_sdk_cloudformation::types::StackStatus::CreateFailed,
            aws_sdk_cloudformation::types::StackStatus::ImportRollbackFailed,
        ] {
            let status = stacks(live.clone());
            let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&status, &rule]);
            let err = run(
                &port(&cfn),
                &plan("RollbackStack", json!({"StackName": "app"})),
                &RetryPolicy::quick(),
            )
            .await
            .unwrap_err();
            assert!(
                matches!(&err, ExecutionError::Refused(why) if why.contains(live.as_str())),
                "{err}"
            );
        }
        assert_eq!(rule.num_calls(), 0, "RollbackStack is never sent");
    }

    /// "If the stack doesn't exist, a ValidationError is returned."
    /// (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html)
    #[tokio::test]
    async fn a_stack_that_does_not_exist_has_no_status() {
        use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksError;
        use aws_smithy_types::error::ErrorMetadata;
        let gone = mock!(aws_sdk_cloudformation::Client::describe_stacks).then_error(|| {
            DescribeStacksError::generic(
                ErrorMetadata::builder()
                    .code("ValidationError")
                    .message("Stack with id app does not exist")
                    .build(),
            )
        });
        let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&gone]);
        assert_eq!(port(&cfn).stack_status("app").await.unwrap(), None);
    }
}
