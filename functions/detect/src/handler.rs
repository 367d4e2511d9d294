//! detect's logic: hand the EventBridge envelope to the shared pipeline and
//! turn its outcome into the Lambda response (or a failed invocation).
use driftguard_core::detect::{Outcome, Pipeline, PipelineError};
pub use lambda_runtime::Diagnostic;
use serde_json::Value;

/// A failed invocation: Lambda retries it, then the DLQ keeps the event.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct DetectError(#[from] pub PipelineError);

impl From<DetectError> for Diagnostic {
    fn from(e: DetectError) -> Self {
        Diagnostic {
            // e.g. `driftguard.malformed`, `driftguard.throttled`: groupable in metrics.
            error_type: format!("driftguard.{}", e.0.class()),
            error_message: e.0.to_string(),
        }
    }
}

/// Process one event. The response is the outcome as JSON (shown by
/// `cargo lambda invoke`); errors fail the invocation.
pub async fn handle(pipeline: &Pipeline, event: Value) -> Result<Value, DetectError> {
    handle_until(pipeline, event, None).await
}

/// [`handle`] inside an invocation ending at `deadline` (the claim's lease).
///
/// The event is written back to bytes and takes [`handle_raw_until`], the
/// Lambda's own path, so tests and the demo run what production runs.
pub async fn handle_until(
    pipeline: &Pipeline,
    event: Value,
    deadline: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Value, DetectError> {
    // Serializing a `Value` cannot fail (its keys are strings); empty bytes
    // would be reported as malformed JSON anyway.
    let payload = serde_json::to_vec(&event).unwrap_or_default();
    handle_raw_until(pipeline, &payload, deadline).await
}

/// The Lambda's entry point: the payload as the runtime received it (raw JSON),
/// parsed once by the decision path `shared/benches/decision_path.rs` measures.
pub async fn handle_raw_until(
    pipeline: &Pipeline,
    payload: &[u8],
    deadline: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Value, DetectError> {
    let outcome: Outcome = pipeline.process_raw_until(payload, deadline).await?;
    // Serializing our own types cannot fail; an empty object is the fallback anyway.
    Ok(serde_json::to_value(&outcome).unwrap_or_else(|_| Value::Object(Default::default())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use driftguard_core::detect::Settings;
    use driftguard_core::testing::ports::empty_detect_ports;
    use driftguard_model::domain::policy::Policy;
    use serde_json::json;

    use super::*;

    fn pipeline() -> Pipeline {
        Pipeline::new(
            empty_detect_ports(chrono::Utc::now()),
            Arc::new(Policy::default()),
            Settings::default(),
        )
    }

    #[tokio::test]
    async fn malformed_event_fails_with_a_diagnostic_naming_the_field() {
        let err = handle(
            &pipeline(),
            json!({"source": "aws.ec2", "detail-type": "AWS API Call via CloudTrail"}),
        )
        .await
        .unwrap_err();
        let d: Diagnostic = err.into();
        assert_eq!(d.error_type, "driftguard.malformed");
        assert!(d.error_message.contains("detail"), "{}", d.error_message);
    }

    #[tokio::test]
    async fn unsupported_event_is_skipped() {
        let out = handle(
            &pipeline(),
            json!({"source": "aws.s3", "detail-type": "Object Created", "detail": {}}),
        )
        .await
        .unwrap();
        assert_eq!(out["outcome"], "skipped");
    }

    #[tokio::test]
    async fn a_console_change_makes_the_function_print_one_emf_line() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/detect/console-sg-ingress.json"
        );
        let event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let capture = driftguard_core::metrics::capture();
        let out = handle(&pipeline(), event).await.unwrap();
        assert_eq!(out["outcome"], "decided", "{out}");
        let lines = capture.lines();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        let line = &lines[0];
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "Driftguard"
        );
        assert_eq!(
            (&line["Function"], &line["ChangesSeen"]),
            (&json!("detect"), &json!(1.0))
        );
        let (metrics, dimensions) = driftguard_core::metrics::declared(line);
        assert!(metrics.contains(&("DriftTicketsOpened".into(), "Count".into())));
        assert!(metrics.contains(&("ExposureToDetection".into(), "Seconds".into())));
        assert_eq!(
            dimensions,
            json!([["Function"], ["Function", "Severity", "Action"]])
        );
    }
}
