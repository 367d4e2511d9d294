//! The hot-fix registry against the moto emulator: a stack created through
//! CloudFormation, eight console hot-fixes of eight handler families made
//! through the resources' own APIs, each planned by `driftguard_core::remediate::planner::plan`
//! (which looks the handler up in `handlers::REGISTRY`), executed by the AWS
//! executor (`adapters::aws::remediation`) and read back through the
//! resource's own API; then each resource is checked directly.
//!
//! moto 5.2.5 has no drift detection, so the REVERT_DRIFT change set is skipped
//! and every plan is an inverse call; it skips `PublicAccessBlockConfiguration`
//! at stack creation, so the test puts the template's block first, as
//! CloudFormation would have. `bucket_versioning` is unit-tested only: moto
//! 5.2.5 answers `GetBucketVersioning` with a `<GetBucketVersioningResponse>`
//! root where S3 answers `<VersioningConfiguration>` ("Response Syntax",
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketVersioning.html>),
//! which the Rust SDK rejects, so its read-back cannot run here.
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use driftguard_adapters::remediation::{AwsClients, AwsExecutor};
use driftguard_adapters::templates::CfnTemplateSource;
use driftguard_core::ports::remediate::{PlanExecutor, TemplateSource};
use driftguard_core::remediate::executor::WaitPolicy;
use driftguard_core::remediate::planner::{plan, PlanInput};
use driftguard_core::remediate::template::{Pseudo, TemplateView};
use driftguard_core::resilience::RetryPolicy;
use driftguard_model::domain::{
    policy::Policy, Action, Change, ChangeSource, Identity, ResourceRef, StackMembership, Strategy,
};
use integration_tests::stacks::deploy;
use integration_tests::stacks::hotfix_template;
use integration_tests::{moto, unique};
use serde_json::{json, Value};

const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

/// The scenario's stack plus a topic and a queue.
fn template(prefix: &str) -> String {
    hotfix_template(
        prefix,
        json!({
            "Alerts": {"Type": "AWS::SNS::Topic", "Properties": {
                "TopicName": format!("{prefix}-alerts"), "DisplayName": "Paging"
            }},
            "Orders": {"Type": "AWS::SQS::Queue", "Properties": {
                "QueueName": format!("{prefix}-orders"), "VisibilityTimeout": 45
            }}
        }),
    )
}

/// A console hot-fix as the CloudTrail source hands it to the planner.
fn change(
    service: &str,
    operation: &str,
    resource: ResourceRef,
    request: Value,
    response: Value,
) -> Change {
    Change {
        event_id: unique("ev"),
        time: chrono::Utc::now(),
        account: "123456789012".into(),
        region: "us-east-1".into(),
        source: ChangeSource::Cloudtrail,
        service: service.into(),
        operation: operation.into(),
        resource,
        identity: Identity::default(),
        request,
        response,
        stack_hint: None,
        drift_hint: None,
        unparsed: Vec::new(),
    }
}

struct Stack {
    name: String,
    id: String,
    physical: HashMap<String, String>,
    template: TemplateView,
}

impl Stack {
    fn membership(&self, logical: &str, resource_type: &str) -> StackMembership {
        StackMembership {
            stack_id: self.id.clone(),
            stack_name: self.name.clone(),
            logical_id: logical.into(),
            resource_type: Some(resource_type.into()),
            stack_status: "CREATE_COMPLETE".into(),
            stack_tags: BTreeMap::new(),
            nested: None,
        }
    }
}

