//! Writes no operation row lists: their owner from their identifiers
//! (`identified`), the default verdict, CloudFormation's IN_SYNC answer, and
//! the cost of a write on no managed resource.
#![allow(clippy::unwrap_used)]
use std::sync::atomic::Ordering;

use serde_json::{json, Value};

use super::test_support::*;
use super::*;
use driftguard_model::domain::{Action, ActorKind, DriftStatus, Ownership};
use driftguard_model::sources::identifiers;
use driftguard_model::testing::changes::sg_change;
use driftguard_model::testing::identities::console;

/// An unlisted `service:operation` CloudTrail envelope, by a console user,
/// with `resources[]` and a request.
fn unlisted(
    event_id: &str,
    service: &str,
    operation: &str,
    resources: Value,
    request: Value,
) -> Value {
    let mut e = cloudtrail_envelope(event_id);
    e["source"] = json!(format!("aws.{service}"));
    e["detail"]["eventSource"] = json!(format!("{service}.amazonaws.com"));
    e["detail"]["eventName"] = json!(operation);
    e["detail"]["resources"] = resources;
    e["detail"]["requestParameters"] = request;
    e["detail"]["responseElements"] = Value::Null;
    e
}

fn bucket_cors(event_id: &str, bucket: &str) -> Value {
    unlisted(
        event_id,
        "s3",
        "PutBucketCors",
        json!([{"accountId": "123456789012", "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")}]),
        json!({"bucketName": bucket, "cors": "", "CORSConfiguration": {"CORSRule": {"AllowedOrigin": "*"}}}),
    )
}

fn decided(o: Outcome) -> Box<DecisionReport> {
    match o {
        Outcome::Decided(r) => r,
        other => panic!("not decided: {other:?}"),
    }
}

#[tokio::test]
async fn a_write_without_a_row_is_a_ticket_on_the_resource_its_identifiers_name() {
    let h = harness();
    let out = h
        .pipeline
        .process_event(&bucket_cors("ev-cors", "app-bucket"))
        .await
        .unwrap();
    let r = decided(out);
    let Ownership::Managed(m) = &r.ownership else {
        panic!("{:?}", r.ownership)
    };
    assert_eq!(
        (m.stack_name.as_str(), m.logical_id.as_str()),
        ("app", "Bucket")
    );
    assert_eq!(r.resource, "AWS::S3::Bucket app-bucket");
    assert_eq!(r.actor.kind, ActorKind::Console);
    assert_eq!(r.decision.verdict.action, Action::Ticket);
    // Looked up once, from the index, never by the reverse lookup.
    assert_eq!(h.catalog.identifier_calls.load(Ordering::SeqCst), 1);
    assert_eq!(h.catalog.owner_calls.load(Ordering::SeqCst), 0);
    let tickets = h.store.tickets();
    assert_eq!(tickets.len(), 1);
    let change = tickets[0].last_change.as_ref().unwrap();
    assert_eq!(change.api(), "s3:PutBucketCors");
    assert_eq!(
        change.request["bucketName"], "app-bucket",
        "the raw request is kept"
    );
    assert_eq!(
        change.resource.identifiers,
        ["arn:aws:s3:::app-bucket", "app-bucket"]
    );
    assert_eq!(h.published().len(), 1);
}

