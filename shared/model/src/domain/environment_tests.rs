//! Policy environments (`environments`, version 2): which accounts are which
//! environment, what each overrides, and what the loader refuses.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use chrono::{TimeZone, Utc};
use serde_json::json;

use super::actor::classify_actor_in;
use super::policy::{is_ou_path, AccountFacts, Policy};
use super::*;

const PROD: &str = "111111111111";
const DEV: &str = "222222222222";
const OTHER: &str = "333333333333";

/// The example policy's shape: top-level rules that revert security groups
/// in dry-run, a prod environment that reverts them live, a dev environment
/// that only tickets.
const POLICY: &str = r#"version: 2
defaults:
  dry_run: true
  verdict: ticket
identities:
  own:
    - principal: "role/driftguard-remediation"
rules:
  - name: open-ingress-is-reverted
    match:
      actors: [console, human, automation, unknown]
      resource_types: ["AWS::EC2::SecurityGroup"]
    verdict: revert
    severity: high
  - name: everything-else
    verdict: ticket
environments:
  - name: prod
    match:
      accounts: ["111111111111"]
    defaults:
      dry_run: false
  - name: dev
    match:
      accounts: ["222222222222"]
    rules:
      - name: dev-ticket-only
        verdict: ticket
        severity: low
"#;

fn sg_change(account: &str) -> Change {
    Change {
        event_id: format!("e-{account}"),
        time: Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap(),
        account: account.into(),
        region: "eu-west-1".into(),
        source: ChangeSource::Cloudtrail,
        service: "ec2".into(),
        operation: "AuthorizeSecurityGroupIngress".into(),
        resource: ResourceRef::new("AWS::EC2::SecurityGroup", "sg-0123"),
        identity: Identity {
            identity_type: Some("AssumedRole".into()),
            principal_arn: Some(format!(
                "arn:aws:sts::{account}:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/alice"
            )),
            session_issuer_arn: Some(format!(
                "arn:aws:iam::{account}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123456789abcdef"
            )),
            session_name: Some("alice".into()),
            console_session: true,
            ..Default::default()
        },
        request: json!({"groupId": "sg-0123"}),
        response: serde_json::Value::Null,
        stack_hint: None,
        drift_hint: None,
        unparsed: Vec::new(),
    }
}

fn managed(account: &str) -> Ownership {
    Ownership::Managed(StackMembership {
        stack_id: format!("arn:aws:cloudformation:eu-west-1:{account}:stack/web/1"),
        stack_name: "web".into(),
        logical_id: "WebSecurityGroup".into(),
        resource_type: Some("AWS::EC2::SecurityGroup".into()),
        stack_status: "UPDATE_COMPLETE".into(),
        stack_tags: Default::default(),
        nested: None,
    })
}

fn decide_in(policy: &Policy, account: &str) -> Verdict {
    let change = sg_change(account);
    let actor = classify_actor_in(
        &change.identity,
        &policy.identities,
        change.time,
        Some(account),
    );
    assert_eq!(actor.kind, ActorKind::Console);
    let ownership = managed(account);
    decide(
        &DecisionInput {
            change: &change,
            actor: &actor,
            ownership: &ownership,
            drift: None,
            account: None,
        },
        policy,
    )
    .verdict
}

fn error(text: &str) -> String {
    Policy::from_yaml(text).unwrap_err().to_string()
}

#[test]
fn the_same_change_is_reverted_in_prod_and_ticketed_in_dev() {
    let p = Policy::from_yaml(POLICY).unwrap();
    let prod = decide_in(&p, PROD);
    assert_eq!(prod.action, Action::Revert);
    assert!(
        !prod.dry_run,
        "prod's defaults.dry_run: false reaches the top-level rule"
    );
    assert_eq!(prod.rule.as_deref(), Some("open-ingress-is-reverted"));
    assert_eq!(prod.environment.as_deref(), Some("prod"));
    assert_eq!(
        prod.reason,
        "policy rule open-ingress-is-reverted (environment prod)"
    );

    let dev = decide_in(&p, DEV);
    assert_eq!(dev.action, Action::Ticket);
    assert_eq!(dev.rule.as_deref(), Some("dev-ticket-only"));
    assert_eq!(dev.severity, Severity::Low);
    assert_eq!(dev.environment.as_deref(), Some("dev"));

    // An account in no environment: the top-level rules and defaults.
    let other = decide_in(&p, OTHER);
    assert_eq!(other.action, Action::Revert);
    assert!(other.dry_run);
    assert_eq!(other.environment, None);
    assert_eq!(other.reason, "policy rule open-ingress-is-reverted");
}

