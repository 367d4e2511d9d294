//! Operational commands against AWS or an emulator (`--endpoint URL`):
//! `tickets list`, `tickets show`, `accept` (`approve` is in `approval.rs`: a
//! SigV4-signed call to the approve function's URL). `accept` puts `Drift
//! Accepted` on driftguard's bus once the ticket is ACCEPTED; notify announces it.
//!
//! They go through the same ports as the Lambdas (`DynamoTicketStore`), so
//! every ticket write is conditional on its version.
use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Utc};
use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_adapters::eventbridge::EventBridgeBus;
use driftguard_core::ports::modify::{modify, Attempts, Edit, Modified, ModifyError};
use driftguard_core::ports::{DecisionBus, TicketStore};
use driftguard_core::resilience::{retry, RetryPolicy};
use driftguard_model::domain::{Ticket, TicketIdForm, TicketState};
use driftguard_model::events::{DriftAccepted, DRIFT_ACCEPTED};

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
        return driftguard_adapters::load_sdk_config().await;
    };
    let mut loader = driftguard_adapters::config_loader()
        .endpoint_url(endpoint)
        .retry_config(driftguard_adapters::retry_config_from_env())
        .timeout_config(driftguard_adapters::timeout_config());
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        loader = loader.region(aws_config::Region::new(crate::emulator::REGION));
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

/// Which tickets `tickets list` prints: `--account` and `--region`, each
/// optional, compared exactly with the ticket's (its fingerprint's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketFilter {
    pub account: Option<String>,
    pub region: Option<String>,
}

impl TicketFilter {
    /// Checked: an account is 12 digits, a region is not empty.
    pub fn new(account: Option<&str>, region: Option<&str>) -> Result<Self> {
        let account = account.map(str::trim).map(str::to_string);
        if let Some(a) = &account {
            if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
                bail!("--account {a:?}: not a 12-digit AWS account id");
            }
        }
        let region = region.map(str::trim).map(str::to_string);
        if region.as_deref() == Some("") {
            bail!("--region: empty (e.g. --region eu-west-1)");
        }
        Ok(Self { account, region })
    }

    pub fn keeps(&self, t: &Ticket) -> bool {
        self.account
            .as_deref()
            .is_none_or(|a| t.fingerprint.account == a)
            && self
                .region
                .as_deref()
                .is_none_or(|r| t.fingerprint.region == r)
    }

    /// What the filter says, for "no tickets" messages.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(a) = &self.account {
            parts.push(format!("account {a}"));
        }
        if let Some(r) = &self.region {
            parts.push(format!("region {r}"));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" for {}", parts.join(", "))
        }
    }
}

/// `account 111111111111, region eu-west-1` (or `unknown`).
fn where_of(t: &Ticket) -> String {
    let known = |s: &str| {
        if s.is_empty() {
            "unknown".to_string()
        } else {
            s.to_string()
        }
    };
    format!(
        "account {}, region {}",
        known(&t.fingerprint.account),
        known(&t.fingerprint.region)
    )
}

