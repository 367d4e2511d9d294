//! templates/member.yaml (the member-account StackSet, docs/multi-account.md)
//! checked against template.yaml and the remediation handler registry: the
//! member forwards exactly the events the central detect rules consume, its
//! remediation role can do exactly what the central remediate role does in its
//! own account, its read-only role exactly what detect and sweep read, and both
//! trust only the named central roles, with the organization condition.

use std::collections::BTreeSet;

use driftguard_core::remediate::handlers::REGISTRY;
use yaml_serde::Value;

use super::handler_meta_lint::remediate_grants;
use super::{intrinsic, statements, strings, Template};

const MEMBER: &str = "templates/member.yaml";

/// Central rule -> member rule forwarding the same events.
const FORWARDED: &[(&str, &str)] = &[
    ("CloudTrailWriteRule", "ForwardCloudTrailWrites"),
    ("ConfigChangeRule", "ForwardConfigChanges"),
    ("CloudFormationEventRule", "ForwardCloudFormationEvents"),
];

/// Sids of the central RemediateRole that are driftguard's own plumbing in the
/// central account (logs, tracing, its queue, table, key, bus, policy), not
/// actions on the member's resources.
const CENTRAL_PLUMBING_SIDS: &[&str] = &[
    "Logs",
    "Tracing",
    "DeadLetters",
    "Tickets",
    "DataKey",
    "PublishResults",
    "ReadPolicy",
    "AssumeMemberRemediationRoles",
];

fn member() -> Template {
    Template::load_path(MEMBER)
}

/// The central Config pattern without its branch for driftguard's own Config
/// rule's compliance changes: that rule exists in the central account only.
fn without_own_rule_compliance(pattern: &Value) -> Value {
    let mut pattern = pattern.clone();
    if let Some(branches) = pattern.get_mut("$or").and_then(Value::as_sequence_mut) {
        branches.retain(|b| {
            !strings(&b["detail-type"]).contains(&"Config Rules Compliance Change".to_string())
        });
    }
    pattern
}

/// The actions of every Allow statement under `value` that is not a trust statement.
fn allow_actions(value: &Value) -> BTreeSet<String> {
    let mut all = Vec::new();
    statements(value, &mut all);
    all.iter()
        .filter(|s| s["Effect"].as_str() == Some("Allow") && s.get("Principal").is_none())
        .flat_map(|s| s.get("Action").map(strings).unwrap_or_default())
        .collect()
}

