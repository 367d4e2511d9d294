//! Operational commands against AWS or an emulator (`--endpoint URL`):
//! `tickets list`, `tickets show`, `accept` (`approve` is in `approval.rs`: a
//! SigV4-signed call to the approve function's URL).
//!
//! They go through the same ports as the Lambdas (`DynamoTicketStore`), so
//! every ticket write is conditional on its version.
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Utc};
use serde_json::json;
use shared::adapters::aws::dynamodb::DynamoTicketStore;
use shared::domain::ticket::EntryKind;
use shared::error::PortError;
use shared::ports::TicketStore;
use shared::{Ticket, TicketEntry, TicketState};

use crate::demo::screen::{cell, fit};

/// Where the commands point.
#[derive(Debug, Clone)]
pub struct Target {
    pub endpoint: Option<String>,
    pub table: String,
    pub bus: String,
}

impl Target {
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        sdk_config(self.endpoint.as_deref()).await
    }

    pub async fn store(&self) -> DynamoTicketStore {
        DynamoTicketStore::new(
            aws_sdk_dynamodb::Client::new(&self.sdk().await),
            &self.table,
        )
    }
}

/// The SDK config for AWS (the usual environment and profiles), or for an
/// emulator endpoint (dummy credentials and us-east-1 unless the environment
/// says otherwise).
pub async fn sdk_config(endpoint: Option<&str>) -> aws_config::SdkConfig {
    let Some(endpoint) = endpoint else {
        return shared::adapters::aws::load_sdk_config().await;
    };
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .retry_config(shared::adapters::aws::retry_config_from_env())
        .timeout_config(shared::adapters::aws::timeout_config());
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        loader = loader.region(aws_config::Region::new(crate::demo::emulator::REGION));
    }
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "driftguard-cli",
        ));
    }
    loader.load().await
}

fn resource_of(t: &Ticket) -> String {
    format!("{}/{}", t.fingerprint.stack, t.fingerprint.logical_id)
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// One line per ticket, newest first: 80 columns.
pub fn ticket_table(tickets: &[Ticket]) -> Vec<String> {
    let mut sorted: Vec<&Ticket> = tickets.iter().collect();
    sorted.sort_by_key(|t| std::cmp::Reverse(t.updated_at));
    let mut lines = vec![format!(
        "{}{}{}{}{}",
        cell("ID", 16),
        cell("STATE", 18),
        cell("SEVERITY", 9),
        cell("ACTOR", 12),
        "RESOURCE"
    )];
    for t in sorted {
        let actor = t
            .last_actor
            .as_ref()
            .and_then(|a| serde_json::to_value(a.kind).ok())
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        lines.push(format!(
            "{}{}{}{}{}",
            cell(&t.id, 16),
            cell(t.state.as_str(), 18),
            cell(t.severity.as_str(), 9),
            cell(&actor, 12),
            fit(&resource_of(t), 25)
        ));
    }
    lines
}

/// A ticket in words, history included.
pub fn ticket_details(t: &Ticket) -> Vec<String> {
    let mut lines = vec![
        format!(
            "ticket    {} ({}), severity {}",
            t.id,
            t.state,
            t.severity.as_str()
        ),
        format!(
            "resource  {} {} in stack {} ({})",
            t.resource.resource_type.as_deref().unwrap_or("?"),
            t.resource.physical_id.as_deref().unwrap_or("?"),
            t.fingerprint.stack,
            t.fingerprint.logical_id
        ),
        format!(
            "account   {} {}",
            t.fingerprint.account, t.fingerprint.region
        ),
        format!(
            "created   {}  updated {}  version {}",
            when(t.created_at),
            when(t.updated_at),
            t.version
        ),
    ];
    if let Some(a) = &t.last_actor {
        lines.push(format!("actor     {:?} {}", a.kind, a.principal));
    }
    if let Some(d) = &t.decision {
        lines.push(format!(
            "verdict   {} ({})",
            d.verdict.action.as_str(),
            d.verdict.reason
        ));
    }
    if let Some(p) = &t.plan {
        lines.push(format!("plan      {}: {}", p.strategy.as_str(), p.expected));
        lines.push(format!("digest    {}", p.digest()));
    }
    if let Some(a) = &t.approval {
        lines.push(format!(
            "approved  plan {} by {} ({})",
            a.plan_digest.get(..12).unwrap_or(&a.plan_digest),
            a.approver_arn,
            a.via
        ));
    }
    if t.reopened > 0 {
        lines.push(format!("reopened  {} times", t.reopened));
    }
    lines.push(format!(
        "history   ({} entries{})",
        t.history.len(),
        if t.history_dropped > 0 {
            format!(", {} older dropped", t.history_dropped)
        } else {
            String::new()
        }
    ));
    for e in &t.history {
        lines.push(format!(
            "  {}  {:<13} {}",
            when(e.at),
            format!("{:?}", e.kind).to_lowercase(),
            e.summary
        ));
    }
    lines
}

pub async fn tickets_list(target: &Target, state: Option<&str>, as_json: bool) -> Result<()> {
    let state = state
        .map(|s| {
            TicketState::parse(&s.to_ascii_uppercase())
                .ok_or_else(|| anyhow!("unknown state {s}: OPEN, AWAITING_APPROVAL, REMEDIATING, RESOLVED, ACCEPTED, FAILED or ALLOWED"))
        })
        .transpose()?;
    let tickets = target
        .store()
        .await
        .list_tickets(state)
        .await
        .with_context(|| format!("list tickets in table {}", target.table))?;
    if as_json {
        for t in &tickets {
            println!("{}", serde_json::to_string(t)?);
        }
    } else if tickets.is_empty() {
        println!("no tickets in {}", target.table);
    } else {
        for line in ticket_table(&tickets) {
            println!("{line}");
        }
    }
    Ok(())
}

pub async fn tickets_show(target: &Target, id: &str, as_json: bool) -> Result<()> {
    let ticket = target
        .store()
        .await
        .get_ticket(id)
        .await
        .with_context(|| format!("read ticket {id} from {}", target.table))?
        .ok_or_else(|| anyhow!("no ticket {id} in table {}", target.table))?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&ticket)?);
    } else {
        for line in ticket_details(&ticket) {
            println!("{line}");
        }
    }
    Ok(())
}

