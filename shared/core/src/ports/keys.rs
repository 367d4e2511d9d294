//! THE key schema of the ticket table: every record kind driftguard keeps in
//! DynamoDB, and the one place its partition key is built.
//!
//! The table has a string partition key `pk`, no sort key, the TTL attribute
//! `ttl` and the GSI `by-state` (`state` + `updated_at`; only tickets carry
//! `state`). Every DynamoDB adapter (`dynamodb`, `safety`, `sweep`) builds its
//! keys here, so two record kinds cannot collide: each kind has its own
//! prefix, and no prefix is a prefix of another.
//!
//! | kind | `pk` | written by |
//! |---|---|---|
//! | ticket (decision, plan, approval, history in `body`) | `TICKET#<ticket id>` | detect, sweep, remediate, approve |
//! | claim with its lease (`status`, `lease_until`, `ttl`) | `EVENT#<claim key>` | detect, remediate, notify (claim keys: `crate::idempotency`) |
//! | rate-limit slot counter | `RATE#<scope>#<window start, epoch s>` | remediate |
//! | circuit breaker state | `CIRCUIT#<breaker key>` | remediate |
//! | sweep cursor | `CURSOR#sweep` (this account and region), `CURSOR#sweep#<account>#<region>` (a member part) | sweep |
//! | per-stack coverage | `COVERAGE#<stack name>`, `COVERAGE#<account>#<region>#<stack name>` (a member part) | sweep |
//!
//! Approvals are not records of their own: they live on the ticket (its
//! `approval` and `approval_expires_at`), written with the ticket's version
//! condition. The strings are the ones stored before this module existed:
//! changing one would orphan every record of that kind.

/// The partition key attribute.
pub const PK: &str = "pk";
/// The TTL attribute (epoch seconds).
pub const TTL: &str = "ttl";

pub const TICKET_PREFIX: &str = "TICKET#";
pub const CLAIM_PREFIX: &str = "EVENT#";
pub const RATE_PREFIX: &str = "RATE#";
pub const CIRCUIT_PREFIX: &str = "CIRCUIT#";
pub const CURSOR_PREFIX: &str = "CURSOR#";
pub const COVERAGE_PREFIX: &str = "COVERAGE#";
/// The sweep's one cursor.
pub const SWEEP_CURSOR: &str = "CURSOR#sweep";

/// Every kind of record on the ticket table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Ticket,
    Claim,
    RateSlot,
    Circuit,
    Cursor,
    Coverage,
}

impl RecordKind {
    pub const ALL: [RecordKind; 6] = [
        Self::Ticket,
        Self::Claim,
        Self::RateSlot,
        Self::Circuit,
        Self::Cursor,
        Self::Coverage,
    ];

    pub fn prefix(self) -> &'static str {
        match self {
            Self::Ticket => TICKET_PREFIX,
            Self::Claim => CLAIM_PREFIX,
            Self::RateSlot => RATE_PREFIX,
            Self::Circuit => CIRCUIT_PREFIX,
            Self::Cursor => CURSOR_PREFIX,
            Self::Coverage => COVERAGE_PREFIX,
        }
    }

    /// The kind of a stored key, from its prefix.
    pub fn of(pk: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| pk.starts_with(k.prefix()))
    }
}

/// A ticket's key: `TICKET#` and its id, `DG-` and 32 hex digits (128 bits
/// of the fingerprint's SHA-256, `Fingerprint::ticket_id`). Tickets stored
/// before 128-bit ids keep their `TICKET#DG-` + 12 hex key: read-only
/// history (docs/architecture.md#ticket-ids).
pub fn ticket(id: &str) -> String {
    format!("{TICKET_PREFIX}{id}")
}

/// Every read of a ticket by key goes through this: the ticket stored under
/// `id` must be that ticket, its stored fingerprint hashing to `id`
/// (`Ticket::check_key`). Anything else is an error, never a match.
pub fn checked_ticket(
    id: &str,
    read: Option<driftguard_model::domain::Ticket>,
) -> driftguard_model::error::PortResult<Option<driftguard_model::domain::Ticket>> {
    match read {
        Some(t) => match t.check_key(id) {
            Ok(()) => Ok(Some(t)),
            Err(e) => Err(driftguard_model::error::PortError::Failed {
                service: "tickets",
                operation: "GetTicket",
                message: e.to_string(),
            }),
        },
        None => Ok(None),
    }
}

