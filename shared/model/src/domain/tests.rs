//! Unit tests of the pure domain: policy parsing, actor classification, decisions, tickets.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use chrono::{TimeZone, Utc};
use serde_json::json;

use super::change::StackHint;
use super::policy::{Policy, PolicyError};
use super::*;
use crate::testing;
use crate::testing::changes::SECURITY_GROUP;
use crate::testing::identities::console;

const EXAMPLE: &str = include_str!("../../../../policy.example.yaml");

const HOME: &str = "123456789012";

/// The example policy in the account driftguard runs in (its principals omit
/// the account: they match driftguard's own).
fn policy() -> Policy {
    Policy::from_yaml(EXAMPLE)
        .expect("example policy is valid")
        .with_home_account(HOME)
}

/// Inside the example's break-glass window (2026-03-14..21).
fn at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 16, 10, 0, 0).unwrap()
}

/// The example's own role id (`identities.own[0].unique_id`).
const OWN_ID: &str = "AROA3EXAMPLEDRIFTGRD1";

/// A session of driftguard's own role, with its AWS-set unique id.
fn own_identity(session: &str) -> Identity {
    Identity {
        principal_id: Some(format!("{OWN_ID}:{session}")),
        ..role_identity("driftguard-remediation", session)
    }
}

fn role_identity(role: &str, session: &str) -> Identity {
    Identity {
        user_agent: Some("aws-sdk-rust/1.3".into()),
        source_ip: Some("10.0.0.1".into()),
        ..testing::identities::role(role, session)
    }
}

/// `identity` authorizes ingress on `sg-0123` at [`at`].
fn sg_change(identity: Identity) -> Change {
    Change {
        time: at(),
        identity,
        request: json!({"groupId": "sg-0123"}),
        ..testing::changes::change(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            ResourceRef::new(SECURITY_GROUP, "sg-0123"),
        )
    }
}

fn managed(status: &str) -> Ownership {
    Ownership::Managed(StackMembership {
        stack_status: status.into(),
        ..testing::changes::membership("app", "WebSecurityGroup", SECURITY_GROUP)
    })
}

fn decide_for(identity: Identity, ownership: Ownership) -> Decision {
    decide_with(&policy(), &sg_change(identity), &ownership, None)
}

/// `p`'s decision on `change` (its actor classified at the change's time).
fn decide_with(
    p: &Policy,
    change: &Change,
    ownership: &Ownership,
    drift: Option<&Drift>,
) -> Decision {
    let actor = classify_actor(&change.identity, &p.identities, change.time);
    decide(
        &DecisionInput {
            change,
            actor: &actor,
            ownership,
            drift,
            account: None,
        },
        p,
    )
}

// ------------------------------------------------------------------ policy

#[test]
fn example_policy_parses() {
    let p = policy();
    assert!(p.dry_run_default());
    assert_eq!(p.rules.len(), 7);
    assert_eq!(p.rules[0].action, Action::Revert);
    assert!(!p.rules[0].dry_run);
    // rollback needs approval unless the rule says otherwise
    assert!(p.rules[5].requires_approval);
}

#[test]
fn empty_policy_is_the_safe_default() {
    let p = Policy::from_yaml("").unwrap();
    assert!(p.dry_run_default());
    assert_eq!(p.file.defaults.verdict, Action::Ticket);
}

#[test]
fn misspelled_key_is_named_with_its_line() {
    let text = "version: 1\nrules:\n  - name: a\n    verdcit: revert\n";
    let err = Policy::from_yaml(text).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("verdcit"), "{msg}");
    assert!(
        matches!(err, PolicyError::Syntax { line: 4, .. }),
        "{err:?}"
    );
}

