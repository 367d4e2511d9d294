//! Shared test builders for the pipeline's tests: the test policies, the
//! identities and changes, CloudFormation's drift, the in-memory harness
//! (with a bus that can fail) and a CloudTrail envelope.
#![allow(clippy::unwrap_used)]
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use super::{Pipeline, Ports, Settings};
use crate::memory::catalog::{MemoryActorLookup, MemoryDriftDetector, MemoryStackCatalog};
use crate::memory::{FixedClock, MemoryBus, MemoryTicketStore};
use crate::ports::DecisionBus;
use crate::resilience::RetryPolicy;
use driftguard_model::domain::{
    Change, ChangeSource, DifferenceKind, Drift, DriftOrigin, DriftStatus, Identity, Policy,
    PropertyDifference, ResourceRef,
};
use driftguard_model::error::{PortError, PortResult};
use driftguard_model::events::{DriftDecision, DRIFT_DECISION};

pub(super) const POLICY: &str = r#"
version: 1
defaults: { dry_run: true, verdict: ticket, severity: medium }
identities:
  own: [{ principal: "arn:aws:iam::*:role/driftguard-remediation" }]
  pipeline: [{ principal: "arn:aws:iam::*:role/deploy-pipeline" }]
rules:
  - name: sg-revert
    match: { actors: [console, human], resource_types: ["AWS::EC2::SecurityGroup"] }
    verdict: revert
    dry_run: false
    severity: high
"#;

pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap()
}

pub(super) fn console() -> Identity {
    Identity {
        identity_type: Some("AssumedRole".into()),
        principal_arn: Some("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com".into()),
        session_issuer_arn: Some("arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123456789abcdef".into()),
        session_name: Some("alice@example.com".into()),
        user_agent: Some("AWS Internal".into()),
        source_ip: Some("198.51.100.7".into()),
        console_session: true,
        ..Identity::default()
    }
}

pub(super) fn role(name: &str, session: &str) -> Identity {
    Identity {
        identity_type: Some("AssumedRole".into()),
        principal_arn: Some(format!(
            "arn:aws:sts::123456789012:assumed-role/{name}/{session}"
        )),
        session_issuer_arn: Some(format!("arn:aws:iam::123456789012:role/{name}")),
        session_name: Some(session.into()),
        user_agent: Some("aws-sdk-rust/1.0".into()),
        ..Identity::default()
    }
}

pub(super) fn cloudformation() -> Identity {
    Identity {
        identity_type: Some("AssumedRole".into()),
        invoked_by: Some("cloudformation.amazonaws.com".into()),
        source_ip: Some("cloudformation.amazonaws.com".into()),
        user_agent: Some("cloudformation.amazonaws.com".into()),
        ..Identity::default()
    }
}

pub(super) fn sg_change(event_id: &str, identity: Identity) -> Change {
    Change {
        event_id: event_id.into(),
        time: t0(),
        account: "123456789012".into(),
        region: "us-east-1".into(),
        source: ChangeSource::Cloudtrail,
        service: "ec2".into(),
        operation: "AuthorizeSecurityGroupIngress".into(),
        resource: ResourceRef::new("AWS::EC2::SecurityGroup", "sg-0abc"),
        identity,
        request: json!({"groupId": "sg-0abc", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
        response: serde_json::Value::Null,
        stack_hint: None,
        drift_hint: None,
        unparsed: Vec::new(),
    }
}

pub(super) fn cfn_modified() -> Drift {
    Drift {
        status: DriftStatus::Modified,
        differences: vec![PropertyDifference {
            path: "/SecurityGroupIngress/1".into(),
            expected: None,
            actual: Some(json!({"CidrIp": "0.0.0.0/0", "FromPort": 22})),
            kind: DifferenceKind::Add,
        }],
        expected_properties: None,
        actual_properties: None,
        origin: DriftOrigin::Cloudformation,
        detected_at: Some(t0()),
    }
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
    harness_policy(settings, POLICY)
}

pub(super) fn harness_policy(settings: Settings, policy: &str) -> Harness {
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
    let pipeline = Arc::new(Pipeline::new(
        ports,
        Arc::new(Policy::from_yaml(policy).unwrap()),
        settings,
    ));
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
            "userIdentity": {
                "type": "AssumedRole",
                "principalId": "AROAEXAMPLE:alice@example.com",
                "arn": "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com",
                "accountId": "123456789012",
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "arn": "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123456789abcdef"
                    }
                }
            },
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
pub(super) const DRIFT_POLICY: &str = r#"
version: 1
defaults: { dry_run: true, verdict: ticket, severity: medium }
identities:
  pipeline: [{ principal: "arn:aws:iam::*:role/deploy-pipeline" }]
  break_glass:
    - principal: "arn:aws:iam::*:role/break-glass"
      not_before: "2026-01-01T00:00:00Z"
      not_after: "2026-12-31T00:00:00Z"
rules:
  - name: out-of-template-reverted
    match: { drift: [out_of_template], resource_types: ["AWS::IAM::Role", "AWS::S3::Bucket"] }
    verdict: revert
    dry_run: false
    severity: high
  - name: bucket-by-owner-type
    match: { resource_types: ["AWS::S3::Bucket"], api_resource_types: ["AWS::S3::BucketPolicy"] }
    verdict: revert
    severity: critical
  - name: sg-revert
    match: { actors: [console, human, unknown], resource_types: ["AWS::EC2::SecurityGroup"] }
    verdict: revert
    dry_run: false
    severity: high
"#;

pub(super) fn drift_harness() -> Harness {
    let h = harness_policy(quick(), DRIFT_POLICY);
    h.catalog
        .add_resource("app", "AppRole", "AWS::IAM::Role", "app-role");
    h
}
