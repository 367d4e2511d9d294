//! Property tests: no parser entry point panics, whatever it is fed.
//!
//! Inputs: arbitrary JSON, arbitrary JSON under every supported envelope,
//! arbitrary mutations of every `events/detect` fixture (delete / replace /
//! retype / null random fields), truncated and corrupted fixture bytes, and
//! arbitrary requests for every operation-table entry. 10,000 cases each
//! (`DRIFTGUARD_PROPTEST_CASES` overrides: the long run uses 100,000).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::OnceLock;

use driftguard_model::domain::Observation;
use driftguard_model::sources::{
    self, operations, operations::request_drift, operations::OPERATIONS, parse_bytes, parse_event,
    parse_event_checked, SourceError,
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value};

/// Cases per property: 10,000, or `DRIFTGUARD_PROPTEST_CASES` (the long
/// run: `DRIFTGUARD_PROPTEST_CASES=100000`, docs/reliability.md).
fn cases() -> u32 {
    std::env::var("DRIFTGUARD_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(10_000)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        // Failure persistence files would land in the source tree.
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases())
    }
}

/// Every fixture (valid and malformed), as bytes.
fn fixtures() -> &'static [(String, Vec<u8>)] {
    static FIXTURES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/detect");
        let mut out = Vec::new();
        for dir in [root.clone(), root.join("malformed")] {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "json") {
                    out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
                }
            }
        }
        out.sort();
        assert!(out.len() >= 25);
        out
    })
}

/// The fixtures that are JSON (all but `not-json.json`).
/// Up to two bytes to overwrite: where, and with what.
fn arb_flips() -> impl Strategy<Value = Vec<(Index, u8)>> {
    prop::collection::vec((any::<Index>(), any::<u8>()), 0..3)
}

/// A fixture's bytes cut short at `cut`, then `flips` written over them.
fn damaged(fixture: &Index, cut: &Index, flips: &[(Index, u8)]) -> Vec<u8> {
    let (_, bytes) = fixture.get(fixtures());
    let mut bytes = bytes[..cut.index(bytes.len() + 1)].to_vec();
    for (at, byte) in flips {
        if !bytes.is_empty() {
            let i = at.index(bytes.len());
            bytes[i] = *byte;
        }
    }
    bytes
}

fn fixture_values() -> &'static [Value] {
    static VALUES: OnceLock<Vec<Value>> = OnceLock::new();
    VALUES.get_or_init(|| {
        fixtures()
            .iter()
            .filter_map(|(_, b)| serde_json::from_slice(b).ok())
            .collect()
    })
}

