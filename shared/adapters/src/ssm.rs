//! [`ParameterReader`] over SSM `GetParameter` (with decryption: the policy may
//! be a SecureString). Retried by the one retry layer; the SDK makes one attempt.
use async_trait::async_trait;

use super::errors::map_sdk_error;
use driftguard_core::ports::ParameterReader;
use driftguard_core::resilience::{retry, RetryPolicy};
use driftguard_model::error::PortResult;

/// The policy parameter's reader: an SSM client (a newtype, since neither the
/// port nor the client is this crate's).
#[derive(Debug, Clone)]
pub struct SsmParameters(pub aws_sdk_ssm::Client);

impl SsmParameters {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self(aws_sdk_ssm::Client::new(sdk))
    }
}

#[async_trait]
impl ParameterReader for SsmParameters {
    async fn read_parameter(&self, name: &str) -> PortResult<String> {
        let out = retry(&RetryPolicy::default(), "ssm:GetParameter", || async {
            self.0
                .get_parameter()
                .name(name)
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| map_sdk_error("ssm", "GetParameter", e))
        })
        .await?;
        // No value reads as empty (the policy parser then says what is missing).
        Ok(out
            .parameter()
            .and_then(|p| p.value())
            .unwrap_or_default()
            .to_string())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use aws_sdk_ssm::operation::get_parameter::GetParameterOutput;
    use aws_sdk_ssm::types::Parameter;
    use aws_smithy_mocks::{mock, mock_client};
    use driftguard_core::config::{load_policy, PolicySource};

    #[tokio::test]
    async fn policy_from_ssm_parameter() {
        let rule = mock!(aws_sdk_ssm::Client::get_parameter)
            .match_requests(|r| r.name() == Some("/dg/policy") && r.with_decryption() == Some(true))
            .then_output(|| {
                GetParameterOutput::builder()
                    .parameter(
                        Parameter::builder()
                            .value("version: 1\ndefaults: {dry_run: false}\n")
                            .build(),
                    )
                    .build()
            });
        let ssm = super::SsmParameters(mock_client!(aws_sdk_ssm, [&rule]));
        let p = load_policy(&PolicySource::Parameter("/dg/policy".into()), Some(&ssm))
            .await
            .unwrap();
        assert!(!p.dry_run_default());
    }
}
