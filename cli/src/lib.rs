//! The `driftguard` command's library: the local demo and the operational
//! commands (the binary in `main.rs` parses arguments and calls these), and
//! the one moto harness the demo, the bench's scenario and the integration
//! tests share ([`emulator`]).
pub mod approval;
pub mod bench_scenario;
pub mod codify;
pub mod demo;
pub mod doctor;
pub mod emulator;
#[cfg(test)]
mod fixtures;
pub mod guardrail;
pub mod ops;
pub mod plan;
pub mod policy_check;
pub mod report;
pub mod rollback;
pub mod run_event;

/// The table the commands use when neither `--table` nor `TABLE_NAME` says
/// (the name the demo gives it; on AWS, take it from the stack outputs).
pub const DEFAULT_TABLE: &str = emulator::provision::DEMO_TABLE;
