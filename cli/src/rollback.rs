//! `driftguard rollback STACK [--to VERSION] [--dry-run]`: roll a stack back
//! to a known-good version of its template (`shared::remediation::history`,
//! recorded by the sweep for stable, in-sync stacks).
//!
//! The plan is the change set to that version's processed template and
//! parameters; its preview (every page of `DescribeChangeSet`) is what the
//! person approves. `--dry-run` shows the preview and deletes the change set.
//! Otherwise the person confirms the plan and its digest, as `driftguard
//! approve` asks, and the previewed change set itself is executed, with the
//! caller's own AWS credentials (CloudTrail records who rolled back). The same
//! review as the remediate Lambda's applies: no `Remove`, `ExecutionStatus`
//! `AVAILABLE`; replacements are allowed because the person saw them.
use anyhow::{bail, Context, Result};
use chrono::Utc;
use shared::adapters::aws::changesets::CfnChangeSets;
use shared::adapters::aws::template_history::DynamoTemplateHistory;
use shared::remediation::changeset::{self, describe_changes, Preview};
use shared::remediation::executor::WaitPolicy;
use shared::remediation::history::{rollback_plan, target, KnownGood, TemplateHistory};
use shared::resilience::RetryPolicy;

use crate::ops::Target;

/// What to roll back and how.
#[derive(Debug, Clone)]
pub struct RollbackArgs {
    pub stack: String,
    pub to: Option<u32>,
    pub dry_run: bool,
    pub yes: bool,
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

pub async fn run(target_args: &Target, args: &RollbackArgs) -> Result<()> {
    let sdk = target_args.sdk().await;
    let history = DynamoTemplateHistory::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        target_args.table.clone(),
    );
    let versions = history
        .versions(&args.stack)
        .await
        .with_context(|| format!("reading the known-good versions of {}", args.stack))?;
    let good = target(&args.stack, &versions, args.to)?;
    for line in version_table(&versions, good.version) {
        println!("{line}");
    }
    let planned = rollback_plan(good, &format!("cli-{}", args.stack), Utc::now())?;
    let digest = planned.plan.digest();
    let cfn = CfnChangeSets::new(
        aws_sdk_cloudformation::Client::new(&sdk),
        RetryPolicy::default(),
    );
    let wait = WaitPolicy::default();
    let preview = changeset::preview_plan(&cfn, &planned.plan, &wait)
        .await
        .context("previewing the rollback change set")?;
    println!("plan       {}", planned.plan.expected);
    for line in preview_lines(&preview, &digest) {
        println!("{line}");
    }
    if args.dry_run {
        changeset::discard(&cfn, &preview).await;
        println!(
            "dry run: change set {} deleted, nothing executed",
            preview.name
        );
        return Ok(());
    }
    let question = format!(
        "Approve plan {digest} and roll {} back to version {}?",
        args.stack, good.version
    );
    if !args.yes && !crate::approval::confirm(&question)? {
        changeset::discard(&cfn, &preview).await;
        bail!(
            "not approved: change set {} deleted, nothing executed",
            preview.name
        );
    }
    let notes = changeset::execute_previewed(&cfn, &preview, &wait).await?;
    for note in notes {
        println!("{note}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use shared::remediation::changeset::{Expectation, ResourceChange};
    use shared::remediation::history::candidate;
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
