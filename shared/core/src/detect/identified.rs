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
use driftguard_model::sources::identifiers::{is_unlisted, may_target, physical_id_forms};

/// What identification asks of the pipeline: go on with the change (and its
/// ownership, when identification settled it), or answer now.
pub(super) type Identified =
    ControlFlow<Result<Outcome, PipelineError>, (Change, Option<Ownership>)>;

/// Is `change` a write whose owner comes from its identifiers? (One that
/// names none keeps the old answer: ownership unknown, a ticket at most.)
pub(super) fn by_identifiers(change: &Change) -> bool {
    is_unlisted(change) && !change.resource.is_resolved() && !change.resource.identifiers.is_empty()
}

/// Writes that change the caller's own credentials, never a stack's resource:
/// `iam:ChangePassword` "Changes the password of the IAM user who is calling
/// this operation" (IAM API reference,
/// <https://docs.aws.amazon.com/IAM/latest/APIReference/API_ChangePassword.html>).
/// Any other write naming nothing may target an account-level singleton a
/// stack declares (`AWS::SecurityHub::Hub`, `AWS::Macie::Session`,
/// `AWS::ApiGateway::Account`): ticketed, one ticket per operation and caller
/// (`Fingerprint::for_change`).
const SELF_SERVICE_WRITES: &[&str] = &["iam:ChangePassword"];

/// A self-service write ([`SELF_SERVICE_WRITES`]) whose record names no
/// resource at all: nothing proves it touched a managed resource, so, like a
/// write on an unmanaged one, it is skipped.
fn names_nothing(change: &Change) -> bool {
    is_unlisted(change)
        && SELF_SERVICE_WRITES.contains(&change.api().as_str())
        && !change.resource.is_resolved()
        && change.resource.identifiers.is_empty()
        && change.resource.arn.is_none()
        && change.stack_hint.is_none()
}

fn names_no_resource(change: Change, started: Instant) -> Outcome {
    let detail = format!(
        "{} names no resource (no ARN, id or name in its record): no ticket",
        change.api()
    );
    skipped(change, "names_no_resource", detail, started)
}

/// The one structured line and the answer for a write without an operation
/// row that is skipped before its event is claimed.
fn skipped(change: Change, reason: &str, detail: String, started: Instant) -> Outcome {
    tracing::info!(
        event_id = %change.event_id,
        outcome = "skipped",
        reason,
        detail = %detail,
        duration_ms = started.elapsed().as_millis() as u64,
        "write without an operation row skipped"
    );
    Outcome::Skipped {
        event_id: Some(change.event_id),
        reason: reason.into(),
        detail,
    }
}

impl Pipeline {
    /// The owner of a write no row lists, before its event is claimed (see the
    /// module docs). Any other change goes on untouched.
    pub(super) async fn identify(&self, change: Change, started: Instant) -> Identified {
        if names_nothing(&change) {
            return ControlFlow::Break(Ok(names_no_resource(change, started)));
        }
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
            listed: change.resource.listed_identifiers,
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
        // The record names more than was read: no owner among those read
        // proves nothing (a caller could push the target past the bound).
        Ownership::Unmanaged if change.resource.identifiers_truncated => {
            let reason = format!(
                "{} names more identifiers than the {} read, none of them a managed resource's: the rest were not looked up",
                change.api(),
                change.resource.identifiers.len()
            );
            ControlFlow::Continue((change, Some(Ownership::Unknown { reason })))
        }
        Ownership::Unmanaged => {
            let detail = format!(
                "{} names no resource of a managed stack ({} identifiers looked up: {}): no ticket",
                change.api(),
                change.resource.identifiers.len(),
                change.resource.identifiers.join(", ")
            );
            ControlFlow::Break(Ok(skipped(change, "no_managed_owner", detail, started)))
        }
        Ownership::Managed(m) => {
            let arn = owner_arn(
                change.resource.arn.take(),
                found.identifier.as_deref(),
                m.resource_type.as_deref(),
            );
            change.resource = ResourceRef {
                resource_type: m.resource_type.clone(),
                physical_id: found.identifier,
                arn,
                ..change.resource
            };
            ControlFlow::Continue((change, Some(Ownership::Managed(m))))
        }
        other => ControlFlow::Continue((change, Some(other))),
    }
}

/// The ARN the ticket names for the owner found through `identifier`: the
/// identifier itself when it is an ARN; the record's first `resources[]` ARN
/// only when it is the same resource (one of its physical id forms is the
/// identifier), never another resource's ARN the record happened to list first.
fn owner_arn(
    record_arn: Option<String>,
    identifier: Option<&str>,
    resource_type: Option<&str>,
) -> Option<String> {
    let identifier = identifier?;
    if identifier.starts_with("arn:") {
        return Some(identifier.to_string());
    }
    // The same resource: one of the ARN's forms is the identifier, and the
    // ARN's service may own the type (a role ARN ending in `shared` is not
    // the bucket `shared`).
    let service = |arn: &str| arn.split(':').nth(2).unwrap_or_default().to_string();
    record_arn.filter(|arn| {
        resource_type.is_some_and(|t| may_target(&service(arn), t))
            && physical_id_forms(arn, resource_type)
                .iter()
                .any(|form| form == identifier)
    })
}
