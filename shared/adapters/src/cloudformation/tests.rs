//! Tests for the CloudFormation catalog and drift detector, over mocked SDK clients.
#![allow(clippy::unwrap_used)]
use std::sync::Arc;
use std::time::Duration;

use driftguard_core::ports::{DriftDetector, StackCatalog};
use driftguard_model::domain::{
    DifferenceKind, DriftOrigin, DriftStatus, NestedStack, Ownership, ResourceRef,
};
use driftguard_model::error::PortError;

use super::reverse::stack_name_of;
use super::*;
use aws_sdk_cloudformation::operation::describe_stack_resources::{
    DescribeStackResourcesError, DescribeStackResourcesOutput,
};
use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
use aws_sdk_cloudformation::operation::detect_stack_resource_drift::{
    DetectStackResourceDriftError, DetectStackResourceDriftOutput,
};
use aws_sdk_cloudformation::operation::list_stack_resources::{
    ListStackResourcesError, ListStackResourcesOutput,
};
use aws_sdk_cloudformation::operation::list_stacks::ListStacksOutput;
use aws_sdk_cloudformation::types::builders::{StackBuilder, StackResourceDriftBuilder};
use aws_sdk_cloudformation::types::{
    DifferenceType, PropertyDifference as SdkDifference, Stack, StackResource, StackResourceDrift,
    StackResourceDriftStatus, StackResourceSummary as SdkResourceSummary, StackStatus,
    StackSummary as SdkStackSummary, Tag,
};
use aws_sdk_cloudformation::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_types::error::ErrorMetadata;

const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1";

fn describe_stacks_rule(status: StackStatus) -> aws_smithy_mocks::Rule {
    mock!(Client::describe_stacks).then_output(move || {
        DescribeStacksOutput::builder()
            .stacks(
                Stack::builder()
                    .stack_id(STACK_ID)
                    .stack_name("app")
                    .stack_status(status.clone())
                    .tags(Tag::builder().key("team").value("payments").build())
                    .build(),
            )
            .build()
    })
}

/// DescribeStackResources' answer: `stack`'s resource `logical` (`physical`, of
/// `resource_type`).
fn owner_output(
    (stack_id, stack_name): (&str, &str),
    logical: &str,
    physical: &str,
    resource_type: &str,
) -> DescribeStackResourcesOutput {
    DescribeStackResourcesOutput::builder()
        .stack_resources(
            StackResource::builder()
                .stack_id(stack_id)
                .stack_name(stack_name)
                .logical_resource_id(logical)
                .physical_resource_id(physical)
                .resource_type(resource_type)
                .build(),
        )
        .build()
}

/// The stack `name` (`id`), UPDATE_COMPLETE: add to it, then build it.
fn complete_stack(id: &str, name: &str) -> StackBuilder {
    Stack::builder()
        .stack_id(id)
        .stack_name(name)
        .stack_status(StackStatus::UpdateComplete)
}

/// DescribeStacks' answer: the one stack.
fn stacks_output(stack: StackBuilder) -> DescribeStacksOutput {
    DescribeStacksOutput::builder()
        .stacks(stack.build())
        .build()
}

/// Who owns the resource `physical` of `resource_type`, asked of a catalog
/// over `client`.
async fn owner_of(client: Client, resource_type: &str, physical: &str) -> Ownership {
    CfnStackCatalog::new(client)
        .owner_of(&ResourceRef::new(resource_type, physical))
        .await
        .unwrap()
}

/// DetectStackResourceDrift's drift of the resource (`stack_id`, `logical`,
/// `resource_type`) in `status`: add to it, then answer it.
fn resource_drift(
    (stack_id, logical, resource_type): (&str, &str, &str),
    status: StackResourceDriftStatus,
) -> StackResourceDriftBuilder {
    StackResourceDrift::builder()
        .stack_id(stack_id)
        .logical_resource_id(logical)
        .resource_type(resource_type)
        .stack_resource_drift_status(status)
}

/// DetectStackResourceDrift's answer.
fn drift_output(drift: StackResourceDriftBuilder) -> DetectStackResourceDriftOutput {
    DetectStackResourceDriftOutput::builder()
        .stack_resource_drift(drift.build())
        .build()
}