#[tokio::test]
async fn rules_match_it_by_operation_type_and_actor_like_any_other() {
    // POLICY's sg-revert: console or human on a security group → revert.
    let h = harness();
    let event = unlisted(
        "ev-sg-desc",
        "ec2",
        "UpdateSecurityGroupRuleDescriptionsIngress",
        Value::Null,
        json!({"groupId": "sg-0abc", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 443,
            "toPort": 443, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0", "description": "x"}]}}]}}),
    );
    let r = decided(h.pipeline.process_event(&event).await.unwrap());
    assert_eq!(r.decision.verdict.rule.as_deref(), Some("sg-revert"));
    assert_eq!(r.decision.verdict.action, Action::Revert);

    let policy = r#"
version: 1
defaults: { dry_run: true, verdict: ticket, severity: medium }
rules:
  - name: bucket-writes
    match: { operations: ["s3:PutBucket*"], resource_types: ["AWS::S3::Bucket"], actors: [console] }
    verdict: ticket
    severity: critical
"#;
    let h = harness_policy(quick(), policy);
    let r = decided(
        h.pipeline
            .process_event(&bucket_cors("ev-glob", "app-bucket"))
            .await
            .unwrap(),
    );
    assert_eq!(r.decision.verdict.rule.as_deref(), Some("bucket-writes"));
    assert_eq!(
        r.decision.verdict.severity,
        driftguard_model::domain::Severity::Critical
    );
}

#[tokio::test]
async fn a_write_on_no_managed_resource_is_skipped_before_any_claim() {
    let h = harness();
    let event = bucket_cors("ev-stray", "someone-elses-bucket");
    for _ in 0..2 {
        // Not claimed: a second delivery is skipped again, not a duplicate.
        match h.pipeline.process_event(&event).await.unwrap() {
            Outcome::Skipped { reason, detail, .. } => {
                assert_eq!(reason, "no_managed_owner");
                assert!(detail.contains("someone-elses-bucket"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(h.store.tickets().is_empty());
    assert!(h.published().is_empty());
    assert_eq!(h.catalog.owner_calls.load(Ordering::SeqCst), 0);
    assert_eq!(h.drift.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_custom_resource_claiming_the_id_is_never_the_owner() {
    let h = harness();
    // Another stack's custom resource answers the victim's bucket name as its
    // physical id, and its SSM parameter is named like the bucket too.
    h.catalog.add_stack("claimant", "UPDATE_COMPLETE");
    h.catalog
        .add_resource("claimant", "Claim", "Custom::Claim", "victim-bucket");
    h.catalog
        .add_resource("claimant", "Named", "AWS::SSM::Parameter", "victim-bucket");
    let out = h
        .pipeline
        .process_event(&bucket_cors("ev-claim", "victim-bucket"))
        .await
        .unwrap();
    assert!(
        matches!(&out, Outcome::Skipped { reason, .. } if reason == "no_managed_owner"),
        "{out:?}"
    );
    // With the real bucket in a stack as well, the bucket's stack owns the write.
    h.catalog
        .add_resource("app", "Victim", "AWS::S3::Bucket", "victim-bucket");
    let r = decided(
        h.pipeline
            .process_event(&bucket_cors("ev-claim-2", "victim-bucket"))
            .await
            .unwrap(),
    );
    let m = r.ownership.membership().unwrap();
    assert_eq!(
        (m.stack_name.as_str(), m.logical_id.as_str()),
        ("app", "Victim")
    );
}

#[tokio::test]
async fn two_owners_the_call_could_target_equally_are_unknown_and_capped() {
    let h = harness();
    h.catalog
        .add_resource("app", "Role", "AWS::IAM::Role", "shared-name");
    h.catalog
        .add_resource("app", "User", "AWS::IAM::User", "shared-name");
    // TagRole names the type: the role.
    let tag = |id: &str, op: &str| {
        unlisted(
            id,
            "iam",
            op,
            Value::Null,
            json!({"roleName": "shared-name", "tags": []}),
        )
    };
    let r = decided(
        h.pipeline
            .process_event(&tag("ev-tag", "TagRole"))
            .await
            .unwrap(),
    );
    assert_eq!(r.ownership.membership().unwrap().logical_id, "Role");
    // An operation naming neither: which one cannot be told.
    let r = decided(
        h.pipeline
            .process_event(&tag("ev-frob", "FrobnicateEntity"))
            .await
            .unwrap(),
    );
    assert!(
        matches!(&r.ownership, Ownership::Unknown { reason } if reason.contains("several")),
        "{:?}",
        r.ownership
    );
    assert_eq!(r.decision.verdict.action, Action::Ticket);
}

#[tokio::test]
async fn its_default_is_a_ticket_even_where_the_default_verdict_reverts() {
    let policy = r#"
version: 1
defaults: { dry_run: false, verdict: revert, severity: high }
"#;
    let h = harness_policy(quick(), policy);
    let r = decided(
        h.pipeline
            .process_event(&bucket_cors("ev-default", "app-bucket"))
            .await
            .unwrap(),
    );
    assert_eq!(r.decision.verdict.action, Action::Ticket);
    assert!(
        r.decision
            .verdict
            .reason
            .contains("no row in the operation table"),
        "{}",
        r.decision.verdict.reason
    );
    // A listed operation keeps the default.
    let r = decided(
        h.pipeline
            .process_event(&cloudtrail_envelope("ev-listed"))
            .await
            .unwrap(),
    );
    assert_eq!(r.decision.verdict.action, Action::Revert);
}

#[tokio::test]
async fn cloudformation_in_sync_is_no_proof_for_a_write_without_a_row() {
    let h = harness();
    let mut in_sync = cfn_modified();
    in_sync.status = DriftStatus::InSync;
    in_sync.differences.clear();
    h.drift.set("app", "Bucket", Ok(in_sync));
    let r = decided(
        h.pipeline
            .process_event(&bucket_cors("ev-in-sync", "app-bucket"))
            .await
            .unwrap(),
    );
    assert_eq!(r.drift.as_ref().unwrap().status, DriftStatus::InSync);
    let shown = r.event_drift.as_ref().unwrap();
    assert_eq!(shown.status, DriftStatus::OutOfTemplate);
    assert!(shown.differences.is_empty());
    assert_eq!(
        r.decision.verdict.action,
        Action::Ticket,
        "not ignored as IN_SYNC"
    );

    // CloudFormation's MODIFIED (the template declares the property) stands.
    let h = harness();
    h.drift.set("app", "WebSG", Ok(cfn_modified()));
    let event = unlisted(
        "ev-modified",
        "ec2",
        "UpdateSecurityGroupRuleDescriptionsIngress",
        Value::Null,
        json!({"groupId": "sg-0abc"}),
    );
    let r = decided(h.pipeline.process_event(&event).await.unwrap());
    assert_eq!(r.drift.as_ref().unwrap().status, DriftStatus::Modified);
    assert!(r.event_drift.is_none(), "{:?}", r.event_drift);
}

#[tokio::test]
async fn process_change_looks_the_identifiers_up_itself() {
    let h = harness();
    let mut change = sg_change("ev-direct", console());
    change.service = "s3".into();
    change.operation = "PutBucketCors".into();
    change.resource = driftguard_model::domain::ResourceRef {
        identifiers: identifiers::extract(None, &json!({"bucketName": "app-bucket"}), &Value::Null),
        ..Default::default()
    };
    let r = h.pipeline.process_change(change).await.unwrap();
    assert_eq!(r.ownership.membership().unwrap().logical_id, "Bucket");
    assert_eq!(h.catalog.identifier_calls.load(Ordering::SeqCst), 1);
}
