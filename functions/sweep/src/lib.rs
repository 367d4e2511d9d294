//! sweep: the scheduled safety net. Every managed stack gets a stack-level
//! `DetectStackDrift`; drifted resources go through the same decision pipeline
//! as detect; tickets of resources back IN_SYNC are resolved; coverage is
//! stored and published as `Drift Sweep Summary` (see `docs/sweep.md`).
//!
//! [`wire`] builds the sweeper from configuration and an SDK config (what
//! `main.rs` runs, and what the emulator tests run); [`handler`] is the
//! per-invocation logic.
use std::sync::Arc;

use aws_config::SdkConfig;
use shared::adapters::aws::cloudformation::{CfnDriftDetector, CfnStackCatalog};
use shared::adapters::aws::cloudtrail::CloudTrailActorLookup;
use shared::adapters::aws::dynamodb::DynamoTicketStore;
use shared::adapters::aws::eventbridge::EventBridgeBus;
use shared::config::{load_function_policy, Config, ConfigError};
use shared::pipeline::{Pipeline, Ports, Settings};
use shared::ports::SystemClock;
use shared::sweep::aws::{CfnSweep, DynamoSweepStore};
use shared::sweep::ports::StackDriftScanner;
use shared::sweep::settings::SweepConfigError;
use shared::sweep::{SweepPorts, SweepSettings, Sweeper};

pub mod handler;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Sweep(#[from] SweepConfigError),
}

/// Clients, policy, pipeline and sweeper from configuration.
pub async fn wire(
    config: &Config,
    settings: SweepSettings,
    sdk: &SdkConfig,
) -> Result<Sweeper, WireError> {
    wire_with_scanner(config, settings, sdk, None).await
}

/// [`wire`], with another drift scanner (emulator tests: moto has no stack
/// drift detection). `None` uses CloudFormation.
pub async fn wire_with_scanner(
    config: &Config,
    settings: SweepSettings,
    sdk: &SdkConfig,
    scanner: Option<Arc<dyn StackDriftScanner>>,
) -> Result<Sweeper, WireError> {
    let table = config.require_table()?.to_string();
    let ssm = aws_sdk_ssm::Client::new(sdk);
    let policy = load_function_policy(config, Some(&ssm)).await?;
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let tickets = Arc::new(DynamoTicketStore::new(ddb.clone(), table.clone()));
    let bus = Arc::new(EventBridgeBus::new(
        aws_sdk_eventbridge::Client::new(sdk),
        config.event_bus_name.clone(),
    ));
    let clock = Arc::new(SystemClock);
    let pipeline = Pipeline::new(
        Ports {
            catalog: Arc::new(CfnStackCatalog::new(cfn.clone())),
            drift: Arc::new(CfnDriftDetector::new(cfn.clone())),
            actors: Arc::new(CloudTrailActorLookup::new(aws_sdk_cloudtrail::Client::new(
                sdk,
            ))),
            tickets: tickets.clone(),
            bus: bus.clone(),
            // Tickets opened by the sweep are mirrored by detect's path only.
            ops_mirror: None,
            clock: clock.clone(),
        },
        Arc::new(policy),
        Settings {
            force_dry_run: config.force_dry_run,
            event_ttl: config.event_ttl(),
            ..Settings::default()
        },
    );
    // Known-good templates of stable, in-sync stacks (rollback targets).
    let known_good = shared::sweep::orchestrator::KnownGoodRecorder {
        templates: Arc::new(shared::remediation::executor::CfnTemplateSource {
            client: cfn.clone(),
            retry: shared::resilience::RetryPolicy::default(),
        }),
        history: Arc::new(
            shared::adapters::aws::template_history::DynamoTemplateHistory::new(
                ddb.clone(),
                table.clone(),
            ),
        ),
    };
    let cfn_sweep = Arc::new(CfnSweep::new(cfn));
    let scanner = scanner.unwrap_or_else(|| cfn_sweep.clone());
    tracing::info!(
        policy = %config.policy_source.describe(),
        bus = %config.event_bus_name,
        stack_globs = %settings.stack_globs.join(","),
        required_tag = settings.required_tag.as_ref().map(|(k, v)| format!("{k}={v}")).unwrap_or_default(),
        concurrency = settings.concurrency,
        deadline_margin_s = settings.deadline_margin.as_secs(),
        "sweep wired"
    );
    Ok(Sweeper::new(
        SweepPorts {
            inventory: cfn_sweep,
            scanner,
            store: Arc::new(DynamoSweepStore::new(ddb, table)),
            tickets,
            bus,
            clock,
        },
        Arc::new(pipeline),
        settings,
    )
    // Out-of-template drift is resolved only by reading the property back through
    // the resource's own API (DriftReadPolicy grants the reads).
    .with_read_back(Arc::new(
        shared::adapters::aws::readback::AwsReadBack::from_conf(sdk),
    ))
    .with_history(known_good))
}
