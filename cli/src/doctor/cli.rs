//! `driftguard doctor`'s arguments and entry point (the binary flattens
//! [`DoctorArgs`] into its command line).
use aws_config::Region;
use driftguard_adapters::deployment::AwsDeploymentProbe;
use driftguard_adapters::iam_trust::IamRoleTrust;
use driftguard_core::ports::trust::RoleTrust;

use super::Options;

#[derive(Debug, Clone, clap::Args)]
pub struct DoctorArgs {
    /// The driftguard stack: its resources and parameters name what to check.
    #[arg(long, env = "DRIFTGUARD_STACK")]
    pub stack: Option<String>,
    /// A watched region (repeat): a trail must log management events in each.
    /// Default: the current region. us-east-1 is always checked (IAM).
    #[arg(long = "region")]
    pub regions: Vec<String>,
    /// One JSON document instead of lines.
    #[arg(long)]
    pub json: bool,
    /// AWS endpoint override (an emulator), e.g. http://127.0.0.1:5000.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// The ticket table (default: the stack's TicketTable).
    #[arg(long)]
    pub table: Option<String>,
    /// driftguard's bus (default: the stack's DriftguardBus).
    #[arg(long)]
    pub bus: Option<String>,
    /// The policy parameter (default: the stack's PolicyParameterName).
    #[arg(long)]
    pub policy_parameter: Option<String>,
    /// The remediation role's name (default: the stack's RemediateRole).
    #[arg(long)]
    pub remediation_role: Option<String>,
    /// The Slack webhook secret (default: the stack's SlackSecretArn).
    #[arg(long)]
    pub slack_secret: Option<String>,
    /// A dead-letter queue URL (repeat; the stack's are found by themselves).
    #[arg(long = "dlq")]
    pub dlqs: Vec<String>,
    /// Whether the AWS Config rule is deployed (default: the stack's DeployConfigRule).
    #[arg(long)]
    pub config_rule: Option<bool>,
    /// The account driftguard runs in: its `role/NAME` pipeline roles' trust
    /// policies are read (iam:GetRole) and must admit only CI principals.
    #[arg(long, env = "DRIFTGUARD_ACCOUNT")]
    pub account: Option<String>,
}

impl DoctorArgs {
    pub fn options(&self, home_region: String) -> Options {
        Options {
            stack: self.stack.clone(),
            regions: self.regions.clone(),
            home_region,
            table: self.table.clone(),
            bus: self.bus.clone(),
            policy_parameter: self.policy_parameter.clone(),
            remediation_role: self.remediation_role.clone(),
            slack_secret: self.slack_secret.clone(),
            dlqs: self.dlqs.clone(),
            config_rule: self.config_rule,
            account: self.account.clone(),
        }
    }
}

/// Run doctor against AWS (or `--endpoint`), printing to stdout. `Ok(false)`
/// when a check failed.
pub async fn run(args: DoctorArgs) -> anyhow::Result<bool> {
    let sdk = crate::ops::sdk_config(args.endpoint.as_deref()).await;
    let home = sdk
        .region()
        .map(Region::to_string)
        .ok_or_else(|| anyhow::anyhow!("no AWS region: set AWS_REGION or pass --endpoint"))?;
    let options = args.options(home);
    if options.stack.is_none() && options.table.is_none() && options.bus.is_none() {
        anyhow::bail!("nothing to check: pass --stack NAME (or DRIFTGUARD_STACK), or --table/--bus/--policy-parameter/--remediation-role");
    }
    let probe = AwsDeploymentProbe::new(&sdk);
    let trust = options
        .account
        .as_deref()
        .map(|account| IamRoleTrust::new(&sdk, account));
    let ok = super::run_with_trust(
        &probe,
        trust.as_ref().map(|t| t as &dyn RoleTrust),
        &options,
        args.json,
        &mut std::io::stdout(),
    )
    .await?;
    Ok(ok)
}