const SOURCES: &[&str] = &[
    "aws.ec2",
    "aws.s3",
    "aws.iam",
    "aws.config",
    "aws.cloudformation",
    "aws.ssm",
    "com.example",
];
const DETAIL_TYPES: &[&str] = &[
    "AWS API Call via CloudTrail",
    "Config Configuration Item Change",
    "Config Rules Compliance Change",
    "CloudFormation Drift Detection Status Change",
    "CloudFormation Resource Status Change",
    "CloudFormation Stack Status Change",
    "Scheduled Event",
];
/// Field names the parsers look for, so random objects reach deep code paths.
const KEYS: &[&str] = &[
    "source",
    "detail-type",
    "detail",
    "id",
    "time",
    "account",
    "region",
    "eventName",
    "eventSource",
    "eventID",
    "eventTime",
    "awsRegion",
    "recipientAccountId",
    "userIdentity",
    "type",
    "arn",
    "sessionContext",
    "sessionIssuer",
    "invokedBy",
    "userAgent",
    "sourceIPAddress",
    "sessionCredentialFromConsole",
    "readOnly",
    "errorCode",
    "errorMessage",
    "requestParameters",
    "responseElements",
    "resources",
    "ARN",
    "groupId",
    "ipPermissions",
    "items",
    "ipRanges",
    "cidrIp",
    "bucketName",
    "roleName",
    "policyArn",
    "functionName",
    "name",
    "value",
    "keyId",
    "topicArn",
    "queueUrl",
    "attributes",
    "attributeName",
    "tableName",
    "configurationItem",
    "configurationItemSummary",
    "configurationItemDiff",
    "resourceType",
    "resourceId",
    "resourceName",
    "configurationItemStatus",
    "configurationItemCaptureTime",
    "awsAccountId",
    "newEvaluationResult",
    "complianceType",
    "evaluationResultIdentifier",
    "evaluationResultQualifier",
    "stack-id",
    "status-details",
    "status",
    "stack-drift-status",
    "detection-status",
    "logical-resource-id",
    "physical-resource-id",
    "resource-type",
    "s3DeliverySummary",
    "ModifySecurityGroupRulesRequest",
];
const STRINGS: &[&str] = &[
    "",
    "true",
    "AuthorizeSecurityGroupIngress",
    "UpdateFunctionConfiguration20150331v2",
    "ec2.amazonaws.com",
    "lambda.amazonaws.com",
    "s3.amazonaws.com",
    "cloudformation.amazonaws.com",
    "arn:aws:sts::123456789012:assumed-role/R/s",
    "arn:aws:lambda:us-east-1:1:function:f:q",
    "arn:aws:kms:us-east-1:1:key/k",
    "2026-03-14T09:26:53Z",
    "NON_COMPLIANT",
    "DRIFTED",
    "UPDATE_IN_PROGRESS",
    "UPDATE_ROLLBACK_FAILED",
    "ResourceNotRecorded",
    "AWS::IAM::Role",
    "AWS::SQS::Queue",
    "{\"a\":[1,{}]}",
    "v",
    "20150331",
];

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(STRINGS).prop_map(str::to_string),
        prop::sample::select(SOURCES).prop_map(str::to_string),
        prop::sample::select(DETAIL_TYPES).prop_map(str::to_string),
        ".{0,12}",
    ]
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => "[a-zA-Z-]{0,8}",
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Every entry point on one value; the answers must agree and be well formed.
fn exercise(value: &Value) {
    let parsed = parse_event(value);
    assert_eq!(parse_event_checked(value), parsed);
    let bytes = serde_json::to_vec(value).unwrap();
    assert_eq!(sources::json_size(value), bytes.len());
    // Floats may not survive a text round trip bit for bit: compare with the reparsed value.
    let reparsed: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(parse_bytes(&bytes), parse_event(&reparsed));
    match parsed {
        Ok(Observation::Change(change)) => {
            let _ = request_drift(&change);
            let _ = serde_json::to_string(&change).unwrap();
        }
        Ok(Observation::NotAChange { change, .. }) => {
            if let Some(change) = change {
                let _ = request_drift(&change);
            }
        }
        Err(e) => {
            // Field errors name a non-empty field and say it in their message.
            if let Some(field) = e.field() {
                assert!(!field.is_empty());
                assert!(e.to_string().contains(field), "{e}");
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete,
    Null,
    Replace(Value),
    /// Same content, another JSON type.
    Retype,
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::Delete),
        Just(Mutation::Null),
        Just(Mutation::Retype),
        arb_json().prop_map(Mutation::Replace),
    ]
}

/// Every path to a node, in document order.
fn paths(value: &Value, prefix: &mut Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                prefix.push(PathStep::Key(k.clone()));
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                prefix.push(PathStep::Index(i));
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn retype(v: &Value) -> Value {
    match v {
        Value::String(s) => s.parse::<f64>().map_or(Value::from(s.len()), Value::from),
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Null => Value::Bool(false),
        Value::Array(items) => items.first().cloned().unwrap_or(Value::Null),
        Value::Object(map) => Value::Array(map.values().cloned().collect()),
    }
}

fn apply(value: &mut Value, path: &[PathStep], mutation: &Mutation) {
    let Some((last, parent_path)) = path.split_last() else {
        // The root itself.
        *value = match mutation {
            Mutation::Delete | Mutation::Null => Value::Null,
            Mutation::Replace(v) => v.clone(),
            Mutation::Retype => retype(value),
        };
        return;
    };
    let mut parent = value;
    for step in parent_path {
        parent = match step {
            PathStep::Key(k) => parent.get_mut(k.as_str()).unwrap(),
            PathStep::Index(i) => parent.get_mut(*i).unwrap(),
        };
    }
    match (parent, last) {
        (Value::Object(map), PathStep::Key(k)) => match mutation {
            Mutation::Delete => {
                map.remove(k);
            }
            Mutation::Null => {
                map.insert(k.clone(), Value::Null);
            }
            Mutation::Replace(v) => {
                map.insert(k.clone(), v.clone());
            }
            Mutation::Retype => {
                let v = retype(&map[k]);
                map.insert(k.clone(), v);
            }
        },
        (Value::Array(items), PathStep::Index(i)) => match mutation {
            Mutation::Delete => {
                items.remove(*i);
            }
            Mutation::Null => items[*i] = Value::Null,
            Mutation::Replace(v) => items[*i] = v.clone(),
            Mutation::Retype => items[*i] = retype(&items[*i]),
        },
        _ => unreachable!("paths are taken from the value itself"),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_json_never_panics(value in arb_json()) {
        exercise(&value);
    }

    #[test]
    fn arbitrary_details_under_every_envelope_never_panic(
        source in prop::sample::select(SOURCES),
        detail_type in prop::sample::select(DETAIL_TYPES),
        detail in arb_json(),
        id in prop::option::of(arb_string()),
        time in prop::option::of(arb_string()),
    ) {
        let mut envelope = serde_json::json!({
            "version": "0", "source": source, "detail-type": detail_type,
            "account": "123456789012", "region": "us-east-1", "resources": [], "detail": detail,
        });
        if let Some(id) = id { envelope["id"] = Value::String(id); }
        if let Some(time) = time { envelope["time"] = Value::String(time); }
        exercise(&envelope);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        fixture in any::<Index>(),
        mutations in prop::collection::vec((any::<Index>(), arb_mutation()), 1..4),
    ) {
        let mut value = fixture.get(fixture_values()).clone();
        for (at, mutation) in &mutations {
            let mut all = Vec::new();
            paths(&value, &mut Vec::new(), &mut all);
            let path = at.get(&all).clone();
            apply(&mut value, &path, mutation);
        }
        exercise(&value);
    }

    #[test]
    fn truncated_and_corrupted_fixture_bytes_never_panic(
        fixture in any::<Index>(),
        cut in any::<Index>(),
        flips in arb_flips(),
    ) {
        let bytes = damaged(&fixture, &cut, &flips);
        match parse_bytes(&bytes) {
            Ok(_) | Err(SourceError::MalformedJson(_)) => {}
            Err(e) => {
                // It was JSON after all: the value path must say the same.
                let value: Value = serde_json::from_slice(&bytes).unwrap();
                prop_assert_eq!(parse_event(&value), Err(e));
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_bytes(&bytes);
    }

    #[test]
    fn every_operation_survives_arbitrary_requests(
        spec in prop::sample::select(OPERATIONS),
        request in arb_json(),
    ) {
        let _ = operations::differences_for(&spec, &request);
        let resource = operations::resolve_resource(&spec, &request, "us-east-1", "123456789012");
        prop_assert_eq!(resource.resource_type.as_deref(), Some(spec.resource_type));
        let _ = operations::normalize_operation(spec.operation);
    }

    #[test]
    fn operation_names_normalize_without_panicking(name in ".{0,40}") {
        let normalized = operations::normalize_operation(&name);
        prop_assert!(name.starts_with(normalized));
        let _ = operations::is_read_only_name(&name);
    }
}

// ---------------------------------------------------------------- fast paths
//
// `parse_bytes` takes a typed fast path for CloudTrail calls and a pruned-`Value`
// path for the rest; both must answer exactly as the whole-`Value` parser does.

/// The fast paths agree with `parse_bytes_slow` on `bytes`, errors included.
/// What a change says it could not read (`Change::unparsed`).
fn unparsed_of(o: &Observation) -> &[String] {
    change_kept(o).map_or(&[], |c| c.unparsed.as_slice())
}

fn change_kept(o: &Observation) -> Option<&driftguard_model::domain::Change> {
    match o {
        Observation::Change(c) => Some(c),
        Observation::NotAChange { change, .. } => change.as_deref(),
    }
}

fn outcome(o: &Observation) -> &'static str {
    match o {
        Observation::Change(_) => "change",
        Observation::NotAChange { reason, .. } => reason.as_str(),
    }
}

fn fast_paths_agree(bytes: &[u8]) {
    let slow = sources::parse_bytes_slow(bytes);
    match (parse_bytes(bytes), &slow) {
        // The one departure (issue 33, "Bad input"): valid JSON `Value` cannot
        // hold in a CloudTrail request or response is decided without it, and
        // the change names what it left out.
        (Ok(o), Err(SourceError::MalformedJson(_))) => {
            assert!(!unparsed_of(&o).is_empty(), "{o:?}");
        }
        (got, _) => assert_eq!(got, slow),
    }
    if let Some(fast) = sources::parse_bytes_fast(bytes) {
        assert_eq!(Ok(fast), slow);
    }
    match sources::parse_bytes_pruned(bytes) {
        Some(pruned) => assert_eq!(pruned, slow),
        // Only bytes that are not JSON (or use serde_json's raw-value token, which
        // the pruned path leaves to `Value`) leave it without an answer.
        None => assert!(
            matches!(slow, Err(SourceError::MalformedJson(_)))
                || String::from_utf8_lossy(bytes).contains("$serde_json::private::RawValue"),
            "{slow:?}"
        ),
    }
}

#[test]
fn fast_paths_answer_for_every_fixture() {
    let mut typed = 0;
    for (name, bytes) in fixtures() {
        fast_paths_agree(bytes);
        let value: Option<Value> = serde_json::from_slice(bytes).ok();
        let is_cloudtrail_call = !name.contains("malformed")
            && value.as_ref().and_then(|v| v["detail-type"].as_str())
                == Some(sources::CLOUDTRAIL_API_CALL);
        if is_cloudtrail_call {
            assert!(sources::parse_bytes_fast(bytes).is_some(), "{name}");
            typed += 1;
        }
        if value.is_some() {
            assert!(sources::parse_bytes_pruned(bytes).is_some(), "{name}");
        }
    }
    assert!(
        typed >= 20,
        "{typed} CloudTrail fixtures took the typed path"
    );
}

#[test]
fn duplicate_keys_keep_the_last_value_on_every_path() {
    let (_, bytes) = fixtures()
        .iter()
        .find(|(name, _)| name.ends_with("console-sg-ingress.json"))
        .unwrap();
    let text = std::str::from_utf8(bytes).unwrap();
    let detail_at = text.find("\"detail\":").unwrap() + "\"detail\":".len();
    let open = detail_at + text[detail_at..].find('{').unwrap() + 1;
    for extra in [
        r#""eventName": "DeleteSecurityGroup","#,
        r#""eventName": 7,"#,
        r#""eventName": null,"#,
        r#""readOnly": "TRUE","#,
        r#""userIdentity": {"type": "Root"},"#,
        r#""requestParameters": null,"#,
        r#""configurationItem": {"resourceType": 1},"#,
        r#""unknown": [1e400],"#,
        r#""unknown": "\ud800","#,
        r#""unknown": {"$serde_json::private::RawValue": "[1]"},"#,
    ] {
        // The same key before and after the original (which comes last).
        let first = format!("{}{extra}{}", &text[..open], &text[open..]);
        fast_paths_agree(first.as_bytes());
        let close = first.rfind('}').unwrap();
        let close = first[..close].rfind('}').unwrap();
        let last = format!(
            "{},{}{}",
            &first[..close],
            extra.trim_end_matches(','),
            &first[close..]
        );
        fast_paths_agree(last.as_bytes());
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fast_paths_agree_on_mutated_fixtures(
        fixture in any::<Index>(),
        mutations in prop::collection::vec((any::<Index>(), arb_mutation()), 1..4),
        pretty in any::<bool>(),
    ) {
        let mut value = fixture.get(fixture_values()).clone();
        for (at, mutation) in &mutations {
            let mut all = Vec::new();
            paths(&value, &mut Vec::new(), &mut all);
            let path = at.get(&all).clone();
            apply(&mut value, &path, mutation);
        }
        let bytes = if pretty {
            serde_json::to_vec_pretty(&value).unwrap()
        } else {
            serde_json::to_vec(&value).unwrap()
        };
        fast_paths_agree(&bytes);
    }

    /// Bad input (issue 33): a lone UTF-16 surrogate escape or a number
    /// outside f64's range — valid JSON `Value` refuses — anywhere in a
    /// CloudTrail fixture's `requestParameters` or `responseElements` leaves
    /// that field out, names it on the change and decides the event on the
    /// rest of the record: the same event id, identity, operation, resource
    /// and outcome as the fixture without the field. Never dropped.
    #[test]
    fn bad_request_or_response_text_is_decided_never_dropped(
        fixture in any::<Index>(),
        field in prop::sample::select(&["requestParameters", "responseElements"][..]),
        bad in prop::sample::select(&[r#""\ud800""#, r#""a\udfffb""#, "1e400", "-1e999", r#"["\ud83d"]"#][..]),
        at in any::<Index>(),
        pretty in any::<bool>(),
    ) {
        const MARK: &str = "__bad_input__";
        let calls: Vec<&Value> = fixture_values()
            .iter()
            .filter(|v| v["detail-type"] == sources::CLOUDTRAIL_API_CALL && parse_event(v).is_ok())
            .collect();
        let mut event: Value = (*fixture.get(&calls)).clone();
        // Where the bad text goes: the field itself, or any value inside it.
        let mut spots = Vec::new();
        paths(&event["detail"][field], &mut Vec::new(), &mut spots);
        let mut target = &mut event["detail"][field];
        for step in at.get(&spots) {
            target = match step {
                PathStep::Key(k) => &mut target[k.as_str()],
                PathStep::Index(i) => &mut target[*i],
            };
        }
        *target = Value::String(MARK.into());
        let text = if pretty {
            serde_json::to_string_pretty(&event).unwrap()
        } else {
            serde_json::to_string(&event).unwrap()
        };
        let bytes = text.replace(&format!("\"{MARK}\""), bad).into_bytes();
        prop_assert!(matches!(
            sources::parse_bytes_slow(&bytes),
            Err(SourceError::MalformedJson(_))
        ));
        let got = parse_bytes(&bytes).expect("decided, not dropped");
        let unparsed = unparsed_of(&got);
        prop_assert_eq!(unparsed.len(), 1);
        let name = if field == "requestParameters" { "request" } else { "response" };
        prop_assert!(unparsed[0].starts_with(&format!("{name} unparsed: ")), "{}", unparsed[0]);
        // The same as the event without the field.
        let mut without = event.clone();
        without["detail"][field] = Value::Null;
        let expected = parse_event(&without).unwrap();
        let (got_change, want) = (change_kept(&got).unwrap(), change_kept(&expected).unwrap());
        prop_assert_eq!(&got_change.event_id, &want.event_id);
        prop_assert_eq!(&got_change.identity, &want.identity);
        prop_assert_eq!(got_change.api(), want.api());
        prop_assert_eq!(&got_change.resource, &want.resource);
        prop_assert_eq!(&got_change.request, &want.request);
        prop_assert_eq!(&got_change.response, &want.response);
        prop_assert_eq!(outcome(&got), outcome(&expected));
    }

    #[test]
    fn fast_paths_agree_on_arbitrary_details(
        source in prop::sample::select(SOURCES),
        detail_type in prop::sample::select(DETAIL_TYPES),
        detail in arb_json(),
    ) {
        let envelope = serde_json::json!({
            "version": "0", "id": "x", "source": source, "detail-type": detail_type,
            "account": "123456789012", "time": "2026-03-14T09:26:53Z", "region": "us-east-1",
            "resources": [], "detail": detail,
        });
        fast_paths_agree(&serde_json::to_vec(&envelope).unwrap());
    }

    #[test]
    fn fast_paths_agree_on_truncated_and_corrupted_bytes(
        fixture in any::<Index>(),
        cut in any::<Index>(),
        flips in arb_flips(),
    ) {
        let bytes = damaged(&fixture, &cut, &flips);
        fast_paths_agree(&bytes);
    }
}
