//! Closing tickets the sweep proves stale: a resource a completed
//! detection found IN_SYNC ([`resolution`]), or, out of template, one whose
//! read-back through its own API found the change gone
//! ([`read_back_resolution`]). The decisions are pure; the write goes
//! through [`modify_async`].
use std::convert::Infallible;

use chrono::{DateTime, Utc};

use super::{Detected, Sweeper};
use crate::ports::modify::{modify_async, Attempts, Edit, Modified, ModifyError};
use crate::ports::sweep::ResourceDrift;
use crate::ports::{PropertyCheck, StackSummary};
use crate::sweep::coverage::StackCoverage;
use driftguard_model::domain::EntryKind;
use driftguard_model::domain::{
    DriftStatus, Fingerprint, ResourceRef, Ticket, TicketEntry, TicketState,
};
use driftguard_model::error::PortError;

/// May a check made at `checked_at` close `ticket`? Only open-like tickets and
/// ALLOWED records whose last change is not newer than the check (a change
/// after the check may not be in it); REMEDIATING is left to remediate.
fn resolvable(ticket: &Ticket, checked_at: DateTime<Utc>) -> bool {
    let last_change = ticket
        .last_change
        .as_ref()
        .map(|c| c.time)
        .unwrap_or(ticket.updated_at);
    matches!(
        ticket.state,
        TicketState::Open
            | TicketState::AwaitingApproval
            | TicketState::Failed
            | TicketState::Allowed
    ) && checked_at >= last_change
        // Nor a check older than the newest fact the ticket applied.
        && ticket.newer_than(checked_at).is_none()
}

/// The drift the last decision was taken on is gone: that decision (a
/// break-glass fix, an allowed pipeline change) no longer covers a drift the
/// sweep finds later, even one with the same values.
fn spend_decision(ticket: &mut Ticket) {
    ticket.decided_drift = None;
}

/// Resolve `ticket` because its resource was checked IN_SYNC at `checked_at`.
/// Pure. Never an out-of-template ticket: CloudFormation did not look at the
/// property ("Only resource properties explicitly defined in the stack
/// template are checked for drift",
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackResourceDrift.html>),
/// so its IN_SYNC says nothing about it; see [`read_back_resolution`].
pub fn resolution(
    mut ticket: Ticket,
    checked_at: DateTime<Utc>,
    detection_id: &str,
    now: DateTime<Utc>,
) -> Option<Ticket> {
    if !resolvable(&ticket, checked_at) || ticket.is_out_of_template() {
        return None;
    }
    let why = format!(
        "back in sync: CloudFormation drift detection {detection_id} checked it IN_SYNC at {checked_at}"
    );
    ticket.transition(TicketState::Resolved, &why, now).ok()?;
    spend_decision(&mut ticket);
    ticket.applied_at_source(checked_at);
    ticket.push(TicketEntry {
        at: now,
        kind: EntryKind::Verified,
        event_id: Some(format!("sweep-in-sync:{detection_id}")),
        summary: why,
        actor: None,
        data: serde_json::json!({
            "source": "sweep",
            "detection_id": detection_id,
            "drift_status": DriftStatus::InSync.as_str(),
            "checked_at": checked_at,
        }),
    });
    ticket.version += 1;
    ticket.updated_at = now;
    Some(ticket)
}

/// Resolve an out-of-template ticket because a read-back through the
/// resource's own API (made at `now`) found the differences gone. Pure.
pub fn read_back_resolution(
    mut ticket: Ticket,
    check: &PropertyCheck,
    now: DateTime<Utc>,
) -> Option<Ticket> {
    if check.still_drifted || !resolvable(&ticket, now) {
        return None;
    }
    let why = format!(
        "back as the template says: the out-of-template change is gone ({})",
        check.detail
    );
    ticket.transition(TicketState::Resolved, &why, now).ok()?;
    spend_decision(&mut ticket);
    ticket.applied_at_source(now);
    ticket.push(TicketEntry {
        at: now,
        kind: EntryKind::Verified,
        event_id: Some(format!("sweep-read-back:{}", now.timestamp())),
        summary: why,
        actor: None,
        data: serde_json::json!({
            "source": "sweep",
            "method": check.method,
            "detail": check.detail,
        }),
    });
    ticket.version += 1;
    ticket.updated_at = now;
    Some(ticket)
}

