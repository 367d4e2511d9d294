//! Writes through APIs no operation row lists, on moto (issue 33, items 2 and
//! 3): the sample stack (`examples/app-stack.yaml`, what `driftguard demo`
//! deploys) is created through CloudFormation, its resources are changed
//! through their own APIs as an insider would (bucket CORS and logging, a
//! role's description and tags, a security group rule's description), and the
//! CloudTrail records of those calls are fed to detect, as recorded:
//! `events/recorded/unlisted/` (PutBucketCors, PutBucketLogging, TagRole,
//! UpdateSecurityGroupRuleDescriptionsIngress) and `events/recorded/`
//! (UpdateRole, which has a row), with the stack's names, ids and ARNs, a
//! fresh event id and time swapped in and everything else kept.
//!
//! Each becomes a ticket on the owning stack's resource naming the actor the
//! record names. A write to a bucket no stack owns is skipped, and once the
//! ownership index is warm it costs no AWS call at all (counted with the
//! harness's counting HTTP client, as `call_counts.rs` does).
//!
//! `cargo test -p integration-tests --test integration unlisted_moto:: -- --nocapture`
use std::collections::HashMap;

use driftguard_cli::demo::app::APP_STACK_TEMPLATE;
use driftguard_cli::emulator::{workspace_root, ACCOUNT};
use driftguard_core::config::Config;
use driftguard_model::sources::record::envelope_for_record;
use integration_tests::calls::{counting, line};
use integration_tests::infra::Infra;
use integration_tests::stacks::deploy;
use integration_tests::{moto, unique};
use serde_json::{json, Value};

/// Tickets by default; a person's bucket writes outside the table are
/// high-severity (matched by operation glob, type and actor).
const POLICY: &str = r#"
version: 1
defaults: { dry_run: true, verdict: ticket, severity: medium }
identities:
  own: [{ principal: "arn:aws:iam::123456789012:role/driftguard-remediation" }, { principal: "arn:aws:iam::111111111111:role/driftguard-remediation" }, { principal: "arn:aws:iam::222222222222:role/driftguard-remediation" }]
rules:
  - name: bucket-writes-by-people
    match:
      operations: ["s3:PutBucket*"]
      resource_types: ["AWS::S3::Bucket"]
      actors: [human, console]
    verdict: ticket
    severity: high
"#;

/// A recorded CloudTrail record (`events/recorded/<path>`).
fn recorded(path: &str) -> Value {
    let file = workspace_root().join("events/recorded").join(path);
    let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_json::from_slice(&bytes).unwrap()
}

