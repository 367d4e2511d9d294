//! Pure planning: from a ticket's facts to a [`Plan`], strategy by strategy.
//!
//! Order for a `revert` verdict (first that applies wins, each skipped one is
//! recorded with why): REVERT_DRIFT change set → inverse call → Cloud Control
//! patch → stack rollback. A `rollback` verdict plans only the stack rollback.
//! Values to restore come from CloudFormation's drift result (expected
//! properties) or from the template for simple literal cases; never guessed.
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::call::Call;
use super::handlers::{self, same_resource};
use super::template::TemplateView;
use crate::ports::StackResourceSummary;
use driftguard_model::domain::stack_operation_in_progress;
use driftguard_model::domain::DriftOrigin;
use driftguard_model::domain::{
    policy::Policy, Action, Change, Drift, DriftStatus, Plan, PlannedCall, ResourceRef,
    StackMembership, Strategy,
};
use driftguard_model::sources::identifiers::is_unlisted;

/// Everything one plan is made from.
#[derive(Debug, Clone)]
pub struct PlanInput<'a> {
    pub ticket_id: &'a str,
    pub action: Action,
    /// The change that triggered the verdict (its request is the exact undo).
    pub change: Option<&'a Change>,
    /// CloudFormation's drift result, when drift detection ran.
    pub drift: Option<&'a Drift>,
    /// The event's own drift facts.
    pub event_drift: Option<&'a Drift>,
    pub resource: &'a ResourceRef,
    /// Ownership as re-checked just before planning.
    pub membership: &'a StackMembership,
    /// The stack's current status (re-checked).
    pub stack_status: &'a str,
    /// The stack template, or why it is not available.
    pub template: Result<&'a TemplateView, &'a str>,
    /// The stack's resources with their status (rollback: what to skip).
    pub stack_resources: &'a [StackResourceSummary],
    /// The stack's known-good versions, oldest first (rollback of a stable stack).
    pub known_good: &'a [crate::ports::remediate::KnownGood],
    pub policy: &'a Policy,
    pub now: DateTime<Utc>,
}

/// A plan, plus whether the plan itself demands approval whatever the verdict says.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub plan: Plan,
    pub approval_required: Option<String>,
}

/// No strategy applies: why, strategy by strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct NoPlan {
    pub reason: String,
    pub skipped: Vec<(Strategy, String)>,
}

/// Make the plan for one remediation.
pub fn plan(input: &PlanInput<'_>) -> Result<Planned, NoPlan> {
    plan_excluding(input, &[])
}

/// Make the plan with some strategies ruled out by what was learnt after
/// planning (a REVERT_DRIFT preview that also reverts other resources): each
/// is skipped with the reason given, and the next strategy is tried.
pub fn plan_excluding(
    input: &PlanInput<'_>,
    excluded: &[(Strategy, String)],
) -> Result<Planned, NoPlan> {
    let mut skipped: Vec<(Strategy, String)> = Vec::new();
    let strategies: &[Strategy] = match input.action {
        Action::Revert => &[
            Strategy::RevertDriftChangeSet,
            Strategy::InverseCall,
            Strategy::CloudControlPatch,
            Strategy::StackRollback,
        ],
        Action::Rollback => &[Strategy::StackRollback],
        other => {
            return Err(NoPlan {
                reason: format!("verdict {other} does not remediate"),
                skipped,
            })
        }
    };
    for strategy in strategies {
        if let Some((_, why)) = excluded.iter().find(|(s, _)| s == strategy) {
            skipped.push((*strategy, why.clone()));
            continue;
        }
        let attempt = match strategy {
            Strategy::RevertDriftChangeSet => revert_drift_change_set(input),
            Strategy::InverseCall => inverse_call(input),
            Strategy::CloudControlPatch => cloud_control_patch(input),
            Strategy::StackRollback => stack_rollback(input),
        };
        match attempt {
            Ok(mut planned) => {
                planned.plan.skipped = skipped;
                return Ok(planned);
            }
            Err(why) => skipped.push((*strategy, why)),
        }
    }
    let reason = skipped
        .iter()
        .map(|(s, why)| format!("{}: {why}", s.as_str()))
        .collect::<Vec<_>>()
        .join("; ");
    let lead = match input.change.filter(|c| is_unlisted(c)) {
        Some(c) => format!(
            "no safe remedy exists for {} on {}: the call has no row in the operation table, so driftguard knows no exact undo, and no generic remedy applies",
            c.api(),
            input.resource.label()
        ),
        None => "no remediation strategy applies".to_string(),
    };
    Err(NoPlan {
        reason: format!("{lead} ({reason})"),
        skipped,
    })
}

