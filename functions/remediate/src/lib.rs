//! remediate: "Drift Decision" (revert / rollback) and "Drift Remediation
//! Approved" envelopes → plan, safety checks, act, verify, "Drift Remediation
//! Result". The logic is [`shared::remediation::Remediator`]; [`wire`] builds it
//! from configuration (what `main.rs` runs, and what the emulator tests run).
use std::sync::Arc;

use aws_config::SdkConfig;
use shared::adapters::aws::cloudformation::{CfnDriftDetector, CfnStackCatalog};
use shared::adapters::aws::dynamodb::DynamoTicketStore;
use shared::adapters::aws::eventbridge::EventBridgeBus;
use shared::adapters::aws::template_history::DynamoTemplateHistory;
use shared::config::{load_function_policy, Config, ConfigError};
use shared::ports::SystemClock;
use shared::remediation::executor::{AwsClients, AwsExecutor, CfnTemplateSource};
use shared::remediation::history::WithHistory;
use shared::remediation::limits::DynamoSafetyStore;
use shared::remediation::{Remediator, RemediatorSettings};
use shared::resilience::RetryPolicy;

pub mod handler;

/// Clients, policy and remediator from configuration. Fails on missing or
/// invalid configuration (`TABLE_NAME`, the policy), naming what is wrong.
pub async fn wire(config: &Config, sdk: &SdkConfig) -> Result<Remediator, ConfigError> {
    let table = config.require_table()?.to_string();
    let ssm = aws_sdk_ssm::Client::new(sdk);
    let policy = load_function_policy(config, Some(&ssm)).await?;
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let retry = RetryPolicy::default();
    let remediator = Remediator {
        tickets: Arc::new(DynamoTicketStore::new(ddb.clone(), table.clone())),
        bus: Arc::new(EventBridgeBus::new(
            aws_sdk_eventbridge::Client::new(sdk),
            config.event_bus_name.clone(),
        )),
        catalog: Arc::new(CfnStackCatalog::new(cfn.clone())),
        drift: Some(Arc::new(CfnDriftDetector::new(cfn.clone()))),
        templates: Arc::new(WithHistory {
            inner: CfnTemplateSource { client: cfn, retry },
            history: Arc::new(DynamoTemplateHistory::new(ddb.clone(), table.clone())),
        }),
        executor: Arc::new(AwsExecutor::new(AwsClients::new(sdk))),
        safety: Arc::new(DynamoSafetyStore::new(ddb, table)),
        clock: Arc::new(SystemClock),
        policy: Arc::new(policy),
        settings: RemediatorSettings {
            dry_run: config.force_dry_run,
            event_ttl_days: i64::from(config.event_ttl_days),
            retry,
            ..RemediatorSettings::default()
        },
    };
    tracing::info!(
        policy = %config.policy_source.describe(),
        bus = %config.event_bus_name,
        dry_run_forced = config.force_dry_run,
        "remediate wired"
    );
    Ok(remediator)
}
