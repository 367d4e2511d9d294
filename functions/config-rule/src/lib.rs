//! config-rule: the AWS Config custom rule "CloudFormation-managed resources
//! are in sync with their stack" (see `driftguard_core::sweep::config_rule` and
//! `docs/sweep.md`). [`wire`] builds it from configuration; [`handler`] runs
//! one rule invocation.
use std::sync::Arc;

use aws_config::SdkConfig;
use driftguard_adapters::cloudformation::{CfnDriftDetector, CfnStackCatalog};
use driftguard_adapters::config_evaluations::ConfigEvaluationSink;
use driftguard_adapters::config_ids::AwsConfigIds;
use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_core::config::{Config, ConfigError};
use driftguard_core::ports::SystemClock;
use driftguard_core::resilience::RetryPolicy;
use driftguard_core::sweep::config_rule::ConfigRule;

pub mod handler;

/// Clients from configuration (`TABLE_NAME` for the ticket fallback).
pub fn wire(config: &Config, sdk: &SdkConfig) -> Result<ConfigRule, ConfigError> {
    let table = config.require_table()?.to_string();
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    tracing::info!(table = %table, "config-rule wired");
    Ok(ConfigRule {
        catalog: Arc::new(CfnStackCatalog::new(cfn.clone())),
        drift: Arc::new(CfnDriftDetector::new(cfn)),
        tickets: Arc::new(DynamoTicketStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            table,
        )),
        sink: Arc::new(ConfigEvaluationSink::new(aws_sdk_config::Client::new(sdk))),
        clock: Arc::new(SystemClock),
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: std::time::Duration::from_millis(200),
            max_delay: std::time::Duration::from_secs(3),
            attempt_timeout: std::time::Duration::from_secs(20),
        },
        config_ids: Arc::new(AwsConfigIds::from_sdk(sdk)),
    })
}
