//! Change-set strategies: REVERT_DRIFT (create, describe, check it touches only
//! the drifted resources, execute) and the rollback to the last good template.
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, DeploymentMode, Parameter,
};
use aws_sdk_cloudformation::Client;
use serde_json::Value;

use super::executor::{classify, text, WaitPolicy};
use super::ExecutionError;
use crate::domain::{Plan, PlannedCall};
use crate::error::PortError;
use crate::resilience::{retry, RetryPolicy};

fn find<'p>(plan: &'p Plan, operation: &str) -> Result<&'p PlannedCall, ExecutionError> {
    plan.calls
        .iter()
        .find(|c| c.operation == operation)
        .ok_or_else(|| ExecutionError::Refused(format!("plan has no {operation} call")))
}

/// Create, preview, check and execute the plan's change set; wait for the stack.
pub async fn run(
    cfn: &Client,
    plan: &Plan,
    policy: &RetryPolicy,
    wait: &WaitPolicy,
) -> Result<Vec<String>, ExecutionError> {
    let create = &find(plan, "CreateChangeSet")?.parameters;
    let stack = text(create, "StackName")?;
    let name = text(create, "ChangeSetName")?;
    let revert_drift = create.get("DeploymentMode").and_then(Value::as_str) == Some("REVERT_DRIFT");
    let expect_only: Option<Vec<String>> = plan
        .calls
        .iter()
        .find(|c| c.operation == "DescribeChangeSet")
        .and_then(|c| c.parameters.get("ExpectOnlyLogicalIds"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        });
    let mut notes = Vec::new();

    // Every parameter keeps its value: the change set only reverts, never redeploys.
    let described = retry(policy, "cloudformation:DescribeStacks", || async {
        cfn.describe_stacks()
            .stack_name(&stack)
            .send()
            .await
            .map_err(|e| classify("cloudformation", "DescribeStacks", e))
    })
    .await?;
    let parameters: Vec<Parameter> = described
        .stacks()
        .first()
        .map(|s| s.parameters())
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.parameter_key())
        .map(|k| {
            Parameter::builder()
                .parameter_key(k)
                .use_previous_value(true)
                .build()
        })
        .collect();

    retry(policy, "cloudformation:CreateChangeSet", || async {
        let mut req = cfn
            .create_change_set()
            .stack_name(&stack)
            .change_set_name(&name)
            .change_set_type(ChangeSetType::Update)
            .use_previous_template(true)
            .set_parameters(Some(parameters.clone()))
            .capabilities(Capability::CapabilityIam)
            .capabilities(Capability::CapabilityNamedIam)
            .capabilities(Capability::CapabilityAutoExpand)
            .description("driftguard remediation");
        if revert_drift {
            req = req.deployment_mode(DeploymentMode::RevertDrift);
        }
        req.send()
            .await
            .map_err(|e| classify("cloudformation", "CreateChangeSet", e))
    })
    .await?;
    notes.push(format!(
        "created change set {name} on {stack}{}",
        if revert_drift { " (REVERT_DRIFT)" } else { "" }
    ));

    // Wait for the preview.
    let mut changes: Vec<String> = Vec::new();
    let mut ready = false;
    for poll in 0..wait.max_polls {
        if poll > 0 {
            tokio::time::sleep(wait.interval).await;
        }
        let out = retry(policy, "cloudformation:DescribeChangeSet", || async {
            cfn.describe_change_set()
                .stack_name(&stack)
                .change_set_name(&name)
                .send()
                .await
                .map_err(|e| classify("cloudformation", "DescribeChangeSet", e))
        })
        .await?;
        match out.status() {
            Some(ChangeSetStatus::CreateComplete) => {
                changes = out
                    .changes()
                    .iter()
                    .filter_map(|c| c.resource_change())
                    .map(|rc| rc.logical_resource_id().unwrap_or("?").to_string())
                    .collect();
                ready = true;
                break;
            }
            Some(ChangeSetStatus::Failed) => {
                let reason = out.status_reason().unwrap_or("no reason given").to_string();
                delete(cfn, &stack, &name, policy).await;
                return Err(ExecutionError::Refused(format!(
                    "change set {name} failed to create: {reason}"
                )));
            }
            _ => {}
        }
    }
    if !ready {
        delete(cfn, &stack, &name, policy).await;
        return Err(ExecutionError::Port(PortError::Transient {
            service: "cloudformation",
            operation: "DescribeChangeSet",
            message: format!("change set {name} not ready after {} polls", wait.max_polls),
        }));
    }
    notes.push(format!(
        "change set {name} previews changes to: {}",
        if changes.is_empty() {
            "nothing".to_string()
        } else {
            changes.join(", ")
        }
    ));

    if let Some(only) = &expect_only {
        let others: Vec<&String> = changes.iter().filter(|c| !only.contains(c)).collect();
        if !others.is_empty() {
            delete(cfn, &stack, &name, policy).await;
            return Err(ExecutionError::Refused(format!(
                "change set {name} would also touch {} (expected only {}): deleted, nothing executed",
                others.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                only.join(", ")
            )));
        }
        if changes.is_empty() {
            delete(cfn, &stack, &name, policy).await;
            return Err(ExecutionError::Refused(format!(
                "change set {name} contains no changes: CloudFormation sees nothing to revert"
            )));
        }
    }

    retry(policy, "cloudformation:ExecuteChangeSet", || async {
        cfn.execute_change_set()
            .stack_name(&stack)
            .change_set_name(&name)
            .send()
            .await
            .map_err(|e| classify("cloudformation", "ExecuteChangeSet", e))
    })
    .await?;
    notes.push(format!("executed change set {name}"));

    let status = super::rollback::wait_for_stack(cfn, &stack, policy, wait).await?;
    match status.as_deref() {
        Some(s) if s.ends_with("_COMPLETE") && !s.contains("ROLLBACK") => {
            notes.push(format!("stack {stack} is {s}"));
            Ok(notes)
        }
        other => Err(ExecutionError::Port(PortError::Failed {
            service: "cloudformation",
            operation: "ExecuteChangeSet",
            message: format!(
                "stack {stack} ended {}",
                other.unwrap_or("in an unknown state")
            ),
        })),
    }
}