/// Plan through the registry, execute, read back: the plan's call names.
async fn revert(executor: &AwsExecutor, stack: &Stack, logical: &str, c: &Change) -> Vec<String> {
    let resource_type = c.resource.resource_type.clone().unwrap();
    let membership = stack.membership(logical, &resource_type);
    let policy = Policy::default();
    let api = c.api();
    let planned = plan(&PlanInput {
        ticket_id: "DG-0123456789ab",
        action: Action::Revert,
        change: Some(c),
        drift: None,
        event_drift: None,
        resource: &c.resource,
        membership: &membership,
        stack_status: "CREATE_COMPLETE",
        template: Ok(&stack.template),
        stack_resources: &[],
        known_good: &[],
        policy: &policy,
        now: chrono::Utc::now(),
    })
    .unwrap_or_else(|e| panic!("{api}: no plan: {}", e.reason));
    assert_eq!(
        planned.plan.strategy,
        Strategy::InverseCall,
        "{api}: {:?}",
        planned.plan
    );
    let done = executor
        .execute(&planned.plan)
        .await
        .unwrap_or_else(|e| panic!("{api}: {e}"));
    let rb = executor.read_back(&planned.plan).await.unwrap().unwrap();
    assert!(
        rb.converged,
        "{api}: {} (notes {:?})",
        rb.detail, done.notes
    );
    planned
        .plan
        .calls
        .iter()
        .map(|c| format!("{}:{}", c.service, c.operation))
        .collect()
}

async fn create_stack(sdk: &aws_config::SdkConfig, prefix: &str) -> Stack {
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    let name = format!("{prefix}-app");
    let physical = deploy(&cfn, &name, &template(prefix)).await;
    let source = CfnTemplateSource {
        client: cfn,
        retry: RetryPolicy::quick(),
    };
    let mut t = source.stack_template(&name).await.expect("GetTemplate");
    if t.stack_id.is_empty() {
        // A template without parameters is not described (StackTemplate::stack_id).
        t.stack_id = source
            .client
            .describe_stacks()
            .stack_name(&name)
            .send()
            .await
            .expect("DescribeStacks")
            .stacks()[0]
            .stack_id()
            .expect("stack id")
            .to_string();
    }
    let pseudo = Pseudo {
        stack_name: name.clone(),
        stack_id: t.stack_id.clone(),
        account: "123456789012".into(),
        region: "us-east-1".into(),
    };
    let template = TemplateView::parse(&t.body, t.parameters, &pseudo).expect("template");
    Stack {
        name,
        id: t.stack_id,
        physical,
        template,
    }
}

struct Clients {
    ec2: aws_sdk_ec2::Client,
    s3: aws_sdk_s3::Client,
    iam: aws_sdk_iam::Client,
    ssm: aws_sdk_ssm::Client,
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
}

fn block(on: bool) -> aws_sdk_s3::types::PublicAccessBlockConfiguration {
    aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
        .block_public_acls(on)
        .ignore_public_acls(on)
        .block_public_policy(on)
        .restrict_public_buckets(on)
        .build()
}

/// What CloudFormation would have put on the bucket (moto skips it).
async fn as_cloudformation_would(c: &Clients, bucket: &str) {
    c.s3.put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(block(true))
        .send()
        .await
        .unwrap();
}

async fn open_ssh(c: &Clients, group: &str) -> Change {
    let ssh = aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .ip_ranges(
            aws_sdk_ec2::types::IpRange::builder()
                .cidr_ip("0.0.0.0/0")
                .build(),
        )
        .build();
    let out = c
        .ec2
        .authorize_security_group_ingress()
        .group_id(group)
        .ip_permissions(ssh)
        .send()
        .await
        .expect("open ssh");
    let ids: Vec<Value> = out
        .security_group_rules()
        .iter()
        .filter_map(|r| r.security_group_rule_id())
        .map(|id| json!({"securityGroupRuleId": id, "groupId": group, "isEgress": false}))
        .collect();
    // The shape of events/recorded/ec2-authorize-security-group-ingress.json.
    let request = json!({"groupId": group, "ipPermissions": {"items": [{"ipProtocol": "tcp",
        "fromPort": 22, "toPort": 22, "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]},
        "ipv6Ranges": {}, "prefixListIds": {}}]}});
    let response = json!({"_return": true, "securityGroupRuleSet": {"items": ids}});
    change(
        "ec2",
        "AuthorizeSecurityGroupIngress",
        ResourceRef::new("AWS::EC2::SecurityGroup", group),
        request,
        response,
    )
}

