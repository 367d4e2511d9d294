//! What the decision is taken on, looked up in the change's account: the
//! owning stack, the drift (CloudFormation's view, or the event's own
//! request when CloudFormation cannot answer, said so) and the ticket the
//! change would land on.
use super::{Pipeline, STACK_LOGICAL_ID};
use crate::ports::AccountLookups;
use crate::resilience::retry;
use driftguard_model::domain::{out_of_template, unlisted_write};
use driftguard_model::domain::{
    Change, Drift, DriftOrigin, DriftStatus, Fingerprint, Ownership, StackMembership, Ticket,
};
use driftguard_model::error::PortError;
use driftguard_model::sources;
use driftguard_model::sources::identifiers::is_unlisted;

impl Pipeline {
    /// The ticket this change would land on, read before deciding: its last
    /// actor and accepted drift are honoured while the drift is the same.
    pub(super) async fn previous_ticket(
        &self,
        change: &Change,
        ownership: &Ownership,
    ) -> Result<Option<Ticket>, PortError> {
        let fingerprint = Fingerprint::for_change(change, ownership);
        let id = fingerprint.ticket_id();
        let read = retry(&self.settings.retry, "get_ticket", || {
            self.ports.tickets.get_ticket(&id)
        })
        .await?;
        same_fingerprint(&id, &fingerprint, read)
    }

    /// `Err` only for failures worth a retry (throttling, timeouts); other
    /// failures make the ownership `Unknown`, which caps the verdict to a ticket.
    pub(super) async fn ownership_of(
        &self,
        lookups: &AccountLookups,
        change: &Change,
    ) -> Result<Ownership, PortError> {
        let degrade = |e: PortError| {
            if e.is_retryable() {
                Err(e)
            } else {
                Ok(Ownership::Unknown {
                    reason: e.to_string(),
                })
            }
        };
        if let Some(hint) = &change.stack_hint {
            let stack = match retry(&self.settings.retry, "describe_stack", || {
                lookups.catalog.describe_stack(&hint.stack)
            })
            .await
            {
                Ok(s) => s,
                Err(e) => return degrade(e),
            };
            return Ok(match stack {
                Some(s) => Ownership::Managed(StackMembership {
                    stack_id: s.stack_id,
                    stack_name: s.stack_name,
                    logical_id: hint
                        .logical_id
                        .clone()
                        .unwrap_or_else(|| STACK_LOGICAL_ID.to_string()),
                    resource_type: change.resource.resource_type.clone(),
                    stack_status: s.status,
                    stack_tags: s.tags,
                    nested: None,
                }),
                None => Ownership::Unknown {
                    reason: format!("stack {} named by the event no longer exists", hint.stack),
                },
            });
        }
        if super::identified::by_identifiers(change) {
            // Not identified before a claim (`process_change`): the same lookup.
            return Ok(self.identified_owner(lookups, change).await?.ownership);
        }
        if !change.resource.is_resolved() {
            return Ok(Ownership::Unknown {
                reason: format!("the {} event does not identify the resource", change.api()),
            });
        }
        match retry(&self.settings.retry, "owner_of", || {
            lookups.catalog.owner_of(&change.resource)
        })
        .await
        {
            Ok(o) => Ok(o),
            Err(e) => degrade(e),
        }
    }

    /// CloudFormation's view and the event's own. CloudFormation's wins when
    /// it answers; otherwise the event's view says why it stands alone.
    pub(super) async fn drift_of(
        &self,
        lookups: &AccountLookups,
        change: &Change,
        ownership: &Ownership,
    ) -> (Option<Drift>, Option<Drift>) {
        if let Some(hint) = &change.drift_hint {
            return match hint.origin {
                DriftOrigin::Cloudformation => (
                    Some(hint.clone()),
                    sources::operations::request_drift(change),
                ),
                DriftOrigin::EventRequest(_) => (
                    None,
                    Some(event_drift_with_note(
                        Some(hint.clone()),
                        "reported by the source",
                    )),
                ),
            };
        }
        let from_event = sources::operations::request_drift(change);
        let note = match ownership.membership() {
            Some(m) if m.logical_id == STACK_LOGICAL_ID => {
                "a stack-level event: no single resource to check".to_string()
            }
            Some(m) if m.operation_in_progress() => format!(
                "stack {} has an operation in progress ({}): drift detection deferred",
                m.stack_name, m.stack_status
            ),
            Some(m) => {
                let detected = retry(&self.settings.retry, "detect_drift", || {
                    lookups
                        .drift
                        .detect_resource_drift(&m.stack_name, &m.logical_id)
                })
                .await;
                match detected {
                    // CloudFormation checks only the template's properties: a
                    // change the event proves elsewhere is out-of-template drift.
                    Ok(d) => {
                        let event = out_of_template(&d, from_event.as_ref())
                            .or(from_event)
                            .or_else(|| {
                                is_unlisted(change)
                                    .then(|| unlisted_write(&d, &change.api()))
                                    .flatten()
                            });
                        return (Some(d), event);
                    }
                    Err(PortError::Unsupported { message, .. }) => {
                        format!("CloudFormation drift detection unsupported here ({message})")
                    }
                    Err(e) => {
                        tracing::warn!(event_id = %change.event_id, error = %e, "drift detection failed: using the event's request");
                        format!(
                            "CloudFormation drift detection unavailable ({}: {e})",
                            e.class()
                        )
                    }
                }
            }
            None => format!(
                "drift detection not run: ownership is {}",
                ownership.label()
            ),
        };
        (None, Some(event_drift_with_note(from_event, &note)))
    }
}

/// Never claim a resource is in sync from the event alone.
fn event_drift_with_note(event_drift: Option<Drift>, note: &str) -> Drift {
    match event_drift {
        Some(mut d) => {
            let previous = match &d.origin {
                DriftOrigin::EventRequest(n) => n.clone(),
                DriftOrigin::Cloudformation => String::new(),
            };
            d.origin = DriftOrigin::EventRequest(if previous.is_empty() {
                note.to_string()
            } else {
                format!("{note}; {previous}")
            });
            if d.status == DriftStatus::InSync {
                d.status = DriftStatus::Unknown;
            }
            d
        }
        None => Drift::from_event(
            Vec::new(),
            format!("{note}; the event does not say which properties changed"),
        ),
    }
}

/// The ticket read under `fingerprint`'s key must be that fingerprint's: a
/// stored ticket with another fingerprint is an error, never a match (its
/// key would be a 128-bit hash collision, or a forged item).
pub(super) fn same_fingerprint(
    id: &str,
    fingerprint: &Fingerprint,
    read: Option<Ticket>,
) -> Result<Option<Ticket>, PortError> {
    match read {
        Some(t) if t.fingerprint != *fingerprint => Err(PortError::Failed {
            service: "tickets",
            operation: "GetTicket",
            message: format!(
                "ticket {id} holds the fingerprint {}/{}/{}/{}, not {}/{}/{}/{}",
                t.fingerprint.account,
                t.fingerprint.region,
                t.fingerprint.stack,
                t.fingerprint.logical_id,
                fingerprint.account,
                fingerprint.region,
                fingerprint.stack,
                fingerprint.logical_id
            ),
        }),
        read => Ok(read),
    }
}
