//! Tickets: one per drift fingerprint, with its history.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::actor::{Actor, ActorKind};
use super::change::Change;
use super::drift::Drift;
use super::ownership::Ownership;
use super::remedy::Plan;
use super::resource::ResourceRef;
use super::verdict::{Decision, Severity};

/// An approval of one plan by one authenticated principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// `Plan::digest()` of the plan that was approved.
    pub plan_digest: String,
    /// The caller's ARN as AWS authenticated it (never a name the client asserts).
    pub approver_arn: String,
    /// When the approval call was made (the approval endpoint's clock).
    pub approved_at: DateTime<Utc>,
    /// How it was authenticated, e.g. `lambda-function-url:AWS_IAM`.
    pub via: String,
    /// The caller's principal id as AWS authenticated it (`userId`: `AIDA…`
    /// for a user, `AROA…:SESSION` for an assumed role), so an approver pinned
    /// by `unique_id` is re-checked before acting. Absent on approvals recorded
    /// before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver_id: Option<String>,
}

/// Longest history kept on a ticket (DynamoDB items are limited to 400 KB);
/// older entries are dropped, the count is kept.
pub const MAX_HISTORY: usize = 50;

/// DynamoDB's item size limit: "The maximum item size in DynamoDB is 400 KB, which
/// includes both attribute name binary length (UTF-8 length) and attribute value
/// lengths (again binary length)"
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html>).
pub const DYNAMODB_MAX_ITEM_BYTES: usize = 400 * 1024;

/// The serialized history's budget: a quarter of the item, whatever the rest holds.
pub const MAX_HISTORY_BYTES: usize = DYNAMODB_MAX_ITEM_BYTES / 4;

/// An entry's `data` larger than this is kept as a summary (hash and size).
pub const MAX_ENTRY_DATA_BYTES: usize = 8 * 1024;

/// The whole ticket's serialized budget, below the item limit to leave room for the
/// table's key and index attributes and DynamoDB's per-attribute overhead.
pub const MAX_TICKET_BYTES: usize = 350 * 1024;

/// `value` if it serializes to at most `max` bytes, else its summary: SHA-256 of the
/// canonical JSON and the size, so the full value can still be recognised.
pub fn summarize_if_larger(value: serde_json::Value, max: usize) -> serde_json::Value {
    let size = serde_json::to_vec(&value).map_or(0, |v| v.len());
    if size <= max {
        return value;
    }
    let canonical = super::remedy::canonical_json(&value);
    serde_json::json!({
        "summarized": true,
        "bytes": size,
        "sha256": hex::encode(Sha256::digest(canonical.as_bytes())),
    })
}

fn json_len<T: Serialize>(value: &T) -> usize {
    serde_json::to_vec(value).map_or(0, |v| v.len())
}

/// What identifies one drift: the same resource drifting again is the same ticket.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The account the drifted resource is in.
    pub account: String,
    /// The region the drifted resource is in.
    pub region: String,
    /// The owning stack's name; `(unmanaged)` or `(unresolved)` when no stack owns it.
    pub stack: String,
    /// The resource's logical id in the stack (the physical id, or the API and event id,
    /// when no stack owns it).
    pub logical_id: String,
}

/// The caller a change is folded by: the role behind a session (AWS-set
/// `sessionContext.sessionIssuer.arn`), else the principal's ARN.
fn caller_of(change: &Change) -> &str {
    let id = &change.identity;
    id.session_issuer_arn
        .as_deref()
        .or(id.principal_arn.as_deref())
        .unwrap_or("an unknown caller")
}

