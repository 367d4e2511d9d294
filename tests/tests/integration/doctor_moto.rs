//! `driftguard doctor` against moto, through the real AWS adapter
//! (`AwsDeploymentProbe`): a driftguard-shaped stack created through
//! CloudFormation (the template's logical ids for the table, bus, role,
//! dead-letter queue and every EventBridge rule, each with a target), a trail,
//! a Config recorder, the policy parameter and the Slack secret made through
//! their APIs. Every check passes; then each is broken the way it breaks in an
//! account and the check fails (or warns) and says so.
//!
//! Trails and recorders are account-wide, so these scenarios run one after
//! the other on a moto server of their own, reset in between.
use aws_sdk_cloudformation::types::{Capability, Parameter};
use driftguard_adapters::deployment::AwsDeploymentProbe;
use driftguard_cli::doctor::checks::Status;
use driftguard_cli::doctor::{self, template, Options};
use driftguard_cli::emulator::resources::wait_for_stack;
use driftguard_cli::emulator::Emulator;
use integration_tests::{own_moto, unique};
use serde_json::{json, Map, Value};

const ROLE: &str = "driftguard-remediation";

fn policy_yaml(own: &str) -> String {
    format!(
        "version: 1\ndefaults: {{ dry_run: false, verdict: ticket, severity: medium }}\nidentities:\n  own: [{{ principal: \"arn:aws:iam::123456789012:role/{own}\" }}]\n"
    )
}

/// A stack with the resources doctor reads, under template.yaml's logical ids.
fn stack_template(prefix: &str) -> String {
    let mut resources = Map::new();
    resources.insert(
        "TicketTable".into(),
        json!({"Type": "AWS::DynamoDB::Table", "Properties": {
            "TableName": format!("{prefix}-tickets"),
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]
        }}),
    );
    // moto leaves the bus's physical id empty: doctor falls back to the
    // stack's EventBusName parameter, which names it in template.yaml too.
    resources.insert(
        "DriftguardBus".into(),
        json!({"Type": "AWS::Events::EventBus", "Properties": {"Name": {"Ref": "EventBusName"}}}),
    );
    resources.insert("RemediateRole".into(), json!({"Type": "AWS::IAM::Role", "Properties": {
        "RoleName": ROLE,
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    }}));
    resources.insert("DetectDeadLetterQueue".into(), json!({"Type": "AWS::SQS::Queue", "Properties": {"QueueName": format!("{prefix}-detect-dlq")}}));
    resources.insert(
        "Sink".into(),
        json!({"Type": "AWS::SQS::Queue", "Properties": {"QueueName": format!("{prefix}-sink")}}),
    );
    for rule in template::expected_rules(template::TEMPLATE) {
        let mut props = json!({
            "Name": format!("{prefix}-{}", rule.logical_id),
            "State": "ENABLED",
            "EventPattern": {"source": ["driftguard.test"]},
            "Targets": [{"Id": "sink", "Arn": {"Fn::GetAtt": ["Sink", "Arn"]}}]
        });
        if rule.on_driftguard_bus {
            props["EventBusName"] = json!({"Fn::GetAtt": ["DriftguardBus", "Name"]});
        }
        resources.insert(
            rule.logical_id,
            json!({"Type": "AWS::Events::Rule", "Properties": props}),
        );
    }
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {
            "PolicyParameterName": {"Type": "String"},
            "DryRun": {"Type": "String"},
            "SlackSecretArn": {"Type": "String"},
            "DeployConfigRule": {"Type": "String"},
            "EventBusName": {"Type": "String"}
        },
        "Resources": resources
    })
    .to_string()
}

struct Deployment {
    sdk: aws_config::SdkConfig,
    prefix: String,
    stack: String,
    policy: String,
    secret_arn: String,
}

fn param(k: &str, v: &str) -> Parameter {
    Parameter::builder()
        .parameter_key(k)
        .parameter_value(v)
        .build()
}