#[test]
fn an_environments_default_verdict_applies_when_no_rule_matches() {
    let p = Policy::from_yaml(
        "version: 2\ndefaults: { verdict: ticket, severity: medium }\nenvironments:\n  - name: lab\n    match: { accounts: [\"111111111111\"] }\n    defaults: { verdict: ignore, severity: low }\n",
    )
    .unwrap();
    let lab = decide_in(&p, PROD);
    assert_eq!(lab.action, Action::Ignore);
    assert_eq!(lab.severity, Severity::Low);
    assert_eq!(lab.environment.as_deref(), Some("lab"));
    assert!(lab.reason.contains("(environment lab)"), "{}", lab.reason);
    let other = decide_in(&p, OTHER);
    assert_eq!(
        (other.action, other.severity),
        (Action::Ticket, Severity::Medium)
    );
}

#[test]
fn the_environment_of_an_account_is_the_one_listing_it() {
    let p = Policy::from_yaml(POLICY).unwrap();
    assert_eq!(p.environments.len(), 2);
    assert_eq!(
        p.environment_for(PROD).map(|e| e.name.as_str()),
        Some("prod")
    );
    assert_eq!(p.environment_for(DEV).map(|e| e.name.as_str()), Some("dev"));
    assert!(p.environment_for(OTHER).is_none());
    let dev = p.environment_for(DEV).unwrap();
    // Its own rule first, then the two top-level ones.
    assert_eq!(dev.own_rules, 1);
    let names: Vec<&str> = dev.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "dev-ticket-only",
            "open-ingress-is-reverted",
            "everything-else"
        ]
    );
    // The top-level rules themselves are unchanged.
    assert_eq!(p.rules.len(), 2);
    assert!(p.rules[0].dry_run);
}

#[test]
fn an_account_in_two_environments_is_refused_as_ambiguous() {
    let text = POLICY.replace(
        "accounts: [\"222222222222\"]",
        "accounts: [\"222222222222\", \"111111111111\"]",
    );
    let msg = error(&text);
    assert!(msg.contains("environments[1].match.accounts[1]"), "{msg}");
    assert!(msg.contains("ambiguous"), "{msg}");
    assert!(msg.contains("environments[0] (prod)"), "{msg}");
    // The line is the second listing's.
    let line = text
        .lines()
        .position(|l| l.contains("\"222222222222\", \"111111111111\""))
        .unwrap()
        + 1;
    assert!(msg.contains(&format!("line {line}")), "{msg}");
    let msg = error(&POLICY.replace(
        "accounts: [\"222222222222\"]",
        "accounts: [\"222222222222\", \"222222222222\"]",
    ));
    assert!(msg.contains("listed twice"), "{msg}");
}

#[test]
fn unknown_and_unsupported_fields_are_refused_by_name() {
    // A misspelled key inside an environment or its match.
    let msg = error(&POLICY.replace(
        "      accounts: [\"111111111111\"]",
        "      acounts: [\"111111111111\"]",
    ));
    assert!(msg.contains("unknown field `acounts`"), "{msg}");
    let msg = error(&POLICY.replace(
        "    defaults:\n      dry_run: false",
        "    default:\n      dry_run: false",
    ));
    assert!(msg.contains("unknown field `default`"), "{msg}");
    let msg = error(&POLICY.replace("      dry_run: false", "      dry_rn: false"));
    assert!(msg.contains("unknown field `dry_rn`"), "{msg}");
}

const ORG_PATH: &str = "o-a1b2c3d4e5/r-ab12/";
const PROD_OU: &str = "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/";

/// Environments by OU and tag: prod is the prod OU (and below it), dev is
/// every account tagged env=dev.
fn org_policy() -> Policy {
    Policy::from_yaml(
        &POLICY
            .replace(
                "      accounts: [\"111111111111\"]",
                &format!("      ou: \"{PROD_OU}\""),
            )
            .replace(
                "      accounts: [\"222222222222\"]",
                "      tags: { env: dev }",
            ),
    )
    .unwrap()
}

