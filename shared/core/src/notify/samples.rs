//! Real-shaped driftguard bus events built from the real Rust types, so the
//! snapshots, `events/notify/*.json` and `docs/slack-example.json` stay in sync
//! with the schemas. The story: alice opens port 22 to the world on the
//! `web-prod` stack's security group from the AWS console.
use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use driftguard_model::domain::StackHint;
use driftguard_model::domain::{
    Action, Actor, ActorKind, Change, ChangeSource, Decision, DifferenceKind, Drift, DriftOrigin,
    DriftStatus, Identity, Ownership, Plan, PlannedCall, PropertyDifference, ResourceRef, Severity,
    StackMembership, Strategy, TicketState, Verdict,
};
use driftguard_model::events::{
    self, DriftAccepted, DriftDecision, RemediationOutcome, RemediationResult,
};

use super::render::TicketFacts;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const STACK_NAME: &str = "web-prod";
pub const STACK_ID: &str =
    "arn:aws:cloudformation:us-east-1:123456789012:stack/web-prod/1f2e3d4c-5b6a-4789-8abc-def012345678";
pub const GROUP_ID: &str = "sg-0123456789abcdef0";
pub const RULE_ID: &str = "sgr-0a1b2c3d4e5f60718";
pub const TICKET_ID: &str = "DG-3f9a1c0b7e21";

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, h, m, s)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// A bus event detail that knows its detail-type.
pub trait BusDetail: Serialize {
    fn detail_type(&self) -> &'static str;
    fn time(&self) -> DateTime<Utc>;
}

impl BusDetail for DriftDecision {
    fn detail_type(&self) -> &'static str {
        events::DRIFT_DECISION
    }
    fn time(&self) -> DateTime<Utc> {
        self.decided_at
    }
}

impl BusDetail for RemediationResult {
    fn detail_type(&self) -> &'static str {
        events::REMEDIATION_RESULT
    }
    fn time(&self) -> DateTime<Utc> {
        self.finished_at
    }
}

impl BusDetail for DriftAccepted {
    fn detail_type(&self) -> &'static str {
        events::DRIFT_ACCEPTED
    }
    fn time(&self) -> DateTime<Utc> {
        self.accepted_at
    }
}

/// The EventBridge envelope the bus delivers for `detail`. The id is derived
/// from the detail so every sample has its own, stable one.
pub fn envelope_for<D: BusDetail>(sample: &D) -> Value {
    let detail = serde_json::to_value(sample).unwrap_or(Value::Null);
    // Sorted keys: serde_json keeps insertion order when any crate in the build
    // enables `preserve_order` (the AWS SDK's HTTP client does), so the plain
    // string would depend on which crates a build happens to include.
    let digest = hex::encode(Sha256::digest(canonical_json(&detail).as_bytes()));
    let id = format!(
        "{}-{}-{}-{}-{}",
        &digest[0..8],
        &digest[8..12],
        &digest[12..16],
        &digest[16..20],
        &digest[20..32]
    );
    json!({
        "version": "0",
        "id": id,
        "detail-type": sample.detail_type(),
        "source": events::SOURCE,
        "account": ACCOUNT,
        "time": sample.time().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": REGION,
        "resources": [],
        "detail": detail,
    })
}

/// JSON text with object keys sorted at every level.
use driftguard_model::domain::canonical_json;

pub fn console_identity() -> Identity {
    Identity {
        identity_type: Some("AssumedRole".into()),
        principal_arn: Some(
            "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com".into(),
        ),
        session_issuer_arn: Some(
            "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123456789abcdef".into(),
        ),
        session_name: Some("alice@example.com".into()),
        invoked_by: None,
        user_agent: Some("AWS Internal".into()),
        source_ip: Some("198.51.100.7".into()),
        console_session: true,
        ..Identity::default()
    }
}

pub fn console_actor() -> Actor {
    let identity = console_identity();
    Actor {
        break_glass_until: None,
        kind: ActorKind::Console,
        principal: identity.display_principal(),
        session_name: identity.session_name,
        evidence: vec!["sessionCredentialFromConsole=true".into()],
    }
}

