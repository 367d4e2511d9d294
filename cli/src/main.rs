//! `driftguard`: the command-line tool.
//!
//! - `replay`: run events through the decision path offline (parse → classify → policy).
//! - `policy check`: validate a policy file.
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
        /// EventBridge event files (JSON).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Policy commands.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Validate a policy file: unknown keys and bad values are named with their line.
    Check { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay {
            policy,
            json,
            files,
        } => replay::run(policy.as_deref(), json, &files),
        Command::Policy {
            command: PolicyCommand::Check { file },
        } => match shared::Policy::from_path(&file) {
            Ok(p) => {
                println!(
                    "{}: ok ({} rules, dry_run default {}, {} pipeline / {} own / {} break-glass principals)",
                    file.display(),
                    p.rules.len(),
                    p.dry_run_default(),
                    p.file.identities.pipeline.len(),
                    p.file.identities.own.len(),
                    p.file.identities.break_glass.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                ExitCode::FAILURE
            }
        },
    }
}
