//! Approvals: a plan, named by its digest, approved by a principal AWS authenticated.
//!
//! Pure: the approval endpoint (a Lambda function URL with `AuthType: AWS_IAM`)
//! calls [`authorize`] with the caller ARN from its request context, and
//! remediate calls [`still_valid`] again before it acts, so a ticket edited by
//! hand after the approval does not run.
use chrono::{DateTime, Utc};

use super::actor::Identity;
use super::arn::{PrincipalArn, PrincipalType};
use super::policy::Policy;
use super::ticket::{Approval, Ticket, TicketState};

/// Why an approval was refused: shown to the approver and written to the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalRefused {
    /// The ticket is not waiting for an approval.
    #[error("ticket {ticket} is {state}, not AWAITING_APPROVAL: nothing to approve")]
    NotAwaiting {
        /// The ticket's id.
        ticket: String,
        /// The state it is in.
        state: TicketState,
    },
    /// The ticket has no plan to approve.
    #[error("ticket {ticket} has no stored plan to approve")]
    NoPlan {
        /// The ticket's id.
        ticket: String,
    },
    /// The approver reviewed another plan than the one stored now.
    #[error(
        "plan digest {given} is not the ticket's plan {current}: the plan changed, review it again"
    )]
    DigestMismatch {
        /// The digest the approver gave.
        given: String,
        /// The stored plan's digest.
        current: String,
    },
    /// The approval window (`remediation.approval_ttl_minutes`) is over.
    #[error("the approval request expired at {expired}")]
    Expired {
        /// When it ended.
        expired: DateTime<Utc>,
    },
    /// The caller matches no `identities.approvers` pattern.
    #[error("{approver} is not an approver in the policy (identities.approvers)")]
    NotAnApprover {
        /// The caller's ARN.
        approver: String,
    },
    /// The caller made the change being remediated.
    #[error("{approver} made the change and may not approve its own remediation (remediation.allow_self_approval is off)")]
    SelfApproval {
        /// The caller's ARN.
        approver: String,
    },
    /// The caller's ARN is not a principal driftguard can match.
    #[error("caller ARN {arn:?} is not an IAM user, role or assumed-role ARN")]
    BadCaller {
        /// The ARN given.
        arn: String,
    },
}

/// What Lambda passes of the caller of a function URL with `AuthType: AWS_IAM`
/// (`requestContext.authorizer.iam`: "accessKey", "accountId", "callerId",
/// "principalOrgId", "userArn", "userId",
/// <https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html#urls-payloads>,
/// "Request payload format"). `userId` is the principal id IAM's `aws:userid`
/// carries: the user's unique id (`AIDA…`), or `role-id:caller-specified-role-name`
/// for an assumed role
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html>).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallerContext<'a> {
    /// `userArn`.
    pub user_arn: &'a str,
    /// `userId`.
    pub user_id: Option<&'a str>,
    /// `callerId` (used when `userId` is absent).
    pub caller_id: Option<&'a str>,
    /// `accountId`: must be the account of `userArn`.
    pub account_id: Option<&'a str>,
    /// `principalOrgId`: the caller's organization, recorded in the log.
    pub principal_org_id: Option<&'a str>,
}

/// An authenticated caller, as AWS names it in a function URL request context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The caller's ARN as AWS authenticated it (`userArn`).
    pub arn: String,
    /// The caller's principal id (`userId`): `AIDA…` or `AROA…:SESSION`.
    pub user_id: Option<String>,
    /// The caller's organization (`principalOrgId`), when Lambda gave it.
    pub org_id: Option<String>,
    principal: PrincipalArn,
}

impl Caller {
    /// Parse `arn:PARTITION:iam::ACCOUNT:user/PATH/NAME`,
    /// `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME` or
    /// `arn:PARTITION:sts::ACCOUNT:assumed-role/NAME/SESSION` (the policy's
    /// own ARN parser, [`PrincipalArn::parse`]).
    pub fn parse(arn: &str) -> Result<Self, ApprovalRefused> {
        let principal =
            PrincipalArn::parse(arn).map_err(|_| ApprovalRefused::BadCaller { arn: arn.into() })?;
        Ok(Self {
            arn: arn.into(),
            user_id: None,
            org_id: None,
            principal,
        })
    }