pub fn break_glass_actor() -> Actor {
    Actor {
        break_glass_until: None,
        kind: ActorKind::BreakGlass,
        principal: "arn:aws:iam::123456789012:role/BreakGlass".into(),
        session_name: Some("oncall-carol".into()),
        evidence: vec![
            "break-glass principal arn:aws:iam::*:role/BreakGlass inside its window 2026-01-01T00:00:00Z..2030-01-01T00:00:00Z (on-call emergency role)".into(),
        ],
    }
}

pub fn pipeline_actor() -> Actor {
    Actor {
        break_glass_until: None,
        kind: ActorKind::Pipeline,
        principal: "arn:aws:iam::123456789012:role/deploy-pipeline".into(),
        session_name: Some("codepipeline-deploy".into()),
        evidence: vec!["pipeline principal: arn:aws:iam::*:role/deploy-pipeline".into()],
    }
}

fn ingress_rule() -> Value {
    json!({ "CidrIp": "0.0.0.0/0", "FromPort": 22, "IpProtocol": "tcp", "ToPort": 22 })
}

/// CloudTrail `AuthorizeSecurityGroupIngress` from the console, normalized.
pub fn console_port_22_change() -> Change {
    Change {
        event_id: "6f1c2a3b-0d4e-4f5a-9b8c-7d6e5f4a3b2c".into(),
        time: at(8, 0, 0),
        account: ACCOUNT.into(),
        region: REGION.into(),
        source: ChangeSource::Cloudtrail,
        service: "ec2".into(),
        operation: "AuthorizeSecurityGroupIngress".into(),
        resource: ResourceRef::new("AWS::EC2::SecurityGroup", GROUP_ID).with_arn(format!(
            "arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{GROUP_ID}"
        )),
        identity: console_identity(),
        request: json!({
            "groupId": GROUP_ID,
            "ipPermissions": { "items": [{
                "ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                "ipRanges": { "items": [{ "cidrIp": "0.0.0.0/0" }] }
            }]}
        }),
        response: json!({
            "_return": true,
            "securityGroupRuleSet": { "items": [{
                "groupId": GROUP_ID, "securityGroupRuleId": RULE_ID, "isEgress": false,
                "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"
            }]}
        }),
        stack_hint: None,
        drift_hint: None,
        unparsed: Vec::new(),
    }
}

pub fn web_prod_membership(stack_status: &str) -> StackMembership {
    StackMembership {
        stack_id: STACK_ID.into(),
        stack_name: STACK_NAME.into(),
        logical_id: "WebSecurityGroup".into(),
        resource_type: Some("AWS::EC2::SecurityGroup".into()),
        stack_status: stack_status.into(),
        stack_tags: BTreeMap::from([("env".to_string(), "prod".to_string())]),
        nested: None,
    }
}

fn port_22_difference() -> PropertyDifference {
    PropertyDifference {
        path: "/SecurityGroupIngress/1".into(),
        expected: None,
        actual: Some(ingress_rule()),
        kind: DifferenceKind::Add,
    }
}

pub fn port_22_drift() -> Drift {
    Drift {
        status: DriftStatus::Modified,
        differences: vec![port_22_difference()],
        expected_properties: None,
        actual_properties: None,
        origin: DriftOrigin::Cloudformation,
        detected_at: Some(at(8, 0, 3)),
    }
}

pub fn revoke_plan() -> Plan {
    Plan {
        strategy: Strategy::InverseCall,
        calls: vec![PlannedCall::new(
            "ec2",
            "RevokeSecurityGroupIngress",
            json!({ "GroupId": GROUP_ID, "SecurityGroupRuleIds": [RULE_ID] }),
        )],
        expected: "port 22 closed again: the ingress rules match the template".into(),
        skipped: vec![(
            Strategy::RevertDriftChangeSet,
            "the REVERT_DRIFT change set preview did not include the resource".into(),
        )],
    }
}

fn verdict(
    action: Action,
    rule: &str,
    dry_run: bool,
    requires_approval: bool,
    severity: Severity,
) -> Verdict {
    Verdict {
        action,
        reason: format!("policy rule {rule}"),
        rule: Some(rule.into()),
        dry_run,
        requires_approval,
        severity,
        capped_from: None,
        environment: None,
    }
}

