//! [`RoleTrust`] over IAM `GetRole`: a role's `AssumeRolePolicyDocument`,
//! which IAM returns URL-encoded ("The policy that grants an entity
//! permission to assume the role … URL-encoded compliant with RFC 3986",
//! <https://docs.aws.amazon.com/IAM/latest/APIReference/API_Role.html>).
//! Only roles of the client's own account are looked up: `GetRole` takes a
//! name, so another account's role would read this account's namesake.
use async_trait::async_trait;
use aws_config::SdkConfig;

use super::errors::map_sdk_error;
use driftguard_core::ports::trust::RoleTrust;
use driftguard_model::domain::arn::{PrincipalRef, PrincipalType};
use driftguard_model::error::{PortError, PortResult};

/// Trust policies of the roles of `account`, read with `iam:GetRole`.
pub struct IamRoleTrust {
    iam: aws_sdk_iam::Client,
    account: String,
}

impl IamRoleTrust {
    /// Look up roles of `account` (the one `sdk`'s credentials are in).
    pub fn new(sdk: &SdkConfig, account: impl Into<String>) -> Self {
        Self {
            iam: aws_sdk_iam::Client::new(sdk),
            account: account.into(),
        }
    }
}

/// IAM returns policy documents URL-encoded (RFC 3986).
fn decoded(raw: &str) -> String {
    urlencoding::decode(raw)
        .map(|d| d.into_owned())
        .unwrap_or_else(|_| raw.to_string())
}

#[async_trait]
impl RoleTrust for IamRoleTrust {
    async fn trust_policy(&self, role_arn: &str) -> PortResult<Option<String>> {
        let Ok(role) = PrincipalRef::parse(role_arn) else {
            return Ok(None);
        };
        if role.kind != PrincipalType::Role || role.account != self.account {
            return Ok(None);
        }
        let out = self
            .iam
            .get_role()
            .role_name(role.name)
            .send()
            .await
            .map_err(|e| map_sdk_error("iam", "GetRole", e));
        let out = match out {
            Ok(out) => out,
            Err(PortError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        // The name found must be the role asked for, path included.
        Ok(out
            .role()
            .filter(|r| r.arn() == role_arn)
            .and_then(|r| r.assume_role_policy_document())
            .map(decoded))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn documents_are_url_decoded() {
        assert_eq!(
            decoded("%7B%22Version%22%3A%222012-10-17%22%7D"),
            r#"{"Version":"2012-10-17"}"#
        );
    }
}