fn planned(strategy: Strategy, calls: Vec<PlannedCall>, expected: String) -> Planned {
    Planned {
        plan: Plan {
            strategy,
            calls,
            expected,
            skipped: Vec::new(),
        },
        approval_required: None,
    }
}

/// A change set name CloudFormation accepts: `[a-zA-Z][-a-zA-Z0-9]*`, at most 128.
pub fn change_set_name(prefix: &str, ticket_id: &str, now: DateTime<Utc>) -> String {
    let id: String = ticket_id
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let mut name = format!("{prefix}-{id}-{}", now.timestamp());
    name.truncate(128);
    name
}

const CAPABILITIES: [&str; 3] = [
    "CAPABILITY_IAM",
    "CAPABILITY_NAMED_IAM",
    "CAPABILITY_AUTO_EXPAND",
];

// ------------------------------------------------------------ REVERT_DRIFT

fn revert_drift_change_set(i: &PlanInput<'_>) -> Result<Planned, String> {
    let m = i.membership;
    let drift = i
        .drift
        .filter(|d| d.origin == DriftOrigin::Cloudformation)
        .ok_or_else(|| {
            format!(
                "CloudFormation has no drift result for {}/{} (drift detection not run or unavailable): REVERT_DRIFT needs one",
                m.stack_name, m.logical_id
            )
        })?;
    if drift.status != DriftStatus::Modified {
        return Err(format!(
            "CloudFormation reports {}/{} {}: REVERT_DRIFT reverts MODIFIED resources",
            m.stack_name,
            m.logical_id,
            drift.status.as_str()
        ));
    }
    let name = change_set_name("driftguard-revert", i.ticket_id, i.now);
    let calls = vec![
        PlannedCall::new(
            "cloudformation",
            "CreateChangeSet",
            json!({
                "StackName": m.stack_name,
                "ChangeSetName": name,
                "ChangeSetType": "UPDATE",
                "DeploymentMode": "REVERT_DRIFT",
                "UsePreviousTemplate": true,
                "Parameters": "UsePreviousValue for every stack parameter",
                "Capabilities": CAPABILITIES,
            }),
        ),
        PlannedCall::new(
            "cloudformation",
            "DescribeChangeSet",
            json!({
                "StackName": m.stack_name,
                "ChangeSetName": name,
                // The preview check: anything else in the change set refuses it.
                "ExpectOnlyLogicalIds": [m.logical_id],
            }),
        ),
        PlannedCall::new(
            "cloudformation",
            "ExecuteChangeSet",
            json!({"StackName": m.stack_name, "ChangeSetName": name}),
        ),
    ];
    Ok(planned(
        Strategy::RevertDriftChangeSet,
        calls,
        format!(
            "{}/{} matches its template again: CloudFormation reverts the drifted properties ({})",
            m.stack_name,
            m.logical_id,
            drift.property_paths().join(", ")
        ),
    ))
}

/// Pure: a REVERT_DRIFT plan widened to every resource its preview reverts
/// (`remediation.change_set_reverts_others: require_approval`): the preview
/// check expects exactly those logical ids, the expected outcome names them,
/// and the plan needs a person's approval whatever the verdict says. A plan
/// of another strategy, or no other resource, is returned unchanged.
pub fn widen_revert_drift(mut planned: Planned, others: &[String]) -> Planned {
    if planned.plan.strategy != Strategy::RevertDriftChangeSet || others.is_empty() {
        return planned;
    }
    let mut ids: Vec<String> = Vec::new();
    for call in &mut planned.plan.calls {
        if call.operation != "DescribeChangeSet" {
            continue;
        }
        let mut expect = super::changeset::expected_ids(&call.parameters);
        expect.extend(others.iter().cloned());
        expect.sort();
        expect.dedup();
        call.parameters["ExpectOnlyLogicalIds"] = json!(expect);
        ids = expect;
    }
    let listed = others.join(", ");
    planned.plan.expected = format!(
        "{}; the drift-aware change set also reverts {listed}: every resource it reverts is {}",
        planned.plan.expected,
        ids.join(", ")
    );
    planned.approval_required = Some(format!(
        "the drift-aware change set reverts every drifted resource of the stack, also {listed}: a person approves all of them (remediation.change_set_reverts_others: require_approval)"
    ));
    planned
}

