//! The AWS calls detect and remediate make, counted on moto (issue 19, item
//! 2): one console change opening a CloudFormation-managed security group to
//! 0.0.0.0/0 on port 22, reverted and verified, and detect's other outcomes
//! (ticketed, ignored) beside it. Every call goes through a counting HTTP
//! client set on the `SdkConfig` each function is wired from
//! (`integration_tests::calls`), so the counts are the function's own calls
//! and nothing else; the test's own setup and checks use an uncounted config.
//!
//! Each case gets a freshly wired function (a cold Lambda container: no
//! cache holds anything yet), and the counts exclude the wiring itself, which
//! is printed as its own line. The counts are deterministic (one stack, one
//! moto server for this module, the cases run one after the other), so the
//! test asserts them exactly per operation: a change that adds a call fails
//! here, and one that removes a call updates the lists below and the table in
//! BENCHMARKS.md ("AWS calls per outcome").
//!
//! moto 5.2.5 differs from AWS in what the counts include: it has no
//! `DescribeStackResources(PhysicalResourceId)` and no drift detection
//! (detect_moto.rs), so the ownership lookup and the drift check take their
//! fallbacks here; a call moto answered with an error is counted as
//! `service:Operation!<status>`.
//!
//! `cargo test -p integration-tests --test integration call_counts:: -- --nocapture`
//! prints one `CALLS <function> <outcome> total=N ops=[...]` line per case.
use std::collections::BTreeMap;
use std::time::Duration;

use driftguard_core::config::Config;
use integration_tests::calls::{counting, line, total, Calls};
use integration_tests::cloudtrail::{
    cloudtrail_event, console_user, driftguard_role, role_session, Origin, LAMBDA_USER_AGENT,
    SDK_USER_AGENT,
};
use integration_tests::hotfix::open_ssh;
use integration_tests::infra::Infra;
use integration_tests::stacks::deploy;
use integration_tests::unique;
use serde_json::{json, Value};

/// Console changes to security groups are reverted; anything else gets the
/// default (a dry-run ticket); a group no stack owns is ignored.
const POLICY: &str = r#"
version: 1
defaults: { dry_run: true, verdict: ticket, severity: medium }
identities:
  own: [{ principal: "arn:aws:iam::123456789012:role/driftguard-remediation" }, { principal: "arn:aws:iam::111111111111:role/driftguard-remediation" }, { principal: "arn:aws:iam::222222222222:role/driftguard-remediation" }]
unmanaged: ignore
rules:
  - name: console-sg-changes-are-reverted
    match: { actors: [console], resource_types: ["AWS::EC2::SecurityGroup"] }
    verdict: revert
    dry_run: false
    severity: high
"#;

/// detect deciding on a console change to a stack's group, whatever the
/// verdict (reverted or ticketed): the same calls.
const DETECT_DECIDED: &[(&str, u64)] = &[
    ("cloudformation:DescribeStackResources!400", 1),
    ("cloudformation:DescribeStacks", 1),
    ("cloudformation:DetectStackResourceDrift!500", 1),
    ("cloudformation:ListStackResources", 1),
    ("cloudformation:ListStacks", 1),
    // One read of the ticket: before deciding, and the write's base.
    ("dynamodb:GetItem", 1),
    ("dynamodb:PutItem", 2),
    ("dynamodb:UpdateItem", 1),
    ("events:PutEvents", 1),
];

