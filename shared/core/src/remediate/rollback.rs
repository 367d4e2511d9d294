//! Stack rollbacks by status: `CancelUpdateStack` (UPDATE_IN_PROGRESS),
//! `ContinueUpdateRollback` (UPDATE_ROLLBACK_FAILED, `ResourcesToSkip` only when
//! the policy allows and only resources whose rollback failed), `RollbackStack`
//! (UPDATE_FAILED only). The change set back to the last good template is in
//! [`super::changeset`]. Pure rules here ([`person_must`], [`resources_to_skip`],
//! the live-status check before `RollbackStack`); the calls go through the
//! [`StackRollbacks`] port (AWS: `adapters::aws::rollbacks`, memory:
//! `adapters::memory::rollbacks`).
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

use super::executor::WaitPolicy;
use super::strategy_calls::RollbackCall;
use crate::ports::remediate::{ExecutionError, StackRollbacks};
use crate::ports::StackResourceSummary;
use crate::resilience::{retry, RetryPolicy};
use driftguard_model::error::PortResult;

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

/// What a started rollback call did, in words.
fn started(call: &RollbackCall) -> String {
    let stack = call.stack();
    match call {
        RollbackCall::CancelUpdateStack(_) => format!("cancelled the update of {stack}"),
        RollbackCall::ContinueUpdateRollback(c) => format!(
            "continued the rollback of {stack}{}",
            match c.resources_to_skip.as_deref() {
                None | Some([]) => String::new(),
                Some(skip) => format!(", skipping {}", skip.join(", ")),
            }
        ),
        RollbackCall::RollbackStack(_) => format!("rolled {stack} back to its last stable state"),
    }
}

/// The status is re-read right before `RollbackStack`: a stack that is (or
/// became) CREATE_FAILED would be deleted by it.
async fn check_live_status(
    api: &dyn StackRollbacks,
    stack: &str,
    policy: &RetryPolicy,
) -> Result<(), ExecutionError> {
    let live = stack_status(api, stack, policy).await?;
    if live.as_deref() == Some(ROLLBACK_STACK_STATUS) {
        return Ok(());
    }
    let status = live.unwrap_or_else(|| "gone".into());
    Err(ExecutionError::Refused(
        person_must(stack, &status).unwrap_or_else(|| {
            format!("stack {stack} is {status}: RollbackStack is only called on {ROLLBACK_STACK_STATUS}")
        }),
    ))
}

/// Start the plan's rollback call. Rollbacks are asynchronous: the caller
/// checks the stack status afterwards.
pub async fn run(
    api: &dyn StackRollbacks,
    call: &RollbackCall,
    policy: &RetryPolicy,
) -> Result<Vec<String>, ExecutionError> {
    if let RollbackCall::RollbackStack(c) = call {
        check_live_status(api, &c.stack_name, policy).await?;
    }
    retry(policy, call.name(), || api.start(call)).await?;
    Ok(vec![started(call)])
}

/// `DescribeStacks` status of one stack; `None` when it does not exist.
pub async fn stack_status(
    api: &dyn StackRollbacks,
    stack: &str,
    policy: &RetryPolicy,
) -> PortResult<Option<String>> {
    retry(policy, "cloudformation:DescribeStacks", || {
        api.stack_status(stack)
    })
    .await
}

/// Poll until the stack is no longer `*_IN_PROGRESS` (or polls run out).
pub async fn wait_for_stack(
    api: &dyn StackRollbacks,
    stack: &str,
    policy: &RetryPolicy,
    wait: &WaitPolicy,
) -> PortResult<Option<String>> {
    let mut last = None;
    for poll in 0..wait.max_polls {
        if poll > 0 {
            tokio::time::sleep(wait.interval).await;
        }
        last = stack_status(api, stack, policy).await?;
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
    use crate::memory::rollbacks::MemoryStackRollbacks;
    use crate::remediate::strategy_calls::RollbackStack;

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

    /// The live-status rule over the in-memory port: a stored RollbackStack
    /// plan on a stack that is now CREATE_FAILED (RollbackStack would delete
    /// it) is refused and never started; on UPDATE_FAILED it starts.
    #[tokio::test]
    async fn rollback_stack_is_started_only_on_a_live_update_failed() {
        let call = RollbackCall::RollbackStack(RollbackStack {
            stack_name: "app".into(),
        });
        let api = MemoryStackRollbacks::with_status("app", "CREATE_FAILED");
        let err = run(&api, &call, &RetryPolicy::quick()).await.unwrap_err();
        assert!(
            matches!(&err, ExecutionError::Refused(why) if why.contains("would delete it")),
            "{err}"
        );
        assert!(api.started().is_empty());
        let api = MemoryStackRollbacks::with_status("app", "UPDATE_FAILED");
        let notes = run(&api, &call, &RetryPolicy::quick()).await.unwrap();
        assert_eq!(api.started(), [call]);
        assert_eq!(notes, ["rolled app back to its last stable state"]);
        let gone = MemoryStackRollbacks::default();
        let err = run(&gone, &api.started()[0], &RetryPolicy::quick())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("is gone"), "{err}");
    }
}
