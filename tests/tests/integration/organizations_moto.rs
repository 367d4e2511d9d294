//! Issue 15, environments by OU path and account tag: the real
//! `OrgAccountDirectory` against moto's AWS Organizations (an organization,
//! an OU with a child OU, an account created and moved into the child,
//! tagged), its OU path in the `aws:PrincipalOrgPaths` form the policy's
//! `match.ou` uses, and the example policy's environments chosen from it.
use aws_sdk_organizations::types::Tag;
use driftguard_adapters::organizations::OrgAccountDirectory;
use driftguard_core::ports::AccountDirectory;
use driftguard_model::domain::policy::is_ou_path;
use driftguard_model::domain::policy::Policy;
use integration_tests::{moto, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accounts_ou_path_and_tags_pick_its_environment() {
    let moto = moto();
    let sdk = moto.sdk_config_with_sdk_retries().await;
    let org = aws_sdk_organizations::Client::new(&sdk);
    // One organization per moto server; another test may have made it.
    if org.describe_organization().send().await.is_err() {
        org.create_organization()
            .send()
            .await
            .expect("create organization");
    }
    let org_id = org
        .describe_organization()
        .send()
        .await
        .unwrap()
        .organization()
        .and_then(|o| o.id().map(String::from))
        .unwrap();
    let root = org.list_roots().send().await.unwrap().roots()[0]
        .id()
        .unwrap()
        .to_string();
    let name = unique("orgs");
    let create_ou = |parent: String, name: String| {
        let org = org.clone();
        async move {
            org.create_organizational_unit()
                .parent_id(parent)
                .name(name)
                .send()
                .await
                .unwrap()
                .organizational_unit()
                .and_then(|o| o.id().map(String::from))
                .unwrap()
        }
    };
    let workloads = create_ou(root.clone(), format!("{name}-workloads")).await;
    let prod = create_ou(workloads.clone(), format!("{name}-prod")).await;
    let created = org
        .create_account()
        .email(format!("{name}@example.com"))
        .account_name(&name)
        .send()
        .await
        .unwrap();
    let account = created
        .create_account_status()
        .and_then(|s| s.account_id().map(String::from))
        .expect("moto creates the account at once");
    org.move_account()
        .account_id(&account)
        .source_parent_id(&root)
        .destination_parent_id(&prod)
        .send()
        .await
        .unwrap();
    org.tag_resource()
        .resource_id(&account)
        .tags(Tag::builder().key("env").value("prod").build().unwrap())
        .send()
        .await
        .unwrap();

    let facts = OrgAccountDirectory::from_conf(&sdk)
        .facts(&account)
        .await
        .expect("the account's facts");
    assert_eq!(
        facts.ou_path,
        format!("{org_id}/{root}/{workloads}/{prod}/")
    );
    assert!(is_ou_path(&facts.ou_path), "{}", facts.ou_path);
    assert_eq!(facts.tags.get("env").map(String::as_str), Some("prod"));

    // The example policy, its prod environment matched by the workloads OU
    // (the account is in a child OU of it), dev by a tag this account lacks.
    let text = std::fs::read_to_string(
        driftguard_cli::emulator::workspace_root().join("policy.example.yaml"),
    )
    .unwrap()
    .replace(
        "accounts: [\"111111111111\"]",
        &format!("ou: \"{org_id}/{root}/{workloads}/\""),
    )
    .replace("accounts: [\"222222222222\"]", "tags: { env: dev }");
    let policy = Policy::from_yaml(&text).expect("the policy loads");
    assert!(policy.needs_account_facts());
    assert_eq!(
        policy.rule_set_for(&account, Some(&facts)).environment,
        Some("prod")
    );
    assert_eq!(policy.rule_set_for(&account, None).environment, None);
}
