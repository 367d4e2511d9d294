//! Sweep at organization scale (issue 15), simulated: 100 member accounts ×
//! 3 regions × 20 stacks, each account-region its own part with its own
//! in-memory CloudFormation (stacks, resources, stack drift detection that
//! takes a poll) and its own cursor, swept through
//! `driftguard_core::sweep::fanout::sweep_parts` at most 10 parts at once; one
//! account's role is missing. Checked: concurrency bounded, every other
//! account fully swept (none starved), one coverage line per account, the
//! missing role a coverage entry, tickets in the central store keyed by
//! their account and region.
//!
//! The measurement source of "Sweep at organization scale" in BENCHMARKS.md:
//! `cargo test -p shared --test org_sweep -- --nocapture` prints the
//! `ORG_SWEEP` lines.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use driftguard_core::detect::{Pipeline, Ports, Settings};
use driftguard_core::memory::catalog::{
    MemoryActorLookup, MemoryDriftDetector, MemoryStackCatalog,
};
use driftguard_core::memory::sweep::{resource_drift, MemorySweepStore, ScriptedDriftScanner};
use driftguard_core::memory::{MemoryBus, MemoryTicketStore};
use driftguard_core::ports::sweep::PartSweepers;
use driftguard_core::ports::SystemClock;
use driftguard_core::resilience::RetryPolicy;
use driftguard_core::sweep::fanout::{plan_parts, sweep_parts, SweepPart};
use driftguard_core::sweep::{RunContext, SweepPorts, SweepSettings, Sweeper};
use driftguard_model::domain::{policy::Policy, DriftStatus};
use driftguard_model::error::{PortError, PortResult};

const ACCOUNTS: usize = 100;
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];
const STACKS: usize = 20;
const PARTS_AT_ONCE: usize = 10;
/// Every tenth stack has a drifted security group.
const DRIFT_EVERY: usize = 10;
/// This account's member role is missing.
const NO_ROLE: usize = 57;

fn account(i: usize) -> String {
    format!("{:012}", 100_000_000_000 + i)
}

/// One part's world, built when the part is swept (as a member role's
/// clients would be).
struct Org {
    tickets: Arc<MemoryTicketStore>,
    bus: Arc<MemoryBus>,
}

