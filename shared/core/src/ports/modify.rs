//! THE ticket read-modify-write: read the ticket, let a decision say what
//! becomes of it, write that conditionally on the version read
//! ([`TicketStore::update_ticket`]), and when someone else wrote first
//! (`Conflict`) read again and decide again, a bounded number of times.
//! Every ticket read-modify-write of the workspace goes through [`modify`]
//! (detect's decision, the sweep's IN_SYNC resolution, remediate's ending,
//! the approve function, the CLI's `accept` and `rollback`); the decisions
//! stay with their callers, pure.
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use rand::Rng;

use super::TicketStore;
use crate::resilience::{retry, RetryPolicy};
use driftguard_model::domain::Ticket;
use driftguard_model::error::{PortError, PortResult};

/// What a decision makes of the ticket as read (`None`: there is none).
// Made once per attempt and taken apart at once: a box would only add an
// allocation to every write.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Edit<R, S> {
    /// Leave it as it is: nothing written; [`modify`] answers [`Modified::Kept`].
    Keep(R),
    /// Write this ticket: an update of the one read, its `version` set to the
    /// read one's + 1 (whatever the decision left there), or a create when
    /// none was read (its `version` as the decision made it). [`modify`]
    /// answers [`Modified::Written`].
    Write(Ticket, R),
    /// Give up without writing: [`modify`] answers [`ModifyError::Stopped`].
    Stop(S),
}

/// What [`modify`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Modified<R> {
    /// Written (created when none was read): the ticket as stored.
    Written(Ticket, R),
    /// The decision kept the ticket: the ticket as last read, nothing written.
    Kept(Option<Ticket>, R),
}

/// Why [`modify`] wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ModifyError<S> {
    /// The decision said stop.
    #[error("the ticket was left as it is")]
    Stopped(S),
    #[error("read ticket: {0}")]
    Read(#[source] PortError),
    #[error("write ticket: {0}")]
    Write(#[source] PortError),
    /// Every attempt's write found the ticket written by someone else
    /// since it was read: `last` is the last write's answer.
    #[error("ticket still conflicting after {attempts} attempts: {last}")]
    Contended {
        attempts: u32,
        #[source]
        last: PortError,
    },
}

/// How [`modify`] reads and writes. [`Attempts::new`] is the bare loop: one
/// call per read and write, a re-read on `Conflict` only.
#[derive(Debug, Clone, Copy)]
pub struct Attempts<'a> {
    /// Writes at most (at least 1); each after a read, the first maybe on
    /// the caller's earlier read.
    pub max: u32,
    /// Each read and write through the one retry layer ([`retry`]); `None`:
    /// one call each.
    pub retry: Option<&'a RetryPolicy>,
    /// A random pause before each re-read, longer with each attempt.
    pub pause: bool,
    /// An update answered `NotFound` (the ticket went since it was read)
    /// re-reads as a `Conflict` does.
    pub missing_rereads: bool,
    /// Updates recognise a write whose answer was lost ([`write_recognising`]).
    pub lost_answers: bool,
}

impl<'a> Attempts<'a> {
    /// At most `max` writes, one call per read and write, no pause.
    pub fn new(max: u32) -> Self {
        Self {
            max,
            retry: None,
            pause: false,
            missing_rereads: false,
            lost_answers: false,
        }
    }

    /// Reads and writes through `policy`.
    pub fn retried(self, policy: &'a RetryPolicy) -> Self {
        Self {
            retry: Some(policy),
            ..self
        }
    }

    /// A random pause before each re-read (contended tickets: detect).
    pub fn pausing(self) -> Self {
        Self {
            pause: true,
            ..self
        }
    }

    /// A `NotFound` answer to an update re-reads too.
    pub fn missing_rereads(self) -> Self {
        Self {
            missing_rereads: true,
            ..self
        }
    }

    /// Updates through [`write_recognising`].
    pub fn recognising_lost_answers(self) -> Self {
        Self {
            lost_answers: true,
            ..self
        }
    }
}

/// Read ticket `id` (or take `read`, the caller's earlier read, for the
/// first attempt: one read fewer), ask `decide`, write what it says, and on
/// a conflict read again and ask again, at most `how.max` writes.
pub async fn modify<T, R, S>(
    store: &T,
    id: &str,
    how: Attempts<'_>,
    read: Option<Option<Ticket>>,
    mut decide: impl FnMut(Option<&Ticket>) -> Edit<R, S>,
) -> Result<Modified<R>, ModifyError<S>>
where
    T: TicketStore + ?Sized,
{
    modify_async(store, id, how, read, |t| std::future::ready(decide(t))).await
}

