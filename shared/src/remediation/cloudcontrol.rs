//! Cloud Control `UpdateResource` with a JSON Patch that starts with `test` ops,
//! then `GetResourceRequestStatus` until the request settles.
//!
//! Last strategy, and opt-in per type (`remediation.cloud_control_types`): "We
//! strongly advise against using Cloud Control API to update resources that are
//! under active management by other services. Doing so can lead to unexpected
//! results. For example, don't use Cloud Control API to update resources that are
//! currently part of an CloudFormation stack."
//! (<https://docs.aws.amazon.com/cloudcontrolapi/latest/userguide/resource-operations-update.html>)
use std::cmp::Reverse;

use aws_sdk_cloudcontrol::types::{OperationStatus, ProgressEvent};
use aws_sdk_cloudcontrol::Client;
use serde_json::{json, Value};

use super::executor::{classify, text, WaitPolicy};
use super::ExecutionError;
use crate::domain::{DifferenceKind, Drift, Plan};
use crate::error::PortError;
use crate::resilience::{retry, RetryPolicy};

/// The JSON Patch that moves `drift`'s actual values back to the expected ones,
/// guarded by `test` ops on the actual values (so a resource that changed again
/// since the drift was recorded is not overwritten blindly).
///
/// Order: every `test` first (they check the document as it is), then the
/// `replace` ops, then the `remove` ops (per array from the highest index down:
/// RFC 6902 applies operations "sequentially in the order they appear", so
/// removing `/Tags/1` before `/Tags/2` would shift the second one onto the wrong
/// element, <https://datatracker.ietf.org/doc/html/rfc6902#section-3>), then the
/// `add` ops from the lowest index up. Values are used as CloudFormation reports
/// them: a string `"true"` or `"42"` stays a string (see `drift_from_sdk`).
pub fn drift_patch(drift: &Drift) -> Result<Vec<Value>, String> {
    if drift.differences.is_empty() {
        return Err("the drift lists no property differences".into());
    }
    let mut tests = Vec::new();
    let mut replaces = Vec::new();
    let mut removes: Vec<&str> = Vec::new();
    let mut adds: Vec<(&str, &Value)> = Vec::new();
    for d in &drift.differences {
        let path = d.path.as_str();
        let expected = || {
            d.expected
                .as_ref()
                .ok_or_else(|| format!("difference at {path} has no expected value"))
        };
        match d.kind {
            DifferenceKind::NotEqual | DifferenceKind::Add => {
                let actual = d.actual.as_ref().ok_or_else(|| {
                    format!("difference at {path} has no actual value: a `test` op cannot guard it")
                })?;
                tests.push(json!({"op": "test", "path": path, "value": actual}));
                if d.kind == DifferenceKind::Add {
                    removes.push(path);
                } else {
                    replaces.push(json!({"op": "replace", "path": path, "value": expected()?}));
                }
            }
            DifferenceKind::Remove => adds.push((path, expected()?)),
        }
    }
    if tests.is_empty() {
        return Err(
            "no difference has an actual value to `test`: the patch would be unguarded".into(),
        );
    }
    removes.sort_by_key(|p| Reverse(pointer_key(p)));
    adds.sort_by_key(|(p, _)| pointer_key(p));
    tests.extend(replaces);
    tests.extend(
        removes
            .into_iter()
            .map(|p| json!({"op": "remove", "path": p})),
    );
    tests.extend(
        adds.into_iter()
            .map(|(p, v)| json!({"op": "add", "path": p, "value": v})),
    );
    Ok(tests)
}

/// Sort key of a JSON pointer: its parent, then its last segment as an array
/// index when it is one (so `/Tags/10` sorts after `/Tags/9`).
fn pointer_key(path: &str) -> (String, Option<u64>, String) {
    let (parent, last) = path.rsplit_once('/').unwrap_or(("", path));
    (parent.to_string(), last.parse().ok(), last.to_string())
}

/// Why a settled request failed, in words; a failed `test` op is named as such.
fn failure(event: &ProgressEvent) -> String {
    let code = event.error_code().map(|c| c.as_str()).unwrap_or("unknown");
    let message = event.status_message().unwrap_or("no message");
    if message.to_ascii_lowercase().contains("test") {
        format!(
            "a `test` operation failed ({code}: {message}): the resource changed since the drift was recorded, nothing was patched"
        )
    } else {
        format!("{code}: {message}")
    }
}