/// The calls each case makes today, exactly, per operation.
const EXPECTED: &[(&str, &[(&str, u64)])] = &[
    ("detect reverted (wire)", &[]),
    ("detect reverted", DETECT_DECIDED),
    ("detect duplicate (wire)", &[]),
    (
        "detect duplicate",
        &[("dynamodb:GetItem", 1), ("dynamodb:PutItem!400", 1)],
    ),
    ("remediate reverted (wire)", &[]),
    (
        "remediate reverted",
        &[
            ("cloudformation:DescribeStackResources!400", 1),
            // The owner re-check's (the stack's status); the template
            // declares no parameters, so GetTemplate needs no second one.
            ("cloudformation:DescribeStacks", 1),
            ("cloudformation:DetectStackResourceDrift!500", 1),
            ("cloudformation:GetTemplate", 1),
            ("cloudformation:ListStackResources", 1),
            ("cloudformation:ListStacks", 1),
            // The ticket and the circuit breaker's state (none stored: none deleted).
            ("dynamodb:GetItem", 2),
            // The idempotency claim, then three ticket writes: REMEDIATING,
            // the ending (with the result in the ticket's outbox), and the
            // outbox cleared once the result is on the bus (issue 17: the
            // retry of an ending whose answer was lost announces it).
            ("dynamodb:PutItem", 4),
            ("dynamodb:UpdateItem", 3),
            ("ec2:DescribeSecurityGroupRules", 1),
            ("ec2:RevokeSecurityGroupIngress", 1),
            ("events:PutEvents", 1),
        ],
    ),
    ("remediate duplicate (wire)", &[]),
    (
        "remediate duplicate",
        &[
            ("cloudformation:DescribeStackResources!400", 1),
            ("cloudformation:DescribeStacks", 1),
            ("cloudformation:GetTemplate", 1),
            ("cloudformation:ListStackResources", 1),
            ("cloudformation:ListStacks", 1),
            ("dynamodb:GetItem", 2),
            ("dynamodb:PutItem!400", 1),
        ],
    ),
    ("detect ticketed (wire)", &[]),
    ("detect ticketed", DETECT_DECIDED),
    ("remediate ticketed (wire)", &[]),
    ("remediate ticketed", &[("dynamodb:GetItem", 1)]),
    ("detect ignored-own (wire)", &[]),
    (
        "detect ignored-own",
        &[("dynamodb:PutItem", 1), ("dynamodb:UpdateItem", 1)],
    ),
    ("detect ignored-unmanaged (wire)", &[]),
    (
        "detect ignored-unmanaged",
        &[
            ("cloudformation:DescribeStackResources!400", 1),
            ("cloudformation:ListStackResources", 1),
            ("cloudformation:ListStacks", 1),
            ("dynamodb:GetItem", 1),
            ("dynamodb:PutItem", 1),
            ("dynamodb:UpdateItem", 1),
        ],
    ),
];

fn template() -> String {
    let group = |name: &str| {
        json!({"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": name,
            "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"}]
        }})
    };
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"WebSG": group("web tier"), "OpsSG": group("ops tier")}
    })
    .to_string()
}

fn ssh_permissions(group: &str) -> Value {
    json!({
        "groupId": group,
        "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
            "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}
    })
}

