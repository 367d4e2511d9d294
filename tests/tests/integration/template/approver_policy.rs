//! The approver IAM policy (`examples/approver-policy.json`, shown in
//! docs/security.md): each condition key is one the Service Authorization
//! Reference lists for the action of its statement (issue 36 item 5).

use std::collections::BTreeMap;

use driftguard_cli::emulator::workspace_root;
use serde_json::Value;

/// Service Authorization Reference, "Actions defined by AWS Lambda", the
/// condition keys column of each action the approver policy uses
/// (<https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html>):
/// `InvokeFunction`: `lambda:EventSourceToken`, `lambda:InvokedViaFunctionUrl`;
/// `InvokeFunctionUrl`: `lambda:EventSourceToken`, `lambda:FunctionArn`,
/// `lambda:FunctionUrlAuthType`. Global keys (`aws:*`) apply to every action.
const SAR_LAMBDA_CONDITION_KEYS: &[(&str, &[&str])] = &[
    (
        "lambda:InvokeFunction",
        &["lambda:EventSourceToken", "lambda:InvokedViaFunctionUrl"],
    ),
    (
        "lambda:InvokeFunctionUrl",
        &[
            "lambda:EventSourceToken",
            "lambda:FunctionArn",
            "lambda:FunctionUrlAuthType",
        ],
    ),
];

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// Every (statement, action, condition key) whose key the reference does not
/// list for the action (or whose action it has no data for).
fn misused_keys(policy: &Value) -> Vec<String> {
    let sar: BTreeMap<&str, &[&str]> = SAR_LAMBDA_CONDITION_KEYS.iter().copied().collect();
    let mut problems = Vec::new();
    let statements = policy["Statement"].as_array().cloned().unwrap_or_default();
    for (i, s) in statements.iter().enumerate() {
        let keys: Vec<String> = s["Condition"]
            .as_object()
            .into_iter()
            .flat_map(|ops| ops.values())
            .filter_map(Value::as_object)
            .flat_map(|m| m.keys().cloned())
            .collect();
        for action in strings(&s["Action"]) {
            let Some(known) = sar.get(action.as_str()) else {
                problems.push(format!("statement {i}: no reference data for {action}"));
                continue;
            };
            for key in keys.iter().filter(|k| !k.starts_with("aws:")) {
                if !known.contains(&key.as_str()) {
                    problems.push(format!("statement {i}: {key} is not a key of {action}"));
                }
            }
        }
    }
    problems
}

fn example() -> (String, Value) {
    let text = std::fs::read_to_string(workspace_root().join("examples/approver-policy.json"))
        .expect("examples/approver-policy.json");
    let policy = serde_json::from_str(&text).expect("the example is JSON");
    (text, policy)
}

#[test]
fn the_approver_policy_uses_each_condition_key_with_its_own_action() {
    let (_, policy) = example();
    assert_eq!(misused_keys(&policy), Vec::<String>::new());
    let statements = policy["Statement"].as_array().expect("statements");
    assert_eq!(statements.len(), 2, "one statement per action");
    let by_action: BTreeMap<String, &Value> = statements
        .iter()
        .map(|s| (strings(&s["Action"]).concat(), &s["Condition"]))
        .collect();
    assert_eq!(
        by_action["lambda:InvokeFunctionUrl"]["StringEquals"]["lambda:FunctionUrlAuthType"],
        "AWS_IAM"
    );
    assert_eq!(
        by_action["lambda:InvokeFunction"]["Bool"]["lambda:InvokedViaFunctionUrl"],
        "true"
    );
}

#[test]
fn the_check_refuses_the_old_single_statement() {
    // docs/security.md's example before issue 36: both actions, both keys.
    let old = serde_json::json!({"Statement": [{
        "Effect": "Allow",
        "Action": ["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"],
        "Resource": "<ApproveFunctionArn>",
        "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"},
                      "Bool": {"lambda:InvokedViaFunctionUrl": "true"}}}]});
    let mut problems = misused_keys(&old);
    problems.sort();
    assert_eq!(
        problems,
        [
            "statement 0: lambda:FunctionUrlAuthType is not a key of lambda:InvokeFunction",
            "statement 0: lambda:InvokedViaFunctionUrl is not a key of lambda:InvokeFunctionUrl",
        ]
    );
}

#[test]
fn docs_security_md_shows_the_example_file() {
    let (text, _) = example();
    let doc = std::fs::read_to_string(workspace_root().join("docs/security.md")).unwrap();
    assert!(
        doc.contains(&format!("```json\n{text}```")),
        "docs/security.md shows examples/approver-policy.json verbatim"
    );
}