/// `app`'s resource `logical` checked for drift by a detector whose client
/// `rule` answers.
async fn detect_drift(
    rule: &aws_smithy_mocks::Rule,
    logical: &str,
) -> driftguard_model::error::PortResult<driftguard_model::domain::Drift> {
    let client = mock_client!(aws_sdk_cloudformation, [rule]);
    CfnDriftDetector::new(client)
        .detect_resource_drift("app", logical)
        .await
}

fn validation_error(message: &str) -> DescribeStackResourcesError {
    DescribeStackResourcesError::generic(
        ErrorMetadata::builder()
            .code("ValidationError")
            .message(message)
            .build(),
    )
}

#[tokio::test]
async fn reverse_lookup_finds_the_owner_and_caches_it() {
    // DescribeStackResources by PhysicalResourceId answers with the owning stack's
    // resources: "You must specify either StackName or PhysicalResourceId, but not
    // both" and "Only the first 100 resources will be returned. If your stack has
    // more resources than this, you should use ListStackResources instead."
    // (aws-sdk-cloudformation 1.136, DescribeStackResources;
    // https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResources.html)
    let lookup = mock!(Client::describe_stack_resources)
        .match_requests(|r| r.physical_resource_id() == Some("sg-0abc"))
        .then_output(|| {
            owner_output(
                (STACK_ID, "app"),
                "WebSG",
                "sg-0abc",
                "AWS::EC2::SecurityGroup",
            )
        });
    let stacks = describe_stacks_rule(StackStatus::UpdateComplete);
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&lookup, &stacks]
    );
    let catalog = CfnStackCatalog::new(client);
    let resource = ResourceRef::new("AWS::EC2::SecurityGroup", "sg-0abc");
    for _ in 0..2 {
        let Ownership::Managed(m) = catalog.owner_of(&resource).await.unwrap() else {
            panic!("expected managed");
        };
        assert_eq!(m.stack_name, "app");
        assert_eq!(m.logical_id, "WebSG");
        assert_eq!(m.stack_status, "UPDATE_COMPLETE");
        assert_eq!(
            m.stack_tags.get("team").map(String::as_str),
            Some("payments")
        );
    }
    assert_eq!(lookup.num_calls(), 1, "second lookup served from the cache");
    assert_eq!(
        stacks.num_calls(),
        2,
        "stack status is read fresh every time"
    );
}

const BIG_STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/big/2";

fn big_stack_resource(i: usize) -> StackResource {
    StackResource::builder()
        .stack_id(BIG_STACK_ID)
        .stack_name("big")
        .logical_resource_id(format!("Queue{i}"))
        .physical_resource_id(format!("big-queue-{i}"))
        .resource_type("AWS::SQS::Queue")
        .build()
}

fn big_summary(i: usize) -> SdkResourceSummary {
    SdkResourceSummary::builder()
        .logical_resource_id(format!("Queue{i}"))
        .physical_resource_id(format!("big-queue-{i}"))
        .resource_type("AWS::SQS::Queue")
        .build()
}

#[tokio::test]
async fn resource_130_of_a_150_resource_stack_is_found_by_paging_list_stack_resources() {
    // "If PhysicalResourceId is specified, the associated resources of the stack
    // that the resource belongs to are returned." / "Only the first 100 resources
    // will be returned. If your stack has more resources than this, you should use
    // ListStackResources instead." (aws-sdk-cloudformation 1.136
    // DescribeStackResources; https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResources.html)
    // So the lookup of #130 answers resources #1..#100 of its stack, not #130.
    let lookup = mock!(Client::describe_stack_resources)
        .match_requests(|r| r.physical_resource_id() == Some("big-queue-130"))
        .then_output(|| {
            DescribeStackResourcesOutput::builder()
                .set_stack_resources(Some((1..=100).map(big_stack_resource).collect()))
                .build()
        });
    // ListStackResources: "Returns descriptions of all resources of the specified
    // stack", NextToken: "If the output exceeds 1 MB, a string that identifies the
    // next page of stack resources. If no additional page exists, this value is
    // null." (same SDK; https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListStackResources.html)
    let page1 = mock!(Client::list_stack_resources)
        .match_requests(|r| r.stack_name() == Some(BIG_STACK_ID) && r.next_token().is_none())
        .then_output(|| {
            ListStackResourcesOutput::builder()
                .set_stack_resource_summaries(Some((1..=100).map(big_summary).collect()))
                .next_token("page-2")
                .build()
        });
    let page2 = mock!(Client::list_stack_resources)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(|| {
            ListStackResourcesOutput::builder()
                .set_stack_resource_summaries(Some((101..=150).map(big_summary).collect()))
                .build()
        });
    let stacks = mock!(Client::describe_stacks)
        .match_requests(|r| r.stack_name() == Some(BIG_STACK_ID))
        .then_output(|| stacks_output(complete_stack(BIG_STACK_ID, "big")));
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&lookup, &page1, &page2, &stacks]
    );
    let o = owner_of(client, "AWS::SQS::Queue", "big-queue-130").await;
    let m = o.membership().expect("managed, not unmanaged");
    assert_eq!(
        (m.stack_name.as_str(), m.logical_id.as_str()),
        ("big", "Queue130")
    );
    assert_eq!(m.nested, None);
    assert_eq!((page1.num_calls(), page2.num_calls()), (1, 1));
}

