//! remediate: "Drift Decision" (revert / rollback) and "Drift Remediation
//! Approved" envelopes → plan, safety checks, act, verify, "Drift Remediation
//! Result". The logic is [`driftguard_core::remediate::Remediator`]; [`wire`] builds it
//! from configuration (what `main.rs` runs, and what the emulator tests run).
use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use driftguard_adapters::cloudformation::{CfnDriftDetector, CfnStackCatalog};
use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_adapters::eventbridge::EventBridgeBus;
use driftguard_adapters::members::{AwsMemberAccounts, Bounded, MemberRole};
use driftguard_adapters::remediation::{AwsClients, AwsExecutor};
use driftguard_adapters::safety::DynamoSafetyStore;
use driftguard_adapters::template_history::DynamoTemplateHistory;
use driftguard_adapters::templates::CfnTemplateSource;
use driftguard_core::config::{load_function_policy, Config, ConfigError};
use driftguard_core::ports::remediate::{MemberRemediators, TemplateSource};
use driftguard_core::ports::{DecisionBus, SafetyStore, SystemClock, TicketStore};
use driftguard_core::remediate::history::WithHistory;
use driftguard_core::remediate::{AccountScope, Remediator, RemediatorSettings};
use driftguard_core::resilience::RetryPolicy;
use driftguard_model::domain::policy::Policy;
use driftguard_model::error::PortResult;

pub mod handler;

/// Clients, policy and remediator from configuration. Fails on missing or
/// invalid configuration (`TABLE_NAME`, the policy), naming what is wrong.
pub async fn wire(config: &Config, sdk: &SdkConfig) -> Result<Remediator, ConfigError> {
    let table = config.require_table()?.to_string();
    let ssm = driftguard_adapters::ssm::SsmParameters::new(sdk);
    let policy = load_function_policy(config, Some(&ssm)).await?;
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let central = Central {
        tickets: Arc::new(DynamoTicketStore::new(ddb.clone(), table.clone())),
        bus: Arc::new(EventBridgeBus::new(
            aws_sdk_eventbridge::Client::new(sdk),
            config.event_bus_name.clone(),
        )),
        safety: Arc::new(DynamoSafetyStore::new(ddb.clone(), table.clone())),
        policy: Arc::new(policy),
        settings: RemediatorSettings {
            dry_run: config.force_dry_run,
            event_ttl_days: i64::from(config.event_ttl_days),
            retry: RetryPolicy::default(),
            ..RemediatorSettings::default()
        },
    };
    let history = Arc::new(DynamoTemplateHistory::new(ddb, table));
    let mut remediator = central.remediator(sdk, |cfn| {
        Arc::new(WithHistory {
            inner: CfnTemplateSource {
                client: cfn,
                retry: RetryPolicy::default(),
            },
            history,
        })
    });
    if let Some(name) = config.member_role_name.as_deref() {
        let mut role = MemberRole::new(name, "driftguard-remediate");
        role.external_id = config.member_external_id.clone();
        remediator.accounts = AccountScope {
            account: config.watched_accounts.first().cloned(),
            members: Some(Arc::new(AwsMemberRemediators::new(sdk, role, central))),
        };
        tracing::info!(role = name, "member accounts remediated through their role");
    }
    tracing::info!(
        policy = %config.policy_source.describe(),
        bus = %config.event_bus_name,
        dry_run_forced = config.force_dry_run,
        "remediate wired"
    );
    Ok(remediator)
}

/// What every account's remediator shares: the central table, bus, safety
/// records, policy and settings.
#[derive(Clone)]
struct Central {
    tickets: Arc<dyn TicketStore>,
    bus: Arc<dyn DecisionBus>,
    safety: Arc<dyn SafetyStore>,
    policy: Arc<Policy>,
    settings: RemediatorSettings,
}

impl Central {
    /// A remediator acting with `sdk`'s credentials (the central account's,
    /// or a member role's) on the central table and bus.
    fn remediator(
        &self,
        sdk: &SdkConfig,
        templates: impl FnOnce(aws_sdk_cloudformation::Client) -> Arc<dyn TemplateSource>,
    ) -> Remediator {
        let cfn = aws_sdk_cloudformation::Client::new(sdk);
        Remediator {
            tickets: self.tickets.clone(),
            bus: self.bus.clone(),
            catalog: Arc::new(CfnStackCatalog::new(cfn.clone())),
            drift: Some(Arc::new(CfnDriftDetector::new(cfn.clone()))),
            templates: templates(cfn),
            executor: Arc::new(AwsExecutor::new(AwsClients::new(sdk))),
            safety: self.safety.clone(),
            clock: Arc::new(SystemClock),
            policy: self.policy.clone(),
            settings: self.settings.clone(),
            accounts: AccountScope::default(),
        }
    }
}

/// The member accounts' remediators: the member's remediation role
/// (`MEMBER_ROLE_NAME`, session `driftguard-remediate`), built once per
/// account and region and kept (bounded, least recently used dropped).
/// Templates are read from the member's CloudFormation; the known-good
/// history is the central account's only (it is keyed by stack name).
struct AwsMemberRemediators {
    accounts: AwsMemberAccounts,
    central: Central,
    kept: Mutex<Bounded<(String, String), Arc<Remediator>>>,
}

impl AwsMemberRemediators {
    fn new(sdk: &SdkConfig, role: MemberRole, central: Central) -> Self {
        Self {
            kept: Mutex::new(Bounded::new(role.capacity)),
            accounts: AwsMemberAccounts::new(sdk, role),
            central,
        }
    }
}

#[async_trait::async_trait]
impl MemberRemediators for AwsMemberRemediators {
    async fn remediator(&self, account: &str, region: &str) -> PortResult<Arc<Remediator>> {
        self.accounts.assume(account).await?;
        let key = (account.to_string(), region.to_string());
        let lock = || self.kept.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = lock().get(&key) {
            return Ok(r);
        }
        let sdk = self.accounts.sdk_config(account, region);
        let retry = self.central.settings.retry;
        let mut r = self.central.remediator(&sdk, |cfn| {
            Arc::new(CfnTemplateSource { client: cfn, retry })
        });
        r.accounts.account = Some(account.to_string());
        let r = Arc::new(r);
        lock().insert(key, r.clone());
        Ok(r)
    }
}
