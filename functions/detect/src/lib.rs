//! detect: EventBridge envelopes (CloudTrail API calls, Config item and
//! compliance changes, CloudFormation status events) → ticket + "Drift Decision".
//!
//! [`wire`] builds the pipeline from configuration and an SDK config (what
//! `main.rs` runs, and what the emulator tests run); [`handler`] is the
//! per-event logic.
use std::sync::Arc;

use aws_config::SdkConfig;
use shared::adapters::aws::cloudformation::{CfnDriftDetector, CfnStackCatalog};
use shared::adapters::aws::cloudtrail::CloudTrailActorLookup;
use shared::adapters::aws::dynamodb::DynamoTicketStore;
use shared::adapters::aws::eventbridge::EventBridgeBus;
use shared::adapters::aws::opscenter::OpsCenterMirror;
use shared::config::{load_function_policy, Config, ConfigError};
use shared::pipeline::{Pipeline, Ports, Settings};
use shared::ports::{OpsMirror, SystemClock};

pub mod handler;

/// Clients, policy and pipeline from configuration. Fails on missing or invalid
/// configuration (`TABLE_NAME`, the policy), naming what is wrong.
pub async fn wire(config: &Config, sdk: &SdkConfig) -> Result<Pipeline, ConfigError> {
    let table = config.require_table()?.to_string();
    let ssm = aws_sdk_ssm::Client::new(sdk);
    let policy = load_function_policy(config, Some(&ssm)).await?;
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    let ops_mirror: Option<Arc<dyn OpsMirror>> = config
        .opscenter_mirror
        .then(|| Arc::new(OpsCenterMirror::new(ssm.clone())) as Arc<dyn OpsMirror>);
    let ports = Ports {
        catalog: Arc::new(CfnStackCatalog::new(cfn.clone())),
        drift: Arc::new(CfnDriftDetector::new(cfn)),
        actors: Arc::new(CloudTrailActorLookup::new(aws_sdk_cloudtrail::Client::new(
            sdk,
        ))),
        tickets: Arc::new(DynamoTicketStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            table,
        )),
        bus: Arc::new(EventBridgeBus::new(
            aws_sdk_eventbridge::Client::new(sdk),
            config.event_bus_name.clone(),
        )),
        ops_mirror,
        clock: Arc::new(SystemClock),
    };
    let settings = Settings {
        force_dry_run: config.force_dry_run,
        event_ttl: config.event_ttl(),
        watched_accounts: config.watched_accounts.clone(),
        ..Settings::default()
    };
    tracing::info!(
        policy = %config.policy_source.describe(),
        bus = %config.event_bus_name,
        dry_run_forced = config.force_dry_run,
        opscenter_mirror = config.opscenter_mirror,
        "detect wired"
    );
    Ok(Pipeline::new(ports, Arc::new(policy), settings))
}
