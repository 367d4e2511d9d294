//! Issue 15, member accounts: a stack in member account B, a console change
//! there, its forwarded CloudTrail event handled by the central detect,
//! which finds the owner through B's read role (STS `AssumeRole`, session
//! `driftguard-detect`) and writes the ticket, with account B, in the
//! central table; the decision handled by the central remediate, which
//! reverts the change through B's remediation role (session
//! `driftguard-remediate`). Through the functions' real wiring
//! (`detect::wire`, `remediate::wire` with `MEMBER_ROLE_NAME`) and the real
//! SDK on moto.
//!
//! moto keeps each account's resources apart and serves `AssumeRole` into
//! other accounts: requests signed with the assumed credentials are served
//! in the role's account (`../shared/LOCAL-AWS.md`: "IAM / STS ...
//! GetCallerIdentity; AssumeRole"). moto does not evaluate trust policies,
//! so a member whose role refuses is covered in memory
//! (`driftguard_core::detect::member_tests`).
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use driftguard_adapters::members::{AwsMemberAccounts, MemberRole};
use driftguard_cli::emulator::resources::create_stack;
use driftguard_cli::emulator::resources::physical_ids;
use driftguard_cli::emulator::{ACCOUNT, REGION};
use integration_tests::cloudtrail::{
    cloudtrail_event, console_user, driftguard_role, Origin, LAMBDA_USER_AGENT,
};
use integration_tests::infra::Infra;
use integration_tests::{moto, unique};
use serde_json::{json, Value};

const MEMBER: &str = "222222222222";
const STRANGER: &str = "444444444444";

const POLICY: &str = r#"
version: 1
defaults: { dry_run: true, verdict: ticket, severity: medium }
identities:
  own: [{ principal: "arn:aws:iam::123456789012:role/driftguard-remediation" }, { principal: "arn:aws:iam::111111111111:role/driftguard-remediation" }, { principal: "arn:aws:iam::222222222222:role/driftguard-remediation" }]
rules:
  - name: open-ingress-is-reverted
    match: { actors: [console, human, automation, unknown], resource_types: ["AWS::EC2::SecurityGroup"] }
    verdict: revert
    dry_run: false
    severity: high
"#;

fn template() -> String {
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "WebSG": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "web tier in B"}}
        }
    })
    .to_string()
}

