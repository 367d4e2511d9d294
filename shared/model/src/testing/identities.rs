//! Who made a change: the CloudTrail `userIdentity` facts of the people and
//! roles the tests use.
use crate::domain::Identity;

/// The account the tests' changes happen in (driftguard's home account in them).
pub const ACCOUNT: &str = "123456789012";

/// alice, through IAM Identity Center, in the console of [`ACCOUNT`].
pub fn console() -> Identity {
    console_in(ACCOUNT)
}

/// alice, through IAM Identity Center, in the console of `account`: an
/// assumed `AWSReservedSSO_AdministratorAccess_…` role, `userAgent` `AWS
/// Internal`, `sessionCredentialFromConsole`.
pub fn console_in(account: &str) -> Identity {
    let role = "AWSReservedSSO_AdministratorAccess_0123456789abcdef";
    Identity {
        identity_type: Some("AssumedRole".into()),
        principal_arn: Some(format!(
            "arn:aws:sts::{account}:assumed-role/{role}/alice@example.com"
        )),
        session_issuer_arn: Some(format!(
            "arn:aws:iam::{account}:role/aws-reserved/sso.amazonaws.com/{role}"
        )),
        session_name: Some("alice@example.com".into()),
        user_agent: Some("AWS Internal".into()),
        source_ip: Some("198.51.100.7".into()),
        console_session: true,
        ..Identity::default()
    }
}

/// A session `session` of the role `name` in [`ACCOUNT`], called through an
/// SDK (`userAgent` `aws-sdk-rust/1.0`).
pub fn role(name: &str, session: &str) -> Identity {
    Identity {
        identity_type: Some("AssumedRole".into()),
        principal_arn: Some(format!(
            "arn:aws:sts::{ACCOUNT}:assumed-role/{name}/{session}"
        )),
        session_issuer_arn: Some(format!("arn:aws:iam::{ACCOUNT}:role/{name}")),
        session_name: Some(session.into()),
        user_agent: Some("aws-sdk-rust/1.0".into()),
        ..Identity::default()
    }
}

/// CloudFormation itself: `invokedBy`, `sourceIPAddress` and `userAgent`
/// all `cloudformation.amazonaws.com`.
pub fn cloudformation() -> Identity {
    Identity {
        identity_type: Some("AssumedRole".into()),
        invoked_by: Some("cloudformation.amazonaws.com".into()),
        source_ip: Some("cloudformation.amazonaws.com".into()),
        user_agent: Some("cloudformation.amazonaws.com".into()),
        ..Identity::default()
    }
}
