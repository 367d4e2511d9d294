//! The approval request, read from a function URL event (payload format 2.0).
//!
//! Payload format: <https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads>
//! ("Request payload format"): with `AuthType: AWS_IAM` the request context carries
//! `"authorizer": {"iam": {"accessKey": ..., "accountId": ..., "callerId": ...,
//! "principalOrgId": ..., "userArn": ..., "userId": ...}}`, filled in by Lambda from the SigV4 signature it
//! verified ("When your function URL receives a request, Lambda also calculates the
//! SigV4 signature. Lambda processes the request only if the signatures match.",
//! same page). The body is the client's: it names the ticket and the plan, never
//! who approves.
use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use driftguard_model::domain::approval::CallerContext;
use serde_json::Value;

/// A bad request: answered 400 (405 for the method), naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("method {method}: the approval endpoint takes POST")]
    Method { method: String },
    #[error("body: missing (send {{\"ticket_id\": ..., \"plan_digest\": ...}})")]
    NoBody,
    #[error("body: not valid base64: {0}")]
    Base64(String),
    #[error("body: not a JSON object: {0}")]
    NotJson(String),
    #[error("body.{field}: {problem}")]
    Field {
        field: &'static str,
        problem: &'static str,
    },
    #[error(
        "requestContext.authorizer.iam.userArn: missing (the function URL must use AuthType AWS_IAM)"
    )]
    NoCaller,
}

/// What the caller asked for, and who AWS says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApproveRequest {
    pub ticket_id: String,
    pub plan_digest: String,
    /// `requestContext.authorizer.iam.userArn`.
    pub caller_arn: String,
    /// `requestContext.authorizer.iam.userId` (`AIDA…`, or `AROA…:SESSION`).
    pub caller_user_id: Option<String>,
    /// `requestContext.authorizer.iam.callerId`.
    pub caller_id: Option<String>,
    /// `requestContext.authorizer.iam.accountId`.
    pub caller_account: Option<String>,
    /// `requestContext.authorizer.iam.principalOrgId`.
    pub caller_org: Option<String>,
}

impl ApproveRequest {
    /// The caller's facts, for [`driftguard_model::domain::approval::Caller::from_context`].
    pub fn caller_context(&self) -> CallerContext<'_> {
        CallerContext {
            user_arn: &self.caller_arn,
            user_id: self.caller_user_id.as_deref(),
            caller_id: self.caller_id.as_deref(),
            account_id: self.caller_account.as_deref(),
            principal_org_id: self.caller_org.as_deref(),
        }
    }
}

fn non_empty(value: Option<&String>) -> Option<String> {
    value.filter(|v| !v.is_empty()).cloned()
}

/// Longest ticket id accepted (ids are short hashes; this only bounds input).
const MAX_ID: usize = 128;

impl ApproveRequest {
    pub fn from_event(event: &LambdaFunctionUrlRequest) -> Result<Self, RequestError> {
        let method = event
            .request_context
            .http
            .method
            .clone()
            .unwrap_or_default();
        if !method.eq_ignore_ascii_case("POST") {
            return Err(RequestError::Method { method });
        }
        let iam = event
            .request_context
            .authorizer
            .as_ref()
            .and_then(|a| a.iam.as_ref());
        let caller_arn = iam
            .and_then(|iam| non_empty(iam.user_arn.as_ref()))
            .ok_or(RequestError::NoCaller)?;
        let body = body_text(event)?;
        let value: Value =
            serde_json::from_str(&body).map_err(|e| RequestError::NotJson(e.to_string()))?;
        let object = value
            .as_object()
            .ok_or_else(|| RequestError::NotJson("not an object".into()))?;
        let ticket_id = string_field(object, "ticket_id")?;
        if ticket_id.len() > MAX_ID || ticket_id.chars().any(|c| c.is_control()) {
            return Err(RequestError::Field {
                field: "ticket_id",
                problem: "not a ticket id",
            });
        }
        let plan_digest = string_field(object, "plan_digest")?;
        if plan_digest.len() != 64 || !plan_digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RequestError::Field {
                field: "plan_digest",
                problem: "not a SHA-256 digest (64 hex digits, see `driftguard tickets show`)",
            });
        }
        Ok(Self {
            ticket_id,
            plan_digest: plan_digest.to_ascii_lowercase(),
            caller_arn,
            caller_user_id: iam.and_then(|i| non_empty(i.user_id.as_ref())),
            caller_id: iam.and_then(|i| non_empty(i.caller_id.as_ref())),
            caller_account: iam.and_then(|i| non_empty(i.account_id.as_ref())),
            caller_org: iam
                .and_then(|i| i.other.get("principalOrgId"))
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_string),
        })
    }
}

fn body_text(event: &LambdaFunctionUrlRequest) -> Result<String, RequestError> {
    let body = event.body.as_deref().ok_or(RequestError::NoBody)?;
    if !event.is_base64_encoded {
        return Ok(body.to_string());
    }
    let bytes =
        aws_smithy_types::base64::decode(body).map_err(|e| RequestError::Base64(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| RequestError::NotJson(e.to_string()))
}

fn string_field(
    object: &serde_json::Map<String, Value>,
    field: &'static str,
) -> Result<String, RequestError> {
    match object.get(field) {
        None | Some(Value::Null) => Err(RequestError::Field {
            field,
            problem: "missing",
        }),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Some(Value::String(_)) => Err(RequestError::Field {
            field,
            problem: "empty",
        }),
        Some(_) => Err(RequestError::Field {
            field,
            problem: "not a string",
        }),
    }
}
