//! sweep: the scheduled safety net. Every managed stack gets a stack-level
//! `DetectStackDrift`; drifted resources go through the same decision pipeline
//! as detect; tickets of resources back IN_SYNC are resolved; coverage is
//! stored and published as `Drift Sweep Summary` (see `docs/sweep.md`).
//!
//! At organization scale (`SWEEP_QUEUE_URL` and `MEMBER_ROLE_NAME` set) the
//! scheduled run also sends one message per member account and region to the
//! sweep queue; each message is one invocation (the queue's event source
//! mapping bounds how many run at once) that sweeps that part through the
//! member's read role, with its own cursor (`docs/multi-account.md`).
//!
//! [`wire_all`] builds both from configuration and an SDK config (what
//! `main.rs` runs, and what the emulator tests run); [`handler`] is the
//! per-invocation logic.
use driftguard_core::sync::lock;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_config::SdkConfig;
use driftguard_adapters::cloudformation::{CfnDriftDetector, CfnStackCatalog};
use driftguard_adapters::cloudtrail::CloudTrailActorLookup;
use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_adapters::eventbridge::EventBridgeBus;
use driftguard_adapters::members::{AwsMemberAccounts, Bounded, MemberRole};
use driftguard_adapters::organizations::OrgAccountDirectory;
use driftguard_adapters::sweep::{CfnSweep, DynamoSweepStore};
use driftguard_adapters::sweep_queue::SqsPartQueue;
use driftguard_core::config::{load_function_policy, Config, ConfigError};
use driftguard_core::detect::{Pipeline, Ports, Settings};
use driftguard_core::ports::sweep::{PartQueue, PartSweepers, StackDriftScanner};
use driftguard_core::ports::SystemClock;
use driftguard_core::sweep::fanout::SweepPart;
use driftguard_core::sweep::SweepConfigError;
use driftguard_core::sweep::{SweepPorts, SweepSettings, Sweeper};
use driftguard_model::domain::policy::Policy;
use driftguard_model::error::PortResult;

pub mod handler;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Sweep(#[from] SweepConfigError),
}

/// What every sweeper of this function shares: the policy, the central
/// table and bus.
struct Common {
    config: Config,
    policy: Arc<Policy>,
    table: String,
    ddb: aws_sdk_dynamodb::Client,
    tickets: Arc<DynamoTicketStore>,
    bus: Arc<EventBridgeBus>,
    /// With the central credentials, for every part (environments by OU or tag).
    directory: Arc<OrgAccountDirectory>,
}

async fn common(config: &Config, sdk: &SdkConfig) -> Result<Common, WireError> {
    let table = config.require_table()?.to_string();
    let ssm = driftguard_adapters::ssm::SsmParameters::new(sdk);
    let policy = load_function_policy(config, Some(&ssm)).await?;
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    Ok(Common {
        config: config.clone(),
        policy: Arc::new(policy),
        tickets: Arc::new(DynamoTicketStore::new(ddb.clone(), table.clone())),
        bus: Arc::new(EventBridgeBus::new(
            aws_sdk_eventbridge::Client::new(sdk),
            config.event_bus_name.clone(),
        )),
        directory: Arc::new(OrgAccountDirectory::from_conf(sdk)),
        table,
        ddb,
    })
}

/// The sweeper of the stacks `stacks_sdk` reaches: this account and region's
/// (`part` `None`: its cursor `CURSOR#sweep`, known-good templates recorded),
/// or a member part's (its own cursor and coverage keys; known-good
/// templates are keyed by stack name and so recorded for this account only).
fn sweeper_in(
    c: &Common,
    settings: SweepSettings,
    stacks_sdk: &SdkConfig,
    part: Option<&SweepPart>,
    scanner: Option<Arc<dyn StackDriftScanner>>,
) -> Sweeper {
    let cfn = aws_sdk_cloudformation::Client::new(stacks_sdk);
    let clock = Arc::new(SystemClock);
    let pipeline = Pipeline::new(
        Ports {
            catalog: Arc::new(CfnStackCatalog::new(cfn.clone())),
            drift: Arc::new(CfnDriftDetector::new(cfn.clone())),
            actors: Arc::new(CloudTrailActorLookup::new(aws_sdk_cloudtrail::Client::new(
                stacks_sdk,
            ))),
            tickets: c.tickets.clone(),
            bus: c.bus.clone(),
            // Tickets opened by the sweep are mirrored by detect's path only.
            ops_mirror: None,
            clock: clock.clone(),
        },
        c.policy.clone(),
        Settings {
            force_dry_run: c.config.force_dry_run,
            event_ttl: c.config.event_ttl(),
            ..Settings::default()
        },
    )
    // Asked only for a policy with environments by OU or tag.
    .with_account_directory(c.directory.clone());
    let store = DynamoSweepStore::new(c.ddb.clone(), c.table.clone());
    let store = match part {
        Some(p) => store.for_part(&p.account, &p.region),
        None => store,
    };
    let cfn_sweep = Arc::new(CfnSweep::new(cfn.clone()));
    let scanner = scanner.unwrap_or_else(|| cfn_sweep.clone());
    let sweeper = Sweeper::new(
        SweepPorts {
            inventory: cfn_sweep,
            scanner,
            store: Arc::new(store),
            tickets: c.tickets.clone(),
            bus: c.bus.clone(),
            clock,
        },
        Arc::new(pipeline),
        settings,
    )
    // Out-of-template drift is resolved only by reading the property back through
    // the resource's own API (DriftReadPolicy, the member read role grant the reads).
    .with_read_back(Arc::new(
        driftguard_adapters::readback::AwsReadBack::from_conf(stacks_sdk),
    ));
    if part.is_some() {
        return sweeper;
    }
    // Known-good templates of stable, in-sync stacks (rollback targets).
    sweeper.with_history(driftguard_core::remediate::history::KnownGoodRecorder {
        templates: Arc::new(driftguard_adapters::templates::CfnTemplateSource {
            client: cfn,
            retry: driftguard_core::resilience::RetryPolicy::default(),
        }),
        history: Arc::new(
            driftguard_adapters::template_history::DynamoTemplateHistory::new(
                c.ddb.clone(),
                c.table.clone(),
            ),
        ),
    })
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
    let c = common(config, sdk).await?;
    log_wired(config, &settings, None);
    Ok(sweeper_in(&c, settings, sdk, None, scanner))
}

