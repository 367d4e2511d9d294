//! Sweep runs over in-memory ports: tickets, resolution, cursor, concurrency.
#![allow(clippy::unwrap_used)]
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeZone;

use crate::detect::{Pipeline, Ports, Settings};
use crate::memory::catalog::{MemoryActorLookup, MemoryDriftDetector, MemoryStackCatalog};
use crate::memory::{FixedClock, MemoryBus, MemoryTicketStore};
use crate::ports::TicketStore;
use crate::resilience::RetryPolicy;
use driftguard_model::domain::EntryKind;
use driftguard_model::domain::{policy::Policy, DriftStatus, TicketState};
use driftguard_model::events::SWEEP_SUMMARY;
use driftguard_model::testing::changes::sg_change;
use driftguard_model::testing::identities::role;
use driftguard_model::testing::policies::{self, sg_revert, PIPELINE};

use super::coverage::StackOutcome;
use super::orchestrator::resolve::resolution;
use super::orchestrator::{RunContext, SweepPorts, Sweeper};
use super::settings::SweepSettings;
use super::summary::SweepSummary;
use crate::memory::sweep::{resource_drift, MemorySweepStore, ScriptedDriftScanner};

fn t0() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap()
}

struct Harness {
    catalog: Arc<MemoryStackCatalog>,
    /// The pipeline the sweep feeds (events go through it too).
    pipeline: Arc<Pipeline>,
    drift: Arc<MemoryDriftDetector>,
    scanner: Arc<ScriptedDriftScanner>,
    store: Arc<MemorySweepStore>,
    tickets: Arc<MemoryTicketStore>,
    bus: Arc<MemoryBus>,
    clock: Arc<FixedClock>,
    sweeper: Sweeper,
}

fn harness(settings: SweepSettings) -> Harness {
    harness_policy(settings, Policy::default())
}

fn harness_policy(settings: SweepSettings, policy: Policy) -> Harness {
    let catalog = Arc::new(MemoryStackCatalog::new());
    catalog.add_stack("app", "UPDATE_COMPLETE");
    catalog.add_resource("app", "WebSG", "AWS::EC2::SecurityGroup", "sg-0abc");
    catalog.add_resource("app", "Bucket", "AWS::S3::Bucket", "app-bucket");
    catalog.add_resource("app", "Hook", "Custom::Hook", "hook-1");
    let scanner = Arc::new(ScriptedDriftScanner::new());
    let store = Arc::new(MemorySweepStore::new());
    let tickets = Arc::new(MemoryTicketStore::new());
    tickets.set_now(t0());
    let bus = Arc::new(MemoryBus::new());
    let clock = Arc::new(FixedClock::new(t0()));
    let drift = Arc::new(MemoryDriftDetector::new());
    let pipeline = Arc::new(Pipeline::new(
        Ports {
            catalog: catalog.clone(),
            drift: drift.clone(),
            actors: Arc::new(MemoryActorLookup::new()),
            tickets: tickets.clone(),
            bus: bus.clone(),
            ops_mirror: None,
            clock: clock.clone(),
        },
        Arc::new(policy),
        Settings {
            retry: RetryPolicy::quick(),
            ..Settings::default()
        },
    ));
    let sweeper = Sweeper::new(
        SweepPorts {
            inventory: catalog.clone(),
            scanner: scanner.clone(),
            store: store.clone(),
            tickets: tickets.clone(),
            bus: bus.clone(),
            clock: clock.clone(),
        },
        pipeline.clone(),
        settings,
    );
    Harness {
        catalog,
        pipeline,
        drift,
        scanner,
        store,
        tickets,
        bus,
        clock,
        sweeper,
    }
}

fn ctx(deadline_in: Duration) -> RunContext {
    RunContext {
        run_id: "run-1".into(),
        account: "123456789012".into(),
        region: "us-east-1".into(),
        deadline: Instant::now() + deadline_in,
    }
}

