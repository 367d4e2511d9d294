//! A people role recognised by its trust policy (issue 34 item 1): an
//! `automation` session whose role's trust policy admits a SAML provider
//! (IAM Identity Center's included) or an OIDC provider without a subject
//! condition is a person's. One `iam:GetRole` per role per container
//! (`CachedRoleTrust`), and only when the kind decides the verdict: an
//! actor the policy decides the same way as `automation` or `human` costs
//! no AWS call (neither does the ignored path: driftguard's own and
//! CloudFormation's calls never get here as `automation`).
use std::sync::Arc;

use super::Pipeline;
use crate::ports::trust::RoleTrust;
use crate::resilience::retry;
use driftguard_model::domain::trust::{people_evidence, trusted_principals};
use driftguard_model::domain::{Actor, ActorKind, Change, Decision};

impl Pipeline {
    /// Ask the role's trust policy who its sessions are (see the module).
    /// Wrap the port in `CachedRoleTrust` for one look-up per role.
    pub fn with_role_trust(mut self, trust: Arc<dyn RoleTrust>) -> Self {
        self.role_trust = Some(trust);
        self
    }

    /// `actor`, or the person its role's trust policy says it is, when the
    /// kind changes the decision `decides` takes.
    pub(super) async fn people_by_trust(
        &self,
        actor: Actor,
        change: &Change,
        decides: impl Fn(&Actor) -> Decision,
    ) -> Actor {
        let (Some(trust), Some(role)) = (
            self.role_trust.as_ref(),
            change.identity.session_issuer_arn.as_deref(),
        ) else {
            return actor;
        };
        if actor.kind != ActorKind::Automation {
            return actor;
        }
        let mut person = actor.clone();
        person.kind = ActorKind::Human;
        let (a, p) = (decides(&actor).verdict, decides(&person).verdict);
        if (a.action, &a.rule, a.dry_run, a.severity) == (p.action, &p.rule, p.dry_run, p.severity)
        {
            return actor;
        }
        let answer = retry(&self.settings.retry, "get_role", || {
            trust.trust_policy(role)
        })
        .await;
        let why = match answer {
            Ok(Some(document)) => match trusted_principals(&document) {
                Ok(trusted) => people_evidence(&trusted),
                Err(e) => {
                    tracing::warn!(event_id = %change.event_id, role, error = %e, "unreadable trust policy");
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(event_id = %change.event_id, role, error = %e, "GetRole failed: the actor stays automation");
                None
            }
        };
        match why {
            Some(why) => {
                person.evidence.push(format!("{role}: {why}"));
                person
            }
            None => actor,
        }
    }
}
