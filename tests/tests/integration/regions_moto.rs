//! Issue 13, global services: an IAM role of a stack in eu-west-1 hot-fixed
//! from the console; its CloudTrail event is delivered in us-east-1, where
//! detect runs with `WATCHED_REGIONS=us-east-1,eu-west-1`. Through detect's
//! real wiring (`detect::wire`, the handler) and the real SDK clients on moto,
//! which keeps CloudFormation stacks per region and one global IAM.
//!
//! IAM's CloudTrail events are delivered in us-east-1: "events created by
//! Amazon CloudFront, AWS Identity and Access Management, and AWS STS are
//! recorded in the Region in which they were created, the US East (N.
//! Virginia) Region, us-east-1"
//! (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-create-and-update-a-trail-by-using-the-aws-cli-update-trail.html);
//! "For most global services, events are logged as occurring in US East (N.
//! Virginia) Region"
//! (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-concepts.html#cloudtrail-concepts-global-service-events).
//!
//! What detect asked, and where, is read off the requests themselves: the SDK
//! config's HTTP client is wrapped to record each request's SigV4 credential
//! scope (region, service) and its query-protocol `Action`, then forwards it
//! to moto unchanged. moto 5.2.5 lacks the reverse lookup
//! `DescribeStackResources(PhysicalResourceId)` and `DetectStackResourceDrift`,
//! so ownership comes from the (cached) ownership index and drift from the
//! event's request, as in detect_moto.
use std::sync::{Arc, Mutex};

use aws_sdk_cloudformation::types::Capability;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_cli::emulator::resources::{physical_ids, wait_for_stack};
use driftguard_core::detect::Pipeline;
use driftguard_core::ports::TicketStore;
use integration_tests::cloudtrail::{cloudtrail_event, console_user, Origin};
use integration_tests::infra::Infra;
use integration_tests::{moto, unique};
use serde_json::{json, Value};

const POLICY: &str = r#"
version: 1
defaults: { dry_run: true, verdict: ticket, severity: medium }
rules:
  - name: iam-hotfix-reverted
    match: { actors: [console, human, automation, unknown], resource_types: ["AWS::IAM::Role"] }
    verdict: revert
    severity: high
"#;

const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

/// One request as sent: (region, service) of its SigV4 scope, its `Action`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Call {
    region: String,
    service: String,
    action: String,
}

#[derive(Debug, Clone, Default)]
struct Calls(Arc<Mutex<Vec<Call>>>);

impl Calls {
    fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// `Authorization: AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, ...`
/// and a form body `Action=...&...` (the query protocol of CloudFormation and IAM).
fn call_of(request: &HttpRequest) -> Call {
    let auth = request.headers().get("authorization").unwrap_or_default();
    let scope: Vec<&str> = auth
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split(',').next())
        .map(|c| c.split('/').collect())
        .unwrap_or_default();
    let body = request
        .body()
        .bytes()
        .map(|b| String::from_utf8_lossy(b).to_string())
        .unwrap_or_default();
    let action = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or_default()
        .to_string();
    Call {
        region: scope.get(2).copied().unwrap_or_default().to_string(),
        service: scope.get(3).copied().unwrap_or_default().to_string(),
        action,
    }
}

#[derive(Debug, Clone)]
struct Recording {
    inner: SharedHttpClient,
    calls: Calls,
}

#[derive(Debug)]
struct RecordingConnector {
    inner: SharedHttpConnector,
    calls: Calls,
}

impl HttpConnector for RecordingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        self.calls.0.lock().unwrap().push(call_of(&request));
        self.inner.call(request)
    }
}

impl HttpClient for Recording {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(RecordingConnector {
            inner: self.inner.http_connector(settings, components),
            calls: self.calls.clone(),
        })
    }
}

fn in_region(sdk: &aws_config::SdkConfig, region: &'static str) -> aws_config::SdkConfig {
    sdk.to_builder()
        .region(aws_config::Region::new(region))
        .build()
}

