//! Raw event JSON, as CloudTrail writes it.
use serde_json::{json, Value};

use super::identities::ACCOUNT;

/// The CloudTrail `userIdentity` of [`super::identities::console`]: alice's
/// IAM Identity Center session, with its role as `sessionIssuer`.
pub fn console_user_identity() -> Value {
    let role = "AWSReservedSSO_AdministratorAccess_0123456789abcdef";
    json!({
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLE:alice@example.com",
        "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/alice@example.com"),
        "accountId": ACCOUNT,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "arn": format!("arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/{role}")
            }
        }
    })
}
