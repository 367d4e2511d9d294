//! Who acted: the change's identity classified by the policy's identities
//! (a Config item's actor looked up in CloudTrail), CloudFormation's calls
//! checked against the owning stack, and the sweep's identity-less change
//! carrying the actor its drift was decided on.
use super::Pipeline;
use crate::ports::AccountLookups;
use crate::resilience::retry;
use driftguard_model::domain::{
    classify_actor_in, Actor, ActorKind, Change, ChangeSource, Drift, Identity, Ownership, Ticket,
};

impl Pipeline {
    /// The account principal patterns without one match: driftguard's.
    pub(super) fn home_account<'a>(&'a self, change: &'a Change) -> &'a str {
        self.settings
            .watched_accounts
            .first()
            .map(String::as_str)
            .or(self.policy.identities.home_account())
            .unwrap_or(&change.account)
    }

    fn classify(&self, identity: &Identity, change: &Change) -> Actor {
        classify_actor_in(
            identity,
            &self.policy.identities,
            change.time,
            Some(self.home_account(change)),
        )
    }

    /// CloudFormation acted on a resource: its own deploy only when the stack
    /// that owns the resource has an operation in progress. Otherwise it acted
    /// for some other stack (anyone may deploy a stack whose resource targets
    /// another stack's, e.g. an `AWS::EC2::SecurityGroupIngress`): decided by
    /// policy like any other automation.
    pub(super) fn cloudformation_for_another_stack(actor: &mut Actor, ownership: &Ownership) {
        let Ownership::Managed(m) = ownership else {
            return;
        };
        if m.operation_in_progress() {
            actor.evidence.push(format!(
                "owning stack {} is {}: CloudFormation's own operation",
                m.stack_name, m.stack_status
            ));
            return;
        }
        actor.kind = ActorKind::Automation;
        actor.evidence.push(format!(
            "CloudFormation acted for another stack: owner {} is {}",
            m.stack_name, m.stack_status
        ));
    }

    pub(super) async fn actor_of(&self, lookups: &AccountLookups, change: &Change) -> Actor {
        let needs_lookup = matches!(
            change.source,
            ChangeSource::ConfigItem | ChangeSource::ConfigCompliance
        ) && identity_is_empty(&change.identity);
        if !needs_lookup {
            return self.classify(&change.identity, change);
        }
        let (identity, note) = if !change.resource.is_resolved() {
            (
                Identity::default(),
                "no resource name to look the actor up by".to_string(),
            )
        } else {
            match retry(&self.settings.retry, "lookup_actor", || {
                lookups.actors.find_identity(&change.resource, change.time)
            })
            .await
            {
                Ok(Some(identity)) => (
                    identity,
                    "identity from CloudTrail LookupEvents".to_string(),
                ),
                Ok(None) => (
                    Identity::default(),
                    "CloudTrail LookupEvents found no matching write call".to_string(),
                ),
                Err(e) => {
                    tracing::warn!(event_id = %change.event_id, error = %e, "actor lookup failed: actor unknown");
                    (
                        Identity::default(),
                        format!("CloudTrail LookupEvents failed: {e}"),
                    )
                }
            }
        };
        let mut actor = self.classify(&identity, change);
        actor.evidence.insert(0, note);
        actor
    }
}

/// A break-glass decision stands until its window's end (`not_after`,
/// recorded on the actor when it was classified): after it the drift is
/// decided again, as anyone's. A break-glass actor without a recorded end
/// (a ticket written before the field) is decided again too.
fn window_ended(last: &Actor, change: &Change) -> Option<String> {
    if last.kind != ActorKind::BreakGlass {
        return None;
    }
    match last.break_glass_until {
        Some(end) if change.time <= end => None,
        Some(end) => Some(format!(
            "break-glass window of {} ended at {end}: the drift is decided again",
            last.principal
        )),
        None => Some(format!(
            "break-glass change by {} has no recorded window end: the drift is decided again",
            last.principal
        )),
    }
}

fn identity_is_empty(i: &Identity) -> bool {
    i.principal_arn.is_none()
        && i.session_issuer_arn.is_none()
        && i.invoked_by.is_none()
        && i.identity_type.is_none()
}

/// The sweep sees a drift without an identity (its actor is `unknown`). When
/// the ticket's last decision was taken on this very drift (same
/// fingerprint), the actor of that decision stands: a break-glass fix stays
/// unreverted until its window ends, a pipeline change allowed. Pure.
pub fn carried_actor(
    previous: Option<&Ticket>,
    change: &Change,
    fresh: Actor,
    drift: Option<&Drift>,
) -> Actor {
    if change.source != ChangeSource::Sweep || fresh.kind != ActorKind::Unknown {
        return fresh;
    }
    let (Some(ticket), Some(drift)) = (previous, drift) else {
        return fresh;
    };
    let Some(last) = ticket.last_actor.as_ref() else {
        return fresh;
    };
    let fingerprint = drift.fingerprint();
    if last.kind == ActorKind::Unknown || ticket.decided_drift.as_deref() != Some(&fingerprint) {
        return fresh;
    }
    if let Some(ended) = window_ended(last, change) {
        let mut fresh = fresh;
        fresh.evidence.insert(0, ended);
        return fresh;
    }
    let mut actor = last.clone();
    actor.evidence.insert(
        0,
        format!(
            "carried from ticket {}: the sweep found the same drift (fingerprint {}) the {} change was decided on",
            ticket.id,
            &fingerprint[..12],
            last.kind
        ),
    );
    actor
}