fn quick() -> SweepSettings {
    SweepSettings::default().quick()
}

fn summaries(bus: &MemoryBus) -> Vec<SweepSummary> {
    bus.published()
        .into_iter()
        .filter(|(t, _)| t == SWEEP_SUMMARY)
        .map(|(_, d)| serde_json::from_value(d).unwrap())
        .collect()
}

fn modified_sg() -> Vec<crate::ports::sweep::ResourceDrift> {
    vec![
        resource_drift(
            "WebSG",
            "sg-0abc",
            "AWS::EC2::SecurityGroup",
            DriftStatus::Modified,
            &["/SecurityGroupIngress/1"],
        ),
        resource_drift(
            "Bucket",
            "app-bucket",
            "AWS::S3::Bucket",
            DriftStatus::InSync,
            &[],
        ),
    ]
}

#[tokio::test]
async fn drift_opens_one_ticket_reruns_update_it_and_in_sync_resolves_it() {
    let h = harness(quick());
    h.scanner.set_drifts("app", modified_sg());
    let s = h.sweeper.run(&ctx(Duration::from_secs(60))).await.unwrap();
    assert_eq!(s.stacks.swept, 1);
    assert_eq!(s.drifted, 1);
    assert_eq!(s.tickets_written, 1);
    // Hook (a custom resource) is not in the drift results: not checked.
    assert_eq!(s.resources.resources, 3);
    assert_eq!(s.resources.checked, 2);
    assert_eq!(s.resources.not_reported, 1);
    assert!(
        s.coverage.starts_with("2 of 3 resources checked"),
        "{}",
        s.coverage
    );
    let tickets = h.tickets.tickets();
    assert_eq!(tickets.len(), 1);
    let t = &tickets[0];
    assert_eq!(t.state, TicketState::Open);
    assert_eq!(t.fingerprint.stack, "app");
    assert_eq!(t.fingerprint.logical_id, "WebSG");
    assert_eq!(
        t.drift.as_ref().unwrap().property_paths(),
        ["/SecurityGroupIngress/1"]
    );

    // A second run (a new detection): the same ticket, updated.
    h.clock.advance(chrono::Duration::hours(6));
    h.sweeper.run(&ctx(Duration::from_secs(60))).await.unwrap();
    let tickets = h.tickets.tickets();
    assert_eq!(tickets.len(), 1, "never a second ticket");
    assert_eq!(tickets[0].events_seen, 2);
    assert_eq!(tickets[0].state, TicketState::Open);

    // NOT_CHECKED never resolves.
    h.clock.advance(chrono::Duration::hours(6));
    h.scanner.set_drifts(
        "app",
        vec![resource_drift(
            "WebSG",
            "sg-0abc",
            "AWS::EC2::SecurityGroup",
            DriftStatus::NotChecked,
            &[],
        )],
    );
    let s = h.sweeper.run(&ctx(Duration::from_secs(60))).await.unwrap();
    assert_eq!(s.tickets_resolved, 0);
    assert_eq!(h.tickets.tickets()[0].state, TicketState::Open);
    assert_eq!(s.resources.checked, 0);
    assert!(!s.coverage.contains("in sync"), "{}", s.coverage);

    // IN_SYNC after a completed detection resolves it, with a history entry.
    h.clock.advance(chrono::Duration::hours(6));
    h.scanner.set_drifts(
        "app",
        vec![resource_drift(
            "WebSG",
            "sg-0abc",
            "AWS::EC2::SecurityGroup",
            DriftStatus::InSync,
            &[],
        )],
    );
    let s = h.sweeper.run(&ctx(Duration::from_secs(60))).await.unwrap();
    assert_eq!(s.tickets_resolved, 1);
    let t = &h.tickets.tickets()[0];
    assert_eq!(t.state, TicketState::Resolved);
    assert!(t
        .history
        .iter()
        .any(|e| e.kind == EntryKind::Verified && e.summary.contains("IN_SYNC")));
    assert_eq!(summaries(&h.bus).len(), 4);
    let coverage = h.store.coverage();
    assert_eq!(coverage["app"].resolved, vec![t.id.clone()]);
}

