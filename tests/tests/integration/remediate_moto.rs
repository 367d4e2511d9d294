//! remediate against the moto emulator, end to end with the real wiring: a
//! stack created through CloudFormation, four console hot-fixes made directly
//! through the resources' own APIs, their CloudTrail-shaped events fed to
//! detect, the "Drift Decision" envelopes it puts on the bus fed to remediate,
//! and each resource checked through its API afterwards. Then driftguard's own
//! revoke, replayed into detect, opens nothing: no second remediation.
//!
//! moto 5.2.5 has no drift detection, so remediate verifies by reading the
//! resources back; it skips `PublicAccessBlockConfiguration` at stack creation,
//! so the test puts the template's block first, as CloudFormation would have.
use std::collections::HashMap;
use std::time::Duration;

use driftguard_cli::emulator::resources::group_rules;
use integration_tests::cloudtrail::{
    cloudtrail_event, console_user, driftguard_role, Origin, LAMBDA_USER_AGENT,
};
use integration_tests::stacks::deploy;
use integration_tests::stacks::hotfix_template;
use integration_tests::unique;
use serde_json::{json, Value};

const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

const POLICY: &str = r#"
version: 1
defaults: { dry_run: true, verdict: ticket, severity: medium }
identities:
  own: [{ principal: "arn:aws:iam::123456789012:role/driftguard-remediation" }, { principal: "arn:aws:iam::111111111111:role/driftguard-remediation" }, { principal: "arn:aws:iam::222222222222:role/driftguard-remediation" }]
  pipeline: [{ principal: "arn:aws:iam::*:role/deploy-pipeline" }]
rules:
  - name: hotfixes-are-reverted
    match:
      actors: [console, human]
      resource_types: ["AWS::EC2::SecurityGroup", "AWS::S3::Bucket", "AWS::SSM::Parameter", "AWS::IAM::Role"]
    verdict: revert
    dry_run: false
    severity: high
"#;

fn template(prefix: &str) -> String {
    hotfix_template(prefix, json!({}))
}