/// The organization sweep's side of the function: where the scheduled run
/// sends the member parts, and how a part's sweeper is made.
pub struct Fanout {
    pub queue: Arc<dyn PartQueue>,
    pub sweepers: Arc<dyn PartSweepers>,
    /// This account (the first of `WATCHED_ACCOUNTS`): swept by the scheduled
    /// run itself, never a part.
    pub this_account: String,
    pub watched_accounts: Vec<String>,
    /// `WATCHED_REGIONS`, or this region.
    pub regions: Vec<String>,
}

/// What the function runs: this account's sweeper, and the organization
/// fan-out when it is configured.
pub struct Wired {
    pub sweeper: Arc<Sweeper>,
    pub fanout: Option<Fanout>,
}

/// The whole function from configuration (`main.rs`). `scanner`: as in
/// [`wire_with_scanner`], for every part too.
pub async fn wire_all(
    config: &Config,
    settings: SweepSettings,
    sdk: &SdkConfig,
    scanner: Option<Arc<dyn StackDriftScanner>>,
) -> Result<Wired, WireError> {
    let c = Arc::new(common(config, sdk).await?);
    let fanout = match (&settings.queue_url, &config.member_role_name) {
        (Some(url), Some(role_name)) => {
            let mut role = MemberRole::new(role_name, "driftguard-sweep");
            role.external_id = config.member_external_id.clone();
            let regions = if config.watched_regions.is_empty() {
                sdk.region()
                    .map(|r| vec![r.to_string()])
                    .unwrap_or_default()
            } else {
                config.watched_regions.clone()
            };
            Some(Fanout {
                queue: Arc::new(SqsPartQueue::new(aws_sdk_sqs::Client::new(sdk), url)),
                sweepers: Arc::new(AwsPartSweepers {
                    cache: Mutex::new(Bounded::new(role.capacity)),
                    members: AwsMemberAccounts::new(sdk, role),
                    common: c.clone(),
                    settings: settings.clone(),
                    scanner: scanner.clone(),
                }),
                this_account: config.watched_accounts.first().cloned().unwrap_or_default(),
                watched_accounts: config.watched_accounts.clone(),
                regions,
            })
        }
        _ => None,
    };
    log_wired(config, &settings, fanout.as_ref());
    Ok(Wired {
        sweeper: Arc::new(sweeper_in(&c, settings, sdk, None, scanner)),
        fanout,
    })
}

fn log_wired(config: &Config, settings: &SweepSettings, fanout: Option<&Fanout>) {
    tracing::info!(
        policy = %config.policy_source.describe(),
        bus = %config.event_bus_name,
        stack_globs = %settings.stack_globs.join(","),
        required_tag = settings.required_tag.as_ref().map(|(k, v)| format!("{k}={v}")).unwrap_or_default(),
        concurrency = settings.concurrency,
        deadline_margin_s = settings.deadline_margin.as_secs(),
        member_parts = fanout.map(|f| f.watched_accounts.len().saturating_sub(1) * f.regions.len()).unwrap_or(0),
        "sweep wired"
    );
}

/// A member part's sweeper: the member's read role (session
/// `driftguard-sweep`) in that account and region, assumed first so a
/// missing or refusing role is one error; sweepers kept per part, bounded.
struct AwsPartSweepers {
    common: Arc<Common>,
    settings: SweepSettings,
    members: AwsMemberAccounts,
    scanner: Option<Arc<dyn StackDriftScanner>>,
    cache: Mutex<Bounded<SweepPart, Arc<Sweeper>>>,
}

#[async_trait]
impl PartSweepers for AwsPartSweepers {
    async fn sweeper(&self, part: &SweepPart) -> PortResult<Arc<Sweeper>> {
        self.members.assume(&part.account).await?;
        if let Some(s) = lock(&self.cache).get(part) {
            return Ok(s);
        }
        let sdk = self.members.sdk_config(&part.account, &part.region);
        let built = Arc::new(sweeper_in(
            &self.common,
            self.settings.clone(),
            &sdk,
            Some(part),
            self.scanner.clone(),
        ));
        lock(&self.cache).insert(part.clone(), built.clone());
        Ok(built)
    }
}
