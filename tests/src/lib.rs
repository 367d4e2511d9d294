//! Integration-test helpers over the one moto harness,
//! [`driftguard_cli::emulator`] (which the demo and the bench's scenario use
//! too): the emulator of a test area ([`moto`]) or of one test ([`own_moto`]),
//! unique resource names ([`unique`]), and the tests' own scenario pieces
//! ([`infra`], [`stacks`], [`cloudtrail`], [`hotfix`], [`calls`]).
//!
//! The tests of an area share one server and isolate themselves with unique
//! resource names; `Emulator::reset` clears all state when a test needs a
//! clean slate.
pub mod calls;
pub mod cloudtrail;
pub mod hotfix;
pub mod infra;
pub mod stacks;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use driftguard_cli::emulator::Emulator;

/// A moto server of the test's own, stopped when dropped.
pub fn own_moto() -> Emulator {
    Emulator::start().unwrap_or_else(|e| panic!("{e:#}; run scripts/setup first"))
}

/// The server shared by the tests of one area: one server per top-level
/// test module (`detect_moto::…`, `sweep_moto::…`), as when each area was
/// its own test binary, so one area's resources never show up in another's
/// listings and a slow area does not queue behind the others. The area is
/// read from the test thread's name (libtest names it after the test);
/// a call from any other thread gets the area `""`. The servers live until
/// the test binary exits (the harness's watchdog stops them then).
pub fn moto() -> &'static Emulator {
    static SERVERS: OnceLock<Mutex<HashMap<String, &'static Emulator>>> = OnceLock::new();
    let area = std::thread::current()
        .name()
        .and_then(|name| name.split("::").next())
        .unwrap_or("")
        .to_string();
    let servers = SERVERS.get_or_init(Mutex::default);
    let mut servers = servers
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    servers
        .entry(area)
        .or_insert_with(|| Box::leak(Box::new(own_moto())))
}

/// A unique suffix for resource names, so tests sharing a server do not collide.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}
