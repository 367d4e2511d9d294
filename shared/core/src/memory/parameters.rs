//! In-memory [`ParameterReader`]: SSM parameters from a map (unit tests).
use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::ports::ParameterReader;
use driftguard_model::error::{PortError, PortResult};

#[derive(Debug, Clone, Default)]
pub struct MemoryParameters(pub BTreeMap<String, String>);

impl MemoryParameters {
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.0.insert(name.to_string(), value.to_string());
        self
    }
}

#[async_trait]
impl ParameterReader for MemoryParameters {
    async fn read_parameter(&self, name: &str) -> PortResult<String> {
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| PortError::NotFound {
                what: format!("ssm:GetParameter: parameter {name}"),
            })
    }
}
