//! `driftguard guardrail`: preventive guardrails from the policy (the pure
//! generator is `driftguard_core::guardrail`), and `--simulate`: what they would have
//! denied among the changes recorded on tickets (`docs/guardrails.md`).
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::Utc;
use driftguard_core::guardrail::services::{service, STACK_NAME_TAG};
use driftguard_core::guardrail::Coverage;
use driftguard_core::guardrail::Replayed;
use driftguard_core::guardrail::{
    generate, simulate, Guardrail, Options, PolicyDocument, Simulation,
};
use driftguard_core::ports::TicketStore;
use driftguard_model::domain::{policy::Policy, Ticket};

use crate::ops::Target;
use crate::report::{parse_since, principal_label, read_tickets};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Service control policies (AWS Organizations), split to fit 5,120 bytes.
    Scp,
    /// One IAM managed policy to set as permissions boundary.
    Boundary,
    /// A CloudFormation template deploying the SCPs (management account).
    Cfn,
    /// A CloudFormation (StackSet) template deploying the boundary (every account).
    CfnBoundary,
}

#[derive(Debug, Clone, clap::Args)]
pub struct GuardrailArgs {
    /// Policy file (default: the built-in safe default).
    #[arg(long, env = "DRIFTGUARD_POLICY")]
    pub policy: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "scp")]
    pub format: Format,
    /// Write here instead of stdout; several SCPs go to FILE-1.json, FILE-2.json...
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The account of `role/NAME` principals (default: any account of the organization).
    #[arg(long, env = "DRIFTGUARD_ACCOUNT")]
    pub account: Option<String>,
    #[arg(long, default_value = "aws")]
    pub partition: String,
    /// Replay the changes recorded on tickets against the guardrail instead.
    #[arg(long)]
    pub simulate: bool,
    /// With --simulate: changes of the last 90m, 24h, 30d, 4w...
    #[arg(long, default_value = "30d")]
    pub since: String,
    /// With --simulate: tickets from this file (JSON lines, `driftguard tickets
    /// list --json`) instead of the table.
    #[arg(long, requires = "simulate")]
    pub tickets: Option<PathBuf>,
}

fn load(args: &GuardrailArgs) -> Result<Guardrail> {
    let policy = match &args.policy {
        Some(path) => {
            Policy::from_path(path).with_context(|| format!("policy {}", path.display()))?
        }
        None => Policy::default(),
    };
    let options = Options {
        account: args.account.clone(),
        partition: args.partition.clone(),
    };
    Ok(generate(&policy.file, &options)?)
}

pub async fn run(target: &Target, args: &GuardrailArgs) -> Result<()> {
    let guardrail = load(args)?;
    if args.simulate {
        return run_simulation(target, args, &guardrail).await;
    }
    let files = render(&guardrail, args.format)?;
    write(&files, args.out.as_deref())?;
    for line in coverage(&guardrail, &files) {
        eprintln!("{line}");
    }
    Ok(())
}

/// The documents to write, in order.
fn render(g: &Guardrail, format: Format) -> Result<Vec<String>> {
    Ok(match format {
        Format::Scp => g.scps()?.iter().map(with_newline).collect(),
        Format::Boundary => vec![with_newline(&g.boundary()?)],
        Format::Cfn => vec![g.scp_template()?],
        Format::CfnBoundary => vec![g.boundary_template()?],
    })
}

fn with_newline(doc: &PolicyDocument) -> String {
    let mut s = doc.render();
    s.push('\n');
    s
}

/// `guardrail.json` → `guardrail-2.json` for the second of several.
pub fn numbered(path: &Path, i: usize) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{i}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{i}"),
    };
    path.with_file_name(name)
}

fn write(files: &[String], out: Option<&Path>) -> Result<()> {
    match (out, files) {
        (None, [one]) => print!("{one}"),
        (None, many) => println!("[\n{}]", many.join(",\n")),
        (Some(path), [one]) => {
            std::fs::write(path, one).with_context(|| format!("write {}", path.display()))?
        }
        (Some(path), many) => {
            for (i, text) in many.iter().enumerate() {
                let p = numbered(path, i + 1);
                std::fs::write(&p, text).with_context(|| format!("write {}", p.display()))?;
                eprintln!("wrote {}", p.display());
            }
        }
    }
    Ok(())
}