    /// The caller of a function URL request. Refused when the facts disagree:
    /// `accountId` not the ARN's account, or an assumed role's `userId` not
    /// ending in the ARN's session name.
    pub fn from_context(context: &CallerContext<'_>) -> Result<Self, ApprovalRefused> {
        let mut caller = Self::parse(context.user_arn)?;
        let bad = || ApprovalRefused::BadCaller {
            arn: context.user_arn.into(),
        };
        if context
            .account_id
            .is_some_and(|a| a != caller.principal.account)
        {
            return Err(bad());
        }
        let user_id = context
            .user_id
            .or(context.caller_id)
            .filter(|id| !id.is_empty());
        if let (Some(id), Some(session)) = (user_id, caller.principal.session.as_deref()) {
            if id.split_once(':').map(|(_, s)| s) != Some(session) {
                return Err(bad());
            }
        }
        caller.user_id = user_id.map(str::to_string);
        caller.org_id = context.principal_org_id.map(str::to_string);
        Ok(caller)
    }

    /// A stored approver ([`Approval::approver_arn`] and `approver_id`).
    pub fn stored(arn: &str, user_id: Option<&str>) -> Result<Self, ApprovalRefused> {
        let mut caller = Self::parse(arn)?;
        caller.user_id = user_id.map(str::to_string);
        Ok(caller)
    }

    fn is_assumed_role(&self) -> bool {
        self.principal.kind == PrincipalType::AssumedRole
    }

    /// The caller as an identity the policy's principal patterns can match.
    pub fn identity(&self) -> Identity {
        let p = &self.principal;
        let assumed = self.is_assumed_role();
        Identity {
            identity_type: Some(if assumed { "AssumedRole" } else { "IAMUser" }.into()),
            principal_arn: Some(self.arn.clone()),
            // An assumed-role ARN carries no role path; the issuer is rebuilt
            // without one and matched with `approver_match_path_unknown`.
            session_issuer_arn: assumed
                .then(|| format!("arn:{}:iam::{}:role/{}", p.partition, p.account, p.name)),
            session_name: p.session.clone(),
            principal_id: self.user_id.clone(),
            account_id: Some(p.account.clone()),
            ..Identity::default()
        }
    }

    /// Evidence when the policy's `identities.approvers` admit the caller.
    pub fn approver_match(&self, policy: &Policy) -> Option<String> {
        let identity = self.identity();
        if self.is_assumed_role() {
            policy.identities.approver_match_path_unknown(&identity)
        } else {
            policy.identities.approver_match(&identity)
        }
    }

    /// Is this the person who made the change by `principal` (session
    /// `session`)? Same account, and: the same user; or, for an assumed role,
    /// the same role session name whatever the role. An IAM Identity Center
    /// session is named after the person, so two permission sets of one person
    /// (two roles) are one person; a role session name chosen by the caller
    /// only ever adds refusals.
    pub fn is_same_principal(&self, principal: &str, session: Option<&str>) -> bool {
        let me = &self.principal;
        let Ok(other) = PrincipalArn::parse(principal) else {
            return false;
        };
        if other.account != me.account {
            return false;
        }
        match me.session.as_deref() {
            None => other.kind == me.kind && other.name == me.name,
            Some(mine) => session.or(other.session.as_deref()) == Some(mine),
        }
    }
}

