//! approve's logic: request → [`authorize`] → conditional ticket write →
//! wake-up event → HTTP answer. Errors become HTTP statuses, never a failed
//! invocation (a function URL turns those into a bare 502).
use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use chrono::{DateTime, Utc};
use driftguard_core::ports::modify::{modify, Attempts, Edit, Modified, ModifyError};
use driftguard_model::domain::approval::{authorize, ApprovalRefused, Caller};
use driftguard_model::domain::{Approval, EntryKind};
use driftguard_model::domain::{Ticket, TicketEntry};
use driftguard_model::error::PortError;
use driftguard_model::events::REMEDIATION_APPROVED;
use serde_json::{json, Value};

use crate::request::{ApproveRequest, RequestError};
use crate::{Approver, VIA};

/// Conditional writes lost to a concurrent writer before giving up.
const MAX_ATTEMPTS: u32 = 3;

/// What became of one request.
#[derive(Debug)]
pub enum Outcome {
    Approved {
        ticket_id: String,
        approval: Approval,
    },
    BadRequest(RequestError),
    Refused(ApprovalRefused),
    NoTicket(String),
    /// The ticket kept changing under us.
    Contended(String),
    /// A store or bus call failed; `recorded` says whether the approval is on the ticket.
    Failed {
        error: PortError,
        recorded: bool,
    },
}

impl Outcome {
    pub fn status(&self) -> i64 {
        match self {
            Outcome::Approved { .. } => 200,
            Outcome::BadRequest(RequestError::Method { .. }) => 405,
            Outcome::BadRequest(RequestError::NoCaller) => 403,
            Outcome::BadRequest(_) => 400,
            Outcome::Refused(
                ApprovalRefused::NotAnApprover { .. }
                | ApprovalRefused::SelfApproval { .. }
                | ApprovalRefused::BadCaller { .. },
            ) => 403,
            Outcome::Refused(_) | Outcome::Contended(_) => 409,
            Outcome::NoTicket(_) => 404,
            Outcome::Failed { .. } => 503,
        }
    }

    /// A short machine-readable code for the client and the log.
    pub fn code(&self) -> &'static str {
        match self {
            Outcome::Approved { .. } => "approved",
            Outcome::BadRequest(_) => "bad_request",
            Outcome::Refused(r) => match r {
                ApprovalRefused::NotAwaiting { .. } => "not_awaiting_approval",
                ApprovalRefused::NoPlan { .. } => "no_plan",
                ApprovalRefused::DigestMismatch { .. } => "digest_mismatch",
                ApprovalRefused::Expired { .. } => "expired",
                ApprovalRefused::NotAnApprover { .. } => "not_an_approver",
                ApprovalRefused::SelfApproval { .. } => "self_approval",
                ApprovalRefused::BadCaller { .. } => "bad_caller",
            },
            Outcome::NoTicket(_) => "no_ticket",
            Outcome::Contended(_) => "conflict",
            Outcome::Failed { .. } => "unavailable",
        }
    }

    fn body(&self) -> Value {
        match self {
            Outcome::Approved {
                ticket_id,
                approval,
            } => json!({"code": self.code(), "ticket_id": ticket_id, "approval": approval}),
            Outcome::BadRequest(e) => json!({"code": self.code(), "error": e.to_string()}),
            Outcome::Refused(e) => json!({"code": self.code(), "error": e.to_string()}),
            Outcome::NoTicket(id) => {
                json!({"code": self.code(), "error": format!("no ticket {id}")})
            }
            Outcome::Contended(id) => json!({"code": self.code(),
                "error": format!("ticket {id} kept changing while approving: review it and try again")}),
            Outcome::Failed { error, recorded } => json!({"code": self.code(),
                "error": error.to_string(), "approval_recorded": recorded,
                "hint": "retry: approving again is safe"}),
        }
    }
}

