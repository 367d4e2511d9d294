//! detect: EventBridge envelopes (CloudTrail API calls, Config item and
//! compliance changes, CloudFormation status events) → ticket + "Drift Decision".
//!
//! [`wire`] builds the pipeline from configuration and an SDK config (what
//! `main.rs` runs, and what the emulator tests run); [`handler`] is the
//! per-event logic.
use std::sync::Arc;

use aws_config::SdkConfig;
use driftguard_adapters::cloudformation::{
    CfnDriftDetector, CfnStackCatalog, MultiRegionCatalog, MultiRegionDriftDetector,
};
use driftguard_adapters::cloudtrail::CloudTrailActorLookup;
use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_adapters::eventbridge::EventBridgeBus;
use driftguard_adapters::members::{AwsMemberAccounts, MemberRole};
use driftguard_adapters::opscenter::OpsCenterMirror;
use driftguard_adapters::template_history::DynamoTemplateHistory;
use driftguard_adapters::templates::CfnTemplateSource;
use driftguard_core::config::{load_function_policy, Config, ConfigError};
use driftguard_core::detect::{Pipeline, Ports, Settings};
use driftguard_core::ports::trust::CachedRoleTrust;
use driftguard_core::ports::{OpsMirror, SystemClock};
use driftguard_core::remediate::history::KnownGoodRecorder;
use driftguard_core::resilience::RetryPolicy;

pub mod handler;

/// Clients, policy and pipeline from configuration. Fails on missing or invalid
/// configuration (`TABLE_NAME`, the policy), naming what is wrong.
pub async fn wire(config: &Config, sdk: &SdkConfig) -> Result<Pipeline, ConfigError> {
    wire_observed(config, sdk, |ports| ports).await
}

/// [`wire`] with the ports passed through `adjust` (everything else as the
/// Lambda has it, known-good recording included): `driftguard run-event`
/// watches what detect publishes, to hand the decision to remediate.
pub async fn wire_observed(
    config: &Config,
    sdk: &SdkConfig,
    adjust: impl FnOnce(Ports) -> Ports,
) -> Result<Pipeline, ConfigError> {
    let pipeline = wire_with(config, sdk, adjust).await?;
    Ok(pipeline.with_known_good(known_good(config, sdk)?))
}

/// Known-good templates after completed deploys (stack status events): read
/// with `GetTemplate`, stored on the ticket table. Not part of
/// [`wire_with`]: `driftguard plan` writes nothing.
fn known_good(config: &Config, sdk: &SdkConfig) -> Result<KnownGoodRecorder, ConfigError> {
    let table = config.require_table()?.to_string();
    Ok(KnownGoodRecorder {
        templates: Arc::new(CfnTemplateSource {
            client: aws_sdk_cloudformation::Client::new(sdk),
            retry: RetryPolicy::default(),
        }),
        history: Arc::new(DynamoTemplateHistory::new(
            aws_sdk_dynamodb::Client::new(sdk),
            table,
        )),
    })
}

/// [`wire`], with the ports passed through `adjust` before the pipeline is
/// built: `driftguard plan` keeps the real lookups and swaps the ticket store
/// and the bus for ones that write nothing.
pub async fn wire_with(
    config: &Config,
    sdk: &SdkConfig,
    adjust: impl FnOnce(Ports) -> Ports,
) -> Result<Pipeline, ConfigError> {
    let table = config.require_table()?.to_string();
    let ssm = driftguard_adapters::ssm::SsmParameters::new(sdk);
    let policy = load_function_policy(config, Some(&ssm)).await?;
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    let ops_mirror: Option<Arc<dyn OpsMirror>> = config
        .opscenter_mirror
        .then(|| Arc::new(OpsCenterMirror::new(ssm.0.clone())) as Arc<dyn OpsMirror>);
    let (catalog, drift) = regional_catalogs(config, sdk, cfn);
    let ports = Ports {
        catalog,
        drift,
        actors: Arc::new(
            CloudTrailActorLookup::new(aws_sdk_cloudtrail::Client::new(sdk)).with_global_client(
                aws_sdk_cloudtrail::Client::new(&in_region(sdk, "us-east-1")),
            ),
        ),
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
    // Asked only for a policy with environments by OU or tag
    // (`Pipeline::account_facts`); building the client makes no call.
    let mut pipeline = Pipeline::new(adjust(ports), Arc::new(policy), settings)
        .with_account_directory(Arc::new(
            driftguard_adapters::organizations::OrgAccountDirectory::from_conf(sdk),
        ));
    // People roles by their trust policy: one GetRole per role of driftguard's
    // own account per container (the detect role may iam:GetRole).
    if let Some(home) = config.watched_accounts.first() {
        pipeline = pipeline.with_role_trust(Arc::new(CachedRoleTrust::new(Arc::new(
            driftguard_adapters::iam_trust::IamRoleTrust::new(sdk, home.clone()),
        ))));
    }
    Ok(match member_accounts(config, sdk) {
        Some(m) => pipeline.with_members(m),
        None => pipeline,
    })
}

/// Member accounts through `MEMBER_ROLE_NAME` (session `driftguard-detect`).
fn member_accounts(config: &Config, sdk: &SdkConfig) -> Option<Arc<AwsMemberAccounts>> {
    let name = config.member_role_name.as_deref()?;
    let mut role = MemberRole::new(name, "driftguard-detect");
    role.external_id = config.member_external_id.clone();
    tracing::info!(
        role = name,
        external_id = role.external_id.is_some(),
        "member accounts looked up through their role"
    );
    Some(Arc::new(
        AwsMemberAccounts::new(sdk, role).with_watched_regions(config.watched_regions.clone()),
    ))
}

fn in_region(sdk: &SdkConfig, region: &str) -> SdkConfig {
    sdk.to_builder()
        .region(aws_config::Region::new(region.to_string()))
        .build()
}

/// The home region's catalog and drift detector, plus one per `WATCHED_REGIONS`
/// entry: global services (IAM) deliver their events in us-east-1 only, their
/// stacks may be anywhere.
fn regional_catalogs(
    config: &Config,
    sdk: &SdkConfig,
    cfn: aws_sdk_cloudformation::Client,
) -> (Arc<MultiRegionCatalog>, Arc<MultiRegionDriftDetector>) {
    let home = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let mut regions = vec![(home.clone(), cfn)];
    for r in config.watched_regions.iter().filter(|r| **r != home) {
        regions.push((
            r.clone(),
            aws_sdk_cloudformation::Client::new(&in_region(sdk, r)),
        ));
    }
    tracing::info!(home = %home, regions = ?regions.iter().map(|(r, _)| r).collect::<Vec<_>>(), "watched regions");
    let catalog = Arc::new(MultiRegionCatalog::new(
        regions
            .iter()
            .map(|(r, c)| (r.clone(), CfnStackCatalog::new(c.clone())))
            .collect(),
        Some(MultiRegionCatalog::iam_client(sdk)),
    ));
    let drift = Arc::new(MultiRegionDriftDetector::new(
        catalog.clone(),
        regions
            .into_iter()
            .map(|(r, c)| (r, CfnDriftDetector::new(c)))
            .collect(),
    ));
    (catalog, drift)
}