/// The accepted ticket: drift adopted on purpose, with who and why in its history.
pub fn accepted(mut ticket: Ticket, by: &str, reason: &str, now: DateTime<Utc>) -> Result<Ticket> {
    let why = format!("accepted by {by}: {reason}");
    ticket
        .transition(TicketState::Accepted, &why, now)
        .map_err(|e| anyhow!("{e} (a ticket being remediated cannot be accepted)"))?;
    // What was accepted: the ticket stays ACCEPTED while the resource shows
    // exactly this drift, and reopens when the values change.
    ticket.accepted_drift = ticket.current_drift().map(shared::Drift::fingerprint);
    ticket.push(TicketEntry {
        at: now,
        kind: EntryKind::Note,
        event_id: None,
        summary: why,
        actor: None,
        data: json!({
            "accepted_by": by,
            "reason": reason,
            "accepted_drift": ticket.accepted_drift,
        }),
    });
    ticket.version += 1;
    Ok(ticket)
}

/// Mark a ticket ACCEPTED with a conditional write (re-read and retried if
/// someone else wrote it in between).
pub async fn accept(target: &Target, id: &str, by: &str, reason: &str) -> Result<()> {
    let store: Arc<dyn TicketStore> = Arc::new(target.store().await);
    for _ in 0..5 {
        let ticket = store
            .get_ticket(id)
            .await
            .with_context(|| format!("read ticket {id}"))?
            .ok_or_else(|| anyhow!("no ticket {id} in table {}", target.table))?;
        if ticket.state == TicketState::Accepted {
            println!("{id} is already ACCEPTED");
            return Ok(());
        }
        let from = ticket.state;
        let updated = accepted(ticket, by, reason, Utc::now())?;
        match store.update_ticket(&updated).await {
            Ok(()) => {
                println!("{id}: {from} -> ACCEPTED ({reason})");
                // What to put in the template to keep it (the Slack message's snippet).
                if let Ok(c) = shared::codify::from_ticket(&updated, None) {
                    println!("keep it in the template (for the exact diff: driftguard codify {id} --template FILE):");
                    println!("{}", shared::codify::snippet(&c));
                }
                return Ok(());
            }
            Err(PortError::Conflict { .. }) => continue,
            Err(e) => return Err(e).with_context(|| format!("write ticket {id}")),
        }
    }
    bail!("ticket {id} kept changing under us: try again")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use shared::adapters::memory::MemoryTicketStore;
    use shared::{ChangeSource, Fingerprint, Identity, Ownership, ResourceRef};

    fn ticket(state: TicketState) -> Ticket {
        let change = shared::Change {
            event_id: "e1".into(),
            time: Utc::now(),
            account: "123456789012".into(),
            region: "us-east-1".into(),
            source: ChangeSource::Cloudtrail,
            service: "ec2".into(),
            operation: "AuthorizeSecurityGroupIngress".into(),
            resource: ResourceRef::new("AWS::EC2::SecurityGroup", "sg-1"),
            identity: Identity::default(),
            request: json!({}),
            response: json!({}),
            stack_hint: None,
            drift_hint: None,
        };
        let fp = Fingerprint {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            stack: "shop-web".into(),
            logical_id: "BastionSecurityGroup".into(),
        };
        let mut t = Ticket::new(fp, &change, &Ownership::NotChecked, Utc::now());
        t.state = state;
        t.version = 1;
        t
    }

    #[test]
    fn details_show_the_plan_digest_and_the_approval() {
        let mut t = ticket(TicketState::AwaitingApproval);
        let plan = shared::Plan {
            strategy: shared::Strategy::InverseCall,
            calls: vec![],
            expected: "rule gone".into(),
            skipped: vec![],
        };
        let digest = plan.digest();
        t.plan = Some(plan);
        t.approval = Some(shared::Approval {
            plan_digest: digest.clone(),
            approver_arn: "arn:aws:iam::123456789012:user/alice".into(),
            approved_at: Utc::now(),
            via: "lambda-function-url:AWS_IAM".into(),
        });
        let text = ticket_details(&t).join("\n");
        assert!(text.contains(&format!("digest    {digest}")), "{text}");
        assert!(
            text.contains("by arn:aws:iam::123456789012:user/alice"),
            "{text}"
        );
    }

    #[test]
    fn accepting_records_who_and_why_and_bumps_the_version() {
        let t = accepted(
            ticket(TicketState::Open),
            "carol",
            "incident fix kept",
            Utc::now(),
        )
        .unwrap();
        assert_eq!(t.state, TicketState::Accepted);
        assert_eq!(t.version, 2);
        assert!(t
            .history
            .iter()
            .any(|e| e.kind == EntryKind::Note && e.summary.contains("carol")));
    }

    #[test]
    fn a_ticket_being_remediated_cannot_be_accepted() {
        let e = accepted(ticket(TicketState::Remediating), "carol", "x", Utc::now()).unwrap_err();
        assert!(e.to_string().contains("REMEDIATING"), "{e}");
    }

    #[tokio::test]
    async fn the_write_is_conditional_on_the_version() {
        let store = MemoryTicketStore::new();
        let mut t = ticket(TicketState::Open);
        t.version = 0;
        store.create_ticket(&t).await.unwrap();
        let stored = store.get_ticket(&t.id).await.unwrap().unwrap();
        let first = accepted(stored.clone(), "a", "x", Utc::now()).unwrap();
        store.update_ticket(&first).await.unwrap();
        // A second writer holding the old version loses.
        let second = accepted(stored, "b", "y", Utc::now()).unwrap();
        assert!(matches!(
            store.update_ticket(&second).await,
            Err(PortError::Conflict { .. })
        ));
    }

    #[test]
    fn the_list_fits_80_columns() {
        let lines = ticket_table(&[ticket(TicketState::AwaitingApproval)]);
        assert!(lines.iter().all(|l| l.chars().count() <= 80), "{lines:#?}");
        assert!(lines[1].starts_with("DG-"));
    }
}
