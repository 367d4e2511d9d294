//! Counting the AWS calls a function makes: an HTTP client wrapping the real
//! one, set on the `SdkConfig` a function's `wire` receives, so every client
//! the function builds sends through it (an `SdkConfig` carries an HTTP client
//! but no interceptors, which are per client). Each request is named
//! `service:Operation`:
//!
//! - the service is the signing name in the SigV4 credential scope of the
//!   `Authorization` header (`Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request`,
//!   <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-authentication-methods.html>;
//!   "The credential scope for the request, in the format
//!   access-key-ID/YYYYMMDD/region/service/aws4_request",
//!   <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/CommonParameters.html>);
//! - the operation, for awsJson, is the part of the `X-Amz-Target` header after
//!   its last dot (the sample request's "`X-Amz-Target: DynamoDB_20120810.PutItem`",
//!   <https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_PutItem.html>);
//!   for awsQuery and ec2Query, the `Action=` form field ("`Action` | The
//!   action to perform. Example: `RunInstances`", same CommonParameters page);
//!   for S3 (restXml) the method and the path with the bucket and key left out
//!   plus the names of the query parameters (`s3:PUT /{bucket}?publicAccessBlock`).
//!
//! ```ignore
//! let (counted, calls) = integration_tests::calls::counting(&sdk);
//! let detect = detect::wire(&config, &counted).await?;
//! calls.reset();
//! detect::handler::handle(&detect, event).await?;
//! println!("{}", integration_tests::calls::line("detect reverted", &calls.take()));
//! ```
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// The calls counted so far, per `service:Operation` (a call whose answer was
/// not a 2xx is counted as `service:Operation!<status>`, one that got no
/// answer as `service:Operation!io`).
#[derive(Debug, Clone, Default)]
pub struct Calls(Arc<Mutex<BTreeMap<String, u64>>>);

impl Calls {
    fn add(&self, name: String) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry(name).or_default() += 1;
    }

    /// Forget what was counted.
    pub fn reset(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// What was counted, and forget it.
    pub fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// What was counted so far.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The total of a count map.
pub fn total(ops: &BTreeMap<String, u64>) -> u64 {
    ops.values().sum()
}

/// `CALLS <label> total=N ops=[svc:Op=n, ...]`.
pub fn line(label: &str, ops: &BTreeMap<String, u64>) -> String {
    let list: Vec<String> = ops.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "CALLS {label} total={} ops=[{}]",
        total(ops),
        list.join(", ")
    )
}

/// `config` with its HTTP client wrapped in a counter (the config's own
/// client, or the SDK's default one when it has none).
pub fn counting(config: &aws_config::SdkConfig) -> (aws_config::SdkConfig, Calls) {
    let calls = Calls::default();
    let inner = config.http_client().unwrap_or_else(|| {
        SharedHttpClient::new(aws_smithy_http_client::Builder::new().build_http())
    });
    let counted = config
        .to_builder()
        .http_client(CountingClient {
            inner,
            calls: calls.clone(),
        })
        .build();
    (counted, calls)
}

/// The `service:Operation` of a request (see the module docs).
pub fn operation(request: &HttpRequest) -> String {
    let service = request
        .headers()
        .get("authorization")
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|cred| cred.split(['/', ',']).nth(3))
        .unwrap_or("?")
        .to_string();
    if let Some(target) = request.headers().get("x-amz-target") {
        let op = target.rsplit('.').next().unwrap_or(target);
        return format!("{service}:{op}");
    }
    let body = request.body().bytes().unwrap_or_default();
    let form = String::from_utf8_lossy(body);
    if let Some(action) = form.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
        return format!("{service}:{action}");
    }
    // restXml (S3): method, path shape and query parameter names.
    let uri = request.uri();
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let path = path
        .split_once("://")
        .map_or(path, |(_, rest)| rest.find('/').map_or("/", |i| &rest[i..]));
    // Path style: /bucket[/key]; the bucket and key are not the operation.
    let depth = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .count();
    let shape = match depth {
        0 => "/",
        1 => "/{bucket}",
        _ => "/{bucket}/{key}",
    };
    let names: Vec<&str> = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| kv.split('=').next().unwrap_or(kv))
        .filter(|name| *name != "x-id")
        .collect();
    let query = if names.is_empty() {
        String::new()
    } else {
        format!("?{}", names.join("&"))
    };
    format!("{service}:{} {shape}{query}", request.method())
}

#[derive(Debug)]
struct CountingConnector {
    inner: SharedHttpConnector,
    calls: Calls,
}

impl HttpConnector for CountingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let name = operation(&request);
        let calls = self.calls.clone();
        let inner = self.inner.clone();
        HttpConnectorFuture::new(async move {
            let answer = inner.call(request).await;
            match &answer {
                Ok(r) if r.status().is_success() => calls.add(name),
                Ok(r) => calls.add(format!("{name}!{}", r.status().as_u16())),
                Err(_) => calls.add(format!("{name}!io")),
            }
            answer
        })
    }
}

#[derive(Debug)]
struct CountingClient {
    inner: SharedHttpClient,
    calls: Calls,
}

impl HttpClient for CountingClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(CountingConnector {
            inner: self.inner.http_connector(settings, components),
            calls: self.calls.clone(),
        })
    }
}
