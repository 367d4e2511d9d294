//! Every payload under `events/detect/` parses to what `events/detect/README.md`
//! says, and its actor is classified as the README says with a policy naming
//! the project's conventional principals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use driftguard_model::domain::policy::Policy;
use driftguard_model::domain::{classify_actor, DifferenceKind, NotAChange, Observation};
use driftguard_model::sources::{
    self, operations::request_drift, parse_bytes, parse_event, parse_event_checked, SourceError,
    MAX_EVENT_BYTES,
};
use serde_json::Value;

use common::CONVENTIONS_POLICY;

fn events_dir() -> PathBuf {
    common::events_dir("detect")
}

/// One README row: file (relative to events/detect), actor, outcome.
struct Row {
    file: String,
    actor: String,
    outcome: String,
}

fn readme_rows() -> Vec<Row> {
    common::readme_table(&events_dir(), 4)
        .into_iter()
        .map(|c| Row {
            file: common::tick(&c[0]),
            actor: c[2].clone(),
            outcome: c[3].clone(),
        })
        .collect()
}

fn json_files(dir: &Path, prefix: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .map(|n| format!("{prefix}{n}"))
        .collect()
}

fn read(file: &str) -> Vec<u8> {
    std::fs::read(events_dir().join(file)).unwrap()
}

fn outcome_of(o: &Observation) -> &'static str {
    match o {
        Observation::Change(_) => "change",
        Observation::NotAChange { reason, .. } => reason.as_str(),
    }
}

#[test]
fn every_fixture_is_in_the_readme_and_vice_versa() {
    let mut on_disk = json_files(&events_dir(), "");
    on_disk.extend(json_files(&events_dir().join("malformed"), "malformed/"));
    let listed: BTreeSet<String> = readme_rows().into_iter().map(|r| r.file).collect();
    assert_eq!(on_disk, listed);
    let valid = on_disk
        .iter()
        .filter(|f| !f.starts_with("malformed/"))
        .count();
    assert!(valid >= 25, "only {valid} fixtures");
}

#[test]
fn every_fixture_parses_and_classifies_as_documented() {
    let policy = Policy::from_yaml(CONVENTIONS_POLICY).unwrap();
    let mut failures = Vec::new();
    for row in readme_rows() {
        let bytes = read(&row.file);
        let parsed = parse_bytes(&bytes);
        if let Some(expected_error) = row.outcome.strip_prefix("error: ") {
            let err = match parsed {
                Err(e) => e,
                Ok(o) => {
                    failures.push(format!("{}: parsed as {}", row.file, outcome_of(&o)));
                    continue;
                }
            };
            let ok = match expected_error {
                "malformed JSON" => matches!(err, SourceError::MalformedJson(_)),
                "unsupported" => matches!(err, SourceError::Unsupported { .. }),
                field => err.field() == Some(field.trim_matches('`')),
            };
            if !ok {
                failures.push(format!(
                    "{}: expected {expected_error}, got {err}",
                    row.file
                ));
            }
            // The message is meant for people: it names the field too.
            if let Some(field) = err.field() {
                assert!(err.to_string().contains(field), "{err}");
            }
            continue;
        }
        let observation = match parsed {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("{}: {e}", row.file));
                continue;
            }
        };
        if outcome_of(&observation) != row.outcome {
            failures.push(format!(
                "{}: outcome {} (README says {})",
                row.file,
                outcome_of(&observation),
                row.outcome
            ));
        }
        let change = match &observation {
            Observation::Change(c) => Some(c.as_ref()),
            Observation::NotAChange { change, .. } => change.as_deref(),
        };
        let Some(change) = change else {
            failures.push(format!("{}: no parsed change kept", row.file));
            continue;
        };
        let actor = classify_actor(&change.identity, &policy.identities, change.time);
        if actor.kind.as_str() != row.actor {
            failures.push(format!(
                "{}: actor {} (README says {}), evidence {:?}",
                row.file, actor.kind, row.actor, actor.evidence
            ));
        }
        assert!(
            !actor.evidence.is_empty() || row.actor == "unknown",
            "{}",
            row.file
        );
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn fixtures_are_real_shaped_envelopes() {
    for file in json_files(&events_dir(), "") {
        let v: Value = serde_json::from_slice(&read(&file)).unwrap();
        assert_eq!(v["version"], "0", "{file}");
        assert_eq!(v["account"], "123456789012", "{file}");
        assert_eq!(v["region"], "us-east-1", "{file}");
        assert!(v["id"].as_str().is_some_and(|s| s.len() == 36), "{file}");
        assert!(v["resources"].is_array(), "{file}");
        assert!(
            chrono::DateTime::parse_from_rfc3339(v["time"].as_str().unwrap()).is_ok(),
            "{file}"
        );
        // The Lambda path (already deserialized, size-checked) agrees with the bytes path.
        assert_eq!(parse_event_checked(&v), parse_event(&v), "{file}");
        assert_eq!(parse_bytes(&read(&file)), parse_event(&v), "{file}");
    }
}

