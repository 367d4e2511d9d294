//! Timeouts on every call: every AWS client the functions build has a
//! connect timeout and an operation (and per-attempt) timeout, and with the
//! one retry layer the worst case of an invocation fits inside the
//! function's Lambda `Timeout` in `template.yaml`.
//!
//! How: each function is wired by its own `wire` (what `main.rs` runs) from
//! an SDK config made by `lambda_sdk_config` (what `load_sdk_config` returns)
//! on a base config whose HTTP client is a probe and whose sleep is scaled.
//! - The probe records the `HttpConnectorSettings` the SDK hands it for each
//!   request (the connect timeout lives there) and never answers: AWS hangs.
//! - The scaled sleep records every timer the SDK starts (the operation
//!   timeout and the attempt timeout are timers of the config's sleep) and
//!   waits a thousandth of it, so a 5 s attempt timeout takes 5 ms.
//!
//! So for every request we see the connect timeout, the operation timer and
//! the attempt timer, and which timer ended it; the invocation's worst case
//! is its real time plus the fired timers' full length (added up, as if no
//! two ran at once). Every SDK call hanging is the slowest an AWS outage can
//! make an invocation: each request lasts until its attempt timeout.
//!
//! "If the function's execution time exceeds the timeout value, Lambda
//! terminates the execution and returns an error"; the maximum is 900 s
//! (<https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html>:
//! "The maximum allowed value is 900 seconds (15 minutes)").
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::identity::IdentityCache;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{AsyncSleep, SharedAsyncSleep, Sleep};
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use driftguard_adapters::{ATTEMPT_TIMEOUT, CONNECT_TIMEOUT, OPERATION_TIMEOUT};
use driftguard_cli::emulator::workspace_root;
use driftguard_core::config::Config;
use driftguard_core::resilience::RetryPolicy;
use serde_json::Value;

/// The speed-up of the scaled sleep.
const SCALE: u32 = 1000;

#[derive(Debug, Default)]
struct Record {
    /// Connect timeout of each request's connector.
    connect: Vec<Option<Duration>>,
    /// `host target` of each request.
    requests: Vec<String>,
    /// Every timer started, and the ones that ran out.
    started: Vec<Duration>,
    fired: Vec<Duration>,
}

#[derive(Debug, Clone, Default)]
struct Probe(Arc<Mutex<Record>>);

impl Probe {
    fn with<R>(&self, f: impl FnOnce(&mut Record) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A connector that never answers: AWS hangs.
#[derive(Debug)]
struct Hang(Probe);

impl HttpConnector for Hang {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let host = request
            .uri()
            .split('/')
            .nth(2)
            .unwrap_or_default()
            .to_string();
        let target = request
            .headers()
            .get("x-amz-target")
            .unwrap_or("")
            .to_string();
        self.0.with(|r| r.requests.push(format!("{host} {target}")));
        HttpConnectorFuture::new(std::future::pending())
    }
}

/// The config's sleep, a thousand times faster, recording each timer.
#[derive(Debug)]
struct ScaledSleep(Probe);

impl AsyncSleep for ScaledSleep {
    fn sleep(&self, duration: Duration) -> Sleep {
        let probe = self.0.clone();
        probe.with(|r| r.started.push(duration));
        Sleep::new(async move {
            tokio::time::sleep(duration / SCALE).await;
            probe.with(|r| r.fired.push(duration));
        })
    }
}

/// What the Lambdas run with (`lambda_sdk_config`), over the probe.
fn probe_sdk(probe: &Probe) -> SdkConfig {
    let connector_probe = probe.clone();
    let base = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                driftguard_cli::emulator::StaticCredentials,
            ),
        )
        // No credential cache: its load timeout is a timer of its own.
        .identity_cache(IdentityCache::no_cache())
        .http_client(http_client_fn(move |settings, _components| {
            connector_probe.with(|r| r.connect.push(settings.connect_timeout()));
            SharedHttpConnector::new(Hang(connector_probe.clone()))
        }))
        .sleep_impl(SharedAsyncSleep::new(ScaledSleep(probe.clone())))
        .build();
    driftguard_adapters::lambda_sdk_config(&base)
}