#[tokio::test]
async fn owner_named_but_resource_not_listed_is_unknown_not_unmanaged() {
    let lookup = mock!(Client::describe_stack_resources).then_output(|| {
        DescribeStackResourcesOutput::builder()
            .set_stack_resources(Some((1..=100).map(big_stack_resource).collect()))
            .build()
    });
    let list = mock!(Client::list_stack_resources).then_output(|| {
        ListStackResourcesOutput::builder()
            .set_stack_resource_summaries(Some((1..=100).map(big_summary).collect()))
            .build()
    });
    let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&lookup, &list]);
    let catalog = CfnStackCatalog::new(client);
    let resource = ResourceRef::new("AWS::SQS::Queue", "big-queue-999");
    let o = catalog.owner_of(&resource).await.unwrap();
    assert!(matches!(o, Ownership::Unknown { .. }), "{o:?}");
    catalog.owner_of(&resource).await.unwrap();
    assert_eq!(
        lookup.num_calls(),
        2,
        "an inconclusive answer is not cached"
    );
}

#[tokio::test]
async fn resource_of_a_nested_stack_resolves_to_the_nested_stack_and_says_so() {
    // The reverse lookup answers "the stack that the resource belongs to" (see
    // above): for a resource declared in a nested stack's template, that is the
    // nested stack. DescribeStacks of it carries ParentId ("For nested stacks, the
    // stack ID of the direct parent of this stack") and RootId ("the stack ID of
    // the top-level stack to which the nested stack ultimately belongs")
    // (aws-sdk-cloudformation 1.136 Stack; https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Stack.html).
    const NESTED: &str =
        "arn:aws:cloudformation:us-east-1:123456789012:stack/app-NetworkStack-1AB/3";
    const PARENT: &str = STACK_ID;
    let lookup = mock!(Client::describe_stack_resources).then_output(|| {
        owner_output(
            (NESTED, "app-NetworkStack-1AB"),
            "WebSG",
            "sg-0nested",
            "AWS::EC2::SecurityGroup",
        )
    });
    let stacks = mock!(Client::describe_stacks)
        .match_requests(|r| r.stack_name() == Some(NESTED))
        .then_output(|| {
            stacks_output(
                complete_stack(NESTED, "app-NetworkStack-1AB")
                    .parent_id(PARENT)
                    .root_id(PARENT),
            )
        });
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&lookup, &stacks]
    );
    let o = owner_of(client, "AWS::EC2::SecurityGroup", "sg-0nested").await;
    let m = o.membership().unwrap();
    assert_eq!(m.stack_id, NESTED, "the nested stack, never the parent");
    assert_eq!(m.logical_id, "WebSG");
    assert_eq!(
        m.nested,
        Some(NestedStack {
            parent_id: PARENT.to_string(),
            root_id: Some(PARENT.to_string()),
        })
    );
}

const EU_STACK: &str = "arn:aws:cloudformation:eu-west-1:123456789012:stack/iam-eu/9";