/// The central account's event as forwarded from `account`: the envelope's
/// and the record's account are the member's, so is the caller.
fn in_account(event: &Value, account: &str) -> Value {
    serde_json::from_str(&event.to_string().replace(ACCOUNT, account)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_change_in_a_member_account_is_handled_centrally_through_its_role() {
    let moto = moto();
    let sdk = moto.sdk_config().await;
    let (counted, calls) = integration_tests::calls::counting(&sdk);
    let prefix = unique("members");
    let infra = Infra::create(&sdk, &prefix)
        .await
        .expect("central table, bus");

    // Member account B: its own stack, created with B's credentials (what
    // the member's pipeline would do); the central account cannot see it.
    let b = AwsMemberAccounts::new(
        &sdk,
        MemberRole::new("driftguard-read", "driftguard-detect"),
    )
    .sdk_config(MEMBER, REGION);
    let cfn_b = aws_sdk_cloudformation::Client::new(&b);
    let stack = format!("{prefix}-app");
    create_stack(&cfn_b, &stack, &template())
        .await
        .expect("stack created");
    let described = cfn_b
        .describe_stacks()
        .stack_name(&stack)
        .send()
        .await
        .unwrap();
    let stack_id = described.stacks()[0].stack_id().unwrap().to_string();
    assert!(
        stack_id.contains(&format!(":{MEMBER}:stack/")),
        "{stack_id}"
    );
    let central = aws_sdk_cloudformation::Client::new(&sdk);
    assert!(
        central
            .describe_stacks()
            .stack_name(&stack)
            .send()
            .await
            .is_err(),
        "moto keeps B's stack out of the central account"
    );
    let group = physical_ids(&cfn_b, &stack).await.unwrap()["WebSG"].clone();

    // The console user in B opens SSH to the world.
    integration_tests::hotfix::open_port(&aws_sdk_ec2::Client::new(&b), &group, 22).await;

    let (config, _policy_file) = infra.config(
        POLICY,
        &[
            ("WATCHED_ACCOUNTS", format!("{ACCOUNT},{MEMBER}")),
            ("MEMBER_ROLE_NAME", "driftguard-read".into()),
        ],
    );
    let pipeline = Arc::new(detect::wire(&config, &counted).await.expect("wire detect"));

    let request = json!({
        "groupId": group,
        "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
            "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}
    });
    let event = |id: &str| {
        in_account(
            &cloudtrail_event(
                id,
                "ec2",
                "AuthorizeSecurityGroupIngress",
                console_user(),
                request.clone(),
                Value::Null,
                Origin::Console,
            ),
            MEMBER,
        )
    };
    calls.reset();
    let out = detect::handler::handle(&pipeline, event(&unique("ev-b1")))
        .await
        .expect("the member's event");
    assert_eq!(out["outcome"], "decided", "{out:#}");
    assert_eq!(out["ownership"]["kind"], "managed", "{out:#}");
    assert_eq!(out["ownership"]["stack_name"], stack.as_str());
    assert_eq!(out["ownership"]["stack_id"], stack_id.as_str());
    assert_eq!(out["decision"]["verdict"]["action"], "revert");
    let seen = calls.take();
    println!(
        "{}",
        integration_tests::calls::line("detect, member account", &seen)
    );
    assert_eq!(seen.get("sts:AssumeRole"), Some(&1), "{seen:?}");

    // The ticket is central, keyed with account B.
    let ticket_id = out["ticket"]["id"].as_str().unwrap();
    let item = aws_sdk_dynamodb::Client::new(&sdk)
        .get_item()
        .table_name(&infra.table)
        .key("pk", AttributeValue::S(format!("TICKET#{ticket_id}")))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item()
        .cloned()
        .expect("ticket in the central table");
    let ticket: Value = serde_json::from_str(item["body"].as_s().unwrap()).unwrap();
    assert_eq!(ticket["fingerprint"]["account"], MEMBER);
    assert_eq!(ticket["ownership"]["stack_id"], stack_id.as_str());

    // A second event of B: the credentials and B's lookups are reused.
    let again = detect::handler::handle(&pipeline, event(&unique("ev-b2")))
        .await
        .unwrap();
    assert_eq!(again["ticket"]["id"], ticket_id, "{again:#}");
    let seen = calls.take();
    assert_eq!(seen.get("sts:AssumeRole"), None, "cached: {seen:?}");

    // An account that is not watched is rejected, with the reason, and
    // nothing is asked of it.
    let stranger: Value =
        serde_json::from_str(&event(&unique("ev-x")).to_string().replace(MEMBER, STRANGER))
            .unwrap();
    let out = detect::handler::handle(&pipeline, stranger).await.unwrap();
    assert_eq!(
        (&out["outcome"], &out["reason"]),
        (&json!("skipped"), &json!("foreign_account")),
        "{out:#}"
    );
    assert!(
        out["detail"].as_str().unwrap().contains(STRANGER),
        "{out:#}"
    );
    assert_eq!(calls.take().get("sts:AssumeRole"), None);

    // The central remediate, on the first decision: the rule is revoked in B.
    let decisions: Vec<Value> = infra
        .receive(2, std::time::Duration::from_secs(10))
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e["detail-type"] == "Drift Decision" && e["detail"]["state_changed"] == true)
        .collect();
    assert_eq!(decisions.len(), 1, "{decisions:#?}");
    let (config, _remediate_policy) = infra.config(
        POLICY,
        &[
            ("WATCHED_ACCOUNTS", format!("{ACCOUNT},{MEMBER}")),
            ("MEMBER_ROLE_NAME", "driftguard-remediation".into()),
        ],
    );
    let remediator = remediate::wire(&config, &counted)
        .await
        .expect("wire remediate");
    calls.reset();
    let out = remediate::handler::handle(&remediator, decisions[0].clone())
        .await
        .expect("remediate the member's ticket");
    assert_eq!(out["status"], "processed", "{out:#}");
    assert_eq!(out["outcome"], "resolved", "{out:#}");
    assert_eq!(out["ticket_state"], "RESOLVED", "{out:#}");
    let seen = calls.take();
    println!(
        "{}",
        integration_tests::calls::line("remediate, member account", &seen)
    );
    assert_eq!(seen.get("sts:AssumeRole"), Some(&1), "{seen:?}");
    let groups = aws_sdk_ec2::Client::new(&b)
        .describe_security_groups()
        .group_ids(&group)
        .send()
        .await
        .expect("read the group back in B");
    let open: Vec<_> = groups.security_groups()[0]
        .ip_permissions()
        .iter()
        .filter(|p| {
            p.from_port() == Some(22)
                && p.ip_ranges()
                    .iter()
                    .any(|r| r.cidr_ip() == Some("0.0.0.0/0"))
        })
        .collect();
    assert!(
        open.is_empty(),
        "SSH to the world is revoked in B: {open:?}"
    );

    // The result is on the central bus for notify, naming the ticket.
    let results: Vec<Value> = infra
        .receive(1, std::time::Duration::from_secs(10))
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e["detail-type"] == "Drift Remediation Result")
        .collect();
    assert_eq!(results.len(), 1, "{results:#?}");
    assert_eq!(results[0]["detail"]["ticket_id"], ticket_id);
    assert_eq!(results[0]["detail"]["outcome"], "resolved");

    // Loop prevention in B: driftguard's revoke comes back through CloudTrail
    // as B's remediation role (`identities.own` names it in any account);
    // detect ignores it.
    let own = in_account(
        &cloudtrail_event(
            &unique("own"),
            "ec2",
            "RevokeSecurityGroupIngress",
            driftguard_role(),
            request.clone(),
            json!({"_return": true}),
            Origin::Sdk(LAMBDA_USER_AGENT),
        ),
        MEMBER,
    );
    let out = detect::handler::handle(&pipeline, own).await.unwrap();
    assert_eq!(out["actor"]["kind"], "driftguard", "{out:#}");
    assert_eq!(out["decision"]["verdict"]["action"], "ignore", "{out:#}");
}
