//! People and AWS's own services (issue 34 items 1, 2, 5): each way a person
//! is recognised from AWS-set fields, a person with the pipeline's role,
//! service-linked roles and security services, and the `aws_service` default.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use chrono::{TimeZone, Utc};
use serde_json::json;

use super::policy::Policy;
use super::*;
use crate::testing;
use crate::testing::changes::SECURITY_GROUP;
use crate::testing::policies::{policy, sg_revert, OWN, PIPELINE};

const HOME: &str = "123456789012";
const PEOPLE: &str = r#"  people: [{ principal: "role/okta-engineer" }]"#;

fn rules(extra_rules: &[&str]) -> Policy {
    let sg = sg_revert("console, human, automation", true);
    let mut all = vec![sg.as_str()];
    all.extend_from_slice(extra_rules);
    Policy::from_yaml(&policy(1, &[OWN, PIPELINE, PEOPLE], &all))
        .unwrap()
        .with_home_account(HOME)
}

fn at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap()
}

fn role(name: &str, session: &str) -> Identity {
    testing::identities::role(name, session)
}

fn classify(p: &Policy, identity: &Identity) -> Actor {
    classify_actor(identity, &p.identities, at())
}

fn kind_and_evidence(identity: &Identity) -> (ActorKind, String) {
    let a = classify(&rules(&[]), identity);
    (a.kind, a.evidence.join(" | "))
}

#[test]
fn a_saml_role_is_people_only_when_the_policy_says_so() {
    let (kind, why) = kind_and_evidence(&role("okta-engineer", "alice@example.com"));
    assert_eq!(kind, ActorKind::Human, "{why}");
    assert!(why.contains("identities.people"), "{why}");
    let (kind, _) = kind_and_evidence(&role("okta-engineer-2", "alice@example.com"));
    assert_eq!(kind, ActorKind::Automation);
}

#[test]
fn a_source_identity_names_a_person_even_through_role_chaining() {
    let identity = Identity {
        source_identity: Some("alice@example.com".into()),
        ..role("app-deployer", "chained")
    };
    let (kind, why) = kind_and_evidence(&identity);
    assert_eq!(kind, ActorKind::Human, "{why}");
    assert!(why.contains("sourceIdentity=alice@example.com"), "{why}");
}

#[test]
fn a_person_with_the_pipeline_role_is_that_person() {
    let identity = Identity {
        source_identity: Some("alice@example.com".into()),
        ..role("deploy-pipeline", "laptop")
    };
    let (kind, why) = kind_and_evidence(&identity);
    assert_eq!(kind, ActorKind::Human, "{why}");
    assert!(why.contains("acting with a pipeline principal"), "{why}");
    // Without a person's evidence the role is still the pipeline's.
    let (kind, _) = kind_and_evidence(&role("deploy-pipeline", "codepipeline"));
    assert_eq!(kind, ActorKind::Pipeline);
    // Nor does a people pattern outrank the pipeline's own role.
    let (kind, _) = kind_and_evidence(&role("driftguard-remediation", "driftguard-remediate"));
    assert_eq!(kind, ActorKind::Driftguard);
}

#[test]
fn an_identity_center_user_on_whose_behalf_a_role_acts_is_a_person() {
    let identity = Identity {
        on_behalf_of: Some("94482488-3041-7026-18f3-be45837cd0e4".into()),
        ..role("DataAnalystRole", "example-user-1")
    };
    let (kind, why) = kind_and_evidence(&identity);
    assert_eq!(kind, ActorKind::Human, "{why}");
    assert!(why.contains("onBehalfOf.userId="), "{why}");
}

#[test]
fn identity_center_roles_are_people_only_at_identity_centers_path() {
    let sso = "AWSReservedSSO_PowerUser_0123456789abcdef";
    let genuine = Identity {
        session_issuer_arn: Some(format!(
            "arn:aws:iam::{HOME}:role/aws-reserved/sso.amazonaws.com/{sso}"
        )),
        ..role(sso, "alice@example.com")
    };
    let (kind, why) = kind_and_evidence(&genuine);
    assert_eq!(kind, ActorKind::Human, "{why}");
    // The same name at `/`: a role anyone with iam:CreateRole can make.
    let (kind, _) = kind_and_evidence(&role(sso, "alice@example.com"));
    assert_eq!(kind, ActorKind::Automation);
}