fn change_of(file: &str) -> driftguard_model::domain::Change {
    match parse_bytes(&read(file)).unwrap() {
        Observation::Change(c) => *c,
        other => panic!("{file}: {other:?}"),
    }
}

#[test]
fn the_four_headline_console_changes_name_resource_and_drift() {
    let c = change_of("console-sg-ingress.json");
    assert_eq!(
        c.resource.resource_type.as_deref(),
        Some("AWS::EC2::SecurityGroup")
    );
    assert_eq!(
        c.resource.physical_id.as_deref(),
        Some("sg-0a1b2c3d4e5f67890")
    );
    let d = request_drift(&c).unwrap();
    assert_eq!(d.differences[0].path, "/SecurityGroupIngress");
    assert_eq!(d.differences[0].kind, DifferenceKind::Add);
    let rule = &d.differences[0].actual.as_ref().unwrap()[0];
    assert_eq!(rule["CidrIp"], "0.0.0.0/0");
    assert_eq!(rule["FromPort"], 22);

    let c = change_of("console-ssm-put-parameter.json");
    assert_eq!(
        c.resource.physical_id.as_deref(),
        Some("/app/checkout/feature-flags")
    );
    let d = request_drift(&c).unwrap();
    assert_eq!(d.differences[0].path, "/Value");
    assert_eq!(
        d.differences[0].actual.as_ref().unwrap(),
        "{\"newCheckout\":true}"
    );

    let c = change_of("console-iam-attach-role-policy.json");
    assert_eq!(c.resource.physical_id.as_deref(), Some("app-service-role"));
    let d = request_drift(&c).unwrap();
    assert_eq!(d.differences[0].path, "/ManagedPolicyArns");
    assert_eq!(
        d.differences[0].actual.as_ref().unwrap(),
        "arn:aws:iam::aws:policy/AdministratorAccess"
    );

    let c = change_of("console-s3-delete-public-access-block.json");
    assert_eq!(
        c.resource.physical_id.as_deref(),
        Some("app-data-123456789012")
    );
    let d = request_drift(&c).unwrap();
    assert_eq!(d.differences[0].path, "/PublicAccessBlockConfiguration");
    assert_eq!(d.differences[0].kind, DifferenceKind::Remove);
}

#[test]
fn every_cloudtrail_write_in_the_table_resolves_its_resource() {
    for file in json_files(&events_dir(), "") {
        let Ok(Observation::Change(c)) = parse_bytes(&read(&file)) else {
            continue;
        };
        if c.source != driftguard_model::domain::ChangeSource::Cloudtrail {
            continue;
        }
        match sources::operations::lookup(&c.service, &c.operation) {
            Some(spec) => {
                assert!(c.resource.is_resolved(), "{file}: {:?}", c.resource);
                assert!(c.resource.arn.is_some(), "{file}");
                assert_eq!(
                    c.resource.resource_type.as_deref(),
                    Some(spec.resource_type)
                );
                assert!(request_drift(&c).is_some(), "{file}");
            }
            None => {
                assert!(!c.resource.is_resolved(), "{file}");
                assert!(request_drift(&c).is_none(), "{file}");
            }
        }
    }
}

#[test]
fn failed_call_says_why() {
    match parse_bytes(&read("failed-access-denied-attach-role-policy.json")).unwrap() {
        Observation::NotAChange {
            reason: NotAChange::FailedCall,
            detail,
            ..
        } => assert!(detail.starts_with("errorCode=AccessDenied"), "{detail}"),
        other => panic!("{other:?}"),
    }
}

fn padded(extra: usize) -> Value {
    let mut v: Value = serde_json::from_slice(&read("console-sg-ingress.json")).unwrap();
    v["detail"]["requestParameters"]["padding"] = Value::String("x".repeat(extra));
    v
}

#[test]
fn oversized_payloads_are_rejected_on_both_paths() {
    let big = padded(MAX_EVENT_BYTES);
    let err = parse_event_checked(&big).unwrap_err();
    assert!(
        matches!(err, SourceError::TooLarge { size, max } if size > max && max == MAX_EVENT_BYTES),
        "{err}"
    );
    let bytes = serde_json::to_vec(&big).unwrap();
    assert!(matches!(
        parse_bytes(&bytes),
        Err(SourceError::TooLarge { .. })
    ));
    // Between the old 256 KB limit and today's 1 MB: a real event, accepted.
    let medium = padded(300 * 1024);
    assert!(matches!(
        parse_event_checked(&medium),
        Ok(Observation::Change(_))
    ));
    // Exactly at the limit passes; one byte over fails.
    let base = sources::json_size(&padded(0));
    let at_limit = padded(MAX_EVENT_BYTES - base);
    assert_eq!(sources::json_size(&at_limit), MAX_EVENT_BYTES);
    assert!(parse_event_checked(&at_limit).is_ok());
    let over = padded(MAX_EVENT_BYTES - base + 1);
    assert!(parse_event_checked(&over).is_err());
}
