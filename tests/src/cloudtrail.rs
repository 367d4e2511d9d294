//! CloudTrail-shaped test input: the EventBridge envelope AWS delivers for an
//! API call ("AWS API Call via CloudTrail") and the `userIdentity` blocks of
//! the callers the tests need (a console SSO user, an assumed-role session,
//! driftguard's own remediation role).
//!
//! ```ignore
//! let event = cloudtrail_event(
//!     &unique("ev"), "ec2", "AuthorizeSecurityGroupIngress",
//!     console_user(), request, Value::Null, Origin::Console,
//! );
//! ```
use serde_json::{json, Value};

use driftguard_cli::emulator::{ACCOUNT, REGION};

/// The IAM role behind [`console_user`]'s SSO session.
pub const CONSOLE_ROLE: &str =
    "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123456789abcdef";

/// User agent of an SDK call from a workstation.
pub const SDK_USER_AGENT: &str = "aws-sdk-rust/1.3 os/linux";

/// User agent of an SDK call from a Lambda function (driftguard's own calls).
pub const LAMBDA_USER_AGENT: &str =
    "aws-sdk-rust/1.3 os/linux lang/rust exec-env/AWS_Lambda_provided.al2023";

/// Where a call came from; it sets the source IP, the user agent and
/// `sessionCredentialFromConsole` the way CloudTrail records them.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// The AWS console.
    Console,
    /// An SDK or CLI call with this user agent.
    Sdk(&'a str),
}

/// An EventBridge envelope around a CloudTrail management-event record for
/// `service`:`name`, timestamped now. `response` is the record's
/// `responseElements` (`Value::Null` when the call returns nothing of note).
pub fn cloudtrail_event(
    event_id: &str,
    service: &str,
    name: &str,
    identity: Value,
    request: Value,
    response: Value,
    origin: Origin<'_>,
) -> Value {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let (source_ip, user_agent, console) = match origin {
        Origin::Console => ("198.51.100.7", "AWS Internal", true),
        Origin::Sdk(agent) => ("203.0.113.10", agent, false),
    };
    let mut detail = json!({
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": now,
        "eventSource": format!("{service}.amazonaws.com"),
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
        "requestParameters": request,
        "responseElements": response,
        "requestID": format!("req-{event_id}"),
        "eventID": event_id,
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management"
    });
    if console {
        detail["sessionCredentialFromConsole"] = json!("true");
    }
    json!({
        "version": "0",
        "id": format!("env-{event_id}"),
        "detail-type": "AWS API Call via CloudTrail",
        "source": format!("aws.{service}"),
        "account": ACCOUNT,
        "time": now,
        "region": REGION,
        "resources": [],
        "detail": detail
    })
}

/// A person signed in to the console through IAM Identity Center (SSO),
/// session `alice@example.com` of [`CONSOLE_ROLE`].
pub fn console_user() -> Value {
    json!({
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLECONSOLE:alice@example.com",
        "arn": "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com",
        "accountId": ACCOUNT,
        "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLECONSOLE", "arn": CONSOLE_ROLE, "accountId": ACCOUNT,
                "userName": "AWSReservedSSO_AdministratorAccess_0123456789abcdef"},
            "attributes": {"creationDate": "2026-03-01T09:00:00Z", "mfaAuthenticated": "false"}
        }
    })
}

/// Session `session` of role `role` (role id `AROAEXAMPLE`).
pub fn role_session(role: &str, session: &str) -> Value {
    assumed_role("AROAEXAMPLE", role, session)
}

/// driftguard's own Lambda session (the remediate function's role).
pub fn driftguard_role() -> Value {
    assumed_role(
        "AROAEXAMPLEDG",
        "driftguard-remediation",
        "driftguard-remediate",
    )
}

fn assumed_role(role_id: &str, role: &str, session: &str) -> Value {
    json!({
        "type": "AssumedRole",
        "principalId": format!("{role_id}:{session}"),
        "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"),
        "accountId": ACCOUNT,
        "sessionContext": {"sessionIssuer": {"type": "Role", "arn": format!("arn:aws:iam::{ACCOUNT}:role/{role}"), "accountId": ACCOUNT, "userName": role}}
    })
}
