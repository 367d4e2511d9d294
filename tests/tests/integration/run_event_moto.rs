//! `driftguard run-event` (the command `scripts/bench` times against Cloud
//! Custodian) on moto: the bench's own scenario — driftguard provisioned from
//! template.yaml, a CloudFormation stack whose security group a console user
//! opens to 0.0.0.0/0 on 22/tcp — then the CloudTrail event of that call run
//! through detect and remediate in one process. It must end verified, with
//! the rule gone when read back through EC2, the ticket RESOLVED, and a second
//! run of the same event acting on nothing.
use std::time::Instant;

use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_cli::bench_scenario;
use driftguard_cli::run_event::{self, RunOutcome};
use driftguard_core::ports::TicketStore;
use driftguard_model::domain::TicketState;
use integration_tests::own_moto;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_event_reverts_the_console_change_and_verifies_it() {
    let moto = own_moto();
    let sdk = moto.sdk_config_with_sdk_retries().await;
    let config = bench_scenario::config(&sdk).await.expect("provision");
    let dir = tempfile::tempdir().expect("temp dir");
    let event = dir.path().join("event.json");
    let mut printed = Vec::new();
    bench_scenario::open(&sdk, "bench-dg-test", Some(&event), &mut printed)
        .await
        .expect("scenario stack and the console change");
    let group = String::from_utf8(printed).unwrap().trim().to_string();
    assert!(
        bench_scenario::is_open(&sdk, &group).await.unwrap(),
        "opened"
    );

    let mut steps = Vec::new();
    let outcome = run_event::run_with(&event, &config, &sdk, Instant::now(), &mut steps)
        .await
        .expect("run-event");
    let steps = String::from_utf8(steps).unwrap();
    assert_eq!(outcome, RunOutcome::Verified, "{steps}");
    assert!(run_event::expect_revert(&outcome).is_ok());
    for step in ["wired", "detect", "remediate", "done"] {
        assert!(
            steps.contains(&format!("\"step\":\"{step}\"")),
            "{step}: {steps}"
        );
    }
    assert!(
        !bench_scenario::is_open(&sdk, &group).await.unwrap(),
        "22/tcp from 0.0.0.0/0 removed, read back through EC2"
    );
    let table = config.table_name.clone().expect("table");
    let store = DynamoTicketStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    let tickets = store.list_tickets(None).await.expect("tickets");
    let ours: Vec<_> = tickets
        .iter()
        .filter(|t| t.resource.physical_id.as_deref() == Some(group.as_str()))
        .collect();
    assert_eq!(ours.len(), 1, "one ticket: {tickets:#?}");
    assert_eq!(ours[0].state, TicketState::Resolved);

    // The same event again: a duplicate, nothing acted on.
    let mut again = Vec::new();
    let outcome = run_event::run_with(&event, &config, &sdk, Instant::now(), &mut again)
        .await
        .expect("second run");
    let again = String::from_utf8(again).unwrap();
    assert!(
        matches!(outcome, RunOutcome::NotReverted(_)),
        "a re-delivered event is not remediated again: {again}"
    );
    let after = store.list_tickets(None).await.expect("tickets");
    assert_eq!(
        after
            .iter()
            .filter(|t| t.resource.physical_id.as_deref() == Some(group.as_str()))
            .count(),
        1,
        "still one ticket"
    );
}
