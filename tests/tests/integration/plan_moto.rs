//! `driftguard plan EVENT_FILE [--apply]` against moto: a stack's security
//! group opened to SSH from anywhere through EC2's API, the CloudTrail-shaped
//! event in a file. Without `--apply` the real detect and remediate logic runs
//! to the last gate and nothing changes: the ticket table stays empty, nothing
//! reaches the bus, the rule is still there. With `--apply` the same event is
//! reverted through the same gates and claims, and a second `--apply` of it is
//! a duplicate.
use std::time::Duration;

use driftguard_cli::plan::{self, PlanOptions};
use integration_tests::cloudtrail::{cloudtrail_event, console_user, Origin};
use integration_tests::infra::Infra;
use integration_tests::stacks::deploy;
use integration_tests::{moto, unique};
use serde_json::{json, Value};

const POLICY: &str = r#"
version: 1
defaults: { dry_run: true, verdict: ticket, severity: medium }
identities:
  own: [{ principal: "arn:aws:iam::123456789012:role/driftguard-remediation" }, { principal: "arn:aws:iam::111111111111:role/driftguard-remediation" }, { principal: "arn:aws:iam::222222222222:role/driftguard-remediation" }]
rules:
  - name: console-sg-changes-are-reverted
    match: { actors: [console, human], resource_types: ["AWS::EC2::SecurityGroup"] }
    verdict: revert
    dry_run: false
    severity: high
"#;

fn template() -> String {
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"WebSG": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "web tier",
            "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"}]
        }}}
    })
    .to_string()
}

async fn table_items(sdk: &aws_config::SdkConfig, table: &str) -> i32 {
    aws_sdk_dynamodb::Client::new(sdk)
        .scan()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .count()
}

async fn ssh_open(ec2: &aws_sdk_ec2::Client, group: &str) -> bool {
    let out = ec2
        .describe_security_groups()
        .group_ids(group)
        .send()
        .await
        .unwrap();
    out.security_groups()[0]
        .ip_permissions()
        .iter()
        .any(|p| p.from_port() == Some(22))
}

async fn run_plan(file: &std::path::Path, o: &PlanOptions) -> (Value, String) {
    let mut json_out = Vec::new();
    plan::run(
        file,
        &PlanOptions {
            json: true,
            ..o.clone()
        },
        &mut json_out,
    )
    .await
    .unwrap();
    let v: Value = serde_json::from_slice(&json_out).unwrap();
    (v, String::new())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_previews_without_writing_and_apply_reverts_through_the_same_gates() {
    let moto = moto();
    // No attempt timeout for the setup: a cold server's first calls are slow.
    let sdk = moto.sdk_config_with_sdk_retries().await;
    let prefix = unique("plan");
    let infra = Infra::create(&sdk, &prefix).await.unwrap();
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let stack = format!("{prefix}-app");
    let group = deploy(&cfn, &stack, &template()).await["WebSG"].clone();
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    integration_tests::hotfix::open_port(&ec2, &group, 22).await;
    let event = cloudtrail_event(
        &unique("ev"),
        "ec2",
        "AuthorizeSecurityGroupIngress",
        console_user(),
        json!({"groupId": group, "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
            "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}}),
        json!({"_return": true}),
        Origin::Console,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("event.json");
    std::fs::write(&file, event.to_string()).unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let options = PlanOptions {
        endpoint: Some(moto.endpoint.clone()),
        table: infra.table.clone(),
        bus: infra.bus.clone(),
        apply: false,
        json: false,
        policy: Some(policy),
        policy_parameter: None,
    };

    // Preview: the whole decision and every gate, no write anywhere.
    let mut text = Vec::new();
    plan::run(&file, &options, &mut text).await.unwrap();
    let text = String::from_utf8(text).unwrap();
    println!("{text}");
    assert!(text.contains(&format!("owner: {stack}/WebSG")), "{text}");
    assert!(text.contains("actor: console"), "{text}");
    assert!(
        text.contains("verdict: revert (rule console-sg-changes-are-reverted"),
        "{text}"
    );
    assert!(text.contains("ec2:RevokeSecurityGroupIngress"), "{text}");
    assert!(text.contains("gates: all passed"), "{text}");
    assert!(text.contains("rate limit stack#"), "{text}");
    assert!(text.contains("preview: nothing was written"), "{text}");
    let (preview, _) = run_plan(&file, &options).await;
    assert_eq!(preview["mode"], "preview");
    assert_eq!(preview["detect"]["outcome"], "decided", "{preview:#}");
    assert_eq!(preview["detect"]["decision"]["verdict"]["action"], "revert");
    assert_eq!(
        preview["remediate"]["all_gates_passed"], true,
        "{preview:#}"
    );
    assert_eq!(
        preview["remediate"]["plan"]["calls"][0]["operation"], "RevokeSecurityGroupIngress",
        "{preview:#}"
    );
    assert_eq!(
        table_items(&sdk, &infra.table).await,
        0,
        "no ticket, claim or rate-limit slot written"
    );
    assert!(ssh_open(&ec2, &group).await, "the rule is still there");
    let delivered = infra.receive(1, Duration::from_secs(2)).await.unwrap();
    assert!(delivered.is_empty(), "nothing on the bus: {delivered:#?}");

    // --apply: the same decision, carried out and verified.
    let apply = PlanOptions {
        apply: true,
        ..options.clone()
    };
    let (applied, _) = run_plan(&file, &apply).await;
    assert_eq!(applied["mode"], "apply");
    assert_eq!(applied["remediate"]["outcome"], "resolved", "{applied:#}");
    assert_eq!(
        applied["remediate"]["ticket_state"], "RESOLVED",
        "{applied:#}"
    );
    assert_eq!(
        applied["remediate"]["plan_digest"], preview["remediate"]["plan_digest"],
        "the plan previewed is the plan applied"
    );
    assert!(!ssh_open(&ec2, &group).await, "reverted");
    assert!(table_items(&sdk, &infra.table).await > 0);
    let delivered = infra.receive(2, Duration::from_secs(10)).await.unwrap();
    let types: Vec<&str> = delivered
        .iter()
        .filter_map(|e| e["detail-type"].as_str())
        .collect();
    assert!(types.contains(&"Drift Decision"), "{types:?}");
    assert!(types.contains(&"Drift Remediation Result"), "{types:?}");

    // The same event again: detect's claim makes it a duplicate, nothing acts.
    let (again, _) = run_plan(&file, &apply).await;
    assert_eq!(again["detect"]["outcome"], "duplicate", "{again:#}");
    assert!(again["remediate"].is_null(), "{again:#}");
}
