//! CloudFormation change sets in memory, for the flows that preview and run
//! them (remediate's REVERT_DRIFT fallback, `driftguard rollback`).
use std::sync::Mutex;

use async_trait::async_trait;

use crate::ports::remediate::{ChangeSetPage, ChangeSets, CreateRequest, ResourceChange};
use driftguard_model::error::PortResult;

/// One stack's change sets: the stack is `UPDATE_COMPLETE` with
/// `parameter_keys`; every change set created is `CREATE_COMPLETE`,
/// `AVAILABLE` and lists `pages` (`DescribeChangeSet` pages, the
/// `NextToken` of each the next page's index). What was created, executed
/// and deleted is recorded.
#[derive(Debug, Default)]
pub struct MemoryChangeSets {
    /// The stack's parameter keys.
    pub parameter_keys: Vec<String>,
    /// What every change set lists, page by page.
    pub pages: Vec<Vec<ResourceChange>>,
    /// The `CreateChangeSet` requests, in order.
    pub created: Mutex<Vec<CreateRequest>>,
    /// The change sets executed, by name.
    pub executed: Mutex<Vec<String>>,
    /// The change sets deleted, by name.
    pub deleted: Mutex<Vec<String>>,
}

impl MemoryChangeSets {
    /// A stack with `parameter_keys` whose change sets list `pages`.
    pub fn new(parameter_keys: &[&str], pages: Vec<Vec<ResourceChange>>) -> Self {
        Self {
            parameter_keys: parameter_keys.iter().map(|k| k.to_string()).collect(),
            pages,
            ..Self::default()
        }
    }

    /// The names of the change sets created, in order.
    pub fn created_names(&self) -> Vec<String> {
        self.created
            .lock()
            .map(|c| c.iter().map(|r| r.name.clone()).collect())
            .unwrap_or_default()
    }
}

/// `Modify` of `logical_id` (of `resource_type`, when given), no replacement.
pub fn modify(logical_id: &str, resource_type: Option<&str>) -> ResourceChange {
    ResourceChange {
        logical_id: logical_id.into(),
        resource_type: resource_type.map(str::to_string),
        action: "Modify".into(),
        replacement: Some("False".into()),
    }
}

fn record<T>(list: &Mutex<Vec<T>>, item: T) {
    if let Ok(mut list) = list.lock() {
        list.push(item);
    }
}

#[async_trait]
impl ChangeSets for MemoryChangeSets {
    async fn parameter_keys(&self, _: &str) -> PortResult<Vec<String>> {
        Ok(self.parameter_keys.clone())
    }
    async fn create(&self, request: &CreateRequest) -> PortResult<Option<String>> {
        record(&self.created, request.clone());
        Ok(Some(format!("arn:cs/{}", request.name)))
    }
    async fn describe(
        &self,
        _: &str,
        _: &str,
        next_token: Option<&str>,
    ) -> PortResult<ChangeSetPage> {
        let page: usize = next_token.and_then(|t| t.parse().ok()).unwrap_or(0);
        Ok(ChangeSetPage {
            status: Some("CREATE_COMPLETE".into()),
            execution_status: Some("AVAILABLE".into()),
            changes: self.pages.get(page).cloned().unwrap_or_default(),
            next_token: (page + 1 < self.pages.len()).then(|| (page + 1).to_string()),
            ..ChangeSetPage::default()
        })
    }
    async fn execute(&self, _: &str, name: &str, _: &str) -> PortResult<()> {
        record(&self.executed, name.to_string());
        Ok(())
    }
    async fn delete(&self, _: &str, name: &str) -> PortResult<()> {
        record(&self.deleted, name.to_string());
        Ok(())
    }
    async fn stack_status(&self, _: &str) -> PortResult<Option<String>> {
        Ok(Some("UPDATE_COMPLETE".into()))
    }
}
