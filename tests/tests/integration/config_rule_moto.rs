//! config-rule against the moto emulator with the real wiring
//! (`config_rule::wire`): a stack created through CloudFormation, the
//! configuration-change event for its security group (the shared fixture, with
//! moto's group id), `PutEvaluations` in TestMode (moto 5.2.5 implements
//! PutEvaluations only with `TestMode`; the non-test path, result token and
//! annotation checks are covered with aws-smithy-mocks in
//! `driftguard_core::sweep::config_rule`). moto has no `DetectStackResourceDrift`, so the
//! rule falls back to driftguard's open tickets, as it does in AWS for resource
//! types drift detection does not support.
use std::collections::HashMap;

use config_rule::handler::ConfigEvent;
use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_core::config::Config;
use driftguard_core::ports::TicketStore;
use driftguard_model::domain::{
    Change, ChangeSource, Fingerprint, Identity, Ownership, ResourceRef, Ticket, TicketState,
};
use serde_json::{json, Value};

const FIXTURE_SG: &str = "sg-0123456789abcdef0";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        driftguard_cli::emulator::workspace_root().join(format!("events/config-rule/{name}")),
    )
    .unwrap()
}

#[tokio::test]
async fn item_change_and_periodic_evaluations_in_test_mode() {
    let (sdk, prefix, infra) = integration_tests::infra::setup("cfgrule").await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let stack = format!("{prefix}-app");
    cfn.create_stack()
        .stack_name(&stack)
        .template_body(
            json!({"Resources": {"WebSG": {"Type": "AWS::EC2::SecurityGroup",
                "Properties": {"GroupDescription": "web"}}}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let sg = loop {
        let out = cfn
            .list_stack_resources()
            .stack_name(&stack)
            .send()
            .await
            .unwrap();
        if let Some(id) = out
            .stack_resource_summaries()
            .first()
            .and_then(|r| r.physical_resource_id())
            .filter(|id| !id.is_empty())
        {
            break id.to_string();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let env = HashMap::from([("TABLE_NAME", infra.table.clone())]);
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let rule = config_rule::wire(&config, &sdk).unwrap();

    let mut event: ConfigEvent =
        serde_json::from_str(&fixture("item-change-security-group.json")).unwrap();
    event.invoking_event = event.invoking_event.map(|s| s.replace(FIXTURE_SG, &sg));
    event.result_token = Some("TESTMODE".into());

    // Managed, drift detection unavailable on moto, no ticket: never "compliant".
    let r = config_rule::handler::handle(&rule, event.clone())
        .await
        .unwrap();
    let e = &r["evaluations"][0];
    assert_eq!(r["test_mode"], true);
    assert_eq!(r["calls"], 1);
    assert_eq!(e["resource_id"], sg.as_str());
    assert_eq!(e["compliance"], "NOT_APPLICABLE", "{e}");
    assert!(e["annotation"]
        .as_str()
        .unwrap()
        .contains("no open driftguard ticket"));
    assert_eq!(e["ordering_timestamp"], "2026-03-02T10:15:42.118Z");

    // An open ticket for that resource: NON_COMPLIANT, naming the ticket and path.
    let store = DynamoTicketStore::new(aws_sdk_dynamodb::Client::new(&sdk), infra.table.clone());
    let change = Change {
        event_id: "ev-1".into(),
        time: chrono::Utc::now(),
        account: "123456789012".into(),
        region: "us-east-1".into(),
        source: ChangeSource::Cloudtrail,
        service: "ec2".into(),
        operation: "AuthorizeSecurityGroupIngress".into(),
        resource: ResourceRef::new("AWS::EC2::SecurityGroup", sg.clone()),
        identity: Identity::default(),
        request: Value::Null,
        response: Value::Null,
        stack_hint: None,
        drift_hint: None,
        unparsed: Vec::new(),
    };
    let fp = Fingerprint {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        stack: stack.clone(),
        logical_id: "WebSG".into(),
    };
    let mut ticket = Ticket::new(fp, &change, &Ownership::Unmanaged, change.time);
    ticket.version = 1;
    ticket.event_drift = Some(driftguard_model::domain::Drift::from_event(
        vec![driftguard_model::domain::PropertyDifference {
            path: "/SecurityGroupIngress/1".into(),
            expected: None,
            actual: Some(json!({"CidrIp": "0.0.0.0/0", "FromPort": 22})),
            kind: driftguard_model::domain::DifferenceKind::Add,
        }],
        "from the CloudTrail request",
    ));
    store.create_ticket(&ticket).await.unwrap();
    let r = config_rule::handler::handle(&rule, event.clone())
        .await
        .unwrap();
    let e = &r["evaluations"][0];
    assert_eq!(e["compliance"], "NON_COMPLIANT", "{e}");
    let annotation = e["annotation"].as_str().unwrap();
    // The annotation names the ticket by its display id (256 characters at most).
    assert!(
        annotation.contains(ticket.display_id()) && annotation.contains("/SecurityGroupIngress/1"),
        "{annotation}"
    );
    assert!(annotation.chars().count() <= 256);

    // Periodic: from the open tickets.
    let mut periodic: ConfigEvent =
        serde_json::from_str(&fixture("scheduled-notification.json")).unwrap();
    periodic.result_token = Some("TESTMODE".into());
    let r = config_rule::handler::handle(&rule, periodic).await.unwrap();
    assert_eq!(r["trigger"], "periodic");
    let evaluations = r["evaluations"].as_array().unwrap();
    assert_eq!(evaluations.len(), 1);
    assert_eq!(evaluations[0]["compliance"], "NON_COMPLIANT");
    assert_eq!(
        evaluations[0]["ordering_timestamp"],
        "2026-03-02T00:00:07.311Z"
    );
    assert_eq!(
        store.get_ticket(&ticket.id).await.unwrap().unwrap().state,
        TicketState::Open
    );

    // Deleted items are NOT_APPLICABLE without any lookup.
    let mut deleted: ConfigEvent =
        serde_json::from_str(&fixture("item-change-resource-deleted.json")).unwrap();
    deleted.result_token = Some("TESTMODE".into());
    let r = config_rule::handler::handle(&rule, deleted).await.unwrap();
    assert_eq!(r["evaluations"][0]["compliance"], "NOT_APPLICABLE");
}
