//! The operations table keyed by what changes (`operations::PROPERTIES`): every
//! API a row lists is parsed, from a recorded or documented-shape record of
//! `events/recorded/` (provenance in its README), into the path the row gives,
//! so equivalents (`SetTopicAttributes(Policy)` and `AddPermission`, an
//! instance's and its interface's group set, `DeleteParameter` and
//! `DeleteParameters`...) cannot drift apart. The guardrail side (every listed
//! API denied) is tested in driftguard-core's guardrail tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use driftguard_model::domain::{Change, Observation};
use driftguard_model::sources::cloudtrail::service_name;
use driftguard_model::sources::operations::{
    equivalents, lookup, normalize_operation, request_drift, OPERATIONS, PROPERTIES,
};
use driftguard_model::sources::parse_event;
use serde_json::Value;

/// `service:Operation` → the changes its recorded records parse to.
fn recorded_changes() -> BTreeMap<String, Vec<(String, Change)>> {
    let dir = common::events_dir("recorded");
    let mut out: BTreeMap<String, Vec<(String, Change)>> = BTreeMap::new();
    for file in common::json_files(&dir) {
        let bytes = std::fs::read(dir.join(&file)).unwrap();
        let record: Value = serde_json::from_slice(&bytes).unwrap();
        let service = service_name(record["eventSource"].as_str().unwrap()).to_string();
        let op = normalize_operation(record["eventName"].as_str().unwrap()).to_string();
        let envelope = driftguard_model::sources::record::envelope_for_record(&record).unwrap();
        let Observation::Change(change) = parse_event(&envelope).unwrap() else {
            continue;
        };
        out.entry(format!("{service}:{op}"))
            .or_default()
            .push((file, *change));
    }
    out
}

fn paths(change: &Change) -> Vec<String> {
    request_drift(change)
        .map(|d| d.differences.into_iter().map(|d| d.path).collect())
        .unwrap_or_default()
}

