//! The control plane on the moto emulator with the real wiring: the bus
//! events remediate receives are wake-up calls, a remediation runs once per
//! change, and a crash after acting is verified, not repeated.
//!
//! This test does not rely on moto evaluating EventBridge bus resource
//! policies (the infra harness creates a bus without one, and moto's
//! enforcement of them was not checked), so "another principal" is simply a
//! `PutEvents` call with `source: driftguard`: whatever the bus policy in
//! template.yaml stops in AWS, remediate must survive a forged event anyway.
use std::sync::Arc;
use std::time::Duration;

use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_core::ports::TicketStore;
use driftguard_core::testing::tickets::FaultyTickets;
use driftguard_model::domain::approval::{authorize, Caller};
use driftguard_model::domain::EntryKind;
use integration_tests::cloudtrail::{cloudtrail_event, console_user, Origin};
use integration_tests::infra::Infra;
use integration_tests::stacks::deploy;
use integration_tests::unique;
use serde_json::{json, Value};

fn policy(verdict: &str) -> String {
    format!(
        r#"
version: 1
defaults: {{ dry_run: true, verdict: ticket, severity: medium }}
identities:
  own: [{{ principal: "arn:aws:iam::123456789012:role/driftguard-remediation" }}, {{ principal: "arn:aws:iam::111111111111:role/driftguard-remediation" }}, {{ principal: "arn:aws:iam::222222222222:role/driftguard-remediation" }}]
rules:
  - name: console-sg
    match:
      actors: [console, human]
      resource_types: ["AWS::EC2::SecurityGroup"]
    verdict: {verdict}
    dry_run: false
    severity: high
"#
    )
}

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

struct World {
    sdk: aws_config::SdkConfig,
    infra: Infra,
    group: String,
    detect: driftguard_core::detect::Pipeline,
    remediator: driftguard_core::remediate::Remediator,
    store: DynamoTicketStore,
    _policy: tempfile::NamedTempFile,
}

async fn world(verdict: &str) -> World {
    world_with(&policy_text(verdict)).await
}

async fn world_with(policy_yaml: &str) -> World {
    let (sdk, prefix, infra) = integration_tests::infra::setup("control").await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let stack = format!("{prefix}-app");
    let group = deploy(&cfn, &stack, &template()).await["WebSG"].clone();
    let (config, policy) = infra.config(policy_yaml, &[]);
    let detect = detect::wire(&config, &sdk).await.expect("detect");
    let remediator = remediate::wire(&config, &sdk).await.expect("remediate");
    let store = DynamoTicketStore::new(aws_sdk_dynamodb::Client::new(&sdk), &infra.table);
    World {
        sdk,
        infra,
        group,
        detect,
        remediator,
        store,
        _policy: policy,
    }
}

fn policy_text(verdict: &str) -> String {
    policy(verdict)
}

fn ingress(group: &str, port: i32) -> Value {
    json!({
        "groupId": group,
        "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": port, "toPort": port,
            "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}
    })
}

/// Open `port` on the group through EC2 and feed its CloudTrail record to
/// detect; returns the "Drift Decision" envelope detect put on the bus.
async fn hotfix(w: &World, port: i32) -> Value {
    let ec2 = aws_sdk_ec2::Client::new(&w.sdk);
    integration_tests::hotfix::open_port(&ec2, &w.group, port).await;
    let event = cloudtrail_event(
        &unique("ev"),
        "ec2",
        "AuthorizeSecurityGroupIngress",
        console_user(),
        ingress(&w.group, port),
        json!({"_return": true}),
        Origin::Console,
    );
    let out = detect::handler::handle(&w.detect, event).await.unwrap();
    assert_eq!(out["outcome"], "decided", "{out:#}");
    let got = w.infra.receive(1, Duration::from_secs(10)).await.unwrap();
    got.into_iter()
        .find(|e| e["detail-type"] == "Drift Decision")
        .expect("a decision on the bus")
}

async fn open_ports(w: &World) -> Vec<i32> {
    let ec2 = aws_sdk_ec2::Client::new(&w.sdk);
    let out = ec2
        .describe_security_groups()
        .group_ids(&w.group)
        .send()
        .await
        .unwrap();
    let mut ports: Vec<i32> = out.security_groups()[0]
        .ip_permissions()
        .iter()
        .filter_map(|p| p.from_port())
        .collect();
    ports.sort();
    ports
}

