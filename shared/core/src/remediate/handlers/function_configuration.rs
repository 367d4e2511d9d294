//! Lambda function configuration: `UpdateFunctionConfiguration` (CloudTrail
//! logs it as `UpdateFunctionConfiguration20150331v2`) is undone by restoring
//! the template's `Environment`, `Timeout` and `MemorySize`; a change of any
//! other setting is refused (a partial undo would mislead). Read back with
//! `GetFunctionConfiguration`.
use std::collections::BTreeMap;

use serde_json::Value;

use super::{as_api_string, expected, int_of, mismatched, target_id, Handler, Undo};
use crate::ports::remediate::{Observed, ReadBack};
use crate::remediate::call::{Call, Environment, UpdateFunctionConfiguration};
use crate::remediate::planner::PlanInput;
use crate::remediate::template::Lookup;
use driftguard_model::domain::Change;

pub const HANDLER: Handler = Handler {
    family: "function_configuration",
    description: "restore the function's Environment, Timeout and MemorySize from the template (Lambda's documented defaults when absent)",
    undoes: &["lambda:UpdateFunctionConfiguration"],
    permissions: &[
        "lambda:UpdateFunctionConfiguration",
        "lambda:GetFunctionConfiguration",
    ],
    plan,
};

/// Lambda's documented defaults: "Timeout ... The default is 3 seconds",
/// "MemorySize ... The default value is 128 MB"
/// (<https://docs.aws.amazon.com/lambda/latest/api/API_UpdateFunctionConfiguration.html>).
fn number(i: &PlanInput<'_>, property: &str, default: i64) -> Result<i32, String> {
    let v = match expected(i, property) {
        Lookup::Found(v) => {
            int_of(Some(&v)).ok_or_else(|| format!("template {property} is not a number"))?
        }
        Lookup::Absent => default,
        Lookup::NotLiteral(why) => return Err(why),
    };
    i32::try_from(v).map_err(|_| format!("template {property} {v} is out of range"))
}

fn variables(i: &PlanInput<'_>) -> Result<BTreeMap<String, String>, String> {
    let variables = match expected(i, "Environment") {
        Lookup::Found(v) => v.get("Variables").cloned().unwrap_or(Value::Null),
        Lookup::Absent => Value::Null,
        Lookup::NotLiteral(why) => return Err(why),
    };
    Ok(variables
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), as_api_string(v)))
                .collect()
        })
        .unwrap_or_default())
}

fn plan(i: &PlanInput<'_>, change: &Change) -> Result<Undo, String> {
    let mut call = UpdateFunctionConfiguration {
        function_name: target_id(i, change, "functionName")?,
        timeout: None,
        memory_size: None,
        environment: None,
    };
    let mut restored = Vec::new();
    let keys = change
        .request
        .as_object()
        .map(|o| o.keys().collect::<Vec<_>>())
        .unwrap_or_default();
    for key in keys {
        match key.as_str() {
            "functionName" => {}
            "timeout" => {
                let v = number(i, "Timeout", 3)?;
                call.timeout = Some(v);
                restored.push(format!("Timeout={v}"));
            }
            "memorySize" => {
                let v = number(i, "MemorySize", 128)?;
                call.memory_size = Some(v);
                restored.push(format!("MemorySize={v}"));
            }
            "environment" => {
                let variables = variables(i)?;
                restored.push(format!("Environment ({} variables)", variables.len()));
                call.environment = Some(Environment { variables });
            }
            other => {
                return Err(format!(
                    "the change also sets `{other}`, which this handler does not restore: a partial undo would mislead"
                ))
            }
        }
    }
    if restored.is_empty() {
        return Err("the request changes none of Environment, Timeout, MemorySize".into());
    }
    let expected = format!(
        "function {} has the template's {} again",
        call.function_name,
        restored.join(", ")
    );
    Ok(Undo::one(Call::UpdateFunctionConfiguration(call), expected))
}

/// Converged when each restored setting reads back as planned.
pub(crate) fn read_back(c: &UpdateFunctionConfiguration, seen: &Observed) -> ReadBack {
    let Observed::FunctionConfiguration {
        timeout,
        memory_size,
        variables,
    } = seen
    else {
        return mismatched("lambda:GetFunctionConfiguration", seen);
    };
    let mut mismatches = Vec::new();
    if c.timeout.is_some() && *timeout != c.timeout {
        mismatches.push(format!("Timeout {timeout:?}"));
    }
    if c.memory_size.is_some() && *memory_size != c.memory_size {
        mismatches.push(format!("MemorySize {memory_size:?}"));
    }
    if c.environment
        .as_ref()
        .is_some_and(|e| &e.variables != variables)
    {
        mismatches.push("Environment".into());
    }
    ReadBack {
        converged: mismatches.is_empty(),
        detail: format!(
            "lambda:GetFunctionConfiguration {}: {}",
            c.function_name,
            if mismatches.is_empty() {
                "matches".to_string()
            } else {
                mismatches.join(", ")
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::remediate::handlers::testing::{recorded, Case};
    use serde_json::json;

    const TEMPLATE: &str = "Resources:\n  Fn:\n    Type: AWS::Lambda::Function\n    Properties:\n      Timeout: 10\n      Environment: { Variables: { MODE: safe } }\n";

    #[test]
    fn the_recorded_layer_change_is_refused_as_a_partial_undo() {
        // The recorded request names only the function; its response shows a
        // layer: nothing this handler restores was changed.
        let change = recorded(
            "lambda-update-function-configuration-v2.json",
            "AWS::Lambda::Function",
            "production-api",
        );
        let err = Case::new("Fn", TEMPLATE)
            .plan(&HANDLER, &change)
            .unwrap_err();
        assert!(err.contains("changes none of"), "{err}");
    }

    #[test]
    fn timeout_memory_and_environment_come_back_with_documented_defaults() {
        let mut change = recorded(
            "lambda-update-function-configuration-v2.json",
            "AWS::Lambda::Function",
            "production-api",
        );
        change.request = json!({"functionName": "production-api", "timeout": 60, "memorySize": 1024, "environment": {"variables": {"MODE": "debug"}}});
        let undo = Case::new("Fn", TEMPLATE).plan(&HANDLER, &change).unwrap();
        assert_eq!(
            undo.calls[0].to_planned().parameters,
            json!({"FunctionName": "production-api", "Timeout": 10, "MemorySize": 128, "Environment": {"Variables": {"MODE": "safe"}}})
        );
        let [Call::UpdateFunctionConfiguration(c)] = undo.calls.as_slice() else {
            panic!()
        };
        let seen = |timeout: i32| Observed::FunctionConfiguration {
            timeout: Some(timeout),
            memory_size: Some(128),
            variables: BTreeMap::from([("MODE".to_string(), "safe".to_string())]),
        };
        assert!(read_back(c, &seen(10)).converged);
        let rb = read_back(c, &seen(60));
        assert!(
            !rb.converged && rb.detail.contains("Timeout Some(60)"),
            "{}",
            rb.detail
        );
    }
}
