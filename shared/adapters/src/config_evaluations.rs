//! [`EvaluationSink`] over AWS Config `PutEvaluations` (moved from
//! `sweep::config_rule`, which re-exports it). The rule wraps each call in
//! the one retry layer; the SDK makes one attempt.
use async_trait::async_trait;

use super::errors::map_sdk_error;
use driftguard_core::ports::config_rule::{Compliance, Evaluation, EvaluationSink};
use driftguard_model::error::{PortError, PortResult};

/// [`EvaluationSink`] over AWS Config.
#[derive(Debug, Clone)]
pub struct ConfigEvaluationSink {
    client: aws_sdk_config::Client,
}

impl ConfigEvaluationSink {
    pub fn new(client: aws_sdk_config::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl EvaluationSink for ConfigEvaluationSink {
    async fn put_evaluations(
        &self,
        result_token: &str,
        evaluations: &[Evaluation],
        test_mode: bool,
    ) -> PortResult<usize> {
        use aws_sdk_config::types::{ComplianceType, Evaluation as SdkEvaluation};
        let failed = |message: String| PortError::Failed {
            service: "config",
            operation: "PutEvaluations",
            message,
        };
        let mut sdk = Vec::with_capacity(evaluations.len());
        for e in evaluations {
            let compliance = match e.compliance {
                Compliance::Compliant => ComplianceType::Compliant,
                Compliance::NonCompliant => ComplianceType::NonCompliant,
                Compliance::NotApplicable => ComplianceType::NotApplicable,
            };
            sdk.push(
                SdkEvaluation::builder()
                    .compliance_resource_type(&e.resource_type)
                    .compliance_resource_id(&e.resource_id)
                    .compliance_type(compliance)
                    .annotation(&e.annotation)
                    .ordering_timestamp(aws_smithy_types::DateTime::from_millis(
                        e.ordering_timestamp.timestamp_millis(),
                    ))
                    .build()
                    .map_err(|err| failed(format!("invalid evaluation: {err}")))?,
            );
        }
        let out = self
            .client
            .put_evaluations()
            .result_token(result_token)
            .set_evaluations(Some(sdk))
            .test_mode(test_mode)
            .send()
            .await
            .map_err(|e| map_sdk_error("config", "PutEvaluations", e))?;
        Ok(out.failed_evaluations().len())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_config::operation::put_evaluations::PutEvaluationsOutput;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use chrono::{DateTime, Utc};

    use driftguard_core::sweep::config_rule::truncate_annotation;

    const TOKEN: &str = "eyJlbmNyeXB0ZWREYXRhIjpbLTEyOCw1Nyw4NF19";
    const SG: &str = "sg-0123456789abcdef0";

    #[tokio::test]
    async fn put_evaluations_over_the_sdk_passes_token_timestamp_and_annotation() {
        let rule = mock!(aws_sdk_config::Client::put_evaluations)
            .match_requests(|r| {
                let e = &r.evaluations()[0];
                r.result_token() == Some(TOKEN)
                    && r.test_mode() == Some(false)
                    && e.compliance_type() == &aws_sdk_config::types::ComplianceType::NonCompliant
                    && e.annotation().is_some_and(|a| a.chars().count() <= 256)
                    && e.ordering_timestamp().to_millis().unwrap() == 1_772_446_542_118
            })
            .then_output(|| PutEvaluationsOutput::builder().build());
        let client = mock_client!(aws_sdk_config, RuleMode::Sequential, [&rule]);
        let sink = ConfigEvaluationSink::new(client);
        let e = Evaluation {
            resource_type: "AWS::EC2::SecurityGroup".into(),
            resource_id: SG.into(),
            compliance: Compliance::NonCompliant,
            annotation: truncate_annotation(&"/a".repeat(400)),
            ordering_timestamp: DateTime::parse_from_rfc3339("2026-03-02T10:15:42.118Z")
                .unwrap()
                .with_timezone(&Utc),
        };
        assert_eq!(sink.put_evaluations(TOKEN, &[e], false).await.unwrap(), 0);
        assert_eq!(rule.num_calls(), 1);
    }
}
