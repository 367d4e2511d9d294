//! Real recorded CloudTrail records (`events/recorded/`, provenance in its README)
//! are the oracle for the parser: each one, wrapped in the EventBridge envelope
//! CloudTrail events arrive in, parses to the outcome, resource (type and physical
//! id) and actor kind the README's table says; every operation in
//! `driftguard_model::sources::operations::OPERATIONS` has at least one recorded or documented-shape
//! record; and every record's `eventName` is one the table routes.
//!
//! The envelope: "AWS API Call via CloudTrail" events have the CloudTrail record
//! as `detail`, `source` `aws.<service>` and the usual top-level fields
//! (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html>:
//! "CloudTrail sends the following types of events to the default EventBridge event
//! bus. In each case, the detail-type value of the event is the listed event type:
//! AWS API Call via CloudTrail"; top-level fields per
//! <https://docs.aws.amazon.com/eventbridge/latest/ref/overiew-event-structure.html>).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use driftguard_model::domain::policy::Policy;
use driftguard_model::domain::{classify_actor, Observation};
use driftguard_model::sources::operations::{event_names, normalize_operation};
use driftguard_model::sources::{
    cloudtrail::service_name, operations::OPERATIONS, parse_bytes, parse_event,
};
use serde_json::Value;

use common::CONVENTIONS_POLICY;

fn recorded_dir() -> PathBuf {
    common::events_dir("recorded")
}

/// One README row.
#[derive(Debug)]
struct Row {
    file: String,
    event: String,
    resource_type: String,
    physical_id: String,
    actor: String,
    outcome: String,
}

fn readme_rows() -> Vec<Row> {
    common::readme_table(&recorded_dir(), 7)
        .into_iter()
        .map(|c| Row {
            file: common::tick(&c[0]),
            event: common::tick(&c[1]),
            resource_type: common::tick(&c[3]),
            physical_id: common::tick(&c[4]),
            actor: c[5].clone(),
            outcome: c[6].clone(),
        })
        .collect()
}

fn record(file: &str) -> Value {
    let bytes = std::fs::read(recorded_dir().join(file)).unwrap();
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The EventBridge envelope CloudTrail delivers `record` in.
fn envelope(record: &Value) -> Value {
    driftguard_model::sources::record::envelope_for_record(record)
        .expect("a bare CloudTrail record")
}

fn outcome_of(o: &Observation) -> &'static str {
    match o {
        Observation::Change(_) => "change",
        Observation::NotAChange { reason, .. } => reason.as_str(),
    }
}

fn json_files() -> BTreeSet<String> {
    common::json_files(&recorded_dir())
}

#[test]
fn every_recorded_file_is_in_the_readme_and_vice_versa() {
    let listed: BTreeSet<String> = readme_rows().into_iter().map(|r| r.file).collect();
    assert_eq!(json_files(), listed);
}

#[test]
fn records_are_bare_cloudtrail_records_sanitised() {
    for file in json_files() {
        let r = record(&file);
        assert!(
            r.get("detail").is_none(),
            "{file}: a record, not an envelope"
        );
        for key in r.as_object().unwrap().keys() {
            assert!(
                !key.starts_with("p_"),
                "{file}: panther field {key} left in"
            );
        }
        // CloudTrail's own time format (panther's normalised one was converted).
        let time = r["eventTime"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(time).is_ok(),
            "{file}: {time}"
        );
        let text = serde_json::to_string(&r).unwrap();
        for account in ["112233445566", "111111111111"] {
            assert!(!text.contains(account), "{file}: unsanitised account");
        }
    }
}

