//! `driftguard`: the command-line tool.
//!
//! - `replay`: run events through the decision path offline (parse → classify → policy).
//! - `policy check`: validate a policy file.
//! - `demo`: the whole flow on a local emulator (`driftguard_cli::demo`).
//! - `run-event`: one event end to end through detect and remediate (`driftguard_cli::run_event`).
//! - `tickets list|show`, `approve`, `accept`: operations (`driftguard_cli::ops`).
//! - `report`, `codify`: the drift report and the template edit that keeps accepted drift.
//! - `guardrail`: SCP / permissions boundary / template from the policy, and `--simulate`.
mod replay;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "driftguard",
    version,
    about = "Catch, ticket and revert drift in CloudFormation-managed infrastructure"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay event files through the decision path (no AWS calls; ownership is not checked).
    Replay {
        /// Policy file (default: the built-in safe default, ticket only, dry-run).
        #[arg(long, env = "DRIFTGUARD_POLICY")]
        policy: Option<PathBuf>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        /// The account driftguard runs in: principal patterns without an account
        /// match it and events of other accounts are rejected. Default: each
        /// event's own account.
        #[arg(long, env = "DRIFTGUARD_ACCOUNT")]
        account: Option<String>,
        /// EventBridge event files (JSON).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Policy commands.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Run the whole flow on a local AWS emulator: hot-fixes detected, ticketed,
    /// reverted, verified and announced. Exits non-zero if an outcome is missing.
    Demo {
        /// Use this emulator instead of starting moto.
        #[arg(long)]
        endpoint: Option<String>,
        /// Leave the emulator running afterwards, to inspect it.
        #[arg(long)]
        keep: bool,
        /// No ANSI colours (they are only used on a terminal anyway).
        #[arg(long)]
        no_color: bool,
        /// One more change, in member account 111111111111 (the example policy's prod), handled by the
        /// central functions through the member's roles (docs/multi-account.md).
        #[arg(long)]
        member_account: bool,
    },
    /// One event, end to end, through detect and then remediate (the functions'
    /// own code and configuration: TABLE_NAME, EVENT_BUS_NAME, POLICY_PARAMETER or
    /// POLICY_PATH, DRY_RUN; AWS_ENDPOINT_URL for an emulator): decision, ticket,
    /// the undo and its verification. One JSON line per step.
    RunEvent {
        /// The event file: an EventBridge event or a bare CloudTrail record.
        event: PathBuf,
        /// Exit non-zero unless the change was reverted and verified.
        #[arg(long)]
        expect_revert: bool,
    },
    /// The scenario scripts/bench times, on the emulator AWS_ENDPOINT_URL names
    /// (or, `setup --start-emulator`, one of its own).
    #[command(hide = true)]
    BenchScenario {
        #[command(subcommand)]
        command: ScenarioCommand,
    },
    /// Ticket commands.
    Tickets {
        #[command(flatten)]
        target: TargetArgs,
        #[command(subcommand)]
        command: TicketsCommand,
    },
    /// Approve the plan of a ticket waiting for approval, as yourself: a
    /// SigV4-signed call to the approval endpoint with your AWS credentials.
    Approve {
        #[command(flatten)]
        target: TargetArgs,
        ticket: String,
        /// The approval endpoint (the stack's ApprovalUrl output).
        #[arg(long, env = "DRIFTGUARD_APPROVAL_URL")]
        url: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Removed: the approver is whoever AWS authenticates, not a name.
        #[arg(long, hide = true)]
        by: Option<String>,
    },
    /// Check a deployed (or emulated) driftguard and the account it watches:
    /// one line per check (✔ / ! / ✘) with the fix. Exits non-zero when a check fails.
    Doctor {
        #[command(flatten)]
        args: driftguard_cli::doctor::cli::DoctorArgs,
    },
    /// What driftguard does with one event (an EventBridge event or a bare
    /// CloudTrail record), through detect's and remediate's own code: owner,
    /// drift, actor, verdict, the exact plan and its gates. Nothing changes
    /// without --apply.
    Plan {
        #[command(flatten)]
        target: TargetArgs,
        /// The event file (JSON).
        event: PathBuf,
        /// Act: the same gates, rate limits, approvals and claims as the Lambdas.
        #[arg(long)]
        apply: bool,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
        /// A policy file (default: the functions' POLICY_PARAMETER / POLICY_PATH).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// The policy's SSM parameter, as the deployed functions read it.
        #[arg(long)]
        policy_parameter: Option<String>,
    },
    /// Roll a stack back to a known-good version of its template: shows the
    /// change set preview and asks for approval (--dry-run: preview only).
    Rollback {
        #[command(flatten)]
        target: TargetArgs,
        stack: String,
        /// The known-good version (default: the one before the latest).
        #[arg(long)]
        to: Option<u32>,
        /// Preview only: the change set is deleted, nothing stored or executed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Accept a ticket's drift on purpose (ACCEPTED: nothing will be reverted).
    Accept {
        #[command(flatten)]
        target: TargetArgs,
        ticket: String,
        #[arg(long, default_value = "accepted on purpose")]
        reason: String,
        /// Who accepts (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Drift report from the ticket table: by stack, resource type, actor and
    /// verdict; time to revert; the most drifted resources and who changed them.
    Report {
        #[command(flatten)]
        target: TargetArgs,
        /// The window: tickets updated in the last 90m, 24h, 7d, 4w...
        #[arg(long, default_value = "7d")]
        since: String,
        /// Also write a self-contained HTML page with SVG charts.
        #[arg(long)]
        html: Option<PathBuf>,
        /// Read the tickets from this file (JSON lines, `driftguard tickets
        /// list --json`) instead of the table.
        #[arg(long)]
        tickets: Option<PathBuf>,
    },
    /// Show what to put in a template to keep a ticket's drift (after
    /// `driftguard accept`): a unified diff of FILE, or a JSON Patch.
    Codify {
        #[command(flatten)]
        target: TargetArgs,
        ticket: String,
        /// The stack's template (YAML or JSON).
        #[arg(long)]
        template: PathBuf,
        /// Read the ticket from this file (`driftguard tickets show ID --json`)
        /// instead of the table.
        #[arg(long)]
        ticket_json: Option<PathBuf>,
    },
    // ---- guardrail (issue 18): one block, kept together.
    /// Preventive guardrails from the policy: a service control policy (or a
    /// permissions boundary, or a template deploying either) denying hot-fixes
    /// on CloudFormation-managed resources. --simulate: what it would have
    /// denied among the changes recorded on tickets (docs/guardrails.md).
    Guardrail {
        #[command(flatten)]
        target: TargetArgs,
        #[command(flatten)]
        args: driftguard_cli::guardrail::GuardrailArgs,
    },
}

#[derive(Debug, clap::Args)]
struct TargetArgs {
    /// AWS endpoint override (an emulator), e.g. http://127.0.0.1:5000.
    #[arg(long, global = true)]
    endpoint: Option<String>,
    /// Ticket table.
    #[arg(long, global = true, env = "TABLE_NAME", default_value = driftguard_cli::DEFAULT_TABLE)]
    table: String,
    /// driftguard's event bus.
    #[arg(long, global = true, env = "EVENT_BUS_NAME", default_value = driftguard_core::config::DEFAULT_EVENT_BUS)]
    bus: String,
}

impl TargetArgs {
    fn target(self) -> driftguard_cli::ops::Target {
        driftguard_cli::ops::Target {
            endpoint: self.endpoint,
            table: self.table,
            bus: self.bus,
        }
    }
}

#[derive(Debug, Subcommand)]
enum ScenarioCommand {
    /// driftguard's resources; prints the functions' environment as `export` lines.
    Setup {
        /// The Slack webhook notify posts to (default: nothing listens; with
        /// --start-emulator, a local listener answering as Slack does).
        #[arg(long)]
        webhook: Option<String>,
        /// Start a moto server first (instead of AWS_ENDPOINT_URL's), print its
        /// environment too, then `# ready`, and keep it running until killed.
        #[arg(long)]
        start_emulator: bool,
    },
    /// A new stack with one security group, opened to 0.0.0.0/0 on port 22 by
    /// a console user; prints the group id.
    Open {
        stack: String,
        /// Write the CloudTrail event of the change here.
        #[arg(long)]
        event: Option<PathBuf>,
    },
    /// Exit 0 while the group lets 0.0.0.0/0 in on port 22, 1 once it does not.
    IsOpen { group: String },
}

#[derive(Debug, Subcommand)]
enum TicketsCommand {
    /// Tickets, newest first.
    List {
        /// Only this state (OPEN, AWAITING_APPROVAL, REMEDIATING, RESOLVED, ACCEPTED, FAILED, ALLOWED).
        #[arg(long)]
        state: Option<String>,
        /// Only tickets of this account (12 digits): the account of the changed resource.
        #[arg(long)]
        account: Option<String>,
        /// Only tickets of this region, e.g. eu-west-1.
        #[arg(long)]
        region: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// One ticket with its history.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

fn who(by: Option<String>) -> String {
    by.or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "driftguard-cli".into())
}

/// Run an async command; errors are printed with their context chain.
fn block_on(f: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(f) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn demo(endpoint: Option<String>, keep: bool, no_color: bool, member_account: bool) -> ExitCode {
    use std::io::IsTerminal;
    if std::env::var_os("RUST_LOG").is_some() {
        // The functions' JSON logs, on stderr, when asked for.
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    let options = driftguard_cli::demo::DemoOptions {
        endpoint,
        keep,
        color: !no_color
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none(),
        member_account,
    };
    block_on(async {
        let outcome = driftguard_cli::demo::run(&options, Box::new(std::io::stdout())).await?;
        if let Some(emulator) = outcome.emulator {
            // --keep: leave it running after we exit.
            emulator.detach();
        }
        if !outcome.passed {
            anyhow::bail!("the demo's checks failed (see above)");
        }
        Ok(())
    })
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Validate a policy file: unknown keys and bad values are named with their line.
    Check { file: PathBuf },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Replay {
            policy,
            json,
            account,
            files,
        } => replay::run(policy.as_deref(), json, &files, account.as_deref()),
        Command::Policy {
            command: PolicyCommand::Check { file },
        } => policy_check(&file),
        Command::Demo {
            endpoint,
            keep,
            no_color,
            member_account,
        } => demo(endpoint, keep, no_color, member_account),
        Command::RunEvent {
            event,
            expect_revert,
        } => block_on(run_event(event, expect_revert)),
        Command::BenchScenario { command } => block_on(bench_scenario(command)),
        Command::Tickets { target, command } => block_on(tickets(target.target(), command)),
        Command::Approve {
            target,
            ticket,
            url,
            yes,
            by,
        } => block_on(approve(target.target(), ticket, url, yes, by)),
        Command::Doctor { args } => block_on(doctor(args)),
        Command::Plan {
            target,
            event,
            apply,
            json,
            policy,
            policy_parameter,
        } => {
            let options = driftguard_cli::plan::PlanOptions {
                endpoint: target.endpoint,
                table: target.table,
                bus: target.bus,
                apply,
                json,
                policy,
                policy_parameter,
            };
            block_on(async move {
                driftguard_cli::plan::run(&event, &options, &mut std::io::stdout()).await
            })
        }
        table @ (Command::Rollback { .. }
        | Command::Accept { .. }
        | Command::Report { .. }
        | Command::Codify { .. }
        | Command::Guardrail { .. }) => block_on(on_the_table(table)),
    }
}

/// The commands that read or act on the ticket table of a target:
/// rollback, accept, report, codify, guardrail.
async fn on_the_table(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Rollback {
            target,
            stack,
            to,
            dry_run,
        } => {
            let args = driftguard_cli::rollback::RollbackArgs { stack, to, dry_run };
            driftguard_cli::rollback::run(&target.target(), &args).await
        }
        Command::Accept {
            target,
            ticket,
            reason,
            by,
        } => driftguard_cli::ops::accept(&target.target(), &ticket, &who(by), &reason).await,
        Command::Report {
            target,
            since,
            html,
            tickets,
        } => {
            driftguard_cli::report::run(
                &target.target(),
                &since,
                html.as_deref(),
                tickets.as_deref(),
            )
            .await
        }
        Command::Codify {
            target,
            ticket,
            template,
            ticket_json,
        } => {
            driftguard_cli::codify::run(
                &target.target(),
                &ticket,
                &template,
                ticket_json.as_deref(),
            )
            .await
        }
        Command::Guardrail { target, args } => {
            driftguard_cli::guardrail::run(&target.target(), &args).await
        }
        other => anyhow::bail!("{other:?} is not a ticket-table command"),
    }
}

fn policy_check(file: &std::path::Path) -> ExitCode {
    match driftguard_model::domain::policy::Policy::from_path(file) {
        Ok(p) => {
            for line in driftguard_cli::policy_check::summary(&file.display().to_string(), &p) {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            ExitCode::FAILURE
        }
    }
}

async fn run_event(event: PathBuf, expect_revert: bool) -> anyhow::Result<()> {
    let outcome = driftguard_cli::run_event::run(&event, &mut std::io::stdout()).await?;
    if expect_revert {
        driftguard_cli::run_event::expect_revert(&outcome)?;
    }
    Ok(())
}

async fn bench_scenario(command: ScenarioCommand) -> anyhow::Result<()> {
    use driftguard_cli::bench_scenario;
    let out = &mut std::io::stdout();
    if let ScenarioCommand::Setup {
        webhook,
        start_emulator: true,
    } = &command
    {
        return bench_scenario::start_and_setup(webhook.as_deref(), out).await;
    }
    // The scenario opens 22/tcp to the world and overwrites the policy
    // parameter: only ever on an emulator, with its fixed test credentials (a
    // wrong endpoint then reaches no real account either).
    let endpoint = std::env::var("AWS_ENDPOINT_URL").map_err(|_| {
        anyhow::anyhow!(
            "bench-scenario runs only against an emulator: set AWS_ENDPOINT_URL (or use setup --start-emulator)"
        )
    })?;
    let sdk = driftguard_cli::emulator::sdk_config(&endpoint).await;
    match command {
        ScenarioCommand::Setup { webhook, .. } => {
            let webhook = webhook.as_deref().unwrap_or(bench_scenario::UNUSED_WEBHOOK);
            bench_scenario::setup(&sdk, webhook, out).await
        }
        ScenarioCommand::Open { stack, event } => {
            bench_scenario::open(&sdk, &stack, event.as_deref(), out).await
        }
        ScenarioCommand::IsOpen { group } => {
            if bench_scenario::is_open(&sdk, &group).await? {
                Ok(())
            } else {
                anyhow::bail!("{group}: 22/tcp is not open to 0.0.0.0/0")
            }
        }
    }
}

async fn tickets(
    target: driftguard_cli::ops::Target,
    command: TicketsCommand,
) -> anyhow::Result<()> {
    match command {
        TicketsCommand::List {
            state,
            account,
            region,
            json,
        } => {
            let filter =
                driftguard_cli::ops::TicketFilter::new(account.as_deref(), region.as_deref())?;
            driftguard_cli::ops::tickets_list(&target, state.as_deref(), &filter, json).await
        }
        TicketsCommand::Show { id, json } => {
            driftguard_cli::ops::tickets_show(&target, &id, json).await
        }
    }
}

async fn approve(
    target: driftguard_cli::ops::Target,
    ticket: String,
    url: Option<String>,
    yes: bool,
    by: Option<String>,
) -> anyhow::Result<()> {
    if by.is_some() {
        anyhow::bail!("--by is gone: the approver is the AWS principal that signs the request; run `driftguard approve {ticket} --url URL` with your own credentials (docs/security.md)");
    }
    let url = url.ok_or_else(|| {
        anyhow::anyhow!(
            "no approval URL: pass --url or set {} (the stack's ApprovalUrl output)",
            driftguard_cli::approval::URL_ENV
        )
    })?;
    driftguard_cli::approval::approve(&target, &ticket, &url, yes)
        .await
        .map(|_| ())
}

async fn doctor(args: driftguard_cli::doctor::cli::DoctorArgs) -> anyhow::Result<()> {
    if driftguard_cli::doctor::cli::run(args).await? {
        Ok(())
    } else {
        anyhow::bail!("doctor: a check failed (see above)")
    }
}
