//! `driftguard rollback STACK [--to VERSION] [--dry-run]`: roll a stack back
//! to a known-good version of its template (`driftguard_core::remediate::history`,
//! recorded by the sweep for stable, in-sync stacks and by detect after
//! completed deploys).
//!
//! The plan is the change set to that version's processed template and
//! parameters; its preview (every page of `DescribeChangeSet`, made under a
//! throwaway name and deleted) is shown with the plan's digest. `--dry-run`
//! stops there. Otherwise the plan is stored on the stack's ticket in
//! AWAITING_APPROVAL with the previewed change list
//! (`driftguard_core::remediate::rollback_request`), and is approved exactly like a
//! plan the remediate Lambda made: `driftguard approve TICKET` signs the
//! approval for the IAM-authenticated approval endpoint, which records the
//! verified approver and wakes remediate; remediate re-derives the same plan
//! (same digest), checks the approval against it, and executes the change set
//! with its own role after the same review (no `Remove`, `AVAILABLE`;
//! replacements allowed because the person approved them). No terminal
//! confirmation executes anything: the approval endpoint is the only way.
use anyhow::{anyhow, Context, Result};
use chrono::{DateTime, Utc};
use driftguard_adapters::changesets::CfnChangeSets;
use driftguard_adapters::cloudformation::CfnStackCatalog;
use driftguard_adapters::template_history::DynamoTemplateHistory;
use driftguard_core::ports::modify::{modify, Attempts, Edit, Modified, ModifyError};
use driftguard_core::ports::remediate::{ChangeSets, KnownGood, TemplateHistory};
use driftguard_core::ports::{StackCatalog, TicketStore};
use driftguard_core::remediate::changeset::{self, describe_changes, Preview};
use driftguard_core::remediate::executor::WaitPolicy;
use driftguard_core::remediate::history::{rollback_plan, target};
use driftguard_core::remediate::rollback_request::{
    awaiting_approval, plan_time, request_change, stack_ownership, ticket_id,
};
use driftguard_core::resilience::RetryPolicy;
use driftguard_model::domain::policy::RemediationSettings;
use driftguard_model::domain::Ticket;

use crate::ops::Target;

/// What to roll back and how.
#[derive(Debug, Clone)]
pub struct RollbackArgs {
    pub stack: String,
    pub to: Option<u32>,
    pub dry_run: bool,
}

/// The ports a rollback request uses (AWS in [`run`], memory in tests).
pub struct RollbackPorts<'a> {
    pub catalog: &'a dyn StackCatalog,
    pub history: &'a dyn TemplateHistory,
    pub change_sets: &'a dyn ChangeSets,
    pub tickets: &'a dyn TicketStore,
    pub wait: WaitPolicy,
    /// How long the request waits for an approval.
    pub approval_ttl_minutes: u32,
}

/// What a request came to: what was shown, and the stored ticket (none on a dry run).
#[derive(Debug, Clone)]
pub struct Requested {
    pub lines: Vec<String>,
    pub digest: String,
    pub ticket: Option<Ticket>,
}

/// Pure: the kept versions, newest last, the target marked.
pub fn version_table(versions: &[KnownGood], chosen: u32) -> Vec<String> {
    let mut lines = vec!["   version  recorded              status           digest".to_string()];
    for v in versions {
        lines.push(format!(
            "{} {:>7}  {}  {:<15}  {}",
            if v.version == chosen { "->" } else { "  " },
            v.version,
            v.recorded_at.format("%Y-%m-%dT%H:%M:%SZ"),
            v.stack_status,
            v.digest.get(..12).unwrap_or(&v.digest)
        ));
    }
    lines
}

/// Pure: the preview the person approves.
pub fn preview_lines(p: &Preview, digest: &str) -> Vec<String> {
    let mut lines = vec![
        format!("change set {} on {}", p.name, p.stack),
        format!(
            "execution status {}",
            p.execution_status.as_deref().unwrap_or("unknown")
        ),
        format!("changes    {}", describe_changes(&p.changes)),
    ];
    for c in &p.changes {
        lines.push(format!(
            "  {:<14} {:<30} {}{}",
            c.action,
            c.logical_id,
            c.resource_type.as_deref().unwrap_or(""),
            match c.replacement.as_deref() {
                Some(r @ ("True" | "Conditional")) => format!("  REPLACEMENT {r}"),
                _ => String::new(),
            }
        ));
    }
    lines.push(format!("digest     {digest}"));
    lines
}

