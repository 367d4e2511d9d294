//! `driftguard demo` end to end, as a library call: it starts its own moto
//! server (kept alive for the assertions with `keep`), provisions driftguard
//! from template.yaml, deploys examples/app-stack.yaml, makes the five changes,
//! runs the real handlers, and checks itself. Then this test checks the final
//! state again through the APIs, independently of the demo's own checks.
use std::io::Write;
use std::sync::{Arc, Mutex};

use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_cli::demo::{self, DemoOptions};
use driftguard_cli::emulator::resources::physical_ids;
use driftguard_core::ports::TicketStore;
use driftguard_model::domain::{ActorKind, TicketState};

/// Captures what the demo prints.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `driftguard demo` in process, its output captured; fails on the
/// demo's own checks.
async fn run_demo(keep: bool, member_account: bool) -> (demo::DemoOutcome, String) {
    let out = Captured::default();
    let options = DemoOptions {
        endpoint: None,
        keep,
        color: false,
        member_account,
    };
    // The whole demo is one deep future: in a debug build its polls need more
    // than the 2 MiB stack of a test thread (the CLI runs it on the 8 MiB main
    // thread), so it runs on a thread and runtime of its own.
    let captured = out.clone();
    let outcome = std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(demo::run(&options, Box::new(captured)))
        })
        .expect("a demo thread")
        .join()
        .expect("the demo thread ends")
        .expect("demo runs");
    let printed = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert!(
        outcome.passed,
        "the demo's own checks: {:#?}\n{printed}",
        outcome.checks
    );
    (outcome, printed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_reverts_the_hotfixes_allows_the_pipeline_and_tickets_break_glass() {
    let (outcome, printed) = run_demo(true, false).await;
    assert!(outcome.emulator.is_some(), "kept running for inspection");

    // 80 columns, no colour codes when not asked for.
    for line in printed.lines() {
        assert!(
            line.chars().count() <= 80,
            "wider than 80 columns: {line:?}"
        );
        assert!(!line.contains('\x1b'), "colour without a TTY: {line:?}");
    }
    assert!(
        printed.contains("changes 5  tickets 4  reverted 3  allowed 1  ticketed 1  failed 0"),
        "{printed}"
    );

    // The final state, through the APIs.
    let sdk = driftguard_cli::emulator::sdk_config(&outcome.endpoint).await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let physical = physical_ids(&cfn, demo::app::STACK_NAME)
        .await
        .expect("stack resources");
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let ingress = |group: String| {
        let ec2 = ec2.clone();
        async move {
            ec2.describe_security_group_rules()
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("group-id")
                        .values(group)
                        .build(),
                )
                .send()
                .await
                .unwrap()
                .security_group_rules()
                .iter()
                .filter(|r| r.is_egress() == Some(false))
                .map(|r| {
                    (
                        r.from_port().unwrap(),
                        r.cidr_ipv4().unwrap_or_default().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    // Port 22 to the world is gone; the template's 443 rule stays.
    let web = ingress(physical["WebSecurityGroup"].clone()).await;
    assert!(!web.contains(&(22, "0.0.0.0/0".into())), "{web:?}");
    assert!(web.contains(&(443, "0.0.0.0/0".into())), "{web:?}");
    // The parameter is restored to the template's value.
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let value = |name: &'static str| {
        let ssm = ssm.clone();
        async move {
            ssm.get_parameter()
                .name(name)
                .send()
                .await
                .unwrap()
                .parameter()
                .unwrap()
                .value()
                .unwrap()
                .to_string()
        }
    };
    assert_eq!(
        value(demo::app::FLAGS_PARAMETER).await,
        demo::app::FLAGS_TEMPLATE_VALUE
    );
    // AdministratorAccess is detached.
    let attached = aws_sdk_iam::Client::new(&sdk)
        .list_attached_role_policies()
        .role_name(&physical["AppRole"])
        .send()
        .await
        .unwrap();
    assert!(attached
        .attached_policies()
        .iter()
        .all(|p| p.policy_arn() != Some(demo::app::ADMIN_POLICY)));
    // The pipeline's change is allowed: in place, no open ticket (at most the
    // closed ALLOWED record the sweep honours).
    assert_eq!(
        value(demo::app::RELEASE_PARAMETER).await,
        demo::app::RELEASE_PIPELINE_VALUE
    );
    let store = DynamoTicketStore::new(aws_sdk_dynamodb::Client::new(&sdk), &outcome.table);
    let app = demo::app::AppStack {
        name: demo::app::STACK_NAME.into(),
        physical: physical.clone(),
    };
    let ticket_of = |logical: &str| demo::checks::ticket_id(&app, logical);
    assert!(store
        .get_ticket(&ticket_of("ReleaseParameter"))
        .await
        .unwrap()
        .is_none_or(|t| t.state == driftguard_model::domain::TicketState::Allowed));
    // The break-glass change is ticketed and not reverted.
    let bastion = ingress(physical["BastionSecurityGroup"].clone()).await;
    assert!(
        bastion.contains(&(22, demo::app::BREAK_GLASS_CIDR.into())),
        "{bastion:?}"
    );
    let ticket = store
        .get_ticket(&ticket_of("BastionSecurityGroup"))
        .await
        .unwrap()
        .expect("break-glass ticket");
    assert_eq!(ticket.state, TicketState::Open);
    assert_eq!(ticket.last_actor.unwrap().kind, ActorKind::BreakGlass);
    // The three console hot-fixes' tickets are resolved.
    for logical in ["WebSecurityGroup", "FeatureFlagsParameter", "AppRole"] {
        let t = store
            .get_ticket(&ticket_of(logical))
            .await
            .unwrap()
            .expect(logical);
        assert_eq!(t.state, TicketState::Resolved, "{logical}");
    }
    // Four tickets; the pipeline's change leaves only a closed ALLOWED record.
    let tickets = store.list_tickets(None).await.unwrap();
    assert_eq!(
        tickets
            .iter()
            .filter(|t| t.state != TicketState::Allowed)
            .count(),
        4
    );
    assert!(tickets.len() <= 5);
    // One Slack message per ticket state change: OPEN and RESOLVED for each
    // reverted ticket, OPEN for the break-glass one.
    let mut announced: Vec<(String, String)> = outcome
        .slack_messages
        .iter()
        .map(|m| {
            (
                demo::slack::ticket_of(m).unwrap(),
                demo::slack::state_of(m).unwrap(),
            )
        })
        .collect();
    announced.sort();
    // Slack shows each ticket's display id (docs/architecture.md#ticket-ids).
    let shown =
        |logical: &str| driftguard_model::domain::display_id(&ticket_of(logical)).to_string();
    let mut expected: Vec<(String, String)> =
        ["WebSecurityGroup", "FeatureFlagsParameter", "AppRole"]
            .iter()
            .flat_map(|l| {
                [
                    (shown(l), "OPEN".to_string()),
                    (shown(l), "RESOLVED".to_string()),
                ]
            })
            .chain([(shown("BastionSecurityGroup"), "OPEN".to_string())])
            .collect();
    expected.sort();
    assert_eq!(announced, expected);

    // The operational commands work against the kept emulator.
    let target = driftguard_cli::ops::Target {
        endpoint: Some(outcome.endpoint.clone()),
        table: outcome.table.clone(),
        bus: outcome.bus.clone(),
    };
    let id = ticket_of("BastionSecurityGroup");
    // Approvals go through the approve function's handler (what its function
    // URL runs), the approver being the caller AWS authenticated.
    let approver = approve::Approver {
        tickets: Arc::new(DynamoTicketStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            outcome.table.clone(),
        )),
        bus: Arc::new(driftguard_adapters::eventbridge::EventBridgeBus::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            outcome.bus.clone(),
        )),
        clock: Arc::new(driftguard_core::ports::SystemClock),
        policy: Arc::new(
            driftguard_model::domain::policy::Policy::from_yaml(&format!(
                "identities:\n  approvers:\n    - principal: \"role/{CAROL_ROLE}\"\n"
            ))
            .unwrap()
            .with_home_account(CAROL_ACCOUNT),
        ),
    };
    // Approving a ticket that waits for nothing is refused.
    let refused =
        approve::handler::approve(&approver, &approval_request(&id, &"0".repeat(64))).await;
    assert_eq!(
        refused.code(),
        "not_awaiting_approval",
        "{}",
        refused.status()
    );
    // One that waits is approved for the plan it shows: the approval is on the
    // ticket and the wake-up event reaches remediate's queue through the
    // template's RemediateApprovalRule.
    let mut waiting = store.get_ticket(&id).await.unwrap().unwrap();
    waiting.state = TicketState::AwaitingApproval;
    waiting.approval_expires_at = Some(chrono::Utc::now() + chrono::Duration::hours(1));
    let plan = driftguard_model::domain::Plan {
        strategy: driftguard_model::domain::Strategy::InverseCall,
        calls: vec![],
        expected: "the demo's plan".into(),
        skipped: vec![],
    };
    waiting.plan = Some(plan.clone());
    waiting.version += 1;
    store.update_ticket(&waiting).await.unwrap();
    let other = approve::handler::approve(&approver, &approval_request(&id, &"0".repeat(64))).await;
    assert_eq!(other.code(), "digest_mismatch", "{}", other.status());
    let approved =
        approve::handler::approve(&approver, &approval_request(&id, &plan.digest())).await;
    assert_eq!(approved.status(), 200, "{}", approved.code());
    let stored = store.get_ticket(&id).await.unwrap().unwrap();
    let approval = stored.approval.expect("approval on the ticket");
    assert_eq!(approval.approver_arn, carol_arn());
    assert_eq!(approval.plan_digest, plan.digest());
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = sqs
        .get_queue_url()
        .queue_name("driftguard-remediate")
        .send()
        .await
        .unwrap();
    let got = driftguard_cli::emulator::resources::receive_json(
        &sqs,
        queue.queue_url().unwrap(),
        1,
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0]["detail-type"], "Drift Remediation Approved");
    assert_eq!(got[0]["detail"]["ticket_id"], id.as_str());
    assert_eq!(got[0]["detail"]["approved_by"], carol_arn().as_str());
    // Accepted instead: drift adopted on purpose.
    driftguard_cli::ops::accept(&target, &id, "carol", "incident fix kept")
        .await
        .unwrap();
    let accepted = store.get_ticket(&id).await.unwrap().unwrap();
    assert_eq!(accepted.state, TicketState::Accepted);
    assert!(accepted
        .history
        .iter()
        .any(|e| e.summary.contains("incident fix kept")));
    // Approving a ticket that waits for nothing is refused.
    let refused =
        approve::handler::approve(&approver, &approval_request(&id, &plan.digest())).await;
    assert_eq!(
        refused.code(),
        "not_awaiting_approval",
        "{}",
        refused.status()
    );
    drop(outcome); // stops the emulator
}

const CAROL_ACCOUNT: &str = "123456789012";
const CAROL_ROLE: &str = "AWSReservedSSO_Approver_0123456789abcdef";

fn carol_arn() -> String {
    format!("arn:aws:sts::{CAROL_ACCOUNT}:assumed-role/{CAROL_ROLE}/carol@example.com")
}

/// A function URL request as Lambda delivers it for an IAM-authenticated
/// caller (events/approve/approve-by-approver.json, re-addressed).
fn approval_request(
    ticket_id: &str,
    digest: &str,
) -> aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../events/approve/approve-by-approver.json"),
    )
    .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["requestContext"]["authorizer"]["iam"]["userArn"] = serde_json::Value::String(carol_arn());
    v["requestContext"]["authorizer"]["iam"]["accountId"] = CAROL_ACCOUNT.into();
    // The caller's ids agree with its ARN (approve refuses a mismatch).
    for key in ["userId", "callerId"] {
        v["requestContext"]["authorizer"]["iam"][key] = "AROAEXAMPLECAROL:carol@example.com".into();
    }
    v["requestContext"]["accountId"] = CAROL_ACCOUNT.into();
    v["body"] = serde_json::json!({"ticket_id": ticket_id, "plan_digest": digest})
        .to_string()
        .into();
    serde_json::from_value(v).unwrap()
}

/// `driftguard demo --member-account` (issue 15): the sixth change, in member
/// account 111111111111 (the example policy's prod environment), is looked up and reverted by the central functions
/// through the member's roles; its ticket is central.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_handles_a_member_accounts_change_centrally() {
    let (outcome, printed) = run_demo(false, true).await;
    let member = outcome
        .checks
        .iter()
        .find(|c| c.what.starts_with("member account"))
        .expect("the member account's check");
    assert!(member.ok, "{member:?}");
    assert!(
        printed.contains("changes 6  tickets 5  reverted 4  allowed 1  ticketed 1  failed 0"),
        "{printed}"
    );
    for line in printed.lines() {
        assert!(
            line.chars().count() <= 80,
            "wider than 80 columns: {line:?}"
        );
    }
}
