//! approve: the IAM-authenticated approval endpoint. A Lambda function URL
//! with `AuthType: AWS_IAM` receives `POST {"ticket_id", "plan_digest"}`; the
//! approver is the caller AWS authenticated (`requestContext.authorizer.iam.userArn`),
//! never a name in the body. The handler checks the approval with
//! [`driftguard_model::domain::approval::authorize`], writes it on the ticket with a
//! conditional (versioned) update and puts the "Drift Remediation Approved"
//! wake-up event on the bus; remediate re-reads the ticket and acts on
//! `ticket.approval` only.
//!
//! [`wire`] builds the [`Approver`] from configuration (what `main.rs` runs).
use std::sync::Arc;

use aws_config::SdkConfig;
use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_adapters::eventbridge::EventBridgeBus;
use driftguard_core::config::{load_function_policy, Config, ConfigError};
use driftguard_core::ports::{Clock, DecisionBus, SystemClock, TicketStore};
use driftguard_model::domain::policy::Policy;

pub mod handler;
pub mod request;

/// How the approval was authenticated, recorded on the ticket (`Approval.via`).
pub const VIA: &str = "lambda-function-url:AWS_IAM";

/// What the handler needs: the ticket table, the bus, a clock, the policy.
pub struct Approver {
    pub tickets: Arc<dyn TicketStore>,
    pub bus: Arc<dyn DecisionBus>,
    pub clock: Arc<dyn Clock>,
    pub policy: Arc<Policy>,
}

/// The approver from configuration (`TABLE_NAME`, `EVENT_BUS_NAME`, the
/// policy). Fails on missing or invalid configuration, naming what is wrong:
/// a missing policy parameter is an error, never the built-in default.
pub async fn wire(config: &Config, sdk: &SdkConfig) -> Result<Approver, ConfigError> {
    let table = config.require_table()?;
    let ssm = driftguard_adapters::ssm::SsmParameters::new(sdk);
    let policy = load_function_policy(config, Some(&ssm)).await?;
    tracing::info!(
        policy = %config.policy_source.describe(),
        bus = %config.event_bus_name,
        "approve wired"
    );
    Ok(Approver {
        tickets: Arc::new(DynamoTicketStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            table,
        )),
        bus: Arc::new(EventBridgeBus::new(
            aws_sdk_eventbridge::Client::new(sdk),
            config.event_bus_name.clone(),
        )),
        clock: Arc::new(SystemClock),
        policy: Arc::new(policy),
    })
}