/// A region's CloudFormation: owns `owned` (stack iam-eu) or owns nothing; any
/// other physical id (the role's ARN) is "Stack for <id> does not exist".
fn region_client(owned: Option<&'static str>) -> (Client, aws_smithy_mocks::Rule) {
    let other = mock!(Client::describe_stack_resources)
        .match_requests(|r| {
            r.physical_resource_id()
                .is_some_and(|p| p.starts_with("arn:"))
        })
        .then_error(|| {
            validation_error(
                "Stack for arn:aws:iam::123456789012:role/eu-app-AppRole-1 does not exist",
            )
        });
    let lookup = match owned {
        Some(role) => mock!(Client::describe_stack_resources)
            .match_requests(move |r| r.physical_resource_id() == Some(role))
            .then_output(move || {
                owner_output((EU_STACK, "iam-eu"), "AppRole", role, "AWS::IAM::Role")
            }),
        None => mock!(Client::describe_stack_resources)
            .then_error(|| validation_error("Stack for eu-app-AppRole-1 does not exist")),
    };
    let stacks = mock!(Client::describe_stacks)
        .then_output(|| stacks_output(complete_stack(EU_STACK, "iam-eu")));
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&other, &lookup, &stacks]
    );
    (client, lookup)
}

fn iam_with_tags(tags: Vec<(&'static str, &'static str)>) -> aws_sdk_iam::Client {
    use aws_sdk_iam::operation::list_role_tags::ListRoleTagsOutput;
    let rule = mock!(aws_sdk_iam::Client::list_role_tags).then_output(move || {
        ListRoleTagsOutput::builder()
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| {
                        aws_sdk_iam::types::Tag::builder()
                            .key(*k)
                            .value(*v)
                            .build()
                            .unwrap()
                    })
                    .collect(),
            ))
            .build()
            .unwrap()
    });
    mock_client!(aws_sdk_iam, [&rule])
}

#[tokio::test]
async fn an_iam_role_in_a_stack_in_another_region_is_found_from_us_east_1() {
    // The event arrives in us-east-1 (see MultiRegionCatalog); the role's stack is
    // in eu-west-1. With the stack-id tag: straight there, us-east-1 not asked.
    let role = ResourceRef::new(
        "AWS::IAM::Role",
        "arn:aws:iam::123456789012:role/eu-app-AppRole-1",
    );
    for tagged in [true, false] {
        let (home, home_lookup) = region_client(None);
        let (eu, eu_lookup) = region_client(Some("eu-app-AppRole-1"));
        let tags = if tagged {
            vec![(STACK_ID_TAG, EU_STACK)]
        } else {
            vec![]
        };
        let catalog = Arc::new(MultiRegionCatalog::new(
            vec![
                ("us-east-1".into(), CfnStackCatalog::new(home)),
                ("eu-west-1".into(), CfnStackCatalog::new(eu.clone())),
            ],
            Some(iam_with_tags(tags)),
        ));
        let o = catalog.owner_of(&role).await.unwrap();
        let m = o.membership().expect("managed by the eu-west-1 stack");
        assert_eq!(
            (m.stack_id.as_str(), m.logical_id.as_str()),
            (EU_STACK, "AppRole")
        );
        assert_eq!(
            home_lookup.num_calls() == 0,
            tagged,
            "tagged: home not asked"
        );
        assert!(eu_lookup.num_calls() >= 1);
        assert_eq!(
            catalog.region_of_stack("iam-eu").as_deref(),
            Some("eu-west-1")
        );
    }
    // A regional resource is looked up at home only.
    let sg_missing = || {
        mock!(Client::describe_stack_resources)
            .then_error(|| validation_error("Stack for sg-0zzz does not exist"))
    };
    let (home_lookup, eu_lookup) = (sg_missing(), sg_missing());
    let home = mock_client!(aws_sdk_cloudformation, [&home_lookup]);
    let eu = mock_client!(aws_sdk_cloudformation, [&eu_lookup]);
    let catalog = MultiRegionCatalog::new(
        vec![
            ("us-east-1".into(), CfnStackCatalog::new(home)),
            ("eu-west-1".into(), CfnStackCatalog::new(eu)),
        ],
        None,
    );
    let sg = ResourceRef::new("AWS::EC2::SecurityGroup", "sg-0zzz");
    assert_eq!(catalog.owner_of(&sg).await.unwrap(), Ownership::Unmanaged);
    assert_eq!((home_lookup.num_calls(), eu_lookup.num_calls()), (1, 0));
}

