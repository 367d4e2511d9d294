//! Drift detection: [`CfnDriftDetector`] over `DetectStackResourceDrift`, and
//! CloudFormation's drift record read into a [`Drift`].
use async_trait::async_trait;
use aws_sdk_cloudformation::Client;
use driftguard_core::ports::DriftDetector;
use driftguard_model::domain::{
    DifferenceKind, Drift, DriftOrigin, DriftStatus, PropertyDifference,
};
use driftguard_model::error::{PortError, PortResult};

use super::SERVICE;
use crate::errors::map_sdk_error;

/// [`DriftDetector`] over `DetectStackResourceDrift`.
#[derive(Debug, Clone)]
pub struct CfnDriftDetector {
    client: Client,
}

impl CfnDriftDetector {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// A property value as CloudFormation reports it (JSON text), as JSON when it parses.
fn json_or_string(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|_| serde_json::Value::String(s.to_string()))
}

/// A `PropertyDifference` value, typed as the resource document has it.
///
/// `ExpectedValue`/`ActualValue` are strings ("The actual property value of the
/// resource property.", aws-sdk-cloudformation 1.136 `PropertyDifference`), while
/// `ExpectedProperties`/`ActualProperties` are "a JSON structure".
/// Objects and arrays are parsed; a scalar is a number or boolean only when the
/// document has that very value, typed, at the difference's path: otherwise a
/// string such as `"true"` or `"42"` stays a string, so a Cloud Control `test`
/// op compares it as what it is.
fn difference_value(
    raw: &str,
    document: Option<&serde_json::Value>,
    path: &str,
) -> serde_json::Value {
    use serde_json::Value;
    let typed_in_document = |v: &Value| document.and_then(|d| d.pointer(path)) == Some(v);
    match serde_json::from_str::<Value>(raw) {
        Ok(v) if v.is_object() || v.is_array() => v,
        // The document's typed scalar, when it is this very value.
        Ok(v @ (Value::Number(_) | Value::Bool(_))) if typed_in_document(&v) => v,
        _ => Value::String(raw.to_string()),
    }
}

/// CloudFormation's drift record → [`Drift`].
pub fn drift_from_sdk(d: &aws_sdk_cloudformation::types::StackResourceDrift) -> Drift {
    let expected_properties = d.expected_properties().map(json_or_string);
    let actual_properties = d.actual_properties().map(json_or_string);
    Drift {
        status: d
            .stack_resource_drift_status()
            .map(|s| DriftStatus::parse(s.as_str()))
            .unwrap_or(DriftStatus::Unknown),
        differences: d
            .property_differences()
            .iter()
            .map(|p| {
                let path = p.property_path().unwrap_or_default();
                PropertyDifference {
                    path: path.to_string(),
                    expected: p
                        .expected_value()
                        .map(|v| difference_value(v, expected_properties.as_ref(), path)),
                    actual: p
                        .actual_value()
                        .map(|v| difference_value(v, actual_properties.as_ref(), path)),
                    kind: p
                        .difference_type()
                        .map(|k| DifferenceKind::parse(k.as_str()))
                        .unwrap_or(DifferenceKind::NotEqual),
                }
            })
            .collect(),
        expected_properties,
        actual_properties,
        origin: DriftOrigin::Cloudformation,
        detected_at: d.timestamp().and_then(crate::to_chrono),
    }
}

#[async_trait]
impl DriftDetector for CfnDriftDetector {
    async fn detect_resource_drift(&self, stack: &str, logical_id: &str) -> PortResult<Drift> {
        let out = self
            .client
            .detect_stack_resource_drift()
            .stack_name(stack)
            .logical_resource_id(logical_id)
            .send()
            .await
            .map_err(
                |err| match map_sdk_error(SERVICE, "DetectStackResourceDrift", err) {
                    // "Drift detection is not supported for resource type ..." and the like.
                    PortError::Failed { message, .. }
                        if message.to_ascii_lowercase().contains("not supported") =>
                    {
                        PortError::Unsupported {
                            service: SERVICE,
                            operation: "DetectStackResourceDrift",
                            message,
                        }
                    }
                    other => other,
                },
            )?;
        let drift = out
            .stack_resource_drift()
            .ok_or_else(|| PortError::Failed {
                service: SERVICE,
                operation: "DetectStackResourceDrift",
                message: format!("no drift record returned for {stack}/{logical_id}"),
            })?;
        unsupported_status(drift, stack, logical_id)?;
        Ok(drift_from_sdk(drift))
    }
}

/// `UNSUPPORTED` (a `StackResourceDriftStatus` value: aws-sdk-cloudformation 1.136
/// lists "DELETED", "IN_SYNC", "MODIFIED", "NOT_CHECKED", "UNKNOWN", "UNSUPPORTED")
/// is its own outcome, the port's `Unsupported`, carrying `DriftStatusReason` ("The
/// reason for the drift status."): nothing was checked, so it must neither read as
/// in sync nor as an unknown that happens to be reported NOT_APPLICABLE.
/// `UNKNOWN` ("CloudFormation could not run drift detection for the resource. See
/// the DriftStatusReason for details.") stays a `Drift` and its reason is logged.
fn unsupported_status(
    drift: &aws_sdk_cloudformation::types::StackResourceDrift,
    stack: &str,
    logical_id: &str,
) -> PortResult<()> {
    use aws_sdk_cloudformation::types::StackResourceDriftStatus as S;
    let reason = drift.drift_status_reason().unwrap_or("no reason given");
    match drift.stack_resource_drift_status() {
        Some(S::Unsupported) => Err(PortError::Unsupported {
            service: SERVICE,
            operation: "DetectStackResourceDrift",
            message: format!("UNSUPPORTED for {stack}/{logical_id}: {reason}"),
        }),
        Some(S::UnknownValue) => {
            tracing::info!(
                stack,
                logical_id,
                reason,
                "drift detection reported UNKNOWN"
            );
            Ok(())
        }
        _ => Ok(()),
    }
}