/// `Timeout` of each function in `template.yaml`, by binary (`Globals` when unset).
fn lambda_timeouts() -> HashMap<String, Duration> {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let root: yaml_serde::Value = yaml_serde::from_str(&text).expect("template.yaml is YAML");
    let global = root["Globals"]["Function"]["Timeout"].as_u64().unwrap_or(3);
    let mut out = HashMap::new();
    for (_, r) in root["Resources"].as_mapping().expect("Resources") {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let Some(binary) = r["Metadata"]["BuildProperties"]["Binary"].as_str() else {
            continue;
        };
        let secs = r["Properties"]["Timeout"].as_u64().unwrap_or(global);
        out.insert(binary.to_string(), Duration::from_secs(secs));
    }
    out
}

fn fixture(path: &str) -> Value {
    let text = std::fs::read_to_string(workspace_root().join("events").join(path)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn config(policy: &tempfile::NamedTempFile) -> Config {
    let env: HashMap<&str, String> = HashMap::from([
        ("TABLE_NAME", "driftguard-tickets".to_string()),
        ("EVENT_BUS_NAME", "driftguard".to_string()),
        ("POLICY_PATH", policy.path().display().to_string()),
        (
            "TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:driftguard".to_string(),
        ),
        (
            "SLACK_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack".to_string(),
        ),
    ]);
    Config::from_lookup(|k| env.get(k).cloned()).unwrap()
}

type Invocation<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// One invocation of `binary` over the probe, every AWS call hanging:
/// asserts the timeouts of every request and returns the worst case.
async fn worst_case(binary: &str, probe: &Probe, invoke: Invocation<'_>) -> Duration {
    let started = Instant::now();
    invoke.await;
    let real = started.elapsed();
    probe.with(|r| {
        let n = r.requests.len();
        assert!(n > 0, "{binary} made no AWS request");
        assert!(
            r.connect.iter().all(|c| *c == Some(CONNECT_TIMEOUT)),
            "{binary}: a request without the {CONNECT_TIMEOUT:?} connect timeout: {:?}",
            r.connect
        );
        let count = |d: Duration, v: &[Duration]| v.iter().filter(|x| **x == d).count();
        // One attempt per operation (SDK attempts = 1): one of each timer per request.
        assert_eq!(count(OPERATION_TIMEOUT, &r.started), n, "{binary}: operation timers, requests {:?}", r.requests);
        assert_eq!(count(ATTEMPT_TIMEOUT, &r.started), n, "{binary}: attempt timers");
        // Each hanging request ended by its attempt timeout (the SDK's
        // shorter internal timers may fire too; none is longer).
        let cut = count(ATTEMPT_TIMEOUT, &r.fired);
        assert_eq!(cut, n, "{binary}: each hanging request ends at its attempt timeout: {:?}", r.fired);
        assert!(r.fired.iter().all(|d| *d <= ATTEMPT_TIMEOUT), "{binary}: {:?}", r.fired);
        let fired: Duration = r.fired.iter().sum();
        let worst = real + fired;
        println!(
            "timeouts: {binary}: {n} requests, each cut at {ATTEMPT_TIMEOUT:?}; worst case {worst:.1?} ({real:.1?} real + {fired:?} of timeouts)"
        );
        worst
    })
}

fn check(binary: &str, worst: Duration) {
    let limit = lambda_timeouts()[binary];
    assert!(
        worst < limit,
        "{binary}: with every AWS call hanging an invocation takes {worst:?}, over its Lambda Timeout {limit:?}"
    );
}

fn policy_file() -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::copy(workspace_root().join("policy.example.yaml"), file.path()).unwrap();
    file
}

#[tokio::test]
async fn detect_ends_inside_its_lambda_timeout_when_aws_hangs() {
    let (probe, policy) = (Probe::default(), policy_file());
    let pipeline = detect::wire(&config(&policy), &probe_sdk(&probe))
        .await
        .expect("wire detect");
    let event = fixture("detect/break-glass-console-sg-ingress.json");
    let invoke = Box::pin(async {
        let r = detect::handler::handle(&pipeline, event).await;
        assert!(r.is_err(), "a hanging claim fails the invocation: {r:?}");
    });
    check("detect", worst_case("detect", &probe, invoke).await);
}

#[tokio::test]
async fn remediate_ends_inside_its_lambda_timeout_when_aws_hangs() {
    let (probe, policy) = (Probe::default(), policy_file());
    let remediator = remediate::wire(&config(&policy), &probe_sdk(&probe))
        .await
        .expect("wire remediate");
    let event = fixture("remediate/decision-revert-sg-ingress.json");
    let invoke = Box::pin(async {
        let r = remediate::handler::handle(&remediator, event).await;
        assert!(
            r.is_err(),
            "a hanging ticket read fails the invocation: {r:?}"
        );
    });
    check("remediate", worst_case("remediate", &probe, invoke).await);
}

#[tokio::test]
async fn notify_ends_inside_its_lambda_timeout_when_aws_hangs() {
    let (probe, policy) = (Probe::default(), policy_file());
    let notifier = notify::wire(&config(&policy), &probe_sdk(&probe))
        .await
        .expect("wire notify");
    let event = fixture("notify/decision-ticket.json");
    let invoke = Box::pin(async {
        let r = notify::handler::handle(&notifier, event).await;
        assert!(r.is_err(), "a hanging claim fails the invocation: {r:?}");
    });
    check("notify", worst_case("notify", &probe, invoke).await);
}

#[tokio::test]
async fn sweep_ends_inside_its_lambda_timeout_when_aws_hangs() {
    let (probe, policy) = (Probe::default(), policy_file());
    let sweeper = sweep::wire(
        &config(&policy),
        driftguard_core::sweep::SweepSettings::default(),
        &probe_sdk(&probe),
    )
    .await
    .expect("wire sweep");
    let event = fixture("sweep/scheduled.json");
    let invoke = Box::pin(async {
        let deadline = Instant::now() + lambda_timeouts()["sweep"];
        let r = sweep::handler::handle(&sweeper, event, deadline).await;
        assert!(r.is_err(), "a hanging stack listing fails the run: {r:?}");
    });
    check("sweep", worst_case("sweep", &probe, invoke).await);
}

#[tokio::test]
async fn config_rule_ends_inside_its_lambda_timeout_when_aws_hangs() {
    let (probe, policy) = (Probe::default(), policy_file());
    let rule = config_rule::wire(&config(&policy), &probe_sdk(&probe)).expect("wire config-rule");
    let event: aws_lambda_events::event::config::ConfigEvent =
        serde_json::from_value(fixture("config-rule/item-change-security-group.json")).unwrap();
    let invoke = Box::pin(async {
        let _ = config_rule::handler::handle(&rule, event).await;
    });
    check(
        "config-rule",
        worst_case("config-rule", &probe, invoke).await,
    );
}

#[tokio::test]
async fn approve_ends_inside_its_lambda_timeout_when_aws_hangs() {
    let (probe, policy) = (Probe::default(), policy_file());
    let approver = approve::wire(&config(&policy), &probe_sdk(&probe))
        .await
        .expect("wire approve");
    let event: aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest =
        serde_json::from_value(fixture("approve/approve-by-approver.json")).unwrap();
    let invoke = Box::pin(async {
        let r = approve::handler::handle(&approver, &event).await;
        assert!(
            r.status_code >= 500,
            "a hanging ticket read is a 5xx: {r:?}"
        );
    });
    check("approve", worst_case("approve", &probe, invoke).await);
}

/// Every client the functions build comes from the `SdkConfig` `main.rs`
/// loads with `load_sdk_config` (so from `lambda_sdk_config`, whose
/// timeouts the tests above see on every request): no function loads a
/// config of its own, and no adapter builds a client config from scratch.
#[test]
fn every_client_is_built_from_the_lambda_sdk_config() {
    let root = workspace_root();
    for f in [
        "detect",
        "remediate",
        "notify",
        "sweep",
        "config-rule",
        "approve",
    ] {
        let main =
            std::fs::read_to_string(root.join(format!("functions/{f}/src/main.rs"))).unwrap();
        assert!(
            main.contains("let sdk = load_sdk_config().await;") && main.contains("&sdk"),
            "functions/{f}/src/main.rs must wire from load_sdk_config()"
        );
    }
    let mut offenders = Vec::new();
    let mut dirs = vec![root.join("shared"), root.join("functions")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                if !path.ends_with("tests") && !path.ends_with("benches") {
                    dirs.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Production code only: what comes before the file's test module.
            let production = text.split("#[cfg(test)]").next().unwrap_or("");
            for needle in [
                "aws_config::defaults(",
                "load_from_env(",
                "::Config::builder()",
            ] {
                if production.contains(needle) && !path.ends_with("shared/adapters/src/lib.rs") {
                    offenders.push(format!("{}: {needle}", path.display()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "clients not from the Lambda SDK config: {offenders:?}"
    );
}

/// The longest wait [`RetryPolicy::backoff`] can draw before attempt `k + 1`
/// (full jitter: uniform up to `min(max_delay, base × 2^k)`).
fn backoff_cap(p: &RetryPolicy, k: u32) -> Duration {
    p.base_delay
        .saturating_mul(1u32.checked_shl(k).unwrap_or(u32::MAX))
        .min(p.max_delay)
}

/// Per port call: attempts × the attempt timeout plus the backoffs fit in
/// the Lambda timeout of each function that makes it (the SDK makes one
/// attempt; `resilience::retry` the rest).
#[test]
fn each_retried_call_fits_inside_its_functions_timeout() {
    let timeouts = lambda_timeouts();
    let (probe, policy) = (Probe::default(), policy_file());
    let rule = config_rule::wire(&config(&policy), &probe_sdk(&probe)).expect("wire config-rule");
    let default = RetryPolicy::default();
    let budgets = [
        ("detect", driftguard_core::detect::Settings::default().retry),
        (
            "sweep",
            driftguard_core::sweep::SweepSettings::default().retry,
        ),
        ("remediate", default),
        ("notify", default),
        // approve makes one attempt per call (no retry: measured above).
        ("config-rule", rule.retry),
    ];
    for (binary, p) in budgets {
        let per_attempt = ATTEMPT_TIMEOUT
            .min(OPERATION_TIMEOUT)
            .min(p.attempt_timeout);
        let waits: Duration = (1..p.max_attempts).map(|k| backoff_cap(&p, k)).sum();
        let worst = per_attempt * p.max_attempts + waits;
        println!(
            "timeouts: {binary}: one call at worst {} × {per_attempt:?} + {waits:?} of backoff = {worst:?} (Lambda {:?})",
            p.max_attempts, timeouts[binary]
        );
        assert!(
            worst < timeouts[binary],
            "{binary}: {worst:?} ≥ {:?}",
            timeouts[binary]
        );
    }
}

/// The ownership index (the owner lookup's fallback, and the sweep's view)
/// is the one port call that makes many requests: `ListStacks`, then one
/// `ListStackResources` per stack. Each attempt stops starting listings
/// after `index_attempt_budget` and the next attempt resumes the build (the
/// stack list is kept), so an attempt lasts at most the stack list, the
/// budget and the listings in flight when it ran out (one attempt timeout;
/// a stack's listing is one page up to 100 resources, and so is the stack
/// list up to 100 stacks: more pages add one attempt timeout per page).
#[test]
fn the_ownership_index_build_fits_inside_every_function_that_uses_it() {
    let timeouts = lambda_timeouts();
    let (probe, policy) = (Probe::default(), policy_file());
    let rule = config_rule::wire(&config(&policy), &probe_sdk(&probe)).expect("wire config-rule");
    let index = driftguard_adapters::cloudformation::CatalogSettings::default();
    let budgets = [
        ("detect", driftguard_core::detect::Settings::default().retry),
        (
            "sweep",
            driftguard_core::sweep::SweepSettings::default().retry,
        ),
        ("remediate", RetryPolicy::default()),
        ("config-rule", rule.retry),
    ];
    for (binary, p) in budgets {
        let per_call = ATTEMPT_TIMEOUT
            .min(OPERATION_TIMEOUT)
            .min(p.attempt_timeout);
        let per_attempt = per_call + index.index_attempt_budget + per_call;
        let waits: Duration = (1..p.max_attempts).map(|k| backoff_cap(&p, k)).sum();
        let worst = per_attempt * p.max_attempts + waits;
        println!(
            "timeouts: {binary}: the ownership index at worst {} × ({per_call:?} + {:?} + {per_call:?}) + {waits:?} of backoff = {worst:?} (Lambda {:?})",
            p.max_attempts, index.index_attempt_budget, timeouts[binary]
        );
        assert!(
            worst < timeouts[binary],
            "{binary}: {worst:?} ≥ {:?}",
            timeouts[binary]
        );
    }
}