/// The two bucket hot-fixes: block deleted, a public policy.
async fn bucket_hotfixes(c: &Clients, bucket: &str) -> Vec<Change> {
    c.s3.delete_public_access_block()
        .bucket(bucket)
        .send()
        .await
        .expect("delete block");
    let public = json!({"Version": "2012-10-17", "Statement": [{"Sid": "Public", "Effect": "Allow",
        "Principal": "*", "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}]});
    c.s3.put_bucket_policy()
        .bucket(bucket)
        .policy(public.to_string())
        .send()
        .await
        .expect("public policy");
    let r = || ResourceRef::new("AWS::S3::Bucket", bucket);
    vec![
        change(
            "s3",
            "DeleteBucketPublicAccessBlock",
            r(),
            json!({"bucketName": bucket, "publicAccessBlock": ""}),
            Value::Null,
        ),
        change(
            "s3",
            "PutBucketPolicy",
            r(),
            json!({"bucketName": bucket, "bucketPolicy": public, "policy": [""]}),
            Value::Null,
        ),
    ]
}

async fn role_hotfixes(c: &Clients, role: &str) -> Vec<Change> {
    c.iam
        .attach_role_policy()
        .role_name(role)
        .policy_arn(ADMIN)
        .send()
        .await
        .expect("attach admin");
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    c.iam
        .put_role_policy()
        .role_name(role)
        .policy_name("hotfix")
        .policy_document(doc)
        .send()
        .await
        .expect("inline hotfix");
    let r = || ResourceRef::new("AWS::IAM::Role", role);
    vec![
        change(
            "iam",
            "AttachRolePolicy",
            r(),
            json!({"roleName": role, "policyArn": ADMIN}),
            Value::Null,
        ),
        change(
            "iam",
            "PutRolePolicy",
            r(),
            json!({"roleName": role, "policyName": "hotfix", "policyDocument": doc}),
            Value::Null,
        ),
    ]
}

async fn other_hotfixes(
    c: &Clients,
    param: &str,
    topic: &str,
    queue: &str,
) -> Vec<(String, Change)> {
    c.ssm
        .put_parameter()
        .name(param)
        .value("debug")
        .overwrite(true)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .expect("change parameter");
    c.sns
        .set_topic_attributes()
        .topic_arn(topic)
        .attribute_name("DisplayName")
        .attribute_value("hacked")
        .send()
        .await
        .expect("rename topic");
    c.sqs
        .set_queue_attributes()
        .queue_url(queue)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "0",
        )
        .send()
        .await
        .expect("queue timeout");
    vec![
        (
            "LevelParam".into(),
            change(
                "ssm",
                "PutParameter",
                ResourceRef::new("AWS::SSM::Parameter", param),
                json!({"name": param, "type": "String", "overwrite": true}),
                json!({"version": 2, "tier": "Standard"}),
            ),
        ),
        (
            "Alerts".into(),
            change(
                "sns",
                "SetTopicAttributes",
                ResourceRef::new("AWS::SNS::Topic", topic),
                json!({"topicArn": topic, "attributeName": "DisplayName", "attributeValue": "hacked"}),
                Value::Null,
            ),
        ),
        (
            "Orders".into(),
            change(
                "sqs",
                "SetQueueAttributes",
                ResourceRef::new("AWS::SQS::Queue", queue),
                json!({"queueUrl": queue, "attributes": {"VisibilityTimeout": "0"}}),
                Value::Null,
            ),
        ),
    ]
}

/// Setup and checks wait for a loaded emulator (its first IAM call loads every
/// managed policy); the executor keeps driftguard's own timeouts.
fn patient(sdk: &aws_config::SdkConfig) -> aws_config::SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .operation_attempt_timeout(Duration::from_secs(90))
        .operation_timeout(Duration::from_secs(180))
        .build();
    sdk.to_builder().timeout_config(timeouts).build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_hotfix_families_are_reverted_through_the_registry() {
    let moto = moto();
    let base = moto.sdk_config_with_sdk_retries().await;
    let sdk = patient(&driftguard_adapters::with_resilience(&base, 1));
    let prefix = unique("handlers");
    let stack = create_stack(&sdk, &prefix).await;
    let id = |logical: &str| stack.physical[logical].clone();
    let c = Clients {
        ec2: aws_sdk_ec2::Client::new(&sdk),
        s3: aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&sdk)
                .force_path_style(true)
                .build(),
        ),
        iam: aws_sdk_iam::Client::new(&sdk),
        ssm: aws_sdk_ssm::Client::new(&sdk),
        sns: aws_sdk_sns::Client::new(&sdk),
        sqs: aws_sdk_sqs::Client::new(&sdk),
    };
    let executor = AwsExecutor::new(AwsClients::new(&base))
        .with_policies(RetryPolicy::quick(), WaitPolicy::quick());
    let bucket = id("Bucket");
    as_cloudformation_would(&c, &bucket).await;

    let mut hotfixes: Vec<(String, Change)> =
        vec![("WebSG".into(), open_ssh(&c, &id("WebSG")).await)];
    hotfixes.extend(
        bucket_hotfixes(&c, &bucket)
            .await
            .into_iter()
            .map(|h| ("Bucket".into(), h)),
    );
    hotfixes.extend(
        role_hotfixes(&c, &id("AppRole"))
            .await
            .into_iter()
            .map(|h| ("AppRole".into(), h)),
    );
    hotfixes.extend(other_hotfixes(&c, &id("LevelParam"), &id("Alerts"), &id("Orders")).await);
    let mut calls = Vec::new();
    for (logical, hotfix) in &hotfixes {
        calls.extend(revert(&executor, &stack, logical, hotfix).await);
    }
    assert_eq!(
        calls,
        [
            "ec2:RevokeSecurityGroupIngress",
            "s3:PutPublicAccessBlock",
            "s3:DeleteBucketPolicy",
            "iam:DetachRolePolicy",
            "iam:DeleteRolePolicy",
            "ssm:PutParameter",
            "sns:SetTopicAttributes",
            "sqs:SetQueueAttributes",
        ]
    );
    let families: std::collections::BTreeSet<&str> = hotfixes
        .iter()
        .filter_map(|(_, h)| {
            driftguard_core::remediate::handlers::for_operation(&h.service, &h.operation)
        })
        .map(|h| h.family)
        .collect();
    assert_eq!(families.len(), 8, "{families:?}");
    check_resources(&c, &stack).await;
}

/// The resources, read through their own APIs (not the executor's read-back).
async fn check_resources(c: &Clients, stack: &Stack) {
    let id = |logical: &str| stack.physical[logical].clone();
    let rules = c
        .ec2
        .describe_security_group_rules()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("group-id")
                .values(id("WebSG"))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ingress: Vec<Option<i32>> = rules
        .security_group_rules()
        .iter()
        .filter(|r| r.is_egress() == Some(false))
        .map(|r| r.from_port())
        .collect();
    assert_eq!(
        ingress,
        [Some(443)],
        "ssh revoked, the template's rule kept"
    );
    let bucket = id("Bucket");
    let pab =
        c.s3.get_public_access_block()
            .bucket(&bucket)
            .send()
            .await
            .unwrap();
    assert_eq!(pab.public_access_block_configuration(), Some(&block(true)));
    assert!(
        c.s3.get_bucket_policy()
            .bucket(&bucket)
            .send()
            .await
            .is_err(),
        "policy deleted"
    );
    let role = id("AppRole");
    let attached = c
        .iam
        .list_attached_role_policies()
        .role_name(&role)
        .send()
        .await
        .unwrap();
    assert!(attached.attached_policies().is_empty(), "{attached:?}");
    let inline = c
        .iam
        .list_role_policies()
        .role_name(&role)
        .send()
        .await
        .unwrap();
    assert!(inline.policy_names().is_empty(), "{inline:?}");
    let value = c
        .ssm
        .get_parameter()
        .name(id("LevelParam"))
        .send()
        .await
        .unwrap();
    assert_eq!(value.parameter().and_then(|p| p.value()), Some("info"));
    let topic = c
        .sns
        .get_topic_attributes()
        .topic_arn(id("Alerts"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        topic
            .attributes()
            .and_then(|a| a.get("DisplayName"))
            .map(String::as_str),
        Some("Paging")
    );
    let queue = c
        .sqs
        .get_queue_attributes()
        .queue_url(id("Orders"))
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout)
        .send()
        .await
        .unwrap();
    let timeout = queue
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout))
        .map(String::as_str);
    assert_eq!(timeout, Some("45"));
}
