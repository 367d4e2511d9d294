//! Issue 34, item 6, end to end on moto: a record with the pipeline's
//! identity one second after a console hot-fix (a forged record sent to
//! detect directly, or a real allowed change by someone else) arrives first
//! and is allowed; the genuine, older console record that follows is still
//! decided on its own merits and the hot-fix is reverted.
//!
//! Why the order can be so: "EventBridge doesn't guarantee the order of
//! events" (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-troubleshooting.html>),
//! and an insider with `lambda:InvokeFunction` can send detect any payload.
use std::time::Duration;

use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_cli::emulator::resources::group_rules;
use driftguard_core::ports::TicketStore;
use integration_tests::cloudtrail::{cloudtrail_event, console_user, role_session, Origin};
use integration_tests::stacks::{deploy, hotfix_template};
use integration_tests::unique;
use serde_json::{json, Value};

const POLICY: &str = r#"
version: 1
defaults: { dry_run: true, verdict: ticket, severity: medium }
identities:
  own: [{ principal: "arn:aws:iam::123456789012:role/driftguard-remediation" }]
  pipeline: [{ principal: "arn:aws:iam::123456789012:role/deploy-pipeline" }]
rules:
  - name: hotfixes-are-reverted
    match:
      actors: [console, human]
      resource_types: ["AWS::EC2::SecurityGroup"]
    verdict: revert
    dry_run: false
    severity: high
"#;

fn ssh_permissions(group: &str) -> Value {
    json!({
        "groupId": group,
        "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
            "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}
    })
}

/// `event` with its record and envelope times moved `seconds` later.
fn later(mut event: Value, seconds: i64) -> Value {
    let at = event["detail"]["eventTime"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .expect("eventTime")
        + chrono::Duration::seconds(seconds);
    let at = at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    event["detail"]["eventTime"] = json!(at);
    event["time"] = json!(at);
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_newer_allow_does_not_stop_the_older_console_hotfix_from_being_reverted() {
    let (sdk, prefix, infra) = integration_tests::infra::setup("order").await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let stack = format!("{prefix}-app");
    let physical = deploy(&cfn, &stack, &hotfix_template(&prefix, json!({}))).await;
    let group = physical["WebSG"].clone();
    let (config, _policy_file) = infra.config(POLICY, &[]);
    let detect = detect::wire(&config, &sdk).await.expect("wire detect");
    let remediator = remediate::wire(&config, &sdk)
        .await
        .expect("wire remediate");
    let ec2 = aws_sdk_ec2::Client::new(&sdk);

    let response = integration_tests::hotfix::open_port(&ec2, &group, 22).await;
    let genuine = cloudtrail_event(
        &unique("console"),
        "ec2",
        "AuthorizeSecurityGroupIngress",
        console_user(),
        ssh_permissions(&group),
        response.clone(),
        Origin::Console,
    );
    // The same call under the pipeline's role, one second later: sent first.
    let forged = later(
        cloudtrail_event(
            &unique("forged"),
            "ec2",
            "AuthorizeSecurityGroupIngress",
            role_session("deploy-pipeline", "codepipeline"),
            ssh_permissions(&group),
            response,
            Origin::Sdk("aws-cli/2.15.0"),
        ),
        1,
    );
    let out = detect::handler::handle(&detect, forged).await.unwrap();
    assert_eq!(out["decision"]["verdict"]["action"], "allow", "{out:#}");
    let store = DynamoTicketStore::new(aws_sdk_dynamodb::Client::new(&sdk), &infra.table);
    let allowed = store
        .get_ticket(out["ticket"]["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        allowed.source_fact.as_ref().is_some_and(|f| !f.acted),
        "the ALLOWED record names its maker: {allowed:#?}"
    );
    let out = detect::handler::handle(&detect, genuine).await.unwrap();
    assert_eq!(out["decision"]["verdict"]["action"], "revert", "{out:#}");
    assert_ne!(out["ticket"]["write"], "out_of_order", "{out:#}");

    let delivered = infra.receive(1, Duration::from_secs(10)).await.unwrap();
    let decisions: Vec<&Value> = delivered
        .iter()
        .filter(|e| e["detail-type"] == "Drift Decision")
        .collect();
    assert_eq!(
        decisions.len(),
        1,
        "only the console change: {delivered:#?}"
    );
    let out = remediate::handler::handle(&remediator, decisions[0].clone())
        .await
        .unwrap();
    assert_eq!(out["outcome"], "resolved", "{out:#}");
    let ingress: Vec<(Option<i32>, Option<String>)> = group_rules(&ec2, &group)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.is_egress() == Some(false))
        .map(|r| (r.from_port(), r.cidr_ipv4().map(str::to_owned)))
        .collect();
    assert!(
        !ingress.contains(&(Some(22), Some("0.0.0.0/0".into()))),
        "ssh revoked: {ingress:?}"
    );
}
