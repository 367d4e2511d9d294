//! Runs a plan's inverse calls and reads them back, over the [`CallApi`]
//! port, every call with bounded retries (backoff, jitter, per-attempt timeout).
//! Pure but for the port: the SDK calls are in `adapters::aws::remediation`
//! (whose `AwsExecutor` also runs the change-set, Cloud Control and rollback
//! strategies over their ports), the double is `adapters::memory::remediation::MemoryCalls`.
use std::time::Duration;

use super::call::Call;
use super::handlers;
use crate::ports::remediate::{CallApi, ExecutionError, ReadBack};
use crate::resilience::{retry, RetryPolicy};
use driftguard_model::domain::Plan;
use driftguard_model::error::{PortError, PortResult};

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

/// The plan's calls, typed; a call the executor does not know refuses the plan.
pub fn typed_calls(plan: &Plan) -> Result<Vec<Call>, ExecutionError> {
    plan.calls
        .iter()
        .map(|c| Call::from_planned(c).map_err(|e| ExecutionError::Refused(e.to_string())))
        .collect()
}

/// A removal of something already gone is the state we wanted.
fn already_gone(e: &PortError) -> bool {
    matches!(e, PortError::NotFound { .. })
        || matches!(e, PortError::Failed { message, .. } if message.contains("InvalidPermission.NotFound"))
}

/// Make one call with retries; a note in words of what it did.
async fn act(
    api: &dyn CallApi,
    policy: &RetryPolicy,
    call: &Call,
) -> Result<String, ExecutionError> {
    let name = call.name();
    let target = call.to_planned();
    let target = super::planner::target_of(&target).unwrap_or_default();
    match retry(policy, name, || api.act(call)).await {
        Ok(()) => {
            tracing::info!(call = name, target, "inverse call made");
            Ok(format!("{name} {target}: {}", call.done()))
        }
        Err(e) if call.gone_is_done() && already_gone(&e) => {
            tracing::info!(call = name, target, error = %e, "already gone");
            Ok(format!("{name} {target}: already gone ({e})"))
        }
        Err(e) => Err(e.into()),
    }
}

/// Run an inverse-call plan, call by call; the first failure stops it.
pub async fn run_calls(
    api: &dyn CallApi,
    policy: &RetryPolicy,
    plan: &Plan,
) -> Result<Vec<String>, ExecutionError> {
    run_typed(api, policy, &typed_calls(plan)?).await
}

/// Make the typed calls in order; the first failure stops them.
pub async fn run_typed(
    api: &dyn CallApi,
    policy: &RetryPolicy,
    calls: &[Call],
) -> Result<Vec<String>, ExecutionError> {
    let mut notes = Vec::new();
    for call in calls {
        notes.push(act(api, policy, call).await?);
    }
    Ok(notes)
}

/// Read every call's resource back; converged when all are.
pub async fn read_back_calls(
    api: &dyn CallApi,
    policy: &RetryPolicy,
    plan: &Plan,
) -> PortResult<ReadBack> {
    let calls = typed_calls(plan).map_err(|e| PortError::Unsupported {
        service: "driftguard",
        operation: "read_back",
        message: e.to_string(),
    })?;
    let mut details = Vec::new();
    let mut converged = true;
    for call in &calls {
        let seen = retry(policy, call.name(), || api.observe(call)).await?;
        let rb = handlers::judge(call, &seen);
        tracing::info!(call = call.name(), converged = rb.converged, detail = %rb.detail, "read back");
        converged &= rb.converged;
        details.push(rb.detail);
    }
    Ok(ReadBack {
        converged,
        detail: details.join("; "),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::memory::remediation::MemoryCalls;
    use crate::ports::remediate::Observed;
    use driftguard_model::domain::{PlannedCall, Strategy};
    use serde_json::json;

    fn plan(calls: Vec<PlannedCall>) -> Plan {
        Plan {
            strategy: Strategy::InverseCall,
            calls,
            expected: String::new(),
            skipped: vec![],
        }
    }

    fn put_parameter() -> PlannedCall {
        PlannedCall::new(
            "ssm",
            "PutParameter",
            json!({"Name": "/app/level", "Value": "info", "Type": "String", "Overwrite": true}),
        )
    }

    #[tokio::test]
    async fn calls_are_made_in_order_and_read_back_through_the_handler() {
        let api = MemoryCalls::new();
        let detach = PlannedCall::new(
            "iam",
            "DetachRolePolicy",
            json!({"RoleName": "r", "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
        );
        let p = plan(vec![put_parameter(), detach]);
        let notes = run_calls(&api, &RetryPolicy::quick(), &p).await.unwrap();
        assert_eq!(
            notes,
            [
                "ssm:PutParameter /app/level: restored",
                "iam:DetachRolePolicy r: detached"
            ]
        );
        assert_eq!(api.acted(), typed_calls(&p).unwrap());
        api.observe_as("ssm:PutParameter", Ok(Observed::Parameter("info".into())));
        api.observe_as(
            "iam:DetachRolePolicy",
            Ok(Observed::AttachedPolicies(vec![])),
        );
        let rb = read_back_calls(&api, &RetryPolicy::quick(), &p)
            .await
            .unwrap();
        assert!(rb.converged, "{}", rb.detail);
        api.observe_as("ssm:PutParameter", Ok(Observed::Parameter("debug".into())));
        let rb = read_back_calls(&api, &RetryPolicy::quick(), &p)
            .await
            .unwrap();
        assert!(
            !rb.converged && rb.detail.contains("\"debug\""),
            "{}",
            rb.detail
        );
    }

    #[tokio::test]
    async fn a_removal_already_done_is_fine_and_other_failures_stop_the_plan() {
        let api = MemoryCalls::new();
        let revoke = PlannedCall::new(
            "ec2",
            "RevokeSecurityGroupIngress",
            json!({"GroupId": "sg-1", "SecurityGroupRuleIds": ["sgr-1"]}),
        );
        api.fail_next(PortError::Failed {
            service: "ec2",
            operation: "RevokeSecurityGroupIngress",
            message: "InvalidPermission.NotFound: no such rule".into(),
        });
        let notes = run_calls(&api, &RetryPolicy::quick(), &plan(vec![revoke]))
            .await
            .unwrap();
        assert!(notes[0].contains("already gone"), "{notes:?}");
        api.fail_next(PortError::NotFound {
            what: "ssm:PutParameter".into(),
        });
        let err = run_calls(&api, &RetryPolicy::quick(), &plan(vec![put_parameter()]))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ExecutionError::Port(PortError::NotFound { .. })),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_unknown_call_refuses_the_plan_before_anything_is_done() {
        let api = MemoryCalls::new();
        let bad = PlannedCall::new("ec2", "TerminateInstances", json!({"InstanceIds": ["i-1"]}));
        let err = run_calls(
            &api,
            &RetryPolicy::quick(),
            &plan(vec![put_parameter(), bad]),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err,
            ExecutionError::Refused("the executor does not know ec2:TerminateInstances".into())
        );
        assert!(api.acted().is_empty());
    }
}