impl Fingerprint {
    /// Managed resources: (account, region, stack name, logical id). Otherwise the
    /// physical id stands in for the logical id under a `(unmanaged)` stack.
    pub fn for_change(change: &Change, ownership: &Ownership) -> Self {
        let (stack, logical_id) = match ownership.membership() {
            Some(m) => (m.stack_name.clone(), m.logical_id.clone()),
            None => match (&change.stack_hint, &change.resource.physical_id) {
                (Some(h), _) => (
                    h.stack.clone(),
                    h.logical_id.clone().unwrap_or_else(|| "(stack)".into()),
                ),
                (None, Some(id)) if !id.is_empty() => ("(unmanaged)".into(), id.clone()),
                // A write no row lists whose owner could not be told (it names
                // nothing, several stacks' resources, or only parent-scoped
                // names): one ticket per operation and caller, so a flood of
                // such calls is one ticket counting its events, not one each.
                _ if crate::sources::identifiers::is_unlisted(change) => (
                    "(unresolved)".into(),
                    format!("{} by {}", change.api(), caller_of(change)),
                ),
                _ => (
                    "(unresolved)".into(),
                    format!("{}:{}", change.api(), change.event_id),
                ),
            },
        };
        Self {
            account: change.account.clone(),
            region: change.region.clone(),
            stack,
            logical_id,
        }
    }

    /// The fingerprint's SHA-256, in hex: its parts each followed by a NUL.
    fn digest(&self) -> String {
        let mut h = Sha256::new();
        for part in [&self.account, &self.region, &self.stack, &self.logical_id] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        hex::encode(h.finalize())
    }

    /// Stable ticket id, the stored key: `DG-` and [`TICKET_ID_HEX`] hex
    /// digits (128 bits) of the fingerprint's SHA-256. The stack name and
    /// logical id are the insider's to choose: at 48 bits a collision with a
    /// given ticket costs about 2^48 hashes, at 128 bits out of reach.
    pub fn ticket_id(&self) -> String {
        format!("DG-{}", &self.digest()[..TICKET_ID_HEX])
    }

    /// The short id people read (Slack, SNS, the CLI's tables): `DG-` and the
    /// first [`DISPLAY_ID_HEX`] hex digits of the same hash, i.e. the
    /// ticket id's first 15 characters. It is also the id tickets were
    /// stored under before the ids grew (their read-only history).
    pub fn display_id(&self) -> String {
        format!("DG-{}", &self.digest()[..DISPLAY_ID_HEX])
    }
}

/// Hex digits of a ticket id (128 bits).
pub const TICKET_ID_HEX: usize = 32;
/// Hex digits of a display id (and of the ids stored before 128-bit ids).
pub const DISPLAY_ID_HEX: usize = 12;

/// The display id of a ticket id: its first `DG-` + [`DISPLAY_ID_HEX`]
/// characters (a shorter id, or one that is not a ticket id, as it is).
pub fn display_id(id: &str) -> &str {
    id.get(..3 + DISPLAY_ID_HEX).unwrap_or(id)
}

/// What a ticket id given by a person (the CLI, an approval link) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketIdForm {
    /// `DG-` and 32 hex digits: a ticket's key.
    Full,
    /// `DG-` and 12 hex digits: a display id, or the key of a ticket stored
    /// before 128-bit ids (read-only history).
    Short,
}

impl TicketIdForm {
    /// The form of `id`, or `None` when it is not `DG-` and 12 or 32 lower-case hex digits.
    pub fn of(id: &str) -> Option<Self> {
        let hex = id.strip_prefix("DG-")?;
        if !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return None;
        }
        match hex.len() {
            TICKET_ID_HEX => Some(Self::Full),
            DISPLAY_ID_HEX => Some(Self::Short),
            _ => None,
        }
    }
}

/// A stored ticket that is not the one its key names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ticket stored under {key} {why}: not that ticket")]
pub struct TicketKeyError {
    /// The key it was read by.
    pub key: String,
    /// What differs.
    pub why: String,
}

/// Where a ticket is in its life: open, waiting for an approver, being remediated, or
/// closed one way or another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TicketState {
    /// Drift seen and decided; nothing done (yet).
    Open,
    /// A plan is stored and waits for an approver (`identities.approvers`).
    AwaitingApproval,
    /// remediate is acting on the plan.
    Remediating,
    /// The resource is back in sync (verified after acting, or seen in sync by the sweep).
    Resolved,
    /// Drift adopted on purpose (`driftguard accept`).
    Accepted,
    /// Remediation failed or did not converge: people must look.
    Failed,
    /// A change the policy allowed (the pipeline's deploy) on a resource with no
    /// open ticket: a closed record of the actor and the drift fingerprint so a
    /// later sweep, which sees the drift without an identity, honours the
    /// decision while the drift is the same drift.
    Allowed,
}