/// The README's example: a console change opened port 22; the policy reverts it.
pub fn console_port_22_decision() -> DriftDecision {
    DriftDecision {
        schema_version: events::SCHEMA_VERSION,
        ticket_id: TICKET_ID.into(),
        ticket_state: TicketState::Open,
        state_changed: true,
        change: console_port_22_change(),
        actor: console_actor(),
        ownership: Ownership::Managed(web_prod_membership("UPDATE_COMPLETE")),
        drift: Some(port_22_drift()),
        event_drift: Some(Drift::from_event(
            vec![port_22_difference()],
            "from the CloudTrail request parameters",
        )),
        decision: Decision {
            verdict: verdict(
                Action::Revert,
                "open-ingress-is-reverted",
                false,
                false,
                Severity::High,
            ),
            held: None,
            hit_and_run: None,
        },
        plan: Some(revoke_plan()),
        decided_at: at(8, 0, 5),
    }
}

/// One decision per verdict kind (and dry-run, approval, held variants).
pub fn decisions() -> Vec<(&'static str, DriftDecision)> {
    let revert = console_port_22_decision();
    let mut revert_dry_run = revert.clone();
    revert_dry_run.decision.verdict.dry_run = true;
    let rollback = rollback_decision();
    let mut rollback_dry_run = rollback.clone();
    rollback_dry_run.ticket_state = TicketState::Open;
    rollback_dry_run.decision.verdict.dry_run = true;
    rollback_dry_run.decision.verdict.requires_approval = false;
    vec![
        ("decision-ignore", ignore_decision()),
        ("decision-allow", allow_decision()),
        ("decision-ticket", capped_ticket_decision()),
        ("decision-revert-dry-run", revert_dry_run),
        ("decision-revert", revert),
        ("decision-held", held_decision()),
        ("decision-rollback-awaiting-approval", rollback),
        ("decision-rollback-dry-run", rollback_dry_run),
    ]
}

/// The port-22 change found IN_SYNC: ignored.
fn ignore_decision() -> DriftDecision {
    let mut ignore = console_port_22_decision();
    ignore.state_changed = false;
    ignore.drift = Some(Drift {
        status: DriftStatus::InSync,
        differences: vec![],
        ..port_22_drift()
    });
    ignore.decision.verdict = Verdict {
        action: Action::Ignore,
        reason: "CloudFormation reports the resource IN_SYNC".into(),
        rule: None,
        dry_run: true,
        requires_approval: false,
        severity: Severity::Low,
        capped_from: None,
        environment: None,
    };
    ignore.plan = None;
    ignore
}

/// The port-22 change made by the deploy pipeline: allowed.
fn allow_decision() -> DriftDecision {
    let mut allow = console_port_22_decision();
    allow.state_changed = false;
    allow.actor = pipeline_actor();
    allow.change.identity = Identity {
        identity_type: Some("AssumedRole".into()),
        principal_arn: Some(
            "arn:aws:sts::123456789012:assumed-role/deploy-pipeline/codepipeline-deploy".into(),
        ),
        session_issuer_arn: Some("arn:aws:iam::123456789012:role/deploy-pipeline".into()),
        session_name: Some("codepipeline-deploy".into()),
        invoked_by: None,
        user_agent: Some("aws-sdk-go-v2/1.30.0".into()),
        source_ip: Some("203.0.113.20".into()),
        console_session: false,
        ..Identity::default()
    };
    allow.decision.verdict = Verdict {
        action: Action::Allow,
        reason: "pipeline principal arn:aws:iam::123456789012:role/deploy-pipeline".into(),
        rule: None,
        dry_run: true,
        requires_approval: false,
        severity: Severity::Low,
        capped_from: None,
        environment: None,
    };
    allow.plan = None;
    allow
}

/// Break-glass: the policy asked for a revert, the safety cap made it a ticket.
fn capped_ticket_decision() -> DriftDecision {
    let mut ticket = console_port_22_decision();
    ticket.actor = break_glass_actor();
    ticket.change.identity = Identity {
        identity_type: Some("AssumedRole".into()),
        principal_arn: Some(
            "arn:aws:sts::123456789012:assumed-role/BreakGlass/oncall-carol".into(),
        ),
        session_issuer_arn: Some("arn:aws:iam::123456789012:role/BreakGlass".into()),
        session_name: Some("oncall-carol".into()),
        invoked_by: None,
        user_agent: Some("aws-cli/2.22.0 Python/3.12.6 Linux/6.1 exe/x86_64".into()),
        source_ip: Some("198.51.100.9".into()),
        console_session: false,
        ..Identity::default()
    };
    ticket.decision.verdict = Verdict {
        action: Action::Ticket,
        reason: "policy rule open-ingress-is-reverted; capped to ticket: break-glass change inside its window".into(),
        rule: Some("open-ingress-is-reverted".into()),
        dry_run: false,
        requires_approval: false,
        severity: Severity::High,
        capped_from: Some(Action::Revert),
        environment: None,
    };
    ticket.plan = None;
    ticket
}