#[test]
fn every_listed_equivalent_is_parsed_into_the_rows_path() {
    let recorded = recorded_changes();
    let mut failures = Vec::new();
    for row in PROPERTIES {
        for (api, path) in row.apis {
            let (service, op) = api.split_once(':').unwrap();
            let spec = lookup(service, op)
                .unwrap_or_else(|| panic!("{}: {api} is not in OPERATIONS", row.what));
            let records = recorded.get(*api).map(Vec::as_slice).unwrap_or_default();
            let hit = records.iter().any(|(_, change)| {
                change.resource.resource_type.as_deref() == Some(spec.resource_type)
                    && paths(change).iter().any(|p| p == path)
            });
            if !hit {
                let seen: Vec<_> = records.iter().map(|(f, c)| (f, paths(c))).collect();
                failures.push(format!("{}: {api} → {path}; recorded: {seen:?}", row.what));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn every_operation_says_what_it_changes_once_per_row() {
    let listed: BTreeSet<&str> = PROPERTIES
        .iter()
        .flat_map(|row| row.apis.iter().map(|(api, _)| *api))
        .collect();
    for spec in OPERATIONS {
        let api = format!("{}:{}", spec.service, spec.operation);
        assert!(
            listed.contains(api.as_str()),
            "{api} is in no PROPERTIES row"
        );
    }
    for row in PROPERTIES {
        let mut apis: Vec<&str> = row.apis.iter().map(|(api, _)| *api).collect();
        let n = apis.len();
        apis.sort_unstable();
        apis.dedup();
        assert_eq!(apis.len(), n, "{}: an API listed twice", row.what);
    }
}

#[test]
fn the_twins_of_issue_33_are_listed_together() {
    let twins = |api: &str| {
        let (service, op) = api.split_once(':').unwrap();
        equivalents(service, op)
    };
    assert_eq!(
        twins("sns:SetTopicAttributes"),
        ["sns:AddPermission", "sns:RemovePermission"]
    );
    assert_eq!(
        twins("sqs:AddPermission"),
        ["sqs:RemovePermission", "sqs:SetQueueAttributes"]
    );
    assert!(twins("ec2:ModifyInstanceAttribute").contains(&"ec2:ModifyNetworkInterfaceAttribute"));
    assert_eq!(
        twins("ssm:DeleteParameters"),
        ["ssm:DeleteParameter", "ssm:PutParameter"]
    );
}

#[test]
fn lambda_version_suffixes_resolve_to_one_row() {
    // Recorded names (events/recorded/README.md) and the names Lambda's CloudTrail
    // page lists, each normalized to the operation its row names.
    for (name, op) in [
        ("AddPermission20150331", "AddPermission"),
        ("AddPermission20150331v2", "AddPermission"),
        ("RemovePermission20150331v2", "RemovePermission"),
        ("UpdateFunctionCode20150331", "UpdateFunctionCode"),
        ("UpdateFunctionCode20150331v2", "UpdateFunctionCode"),
        (
            "UpdateFunctionConfiguration20150331",
            "UpdateFunctionConfiguration",
        ),
        (
            "UpdateFunctionConfiguration20150331v2",
            "UpdateFunctionConfiguration",
        ),
        ("PutFunctionConcurrency20171031", "PutFunctionConcurrency"),
        ("UpdateFunctionUrlConfig20211031", "UpdateFunctionUrlConfig"),
    ] {
        assert_eq!(normalize_operation(name), op, "{name}");
        assert!(lookup("lambda", op).is_some(), "{name}");
    }
}

#[test]
fn a_batch_delete_resolves_one_name_and_guesses_none_of_several() {
    let recorded = recorded_changes();
    let deletes = &recorded["ssm:DeleteParameters"];
    let by_file = |f: &str| &deletes.iter().find(|(file, _)| file == f).unwrap().1;
    let one = by_file("ssm-delete-parameters.json");
    assert_eq!(
        one.resource.physical_id.as_deref(),
        Some("/app/checkout/feature-flags")
    );
    let batch = by_file("ssm-delete-parameters-batch.json");
    assert_eq!(batch.resource.physical_id, None);
    assert_eq!(
        batch.resource.resource_type.as_deref(),
        Some("AWS::SSM::Parameter")
    );
}

#[test]
fn an_interface_change_is_on_the_interface_and_a_profile_swap_on_the_instance() {
    let recorded = recorded_changes();
    let (_, eni) = &recorded["ec2:ModifyNetworkInterfaceAttribute"][0];
    assert_eq!(
        eni.resource.resource_type.as_deref(),
        Some("AWS::EC2::NetworkInterface")
    );
    assert_eq!(
        eni.resource.physical_id.as_deref(),
        Some("eni-0a1b2c3d4e5f67890")
    );
    let (_, swap) = &recorded["ec2:ReplaceIamInstanceProfileAssociation"][0];
    assert_eq!(
        swap.resource.physical_id.as_deref(),
        Some("i-087711ddaf98f9489")
    );
    let drift = request_drift(swap).unwrap();
    assert_eq!(
        drift.differences[0].actual,
        Some(Value::String("AdminRole".into()))
    );
    let (_, url) = &recorded["lambda:UpdateFunctionUrlConfig"][0];
    assert_eq!(
        url.resource.physical_id.as_deref(),
        Some("arn:aws:lambda:us-east-1:123456789012:function:orders-api")
    );
}

/// The routing cases of events/routing (documented shapes written for issue 33,
/// before these rows existed) for the operations that now have a row: each
/// resolves its resource and parses into its row's path, whatever the shape
/// (the interface's flat request, the profile swap's `...Request`/`...Response`
/// wrappers, both Lambda spellings). A two-name batch delete resolves nothing.
#[test]
fn the_routing_records_of_the_new_rows_resolve_and_parse() {
    let dir = common::events_dir("routing");
    let cases = [
        (
            "sns-add-permission.json",
            Some("arn:aws:sns:us-east-1:123456789012:orders"),
            "/Policy",
        ),
        (
            "sqs-add-permission.json",
            Some("https://sqs.us-east-1.amazonaws.com/123456789012/orders"),
            "/Policy",
        ),
        (
            "ec2-modify-network-interface-attribute.json",
            Some("eni-0a1b2c3d4e5f60718"),
            "/GroupSet",
        ),
        (
            "ec2-replace-iam-instance-profile-association.json",
            Some("i-0a1b2c3d4e5f60718"),
            "/IamInstanceProfile",
        ),
        ("ssm-delete-parameters.json", None, "/Value"),
        (
            "lambda-update-function-url-config.json",
            Some("arn:aws:lambda:us-east-1:123456789012:function:payments-api"),
            "/AuthType",
        ),
        (
            "lambda-update-function-url-config-unversioned.json",
            Some("arn:aws:lambda:us-east-1:123456789012:function:payments-api"),
            "/AuthType",
        ),
        (
            "dynamodb-put-resource-policy.json",
            Some("orders"),
            "/ResourcePolicy/PolicyDocument",
        ),
        (
            "lambda-update-function-configuration-20150331.json",
            Some("payments-api"),
            "/Role",
        ),
    ];
    for (file, physical, path) in cases {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let record: Value = serde_json::from_slice(&bytes).unwrap();
        let envelope = driftguard_model::sources::record::envelope_for_record(&record).unwrap();
        let Observation::Change(change) = parse_event(&envelope).unwrap() else {
            panic!("{file}: not a change");
        };
        assert!(
            lookup(&change.service, &change.operation).is_some(),
            "{file}"
        );
        assert_eq!(change.resource.physical_id.as_deref(), physical, "{file}");
        assert!(
            paths(&change).iter().any(|p| p == path),
            "{file}: {:?}",
            paths(&change)
        );
    }
    let drift = |file: &str| {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let record: Value = serde_json::from_slice(&bytes).unwrap();
        let envelope = driftguard_model::sources::record::envelope_for_record(&record).unwrap();
        let Observation::Change(change) = parse_event(&envelope).unwrap() else {
            panic!("{file}");
        };
        request_drift(&change).unwrap().differences
    };
    // The wrapped request names the new profile by ARN: its name is reported.
    assert_eq!(
        drift("ec2-replace-iam-instance-profile-association.json")[0].actual,
        Some(Value::String("admin".into()))
    );
}