fn deny_sids(value: &Value) -> BTreeSet<(String, BTreeSet<String>)> {
    let mut all = Vec::new();
    statements(value, &mut all);
    all.iter()
        .filter(|s| s["Effect"].as_str() == Some("Deny"))
        .map(|s| {
            (
                s["Sid"].as_str().unwrap_or_default().to_string(),
                s.get("Action")
                    .map(strings)
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn member_rules_forward_exactly_the_central_detect_patterns() {
    let central = Template::load();
    let member = member();
    // Every central rule that feeds detect is forwarded (a new one fails here).
    let detect_rules: BTreeSet<&str> = central
        .resources_of_type("AWS::Events::Rule")
        .filter(|(_, r)| {
            r["Properties"]["Targets"]
                .as_sequence()
                .into_iter()
                .flatten()
                .any(|t| {
                    intrinsic(&t["Arn"]).and_then(|(_, v)| v.as_str().map(String::from))
                        == Some("DetectFunction.Arn".to_string())
                })
        })
        .map(|(id, _)| id)
        .collect();
    let forwarded: BTreeSet<&str> = FORWARDED.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        detect_rules, forwarded,
        "central rules targeting detect vs forwarded"
    );
    let member_rules: BTreeSet<&str> = member
        .resources_of_type("AWS::Events::Rule")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        member_rules,
        FORWARDED.iter().map(|(_, m)| *m).collect(),
        "member rules"
    );
    for (central_id, member_id) in FORWARDED {
        let expected = without_own_rule_compliance(
            &central.resource(central_id)["Properties"]["EventPattern"],
        );
        let rule = &member.resource(member_id)["Properties"];
        assert_eq!(
            rule["EventPattern"], expected,
            "{member_id} must match {central_id}'s pattern"
        );
        // The default bus (no EventBusName): where AWS service events arrive.
        assert!(
            rule.get("EventBusName").is_none(),
            "{member_id} on the default bus"
        );
        let targets = rule["Targets"].as_sequence().expect("targets");
        assert_eq!(targets.len(), 1, "{member_id}: one target");
        let target = &targets[0];
        assert_eq!(
            intrinsic(&target["Arn"]).map(|(t, v)| (t, v.as_str().map(String::from))),
            Some(("Ref".to_string(), Some("CentralBusArn".to_string()))),
            "{member_id} targets the central bus"
        );
        assert_eq!(
            intrinsic(&target["RoleArn"]).and_then(|(_, v)| v.as_str().map(String::from)),
            Some("ForwardRole.Arn".to_string()),
            "{member_id}: a role is required for an org-admitted cross-account bus"
        );
        assert!(
            target.get("DeadLetterConfig").is_some(),
            "{member_id} dead-letters"
        );
    }
    // The forwarding role can put events on the central bus and do nothing else.
    assert_eq!(
        allow_actions(&member.resource("ForwardRole")["Properties"]["Policies"]),
        BTreeSet::from(["events:PutEvents".to_string()])
    );
}

#[test]
fn the_pattern_comparison_drops_only_the_own_rule_branch() {
    let central = Template::load();
    let pattern = &central.resource("ConfigChangeRule")["Properties"]["EventPattern"];
    let trimmed = without_own_rule_compliance(pattern);
    assert_eq!(pattern["$or"].as_sequence().unwrap().len(), 3);
    assert_eq!(trimmed["$or"].as_sequence().unwrap().len(), 2);
    assert_ne!(&trimmed, pattern);
}

#[test]
fn member_remediation_role_grants_what_the_central_remediate_role_does() {
    let central = Template::load();
    let member = member();
    let central_actions: BTreeSet<String> = remediate_grants(&central)
        .into_iter()
        .filter(|(sid, _)| !CENTRAL_PLUMBING_SIDS.contains(&sid.as_str()))
        .map(|(_, a)| a)
        .collect();
    let role = &member.resource("RemediationRole")["Properties"];
    let member_actions = allow_actions(&role["Policies"]);
    assert!(
        member_actions.len() > 50,
        "{} actions: walk broken?",
        member_actions.len()
    );
    assert_eq!(
        member_actions, central_actions,
        "member RemediationRole (left) vs central RemediateRole without its plumbing (right)"
    );
    for h in REGISTRY {
        for p in h.permissions {
            assert!(
                member_actions.contains(*p),
                "{}: {p} not granted in the member",
                h.family
            );
        }
    }
    // The central guard rails against protected stacks and administrator roles
    // hold in the member too (driftguard's own data lives in the central account).
    let central_denies = deny_sids(&central.resource("RemediateRole")["Properties"]["Policies"]);
    let member_denies = deny_sids(&role["Policies"]);
    for sid in [
        "NeverChangeDriftguardsOwnOrProtectedStacks",
        "NeverChangeAdministratorRoles",
    ] {
        let c = central_denies
            .iter()
            .find(|(s, _)| s == sid)
            .expect("central deny");
        assert!(
            member_denies.contains(c),
            "member lacks the central {sid} deny"
        );
    }
    let own = member_denies
        .iter()
        .find(|(s, _)| s == "NeverTouchDriftguardItself")
        .expect("member NeverTouchDriftguardItself");
    for a in [
        "iam:PutRolePolicy",
        "iam:DetachRolePolicy",
        "iam:DeleteRolePolicy",
    ] {
        assert!(own.1.contains(a), "NeverTouchDriftguardItself lacks {a}");
    }
}

#[test]
fn member_read_role_reads_what_detect_and_sweep_read_and_writes_nothing() {
    let central = Template::load();
    let member = member();
    let mut central_reads = allow_actions(&central.resource("DriftReadPolicy")["Properties"]);
    central_reads.insert("cloudtrail:LookupEvents".to_string()); // DetectRole's FindActorOfConfigItems
    let member_reads = allow_actions(&member.resource("ReadRole")["Properties"]["Policies"]);
    assert_eq!(
        member_reads, central_reads,
        "member ReadRole vs central DriftReadPolicy + LookupEvents"
    );
    // Drift detection and LookupEvents write no resource; everything else is a read.
    let not_read: Vec<_> = member_reads
        .iter()
        .filter(|a| {
            let op = a.split(':').nth(1).unwrap_or_default();
            !["Get", "List", "Describe", "Detect", "Lookup"]
                .iter()
                .any(|p| op.starts_with(p))
        })
        .collect();
    assert!(
        not_read.is_empty(),
        "ReadRole grants non-read actions: {not_read:?}"
    );
}

/// The principal ARNs of a trust policy (as their `!Sub` strings) and its conditions.
fn trusted(role: &Value) -> (Vec<String>, Vec<Value>) {
    let mut principals = Vec::new();
    let mut conditions = Vec::new();
    let doc = &role["Properties"]["AssumeRolePolicyDocument"];
    for s in doc["Statement"].as_sequence().expect("trust statements") {
        assert_eq!(s["Effect"].as_str(), Some("Allow"));
        assert_eq!(strings(&s["Action"]), ["sts:AssumeRole"], "trust action");
        for p in s["Principal"]["AWS"].as_sequence().expect("AWS principals") {
            let (tag, v) = intrinsic(p).expect("principal is a !Sub");
            assert_eq!(tag, "Sub");
            principals.push(v.as_str().expect("!Sub string").to_string());
        }
        conditions.push(s["Condition"].clone());
    }
    (principals, conditions)
}

#[test]
fn member_roles_trust_only_the_named_central_roles_in_the_organization() {
    let member = member();
    let central_role =
        |name: &str| format!("arn:${{AWS::Partition}}:iam::${{CentralAccountId}}:role/${{{name}}}");
    for (id, expected) in [
        // Sweep only ever assumes the read role (SweepAssumeMemberReadRoles):
        // only remediate may assume the role that writes.
        ("RemediationRole", &["CentralRemediateRoleName"][..]),
        (
            "ReadRole",
            &["CentralDetectRoleName", "CentralSweepRoleName"][..],
        ),
    ] {
        let (principals, conditions) = trusted(member.resource(id));
        assert_eq!(
            principals,
            expected.iter().map(|n| central_role(n)).collect::<Vec<_>>(),
            "{id} trusts exactly these central roles"
        );
        for c in conditions {
            let eq = &c["StringEquals"];
            assert_eq!(
                intrinsic(&eq["aws:PrincipalOrgID"])
                    .and_then(|(_, v)| v.as_str().map(String::from)),
                Some("OrganizationId".to_string()),
                "{id}: aws:PrincipalOrgID condition"
            );
            let (tag, args) = intrinsic(&eq["sts:ExternalId"])
                .unwrap_or_else(|| panic!("{id}: sts:ExternalId condition"));
            assert_eq!(
                tag, "If",
                "{id}: the external id is optional (!If HasExternalId)"
            );
            assert_eq!(args[0].as_str(), Some("HasExternalId"));
        }
    }
    // OrganizationId has no default: the org condition is never empty.
    assert!(member.root["Parameters"]["OrganizationId"]
        .get("Default")
        .is_none());
}

/// "The AWS managed key for Parameter Store (aws/ssm) grants Decrypt permission to
/// all IAM principals in the AWS account"
/// (https://docs.aws.amazon.com/systems-manager/latest/userguide/ps-restrict-decryption.html):
/// both member roles read parameters, so both deny decrypting through SSM, like
/// the central roles' DecryptNoOtherSecureString (a member holds no driftguard
/// parameter, so without the central exception).
#[test]
fn member_roles_never_decrypt_secure_strings() {
    let member = member();
    let central = Template::load();
    let mut central_all = Vec::new();
    statements(
        &central.resource("DetectRole")["Properties"],
        &mut central_all,
    );
    let central_deny = central_all
        .iter()
        .find(|s| s["Sid"].as_str() == Some("DecryptNoOtherSecureString"))
        .expect("the central deny");
    for id in ["RemediationRole", "ReadRole"] {
        let mut all = Vec::new();
        statements(&member.resource(id)["Properties"]["Policies"], &mut all);
        assert!(
            all.iter()
                .any(|s| s["Sid"].as_str() == Some("ReadParameters")),
            "{id} reads parameters"
        );
        let deny = all
            .iter()
            .find(|s| s["Sid"].as_str() == Some("DecryptNoOtherSecureString"))
            .unwrap_or_else(|| panic!("{id} lacks DecryptNoOtherSecureString"));
        for key in ["Effect", "Action", "Resource"] {
            assert_eq!(
                deny[key], central_deny[key],
                "{id}: {key} as in the central deny"
            );
        }
        assert_eq!(deny["Effect"].as_str(), Some("Deny"));
        assert_eq!(
            deny["Condition"]["StringLike"], central_deny["Condition"]["StringLike"],
            "{id}: kms:ViaService as in the central deny"
        );
        assert_eq!(
            deny["Condition"]["StringLike"]["kms:ViaService"].as_str(),
            Some("ssm.*.amazonaws.com")
        );
        assert!(
            deny["Condition"].get("StringNotEquals").is_none(),
            "{id}: no exception (a member has no driftguard parameter)"
        );
    }
}

/// Actions of Allow statements whose Resource is the literal "*".
fn star_resource_actions(value: &Value) -> BTreeSet<String> {
    let mut all = Vec::new();
    statements(value, &mut all);
    all.iter()
        .filter(|s| s["Effect"].as_str() == Some("Allow") && s.get("Principal").is_none())
        .filter(|s| strings(&s["Resource"]).iter().any(|r| r == "*"))
        .flat_map(|s| s.get("Action").map(strings).unwrap_or_default())
        .collect()
}

#[test]
fn member_wildcard_resource_grants_are_no_wider_than_the_central_ones() {
    let central = Template::load();
    let member = member();
    let central_star = star_resource_actions(&central.root["Resources"]);
    let member_star = star_resource_actions(&member.root["Resources"]);
    let wider: Vec<_> = member_star.difference(&central_star).collect();
    assert!(
        wider.is_empty(),
        "member Resource \"*\" actions the central template does not grant so: {wider:?}"
    );
    // No `*` or `service:*` action anywhere in the member template.
    let mut all = Vec::new();
    statements(&member.root["Resources"], &mut all);
    for s in all.iter().filter(|s| s["Effect"].as_str() == Some("Allow")) {
        for a in s.get("Action").map(strings).unwrap_or_default() {
            assert!(a != "*" && !a.ends_with(":*"), "over-broad action {a}");
        }
    }
}

#[test]
fn the_central_default_bus_admits_the_organization_only_when_asked() {
    let central = Template::load();
    let policy = central.resource("OrganizationEventsPolicy");
    assert_eq!(policy["Condition"].as_str(), Some("HasOrganization"));
    let props = &policy["Properties"];
    // The default bus: where the central detect rules listen.
    assert_eq!(props["EventBusName"].as_str(), Some("default"));
    let statement = &props["Statement"];
    assert_eq!(statement["Effect"].as_str(), Some("Allow"));
    assert_eq!(strings(&statement["Action"]), ["events:PutEvents"]);
    assert_eq!(
        intrinsic(&statement["Condition"]["StringEquals"]["aws:PrincipalOrgID"])
            .and_then(|(_, v)| v.as_str().map(String::from)),
        Some("OrganizationId".to_string()),
        "admitted by organization only"
    );
    // Empty OrganizationId (the default): no cross-account statement.
    assert_eq!(
        central.root["Parameters"]["OrganizationId"]["Default"].as_str(),
        Some("")
    );
    let (tag, args) = intrinsic(&central.root["Conditions"]["HasOrganization"]).unwrap();
    assert_eq!(tag, "Not");
    let (eq, _) = intrinsic(&args[0]).unwrap();
    assert_eq!(eq, "Equals");
}

/// The central detect and remediate reach members through their roles: with
/// `MemberAccountIds` set (and only then) they get `MEMBER_ROLE_NAME` (read
/// by `driftguard_core::config`), the accounts in `WATCHED_ACCOUNTS` after their own,
/// and `sts:AssumeRole` on that role name; the names' defaults are the member
/// template's `ReadRoleName` and `RemediationRoleName` defaults.
#[test]
fn detect_remediate_and_sweep_assume_the_member_roles_only_for_listed_member_accounts() {
    let central = Template::load();
    let member = member();
    let params = central.section("Parameters");
    let text =
        std::fs::read_to_string(driftguard_cli::emulator::workspace_root().join("template.yaml"))
            .unwrap();
    let config = std::fs::read_to_string(
        driftguard_cli::emulator::workspace_root().join("shared/core/src/config.rs"),
    )
    .unwrap();
    for (function, role, param, member_param, sid) in [
        (
            "DetectFunction",
            "DetectRole",
            "MemberReadRoleName",
            "ReadRoleName",
            "AssumeMemberReadRoles",
        ),
        (
            "RemediateFunction",
            "RemediateRole",
            "OwnRoleName",
            "RemediationRoleName",
            "AssumeMemberRemediationRoles",
        ),
        (
            "SweepFunction",
            "SweepRole",
            "MemberReadRoleName",
            "ReadRoleName",
            "SweepAssumeMemberReadRoles",
        ),
    ] {
        assert_eq!(
            params[&Value::from(param)]["Default"],
            member.root["Parameters"][member_param]["Default"],
            "central {param} default = member {member_param} default"
        );
        let env = &central.resource(function)["Properties"]["Environment"]["Variables"];
        for (var, condition, value) in [
            ("MEMBER_ROLE_NAME", "HasMemberAccounts", param),
            (
                "MEMBER_EXTERNAL_ID",
                "HasMemberExternalId",
                "MemberExternalId",
            ),
        ] {
            let (tag, args) =
                intrinsic(&env[var]).unwrap_or_else(|| panic!("{function}: {var} is an !If"));
            assert_eq!(tag, "If", "{function} {var}");
            assert_eq!(args[0].as_str(), Some(condition), "{function} {var}");
            assert_eq!(
                intrinsic(&args[1]).and_then(|(_, v)| v.as_str().map(String::from)),
                Some(value.to_string()),
                "{function} {var}"
            );
            assert!(
                config.contains(&format!("non_empty(\"{var}\")")),
                "driftguard_core::config reads {var}"
            );
        }
        // The grant: sts:AssumeRole on the role name only, under the condition.
        let mut all = Vec::new();
        statements(&central.resource(role)["Properties"], &mut all);
        let assume: Vec<_> = all
            .iter()
            .filter(|s| {
                s.get("Principal").is_none()
                    && strings(&s["Action"]).iter().any(|a| a == "sts:AssumeRole")
            })
            .collect();
        assert_eq!(assume.len(), 1, "{role}: {assume:?}");
        assert_eq!(assume[0]["Sid"].as_str(), Some(sid));
        let (_, arn) = intrinsic(&assume[0]["Resource"]).expect("Resource is a !Sub");
        assert_eq!(
            arn.as_str().map(String::from),
            Some(format!("arn:${{AWS::Partition}}:iam::*:role/${{{param}}}"))
        );
        let before: Vec<&str> = text
            .split(&format!("Sid: {sid}"))
            .next()
            .unwrap()
            .lines()
            .rev()
            .take(3)
            .map(str::trim)
            .collect();
        assert_eq!(
            before,
            ["-", "- HasMemberAccounts", "- !If"],
            "{sid} sits in an !If HasMemberAccounts"
        );
    }
    for (id, function) in central.resources_of_type("AWS::Serverless::Function") {
        if !["DetectFunction", "RemediateFunction", "SweepFunction"].contains(&id) {
            let vars = &function["Properties"]["Environment"]["Variables"];
            assert!(
                vars.get("MEMBER_ROLE_NAME").is_none(),
                "{id}: only detect, remediate and sweep assume member roles so far"
            );
        }
    }
    let watched =
        &central.root["Globals"]["Function"]["Environment"]["Variables"]["WATCHED_ACCOUNTS"];
    let (tag, args) = intrinsic(watched).expect("WATCHED_ACCOUNTS is an !If");
    assert_eq!(
        (tag.as_str(), args[0].as_str()),
        ("If", Some("HasMemberAccounts"))
    );
}
