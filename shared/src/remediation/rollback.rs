//! Stack rollbacks by status: `CancelUpdateStack` (UPDATE_IN_PROGRESS),
//! `ContinueUpdateRollback` (UPDATE_ROLLBACK_FAILED, `ResourcesToSkip` only when
//! the policy allows and only resources whose rollback failed), `RollbackStack`
//! (UPDATE_FAILED only). The change set back to the last good template is in
//! [`super::changeset`].
//!
//! CloudFormation's rules (aws-sdk-cloudformation 1.136, from the API reference,
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_RollbackStack.html>):
//! `RollbackStack` "Rolls back the specified stack to the last known stable state
//! from `CREATE_FAILED` or `UPDATE_FAILED` stack statuses." and "This operation
//! will delete a stack if it doesn't contain a last known stable state. A last
//! known stable state includes any status in a `*_COMPLETE`." A `CREATE_FAILED`
//! stack never completed: `RollbackStack` would delete it, so driftguard never
//! calls it there; nor on `IMPORT_ROLLBACK_FAILED`, which it does not accept.
//! `ContinueUpdateRollback` `ResourcesToSkip`
//! (<https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ContinueUpdateRollback.html>):
//! "You can specify only resources that are in the `UPDATE_FAILED` state because
//! a rollback failed." and "To skip resources that are part of nested stacks, use
//! the following format: `NestedStackName.ResourceLogicalID`. If you want to
//! specify the logical ID of a stack resource (`Type: AWS::CloudFormation::Stack`)
//! in the `ResourcesToSkip` list, then its corresponding embedded stack must be in
//! one of the following states: `DELETE_IN_PROGRESS`, `DELETE_COMPLETE`, or
//! `DELETE_FAILED`."
use aws_sdk_cloudformation::Client;
use serde_json::Value;

use super::executor::{classify, text, WaitPolicy};
use super::ExecutionError;
use crate::domain::Plan;
use crate::error::PortResult;
use crate::ports::StackResourceSummary;
use crate::resilience::{retry, RetryPolicy};

/// The only stack status `RollbackStack` is called on: `CREATE_FAILED` is the
/// other status it accepts, but such a stack has no stable state to go back to.
pub const ROLLBACK_STACK_STATUS: &str = "UPDATE_FAILED";

/// What a person must do with a stack driftguard will not roll back, or `None`
/// when a rollback call applies to `status` (or it is not a failed state).
pub fn person_must(stack: &str, status: &str) -> Option<String> {
    let what = match status {
        "CREATE_FAILED" => {
            "has never reached a stable state, so RollbackStack would delete it: \
             read the stack events, fix the cause, then delete the stack and create it again"
        }
        "IMPORT_ROLLBACK_FAILED" => {
            "cannot be rolled back by RollbackStack: read the stack \
             events, fix the resources whose import rollback failed, then retry the import or \
             remove them from the template"
        }
        "ROLLBACK_FAILED" => {
            "failed to roll back its creation: delete it (retaining the \
             resources CloudFormation cannot delete) and create it again"
        }
        "DELETE_FAILED" => {
            "failed to delete: fix the resources named in the stack events \
             and delete it again"
        }
        "ROLLBACK_COMPLETE" => {
            "was rolled back after a failed creation: it can only be \
             deleted and created again"
        }
        "DELETE_COMPLETE" => "is deleted",
        ROLLBACK_STACK_STATUS | "UPDATE_ROLLBACK_FAILED" => return None,
        s if s.ends_with("_FAILED") => {
            "is in a failed state no rollback call accepts: \
             read the stack events and fix it by hand"
        }
        _ => return None,
    };
    Some(format!("stack {stack} is {status}: it {what}"))
}

/// Which failed resources `ContinueUpdateRollback` may skip, and which not (why).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkipChoice {
    pub skip: Vec<String>,
    pub not_skippable: Vec<String>,
}

