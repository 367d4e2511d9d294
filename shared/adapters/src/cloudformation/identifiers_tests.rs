//! `owner_of_identifiers`: writes no operation row lists, answered from the
//! ownership index only, over mocked SDK clients.
#![allow(clippy::unwrap_used)]
use driftguard_core::ports::{IdentifiedCall, StackCatalog, StackResourceSummary, StackSummary};
use driftguard_model::domain::Ownership;
use driftguard_model::sources::identifiers::Pick;

use super::*;
use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
use aws_sdk_cloudformation::operation::list_stack_resources::ListStackResourcesOutput;
use aws_sdk_cloudformation::operation::list_stacks::ListStacksOutput;
use aws_sdk_cloudformation::types::{
    Stack, StackResourceSummary as SdkResourceSummary, StackStatus, StackSummary as SdkStackSummary,
};
use aws_sdk_cloudformation::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};

const APP: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1";
const CLAIMANT: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/claimant/2";

fn summary(logical: &str, physical: &str, rtype: &str) -> SdkResourceSummary {
    SdkResourceSummary::builder()
        .logical_resource_id(logical)
        .physical_resource_id(physical)
        .resource_type(rtype)
        .build()
}

/// Two stacks: `app` owns a bucket and a role; `claimant` has a custom
/// resource answering the bucket's name as its physical id.
fn rules() -> [aws_smithy_mocks::Rule; 4] {
    let list = mock!(Client::list_stacks).then_output(|| {
        let stack = |id: &str, name: &str| {
            SdkStackSummary::builder()
                .stack_id(id)
                .stack_name(name)
                .stack_status(StackStatus::UpdateComplete)
                .build()
        };
        ListStacksOutput::builder()
            .stack_summaries(stack(APP, "app"))
            .stack_summaries(stack(CLAIMANT, "claimant"))
            .build()
    });
    let app = mock!(Client::list_stack_resources)
        .match_requests(|r| r.stack_name() == Some(APP))
        .then_output(|| {
            ListStackResourcesOutput::builder()
                .stack_resource_summaries(summary("Assets", "shop-assets", "AWS::S3::Bucket"))
                .stack_resource_summaries(summary("AppRole", "app-AppRole-XYZ", "AWS::IAM::Role"))
                .build()
        });
    let claimant = mock!(Client::list_stack_resources)
        .match_requests(|r| r.stack_name() == Some(CLAIMANT))
        .then_output(|| {
            ListStackResourcesOutput::builder()
                .stack_resource_summaries(summary("Claim", "victim-bucket", "Custom::Claim"))
                .build()
        });
    let describe = mock!(Client::describe_stacks).then_output(|| {
        DescribeStacksOutput::builder()
            .stacks(
                Stack::builder()
                    .stack_id(APP)
                    .stack_name("app")
                    .stack_status(StackStatus::UpdateComplete)
                    .build(),
            )
            .build()
    });
    [list, app, claimant, describe]
}

