//! The Cloud Control port ([`CloudControlRequests`]) over the SDK:
//! `UpdateResource` and `GetResourceRequestStatus`, one attempt each (the
//! caller, `remediation::cloudcontrol::run`, retries), errors through the one
//! classifier ([`super::errors::map_sdk_error`]).
use async_trait::async_trait;
use aws_sdk_cloudcontrol::types::{OperationStatus, ProgressEvent};
use aws_sdk_cloudcontrol::Client;

use super::errors::map_sdk_error;
use driftguard_core::ports::remediate::{CloudControlRequests, RequestProgress, RequestStatus};
use driftguard_core::remediate::strategy_calls::UpdateResource;
use driftguard_model::error::PortResult;

const SERVICE: &str = "cloudcontrol";

/// [`CloudControlRequests`] on one Cloud Control client.
#[derive(Debug, Clone)]
pub struct AwsCloudControl {
    client: Client,
}

impl AwsCloudControl {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn status_of(status: Option<&OperationStatus>) -> RequestStatus {
    match status {
        Some(OperationStatus::Success) => RequestStatus::Success,
        Some(OperationStatus::Failed) => RequestStatus::Failed,
        Some(OperationStatus::CancelComplete) => RequestStatus::Cancelled,
        _ => RequestStatus::Running,
    }
}

/// A missing progress event is a request still running without a token: the
/// caller stops polling and says it did not settle.
fn progress_of(event: Option<&ProgressEvent>) -> RequestProgress {
    RequestProgress {
        token: event.and_then(|e| e.request_token()).map(str::to_string),
        status: status_of(event.and_then(|e| e.operation_status())),
        error_code: event
            .and_then(|e| e.error_code())
            .map(|c| c.as_str().to_string()),
        status_message: event.and_then(|e| e.status_message()).map(str::to_string),
    }
}

#[async_trait]
impl CloudControlRequests for AwsCloudControl {
    async fn update_resource(&self, call: &UpdateResource) -> PortResult<RequestProgress> {
        let out = self
            .client
            .update_resource()
            .type_name(&call.type_name)
            .identifier(&call.identifier)
            .patch_document(&call.patch_document)
            .send()
            .await
            .map_err(|e| map_sdk_error(SERVICE, "UpdateResource", e))?;
        Ok(progress_of(out.progress_event()))
    }

    async fn request_status(&self, token: &str) -> PortResult<RequestProgress> {
        let out = self
            .client
            .get_resource_request_status()
            .request_token(token)
            .send()
            .await
            .map_err(|e| map_sdk_error(SERVICE, "GetResourceRequestStatus", e))?;
        Ok(progress_of(out.progress_event()))
    }
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

    use driftguard_core::remediate::cloudcontrol::run;
    use driftguard_core::remediate::executor::WaitPolicy;
    use driftguard_core::remediate::strategy_calls::CloudControlCall;
    use driftguard_core::resilience::RetryPolicy;
    use driftguard_model::domain::PlannedCall;

    /// The plan's call, read from the stored shape.
    fn call() -> UpdateResource {
        let patch = json!([
            {"op": "test", "path": "/VisibilityTimeout", "value": 0},
            {"op": "replace", "path": "/VisibilityTimeout", "value": 45}
        ]);
        let planned = PlannedCall::new(
            "cloudcontrol",
            "UpdateResource",
            json!({"TypeName": "AWS::SQS::Queue", "Identifier": "https://sqs/q", "PatchDocument": patch.to_string()}),
        );
        let CloudControlCall::UpdateResource(u) = CloudControlCall::from_planned(&planned).unwrap();
        u
    }

    fn progress(status: OperationStatus) -> ProgressEvent {
        ProgressEvent::builder()
            .type_name("AWS::SQS::Queue")
            .identifier("https://sqs/q")
            .request_token("tok-1")
            .operation_status(status)
            .build()
    }

    fn port(client: Client) -> AwsCloudControl {
        AwsCloudControl::new(client)
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
            &port(client),
            &call(),
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
            &port(client),
            &call(),
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

    #[test]
    fn progress_events_map_to_the_port_status() {
        let cancel = progress(OperationStatus::CancelComplete);
        assert_eq!(progress_of(Some(&cancel)).status, RequestStatus::Cancelled);
        let pending = progress(OperationStatus::Pending);
        let p = progress_of(Some(&pending));
        assert_eq!(
            (p.status, p.token.as_deref()),
            (RequestStatus::Running, Some("tok-1"))
        );
        assert_eq!(progress_of(None).token, None);
    }
}