#[test]
fn a_person_relayed_by_ssm_automation_is_that_person() {
    let user = Identity {
        identity_type: Some("IAMUser".into()),
        principal_arn: Some(format!("arn:aws:iam::{HOME}:user/alice")),
        invoked_by: Some("ssm.amazonaws.com".into()),
        ..Identity::default()
    };
    let (kind, why) = kind_and_evidence(&user);
    assert_eq!(kind, ActorKind::Human, "{why}");
    assert!(why.contains("relayed"), "{why}");
    // A runbook's own assume role relayed by SSM stays automation: anyone
    // may start a runbook.
    let runbook = Identity {
        invoked_by: Some("ssm.amazonaws.com".into()),
        ..role("ConfigRemediationRole", "e7f1b0c4")
    };
    assert_eq!(kind_and_evidence(&runbook).0, ActorKind::Automation);
}

#[test]
fn only_service_linked_roles_called_by_their_service_are_aws_service() {
    let slr = Identity {
        session_issuer_arn: Some(format!(
            "arn:aws:iam::{HOME}:role/aws-service-role/elasticloadbalancing.amazonaws.com/AWSServiceRoleForElasticLoadBalancing"
        )),
        invoked_by: Some("elasticloadbalancing.amazonaws.com".into()),
        ..role("AWSServiceRoleForElasticLoadBalancing", "ELB")
    };
    let (kind, why) = kind_and_evidence(&slr);
    assert_eq!(kind, ActorKind::AwsService, "{why}");
    assert!(why.contains("service-linked role"), "{why}");
    // Another service's invokedBy on it (a service it drives): not AWS's own.
    let driven = Identity {
        invoked_by: Some("application-autoscaling.amazonaws.com".into()),
        ..slr.clone()
    };
    assert_eq!(kind_and_evidence(&driven).0, ActorKind::Automation);
    // The path without a service's invokedBy: somebody's role at that path.
    let direct = Identity {
        invoked_by: None,
        ..slr.clone()
    };
    assert_eq!(kind_and_evidence(&direct).0, ActorKind::Automation);
    // A security service's invokedBy on a customer role: the service relayed
    // that role's credentials (AWS review): the role's call, not AWS's own.
    let hub = Identity {
        invoked_by: Some("securityhub.amazonaws.com".into()),
        ..role("SecurityHubRemediation", "s")
    };
    assert_eq!(kind_and_evidence(&hub).0, ActorKind::Automation);
    // A look-alike path or service is not AWS.
    let lookalike = Identity {
        session_issuer_arn: Some(format!(
            "arn:aws:iam::{HOME}:role/aws-service-role-x/AWSServiceRoleForFMS"
        )),
        invoked_by: Some("FMS.amazonaws.com".into()),
        ..role("AWSServiceRoleForFMS", "FMSSession")
    };
    assert_eq!(kind_and_evidence(&lookalike).0, ActorKind::Automation);
}

fn sg_decision(p: &Policy, identity: Identity) -> Decision {
    let change = Change {
        time: at(),
        identity,
        request: json!({"groupId": "sg-0123"}),
        ..testing::changes::change(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            ResourceRef::new(SECURITY_GROUP, "sg-0123"),
        )
    };
    let ownership = Ownership::Managed(testing::changes::membership(
        "app",
        "WebSecurityGroup",
        SECURITY_GROUP,
    ));
    let actor = classify(p, &change.identity);
    decide(
        &DecisionInput {
            change: &change,
            actor: &actor,
            ownership: &ownership,
            drift: None,
            account: None,
        },
        p,
    )
}

/// Firewall Manager's service-linked role, on a call Firewall Manager made.
fn fms() -> Identity {
    Identity {
        session_issuer_arn: Some(format!(
            "arn:aws:iam::{HOME}:role/aws-service-role/fms.amazonaws.com/AWSServiceRoleForFMS"
        )),
        invoked_by: Some("fms.amazonaws.com".into()),
        ..role("AWSServiceRoleForFMS", "FMSSession")
    }
}

#[test]
fn aws_service_is_ticketed_unless_a_rule_names_it() {
    // A rule without `actors` matches every kind, but does not act on AWS.
    let catch_all = "  - name: all-reverted\n    verdict: revert\n    dry_run: false\n";
    let p = rules(&[catch_all]);
    let d = sg_decision(&p, fms());
    assert_eq!(d.verdict.action, Action::Ticket, "{}", d.verdict.reason);
    assert_eq!(d.verdict.capped_from, Some(Action::Revert));
    assert!(
        d.verdict.reason.contains("aws_service"),
        "{}",
        d.verdict.reason
    );
    // A rule naming it does.
    let p = rules(&[]);
    let named = sg_revert("aws_service", true);
    let p2 = Policy::from_yaml(&policy(1, &[OWN, PIPELINE], &[&named]))
        .unwrap()
        .with_home_account(HOME);
    assert_eq!(sg_decision(&p2, fms()).verdict.action, Action::Revert);
    // The default verdict (no rule matches) stays the policy's ticket.
    assert_eq!(sg_decision(&p, fms()).verdict.action, Action::Ticket);
}