/// The revert held: the stack has an operation in progress.
fn held_decision() -> DriftDecision {
    let mut held = console_port_22_decision();
    held.ownership = Ownership::Managed(web_prod_membership("UPDATE_IN_PROGRESS"));
    held.decision.held = Some(format!(
        "stack {STACK_NAME} has an operation in progress (UPDATE_IN_PROGRESS): re-check later"
    ));
    held.plan = None;
    held
}

/// A failed stack update: a rollback awaiting approval.
fn rollback_decision() -> DriftDecision {
    let mut rollback = console_port_22_decision();
    rollback.ticket_state = TicketState::AwaitingApproval;
    rollback.actor = Actor {
        break_glass_until: None,
        kind: ActorKind::Cloudformation,
        principal: "cloudformation.amazonaws.com".into(),
        session_name: None,
        evidence: vec!["sourceIPAddress=cloudformation.amazonaws.com".into()],
    };
    rollback.change = Change {
        event_id: "0c5e8f1a-2b3d-4c6e-8f9a-1b2c3d4e5f60".into(),
        time: at(9, 12, 0),
        source: ChangeSource::CloudformationStack,
        service: "cloudformation".into(),
        operation: "UPDATE_ROLLBACK_FAILED".into(),
        resource: ResourceRef::new("AWS::CloudFormation::Stack", STACK_ID),
        identity: Identity {
            invoked_by: None,
            source_ip: Some("cloudformation.amazonaws.com".into()),
            user_agent: Some("cloudformation.amazonaws.com".into()),
            ..Identity::default()
        },
        request: Value::Null,
        response: Value::Null,
        stack_hint: Some(StackHint {
            stack: STACK_ID.into(),
            logical_id: None,
            status: Some("UPDATE_ROLLBACK_FAILED".into()),
        }),
        drift_hint: None,
        unparsed: Vec::new(),
        ..console_port_22_change()
    };
    rollback.ownership = Ownership::Managed(StackMembership {
        logical_id: STACK_NAME.into(),
        resource_type: Some("AWS::CloudFormation::Stack".into()),
        ..web_prod_membership("UPDATE_ROLLBACK_FAILED")
    });
    rollback.drift = None;
    rollback.event_drift = None;
    rollback.decision.verdict = verdict(
        Action::Rollback,
        "failed-stack-update",
        false,
        true,
        Severity::Critical,
    );
    rollback.plan = Some(Plan {
        strategy: Strategy::StackRollback,
        calls: vec![PlannedCall::new(
            "cloudformation",
            "ContinueUpdateRollback",
            json!({ "StackName": STACK_ID }),
        )],
        expected: "stack back in UPDATE_ROLLBACK_COMPLETE on its last good template".into(),
        skipped: vec![],
    });
    rollback.decided_at = at(9, 12, 4);
    rollback
}

/// The remediation result of the port-22 ticket for one outcome.
pub fn result(outcome: RemediationOutcome) -> RemediationResult {
    let (state, reason, dry_run, verified, plan) = match outcome {
        RemediationOutcome::Resolved => (
            TicketState::Resolved,
            "revoked the rule; drift check reports IN_SYNC".to_string(),
            false,
            Some(Drift {
                status: DriftStatus::InSync,
                differences: vec![],
                ..port_22_drift()
            }),
            Some(revoke_plan()),
        ),
        RemediationOutcome::Failed => (
            TicketState::Failed,
            "ec2:RevokeSecurityGroupIngress failed: UnauthorizedOperation".to_string(),
            false,
            Some(port_22_drift()),
            Some(revoke_plan()),
        ),
        RemediationOutcome::DryRun => (
            TicketState::Open,
            "dry-run: policy rule open-ingress-is-reverted has dry_run: true".to_string(),
            true,
            None,
            Some(revoke_plan()),
        ),
        RemediationOutcome::AwaitingApproval => (
            TicketState::AwaitingApproval,
            "policy rule open-ingress-is-reverted requires approval; expires 2026-11-25T08:00:06Z"
                .to_string(),
            false,
            None,
            Some(revoke_plan()),
        ),
        RemediationOutcome::Refused => (
            TicketState::Open,
            "rate limit: 5 remediations on stack web-prod in the last 60 minutes".to_string(),
            false,
            None,
            None,
        ),
        RemediationOutcome::Held => (
            TicketState::Open,
            "stack web-prod has an operation in progress (UPDATE_IN_PROGRESS): re-check later"
                .to_string(),
            false,
            None,
            None,
        ),
    };
    RemediationResult {
        schema_version: events::SCHEMA_VERSION,
        ticket_id: TICKET_ID.into(),
        ticket_state: state,
        state_changed: true,
        outcome,
        reason,
        dry_run,
        plan,
        verified,
        change: Some(console_port_22_change()),
        actor: Some(console_actor()),
        ownership: Ownership::Managed(web_prod_membership("UPDATE_COMPLETE")),
        finished_at: at(8, 0, 9),
    }
}