impl Sweeper {
    /// Resolve the tickets of the resources `detection` (complete: only a
    /// completed detection proves IN_SYNC) found IN_SYNC.
    pub(super) async fn resolve_all_in_sync(
        &self,
        stack: &StackSummary,
        (account, region): (&str, &str),
        detection: &Detected,
        drifts: &[ResourceDrift],
        cov: &mut StackCoverage,
    ) {
        for d in drifts
            .iter()
            .filter(|d| d.drift.status == DriftStatus::InSync)
        {
            let fingerprint = Fingerprint {
                account: account.to_string(),
                region: region.to_string(),
                stack: stack.stack_name.clone(),
                logical_id: d.logical_id.clone(),
            };
            let checked_at = d.drift.detected_at.unwrap_or(detection.started_at);
            match self
                .resolve_in_sync(&fingerprint, checked_at, &detection.id)
                .await
            {
                Ok(Some(id)) => cov.resolved.push(id),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(stack = %stack.stack_name, logical_id = %d.logical_id, error = %e, "cannot resolve ticket");
                    cov.push_error(format!("resolve {}: {e}", d.logical_id));
                }
            }
        }
    }

    /// An out-of-template ticket: read the properties back, when a read-back
    /// is configured and knows them. `None`: nothing may be concluded.
    async fn read_back_of(&self, ticket: &Ticket) -> Option<PropertyCheck> {
        let read_back = self.read_back.as_ref()?;
        let drift = ticket.current_drift()?;
        let resource = ResourceRef {
            resource_type: ticket
                .ownership
                .membership()
                .and_then(|m| m.resource_type.clone())
                .or(ticket.resource.resource_type.clone()),
            ..ticket.resource.clone()
        };
        match read_back.check(&resource, &drift.differences).await {
            Ok(check) => check,
            Err(e) => {
                tracing::warn!(ticket_id = %ticket.id, error = %e, "out-of-template read-back failed: ticket stays open");
                None
            }
        }
    }

    /// Resolve the ticket of a resource found IN_SYNC (or, out of template,
    /// read back as the template says), through [`modify_async`]: the
    /// out-of-template read-back is made between the read and the write.
    async fn resolve_in_sync(
        &self,
        fingerprint: &Fingerprint,
        checked_at: DateTime<Utc>,
        detection_id: &str,
    ) -> Result<Option<String>, PortError> {
        const ATTEMPTS: u32 = 5;
        let id = fingerprint.ticket_id();
        let how = Attempts::new(ATTEMPTS).retried(&self.settings.retry);
        let resolved = modify_async(&*self.ports.tickets, &id, how, None, |read| {
            let read = read.cloned();
            async move {
                let Some(ticket) = read else {
                    return Edit::Keep(());
                };
                let now = self.ports.clock.now();
                let resolved = if ticket.is_out_of_template() {
                    // IN_SYNC says nothing about a property the template does not declare.
                    match self.read_back_of(&ticket).await {
                        Some(check) => read_back_resolution(ticket, &check, now),
                        None => {
                            tracing::info!(ticket_id = %ticket.id, "out-of-template ticket not resolved by IN_SYNC: no read-back of its properties");
                            None
                        }
                    }
                } else {
                    resolution(ticket, checked_at, detection_id, now)
                };
                resolved.map_or(Edit::Keep(()), |t| Edit::<(), Infallible>::Write(t, ()))
            }
        })
        .await;
        match resolved {
            Ok(Modified::Written(..)) => {
                tracing::info!(ticket_id = %id, stack = %fingerprint.stack, logical_id = %fingerprint.logical_id, detection_id, "ticket resolved: resource back in sync");
                Ok(Some(id))
            }
            Ok(Modified::Kept(..)) => Ok(None),
            Err(ModifyError::Stopped(never)) => match never {},
            Err(ModifyError::Read(e) | ModifyError::Write(e)) => Err(e),
            Err(ModifyError::Contended { .. }) => Err(PortError::Conflict {
                what: format!("ticket {id}"),
                message: format!("still conflicting after {ATTEMPTS} attempts"),
            }),
        }
    }
}