fn ssh_permissions(group: &str) -> Value {
    json!({
        "groupId": group,
        "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
            "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_console_hotfixes_are_reverted_and_driftguards_own_changes_do_not_loop() {
    let (sdk, prefix, infra) = integration_tests::infra::setup("remediate").await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let stack = format!("{prefix}-app");
    let physical = deploy(&cfn, &stack, &template(&prefix)).await;
    let (group, bucket, param, role) = (
        physical["WebSG"].clone(),
        physical["Bucket"].clone(),
        physical["LevelParam"].clone(),
        physical["AppRole"].clone(),
    );
    let (config, _policy_file) = infra.config(POLICY, &[]);
    let detect = detect::wire(&config, &sdk).await.expect("wire detect");
    let remediator = remediate::wire(&config, &sdk)
        .await
        .expect("wire remediate");

    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);

    // What CloudFormation would have put on the bucket (moto skips it).
    let block = |on: bool| {
        aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
            .block_public_acls(on)
            .ignore_public_acls(on)
            .block_public_policy(on)
            .restrict_public_buckets(on)
            .build()
    };
    s3.put_public_access_block()
        .bucket(&bucket)
        .public_access_block_configuration(block(true))
        .send()
        .await
        .unwrap();

    // The four hot-fixes, directly through the resources' APIs.
    let response = integration_tests::hotfix::open_port(&ec2, &group, 22).await;
    s3.delete_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .expect("delete block");
    ssm.put_parameter()
        .name(&param)
        .value("debug")
        .overwrite(true)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("change parameter");
    iam.attach_role_policy()
        .role_name(&role)
        .policy_arn(ADMIN)
        .send()
        .await
        .expect("attach admin");

    let hotfixes = [
        (
            "ec2",
            "AuthorizeSecurityGroupIngress",
            ssh_permissions(&group),
            response,
        ),
        (
            "s3",
            // The name and request CloudTrail records (events/recorded/).
            "DeleteBucketPublicAccessBlock",
            recorded_request("s3-delete-bucket-public-access-block.json", &bucket),
            Value::Null,
        ),
        (
            "ssm",
            "PutParameter",
            json!({"name": param, "type": "String", "overwrite": true}),
            json!({"version": 2, "tier": "Standard"}),
        ),
        (
            "iam",
            "AttachRolePolicy",
            json!({"roleName": role, "policyArn": ADMIN}),
            Value::Null,
        ),
    ];
    for (service, operation, request, response) in hotfixes {
        let event = cloudtrail_event(
            &unique("ev"),
            service,
            operation,
            console_user(),
            request,
            response,
            Origin::Console,
        );
        let out = detect::handler::handle(&detect, event)
            .await
            .unwrap_or_else(|e| panic!("detect {operation}: {e}"));
        assert_eq!(out["outcome"], "decided", "{operation}: {out:#}");
    }

    // detect's four decisions, as the bus delivered them, go to remediate.
    let delivered = infra.receive(4, Duration::from_secs(10)).await.unwrap();
    let decisions: Vec<&Value> = delivered
        .iter()
        .filter(|e| e["detail-type"] == "Drift Decision")
        .collect();
    assert_eq!(decisions.len(), 4, "{delivered:#?}");
    let mut results = HashMap::new();
    for envelope in decisions {
        let api = format!(
            "{}:{}",
            envelope["detail"]["change"]["service"].as_str().unwrap(),
            envelope["detail"]["change"]["operation"].as_str().unwrap()
        );
        assert_eq!(
            envelope["detail"]["decision"]["verdict"]["action"], "revert",
            "{api}: {envelope:#}"
        );
        let out = remediate::handler::handle(&remediator, envelope.clone())
            .await
            .unwrap_or_else(|e| panic!("remediate {api}: {e}"));
        assert_eq!(out["outcome"], "resolved", "{api}: {out:#}");
        assert_eq!(out["ticket_state"], "RESOLVED", "{api}: {out:#}");
        assert!(
            out["reason"].as_str().unwrap().contains("read back"),
            "{api}: says which verification: {out:#}"
        );
        results.insert(api, out);
        // A duplicate delivery does nothing.
        let again = remediate::handler::handle(&remediator, envelope.clone())
            .await
            .unwrap();
        assert_eq!(again["status"], "duplicate");
    }
    assert_eq!(
        results["ec2:AuthorizeSecurityGroupIngress"]["plan"]["calls"][0]["operation"],
        "RevokeSecurityGroupIngress"
    );
    assert_eq!(
        results["s3:DeleteBucketPublicAccessBlock"]["plan"]["calls"][0]["operation"],
        "PutPublicAccessBlock"
    );
    assert_eq!(
        results["ssm:PutParameter"]["plan"]["calls"][0]["parameters"]["Value"], "info",
        "template value via Ref to the parameter"
    );
    assert_eq!(
        results["iam:AttachRolePolicy"]["plan"]["calls"][0]["operation"],
        "DetachRolePolicy"
    );

    // The resources, read through their own APIs.
    let rules = group_rules(&ec2, &group).await.unwrap();
    let ingress: Vec<(Option<i32>, Option<&str>)> = rules
        .iter()
        .filter(|r| r.is_egress() == Some(false))
        .map(|r| (r.from_port(), r.cidr_ipv4()))
        .collect();
    assert!(
        !ingress.contains(&(Some(22), Some("0.0.0.0/0"))),
        "ssh revoked: {ingress:?}"
    );
    assert!(
        ingress.contains(&(Some(443), Some("0.0.0.0/0"))),
        "template rule kept: {ingress:?}"
    );
    let pab = s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(pab.public_access_block_configuration(), Some(&block(true)));
    let value = ssm.get_parameter().name(&param).send().await.unwrap();
    assert_eq!(value.parameter().and_then(|p| p.value()), Some("info"));
    let attached = iam
        .list_attached_role_policies()
        .role_name(&role)
        .send()
        .await
        .unwrap();
    assert!(
        attached
            .attached_policies()
            .iter()
            .all(|p| p.policy_arn() != Some(ADMIN)),
        "{attached:?}"
    );

    // Four results on the bus.
    let results_on_bus = infra.receive(4, Duration::from_secs(10)).await.unwrap();
    let outcomes: Vec<&Value> = results_on_bus
        .iter()
        .filter(|e| e["detail-type"] == "Drift Remediation Result")
        .map(|e| &e["detail"]["outcome"])
        .collect();
    assert_eq!(outcomes, vec!["resolved"; 4], "{results_on_bus:#?}");

    // Loop prevention: driftguard's own revoke comes back through CloudTrail as
    // the remediation role; detect ignores it, so nothing reaches remediate.
    let own = cloudtrail_event(
        &unique("own"),
        "ec2",
        "RevokeSecurityGroupIngress",
        driftguard_role(),
        ssh_permissions(&group),
        json!({"_return": true}),
        Origin::Sdk(LAMBDA_USER_AGENT),
    );
    let out = detect::handler::handle(&detect, own).await.unwrap();
    assert_eq!(out["actor"]["kind"], "driftguard", "{out:#}");
    assert_eq!(out["decision"]["verdict"]["action"], "ignore", "{out:#}");
    // Whatever detect put on the bus for it, remediate does not act on it.
    let after = infra
        .receive(1, Duration::from_secs(2))
        .await
        .unwrap_or_default();
    for envelope in after
        .iter()
        .filter(|e| e["detail-type"] == "Drift Decision")
    {
        let again = remediate::handler::handle(&remediator, envelope.clone())
            .await
            .unwrap();
        assert_eq!(
            again["status"], "ignored",
            "no second remediation: {again:#}"
        );
    }
    let still = group_rules(&ec2, &group).await.unwrap();
    assert_eq!(still.len(), rules.len(), "nothing else changed");
}

/// `requestParameters` of a recorded CloudTrail record (events/recorded/), its
/// bucket replaced by `bucket`.
fn recorded_request(file: &str, bucket: &str) -> Value {
    let path = driftguard_cli::emulator::workspace_root()
        .join("events/recorded")
        .join(file);
    let record: Value = serde_json::from_slice(&std::fs::read(&path).expect("recorded file"))
        .expect("recorded JSON");
    let mut request = record["requestParameters"].clone();
    request["bucketName"] = json!(bucket);
    request["host"] = json!(format!("{bucket}.s3.amazonaws.com"));
    request
}