/// Pure: why REVERT_DRIFT is skipped for the ticket's resource alone
/// (`remediation.change_set_reverts_others: fall_back`).
pub fn reverts_others_reason(stack: &str, others: &[String]) -> String {
    format!(
        "the drift-aware change set on {stack} would also revert {} (it reverts every drifted resource of the stack): falling back to the next strategy for this resource (remediation.change_set_reverts_others: fall_back)",
        others.join(", ")
    )
}

// ------------------------------------------------------------ inverse calls

/// The exact undo of the triggering change, by the handler the registry
/// (`handlers::REGISTRY`) names for its operation.
fn inverse_call(i: &PlanInput<'_>) -> Result<Planned, String> {
    let change = i
        .change
        .ok_or("no triggering change is known: the exact undo cannot be built")?;
    let handler = handlers::for_operation(&change.service, &change.operation).ok_or_else(|| {
        let why = handlers::no_inverse_call(&change.service, &change.operation);
        match why {
            Some(why) => format!("no inverse-call handler for {}: {why}", change.api()),
            None => format!("no inverse-call handler for {}", change.api()),
        }
    })?;
    let undo = (handler.plan)(i, change)?;
    let calls = undo.calls.iter().map(Call::to_planned).collect();
    Ok(planned(Strategy::InverseCall, calls, undo.expected))
}

// ------------------------------------------------------------ Cloud Control

use super::cloudcontrol::drift_patch;

fn cloud_control_patch(i: &PlanInput<'_>) -> Result<Planned, String> {
    let resource_type = i
        .membership
        .resource_type
        .as_deref()
        .or(i.resource.resource_type.as_deref())
        .ok_or("the resource type is unknown")?;
    if !i
        .policy
        .remediation()
        .cloud_control_types
        .iter()
        .any(|t| t == resource_type)
    {
        return Err(format!(
            "{resource_type} is not in policy remediation.cloud_control_types"
        ));
    }
    let identifier = i
        .resource
        .physical_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or("the resource's physical id is unknown")?;
    let drift = i
        .drift
        .filter(|d| !d.differences.is_empty())
        .or(i.event_drift.filter(|d| !d.differences.is_empty()))
        .ok_or("no property differences are known")?;
    let ops = drift_patch(drift)?;
    // Check the patch against the recorded actual state when we have it.
    if let Some(actual) = &drift.actual_properties {
        let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops.clone()))
            .map_err(|e| format!("patch is not valid JSON Patch: {e}"))?;
        let mut doc = actual.clone();
        json_patch::patch(&mut doc, &patch).map_err(|e| {
            format!("the patch does not apply to the recorded actual properties: {e}")
        })?;
    }
    let paths = drift.property_paths().join(", ");
    Ok(planned(
        Strategy::CloudControlPatch,
        vec![PlannedCall::new(
            "cloudcontrol",
            "UpdateResource",
            json!({
                "TypeName": resource_type,
                "Identifier": identifier,
                "PatchDocument": Value::Array(ops).to_string(),
            }),
        )],
        format!("{resource_type} {identifier} has the expected values at {paths} again"),
    ))
}

// ------------------------------------------------------------ stack rollback

