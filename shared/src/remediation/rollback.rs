//! Stack rollbacks by status: `CancelUpdateStack` (UPDATE_IN_PROGRESS),
//! `ContinueUpdateRollback` (UPDATE_ROLLBACK_FAILED, `ResourcesToSkip` only when
//! the policy allows), `RollbackStack` (other `*_FAILED`). The change set back to
//! the last good template is in [`super::changeset`].
use aws_sdk_cloudformation::Client;
use serde_json::Value;

use super::executor::{classify, text, WaitPolicy};
use super::ExecutionError;
use crate::domain::Plan;
use crate::error::PortResult;
use crate::resilience::{retry, RetryPolicy};

/// Start the plan's rollback call. Rollbacks are asynchronous: the caller
/// checks the stack status afterwards.
pub async fn run(
    cfn: &Client,
    plan: &Plan,
    policy: &RetryPolicy,
) -> Result<Vec<String>, ExecutionError> {
    let call = plan
        .calls
        .first()
        .ok_or_else(|| ExecutionError::Refused("empty rollback plan".into()))?;
    let stack = text(&call.parameters, "StackName")?;
    match call.operation.as_str() {
        "CancelUpdateStack" => {
            retry(policy, "cloudformation:CancelUpdateStack", || async {
                cfn.cancel_update_stack()
                    .stack_name(&stack)
                    .send()
                    .await
                    .map_err(|e| classify("cloudformation", "CancelUpdateStack", e))
            })
            .await?;
            Ok(vec![format!("cancelled the update of {stack}")])
        }
        "ContinueUpdateRollback" => {
            let skip: Vec<String> = call
                .parameters
                .get("ResourcesToSkip")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            retry(policy, "cloudformation:ContinueUpdateRollback", || async {
                let mut req = cfn.continue_update_rollback().stack_name(&stack);
                if !skip.is_empty() {
                    req = req.set_resources_to_skip(Some(skip.clone()));
                }
                req.send()
                    .await
                    .map_err(|e| classify("cloudformation", "ContinueUpdateRollback", e))
            })
            .await?;
            Ok(vec![format!(
                "continued the rollback of {stack}{}",
                if skip.is_empty() {
                    String::new()
                } else {
                    format!(", skipping {}", skip.join(", "))
                }
            )])
        }
        "RollbackStack" => {
            retry(policy, "cloudformation:RollbackStack", || async {
                cfn.rollback_stack()
                    .stack_name(&stack)
                    .send()
                    .await
                    .map_err(|e| classify("cloudformation", "RollbackStack", e))
            })
            .await?;
            Ok(vec![format!(
                "rolled {stack} back to its last stable state"
            )])
        }
        other => Err(ExecutionError::Refused(format!(
            "not a rollback call: {other}"
        ))),
    }
}

/// `DescribeStacks` status of one stack; `None` when it does not exist.
pub async fn stack_status(
    cfn: &Client,
    stack: &str,
    policy: &RetryPolicy,
) -> PortResult<Option<String>> {
    let out = retry(policy, "cloudformation:DescribeStacks", || async {
        cfn.describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .map_err(|e| classify("cloudformation", "DescribeStacks", e))
    })
    .await;
    match out {
        Ok(o) => Ok(o
            .stacks()
            .first()
            .and_then(|s| s.stack_status())
            .map(|s| s.as_str().to_string())),
        // CloudFormation says "Stack with id X does not exist" as a ValidationError.
        Err(crate::error::PortError::Failed { message, .. })
            if message.contains("does not exist") =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Poll until the stack is no longer `*_IN_PROGRESS` (or polls run out).
pub async fn wait_for_stack(
    cfn: &Client,
    stack: &str,
    policy: &RetryPolicy,
    wait: &WaitPolicy,
) -> PortResult<Option<String>> {
    let mut last = None;
    for poll in 0..wait.max_polls {
        if poll > 0 {
            tokio::time::sleep(wait.interval).await;
        }
        last = stack_status(cfn, stack, policy).await?;
        match &last {
            Some(s) if s.ends_with("_IN_PROGRESS") => continue,
            _ => return Ok(last),
        }
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_cloudformation::operation::cancel_update_stack::CancelUpdateStackOutput;
    use aws_sdk_cloudformation::operation::continue_update_rollback::ContinueUpdateRollbackOutput;
    use aws_sdk_cloudformation::operation::rollback_stack::RollbackStackOutput;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use serde_json::json;

    use crate::domain::{PlannedCall, Strategy};

    fn plan(op: &str, params: Value) -> Plan {
        Plan {
            strategy: Strategy::StackRollback,
            calls: vec![PlannedCall::new("cloudformation", op, params)],
            expected: String::new(),
            skipped: vec![],
        }
    }

    #[tokio::test]
    async fn cancel_update_stack() {
        let rule = mock!(aws_sdk_cloudformation::Client::cancel_update_stack)
            .match_requests(|r| r.stack_name() == Some("app"))
            .then_output(|| CancelUpdateStackOutput::builder().build());
        let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::Sequential, [&rule]);
        let notes = run(
            &cfn,
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
            &cfn,
            &plan("ContinueUpdateRollback", json!({"StackName": "app"})),
            &RetryPolicy::quick(),
        )
        .await
        .unwrap();
        run(
            &cfn,
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

    #[tokio::test]
    async fn rollback_stack() {
        let rule = mock!(aws_sdk_cloudformation::Client::rollback_stack)
            .then_output(|| RollbackStackOutput::builder().stack_id("arn").build());
        let cfn = mock_client!(aws_sdk_cloudformation, RuleMode::Sequential, [&rule]);
        run(
            &cfn,
            &plan("RollbackStack", json!({"StackName": "app"})),
            &RetryPolicy::quick(),
        )
        .await
        .unwrap();
        assert_eq!(rule.num_calls(), 1);
    }
}