#[tokio::test]
async fn drift_is_detected_in_the_region_the_stack_was_found_in() {
    let (home, _) = region_client(None);
    let (eu, _) = region_client(Some("eu-app-AppRole-1"));
    let catalog = Arc::new(MultiRegionCatalog::new(
        vec![
            ("us-east-1".into(), CfnStackCatalog::new(home)),
            ("eu-west-1".into(), CfnStackCatalog::new(eu)),
        ],
        None,
    ));
    catalog
        .owner_of(&ResourceRef::new("AWS::IAM::Role", "eu-app-AppRole-1"))
        .await
        .unwrap();
    let eu_drift = mock!(Client::detect_stack_resource_drift).then_output(|| {
        drift_output(
            resource_drift(
                (EU_STACK, "AppRole", "AWS::IAM::Role"),
                StackResourceDriftStatus::InSync,
            )
            .timestamp(aws_smithy_types::DateTime::from_secs(0)),
        )
    });
    let home_drift = mock!(Client::detect_stack_resource_drift)
        .then_output(|| DetectStackResourceDriftOutput::builder().build());
    let detector = MultiRegionDriftDetector::new(
        catalog,
        vec![
            (
                "us-east-1".into(),
                CfnDriftDetector::new(mock_client!(aws_sdk_cloudformation, [&home_drift])),
            ),
            (
                "eu-west-1".into(),
                CfnDriftDetector::new(mock_client!(aws_sdk_cloudformation, [&eu_drift])),
            ),
        ],
    );
    let d = detector
        .detect_resource_drift("iam-eu", "AppRole")
        .await
        .unwrap();
    assert_eq!(d.status, DriftStatus::InSync);
    assert_eq!((eu_drift.num_calls(), home_drift.num_calls()), (1, 0));
}

#[test]
fn stack_name_is_read_from_the_stack_arn() {
    assert_eq!(stack_name_of(BIG_STACK_ID), "big");
    assert_eq!(stack_name_of("plain-name"), "plain-name");
}

#[tokio::test]
async fn stack_for_physical_id_does_not_exist_means_unmanaged() {
    // The API reference documents no error for a physical id no stack owns.
    // CloudFormation answers unknown stacks with a 400 ValidationError (recorded
    // response in boto/boto3#2807: "<Code>ValidationError</Code> <Message>Stack
    // with id foo does not exist</Message>"); the exact text for a physical id
    // ("Stack for <id> does not exist") has no recorded response yet: a gap.
    let lookup = mock!(Client::describe_stack_resources)
        .then_error(|| validation_error("Stack for sg-0zzz does not exist"));
    let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, [&lookup]);
    let o = owner_of(client, "AWS::EC2::SecurityGroup", "sg-0zzz").await;
    assert_eq!(o, Ownership::Unmanaged);
}

/// One stack as ListStacks lists it.
fn listed(id: &str, name: &str, status: StackStatus) -> SdkStackSummary {
    SdkStackSummary::builder()
        .stack_id(id)
        .stack_name(name)
        .stack_status(status)
        .build()
}

fn index_rules() -> (aws_smithy_mocks::Rule, aws_smithy_mocks::Rule) {
    let list = mock!(Client::list_stacks).then_output(|| {
        ListStacksOutput::builder()
            .stack_summaries(listed(STACK_ID, "app", StackStatus::CreateComplete))
            .stack_summaries(listed(
                "arn:aws:cloudformation:us-east-1:123456789012:stack/old/0",
                "old",
                StackStatus::DeleteComplete,
            ))
            .build()
    });
    let resources = mock!(Client::list_stack_resources)
        .match_requests(|r| r.stack_name() == Some(STACK_ID))
        .then_output(|| {
            ListStackResourcesOutput::builder()
                .stack_resource_summaries(
                    SdkResourceSummary::builder()
                        .logical_resource_id("AppRole")
                        .physical_resource_id("app-AppRole-XYZ")
                        .resource_type("AWS::IAM::Role")
                        .build(),
                )
                .stack_resource_summaries(
                    SdkResourceSummary::builder()
                        .logical_resource_id("Skipped")
                        .build(),
                )
                .build()
        });
    (list, resources)
}