pub const OUTCOMES: [RemediationOutcome; 6] = [
    RemediationOutcome::Resolved,
    RemediationOutcome::Failed,
    RemediationOutcome::DryRun,
    RemediationOutcome::AwaitingApproval,
    RemediationOutcome::Refused,
    RemediationOutcome::Held,
];

/// What the ticket says for the port-22 samples (results carry no severity).
pub fn ticket_facts() -> TicketFacts {
    TicketFacts {
        severity: Some(Severity::High),
        verdict: Some(Action::Revert),
        account: Some(ACCOUNT.to_string()),
        region: Some(REGION.to_string()),
    }
}

/// Every sample envelope, named like its `events/notify/<name>.json` file.
pub fn all_envelopes() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = decisions()
        .into_iter()
        .map(|(name, d)| (name.to_string(), envelope_for(&d)))
        .collect();
    for outcome in OUTCOMES {
        out.push((
            format!("result-{}", outcome.as_str().replace('_', "-")),
            envelope_for(&result(outcome)),
        ));
    }
    out
}

/// carol keeps the AdministratorAccess policy someone attached to `shop-web`'s
/// AppRole (out-of-template drift: the template declares no
/// `ManagedPolicyArns`): the ticket as `driftguard accept` leaves it.
pub fn accepted_ticket() -> driftguard_model::domain::Ticket {
    use driftguard_model::domain::{Fingerprint, Ticket};
    let change = Change {
        event_id: "e-attach".into(),
        time: DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default(),
        account: ACCOUNT.into(),
        region: REGION.into(),
        source: ChangeSource::Cloudtrail,
        service: "iam".into(),
        operation: "AttachRolePolicy".into(),
        resource: ResourceRef::new("AWS::IAM::Role", "shop-web-AppRole-1"),
        identity: Identity::default(),
        request: json!({}),
        response: json!({}),
        stack_hint: None,
        drift_hint: None,
        unparsed: Vec::new(),
    };
    let fp = Fingerprint {
        account: ACCOUNT.into(),
        region: REGION.into(),
        stack: "shop-web".into(),
        logical_id: "AppRole".into(),
    };
    let mut t = Ticket::new(fp, &change, &Ownership::NotChecked, change.time);
    t.event_drift = Some(Drift {
        status: DriftStatus::OutOfTemplate,
        differences: vec![PropertyDifference {
            path: "/ManagedPolicyArns".into(),
            expected: None,
            actual: Some(json!("arn:aws:iam::aws:policy/AdministratorAccess")),
            kind: DifferenceKind::Add,
        }],
        expected_properties: None,
        actual_properties: None,
        origin: DriftOrigin::EventRequest("test".into()),
        detected_at: None,
    });
    // OPEN -> ACCEPTED is always allowed.
    let _ = t.accept(
        "carol",
        "the migration job needs it until Friday",
        at(10, 0, 0),
    );
    t
}

/// The `Drift Accepted` event `driftguard accept` put for [`accepted_ticket`].
pub fn drift_accepted() -> DriftAccepted {
    let ticket = accepted_ticket();
    let acceptance = ticket
        .acceptance()
        .unwrap_or(driftguard_model::domain::Acceptance {
            by: String::new(),
            reason: String::new(),
            at: at(10, 0, 0),
        });
    DriftAccepted::of(&ticket, &acceptance)
}