#[test]
fn every_recorded_event_parses_resolves_and_classifies_as_documented() {
    let policy = Policy::from_yaml(CONVENTIONS_POLICY).unwrap();
    let mut failures = Vec::new();
    for row in readme_rows() {
        let r = record(&row.file);
        if r["eventName"] != row.event.as_str() {
            failures.push(format!(
                "{}: eventName {} (README {})",
                row.file, r["eventName"], row.event
            ));
        }
        let env = envelope(&r);
        let parsed = match parse_event(&env) {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("{}: {e}", row.file));
                continue;
            }
        };
        // The bytes path (typed fast path) agrees with the Value path.
        assert_eq!(
            parse_bytes(&serde_json::to_vec(&env).unwrap()),
            Ok(parsed.clone()),
            "{}",
            row.file
        );
        let change = match &parsed {
            Observation::Change(c) => c.as_ref(),
            Observation::NotAChange { change, .. } => match change.as_deref() {
                Some(c) => c,
                None => {
                    failures.push(format!("{}: no change kept", row.file));
                    continue;
                }
            },
        };
        let actor = classify_actor(&change.identity, &policy.identities, change.time);
        let got = format!(
            "| `{}` | `{}` | ? | `{}` | `{}` | {} | {} |",
            row.file,
            row.event,
            change.resource.resource_type.as_deref().unwrap_or("-"),
            change.resource.physical_id.as_deref().unwrap_or("-"),
            actor.kind,
            outcome_of(&parsed)
        );
        let ok = outcome_of(&parsed) == row.outcome
            && change.resource.resource_type.as_deref() == Some(row.resource_type.as_str())
            // `-`: the record names no identifier (a trimmed test case), nothing resolved.
            && change.resource.physical_id.as_deref()
                == Some(row.physical_id.as_str()).filter(|id| *id != "-")
            && actor.kind.as_str() == row.actor;
        if !ok {
            failures.push(format!("{}: got {got}", row.file));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_operation_in_the_table_has_a_recorded_or_documented_event() {
    let names: BTreeSet<(String, String)> = json_files()
        .iter()
        .map(|f| {
            let r = record(f);
            let service = service_name(r["eventSource"].as_str().unwrap()).to_string();
            let op = normalize_operation(r["eventName"].as_str().unwrap()).to_string();
            (service, op)
        })
        .collect();
    let missing: Vec<String> = OPERATIONS
        .iter()
        .filter(|s| !names.contains(&(s.service.to_string(), s.operation.to_string())))
        .map(|s| format!("{}:{}", s.service, s.operation))
        .collect();
    assert!(missing.is_empty(), "no recorded event for {missing:?}");
}

#[test]
fn every_recorded_event_name_is_one_the_table_names() {
    for file in json_files() {
        let r = record(&file);
        let name = r["eventName"].as_str().unwrap();
        let service = service_name(r["eventSource"].as_str().unwrap());
        let spec =
            driftguard_model::sources::operations::lookup(service, normalize_operation(name))
                .unwrap_or_else(|| panic!("{file}: {service}:{name} is not in the table"));
        assert!(
            event_names(spec).contains(&name),
            "{file}: {name} is not among {:?}",
            event_names(spec)
        );
    }
}

/// The change a recorded file parses to.
fn change_of(file: &str) -> driftguard_model::domain::Change {
    match parse_event(&envelope(&record(file))).unwrap() {
        Observation::Change(c) => *c,
        other => panic!("{file}: {other:?}"),
    }
}

fn drift_paths(file: &str) -> Vec<String> {
    driftguard_model::sources::operations::request_drift(&change_of(file))
        .map(|d| d.differences.into_iter().map(|d| d.path).collect())
        .unwrap_or_default()
}

#[test]
fn recorded_shapes_report_only_what_the_record_proves() {
    // Layers only: CloudTrail's empty `environment` gives /Environment with no
    // value (it may hide a variables change), never a made-up `{}`.
    assert_eq!(
        drift_paths("lambda-update-function-configuration-layers.json"),
        ["/Layers", "/Environment"]
    );
    // New code: the response's hash, never an empty /Code.
    let c = change_of("lambda-update-function-code-publish.json");
    let d = driftguard_model::sources::operations::request_drift(&c).unwrap();
    assert_eq!(d.differences.len(), 1);
    assert_eq!(d.differences[0].path, "/CodeSha256");
    assert_eq!(
        d.differences[0].actual,
        Some(serde_json::json!(
            "Pt1c8vVaBygmNtAeSyjlpdy7r8nHRqJAAL++HEGlQkc="
        ))
    );
    for file in [
        "lambda-update-function-code-v2.json",
        "lambda-update-function-code-20150331.json",
    ] {
        assert!(drift_paths(file).is_empty(), "{file}");
    }
    // The single-rule security-group form is the rule it adds.
    let c = change_of("ec2-authorize-security-group-ingress-flat.json");
    let d = driftguard_model::sources::operations::request_drift(&c).unwrap();
    assert_eq!(d.differences[0].path, "/SecurityGroupIngress");
    assert_eq!(
        d.differences[0].actual,
        Some(
            serde_json::json!([{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0"}])
        )
    );
}