async fn acted_entries(w: &World, id: &str) -> usize {
    let t = w.store.get_ticket(id).await.unwrap().unwrap();
    t.history
        .iter()
        .filter(|e| e.kind == EntryKind::Acted)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_decision_on_the_bus_changes_nothing() {
    let w = world("ticket").await;
    let decision = hotfix(&w, 22).await;
    let id = decision["detail"]["ticket_id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = w.store.get_ticket(&id).await.unwrap().unwrap();
    // Another principal puts a decision that orders a revert now.
    let mut forged = decision["detail"].clone();
    forged["decision"]["verdict"]["action"] = json!("revert");
    forged["decision"]["verdict"]["dry_run"] = json!(false);
    forged["decision"]["verdict"]["requires_approval"] = json!(false);
    let events = aws_sdk_eventbridge::Client::new(&w.sdk);
    events
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .event_bus_name(&w.infra.bus)
                .source("driftguard")
                .detail_type("Drift Decision")
                .detail(forged.to_string())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let delivered = w.infra.receive(1, Duration::from_secs(10)).await.unwrap();
    assert_eq!(delivered.len(), 1, "{delivered:#?}");
    let out = remediate::handler::handle(&w.remediator, delivered[0].clone())
        .await
        .unwrap();
    assert_eq!(out["status"], "ignored", "{out:#}");
    assert_eq!(
        open_ports(&w).await,
        vec![22, 443],
        "the rule is still there"
    );
    assert_eq!(w.store.get_ticket(&id).await.unwrap().unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_change_is_remediated_once_across_envelopes_and_crashes() {
    let mut w = world("revert").await;
    let decision = hotfix(&w, 22).await;
    let id = decision["detail"]["ticket_id"]
        .as_str()
        .unwrap()
        .to_string();
    // A crash between acting and writing the result: update 1 marks the
    // ticket REMEDIATING, update 2 (the result) fails.
    let real = w.remediator.tickets.clone();
    w.remediator.tickets = Arc::new(FaultyTickets::new(real.clone()).failing_update(
        2,
        driftguard_model::error::PortError::Failed {
            service: "dynamodb",
            operation: "PutItem",
            message: "injected failure of update 2".into(),
        },
    ));
    let crashed = remediate::handler::handle(&w.remediator, decision.clone()).await;
    assert!(crashed.is_err(), "{crashed:?}");
    assert_eq!(open_ports(&w).await, vec![443], "the revoke ran");
    assert_eq!(
        w.store.get_ticket(&id).await.unwrap().unwrap().state,
        driftguard_model::domain::TicketState::Remediating
    );
    w.remediator.tickets = real;
    // Lambda's retry of the same envelope verifies instead of acting.
    let out = remediate::handler::handle(&w.remediator, decision.clone())
        .await
        .unwrap();
    assert_eq!(out["outcome"], "resolved", "{out:#}");
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert!(
        t.history
            .iter()
            .any(|e| e.summary.contains("verifying instead of acting")),
        "{:#?}",
        t.history
    );
    // The same decision re-published with a new envelope id: no second run.
    let mut again = decision.clone();
    again["id"] = json!(unique("envelope"));
    let out = remediate::handler::handle(&w.remediator, again)
        .await
        .unwrap();
    assert_eq!(out["status"], "duplicate", "{out:#}");
    // The revoke ran once (port 22 went with the crashed attempt, 443 stayed);
    // its `Acted` entry was in the result write the crash lost, and neither the
    // retry (which verified) nor the re-published envelope acted again.
    assert_eq!(open_ports(&w).await, vec![443]);
    assert_eq!(acted_entries(&w, &id).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_progress_claim_fails_the_invocation() {
    let w = world("revert").await;
    let decision = hotfix(&w, 22).await;
    let id = decision["detail"]["ticket_id"]
        .as_str()
        .unwrap()
        .to_string();
    let change_id = w.store.get_ticket(&id).await.unwrap().unwrap();
    let change_id = change_id.last_change.unwrap().event_id;
    // Another invocation holds every plan's claim: learn the plan by a dry run.
    let mut dry = driftguard_core::remediate::Remediator {
        tickets: w.remediator.tickets.clone(),
        bus: w.remediator.bus.clone(),
        catalog: w.remediator.catalog.clone(),
        drift: w.remediator.drift.clone(),
        templates: w.remediator.templates.clone(),
        executor: w.remediator.executor.clone(),
        safety: w.remediator.safety.clone(),
        clock: w.remediator.clock.clone(),
        policy: w.remediator.policy.clone(),
        settings: w.remediator.settings.clone(),
        accounts: w.remediator.accounts.clone(),
    };
    dry.settings.dry_run = true;
    let out = remediate::handler::handle(&dry, decision.clone())
        .await
        .unwrap();
    let plan: driftguard_model::domain::Plan = serde_json::from_value(out["plan"].clone()).unwrap();
    let key = driftguard_core::idempotency::remediation_key(&id, &change_id, &plan.digest());
    let far = chrono::Utc::now() + chrono::Duration::minutes(10);
    w.store.claim_event(&key, far, far).await.unwrap();
    let err = remediate::handler::handle(&w.remediator, decision)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("in progress"), "{err}");
    assert_eq!(open_ports(&w).await, vec![22, 443], "nothing was done");
}

const APPROVER: &str = "arn:aws:sts::123456789012:assumed-role/approver/carol";

const APPROVAL_POLICY: &str = r#"
version: 1
defaults: { dry_run: true, verdict: ticket, severity: medium }
identities:
  own: [{ principal: "arn:aws:iam::123456789012:role/driftguard-remediation" }, { principal: "arn:aws:iam::111111111111:role/driftguard-remediation" }, { principal: "arn:aws:iam::222222222222:role/driftguard-remediation" }]
  approvers: [{ principal: "arn:aws:iam::*:role/approver" }]
rules:
  - name: console-sg
    match:
      actors: [console, human]
      resource_types: ["AWS::EC2::SecurityGroup"]
    verdict: revert
    dry_run: false
    requires_approval: true
    severity: high
"#;

/// Issue 12, item 7, on moto: an approval names a plan by its digest. Plan A
/// (revoke port 22) is approved; then the stored plan is replaced by plan B
/// (someone with table write, or any later attempt, writes another plan
/// while the ticket waits): the wake-up for A's approval runs neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_of_plan_a_does_not_run_plan_b() {
    let w = world_with(APPROVAL_POLICY).await;
    let decision = hotfix(&w, 22).await;
    let id = decision["detail"]["ticket_id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = remediate::handler::handle(&w.remediator, decision)
        .await
        .unwrap();
    assert_eq!(out["outcome"], "awaiting_approval", "{out:#}");
    let waiting = w.store.get_ticket(&id).await.unwrap().unwrap();
    let plan_a = waiting.plan.clone().expect("plan A stored");
    // The approver approves plan A (what the approve function records).
    let policy = driftguard_model::domain::policy::Policy::from_yaml(APPROVAL_POLICY).unwrap();
    let caller = Caller::parse(APPROVER).unwrap();
    let approval = authorize(
        &waiting,
        &plan_a.digest(),
        &caller,
        "test",
        &policy,
        chrono::Utc::now(),
    )
    .unwrap();
    // ... and before remediate acts, the stored plan becomes plan B: it
    // revokes port 443 (the template's own rule) instead of port 22.
    let mut plan_b = plan_a.clone();
    let b = serde_json::to_string(&plan_b.calls)
        .unwrap()
        .replace("22", "443");
    plan_b.calls = serde_json::from_str(&b).unwrap();
    assert_ne!(plan_b.digest(), plan_a.digest());
    let mut swapped = waiting.clone();
    swapped.approval = Some(approval);
    swapped.plan = Some(plan_b);
    swapped.version += 1;
    w.store.update_ticket(&swapped).await.unwrap();
    let wake = json!({
        "version": "0", "id": unique("approved"), "detail-type": "Drift Remediation Approved",
        "source": "driftguard", "account": "123456789012", "time": "2026-03-01T10:05:00Z",
        "region": "us-east-1", "resources": [],
        "detail": serde_json::to_value(driftguard_core::remediate::approval_event(&id, APPROVER, chrono::Utc::now())).unwrap()
    });
    let out = remediate::handler::handle(&w.remediator, wake).await;
    assert_eq!(
        open_ports(&w).await,
        vec![22, 443],
        "neither plan ran: {out:?}"
    );
    assert_eq!(acted_entries(&w, &id).await, 0);
    let after = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert_eq!(
        after.state,
        driftguard_model::domain::TicketState::AwaitingApproval,
        "{out:?}"
    );
    assert!(
        after.approval.is_none(),
        "the approval of A is gone: {:?}",
        after.approval
    );
}
