//! Issue 15, policy per environment on moto: the same console change (SSH
//! opened to the world on a stack's security group) in two member accounts,
//! decided by the central detect (`detect::wire`, member read role): in the
//! prod account (listed by id) it is reverted, live; in an account of the
//! organization tagged `env=dev` in AWS Organizations (moto's), matched by
//! `match.tags`, it is only ticketed. Both tickets are central, each with its
//! account and environment.
use std::sync::Arc;

use aws_sdk_organizations::types::Tag;
use driftguard_adapters::members::{AwsMemberAccounts, MemberRole};
use driftguard_cli::emulator::{ACCOUNT, REGION};
use integration_tests::cloudtrail::{cloudtrail_event, console_user, Origin};
use integration_tests::stacks::deploy;
use integration_tests::unique;
use serde_json::{json, Value};

const PROD: &str = "111111111111";

fn policy(dev_tag: &str) -> String {
    format!(
        r#"
version: 2
defaults: {{ dry_run: true, verdict: ticket, severity: medium }}
identities:
  own: [{{ principal: "arn:aws:iam::123456789012:role/driftguard-remediation" }}, {{ principal: "arn:aws:iam::111111111111:role/driftguard-remediation" }}, {{ principal: "arn:aws:iam::222222222222:role/driftguard-remediation" }}]
rules:
  - name: open-ingress-is-reverted
    match: {{ actors: [console, human, automation, unknown], resource_types: ["AWS::EC2::SecurityGroup"] }}
    verdict: revert
    severity: high
environments:
  - name: prod
    match: {{ accounts: ["{PROD}"] }}
    defaults: {{ dry_run: false }}
  - name: dev
    match: {{ tags: {{ env: "{dev_tag}" }} }}
    rules:
      - name: dev-ticket-only
        verdict: ticket
        severity: low
"#
    )
}

/// An account of moto's organization, tagged `env=<tag>`.
async fn dev_account(sdk: &aws_config::SdkConfig, name: &str, tag: &str) -> String {
    let org = aws_sdk_organizations::Client::new(sdk);
    if org.describe_organization().send().await.is_err() {
        org.create_organization()
            .send()
            .await
            .expect("create organization");
    }
    let account = org
        .create_account()
        .email(format!("{name}@example.com"))
        .account_name(name)
        .send()
        .await
        .unwrap()
        .create_account_status()
        .and_then(|s| s.account_id().map(String::from))
        .expect("moto creates the account at once");
    org.tag_resource()
        .resource_id(&account)
        .tags(Tag::builder().key("env").value(tag).build().unwrap())
        .send()
        .await
        .unwrap();
    account
}

/// A stack with a security group in `account` (its own credentials), and
/// the group's id.
async fn stack_in(sdk: &aws_config::SdkConfig, account: &str, stack: &str) -> String {
    let conf = AwsMemberAccounts::new(sdk, MemberRole::new("driftguard-read", "driftguard-detect"))
        .sdk_config(account, REGION);
    let cfn = aws_sdk_cloudformation::Client::new(&conf);
    let template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"WebSG": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "web"}}}
    });
    deploy(&cfn, stack, &template.to_string()).await["WebSG"].clone()
}

fn console_change(id: &str, account: &str, group: &str) -> Value {
    let request = json!({
        "groupId": group,
        "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
            "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}
    });
    let event = cloudtrail_event(
        id,
        "ec2",
        "AuthorizeSecurityGroupIngress",
        console_user(),
        request,
        Value::Null,
        Origin::Console,
    );
    serde_json::from_str(&event.to_string().replace(ACCOUNT, account)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_change_is_reverted_in_prod_and_ticketed_in_an_account_tagged_dev() {
    let (sdk, prefix, infra) = integration_tests::infra::setup("envs").await;
    let tag = format!("dev-{prefix}");
    let dev = dev_account(&sdk, &prefix, &tag).await;
    let prod_group = stack_in(&sdk, PROD, &format!("{prefix}-prod")).await;
    let dev_group = stack_in(&sdk, &dev, &format!("{prefix}-dev")).await;

    let (config, _policy_file) = infra.config(
        &policy(&tag),
        &[
            ("WATCHED_ACCOUNTS", format!("{ACCOUNT},{PROD},{dev}")),
            ("MEMBER_ROLE_NAME", "driftguard-read".into()),
        ],
    );
    let pipeline = Arc::new(detect::wire(&config, &sdk).await.expect("wire detect"));

    let prod = detect::handler::handle(
        &pipeline,
        console_change(&unique("ev-p"), PROD, &prod_group),
    )
    .await
    .expect("the prod account's event");
    assert_eq!(prod["outcome"], "decided", "{prod:#}");
    assert_eq!(prod["ownership"]["kind"], "managed", "{prod:#}");
    let v = &prod["decision"]["verdict"];
    assert_eq!(
        (v["action"].as_str(), v["dry_run"].as_bool()),
        (Some("revert"), Some(false)),
        "{v:#}"
    );
    assert_eq!(v["environment"], "prod");

    let dev_out =
        detect::handler::handle(&pipeline, console_change(&unique("ev-d"), &dev, &dev_group))
            .await
            .expect("the dev account's event");
    assert_eq!(dev_out["outcome"], "decided", "{dev_out:#}");
    assert_eq!(dev_out["ownership"]["kind"], "managed", "{dev_out:#}");
    let v = &dev_out["decision"]["verdict"];
    assert_eq!(v["action"], "ticket", "{v:#}");
    assert_eq!(v["rule"], "dev-ticket-only");
    assert_eq!(
        v["environment"], "dev",
        "matched by the account's tag in AWS Organizations"
    );
    assert_ne!(prod["ticket"]["id"], dev_out["ticket"]["id"]);
}