#[async_trait]
impl PartSweepers for Org {
    async fn sweeper(&self, part: &SweepPart) -> PortResult<Arc<Sweeper>> {
        if part.account == account(NO_ROLE) {
            return Err(PortError::Failed {
                service: "sts",
                operation: "AssumeRole",
                message: format!(
                    "arn:aws:iam::{}:role/driftguard-read: AccessDenied",
                    part.account
                ),
            });
        }
        let catalog = Arc::new(MemoryStackCatalog::new());
        let scanner = Arc::new(ScriptedDriftScanner::new());
        for s in 0..STACKS {
            let name = format!("app-{s:02}");
            catalog.add_stack_in(&name, "UPDATE_COMPLETE", &part.account, &part.region);
            let sg = format!("sg-{}-{}-{s:02}", part.account, part.region);
            let bucket = format!("bucket-{}-{}-{s:02}", part.account, part.region);
            catalog.add_resource(&name, "WebSG", "AWS::EC2::SecurityGroup", &sg);
            catalog.add_resource(&name, "Bucket", "AWS::S3::Bucket", &bucket);
            let sg_status = if s % DRIFT_EVERY == 0 {
                DriftStatus::Modified
            } else {
                DriftStatus::InSync
            };
            let paths: &[&str] = if s % DRIFT_EVERY == 0 {
                &["/SecurityGroupIngress/1"]
            } else {
                &[]
            };
            scanner.set_drifts(
                &name,
                vec![
                    resource_drift("WebSG", &sg, "AWS::EC2::SecurityGroup", sg_status, paths),
                    resource_drift(
                        "Bucket",
                        &bucket,
                        "AWS::S3::Bucket",
                        DriftStatus::InSync,
                        &[],
                    ),
                ],
            );
        }
        scanner
            .polls_until_complete
            .store(1, std::sync::atomic::Ordering::SeqCst);
        let clock = Arc::new(SystemClock);
        let pipeline = Arc::new(Pipeline::new(
            Ports {
                catalog: catalog.clone(),
                drift: Arc::new(MemoryDriftDetector::new()),
                actors: Arc::new(MemoryActorLookup::new()),
                tickets: self.tickets.clone(),
                bus: self.bus.clone(),
                ops_mirror: None,
                clock: clock.clone(),
            },
            Arc::new(Policy::default()),
            Settings {
                retry: RetryPolicy::quick(),
                ..Settings::default()
            },
        ));
        let mut settings = SweepSettings::default().quick();
        settings.concurrency = 4;
        Ok(Arc::new(Sweeper::new(
            SweepPorts {
                inventory: catalog,
                scanner,
                // Each part its own cursor.
                store: Arc::new(MemorySweepStore::new()),
                tickets: self.tickets.clone(),
                bus: self.bus.clone(),
                clock,
            },
            pipeline,
            settings,
        )))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_accounts_three_regions_twenty_stacks_each() {
    let accounts: Vec<String> = (0..ACCOUNTS).map(account).collect();
    let regions: Vec<String> = REGIONS.iter().map(|r| r.to_string()).collect();
    let parts = plan_parts(&accounts, &regions);
    assert_eq!(parts.len(), ACCOUNTS * REGIONS.len());
    let org = Org {
        tickets: Arc::new(MemoryTicketStore::new()),
        bus: Arc::new(MemoryBus::new()),
    };
    let started = Instant::now();
    let run = sweep_parts(&parts, PARTS_AT_ONCE, &org, |p| RunContext {
        run_id: format!("org-{}-{}", p.account, p.region),
        account: p.account.clone(),
        region: p.region.clone(),
        deadline: Instant::now() + Duration::from_secs(600),
    })
    .await;
    let elapsed = started.elapsed();

    assert!(run.max_in_flight <= PARTS_AT_ONCE, "{}", run.max_in_flight);
    assert_eq!(run.max_in_flight, PARTS_AT_ONCE, "the bound is reached");
    assert_eq!(run.finished.len(), parts.len(), "every part finished");
    assert_eq!(
        run.accounts.len(),
        ACCOUNTS,
        "one coverage line per account"
    );
    for c in &run.accounts {
        if c.account == account(NO_ROLE) {
            assert_eq!((c.regions_swept, c.problems.len()), (0, 3), "{}", c.line());
            assert!(c.line().contains("AccessDenied"), "{}", c.line());
            continue;
        }
        assert_eq!(
            (
                c.regions_swept,
                c.stacks_swept,
                c.resources,
                c.checked,
                c.drifted
            ),
            (
                3,
                3 * STACKS,
                3 * STACKS * 2,
                3 * STACKS * 2,
                3 * STACKS / DRIFT_EVERY
            ),
            "not starved: {}",
            c.line()
        );
    }
    // Tickets: one per drifted resource, central, keyed by account and region.
    let tickets = org.tickets.tickets();
    let swept_accounts = ACCOUNTS - 1;
    assert_eq!(
        tickets.len(),
        swept_accounts * REGIONS.len() * STACKS / DRIFT_EVERY
    );
    let places: HashSet<(String, String)> = tickets
        .iter()
        .map(|t| (t.fingerprint.account.clone(), t.fingerprint.region.clone()))
        .collect();
    assert_eq!(places.len(), swept_accounts * REGIONS.len());
    // No account waits for all the others: the last part of every account
    // finishes within the last third of the round at worst, the first part
    // of every account within the first third (parts interleave accounts).
    let mut first_done: BTreeMap<&str, usize> = BTreeMap::new();
    let mut last_done: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, p) in run.finished.iter().enumerate() {
        first_done.entry(p.account.as_str()).or_insert(i);
        last_done.insert(p.account.as_str(), i);
    }
    let worst_first = first_done.values().max().copied().unwrap_or_default();
    assert!(
        worst_first < parts.len() / REGIONS.len() + PARTS_AT_ONCE,
        "some account's first part waited until position {worst_first}"
    );

    println!(
        "ORG_SWEEP accounts={ACCOUNTS} regions={} stacks_per_region={STACKS} parts={} parts_at_once={PARTS_AT_ONCE} missing_role_accounts=1",
        REGIONS.len(),
        parts.len()
    );
    println!(
        "ORG_SWEEP elapsed_ms={} max_in_flight={} tickets={} worst_first_part_position={worst_first} of {}",
        elapsed.as_millis(),
        run.max_in_flight,
        tickets.len(),
        parts.len()
    );
    for c in run.accounts.iter().take(2) {
        println!("ORG_SWEEP coverage {}", c.line());
    }
    let missing = run
        .accounts
        .iter()
        .find(|c| c.account == account(NO_ROLE))
        .unwrap();
    println!("ORG_SWEEP coverage {}", missing.line());
}
