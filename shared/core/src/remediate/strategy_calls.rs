//! Typed calls of the multi-step strategies, one enum per strategy:
//! [`ChangeSetCall`] (REVERT_DRIFT and the known-good rollback),
//! [`CloudControlCall`] and [`RollbackCall`]; and [`StrategyCalls`], a plan's
//! calls typed by its strategy, which the AWS executor
//! (`adapters::aws::remediation::AwsExecutor`) matches exhaustively.
//!
//! Why one enum per strategy and not more variants of [`Call`]: an inverse
//! call is one act plus one read-back (`CallApi`), while a change set is
//! create → preview every page → review → execute, a Cloud Control patch is a
//! request polled to its end, a rollback is a call re-checked against the live
//! status. With separate enums a stored inverse-call plan cannot smuggle in an
//! `ExecuteChangeSet` that skips the review: [`StrategyCalls::of`] refuses any
//! call its strategy does not make.
//!
//! Stored in the same `{service, operation, parameters}` shape as before the
//! types existed (every field optional that the planner does not always write),
//! so stored tickets read and their digests do not move (tests below).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::call::{calls, Call, CallError};
use driftguard_model::domain::{Plan, Strategy};

/// `CreateChangeSet`, as the planner writes it: REVERT_DRIFT
/// (`DeploymentMode`, `UsePreviousTemplate`) or a known-good version
/// (`TemplateBody`, its `TemplateDigest`, the parameter values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateChangeSet {
    pub stack_name: String,
    pub change_set_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_set_type: Option<String>,
    /// `REVERT_DRIFT` for a drift-aware change set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_previous_template: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_body: Option<String>,
    /// sha256 of the known-good version (shown, not sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<ChangeSetParameters>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
}

impl CreateChangeSet {
    pub fn revert_drift(&self) -> bool {
        self.deployment_mode.as_deref() == Some("REVERT_DRIFT")
    }
}

/// A change set's parameters as the plan stores them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ChangeSetParameters {
    /// Exactly these values (a known-good version).
    Values(BTreeMap<String, String>),
    /// Every current stack parameter keeps its previous value; the text is
    /// what the plan shows ("UsePreviousValue for every stack parameter").
    UsePreviousValues(String),
}

/// `DescribeChangeSet`, with what the preview may contain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeChangeSet {
    pub stack_name: String,
    pub change_set_name: String,
    /// REVERT_DRIFT: the only logical ids the change set may touch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_only_logical_ids: Option<Vec<String>>,
    /// The plan is approved with replacements allowed (known-good rollback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_replacement: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecuteChangeSet {
    pub stack_name: String,
    pub change_set_name: String,
}

/// Cloud Control `UpdateResource`; the JSON Patch as JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateResource {
    pub type_name: String,
    pub identifier: String,
    pub patch_document: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CancelUpdateStack {
    pub stack_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContinueUpdateRollback {
    pub stack_name: String,
    /// Only resources in `UPDATE_FAILED` because their rollback failed
    /// (`rollback::resources_to_skip`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources_to_skip: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RollbackStack {
    pub stack_name: String,
}

calls! {
    /// The calls of a change-set plan (REVERT_DRIFT or a known-good rollback).
    ChangeSetCall {
        CreateChangeSet(CreateChangeSet) = "cloudformation":"CreateChangeSet" => "created",
        DescribeChangeSet(DescribeChangeSet) = "cloudformation":"DescribeChangeSet" => "previewed",
        ExecuteChangeSet(ExecuteChangeSet) = "cloudformation":"ExecuteChangeSet" => "executed",
    }
}

calls! {
    /// The call of a Cloud Control plan.
    CloudControlCall {
        UpdateResource(UpdateResource) = "cloudcontrol":"UpdateResource" => "patched",
    }
}

calls! {
    /// The call of a stack-rollback plan that is not a change set.
    RollbackCall {
        CancelUpdateStack(CancelUpdateStack) = "cloudformation":"CancelUpdateStack" => "cancelled",
        ContinueUpdateRollback(ContinueUpdateRollback) = "cloudformation":"ContinueUpdateRollback" => "continued",
        RollbackStack(RollbackStack) = "cloudformation":"RollbackStack" => "rolled back",
    }
}

impl RollbackCall {
    /// The stack the call acts on.
    pub fn stack(&self) -> &str {
        match self {
            RollbackCall::CancelUpdateStack(c) => &c.stack_name,
            RollbackCall::ContinueUpdateRollback(c) => &c.stack_name,
            RollbackCall::RollbackStack(c) => &c.stack_name,
        }
    }
}

/// A change-set plan, typed: one `CreateChangeSet`, at most one
/// `DescribeChangeSet` and one `ExecuteChangeSet`, all on the same change set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetPlan {
    pub create: CreateChangeSet,
    pub describe: Option<DescribeChangeSet>,
    pub execute: Option<ExecuteChangeSet>,
}