#[tokio::test]
async fn rereading_one_detection_is_idempotent() {
    let h = harness(quick());
    h.scanner.set_drifts("app", modified_sg());
    h.scanner.set_busy("app", Some("det-running"));
    h.sweeper.run(&ctx(Duration::from_secs(60))).await.unwrap();
    h.scanner.set_busy("app", Some("det-running"));
    h.sweeper.run(&ctx(Duration::from_secs(60))).await.unwrap();
    let t = &h.tickets.tickets()[0];
    assert_eq!(t.events_seen, 1, "the same detection is recorded once");
    assert_eq!(
        h.scanner.starts.load(Ordering::SeqCst),
        2,
        "no new detection started while one runs"
    );
}

/// The ticket a sweep's detection `det-1` of `modified_sg()` opens at
/// `t0()` (ownership left unresolved), and the sweep's change.
fn swept_ticket() -> (
    driftguard_model::domain::Ticket,
    driftguard_model::domain::Change,
) {
    let change = crate::sweep::orchestrator::change_for_drift(
        &crate::ports::StackSummary {
            stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/app/0".into(),
            stack_name: "app".into(),
            status: "UPDATE_COMPLETE".into(),
            tags: Default::default(),
        },
        "det-1",
        &modified_sg()[0],
        "123456789012",
        "us-east-1",
        t0(),
    );
    let ownership = driftguard_model::domain::Ownership::Unmanaged;
    let fp = driftguard_model::domain::Fingerprint::for_change(&change, &ownership);
    let t = driftguard_model::domain::Ticket::new(fp, &change, &ownership, t0());
    (t, change)
}

#[test]
fn resolution_respects_state_and_time() {
    let h = harness(quick());
    let _ = &h.catalog;
    let (mut t, change) = swept_ticket();
    t.last_change = Some(change);
    // A check older than the last change proves nothing.
    assert!(resolution(t.clone(), t0() - chrono::Duration::seconds(1), "d", t0()).is_none());
    let r = resolution(t.clone(), t0(), "d", t0()).unwrap();
    assert_eq!((r.state, r.version), (TicketState::Resolved, t.version + 1));
    t.state = TicketState::Remediating;
    assert!(resolution(t.clone(), t0(), "d", t0()).is_none());
    t.state = TicketState::Accepted;
    assert!(resolution(t, t0(), "d", t0()).is_none());
}

