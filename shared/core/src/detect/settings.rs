//! What the pipeline runs on: its ports (the stores, buses and lookups it
//! calls) and its settings (dry-run override, claim lease, retries, watched
//! accounts).
use std::sync::Arc;

use crate::ports::{
    ActorLookup, Clock, DecisionBus, DriftDetector, OpsMirror, StackCatalog, TicketStore,
};
use crate::resilience::RetryPolicy;

/// The ports the pipeline runs on.
#[derive(Clone)]
pub struct Ports {
    pub catalog: Arc<dyn StackCatalog>,
    pub drift: Arc<dyn DriftDetector>,
    pub actors: Arc<dyn ActorLookup>,
    pub tickets: Arc<dyn TicketStore>,
    pub bus: Arc<dyn DecisionBus>,
    pub ops_mirror: Option<Arc<dyn OpsMirror>>,
    pub clock: Arc<dyn Clock>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// `DRY_RUN=true`: every verdict is dry-run, whatever the policy says.
    pub force_dry_run: bool,
    /// How long a processed-event record lives (its DynamoDB TTL).
    pub event_ttl: chrono::Duration,
    /// How long a claim protects an event being processed; after it, a retry may
    /// take over (the invocation that held it crashed without abandoning).
    pub lease: chrono::Duration,
    /// How long a duplicate delivery waits for a concurrent one to finish before
    /// failing (so Lambda retries it later).
    pub in_progress_wait: std::time::Duration,
    /// The pipeline's own retries around port calls (the SDK retries too).
    pub retry: RetryPolicy,
    /// Optimistic-locking attempts on one ticket before giving up.
    pub max_ticket_attempts: u32,
    /// `WATCHED_ACCOUNTS`: events from any other account are rejected. The
    /// first is the account driftguard runs in (principal patterns that omit
    /// the account match it). Empty: each event's own account is taken as
    /// driftguard's (a single-account replay; the template always sets it).
    pub watched_accounts: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            force_dry_run: false,
            event_ttl: chrono::Duration::days(7),
            lease: chrono::Duration::seconds(150),
            in_progress_wait: std::time::Duration::from_secs(5),
            retry: RetryPolicy {
                max_attempts: 3,
                base_delay: std::time::Duration::from_millis(200),
                max_delay: std::time::Duration::from_secs(2),
                attempt_timeout: std::time::Duration::from_secs(20),
            },
            max_ticket_attempts: 25,
            watched_accounts: Vec::new(),
        }
    }
}
