//! CloudFormation's own events (source `aws.cloudformation`), delivered durably
//! (unlike CloudTrail's best-effort events). Field names as documented in the
//! CloudFormation User Guide, "Drift Detection Status Change event detail",
//! "Resource Status Change event detail" and "Stack Status Change event detail".
use serde_json::{Map, Value};

use super::fields::{get, opt_str, req_nonempty, req_obj};
use super::{Envelope, SourceError};
use crate::domain::StackHint;
use crate::domain::{
    Change, ChangeSource, Drift, DriftOrigin, DriftStatus, Identity, NotAChange, Observation,
    ResourceRef,
};

/// The service principal CloudFormation's own calls carry (`invokedBy`, `sourceIPAddress`).
pub const CLOUDFORMATION_PRINCIPAL: &str = "cloudformation.amazonaws.com";
/// The resource type of a stack itself (stack status events).
pub const STACK_TYPE: &str = "AWS::CloudFormation::Stack";

/// CloudFormation acting on its own stack.
fn cloudformation_identity() -> Identity {
    Identity {
        invoked_by: Some(CLOUDFORMATION_PRINCIPAL.to_string()),
        ..Identity::default()
    }
}

fn small_request(d: &Map<String, Value>, keys: &[&str]) -> Value {
    Value::Object(
        keys.iter()
            .filter_map(|k| get(d, k).map(|v| ((*k).to_string(), v.clone())))
            .collect(),
    )
}

#[allow(clippy::too_many_arguments)]
fn change(
    envelope: &Envelope<'_>,
    source: ChangeSource,
    operation: &str,
    resource: ResourceRef,
    identity: Identity,
    request: Value,
    stack_hint: StackHint,
    drift_hint: Option<Drift>,
) -> Result<Change, SourceError> {
    Ok(Change {
        event_id: envelope.event_id(None)?,
        time: envelope.time(None, "time")?,
        account: envelope.account(None)?,
        region: envelope.region(None)?,
        source,
        service: "cloudformation".into(),
        operation: operation.to_string(),
        resource,
        identity,
        request,
        response: Value::Null,
        stack_hint: Some(stack_hint),
        drift_hint,
        unparsed: Vec::new(),
    })
}

fn transitional(change: Change, detail: String) -> Observation {
    Observation::NotAChange {
        event_id: change.event_id.clone(),
        reason: NotAChange::Transitional,
        detail,
        change: Some(Box::new(change)),
    }
}

fn stack_resource(stack_id: &str) -> ResourceRef {
    ResourceRef::new(STACK_TYPE, stack_id).with_arn(stack_id)
}

/// `CloudFormation Drift Detection Status Change`.
pub(crate) fn parse_drift_status(envelope: &Envelope<'_>) -> Result<Observation, SourceError> {
    let d = envelope.detail;
    let stack_id = req_nonempty(d, "detail", "stack-id")?;
    let status = req_obj(d, "detail", "status-details")?;
    let drift_status = opt_str(status, "detail.status-details", "stack-drift-status")?;
    let detection = opt_str(status, "detail.status-details", "detection-status")?;
    let request = small_request(
        d,
        &[
            "stack-drift-detection-id",
            "status-details",
            "drift-detection-details",
        ],
    );
    let drifted = drift_status == Some("DRIFTED");
    let time = envelope.time(None, "time")?;
    let drift_hint = drifted.then(|| Drift {
        status: DriftStatus::Modified,
        differences: Vec::new(),
        expected_properties: None,
        actual_properties: None,
        origin: DriftOrigin::Cloudformation,
        detected_at: Some(time),
    });
    let c = change(
        envelope,
        ChangeSource::CloudformationDrift,
        "DetectStackDrift",
        stack_resource(stack_id),
        Identity::default(),
        request,
        StackHint {
            stack: stack_id.to_string(),
            logical_id: None,
            status: drift_status.map(str::to_string),
        },
        drift_hint,
    )?;
    let summary = format!(
        "stack-drift-status={} detection-status={}",
        drift_status.unwrap_or("-"),
        detection.unwrap_or("-")
    );
    if detection == Some("DETECTION_IN_PROGRESS") {
        return Ok(transitional(c, summary));
    }
    if drifted {
        return Ok(Observation::Change(Box::new(c)));
    }
    Ok(Observation::NotAChange {
        event_id: c.event_id.clone(),
        reason: NotAChange::NoDrift,
        detail: summary,
        change: Some(Box::new(c)),
    })
}

