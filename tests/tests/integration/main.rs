//! The integration tests: one test binary, one module per area.
//!
//! They are one binary on purpose. Each test binary links the AWS SDK crates
//! (about 90 MB unoptimised); thirteen of them filled CI's disk and spent
//! minutes in the linker. Each area still gets its own moto server
//! (`integration_tests::moto` keys it by module). Run one area with its module path:
//! `cargo test -p integration-tests --test integration detect_moto::`.
//!
//! `notify_redaction` stays a binary of its own: it installs the process-wide
//! log subscriber and must be the only test that does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod notify_support;

mod accept_moto;
mod call_counts;
mod chain_faults;
mod config_rule_moto;
mod control_plane_moto;
mod demo;
mod detect_moto;
mod doctor_moto;
mod environments_moto;
mod handlers_moto;
mod known_good_moto;
mod members_moto;
mod moto_smoke;
mod notify_events;
mod notify_lambda;
mod notify_slack;
mod notify_sns;
mod ops_report_moto;
mod order_moto;
mod organizations_moto;
mod ping_pong_moto;
mod plan_moto;
mod regions_moto;
mod remediate_loop;
mod remediate_moto;
mod routing_moto;
mod run_event_moto;
mod sweep_moto;
mod sweep_parts_moto;
mod template;
mod timeouts;
mod unlisted_moto;