/// Preview the rollback plan and, unless `dry_run`, store it on the
/// stack's ticket awaiting approval.
pub async fn request(
    ports: &RollbackPorts<'_>,
    args: &RollbackArgs,
    now: DateTime<Utc>,
) -> Result<Requested> {
    let stack = ports
        .catalog
        .describe_stack(&args.stack)
        .await
        .with_context(|| format!("describing stack {}", args.stack))?
        .ok_or_else(|| anyhow!("stack {} does not exist", args.stack))?;
    let versions = ports
        .history
        .versions(&stack.stack_name)
        .await
        .with_context(|| format!("reading the known-good versions of {}", args.stack))?;
    let good = target(&stack.stack_name, &versions, args.to)?;
    let mut lines = version_table(&versions, good.version);
    let change = request_change(&stack, good.version, now).map_err(|e| anyhow!(e))?;
    let ownership = stack_ownership(&stack);
    let id = ticket_id(&change, &ownership);
    let planned = rollback_plan(good, &id, plan_time(&change))?;
    let digest = planned.plan.digest();
    let preview = preview_and_delete(ports, &planned.plan, now).await?;
    lines.push(format!("plan       {}", planned.plan.expected));
    lines.extend(preview_lines(&preview, &digest));
    if args.dry_run {
        lines.push(format!(
            "dry run: change set {} deleted, nothing stored or executed",
            preview.name
        ));
        return Ok(Requested {
            lines,
            digest,
            ticket: None,
        });
    }
    let ticket = store(ports, &id, &change, &ownership, &planned, &preview).await?;
    lines.push(format!(
        "ticket {} is AWAITING_APPROVAL until {}: a person approves plan {digest} with `driftguard approve {}`; remediate then executes it",
        ticket.id,
        ticket
            .approval_expires_at
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
        ticket.id
    ));
    Ok(Requested {
        lines,
        digest,
        ticket: Some(ticket),
    })
}

/// The preview under a throwaway name (never the change set remediate will
/// create and execute), deleted once read.
async fn preview_and_delete(
    ports: &RollbackPorts<'_>,
    plan: &driftguard_model::domain::Plan,
    now: DateTime<Utc>,
) -> Result<Preview> {
    let copy = changeset::preview_copy(plan, now)?;
    let preview = changeset::preview_plan(ports.change_sets, &copy, &ports.wait)
        .await
        .context("previewing the rollback change set")?;
    changeset::discard(ports.change_sets, &preview).await;
    Ok(preview)
}

async fn store(
    ports: &RollbackPorts<'_>,
    id: &str,
    change: &driftguard_model::domain::Change,
    ownership: &driftguard_model::domain::Ownership,
    planned: &driftguard_core::remediate::planner::Planned,
    preview: &Preview,
) -> Result<Ticket> {
    // One attempt: a ticket written since it was read fails the request
    // (run it again), as it always has.
    let modified = modify(ports.tickets, id, Attempts::new(1), None, |existing| {
        let made = awaiting_approval(
            existing.cloned(),
            change,
            ownership,
            planned,
            &preview.changes,
            ports.approval_ttl_minutes,
        );
        made.map_or_else(|e| Edit::Stop(anyhow!(e)), |t| Edit::Write(t, ()))
    })
    .await;
    match modified {
        Ok(Modified::Written(ticket, ())) => Ok(ticket),
        Ok(Modified::Kept(..)) => Err(anyhow!("ticket {id} was not stored")),
        Err(ModifyError::Stopped(e)) => Err(e),
        Err(ModifyError::Read(e)) => Err(e).with_context(|| format!("reading ticket {id}")),
        Err(ModifyError::Write(e) | ModifyError::Contended { last: e, .. }) => {
            Err(e).with_context(|| format!("storing ticket {id}"))
        }
    }
}

pub async fn run(target_args: &Target, args: &RollbackArgs) -> Result<()> {
    let sdk = target_args.sdk().await;
    let cfn = aws_sdk_cloudformation::Client::new(&sdk);
    let history = DynamoTemplateHistory::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        target_args.table.clone(),
    );
    let change_sets = CfnChangeSets::new(cfn.clone(), RetryPolicy::default());
    let catalog = CfnStackCatalog::new(cfn);
    let tickets = target_args.store().await;
    let ports = RollbackPorts {
        catalog: &catalog,
        history: &history,
        change_sets: &change_sets,
        tickets: &tickets,
        wait: WaitPolicy::default(),
        approval_ttl_minutes: RemediationSettings::default().approval_ttl_minutes,
    };
    let requested = request(&ports, args, Utc::now()).await?;
    for line in requested.lines {
        println!("{line}");
    }
    Ok(())
}

#[cfg(test)]
mod request_tests;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use driftguard_core::ports::remediate::ResourceChange;
    use driftguard_core::remediate::changeset::Expectation;
    use driftguard_core::remediate::history::candidate;
    use std::collections::BTreeMap;

    #[test]
    fn the_chosen_version_is_marked_and_replacements_are_shouted() {
        let mut versions: Vec<KnownGood> = ["a", "b"]
            .iter()
            .map(|b| {
                candidate(
                    "app",
                    "UPDATE_COMPLETE",
                    b,
                    BTreeMap::new(),
                    "2026-03-01T10:00:00Z".parse().unwrap(),
                )
                .unwrap()
            })
            .collect();
        versions[0].version = 1;
        versions[1].version = 2;
        let table = version_table(&versions, 1);
        assert!(table[1].starts_with("->"), "{table:?}");
        assert!(table[2].starts_with("  "));
        let p = Preview {
            stack: "app".into(),
            name: "cs".into(),
            id: None,
            revert_drift: false,
            changes: vec![ResourceChange {
                logical_id: "Db".into(),
                resource_type: Some("AWS::RDS::DBInstance".into()),
                action: "Modify".into(),
                replacement: Some("True".into()),
            }],
            execution_status: Some("AVAILABLE".into()),
            expect: Expectation::default(),
        };
        let lines = preview_lines(&p, "abc");
        assert!(
            lines.iter().any(|l| l.contains("REPLACEMENT True")),
            "{lines:?}"
        );
        assert_eq!(lines.last().unwrap(), "digest     abc");
    }
}
