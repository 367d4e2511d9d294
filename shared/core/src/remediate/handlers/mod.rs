//! The hot-fix handlers: one file per family, one registry.
//!
//! A handler declares the CloudTrail operations it undoes (entries of
//! [`driftguard_model::sources::operations::OPERATIONS`]), the IAM actions it needs to act
//! and to read back (Cloud Custodian's `permissions`), a one-line description,
//! and a pure `plan` from the triggering change to typed [`Call`]s. The planner
//! looks the change up in [`REGISTRY`]; the meta-lint test
//! (tests/tests/integration/template.rs, `handler_meta_lint`) checks the
//! registry against the operations table, the template's CloudTrail rule, the
//! remediate role's grants and docs/remediation.md's handler table.
//!
//! Adding a hot-fix: docs/remediation.md, "Adding a hot-fix".
use serde_json::Value;

use super::call::Call;
use super::planner::PlanInput;
use super::template::Lookup;
use crate::ports::remediate::{Observed, ReadBack};
use driftguard_model::domain::Change;
use driftguard_model::domain::DriftOrigin;
use driftguard_model::sources::operations::normalize_operation;

mod bucket_policy;
mod bucket_versioning;
mod function_configuration;
mod inline_role_policy;
mod managed_role_policy;
mod public_access_block;
mod queue_attributes;
mod security_group;
mod ssm_parameter;
mod topic_attributes;

/// The exact undo of one hot-fix: the calls and what the resource looks like after.
#[derive(Debug, Clone, PartialEq)]
pub struct Undo {
    pub calls: Vec<Call>,
    pub expected: String,
}

impl Undo {
    pub fn one(call: Call, expected: String) -> Self {
        Self {
            calls: vec![call],
            expected,
        }
    }
}

/// One hot-fix family.
#[derive(Debug, Clone, Copy)]
pub struct Handler {
    /// Short name (the handler's file).
    pub family: &'static str,
    /// What it does, in one line (docs/remediation.md's table).
    pub description: &'static str,
    /// `service:Operation` as `OPERATIONS` names them (Lambda's without the version suffix).
    pub undoes: &'static [&'static str],
    /// IAM actions to act and to read back.
    pub permissions: &'static [&'static str],
    /// Pure: the undo of `change`, or why there is none.
    pub plan: fn(&PlanInput<'_>, &Change) -> Result<Undo, String>,
}

/// Every handler. The planner, the meta-lint and the docs read this list.
pub static REGISTRY: &[Handler] = &[
    security_group::HANDLER,
    public_access_block::HANDLER,
    bucket_policy::HANDLER,
    bucket_versioning::HANDLER,
    managed_role_policy::HANDLER,
    inline_role_policy::HANDLER,
    ssm_parameter::HANDLER,
    function_configuration::HANDLER,
    topic_attributes::HANDLER,
    queue_attributes::HANDLER,
];

/// The handler undoing `service:operation` (CloudTrail's name; Lambda's
/// version suffix is ignored).
pub fn for_operation(service: &str, operation: &str) -> Option<&'static Handler> {
    let api = format!("{service}:{}", normalize_operation(operation));
    REGISTRY.iter().find(|h| h.undoes.contains(&api.as_str()))
}

/// Judge a read-back: did the call's resource reach the state the call wanted?
/// Exhaustive over [`Call`]: a new variant needs its handler's judgement.
pub fn judge(call: &Call, seen: &Observed) -> ReadBack {
    match call {
        Call::RevokeSecurityGroupIngress(c) => security_group::read_back(c, false, seen),
        Call::RevokeSecurityGroupEgress(c) => security_group::read_back(c, true, seen),
        Call::PutPublicAccessBlock(c) => public_access_block::read_back(c, seen),
        Call::PutBucketPolicy(c) => bucket_policy::read_back(&c.bucket, Some(&c.policy), seen),
        Call::DeleteBucketPolicy(c) => bucket_policy::read_back(&c.bucket, None, seen),
        Call::PutBucketVersioning(c) => bucket_versioning::read_back(c, seen),
        Call::DetachRolePolicy(c) => managed_role_policy::read_back(c, seen),
        Call::PutRolePolicy(c) => inline_role_policy::read_back(
            &c.role_name,
            &c.policy_name,
            Some(&c.policy_document),
            seen,
        ),
        Call::DeleteRolePolicy(c) => {
            inline_role_policy::read_back(&c.role_name, &c.policy_name, None, seen)
        }
        Call::PutParameter(c) => ssm_parameter::read_back(c, seen),
        Call::UpdateFunctionConfiguration(c) => function_configuration::read_back(c, seen),
        Call::SetTopicAttributes(c) => topic_attributes::read_back(c, seen),
        Call::SetQueueAttributes(c) => queue_attributes::read_back(c, seen),
    }
}