impl TicketState {
    /// The stored name (`OPEN`, `AWAITING_APPROVAL` …), as in the table and the bus events.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::AwaitingApproval => "AWAITING_APPROVAL",
            Self::Remediating => "REMEDIATING",
            Self::Resolved => "RESOLVED",
            Self::Accepted => "ACCEPTED",
            Self::Failed => "FAILED",
            Self::Allowed => "ALLOWED",
        }
    }

    /// The state a stored name names; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "OPEN" => Self::Open,
            "AWAITING_APPROVAL" => Self::AwaitingApproval,
            "REMEDIATING" => Self::Remediating,
            "RESOLVED" => Self::Resolved,
            "ACCEPTED" => Self::Accepted,
            "FAILED" => Self::Failed,
            "ALLOWED" => Self::Allowed,
            _ => return None,
        })
    }

    /// RESOLVED, ACCEPTED or ALLOWED: nothing left to do until the resource drifts again.
    pub fn is_closed(&self) -> bool {
        matches!(self, Self::Resolved | Self::Accepted | Self::Allowed)
    }

    /// The allowed transitions. Closed tickets re-open when the resource drifts again.
    pub fn can_move_to(&self, to: TicketState) -> bool {
        use TicketState::*;
        match (self, to) {
            (a, b) if *a == b => true,
            (Open, _) => true,
            (AwaitingApproval, Remediating | Resolved | Accepted | Failed | Open) => true,
            (Remediating, Resolved | Failed | Open) => true,
            (Failed, Open | AwaitingApproval | Remediating | Resolved | Accepted) => true,
            (Resolved | Accepted | Allowed, Open) => true,
            // A closed ticket whose resource the policy's allowed actor changed again.
            (Resolved | Accepted, Allowed) => true,
            // The allowed drift is gone (the sweep checked the resource in sync).
            (Allowed, Resolved) => true,
            _ => false,
        }
    }
}

impl std::fmt::Display for TicketState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one history entry of a ticket records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A change (or a sweep's finding) on the ticket's resource was seen.
    Observed,
    /// The policy's verdict on it.
    Decided,
    /// The decision waits: the stack has an operation in progress (or another hold).
    Held,
    /// A remediation plan was made (and stored).
    Planned,
    /// An approver approved the stored plan.
    Approved,
    /// remediate made the plan's calls (or tried to).
    Acted,
    /// The drift check after acting: converged or not.
    Verified,
    /// The ticket moved from one state to another (`data` says from and to).
    StateChanged,
    /// Anything else worth keeping: an acceptance, an out-of-order event, a refusal.
    Note,
}

/// One line of a ticket's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketEntry {
    /// When it happened (the source's time for observations, driftguard's clock otherwise).
    pub at: DateTime<Utc>,
    /// What kind of entry it is.
    pub kind: EntryKind,
    /// The event the entry is about (CloudTrail `eventID`, bus event id), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// One human line, as tickets and notifications show it.
    pub summary: String,
    /// The classified actor of the change, on observations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// Structured details (summarized past [`MAX_ENTRY_DATA_BYTES`]).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

/// The maker of the newest change a ticket applied (see `Ticket::source_fact`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFact {
    /// The actor's class.
    pub kind: ActorKind,
    /// The actor's principal (role ARN, user ARN or service principal).
    pub principal: String,
    /// The change was decided a live remediation (an acting verdict, not
    /// dry-run, not held).
    pub acted: bool,
}

impl SourceFact {
    /// Is `actor` this fact's maker (same class and principal)?
    pub fn made_by(&self, actor: &Actor) -> bool {
        self.kind == actor.kind && self.principal == actor.principal
    }
}