#[test]
fn bad_values_are_named() {
    let err = Policy::from_yaml("rules:\n  - name: a\n    verdict: nuke\n").unwrap_err();
    assert!(err.to_string().contains("nuke"), "{err}");
    let err = Policy::from_yaml(
        "rules:\n  - name: a\n    match: { stacks: ['app-[' ] }\n    verdict: ticket\n",
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("rules[0].match.stacks[0]"), "{msg}");
    assert!(msg.contains("line 3"), "{msg}");
    let err = Policy::from_yaml(
        "rules:\n  - name: a\n    match: { actors: [robot] }\n    verdict: ticket\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("robot"), "{err}");
    // Version 2 (environments) is the newest: 3 does not exist.
    let err = Policy::from_yaml("version: 3\n").unwrap_err();
    assert!(err.to_string().contains("version"), "{err}");
    let err = Policy::from_yaml("protected:\n  - {}\n").unwrap_err();
    assert!(err.to_string().contains("protected[0]"), "{err}");
    let err = Policy::from_yaml(
        "rules:\n  - name: a\n    verdict: ticket\n  - name: a\n    verdict: allow\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("rules[1].name"), "{err}");
}

#[test]
fn change_set_reverts_others_defaults_to_fall_back_and_rejects_other_values() {
    use crate::domain::policy::RevertsOthers;
    let p = Policy::from_yaml("").unwrap();
    assert_eq!(
        p.remediation().change_set_reverts_others,
        RevertsOthers::FallBack
    );
    let p =
        Policy::from_yaml("remediation:\n  change_set_reverts_others: require_approval\n").unwrap();
    assert_eq!(
        p.remediation().change_set_reverts_others,
        RevertsOthers::RequireApproval
    );
    let err =
        Policy::from_yaml("version: 1\nremediation:\n  change_set_reverts_others: revert_all\n")
            .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("revert_all"), "{msg}");
    assert!(msg.contains("line 3"), "{msg}");
}

#[test]
fn break_glass_window_must_be_ordered() {
    let text = "identities:\n  break_glass:\n    - principal: 'arn:aws:iam::*:role/B'\n      not_before: 2026-02-01T00:00:00Z\n      not_after: 2026-01-01T00:00:00Z\n";
    let err = Policy::from_yaml(text).unwrap_err();
    assert!(err.to_string().contains("not_after"), "{err}");
}

#[test]
fn rules_match_on_every_field() {
    let text = r#"
rules:
  - name: prod-sg
    match:
      accounts: ["1234*"]
      regions: ["us-*"]
      stacks: ["app"]
      resource_types: ["AWS::EC2::*"]
      actors: [console]
      sources: [cloudtrail]
      operations: ["ec2:Authorize*"]
      property_paths: ["/SecurityGroupIngress*"]
      tags: { env: "prod*" }
    verdict: revert
"#;
    let p = Policy::from_yaml(text).unwrap();
    let tags = [("env".to_string(), "production".to_string())]
        .into_iter()
        .collect();
    let facts = policy::MatchFacts {
        account: "123456789012",
        region: "us-east-1",
        stack: Some("app"),
        logical_id: Some("Sg"),
        resource_type: Some("AWS::EC2::SecurityGroup"),
        physical_id: Some("sg-1"),
        actor: Some(ActorKind::Console),
        source: Some(ChangeSource::Cloudtrail),
        operation: Some("ec2:AuthorizeSecurityGroupIngress"),
        property_paths: vec!["/SecurityGroupIngress/0"],
        tags: Some(&tags),
        ..Default::default()
    };
    assert_eq!(
        p.first_match(&facts).map(|r| r.name.as_str()),
        Some("prod-sg")
    );
    for broken in [
        policy::MatchFacts {
            region: "eu-west-1",
            ..facts.clone()
        },
        policy::MatchFacts {
            stack: Some("other"),
            ..facts.clone()
        },
        policy::MatchFacts {
            actor: Some(ActorKind::Human),
            ..facts.clone()
        },
        policy::MatchFacts {
            property_paths: vec!["/Tags"],
            ..facts.clone()
        },
        policy::MatchFacts {
            tags: None,
            ..facts.clone()
        },
        policy::MatchFacts {
            operation: Some("ec2:RevokeSecurityGroupIngress"),
            ..facts.clone()
        },
    ] {
        assert!(p.first_match(&broken).is_none(), "{broken:?}");
    }
}

// ------------------------------------------------------------------ actors

#[test]
fn classifies_every_kind_with_evidence() {
    let p = policy();
    let cases = [
        (console(), ActorKind::Console),
        (
            role_identity("deploy-pipeline", "codepipeline-deploy"),
            ActorKind::Pipeline,
        ),
        (own_identity("driftguard-remediate"), ActorKind::Driftguard),
        (
            role_identity("BreakGlass", "oncall-carol"),
            ActorKind::BreakGlass,
        ),
        (
            role_identity("some-batch-job", "job-42"),
            ActorKind::Automation,
        ),
        (
            Identity {
                identity_type: Some("IAMUser".into()),
                principal_arn: Some("arn:aws:iam::123456789012:user/bob".into()),
                user_agent: Some("aws-cli/2.22.0".into()),
                ..Default::default()
            },
            ActorKind::Human,
        ),
        (
            Identity {
                identity_type: Some("AssumedRole".into()),
                invoked_by: Some("cloudformation.amazonaws.com".into()),
                ..role_identity("cfn-service-role", "AWSCloudFormation")
            },
            ActorKind::Cloudformation,
        ),
        (
            Identity {
                source_ip: Some("cloudformation.amazonaws.com".into()),
                ..console()
            },
            ActorKind::Cloudformation,
        ),
        (
            Identity {
                identity_type: Some("AWSService".into()),
                invoked_by: Some("config.amazonaws.com".into()),
                ..Default::default()
            },
            ActorKind::Automation,
        ),
        (Identity::default(), ActorKind::Unknown),
    ];
    for (identity, kind) in cases {
        let actor = classify_actor(&identity, &p.identities, at());
        assert_eq!(actor.kind, kind, "{identity:?} → {actor:?}");
        assert!(!actor.evidence.is_empty(), "evidence for {kind}");
    }
}

#[test]
fn break_glass_outside_its_window_is_not_break_glass() {
    let p = policy();
    let late = Utc.with_ymd_and_hms(2031, 1, 1, 0, 0, 0).unwrap();
    let actor = classify_actor(
        &role_identity("BreakGlass", "oncall-carol"),
        &p.identities,
        late,
    );
    assert_eq!(actor.kind, ActorKind::Automation);
    assert!(
        actor.evidence.iter().any(|e| e.contains("outside")),
        "{actor:?}"
    );
}

#[test]
fn own_role_is_matched_on_the_role_not_a_spoofable_session_name() {
    let p = policy();
    // Anyone can name a session "driftguard-remediate"; only the role counts.
    let actor = classify_actor(
        &role_identity("attacker", "driftguard-remediate"),
        &p.identities,
        at(),
    );
    assert_ne!(actor.kind, ActorKind::Driftguard);
}

// ------------------------------------------------------------------ decisions

#[test]
fn console_change_to_managed_sg_is_reverted_per_policy() {
    let d = decide_for(console(), managed("UPDATE_COMPLETE"));
    assert_eq!(d.verdict.action, Action::Revert);
    assert_eq!(d.verdict.rule.as_deref(), Some("open-ingress-is-reverted"));
    assert!(!d.verdict.dry_run);
    assert_eq!(d.verdict.severity, Severity::High);
    assert!(d.held.is_none());
}

#[test]
fn own_and_cloudformation_changes_are_ignored_and_pipeline_allowed() {
    let d = decide_for(own_identity("x"), managed("UPDATE_COMPLETE"));
    assert_eq!(d.verdict.action, Action::Ignore);
    let cfn = Identity {
        invoked_by: Some("cloudformation.amazonaws.com".into()),
        ..console()
    };
    assert_eq!(
        decide_for(cfn, managed("UPDATE_COMPLETE")).verdict.action,
        Action::Ignore
    );
    let d = decide_for(
        role_identity("deploy-pipeline", "codepipeline-deploy"),
        managed("UPDATE_COMPLETE"),
    );
    assert_eq!(d.verdict.action, Action::Allow);
}

#[test]
fn break_glass_is_ticketed_never_reverted() {
    let d = decide_for(
        role_identity("BreakGlass", "oncall-carol"),
        managed("UPDATE_COMPLETE"),
    );
    assert_eq!(d.verdict.action, Action::Ticket);
}

/// Unmanaged resources are a policy decision (issue 13, item 8): ticketed
/// with low severity by default and never remediated, even when a rule says
/// revert; `unmanaged: ignore` ignores them.
#[test]
fn unmanaged_is_ticketed_never_remediated_and_unknown_ownership_never_acts() {
    let d = decide_for(console(), Ownership::Unmanaged);
    assert_eq!(d.verdict.action, Action::Ticket);
    assert!(!d.verdict.action.acts());
    assert_eq!(d.verdict.capped_from, Some(Action::Revert), "{d:?}");
    let bare = Policy::default();
    let change = sg_change(console());
    let actor = classify_actor(&change.identity, &bare.identities, change.time);
    let input = DecisionInput {
        change: &change,
        actor: &actor,
        ownership: &Ownership::Unmanaged,
        drift: None,
        account: None,
    };
    let d = decide(&input, &bare);
    assert_eq!(
        (d.verdict.action, d.verdict.severity),
        (Action::Ticket, Severity::Low)
    );
    let ignoring = Policy::from_yaml("unmanaged: ignore\n").unwrap();
    assert_eq!(decide(&input, &ignoring).verdict.action, Action::Ignore);
    let by_rule = Policy::from_yaml(
        "rules:\n  - name: unmanaged-sg\n    match: { ownership: [unmanaged] }\n    verdict: revert\n    severity: critical\n",
    )
    .unwrap();
    let d = decide(&input, &by_rule);
    assert_eq!(d.verdict.rule.as_deref(), Some("unmanaged-sg"));
    assert_eq!(
        (d.verdict.action, d.verdict.severity),
        (Action::Ticket, Severity::Critical)
    );
    let d = decide_for(
        console(),
        Ownership::Unknown {
            reason: "lookup failed".into(),
        },
    );
    assert_eq!(d.verdict.action, Action::Ticket);
    assert_eq!(d.verdict.capped_from, Some(Action::Revert));
    assert!(d.verdict.reason.contains("ownership not proven"));
}

#[test]
fn protected_resources_are_capped_to_ticket() {
    let text = format!("{EXAMPLE}\n");
    let text = text.replace(
        "  - type: \"AWS::KMS::Key\"",
        "  - type: \"AWS::KMS::Key\"\n  - physical_id: \"sg-0123\"",
    );
    let p = Policy::from_yaml(&text).unwrap();
    let own = managed("UPDATE_COMPLETE");
    let d = decide_with(&p, &sg_change(console()), &own, None);
    assert_eq!(d.verdict.action, Action::Ticket);
    assert!(d.verdict.reason.contains("protected"));
}

#[test]
fn stack_operation_in_progress_holds_the_decision() {
    let d = decide_for(console(), managed("UPDATE_IN_PROGRESS"));
    assert!(d.held.as_deref().unwrap().contains("in progress"));
}

#[test]
fn a_cloudformation_call_on_a_resource_of_unknown_owner_is_a_ticket_not_ignored() {
    // Issue 34 item 8: the owner could not be established, so nothing proves
    // the call was CloudFormation deploying its own stack.
    let cfn = Identity {
        invoked_by: Some("cloudformation.amazonaws.com".into()),
        ..console()
    };
    let unknown = Ownership::Unknown {
        reason: "two stacks own the identifier".into(),
    };
    let d = decide_for(cfn, unknown);
    assert_eq!(d.verdict.action, Action::Ticket, "{:?}", d.verdict);
}

#[test]
fn in_sync_per_cloudformation_is_ignored() {
    let own = managed("UPDATE_COMPLETE");
    let drift = Drift {
        status: DriftStatus::InSync,
        differences: vec![],
        expected_properties: None,
        actual_properties: None,
        origin: DriftOrigin::Cloudformation,
        detected_at: None,
    };
    let d = decide_with(&policy(), &sg_change(console()), &own, Some(&drift));
    assert_eq!(d.verdict.action, Action::Ignore);
}

#[test]
fn failed_stack_status_goes_to_the_policy_for_rollback() {
    let p = policy();
    let mut change = sg_change(Identity {
        invoked_by: Some("cloudformation.amazonaws.com".into()),
        ..Default::default()
    });
    change.source = ChangeSource::CloudformationStack;
    change.stack_hint = Some(StackHint {
        stack: "app".into(),
        logical_id: None,
        status: Some("UPDATE_ROLLBACK_FAILED".into()),
    });
    let actor = classify_actor(&change.identity, &p.identities, at());
    assert_eq!(actor.kind, ActorKind::Cloudformation);
    let d = decide_with(&p, &change, &Ownership::NotChecked, None);
    assert_eq!(d.verdict.action, Action::Rollback);
    assert!(d.verdict.requires_approval);
}

// ------------------------------------------------------------------ tickets

#[test]
fn fingerprint_is_stable_and_distinguishes_resources() {
    let change = sg_change(console());
    let a = Fingerprint::for_change(&change, &managed("UPDATE_COMPLETE"));
    let b = Fingerprint::for_change(&change, &managed("UPDATE_IN_PROGRESS"));
    assert_eq!(
        a.ticket_id(),
        b.ticket_id(),
        "status does not change identity"
    );
    assert!(a.ticket_id().starts_with("DG-"));
    // Issue 34, item 7: a 128-bit key; the display id is the former 15-character id.
    assert_eq!(a.ticket_id().len(), 3 + 32);
    assert_eq!(a.display_id().len(), 15);
    let unmanaged = Fingerprint::for_change(&change, &Ownership::Unmanaged);
    assert_ne!(a.ticket_id(), unmanaged.ticket_id());
    assert_eq!(unmanaged.logical_id, "sg-0123");
}

#[test]
fn ticket_transitions_and_reopen() {
    let change = sg_change(console());
    let own = managed("UPDATE_COMPLETE");
    let mut t = Ticket::new(Fingerprint::for_change(&change, &own), &change, &own, at());
    assert!(t
        .transition(TicketState::Remediating, "revert", at())
        .unwrap());
    assert!(!t
        .transition(TicketState::Remediating, "again", at())
        .unwrap());
    assert!(t
        .transition(TicketState::AwaitingApproval, "no", at())
        .is_err());
    t.transition(TicketState::Resolved, "in sync", at())
        .unwrap();
    t.transition(TicketState::Open, "drifted again", at())
        .unwrap();
    assert_eq!(t.reopened, 1);
    assert_eq!(t.history.len(), 3);
}

#[test]
fn ticket_history_is_bounded() {
    let change = sg_change(console());
    let own = managed("UPDATE_COMPLETE");
    let mut t = Ticket::new(Fingerprint::for_change(&change, &own), &change, &own, at());
    for i in 0..(ticket::MAX_HISTORY + 7) {
        t.push(TicketEntry {
            at: at(),
            kind: ticket::EntryKind::Note,
            event_id: Some(format!("e{i}")),
            summary: "x".into(),
            actor: None,
            data: serde_json::Value::Null,
        });
    }
    assert_eq!(t.history.len(), ticket::MAX_HISTORY);
    assert_eq!(t.history_dropped, 7);
}

#[test]
fn serialized_names_are_the_documented_ones() {
    assert_eq!(
        serde_json::to_value(ActorKind::BreakGlass).unwrap(),
        json!("break_glass")
    );
    assert_eq!(
        serde_json::to_value(Action::Rollback).unwrap(),
        json!("rollback")
    );
    assert_eq!(
        serde_json::to_value(TicketState::AwaitingApproval).unwrap(),
        json!("AWAITING_APPROVAL")
    );
    for k in ActorKind::ALL {
        assert_eq!(serde_json::to_value(k).unwrap(), json!(k.as_str()));
    }
}

// ------------------------------------------------------------ trust (issue 12)

fn user_identity(arn: &str) -> Identity {
    Identity {
        identity_type: Some("IAMUser".into()),
        principal_arn: Some(arn.into()),
        user_agent: Some("aws-cli/2.22.0".into()),
        ..Default::default()
    }
}

fn role_at(path_and_name: &str, session: &str) -> Identity {
    let name = path_and_name.rsplit('/').next().unwrap();
    Identity {
        session_issuer_arn: Some(format!("arn:aws:iam::{HOME}:role/{path_and_name}")),
        ..role_identity(name, session)
    }
}

const TRUSTED: [ActorKind; 4] = [
    ActorKind::Pipeline,
    ActorKind::Cloudformation,
    ActorKind::Driftguard,
    ActorKind::BreakGlass,
];

/// The note says what the header claims, in any letter case, and never
/// more than that it is caller-set.
#[test]
fn the_user_agent_note_names_the_claim_in_any_case() {
    let p = policy();
    for (agent, says) in [
        ("CloudFormation.amazonaws.com", "says CloudFormation"),
        ("aws-sdk-java CLOUDFORMATION", "says CloudFormation"),
        ("Console.AmazonAWS.com", "says console"),
        ("aws internal/3 aws-sdk-java", "says console"),
        ("AWS Internal", "says console"),
        ("sdk AWS Internal", "(caller-set)"),
        ("aws inter", "(caller-set)"),
        ("cloudformatio", "(caller-set)"),
        ("", "(caller-set)"),
    ] {
        let identity = Identity {
            user_agent: Some(agent.into()),
            ..user_identity("arn:aws:iam::123456789012:user/mallory")
        };
        let actor = classify_actor(&identity, &p.identities, at());
        let note = actor.evidence.iter().find(|e| e.starts_with("userAgent="));
        let suffix = match says {
            "(caller-set)" => says.to_string(),
            _ => format!("({says}; caller-set, not trusted)"),
        };
        let expected = format!("userAgent={agent} {suffix}");
        assert_eq!(note, Some(&expected), "{agent}");
    }
}

#[test]
fn a_forged_user_agent_never_makes_a_trusted_actor() {
    let p = policy();
    for agent in [
        "cloudformation.amazonaws.com",
        "CloudFormation.amazonaws.com",
        "console.amazonaws.com",
        "AWS Internal",
        "driftguard/1.0",
        "codepipeline.amazonaws.com",
    ] {
        for base in [
            user_identity("arn:aws:iam::123456789012:user/mallory"),
            role_identity("dev-admin", "mallory"),
        ] {
            let identity = Identity {
                user_agent: Some(agent.into()),
                ..base
            };
            let actor = classify_actor(&identity, &p.identities, at());
            assert!(!TRUSTED.contains(&actor.kind), "{agent}: {actor:?}");
            assert_ne!(
                actor.kind,
                ActorKind::Console,
                "{agent}: the header is caller-set"
            );
            assert!(
                actor.evidence.iter().any(|e| e.contains("caller-set")),
                "{actor:?}"
            );
        }
    }
}

#[test]
fn cloudformation_is_recognised_by_aws_set_fields_exactly() {
    let p = policy();
    // A service-role call as recorded (panther-labs/pypanther,
    // pypanther/rules/aws_cloudtrail_rules/aws_iam_entity_created_without_cloudformation.py):
    // "invokedBy": "cloudformation.amazonaws.com" with the service role's session.
    let service_role = Identity {
        invoked_by: Some("cloudformation.amazonaws.com".into()),
        source_ip: Some("cloudformation.amazonaws.com".into()),
        ..role_identity("cfn-exec", "AWSCloudFormation")
    };
    let a = classify_actor(&service_role, &p.identities, at());
    assert_eq!(a.kind, ActorKind::Cloudformation);
    assert!(a.evidence[0].contains("with its service role"), "{a:?}");
    // Without a service role CloudFormation uses the caller's credentials
    // (a forward access session): still invokedBy, the caller's ARN shown.
    let fas = Identity {
        invoked_by: Some("cloudformation.amazonaws.com".into()),
        ..user_identity("arn:aws:iam::123456789012:user/john.doe")
    };
    let a = classify_actor(&fas, &p.identities, at());
    assert_eq!(a.kind, ActorKind::Cloudformation);
    assert!(a.evidence[0].contains("caller's credentials"), "{a:?}");
    for look_alike in [
        "CloudFormation.amazonaws.com",
        "cloudformation.amazonaws.com.",
        "cloudformation.amazonaws.com ",
        " cloudformation.amazonaws.com",
        "cloudformat\u{0456}on.amazonaws.com",
        "cloudformation.amazonaws.com.evil.example",
    ] {
        for identity in [
            Identity {
                invoked_by: Some(look_alike.into()),
                ..role_identity("dev-admin", "m")
            },
            Identity {
                source_ip: Some(look_alike.into()),
                ..user_identity("arn:aws:iam::123456789012:user/m")
            },
        ] {
            let a = classify_actor(&identity, &p.identities, at());
            assert_ne!(a.kind, ActorKind::Cloudformation, "{look_alike:?}");
        }
    }
}

#[test]
fn principal_patterns_match_structure_not_text() {
    let p = policy();
    let cases = [
        // A user whose path ends in `:role/` is a user.
        user_identity("arn:aws:iam::123456789012:user/a:role/deploy-pipeline"),
        user_identity("arn:aws:iam::123456789012:user/x:role/driftguard-remediation"),
        user_identity("arn:aws:iam::123456789012:user/x:role/BreakGlass"),
        // `*` never crosses `/`: a role at path /cdk-x-cfn-exec-role-y/.
        role_at("cdk-x-cfn-exec-role-y/dev-admin", "s"),
        // Same name, other path.
        role_at("sandbox/deploy-pipeline", "codepipeline-deploy"),
        // Same name, other account.
        Identity {
            principal_arn: Some(
                "arn:aws:sts::210987654321:assumed-role/deploy-pipeline/codepipeline-deploy".into(),
            ),
            session_issuer_arn: Some("arn:aws:iam::210987654321:role/deploy-pipeline".into()),
            ..role_identity("deploy-pipeline", "codepipeline-deploy")
        },
        // A session ARN and an issuer that disagree.
        Identity {
            session_issuer_arn: Some("arn:aws:iam::123456789012:role/deploy-pipeline".into()),
            ..role_identity("dev-admin", "x")
        },
    ];
    for identity in cases {
        let a = classify_actor(&identity, &p.identities, at());
        assert!(!TRUSTED.contains(&a.kind), "{identity:?} → {a:?}");
    }
    let good = classify_actor(
        &role_identity("deploy-pipeline", "codepipeline-deploy"),
        &p.identities,
        at(),
    );
    assert_eq!(good.kind, ActorKind::Pipeline);
    // Issue 34, item 3: the example no longer names CDK's exec role (only
    // CloudFormation assumes it, and its calls say so): a role so named is
    // anyone's automation.
    let cdk = classify_actor(
        &role_identity("cdk-hnb659fds-cfn-exec-role-123456789012-us-east-1", "s"),
        &p.identities,
        at(),
    );
    assert_eq!(cdk.kind, ActorKind::Automation);
    // Without knowing driftguard's account, account-less patterns match nothing.
    let homeless = Policy::from_yaml(EXAMPLE).unwrap();
    let a = classify_actor(
        &role_identity("deploy-pipeline", "x"),
        &homeless.identities,
        at(),
    );
    assert_eq!(a.kind, ActorKind::Automation);
}

#[test]
fn a_person_in_the_console_is_never_the_pipeline_or_driftguard() {
    let p = policy();
    for (role, class) in [
        ("deploy-pipeline", "a pipeline principal"),
        ("driftguard-remediation", "driftguard's own role"),
    ] {
        let identity = Identity {
            console_session: true,
            principal_id: Some(format!("{OWN_ID}:alice")),
            ..role_identity(role, "alice")
        };
        let a = classify_actor(&identity, &p.identities, at());
        assert_eq!(a.kind, ActorKind::Console, "{a:?}");
        assert!(
            a.evidence
                .iter()
                .any(|e| e.starts_with(&format!("acting with {class}"))),
            "{a:?}"
        );
    }
    // Break-glass is a person with the break-glass role inside its window.
    let bg = Identity {
        console_session: true,
        ..role_identity("BreakGlass", "oncall-carol")
    };
    assert_eq!(
        classify_actor(&bg, &p.identities, at()).kind,
        ActorKind::BreakGlass
    );
    let late = Utc.with_ymd_and_hms(2031, 1, 1, 0, 0, 0).unwrap();
    assert_eq!(
        classify_actor(&bg, &p.identities, late).kind,
        ActorKind::Console
    );
}

#[test]
fn session_names_only_narrow_a_principal() {
    let e = Policy::from_yaml("identities:\n  own:\n    - session_name: 'driftguard-*'\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("identities.own[0].principal") && e.contains("caller"),
        "{e}"
    );
    let p = Policy::from_yaml(
        "identities:\n  pipeline:\n    - principal: role/deploy\n      session_name: 'codepipeline-*'\n",
    )
    .unwrap()
    .with_home_account(HOME);
    assert!(p
        .identities
        .pipeline_match(&role_identity("deploy", "codepipeline-1"))
        .is_some());
    assert!(p
        .identities
        .pipeline_match(&role_identity("deploy", "alice"))
        .is_none());
    assert!(p
        .identities
        .pipeline_match(&role_identity("other", "codepipeline-1"))
        .is_none());
}

#[test]
fn a_role_can_be_pinned_to_its_unique_id() {
    let p = Policy::from_yaml(
        "identities:\n  pipeline:\n    - principal: role/deploy\n      unique_id: AROA3EXAMPLEDEPLOY01\n",
    )
    .unwrap()
    .with_home_account(HOME);
    let with_id = |id: &str| Identity {
        principal_id: Some(format!("{id}:codepipeline-1")),
        ..role_identity("deploy", "codepipeline-1")
    };
    assert!(p
        .identities
        .pipeline_match(&with_id("AROA3EXAMPLEDEPLOY01"))
        .is_some());
    // Deleted and re-created under the same name: a new id, not the pipeline.
    assert!(p
        .identities
        .pipeline_match(&with_id("AROA3EXAMPLEDEPLOY99"))
        .is_none());
    assert!(p
        .identities
        .pipeline_match(&role_identity("deploy", "codepipeline-1"))
        .is_none());
    let e = Policy::from_yaml(
        "identities:\n  pipeline:\n    - principal: role/deploy\n      unique_id: deploy\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("unique_id"), "{e}");
}

#[test]
fn an_any_account_pattern_is_warned_about_and_bad_patterns_are_errors() {
    assert!(policy().warnings().is_empty(), "{:?}", policy().warnings());
    // Pinned by its unique id (an own entry for any account needs one, see
    // policy/pinning_tests.rs), still warned about.
    let p = Policy::from_yaml(
        "identities:\n  own:\n    - principal: 'arn:aws:iam::*:role/driftguard-remediation'\n      unique_id: AROA3EXAMPLEDRIFTGRD1\n",
    )
    .unwrap();
    let w = p.warnings();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].key, "identities.own[0].principal");
    assert!(w[0].to_string().contains("every AWS account"), "{}", w[0]);
    for bad in [
        "arn:aws:sts::*:assumed-role/deploy/*",
        "arn:aws:iam::*:role/deploy*",
        "deploy-pipeline",
        "arn:aws:iam::1234:role/x",
    ] {
        let text = format!("identities:\n  pipeline:\n    - principal: '{bad}'\n");
        match Policy::from_yaml(&text) {
            Err(e) => assert!(
                e.to_string().contains("identities.pipeline[0].principal"),
                "{e}"
            ),
            // `deploy*` is a legal name glob: it must not cross `/`.
            Ok(p) => {
                let p = p.with_home_account(HOME);
                assert!(p
                    .identities
                    .pipeline_match(&role_at("deploy/evil", "s"))
                    .is_none());
            }
        }
    }
}
