//! Secret values never reach a notification. Before a value from a drift, a
//! CloudTrail request or a plan is printed (Slack, SNS, e-mail text), it goes
//! through [`redact`]:
//! - Lambda `Environment.Variables`: names kept, every value summarised;
//! - SSM SecureString values (an object with `type`/`Type` = `SecureString`,
//!   e.g. a `PutParameter` request): the `value`/`Value` summarised;
//! - values under secret-looking names (`Password`, `Secret`, `Token`,
//!   `PrivateKey`, ...): `NoEcho` template parameters usually feed such
//!   properties, and the drift report does not say which ones did;
//! - documents above [`MAX_DOCUMENT`] bytes (policy documents, templates):
//!   summarised as their size, key or statement count and a short SHA-256.
//!
//! A summary is `‹redacted: N chars, sha256:0123456789ab›`: enough to tell two
//! values apart or match one against a known value, never the value itself.
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Serialized size above which a document is summarised, not printed.
pub const MAX_DOCUMENT: usize = 2048;

/// Name fragments (lowercase, `_`/`-` removed) that mark a secret value.
const SECRET_NAMES: [&str; 6] = [
    "password",
    "passwd",
    "secret",
    "token",
    "privatekey",
    "apikey",
];

/// First 12 hex digits of the SHA-256 of `text`.
pub fn short_hash(text: &str) -> String {
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    digest[..12].to_string()
}

/// The summary printed in place of a secret value.
pub fn summary(value: &Value) -> Value {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Value::String(format!(
        "‹redacted: {} chars, sha256:{}›",
        text.chars().count(),
        short_hash(&text)
    ))
}

fn normalised(name: &str) -> String {
    name.to_ascii_lowercase().replace(['_', '-', '.'], "")
}

fn is_secret_name(name: &str) -> bool {
    let n = normalised(name);
    SECRET_NAMES.iter().any(|s| n.contains(s))
}

/// Segments of a drift property path (`/Environment/Variables/DB_PASS`,
/// `Environment.Variables`).
pub fn path_segments(path: &str) -> Vec<String> {
    path.split(['/', '.'])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Is a value at `path` (keys from the root) secret by position?
fn secret_at(path: &[String]) -> bool {
    let lower: Vec<String> = path.iter().map(|s| s.to_ascii_lowercase()).collect();
    let in_env = lower
        .windows(2)
        .any(|w| w[0] == "environment" && w[1] == "variables");
    in_env || path.last().is_some_and(|k| is_secret_name(k))
}

/// `value` (found at `path`) with every secret value summarised.
pub fn redact(path: &[String], value: &Value) -> Value {
    shrink(redact_inner(path, value))
}

/// Documents above [`MAX_DOCUMENT`] summarised, innermost first: an oversized
/// object member (a policy document in a request) is summarised and its small
/// siblings (the request's names) kept.
fn shrink(value: Value) -> Value {
    let size = value.to_string().len();
    if size <= MAX_DOCUMENT {
        return value;
    }
    let value = match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| match v {
                    Value::Object(_) => (k, shrink(v)),
                    other => (k, other),
                })
                .collect(),
        ),
        other => other,
    };
    let size = value.to_string().len();
    if size > MAX_DOCUMENT {
        return document_summary(&value, size);
    }
    value
}

fn redact_inner(path: &[String], value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(redact_object(path, map)),
        Value::Array(items) => Value::Array(items.iter().map(|v| redact_inner(path, v)).collect()),
        Value::Null => Value::Null,
        scalar if secret_at(path) => summary(scalar),
        scalar => scalar.clone(),
    }
}

fn redact_object(path: &[String], map: &Map<String, Value>) -> Map<String, Value> {
    let secure_string = map.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("type")
            && v.as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("SecureString"))
    });
    map.iter()
        .map(|(k, v)| {
            let mut child = path.to_vec();
            child.push(k.clone());
            let value = if secure_string && k.eq_ignore_ascii_case("value") && !v.is_null() {
                summary(v)
            } else {
                redact_inner(&child, v)
            };
            (k.clone(), value)
        })
        .collect()
}