#[tokio::test]
async fn throttled_reverse_lookup_falls_back_to_the_index_and_resolves_arns() {
    let lookup = mock!(Client::describe_stack_resources).then_error(|| {
        DescribeStackResourcesError::generic(
            ErrorMetadata::builder()
                .code("Throttling")
                .message("Rate exceeded")
                .build(),
        )
    });
    let (list, resources) = index_rules();
    let stacks = describe_stacks_rule(StackStatus::CreateComplete);
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&lookup, &list, &resources, &stacks]
    );
    let catalog = CfnStackCatalog::new(client);
    // CloudTrail names the role by ARN; CloudFormation by name.
    let role = ResourceRef::new(
        "AWS::IAM::Role",
        "arn:aws:iam::123456789012:role/app-AppRole-XYZ",
    );
    let Ownership::Managed(m) = catalog.owner_of(&role).await.unwrap() else {
        panic!("expected managed via the index");
    };
    assert_eq!(
        (m.stack_name.as_str(), m.logical_id.as_str()),
        ("app", "AppRole")
    );
    // Not in the index: proven unmanaged (the index lists every live stack).
    let other = ResourceRef::new("AWS::IAM::Role", "someone-elses-role");
    assert_eq!(
        catalog.owner_of(&other).await.unwrap(),
        Ownership::Unmanaged
    );
    assert_eq!(list.num_calls(), 1, "index built once and cached");
}

/// Three stacks; the listing of the second is throttled once.
fn interrupted_index_rules() -> (
    aws_smithy_mocks::Rule,
    aws_smithy_mocks::Rule,
    aws_smithy_mocks::Rule,
) {
    let list = mock!(Client::list_stacks).then_output(|| {
        let mut out = ListStacksOutput::builder();
        for n in 1..=3 {
            out = out.stack_summaries(listed(
                &format!("arn:aws:cloudformation:us-east-1:123456789012:stack/s{n}/0"),
                &format!("s{n}"),
                StackStatus::CreateComplete,
            ));
        }
        out.build()
    });
    let listing = |n: u32| {
        ListStackResourcesOutput::builder()
            .stack_resource_summaries(
                SdkResourceSummary::builder()
                    .logical_resource_id("Group")
                    .physical_resource_id(format!("sg-{n}"))
                    .resource_type("AWS::EC2::SecurityGroup")
                    .build(),
            )
            .build()
    };
    let second = mock!(Client::list_stack_resources)
        .match_requests(|r| r.stack_name().is_some_and(|s| s.contains("stack/s2/")))
        .sequence()
        .error(|| {
            ListStackResourcesError::generic(
                ErrorMetadata::builder()
                    .code("Throttling")
                    .message("Rate exceeded")
                    .build(),
            )
        })
        .output(move || listing(2))
        .build();
    let others = mock!(Client::list_stack_resources)
        .match_requests(|r| r.stack_name().is_some_and(|s| !s.contains("stack/s2/")))
        .then_output(move || listing(1));
    (list, second, others)
}

#[tokio::test]
async fn an_interrupted_index_build_resumes_with_the_calls_that_failed() {
    let (list, second, others) = interrupted_index_rules();
    // One attempt per call, as the Lambdas' SDK makes (`adapters::aws::attempts`).
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&list, &second, &others],
        |c| c.retry_config(aws_smithy_types::retry::RetryConfig::disabled())
    );
    let catalog = CfnStackCatalog::new(client);
    let first = catalog.ownership_index(Duration::from_secs(300)).await;
    assert!(
        matches!(first, Err(PortError::Throttled { .. })),
        "the throttled listing fails the attempt: {first:?}"
    );
    assert_eq!(others.num_calls(), 2, "the other stacks were listed anyway");
    let index = catalog
        .ownership_index(Duration::from_secs(300))
        .await
        .unwrap();
    assert_eq!(index.stacks().len(), 3);
    assert!(index.lookup(&["sg-2".to_string()], None).is_some());
    assert_eq!(list.num_calls(), 1, "the stack list is kept");
    assert_eq!(
        second.num_calls(),
        2,
        "only the failed listing is made again"
    );
    assert_eq!(
        others.num_calls(),
        2,
        "the listed stacks are not listed again"
    );
}

