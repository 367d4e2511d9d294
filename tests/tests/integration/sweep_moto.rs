//! sweep against the moto emulator, with the real AWS SDK clients and the real
//! wiring (`sweep::wire_with_scanner`): stacks created through CloudFormation,
//! listed with `DescribeStacks` (moto pages at 50), tickets and the cursor and
//! coverage items in DynamoDB, decisions and the `Drift Sweep Summary` on the
//! bus (read back through an EventBridge rule → SQS).
//!
//! moto 5.2.5 has no stack drift detection (`DetectStackDrift`,
//! `DescribeStackDriftDetectionStatus`, `DescribeStackResourceDrifts` answer
//! HTTP 500), so the drift scanner is the scripted test double
//! `driftguard_core::memory::sweep::ScriptedDriftScanner`; the CloudFormation adapter for
//! those calls is covered with aws-smithy-mocks (`driftguard_core::sweep::aws`).
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::Tag;
use aws_sdk_dynamodb::types::AttributeValue;
use driftguard_adapters::cloudformation::CfnStackCatalog;
use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_cli::emulator::resources::{physical_ids, wait_for_stack};
use driftguard_core::config::Config;
use driftguard_core::memory::sweep::{resource_drift, ScriptedDriftScanner};
use driftguard_core::ports::{StackCatalog, TicketStore};
use driftguard_core::sweep::{RunContext, SweepSettings, SweepSummary, Sweeper};
use driftguard_model::domain::{DriftStatus, Ownership, ResourceRef, TicketState};
use integration_tests::infra::Infra;
use integration_tests::unique;
use serde_json::{json, Value};

/// Stacks beyond moto's `DescribeStacks` page of 50.
const EXTRA_STACKS: usize = 52;

struct Scenario {
    sdk: aws_config::SdkConfig,
    infra: Infra,
    prefix: String,
    app: String,
    physical: HashMap<String, String>,
    scanner: Arc<ScriptedDriftScanner>,
}

fn app_template(prefix: &str) -> String {
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "WebSG": {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "web tier"}},
            "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": format!("{prefix}-data")}},
            "Flag": {"Type": "AWS::SSM::Parameter", "Properties": {"Name": format!("/{prefix}/flag"), "Type": "String", "Value": "off"}}
        }
    })
    .to_string()
}

fn small_template(prefix: &str, i: usize) -> String {
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Param": {"Type": "AWS::SSM::Parameter", "Properties": {"Name": format!("/{prefix}/p{i}"), "Type": "String", "Value": "v"}}
        }
    })
    .to_string()
}

async fn scenario() -> Scenario {
    let (sdk, prefix, infra) = integration_tests::infra::setup("sweep").await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let app = format!("{prefix}-app");
    cfn.create_stack()
        .stack_name(&app)
        .template_body(app_template(&prefix))
        .tags(Tag::builder().key("team").value("core").build())
        .send()
        .await
        .expect("create app stack");
    wait_for_stack(&cfn, &app).await.expect("stack created");
    for i in 0..EXTRA_STACKS {
        let name = format!("{prefix}-p{i:02}");
        cfn.create_stack()
            .stack_name(&name)
            .template_body(small_template(&prefix, i))
            .send()
            .await
            .expect("create small stack");
    }
    let physical = physical_ids(&cfn, &app).await.expect("stack resources");
    assert!(!physical["WebSG"].is_empty(), "{physical:?}");
    Scenario {
        sdk,
        infra,
        prefix,
        app,
        physical,
        scanner: Arc::new(ScriptedDriftScanner::new()),
    }
}

impl Scenario {
    async fn sweeper(&self, extra: &[(&str, String)]) -> Sweeper {
        let mut env: HashMap<&str, String> = HashMap::from([
            ("TABLE_NAME", self.infra.table.clone()),
            ("EVENT_BUS_NAME", self.infra.bus.clone()),
            ("SWEEP_STACK_GLOBS", format!("{}-*", self.prefix)),
        ]);
        for (k, v) in extra {
            env.insert(k, v.clone());
        }
        let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
        let settings = SweepSettings::from_lookup(|k| env.get(k).cloned())
            .unwrap()
            .quick();
        sweep::wire_with_scanner(&config, settings, &self.sdk, Some(self.scanner.clone()))
            .await
            .expect("wire sweep")
    }