/// `CloudFormation Resource Status Change`: CloudFormation's own action on one resource.
pub(crate) fn parse_resource_status(envelope: &Envelope<'_>) -> Result<Observation, SourceError> {
    let d = envelope.detail;
    let stack_id = req_nonempty(d, "detail", "stack-id")?;
    let logical_id = req_nonempty(d, "detail", "logical-resource-id")?;
    let physical_id = opt_str(d, "detail", "physical-resource-id")?.filter(|p| !p.is_empty());
    let resource_type = req_nonempty(d, "detail", "resource-type")?;
    let status_details = req_obj(d, "detail", "status-details")?;
    let status = req_nonempty(status_details, "detail.status-details", "status")?;
    let reason = opt_str(status_details, "detail.status-details", "status-reason")?;
    let resource = ResourceRef {
        resource_type: Some(resource_type.to_string()),
        physical_id: physical_id.map(str::to_string),
        arn: physical_id
            .filter(|p| p.starts_with("arn:"))
            .map(str::to_string),
        identifiers: Vec::new(),
        listed_identifiers: 0,
        identifiers_truncated: false,
    };
    let c = change(
        envelope,
        ChangeSource::CloudformationResource,
        status,
        resource,
        cloudformation_identity(),
        small_request(d, &["status-details", "client-request-token"]),
        StackHint {
            stack: stack_id.to_string(),
            logical_id: Some(logical_id.to_string()),
            status: Some(status.to_string()),
        },
        None,
    )?;
    if status.ends_with("_IN_PROGRESS") {
        let detail = match reason {
            Some(r) if !r.is_empty() => format!("{logical_id} {status}: {r}"),
            _ => format!("{logical_id} {status}"),
        };
        return Ok(transitional(c, detail));
    }
    Ok(Observation::Change(Box::new(c)))
}

/// Healthy end states of a stack operation: nothing to act on.
fn is_healthy_stack_status(status: &str) -> bool {
    status.ends_with("_COMPLETE") && status != "ROLLBACK_COMPLETE"
}

