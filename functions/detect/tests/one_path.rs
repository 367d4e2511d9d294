//! One decision path: the Lambda hands detect the raw payload
//! (`LambdaEvent<Box<RawValue>>`, `main.rs`), which is parsed by
//! `driftguard_model::sources::parse_envelope_bytes` (the code the decision-path bench
//! measures). Before, the runtime built a `serde_json::Value` and detect ran
//! `parse_event` over it; that path remains for callers holding a `Value`
//! (`Pipeline::process_event`, `driftguard plan`).
//!
//! Both must give identical results on every fixture: the parse (observation
//! or error, and the envelope fields the pipeline reads) and the whole outcome
//! of detect (decision, ticket, skip reason, error class and message).
#![allow(clippy::unwrap_used)]
use std::path::{Path, PathBuf};
use std::sync::Arc;

use driftguard_core::detect::{Pipeline, Settings};
use driftguard_core::testing::ports::empty_detect_ports;
use driftguard_model::domain::policy::Policy;
use driftguard_model::sources::{
    parse_envelope_bytes, record::envelope_for_record, ParsedEnvelope,
};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every JSON file of `events/<dir>` as (name, bytes); bare CloudTrail records
/// (`events/recorded/`) in the envelope EventBridge delivers them in.
fn payloads() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in [
        "detect",
        "recorded",
        "recorded/other",
        "adversarial",
        "remediate",
        "notify",
        "sweep",
        "config-rule",
        "approve",
    ] {
        let mut files: Vec<_> = std::fs::read_dir(root().join("events").join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for path in files {
            let bytes = std::fs::read(&path).unwrap();
            let bytes = match serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| envelope_for_record(&v))
            {
                Some(envelope) => serde_json::to_vec_pretty(&envelope).unwrap(),
                None => bytes,
            };
            out.push((
                format!("{dir}/{}", path.file_name().unwrap().to_string_lossy()),
                bytes,
            ));
        }
    }
    assert!(out.len() > 100, "fixtures not found: {}", out.len());
    out
}

/// The same payload compact, and with every object's keys in reverse order
/// (EventBridge's order is not a contract).
fn variants(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![bytes.to_vec()];
    if let Ok(v) = serde_json::from_slice::<Value>(bytes) {
        out.push(serde_json::to_vec(&v).unwrap());
        out.push(reversed(&v).into_bytes());
    }
    out
}

fn reversed(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let fields: Vec<String> = m
                .iter()
                .rev()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), reversed(v)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(reversed).collect::<Vec<_>>().join(",")
            )
        }
        other => other.to_string(),
    }
}

#[test]
fn raw_and_value_parses_are_identical_on_every_fixture() {
    let mut compared = 0;
    for (name, bytes) in payloads() {
        for variant in variants(&bytes) {
            let raw = parse_envelope_bytes(&variant);
            let value: Value = serde_json::from_slice(&variant).unwrap();
            assert_eq!(raw, ParsedEnvelope::of_value(&value), "{name}");
            compared += 1;
        }
    }
    assert!(compared > 300, "{compared}");
}

fn pipeline(policy: &Policy, watched_accounts: &[&str]) -> Pipeline {
    let at = chrono::DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
        .unwrap()
        .to_utc();
    Pipeline::new(
        empty_detect_ports(at),
        Arc::new(policy.clone()),
        Settings {
            watched_accounts: watched_accounts.iter().map(|a| a.to_string()).collect(),
            ..Settings::default()
        },
    )
}

/// An outcome as comparable JSON: the wall-clock `duration_ms` removed.
fn comparable(result: Result<Value, detect::handler::DetectError>) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("duration_ms");
                m.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    match result {
        Ok(mut v) => {
            strip(&mut v);
            v
        }
        Err(e) => {
            let d: detect::handler::Diagnostic = e.into();
            serde_json::json!({"error_type": d.error_type, "error_message": d.error_message})
        }
    }
}

#[tokio::test]
async fn detect_decides_identically_from_the_raw_payload_and_from_a_value() {
    let example =
        Policy::from_yaml(&std::fs::read_to_string(root().join("policy.example.yaml")).unwrap())
            .unwrap();
    let cases: [(&Policy, &[&str]); 3] = [
        (&Policy::default(), &[]),
        (&example, &[]),
        (&example, &["123456789012"]),
    ];
    for (policy, watched) in cases {
        let (by_value, by_raw) = (pipeline(policy, watched), pipeline(policy, watched));
        for (name, bytes) in payloads() {
            let value: Value = serde_json::from_slice(&bytes).unwrap();
            let old = by_value
                .process_event_until(&value, None)
                .await
                .map(|o| serde_json::to_value(o).unwrap())
                .map_err(detect::handler::DetectError);
            let new = detect::handler::handle_raw_until(&by_raw, &bytes, None).await;
            assert_eq!(comparable(old), comparable(new), "{name}");
        }
    }
}

/// Bad input (issue 33): a request holding valid JSON that `serde_json::Value`
/// cannot (a lone UTF-16 surrogate escape) is decided on the rest of the
/// record, never dropped; the group is still named by the AWS-set response
/// (`securityGroupRuleSet`'s `groupId`), so it is resolved from there.
#[tokio::test]
async fn a_request_json_value_cannot_hold_is_decided_never_dropped() {
    let example =
        Policy::from_yaml(&std::fs::read_to_string(root().join("policy.example.yaml")).unwrap())
            .unwrap();
    let detect = pipeline(&example, &["123456789012"]);
    let text =
        std::fs::read_to_string(root().join("events/detect/console-sg-ingress.json")).unwrap();
    let mut event: Value = serde_json::from_str(&text).unwrap();
    event["detail"]["requestParameters"]["x"] = Value::String("__bad__".into());
    let bytes = serde_json::to_string(&event)
        .unwrap()
        .replace("\"__bad__\"", r#""\ud800""#);
    assert!(serde_json::from_str::<Value>(&bytes).is_err());
    let out = detect::handler::handle_raw_until(&detect, bytes.as_bytes(), None)
        .await
        .unwrap();
    assert_eq!(out["outcome"], "decided", "{out}");
    assert_eq!(out["event_id"], event["detail"]["eventID"], "{out}");
    assert_eq!(
        out["resource"], "AWS::EC2::SecurityGroup sg-0a1b2c3d4e5f67890",
        "{out}"
    );
    assert_ne!(out["decision"]["verdict"]["action"], "revert", "{out}");
}
