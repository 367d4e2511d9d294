//! `driftguard demo --member-account`: one more change, in member account
//! 111111111111 (issue 15), `policy.example.yaml`'s prod environment (whose
//! rule reverts security groups). The sample application is deployed there too
//! (moto keeps accounts apart and serves `AssumeRole` into them), a console
//! user opens SSH to the world on its web security group, and the event,
//! as the member's forwarding rule delivers it, is handled by the central
//! functions: detect looks it up through the member's read role, remediate
//! reverts it through the member's remediation role, the ticket is central.
use anyhow::{Context, Result};
use aws_config::SdkConfig;
use driftguard_adapters::members::{AwsMemberAccounts, MemberRole};
use driftguard_core::config::Config;
use serde_json::Value;

use super::app::{self, AppStack, Expect, Scene};
use crate::emulator::{ACCOUNT, REGION};

pub const MEMBER_ACCOUNT: &str = "111111111111";
/// `templates/member.yaml`'s `ReadRoleName` and `RemediationRoleName` defaults.
pub const READ_ROLE: &str = "driftguard-read";
pub const REMEDIATION_ROLE: &str = "driftguard-remediation";

/// detect's and remediate's configuration with the member account watched
/// and reached through its roles (what `MemberAccountIds` gives them).
pub fn configs(config: &Config) -> (Config, Config) {
    let mut detect = config.clone();
    detect.watched_accounts = vec![ACCOUNT.into(), MEMBER_ACCOUNT.into()];
    let mut remediate = detect.clone();
    detect.member_role_name = Some(READ_ROLE.into());
    remediate.member_role_name = Some(REMEDIATION_ROLE.into());
    (detect, remediate)
}

/// Credentials in the member account (its own pipeline and console users'
/// stand-in; on moto any role of the account will do).
fn member_sdk(sdk: &SdkConfig) -> SdkConfig {
    AwsMemberAccounts::new(sdk, MemberRole::new(READ_ROLE, "driftguard-demo"))
        .sdk_config(MEMBER_ACCOUNT, REGION)
}

/// The sample application in the member account.
pub async fn deploy(sdk: &SdkConfig) -> Result<AppStack> {
    app::deploy(&member_sdk(sdk))
        .await
        .context("deploy the sample application in the member account")
}

/// The member's console user opens SSH to the world on its web security
/// group; the scene carries the event with the member's account.
pub async fn console_change(sdk: &SdkConfig, member_app: &AppStack) -> Result<Scene> {
    let ec2 = aws_sdk_ec2::Client::new(&member_sdk(sdk));
    let web = member_app.id("WebSecurityGroup")?.to_string();
    let why = "temp ssh, member account";
    let response = app::open_ssh(&ec2, &web, "0.0.0.0/0", why).await?;
    let event = app::console_sg_ingress_event(&web, "0.0.0.0/0", why, response)?;
    let event: Value = serde_json::from_str(&event.to_string().replace(ACCOUNT, MEMBER_ACCOUNT))
        .context("the member account's event")?;
    Ok(Scene {
        title: "member account 111111111111 (prod): SSH opened",
        who: "alice@example.com (console, member account)",
        did: format!("opened tcp/22 to 0.0.0.0/0 on {web}"),
        logical_id: "WebSecurityGroup",
        expect: Expect::Reverted,
        event,
    })
}

/// The rule is gone from the member's group and its ticket is RESOLVED.
pub async fn verify(
    sdk: &SdkConfig,
    member_app: &AppStack,
    table: &str,
) -> Result<super::checks::Check> {
    let ec2 = aws_sdk_ec2::Client::new(&member_sdk(sdk));
    let web = member_app.id("WebSecurityGroup")?;
    let ingress = crate::emulator::resources::ingress(&ec2, web).await?;
    let open = ingress.iter().any(|(p, c)| *p == 22 && c == "0.0.0.0/0");
    let id = super::checks::ticket_id_in(MEMBER_ACCOUNT, &member_app.name, "WebSecurityGroup");
    let store = driftguard_adapters::dynamodb::DynamoTicketStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        table,
    );
    let t = driftguard_core::ports::TicketStore::get_ticket(&store, &id)
        .await
        .with_context(|| format!("read ticket {id}"))?;
    let resolved = t.as_ref().is_some_and(|t| {
        t.state == driftguard_model::domain::TicketState::Resolved
            && t.fingerprint.account == MEMBER_ACCOUNT
    });
    Ok(super::checks::check(
        "member account: port-22 rule gone, ticket central and RESOLVED",
        !open && resolved,
        format!(
            "ingress {ingress:?}; {}",
            t.map_or("no ticket".into(), |t| format!(
                "{} {}",
                t.display_id(),
                t.state
            ))
        ),
    ))
}
