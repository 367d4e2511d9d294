#![allow(clippy::unwrap_used)]
use super::*;
use serde_json::json;

#[test]
fn a_bucket_call_names_the_bucket_by_arn_and_name() {
    // The shape of a real PutBucketLogging record (events/recorded/unlisted/).
    let resources = json!([{"accountId": "123456789012", "type": "AWS::S3::Bucket",
        "ARN": "arn:aws:s3:::shop-assets"}]);
    let request = json!({"logging": "", "bucketName": "shop-assets",
        "BucketLoggingStatus": {"xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"},
        "Host": "shop-assets.s3.us-east-1.amazonaws.com"});
    assert_eq!(
        extract(Some(&resources), &request, &Value::Null),
        ["arn:aws:s3:::shop-assets", "shop-assets"]
    );
}

#[test]
fn request_ids_come_before_nested_ones_and_the_response() {
    let request = json!({
        "groupId": "sg-0a1b2c3d4e5f67890",
        "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
            "groups": {"items": [{"groupId": "sg-0fedcba9876543210", "description": "peer"}]},
            "ipRanges": {"items": [{"cidrIp": "203.0.113.0/24", "description": "office"}]}}]}
    });
    let response = json!({"requestId": "5e7e1c7a-0000-4000-8000-000000000001", "_return": true,
        "securityGroupRuleSet": {"items": [{"securityGroupRuleId": "sgr-0123456789abcdef0",
            "groupId": "sg-0a1b2c3d4e5f67890"}]}});
    let got = extract_ranked(None, &request, &response, LIMITS);
    assert_eq!(
        got.ids,
        [
            "sg-0a1b2c3d4e5f67890",
            "sg-0fedcba9876543210",
            "sgr-0123456789abcdef0"
        ]
    );
    // Nothing is listed in resources[]: nothing outranks anything.
    assert_eq!(got.listed, 0);
}

#[test]
fn a_group_named_by_name_brings_its_id_from_the_response() {
    let request =
        json!({"groupName": "launch-wizard-1", "ipPermissions": {}, "cidrIp": "0.0.0.0/0"});
    let response =
        json!({"securityGroupRuleSet": {"items": [{"groupId": "sg-0a1b2c3d4e5f67890"}]}});
    let got = extract_ranked(None, &request, &response, LIMITS);
    assert_eq!(got.ids, ["launch-wizard-1", "sg-0a1b2c3d4e5f67890"]);
}

#[test]
fn free_text_and_ses_and_rule_keys() {
    let request = json!({"description": "arn:aws:apigateway:us-east-1::/restapis/attk",
        "comment": "sg-0a1b2c3d4e5f67890", "value": "arn:aws:iam::123456789012:role/x",
        "restApiId": "abc123", "identity": "example.com", "rule": "alerts"});
    let got = extract_ranked(None, &request, &Value::Null, LIMITS);
    assert_eq!(got.ids, ["example.com", "abc123", "alerts"]);
}

#[test]
fn resources_are_listed_and_tag_and_environment_values_are_never_ids() {
    let resources = json!([{"ARN": "arn:aws:lambda:us-east-1:123456789012:function:mine"}]);
    let request = json!({"resource": "arn:aws:lambda:us-east-1:123456789012:function:mine",
        "tags": {"FunctionName": "prod-orders", "bucketName": "prod-data"},
        "tagSet": [{"key": "x", "value": "y"}],
        "tagSpecificationSet": {"items": [{"tags": [{"key": "groupId", "value": "sg-0a1b2c3d4e5f67890"}]}]},
        "environment": {"variables": {"ROLE_NAME": "AdminRole", "queueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/jobs"}}});
    let got = extract_ranked(Some(&resources), &request, &Value::Null, LIMITS);
    assert_eq!(
        got.ids,
        [
            "arn:aws:lambda:us-east-1:123456789012:function:mine",
            "mine"
        ]
    );
    assert_eq!(got.listed, 2);
}

#[test]
fn names_are_taken_under_identifying_keys_only() {
    let request = json!({"roleName": "AppRole", "description": "not an id",
        "tags": [{"key": "team", "value": "web"}], "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
        "accountId": "123456789012", "maxSessionDuration": 3600});
    assert_eq!(
        extract(None, &request, &Value::Null),
        // Keys sorted: `policyArn` before `roleName`; which owner wins is
        // `pick`'s (the operation naming the type first).
        [
            "arn:aws:iam::aws:policy/ReadOnlyAccess",
            "ReadOnlyAccess",
            "AppRole"
        ]
    );
}

