//! The ping-pong breaker against the moto emulator (issue 34 item 5): a
//! script (or AWS's own remediator) keeps re-opening SSH on the stack's
//! group. detect decides a live revert and remediate revokes it, twice; the
//! second time it is flipped back, detect decides a high-severity ticket
//! naming the actors, and remediate leaves the group alone.
use std::time::Duration;

use driftguard_cli::emulator::resources::group_rules;
use integration_tests::cloudtrail::{cloudtrail_event, role_session, Origin, SDK_USER_AGENT};
use integration_tests::stacks::{deploy, hotfix_template};
use integration_tests::unique;
use serde_json::{json, Value};

const POLICY: &str = r#"
version: 1
defaults: { dry_run: true, verdict: ticket, severity: medium }
identities:
  own: [{ principal: "arn:aws:iam::123456789012:role/driftguard-remediation" }]
rules:
  - name: open-ingress-is-reverted
    match: { actors: [automation], resource_types: ["AWS::EC2::SecurityGroup"] }
    verdict: revert
    dry_run: false
    severity: medium
"#;

fn ssh_permissions(group: &str) -> Value {
    json!({
        "groupId": group,
        "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
            "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}
    })
}

async fn ssh_open(ec2: &aws_sdk_ec2::Client, group: &str) -> bool {
    group_rules(ec2, group)
        .await
        .unwrap()
        .iter()
        .any(|r| r.is_egress() == Some(false) && r.from_port() == Some(22))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_stops_reverting_after_the_second_flip_back() {
    let (sdk, prefix, infra) = integration_tests::infra::setup("ping-pong").await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let physical = deploy(
        &cfn,
        &format!("{prefix}-app"),
        &hotfix_template(&prefix, json!({})),
    )
    .await;
    let group = physical["WebSG"].clone();
    let (config, _policy_file) = infra.config(POLICY, &[]);
    let detect = detect::wire(&config, &sdk).await.expect("wire detect");
    let remediator = remediate::wire(&config, &sdk)
        .await
        .expect("wire remediate");
    let ec2 = aws_sdk_ec2::Client::new(&sdk);

    for round in 0..3 {
        // CloudTrail times have whole seconds: the next change is later than
        // the previous remediation's verification.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let response = integration_tests::hotfix::open_port(&ec2, &group, 22).await;
        let event = cloudtrail_event(
            &unique("flip"),
            "ec2",
            "AuthorizeSecurityGroupIngress",
            role_session("sg-opener", "cron"),
            ssh_permissions(&group),
            response,
            Origin::Sdk(SDK_USER_AGENT),
        );
        let out = detect::handler::handle(&detect, event).await.unwrap();
        assert_eq!(out["outcome"], "decided", "round {round}: {out:#}");
        assert_eq!(out["actor"]["kind"], "automation", "round {round}");
        let verdict = &out["decision"]["verdict"];
        let delivered = infra.receive(1, Duration::from_secs(10)).await.unwrap();
        let envelope = delivered
            .iter()
            .find(|e| e["detail-type"] == "Drift Decision")
            .unwrap_or_else(|| panic!("round {round}: {delivered:#?}"));
        let done = remediate::handler::handle(&remediator, envelope.clone())
            .await
            .unwrap();
        if round < 2 {
            assert_eq!(verdict["action"], "revert", "round {round}: {verdict:#}");
            assert_eq!(done["outcome"], "resolved", "round {round}: {done:#}");
            assert!(!ssh_open(&ec2, &group).await, "round {round}: reverted");
        } else {
            assert_eq!(verdict["action"], "ticket", "{verdict:#}");
            assert_eq!(verdict["capped_from"], "revert", "{verdict:#}");
            assert_eq!(verdict["severity"], "high", "{verdict:#}");
            let reason = verdict["reason"].as_str().unwrap();
            assert!(reason.contains("ping-pong"), "{reason}");
            assert!(reason.contains("role/sg-opener"), "{reason}");
            assert!(reason.contains("driftguard"), "{reason}");
            assert_ne!(done["outcome"], "resolved", "{done:#}");
            assert!(ssh_open(&ec2, &group).await, "the breaker left it open");
        }
    }
}