/// The read-back answered about something else than the call asked: never converged.
pub(crate) fn mismatched(call: &str, seen: &Observed) -> ReadBack {
    ReadBack {
        converged: false,
        detail: format!("{call}: the read-back answered {seen:?}"),
    }
}

/// The handler table of docs/remediation.md, generated from [`REGISTRY`] (the
/// meta-lint test checks the docs against it).
pub fn markdown_table() -> String {
    let code = |items: &[&str]| {
        items
            .iter()
            .map(|i| format!("`{i}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = String::from(
        "| handler | undoes | what it does | IAM actions (act, read back) |\n|---|---|---|---|\n",
    );
    for h in REGISTRY {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            h.family,
            code(h.undoes),
            h.description,
            code(h.permissions)
        ));
    }
    out
}

// ------------------------------------------------------------ shared helpers

/// The identifier the request names, checked against the ticket's resource.
pub(crate) fn target_id(i: &PlanInput<'_>, change: &Change, field: &str) -> Result<String, String> {
    let from_request = change
        .request
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_string);
    let known = i.resource.physical_id.as_deref().filter(|s| !s.is_empty());
    match (from_request, known) {
        (Some(r), Some(k)) if !same_resource(&r, k) => Err(format!(
            "the change names {r} but the ticket's resource is {k}: refusing to guess"
        )),
        (Some(r), _) => Ok(r),
        (None, Some(k)) => Ok(k.to_string()),
        (None, None) => Err(format!(
            "the request has no `{field}` and the resource id is unknown"
        )),
    }
}

/// Queue URLs and topic ARNs end with the name CloudFormation may report.
pub(crate) fn same_resource(a: &str, b: &str) -> bool {
    a == b
        || a.ends_with(&format!("/{b}"))
        || b.ends_with(&format!("/{a}"))
        || a.ends_with(&format!(":{b}"))
}

/// What the resource should be: CloudFormation's expected properties first
/// (already resolved by CloudFormation), else the template's literal.
pub(crate) fn expected(i: &PlanInput<'_>, property: &str) -> Lookup {
    if let Some(props) = i
        .drift
        .filter(|d| d.origin == DriftOrigin::Cloudformation)
        .and_then(|d| d.expected_properties.as_ref())
    {
        return match props.get(property) {
            Some(v) => Lookup::Found(v.clone()),
            None => Lookup::Absent,
        };
    }
    match i.template {
        Ok(t) => t.property(&i.membership.logical_id, property),
        Err(why) => Lookup::NotLiteral(format!("the template is not available ({why})")),
    }
}

/// A CloudTrail list: a JSON array, or `{"items": [...]}`.
pub(crate) fn items(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(Value::Object(o)) => match o.get("items") {
            Some(Value::Array(a)) => a.iter().collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// The first of `names` present in `v` (CloudTrail's camelCase or the API's PascalCase).
pub(crate) fn field<'v>(v: &'v Value, names: &[&str]) -> Option<&'v Value> {
    names.iter().find_map(|n| v.get(*n))
}

pub(crate) fn int_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A template value as the API's string (numbers and booleans as text).
pub(crate) fn as_api_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `true`, `"true"`, `"True"` → true.
pub(crate) fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// A request field that must be a string.
pub(crate) fn request_str<'c>(change: &'c Change, field: &str) -> Result<&'c str, String> {
    change
        .request
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the request has no {field}"))
}

/// "matches" or the list of what differs.
pub(crate) fn verdict(mismatches: &[String]) -> String {
    if mismatches.is_empty() {
        "matches".to_string()
    } else {
        format!("differs at {}", mismatches.join(", "))
    }
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use driftguard_model::sources::operations::lookup;

    #[test]
    fn every_handler_undoes_known_operations_and_declares_permissions() {
        for h in REGISTRY {
            assert!(!h.undoes.is_empty(), "{}", h.family);
            assert!(!h.permissions.is_empty(), "{}", h.family);
            assert!(!h.description.is_empty(), "{}", h.family);
            for api in h.undoes {
                let (service, op) = api.split_once(':').unwrap();
                assert!(lookup(service, op).is_some(), "{}: {api}", h.family);
            }
        }
    }

    #[test]
    fn each_operation_has_exactly_one_handler_and_lambda_versions_resolve() {
        let mut seen = std::collections::BTreeSet::new();
        for h in REGISTRY {
            for api in h.undoes {
                assert!(seen.insert(*api), "{api} has two handlers");
            }
        }
        let h = for_operation("lambda", "UpdateFunctionConfiguration20150331v2").unwrap();
        assert_eq!(h.family, "function_configuration");
        assert!(for_operation("ec2", "ModifyInstanceAttribute").is_none());
    }
}