#[tokio::test]
async fn a_permanent_error_drops_the_interrupted_build() {
    let list = mock!(Client::list_stacks).then_output(|| {
        ListStacksOutput::builder()
            .stack_summaries(listed(STACK_ID, "app", StackStatus::CreateComplete))
            .build()
    });
    let denied = mock!(Client::list_stack_resources).then_error(|| {
        ListStackResourcesError::generic(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("not authorized")
                .build(),
        )
    });
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&list, &denied],
        |c| c.retry_config(aws_smithy_types::retry::RetryConfig::disabled())
    );
    let catalog = CfnStackCatalog::new(client);
    for _ in 0..2 {
        let e = catalog.ownership_index(Duration::from_secs(300)).await;
        assert!(matches!(e, Err(PortError::Failed { .. })), "{e:?}");
    }
    assert_eq!(
        list.num_calls(),
        2,
        "a permanent error restarts the build from the stack list"
    );
}

#[tokio::test]
async fn throttled_then_success_is_retried_by_the_sdk() {
    // The adapter under an SDK configured to retry (the Lambdas' SDK makes
    // one attempt: see `adapters::aws::attempts`; then a throttled reverse
    // lookup falls back to the index, as the test above shows).
    let lookup = mock!(Client::describe_stack_resources)
        .sequence()
        .http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
                aws_smithy_types::body::SdkBody::from(
                    "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>",
                ),
            )
        })
        .output(|| {
            owner_output((STACK_ID, "app"), "Bucket", "app-bucket", "AWS::S3::Bucket")
        })
        .build();
    let stacks = describe_stacks_rule(StackStatus::UpdateInProgress);
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&lookup, &stacks],
        |c| c.retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1))
        )
    );
    let o = owner_of(client, "AWS::S3::Bucket", "app-bucket").await;
    let m = o.membership().unwrap();
    assert_eq!(m.logical_id, "Bucket");
    assert!(m.operation_in_progress());
    assert_eq!(lookup.num_calls(), 2);
}

#[tokio::test]
async fn emulator_answer_without_the_physical_id_is_not_proof_of_unmanaged() {
    // moto 5.2.5 answers the reverse lookup with "Stack with id None does not exist".
    let lookup = mock!(Client::describe_stack_resources)
        .then_error(|| validation_error("Stack with id None does not exist"));
    let (list, resources) = index_rules();
    let stacks = describe_stacks_rule(StackStatus::CreateComplete);
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&lookup, &list, &resources, &stacks]
    );
    let o = owner_of(client, "AWS::IAM::Role", "app-AppRole-XYZ").await;
    assert!(matches!(o, Ownership::Managed(_)), "{o:?}");
}