/// A remediation result waiting in a ticket's outbox (see `Ticket::unannounced`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unannounced {
    /// The bus event whose remediation produced the result.
    pub event_id: String,
    /// The `Drift Remediation Result` detail, as it is put on the bus.
    pub detail: serde_json::Value,
}

/// A ticket move [`TicketState::can_move_to`] forbids.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("ticket {id}: cannot move from {from} to {to}")]
pub struct TransitionError {
    /// The ticket's id.
    pub id: String,
    /// The state it is in.
    pub from: TicketState,
    /// The state it was asked to move to.
    pub to: TicketState,
}

/// One drifted resource's ticket: its state, the latest facts and decision, the plan and
/// approval, and a bounded history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// [`Fingerprint::ticket_id`] of `fingerprint` (`DG-` and 32 hex
    /// digits; tickets stored before 128-bit ids: `DG-` and 12).
    pub id: String,
    /// What identifies the drift (account, region, stack, logical id).
    pub fingerprint: Fingerprint,
    /// Where the ticket is in its life.
    pub state: TicketState,
    /// The highest severity decided while the ticket is open (the latest one when it re-opens).
    pub severity: Severity,
    /// The drifted resource.
    pub resource: ResourceRef,
    /// Which stack owns the resource, as last resolved.
    pub ownership: Ownership,
    /// Latest drift per origin: CloudFormation's view and the event's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
    /// The event's own view of the drift (what its request says was changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_drift: Option<Drift>,
    /// Who made the change the latest decision was taken on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_actor: Option<Actor>,
    /// The latest decision (verdict, or why it is held).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// The remediation plan remediate made (dry-run, awaiting approval or acted on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    /// The change that triggered the latest decision (what remediate undoes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_change: Option<Change>,
    /// When an AWAITING_APPROVAL plan stops being approvable
    /// (`remediation.approval_ttl_minutes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_expires_at: Option<DateTime<Utc>>,
    /// The approval of the stored plan, bound to that plan's digest and to the
    /// AWS principal that made the approval call (authenticated by AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// `Drift::fingerprint` of the drift `last_actor` and `decision` were
    /// taken on: while the resource shows this same drift, the sweep honours
    /// them (a break-glass fix stays unreverted, a pipeline change allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_drift: Option<String>,
    /// `Drift::fingerprint` of the drift `driftguard accept` adopted: the
    /// ticket stays ACCEPTED while the resource shows exactly this drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_drift: Option<String>,
    /// The source time of the newest fact applied to the ticket: a change's
    /// event time, a sweep's check time, a remediation's verification time.
    /// A fact older than it is out of order: recorded, never applied (see
    /// [`Ticket::newer_than`]). `None` on tickets written before the field:
    /// then the last change's time stands in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_time: Option<DateTime<Utc>>,
    /// Who made the change at `source_time` and whether it was let stand:
    /// `None` when the newest fact was not a change (a sweep's check, a
    /// remediation's verification) or on tickets written before the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_fact: Option<SourceFact>,
    /// The outbox: the detail of a remediation result written on the ticket
    /// that could not be put on the bus (every retry failed). The next
    /// remediate invocation for the ticket (Lambda's retry of the failed one,
    /// or a DLQ replay) publishes it before anything else and clears it, so
    /// no state change goes unannounced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unannounced: Option<Unannounced>,
    /// When the ticket was first opened.
    pub created_at: DateTime<Utc>,
    /// When the ticket last changed (the newest history entry's time).
    pub updated_at: DateTime<Utc>,
    /// Optimistic-locking version: every write is conditional on it.
    pub version: u64,
    /// How many times the ticket re-opened after being closed.
    pub reopened: u32,
    /// How many change events landed on the ticket.
    pub events_seen: u64,
    /// How many of the oldest history entries were dropped to keep the item small.
    pub history_dropped: u64,
    /// The newest entries, oldest first (at most [`MAX_HISTORY`], within
    /// [`MAX_HISTORY_BYTES`]).
    pub history: Vec<TicketEntry>,
}

