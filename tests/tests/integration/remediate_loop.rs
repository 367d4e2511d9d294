//! Loop prevention, offline: the CloudTrail event of driftguard's own revoke
//! (made as `arn:aws:iam::123456789012:role/driftguard-remediation`) parses to a
//! change whose actor is driftguard, and `decide` ignores it with the example
//! policy, so no "Drift Decision" to act on and no second remediation.
use driftguard_cli::emulator::workspace_root;
use driftguard_model::domain::{
    classify_actor, decide, policy::Policy, Action, ActorKind, DecisionInput, Observation,
    Ownership, StackMembership,
};
use serde_json::json;

fn own_revoke_event() -> serde_json::Value {
    json!({
        "version": "0",
        "id": "7d3e0c1a-1111-4c2b-9e55-000000000001",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": "123456789012",
        "time": "2026-03-01T10:01:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "AssumedRole",
                "principalId": "AROA3EXAMPLEDRIFTGRD1:driftguard-remediate",
                "arn": "arn:aws:sts::123456789012:assumed-role/driftguard-remediation/driftguard-remediate",
                "accountId": "123456789012",
                "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROA3EXAMPLEDRIFTGRD1",
                    "arn": "arn:aws:iam::123456789012:role/driftguard-remediation", "accountId": "123456789012",
                    "userName": "driftguard-remediation"}}
            },
            "eventTime": "2026-03-01T10:01:00Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "RevokeSecurityGroupIngress",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.10",
            "userAgent": "aws-sdk-rust/1.3 os/linux lang/rust exec-env/AWS_Lambda_provided.al2023",
            "requestParameters": {"groupId": "sg-0123456789abcdef0", "securityGroupRuleIds": {"items": [{"securityGroupRuleId": "sgr-0a1b2c3d4e5f67890"}]}},
            "responseElements": {"_return": true},
            "requestID": "req-own-1",
            "eventID": "0b6a4d2e-2222-4f1a-8c33-000000000001",
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": "123456789012",
            "eventCategory": "Management"
        }
    })
}

#[test]
fn driftguards_own_revoke_is_ignored_by_decide() {
    // As the functions load it (`load_function_policy`): `role/NAME` patterns
    // are in the account driftguard runs in.
    let policy = Policy::from_path(&workspace_root().join("policy.example.yaml"))
        .expect("example policy")
        .with_home_account("123456789012");
    let change = match driftguard_model::sources::parse_event(&own_revoke_event()).expect("parses")
    {
        Observation::Change(c) => *c,
        other => panic!("a write call is a change: {other:?}"),
    };
    let actor = classify_actor(&change.identity, &policy.identities, change.time);
    assert_eq!(actor.kind, ActorKind::Driftguard, "{actor:?}");
    // Even on a managed resource with a revert rule for security groups.
    let ownership = Ownership::Managed(StackMembership {
        stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/shop-web/1".into(),
        stack_name: "shop-web".into(),
        logical_id: "WebSecurityGroup".into(),
        resource_type: Some("AWS::EC2::SecurityGroup".into()),
        stack_status: "UPDATE_COMPLETE".into(),
        stack_tags: Default::default(),
        nested: None,
    });
    let decision = decide(
        &DecisionInput {
            change: &change,
            actor: &actor,
            ownership: &ownership,
            drift: None,
            account: None,
        },
        &policy,
    );
    assert_eq!(decision.verdict.action, Action::Ignore, "{decision:?}");
    assert!(
        !decision.verdict.action.acts(),
        "nothing for remediate to act on"
    );
    assert!(
        decision.verdict.reason.contains("loop prevention"),
        "{}",
        decision.verdict.reason
    );
}
