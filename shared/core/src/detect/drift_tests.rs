//! Drift CloudFormation cannot see (out-of-template drift) and changes
//! matched by the owning resource's type.
#![allow(clippy::unwrap_used)]
use serde_json::json;

use super::test_support::*;
use super::*;
use driftguard_model::domain::{
    Action, Change, Drift, DriftOrigin, DriftStatus, Ownership, ResourceRef, TicketState,
};
use driftguard_model::testing::changes::{sg_change, t0};
use driftguard_model::testing::identities::console;

/// CloudFormation's answer for a resource whose template declares only
/// `expected`: IN_SYNC, because "Only resource properties explicitly
/// defined in the stack template are checked for drift"
/// (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DetectStackResourceDrift.html;
/// aws-cloudformation/cloudformation-coverage-roadmap#2489 for managed
/// policies, #936 for inline policies). `ExpectedProperties` is "A JSON
/// structure that contains the expected property values of the stack
/// resource, as defined in the stack template"
/// (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackResourceDrift.html).
fn cfn_in_sync(expected: Option<serde_json::Value>) -> Drift {
    Drift {
        status: DriftStatus::InSync,
        differences: Vec::new(),
        actual_properties: expected.clone(),
        expected_properties: expected,
        origin: DriftOrigin::Cloudformation,
        detected_at: Some(t0()),
    }
}

fn api_change(
    event_id: &str,
    service: &str,
    operation: &str,
    resource: ResourceRef,
    request: serde_json::Value,
) -> Change {
    Change {
        service: service.into(),
        operation: operation.into(),
        resource,
        request,
        ..sg_change(event_id, console())
    }
}

fn trust_policy() -> serde_json::Value {
    json!({"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}})
}

fn attach_admin(event_id: &str) -> Change {
    api_change(
        event_id,
        "iam",
        "AttachRolePolicy",
        ResourceRef::new("AWS::IAM::Role", "app-role"),
        json!({"roleName": "app-role", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
    )
}

async fn assert_out_of_template(h: &Harness, change: Change, path: &str) -> DecisionReport {
    let r = h.pipeline.process_change(change).await.unwrap();
    assert_eq!(r.drift.as_ref().unwrap().status, DriftStatus::InSync);
    let oot = r.event_drift.as_ref().unwrap();
    assert_eq!(oot.status, DriftStatus::OutOfTemplate, "{oot:?}");
    assert_eq!(oot.property_paths(), vec![path]);
    assert_eq!(
        r.decision.verdict.action,
        Action::Revert,
        "{:?}",
        r.decision
    );
    assert_eq!(
        r.decision.verdict.rule.as_deref(),
        Some("out-of-template-reverted")
    );
    let ticket = h.store.tickets().pop().unwrap();
    assert!(ticket.is_out_of_template(), "{ticket:?}");
    assert!(ticket.history[0].summary.contains("by console"));
    assert_eq!(ticket.history[0].data["drift_status"], "OUT_OF_TEMPLATE");
    assert_eq!(ticket.history[0].data["drift_origin"], "out_of_template");
    r
}

#[tokio::test]
async fn an_attached_managed_policy_cloudformation_calls_in_sync_is_out_of_template_drift() {
    let h = drift_harness();
    h.drift
        .set("app", "AppRole", Ok(cfn_in_sync(Some(trust_policy()))));
    assert_out_of_template(&h, attach_admin("ev-attach"), "/ManagedPolicyArns").await;
}

#[tokio::test]
async fn an_inline_policy_cloudformation_calls_in_sync_is_out_of_template_drift() {
    let h = drift_harness();
    // Without ExpectedProperties, IN_SYNC to a change the event proves
    // means the property was not checked.
    h.drift.set("app", "AppRole", Ok(cfn_in_sync(None)));
    let change = api_change(
        "ev-inline",
        "iam",
        "PutRolePolicy",
        ResourceRef::new("AWS::IAM::Role", "app-role"),
        json!({"roleName": "app-role", "policyName": "hotfix", "policyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}"}),
    );
    assert_out_of_template(&h, change, "/Policies").await;
}

fn put_bucket_policy(event_id: &str) -> Change {
    api_change(
        event_id,
        "s3",
        "PutBucketPolicy",
        ResourceRef::new("AWS::S3::BucketPolicy", "app-bucket"),
        json!({"bucketName": "app-bucket", "bucketPolicy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::app-bucket/*"}]}}),
    )
}

#[tokio::test]
async fn a_bucket_policy_on_a_bucket_without_one_in_the_template_is_out_of_template_drift() {
    let h = drift_harness();
    h.drift.set(
        "app",
        "Bucket",
        Ok(cfn_in_sync(Some(json!({"BucketName": "app-bucket"})))),
    );
    let r = assert_out_of_template(&h, put_bucket_policy("ev-bp"), "/PolicyDocument").await;
    assert_eq!(
        r.ownership.membership().unwrap().resource_type.as_deref(),
        Some("AWS::S3::Bucket")
    );
}

#[tokio::test]
async fn a_declared_property_cloudformation_checked_in_sync_is_still_ignored() {
    let h = drift_harness();
    let mut declared = trust_policy();
    declared["ManagedPolicyArns"] = json!(["arn:aws:iam::aws:policy/AdministratorAccess"]);
    h.drift
        .set("app", "AppRole", Ok(cfn_in_sync(Some(declared))));
    let r = h
        .pipeline
        .process_change(attach_admin("ev-declared"))
        .await
        .unwrap();
    assert_eq!(r.decision.verdict.action, Action::Ignore);
    assert_ne!(
        r.event_drift.unwrap().status,
        DriftStatus::OutOfTemplate,
        "CloudFormation looked at ManagedPolicyArns"
    );
}

/// Issue 13, item 7: a PutBucketPolicy on a bucket whose stack has no
/// AWS::S3::BucketPolicy resolves to the AWS::S3::Bucket; the rule is
/// matched on that type, the API's type stays a second fact.
#[tokio::test]
async fn a_bucket_policy_change_is_matched_by_a_bucket_rule() {
    let h = drift_harness();
    let r = h
        .pipeline
        .process_change(put_bucket_policy("ev-bp-type"))
        .await
        .unwrap();
    assert_eq!(
        r.decision.verdict.rule.as_deref(),
        Some("bucket-by-owner-type"),
        "{:?}",
        r.decision
    );
    assert_eq!(
        r.decision.verdict.severity,
        driftguard_model::domain::Severity::Critical
    );
}

/// Issue 13, item 8: a change to a resource no stack owns is ticketed
/// (low severity by default) and never remediated.
#[tokio::test]
async fn an_unmanaged_change_is_ticketed_and_never_remediated() {
    let h = drift_harness();
    let mut change = sg_change("ev-unmanaged", console());
    change.resource = ResourceRef::new("AWS::EC2::SecurityGroup", "sg-stray");
    let r = h.pipeline.process_change(change).await.unwrap();
    assert_eq!(r.ownership, Ownership::Unmanaged);
    assert_eq!(r.decision.verdict.action, Action::Ticket);
    assert_eq!(r.decision.verdict.capped_from, Some(Action::Revert));
    let t = r.ticket.unwrap();
    assert_eq!(t.state, TicketState::Open);
    assert_eq!(h.published().len(), 1);
    assert!(!h.published()[0].decision.verdict.action.acts());
}
