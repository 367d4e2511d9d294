//! Environments matched by OU path or account tag (issue 15): before a
//! change is decided, the account's [`AccountFacts`] are looked up in AWS
//! Organizations, only when the policy has such an environment and the
//! account is not listed by id in one (those decide without a call).
//! A lookup that fails fails the event (Lambda retries, then the DLQ):
//! deciding without the facts could apply another environment's rules.
use std::sync::Arc;

use super::Pipeline;
use crate::ports::AccountDirectory;
use crate::resilience::retry;
use driftguard_model::domain::policy::AccountFacts;
use driftguard_model::error::{PortError, PortResult};

impl Pipeline {
    /// Look accounts' OU paths and tags up here.
    pub fn with_account_directory(mut self, directory: Arc<dyn AccountDirectory>) -> Self {
        self.directory = Some(directory);
        self
    }

    /// The facts `account`'s decision needs, if it needs any.
    pub(super) async fn account_facts(&self, account: &str) -> PortResult<Option<AccountFacts>> {
        if !self.policy.needs_account_facts() || self.policy.environment_for(account).is_some() {
            return Ok(None);
        }
        let Some(directory) = &self.directory else {
            return Err(PortError::Failed {
                service: "organizations",
                operation: "ListParents",
                message: "the policy matches environments by OU or tag, and this function has \
                          no AWS Organizations lookups"
                    .into(),
            });
        };
        retry(&self.settings.retry, "organizations:account", || {
            directory.facts(account)
        })
        .await
        .map(Some)
    }
}