/// One line per ticket, newest first, under a line naming the account and
/// region of the tickets below it (the groups ordered by their newest
/// ticket): 80 columns.
pub fn ticket_table(tickets: &[Ticket]) -> Vec<String> {
    let mut sorted: Vec<&Ticket> = tickets.iter().collect();
    sorted.sort_by_key(|t| std::cmp::Reverse(t.updated_at));
    // Groups in the order of their newest ticket; tickets keep their order.
    let mut groups: Vec<((&str, &str), Vec<&Ticket>)> = Vec::new();
    for t in sorted {
        let key = (
            t.fingerprint.account.as_str(),
            t.fingerprint.region.as_str(),
        );
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(t),
            None => groups.push((key, vec![t])),
        }
    }
    let mut lines = vec![format!(
        "{}{}{}{}{}",
        cell("ID", 16),
        cell("STATE", 18),
        cell("SEVERITY", 9),
        cell("ACTOR", 12),
        "RESOURCE"
    )];
    for (_, group) in groups {
        let Some(first) = group.first() else { continue };
        lines.push(fit(
            &format!(
                "{} ({} ticket{})",
                where_of(first),
                group.len(),
                if group.len() == 1 { "" } else { "s" }
            ),
            80,
        ));
        for t in group {
            let actor = t
                .last_actor
                .as_ref()
                .and_then(|a| serde_json::to_value(a.kind).ok())
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            lines.push(format!(
                "{}{}{}{}{}",
                cell(t.display_id(), 16),
                cell(t.state.as_str(), 18),
                cell(t.severity.as_str(), 9),
                cell(&actor, 12),
                fit(&resource_of(t), 25)
            ));
        }
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
            "where     {}{}",
            where_of(t),
            t.decision
                .as_ref()
                .and_then(|d| d.verdict.environment.as_deref())
                .map(|e| format!(", policy environment {e}"))
                .unwrap_or_default()
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

pub async fn tickets_list(
    target: &Target,
    state: Option<&str>,
    filter: &TicketFilter,
    as_json: bool,
) -> Result<()> {
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
    // Read (by state, or all), then narrowed to the account and region asked for.
    let tickets: Vec<Ticket> = tickets.into_iter().filter(|t| filter.keeps(t)).collect();
    if as_json {
        for t in &tickets {
            println!("{}", serde_json::to_string(t)?);
        }
    } else if tickets.is_empty() {
        println!("no tickets in {}{}", target.table, filter.describe());
    } else {
        for line in ticket_table(&tickets) {
            println!("{line}");
        }
    }
    Ok(())
}

/// A ticket id as given on the command line. A full id (`DG-` + 32 hex) and
/// the 12-digit key of a ticket stored before 128-bit ids are used as they
/// are; a display id (`DG-` + 12 hex, what messages and tables show) stands
/// for the one 128-bit ticket it begins, and only when none does for the
/// old ticket stored under it (docs/architecture.md#ticket-ids).
pub async fn full_ticket_id(store: &dyn TicketStore, id: &str) -> Result<String> {
    // A short id is first the display id of a 128-bit ticket, and only
    // when none begins with it an old 12-digit key (insider review: the old
    // ticket under that key is history; the live one has the long key).
    if TicketIdForm::of(id) != Some(TicketIdForm::Short) {
        return Ok(id.to_string());
    }
    let all = store
        .list_tickets(None)
        .await
        .with_context(|| format!("list tickets to find the one {id} stands for"))?;
    pick_full_id(id, all.iter().map(|t| t.id.as_str()))
}

/// The one id `display` begins; `display` itself when none does (the read
/// then says there is no such ticket); an error naming them when several do.
pub fn pick_full_id<'a>(display: &str, ids: impl Iterator<Item = &'a str>) -> Result<String> {
    let found: Vec<&str> = ids
        .filter(|i| i.len() > display.len() && i.starts_with(display))
        .collect();
    match found.as_slice() {
        [one] => Ok(one.to_string()),
        [] => Ok(display.to_string()),
        many => bail!(
            "{display} is the display id of {} tickets ({}): give the full id",
            many.len(),
            many.join(", ")
        ),
    }
}

pub async fn tickets_show(target: &Target, id: &str, as_json: bool) -> Result<()> {
    let store = target.store().await;
    let id = &full_ticket_id(&store, id).await?;
    let ticket = store
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

/// The accepted ticket: drift adopted on purpose, with who and why in its
/// history (`Ticket::accept`), its version bumped for the conditional write.
pub fn accepted(mut ticket: Ticket, by: &str, reason: &str, now: DateTime<Utc>) -> Result<Ticket> {
    ticket
        .accept(by, reason, now)
        .map_err(|e| anyhow!("{e} (a ticket being remediated cannot be accepted)"))?;
    ticket.version += 1;
    Ok(ticket)
}

/// What [`accept_with`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    /// Moved from `from` to ACCEPTED, and `Drift Accepted` was put on the bus.
    Now {
        from: TicketState,
        ticket: Box<Ticket>,
    },
    /// It already was ACCEPTED: nothing written, nothing announced.
    Already,
}

