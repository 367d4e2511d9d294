//! How many requests a throttled call makes, through the SDK config the
//! Lambdas build ([`super::lambda_sdk_config`]) and the retry policies they
//! run with: the one retry layer, counted.
//!
//! The throttling answers are HTTP responses the SDK parses itself (not
//! errors injected after parsing), so the SDK's own retry classifier sees
//! them: `sdk_retries_would_multiply` shows it would retry them.
//!
//! Shapes: CloudFormation (awsQuery) errors are XML `ErrorResponse` documents
//! with `Code` `Throttling`, "Rate exceeded"
//! (<https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/CommonErrors.html>:
//! "ThrottlingException: The request was denied due to request throttling.
//! HTTP Status Code: 400"); DynamoDB (awsJson1_0) errors are JSON with
//! `__type`, and "ThrottlingException [...] Rate of requests exceeds the
//! allowed throughput" is a 400
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html>).
#![allow(clippy::unwrap_used)]
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};

use super::dynamodb::DynamoTicketStore;
use super::sweep::CfnSweep;
use driftguard_core::detect::{Pipeline, Ports, Settings};
use driftguard_core::memory::catalog::{
    MemoryActorLookup, MemoryDriftDetector, MemoryStackCatalog,
};
use driftguard_core::memory::sweep::{MemorySweepStore, ScriptedDriftScanner};
use driftguard_core::memory::{FixedClock, MemoryBus, MemoryTicketStore};
use driftguard_core::resilience::RetryPolicy;
use driftguard_core::sweep::{RunContext, SweepError, SweepPorts, SweepSettings, Sweeper};
use driftguard_model::domain::policy::Policy;

const CFN_THROTTLED: &str = "<ErrorResponse xmlns=\"http://cloudformation.amazonaws.com/doc/2010-05-15/\"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>";
const DDB_THROTTLED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#;

fn base_config() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new("AKIDTEST", "secret", None, None, "test"),
        ))
        .build()
}

/// The same delays' shape, shorter: attempts are what is counted.
fn fast(policy: RetryPolicy) -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(2),
        ..policy
    }
}

fn throttling<I, O, E>(rule: aws_smithy_mocks::RuleBuilder<I, O, E>, body: &str) -> Rule
where
    I: Send + Sync + std::fmt::Debug + 'static,
    O: Send + Sync + std::fmt::Debug + 'static,
    E: Send + Sync + std::fmt::Debug + std::error::Error + 'static,
{
    rule.sequence()
        .http_status(400, Some(body.to_string()))
        .times(50)
        .build()
}

/// A client of `$sdk` built from `$config` (what the Lambdas build), answered by `$rule`.
macro_rules! mocked {
    ($sdk:ident, $config:expr, $rule:expr) => {
        $sdk::Client::from_conf(
            $sdk::config::Builder::from($config)
                .http_client(create_mock_http_client())
                .interceptor(
                    MockResponseInterceptor::new()
                        .rule_mode(RuleMode::MatchAny)
                        .with_rule($rule),
                )
                .build(),
        )
    };
}

fn pipeline(tickets: Arc<dyn driftguard_core::ports::TicketStore>, retry: RetryPolicy) -> Pipeline {
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    Pipeline::new(
        Ports {
            catalog: Arc::new(MemoryStackCatalog::new()),
            drift: Arc::new(MemoryDriftDetector::new()),
            actors: Arc::new(MemoryActorLookup::new()),
            tickets,
            bus: Arc::new(MemoryBus::new()),
            ops_mirror: None,
            clock,
        },
        Arc::new(Policy::default()),
        Settings {
            retry,
            ..Settings::default()
        },
    )
}

fn detect_event() -> serde_json::Value {
    serde_json::from_str(include_str!(
        "../../../events/detect/break-glass-console-sg-ingress.json"
    ))
    .unwrap()
}

#[tokio::test]
async fn a_throttled_claim_in_detect_makes_the_pipelines_attempts_and_no_more() {
    let production = Settings::default().retry;
    assert_eq!(production.max_attempts, 3, "detect's documented budget");
    let put = throttling(mock!(aws_sdk_dynamodb::Client::put_item), DDB_THROTTLED);
    let sdk = super::lambda_sdk_config(&base_config());
    let store = DynamoTicketStore::new(mocked!(aws_sdk_dynamodb, &sdk, &put), "tickets");
    let result = pipeline(Arc::new(store), fast(production))
        .process_event(&detect_event())
        .await;
    assert!(
        result.is_err(),
        "a claim throttled past the retries fails the event"
    );
    assert_eq!(put.num_calls(), production.max_attempts as usize);
}

#[tokio::test]
async fn a_throttled_stack_listing_in_the_sweep_makes_the_sweeps_attempts_and_no_more() {
    let production = SweepSettings::default().retry;
    assert_eq!(production.max_attempts, 6, "the sweep's documented budget");
    let describe = throttling(
        mock!(aws_sdk_cloudformation::Client::describe_stacks),
        CFN_THROTTLED,
    );
    let sdk = super::lambda_sdk_config(&base_config());
    let inventory = Arc::new(CfnSweep::new(mocked!(
        aws_sdk_cloudformation,
        &sdk,
        &describe
    )));
    let tickets = Arc::new(MemoryTicketStore::new());
    let bus = Arc::new(MemoryBus::new());
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let mut settings = SweepSettings::default();
    settings.retry = fast(production);
    let sweeper = Sweeper::new(
        SweepPorts {
            inventory,
            scanner: Arc::new(ScriptedDriftScanner::new()),
            store: Arc::new(MemorySweepStore::new()),
            tickets: tickets.clone(),
            bus: bus.clone(),
            clock,
        },
        Arc::new(pipeline(tickets, fast(Settings::default().retry))),
        settings,
    );
    let ctx = RunContext {
        run_id: "run-1".into(),
        account: "123456789012".into(),
        region: "us-east-1".into(),
        deadline: std::time::Instant::now() + Duration::from_secs(60),
    };
    let result = sweeper.run(&ctx).await;
    assert!(
        matches!(
            result,
            Err(SweepError::ListStacks(
                driftguard_model::error::PortError::Throttled { .. }
            ))
        ),
        "{result:?}"
    );
    assert_eq!(describe.num_calls(), production.max_attempts as usize);
}

#[tokio::test]
async fn sdk_retries_would_multiply() {
    // The control: the same answers with SDK retries on are retried by the SDK
    // too (this is what made 9 and 18 attempts), so the counts above are ours alone.
    let put = throttling(mock!(aws_sdk_dynamodb::Client::put_item), DDB_THROTTLED);
    let sdk = super::with_resilience(&base_config(), 2);
    let store = DynamoTicketStore::new(mocked!(aws_sdk_dynamodb, &sdk, &put), "tickets");
    let result = pipeline(Arc::new(store), fast(Settings::default().retry))
        .process_event(&detect_event())
        .await;
    assert!(result.is_err());
    assert_eq!(put.num_calls(), 2 * 3);
}