/// A claim on `key` (an idempotency key: a source event id, `remediate:...`,
/// `notify:...`).
pub fn claim(key: &str) -> String {
    format!("{CLAIM_PREFIX}{key}")
}

/// The counter of `scope`'s rate-limit window starting at `window_start`.
pub fn rate_slot(scope: &str, window_start: i64) -> String {
    format!("{RATE_PREFIX}{scope}#{window_start}")
}

pub fn circuit(key: &str) -> String {
    format!("{CIRCUIT_PREFIX}{key}")
}

pub fn sweep_cursor() -> String {
    SWEEP_CURSOR.to_string()
}

pub fn coverage(stack_name: &str) -> String {
    format!("{COVERAGE_PREFIX}{stack_name}")
}

/// The cursor of one member account and region's sweep (its own round).
pub fn sweep_cursor_in(account: &str, region: &str) -> String {
    format!("{SWEEP_CURSOR}#{account}#{region}")
}

/// A member stack's coverage. A stack name has no `#` ("A stack name can
/// contain only alphanumeric characters (case-sensitive) and hyphens",
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html>),
/// so it cannot be mistaken for an account and region.
pub fn coverage_in(account: &str, region: &str, stack_name: &str) -> String {
    format!("{COVERAGE_PREFIX}{account}#{region}#{stack_name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_record_kinds_can_collide() {
        for a in RecordKind::ALL {
            for b in RecordKind::ALL {
                if a != b {
                    assert!(
                        !a.prefix().starts_with(b.prefix()),
                        "{a:?}'s prefix {} starts with {b:?}'s {}",
                        a.prefix(),
                        b.prefix()
                    );
                }
            }
        }
        // Whatever the caller-controlled part (an id with '#' in it), the kind
        // of a built key is the kind that built it.
        let hostile = "EVENT#x#CIRCUIT#y";
        let built = [
            (RecordKind::Ticket, ticket(hostile)),
            (RecordKind::Claim, claim(hostile)),
            (RecordKind::RateSlot, rate_slot(hostile, 60)),
            (RecordKind::Circuit, circuit(hostile)),
            (RecordKind::Cursor, sweep_cursor()),
            (RecordKind::Coverage, coverage(hostile)),
        ];
        for (kind, key) in built {
            assert_eq!(RecordKind::of(&key), Some(kind), "{key}");
        }
        assert_eq!(RecordKind::of("OTHER#1"), None);
    }

    #[test]
    fn todays_stored_keys_are_unchanged() {
        // The keys records were written under before this module existed
        // (dynamodb.rs, remediation/limits.rs, sweep/aws.rs): old tickets,
        // claims, counters, breakers, cursors and coverage still read.
        assert_eq!(ticket("DG-20260301-abc"), "TICKET#DG-20260301-abc");
        assert_eq!(
            claim("3f1c2d9e-0000-4000-8000-000000000001"),
            "EVENT#3f1c2d9e-0000-4000-8000-000000000001"
        );
        assert_eq!(
            claim("remediate:DG-1:evt-1:abc123"),
            "EVENT#remediate:DG-1:evt-1:abc123"
        );
        assert_eq!(claim("notify:evt-2:slack"), "EVENT#notify:evt-2:slack");
        assert_eq!(
            rate_slot("stack#app", 1_772_359_200),
            "RATE#stack#app#1772359200"
        );
        assert_eq!(rate_slot("global", 0), "RATE#global#0");
        assert_eq!(circuit("DG-1"), "CIRCUIT#DG-1");
        assert_eq!(sweep_cursor(), "CURSOR#sweep");
        assert_eq!(coverage("app"), "COVERAGE#app");
        assert_eq!((PK, TTL), ("pk", "ttl"));
    }

    #[test]
    fn a_member_part_has_its_own_cursor_and_coverage() {
        let cursor = sweep_cursor_in("111111111111", "eu-west-1");
        assert_eq!(cursor, "CURSOR#sweep#111111111111#eu-west-1");
        assert_ne!(cursor, sweep_cursor());
        assert_eq!(RecordKind::of(&cursor), Some(RecordKind::Cursor));
        let cov = coverage_in("111111111111", "eu-west-1", "app");
        assert_eq!(cov, "COVERAGE#111111111111#eu-west-1#app");
        assert_ne!(cov, coverage("app"));
        assert_eq!(RecordKind::of(&cov), Some(RecordKind::Coverage));
    }
}
