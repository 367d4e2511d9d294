//! `driftguard approve TICKET --url URL`: approve a ticket's plan through the
//! IAM-authenticated approval endpoint (functions/approve behind a Lambda
//! function URL with `AuthType: AWS_IAM`).
//!
//! The request is signed with SigV4 for service `lambda` in the URL's region,
//! with the caller's own credentials (the SDK's default chain): "If your
//! function URL uses the AWS_IAM auth type, you must sign each HTTP request
//! using AWS Signature Version 4 (SigV4)"
//! (<https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html>). The
//! endpoint takes the approver from the verified signature, never from us.
use std::io::{BufRead, Write};
use std::time::SystemTime;

use anyhow::{anyhow, bail, Context, Result};
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use driftguard_core::ports::TicketStore;
use driftguard_model::domain::Ticket;
use serde_json::{json, Value};

use crate::ops::Target;

/// The environment variable naming the approval URL (the stack's `ApprovalUrl` output).
pub const URL_ENV: &str = "DRIFTGUARD_APPROVAL_URL";

/// The signing region of a function URL: `https://<url-id>.lambda-url.<region>.on.aws`.
/// `None` for any other host (a local listener: use the SDK's region).
pub fn url_region(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split(['/', ':', '?']).next()?;
    let mut labels = host.split('.');
    let (_id, marker, region) = (labels.next()?, labels.next()?, labels.next()?);
    (marker == "lambda-url" && !region.is_empty()).then(|| region.to_string())
}

/// What the person is asked to confirm: the plan and its digest.
pub fn plan_summary(ticket: &Ticket) -> Result<Vec<String>> {
    let plan = ticket
        .plan
        .as_ref()
        .ok_or_else(|| anyhow!("ticket {} has no stored plan to approve", ticket.id))?;
    let mut lines = vec![
        format!("ticket    {} ({})", ticket.id, ticket.state),
        format!("plan      {}: {}", plan.strategy.as_str(), plan.expected),
    ];
    if let Some(changes) = driftguard_core::remediate::rollback_request::previewed_changes(ticket) {
        lines.push(format!("preview   {changes}"));
    }
    for call in &plan.calls {
        lines.push(format!(
            "  call    {}:{} {}",
            call.service, call.operation, call.parameters
        ));
    }
    lines.push(format!("digest    {}", plan.digest()));
    Ok(lines)
}

