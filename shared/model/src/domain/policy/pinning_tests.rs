//! Issue 34, items 3, 4 and 9: exempting principals are pinned (a name
//! wildcard needs an explicit account; driftguard's own role in any account
//! needs its unique id), `*` accounts are warned about, and break-glass
//! windows longer than a week are warned about.
#![allow(clippy::unwrap_used)]
use super::*;
use crate::domain::actor::Identity;

fn identities(body: &str) -> Result<Policy, PolicyError> {
    Policy::from_yaml(&format!("identities:\n{body}"))
}

fn refused(body: &str, key: &str, says: &str) {
    let e = identities(body).unwrap_err().to_string();
    assert!(e.contains(key) && e.contains(says), "{body} → {e}");
}

fn session(account: &str, role: &str, id: &str) -> Identity {
    Identity {
        identity_type: Some("AssumedRole".into()),
        principal_arn: Some(format!("arn:aws:sts::{account}:assumed-role/{role}/s")),
        session_issuer_arn: Some(format!("arn:aws:iam::{account}:role/{role}")),
        session_name: Some("s".into()),
        principal_id: Some(format!("{id}:s")),
        ..Identity::default()
    }
}

#[test]
fn a_name_wildcard_in_an_exempting_list_needs_an_explicit_account() {
    for (list, extra) in [
        ("pipeline", ""),
        ("own", ""),
        (
            "break_glass",
            "\n      not_before: 2026-03-14T00:00:00Z\n      not_after: 2026-03-15T00:00:00Z",
        ),
    ] {
        for principal in [
            "role/cdk-*-cfn-exec-role-*",
            "arn:aws:iam:::role/deploy-?",
            "arn:aws:iam::*:role/cdk-*",
            "user/ci-*",
        ] {
            refused(
                &format!("  {list}:\n    - principal: '{principal}'{extra}\n"),
                &format!("identities.{list}[0].principal"),
                "wildcard in its name",
            );
        }
        // Pinned: the account written as 12 digits (a unique id optional).
        let pinned = format!(
            "  {list}:\n    - principal: 'arn:aws:iam::111122223333:role/cdk-*-cfn-exec-role-*'{extra}\n"
        );
        let p = identities(&pinned).unwrap();
        assert!(p.warnings().is_empty(), "{:?}", p.warnings());
    }
    // Approvers act through an AWS-authenticated approval call, never exempt a change.
    identities("  approvers:\n    - principal: 'role/oncall-*'\n").unwrap();
    // A wildcard in the path, not the name: one role per account (IAM role
    // names are unique in an account whatever the path).
    identities("  pipeline:\n    - principal: 'role/**/deploy-pipeline'\n").unwrap();
}

#[test]
fn a_pinned_wildcard_matches_only_its_account() {
    let p = identities(
        "  pipeline:\n    - principal: 'arn:aws:iam::111122223333:role/cdk-*-cfn-exec-role-*'\n",
    )
    .unwrap()
    .with_home_account("111122223333");
    let name = "cdk-hnb659fds-cfn-exec-role-111122223333-us-east-1";
    let ids = &p.identities;
    assert!(ids
        .pipeline_match(&session("111122223333", name, "AROA3EXAMPLECDK00001"))
        .is_some());
    assert!(ids
        .pipeline_match(&session("444455556666", name, "AROA3EXAMPLECDK00001"))
        .is_none());
}

#[test]
fn driftguards_own_role_in_any_account_needs_its_unique_id() {
    refused(
        "  own:\n    - principal: 'arn:aws:iam::*:role/driftguard-remediation'\n",
        "identities.own[0].principal",
        "by name alone",
    );
    let p = identities(
        "  own:\n    - principal: 'arn:aws:iam::*:role/driftguard-remediation'\n      unique_id: AROA3EXAMPLEMEMBER01\n",
    )
    .unwrap();
    assert_eq!(p.warnings().len(), 1, "any account: warned");
    let ids = &p.identities;
    let role = "driftguard-remediation";
    assert!(ids
        .own_match(&session("222222222222", role, "AROA3EXAMPLEMEMBER01"))
        .is_some());
    // The same name in an account outside the organization: another id, a
    // change like any other.
    assert!(ids
        .own_match(&session("999999999999", role, "AROA3EXAMPLEOUTSIDE1"))
        .is_none());
    // Pipeline entries for any account stay legal (warned): not our own role.
    let p = identities("  pipeline:\n    - principal: 'arn:aws:iam::*:role/deploy'\n").unwrap();
    assert_eq!(p.warnings().len(), 1);
}

#[test]
fn own_entries_by_account_match_that_account_only() {
    let p = identities(
        "  own:\n    - principal: 'arn:aws:iam::222222222222:role/driftguard-remediation'\n    - principal: role/driftguard-remediation\n      unique_id: AROA3EXAMPLEDRIFTGRD1\n",
    )
    .unwrap()
    .with_home_account("123456789012");
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
    let ids = &p.identities;
    let role = "driftguard-remediation";
    assert!(ids
        .own_match(&session("222222222222", role, "AROA3EXAMPLEANY00001"))
        .is_some());
    assert!(ids
        .own_match(&session("123456789012", role, "AROA3EXAMPLEDRIFTGRD1"))
        .is_some());
    // Re-created under the same name in the central account: a new id.
    assert!(ids
        .own_match(&session("123456789012", role, "AROA3EXAMPLERECREATE"))
        .is_none());
    assert!(ids
        .own_match(&session("333333333333", role, "AROA3EXAMPLEDRIFTGRD1"))
        .is_none());
}

#[test]
fn a_break_glass_window_over_a_week_is_warned_about() {
    let window = |after: &str| {
        identities(&format!(
            "  break_glass:\n    - principal: role/BreakGlass\n      not_before: 2026-03-14T00:00:00Z\n      not_after: {after}\n"
        ))
        .unwrap()
    };
    assert!(
        window("2026-03-21T00:00:00Z").warnings().is_empty(),
        "7 days"
    );
    let w = window("2026-03-21T00:00:01Z");
    assert_eq!(w.warnings().len(), 1);
    assert_eq!(w.warnings()[0].key, "identities.break_glass[0].not_after");
    assert!(
        w.warnings()[0].message.contains("standing exemption"),
        "{}",
        w.warnings()[0]
    );
    let years = window("2030-01-01T00:00:00Z");
    assert!(
        years.warnings()[0].message.contains("1389.0 days"),
        "{}",
        years.warnings()[0]
    );
}

#[test]
fn the_break_glass_window_end_is_reported_inside_it_only() {
    let p = identities(
        "  break_glass:\n    - principal: role/BreakGlass\n      not_before: 2026-03-14T00:00:00Z\n      not_after: 2026-03-21T00:00:00Z\n",
    )
    .unwrap();
    let who = session("123456789012", "BreakGlass", "AROA3EXAMPLEBREAKGL1");
    let home = Some("123456789012");
    let t = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    let end = t("2026-03-21T00:00:00Z");
    let ids = &p.identities;
    assert_eq!(
        ids.break_glass_until_in(&who, t("2026-03-15T00:00:00Z"), home),
        Some(end)
    );
    assert_eq!(ids.break_glass_until_in(&who, end, home), Some(end));
    assert_eq!(
        ids.break_glass_until_in(&who, t("2026-03-21T00:00:01Z"), home),
        None
    );
    let actor = crate::domain::classify_actor_in(&who, ids, t("2026-03-15T00:00:00Z"), home);
    assert_eq!(actor.break_glass_until, Some(end));
}