/// `CloudFormation Stack Status Change`.
///
/// A failed or stuck stack (`*_FAILED`, `ROLLBACK_COMPLETE`) is a Change for the
/// policy (rollback rules); `*_IN_PROGRESS` is transitional; a healthy end state
/// (`UPDATE_COMPLETE`, `UPDATE_ROLLBACK_COMPLETE`...) is not a change: the stack is
/// usable and nothing needs doing.
pub(crate) fn parse_stack_status(envelope: &Envelope<'_>) -> Result<Observation, SourceError> {
    let d = envelope.detail;
    let stack_id = req_nonempty(d, "detail", "stack-id")?;
    let status_details = req_obj(d, "detail", "status-details")?;
    let status = req_nonempty(status_details, "detail.status-details", "status")?;
    let reason = opt_str(status_details, "detail.status-details", "status-reason")?;
    let c = change(
        envelope,
        ChangeSource::CloudformationStack,
        status,
        stack_resource(stack_id),
        cloudformation_identity(),
        small_request(d, &["status-details", "client-request-token"]),
        StackHint {
            stack: stack_id.to_string(),
            logical_id: None,
            status: Some(status.to_string()),
        },
        None,
    )?;
    let detail = match reason {
        Some(r) if !r.is_empty() => format!("stack {status}: {r}"),
        _ => format!("stack {status}"),
    };
    if status.ends_with("_IN_PROGRESS") {
        return Ok(transitional(c, detail));
    }
    if is_healthy_stack_status(status) {
        return Ok(Observation::NotAChange {
            event_id: c.event_id.clone(),
            reason: NotAChange::NoDrift,
            detail,
            change: Some(Box::new(c)),
        });
    }
    Ok(Observation::Change(Box::new(c)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::sources::{
        parse_event, CFN_DRIFT_STATUS_CHANGE, CFN_RESOURCE_STATUS_CHANGE, CFN_STACK_STATUS_CHANGE,
    };
    use serde_json::json;

    const STACK: &str =
        "arn:aws:cloudformation:us-east-1:123456789012:stack/app-network/5b3a1c20-0000-11f0-9c3b-0affd1c2b3e4";

    fn envelope(detail_type: &str, detail: Value) -> Value {
        json!({
            "version": "0", "id": "3d7b7f5e-1b2c-4d5e-8f90-a1b2c3d4e5f6",
            "detail-type": detail_type, "source": "aws.cloudformation",
            "account": "123456789012", "time": "2026-03-14T10:00:00Z",
            "region": "us-east-1", "resources": [STACK], "detail": detail
        })
    }

    fn drift(drift: &str, detection: &str) -> Value {
        envelope(
            CFN_DRIFT_STATUS_CHANGE,
            json!({"stack-id": STACK, "stack-drift-detection-id": "d1",
                   "status-details": {"stack-drift-status": drift, "detection-status": detection},
                   "drift-detection-details": {"drifted-stack-resource-count": 1}}),
        )
    }

    #[test]
    fn drift_detection_statuses() {
        let Observation::Change(c) = parse_event(&drift("DRIFTED", "DETECTION_COMPLETE")).unwrap()
        else {
            panic!()
        };
        assert_eq!(c.source, ChangeSource::CloudformationDrift);
        assert_eq!(c.stack_hint.as_ref().unwrap().stack, STACK);
        assert_eq!(c.resource.resource_type.as_deref(), Some(STACK_TYPE));
        assert_eq!(c.drift_hint.as_ref().unwrap().status, DriftStatus::Modified);
        assert_eq!(c.identity, Identity::default());

        let o = parse_event(&drift("IN_SYNC", "DETECTION_COMPLETE")).unwrap();
        assert!(matches!(
            o,
            Observation::NotAChange {
                reason: NotAChange::NoDrift,
                ..
            }
        ));
        let o = parse_event(&drift("UNKNOWN", "DETECTION_IN_PROGRESS")).unwrap();
        assert!(matches!(
            o,
            Observation::NotAChange {
                reason: NotAChange::Transitional,
                ..
            }
        ));
        // Partial results of a failed detection still report drift.
        let o = parse_event(&drift("DRIFTED", "DETECTION_FAILED")).unwrap();
        assert!(matches!(o, Observation::Change(_)));
    }

    fn resource(status: &str) -> Value {
        envelope(
            CFN_RESOURCE_STATUS_CHANGE,
            json!({"stack-id": STACK, "logical-resource-id": "WebSecurityGroup",
                   "physical-resource-id": "sg-0a1b2c3d4e5f67890",
                   "status-details": {"status": status, "status-reason": ""},
                   "resource-type": "AWS::EC2::SecurityGroup",
                   "client-request-token": "Console-UpdateStack-1"}),
        )
    }

    #[test]
    fn resource_status_is_cloudformations_own_action() {
        let Observation::Change(c) = parse_event(&resource("UPDATE_COMPLETE")).unwrap() else {
            panic!()
        };
        assert_eq!(c.source, ChangeSource::CloudformationResource);
        assert_eq!(
            c.identity.invoked_by.as_deref(),
            Some(CLOUDFORMATION_PRINCIPAL)
        );
        assert_eq!(
            c.resource.physical_id.as_deref(),
            Some("sg-0a1b2c3d4e5f67890")
        );
        let hint = c.stack_hint.unwrap();
        assert_eq!(hint.logical_id.as_deref(), Some("WebSecurityGroup"));
        assert_eq!(hint.status.as_deref(), Some("UPDATE_COMPLETE"));
        let o = parse_event(&resource("UPDATE_IN_PROGRESS")).unwrap();
        assert!(matches!(
            o,
            Observation::NotAChange {
                reason: NotAChange::Transitional,
                ..
            }
        ));
    }

    fn stack(status: &str) -> Value {
        envelope(
            CFN_STACK_STATUS_CHANGE,
            json!({"stack-id": STACK, "status-details": {"status": status, "status-reason": "x"},
                   "client-request-token": ""}),
        )
    }

    #[test]
    fn stack_statuses() {
        for status in [
            "UPDATE_ROLLBACK_FAILED",
            "UPDATE_FAILED",
            "ROLLBACK_COMPLETE",
            "DELETE_FAILED",
        ] {
            let Observation::Change(c) = parse_event(&stack(status)).unwrap() else {
                panic!("{status}")
            };
            assert_eq!(c.source, ChangeSource::CloudformationStack);
            assert_eq!(
                c.stack_hint.as_ref().unwrap().status.as_deref(),
                Some(status)
            );
            assert_eq!(
                c.identity.invoked_by.as_deref(),
                Some(CLOUDFORMATION_PRINCIPAL)
            );
            assert_eq!(c.operation, status);
        }
        for status in [
            "UPDATE_IN_PROGRESS",
            "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        ] {
            let o = parse_event(&stack(status)).unwrap();
            assert!(
                matches!(
                    o,
                    Observation::NotAChange {
                        reason: NotAChange::Transitional,
                        ..
                    }
                ),
                "{status}"
            );
        }
        for status in [
            "UPDATE_COMPLETE",
            "CREATE_COMPLETE",
            "UPDATE_ROLLBACK_COMPLETE",
        ] {
            let o = parse_event(&stack(status)).unwrap();
            assert!(
                matches!(
                    o,
                    Observation::NotAChange {
                        reason: NotAChange::NoDrift,
                        ..
                    }
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn errors_name_the_field() {
        let mut e = stack("UPDATE_FAILED");
        e["detail"]["status-details"]["status"] = json!(1);
        assert_eq!(
            parse_event(&e).unwrap_err().field(),
            Some("detail.status-details.status")
        );
        let mut e = resource("UPDATE_COMPLETE");
        e["detail"]
            .as_object_mut()
            .unwrap()
            .remove("logical-resource-id");
        assert_eq!(
            parse_event(&e).unwrap_err().field(),
            Some("detail.logical-resource-id")
        );
        let mut e = drift("DRIFTED", "DETECTION_COMPLETE");
        e["detail"]["stack-id"] = json!({});
        assert_eq!(
            parse_event(&e).unwrap_err().field(),
            Some("detail.stack-id")
        );
        let mut e = drift("DRIFTED", "DETECTION_COMPLETE");
        e["time"] = json!("soon");
        assert_eq!(parse_event(&e).unwrap_err().field(), Some("time"));
    }
}