fn shape(strategy: Strategy, problem: impl Into<String>) -> CallError {
    CallError::Shape {
        strategy: strategy.as_str(),
        problem: problem.into(),
    }
}

impl ChangeSetPlan {
    pub fn of(plan: &Plan) -> Result<Self, CallError> {
        let twice = |api: &str| shape(plan.strategy, format!("has two {api} calls"));
        let (mut create, mut describe, mut execute) = (None, None, None);
        for call in &plan.calls {
            match ChangeSetCall::from_planned(call)? {
                ChangeSetCall::CreateChangeSet(c) if create.is_none() => create = Some(c),
                ChangeSetCall::DescribeChangeSet(d) if describe.is_none() => describe = Some(d),
                ChangeSetCall::ExecuteChangeSet(e) if execute.is_none() => execute = Some(e),
                other => return Err(twice(other.name())),
            }
        }
        let create = create.ok_or_else(|| shape(plan.strategy, "has no CreateChangeSet call"))?;
        let same =
            |stack: &str, name: &str| stack == create.stack_name && name == create.change_set_name;
        let d = describe
            .as_ref()
            .map(|d| (&d.stack_name, &d.change_set_name));
        let e = execute
            .as_ref()
            .map(|e| (&e.stack_name, &e.change_set_name));
        if d.into_iter()
            .chain(e)
            .any(|(stack, name)| !same(stack, name))
        {
            return Err(shape(
                plan.strategy,
                format!(
                    "names another change set than {} on {}",
                    create.change_set_name, create.stack_name
                ),
            ));
        }
        Ok(Self {
            create,
            describe,
            execute,
        })
    }
}

/// A plan's calls, typed by its strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrategyCalls {
    Inverse(Vec<Call>),
    /// REVERT_DRIFT, or a stack rollback to a known-good version (boxed: the
    /// largest variant by far).
    ChangeSet(Box<ChangeSetPlan>),
    CloudControl(UpdateResource),
    Rollback(RollbackCall),
}

fn only_call(plan: &Plan) -> Result<&driftguard_model::domain::PlannedCall, CallError> {
    match plan.calls.as_slice() {
        [one] => Ok(one),
        calls => Err(shape(
            plan.strategy,
            format!("has {} calls, not one", calls.len()),
        )),
    }
}