/// Mark a ticket ACCEPTED with a conditional write (re-read and retried if
/// someone else wrote it in between), then put `Drift Accepted` on the bus so
/// notify announces it (as remediate's results and detect's decisions are).
pub async fn accept_with(
    store: &dyn TicketStore,
    bus: &dyn DecisionBus,
    id: &str,
    by: &str,
    reason: &str,
) -> Result<Accepted> {
    let modified = modify(store, id, Attempts::new(5), None, |read| {
        let Some(ticket) = read else {
            return Edit::Stop(anyhow!("no ticket {id}"));
        };
        if ticket.state == TicketState::Accepted {
            return Edit::Keep(ticket.state);
        }
        match accepted(ticket.clone(), by, reason, Utc::now()) {
            Ok(updated) => Edit::Write(updated, ticket.state),
            Err(e) => Edit::Stop(e),
        }
    })
    .await;
    let (updated, from) = match modified {
        Ok(Modified::Written(updated, from)) => (updated, from),
        Ok(Modified::Kept(..)) => return Ok(Accepted::Already),
        Err(ModifyError::Stopped(e)) => return Err(e),
        Err(ModifyError::Read(e)) => return Err(e).with_context(|| format!("read ticket {id}")),
        Err(ModifyError::Write(e)) => return Err(e).with_context(|| format!("write ticket {id}")),
        Err(ModifyError::Contended { .. }) => {
            bail!("ticket {id} kept changing under us: try again")
        }
    };
    announce(bus, &updated).await.with_context(|| {
        format!(
            "{id} is ACCEPTED, but the `{DRIFT_ACCEPTED}` event could not be put on \
             the bus, so nobody is notified (is events:PutEvents on the bus allowed?)"
        )
    })?;
    Ok(Accepted::Now {
        from,
        ticket: Box::new(updated),
    })
}

/// `Drift Accepted` for the ticket's acceptance, through the one retry layer.
async fn announce(bus: &dyn DecisionBus, ticket: &Ticket) -> Result<()> {
    let acceptance = ticket
        .acceptance()
        .ok_or_else(|| anyhow!("ticket {} has no acceptance to announce", ticket.id))?;
    let detail = serde_json::to_value(DriftAccepted::of(ticket, &acceptance))?;
    retry(&RetryPolicy::default(), "publish", || {
        bus.publish(DRIFT_ACCEPTED, &detail)
    })
    .await?;
    Ok(())
}

