//! Writes no operation row lists (`sources::identifiers`): their owner comes
//! from the identifiers their record names, looked up in the catalog's
//! ownership index before the event is claimed. One that names no managed
//! resource is skipped there, with no ticket and, on a warm index, no AWS
//! call at all (not even the idempotency claim: skipping twice is harmless).
//! One that names a managed resource goes on as any change, its resource set
//! to the owner's (type and physical id) and its ownership already known.
use std::ops::ControlFlow;
use std::time::Instant;

use super::{Outcome, Pipeline, PipelineError};
use crate::ports::{AccountLookups, IdentifiedCall, IdentifiedOwner};
use crate::resilience::retry;
use driftguard_model::domain::{Change, Ownership, ResourceRef};
use driftguard_model::error::PortError;
use driftguard_model::sources::identifiers::is_unlisted;

/// What identification asks of the pipeline: go on with the change (and its
/// ownership, when identification settled it), or answer now.
pub(super) type Identified =
    ControlFlow<Result<Outcome, PipelineError>, (Change, Option<Ownership>)>;

/// Is `change` a write whose owner comes from its identifiers? (One that
/// names none keeps the old answer: ownership unknown, a ticket at most.)
pub(super) fn by_identifiers(change: &Change) -> bool {
    is_unlisted(change) && !change.resource.is_resolved() && !change.resource.identifiers.is_empty()
}

impl Pipeline {
    /// The owner of a write no row lists, before its event is claimed (see the
    /// module docs). Any other change goes on untouched.
    pub(super) async fn identify(&self, change: Change, started: Instant) -> Identified {
        if !by_identifiers(&change) {
            return ControlFlow::Continue((change, None));
        }
        let lookups = match self.lookups_for(&change).await {
            Ok(l) => l,
            Err(e) => {
                let err = PipelineError::port("assume member role", &change.event_id)(e);
                return ControlFlow::Break(Err(err));
            }
        };
        let found = match self.identified_owner(&lookups, &change).await {
            Ok(found) => found,
            Err(e) => {
                let err = PipelineError::port("resolve ownership", &change.event_id)(e);
                return ControlFlow::Break(Err(err));
            }
        };
        settle(change, found, started)
    }

    /// `owner_of_identifiers` with the pipeline's retries. `Err` only for
    /// failures worth a retry; others make the ownership `Unknown` (a ticket at
    /// most).
    pub(super) async fn identified_owner(
        &self,
        lookups: &AccountLookups,
        change: &Change,
    ) -> Result<IdentifiedOwner, PortError> {
        let call = IdentifiedCall {
            service: &change.service,
            operation: &change.operation,
            identifiers: &change.resource.identifiers,
        };
        let found = retry(&self.settings.retry, "owner_of_identifiers", || {
            lookups.catalog.owner_of_identifiers(&call)
        })
        .await;
        match found {
            Ok(o) => Ok(o),
            Err(e) if e.is_retryable() => Err(e),
            Err(e) => Ok(IdentifiedOwner {
                ownership: Ownership::Unknown {
                    reason: e.to_string(),
                },
                identifier: None,
            }),
        }
    }
}

/// The change with what identification found: skipped when nothing managed
/// matched, its resource resolved to the owner's when one did.
fn settle(mut change: Change, found: IdentifiedOwner, started: Instant) -> Identified {
    match found.ownership {
        Ownership::Unmanaged => {
            let detail = format!(
                "{} names no resource of a managed stack ({} identifiers looked up: {}): no ticket",
                change.api(),
                change.resource.identifiers.len(),
                change.resource.identifiers.join(", ")
            );
            tracing::info!(
                event_id = %change.event_id,
                outcome = "skipped",
                reason = "no_managed_owner",
                detail = %detail,
                duration_ms = started.elapsed().as_millis() as u64,
                "write without an operation row on no managed resource"
            );
            ControlFlow::Break(Ok(Outcome::Skipped {
                event_id: Some(change.event_id),
                reason: "no_managed_owner".into(),
                detail,
            }))
        }
        Ownership::Managed(m) => {
            change.resource = ResourceRef {
                resource_type: m.resource_type.clone(),
                physical_id: found.identifier,
                ..change.resource
            };
            ControlFlow::Continue((change, Some(Ownership::Managed(m))))
        }
        other => ControlFlow::Continue((change, Some(other))),
    }
}
