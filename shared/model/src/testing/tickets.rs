//! Plans and tickets as remediate and the approval endpoint find them.
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::changes::{change, REGION};
use super::identities::ACCOUNT;
use crate::domain::{
    Actor, ActorKind, Fingerprint, Ownership, Plan, PlannedCall, ResourceRef, Strategy, Ticket,
    TicketState,
};

/// The account of the approval tests (the approvers' roles are in it).
pub const APPROVAL_ACCOUNT: &str = "111122223333";

/// The drift of `stack`'s resource `logical_id` in [`ACCOUNT`] and [`REGION`].
pub fn fingerprint(stack: &str, logical_id: &str) -> Fingerprint {
    Fingerprint {
        account: ACCOUNT.into(),
        region: REGION.into(),
        stack: stack.into(),
        logical_id: logical_id.into(),
    }
}

/// The inverse call of an opened ingress rule: revoke it on `group`;
/// `expected` says what the group looks like afterwards.
pub fn revoke_ingress(group: &str, expected: &str) -> Plan {
    Plan {
        strategy: Strategy::InverseCall,
        calls: vec![PlannedCall::new(
            "ec2",
            "RevokeSecurityGroupIngress",
            json!({"GroupId": group}),
        )],
        expected: expected.into(),
        skipped: vec![],
    }
}

/// A console actor: `principal` (an assumed-role ARN) with its session name.
pub fn console_actor(principal: &str, session: &str) -> Actor {
    Actor {
        break_glass_until: None,
        kind: ActorKind::Console,
        principal: principal.into(),
        session_name: Some(session.into()),
        evidence: vec![],
    }
}

/// The ticket of `web/Sg` in [`APPROVAL_ACCOUNT`], opened at `at` and
/// AWAITING_APPROVAL of `plan` for an hour; `made_by` made the change.
/// Ownership is unknown (`test`): only the approval rules read it.
pub fn awaiting_approval(plan: Plan, made_by: Actor, at: DateTime<Utc>) -> Ticket {
    let fp = Fingerprint {
        account: APPROVAL_ACCOUNT.into(),
        ..fingerprint("web", "Sg")
    };
    let opened = crate::domain::Change {
        event_id: "e1".into(),
        time: at,
        account: APPROVAL_ACCOUNT.into(),
        ..change(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            ResourceRef::default(),
        )
    };
    let unknown = Ownership::Unknown {
        reason: "test".into(),
    };
    let mut t = Ticket::new(fp, &opened, &unknown, at);
    t.state = TicketState::AwaitingApproval;
    t.plan = Some(plan);
    t.approval_expires_at = Some(at + Duration::hours(1));
    t.last_actor = Some(made_by);
    t
}