/// Answer one function URL request.
pub async fn handle(
    approver: &Approver,
    event: &LambdaFunctionUrlRequest,
) -> LambdaFunctionUrlResponse {
    let outcome = approve(approver, event).await;
    let status = outcome.status();
    if status == 200 {
        tracing::info!(status, code = outcome.code(), "approval recorded");
    } else {
        tracing::warn!(status, code = outcome.code(), body = %outcome.body(), "approval not recorded");
    }
    response(&outcome)
}

/// The HTTP response for an outcome (JSON body).
pub fn response(outcome: &Outcome) -> LambdaFunctionUrlResponse {
    let mut r = LambdaFunctionUrlResponse::default();
    r.status_code = outcome.status();
    r.headers.insert("content-type", http_json_content_type());
    r.body = Some(outcome.body().to_string());
    r
}

fn http_json_content_type() -> aws_lambda_events::http::HeaderValue {
    aws_lambda_events::http::HeaderValue::from_static("application/json")
}

/// The request, authorized and recorded.
pub async fn approve(approver: &Approver, event: &LambdaFunctionUrlRequest) -> Outcome {
    let request = match ApproveRequest::from_event(event) {
        Ok(r) => r,
        Err(e) => return Outcome::BadRequest(e),
    };
    let caller = match Caller::from_context(&request.caller_context()) {
        Ok(c) => c,
        Err(e) => return Outcome::Refused(e),
    };
    tracing::info!(
        ticket = %request.ticket_id,
        caller = %caller.arn,
        caller_id = caller.user_id.as_deref().unwrap_or("-"),
        org = caller.org_id.as_deref().unwrap_or("-"),
        "approval requested"
    );
    let approval = match record(approver, &request, &caller).await {
        Ok(a) => a,
        Err(outcome) => return outcome,
    };
    let wake = driftguard_core::remediate::approval_event(
        &request.ticket_id,
        &approval.approver_arn,
        approval.approved_at,
    );
    let detail = serde_json::to_value(&wake).unwrap_or(Value::Null);
    if let Err(error) = approver.bus.publish(REMEDIATION_APPROVED, &detail).await {
        return Outcome::Failed {
            error,
            recorded: true,
        };
    }
    Outcome::Approved {
        ticket_id: request.ticket_id,
        approval,
    }
}

/// Read, authorize, write conditionally; re-read when someone else wrote first.
async fn record(
    approver: &Approver,
    request: &ApproveRequest,
    caller: &Caller,
) -> Result<Approval, Outcome> {
    let id = &request.ticket_id;
    let modified = modify(
        &*approver.tickets,
        id,
        Attempts::new(MAX_ATTEMPTS),
        None,
        |read| {
            let Some(ticket) = read else {
                return Edit::Stop(Outcome::NoTicket(id.clone()));
            };
            let now = approver.clock.now();
            match authorize(
                ticket,
                &request.plan_digest,
                caller,
                VIA,
                &approver.policy,
                now,
            ) {
                Ok(approval) => {
                    Edit::Write(with_approval(ticket.clone(), &approval, now), approval)
                }
                Err(refused) => Edit::Stop(Outcome::Refused(refused)),
            }
        },
    )
    .await;
    match modified {
        Ok(Modified::Written(_, approval) | Modified::Kept(_, approval)) => Ok(approval),
        Err(ModifyError::Stopped(outcome)) => Err(outcome),
        Err(ModifyError::Read(error) | ModifyError::Write(error)) => Err(Outcome::Failed {
            error,
            recorded: false,
        }),
        Err(ModifyError::Contended { .. }) => Err(Outcome::Contended(id.clone())),
    }
}

/// The ticket with the approval and a history entry, one version on.
pub fn with_approval(mut ticket: Ticket, approval: &Approval, now: DateTime<Utc>) -> Ticket {
    ticket.approval = Some(approval.clone());
    ticket.push(TicketEntry {
        at: now,
        kind: EntryKind::Approved,
        event_id: None,
        summary: format!(
            "plan {} approved by {} ({})",
            short(&approval.plan_digest),
            approval.approver_arn,
            approval.via
        ),
        actor: None,
        data: serde_json::to_value(approval).unwrap_or(Value::Null),
    });
    ticket.version += 1;
    ticket
}

fn short(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}
