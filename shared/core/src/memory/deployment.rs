//! An in-memory [`DeploymentProbe`]: a deployment described by plain facts
//! (doctor's unit tests).
use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::ports::deployment::{DeploymentProbe, RecorderFacts, RuleFacts, StackFacts, TrailFacts};
use driftguard_model::error::{PortError, PortResult};

/// Every fact the probe answers with. A name in `unreadable` fails with
/// access denied (parameters, secrets, tables, buses, roles).
#[derive(Debug, Clone, Default)]
pub struct MemoryDeploymentProbe {
    pub stacks: BTreeMap<String, StackFacts>,
    pub trails: BTreeMap<String, Vec<TrailFacts>>,
    pub recorders: Vec<RecorderFacts>,
    /// Keyed by `(bus or "default", rule name)`.
    pub rules: BTreeMap<(String, String), RuleFacts>,
    pub queues: BTreeMap<String, u64>,
    pub parameters: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    pub tables: BTreeMap<String, String>,
    pub buses: Vec<String>,
    pub roles: BTreeMap<String, String>,
    pub unreadable: Vec<String>,
}

impl MemoryDeploymentProbe {
    fn readable(
        &self,
        name: &str,
        service: &'static str,
        operation: &'static str,
    ) -> PortResult<()> {
        if self.unreadable.iter().any(|n| n == name) {
            return Err(PortError::Failed {
                service,
                operation,
                message: format!("AccessDenied: not authorized to read {name}"),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl DeploymentProbe for MemoryDeploymentProbe {
    async fn stack(&self, name: &str) -> PortResult<Option<StackFacts>> {
        Ok(self.stacks.get(name).cloned())
    }

    async fn trails(&self, region: &str) -> PortResult<Vec<TrailFacts>> {
        Ok(self.trails.get(region).cloned().unwrap_or_default())
    }

    async fn recorders(&self) -> PortResult<Vec<RecorderFacts>> {
        Ok(self.recorders.clone())
    }

    async fn rule(&self, bus: Option<&str>, name: &str) -> PortResult<Option<RuleFacts>> {
        let key = (bus.unwrap_or("default").to_string(), name.to_string());
        Ok(self.rules.get(&key).cloned())
    }

    async fn queue_depth(&self, queue_url: &str) -> PortResult<u64> {
        self.queues
            .get(queue_url)
            .copied()
            .ok_or_else(|| PortError::NotFound {
                what: format!("queue {queue_url}"),
            })
    }

    async fn parameter(&self, name: &str) -> PortResult<Option<String>> {
        self.readable(name, "ssm", "GetParameter")?;
        Ok(self.parameters.get(name).cloned())
    }

    async fn secret(&self, id: &str) -> PortResult<Option<String>> {
        self.readable(id, "secretsmanager", "GetSecretValue")?;
        Ok(self.secrets.get(id).cloned())
    }

    async fn table_status(&self, name: &str) -> PortResult<Option<String>> {
        self.readable(name, "dynamodb", "DescribeTable")?;
        Ok(self.tables.get(name).cloned())
    }

    async fn bus_exists(&self, name: &str) -> PortResult<bool> {
        self.readable(name, "events", "DescribeEventBus")?;
        Ok(self.buses.iter().any(|b| b == name))
    }

    async fn role_arn(&self, name: &str) -> PortResult<Option<String>> {
        self.readable(name, "iam", "GetRole")?;
        Ok(self.roles.get(name).cloned())
    }
}