fn stack_rollback(i: &PlanInput<'_>) -> Result<Planned, String> {
    let stack = &i.membership.stack_name;
    let status = i.stack_status;
    let single = |op: &str, params: Value, expected: String| {
        planned(
            Strategy::StackRollback,
            vec![PlannedCall::new("cloudformation", op, params)],
            expected,
        )
    };
    match status {
        "UPDATE_IN_PROGRESS" => Ok(single(
            "CancelUpdateStack",
            json!({"StackName": stack}),
            format!("the update of {stack} is cancelled and the stack rolls back to UPDATE_ROLLBACK_COMPLETE"),
        )),
        "UPDATE_ROLLBACK_FAILED" => {
            let choice = super::rollback::resources_to_skip(i.stack_resources, &[]);
            let mut params = json!({"StackName": stack});
            let failed = choice.skip.join(", ");
            let cannot = if choice.not_skippable.is_empty() {
                String::new()
            } else {
                format!("; not skippable: {}", choice.not_skippable.join(", "))
            };
            let expected = if i.policy.remediation().allow_resources_to_skip && !choice.skip.is_empty() {
                params["ResourcesToSkip"] = json!(choice.skip);
                format!(
                    "{stack} reaches UPDATE_ROLLBACK_COMPLETE, skipping {failed} (policy remediation.allow_resources_to_skip){cannot}"
                )
            } else {
                format!(
                    "{stack} reaches UPDATE_ROLLBACK_COMPLETE (no resources skipped: remediation.allow_resources_to_skip is off{}{cannot})",
                    if failed.is_empty() { String::new() } else { format!("; failed: {failed}") }
                )
            };
            Ok(single("ContinueUpdateRollback", params, expected))
        }
        s if stack_operation_in_progress(s) => {
            Err(format!("stack {stack} is {s}: wait for CloudFormation to finish"))
        }
        s if super::rollback::person_must(stack, s).is_some() => {
            Err(super::rollback::person_must(stack, s).unwrap_or_default())
        }
        super::rollback::ROLLBACK_STACK_STATUS => Ok(single(
            "RollbackStack",
            json!({"StackName": stack}),
            format!("{stack} is back at its last stable state"),
        )),
        s if i.action == Action::Revert => Err(format!(
            "stack {stack} is {s}: a stack rollback does not undo out-of-band drift"
        )),
        s => {
            // UsePreviousTemplate is the current template: the change set would be
            // empty. Roll back to the previous known-good version instead.
            let to = super::rollback_request::requested_version(i.change);
            let good = super::history::target(stack, i.known_good, to).map_err(|e| {
                format!("stack {stack} is {s}: {e}; `driftguard rollback {stack} --to VERSION` lists what is kept")
            })?;
            super::history::rollback_plan(good, i.ticket_id, i.now).map_err(|e| e.to_string())
        }
    }
}

/// The parameter naming the resource each service's calls act on.
fn target_key(service: &str) -> Option<&'static str> {
    Some(match service {
        "ec2" => "GroupId",
        "s3" => "Bucket",
        "iam" => "RoleName",
        "ssm" => "Name",
        "lambda" => "FunctionName",
        "sns" => "TopicArn",
        "sqs" => "QueueUrl",
        "cloudcontrol" => "Identifier",
        "cloudformation" => "StackName",
        _ => return None,
    })
}

