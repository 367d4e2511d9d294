//! Test support, compiled only for tests (`cfg(test)`) and for crates that
//! enable the `testing` feature from their dev-dependencies: never in a
//! Lambda build (`cargo tree -p detect -e normal -f '{p} {f}'` shows no
//! `testing`).
pub mod change_sets;
pub mod plans;
pub mod ports;
pub mod tickets;