pub async fn run(
    client: &Client,
    plan: &Plan,
    policy: &RetryPolicy,
    wait: &WaitPolicy,
) -> Result<Vec<String>, ExecutionError> {
    let call = plan
        .calls
        .iter()
        .find(|c| c.operation == "UpdateResource")
        .ok_or_else(|| ExecutionError::Refused("plan has no UpdateResource call".into()))?;
    let type_name = text(&call.parameters, "TypeName")?;
    let identifier = text(&call.parameters, "Identifier")?;
    let patch = text(&call.parameters, "PatchDocument")?;
    let started = retry(policy, "cloudcontrol:UpdateResource", || async {
        client
            .update_resource()
            .type_name(&type_name)
            .identifier(&identifier)
            .patch_document(&patch)
            .send()
            .await
            .map_err(|e| classify("cloudcontrol", "UpdateResource", e))
    })
    .await;
    let started = match started {
        Ok(s) => s,
        // A patch whose `test` fails may be rejected up front.
        Err(PortError::Failed { message, .. }) if message.contains("test") => {
            return Err(ExecutionError::Port(PortError::Failed {
                service: "cloudcontrol",
                operation: "UpdateResource",
                message: format!("a `test` operation failed: {message}; nothing was patched"),
            }))
        }
        Err(e) => return Err(e.into()),
    };
    let mut event = started.progress_event().cloned();
    let token = event
        .as_ref()
        .and_then(|e| e.request_token())
        .map(str::to_string);
    let mut notes = vec![format!(
        "cloudcontrol:UpdateResource {type_name} {identifier} (request {})",
        token.as_deref().unwrap_or("?")
    )];
    for poll in 0..wait.max_polls {
        match event.as_ref().and_then(|e| e.operation_status()) {
            Some(OperationStatus::Success) => {
                notes.push("request succeeded".into());
                return Ok(notes);
            }
            Some(OperationStatus::Failed) | Some(OperationStatus::CancelComplete) => {
                let why = event.as_ref().map(failure).unwrap_or_default();
                return Err(ExecutionError::Port(PortError::Failed {
                    service: "cloudcontrol",
                    operation: "UpdateResource",
                    message: why,
                }));
            }
            _ => {}
        }
        let Some(token) = token.as_deref() else { break };
        if poll > 0 {
            tokio::time::sleep(wait.interval).await;
        }
        let status = retry(policy, "cloudcontrol:GetResourceRequestStatus", || async {
            client
                .get_resource_request_status()
                .request_token(token)
                .send()
                .await
                .map_err(|e| classify("cloudcontrol", "GetResourceRequestStatus", e))
        })
        .await?;
        event = status.progress_event().cloned();
    }
    Err(ExecutionError::Port(PortError::Transient {
        service: "cloudcontrol",
        operation: "GetResourceRequestStatus",
        message: format!(
            "request for {identifier} did not settle after {} polls",
            wait.max_polls
        ),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_cloudcontrol::operation::get_resource_request_status::GetResourceRequestStatusOutput;
    use aws_sdk_cloudcontrol::operation::update_resource::UpdateResourceOutput;
    use aws_sdk_cloudcontrol::types::HandlerErrorCode;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use serde_json::{json, Value};

    use crate::domain::{PlannedCall, PropertyDifference, Strategy};

    fn plan() -> Plan {
        let patch = json!([
            {"op": "test", "path": "/VisibilityTimeout", "value": 0},
            {"op": "replace", "path": "/VisibilityTimeout", "value": 45}
        ]);
        Plan {
            strategy: Strategy::CloudControlPatch,
            calls: vec![PlannedCall::new(
                "cloudcontrol",
                "UpdateResource",
                json!({"TypeName": "AWS::SQS::Queue", "Identifier": "https://sqs/q", "PatchDocument": patch.to_string()}),
            )],
            expected: String::new(),
            skipped: vec![],
        }
    }

    fn progress(status: OperationStatus) -> ProgressEvent {
        ProgressEvent::builder()
            .type_name("AWS::SQS::Queue")
            .identifier("https://sqs/q")
            .request_token("tok-1")
            .operation_status(status)
            .build()
    }

    fn diff(
        path: &str,
        kind: DifferenceKind,
        expected: Option<Value>,
        actual: Option<Value>,
    ) -> PropertyDifference {
        PropertyDifference {
            path: path.into(),
            expected,
            actual,
            kind,
        }
    }

    fn drift(differences: Vec<PropertyDifference>) -> Drift {
        let mut d = Drift::from_event(differences, "test");
        d.status = crate::domain::DriftStatus::Modified;
        d
    }

    /// Two tags added out of band at /Tags/1 and /Tags/2: RFC 6902 applies the
    /// operations "sequentially in the order they appear in the array"
    /// (https://datatracker.ietf.org/doc/html/rfc6902#section-3), so the patch
    /// removes /Tags/2 first and the template's tag at /Tags/0 survives.
    #[test]
    fn two_removals_from_one_array_go_from_the_highest_index_down() {
        let actual = json!({"Tags": [
            {"Key": "team", "Value": "a"},
            {"Key": "x", "Value": "1"},
            {"Key": "y", "Value": "2"},
        ]});
        let ops = drift_patch(&drift(vec![
            diff(
                "/Tags/1",
                DifferenceKind::Add,
                None,
                Some(json!({"Key": "x", "Value": "1"})),
            ),
            diff(
                "/Tags/2",
                DifferenceKind::Add,
                None,
                Some(json!({"Key": "y", "Value": "2"})),
            ),
        ]))
        .unwrap();
        let removes: Vec<&str> = ops
            .iter()
            .filter(|o| o["op"] == "remove")
            .filter_map(|o| o["path"].as_str())
            .collect();
        assert_eq!(removes, ["/Tags/2", "/Tags/1"]);
        assert!(ops.iter().take(2).all(|o| o["op"] == "test"), "{ops:?}");
        let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops)).unwrap();
        let mut doc = actual;
        json_patch::patch(&mut doc, &patch).unwrap();
        assert_eq!(doc, json!({"Tags": [{"Key": "team", "Value": "a"}]}));
    }

    #[test]
    fn indices_sort_as_numbers_and_adds_go_up() {
        let ops = drift_patch(&drift(vec![
            diff("/Rules/9", DifferenceKind::Add, None, Some(json!("r9"))),
            diff("/Rules/10", DifferenceKind::Add, None, Some(json!("r10"))),
            diff("/Other/3", DifferenceKind::Remove, Some(json!("o3")), None),
            diff("/Other/1", DifferenceKind::Remove, Some(json!("o1")), None),
        ]))
        .unwrap();
        let order: Vec<(&str, &str)> = ops
            .iter()
            .filter(|o| o["op"] != "test")
            .map(|o| (o["op"].as_str().unwrap(), o["path"].as_str().unwrap()))
            .collect();
        assert_eq!(
            order,
            [
                ("remove", "/Rules/10"),
                ("remove", "/Rules/9"),
                ("add", "/Other/1"),
                ("add", "/Other/3")
            ]
        );
    }

    #[test]
    fn string_values_stay_strings_in_test_and_replace_ops() {
        let ops = drift_patch(&drift(vec![diff(
            "/Tags/0/Value",
            DifferenceKind::NotEqual,
            Some(json!("true")),
            Some(json!("42")),
        )]))
        .unwrap();
        assert_eq!(
            ops[0],
            json!({"op": "test", "path": "/Tags/0/Value", "value": "42"})
        );
        assert_eq!(
            ops[1],
            json!({"op": "replace", "path": "/Tags/0/Value", "value": "true"})
        );
    }

    #[tokio::test]
    async fn patch_is_sent_with_test_ops_first_and_polled_to_success() {
        let update = mock!(aws_sdk_cloudcontrol::Client::update_resource)
            .match_requests(|r| {
                let doc: Value = serde_json::from_str(r.patch_document().unwrap()).unwrap();
                doc[0]["op"] == "test" && r.type_name() == Some("AWS::SQS::Queue")
            })
            .then_output(|| {
                UpdateResourceOutput::builder()
                    .progress_event(progress(OperationStatus::InProgress))
                    .build()
            });
        let status = mock!(aws_sdk_cloudcontrol::Client::get_resource_request_status)
            .sequence()
            .output(|| {
                GetResourceRequestStatusOutput::builder()
                    .progress_event(progress(OperationStatus::InProgress))
                    .build()
            })
            .output(|| {
                GetResourceRequestStatusOutput::builder()
                    .progress_event(progress(OperationStatus::Success))
                    .build()
            })
            .build();
        let client = mock_client!(aws_sdk_cloudcontrol, RuleMode::MatchAny, [&update, &status]);
        let notes = run(
            &client,
            &plan(),
            &RetryPolicy::quick(),
            &WaitPolicy::quick(),
        )
        .await
        .unwrap();
        assert_eq!(update.num_calls(), 1);
        assert_eq!(status.num_calls(), 2);
        assert_eq!(notes.last().unwrap(), "request succeeded");
    }

    #[tokio::test]
    async fn a_failing_test_op_fails_the_request_and_says_why() {
        let update = mock!(aws_sdk_cloudcontrol::Client::update_resource).then_output(|| {
            UpdateResourceOutput::builder()
                .progress_event(progress(OperationStatus::InProgress))
                .build()
        });
        let status =
            mock!(aws_sdk_cloudcontrol::Client::get_resource_request_status).then_output(|| {
                let mut failed = progress(OperationStatus::Failed);
                failed.error_code = Some(HandlerErrorCode::InvalidRequest);
                failed.status_message =
                    Some("JSON Patch test operation failed at /VisibilityTimeout".into());
                GetResourceRequestStatusOutput::builder()
                    .progress_event(failed)
                    .build()
            });
        let client = mock_client!(aws_sdk_cloudcontrol, RuleMode::MatchAny, [&update, &status]);
        let err = run(
            &client,
            &plan(),
            &RetryPolicy::quick(),
            &WaitPolicy::quick(),
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains("a `test` operation failed"),
            "{err}"
        );
        assert!(err.to_string().contains("nothing was patched"), "{err}");
    }
}