#[test]
fn queue_urls_take_the_form_cloudformation_stores() {
    let request = json!({"queueUrl": "https://queue.amazonaws.com/123456789012/jobs",
        "label": "x", "aWSAccountIds": ["111122223333"], "actionNames": ["SendMessage"]});
    let ids = extract(None, &request, &Value::Null);
    assert_eq!(
        ids[0],
        "https://sqs.us-east-1.amazonaws.com/123456789012/jobs"
    );
    let resources = json!([{"ARN": "arn:aws:sqs:us-east-1:123456789012:jobs"}]);
    assert_eq!(
        extract(Some(&resources), &Value::Null, &Value::Null),
        [
            "arn:aws:sqs:us-east-1:123456789012:jobs",
            "https://sqs.us-east-1.amazonaws.com/123456789012/jobs"
        ]
    );
}

#[test]
fn iam_unique_ids_are_kept_and_access_keys_are_not() {
    let request = json!({"x": "AROAEXAMPLEROLEID1234", "y": "AKIAIOSFODNN7EXAMPLE",
        "z": "ASIAIOSFODNN7EXAMPLE"});
    assert_eq!(
        extract(None, &request, &Value::Null),
        ["AROAEXAMPLEROLEID1234"]
    );
}

#[test]
fn keys_are_visited_sorted_whatever_the_map_order() {
    let a = json!({"zName": "z", "aName": "a", "mName": "m"});
    assert_eq!(extract(None, &a, &Value::Null), ["a", "m", "z"]);
}

#[test]
fn bounds_hold() {
    // Depth: an id nested deeper than max_depth is not reached.
    let mut deep = json!({"groupId": "sg-0a1b2c3d4e5f67890"});
    for _ in 0..LIMITS.max_depth {
        deep = json!({"n": deep});
    }
    assert!(extract(None, &deep, &Value::Null).is_empty());
    // Count: at most max_identifiers.
    let many: serde_json::Map<String, Value> = (0..500)
        .map(|i| (format!("k{i:03}Id"), json!(format!("sg-{i:08x}"))))
        .collect();
    let ids = extract(None, &Value::Object(many.clone()), &Value::Null);
    assert_eq!(ids.len(), LIMITS.max_identifiers);
    // ... and says it stopped short; a small record does not.
    assert!(extract_ranked(None, &Value::Object(many), &Value::Null, LIMITS).truncated);
    assert!(
        !extract_ranked(
            None,
            &json!({"groupId": "sg-0a1b2c3d"}),
            &Value::Null,
            LIMITS
        )
        .truncated
    );
    // Nodes: a huge array stops the walk at max_nodes, and says so.
    let wide = json!({"items": vec![json!(1); 100_000]});
    let limits = Limits {
        max_nodes: 10,
        ..LIMITS
    };
    assert!(extract_ranked(None, &wide, &Value::Null, limits).truncated);
    assert!(extract_with(None, &wide, &json!({"groupId": "sg-0a1b2c3d"}), limits).is_empty());
    // Length: an over-long ARN is skipped.
    let long = format!("arn:aws:s3:::{}", "b".repeat(LIMITS.max_len));
    assert!(extract(None, &json!({"bucketArn": long}), &Value::Null).is_empty());
}

#[test]
fn shapes() {
    for id in [
        "sg-0a1b2c3d",
        "i-012345abcde",
        "tgw-attach-0123456789abcdef0",
        "eipalloc-0a1b2c3d4e5f67890",
    ] {
        assert!(is_resource_id(id), "{id}");
    }
    for not in [
        "sg-0A1B2C3D",
        "sg-123",
        "-0a1b2c3d",
        "Sg-0a1b2c3d",
        "sg--0a1b2c3d",
        "x-0a1b2c3dz",
    ] {
        assert!(!is_resource_id(not), "{not}");
    }
    assert!(is_arn("arn:aws:s3:::b"));
    assert!(!is_arn("arn:aws:s3:::"));
    assert!(!is_arn("arn::s3:::b"));
    assert!(!is_arn("arn:aws"));
}
