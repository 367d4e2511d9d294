//! Flow ports over empty in-memory doubles.
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::detect::Ports;
use crate::memory::catalog::{MemoryActorLookup, MemoryDriftDetector, MemoryStackCatalog};
use crate::memory::{FixedClock, MemoryBus, MemoryTicketStore};

/// detect's ports with nothing in them: no stacks, no drift, no actors, no
/// tickets (the store's clock and the flow's at `at`), a bus that keeps what
/// it is given, no ops mirror. Tests set what they need over it.
pub fn empty_detect_ports(at: DateTime<Utc>) -> Ports {
    let store = MemoryTicketStore::new();
    store.set_now(at);
    Ports {
        catalog: Arc::new(MemoryStackCatalog::new()),
        drift: Arc::new(MemoryDriftDetector::new()),
        actors: Arc::new(MemoryActorLookup::new()),
        tickets: Arc::new(store),
        bus: Arc::new(MemoryBus::new()),
        ops_mirror: None,
        clock: Arc::new(FixedClock::new(at)),
    }
}
