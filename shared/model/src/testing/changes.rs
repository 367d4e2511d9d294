//! What changed and where: the tests' changes, stacks and drift.
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

use super::identities::ACCOUNT;
use crate::domain::{
    Change, ChangeSource, DifferenceKind, Drift, DriftOrigin, DriftStatus, Identity,
    PropertyDifference, ResourceRef, StackMembership,
};

/// The region the tests' changes happen in.
pub const REGION: &str = "us-east-1";

/// The CloudFormation type of a security group, the resource most tests change.
pub const SECURITY_GROUP: &str = "AWS::EC2::SecurityGroup";

/// The tests' "now": 2026-03-01 10:00:00 UTC.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A CloudTrail change `e-1` at [`t0`] in [`ACCOUNT`] and [`REGION`]:
/// `service:operation` on `resource`, by nobody in particular, with no
/// request or response. Tests set what matters to them over it.
pub fn change(service: &str, operation: &str, resource: ResourceRef) -> Change {
    Change {
        event_id: "e-1".into(),
        time: t0(),
        account: ACCOUNT.into(),
        region: REGION.into(),
        source: ChangeSource::Cloudtrail,
        service: service.into(),
        operation: operation.into(),
        resource,
        identity: Identity::default(),
        request: Value::Null,
        response: Value::Null,
        stack_hint: None,
        drift_hint: None,
        unparsed: Vec::new(),
    }
}

/// The CloudTrail `requestParameters` of an `AuthorizeSecurityGroupIngress`
/// opening SSH (tcp/22) on `group` to the world.
pub fn open_ssh(group: &str) -> Value {
    json!({"groupId": group, "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}})
}

/// `identity` opens SSH to the world on the security group `sg-0abc` at
/// [`t0`]: the `ec2:AuthorizeSecurityGroupIngress` most tests decide on.
pub fn sg_change(event_id: &str, identity: Identity) -> Change {
    Change {
        event_id: event_id.into(),
        identity,
        request: open_ssh("sg-0abc"),
        ..change(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            ResourceRef::new(SECURITY_GROUP, "sg-0abc"),
        )
    }
}

/// The resource `logical_id` (of type `resource_type`) in the stack `stack`
/// of [`ACCOUNT`] and [`REGION`], the stack `UPDATE_COMPLETE`, untagged, not
/// nested.
pub fn membership(stack: &str, logical_id: &str, resource_type: &str) -> StackMembership {
    StackMembership {
        stack_id: format!("arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack}/1"),
        stack_name: stack.into(),
        logical_id: logical_id.into(),
        resource_type: Some(resource_type.into()),
        stack_status: "UPDATE_COMPLETE".into(),
        stack_tags: Default::default(),
        nested: None,
    }
}

/// CloudFormation's drift detection at `at`: MODIFIED, an ingress rule
/// open to the world on `port` added at `/SecurityGroupIngress/1`.
pub fn ingress_added(port: u16, at: DateTime<Utc>) -> Drift {
    Drift {
        status: DriftStatus::Modified,
        differences: vec![PropertyDifference {
            path: "/SecurityGroupIngress/1".into(),
            expected: None,
            actual: Some(json!({"CidrIp": "0.0.0.0/0", "FromPort": port})),
            kind: DifferenceKind::Add,
        }],
        expected_properties: None,
        actual_properties: None,
        origin: DriftOrigin::Cloudformation,
        detected_at: Some(at),
    }
}