#[tokio::test]
async fn detect_drift_modified_with_property_differences() {
    // "This information includes actual and expected property values for resources
    // in which CloudFormation detects drift. Only resource properties explicitly
    // defined in the stack template are checked for drift." (aws-sdk-cloudformation
    // 1.136, DetectStackResourceDrift;
    // https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DetectStackResourceDrift.html)
    let rule = mock!(Client::detect_stack_resource_drift)
        .match_requests(|r| {
            r.stack_name() == Some("app") && r.logical_resource_id() == Some("WebSG")
        })
        .then_output(|| {
            drift_output(
                resource_drift(
                    (STACK_ID, "WebSG", "AWS::EC2::SecurityGroup"),
                    StackResourceDriftStatus::Modified,
                )
                .expected_properties(r#"{"GroupDescription":"web"}"#)
                .actual_properties(
                    r#"{"GroupDescription":"web","SecurityGroupIngress":[{"CidrIp":"0.0.0.0/0"}]}"#,
                )
                .property_differences(
                    SdkDifference::builder()
                        .property_path("/SecurityGroupIngress/0")
                        .actual_value(r#"{"CidrIp":"0.0.0.0/0","FromPort":22}"#)
                        .difference_type(DifferenceType::Add)
                        .build(),
                )
                .timestamp(aws_smithy_types::DateTime::from_secs(1_770_000_000)),
            )
        });
    let drift = detect_drift(&rule, "WebSG").await.unwrap();
    assert_eq!(drift.status, DriftStatus::Modified);
    assert_eq!(drift.origin, DriftOrigin::Cloudformation);
    assert_eq!(drift.differences.len(), 1);
    assert_eq!(drift.differences[0].path, "/SecurityGroupIngress/0");
    assert_eq!(drift.differences[0].kind, DifferenceKind::Add);
    assert_eq!(
        drift.differences[0].actual.as_ref().unwrap()["FromPort"],
        22
    );
    assert!(drift.expected_properties.is_some() && drift.detected_at.is_some());
}

#[tokio::test]
async fn detect_drift_unsupported_type_is_unsupported() {
    // "Resources that don't currently support drift detection can't be checked."
    // (DetectStackResourceDrift, aws-sdk-cloudformation 1.136)
    let rule = mock!(Client::detect_stack_resource_drift).then_error(|| {
        DetectStackResourceDriftError::generic(
            ErrorMetadata::builder()
                .code("ValidationError")
                .message("Drift detection is not supported for resource type AWS::SSM::Parameter")
                .build(),
        )
    });
    let err = detect_drift(&rule, "Param").await.unwrap_err();
    assert!(matches!(err, PortError::Unsupported { .. }), "{err:?}");
}

#[tokio::test]
async fn detect_drift_unsupported_status_is_unsupported_and_keeps_the_reason() {
    // StackResourceDriftStatus "UNSUPPORTED" with DriftStatusReason ("The reason for
    // the drift status.") (aws-sdk-cloudformation 1.136 StackResourceDrift;
    // https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackResourceDrift.html).
    // The reason text is ours: no recorded response with this status is at hand.
    let rule = mock!(Client::detect_stack_resource_drift).then_output(|| {
        drift_output(
            resource_drift(
                (STACK_ID, "Param", "AWS::SSM::Parameter"),
                StackResourceDriftStatus::Unsupported,
            )
            .drift_status_reason("Drift detection is not supported for this resource")
            .timestamp(aws_smithy_types::DateTime::from_secs(0)),
        )
    });
    let err = detect_drift(&rule, "Param").await.unwrap_err();
    let PortError::Unsupported { message, .. } = &err else {
        panic!("expected Unsupported, got {err:?}");
    };
    assert!(
        message.starts_with("UNSUPPORTED for app/Param"),
        "{message}"
    );
    assert!(
        message.contains("not supported for this resource"),
        "{message}"
    );
}

#[tokio::test]
async fn detect_drift_emulator_500_is_unsupported() {
    let rule = mock!(Client::detect_stack_resource_drift).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(500).unwrap(),
            aws_smithy_types::body::SdkBody::from(
                "<!doctype html><title>500 Internal Server Error</title>",
            ),
        )
    });
    let err = detect_drift(&rule, "WebSG").await.unwrap_err();
    assert!(matches!(err, PortError::Unsupported { .. }), "{err:?}");
}

#[test]
fn candidates_cover_names_that_differ_from_physical_ids() {
    let c = |t: &str, id: &str| physical_id_candidates(&ResourceRef::new(t, id));
    assert_eq!(
        c("AWS::IAM::Role", "arn:aws:iam::1:role/path/r1"),
        vec!["arn:aws:iam::1:role/path/r1", "r1"]
    );
    assert_eq!(
        c("AWS::S3::Bucket", "arn:aws:s3:::b1"),
        vec!["arn:aws:s3:::b1", "b1"]
    );
    assert_eq!(
        c(
            "AWS::Lambda::Function",
            "arn:aws:lambda:us-east-1:1:function:f1:live"
        )[1],
        "f1"
    );
    assert_eq!(
        c("AWS::Lambda::Function", "1:function:f1"),
        vec!["1:function:f1", "f1"]
    );
    assert_eq!(c("AWS::SSM::Parameter", "/app/p"), vec!["/app/p", "app/p"]);
    assert_eq!(
        c(
            "AWS::SSM::Parameter",
            "arn:aws:ssm:us-east-1:1:parameter/app/p"
        )[1],
        "/app/p"
    );
    assert_eq!(c("AWS::EC2::SecurityGroup", "sg-1"), vec!["sg-1"]);
    assert_eq!(
        c("AWS::SQS::Queue", "arn:aws:sqs:us-east-1:1:q")[1],
        "https://sqs.us-east-1.amazonaws.com/1/q"
    );
    assert!(physical_id_candidates(&ResourceRef::unresolved()).is_empty());
}