#[tokio::test]
async fn detection_failed_feeds_drift_but_resolves_nothing() {
    struct FailedScanner(ScriptedDriftScanner);
    #[async_trait::async_trait]
    impl crate::ports::sweep::StackDriftScanner for FailedScanner {
        async fn start_detection(
            &self,
            stack: &str,
        ) -> driftguard_model::error::PortResult<crate::ports::sweep::DetectionStart> {
            self.0.start_detection(stack).await
        }
        async fn detection_status(
            &self,
            id: &str,
        ) -> driftguard_model::error::PortResult<crate::ports::sweep::DetectionStatus> {
            let mut s = self.0.detection_status(id).await?;
            s.state = crate::ports::sweep::DetectionState::DetectionFailed;
            s.reason = Some("Failed to detect drift on resource [Hook]".into());
            Ok(s)
        }
        async fn resource_drifts_page(
            &self,
            stack: &str,
            token: Option<String>,
        ) -> driftguard_model::error::PortResult<
            crate::ports::sweep::Page<crate::ports::sweep::ResourceDrift>,
        > {
            self.0.resource_drifts_page(stack, token).await
        }
    }
    let h = harness(quick());
    h.scanner.set_drifts("app", modified_sg());
    h.sweeper.run(&ctx(Duration::from_secs(60))).await.unwrap();
    let failed = Arc::new(FailedScanner(ScriptedDriftScanner::new()));
    failed.0.set_drifts(
        "app",
        vec![resource_drift(
            "WebSG",
            "sg-0abc",
            "AWS::EC2::SecurityGroup",
            DriftStatus::InSync,
            &[],
        )],
    );
    let mut ports_sweeper = harness(quick());
    // Same tickets, a scanner whose detections fail.
    ports_sweeper.sweeper = Sweeper::new(
        SweepPorts {
            inventory: h.catalog.clone(),
            scanner: failed,
            store: h.store.clone(),
            tickets: h.tickets.clone(),
            bus: h.bus.clone(),
            clock: h.clock.clone(),
        },
        Arc::new(Pipeline::new(
            Ports {
                catalog: h.catalog.clone(),
                drift: Arc::new(MemoryDriftDetector::new()),
                actors: Arc::new(MemoryActorLookup::new()),
                tickets: h.tickets.clone(),
                bus: h.bus.clone(),
                ops_mirror: None,
                clock: h.clock.clone(),
            },
            Arc::new(Policy::default()),
            Settings::default(),
        )),
        quick(),
    );
    h.clock.advance(chrono::Duration::hours(1));
    let s = ports_sweeper
        .sweeper
        .run(&ctx(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(s.stacks.detection_failed, 1);
    assert_eq!(s.tickets_resolved, 0);
    assert_eq!(h.tickets.tickets()[0].state, TicketState::Open);
}

#[tokio::test]
async fn stacks_in_progress_are_skipped_with_a_reason() {
    let h = harness(quick());
    h.catalog.add_stack("busy", "UPDATE_IN_PROGRESS");
    let s = h.sweeper.run(&ctx(Duration::from_secs(60))).await.unwrap();
    assert_eq!((s.stacks.swept, s.stacks.skipped), (1, 1));
    let busy = s
        .stack_coverage
        .iter()
        .find(|c| c.stack_name == "busy")
        .unwrap();
    assert_eq!(busy.outcome, StackOutcome::Skipped);
    assert!(busy
        .reason
        .as_deref()
        .unwrap()
        .contains("UPDATE_IN_PROGRESS"));
}

#[tokio::test]
async fn near_the_deadline_nothing_new_starts_and_the_next_run_resumes() {
    let h = harness(quick());
    for i in 0..5 {
        h.catalog.add_stack(&format!("s{i}"), "CREATE_COMPLETE");
    }
    // Inside the safety margin already: no stack starts, the cursor keeps them all.
    let s = h
        .sweeper
        .run(&ctx(Duration::from_millis(100)))
        .await
        .unwrap();
    assert_eq!(s.stacks.not_started, 6);
    assert!(!s.round_complete);
    let cursor = h.store.cursor().unwrap();
    assert_eq!(cursor.next_stack.as_deref(), Some("app"));
    assert_eq!(h.scanner.starts.load(Ordering::SeqCst), 0);

    let s = h.sweeper.run(&ctx(Duration::from_secs(60))).await.unwrap();
    assert!(s.resumed && s.round_complete);
    assert_eq!(s.stacks.swept, 6);
    assert!(h.store.cursor().is_none());
}

#[tokio::test]
async fn a_detection_still_running_at_the_deadline_is_resumed_by_id() {
    let mut settings = quick();
    settings.deadline_margin = Duration::from_millis(300);
    settings.finish_reserve = Duration::from_millis(200);
    let h = harness(settings);
    h.scanner.set_drifts("app", modified_sg());
    h.scanner
        .polls_until_complete
        .store(1_000_000, Ordering::SeqCst);
    let s = h
        .sweeper
        .run(&ctx(Duration::from_millis(450)))
        .await
        .unwrap();
    assert_eq!(s.stacks.incomplete, 1);
    let cursor = h.store.cursor().unwrap();
    let pending = cursor.pending.values().next().unwrap();
    assert!(h.tickets.tickets().is_empty());

    h.scanner.polls_until_complete.store(0, Ordering::SeqCst);
    let s = h.sweeper.run(&ctx(Duration::from_secs(60))).await.unwrap();
    assert_eq!(s.stacks.swept, 1);
    assert_eq!(
        h.scanner.starts.load(Ordering::SeqCst),
        1,
        "resumed, not restarted"
    );
    assert_eq!(
        s.stack_coverage[0].detection_id.as_deref(),
        Some(pending.detection_id.as_str())
    );
    assert_eq!(h.tickets.tickets().len(), 1);
    assert!(h.store.cursor().is_none());
}

#[tokio::test]
async fn concurrency_is_bounded() {
    let mut settings = quick();
    settings.concurrency = 3;
    let h = harness(settings);
    for i in 0..20 {
        h.catalog.add_stack(&format!("s{i:02}"), "CREATE_COMPLETE");
    }
    h.scanner.polls_until_complete.store(3, Ordering::SeqCst);
    let s = h.sweeper.run(&ctx(Duration::from_secs(60))).await.unwrap();
    assert_eq!(s.stacks.swept, 21);
    assert!(
        s.max_in_flight <= 3 && s.max_in_flight >= 2,
        "{}",
        s.max_in_flight
    );
    assert_eq!(h.scanner.starts.load(Ordering::SeqCst), 21);
}

#[tokio::test]
async fn a_failing_stack_is_reported_and_the_others_swept() {
    let h = harness(quick());
    h.catalog.add_stack("denied", "CREATE_COMPLETE");
    h.scanner.fail(
        "denied",
        driftguard_model::error::PortError::Failed {
            service: "cloudformation",
            operation: "DetectStackDrift",
            message: "AccessDenied".into(),
        },
    );
    let s = h.sweeper.run(&ctx(Duration::from_secs(60))).await.unwrap();
    assert_eq!((s.stacks.swept, s.stacks.failed), (1, 1));
    assert_eq!(s.stack_coverage[0].stack_name, "denied", "problems first");
    assert!(s.stack_coverage[0].errors[0].contains("AccessDenied"));
    assert!(s.round_complete, "a failing stack does not pin the cursor");
    let _ = h.tickets.list_tickets(None).await.unwrap();
}

/// An OPEN out-of-template ticket on the bucket: a bucket policy set by hand
/// on a bucket whose template has no AWS::S3::BucketPolicy.
fn out_of_template_ticket() -> driftguard_model::domain::Ticket {
    use driftguard_model::domain::{
        Change, ChangeSource, DifferenceKind, Drift, Fingerprint, Identity, Ownership,
        PropertyDifference, ResourceRef, StackMembership, Ticket,
    };
    let change = Change {
        event_id: "ev-bp".into(),
        time: t0() - chrono::Duration::hours(1),
        account: "123456789012".into(),
        region: "us-east-1".into(),
        source: ChangeSource::Cloudtrail,
        service: "s3".into(),
        operation: "PutBucketPolicy".into(),
        resource: ResourceRef::new("AWS::S3::BucketPolicy", "app-bucket"),
        identity: Identity::default(),
        request: serde_json::Value::Null,
        response: serde_json::Value::Null,
        stack_hint: None,
        drift_hint: None,
        unparsed: Vec::new(),
    };
    let ownership = Ownership::Managed(StackMembership {
        stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/app/0".into(),
        stack_name: "app".into(),
        logical_id: "Bucket".into(),
        resource_type: Some("AWS::S3::Bucket".into()),
        stack_status: "UPDATE_COMPLETE".into(),
        stack_tags: Default::default(),
        nested: None,
    });
    let fp = Fingerprint {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        stack: "app".into(),
        logical_id: "Bucket".into(),
    };
    let mut t = Ticket::new(fp, &change, &ownership, t0() - chrono::Duration::hours(1));
    let event = Drift::from_event(
        vec![PropertyDifference {
            path: "/PolicyDocument".into(),
            expected: None,
            actual: Some(serde_json::json!({"Statement": []})),
            kind: DifferenceKind::NotEqual,
        }],
        "from the request",
    );
    let mut cfn = event.clone();
    cfn.status = DriftStatus::InSync;
    cfn.differences.clear();
    cfn.expected_properties = Some(serde_json::json!({"BucketName": "app-bucket"}));
    t.drift = Some(cfn.clone());
    t.event_drift = driftguard_model::domain::out_of_template(&cfn, Some(&event));
    t.last_change = Some(change);
    t.version = 1;
    assert!(t.is_out_of_template());
    t
}

/// CloudFormation's IN_SYNC never resolves out-of-template drift (issue 13,
/// item 1): it checks "Only resource properties explicitly defined in the
/// stack template"
/// (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackResourceDrift.html).
/// A read-back through the resource's own API may.
#[tokio::test]
async fn in_sync_does_not_resolve_out_of_template_drift_a_read_back_does() {
    use crate::memory::readback::MemoryReadBack;
    use crate::ports::PropertyCheck;
    let check = |still_drifted| PropertyCheck {
        still_drifted,
        method: "s3:GetBucketPolicy".into(),
        detail: "s3:GetBucketPolicy on app-bucket".into(),
    };
    for (read_back, expected) in [
        (None, TicketState::Open),
        (Some(Ok(None)), TicketState::Open),
        (Some(Ok(Some(check(true)))), TicketState::Open),
        (
            Some(Err(driftguard_model::error::PortError::Throttled {
                service: "s3",
                operation: "GetBucketPolicy",
                message: "slow down".into(),
            })),
            TicketState::Open,
        ),
        (Some(Ok(Some(check(false)))), TicketState::Resolved),
    ] {
        let Harness {
            scanner,
            tickets,
            sweeper,
            ..
        } = harness(quick());
        let sweeper = match read_back.clone() {
            Some(answer) => {
                let rb = Arc::new(MemoryReadBack::new());
                rb.set("app-bucket", answer);
                sweeper.with_read_back(rb)
            }
            None => sweeper,
        };
        tickets
            .create_ticket(&out_of_template_ticket())
            .await
            .unwrap();
        scanner.set_drifts("app", modified_sg());
        sweeper.run(&ctx(Duration::from_secs(60))).await.unwrap();
        let t = tickets
            .get_ticket(&out_of_template_ticket().id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            t.state, expected,
            "read-back {read_back:?}: {:#?}",
            t.history
        );
        if expected == TicketState::Resolved {
            assert!(t
                .history
                .iter()
                .any(|e| e.summary.contains("s3:GetBucketPolicy")));
        }
    }
}

/// Issue 13: the pipeline's change, allowed by policy, opened no ticket; the
/// next sweep sees its drift with no identity (actor `unknown`, which the
/// policy reverts). The ALLOWED record makes the sweep honour the decision
/// while the drift is the same drift; a different drift is decided again.
#[tokio::test]
async fn a_pipeline_change_allowed_by_policy_is_neither_ticketed_nor_reverted_by_the_next_sweep() {
    let sg = sg_revert("console, human, unknown", true);
    let policy = Policy::from_yaml(&policies::policy(1, &[PIPELINE], &[&sg])).unwrap();
    let h = harness_policy(quick(), policy);
    let drifted = modified_sg();
    h.drift.set("app", "WebSG", Ok(drifted[0].drift.clone()));
    // The deploy role, through an SDK that does not say which.
    let pipeline = driftguard_model::domain::Identity {
        user_agent: None,
        ..role("deploy-pipeline", "codepipeline")
    };
    let deploy = driftguard_model::domain::Change {
        time: t0(),
        request: serde_json::json!({"groupId": "sg-0abc"}),
        ..sg_change("ev-deploy", pipeline)
    };
    let r = h.pipeline.process_change(deploy).await.unwrap();
    assert_eq!(
        r.decision.verdict.action,
        driftguard_model::domain::Action::Allow
    );
    assert_eq!(h.tickets.tickets()[0].state, TicketState::Allowed);
    let decisions = |bus: &MemoryBus| {
        bus.published()
            .into_iter()
            .filter(|(t, _)| t == driftguard_model::events::DRIFT_DECISION)
            .count()
    };

    h.clock.advance(chrono::Duration::hours(1));
    h.scanner.set_drifts("app", drifted);
    let s = h.sweeper.run(&ctx(Duration::from_secs(60))).await.unwrap();
    assert_eq!(s.drifted, 1);
    let t = &h.tickets.tickets()[0];
    assert_eq!(t.state, TicketState::Allowed, "not re-ticketed");
    assert_eq!(t.version, 1, "nothing rewritten");
    assert_eq!(decisions(&h.bus), 0, "no decision for remediate to revert");

    // A later, different change to the same resource is decided again.
    h.clock.advance(chrono::Duration::hours(6));
    h.scanner.set_drifts(
        "app",
        vec![resource_drift(
            "WebSG",
            "sg-0abc",
            "AWS::EC2::SecurityGroup",
            DriftStatus::Modified,
            &["/SecurityGroupIngress/2"],
        )],
    );
    h.sweeper.run(&ctx(Duration::from_secs(60))).await.unwrap();
    let t = &h.tickets.tickets()[0];
    assert_eq!((t.state, t.reopened), (TicketState::Open, 1));
    assert_eq!(
        t.decision.as_ref().unwrap().verdict.action,
        driftguard_model::domain::Action::Revert
    );
    assert_eq!(decisions(&h.bus), 1);
}

/// An ALLOWED record is resolved when the sweep finds its resource in sync,
/// and the allowed decision is spent: the same drift found later by a sweep
/// (no identity) is decided afresh, not carried as the pipeline's.
#[test]
fn an_allowed_record_is_resolved_in_sync_and_its_decision_spent() {
    let (mut t, change) = swept_ticket();
    t.state = TicketState::Allowed;
    t.decided_drift = Some(modified_sg()[0].drift.fingerprint());
    t.last_change = Some(change);
    let r = resolution(t, t0(), "d", t0()).expect("resolved");
    assert_eq!(r.state, TicketState::Resolved);
    assert_eq!(r.decided_drift, None, "the decision is spent");
}

#[tokio::test]
async fn a_sweep_prints_its_coverage_as_one_emf_line() {
    let h = harness(quick());
    h.scanner.set_drifts("app", modified_sg());
    let capture = crate::metrics::capture();
    h.sweeper.run(&ctx(Duration::from_secs(60))).await.unwrap();
    let sweep_lines: Vec<serde_json::Value> = capture
        .lines()
        .into_iter()
        .filter(|l| l["Function"] == "sweep")
        .collect();
    assert_eq!(sweep_lines.len(), 1, "{sweep_lines:#?}");
    let line = &sweep_lines[0];
    let (metrics, dimensions) = crate::metrics::declared(line);
    assert_eq!(dimensions, serde_json::json!([["Function"]]));
    assert!(metrics.contains(&("SweepCoverage".into(), "Percent".into())));
    assert!(metrics.contains(&("ResourcesChecked".into(), "Count".into())));
    // 2 of the stack's 3 resources were checked (the hook is not reported).
    assert_eq!(line["ResourcesChecked"].as_f64(), Some(2.0));
    assert_eq!(line["ResourcesNotChecked"].as_f64(), Some(1.0));
    let coverage = line["SweepCoverage"].as_f64().unwrap();
    assert!((coverage - 200.0 / 3.0).abs() < 1e-9, "{coverage}");
    assert_eq!(line["DriftedResources"].as_f64(), Some(1.0));
}