impl Deployment {
    async fn create(moto: &Emulator) -> Deployment {
        // No attempt timeout: a fresh server's first call of a service is slow.
        let sdk = moto.sdk_config_with_sdk_retries().await;
        let prefix = unique("doctor");
        let policy = format!("/{prefix}/policy");
        let ssm = aws_sdk_ssm::Client::new(&sdk);
        ssm.put_parameter()
            .name(&policy)
            .value(policy_yaml(ROLE))
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await
            .unwrap();
        let secret_arn = aws_sdk_secretsmanager::Client::new(&sdk)
            .create_secret()
            .name(format!("{prefix}-slack"))
            .secret_string("https://hooks.slack.com/services/T000/B000/XXXX")
            .send()
            .await
            .unwrap()
            .arn()
            .unwrap()
            .to_string();
        let cfn = aws_sdk_cloudformation::Client::new(&sdk);
        let stack = format!("{prefix}-driftguard");
        cfn.create_stack()
            .stack_name(&stack)
            .template_body(stack_template(&prefix))
            .capabilities(Capability::CapabilityNamedIam)
            .parameters(param("PolicyParameterName", &policy))
            .parameters(param("DryRun", "false"))
            .parameters(param("SlackSecretArn", &secret_arn))
            .parameters(param("DeployConfigRule", "true"))
            .parameters(param("EventBusName", &format!("{prefix}-bus")))
            .send()
            .await
            .expect("create stack");
        wait_for_stack(&cfn, &stack).await.expect("stack created");
        let d = Deployment {
            sdk,
            prefix,
            stack,
            policy,
            secret_arn,
        };
        d.trail().await;
        d.recorder().await;
        d
    }

    /// A multi-region trail logging management events, as `CreateTrail=true` makes.
    async fn trail(&self) {
        let bucket = format!("{}-trail", self.prefix);
        integration_tests_s3(&self.sdk)
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        let ct = aws_sdk_cloudtrail::Client::new(&self.sdk);
        ct.create_trail()
            .name(self.trail_name())
            .s3_bucket_name(&bucket)
            .is_multi_region_trail(true)
            .include_global_service_events(true)
            .send()
            .await
            .expect("create trail");
        ct.start_logging()
            .name(self.trail_name())
            .send()
            .await
            .unwrap();
    }

    fn trail_name(&self) -> String {
        format!("{}-management-events", self.prefix)
    }

    async fn recorder(&self) {
        let config = aws_sdk_config::Client::new(&self.sdk);
        let bucket = format!("{}-config", self.prefix);
        integration_tests_s3(&self.sdk)
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
        config
            .put_configuration_recorder()
            .configuration_recorder(
                aws_sdk_config::types::ConfigurationRecorder::builder()
                    .name("default")
                    .role_arn("arn:aws:iam::123456789012:role/config-recorder")
                    .build(),
            )
            .send()
            .await
            .expect("recorder");
        config
            .put_delivery_channel()
            .delivery_channel(
                aws_sdk_config::types::DeliveryChannel::builder()
                    .name("default")
                    .s3_bucket_name(&bucket)
                    .build(),
            )
            .send()
            .await
            .expect("delivery channel");
        config
            .start_configuration_recorder()
            .configuration_recorder_name("default")
            .send()
            .await
            .expect("start recorder");
    }

    fn options(&self) -> Options {
        Options {
            stack: Some(self.stack.clone()),
            home_region: "us-east-1".into(),
            ..Options::default()
        }
    }

    async fn doctor(&self) -> (bool, Vec<doctor::checks::Check>, String) {
        let probe = AwsDeploymentProbe::new(&self.sdk);
        let facts = doctor::gather(&probe, &self.options()).await;
        let checks = doctor::checks::run_checks(&facts);
        let mut out = Vec::new();
        let ok = doctor::run(&probe, &self.options(), false, &mut out)
            .await
            .unwrap();
        (ok, checks, String::from_utf8(out).unwrap())
    }

    fn rule_name(&self, logical_id: &str) -> String {
        format!("{}-{logical_id}", self.prefix)
    }
}

async fn wait_for_update(cfn: &aws_sdk_cloudformation::Client, stack: &str) {
    for _ in 0..100 {
        let out = cfn
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .unwrap();
        let status = out.stacks()[0].stack_status().unwrap().as_str().to_string();
        if status == "UPDATE_COMPLETE" {
            return;
        }
        assert!(status.ends_with("IN_PROGRESS"), "stack {stack}: {status}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("stack {stack} did not reach UPDATE_COMPLETE");
}

fn integration_tests_s3(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}

fn status<'a>(checks: &'a [doctor::checks::Check], name: &str) -> &'a doctor::checks::Check {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name} in {checks:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_wired_deployment_and_fails_each_broken_check() {
    let moto = own_moto();
    let d = Deployment::create(&moto).await;
    a_wired_deployment_passes_every_check(&d).await;
    broken_wiring_fails_each_check_with_its_fix(&d).await;
    moto.reset().expect("reset");
    let d = Deployment::create(&moto).await;
    missing_pieces_fail_and_dry_run_warns(&d).await;
}