/// A POST of `body` to `url`, signed for service `lambda` in `region`.
pub fn signed_request(
    client: &reqwest::Client,
    url: &str,
    body: &str,
    credentials: Credentials,
    region: &str,
    time: SystemTime,
) -> Result<reqwest::Request> {
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("lambda")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .context("SigV4 signing parameters")?
        .into();
    let headers = [("content-type", "application/json")];
    let signable = SignableRequest::new(
        "POST",
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .with_context(|| format!("approval URL {url}"))?;
    let (instructions, _signature) = sign(signable, &params)
        .context("sign the approval request")?
        .into_parts();
    let mut builder = client.post(url).body(body.to_string());
    for (name, value) in headers.iter().copied().chain(instructions.headers()) {
        builder = builder.header(name, value);
    }
    builder.build().context("build the approval request")
}

/// Ask on the terminal; anything but y/yes is a no.
pub fn confirm(question: &str) -> Result<bool> {
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// Read the ticket, show the plan and digest, confirm, POST the signed
/// approval, print the endpoint's answer. Fails on a refusal.
pub async fn approve(target: &Target, id: &str, url: &str, yes: bool) -> Result<Value> {
    let sdk = target.sdk().await;
    let store = target.store().await;
    let id = &crate::ops::full_ticket_id(&store, id).await?;
    let ticket = store
        .get_ticket(id)
        .await
        .with_context(|| format!("read ticket {id}"))?
        .ok_or_else(|| anyhow!("no ticket {id} in table {}", target.table))?;
    for line in plan_summary(&ticket)? {
        println!("{line}");
    }
    if !yes && !confirm(&format!("approve this plan for {id}?"))? {
        bail!("not approved");
    }
    let digest = ticket.plan.as_ref().map(|p| p.digest()).unwrap_or_default();
    let region = url_region(url)
        .or_else(|| sdk.region().map(|r| r.to_string()))
        .ok_or_else(|| anyhow!("no region: the URL names none and AWS_REGION is not set"))?;
    let credentials = sdk
        .credentials_provider()
        .ok_or_else(|| anyhow!("no AWS credentials provider configured"))?
        .provide_credentials()
        .await
        .context("your AWS credentials (the approval is signed with them)")?;
    post(
        url,
        &json!({"ticket_id": id, "plan_digest": digest}),
        credentials,
        &region,
    )
    .await
}

/// POST the signed request; the answer's JSON, or an error naming the refusal.
pub async fn post(
    url: &str,
    body: &Value,
    credentials: Credentials,
    region: &str,
) -> Result<Value> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    let request = signed_request(
        &client,
        url,
        &body.to_string(),
        credentials,
        region,
        SystemTime::now(),
    )?;
    let response = client
        .execute(request)
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let answer: Value = serde_json::from_str(&text).unwrap_or_else(|_| json!({"error": text}));
    if !status.is_success() {
        let why = answer["error"]
            .as_str()
            .or(answer["Message"].as_str())
            .or(answer["message"].as_str())
            .unwrap_or("no reason given");
        bail!("approval refused (HTTP {}): {why}", status.as_u16());
    }
    println!(
        "approved {} plan {} as {}",
        answer["ticket_id"].as_str().unwrap_or("?"),
        answer["approval"]["plan_digest"].as_str().unwrap_or("?"),
        answer["approval"]["approver_arn"].as_str().unwrap_or("?"),
    );
    Ok(answer)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::{Arc, Mutex};

    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::Json;

    use super::*;

    const DIGEST: &str = "5d41402abc4b2a76b9719d911017c592aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn credentials() -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token".into()),
            None,
            "test",
        )
    }

    /// What the listener saw, and whether the signature verified.
    #[derive(Default)]
    struct Seen(Mutex<Vec<(HeaderMap, String, bool)>>);

    /// Recompute the SigV4 signature of the received request (same URL, body,
    /// content type, time from `x-amz-date`, service `lambda`, us-east-1) and
    /// compare it with the `authorization` header.
    fn verifies(url: &str, headers: &HeaderMap, body: &str) -> bool {
        let Some(date) = headers.get("x-amz-date").and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Ok(time) = chrono::NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ") else {
            return false;
        };
        let time: SystemTime = time.and_utc().into();
        let client = reqwest::Client::new();
        let expected =
            signed_request(&client, url, body, credentials(), "us-east-1", time).unwrap();
        let got = headers.get("authorization").and_then(|v| v.to_str().ok());
        got.is_some()
            && got
                == expected
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
    }

    async fn listener(status: StatusCode, answer: Value) -> (String, Arc<Seen>) {
        let seen = Arc::new(Seen::default());
        let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", socket.local_addr().unwrap());
        let state = (seen.clone(), url.clone(), status, answer);
        let app = axum::Router::new()
            .route(
                "/",
                axum::routing::post(
                    |State((seen, url, status, answer)): State<(
                        Arc<Seen>,
                        String,
                        StatusCode,
                        Value,
                    )>,
                     headers: HeaderMap,
                     body: String| async move {
                        let ok = verifies(&url, &headers, &body);
                        seen.0.lock().unwrap().push((headers, body, ok));
                        if ok {
                            (status, Json(answer))
                        } else {
                            (StatusCode::FORBIDDEN, Json(json!({"Message": "Forbidden"})))
                        }
                    },
                ),
            )
            .with_state(state);
        tokio::spawn(async move { axum::serve(socket, app).await.unwrap() });
        (url, seen)
    }

    #[tokio::test]
    async fn the_approval_is_sigv4_signed_for_lambda_and_carries_the_digest() {
        let answer = json!({"code": "approved", "ticket_id": "T1",
            "approval": {"plan_digest": DIGEST, "approver_arn": "arn:aws:iam::111122223333:user/alice"}});
        let (url, seen) = listener(StatusCode::OK, answer).await;
        let body = json!({"ticket_id": "T1", "plan_digest": DIGEST});
        let got = post(&url, &body, credentials(), "us-east-1").await.unwrap();
        assert_eq!(got["approval"]["plan_digest"], DIGEST);
        let seen = seen.0.lock().unwrap();
        let (headers, sent, verified) = &seen[0];
        assert!(verified, "signature did not verify: {headers:?}");
        let auth = headers["authorization"].to_str().unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{auth}"
        );
        assert!(auth.contains("/us-east-1/lambda/aws4_request"), "{auth}");
        assert_eq!(headers["x-amz-security-token"], "session-token");
        let sent: Value = serde_json::from_str(sent).unwrap();
        assert_eq!(
            sent, body,
            "the body names ticket and digest, never an approver"
        );
    }

    #[tokio::test]
    async fn a_refusal_is_an_error_with_the_endpoints_reason() {
        let answer = json!({"code": "digest_mismatch", "error": "plan digest 00 is not the ticket's plan 5d: the plan changed, review it again"});
        let (url, _) = listener(StatusCode::CONFLICT, answer).await;
        let body = json!({"ticket_id": "T1", "plan_digest": DIGEST});
        let e = post(&url, &body, credentials(), "us-east-1")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("HTTP 409") && e.contains("the plan changed"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_request_signed_for_another_region_does_not_verify() {
        let (url, seen) = listener(StatusCode::OK, json!({})).await;
        let body = json!({"ticket_id": "T1", "plan_digest": DIGEST});
        let e = post(&url, &body, credentials(), "eu-west-1")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("HTTP 403"), "{e}");
        assert!(!seen.0.lock().unwrap()[0].2);
    }

    #[test]
    fn the_region_comes_from_a_function_url() {
        assert_eq!(
            url_region("https://abcdefg.lambda-url.eu-west-1.on.aws/").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(url_region("http://127.0.0.1:9000/"), None);
        assert_eq!(url_region("not a url"), None);
    }
}
