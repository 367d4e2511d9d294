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

/// An authenticated caller, as AWS names it in a function URL request context
/// (`requestContext.authorizer.iam.userArn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The caller's ARN as AWS authenticated it.
    pub arn: String,
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
            principal,
        })
    }

    /// The caller as an identity the policy's principal patterns can match.
    pub fn identity(&self) -> Identity {
        let p = &self.principal;
        let assumed = p.kind == PrincipalType::AssumedRole;
        Identity {
            identity_type: Some(if assumed { "AssumedRole" } else { "IAMUser" }.into()),
            principal_arn: Some(self.arn.clone()),
            // An assumed-role ARN carries no role path; the issuer is rebuilt
            // without one (patterns that name a path do not match it).
            session_issuer_arn: assumed
                .then(|| format!("arn:{}:iam::{}:role/{}", p.partition, p.account, p.name)),
            session_name: p.session.clone(),
            ..Identity::default()
        }
    }

    /// Is this the principal that made `actor_identity`'s change? Same
    /// account and user, or same role and session (two people sharing an
    /// IAM Identity Center permission set have different session names).
    pub fn is_same_principal(&self, principal: &str, session: Option<&str>) -> bool {
        let me = &self.principal;
        match PrincipalArn::parse(principal) {
            Ok(other) => {
                other.account == me.account
                    && other.name == me.name
                    && (me.session.is_none()
                        || session.or(other.session.as_deref()) == me.session.as_deref())
            }
            Err(_) => false,
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
    let caller = Caller::parse(&approval.approver_arn)?;
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
    if policy
        .identities
        .approver_match(&caller.identity())
        .is_none()
    {
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