async fn a_wired_deployment_passes_every_check(d: &Deployment) {
    // A multi-region trail applies in every region (a shadow trail outside its home).
    let probe = AwsDeploymentProbe::new(&d.sdk);
    let options = Options {
        regions: vec!["eu-west-1".into()],
        ..d.options()
    };
    let checks = doctor::checks::run_checks(&doctor::gather(&probe, &options).await);
    assert_eq!(
        status(&checks, "trail eu-west-1").status,
        Status::Pass,
        "{checks:#?}"
    );
    let (ok, checks, text) = d.doctor().await;
    println!("{text}");
    assert!(ok, "{text}");
    assert!(checks.iter().all(|c| c.status == Status::Pass), "{text}");
    for name in [
        format!("stack {}", d.stack),
        "trail us-east-1".into(),
        "IAM (us-east-1)".into(),
        "AWS Config recorder".into(),
        "rule CloudTrailWriteRule".into(),
        "rule RemediateDecisionRule".into(),
        "policy".into(),
        "own role".into(),
        "dry-run".into(),
        "dead-letter queue DetectDeadLetterQueue".into(),
        "Slack secret".into(),
        "ticket table".into(),
        "event bus".into(),
    ] {
        status(&checks, &name);
    }
    assert_eq!(
        checks
            .iter()
            .filter(|c| c.name.starts_with("rule "))
            .count(),
        template::expected_rules(template::TEMPLATE).len()
    );
}

async fn broken_wiring_fails_each_check_with_its_fix(d: &Deployment) {
    let sdk = &d.sdk;
    aws_sdk_cloudtrail::Client::new(sdk)
        .stop_logging()
        .name(d.trail_name())
        .send()
        .await
        .unwrap();
    aws_sdk_config::Client::new(sdk)
        .stop_configuration_recorder()
        .configuration_recorder_name("default")
        .send()
        .await
        .unwrap();
    let events = aws_sdk_eventbridge::Client::new(sdk);
    events
        .disable_rule()
        .name(d.rule_name("CloudTrailWriteRule"))
        .send()
        .await
        .unwrap();
    events
        .remove_targets()
        .rule(d.rule_name("NotifyRule"))
        .event_bus_name(format!("{}-bus", d.prefix))
        .ids("sink")
        .send()
        .await
        .unwrap();
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let dlq = sqs
        .get_queue_url()
        .queue_name(format!("{}-detect-dlq", d.prefix))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    sqs.send_message()
        .queue_url(&dlq)
        .message_body("{\"id\": \"failed-event\"}")
        .send()
        .await
        .unwrap();
    aws_sdk_secretsmanager::Client::new(sdk)
        .put_secret_value()
        .secret_id(&d.secret_arn)
        .secret_string("not-a-url")
        .send()
        .await
        .unwrap();
    // The policy's own-role pattern names another role: driftguard's reverts would loop.
    aws_sdk_ssm::Client::new(sdk)
        .put_parameter()
        .name(&d.policy)
        .value(policy_yaml("someone-else"))
        .overwrite(true)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();

    let (ok, checks, text) = d.doctor().await;
    println!("{text}");
    assert!(!ok, "{text}");
    for (name, says) in [
        ("trail us-east-1", "not logging"),
        ("IAM (us-east-1)", "not logging"),
        ("AWS Config recorder", "not recording"),
        ("rule CloudTrailWriteRule", "DISABLED"),
        ("rule NotifyRule", "no target"),
        ("dead-letter queue DetectDeadLetterQueue", "1 message"),
        ("Slack secret", "not an https"),
        ("own role", "loops"),
    ] {
        let c = status(&checks, name);
        assert_eq!(c.status, Status::Fail, "{name}: {text}");
        assert!(c.detail.contains(says), "{name} says {says:?}: {text}");
        assert!(c.fix.is_some(), "{name} has a fix");
    }
    assert!(
        text.contains("    fix: aws events enable-rule --name"),
        "{text}"
    );
    assert_eq!(status(&checks, "policy").status, Status::Pass, "{text}");
}