/// `driftguard accept`: [`accept_with`] on the target's table and bus.
pub async fn accept(target: &Target, id: &str, by: &str, reason: &str) -> Result<()> {
    let sdk = target.sdk().await;
    let store = DynamoTicketStore::new(aws_sdk_dynamodb::Client::new(&sdk), &target.table);
    let bus = EventBridgeBus::new(aws_sdk_eventbridge::Client::new(&sdk), &target.bus);
    let id = &full_ticket_id(&store, id).await?;
    let outcome = accept_with(&store, &bus, id, by, reason)
        .await
        .with_context(|| format!("accept {id} in table {}", target.table))?;
    let Accepted::Now { from, ticket } = outcome else {
        println!("{id} is already ACCEPTED");
        return Ok(());
    };
    println!("{id}: {from} -> ACCEPTED ({reason})");
    println!("announced on bus {} ({DRIFT_ACCEPTED})", target.bus);
    // What to put in the template to keep it (the Slack message's snippet).
    if let Ok(c) = driftguard_core::codify::from_ticket(&ticket, None) {
        println!(
            "keep it in the template (for the exact diff: driftguard codify {id} --template FILE):"
        );
        println!("{}", driftguard_core::codify::snippet(&c));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use driftguard_core::memory::{MemoryBus, MemoryTicketStore};
    use driftguard_model::domain::EntryKind;
    use driftguard_model::error::PortError;

    fn ticket(state: TicketState) -> Ticket {
        let change = crate::fixtures::sg_change("e1", Utc::now());
        let mut t = crate::fixtures::sg_ticket("BastionSecurityGroup", &change);
        t.state = state;
        t.version = 1;
        t
    }

    /// Issue 34, item 7: the CLI takes a full id, an old 12-digit key, or a
    /// display id that begins exactly one 128-bit ticket's id.
    #[tokio::test]
    async fn a_display_id_stands_for_the_one_ticket_it_begins() {
        let store = MemoryTicketStore::new();
        let t = ticket(TicketState::Open);
        assert_eq!(t.id.len(), 3 + 32);
        store.create_ticket(&t).await.unwrap();
        let display = t.display_id().to_string();
        assert_eq!(full_ticket_id(&store, &display).await.unwrap(), t.id);
        assert_eq!(full_ticket_id(&store, &t.id).await.unwrap(), t.id);
        // An old ticket stored under its 12-digit key is read by that key.
        let mut old = elsewhere("111111111111", "eu-west-1", 1);
        old.id = old.fingerprint.display_id();
        store.create_ticket(&old).await.unwrap();
        assert_eq!(full_ticket_id(&store, &old.id).await.unwrap(), old.id);
        // The same resource's ticket from before 128-bit ids sits under its
        // display id: the live 128-bit ticket still wins (insider review).
        let mut legacy = t.clone();
        legacy.id = display.clone();
        store.create_ticket(&legacy).await.unwrap();
        assert_eq!(full_ticket_id(&store, &display).await.unwrap(), t.id);
        // Unknown: as given (the read then says "no ticket").
        assert_eq!(
            full_ticket_id(&store, "DG-000000000000").await.unwrap(),
            "DG-000000000000"
        );
        let twins = [
            "DG-0123456789ab0000000000000000000a",
            "DG-0123456789ab0000000000000000000b",
        ];
        let e = pick_full_id("DG-0123456789ab", twins.into_iter()).unwrap_err();
        assert!(e.to_string().contains("give the full id"), "{e}");
    }

    #[test]
    fn details_show_the_plan_digest_and_the_approval() {
        let mut t = ticket(TicketState::AwaitingApproval);
        let plan = driftguard_model::domain::Plan {
            strategy: driftguard_model::domain::Strategy::InverseCall,
            calls: vec![],
            expected: "rule gone".into(),
            skipped: vec![],
        };
        let digest = plan.digest();
        t.plan = Some(plan);
        t.approval = Some(driftguard_model::domain::Approval {
            plan_digest: digest.clone(),
            approver_arn: "arn:aws:iam::123456789012:user/alice".into(),
            approved_at: Utc::now(),
            via: "lambda-function-url:AWS_IAM".into(),
            approver_id: None,
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
        assert_eq!(
            lines[1],
            "account 123456789012, region us-east-1 (1 ticket)"
        );
        assert!(lines[2].starts_with("DG-"));
    }

    /// A ticket for the same resource in another account and region.
    fn elsewhere(account: &str, region: &str, minutes_later: i64) -> Ticket {
        let mut t = ticket(TicketState::Open);
        t.fingerprint.account = account.into();
        t.fingerprint.region = region.into();
        t.id = t.fingerprint.ticket_id();
        t.updated_at += chrono::Duration::minutes(minutes_later);
        t
    }

    #[test]
    fn the_list_names_the_account_and_region_of_every_ticket() {
        let here = ticket(TicketState::Open);
        let prod = elsewhere("111111111111", "eu-west-1", 10);
        let prod_us = elsewhere("111111111111", "us-east-1", 5);
        let lines = ticket_table(&[here.clone(), prod.clone(), prod_us.clone()]);
        assert!(lines.iter().all(|l| l.chars().count() <= 80), "{lines:#?}");
        // Groups by their newest ticket: prod eu-west-1, prod us-east-1, then here.
        assert_eq!(
            lines[1],
            "account 111111111111, region eu-west-1 (1 ticket)"
        );
        // The table shows display ids (issue 34, item 7): what the CLI accepts.
        assert!(lines[2].starts_with(prod.display_id()));
        assert_eq!(
            lines[3],
            "account 111111111111, region us-east-1 (1 ticket)"
        );
        assert!(lines[4].starts_with(prod_us.display_id()));
        assert_eq!(
            lines[5],
            "account 123456789012, region us-east-1 (1 ticket)"
        );
        assert!(lines[6].starts_with(here.display_id()));
        assert_eq!(lines.len(), 7);
    }

    #[test]
    fn tickets_are_filtered_by_account_and_region() {
        let all = [
            ticket(TicketState::Open),
            elsewhere("111111111111", "eu-west-1", 1),
            elsewhere("111111111111", "us-east-1", 2),
            elsewhere("222222222222", "eu-west-1", 3),
        ];
        let kept = |f: &TicketFilter| -> Vec<(String, String)> {
            all.iter()
                .filter(|t| f.keeps(t))
                .map(|t| (t.fingerprint.account.clone(), t.fingerprint.region.clone()))
                .collect()
        };
        let pair = |a: &str, r: &str| (a.to_string(), r.to_string());
        assert_eq!(kept(&TicketFilter::default()).len(), 4);
        assert_eq!(
            kept(&TicketFilter::new(Some("111111111111"), None).unwrap()),
            vec![
                pair("111111111111", "eu-west-1"),
                pair("111111111111", "us-east-1")
            ]
        );
        assert_eq!(
            kept(&TicketFilter::new(None, Some("eu-west-1")).unwrap()),
            vec![
                pair("111111111111", "eu-west-1"),
                pair("222222222222", "eu-west-1")
            ]
        );
        assert_eq!(
            kept(&TicketFilter::new(Some("111111111111"), Some("eu-west-1")).unwrap()),
            vec![pair("111111111111", "eu-west-1")]
        );
        assert!(kept(&TicketFilter::new(Some("333333333333"), None).unwrap()).is_empty());
        let f = TicketFilter::new(Some("111111111111"), Some("eu-west-1")).unwrap();
        assert_eq!(f.describe(), " for account 111111111111, region eu-west-1");
        for bad in ["1111", "11111111111x", "*"] {
            let e = TicketFilter::new(Some(bad), None).unwrap_err().to_string();
            assert!(e.contains("--account") && e.contains("12-digit"), "{e}");
        }
        assert!(TicketFilter::new(None, Some(" "))
            .unwrap_err()
            .to_string()
            .contains("--region"));
    }

    #[test]
    fn details_name_the_account_region_and_policy_environment() {
        let mut t = elsewhere("111111111111", "eu-west-1", 0);
        let text = ticket_details(&t).join("\n");
        assert!(
            text.contains("where     account 111111111111, region eu-west-1\n"),
            "{text}"
        );
        t.decision = Some(driftguard_model::domain::Decision {
            verdict: driftguard_model::domain::Verdict {
                action: driftguard_model::domain::Action::Revert,
                reason: "policy rule sg (environment prod)".into(),
                rule: Some("sg".into()),
                dry_run: false,
                requires_approval: false,
                severity: driftguard_model::domain::Severity::High,
                capped_from: None,
                environment: Some("prod".into()),
            },
            held: None,
            hit_and_run: None,
        });
        let text = ticket_details(&t).join("\n");
        assert!(
            text.contains(
                "where     account 111111111111, region eu-west-1, policy environment prod\n"
            ),
            "{text}"
        );
    }

    #[tokio::test]
    async fn accepting_puts_drift_accepted_on_the_bus_once() {
        let store = MemoryTicketStore::new();
        let bus = MemoryBus::new();
        let t = ticket(TicketState::Open);
        store.create_ticket(&t).await.unwrap();
        let out = accept_with(&store, &bus, &t.id, "carol", "vendor needs ssh")
            .await
            .unwrap();
        assert!(
            matches!(
                &out,
                Accepted::Now {
                    from: TicketState::Open,
                    ..
                }
            ),
            "{out:?}"
        );
        let stored = store.get_ticket(&t.id).await.unwrap().unwrap();
        assert_eq!(stored.state, TicketState::Accepted);
        let published = bus.published();
        assert_eq!(published.len(), 1);
        let (detail_type, detail) = &published[0];
        assert_eq!(detail_type, DRIFT_ACCEPTED);
        let event: DriftAccepted = serde_json::from_value(detail.clone()).unwrap();
        let acceptance = stored.acceptance().unwrap();
        assert_eq!(event, DriftAccepted::of(&stored, &acceptance));
        assert_eq!(
            (
                event.ticket_id.as_str(),
                event.accepted_by.as_str(),
                event.reason.as_str()
            ),
            (t.id.as_str(), "carol", "vendor needs ssh")
        );
        // Accepting again changes nothing and announces nothing.
        let again = accept_with(&store, &bus, &t.id, "dave", "again")
            .await
            .unwrap();
        assert_eq!(again, Accepted::Already);
        assert_eq!(bus.published().len(), 1);
    }

    struct DownBus;

    #[async_trait::async_trait]
    impl DecisionBus for DownBus {
        async fn publish(
            &self,
            _: &str,
            _: &serde_json::Value,
        ) -> driftguard_model::error::PortResult<()> {
            Err(PortError::Failed {
                service: "events",
                operation: "PutEvents",
                message: "AccessDeniedException".into(),
            })
        }
    }

    #[tokio::test]
    async fn a_bus_that_refuses_the_event_fails_the_command_and_says_the_ticket_is_accepted() {
        let store = MemoryTicketStore::new();
        let t = ticket(TicketState::Open);
        store.create_ticket(&t).await.unwrap();
        let e = accept_with(&store, &DownBus, &t.id, "carol", "x")
            .await
            .unwrap_err();
        let text = format!("{e:#}");
        assert!(
            text.contains("is ACCEPTED, but") && text.contains("AccessDenied"),
            "{text}"
        );
        let stored = store.get_ticket(&t.id).await.unwrap().unwrap();
        assert_eq!(stored.state, TicketState::Accepted);
    }
}
