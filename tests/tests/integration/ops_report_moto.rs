//! `driftguard report` and `driftguard codify` read the ticket table on moto
//! (DynamoDB through the real SDK): the tickets are what detect and remediate
//! write for the demo's hot-fixes, stored with `DynamoTicketStore`.
use std::path::PathBuf;

use chrono::{Duration, Utc};
use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_cli::codify::{codify, load_ticket, Output};
use driftguard_cli::emulator::resources::create_ticket_table;
use driftguard_cli::emulator::workspace_root;
use driftguard_cli::ops::Target;
use driftguard_cli::report;
use driftguard_core::ports::TicketStore;
use driftguard_model::domain::out_of_template;
use driftguard_model::domain::{
    Drift, DriftOrigin, DriftStatus, Fingerprint, Observation, Ownership, Ticket, TicketState,
};
use integration_tests::{moto, unique};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path: PathBuf = workspace_root().join("events/detect").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A ticket as detect writes it for one of the demo's hot-fix events.
fn ticket_for(name: &str, logical_id: &str, state: TicketState, resolved_after: i64) -> Ticket {
    let Observation::Change(mut change) =
        driftguard_model::sources::parse_event(&fixture(name)).unwrap()
    else {
        panic!("{name} is not a change")
    };
    change.time = Utc::now() - Duration::hours(1);
    let fp = Fingerprint {
        account: change.account.clone(),
        region: change.region.clone(),
        stack: "shop-web".into(),
        logical_id: logical_id.into(),
    };
    let mut t = Ticket::new(fp, &change, &Ownership::NotChecked, change.time);
    t.event_drift = driftguard_model::sources::operations::request_drift(&change);
    t.last_change = Some((*change).clone());
    t.state = state;
    t.updated_at = change.time + Duration::seconds(resolved_after);
    t
}

#[tokio::test]
async fn report_and_codify_read_the_ticket_table() {
    let moto = moto();
    let config = moto.sdk_config_with_sdk_retries().await;
    let table = unique("report-tickets");
    create_ticket_table(&aws_sdk_dynamodb::Client::new(&config), &table)
        .await
        .unwrap();
    let store = DynamoTicketStore::new(aws_sdk_dynamodb::Client::new(&config), &table);

    let web = ticket_for(
        "console-sg-ingress.json",
        "WebSecurityGroup",
        TicketState::Resolved,
        90,
    );
    let flags = ticket_for(
        "console-ssm-put-parameter.json",
        "FeatureFlagsParameter",
        TicketState::Resolved,
        300,
    );
    let mut role = ticket_for(
        "console-iam-attach-role-policy.json",
        "AppRole",
        TicketState::Accepted,
        600,
    );
    // CloudFormation said IN_SYNC: the template declares no ManagedPolicyArns.
    let cfn = Drift {
        status: DriftStatus::InSync,
        differences: vec![],
        expected_properties: Some(serde_json::json!({"AssumeRolePolicyDocument": {}})),
        actual_properties: None,
        origin: DriftOrigin::Cloudformation,
        detected_at: None,
    };
    role.event_drift = out_of_template(&cfn, role.event_drift.as_ref());
    role.drift = Some(cfn);
    for t in [&web, &flags, &role] {
        store.create_ticket(t).await.unwrap();
    }

    let target = Target {
        endpoint: Some(moto.endpoint.clone()),
        table: table.clone(),
        bus: "unused".into(),
    };
    let r = report::collect(&target, Duration::days(7), Utc::now())
        .await
        .unwrap();
    assert_eq!(r.tickets, 3);
    assert_eq!(r.by_stack, vec![("shop-web".to_string(), 3)]);
    assert_eq!(r.state_count(TicketState::Resolved), 2);
    assert_eq!(r.state_count(TicketState::Accepted), 1);
    let s = r.time_to_revert.unwrap();
    assert_eq!((s.count, s.median, s.max), (2, 90.0, 300.0));
    let page = report::html(&r);
    assert!(page.contains("<svg") && page.contains("Drift by resource type"));
    // A window that ended before the tickets: nothing.
    let empty = report::collect(
        &target,
        Duration::minutes(1),
        Utc::now() - Duration::days(1),
    )
    .await
    .unwrap();
    assert_eq!(empty.tickets, 0);

    // codify reads the accepted ticket back from the table.
    let stored = load_ticket(&target, &role.id, None).await.unwrap();
    assert_eq!(stored.state, TicketState::Accepted);
    let template =
        std::fs::read_to_string(workspace_root().join("examples/app-stack.yaml")).unwrap();
    let c = codify(&stored, &template, "app-stack.yaml").unwrap();
    let Output::Diff(diff) = &c.output else {
        panic!("{:?}", c.output)
    };
    assert!(
        diff.contains(
            "+      ManagedPolicyArns:\n+      - arn:aws:iam::aws:policy/AdministratorAccess\n"
        ),
        "{diff}"
    );
    let missing = load_ticket(&target, "DG-000000000000", None)
        .await
        .unwrap_err();
    assert!(
        missing.to_string().contains("no ticket DG-000000000000"),
        "{missing}"
    );
}
