//! Lambda function URL: `UpdateFunctionUrlConfig` is undone by setting the
//! template's `AuthType` of the `AWS::Lambda::Url` again ("AuthType: The type
//! of authentication that your function URL uses. Set to AWS_IAM if you want to
//! restrict access to authenticated users only. Set to NONE if you want to
//! bypass IAM authentication to create a public endpoint.",
//! <https://docs.aws.amazon.com/lambda/latest/api/API_UpdateFunctionUrlConfig.html>).
//! Only `AuthType` is restored: a request that also changes `Cors` or the invoke
//! mode is refused, with the reason. Read back with `GetFunctionUrlConfig`.
use serde_json::Value;

use super::{expected, mismatched, request_str, Handler, Undo};
use crate::ports::remediate::{Observed, ReadBack};
use crate::remediate::call::{Call, UpdateFunctionUrlConfig};
use crate::remediate::planner::PlanInput;
use crate::remediate::template::Lookup;
use driftguard_model::domain::Change;

pub const HANDLER: Handler = Handler {
    family: "function_url",
    description: "set the template's AuthType of the function URL again (a change of anything else is refused)",
    undoes: &["lambda:UpdateFunctionUrlConfig"],
    permissions: &["lambda:UpdateFunctionUrlConfig", "lambda:GetFunctionUrlConfig"],
    plan,
};

/// Request keys that identify the URL, and the one this handler restores.
const IDENTIFYING: [&str; 2] = ["functionName", "qualifier"];
const AUTH_TYPE: &str = "authType";

/// `arn:...:function:name[:qualifier]`, `account:function:name` or `name` → `name`.
fn function_name(id: &str) -> &str {
    match id.split_once("function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => id,
    }
}

/// The function the request names, checked against the ticket's resource (the
/// URL's physical id is its function's ARN).
fn target(i: &PlanInput<'_>, change: &Change) -> Result<String, String> {
    let named = request_str(change, "functionName")?;
    match i.resource.physical_id.as_deref().filter(|s| !s.is_empty()) {
        Some(known) if function_name(known) != function_name(named) => Err(format!(
            "the change names function {named} but the ticket's resource is {known}: refusing to guess"
        )),
        _ => Ok(named.to_string()),
    }
}

fn plan(i: &PlanInput<'_>, change: &Change) -> Result<Undo, String> {
    let function = target(i, change)?;
    let others: Vec<&str> = change
        .request
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| {
            !IDENTIFYING.contains(&k.as_str()) && k.as_str() != AUTH_TYPE && !v.is_null()
        })
        .map(|(k, _)| k.as_str())
        .collect();
    if !others.is_empty() {
        return Err(format!(
            "the request also changes {}: only AuthType is restored by this handler",
            others.join(", ")
        ));
    }
    if change.request.get(AUTH_TYPE).is_none_or(Value::is_null) {
        return Err("the request changes no AuthType".into());
    }
    let auth_type = match expected(i, "AuthType") {
        Lookup::Found(Value::String(s)) => s,
        Lookup::Found(other) => {
            return Err(format!("the template's AuthType is {other}, not a string"))
        }
        Lookup::Absent => return Err("the template sets no AuthType on the function URL".into()),
        Lookup::NotLiteral(why) => return Err(why),
    };
    let qualifier = change
        .request
        .get("qualifier")
        .and_then(Value::as_str)
        .map(str::to_string);
    let expected =
        format!("the function URL of {function} has the template's AuthType {auth_type} again");
    Ok(Undo::one(
        Call::UpdateFunctionUrlConfig(UpdateFunctionUrlConfig {
            function_name: function,
            qualifier,
            auth_type,
        }),
        expected,
    ))
}

/// Converged when the URL's `AuthType` reads back as planned.
pub(crate) fn read_back(c: &UpdateFunctionUrlConfig, seen: &Observed) -> ReadBack {
    let Observed::FunctionUrlAuthType(got) = seen else {
        return mismatched("lambda:GetFunctionUrlConfig", seen);
    };
    ReadBack {
        converged: *got == c.auth_type,
        detail: format!(
            "lambda:GetFunctionUrlConfig {}: AuthType {got}",
            c.function_name
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::remediate::handlers::testing::{recorded, Case};

    const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:orders-api";
    const TEMPLATE: &str = "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n  FnUrl:\n    Type: AWS::Lambda::Url\n    Properties:\n      TargetFunctionArn: !GetAtt Fn.Arn\n      AuthType: AWS_IAM\n";

    fn change() -> Change {
        recorded(
            "lambda-update-function-url-config.json",
            "AWS::Lambda::Url",
            ARN,
        )
    }

    #[test]
    fn a_public_function_url_gets_the_template_auth_type_back() {
        let undo = Case::new("FnUrl", TEMPLATE)
            .plan(&HANDLER, &change())
            .unwrap();
        let want = UpdateFunctionUrlConfig {
            function_name: "orders-api".into(),
            qualifier: None,
            auth_type: "AWS_IAM".into(),
        };
        assert_eq!(
            undo.calls,
            vec![Call::UpdateFunctionUrlConfig(want.clone())]
        );
        let seen = |v: &str| Observed::FunctionUrlAuthType(v.into());
        assert!(read_back(&want, &seen("AWS_IAM")).converged);
        assert!(!read_back(&want, &seen("NONE")).converged);
        // Stored and read back as the API names it.
        let planned = Call::UpdateFunctionUrlConfig(want.clone()).to_planned();
        assert_eq!(planned.parameters["AuthType"], "AWS_IAM");
        assert_eq!(
            Call::from_planned(&planned).unwrap(),
            Call::UpdateFunctionUrlConfig(want)
        );
    }

    #[test]
    fn what_is_not_auth_type_or_not_the_ticket_s_function_is_refused_with_the_reason() {
        let mut cors = change();
        cors.request["cors"] = serde_json::json!({"allowOrigins": ["*"]});
        let err = Case::new("FnUrl", TEMPLATE)
            .plan(&HANDLER, &cors)
            .unwrap_err();
        assert!(err.contains("also changes cors"), "{err}");
        let mut other = change();
        other.resource.physical_id =
            Some("arn:aws:lambda:us-east-1:123456789012:function:billing".into());
        let err = Case::new("FnUrl", TEMPLATE)
            .plan(&HANDLER, &other)
            .unwrap_err();
        assert!(err.contains("refusing to guess"), "{err}");
        let bare = "Resources:\n  FnUrl:\n    Type: AWS::Lambda::Url\n";
        let err = Case::new("FnUrl", bare)
            .plan(&HANDLER, &change())
            .unwrap_err();
        assert!(err.contains("sets no AuthType"), "{err}");
    }
}
