//! IAM managed policies on a role: `AttachRolePolicy` is undone with
//! `DetachRolePolicy` of that ARN, unless the template attaches it. Read back
//! with `ListAttachedRolePolicies`.
use serde_json::Value;

use super::{expected, mismatched, request_str, target_id, Handler, Undo};
use crate::ports::remediate::{Observed, ReadBack};
use crate::remediate::call::{Call, DetachRolePolicy};
use crate::remediate::planner::PlanInput;
use crate::remediate::template::Lookup;
use driftguard_model::domain::Change;

pub const HANDLER: Handler = Handler {
    family: "managed_role_policy",
    description:
        "detach the managed policy a hot-fix attached (refused when the template attaches it)",
    undoes: &["iam:AttachRolePolicy"],
    permissions: &["iam:DetachRolePolicy", "iam:ListAttachedRolePolicies"],
    plan,
};

fn plan(i: &PlanInput<'_>, change: &Change) -> Result<Undo, String> {
    let role = target_id(i, change, "roleName")?;
    let policy_arn = request_str(change, "policyArn")
        .map_err(|_| "the request has no policyArn: the attached policy is unknown".to_string())?;
    if let Lookup::Found(Value::Array(arns)) = expected(i, "ManagedPolicyArns") {
        if arns.iter().any(|a| a.as_str() == Some(policy_arn)) {
            return Err(format!(
                "the template attaches {policy_arn} to role {role} itself: detaching would drift the other way"
            ));
        }
    }
    Ok(Undo::one(
        Call::DetachRolePolicy(DetachRolePolicy {
            role_name: role.clone(),
            policy_arn: policy_arn.to_string(),
        }),
        format!("role {role} no longer has {policy_arn} attached"),
    ))
}

/// Converged when the ARN is no longer attached.
pub(crate) fn read_back(c: &DetachRolePolicy, seen: &Observed) -> ReadBack {
    let Observed::AttachedPolicies(arns) = seen else {
        return mismatched("iam:ListAttachedRolePolicies", seen);
    };
    let attached = arns.contains(&c.policy_arn);
    ReadBack {
        converged: !attached,
        detail: format!(
            "iam:ListAttachedRolePolicies on {}: {} {}",
            c.role_name,
            c.policy_arn,
            if attached {
                "is still attached"
            } else {
                "is not attached"
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::remediate::handlers::testing::{recorded, Case};

    const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

    #[test]
    fn the_recorded_admin_attachment_is_detached_unless_the_template_has_it() {
        let change = recorded("iam-attach-role-policy.json", "AWS::IAM::Role", "new-role");
        let plain = "Resources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n      ManagedPolicyArns: [arn:aws:iam::aws:policy/ReadOnlyAccess]\n";
        let undo = Case::new("Role", plain).plan(&HANDLER, &change).unwrap();
        let want = DetachRolePolicy {
            role_name: "new-role".into(),
            policy_arn: ADMIN.into(),
        };
        assert_eq!(undo.calls, vec![Call::DetachRolePolicy(want.clone())]);
        let case =
            Case::new("Role", plain).expecting(serde_json::json!({"ManagedPolicyArns": [ADMIN]}));
        assert!(case
            .plan(&HANDLER, &change)
            .unwrap_err()
            .contains("drift the other way"));
        assert!(read_back(&want, &Observed::AttachedPolicies(vec![])).converged);
        assert!(!read_back(&want, &Observed::AttachedPolicies(vec![ADMIN.into()])).converged);
    }
}