fn call<'a>(service: &'a str, operation: &'a str, ids: &'a [String]) -> IdentifiedCall<'a> {
    IdentifiedCall {
        service,
        operation,
        identifiers: ids,
        // As if AWS named them all (resources[] or the response).
        listed: ids.len(),
    }
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn a_match_describes_the_owner_and_a_miss_on_a_warm_index_calls_nothing() {
    let [list, app, claimant, describe] = rules();
    let client = mock_client!(
        aws_sdk_cloudformation,
        RuleMode::MatchAny,
        [&list, &app, &claimant, &describe]
    );
    let catalog = CfnStackCatalog::new(client);
    let cors = ids(&["arn:aws:s3:::shop-assets", "shop-assets"]);
    let found = catalog
        .owner_of_identifiers(&call("s3", "PutBucketCors", &cors))
        .await
        .unwrap();
    let Ownership::Managed(m) = &found.ownership else {
        panic!("{found:?}")
    };
    assert_eq!(
        (m.stack_name.as_str(), m.logical_id.as_str()),
        ("app", "Assets")
    );
    assert_eq!(found.identifier.as_deref(), Some("shop-assets"));
    let built = (list.num_calls(), app.num_calls() + claimant.num_calls());
    assert_eq!(
        built,
        (1, 2),
        "the index: ListStacks + ListStackResources per stack"
    );
    assert_eq!(
        describe.num_calls(),
        1,
        "the owner's stack status, read fresh"
    );

    // Misses, warm: no call at all (no rebuild on a miss), whatever they name.
    for (service, operation, names) in [
        ("s3", "PutBucketCors", ids(&["arn:aws:s3:::stray", "stray"])),
        // The custom resource's claim on a bucket name is not an owner.
        ("s3", "PutBucketLogging", ids(&["victim-bucket"])),
        // The role exists, but an S3 call cannot target it.
        ("s3", "PutBucketCors", ids(&["app-AppRole-XYZ"])),
        ("iam", "TagRole", ids(&[])),
    ] {
        let found = catalog
            .owner_of_identifiers(&call(service, operation, &names))
            .await
            .unwrap();
        let want = if names.is_empty() {
            matches!(found.ownership, Ownership::Unknown { .. })
        } else {
            found.ownership == Ownership::Unmanaged
        };
        assert!(want, "{service}:{operation} {names:?}: {found:?}");
    }
    assert_eq!(list.num_calls(), 1, "index not rebuilt on a miss");
    assert_eq!(app.num_calls() + claimant.num_calls(), 2);
    assert_eq!(describe.num_calls(), 1, "a miss describes nothing");
}

#[test]
fn the_index_picks_by_the_model_rule() {
    let stack = |name: &str| StackSummary {
        stack_id: format!("arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/1"),
        stack_name: name.to_string(),
        status: "UPDATE_COMPLETE".into(),
        tags: Default::default(),
    };
    let resource = |logical: &str, physical: &str, rtype: &str| StackResourceSummary {
        logical_id: logical.into(),
        physical_id: Some(physical.into()),
        resource_type: Some(rtype.into()),
        status: None,
    };
    let index = OwnershipIndex::from_parts(vec![
        (
            stack("a"),
            vec![
                resource("Role", "shared", "AWS::IAM::Role"),
                resource(
                    "Policy",
                    "arn:aws:iam::1:policy/P",
                    "AWS::IAM::ManagedPolicy",
                ),
            ],
        ),
        (
            stack("a"),
            vec![resource("User", "shared", "AWS::IAM::User")],
        ),
    ]);
    let names = ids(&["arn:aws:iam::1:policy/P", "shared"]);
    let Pick::One((id, owner)) = index.pick_for(&call("iam", "TagRole", &names)) else {
        panic!("one owner")
    };
    assert_eq!((id.as_str(), owner.logical_id.as_str()), ("shared", "Role"));
    let Pick::One((_, owner)) = index.pick_for(&call("iam", "Frobnicate", &names)) else {
        panic!("the first identifier's one owner")
    };
    assert_eq!(owner.logical_id, "Policy");
    let shared = ids(&["shared"]);
    assert!(matches!(
        index.pick_for(&call("iam", "Frobnicate", &shared)),
        Pick::Ambiguous(v) if v.len() == 2
    ));
    assert_eq!(index.owners("nothing").len(), 0);
    // Owners in two stacks at the same rank: which stack's resource the call
    // changed cannot be told, whatever the fit (the model's rule).
    let two_stacks = OwnershipIndex::from_parts(vec![
        (
            stack("a"),
            vec![resource("Role", "shared", "AWS::IAM::Role")],
        ),
        (
            stack("b"),
            vec![resource("User", "shared", "AWS::IAM::User")],
        ),
    ]);
    assert!(matches!(
        two_stacks.pick_for(&call("iam", "TagRole", &shared)),
        Pick::Ambiguous(v) if v.len() == 2
    ));
}