fn decide_with(policy: &Policy, account: &str, facts: &AccountFacts) -> Verdict {
    let change = sg_change(account);
    let actor = classify_actor_in(
        &change.identity,
        &policy.identities,
        change.time,
        Some(account),
    );
    let ownership = managed(account);
    decide(
        &DecisionInput {
            change: &change,
            actor: &actor,
            ownership: &ownership,
            drift: None,
            account: Some(facts),
        },
        policy,
    )
    .verdict
}

fn facts(ou_path: &str, tags: &[(&str, &str)]) -> AccountFacts {
    AccountFacts {
        ou_path: ou_path.into(),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[test]
fn environments_match_accounts_by_ou_path_and_by_tag() {
    let p = org_policy();
    assert!(p.needs_account_facts());
    assert!(!Policy::from_yaml(POLICY).unwrap().needs_account_facts());
    // An account in a sub-OU of prod is prod.
    let deep = facts(&format!("{PROD_OU}ou-ab12-22222222/"), &[]);
    let v = decide_with(&p, OTHER, &deep);
    assert_eq!((v.action, v.dry_run), (Action::Revert, false));
    assert_eq!(v.environment.as_deref(), Some("prod"));
    // Tagged env=dev, elsewhere in the tree: dev.
    let dev = facts(
        &format!("{ORG_PATH}ou-ab12-33333333/"),
        &[("env", "dev"), ("team", "web")],
    );
    let v = decide_with(&p, OTHER, &dev);
    assert_eq!(v.action, Action::Ticket);
    assert_eq!(v.environment.as_deref(), Some("dev"));
    // Neither: the top-level rules (dry-run revert); without facts too.
    let none = facts(ORG_PATH, &[("env", "test")]);
    let v = decide_with(&p, OTHER, &none);
    assert_eq!(
        (v.action, v.dry_run, v.environment),
        (Action::Revert, true, None)
    );
    assert_eq!(decide_in(&p, OTHER).environment, None);
    // A path that only shares a prefix of an OU id is not under it.
    let sibling = facts("o-a1b2c3d4e5/r-ab12/ou-ab12-111111112/", &[]);
    assert_eq!(decide_with(&p, OTHER, &sibling).environment, None);
}

#[test]
fn an_account_listed_by_id_wins_over_ou_and_tags_then_the_file_order() {
    // prod by OU, dev by id: the dev account is dev even under the prod OU.
    let text = POLICY.replace(
        "      accounts: [\"111111111111\"]",
        &format!("      ou: [\"{PROD_OU}\"]"),
    );
    let p = Policy::from_yaml(&text).unwrap();
    let in_prod_ou = facts(PROD_OU, &[]);
    assert_eq!(
        decide_with(&p, DEV, &in_prod_ou).environment.as_deref(),
        Some("dev")
    );
    assert_eq!(
        decide_with(&p, OTHER, &in_prod_ou).environment.as_deref(),
        Some("prod")
    );
    // Both by facts: the first in the file that matches.
    let both = org_policy();
    let tagged_in_prod = facts(PROD_OU, &[("env", "dev")]);
    assert_eq!(
        decide_with(&both, OTHER, &tagged_in_prod)
            .environment
            .as_deref(),
        Some("prod")
    );
    // OU and tags in one environment: both must hold.
    let strict = Policy::from_yaml(&POLICY.replace(
        "      accounts: [\"111111111111\"]",
        &format!("      ou: \"{PROD_OU}\"\n      tags: {{ tier: gold }}"),
    ))
    .unwrap();
    assert_eq!(decide_with(&strict, OTHER, &in_prod_ou).environment, None);
    let gold = facts(PROD_OU, &[("tier", "gold")]);
    assert_eq!(
        decide_with(&strict, OTHER, &gold).environment.as_deref(),
        Some("prod")
    );
}

#[test]
fn malformed_ou_paths_and_an_environment_naming_no_accounts_are_refused() {
    for bad in [
        "ou-ab12-11111111",
        "o-a1b2c3d4e5/r-ab12",
        "o-a1b2c3d4e5/r-ab12/ou-x/",
        "/r-ab12/",
    ] {
        let msg = error(&POLICY.replace(
            "      accounts: [\"111111111111\"]",
            &format!("      ou: \"{bad}\""),
        ));
        assert!(msg.contains("environments[0].match.ou[0]"), "{msg}");
        assert!(msg.contains("is not an OU path"), "{msg}");
    }
    assert!(is_ou_path(PROD_OU) && is_ou_path(ORG_PATH));
    let msg = error("version: 2\nenvironments:\n  - name: prod\n    match: {}\n");
    assert!(msg.contains("environments[0].match"), "{msg}");
    assert!(msg.contains("by id (`match.accounts`), OU path"), "{msg}");
    let msg = error(&POLICY.replace(
        "      accounts: [\"111111111111\"]",
        "      tags: { \"\": x }",
    ));
    assert!(msg.contains("environments[0].match.tags"), "{msg}");
}

#[test]
fn bad_environments_are_named() {
    let cases = [
        (
            "version: 2\nenvironments:\n  - match: { accounts: [\"111111111111\"] }\n",
            "environments[0].name",
        ),
        (
            "version: 2\nenvironments:\n  - name: prod\n",
            "environments[0].match`: required: the environment's accounts, by id (`match.accounts`)",
        ),
        (
            "version: 2\nenvironments:\n  - name: prod\n    match: { accounts: [\"1111\"] }\n",
            "environments[0].match.accounts[0]",
        ),
        (
            "version: 2\nenvironments:\n  - name: prod\n    match: { accounts: [\"11111111111*\"] }\n",
            "environments[0].match.accounts[0]",
        ),
        (
            "version: 2\nenvironments:\n  - name: prod\n    match: { accounts: [\"111111111111\"] }\n  - name: prod\n    match: { accounts: [\"222222222222\"] }\n",
            "environments[1].name",
        ),
        (
            "version: 2\nenvironments:\n  - name: \"prod env\"\n    match: { accounts: [\"111111111111\"] }\n",
            "environments[0].name",
        ),
        // A rule name already used at the top level or by another environment.
        (
            "version: 2\nrules:\n  - name: a\n    verdict: ticket\nenvironments:\n  - name: prod\n    match: { accounts: [\"111111111111\"] }\n    rules:\n      - name: a\n        verdict: revert\n",
            "environments[0].rules[0].name",
        ),
        (
            "version: 2\nenvironments:\n  - name: prod\n    match: { accounts: [\"111111111111\"] }\n    rules:\n      - name: a\n        match: { stacks: ['app-['] }\n        verdict: revert\n",
            "environments[0].rules[0].match.stacks[0]",
        ),
        (
            "version: 2\nenvironments:\n  - name: prod\n    match: { accounts: [\"111111111111\"] }\n    defaults: { verdict: nuke }\n",
            "nuke",
        ),
    ];
    for (text, named) in cases {
        let msg = error(text);
        assert!(msg.contains(named), "{text}\n→ {msg}");
    }
}

#[test]
fn environments_need_version_2_and_version_1_policies_load_unchanged() {
    let msg = error(&POLICY.replace("version: 2", "version: 1"));
    assert!(
        msg.contains("`environments`") && msg.contains("version: 2"),
        "{msg}"
    );
    let msg = error("version: 3\n");
    assert!(msg.contains("unsupported version 3"), "{msg}");
    // The same policy without environments decides alike as version 1 and 2.
    let top = &POLICY[..POLICY.find("environments:").unwrap()];
    for text in [top.to_string(), top.replace("version: 2", "version: 1")] {
        let p = Policy::from_yaml(&text).unwrap();
        assert!(p.environments.is_empty());
        for account in [PROD, DEV] {
            let v = decide_in(&p, account);
            assert_eq!((v.action, v.dry_run), (Action::Revert, true));
            assert_eq!(v.environment, None);
        }
    }
}

#[test]
fn a_verdict_without_an_environment_serializes_as_before() {
    let p = Policy::from_yaml(POLICY).unwrap();
    let other = serde_json::to_value(decide_in(&p, OTHER)).unwrap();
    assert!(other.get("environment").is_none(), "{other}");
    let prod = serde_json::to_value(decide_in(&p, PROD)).unwrap();
    assert_eq!(prod["environment"], json!("prod"));
    // A stored verdict from before environments reads back.
    let old: Verdict = serde_json::from_value(json!({
        "action": "revert", "reason": "policy rule x", "rule": "x",
        "dry_run": false, "requires_approval": false, "severity": "high"
    }))
    .unwrap();
    assert_eq!(old.environment, None);
}
