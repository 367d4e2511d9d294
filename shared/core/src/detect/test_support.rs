//! Shared test support for the pipeline's tests: the test policies, the
//! in-memory harness (with a bus that can fail) and a CloudTrail envelope.
//! Identities, changes and drift come from `driftguard_model::testing`.
#![allow(clippy::unwrap_used)]
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;

use super::{Pipeline, Ports, Settings};
use crate::memory::catalog::{MemoryActorLookup, MemoryDriftDetector, MemoryStackCatalog};
use crate::memory::{FixedClock, MemoryBus, MemoryTicketStore};
use crate::ports::DecisionBus;
use crate::resilience::RetryPolicy;
use driftguard_model::domain::{policy::Policy, Drift};
use driftguard_model::error::{PortError, PortResult};
use driftguard_model::events::{DriftDecision, DRIFT_DECISION};
use driftguard_model::testing::changes::{ingress_added, t0};
use driftguard_model::testing::policies::{self, sg_revert, OWN, PIPELINE};
use driftguard_model::testing::records::console_user_identity;

/// Console and human changes to a security group are reverted live.
pub(super) fn policy() -> String {
    policies::policy(1, &[OWN, PIPELINE], &[&sg_revert("console, human", true)])
}

/// CloudFormation's drift of `sg-0abc` at [`t0`]: SSH opened to the world.
pub(super) fn cfn_modified() -> Drift {
    ingress_added(22, t0())
}

/// A bus that fails the next `n` publishes.
#[derive(Default)]
pub(super) struct FlakyBus {
    pub(super) inner: MemoryBus,
    pub(super) fail_next: AtomicU32,
}

#[async_trait]
impl DecisionBus for FlakyBus {
    async fn publish(&self, detail_type: &str, detail: &serde_json::Value) -> PortResult<()> {
        if self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(PortError::Failed {
                service: "events",
                operation: "PutEvents",
                message: "AccessDeniedException".into(),
            });
        }
        self.inner.publish(detail_type, detail).await
    }
}

pub(super) struct Harness {
    pub(super) catalog: Arc<MemoryStackCatalog>,
    pub(super) drift: Arc<MemoryDriftDetector>,
    pub(super) actors: Arc<MemoryActorLookup>,
    pub(super) store: Arc<MemoryTicketStore>,
    pub(super) bus: Arc<FlakyBus>,
    pub(super) pipeline: Arc<Pipeline>,
}

impl Harness {
    pub(super) fn published(&self) -> Vec<DriftDecision> {
        self.bus
            .inner
            .published()
            .into_iter()
            .map(|(dt, d)| {
                assert_eq!(dt, DRIFT_DECISION);
                serde_json::from_value(d).unwrap()
            })
            .collect()
    }
}

pub(super) fn harness_with(settings: Settings) -> Harness {
    harness_policy(settings, &policy())
}

pub(super) fn harness_policy(settings: Settings, policy: &str) -> Harness {
    harness_wired(settings, policy, |p| p)
}

/// [`harness_policy`] with `wire` adding to the pipeline (`with_role_trust` …).
pub(super) fn harness_wired(
    settings: Settings,
    policy: &str,
    wire: impl FnOnce(Pipeline) -> Pipeline,
) -> Harness {
    let catalog = Arc::new(MemoryStackCatalog::new());
    catalog.add_stack("app", "UPDATE_COMPLETE");
    catalog.add_resource("app", "WebSG", "AWS::EC2::SecurityGroup", "sg-0abc");
    catalog.add_resource("app", "Bucket", "AWS::S3::Bucket", "app-bucket");
    let drift = Arc::new(MemoryDriftDetector::new());
    let actors = Arc::new(MemoryActorLookup::new());
    let store = Arc::new(MemoryTicketStore::new());
    store.set_now(t0());
    let bus = Arc::new(FlakyBus::default());
    let ports = Ports {
        catalog: catalog.clone(),
        drift: drift.clone(),
        actors: actors.clone(),
        tickets: store.clone(),
        bus: bus.clone(),
        ops_mirror: None,
        clock: Arc::new(FixedClock::new(t0())),
    };
    let pipeline = Arc::new(wire(Pipeline::new(
        ports,
        Arc::new(Policy::from_yaml(policy).unwrap()),
        settings,
    )));
    Harness {
        catalog,
        drift,
        actors,
        store,
        bus,
        pipeline,
    }
}

pub(super) fn quick() -> Settings {
    Settings {
        retry: RetryPolicy::quick(),
        in_progress_wait: std::time::Duration::from_secs(2),
        ..Settings::default()
    }
}

pub(super) fn harness() -> Harness {
    harness_with(quick())
}

pub(super) fn cloudtrail_envelope(event_id: &str) -> serde_json::Value {
    json!({
        "version": "0",
        "id": format!("env-{event_id}"),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": "123456789012",
        "time": "2026-03-01T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": console_user_identity(),
            "eventTime": "2026-03-01T10:00:00Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "AuthorizeSecurityGroupIngress",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.7",
            "userAgent": "AWS Internal",
            "requestParameters": {
                "groupId": "sg-0abc",
                "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                    "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}
            },
            "responseElements": {"_return": true},
            "eventID": event_id,
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": "123456789012",
            "sessionCredentialFromConsole": "true"
        }
    })
}

/// Rules for out-of-template drift, type resolution and the sweep tests.
const DRIFT_RULES: &str = r#"
  - name: out-of-template-reverted
    match: { drift: [out_of_template], resource_types: ["AWS::IAM::Role", "AWS::S3::Bucket"] }
    verdict: revert
    dry_run: false
    severity: high
  - name: bucket-by-owner-type
    match: { resource_types: ["AWS::S3::Bucket"], api_resource_types: ["AWS::S3::BucketPolicy"] }
    verdict: revert
    severity: critical
"#;

/// The break-glass role, inside its window all of 2026.
const BREAK_GLASS: &str = r#"  break_glass:
    - principal: "arn:aws:iam::*:role/break-glass"
      not_before: "2026-01-01T00:00:00Z"
      not_after: "2026-12-31T00:00:00Z""#;

fn drift_policy() -> String {
    let sg = sg_revert("console, human, unknown", true);
    policies::policy(
        1,
        &[PIPELINE, BREAK_GLASS],
        &[DRIFT_RULES.trim_start_matches('\n'), &sg],
    )
}

pub(super) fn drift_harness() -> Harness {
    let h = harness_policy(quick(), &drift_policy());
    h.catalog
        .add_resource("app", "AppRole", "AWS::IAM::Role", "app-role");
    h
}