    fn drifts(&self, sg: DriftStatus) {
        self.scanner.set_drifts(
            &self.app,
            vec![
                resource_drift(
                    "WebSG",
                    &self.physical["WebSG"],
                    "AWS::EC2::SecurityGroup",
                    sg,
                    &["/SecurityGroupIngress/1"],
                ),
                resource_drift(
                    "Bucket",
                    &self.physical["Bucket"],
                    "AWS::S3::Bucket",
                    DriftStatus::InSync,
                    &[],
                ),
                resource_drift(
                    "Flag",
                    &self.physical["Flag"],
                    "AWS::SSM::Parameter",
                    DriftStatus::InSync,
                    &[],
                ),
            ],
        );
    }

    fn tickets(&self) -> DynamoTicketStore {
        DynamoTicketStore::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            self.infra.table.clone(),
        )
    }

    async fn item(&self, pk: &str) -> Option<HashMap<String, AttributeValue>> {
        self.infra.item(pk).await
    }

    async fn events(&self, expect: usize) -> Vec<Value> {
        self.infra
            .receive(expect, Duration::from_secs(5))
            .await
            .unwrap()
    }
}

fn ctx(deadline_in: Duration) -> RunContext {
    RunContext {
        run_id: unique("run"),
        account: "123456789012".into(),
        region: "us-east-1".into(),
        deadline: Instant::now() + deadline_in,
    }
}

#[tokio::test]
async fn sweep_tickets_drift_once_updates_it_on_rerun_and_resolves_it_when_in_sync() {
    let s = scenario().await;
    let sweeper = s.sweeper(&[]).await;
    s.drifts(DriftStatus::Modified);

    let summary = sweeper.run(&ctx(Duration::from_secs(120))).await.unwrap();
    let stacks = 1 + EXTRA_STACKS;
    assert!(summary.stacks.listed >= stacks, "{:?}", summary.stacks);
    assert_eq!(summary.stacks.selected, stacks, "paged past moto's 50");
    assert_eq!(summary.stacks.swept, stacks);
    assert!(summary.round_complete);
    assert_eq!(summary.drifted, 1);
    assert_eq!(summary.tickets_written, 1);
    // The app's 3 resources were checked; the small stacks' parameters were
    // not reported by the (scripted) detection: not checked, not "in sync".
    assert_eq!(summary.resources.checked, 3);
    assert_eq!(summary.resources.not_reported, EXTRA_STACKS);
    assert!(
        summary
            .coverage
            .starts_with(&format!("3 of {} resources checked", 3 + EXTRA_STACKS)),
        "{}",
        summary.coverage
    );

    let store = s.tickets();
    let tickets = store.list_tickets(Some(TicketState::Open)).await.unwrap();
    let mine: Vec<_> = tickets
        .iter()
        .filter(|t| t.fingerprint.stack == s.app)
        .collect();
    assert_eq!(mine.len(), 1);
    let ticket = mine[0].clone();
    assert_eq!(ticket.fingerprint.logical_id, "WebSG");
    assert_eq!(
        ticket.resource.physical_id.as_deref(),
        Some(s.physical["WebSG"].as_str())
    );
    let Ownership::Managed(m) = &ticket.ownership else {
        panic!("{:?}", ticket.ownership)
    };
    assert_eq!(m.stack_name, s.app);

    // The ownership index (ListStacks + ListStackResources on moto) agrees.
    let catalog = CfnStackCatalog::new(aws_sdk_cloudformation::Client::new(&s.sdk));
    let owner = catalog
        .owner_of(&ResourceRef::new(
            "AWS::EC2::SecurityGroup",
            s.physical["WebSG"].clone(),
        ))
        .await
        .unwrap();
    assert_eq!(owner.membership().unwrap().logical_id, "WebSG");
    assert_eq!(owner.membership().unwrap().stack_name, s.app);

    // Coverage item per stack; no cursor after a complete round.
    let cov = s
        .item(&format!("COVERAGE#{}", s.app))
        .await
        .expect("coverage item");
    let body: Value = serde_json::from_str(cov["body"].as_s().unwrap()).unwrap();
    assert_eq!(body["counts"]["checked"], 3);
    assert_eq!(body["drifted"], json!(["WebSG"]));
    assert!(cov.contains_key("ttl"));
    assert!(s.item("CURSOR#sweep").await.is_none());

    // On the bus: one decision and the summary.
    let events = s.events(2).await;
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"Drift Decision"), "{types:?}");
    let published = events
        .iter()
        .find(|e| e["detail-type"] == "Drift Sweep Summary")
        .expect("summary event");
    assert_eq!(published["source"], "driftguard");
    let detail: SweepSummary = serde_json::from_value(published["detail"].clone()).unwrap();
    assert_eq!(detail.run_id, summary.run_id);
    assert_eq!(detail.stack_coverage[0].stack_name, s.app, "drifted first");

    // Re-run (a new detection): the same ticket, updated, never a second one.
    sweeper.run(&ctx(Duration::from_secs(120))).await.unwrap();
    let again = store.get_ticket(&ticket.id).await.unwrap().unwrap();
    assert_eq!(again.state, TicketState::Open);
    assert_eq!(again.events_seen, 2);
    assert_eq!(again.version, ticket.version + 1);
    let all = store.list_tickets(None).await.unwrap();
    assert_eq!(
        all.iter().filter(|t| t.fingerprint.stack == s.app).count(),
        1
    );

    // Back IN_SYNC on a later run: RESOLVED, with the reason in its history.
    s.drifts(DriftStatus::InSync);
    let summary = sweeper.run(&ctx(Duration::from_secs(120))).await.unwrap();
    assert_eq!(summary.tickets_resolved, 1);
    let resolved = store.get_ticket(&ticket.id).await.unwrap().unwrap();
    assert_eq!(resolved.state, TicketState::Resolved);
    assert!(resolved
        .history
        .iter()
        .any(|e| e.summary.contains("back in sync")));
    let raw = s.item(&format!("TICKET#{}", ticket.id)).await.unwrap();
    assert_eq!(raw["state"].as_s().unwrap(), "RESOLVED");
}