/// A whole event detail (the SNS/e-mail body) with every secret summarised:
/// drift differences by their property `path`, and `request`, `response` and
/// plan `parameters` values as documents (summarised above [`MAX_DOCUMENT`]).
pub fn redact_detail(value: &Value) -> Value {
    match value {
        Value::Object(map) if is_difference(map) => {
            let path = path_segments(map.get("path").and_then(Value::as_str).unwrap_or(""));
            Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let v = match k.as_str() {
                            "expected" | "actual" if !v.is_null() => redact(&path, v),
                            _ => v.clone(),
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            )
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match k.as_str() {
                        "request" | "response" | "parameters" | "requestParameters"
                        | "responseElements" => redact(&[], v),
                        _ => redact_detail(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact_detail).collect()),
        scalar => scalar.clone(),
    }
}

fn is_difference(map: &Map<String, Value>) -> bool {
    map.get("path").is_some_and(Value::is_string)
        && (map.contains_key("expected") || map.contains_key("actual"))
}

fn document_summary(value: &Value, size: usize) -> Value {
    let shape = match value {
        Value::Object(map) => match map.get("Statement").or_else(|| map.get("statement")) {
            Some(Value::Array(s)) => format!("{} statements", s.len()),
            _ => format!("{} keys", map.len()),
        },
        Value::Array(items) => format!("{} items", items.len()),
        _ => "text".to_string(),
    };
    Value::String(format!(
        "‹document: {shape}, {size} bytes, sha256:{}›",
        short_hash(&value.to_string())
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn text(v: &Value) -> String {
        v.to_string()
    }

    #[test]
    fn environment_values_are_summarised_and_names_kept() {
        let v = json!({"functionName": "f", "environment": {"variables": {"DB_PASS": "hunter2", "MODE": "prod"}}});
        let out = text(&redact(&[], &v));
        assert!(!out.contains("hunter2") && !out.contains("prod"), "{out}");
        assert!(
            out.contains("DB_PASS") && out.contains("MODE") && out.contains("‹redacted: 7 chars"),
            "{out}"
        );
        // The same, as a drift difference at a property path.
        let at = path_segments("/Environment/Variables/DB_PASS");
        assert!(!text(&redact(&at, &json!("hunter2"))).contains("hunter2"));
        let at = path_segments("/Environment/Variables");
        assert!(!text(&redact(&at, &json!({"DB_PASS": "hunter2"}))).contains("hunter2"));
    }

    #[test]
    fn secure_string_values_and_secret_names_are_summarised() {
        let put = json!({"name": "/app/db", "type": "SecureString", "value": "s3cr3t-value", "overwrite": true});
        let out = text(&redact(&[], &put));
        assert!(
            !out.contains("s3cr3t-value") && out.contains("/app/db"),
            "{out}"
        );
        let plain = json!({"name": "/app/mode", "type": "String", "value": "blue"});
        assert!(text(&redact(&[], &plain)).contains("blue"));
        let db = json!({"MasterUserPassword": "pa55", "DBInstanceClass": "db.t3.micro"});
        let out = text(&redact(&[], &db));
        assert!(
            !out.contains("pa55") && out.contains("db.t3.micro"),
            "{out}"
        );
        assert!(!text(&redact(
            &path_segments("/MasterUserPassword"),
            &json!("pa55")
        ))
        .contains("pa55"));
    }

    #[test]
    fn large_documents_are_summarised() {
        let statements: Vec<Value> = (0..40)
            .map(|i| json!({"Effect": "Allow", "Action": format!("s3:GetObject{i}"), "Resource": "arn:aws:s3:::bucket/*"}))
            .collect();
        let policy = json!({"Version": "2012-10-17", "Statement": statements});
        let out = text(&redact(&[], &policy));
        assert!(
            out.starts_with("\"‹document: 40 statements,") && out.contains("sha256:"),
            "{out}"
        );
        let small = json!({"Version": "2012-10-17", "Statement": []});
        assert_eq!(redact(&[], &small), small);
    }

    #[test]
    fn the_summary_tells_values_apart_without_showing_them() {
        assert_ne!(summary(&json!("a")), summary(&json!("b")));
        assert_eq!(summary(&json!("a")), summary(&json!("a")));
    }
}