impl StrategyCalls {
    /// Type every call of `plan`; a call its strategy does not make refuses it.
    pub fn of(plan: &Plan) -> Result<Self, CallError> {
        let first = plan.calls.first().map(|c| c.operation.as_str());
        match plan.strategy {
            Strategy::InverseCall => plan
                .calls
                .iter()
                .map(Call::from_planned)
                .collect::<Result<_, _>>()
                .map(StrategyCalls::Inverse),
            Strategy::RevertDriftChangeSet => {
                ChangeSetPlan::of(plan).map(|c| StrategyCalls::ChangeSet(Box::new(c)))
            }
            Strategy::StackRollback if first == Some("CreateChangeSet") => {
                ChangeSetPlan::of(plan).map(|c| StrategyCalls::ChangeSet(Box::new(c)))
            }
            Strategy::StackRollback => {
                RollbackCall::from_planned(only_call(plan)?).map(StrategyCalls::Rollback)
            }
            Strategy::CloudControlPatch => {
                match CloudControlCall::from_planned(only_call(plan)?)? {
                    CloudControlCall::UpdateResource(u) => Ok(StrategyCalls::CloudControl(u)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use driftguard_model::domain::PlannedCall;
    use serde_json::json;

    /// Plans of the multi-step strategies as stored before the typed calls, in
    /// the `{service, operation, parameters}` shape the planner wrote
    /// (`planner::revert_drift_change_set`, `history::rollback_plan`,
    /// `planner::cloud_control_patch`, `planner::stack_rollback`).
    const STORED_PLANS: &str = r#"[
      {"strategy": "revert_drift_change_set", "calls": [
        {"service": "cloudformation", "operation": "CreateChangeSet", "parameters": {"StackName": "app", "ChangeSetName": "driftguard-revert-t-1", "ChangeSetType": "UPDATE", "DeploymentMode": "REVERT_DRIFT", "UsePreviousTemplate": true, "Parameters": "UsePreviousValue for every stack parameter", "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]}},
        {"service": "cloudformation", "operation": "DescribeChangeSet", "parameters": {"StackName": "app", "ChangeSetName": "driftguard-revert-t-1", "ExpectOnlyLogicalIds": ["Sg"]}},
        {"service": "cloudformation", "operation": "ExecuteChangeSet", "parameters": {"StackName": "app", "ChangeSetName": "driftguard-revert-t-1"}}
      ], "expected": "Sg matches its template again"},
      {"strategy": "stack_rollback", "calls": [
        {"service": "cloudformation", "operation": "CreateChangeSet", "parameters": {"StackName": "app", "ChangeSetName": "driftguard-v2-t-1", "ChangeSetType": "UPDATE", "TemplateBody": "Resources: {}", "TemplateDigest": "abc", "Parameters": {"Level": "info"}}},
        {"service": "cloudformation", "operation": "DescribeChangeSet", "parameters": {"StackName": "app", "ChangeSetName": "driftguard-v2-t-1", "AllowReplacement": true}},
        {"service": "cloudformation", "operation": "ExecuteChangeSet", "parameters": {"StackName": "app", "ChangeSetName": "driftguard-v2-t-1"}}
      ], "expected": "app runs known-good version 2 again", "skipped": [["inverse_call", "no handler"]]},
      {"strategy": "cloud_control_patch", "calls": [
        {"service": "cloudcontrol", "operation": "UpdateResource", "parameters": {"TypeName": "AWS::SQS::Queue", "Identifier": "https://sqs/q", "PatchDocument": "[{\"op\":\"test\",\"path\":\"/VisibilityTimeout\",\"value\":0}]"}}
      ], "expected": "q has the expected values"},
      {"strategy": "stack_rollback", "calls": [{"service": "cloudformation", "operation": "CancelUpdateStack", "parameters": {"StackName": "app"}}], "expected": "cancelled"},
      {"strategy": "stack_rollback", "calls": [{"service": "cloudformation", "operation": "ContinueUpdateRollback", "parameters": {"StackName": "app"}}], "expected": "continued"},
      {"strategy": "stack_rollback", "calls": [{"service": "cloudformation", "operation": "ContinueUpdateRollback", "parameters": {"StackName": "app", "ResourcesToSkip": ["Broken", "Child.Inner"]}}], "expected": "continued, skipping"},
      {"strategy": "stack_rollback", "calls": [{"service": "cloudformation", "operation": "RollbackStack", "parameters": {"StackName": "app"}}], "expected": "stable again"}
    ]"#;

    fn to_planned(typed: &StrategyCalls) -> Vec<PlannedCall> {
        match typed {
            StrategyCalls::Inverse(calls) => calls.iter().map(Call::to_planned).collect(),
            StrategyCalls::ChangeSet(cs) => {
                let mut calls = vec![ChangeSetCall::CreateChangeSet(cs.create.clone())];
                calls.extend(cs.describe.clone().map(ChangeSetCall::DescribeChangeSet));
                calls.extend(cs.execute.clone().map(ChangeSetCall::ExecuteChangeSet));
                calls.iter().map(ChangeSetCall::to_planned).collect()
            }
            StrategyCalls::CloudControl(u) => {
                vec![CloudControlCall::UpdateResource(u.clone()).to_planned()]
            }
            StrategyCalls::Rollback(r) => vec![r.to_planned()],
        }
    }

    #[test]
    fn stored_strategy_plans_read_as_typed_calls_and_write_back_with_the_same_digest() {
        let plans: Vec<Plan> = serde_json::from_str(STORED_PLANS).unwrap();
        let mut kinds = Vec::new();
        for plan in &plans {
            let typed = StrategyCalls::of(plan).unwrap();
            let again = Plan {
                calls: to_planned(&typed),
                ..plan.clone()
            };
            assert_eq!(again, *plan, "{typed:?}");
            // An approval names the plan by its digest: it must not move.
            assert_eq!(again.digest(), plan.digest());
            kinds.push(match typed {
                StrategyCalls::Inverse(_) => "inverse",
                StrategyCalls::ChangeSet(_) => "change set",
                StrategyCalls::CloudControl(_) => "cloud control",
                StrategyCalls::Rollback(_) => "rollback",
            });
        }
        assert_eq!(
            kinds,
            [
                "change set",
                "change set",
                "cloud control",
                "rollback",
                "rollback",
                "rollback",
                "rollback"
            ]
        );
        let StrategyCalls::ChangeSet(revert) = StrategyCalls::of(&plans[0]).unwrap() else {
            unreachable!()
        };
        assert!(revert.create.revert_drift());
        assert!(matches!(
            revert.create.parameters,
            Some(ChangeSetParameters::UsePreviousValues(_))
        ));
        let StrategyCalls::ChangeSet(good) = StrategyCalls::of(&plans[1]).unwrap() else {
            unreachable!()
        };
        assert_eq!(
            good.create.parameters,
            Some(ChangeSetParameters::Values(BTreeMap::from([(
                "Level".to_string(),
                "info".to_string()
            )])))
        );
        // Serde of the enums themselves is the same shape.
        let one: RollbackCall =
            serde_json::from_value(serde_json::to_value(&plans[5].calls[0]).unwrap()).unwrap();
        assert_eq!(
            serde_json::to_value(&one).unwrap(),
            serde_json::to_value(&plans[5].calls[0]).unwrap()
        );
    }

    fn plan(strategy: Strategy, calls: Vec<PlannedCall>) -> Plan {
        Plan {
            strategy,
            calls,
            expected: String::new(),
            skipped: vec![],
        }
    }

    fn cfn(op: &str, params: serde_json::Value) -> PlannedCall {
        PlannedCall::new("cloudformation", op, params)
    }

    #[test]
    fn a_call_its_strategy_does_not_make_refuses_the_plan() {
        let revoke = PlannedCall::new(
            "ec2",
            "RevokeSecurityGroupIngress",
            json!({"GroupId": "sg-1", "SecurityGroupRuleIds": ["sgr-1"]}),
        );
        let execute = cfn(
            "ExecuteChangeSet",
            json!({"StackName": "app", "ChangeSetName": "cs1"}),
        );
        // An inverse-call plan cannot execute a change set without its review.
        let err = StrategyCalls::of(&plan(
            Strategy::InverseCall,
            vec![revoke.clone(), execute.clone()],
        ));
        assert_eq!(
            err.unwrap_err().to_string(),
            "the executor does not know cloudformation:ExecuteChangeSet"
        );
        let err = StrategyCalls::of(&plan(Strategy::RevertDriftChangeSet, vec![execute.clone()]));
        assert_eq!(
            err.unwrap_err().to_string(),
            "a revert_drift_change_set plan has no CreateChangeSet call"
        );
        let create = cfn(
            "CreateChangeSet",
            json!({"StackName": "app", "ChangeSetName": "cs1"}),
        );
        let other = cfn(
            "ExecuteChangeSet",
            json!({"StackName": "app", "ChangeSetName": "cs2"}),
        );
        let err = StrategyCalls::of(&plan(
            Strategy::RevertDriftChangeSet,
            vec![create.clone(), other],
        ));
        assert!(
            err.unwrap_err().to_string().contains("another change set"),
            "an execute of another change set is refused"
        );
        let err = StrategyCalls::of(&plan(
            Strategy::RevertDriftChangeSet,
            vec![create.clone(), execute.clone(), execute],
        ));
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("two cloudformation:ExecuteChangeSet"));
        let rollback = cfn("RollbackStack", json!({"StackName": "app"}));
        let err = StrategyCalls::of(&plan(
            Strategy::StackRollback,
            vec![rollback.clone(), rollback],
        ));
        assert_eq!(
            err.unwrap_err().to_string(),
            "a stack_rollback plan has 2 calls, not one"
        );
        let err = StrategyCalls::of(&plan(Strategy::CloudControlPatch, vec![revoke]));
        assert_eq!(
            err.unwrap_err().to_string(),
            "the executor does not know ec2:RevokeSecurityGroupIngress"
        );
        let bad = cfn(
            "CreateChangeSet",
            json!({"StackName": "app", "ChangeSetName": "cs1", "Parameters": {"Level": 3}}),
        );
        let err = StrategyCalls::of(&plan(Strategy::RevertDriftChangeSet, vec![bad]));
        assert!(
            err.unwrap_err()
                .to_string()
                .contains("cloudformation:CreateChangeSet has bad parameters"),
            "a parameter value that is not a string is refused"
        );
    }
}
