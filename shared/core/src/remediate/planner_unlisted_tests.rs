//! A revert asked for a write no operation row lists: no inverse call exists
//! for it, so unless CloudFormation's drift or Cloud Control gives a generic
//! remedy, the refusal (what the ticket shows) says plainly that no safe
//! remedy exists; a listed operation keeps its usual wording.
#![allow(clippy::unwrap_used)]
use driftguard_model::domain::{policy::Policy, Action, Change, StackMembership};

use super::handlers::testing::{recorded, Case};
use super::planner::{plan, NoPlan, PlanInput};

const TEMPLATE: &str = r#"
Resources:
  Assets:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: amzn-s3-demo-bucket
"#;

fn refusal(change: &Change) -> NoPlan {
    let case = Case::new("Assets", TEMPLATE);
    let membership = StackMembership {
        stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1".into(),
        stack_name: "app".into(),
        logical_id: "Assets".into(),
        resource_type: change.resource.resource_type.clone(),
        stack_status: "UPDATE_COMPLETE".into(),
        stack_tags: Default::default(),
        nested: None,
    };
    let policy = Policy::default();
    let input = PlanInput {
        ticket_id: "DG-0123456789ab",
        action: Action::Revert,
        change: Some(change),
        drift: None,
        event_drift: None,
        resource: &change.resource,
        membership: &membership,
        stack_status: "UPDATE_COMPLETE",
        template: case.template.as_ref().map_err(String::as_str),
        stack_resources: &[],
        known_good: &[],
        policy: &policy,
        now: "2026-03-01T10:05:00Z".parse().unwrap(),
    };
    plan(&input).unwrap_err()
}

#[test]
fn an_unlisted_write_without_a_generic_remedy_says_no_safe_remedy_exists() {
    let change = recorded(
        "unlisted/s3-put-bucket-cors.json",
        "AWS::S3::Bucket",
        "amzn-s3-demo-bucket",
    );
    let err = refusal(&change);
    assert!(
        err.reason.starts_with(
            "no safe remedy exists for s3:PutBucketCors on AWS::S3::Bucket amzn-s3-demo-bucket: \
             the call has no row in the operation table"
        ),
        "{}",
        err.reason
    );
    // Every strategy's own reason is still there.
    assert_eq!(err.skipped.len(), 4, "{:?}", err.skipped);
    assert!(err
        .reason
        .contains("not in policy remediation.cloud_control_types"));
}

#[test]
fn a_listed_write_keeps_the_usual_refusal() {
    let mut change = recorded(
        "unlisted/s3-put-bucket-cors.json",
        "AWS::S3::Bucket",
        "amzn-s3-demo-bucket",
    );
    change.operation = "PutBucketVersioning".into();
    change.request = serde_json::json!({"bucketName": "other-bucket"});
    let err = refusal(&change);
    assert!(
        err.reason.starts_with("no remediation strategy applies"),
        "{}",
        err.reason
    );
}
