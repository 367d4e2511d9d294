//! Changes in member accounts (issue 15): the lookups of a change that
//! happened in another watched account run there, through the member's
//! read role (`MemberAccounts`), never in the central account. A member
//! whose role cannot be used (missing, or refusing `AssumeRole`) degrades:
//! its lookups fail with why, so the ownership is unknown, the verdict is
//! capped to a ticket and the ticket says which role could not be used.
//! Throttling or a timeout on `AssumeRole` fails the event (Lambda retries).
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Pipeline;
use crate::ports::{
    AccountLookups, ActorLookup, DriftDetector, MemberAccounts, StackCatalog, StackResourceSummary,
    StackSummary,
};
use crate::resilience::retry;
use driftguard_model::domain::{Change, Drift, Identity, Ownership, ResourceRef};
use driftguard_model::error::{PortError, PortResult};

impl Pipeline {
    /// Look changes of member accounts up through their roles.
    pub fn with_members(mut self, members: Arc<dyn MemberAccounts>) -> Self {
        self.members = Some(members);
        self
    }

    /// Whether the change happened in a member account (not driftguard's own)
    /// that this pipeline reaches through a member role.
    pub(super) fn in_member_account(&self, change: &Change) -> bool {
        self.members.is_some()
            && !change.account.is_empty()
            && change.account != self.home_account(change)
    }

    /// Where the change's lookups run: driftguard's own account's ports, or
    /// the member's through its role.
    pub(super) async fn lookups_for(&self, change: &Change) -> Result<AccountLookups, PortError> {
        let home = AccountLookups {
            catalog: self.ports.catalog.clone(),
            drift: self.ports.drift.clone(),
            actors: self.ports.actors.clone(),
        };
        let Some(members) = self
            .members
            .as_ref()
            .filter(|_| self.in_member_account(change))
        else {
            return Ok(home);
        };
        let found = retry(&self.settings.retry, "sts:AssumeRole", || {
            members.lookups(&change.account, &change.region)
        })
        .await;
        match found {
            Ok(l) => Ok(l),
            Err(e) if e.is_retryable() => Err(e),
            Err(e) => {
                let role = members.role_arn(&change.account, &change.region);
                tracing::warn!(
                    event_id = %change.event_id,
                    account = %change.account,
                    region = %change.region,
                    role = %role,
                    error = %e,
                    "member role cannot be used: ownership unknown, ticket only"
                );
                Ok(Unreachable::lookups(format!(
                    "driftguard cannot look into account {} ({}): member role {role} cannot be used: {e}",
                    change.account, change.region
                )))
            }
        }
    }
}

/// The lookups of a member account whose role cannot be used: every call
/// fails (not retried) with the reason.
#[derive(Debug)]
struct Unreachable {
    reason: String,
}

impl Unreachable {
    fn lookups(reason: String) -> AccountLookups {
        let u = Arc::new(Self { reason });
        AccountLookups {
            catalog: u.clone(),
            drift: u.clone(),
            actors: u,
        }
    }

    fn err<T>(&self) -> PortResult<T> {
        Err(PortError::Failed {
            service: "sts",
            operation: "AssumeRole",
            message: self.reason.clone(),
        })
    }
}

#[async_trait]
impl StackCatalog for Unreachable {
    async fn owner_of(&self, _: &ResourceRef) -> PortResult<Ownership> {
        self.err()
    }
    async fn describe_stack(&self, _: &str) -> PortResult<Option<StackSummary>> {
        self.err()
    }
    async fn list_stacks(&self) -> PortResult<Vec<StackSummary>> {
        self.err()
    }
    async fn list_stack_resources(&self, _: &str) -> PortResult<Vec<StackResourceSummary>> {
        self.err()
    }
}

#[async_trait]
impl DriftDetector for Unreachable {
    async fn detect_resource_drift(&self, _: &str, _: &str) -> PortResult<Drift> {
        self.err()
    }
}

#[async_trait]
impl ActorLookup for Unreachable {
    async fn find_identity(
        &self,
        _: &ResourceRef,
        _: DateTime<Utc>,
    ) -> PortResult<Option<Identity>> {
        self.err()
    }
}
