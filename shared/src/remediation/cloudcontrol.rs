//! Cloud Control `UpdateResource` with a JSON Patch that starts with `test` ops,
//! then `GetResourceRequestStatus` until the request settles.
use aws_sdk_cloudcontrol::types::{OperationStatus, ProgressEvent};
use aws_sdk_cloudcontrol::Client;

use super::executor::{classify, text, WaitPolicy};
use super::ExecutionError;
use crate::domain::Plan;
use crate::error::PortError;
use crate::resilience::{retry, RetryPolicy};

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

    use crate::domain::{PlannedCall, Strategy};

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