struct Scenario {
    sdk: aws_config::SdkConfig,
    infra: Infra,
    stack: String,
    stack_id: String,
    role: String,
    pipeline: Pipeline,
    calls: Calls,
    _policy_file: tempfile::NamedTempFile,
}

fn template() -> String {
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "AppRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
            }}}
        }
    })
    .to_string()
}

/// A stack with one role in eu-west-1; detect wired in us-east-1 watching
/// both regions. `tagged`: the role carries `aws:cloudformation:stack-id`.
async fn scenario(tagged: bool) -> Scenario {
    let moto = moto();
    let base = moto.sdk_config().await;
    let calls = Calls::default();
    let sdk = base
        .to_builder()
        .http_client(Recording {
            // moto speaks plain HTTP on 127.0.0.1.
            inner: aws_smithy_http_client::Builder::new().build_http(),
            calls: calls.clone(),
        })
        .build();
    assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-east-1"));
    let prefix = unique("regions");
    let infra = Infra::create(&sdk, &prefix)
        .await
        .expect("table, bus, queue");

    let eu = aws_sdk_cloudformation::Client::new(&in_region(&sdk, "eu-west-1"));
    let stack = format!("{prefix}-eu");
    let stack_id = eu
        .create_stack()
        .stack_name(&stack)
        .template_body(template())
        .capabilities(Capability::CapabilityIam)
        .send()
        .await
        .expect("create stack in eu-west-1")
        .stack_id()
        .expect("stack id")
        .to_string();
    assert!(stack_id.contains(":eu-west-1:"), "{stack_id}");
    wait_for_stack(&eu, &stack).await.expect("stack created");
    let role = physical_ids(&eu, &stack).await.expect("stack resources")["AppRole"].clone();
    assert!(!role.is_empty());

    let iam = aws_sdk_iam::Client::new(&sdk);
    if tagged {
        // On AWS only CloudFormation can set an `aws:` tag ("You can't create,
        // edit, or delete tag keys that begin with aws:",
        // https://docs.aws.amazon.com/IAM/latest/UserGuide/id_tags.html); moto's
        // CloudFormation does not tag roles, and its TagRole accepts the key:
        // the test sets what CloudFormation would.
        iam.tag_role()
            .role_name(&role)
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key("aws:cloudformation:stack-id")
                    .value(&stack_id)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("tag role");
    }
    // The console hot-fix itself, on the (global) IAM.
    iam.attach_role_policy()
        .role_name(&role)
        .policy_arn(ADMIN)
        .send()
        .await
        .expect("attach policy on moto");

    let (config, policy_file) = infra.config(
        POLICY,
        &[("WATCHED_REGIONS", "us-east-1,eu-west-1".to_string())],
    );
    let pipeline = detect::wire(&config, &sdk).await.expect("wire detect");
    calls.take();
    Scenario {
        sdk,
        infra,
        stack,
        stack_id,
        role,
        pipeline,
        calls,
        _policy_file: policy_file,
    }
}

impl Scenario {
    /// The console's AttachRolePolicy as CloudTrail delivers it: in us-east-1.
    fn attach_event(&self, event_id: &str) -> Value {
        let event = cloudtrail_event(
            event_id,
            "iam",
            "AttachRolePolicy",
            console_user(),
            json!({"roleName": self.role, "policyArn": ADMIN}),
            Value::Null,
            Origin::Console,
        );
        assert_eq!(event["detail"]["awsRegion"], "us-east-1");
        assert_eq!(event["region"], "us-east-1");
        event
    }

    async fn detect(&self, event_id: &str) -> Value {
        detect::handler::handle(&self.pipeline, self.attach_event(event_id))
            .await
            .expect("detect")
    }

