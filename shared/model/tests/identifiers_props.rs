//! Property tests for the identifier extraction of writes no operation row
//! lists (`sources::identifiers`): whatever JSON `resources[]`,
//! `requestParameters` and `responseElements` hold, it never panics, stays
//! within its bounds, keeps only well-formed identifiers, and does not depend
//! on the order of object keys. 10,000 cases each (`DRIFTGUARD_PROPTEST_CASES`
//! overrides).
#![allow(clippy::unwrap_used)]

use driftguard_model::sources::identifiers::{self, extract, extract_with, Limits, LIMITS};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn cases() -> u32 {
    std::env::var("DRIFTGUARD_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(10_000)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases())
    }
}

/// Strings that are, or almost are, identifiers.
const STRINGS: &[&str] = &[
    "sg-0a1b2c3d4e5f67890",
    "sg-0A1B2C3D",
    "i-012345abcde",
    "tgw-attach-0123456789abcdef0",
    "arn:aws:s3:::shop-assets",
    "arn:aws:s3:::",
    "arn:aws:iam::123456789012:role/app/AppRole",
    "arn:aws:sqs:us-east-1:123456789012:jobs",
    "arn:",
    "arn:aws:lambda:us-east-1:123456789012:function:orders:live",
    "123456789012:function:orders",
    "https://queue.amazonaws.com/123456789012/jobs",
    "https://sqs.eu-west-1.amazonaws.com/123456789012/",
    "https://",
    "AROAEXAMPLEROLEID1234",
    "AKIAIOSFODNN7EXAMPLE",
    "AppRole",
    "{\"Version\":\"2012-10-17\"}",
    "",
    " ",
    "\u{0}",
    "é/ü:ß",
];

const KEYS: &[&str] = &[
    "groupId",
    "groupName",
    "roleName",
    "bucketName",
    "queueUrl",
    "ARN",
    "type",
    "items",
    "accountId",
    "resourceArns",
    "description",
    "Host",
];

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(STRINGS).prop_map(str::to_string),
        1 => ".{0,24}",
        1 => "[a-z]{1,6}-[0-9a-f]{6,18}",
        1 => "arn:[a-z]{0,4}:[a-z0-9-]{0,6}:[a-z0-9-]{0,9}:[0-9]{0,12}:[ -~]{0,20}",
    ]
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => "[a-zA-Z]{0,10}",
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(9, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn arb_limits() -> impl Strategy<Value = Limits> {
    (0usize..12, 0usize..300, 0usize..40, 0usize..100).prop_map(
        |(max_depth, max_nodes, max_identifiers, max_len)| Limits {
            max_depth,
            max_nodes,
            max_identifiers,
            max_len,
        },
    )
}

/// `value` with every object's keys in reverse order (the same JSON).
fn reversed(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .rev()
                .map(|(k, v)| (k.clone(), reversed(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(reversed).collect()),
        other => other.clone(),
    }
}

fn well_formed(id: &str, limits: &Limits) -> bool {
    !id.is_empty()
        && id.len() <= limits.max_len
        && !id.chars().any(char::is_control)
        && id.trim() == id
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn never_panics_and_stays_bounded(
        resources in proptest::option::of(arb_json()),
        request in arb_json(),
        response in arb_json(),
    ) {
        let ids = extract(resources.as_ref(), &request, &response);
        prop_assert!(ids.len() <= LIMITS.max_identifiers);
        for id in &ids {
            prop_assert!(well_formed(id, &LIMITS), "{id:?}");
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        prop_assert_eq!(unique.len(), ids.len(), "no duplicates");
    }

    #[test]
    fn any_limits_hold(
        limits in arb_limits(),
        resources in proptest::option::of(arb_json()),
        request in arb_json(),
        response in arb_json(),
    ) {
        let ids = extract_with(resources.as_ref(), &request, &response, limits);
        prop_assert!(ids.len() <= limits.max_identifiers);
        for id in &ids {
            prop_assert!(well_formed(id, &limits), "{id:?}");
        }
    }

    #[test]
    fn key_order_does_not_matter(
        resources in proptest::option::of(arb_json()),
        request in arb_json(),
        response in arb_json(),
    ) {
        let ids = extract(resources.as_ref(), &request, &response);
        let again = extract(
            resources.as_ref().map(reversed).as_ref(),
            &reversed(&request),
            &reversed(&response),
        );
        prop_assert_eq!(ids, again);
    }

}

proptest! {
    // Each case builds thousands of values: fewer cases.
    #![proptest_config(ProptestConfig { cases: (cases() / 50).max(20), ..config() })]

    #[test]
    fn deep_and_wide_input_is_cut_at_the_bounds(depth in 0usize..200, width in 0usize..5_000) {
        let mut v = Value::String("sg-0a1b2c3d".into());
        for _ in 0..depth {
            v = serde_json::json!({"groupIds": [v]});
        }
        let wide = Value::Array(vec![serde_json::json!({"groupId": "sg-0a1b2c3d"}); width]);
        let ids = extract(Some(&wide), &v, &wide);
        prop_assert!(ids.len() <= 1);
        prop_assert!(identifiers::LIMITS.max_nodes >= 1);
    }
}
