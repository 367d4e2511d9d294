//! Sweep at scale over a mocked CloudFormation client (aws-smithy-mocks): 500
//! stacks listed in pages of 50, every fifth CloudFormation response a
//! `Throttling` error (20%), detections that take two polls. Checked: every
//! stack swept, concurrency bounded (in the sweeper and as CloudFormation sees
//! open detections), never two detections on one stack, one ticket per drifted
//! resource across two runs.
//!
//! This test is the measurement source of the "Sweep at scale" section of
//! BENCHMARKS.md: `cargo test -p sweep --test sweep_scale -- --nocapture`
//! prints the figures (`SWEEP_SCALE ...` lines).
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::operation::describe_stack_drift_detection_status::{
    DescribeStackDriftDetectionStatusError, DescribeStackDriftDetectionStatusOutput,
};
use aws_sdk_cloudformation::operation::describe_stack_resource_drifts::{
    DescribeStackResourceDriftsError, DescribeStackResourceDriftsOutput,
};
use aws_sdk_cloudformation::operation::describe_stacks::{
    DescribeStacksError, DescribeStacksOutput,
};
use aws_sdk_cloudformation::operation::detect_stack_drift::{
    DetectStackDriftError, DetectStackDriftOutput,
};
use aws_sdk_cloudformation::operation::list_stack_resources::{
    ListStackResourcesError, ListStackResourcesOutput,
};
use aws_sdk_cloudformation::types::{
    PropertyDifference, ResourceStatus, Stack, StackDriftDetectionStatus, StackDriftStatus,
    StackResourceDrift, StackResourceDriftStatus, StackResourceSummary, StackStatus,
};
use aws_sdk_cloudformation::Client;
use aws_smithy_mocks::{mock, mock_client, MockResponse, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use driftguard_adapters::cloudformation::CfnStackCatalog;
use driftguard_adapters::sweep::CfnSweep;
use driftguard_core::detect::{Pipeline, Ports, Settings};
use driftguard_core::memory::catalog::{MemoryActorLookup, MemoryDriftDetector};
use driftguard_core::memory::sweep::MemorySweepStore;
use driftguard_core::memory::{MemoryBus, MemoryTicketStore};
use driftguard_core::ports::SystemClock;
use driftguard_core::resilience::RetryPolicy;
use driftguard_core::sweep::{RunContext, SweepPorts, SweepSettings, Sweeper};
use driftguard_model::domain::policy::Policy;

const STACKS: usize = 500;
const PAGE: usize = 50;
const CONCURRENCY: usize = 8;
/// Every tenth stack has a drifted security group.
const DRIFT_EVERY: usize = 10;

fn name(i: usize) -> String {
    format!("scale-{i:03}")
}

fn arn(i: usize) -> String {
    format!(
        "arn:aws:cloudformation:us-east-1:123456789012:stack/{}/0000-{i:04}",
        name(i)
    )
}

fn index_of(stack: &str) -> usize {
    let n = stack.split("scale-").nth(1).unwrap();
    n[..3].parse().unwrap()
}

fn stack(i: usize) -> Stack {
    Stack::builder()
        .stack_id(arn(i))
        .stack_name(name(i))
        .stack_status(StackStatus::UpdateComplete)
        .creation_time(aws_smithy_types::DateTime::from_secs(1_767_225_600))
        .build()
}

/// What CloudFormation would see: counters, open detections, throttling.
#[derive(Default)]
struct World {
    responses: AtomicUsize,
    throttled: AtomicUsize,
    open: Mutex<HashMap<String, (usize, usize)>>, // detection id -> (stack index, polls)
    open_per_stack: Mutex<HashMap<usize, usize>>,
    max_open: AtomicUsize,
    max_open_per_stack: AtomicUsize,
    next_id: AtomicUsize,
}

impl World {
    /// Every fifth response is throttled (20%).
    fn throttle(&self) -> bool {
        let n = self.responses.fetch_add(1, Ordering::SeqCst) + 1;
        let throttled = n % 5 == 0;
        if throttled {
            self.throttled.fetch_add(1, Ordering::SeqCst);
        }
        throttled
    }
}

fn throttling() -> ErrorMetadata {
    ErrorMetadata::builder()
        .code("Throttling")
        .message("Rate exceeded")
        .build()
}

fn client(world: Arc<World>) -> (Client, Vec<aws_smithy_mocks::Rule>) {
    let w = world.clone();
    let describe = mock!(Client::describe_stacks).then_compute_response(move |req| {
        if w.throttle() {
            return MockResponse::Error(DescribeStacksError::generic(throttling()));
        }
        if let Some(one) = req.stack_name() {
            return MockResponse::Output(
                DescribeStacksOutput::builder()
                    .stacks(stack(index_of(one)))
                    .build(),
            );
        }
        let start: usize = req.next_token().map(|t| t.parse().unwrap()).unwrap_or(0);
        let end = (start + PAGE).min(STACKS);
        let mut out =
            DescribeStacksOutput::builder().set_stacks(Some((start..end).map(stack).collect()));
        if end < STACKS {
            out = out.next_token(end.to_string());
        }
        MockResponse::Output(out.build())
    });
    let w = world.clone();
    let detect = mock!(Client::detect_stack_drift).then_compute_response(move |req| {
        if w.throttle() {
            return MockResponse::Error(DetectStackDriftError::generic(throttling()));
        }
        let i = index_of(req.stack_name().unwrap());
        let id = format!("det-{}", w.next_id.fetch_add(1, Ordering::SeqCst));
        let mut open = w.open.lock().unwrap();
        open.insert(id.clone(), (i, 0));
        w.max_open.fetch_max(open.len(), Ordering::SeqCst);
        let mut per_stack = w.open_per_stack.lock().unwrap();
        let n = per_stack.entry(i).or_default();
        *n += 1;
        w.max_open_per_stack.fetch_max(*n, Ordering::SeqCst);
        MockResponse::Output(
            DetectStackDriftOutput::builder()
                .stack_drift_detection_id(id)
                .build(),
        )
    });
    let w = world.clone();
    let status =
        mock!(Client::describe_stack_drift_detection_status).then_compute_response(move |req| {
            if w.throttle() {
                return MockResponse::Error(DescribeStackDriftDetectionStatusError::generic(
                    throttling(),
                ));
            }
            let id = req.stack_drift_detection_id().unwrap().to_string();
            let mut open = w.open.lock().unwrap();
            let (i, polls) = open
                .get_mut(&id)
                .map(|e| {
                    e.1 += 1;
                    *e
                })
                .unwrap();
            let done = polls >= 2;
            if done {
                open.remove(&id);
                *w.open_per_stack.lock().unwrap().entry(i).or_default() -= 1;
            }
            MockResponse::Output(
                DescribeStackDriftDetectionStatusOutput::builder()
                    .stack_id(arn(i))
                    .stack_drift_detection_id(id)
                    .detection_status(if done {
                        StackDriftDetectionStatus::DetectionComplete
                    } else {
                        StackDriftDetectionStatus::DetectionInProgress
                    })
                    .stack_drift_status(if i % DRIFT_EVERY == 0 {
                        StackDriftStatus::Drifted
                    } else {
                        StackDriftStatus::InSync
                    })
                    .timestamp(aws_smithy_types::DateTime::from_secs(1_772_400_000))
                    .build(),
            )
        });
    let w = world.clone();
    let drifts = mock!(Client::describe_stack_resource_drifts).then_compute_response(move |req| {
        if w.throttle() {
            return MockResponse::Error(DescribeStackResourceDriftsError::generic(throttling()));
        }
        let i = index_of(req.stack_name().unwrap());
        let sg = StackResourceDrift::builder()
            .stack_id(arn(i))
            .logical_resource_id("WebSG")
            .physical_resource_id(format!("sg-{i:04}"))
            .resource_type("AWS::EC2::SecurityGroup")
            .timestamp(aws_smithy_types::DateTime::from_secs(1_772_400_000));
        let sg = if i % DRIFT_EVERY == 0 {
            sg.stack_resource_drift_status(StackResourceDriftStatus::Modified)
                .property_differences(
                    PropertyDifference::builder()
                        .property_path("/SecurityGroupIngress/1")
                        .expected_value("null")
                        .actual_value("{\"CidrIp\":\"0.0.0.0/0\",\"FromPort\":22}")
                        .difference_type(aws_sdk_cloudformation::types::DifferenceType::Add)
                        .build(),
                )
        } else {
            sg.stack_resource_drift_status(StackResourceDriftStatus::InSync)
        };
        let bucket = StackResourceDrift::builder()
            .stack_id(arn(i))
            .logical_resource_id("Bucket")
            .physical_resource_id(format!("bucket-{i:04}"))
            .resource_type("AWS::S3::Bucket")
            .stack_resource_drift_status(StackResourceDriftStatus::InSync)
            .timestamp(aws_smithy_types::DateTime::from_secs(1_772_400_000));
        MockResponse::Output(
            DescribeStackResourceDriftsOutput::builder()
                .stack_resource_drifts(sg.build())
                .stack_resource_drifts(bucket.build())
                .build(),
        )
    });
    let w = world;
    let resources = mock!(Client::list_stack_resources).then_compute_response(move |req| {
        if w.throttle() {
            return MockResponse::Error(ListStackResourcesError::generic(throttling()));
        }
        let i = index_of(req.stack_name().unwrap());
        let summary = |id: &str, t: &str, p: String| {
            StackResourceSummary::builder()
                .logical_resource_id(id)
                .physical_resource_id(p)
                .resource_type(t)
                .resource_status(ResourceStatus::CreateComplete)
                .last_updated_timestamp(aws_smithy_types::DateTime::from_secs(1_767_225_600))
                .build()
        };
        MockResponse::Output(
            ListStackResourcesOutput::builder()
                .stack_resource_summaries(summary(
                    "WebSG",
                    "AWS::EC2::SecurityGroup",
                    format!("sg-{i:04}"),
                ))
                .stack_resource_summaries(summary(
                    "Bucket",
                    "AWS::S3::Bucket",
                    format!("bucket-{i:04}"),
                ))
                .stack_resource_summaries(summary("Hook", "Custom::Hook", format!("hook-{i:04}")))
                .build(),
        )
    });
    let rules = vec![describe, detect, status, drifts, resources];
    // The SDK's own retries are off: driftguard's retry (backoff + jitter) is
    // what is measured, and the mock cannot replay computed responses.
    let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, &rules, |c| c
        .retry_config(aws_sdk_cloudformation::config::retry::RetryConfig::disabled()));
    (client, rules)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_stacks_with_20_percent_throttling() {
    let world = Arc::new(World::default());
    let (cfn, rules) = client(world.clone());
    let tickets = Arc::new(MemoryTicketStore::new());
    let bus = Arc::new(MemoryBus::new());
    let store = Arc::new(MemorySweepStore::new());
    let clock = Arc::new(SystemClock);
    let quick = RetryPolicy {
        max_attempts: 8,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
        attempt_timeout: Duration::from_secs(10),
    };
    let pipeline = Arc::new(Pipeline::new(
        Ports {
            catalog: Arc::new(CfnStackCatalog::new(cfn.clone())),
            drift: Arc::new(MemoryDriftDetector::new()),
            actors: Arc::new(MemoryActorLookup::new()),
            tickets: tickets.clone(),
            bus: bus.clone(),
            ops_mirror: None,
            clock: clock.clone(),
        },
        Arc::new(Policy::default()),
        Settings {
            retry: quick,
            ..Settings::default()
        },
    ));
    let mut settings = SweepSettings::default().quick();
    settings.concurrency = CONCURRENCY;
    settings.retry = quick;
    let cfn_sweep = Arc::new(CfnSweep::new(cfn));
    let sweeper = Sweeper::new(
        SweepPorts {
            inventory: cfn_sweep.clone(),
            scanner: cfn_sweep,
            store: store.clone(),
            tickets: tickets.clone(),
            bus,
            clock,
        },
        pipeline,
        settings,
    );
    let ctx = RunContext {
        run_id: "scale".into(),
        account: "123456789012".into(),
        region: "us-east-1".into(),
        deadline: Instant::now() + Duration::from_secs(600),
    };

    let started = Instant::now();
    let summary = sweeper.run(&ctx).await.expect("sweep");
    let first_run = started.elapsed();
    let calls: Vec<(&str, usize)> = [
        "DescribeStacks",
        "DetectStackDrift",
        "DescribeStackDriftDetectionStatus",
        "DescribeStackResourceDrifts",
        "ListStackResources",
    ]
    .into_iter()
    .zip(rules.iter().map(|r| r.num_calls()))
    .collect();
    let total: usize = calls.iter().map(|(_, n)| n).sum();
    let throttled_first_run = world.throttled.load(Ordering::SeqCst);

    assert_eq!(summary.stacks.listed, STACKS);
    assert_eq!(summary.stacks.swept, STACKS, "{:?}", summary.stacks);
    assert!(summary.round_complete);
    assert_eq!(summary.drifted, STACKS / DRIFT_EVERY);
    assert_eq!(summary.resources.resources, 3 * STACKS);
    assert_eq!(summary.resources.checked, 2 * STACKS);
    assert_eq!(summary.resources.not_reported, STACKS);
    assert!(
        summary.max_in_flight <= CONCURRENCY,
        "{}",
        summary.max_in_flight
    );
    assert!(world.max_open.load(Ordering::SeqCst) <= CONCURRENCY);
    assert_eq!(
        world.max_open_per_stack.load(Ordering::SeqCst),
        1,
        "never two detections on one stack"
    );
    assert!(
        world.throttled.load(Ordering::SeqCst) * 5 >= total - 5,
        "20% throttled"
    );
    assert_eq!(tickets.tickets().len(), STACKS / DRIFT_EVERY);
    assert_eq!(store.coverage().len(), STACKS);

    // A second run: the same tickets, updated; none added.
    let started = Instant::now();
    sweeper.run(&ctx).await.expect("second sweep");
    let second_run = started.elapsed();
    let all = tickets.tickets();
    assert_eq!(all.len(), STACKS / DRIFT_EVERY, "no duplicate tickets");
    assert!(all.iter().all(|t| t.events_seen == 2));

    println!("SWEEP_SCALE stacks={STACKS} concurrency={CONCURRENCY} throttle_every=5");
    println!(
        "SWEEP_SCALE first_run_ms={} second_run_ms={} max_in_flight={} max_open_detections={}",
        first_run.as_millis(),
        second_run.as_millis(),
        summary.max_in_flight,
        world.max_open.load(Ordering::SeqCst)
    );
    println!(
        "SWEEP_SCALE first_run_calls total={total} throttled={throttled_first_run} {}",
        calls
            .iter()
            .map(|(op, n)| format!("{op}={n}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "SWEEP_SCALE two_runs_calls total={} throttled={} tickets={} coverage=\"{}\"",
        rules.iter().map(|r| r.num_calls()).sum::<usize>(),
        world.throttled.load(Ordering::SeqCst),
        all.len(),
        summary.coverage
    );
}
