//! Cloud Control `UpdateResource` with a JSON Patch that starts with `test` ops,
//! then `GetResourceRequestStatus` until the request settles: the pure patch
//! ([`drift_patch`]) and the polling over the [`CloudControlRequests`] port
//! (AWS: `adapters::aws::cloudcontrol`, memory: `adapters::memory::cloudcontrol`).
//!
//! Last strategy, and opt-in per type (`remediation.cloud_control_types`): "We
//! strongly advise against using Cloud Control API to update resources that are
//! under active management by other services. Doing so can lead to unexpected
//! results. For example, don't use Cloud Control API to update resources that are
//! currently part of an CloudFormation stack."
//! (<https://docs.aws.amazon.com/cloudcontrolapi/latest/userguide/resource-operations-update.html>)
use std::cmp::Reverse;

use serde_json::{json, Value};

use super::executor::WaitPolicy;
use super::strategy_calls::UpdateResource;
use crate::ports::remediate::{
    CloudControlRequests, ExecutionError, RequestProgress, RequestStatus,
};
use crate::resilience::{retry, RetryPolicy};
use driftguard_model::domain::{DifferenceKind, Drift};
use driftguard_model::error::PortError;

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
fn failure(event: &RequestProgress) -> String {
    let code = event.error_code.as_deref().unwrap_or("unknown");
    let message = event.status_message.as_deref().unwrap_or("no message");
    if message.to_ascii_lowercase().contains("test") {
        format!(
            "a `test` operation failed ({code}: {message}): the resource changed since the drift was recorded, nothing was patched"
        )
    } else {
        format!("{code}: {message}")
    }
}

fn failed(message: String) -> ExecutionError {
    ExecutionError::Port(PortError::Failed {
        service: "cloudcontrol",
        operation: "UpdateResource",
        message,
    })
}

/// Start the patch; a patch whose `test` fails may be rejected up front.
async fn start(
    api: &dyn CloudControlRequests,
    call: &UpdateResource,
    policy: &RetryPolicy,
) -> Result<RequestProgress, ExecutionError> {
    let started = retry(policy, "cloudcontrol:UpdateResource", || {
        api.update_resource(call)
    })
    .await;
    match started {
        Ok(s) => Ok(s),
        Err(PortError::Failed { message, .. }) if message.contains("test") => Err(failed(format!(
            "a `test` operation failed: {message}; nothing was patched"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Send the plan's `UpdateResource`, then poll `GetResourceRequestStatus`
/// (bounded by `wait`) until the request succeeds or fails.
pub async fn run(
    api: &dyn CloudControlRequests,
    call: &UpdateResource,
    policy: &RetryPolicy,
    wait: &WaitPolicy,
) -> Result<Vec<String>, ExecutionError> {
    let (type_name, identifier) = (&call.type_name, &call.identifier);
    let mut event = start(api, call, policy).await?;
    let token = event.token.clone();
    let mut notes = vec![format!(
        "cloudcontrol:UpdateResource {type_name} {identifier} (request {})",
        token.as_deref().unwrap_or("?")
    )];
    for poll in 0..wait.max_polls {
        match event.status {
            RequestStatus::Success => {
                notes.push("request succeeded".into());
                return Ok(notes);
            }
            RequestStatus::Failed | RequestStatus::Cancelled => {
                return Err(failed(failure(&event)))
            }
            RequestStatus::Running => {}
        }
        let Some(token) = token.as_deref() else { break };
        if poll > 0 {
            tokio::time::sleep(wait.interval).await;
        }
        event = retry(policy, "cloudcontrol:GetResourceRequestStatus", || {
            api.request_status(token)
        })
        .await?;
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
    use serde_json::{json, Value};

    use driftguard_model::domain::PropertyDifference;

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
        d.status = driftguard_model::domain::DriftStatus::Modified;
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

    fn update() -> UpdateResource {
        UpdateResource {
            type_name: "AWS::SQS::Queue".into(),
            identifier: "https://sqs/q".into(),
            patch_document: "[]".into(),
        }
    }

    #[tokio::test]
    async fn a_request_that_never_settles_stops_after_the_bounded_polls() {
        use crate::memory::cloudcontrol::{progress, MemoryCloudControl};
        let api = MemoryCloudControl::answering(vec![Ok(progress(RequestStatus::Running))]);
        let wait = WaitPolicy::quick();
        let err = run(&api, &update(), &RetryPolicy::quick(), &wait)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ExecutionError::Port(PortError::Transient { message, .. }) if message.contains("did not settle")),
            "{err}"
        );
        assert_eq!(api.polls(), wait.max_polls as usize);
        assert_eq!(api.updates(), [update()], "sent once");
    }

    #[tokio::test]
    async fn a_patch_rejected_up_front_for_its_test_op_says_nothing_was_patched() {
        use crate::memory::cloudcontrol::MemoryCloudControl;
        let api = MemoryCloudControl::answering(vec![Err(PortError::Failed {
            service: "cloudcontrol",
            operation: "UpdateResource",
            message: "JSON Patch test operation failed".into(),
        })]);
        let err = run(&api, &update(), &RetryPolicy::quick(), &WaitPolicy::quick())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("nothing was patched"), "{err}");
        assert_eq!(api.polls(), 0);
    }
}
