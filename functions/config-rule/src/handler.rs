//! One rule invocation: evaluate, `PutEvaluations`, answer with what was sent.
pub use aws_lambda_events::event::config::ConfigEvent;
use driftguard_core::sweep::config_rule::{ConfigRule, ConfigRuleError};
pub use lambda_runtime::Diagnostic;
use serde_json::Value;

/// A failed invocation: AWS Config retries it.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct RuleFailed(#[from] pub ConfigRuleError);

impl From<RuleFailed> for Diagnostic {
    fn from(e: RuleFailed) -> Self {
        let class = match &e.0 {
            ConfigRuleError::Malformed(_) => "malformed",
            ConfigRuleError::UnsupportedMessageType(_) => "unsupported_event",
            ConfigRuleError::Port { source, .. } => source.class(),
        };
        Diagnostic {
            error_type: format!("driftguard.{class}"),
            error_message: e.0.to_string(),
        }
    }
}

pub async fn handle(rule: &ConfigRule, event: ConfigEvent) -> Result<Value, RuleFailed> {
    let report = rule.handle(&event).await.inspect_err(|e| {
        tracing::error!(error = %e, rule = event.config_rule_name.as_deref().unwrap_or(""), "config rule evaluation failed");
    })?;
    // Serializing our own types cannot fail; an empty object is the fallback anyway.
    Ok(serde_json::to_value(&report).unwrap_or_else(|_| Value::Object(Default::default())))
}