/// `record` as this run's event: a fresh id and time, this account, and the
/// recorded names replaced by the stack's (`swaps`: recorded → ours, applied
/// to every string of the record).
fn replayed(mut record: Value, swaps: &[(&str, &str)]) -> (String, Value) {
    let event_id = unique("ev");
    fn swap(v: &mut Value, swaps: &[(&str, &str)]) {
        match v {
            Value::String(s) => {
                for (from, to) in swaps {
                    if s.contains(from) {
                        *s = s.replace(from, to);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| swap(i, swaps)),
            Value::Object(map) => map.values_mut().for_each(|i| swap(i, swaps)),
            _ => {}
        }
    }
    swap(&mut record, swaps);
    record["eventID"] = json!(event_id);
    record["eventTime"] = json!(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string());
    record["recipientAccountId"] = json!(ACCOUNT);
    record["awsRegion"] = json!(driftguard_cli::emulator::REGION);
    let envelope = envelope_for_record(&record).expect("a bare CloudTrail record");
    (event_id, envelope)
}

struct Sample {
    sdk: aws_config::SdkConfig,
    config: Config,
    stack: String,
    physical: HashMap<String, String>,
    _policy_file: tempfile::NamedTempFile,
}

async fn sample() -> Sample {
    let sdk = driftguard_adapters::with_resilience(&moto().sdk_config().await, 1);
    let prefix = unique("unlisted");
    let infra = Infra::create(&sdk, &prefix)
        .await
        .expect("table, bus, queue");
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let stack = format!("{prefix}-shop-web");
    let physical = deploy(&cfn, &stack, APP_STACK_TEMPLATE).await;
    for logical in ["WebSecurityGroup", "AssetsBucket", "AppRole"] {
        assert!(
            !physical[logical].is_empty(),
            "{logical} has a physical id: {physical:?}"
        );
    }
    let (config, policy_file) = infra.config(POLICY, &[]);
    Sample {
        sdk,
        config,
        stack,
        physical,
        _policy_file: policy_file,
    }
}

/// The insider's changes, made through each resource's own API on moto.
async fn change_the_resources(s: &Sample) {
    let bucket = &s.physical["AssetsBucket"];
    let s3 = aws_sdk_s3::Client::new(&s.sdk);
    let cors = aws_sdk_s3::types::CorsConfiguration::builder()
        .cors_rules(
            aws_sdk_s3::types::CorsRule::builder()
                .allowed_methods("GET")
                .allowed_methods("PUT")
                .allowed_origins("*")
                .allowed_headers("*")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    s3.put_bucket_cors()
        .bucket(bucket)
        .cors_configuration(cors)
        .send()
        .await
        .expect("put bucket cors");
    // Logging off (an empty status), as the recorded call does.
    let logging = aws_sdk_s3::types::BucketLoggingStatus::builder().build();
    s3.put_bucket_logging()
        .bucket(bucket)
        .bucket_logging_status(logging)
        .send()
        .await
        .expect("put bucket logging");

    let iam = aws_sdk_iam::Client::new(&s.sdk);
    let role = &s.physical["AppRole"];
    iam.update_role()
        .role_name(role)
        .description("temporary: debugging")
        .max_session_duration(43_200)
        .send()
        .await
        .expect("update role");
    iam.tag_role()
        .role_name(role)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("test-tag")
                .value("detection-for-eventbridge-attempt-2")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("tag role");

    let ec2 = aws_sdk_ec2::Client::new(&s.sdk);
    ec2.update_security_group_rule_descriptions_ingress()
        .group_id(&s.physical["WebSecurityGroup"])
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443)
                .ip_ranges(
                    aws_sdk_ec2::types::IpRange::builder()
                        .cidr_ip("0.0.0.0/0")
                        .description("temporary: vendor demo")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("update security group rule descriptions");
}

/// One write's replayed record and what detect must make of it.
struct Case {
    api: &'static str,
    event: Value,
    logical_id: &'static str,
    resource_type: &'static str,
    actor_kind: &'static str,
    actor_principal: &'static str,
    rule: Option<&'static str>,
}

fn cases(s: &Sample) -> Vec<Case> {
    let bucket = s.physical["AssetsBucket"].as_str();
    let role = s.physical["AppRole"].as_str();
    let group = s.physical["WebSecurityGroup"].as_str();
    let alice = "arn:aws:iam::123456789012:user/Alice";
    vec![
        Case {
            api: "s3:PutBucketCors",
            event: replayed(
                recorded("unlisted/s3-put-bucket-cors.json"),
                &[("amzn-s3-demo-bucket", bucket)],
            )
            .1,
            logical_id: "AssetsBucket",
            resource_type: "AWS::S3::Bucket",
            actor_kind: "human",
            actor_principal: alice,
            rule: Some("bucket-writes-by-people"),
        },
        Case {
            api: "s3:PutBucketLogging",
            // The recorded ARN and bucketName name two buckets (panther's
            // sanitisation): both become the stack's bucket here.
            event: replayed(
                recorded("unlisted/s3-put-bucket-logging.json"),
                &[
                    ("sample-bucket-great-proskuriakova", bucket),
                    ("critical-data-bucket", bucket),
                    ("111122223333", ACCOUNT),
                ],
            )
            .1,
            logical_id: "AssetsBucket",
            resource_type: "AWS::S3::Bucket",
            actor_kind: "automation",
            actor_principal: "arn:aws:iam::123456789012:role/sample-role-quirky-greider/sso.amazonaws.com/us-west-2/sample-role-dreamy-yonath",
            rule: None,
        },
        Case {
            api: "iam:UpdateRole",
            // The recorded call sets the session duration; the description is
            // UpdateRole's other parameter (IAM API Reference, UpdateRole), added
            // as CloudTrail logs request parameters, in camelCase.
            event: {
                let mut record = recorded("iam-update-role.json");
                record["requestParameters"]["description"] = json!("temporary: debugging");
                replayed(record, &[("app-service-role", role)]).1
            },
            logical_id: "AppRole",
            resource_type: "AWS::IAM::Role",
            actor_kind: "human",
            actor_principal: alice,
            rule: None,
        },
        Case {
            api: "iam:TagRole",
            event: replayed(
                recorded("unlisted/iam-tag-role.json"),
                &[("test_detect_role", role)],
            )
            .1,
            logical_id: "AppRole",
            resource_type: "AWS::IAM::Role",
            actor_kind: "automation",
            actor_principal: "arn:aws:iam::123456789012:role/NoqSpoke",
            rule: None,
        },
        Case {
            api: "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
            event: replayed(
                recorded("unlisted/ec2-update-security-group-rule-descriptions-ingress.json"),
                &[("sg-0a1b2c3d4e5f67890", group)],
            )
            .1,
            logical_id: "WebSecurityGroup",
            resource_type: "AWS::EC2::SecurityGroup",
            actor_kind: "human",
            actor_principal: alice,
            rule: None,
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_without_a_row_are_tickets_on_the_owning_resource_and_unmanaged_ones_cost_nothing_warm(
) {
    let s = sample().await;
    let s3 = aws_sdk_s3::Client::new(&s.sdk);
    let stray = unique("stray-bucket");
    s3.create_bucket()
        .bucket(&stray)
        .send()
        .await
        .expect("a bucket no stack owns");
    change_the_resources(&s).await;

    // The function as deployed, its every AWS call counted.
    let (counted_sdk, calls) = counting(&s.sdk);
    let pipeline = detect::wire(&s.config, &counted_sdk)
        .await
        .expect("wire detect");

    for case in cases(&s) {
        let out = detect::handler::handle(&pipeline, case.event)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.api));
        let api = case.api;
        assert_eq!(out["outcome"], "decided", "{api}: {out:#}");
        assert_eq!(
            out["decision"]["verdict"]["action"], "ticket",
            "{api}: {out:#}"
        );
        assert_eq!(
            out["decision"]["verdict"]["rule"].as_str(),
            case.rule,
            "{api}: {out:#}"
        );
        assert_eq!(out["ticket"]["state"], "OPEN", "{api}: {out:#}");
        assert_eq!(out["ownership"]["kind"], "managed", "{api}: {out:#}");
        assert_eq!(
            out["ownership"]["stack_name"],
            s.stack.as_str(),
            "{api}: {out:#}"
        );
        assert_eq!(
            out["ownership"]["logical_id"], case.logical_id,
            "{api}: {out:#}"
        );
        assert_eq!(
            out["ownership"]["resource_type"], case.resource_type,
            "{api}: {out:#}"
        );
        assert_eq!(out["actor"]["kind"], case.actor_kind, "{api}: {out:#}");
        assert_eq!(
            out["actor"]["principal"], case.actor_principal,
            "{api}: {out:#}"
        );
        assert!(
            out["resource"]
                .as_str()
                .unwrap()
                .contains(case.resource_type),
            "{api}: the ticket names the resource: {out:#}"
        );
        println!("{}", line(api, &calls.take()));
    }

    // The same PutBucketCors shape on a bucket no stack owns: skipped, and
    // with the index warm (the writes above built it) no AWS call at all.
    calls.reset();
    let (_, event) = replayed(
        recorded("unlisted/s3-put-bucket-cors.json"),
        &[("amzn-s3-demo-bucket", stray.as_str())],
    );
    let out = detect::handler::handle(&pipeline, event)
        .await
        .expect("unmanaged write");
    let made = calls.take();
    println!("{}", line("s3:PutBucketCors unmanaged (warm)", &made));
    assert_eq!(out["outcome"], "skipped", "{out:#}");
    assert_eq!(out["reason"], "no_managed_owner", "{out:#}");
    assert!(
        out["detail"].as_str().unwrap().contains(&stray),
        "the detail names what was looked up: {out:#}"
    );
    assert!(made.is_empty(), "no AWS call on a warm index: {made:?}");

    // A role tag on a role no stack owns: the same (IAM is global: every
    // watched region's index is asked, all warm).
    let iam = aws_sdk_iam::Client::new(&s.sdk);
    let stray_role = unique("stray-role");
    iam.create_role()
        .role_name(&stray_role)
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .send()
        .await
        .expect("a role no stack owns");
    calls.reset();
    let (_, event) = replayed(
        recorded("unlisted/iam-tag-role.json"),
        &[("test_detect_role", stray_role.as_str())],
    );
    let out = detect::handler::handle(&pipeline, event)
        .await
        .expect("unmanaged role write");
    let made = calls.take();
    println!("{}", line("iam:TagRole unmanaged (warm)", &made));
    assert_eq!(out["reason"], "no_managed_owner", "{out:#}");
    assert!(made.is_empty(), "no AWS call on a warm index: {made:?}");
}
