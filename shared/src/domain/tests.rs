//! Unit tests of the pure domain: policy parsing, actor classification, decisions, tickets.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use chrono::{TimeZone, Utc};
use serde_json::json;

use super::change::StackHint;
use super::*;

const EXAMPLE: &str = include_str!("../../../policy.example.yaml");

fn policy() -> Policy {
    Policy::from_yaml(EXAMPLE).expect("example policy is valid")
}

fn at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap()
}

fn console_identity() -> Identity {
    Identity {
        identity_type: Some("AssumedRole".into()),
        principal_arn: Some("arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com".into()),
        session_issuer_arn: Some("arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123456789abcdef".into()),
        session_name: Some("alice@example.com".into()),
        user_agent: Some("AWS Internal".into()),
        source_ip: Some("198.51.100.7".into()),
        console_session: true,
        ..Default::default()
    }
}

fn role_identity(role: &str, session: &str) -> Identity {
    Identity {
        identity_type: Some("AssumedRole".into()),
        principal_arn: Some(format!(
            "arn:aws:sts::123456789012:assumed-role/{role}/{session}"
        )),
        session_issuer_arn: Some(format!("arn:aws:iam::123456789012:role/{role}")),
        session_name: Some(session.into()),
        user_agent: Some("aws-sdk-rust/1.3".into()),
        source_ip: Some("10.0.0.1".into()),
        ..Default::default()
    }
}

fn sg_change(identity: Identity) -> Change {
    Change {
        event_id: "e-1".into(),
        time: at(),
        account: "123456789012".into(),
        region: "us-east-1".into(),
        source: ChangeSource::Cloudtrail,
        service: "ec2".into(),
        operation: "AuthorizeSecurityGroupIngress".into(),
        resource: ResourceRef::new("AWS::EC2::SecurityGroup", "sg-0123"),
        identity,
        request: json!({"groupId": "sg-0123"}),
        response: serde_json::Value::Null,
        stack_hint: None,
        drift_hint: None,
    }
}

fn managed(status: &str) -> Ownership {
    Ownership::Managed(StackMembership {
        stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1".into(),
        stack_name: "app".into(),
        logical_id: "WebSecurityGroup".into(),
        resource_type: Some("AWS::EC2::SecurityGroup".into()),
        stack_status: status.into(),
        stack_tags: Default::default(),
        nested: None,
    })
}

fn decide_for(identity: Identity, ownership: Ownership) -> Decision {
    let p = policy();
    let change = sg_change(identity);
    let actor = classify_actor(&change.identity, &p.identities, change.time);
    decide(
        &DecisionInput {
            change: &change,
            actor: &actor,
            ownership: &ownership,
            drift: None,
        },
        &p,
    )
}

// ------------------------------------------------------------------ policy

#[test]
fn example_policy_parses() {
    let p = policy();
    assert!(p.dry_run_default());
    assert_eq!(p.rules.len(), 6);
    assert_eq!(p.rules[0].action, Action::Revert);
    assert!(!p.rules[0].dry_run);
    // rollback needs approval unless the rule says otherwise
    assert!(p.rules[4].requires_approval);
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
    let err = Policy::from_yaml("version: 2\n").unwrap_err();
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
        (console_identity(), ActorKind::Console),
        (
            role_identity("deploy-pipeline", "codepipeline-deploy"),
            ActorKind::Pipeline,
        ),
        (
            role_identity("driftguard-remediation", "driftguard-remediate"),
            ActorKind::Driftguard,
        ),
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
                ..console_identity()
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
    let d = decide_for(console_identity(), managed("UPDATE_COMPLETE"));
    assert_eq!(d.verdict.action, Action::Revert);
    assert_eq!(d.verdict.rule.as_deref(), Some("open-ingress-is-reverted"));
    assert!(!d.verdict.dry_run);
    assert_eq!(d.verdict.severity, Severity::High);
    assert!(d.held.is_none());
}

#[test]
fn own_and_cloudformation_changes_are_ignored_and_pipeline_allowed() {
    let d = decide_for(
        role_identity("driftguard-remediation", "x"),
        managed("UPDATE_COMPLETE"),
    );
    assert_eq!(d.verdict.action, Action::Ignore);
    let cfn = Identity {
        invoked_by: Some("cloudformation.amazonaws.com".into()),
        ..console_identity()
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

#[test]
fn unmanaged_is_ignored_and_unknown_ownership_never_acts() {
    assert_eq!(
        decide_for(console_identity(), Ownership::Unmanaged)
            .verdict
            .action,
        Action::Ignore
    );
    let d = decide_for(
        console_identity(),
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
    let change = sg_change(console_identity());
    let actor = classify_actor(&change.identity, &p.identities, at());
    let own = managed("UPDATE_COMPLETE");
    let d = decide(
        &DecisionInput {
            change: &change,
            actor: &actor,
            ownership: &own,
            drift: None,
        },
        &p,
    );
    assert_eq!(d.verdict.action, Action::Ticket);
    assert!(d.verdict.reason.contains("protected"));
}

#[test]
fn stack_operation_in_progress_holds_the_decision() {
    let d = decide_for(console_identity(), managed("UPDATE_IN_PROGRESS"));
    assert!(d.held.as_deref().unwrap().contains("in progress"));
}

#[test]
fn in_sync_per_cloudformation_is_ignored() {
    let p = policy();
    let change = sg_change(console_identity());
    let actor = classify_actor(&change.identity, &p.identities, at());
    let own = managed("UPDATE_COMPLETE");
    let drift = Drift {
        status: DriftStatus::InSync,
        differences: vec![],
        expected_properties: None,
        actual_properties: None,
        origin: DriftOrigin::Cloudformation,
        detected_at: None,
    };
    let d = decide(
        &DecisionInput {
            change: &change,
            actor: &actor,
            ownership: &own,
            drift: Some(&drift),
        },
        &p,
    );
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
    let own = Ownership::NotChecked;
    let d = decide(
        &DecisionInput {
            change: &change,
            actor: &actor,
            ownership: &own,
            drift: None,
        },
        &p,
    );
    assert_eq!(d.verdict.action, Action::Rollback);
    assert!(d.verdict.requires_approval);
}

// ------------------------------------------------------------------ tickets

#[test]
fn fingerprint_is_stable_and_distinguishes_resources() {
    let change = sg_change(console_identity());
    let a = Fingerprint::for_change(&change, &managed("UPDATE_COMPLETE"));
    let b = Fingerprint::for_change(&change, &managed("UPDATE_IN_PROGRESS"));
    assert_eq!(
        a.ticket_id(),
        b.ticket_id(),
        "status does not change identity"
    );
    assert!(a.ticket_id().starts_with("DG-"));
    assert_eq!(a.ticket_id().len(), 15);
    let unmanaged = Fingerprint::for_change(&change, &Ownership::Unmanaged);
    assert_ne!(a.ticket_id(), unmanaged.ticket_id());
    assert_eq!(unmanaged.logical_id, "sg-0123");
}

#[test]
fn ticket_transitions_and_reopen() {
    let change = sg_change(console_identity());
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
    let change = sg_change(console_identity());
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
