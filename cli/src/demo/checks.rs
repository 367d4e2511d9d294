//! The demo's expected outcomes, checked through the AWS APIs (not through
//! what the handlers said): the resources themselves, the ticket table, and the
//! Slack messages the local webhook received.
use std::collections::BTreeMap;

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_core::ports::TicketStore;
use driftguard_model::domain::{ActorKind, Fingerprint, Ticket, TicketState};
use serde_json::Value;

use super::app::{
    AppStack, ADMIN_POLICY, BREAK_GLASS_CIDR, FLAGS_PARAMETER, FLAGS_TEMPLATE_VALUE,
    RELEASE_PARAMETER, RELEASE_PIPELINE_VALUE,
};
use super::flow::Tally;
use super::slack;
use crate::emulator::{resources, ACCOUNT, REGION};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub what: String,
    pub ok: bool,
    /// What was found.
    pub detail: String,
}

pub(super) fn check(what: &str, ok: bool, detail: impl Into<String>) -> Check {
    Check {
        what: what.to_string(),
        ok,
        detail: detail.into(),
    }
}

/// The ticket id detect gives a resource of the app stack.
pub fn ticket_id(app: &AppStack, logical_id: &str) -> String {
    ticket_id_in(ACCOUNT, &app.name, logical_id)
}

/// The ticket id of a stack's resource in `account`.
pub fn ticket_id_in(account: &str, stack: &str, logical_id: &str) -> String {
    Fingerprint {
        account: account.into(),
        region: REGION.into(),
        stack: stack.into(),
        logical_id: logical_id.into(),
    }
    .ticket_id()
}

async fn parameter(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<String> {
    Ok(ssm
        .get_parameter()
        .name(name)
        .send()
        .await
        .with_context(|| format!("get parameter {name}"))?
        .parameter()
        .and_then(|p| p.value())
        .unwrap_or_default()
        .to_string())
}

fn state_of(ticket: &Option<Ticket>) -> String {
    ticket.as_ref().map_or("no ticket".to_string(), |t| {
        format!("{} {}", t.display_id(), t.state)
    })
}

/// The APIs the checks read, for one app stack and ticket table.
struct Probe<'a> {
    app: &'a AppStack,
    ec2: aws_sdk_ec2::Client,
    ssm: aws_sdk_ssm::Client,
    iam: aws_sdk_iam::Client,
    store: DynamoTicketStore,
}

impl Probe<'_> {
    async fn ticket(&self, logical: &str) -> Result<Option<Ticket>> {
        let id = ticket_id(self.app, logical);
        self.store
            .get_ticket(&id)
            .await
            .with_context(|| format!("read ticket {id}"))
    }

    async fn ingress(&self, logical: &str) -> Result<Vec<(i32, String)>> {
        resources::ingress(&self.ec2, self.app.id(logical)?).await
    }

    async fn web_ssh_removed(&self) -> Result<Check> {
        let web = self.ingress("WebSecurityGroup").await?;
        let ssh_open = web.iter().any(|(p, c)| *p == 22 && c == "0.0.0.0/0");
        let https_kept = web.iter().any(|(p, c)| *p == 443 && c == "0.0.0.0/0");
        let t = self.ticket("WebSecurityGroup").await?;
        Ok(check(
            "port-22 rule is gone from the web security group",
            !ssh_open && https_kept && is(&t, TicketState::Resolved),
            format!("ingress {web:?}; {}", state_of(&t)),
        ))
    }

    async fn flags_restored(&self) -> Result<Check> {
        let flags = parameter(&self.ssm, FLAGS_PARAMETER).await?;
        let t = self.ticket("FeatureFlagsParameter").await?;
        Ok(check(
            "the feature-flags parameter is restored",
            flags == FLAGS_TEMPLATE_VALUE && is(&t, TicketState::Resolved),
            format!("{FLAGS_PARAMETER} = {flags}; {}", state_of(&t)),
        ))
    }

    async fn admin_detached(&self) -> Result<Check> {
        let attached: Vec<String> = self
            .iam
            .list_attached_role_policies()
            .role_name(self.app.id("AppRole")?)
            .send()
            .await
            .context("list the role's attached policies")?
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect();
        let t = self.ticket("AppRole").await?;
        Ok(check(
            "AdministratorAccess is detached from the app role",
            !attached.iter().any(|a| a == ADMIN_POLICY) && is(&t, TicketState::Resolved),
            format!("attached {attached:?}; {}", state_of(&t)),
        ))
    }

    async fn pipeline_allowed(&self) -> Result<Check> {
        let release = parameter(&self.ssm, RELEASE_PARAMETER).await?;
        let t = self.ticket("ReleaseParameter").await?;
        Ok(check(
            "the pipeline's change is allowed (in place, no open ticket)",
            release == RELEASE_PIPELINE_VALUE
                && t.as_ref().is_none_or(|t| t.state == TicketState::Allowed),
            format!("{RELEASE_PARAMETER} = {release}; {}", state_of(&t)),
        ))
    }

    async fn break_glass_ticketed(&self) -> Result<Check> {
        let bastion = self.ingress("BastionSecurityGroup").await?;
        let still_open = bastion
            .iter()
            .any(|(p, c)| *p == 22 && c == BREAK_GLASS_CIDR);
        let t = self.ticket("BastionSecurityGroup").await?;
        let by_break_glass = t
            .as_ref()
            .and_then(|t| t.last_actor.as_ref())
            .is_some_and(|a| a.kind == ActorKind::BreakGlass);
        Ok(check(
            "the break-glass change is ticketed and not reverted",
            still_open && by_break_glass && is(&t, TicketState::Open),
            format!("ingress {bastion:?}; {}", state_of(&t)),
        ))
    }
}