/// [`modify`] for a decision that must look something up first (the
/// sweep's out-of-template read-back): `decide`'s future is awaited between
/// the read and the write. Keep the decision itself pure.
pub async fn modify_async<T, R, S, F, Fut>(
    store: &T,
    id: &str,
    how: Attempts<'_>,
    mut read: Option<Option<Ticket>>,
    mut decide: F,
) -> Result<Modified<R>, ModifyError<S>>
where
    T: TicketStore + ?Sized,
    F: FnMut(Option<&Ticket>) -> Fut,
    Fut: Future<Output = Edit<R, S>>,
{
    let attempts = how.max.max(1);
    let mut attempt = 1;
    loop {
        let current = match read.take() {
            Some(current) => current,
            None => call(how.retry, "get_ticket", || store.get_ticket(id))
                .await
                .map_err(ModifyError::Read)?,
        };
        let (mut ticket, then) = match decide(current.as_ref()).await {
            Edit::Keep(then) => return Ok(Modified::Kept(current, then)),
            Edit::Stop(why) => return Err(ModifyError::Stopped(why)),
            Edit::Write(ticket, then) => (ticket, then),
        };
        if let Some(read) = &current {
            ticket.version = read.version + 1;
        }
        match write(store, &how, current.is_some(), &ticket).await {
            Ok(()) => return Ok(Modified::Written(ticket, then)),
            Err(e) if rereads(&how, &e) && attempt < attempts => {
                tracing::debug!(ticket_id = %id, attempt, error = %e, "ticket write conflict: re-reading");
                if how.pause {
                    conflict_pause(attempt).await;
                }
                attempt += 1;
            }
            Err(last) if rereads(&how, &last) => {
                return Err(ModifyError::Contended { attempts, last })
            }
            Err(e) => return Err(ModifyError::Write(e)),
        }
    }
}

/// Someone else wrote first: a re-read may succeed.
fn rereads(how: &Attempts<'_>, e: &PortError) -> bool {
    match e {
        PortError::Conflict { .. } => true,
        PortError::NotFound { .. } => how.missing_rereads,
        _ => false,
    }
}

/// Create (none was read) or update, as `how` says.
async fn write<T: TicketStore + ?Sized>(
    store: &T,
    how: &Attempts<'_>,
    existed: bool,
    ticket: &Ticket,
) -> PortResult<()> {
    if !existed {
        call(how.retry, "create_ticket", || store.create_ticket(ticket)).await
    } else if how.lost_answers {
        write_recognising(store, how.retry, ticket).await
    } else {
        call(how.retry, "update_ticket", || store.update_ticket(ticket)).await
    }
}

/// `op` through `policy`, or once.
async fn call<V, F, Fut>(
    policy: Option<&RetryPolicy>,
    what: &'static str,
    mut op: F,
) -> PortResult<V>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = PortResult<V>>,
{
    match policy {
        Some(policy) => retry(policy, what, op).await,
        None => op().await,
    }
}

/// A conditional update (on the ticket's version), retried. A write whose
/// answer was lost (it timed out, the connection dropped, yet the store
/// applied it) fails its retry's condition: the ticket is re-read, and when
/// it is the very ticket written (same version, same content), the write
/// landed. Without this, a lost answer after REMEDIATING or after the
/// ending would read as a conflict with another invocation.
pub async fn write_recognising<T: TicketStore + ?Sized>(
    store: &T,
    policy: Option<&RetryPolicy>,
    t: &Ticket,
) -> PortResult<()> {
    let faulted = AtomicBool::new(false);
    let written = call(policy, "update_ticket", || async {
        let r = store.update_ticket(t).await;
        if r.as_ref().is_err_and(PortError::is_retryable) {
            faulted.store(true, Ordering::Relaxed);
        }
        r
    })
    .await;
    match written {
        Err(PortError::Conflict { .. }) if faulted.into_inner() => {
            let stored = call(policy, "get_ticket", || store.get_ticket(&t.id)).await?;
            // The ticket written: same version, state and history (whole
            // equality would depend on every field round-tripping exactly).
            let ours = stored.is_some_and(|s| {
                s.version == t.version && s.state == t.state && s.history.len() == t.history.len()
            });
            if ours {
                Ok(())
            } else {
                written
            }
        }
        other => other,
    }
}

/// A random pause before re-reading a contended ticket, longer with each
/// attempt (up to 100 ms).
async fn conflict_pause(attempt: u32) {
    let cap = (5 * u64::from(attempt)).min(100);
    let pause = rand::rng().random_range(0..=cap);
    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
}

#[cfg(test)]
mod tests;
