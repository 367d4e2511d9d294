//! [`MemberAccounts`] in memory: each member account's lookups, or none
//! (its role is missing: `AssumeRole` is refused as AWS refuses it).
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;

use crate::ports::{AccountLookups, MemberAccounts};
use driftguard_model::error::{PortError, PortResult};

#[derive(Default)]
pub struct MemoryMemberAccounts {
    accounts: Mutex<HashMap<String, AccountLookups>>,
    /// Answer for the next calls instead (throttling, say).
    fail_next: Mutex<Vec<PortError>>,
    calls: AtomicUsize,
}

impl std::fmt::Debug for MemoryMemberAccounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryMemberAccounts")
            .field("calls", &self.calls)
            .finish_non_exhaustive()
    }
}

impl MemoryMemberAccounts {
    pub fn new() -> Self {
        Self::default()
    }

    /// A member account whose role can be assumed, with its lookups.
    pub fn add(&self, account: &str, lookups: AccountLookups) {
        super::lock(&self.accounts).insert(account.to_string(), lookups);
    }

    /// The next `lookups` calls fail with these errors, in order.
    pub fn fail_next(&self, errors: Vec<PortError>) {
        *super::lock(&self.fail_next) = errors.into_iter().rev().collect();
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl MemberAccounts for MemoryMemberAccounts {
    async fn lookups(&self, account: &str, region: &str) -> PortResult<AccountLookups> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(e) = super::lock(&self.fail_next).pop() {
            return Err(e);
        }
        super::lock(&self.accounts)
            .get(account)
            .cloned()
            .ok_or_else(|| PortError::Failed {
                service: "sts",
                operation: "AssumeRole",
                // STS's answer when the role is missing or does not trust the caller.
                message: format!(
                    "{}: AccessDenied: User is not authorized to perform: sts:AssumeRole",
                    self.role_arn(account, region)
                ),
            })
    }

    fn role_arn(&self, account: &str, _region: &str) -> String {
        format!("arn:aws:iam::{account}:role/driftguard-read")
    }
}

/// [`crate::ports::AccountDirectory`] in memory: each account's OU path and
/// tags; an unknown account is refused as Organizations refuses it
/// (`AccountNotFoundException`).
#[derive(Debug, Default)]
pub struct MemoryAccountDirectory {
    accounts: Mutex<HashMap<String, driftguard_model::domain::policy::AccountFacts>>,
    calls: AtomicUsize,
}

impl MemoryAccountDirectory {
    pub fn with(self, account: &str, ou_path: &str, tags: &[(&str, &str)]) -> Self {
        super::lock(&self.accounts).insert(
            account.to_string(),
            driftguard_model::domain::policy::AccountFacts {
                ou_path: ou_path.to_string(),
                tags: tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
        );
        self
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl crate::ports::AccountDirectory for MemoryAccountDirectory {
    async fn facts(
        &self,
        account: &str,
    ) -> PortResult<driftguard_model::domain::policy::AccountFacts> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        super::lock(&self.accounts)
            .get(account)
            .cloned()
            .ok_or_else(|| PortError::Failed {
                service: "organizations",
                operation: "ListParents",
                message: format!("AccountNotFoundException: {account}"),
            })
    }
}