impl Ticket {
    /// A new OPEN ticket for `change` on its resource, opened at `at`, with no decision yet.
    pub fn new(
        fingerprint: Fingerprint,
        change: &Change,
        ownership: &Ownership,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: fingerprint.ticket_id(),
            fingerprint,
            state: TicketState::Open,
            severity: Severity::Medium,
            resource: change.resource.clone(),
            ownership: ownership.clone(),
            drift: None,
            event_drift: None,
            last_actor: None,
            decision: None,
            plan: None,
            last_change: None,
            approval_expires_at: None,
            approval: None,
            decided_drift: None,
            accepted_drift: None,
            source_time: None,
            source_fact: None,
            unannounced: None,
            created_at: at,
            updated_at: at,
            version: 0,
            reopened: 0,
            events_seen: 0,
            history_dropped: 0,
            history: Vec::new(),
        }
    }

    /// Checked on every read by key: the ticket read under `key` says it is
    /// that ticket (its `id`) and its stored fingerprint hashes to it. A
    /// ticket stored before 128-bit ids (`key` is its fingerprint's
    /// [`Fingerprint::display_id`]) passes: it is read-only history, new
    /// changes land on the 128-bit key.
    pub fn check_key(&self, key: &str) -> Result<(), TicketKeyError> {
        let error = |why: String| {
            Err(TicketKeyError {
                key: key.to_string(),
                why,
            })
        };
        if self.id != key {
            return error(format!("says it is {}", self.id));
        }
        let expected = match TicketIdForm::of(key) {
            Some(TicketIdForm::Full) => self.fingerprint.ticket_id(),
            Some(TicketIdForm::Short) => self.fingerprint.display_id(),
            None => return error("is not a ticket id".into()),
        };
        if expected != key {
            return error(format!(
                "has the fingerprint of {expected} ({}/{}/{}/{})",
                self.fingerprint.account,
                self.fingerprint.region,
                self.fingerprint.stack,
                self.fingerprint.logical_id
            ));
        }
        Ok(())
    }

    /// Stored before 128-bit ids: read-only history (see [`Ticket::check_key`]).
    pub fn is_legacy(&self) -> bool {
        TicketIdForm::of(&self.id) == Some(TicketIdForm::Short)
    }

    /// The short id people read ([`Fingerprint::display_id`]).
    pub fn display_id(&self) -> &str {
        display_id(&self.id)
    }

    /// The drift the ticket is about: out-of-template drift (the event's)
    /// over CloudFormation's view, CloudFormation's over the event's.
    pub fn current_drift(&self) -> Option<&Drift> {
        super::drift::decisive(self.drift.as_ref(), self.event_drift.as_ref())
    }

    /// The source time of the newest fact applied (see `source_time`).
    pub fn applied_source_time(&self) -> Option<DateTime<Utc>> {
        self.source_time
            .or_else(|| self.last_change.as_ref().map(|c| c.time))
    }

    /// `Some(newest)` when a fact from `at` is older than the newest one the
    /// ticket already applied: delivered out of order, it must not reopen,
    /// resolve or re-decide the ticket. A fact from the same instant applies.
    pub fn newer_than(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.applied_source_time().filter(|newest| at < *newest)
    }

    /// A fact from `at` was applied: the ticket's source time moves forward
    /// (never back). From the recorded source time only, not the last
    /// change's own time: a change's time is clamped to the clock before it
    /// is applied, and a new ticket already carries the unclamped change (a
    /// forged far-future first record would otherwise set a future source
    /// time and make every later genuine change look out of order).
    pub fn applied_at_source(&mut self, at: DateTime<Utc>) {
        if self.is_newest_source(at) {
            self.source_fact = None;
        }
        self.source_time = Some(self.source_time.map_or(at, |t| t.max(at)));
    }

    /// A change from `at` by `fact`'s actor was applied: as
    /// [`Ticket::applied_at_source`], and it becomes the newest fact's maker
    /// unless an applied fact is newer.
    pub fn applied_change_at_source(&mut self, at: DateTime<Utc>, fact: SourceFact) {
        let newest = self.is_newest_source(at);
        self.applied_at_source(at);
        if newest {
            self.source_fact = Some(fact);
        }
    }

    /// Is a fact applied from `at` the newest? Against the recorded source
    /// time only: a change's time clamped to the clock (`source_time` of
    /// the ticket rules) may be older than the change's own time, which
    /// [`Ticket::applied_source_time`] falls back to on a new ticket.
    fn is_newest_source(&self, at: DateTime<Utc>) -> bool {
        self.source_time.is_none_or(|newest| at >= newest)
    }

    /// Is the ticket about drift CloudFormation cannot see?
    pub fn is_out_of_template(&self) -> bool {
        self.current_drift()
            .is_some_and(|d| d.status == super::drift::DriftStatus::OutOfTemplate)
    }

    /// Append `entry`: its `data` summarised when large, the oldest entries dropped
    /// (and counted) past [`MAX_HISTORY`] entries or [`MAX_HISTORY_BYTES`], and the
    /// ticket kept under [`MAX_TICKET_BYTES`] (see [`Ticket::fit_item`]).
    pub fn push(&mut self, mut entry: TicketEntry) {
        self.updated_at = self.updated_at.max(entry.at);
        entry.data = summarize_if_larger(entry.data, MAX_ENTRY_DATA_BYTES);
        self.history.push(entry);
        let mut excess = self.history.len().saturating_sub(MAX_HISTORY);
        let mut bytes: usize = self.history[excess..].iter().map(json_len).sum();
        // The newest entry always stays.
        while excess < self.history.len() - 1 && bytes > MAX_HISTORY_BYTES {
            bytes -= json_len(&self.history[excess]);
            excess += 1;
        }
        if excess > 0 {
            self.history.drain(..excess);
            self.history_dropped += excess as u64;
        }
        self.fit_item();
    }

    /// Serialized size of the ticket (what the item holds, give or take the keys).
    pub fn json_size(&self) -> usize {
        json_len(self)
    }

    /// Keep the ticket under [`MAX_TICKET_BYTES`]: summarise the triggering change's
    /// request and response (a large policy document, say), then drop history, oldest
    /// first. Returns whether anything was summarised or dropped.
    pub fn fit_item(&mut self) -> bool {
        if self.json_size() <= MAX_TICKET_BYTES {
            return false;
        }
        if let Some(change) = self.last_change.as_mut() {
            let request = std::mem::take(&mut change.request);
            change.request = summarize_if_larger(request, MAX_ENTRY_DATA_BYTES);
            let response = std::mem::take(&mut change.response);
            change.response = summarize_if_larger(response, MAX_ENTRY_DATA_BYTES);
        }
        while self.json_size() > MAX_TICKET_BYTES && self.history.len() > 1 {
            self.history.remove(0);
            self.history_dropped += 1;
        }
        true
    }

    /// Move to `to`, recording why. A closed ticket moving to OPEN counts as re-opened.
    pub fn transition(
        &mut self,
        to: TicketState,
        why: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, TransitionError> {
        if self.state == to {
            return Ok(false);
        }
        if !self.state.can_move_to(to) {
            return Err(TransitionError {
                id: self.id.clone(),
                from: self.state,
                to,
            });
        }
        if self.state.is_closed() && to == TicketState::Open {
            self.reopened += 1;
        }
        let from = self.state;
        self.state = to;
        self.push(TicketEntry {
            at,
            kind: EntryKind::StateChanged,
            event_id: None,
            summary: format!("{from} -> {to}: {why}"),
            actor: None,
            data: serde_json::json!({ "from": from, "to": to }),
        });
        Ok(true)
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;
    use crate::domain::{ChangeSource, Identity};
    use serde_json::{json, Value};

    fn at() -> DateTime<Utc> {
        "2026-03-14T09:00:00Z".parse().unwrap_or_default()
    }

    fn change(request: Value) -> Change {
        Change {
            event_id: "e-1".into(),
            time: at(),
            account: "123456789012".into(),
            region: "us-east-1".into(),
            source: ChangeSource::Cloudtrail,
            service: "s3".into(),
            operation: "PutBucketPolicy".into(),
            resource: ResourceRef::new("AWS::S3::BucketPolicy", "bkt"),
            identity: Identity::default(),
            request,
            response: Value::Null,
            stack_hint: None,
            drift_hint: None,
            unparsed: Vec::new(),
        }
    }

    fn ticket() -> Ticket {
        let fp = Fingerprint {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            stack: "app".into(),
            logical_id: "Bucket".into(),
        };
        Ticket::new(fp, &change(Value::Null), &Ownership::Unmanaged, at())
    }

    fn entry(data: Value) -> TicketEntry {
        TicketEntry {
            at: at(),
            kind: EntryKind::Observed,
            event_id: None,
            summary: "observed".into(),
            actor: None,
            data,
        }
    }

    fn blob(bytes: usize) -> Value {
        json!({ "policy": "x".repeat(bytes) })
    }

    #[test]
    fn entry_data_at_the_limit_is_kept_and_one_byte_more_is_summarised() {
        // {"policy":"..."} is 13 bytes of JSON around the string.
        let mut t = ticket();
        t.push(entry(blob(MAX_ENTRY_DATA_BYTES - 13)));
        assert_eq!(json_len(&t.history[0].data), MAX_ENTRY_DATA_BYTES);
        assert!(t.history[0].data.get("summarized").is_none());
        t.push(entry(blob(MAX_ENTRY_DATA_BYTES - 12)));
        let d = &t.history[1].data;
        assert_eq!(d["summarized"], true);
        assert_eq!(d["bytes"], MAX_ENTRY_DATA_BYTES + 1);
        assert_eq!(d["sha256"].as_str().map(str::len), Some(64));
    }

    #[test]
    fn history_is_bounded_by_bytes_oldest_first() {
        let mut t = ticket();
        // Each entry just under the data limit: far fewer than MAX_HISTORY fit the budget.
        for _ in 0..MAX_HISTORY {
            t.push(entry(blob(MAX_ENTRY_DATA_BYTES - 100)));
        }
        let bytes: usize = t.history.iter().map(json_len).sum();
        assert!(bytes <= MAX_HISTORY_BYTES, "{bytes}");
        assert!(t.history.len() < MAX_HISTORY);
        assert_eq!(
            t.history.len() as u64 + t.history_dropped,
            MAX_HISTORY as u64
        );
        // One more entry fits only by dropping one more.
        let before = t.history_dropped;
        t.push(entry(blob(MAX_ENTRY_DATA_BYTES - 100)));
        assert_eq!(t.history_dropped, before + 1);
    }

    #[test]
    fn a_ticket_with_a_huge_triggering_change_stays_under_the_item_limit() {
        let mut t = ticket();
        // A CloudTrail request bigger than DynamoDB's whole item.
        t.last_change = Some(change(blob(DYNAMODB_MAX_ITEM_BYTES)));
        assert!(t.json_size() > DYNAMODB_MAX_ITEM_BYTES);
        t.push(entry(Value::Null));
        assert!(t.json_size() <= MAX_TICKET_BYTES, "{}", t.json_size());
        let request = &t
            .last_change
            .as_ref()
            .map(|c| c.request.clone())
            .unwrap_or_default();
        assert_eq!(request["summarized"], true);
        assert!(request["bytes"].as_u64().unwrap_or(0) > DYNAMODB_MAX_ITEM_BYTES as u64);
        // A ticket under the budget is left as it is.
        let mut small = ticket();
        small.last_change = Some(change(blob(MAX_ENTRY_DATA_BYTES * 2)));
        assert!(!small.fit_item());
        assert!(small
            .last_change
            .as_ref()
            .is_some_and(|c| c.request.get("summarized").is_none()));
    }
}

/// Issue 34, item 7: 128-bit keys, a short display id, the key checked on read.
#[cfg(test)]
#[path = "ticket_id_tests.rs"]
mod id_tests;