async fn missing_pieces_fail_and_dry_run_warns(d: &Deployment) {
    let sdk = &d.sdk;
    aws_sdk_cloudtrail::Client::new(sdk)
        .delete_trail()
        .name(d.trail_name())
        .send()
        .await
        .unwrap();
    aws_sdk_config::Client::new(sdk)
        .delete_configuration_recorder()
        .configuration_recorder_name("default")
        .send()
        .await
        .unwrap();
    aws_sdk_ssm::Client::new(sdk)
        .put_parameter()
        .name(&d.policy)
        .value("version: 1\nrules: [{ name: x, verdict: explode }]\n")
        .overwrite(true)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    aws_sdk_secretsmanager::Client::new(sdk)
        .delete_secret()
        .secret_id(&d.secret_arn)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    aws_sdk_dynamodb::Client::new(sdk)
        .delete_table()
        .table_name(format!("{}-tickets", d.prefix))
        .send()
        .await
        .unwrap();
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let bus = format!("{}-bus", d.prefix);
    for logical in [
        "RemediateDecisionRule",
        "RemediateApprovalRule",
        "NotifyRule",
    ] {
        events
            .remove_targets()
            .rule(d.rule_name(logical))
            .event_bus_name(&bus)
            .ids("sink")
            .send()
            .await
            .unwrap();
        events
            .delete_rule()
            .name(d.rule_name(logical))
            .event_bus_name(&bus)
            .send()
            .await
            .unwrap();
    }
    events.delete_event_bus().name(&bus).send().await.unwrap();
    aws_sdk_cloudformation::Client::new(sdk)
        .update_stack()
        .stack_name(&d.stack)
        .use_previous_template(true)
        .capabilities(Capability::CapabilityNamedIam)
        .parameters(param("PolicyParameterName", &d.policy))
        .parameters(param("DryRun", "true"))
        .parameters(param("SlackSecretArn", &d.secret_arn))
        .parameters(param("DeployConfigRule", "true"))
        .parameters(param("EventBusName", &bus))
        .send()
        .await
        .expect("update stack");
    wait_for_update(&aws_sdk_cloudformation::Client::new(sdk), &d.stack).await;

    let (ok, checks, text) = d.doctor().await;
    println!("{text}");
    assert!(!ok, "{text}");
    for (name, expected, says) in [
        ("trail us-east-1", Status::Fail, "no trail applies"),
        (
            "AWS Config recorder",
            Status::Fail,
            "no configuration recorder",
        ),
        ("rule RemediateDecisionRule", Status::Fail, "does not exist"),
        ("policy", Status::Fail, "does not parse"),
        ("own role", Status::Fail, "without a valid policy"),
        ("Slack secret", Status::Fail, "does not exist"),
        ("ticket table", Status::Fail, "does not exist"),
        ("event bus", Status::Fail, "does not exist"),
        ("dry-run", Status::Warn, "DryRun=true"),
    ] {
        let c = status(&checks, name);
        assert_eq!(c.status, expected, "{name}: {text}");
        assert!(c.detail.contains(says), "{name} says {says:?}: {text}");
    }
    let json = {
        let probe = AwsDeploymentProbe::new(sdk);
        let mut out = Vec::new();
        doctor::run(&probe, &d.options(), true, &mut out)
            .await
            .unwrap();
        serde_json::from_slice::<Value>(&out).unwrap()
    };
    assert_eq!(json["ok"], false);
    assert!(json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["status"] == "fail"));
    regions_need_a_trail_each(d).await;
}

/// A single-region trail covers its own region only; selectors that keep
/// only ReadOnly management events deliver no write calls.
async fn regions_need_a_trail_each(d: &Deployment) {
    let ct = aws_sdk_cloudtrail::Client::new(&d.sdk);
    let bucket = format!("{}-single", d.prefix);
    integration_tests_s3(&d.sdk)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let name = format!("{}-single-region", d.prefix);
    ct.create_trail()
        .name(&name)
        .s3_bucket_name(&bucket)
        .is_multi_region_trail(false)
        .include_global_service_events(true)
        .send()
        .await
        .unwrap();
    ct.start_logging().name(&name).send().await.unwrap();
    let probe = AwsDeploymentProbe::new(&d.sdk);
    let options = Options {
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        ..d.options()
    };
    let checks = doctor::checks::run_checks(&doctor::gather(&probe, &options).await);
    assert_eq!(
        status(&checks, "trail us-east-1").status,
        Status::Pass,
        "{checks:#?}"
    );
    assert_eq!(
        status(&checks, "IAM (us-east-1)").status,
        Status::Pass,
        "{checks:#?}"
    );
    let eu = status(&checks, "trail eu-west-1");
    assert_eq!(eu.status, Status::Fail, "{checks:#?}");
    assert!(eu.detail.contains("no trail applies"), "{eu:?}");

    ct.put_event_selectors()
        .trail_name(&name)
        .event_selectors(
            aws_sdk_cloudtrail::types::EventSelector::builder()
                .include_management_events(true)
                .read_write_type(aws_sdk_cloudtrail::types::ReadWriteType::ReadOnly)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let checks = doctor::checks::run_checks(&doctor::gather(&probe, &options).await);
    let us = status(&checks, "trail us-east-1");
    assert_eq!(us.status, Status::Fail, "{checks:#?}");
    assert!(us.detail.contains("ReadOnly"), "{us:?}");
}
