//! Known-good templates from deploys and `driftguard rollback` requests, on
//! moto with the real SDK clients and wiring.
//!
//! moto never emits CloudFormation events itself: the test puts the
//! documented-shape `CloudFormation Stack Status Change` envelope
//! (`events/detect/cfn-stack-status-update-complete.json`, after
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/eventbridge-integration.html>)
//! through detect's pipeline, as EventBridge would deliver it. moto's
//! `DescribeChangeSet` lists no `Changes` (docs/testing.md): the preview is
//! empty here; the change lists are covered by the memory tests.

use driftguard_adapters::changesets::CfnChangeSets;
use driftguard_adapters::cloudformation::CfnStackCatalog;
use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_adapters::template_history::DynamoTemplateHistory;
use driftguard_cli::emulator::resources::create_stack;
use driftguard_cli::emulator::resources::wait_for_status;
use driftguard_cli::emulator::{ACCOUNT, REGION};
use driftguard_core::ports::remediate::TemplateHistory;
use driftguard_core::ports::TicketStore;
use driftguard_core::remediate::executor::WaitPolicy;
use driftguard_core::resilience::RetryPolicy;
use driftguard_model::domain::TicketState;
use serde_json::{json, Value};

fn template(prefix: &str, value: &str) -> String {
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Flag": {"Type": "AWS::SSM::Parameter", "Properties": {
                "Name": format!("/{prefix}/flag"), "Type": "String", "Value": value}}
        }
    })
    .to_string()
}

fn status_event(id: &str, stack_id: &str, status: &str) -> Value {
    let mut e: Value = serde_json::from_str(include_str!(
        "../../../events/detect/cfn-stack-status-update-complete.json"
    ))
    .unwrap();
    e["id"] = json!(id);
    e["account"] = json!(ACCOUNT);
    e["region"] = json!(REGION);
    e["resources"] = json!([stack_id]);
    e["detail"]["stack-id"] = json!(stack_id);
    e["detail"]["status-details"]["status"] = json!(status);
    e
}

#[tokio::test]
async fn deploy_events_record_versions_and_a_rollback_request_waits_for_approval() {
    let (sdk, prefix, infra) = integration_tests::infra::setup("knowngood").await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let stack = format!("{prefix}-app");
    create_stack(&cfn, &stack, &template(&prefix, "v1"))
        .await
        .expect("stack created");
    let described = cfn
        .describe_stacks()
        .stack_name(&stack)
        .send()
        .await
        .unwrap();
    let stack_id = described.stacks()[0].stack_id().unwrap().to_string();

    let (config, _policy) = infra.config("version: 1\n", &[]);
    let pipeline = detect::wire(&config, &sdk).await.expect("wire detect");
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let history = DynamoTemplateHistory::new(ddb.clone(), infra.table.clone());

    // CREATE_COMPLETE (twice: the same template is one version).
    for id in ["kg-1", "kg-1b"] {
        let e = status_event(&format!("{prefix}-{id}"), &stack_id, "CREATE_COMPLETE");
        pipeline.process_event(&e).await.expect("status event");
    }
    let v = history.versions(&stack).await.unwrap();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].template_body.contains("v1"), "{}", v[0].template_body);

    // A deploy of a new template: the next version.
    cfn.update_stack()
        .stack_name(&stack)
        .template_body(template(&prefix, "v2"))
        .send()
        .await
        .expect("update stack");
    wait_for_status(&cfn, &stack, "UPDATE_COMPLETE")
        .await
        .expect("stack updated");
    let e = status_event(&format!("{prefix}-kg-2"), &stack_id, "UPDATE_COMPLETE");
    pipeline.process_event(&e).await.expect("status event");
    let v = history.versions(&stack).await.unwrap();
    assert_eq!(v.iter().map(|k| k.version).collect::<Vec<_>>(), [1, 2]);
    assert!(v[1].template_body.contains("v2"));

    // `driftguard rollback STACK`: the plan back to version 1, stored awaiting approval.
    let catalog = CfnStackCatalog::new(cfn.clone());
    let change_sets = CfnChangeSets::new(cfn.clone(), RetryPolicy::quick());
    let tickets = DynamoTicketStore::new(ddb, &infra.table);
    let ports = driftguard_cli::rollback::RollbackPorts {
        catalog: &catalog,
        history: &history,
        change_sets: &change_sets,
        tickets: &tickets,
        wait: WaitPolicy::quick(),
        approval_ttl_minutes: 60,
    };
    let args = |dry_run| driftguard_cli::rollback::RollbackArgs {
        stack: stack.clone(),
        to: None,
        dry_run,
    };
    let dry = driftguard_cli::rollback::request(&ports, &args(true), chrono::Utc::now())
        .await
        .expect("dry run");
    assert!(dry.ticket.is_none());
    let r = driftguard_cli::rollback::request(&ports, &args(false), chrono::Utc::now())
        .await
        .expect("rollback request");
    let id = r.ticket.as_ref().unwrap().id.clone();
    let stored = tickets
        .get_ticket(&id)
        .await
        .unwrap()
        .expect("ticket stored");
    assert_eq!(stored.state, TicketState::AwaitingApproval);
    let plan = stored.plan.unwrap();
    assert_eq!(plan.digest(), r.digest);
    let body = plan.calls[0].parameters["TemplateBody"].as_str().unwrap();
    assert!(body.contains("v1"), "back to version 1: {body}");
}