/// Resources of an `UPDATE_ROLLBACK_FAILED` stack that are `UPDATE_FAILED`
/// (their rollback failed); `nested` lists the resources of nested stacks by the
/// nested stack's logical id in this stack, skipped as `NestedStack.LogicalId`.
/// A nested stack resource itself is never skipped (its embedded stack would
/// have to be deleting), nor anything in `CREATE_FAILED`/`DELETE_FAILED`.
pub fn resources_to_skip(
    resources: &[StackResourceSummary],
    nested: &[(String, Vec<StackResourceSummary>)],
) -> SkipChoice {
    let mut choice = SkipChoice::default();
    let mut visit = |prefix: Option<&str>, r: &StackResourceSummary| {
        let Some(status) = r.status.as_deref().filter(|s| s.ends_with("_FAILED")) else {
            return;
        };
        let name = match prefix {
            Some(p) => format!("{p}.{}", r.logical_id),
            None => r.logical_id.clone(),
        };
        if r.resource_type.as_deref() == Some("AWS::CloudFormation::Stack") {
            choice.not_skippable.push(format!(
                "{name} ({status}, a nested stack: skip the resources inside it instead)"
            ));
        } else if status == "UPDATE_FAILED" {
            choice.skip.push(name);
        } else {
            choice.not_skippable.push(format!(
                "{name} ({status}: only UPDATE_FAILED can be skipped)"
            ));
        }
    };
    for r in resources {
        visit(None, r);
    }
    for (logical_id, inner) in nested {
        for r in inner {
            visit(Some(logical_id), r);
        }
    }
    choice
}

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
            // The status is re-read right before the call: a stack that is (or
            // became) CREATE_FAILED would be deleted by RollbackStack.
            let live = stack_status(cfn, &stack, policy).await?;
            if live.as_deref() != Some(ROLLBACK_STACK_STATUS) {
                let status = live.unwrap_or_else(|| "gone".into());
                return Err(ExecutionError::Refused(
                    person_must(&stack, &status).unwrap_or_else(|| {
                        format!("stack {stack} is {status}: RollbackStack is only called on {ROLLBACK_STACK_STATUS}")
                    }),
                ));
            }
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
            &cfn,
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
                &cfn,
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

    #[test]
    fn people_handle_the_states_without_a_stable_state() {
        let why = person_must("app", "CREATE_FAILED").unwrap();
        assert!(why.contains("would delete it"), "{why}");
        assert!(person_must("app", "IMPORT_ROLLBACK_FAILED").is_some());
        assert!(person_must("app", "ROLLBACK_FAILED").is_some());
        assert!(person_must("app", "UPDATE_FAILED").is_none());
        assert!(person_must("app", "UPDATE_ROLLBACK_FAILED").is_none());
        assert!(person_must("app", "UPDATE_COMPLETE").is_none());
    }

    fn resource(id: &str, ty: &str, status: &str) -> StackResourceSummary {
        StackResourceSummary {
            logical_id: id.into(),
            physical_id: None,
            resource_type: Some(ty.into()),
            status: Some(status.into()),
        }
    }

    /// ContinueUpdateRollback: "You can specify only resources that are in the
    /// UPDATE_FAILED state because a rollback failed." and nested resources as
    /// "NestedStackName.ResourceLogicalID"
    /// (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ContinueUpdateRollback.html).
    #[test]
    fn resources_to_skip_are_only_update_failed_ones() {
        let top = [
            resource("Broken", "AWS::SQS::Queue", "UPDATE_FAILED"),
            resource("Half", "AWS::SNS::Topic", "CREATE_FAILED"),
            resource("Gone", "AWS::S3::Bucket", "DELETE_FAILED"),
            resource("Fine", "AWS::SSM::Parameter", "UPDATE_COMPLETE"),
            resource("Child", "AWS::CloudFormation::Stack", "UPDATE_FAILED"),
        ];
        let nested = [(
            "Child".to_string(),
            vec![
                resource("Inner", "AWS::Lambda::Function", "UPDATE_FAILED"),
                resource("Ok", "AWS::IAM::Role", "UPDATE_COMPLETE"),
            ],
        )];
        let choice = resources_to_skip(&top, &nested);
        assert_eq!(choice.skip, ["Broken", "Child.Inner"]);
        assert_eq!(choice.not_skippable.len(), 3, "{:?}", choice.not_skippable);
        assert!(choice
            .not_skippable
            .iter()
            .any(|n| n.starts_with("Child (")));
    }
}
