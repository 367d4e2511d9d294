//! A scripted Slack incoming-webhook stand-in on 127.0.0.1 (axum), recording
//! what it receives, plus moto helpers shared by the notify tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use driftguard_adapters::slack::SlackSettings;
use driftguard_core::resilience::RetryPolicy;
use serde_json::Value;

/// One scripted answer; when the script runs out the server answers 200 `ok`.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
    /// Answer with the request path in the body (a server that echoes the URL).
    pub echo_path: bool,
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16, body: &str) -> Self {
        Self {
            status,
            retry_after: None,
            body: body.to_string(),
            echo_path: false,
            delay: Duration::ZERO,
        }
    }

    pub fn throttled(retry_after: &str) -> Self {
        Self {
            retry_after: Some(retry_after.to_string()),
            ..Self::status(429, "rate_limited")
        }
    }
}

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub content_type: Option<String>,
    pub body: Value,
    pub at: Instant,
}

#[derive(Clone, Default)]
struct Shared {
    script: Arc<Mutex<VecDeque<Reply>>>,
    received: Arc<Mutex<Vec<Received>>>,
}

pub struct FakeSlack {
    /// `http://127.0.0.1:PORT/services/T0DRIFT/B0GUARD/<token>`
    pub url: String,
    pub token: String,
    state: Shared,
}

impl FakeSlack {
    pub async fn start(script: Vec<Reply>) -> FakeSlack {
        let state = Shared::default();
        state.script.lock().unwrap().extend(script);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/services/{*rest}", post(hook))
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let token = format!("whsec{}", integration_tests::unique("tok").replace('-', ""));
        FakeSlack {
            url: format!("http://{addr}/services/T0DRIFT/B0GUARD/{token}"),
            token,
            state,
        }
    }

    pub fn script(&self, replies: Vec<Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }
}

async fn hook(State(state): State<Shared>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    state.received.lock().unwrap().push(Received {
        path: uri.path().to_string(),
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        at: Instant::now(),
    });
    let reply = state.script.lock().unwrap().pop_front();
    let Some(reply) = reply else {
        return (StatusCode::OK, "ok").into_response();
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let body = if reply.echo_path {
        format!("no_service: {}", uri.path())
    } else {
        reply.body.clone()
    };
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), body).into_response();
    if let Some(after) = reply.retry_after {
        response
            .headers_mut()
            .insert("retry-after", after.parse().unwrap());
    }
    response
}

/// Short waits so failure tests stay fast; the logic is the production one.
pub fn quick_settings(max_attempts: u32) -> SlackSettings {
    SlackSettings {
        retry: RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            attempt_timeout: Duration::from_secs(2),
        },
        max_retry_after: Duration::from_secs(3),
        connect_timeout: Duration::from_secs(1),
    }
}

/// A Secrets Manager secret on moto; returns its ARN.
pub async fn create_secret(config: &aws_config::SdkConfig, value: &str) -> String {
    let sm = aws_sdk_secretsmanager::Client::new(config);
    let out = sm
        .create_secret()
        .name(integration_tests::unique("driftguard-slack"))
        .secret_string(value)
        .send()
        .await
        .expect("create secret on moto");
    out.arn().expect("secret arn").to_string()
}

/// The ticket table as the conventions describe it (pk, TTL, GSI by-state).
pub async fn create_ticket_table(config: &aws_config::SdkConfig) -> String {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
    };
    let ddb = aws_sdk_dynamodb::Client::new(config);
    let name = integration_tests::unique("driftguard-tickets");
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    ddb.create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("state"))
        .attribute_definitions(attr("updated_at"))
        .key_schema(key("pk", KeyType::Hash))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by-state")
                .key_schema(key("state", KeyType::Hash))
                .key_schema(key("updated_at", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create ticket table on moto");
    ddb.update_time_to_live()
        .table_name(&name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("enable TTL");
    name
}

/// A topic with an SQS subscription (raw delivery or the SNS envelope);
/// returns (topic ARN, queue URL).
pub async fn topic_with_queue(
    config: &aws_config::SdkConfig,
    raw: bool,
    filter_policy: Option<&str>,
) -> (String, String) {
    let sns = aws_sdk_sns::Client::new(config);
    let topic = sns
        .create_topic()
        .name(integration_tests::unique("driftguard-alerts"))
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    let queue_url = add_queue(config, &topic, raw, filter_policy).await;
    (topic, queue_url)
}

/// Subscribe one more queue to `topic`; returns its URL.
pub async fn add_queue(
    config: &aws_config::SdkConfig,
    topic: &str,
    raw: bool,
    filter_policy: Option<&str>,
) -> String {
    let sns = aws_sdk_sns::Client::new(config);
    let sqs = aws_sdk_sqs::Client::new(config);
    let queue_url = sqs
        .create_queue()
        .queue_name(integration_tests::unique("driftguard-sub"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .unwrap()
        .to_string();
    let mut subscribe = sns
        .subscribe()
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(arn)
        .attributes("RawMessageDelivery", if raw { "true" } else { "false" });
    if let Some(policy) = filter_policy {
        subscribe = subscribe.attributes("FilterPolicy", policy);
    }
    subscribe.send().await.unwrap();
    queue_url
}

/// Receive up to 10 messages (with all message attributes), waiting briefly.
pub async fn receive(
    config: &aws_config::SdkConfig,
    queue_url: &str,
) -> Vec<aws_sdk_sqs::types::Message> {
    let sqs = aws_sdk_sqs::Client::new(config);
    sqs.receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap()
        .messages()
        .to_vec()
}