/// What is denied, with which condition key per service, and what is not (stderr).
pub fn coverage(g: &Guardrail, files: &[String]) -> Vec<String> {
    let denied: Vec<_> = g
        .plans
        .iter()
        .filter(|p| matches!(p.coverage, Coverage::Deny { .. }))
        .collect();
    let sizes: Vec<String> = files
        .iter()
        .map(|f| format!("{} bytes", f.trim_end().len()))
        .collect();
    let mut out = vec![format!(
        "guardrail: {} of {} actions denied on CloudFormation-managed resources, {} statements in {} document(s) ({})",
        denied.len(),
        g.plans.len(),
        g.statements.len(),
        files.len(),
        sizes.join(", ")
    )];
    let mut prefixes: Vec<&str> = denied
        .iter()
        .filter_map(|p| p.action.split(':').next())
        .collect();
    prefixes.dedup();
    for prefix in prefixes {
        if let Some(s) = service(prefix) {
            out.push(format!(
                "  {prefix:<9} aws:ResourceTag/{STACK_NAME_TAG} on {} ({})",
                s.resource_type, s.reference
            ));
            if let Some(caveat) = s.caveat {
                out.push(format!("            note: {caveat}"));
            }
        }
    }
    for p in &g.plans {
        let why = match &p.coverage {
            Coverage::Deny { .. } => continue,
            Coverage::LeftToPeople { why } => format!("left to people: {why}"),
            Coverage::Protected { why } => format!("protected: {why}"),
            Coverage::NoConditionKey { why } => format!("no condition key: {why}"),
        };
        out.push(format!("  not denied: {:<40} {why}", p.action));
    }
    out
}

async fn tickets(target: &Target, file: Option<&Path>) -> Result<Vec<Ticket>> {
    match file {
        Some(path) => read_tickets(path),
        None => target
            .store()
            .await
            .list_tickets(None)
            .await
            .with_context(|| format!("list tickets in table {}", target.table)),
    }
}

async fn run_simulation(target: &Target, args: &GuardrailArgs, g: &Guardrail) -> Result<()> {
    let since = Utc::now() - parse_since(&args.since)?;
    let docs = g.scps()?;
    let tickets = tickets(target, args.tickets.as_deref()).await?;
    let sim = simulate(&tickets, &docs, since)?;
    for line in simulation_lines(&sim, &args.since) {
        println!("{line}");
    }
    let wrong = sim.wrongly_denied().count();
    if wrong > 0 {
        bail!("the guardrail would deny {wrong} allowed change(s): fix the policy's identities before deploying it");
    }
    Ok(())
}

fn line(r: &Replayed) -> String {
    format!(
        "  {}  {:<34} {:<40} {:<10} {:<38} {}",
        r.at.format("%Y-%m-%d %H:%M"),
        r.api,
        crate::demo::screen::fit(&r.resource, 40),
        r.actor,
        crate::demo::screen::fit(&principal_label(&r.request.principal_arn), 38),
        r.denied_by.as_deref().unwrap_or("-")
    )
}

/// The simulation as text: blocked hot-fixes, hot-fixes that would still get
/// through (driftguard still reverts them), and wrongly denied allowed changes.
pub fn simulation_lines(sim: &Simulation, since: &str) -> Vec<String> {
    let blocked: Vec<_> = sim.blocked().collect();
    let through: Vec<_> = sim
        .hotfixes
        .iter()
        .filter(|r| r.denied_by.is_none())
        .collect();
    let wrong: Vec<_> = sim.wrongly_denied().collect();
    let mut out = vec![format!(
        "guardrail simulation over the last {since}: {} recorded change(s), {} hot-fix(es), {} allowed, {} skipped (no actor or not a table operation)",
        sim.hotfixes.len() + sim.allowed.len(),
        sim.hotfixes.len(),
        sim.allowed.len(),
        sim.skipped
    )];
    out.push(format!(
        "would have been denied: {} of {} hot-fix(es)",
        blocked.len(),
        sim.hotfixes.len()
    ));
    out.extend(blocked.iter().map(|r| line(r)));
    out.push(format!(
        "would still get through (driftguard detects and reverts them): {}",
        through.len()
    ));
    out.extend(through.iter().map(|r| line(r)));
    out.push(format!(
        "allowed changes wrongly denied: {} (must be 0)",
        wrong.len()
    ));
    out.extend(wrong.iter().map(|r| line(r)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_files_are_numbered_before_the_extension() {
        assert_eq!(
            numbered(Path::new("out/guardrail.json"), 2),
            PathBuf::from("out/guardrail-2.json")
        );
        assert_eq!(numbered(Path::new("scp"), 1), PathBuf::from("scp-1"));
    }
}
