//! IAM inline policies on a role: `PutRolePolicy` / `DeleteRolePolicy` is
//! undone with the template's document (`PutRolePolicy`), or `DeleteRolePolicy`
//! of a policy the template does not declare. Read back with `GetRolePolicy`
//! ("The policy document returned in this structure is URL-encoded compliant
//! with RFC 3986", <https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRolePolicy.html>;
//! the adapter decodes it).
use serde_json::Value;

use super::{expected, mismatched, request_str, target_id, Handler, Undo};
use crate::ports::remediate::{Observed, ReadBack};
use crate::remediate::call::{Call, DeleteRolePolicy, PutRolePolicy};
use crate::remediate::planner::PlanInput;
use crate::remediate::template::Lookup;
use driftguard_model::domain::Change;

pub const HANDLER: Handler = Handler {
    family: "inline_role_policy",
    description: "put the template's inline policy document back, or delete an inline policy the template does not declare",
    undoes: &["iam:PutRolePolicy", "iam:DeleteRolePolicy"],
    permissions: &["iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:GetRolePolicy"],
    plan,
};

fn plan(i: &PlanInput<'_>, change: &Change) -> Result<Undo, String> {
    let role = target_id(i, change, "roleName")?;
    let name = request_str(change, "policyName")?.to_string();
    let declared = match expected(i, "Policies") {
        Lookup::Found(Value::Array(policies)) => policies
            .into_iter()
            .find(|p| p.get("PolicyName").and_then(Value::as_str) == Some(name.as_str())),
        Lookup::Found(_) | Lookup::Absent => None,
        Lookup::NotLiteral(why) => return Err(why),
    };
    match declared {
        Some(p) => {
            let document = p.get("PolicyDocument").ok_or_else(|| {
                format!("the template's inline policy {name} has no PolicyDocument")
            })?;
            let expected =
                format!("inline policy {name} of role {role} has the template's document again");
            Ok(Undo::one(
                Call::PutRolePolicy(PutRolePolicy {
                    role_name: role,
                    policy_name: name,
                    policy_document: document.to_string(),
                }),
                expected,
            ))
        }
        None if change.operation == "DeleteRolePolicy" => Err(format!(
            "the template declares no inline policy {name} on role {role}: the deletion already matches it"
        )),
        None => {
            let expected = format!("role {role} has no inline policy {name}, as in the template");
            Ok(Undo::one(
                Call::DeleteRolePolicy(DeleteRolePolicy {
                    role_name: role,
                    policy_name: name,
                }),
                expected,
            ))
        }
    }
}

/// Converged when the policy reads back as the planned document (as JSON), or
/// is absent when the plan deleted it.
pub(crate) fn read_back(role: &str, name: &str, want: Option<&str>, seen: &Observed) -> ReadBack {
    let Observed::RolePolicy(got) = seen else {
        return mismatched("iam:GetRolePolicy", seen);
    };
    let got: Option<Value> = got.as_deref().and_then(|t| serde_json::from_str(t).ok());
    let want: Option<Value> = want.and_then(|t| serde_json::from_str(t).ok());
    ReadBack {
        converged: got == want,
        detail: format!(
            "iam:GetRolePolicy {role}/{name}: {}",
            got.map(|v| v.to_string()).unwrap_or("absent".into())
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::remediate::handlers::testing::{recorded, Case};

    const TEMPLATE: &str = "Resources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n      Policies:\n        - PolicyName: app\n          PolicyDocument: { Version: \"2012-10-17\", Statement: [] }\n";

    #[test]
    fn the_recorded_hotfix_policy_is_deleted_and_a_declared_one_restored() {
        let mut change = recorded(
            "iam-put-role-policy.json",
            "AWS::IAM::Role",
            "app-service-role",
        );
        let undo = Case::new("Role", TEMPLATE).plan(&HANDLER, &change).unwrap();
        let delete = DeleteRolePolicy {
            role_name: "app-service-role".into(),
            policy_name: "hotfix".into(),
        };
        assert_eq!(undo.calls, vec![Call::DeleteRolePolicy(delete)]);
        change.request["policyName"] = "app".into();
        let undo = Case::new("Role", TEMPLATE).plan(&HANDLER, &change).unwrap();
        let [Call::PutRolePolicy(put)] = undo.calls.as_slice() else {
            panic!("{:?}", undo.calls)
        };
        assert_eq!(
            put.policy_document,
            r#"{"Version":"2012-10-17","Statement":[]}"#
        );
        let seen = |doc: Option<&str>| Observed::RolePolicy(doc.map(str::to_string));
        let doc = Some(put.policy_document.as_str());
        assert!(read_back("r", "app", doc, &seen(doc)).converged);
        assert!(!read_back("r", "app", doc, &seen(None)).converged);
        assert!(read_back("r", "hotfix", None, &seen(None)).converged);
    }

    #[test]
    fn a_deletion_the_template_agrees_with_is_not_undone() {
        let change = recorded("iam-delete-role-policy.json", "AWS::IAM::Role", "");
        let empty = "Resources:\n  Role:\n    Type: AWS::IAM::Role\n";
        let err = Case::new("Role", empty)
            .plan(&HANDLER, &change)
            .unwrap_err();
        assert!(err.contains("already matches"), "{err}");
    }
}
