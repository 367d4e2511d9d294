//! Every crafted event under `events/adversarial/` goes through detect's real
//! path (parse → account check → classify → ownership → decide) with
//! `policy.example.yaml`, `WATCHED_ACCOUNTS=123456789012` and in-memory AWS
//! doubles, and ends as `events/adversarial/README.md` says: never
//! `pipeline`, `cloudformation`, `driftguard` or `break_glass` unless the
//! AWS-set fields prove it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The fixture-table helpers the model's fixture tests use (one copy).
#[path = "../../model/tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use driftguard_core::detect::{Outcome, Pipeline, Ports, Settings};
use driftguard_core::memory::catalog::{
    MemoryActorLookup, MemoryDriftDetector, MemoryStackCatalog,
};
use driftguard_core::memory::{FixedClock, MemoryBus, MemoryTicketStore};
use driftguard_core::resilience::RetryPolicy;
use driftguard_model::domain::{policy::Policy, ActorKind};

const HOME: &str = "123456789012";
const GROUP: &str = "sg-0a1b2c3d4e5f67890";

fn dir() -> PathBuf {
    common::events_dir("adversarial")
}

struct Row {
    file: String,
    kind: String,
    verdict: String,
}

fn rows() -> Vec<Row> {
    common::readme_table(&dir(), 4)
        .into_iter()
        .map(|c| Row {
            file: common::tick(&c[0]),
            kind: c[2].clone(),
            verdict: c[3].clone(),
        })
        .collect()
}

fn pipeline() -> Pipeline {
    let catalog = Arc::new(MemoryStackCatalog::new());
    catalog.add_stack("app", "UPDATE_COMPLETE");
    catalog.add_resource("app", "WebSG", "AWS::EC2::SecurityGroup", GROUP);
    let at = Utc.with_ymd_and_hms(2026, 3, 14, 9, 30, 0).unwrap();
    let store = Arc::new(MemoryTicketStore::new());
    store.set_now(at);
    let ports = Ports {
        catalog,
        drift: Arc::new(MemoryDriftDetector::new()),
        actors: Arc::new(MemoryActorLookup::new()),
        tickets: store,
        bus: Arc::new(MemoryBus::new()),
        ops_mirror: None,
        clock: Arc::new(FixedClock::new(at)),
    };
    let policy =
        Policy::from_path(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policy.example.yaml"))
            .unwrap();
    Pipeline::new(
        ports,
        Arc::new(policy),
        Settings {
            retry: RetryPolicy::quick(),
            watched_accounts: vec![HOME.into()],
            ..Settings::default()
        },
    )
}

/// Kinds only AWS-set facts may establish.
const TRUSTED: [ActorKind; 4] = [
    ActorKind::Pipeline,
    ActorKind::Cloudformation,
    ActorKind::Driftguard,
    ActorKind::BreakGlass,
];

#[tokio::test]
async fn no_crafted_event_steers_a_verdict() {
    let rows = rows();
    assert!(rows.len() >= 25, "at least 25 adversarial events");
    let listed: std::collections::BTreeSet<String> = rows.iter().map(|r| r.file.clone()).collect();
    let on_disk: std::collections::BTreeSet<String> = std::fs::read_dir(dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.ends_with(".json"))
        .collect();
    assert_eq!(listed, on_disk, "README table and files differ");

    for row in rows {
        let p = pipeline();
        let bytes = std::fs::read(dir().join(&row.file)).unwrap();
        let event: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let outcome = p.process_event(&event).await.unwrap();
        match outcome {
            Outcome::Decided(report) => {
                let kind = report.actor.kind;
                assert_eq!(
                    kind.as_str(),
                    row.kind,
                    "{}: evidence {:?}",
                    row.file,
                    report.actor.evidence
                );
                if TRUSTED.contains(&kind) {
                    assert_eq!(row.file, "genuine-pipeline.json", "{} is {kind}", row.file);
                }
                let action = serde_json::to_value(report.decision.verdict.action).unwrap();
                assert_eq!(
                    action.as_str().unwrap(),
                    row.verdict,
                    "{}: {}",
                    row.file,
                    report.decision.verdict.reason
                );
                if row.verdict != "allow" {
                    assert!(report.ticket.is_some(), "{}: no ticket", row.file);
                }
            }
            Outcome::Skipped { reason, detail, .. } => {
                assert_eq!(
                    row.verdict, "rejected",
                    "{}: skipped {reason}: {detail}",
                    row.file
                );
                assert_eq!(reason, "foreign_account", "{}", row.file);
            }
            other => panic!("{}: {other:?}", row.file),
        }
    }
}