/// The resource a call acts on (its target parameter), for notes and logs.
pub fn target_of(call: &PlannedCall) -> Option<String> {
    let key = target_key(&call.service)?;
    call.parameters
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Stored plans are data, not commands: every call of `plan` must act on
/// exactly the ticket's resource (its physical id) or, for CloudFormation
/// calls, the stack that owns it. A service this does not know is refused.
pub fn check_targets(
    plan: &Plan,
    resource: &ResourceRef,
    membership: &StackMembership,
) -> Result<(), String> {
    let physical = resource.physical_id.as_deref().filter(|s| !s.is_empty());
    for call in &plan.calls {
        let api = format!("{}:{}", call.service, call.operation);
        let key = target_key(&call.service)
            .ok_or_else(|| format!("{api}: no target rule for service {}", call.service))?;
        let value = call
            .parameters
            .get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{api} names no {key}"))?;
        let ok = if call.service == "cloudformation" {
            value == membership.stack_name || value == membership.stack_id
        } else {
            physical.is_some_and(|p| same_resource(value, p))
        };
        if !ok {
            let expected = if call.service == "cloudformation" {
                membership.stack_name.clone()
            } else {
                physical.unwrap_or("(unknown)").to_string()
            };
            return Err(format!("{api} targets {key}={value}, not {expected}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::template::Pseudo;
    use super::*;
    use driftguard_model::domain::{ChangeSource, DifferenceKind, Identity, PropertyDifference};
    use std::collections::BTreeMap;

    pub(crate) const TEMPLATE: &str = r#"
Parameters:
  Level: { Type: String, Default: info }
Resources:
  Sg:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: web
      SecurityGroupIngress:
        - { IpProtocol: tcp, FromPort: 443, ToPort: 443, CidrIp: 0.0.0.0/0 }
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      PublicAccessBlockConfiguration:
        BlockPublicAcls: true
        IgnorePublicAcls: true
        BlockPublicPolicy: true
        RestrictPublicBuckets: true
  Param:
    Type: AWS::SSM::Parameter
    Properties:
      Type: String
      Value: !Ref Level
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {}
      ManagedPolicyArns: [arn:aws:iam::aws:policy/ReadOnlyAccess]
      Policies:
        - PolicyName: app
          PolicyDocument: { Version: "2012-10-17", Statement: [] }
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Timeout: 10
      Environment: { Variables: { MODE: safe } }
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 45
"#;

    pub(crate) fn template() -> TemplateView {
        TemplateView::parse(TEMPLATE, BTreeMap::new(), &Pseudo::default()).unwrap()
    }

    pub(crate) fn change(
        service: &str,
        operation: &str,
        physical: &str,
        rtype: &str,
        request: Value,
    ) -> Change {
        Change {
            event_id: "ev-1".into(),
            time: "2026-03-01T10:00:00Z".parse().unwrap(),
            account: "123456789012".into(),
            region: "us-east-1".into(),
            source: ChangeSource::Cloudtrail,
            service: service.into(),
            operation: operation.into(),
            resource: ResourceRef::new(rtype, physical),
            identity: Identity::default(),
            request,
            response: Value::Null,
            stack_hint: None,
            drift_hint: None,
            unparsed: Vec::new(),
        }
    }

    pub(crate) fn membership(logical: &str, rtype: &str, status: &str) -> StackMembership {
        StackMembership {
            stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1".into(),
            stack_name: "app".into(),
            logical_id: logical.into(),
            resource_type: Some(rtype.into()),
            stack_status: status.into(),
            stack_tags: BTreeMap::new(),
            nested: None,
        }
    }

    struct Fixture {
        change: Option<Change>,
        drift: Option<Drift>,
        membership: StackMembership,
        template: Result<TemplateView, String>,
        policy: Policy,
        action: Action,
        resources: Vec<StackResourceSummary>,
        known_good: Vec<crate::ports::remediate::KnownGood>,
    }

    impl Fixture {
        fn new(c: Change, logical: &str) -> Self {
            let rtype = c.resource.resource_type.clone().unwrap();
            Self {
                membership: membership(logical, &rtype, "UPDATE_COMPLETE"),
                change: Some(c),
                drift: None,
                template: Ok(template()),
                policy: Policy::default(),
                action: Action::Revert,
                resources: Vec::new(),
                known_good: Vec::new(),
            }
        }

        fn plan(&self) -> Result<Planned, NoPlan> {
            let resource = self
                .change
                .as_ref()
                .map(|c| c.resource.clone())
                .unwrap_or_else(|| ResourceRef::new("AWS::SQS::Queue", "q"));
            plan(&PlanInput {
                ticket_id: "DG-0123456789ab",
                action: self.action,
                change: self.change.as_ref(),
                drift: self.drift.as_ref(),
                event_drift: None,
                resource: &resource,
                membership: &self.membership,
                stack_status: &self.membership.stack_status.clone(),
                template: self.template.as_ref().map_err(|s| s.as_str()),
                stack_resources: &self.resources,
                known_good: &self.known_good,
                policy: &self.policy,
                now: "2026-03-01T10:05:00Z".parse().unwrap(),
            })
        }
    }

    pub(crate) fn ingress_request(group: &str) -> Value {
        json!({
            "groupId": group,
            "ipPermissions": {"items": [{
                "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {},
                "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
                "ipv6Ranges": {}, "prefixListIds": {}
            }]}
        })
    }

    #[test]
    fn ingress_rule_is_revoked_exactly_and_change_set_skipped_without_cfn_drift() {
        let c = change(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            "sg-1",
            "AWS::EC2::SecurityGroup",
            ingress_request("sg-1"),
        );
        let p = Fixture::new(c, "Sg").plan().unwrap();
        assert_eq!(p.plan.strategy, Strategy::InverseCall);
        let call = &p.plan.calls[0];
        assert_eq!(call.operation, "RevokeSecurityGroupIngress");
        assert_eq!(
            call.parameters,
            json!({"GroupId": "sg-1", "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]})
        );
        assert_eq!(p.plan.skipped[0].0, Strategy::RevertDriftChangeSet);
        assert!(p.plan.skipped[0].1.contains("no drift result"));
        assert!(p.approval_required.is_none());
    }

    #[test]
    fn rule_ids_from_the_response_are_used_when_present() {
        let mut c = change(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            "sg-1",
            "AWS::EC2::SecurityGroup",
            ingress_request("sg-1"),
        );
        c.response = json!({"securityGroupRuleSet": {"items": [{"securityGroupRuleId": "sgr-9"}]}});
        let p = Fixture::new(c, "Sg").plan().unwrap();
        assert_eq!(
            p.plan.calls[0].parameters["SecurityGroupRuleIds"],
            json!(["sgr-9"])
        );
    }

    #[test]
    fn a_rule_the_template_declares_is_not_revoked() {
        let mut req = ingress_request("sg-1");
        req["ipPermissions"]["items"][0]["fromPort"] = json!(443);
        req["ipPermissions"]["items"][0]["toPort"] = json!(443);
        let c = change(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            "sg-1",
            "AWS::EC2::SecurityGroup",
            req,
        );
        let err = Fixture::new(c, "Sg").plan().unwrap_err();
        assert!(
            err.reason.contains("also declared in the template"),
            "{}",
            err.reason
        );
    }

    #[test]
    fn a_change_about_another_resource_is_refused() {
        let c = change(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            "sg-1",
            "AWS::EC2::SecurityGroup",
            ingress_request("sg-other"),
        );
        let err = Fixture::new(c, "Sg").plan().unwrap_err();
        assert!(err.reason.contains("refusing to guess"), "{}", err.reason);
    }

    #[test]
    fn public_access_block_is_restored_from_the_template() {
        let c = change(
            "s3",
            "DeleteBucketPublicAccessBlock",
            "bkt",
            "AWS::S3::Bucket",
            json!({"bucketName": "bkt", "publicAccessBlock": ""}),
        );
        let p = Fixture::new(c, "Bucket").plan().unwrap();
        assert_eq!(p.plan.calls[0].operation, "PutPublicAccessBlock");
        assert_eq!(
            p.plan.calls[0].parameters["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"],
            json!(true)
        );
    }

    #[test]
    fn restore_values_come_from_cloudformation_expected_properties_first() {
        let c = change(
            "ssm",
            "PutParameter",
            "/app/level",
            "AWS::SSM::Parameter",
            json!({"name": "/app/level", "type": "String", "overwrite": true}),
        );
        let mut f = Fixture::new(c, "Param");
        // A drift result that is MODIFIED lets the change set apply first...
        f.drift = Some(Drift {
            status: DriftStatus::Modified,
            differences: vec![],
            expected_properties: Some(json!({"Value": "warn", "Type": "String"})),
            actual_properties: None,
            origin: DriftOrigin::Cloudformation,
            detected_at: None,
        });
        assert_eq!(
            f.plan().unwrap().plan.strategy,
            Strategy::RevertDriftChangeSet
        );
        // ...and without one, the template's literal (Ref resolved to the parameter default).
        f.drift = None;
        let p = f.plan().unwrap();
        assert_eq!(
            p.plan.calls[0].parameters,
            json!({"Name": "/app/level", "Value": "info", "Type": "String", "Overwrite": true})
        );
        // An IN_SYNC-less NOT_CHECKED CloudFormation result with expected values: restore uses CloudFormation's.
        f.drift = Some(Drift {
            status: DriftStatus::NotChecked,
            differences: vec![],
            expected_properties: Some(json!({"Value": "warn"})),
            actual_properties: None,
            origin: DriftOrigin::Cloudformation,
            detected_at: None,
        });
        assert_eq!(
            f.plan().unwrap().plan.calls[0].parameters["Value"],
            json!("warn")
        );
    }

    #[test]
    fn managed_policy_attachment_is_detached_unless_the_template_attaches_it() {
        let admin = change(
            "iam",
            "AttachRolePolicy",
            "app-role",
            "AWS::IAM::Role",
            json!({"roleName": "app-role", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
        );
        let p = Fixture::new(admin, "Role").plan().unwrap();
        assert_eq!(p.plan.calls[0].operation, "DetachRolePolicy");
        let readonly = change(
            "iam",
            "AttachRolePolicy",
            "app-role",
            "AWS::IAM::Role",
            json!({"roleName": "app-role", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}),
        );
        assert!(Fixture::new(readonly, "Role").plan().is_err());
    }

    #[test]
    fn inline_policies_are_restored_or_deleted() {
        let changed = change(
            "iam",
            "PutRolePolicy",
            "app-role",
            "AWS::IAM::Role",
            json!({"roleName": "app-role", "policyName": "app", "policyDocument": "{}"}),
        );
        let p = Fixture::new(changed, "Role").plan().unwrap();
        assert_eq!(p.plan.calls[0].operation, "PutRolePolicy");
        let added = change(
            "iam",
            "PutRolePolicy",
            "app-role",
            "AWS::IAM::Role",
            json!({"roleName": "app-role", "policyName": "extra", "policyDocument": "{}"}),
        );
        assert_eq!(
            Fixture::new(added, "Role").plan().unwrap().plan.calls[0].operation,
            "DeleteRolePolicy"
        );
    }

    #[test]
    fn lambda_configuration_is_restored_with_documented_defaults() {
        let c = change(
            "lambda",
            "UpdateFunctionConfiguration20150331v2",
            "fn",
            "AWS::Lambda::Function",
            json!({"functionName": "fn", "timeout": 60, "memorySize": 1024, "environment": {"variables": {"MODE": "debug"}}}),
        );
        let p = Fixture::new(c, "Fn").plan().unwrap();
        assert_eq!(
            p.plan.calls[0].parameters,
            json!({"FunctionName": "fn", "Timeout": 10, "MemorySize": 128, "Environment": {"Variables": {"MODE": "safe"}}})
        );
        let runtime = change(
            "lambda",
            "UpdateFunctionConfiguration20150331v2",
            "fn",
            "AWS::Lambda::Function",
            json!({"functionName": "fn", "runtime": "python3.8"}),
        );
        assert!(Fixture::new(runtime, "Fn")
            .plan()
            .unwrap_err()
            .reason
            .contains("partial undo"));
    }

    #[test]
    fn queue_and_topic_attributes_are_restored_or_refused() {
        let q = change(
            "sqs",
            "SetQueueAttributes",
            "https://sqs.us-east-1.amazonaws.com/123456789012/q",
            "AWS::SQS::Queue",
            json!({"queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q", "attributes": {"VisibilityTimeout": "0", "DelaySeconds": "5"}}),
        );
        let p = Fixture::new(q, "Queue").plan().unwrap();
        assert_eq!(
            p.plan.calls[0].parameters["Attributes"],
            json!({"VisibilityTimeout": "45", "DelaySeconds": "0"})
        );
        let t = change(
            "sns",
            "SetTopicAttributes",
            "arn:aws:sns:us-east-1:123456789012:t",
            "AWS::SNS::Topic",
            json!({"topicArn": "arn:aws:sns:us-east-1:123456789012:t", "attributeName": "DisplayName", "attributeValue": "x"}),
        );
        let mut f = Fixture::new(t, "Queue");
        let err = f.plan().unwrap_err();
        assert!(
            err.reason.contains("not known for certain"),
            "{}",
            err.reason
        );
        f.template = Err("GetTemplate failed".into());
        assert!(f.plan().unwrap_err().reason.contains("GetTemplate failed"));
    }

    #[test]
    fn unknown_hotfix_without_strategy_refuses_with_every_reason() {
        let c = change(
            "ec2",
            "ModifyInstanceAttribute",
            "i-1",
            "AWS::EC2::Instance",
            json!({}),
        );
        let err = Fixture::new(c, "Sg").plan().unwrap_err();
        assert_eq!(err.skipped.len(), 4);
        assert!(err
            .reason
            .contains("no inverse-call handler for ec2:ModifyInstanceAttribute"));
        assert!(err
            .reason
            .contains("not in policy remediation.cloud_control_types"));
        assert!(err.reason.contains("does not undo out-of-band drift"));
    }

    fn queue_drift() -> Drift {
        Drift {
            status: DriftStatus::Unknown,
            differences: vec![PropertyDifference {
                path: "/VisibilityTimeout".into(),
                expected: Some(json!(45)),
                actual: Some(json!(0)),
                kind: DifferenceKind::NotEqual,
            }],
            expected_properties: None,
            actual_properties: Some(json!({"VisibilityTimeout": 0})),
            origin: DriftOrigin::EventRequest("test".into()),
            detected_at: None,
        }
    }

    #[test]
    fn cloud_control_patch_starts_with_test_ops_for_allowlisted_types() {
        let c = change("sqs", "TagQueue", "q", "AWS::SQS::Queue", json!({}));
        let mut f = Fixture::new(c, "Queue");
        f.drift = Some(queue_drift());
        f.policy = Policy::from_yaml(
            "version: 1\nremediation: { cloud_control_types: [\"AWS::SQS::Queue\"] }",
        )
        .unwrap();
        let p = f.plan().unwrap();
        assert_eq!(p.plan.strategy, Strategy::CloudControlPatch);
        let doc: Value = serde_json::from_str(
            p.plan.calls[0].parameters["PatchDocument"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            doc,
            json!([{"op": "test", "path": "/VisibilityTimeout", "value": 0}, {"op": "replace", "path": "/VisibilityTimeout", "value": 45}])
        );
        // The recorded actual state disagrees with the test op: refused at planning.
        f.drift.as_mut().unwrap().actual_properties = Some(json!({"VisibilityTimeout": 7}));
        let err = f.plan().unwrap_err();
        assert!(err.reason.contains("does not apply"), "{}", err.reason);
    }

    #[test]
    fn rollback_by_stack_status() {
        let c = change(
            "cloudformation",
            "UpdateStack",
            "app",
            "AWS::CloudFormation::Stack",
            json!({}),
        );
        let mut f = Fixture::new(c, "app");
        f.action = Action::Rollback;
        let op = |f: &Fixture| {
            f.plan().map(|p| {
                (
                    p.plan.calls[0].operation.clone(),
                    p.approval_required.is_some(),
                )
            })
        };
        f.membership.stack_status = "UPDATE_IN_PROGRESS".into();
        assert_eq!(op(&f).unwrap(), ("CancelUpdateStack".into(), false));
        f.membership.stack_status = "UPDATE_FAILED".into();
        assert_eq!(op(&f).unwrap(), ("RollbackStack".into(), false));
        f.membership.stack_status = "UPDATE_ROLLBACK_FAILED".into();
        f.resources = vec![StackResourceSummary {
            logical_id: "Broken".into(),
            physical_id: None,
            resource_type: None,
            status: Some("UPDATE_FAILED".into()),
        }];
        let p = f.plan().unwrap();
        assert_eq!(p.plan.calls[0].operation, "ContinueUpdateRollback");
        assert!(p.plan.calls[0].parameters.get("ResourcesToSkip").is_none());
        f.policy = Policy::from_yaml("version: 1\nremediation: { allow_resources_to_skip: true }")
            .unwrap();
        assert_eq!(
            f.plan().unwrap().plan.calls[0].parameters["ResourcesToSkip"],
            json!(["Broken"])
        );
        // A stable stack goes back to the previous known-good version (none kept: no plan).
        f.membership.stack_status = "UPDATE_COMPLETE".into();
        assert!(op(&f).unwrap_err().reason.contains("no known-good version"));
        for body in ["v1", "v2"] {
            let mut k = crate::remediate::history::candidate(
                "app",
                "UPDATE_COMPLETE",
                body,
                BTreeMap::new(),
                "2026-03-01T10:00:00Z".parse().unwrap(),
            )
            .unwrap();
            k.version = f.known_good.len() as u32 + 1;
            f.known_good.push(k);
        }
        assert_eq!(op(&f).unwrap(), ("CreateChangeSet".into(), true));
        let p = f.plan().unwrap();
        assert_eq!(p.plan.calls[0].parameters["TemplateBody"], "v1");
        f.membership.stack_status = "UPDATE_ROLLBACK_IN_PROGRESS".into();
        assert!(op(&f).is_err());
    }

    #[test]
    fn change_set_names_are_valid() {
        let n = change_set_name(
            "driftguard-revert",
            "DG-0123456789ab",
            "2026-03-01T10:05:00Z".parse().unwrap(),
        );
        assert_eq!(n, "driftguard-revert-dg-0123456789ab-1772359500");
    }
}