/// May `caller` approve `ticket`'s plan named by `plan_digest`, now?
pub fn authorize(
    ticket: &Ticket,
    plan_digest: &str,
    caller: &Caller,
    via: &str,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Result<Approval, ApprovalRefused> {
    if ticket.state != TicketState::AwaitingApproval {
        return Err(ApprovalRefused::NotAwaiting {
            ticket: ticket.id.clone(),
            state: ticket.state,
        });
    }
    check_plan(ticket, plan_digest)?;
    if let Some(expired) = ticket.approval_expires_at.filter(|t| *t < now) {
        return Err(ApprovalRefused::Expired { expired });
    }
    check_approver(ticket, caller, policy)?;
    Ok(Approval {
        plan_digest: plan_digest.to_string(),
        approver_arn: caller.arn.clone(),
        approved_at: now,
        via: via.to_string(),
        approver_id: caller.user_id.clone(),
    })
}

/// Re-check a stored approval just before acting on `plan_digest` (the digest
/// of the plan remediate derived again from the current template).
pub fn still_valid(
    ticket: &Ticket,
    approval: &Approval,
    plan_digest: &str,
    policy: &Policy,
) -> Result<(), ApprovalRefused> {
    if approval.plan_digest != plan_digest {
        return Err(ApprovalRefused::DigestMismatch {
            given: approval.plan_digest.clone(),
            current: plan_digest.to_string(),
        });
    }
    if let Some(expired) = ticket
        .approval_expires_at
        .filter(|t| *t < approval.approved_at)
    {
        return Err(ApprovalRefused::Expired { expired });
    }
    let caller = Caller::stored(&approval.approver_arn, approval.approver_id.as_deref())?;
    check_approver(ticket, &caller, policy)
}

fn check_plan(ticket: &Ticket, plan_digest: &str) -> Result<(), ApprovalRefused> {
    let plan = ticket
        .plan
        .as_ref()
        .ok_or_else(|| ApprovalRefused::NoPlan {
            ticket: ticket.id.clone(),
        })?;
    let current = plan.digest();
    if current != plan_digest {
        return Err(ApprovalRefused::DigestMismatch {
            given: plan_digest.to_string(),
            current,
        });
    }
    Ok(())
}

fn check_approver(
    ticket: &Ticket,
    caller: &Caller,
    policy: &Policy,
) -> Result<(), ApprovalRefused> {
    if caller.approver_match(policy).is_none() {
        return Err(ApprovalRefused::NotAnApprover {
            approver: caller.arn.clone(),
        });
    }
    let own_change = ticket.last_actor.as_ref().is_some_and(|actor| {
        caller.is_same_principal(&actor.principal, actor.session_name.as_deref())
    });
    if own_change && !policy.remediation().allow_self_approval {
        return Err(ApprovalRefused::SelfApproval {
            approver: caller.arn.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::domain::remedy::Plan;
    use crate::testing::changes::t0;
    use crate::testing::tickets::{awaiting_approval, console_actor, revoke_ingress};

    fn policy(allow_self: bool) -> Policy {
        Policy::from_yaml(&format!(
            "identities:\n  approvers:\n    - principal: \"arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Approver_*\"\n    - principal: \"arn:aws:iam::111122223333:role/AWSReservedSSO_Approver_*\"\nremediation:\n  allow_self_approval: {allow_self}\n"
        ))
        .unwrap()
    }

    fn plan() -> Plan {
        revoke_ingress("sg-1", "rule gone")
    }

    /// Awaiting approval of `plan()`; `actor_session` of the approvers' SSO role made the change.
    fn ticket(actor_session: &str) -> Ticket {
        let made_by = console_actor(
            "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Approver_abc",
            actor_session,
        );
        awaiting_approval(plan(), made_by, t0())
    }

    const ALICE: &str =
        "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Approver_abc/alice@example.com";

    #[test]
    fn an_approver_approves_the_plan_it_names() {
        let t = ticket("bob@example.com");
        let caller = Caller::parse(ALICE).unwrap();
        let a = authorize(&t, &plan().digest(), &caller, "test", &policy(false), t0()).unwrap();
        assert_eq!(a.approver_arn, ALICE);
        assert_eq!(a.plan_digest, plan().digest());
        assert!(still_valid(&t, &a, &plan().digest(), &policy(false)).is_ok());
    }

    #[test]
    fn refusals() {
        let t = ticket("bob@example.com");
        let caller = Caller::parse(ALICE).unwrap();
        let p = policy(false);
        let other = "0".repeat(64);
        assert!(matches!(
            authorize(&t, &other, &caller, "t", &p, t0()),
            Err(ApprovalRefused::DigestMismatch { .. })
        ));
        assert!(matches!(
            authorize(
                &t,
                &plan().digest(),
                &caller,
                "t",
                &p,
                t0() + chrono::Duration::hours(2)
            ),
            Err(ApprovalRefused::Expired { .. })
        ));
        let stranger = Caller::parse("arn:aws:sts::111122223333:assumed-role/dev/alice").unwrap();
        assert!(matches!(
            authorize(&t, &plan().digest(), &stranger, "t", &p, t0()),
            Err(ApprovalRefused::NotAnApprover { .. })
        ));
        let mut open = t.clone();
        open.state = TicketState::Open;
        assert!(matches!(
            authorize(&open, &plan().digest(), &caller, "t", &p, t0()),
            Err(ApprovalRefused::NotAwaiting { .. })
        ));
        // A valid approval stops being valid once the plan it named changes.
        let a = authorize(&t, &plan().digest(), &caller, "t", &p, t0()).unwrap();
        assert!(still_valid(&t, &a, &other, &p).is_err());
    }

    #[test]
    fn approving_ones_own_change_needs_the_policy() {
        let t = ticket("alice@example.com");
        let caller = Caller::parse(ALICE).unwrap();
        assert!(matches!(
            authorize(&t, &plan().digest(), &caller, "t", &policy(false), t0()),
            Err(ApprovalRefused::SelfApproval { .. })
        ));
        assert!(authorize(&t, &plan().digest(), &caller, "t", &policy(true), t0()).is_ok());
    }

    const SSO_APPROVER: &str =
        "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Approver_*";

    fn context<'a>(arn: &'a str, user_id: &'a str) -> CallerContext<'a> {
        CallerContext {
            user_arn: arn,
            user_id: Some(user_id),
            caller_id: Some(user_id),
            account_id: Some("111122223333"),
            principal_org_id: Some("o-a1b2c3d4e5"),
        }
    }

    #[test]
    fn the_identity_center_example_matches_an_assumed_role_caller() {
        // docs/policy.md's example names the role with its Identity Center path;
        // the function URL's userArn is the assumed-role ARN, without the path.
        let p = Policy::from_yaml(&format!(
            "identities:\n  approvers:\n    - principal: \"{SSO_APPROVER}\"\n"
        ))
        .unwrap();
        let alice = Caller::from_context(&context(ALICE, "AROAEXAMPLEAPPROVER1:alice@example.com"))
            .unwrap();
        let t = ticket("bob@example.com");
        assert!(authorize(&t, &plan().digest(), &alice, "t", &p, t0()).is_ok());
        // Another account's role of the same name is not matched.
        let elsewhere =
            "arn:aws:sts::444455556666:assumed-role/AWSReservedSSO_Approver_abc/alice@example.com";
        let mut c = context(elsewhere, "AROAEXAMPLEAPPROVER1:alice@example.com");
        c.account_id = Some("444455556666");
        let other = Caller::from_context(&c).unwrap();
        assert!(matches!(
            authorize(&t, &plan().digest(), &other, "t", &p, t0()),
            Err(ApprovalRefused::NotAnApprover { .. })
        ));
    }

    #[test]
    fn an_approver_pinned_by_unique_id_is_matched() {
        let p = Policy::from_yaml(&format!(
            "identities:\n  approvers:\n    - principal: \"{SSO_APPROVER}\"\n      unique_id: AROAEXAMPLEAPPROVER1\n"
        ))
        .unwrap();
        let t = ticket("bob@example.com");
        let pinned =
            Caller::from_context(&context(ALICE, "AROAEXAMPLEAPPROVER1:alice@example.com"))
                .unwrap();
        let a = authorize(&t, &plan().digest(), &pinned, "t", &p, t0()).unwrap();
        assert_eq!(
            a.approver_id.as_deref(),
            Some("AROAEXAMPLEAPPROVER1:alice@example.com")
        );
        // Remediate's re-check sees the same unique id (stored on the approval).
        assert!(still_valid(&t, &a, &plan().digest(), &p).is_ok());
        // Same name, recreated role (another unique id): not the pinned approver.
        let recreated =
            Caller::from_context(&context(ALICE, "AROAEXAMPLEOTHERROLE:alice@example.com"))
                .unwrap();
        assert!(matches!(
            authorize(&t, &plan().digest(), &recreated, "t", &p, t0()),
            Err(ApprovalRefused::NotAnApprover { .. })
        ));
        // No userId (a stored approval from before): a pinned entry cannot match.
        let unknown = Caller::parse(ALICE).unwrap();
        assert!(matches!(
            authorize(&t, &plan().digest(), &unknown, "t", &p, t0()),
            Err(ApprovalRefused::NotAnApprover { .. })
        ));
    }

    #[test]
    fn self_approval_across_two_permission_sets_of_one_person_is_refused() {
        // Alice changed the resource under one permission set (role) and
        // approves under another: one person, two roles, one session name.
        let made_by = console_actor(
            "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_PowerUser_0f1e2d",
            "alice@example.com",
        );
        let t = awaiting_approval(plan(), made_by, t0());
        let p = Policy::from_yaml(&format!(
            "identities:\n  approvers:\n    - principal: \"{SSO_APPROVER}\"\n"
        ))
        .unwrap();
        let alice = Caller::from_context(&context(ALICE, "AROAEXAMPLEAPPROVER1:alice@example.com"))
            .unwrap();
        assert!(matches!(
            authorize(&t, &plan().digest(), &alice, "t", &p, t0()),
            Err(ApprovalRefused::SelfApproval { .. })
        ));
        // Bob under the approver set approves alice's change.
        let bob =
            "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Approver_abc/bob@example.com";
        let bob =
            Caller::from_context(&context(bob, "AROAEXAMPLEAPPROVER1:bob@example.com")).unwrap();
        assert!(authorize(&t, &plan().digest(), &bob, "t", &p, t0()).is_ok());
    }

    #[test]
    fn caller_facts_that_disagree_are_refused() {
        let mut c = context(ALICE, "AROAEXAMPLEAPPROVER1:alice@example.com");
        c.account_id = Some("444455556666");
        assert!(matches!(
            Caller::from_context(&c),
            Err(ApprovalRefused::BadCaller { .. })
        ));
        let c = context(ALICE, "AROAEXAMPLEAPPROVER1:mallory@example.com");
        assert!(matches!(
            Caller::from_context(&c),
            Err(ApprovalRefused::BadCaller { .. })
        ));
        let ok = Caller::from_context(&context(ALICE, "AROAEXAMPLEAPPROVER1:alice@example.com"))
            .unwrap();
        assert_eq!(ok.org_id.as_deref(), Some("o-a1b2c3d4e5"));
        assert_eq!(ok.identity().account_id.as_deref(), Some("111122223333"));
        assert_eq!(
            ok.identity().principal_id.as_deref(),
            Some("AROAEXAMPLEAPPROVER1:alice@example.com")
        );
    }

    #[test]
    fn caller_arns_are_parsed_strictly() {
        for bad in [
            "",
            "alice",
            "arn:aws:s3:::bucket/x",
            "arn:aws:sts::111122223333:assumed-role/OnlyRole",
            "arn:aws:iam::111122223333:group/admins",
            "arn:aws:iam:us-east-1:111122223333:role/x",
        ] {
            assert!(Caller::parse(bad).is_err(), "{bad}");
        }
        let c = Caller::parse("arn:aws:iam::111122223333:user/ops/carol").unwrap();
        assert_eq!(
            c.identity().principal_arn.as_deref(),
            Some("arn:aws:iam::111122223333:user/ops/carol")
        );
    }
}