fn is(ticket: &Option<Ticket>, state: TicketState) -> bool {
    ticket.as_ref().is_some_and(|t| t.state == state)
}

/// The demo's expected outcomes, read back through the APIs.
pub async fn verify(
    sdk: &SdkConfig,
    app: &AppStack,
    table: &str,
    tally: &Tally,
    slack_messages: &[Value],
) -> Result<Vec<Check>> {
    let probe = Probe {
        app,
        ec2: aws_sdk_ec2::Client::new(sdk),
        ssm: aws_sdk_ssm::Client::new(sdk),
        iam: aws_sdk_iam::Client::new(sdk),
        store: DynamoTicketStore::new(aws_sdk_dynamodb::Client::new(sdk), table),
    };
    Ok(vec![
        probe.web_ssh_removed().await?,
        probe.flags_restored().await?,
        probe.admin_detached().await?,
        probe.pipeline_allowed().await?,
        probe.break_glass_ticketed().await?,
        slack_check(app, tally, slack_messages),
        check(
            "no function invocation failed",
            tally.failures.is_empty(),
            if tally.failures.is_empty() {
                "0 failures".to_string()
            } else {
                tally.failures.join("; ")
            },
        ),
    ])
}

/// One Slack message per ticket state change: the (ticket, state) pairs the
/// webhook received are exactly those of the state-changing bus events, and
/// every ticket was opened and the reverted ones resolved.
fn slack_check(app: &AppStack, tally: &Tally, slack_messages: &[Value]) -> Check {
    // Slack shows the short display id (docs/architecture.md#ticket-ids).
    let shown = |id: &str| driftguard_model::domain::display_id(id).to_string();
    let mut expected: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (id, state) in &tally.state_changes {
        *expected.entry((shown(id), state.clone())).or_default() += 1;
    }
    let mut received: BTreeMap<(String, String), usize> = BTreeMap::new();
    for m in slack_messages {
        let pair = (
            slack::ticket_of(m).unwrap_or_default(),
            slack::state_of(m).unwrap_or_default(),
        );
        *received.entry(pair).or_default() += 1;
    }
    let must = [
        ("WebSecurityGroup", "OPEN"),
        ("WebSecurityGroup", "RESOLVED"),
        ("FeatureFlagsParameter", "OPEN"),
        ("FeatureFlagsParameter", "RESOLVED"),
        ("AppRole", "OPEN"),
        ("AppRole", "RESOLVED"),
        ("BastionSecurityGroup", "OPEN"),
    ];
    let missing: Vec<String> = must
        .iter()
        .filter(|(logical, state)| {
            !expected.contains_key(&(shown(&ticket_id(app, logical)), state.to_string()))
        })
        .map(|(logical, state)| format!("{logical} {state}"))
        .collect();
    check(
        "one Slack message per ticket state change",
        expected == received && missing.is_empty(),
        format!(
            "{} state changes, {} Slack messages{}",
            tally.state_changes.len(),
            slack_messages.len(),
            if missing.is_empty() {
                String::new()
            } else {
                format!("; never announced: {}", missing.join(", "))
            }
        ),
    )
}