    /// The outcome names the eu-west-1 stack and its logical id, and so does
    /// the stored ticket.
    async fn assert_owned_in_eu_west_1(&self, out: &Value) {
        assert_eq!(out["outcome"], "decided", "{out:#}");
        assert_eq!(out["actor"]["kind"], "console");
        let owner = &out["ownership"];
        assert_eq!(owner["kind"], "managed", "{out:#}");
        assert_eq!(owner["stack_name"], self.stack.as_str());
        assert_eq!(owner["stack_id"], self.stack_id.as_str());
        assert_eq!(owner["logical_id"], "AppRole");
        assert_eq!(out["decision"]["verdict"]["action"], "revert");

        let id = out["ticket"]["id"].as_str().expect("a ticket");
        let store = DynamoTicketStore::new(
            aws_sdk_dynamodb::Client::new(&self.sdk),
            self.infra.table.clone(),
        );
        let ticket = store.get_ticket(id).await.unwrap().expect("stored ticket");
        assert_eq!(ticket.state, driftguard_model::domain::TicketState::Open);
        let m = ticket.ownership.membership().expect("managed");
        assert_eq!(
            (m.stack_name.as_str(), m.logical_id.as_str()),
            (self.stack.as_str(), "AppRole")
        );
        assert!(m.stack_id.contains(":eu-west-1:"), "{}", m.stack_id);
        assert_eq!(ticket.fingerprint.logical_id, "AppRole");
        assert_eq!(ticket.fingerprint.stack, self.stack);
    }
}

fn cloudformation_in<'a>(calls: &'a [Call], region: &str) -> Vec<&'a str> {
    calls
        .iter()
        .filter(|c| c.service == "cloudformation" && c.region == region)
        .map(|c| c.action.as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tagged_role_of_an_eu_west_1_stack_is_owned_from_us_east_1_straight_from_its_tag() {
    let s = scenario(true).await;
    let out = s.detect(&unique("ev-tagged")).await;
    s.assert_owned_in_eu_west_1(&out).await;

    let calls = s.calls.take();
    assert!(
        calls
            .iter()
            .any(|c| c.service == "iam" && c.action == "ListRoleTags"),
        "{calls:#?}"
    );
    // Straight to the region the tag names: us-east-1's stacks never asked.
    assert!(
        cloudformation_in(&calls, "us-east-1").is_empty(),
        "{calls:#?}"
    );
    let eu = cloudformation_in(&calls, "eu-west-1");
    assert!(eu.contains(&"DescribeStacks"), "{calls:#?}");
    // Drift is detected where the stack lives.
    assert!(eu.contains(&"DetectStackResourceDrift"), "{calls:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untagged_role_is_looked_up_in_each_watched_region_and_the_answer_cached() {
    let s = scenario(false).await;
    let out = s.detect(&unique("ev-untagged-1")).await;
    s.assert_owned_in_eu_west_1(&out).await;

    let calls = s.calls.take();
    let us = cloudformation_in(&calls, "us-east-1");
    let eu = cloudformation_in(&calls, "eu-west-1");
    // The home region first (its ownership index: no stack of it owns the
    // role), then eu-west-1, which does.
    assert!(us.contains(&"ListStacks"), "{calls:#?}");
    assert!(eu.contains(&"ListStacks"), "{calls:#?}");
    assert!(eu.contains(&"DetectStackResourceDrift"), "{calls:#?}");

    // The same role again: both regions' answers come from their caches; only
    // the stack's current status (DescribeStacks) and drift are read again.
    let out = s.detect(&unique("ev-untagged-2")).await;
    s.assert_owned_in_eu_west_1(&out).await;
    assert_eq!(out["ticket"]["write"], "updated", "{out:#}");
    let calls = s.calls.take();
    let lookups: Vec<&Call> = calls
        .iter()
        .filter(|c| {
            c.service == "cloudformation"
                && matches!(
                    c.action.as_str(),
                    "ListStacks" | "ListStackResources" | "DescribeStackResources"
                )
        })
        .collect();
    assert!(lookups.is_empty(), "owner not cached: {lookups:#?}");
    assert!(
        cloudformation_in(&calls, "us-east-1").is_empty(),
        "{calls:#?}"
    );
}