struct Counted {
    config: Config,
    sdk: aws_config::SdkConfig,
    calls: Calls,
    /// label → the calls of that case.
    measured: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Counted {
    fn record(&mut self, label: &str) {
        let ops = self.calls.take();
        println!("{}", line(label, &ops));
        self.measured.insert(label.to_string(), ops);
    }

    /// detect, freshly wired, on `event`; its output.
    async fn detect(&mut self, label: &str, event: Value) -> Value {
        self.calls.reset();
        let pipeline = detect::wire(&self.config, &self.sdk)
            .await
            .expect("wire detect");
        self.record(&format!("{label} (wire)"));
        let out = detect::handler::handle(&pipeline, event)
            .await
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        self.record(label);
        out
    }

    /// remediate, freshly wired, on `envelope`; its output.
    async fn remediate(&mut self, label: &str, envelope: &Value) -> Value {
        self.calls.reset();
        let remediator = remediate::wire(&self.config, &self.sdk)
            .await
            .expect("wire remediate");
        self.record(&format!("{label} (wire)"));
        let out = remediate::handler::handle(&remediator, envelope.clone())
            .await
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        self.record(label);
        out
    }
}

/// The "Drift Decision" envelope detect published for `ticket`.
async fn decision_for(infra: &Infra, ticket: &str) -> Value {
    let delivered = infra.receive(1, Duration::from_secs(10)).await.unwrap();
    delivered
        .into_iter()
        .find(|e| e["detail-type"] == "Drift Decision" && e["detail"]["ticket_id"] == ticket)
        .unwrap_or_else(|| panic!("no decision for ticket {ticket}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_calls_per_outcome_for_one_console_security_group_change() {
    let (sdk, prefix, infra) = integration_tests::infra::setup("calls").await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let stack = format!("{prefix}-app");
    let physical = deploy(&cfn, &stack, &template()).await;
    let (web, ops) = (physical["WebSG"].clone(), physical["OpsSG"].clone());
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let stray = ec2
        .create_security_group()
        .group_name(format!("{prefix}-stray"))
        .description("no stack owns this group")
        .send()
        .await
        .expect("unmanaged group")
        .group_id()
        .expect("group id")
        .to_string();

    let (config, _policy_file) = infra.config(POLICY, &[]);
    let (counted_sdk, calls) = counting(&sdk);
    let mut c = Counted {
        config,
        sdk: counted_sdk,
        calls,
        measured: BTreeMap::new(),
    };

    // Reverted: the console opens SSH on the stack's web group.
    let response = open_ssh(&ec2, &web).await;
    let event = cloudtrail_event(
        &unique("ev"),
        "ec2",
        "AuthorizeSecurityGroupIngress",
        console_user(),
        ssh_permissions(&web),
        response,
        Origin::Console,
    );
    let out = c.detect("detect reverted", event.clone()).await;
    assert_eq!(out["outcome"], "decided", "{out:#}");
    assert_eq!(out["decision"]["verdict"]["action"], "revert", "{out:#}");
    let reverted_ticket = out["ticket"]["id"].as_str().unwrap().to_string();
    let out = c.detect("detect duplicate", event).await;
    assert_eq!(out["outcome"], "duplicate", "{out:#}");
    let envelope = decision_for(&infra, &reverted_ticket).await;

    let out = c.remediate("remediate reverted", &envelope).await;
    assert_eq!(out["outcome"], "resolved", "{out:#}");
    assert_eq!(out["ticket_state"], "RESOLVED", "{out:#}");
    assert!(
        out["reason"].as_str().unwrap().contains("read back"),
        "verified by reading the group back: {out:#}"
    );
    assert_eq!(
        out["plan"]["calls"][0]["operation"], "RevokeSecurityGroupIngress",
        "{out:#}"
    );
    let again = c.remediate("remediate duplicate", &envelope).await;
    assert_eq!(again["status"], "duplicate", "{again:#}");

    // Ticketed: the same change through the SDK by a person's role session.
    let response = open_ssh(&ec2, &ops).await;
    let event = cloudtrail_event(
        &unique("ev"),
        "ec2",
        "AuthorizeSecurityGroupIngress",
        role_session("ops-admin", "bob"),
        ssh_permissions(&ops),
        response,
        Origin::Sdk(SDK_USER_AGENT),
    );
    let out = c.detect("detect ticketed", event).await;
    assert_eq!(out["outcome"], "decided", "{out:#}");
    assert_eq!(out["decision"]["verdict"]["action"], "ticket", "{out:#}");
    let ticket = out["ticket"]["id"].as_str().unwrap().to_string();
    let envelope = decision_for(&infra, &ticket).await;
    let out = c.remediate("remediate ticketed", &envelope).await;
    assert_eq!(
        out["status"], "ignored",
        "a ticket verdict is not acted on: {out:#}"
    );

    // Ignored: driftguard's own revoke, as CloudTrail records it.
    let event = cloudtrail_event(
        &unique("own"),
        "ec2",
        "RevokeSecurityGroupIngress",
        driftguard_role(),
        ssh_permissions(&web),
        json!({"_return": true}),
        Origin::Sdk(LAMBDA_USER_AGENT),
    );
    let out = c.detect("detect ignored-own", event).await;
    assert_eq!(out["actor"]["kind"], "driftguard", "{out:#}");
    assert_eq!(out["decision"]["verdict"]["action"], "ignore", "{out:#}");

    // Ignored: the console opens SSH on a group no stack owns.
    let response = open_ssh(&ec2, &stray).await;
    let event = cloudtrail_event(
        &unique("ev"),
        "ec2",
        "AuthorizeSecurityGroupIngress",
        console_user(),
        ssh_permissions(&stray),
        response,
        Origin::Console,
    );
    let out = c.detect("detect ignored-unmanaged", event).await;
    assert_eq!(out["decision"]["verdict"]["action"], "ignore", "{out:#}");

    // The figures.
    let mut failures = Vec::new();
    for (label, ops) in &c.measured {
        let Some((_, want)) = EXPECTED.iter().find(|(l, _)| l == label) else {
            failures.push(format!("no expected counts for {label}"));
            continue;
        };
        let want: BTreeMap<String, u64> = want.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        if ops != &want {
            failures.push(format!(
                "{label}: {} (was {}; a call added fails, a call removed updates EXPECTED and BENCHMARKS.md)",
                line(label, ops),
                total(&want)
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