#[tokio::test]
async fn a_run_near_its_deadline_leaves_a_cursor_and_the_next_run_resumes() {
    let s = scenario().await;
    let sweeper = s.sweeper(&[]).await;
    s.drifts(DriftStatus::Modified);
    // Within the safety margin from the start: nothing new is started.
    let summary = sweeper.run(&ctx(Duration::from_millis(100))).await.unwrap();
    assert_eq!(summary.stacks.not_started, 1 + EXTRA_STACKS);
    assert!(!summary.round_complete);
    let cursor = s.item("CURSOR#sweep").await.expect("cursor item");
    let body: Value = serde_json::from_str(cursor["body"].as_s().unwrap()).unwrap();
    assert_eq!(body["next_stack"], s.app.as_str());

    let summary = sweeper.run(&ctx(Duration::from_secs(120))).await.unwrap();
    assert!(summary.resumed && summary.round_complete);
    assert_eq!(summary.stacks.swept, 1 + EXTRA_STACKS);
    assert!(s.item("CURSOR#sweep").await.is_none());
}

#[tokio::test]
async fn the_required_tag_selects_stacks() {
    let s = scenario().await;
    let sweeper = s
        .sweeper(&[("SWEEP_REQUIRED_TAG", "team=core".to_string())])
        .await;
    s.drifts(DriftStatus::InSync);
    let summary = sweeper.run(&ctx(Duration::from_secs(120))).await.unwrap();
    assert_eq!(summary.stacks.selected, 1);
    assert_eq!(summary.stacks.swept, 1);
    assert_eq!(
        summary.not_selected.get("missing SWEEP_REQUIRED_TAG"),
        Some(&EXTRA_STACKS)
    );
    assert_eq!(summary.resources.checked, 3);
    assert_eq!(summary.tickets_written, 0);
}
