//! Issue 15, the organization sweep as deployed: the scheduled run sends one
//! message per member account and region to the sweep queue (SQS on moto);
//! each message, delivered as Lambda's SQS event, is swept by the sweep
//! function through the member's read role (STS `AssumeRole`, session
//! `driftguard-sweep`), with that part's own cursor
//! (`CURSOR#sweep#<account>#<region>`) and coverage keys; the ticket is in
//! the central table with the member's account. A message for an account
//! that is not watched, or one that does not parse, is left for retry
//! (`batchItemFailures`), so it ends in the queue's DLQ, never swept.
//!
//! Through the function's real wiring (`sweep::wire_all`) and handler
//! (`sweep::handler::handle_wired`) on moto; moto has no stack drift
//! detection (`sweep_moto.rs`), so the scanner is the scripted double.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_adapters::members::{AwsMemberAccounts, MemberRole};
use driftguard_cli::emulator::{ACCOUNT, REGION};
use driftguard_core::config::Config;
use driftguard_core::memory::sweep::{resource_drift, ScriptedDriftScanner};
use driftguard_core::ports::TicketStore;
use driftguard_core::sweep::SweepSettings;
use driftguard_model::domain::{DriftStatus, TicketState};
use integration_tests::stacks::deploy;
use serde_json::{json, Value};

const MEMBER: &str = "555555555555";
const STRANGER: &str = "444444444444";

fn template() -> String {
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "WebSG": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "web tier in the member"}}
        }
    })
    .to_string()
}

/// A message as Lambda delivers it from SQS (AWS's "Example standard queue
/// message event", https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html).
fn record(message_id: &str, body: &str) -> Value {
    json!({
        "messageId": message_id,
        "receiptHandle": "handle",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:parts"),
        "awsRegion": REGION
    })
}

async fn item(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
) -> Option<HashMap<String, AttributeValue>> {
    ddb.get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item()
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_run_fans_out_and_each_member_part_is_swept_through_its_role() {
    let (sdk, prefix, infra) = integration_tests::infra::setup("parts").await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let parts_url = sqs
        .create_queue()
        .queue_name(format!("{prefix}-parts"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();

    // The member's stack, created with the member's credentials.
    let member =
        AwsMemberAccounts::new(&sdk, MemberRole::new("driftguard-read", "driftguard-sweep"))
            .sdk_config(MEMBER, REGION);
    let cfn_m = aws_sdk_cloudformation::Client::new(&member);
    let stack = format!("{prefix}-app");
    let group = deploy(&cfn_m, &stack, &template()).await["WebSG"].clone();
    let scanner = Arc::new(ScriptedDriftScanner::new());
    scanner.set_drifts(
        &stack,
        vec![resource_drift(
            "WebSG",
            &group,
            "AWS::EC2::SecurityGroup",
            DriftStatus::Modified,
            &["/SecurityGroupIngress/1"],
        )],
    );

    let env: HashMap<&str, String> = HashMap::from([
        ("TABLE_NAME", infra.table.clone()),
        ("EVENT_BUS_NAME", infra.bus.clone()),
        ("SWEEP_STACK_GLOBS", format!("{prefix}-*")),
        ("SWEEP_QUEUE_URL", parts_url.clone()),
        ("WATCHED_ACCOUNTS", format!("{ACCOUNT},{MEMBER}")),
        ("WATCHED_REGIONS", REGION.into()),
        ("MEMBER_ROLE_NAME", "driftguard-read".into()),
    ]);
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let settings = SweepSettings::from_lookup(|k| env.get(k).cloned())
        .unwrap()
        .quick();
    let wired = sweep::wire_all(&config, settings, &sdk, Some(scanner.clone()))
        .await
        .expect("wire sweep");
    assert!(wired.fanout.is_some(), "queue and member role configured");

    // The scheduled run: this account swept (none of its stacks match), one
    // part sent, for the member in the one watched region.
    let scheduled: Value =
        serde_json::from_str(include_str!("../../../events/sweep/scheduled.json")).unwrap();
    let out =
        sweep::handler::handle_wired(&wired, scheduled, Instant::now() + Duration::from_secs(60))
            .await
            .expect("scheduled run");
    assert_eq!(out["member_parts_sent"], 1, "{out:#}");
    let received = sqs
        .receive_message()
        .queue_url(&parts_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let messages = received.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let body = messages[0].body().unwrap().to_string();
    let sent: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(sent["account"], MEMBER);
    assert_eq!(sent["region"], REGION);
    assert_eq!(sent["run_id"], "7bf73129-1428-4cd3-a780-95db273d1602");

    // The part, its deadline already past: nothing is started, the round
    // stays open in the part's own cursor (the central cursor untouched).
    let part_cursor = format!("CURSOR#sweep#{MEMBER}#{REGION}");
    let batch = json!({"Records": [record("m-1", &body)]});
    let out = sweep::handler::handle_wired(&wired, batch.clone(), Instant::now())
        .await
        .unwrap();
    assert_eq!(out, json!({"batchItemFailures": []}));
    assert!(
        item(&ddb, &infra.table, &part_cursor).await.is_some(),
        "the part's cursor"
    );

    // Delivered again with time: swept through the member's role, plus a
    // forged part for an unwatched account and garbage, both left for retry.
    let forged = body.replace(MEMBER, STRANGER);
    let batch = json!({"Records": [
        record("m-1", &body),
        record("m-forged", &forged),
        record("m-garbage", r#"{"run_id":"r","account":"555555555555"}"#),
    ]});
    let out = sweep::handler::handle_wired(&wired, batch, Instant::now() + Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({"batchItemFailures": [{"itemIdentifier": "m-forged"}, {"itemIdentifier": "m-garbage"}]})
    );
    assert!(
        item(&ddb, &infra.table, &part_cursor).await.is_none(),
        "round complete"
    );
    assert!(item(&ddb, &infra.table, "CURSOR#sweep").await.is_none());
    let cov = item(
        &ddb,
        &infra.table,
        &format!("COVERAGE#{MEMBER}#{REGION}#{stack}"),
    )
    .await
    .expect("the member stack's coverage, under the part's key");
    let cov: Value = serde_json::from_str(cov["body"].as_s().unwrap()).unwrap();
    assert_eq!(cov["drifted"], json!(["WebSG"]));
    assert!(item(&ddb, &infra.table, &format!("COVERAGE#{stack}"))
        .await
        .is_none());

    // One ticket, central, with the member's account.
    let tickets = DynamoTicketStore::new(ddb.clone(), infra.table.clone())
        .list_tickets(Some(TicketState::Open))
        .await
        .unwrap();
    let mine: Vec<_> = tickets
        .iter()
        .filter(|t| t.fingerprint.stack == stack)
        .collect();
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0].fingerprint.account, MEMBER);
    assert_eq!(mine[0].fingerprint.region, REGION);
    assert_eq!(
        mine[0].resource.physical_id.as_deref(),
        Some(group.as_str())
    );
}