async fn delete(cfn: &Client, stack: &str, name: &str, policy: &RetryPolicy) {
    let result = retry(policy, "cloudformation:DeleteChangeSet", || async {
        cfn.delete_change_set()
            .stack_name(stack)
            .change_set_name(name)
            .send()
            .await
            .map_err(|e| classify("cloudformation", "DeleteChangeSet", e))
    })
    .await;
    if let Err(e) = result {
        // A leftover change set is harmless: it is never executed.
        tracing::warn!(stack, change_set = name, error = %e, "could not delete change set");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput;
    use aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput;
    use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
    use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
    use aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput;
    use aws_sdk_cloudformation::types::{Change, ResourceChange, Stack, StackStatus};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use serde_json::json;

    use crate::domain::Strategy;

    fn stack(status: StackStatus) -> DescribeStacksOutput {
        DescribeStacksOutput::builder()
            .stacks(
                Stack::builder()
                    .stack_name("app")
                    .stack_status(status)
                    .parameters(
                        Parameter::builder()
                            .parameter_key("Level")
                            .parameter_value("info")
                            .build(),
                    )
                    .creation_time(aws_smithy_types::DateTime::from_secs(0))
                    .build(),
            )
            .build()
    }

    fn change(logical: &str) -> Change {
        Change::builder()
            .resource_change(
                ResourceChange::builder()
                    .logical_resource_id(logical)
                    .build(),
            )
            .build()
    }

    pub(crate) fn revert_plan() -> Plan {
        Plan {
            strategy: Strategy::RevertDriftChangeSet,
            calls: vec![
                PlannedCall::new(
                    "cloudformation",
                    "CreateChangeSet",
                    json!({"StackName": "app", "ChangeSetName": "cs1", "DeploymentMode": "REVERT_DRIFT"}),
                ),
                PlannedCall::new(
                    "cloudformation",
                    "DescribeChangeSet",
                    json!({"StackName": "app", "ChangeSetName": "cs1", "ExpectOnlyLogicalIds": ["Sg"]}),
                ),
                PlannedCall::new(
                    "cloudformation",
                    "ExecuteChangeSet",
                    json!({"StackName": "app", "ChangeSetName": "cs1"}),
                ),
            ],
            expected: "Sg matches its template".into(),
            skipped: vec![],
        }
    }

    #[tokio::test]
    async fn revert_drift_change_set_touching_only_the_drifted_resource_is_executed() {
        let create = mock!(aws_sdk_cloudformation::Client::create_change_set)
            .match_requests(|r| {
                r.deployment_mode() == Some(&DeploymentMode::RevertDrift)
                    && r.use_previous_template() == Some(true)
                    && r.parameters()
                        .iter()
                        .all(|p| p.use_previous_value() == Some(true))
            })
            .then_output(|| CreateChangeSetOutput::builder().id("cs-arn").build());
        let describe_cs = mock!(aws_sdk_cloudformation::Client::describe_change_set)
            .sequence()
            .output(|| {
                DescribeChangeSetOutput::builder()
                    .status(ChangeSetStatus::CreatePending)
                    .build()
            })
            .output(|| {
                DescribeChangeSetOutput::builder()
                    .status(ChangeSetStatus::CreateComplete)
                    .changes(change("Sg"))
                    .build()
            })
            .build();
        let execute = mock!(aws_sdk_cloudformation::Client::execute_change_set)
            .then_output(|| ExecuteChangeSetOutput::builder().build());
        let stacks = mock!(aws_sdk_cloudformation::Client::describe_stacks)
            .sequence()
            .output(|| stack(StackStatus::UpdateComplete))
            .output(|| stack(StackStatus::UpdateInProgress))
            .output(|| stack(StackStatus::UpdateComplete))
            .build();
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            [&create, &describe_cs, &execute, &stacks]
        );
        let notes = run(
            &cfn,
            &revert_plan(),
            &RetryPolicy::quick(),
            &WaitPolicy::quick(),
        )
        .await
        .unwrap();
        assert_eq!(create.num_calls(), 1);
        assert_eq!(describe_cs.num_calls(), 2);
        assert_eq!(execute.num_calls(), 1);
        assert!(
            notes.iter().any(|n| n.contains("previews changes to: Sg")),
            "{notes:?}"
        );
        assert!(notes.last().unwrap().contains("UPDATE_COMPLETE"));
    }

    #[tokio::test]
    async fn revert_drift_change_set_touching_other_resources_is_refused_and_deleted() {
        let create = mock!(aws_sdk_cloudformation::Client::create_change_set)
            .then_output(|| CreateChangeSetOutput::builder().id("cs-arn").build());
        let describe_cs =
            mock!(aws_sdk_cloudformation::Client::describe_change_set).then_output(|| {
                DescribeChangeSetOutput::builder()
                    .status(ChangeSetStatus::CreateComplete)
                    .changes(change("Sg"))
                    .changes(change("Database"))
                    .build()
            });
        let execute = mock!(aws_sdk_cloudformation::Client::execute_change_set)
            .then_output(|| ExecuteChangeSetOutput::builder().build());
        let delete = mock!(aws_sdk_cloudformation::Client::delete_change_set)
            .then_output(|| DeleteChangeSetOutput::builder().build());
        let stacks = mock!(aws_sdk_cloudformation::Client::describe_stacks)
            .then_output(|| stack(StackStatus::UpdateComplete));
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            [&create, &describe_cs, &execute, &delete, &stacks]
        );
        let err = run(
            &cfn,
            &revert_plan(),
            &RetryPolicy::quick(),
            &WaitPolicy::quick(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, ExecutionError::Refused(why) if why.contains("would also touch Database")),
            "{err}"
        );
        assert_eq!(execute.num_calls(), 0, "nothing executed");
        assert_eq!(delete.num_calls(), 1, "the change set is cleaned up");
    }

    #[tokio::test]
    async fn an_empty_revert_drift_change_set_is_refused() {
        let create = mock!(aws_sdk_cloudformation::Client::create_change_set)
            .then_output(|| CreateChangeSetOutput::builder().build());
        let describe_cs =
            mock!(aws_sdk_cloudformation::Client::describe_change_set).then_output(|| {
                DescribeChangeSetOutput::builder()
                    .status(ChangeSetStatus::CreateComplete)
                    .build()
            });
        let delete = mock!(aws_sdk_cloudformation::Client::delete_change_set)
            .then_output(|| DeleteChangeSetOutput::builder().build());
        let stacks = mock!(aws_sdk_cloudformation::Client::describe_stacks)
            .then_output(|| stack(StackStatus::UpdateComplete));
        let cfn = mock_client!(
            aws_sdk_cloudformation,
            RuleMode::MatchAny,
            [&create, &describe_cs, &delete, &stacks]
        );
        let err = run(
            &cfn,
            &revert_plan(),
            &RetryPolicy::quick(),
            &WaitPolicy::quick(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, ExecutionError::Refused(why) if why.contains("no changes")),
            "{err}"
        );
    }
}
