//! Drift adopted on purpose (`driftguard accept`): the ticket's move to
//! ACCEPTED and the history note that records who accepted it and why. The
//! writer (the CLI) and the reader (notify's announcement) share this one
//! format, so what notify announces is what the ticket says.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::drift::Drift;
use super::ticket::{EntryKind, Ticket, TicketEntry, TicketState, TransitionError};

/// Who accepted a ticket's drift, why, and when, as its history records it.
/// `by` is what the person running `driftguard accept` typed (`--by`, else
/// `$USER`): a label, not proof of who acted (CloudTrail has that).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acceptance {
    /// Who accepted: a label (`--by` or `$USER`).
    pub by: String,
    /// Why, as they typed it.
    pub reason: String,
    /// When (the CLI's clock).
    pub at: DateTime<Utc>,
}

/// The key of the note's `data` that marks it as an acceptance.
const ACCEPTED_BY: &str = "accepted_by";

impl Ticket {
    /// Move to ACCEPTED at `now`, keep the drift being adopted
    /// (`accepted_drift`: the ticket stays ACCEPTED while the resource shows
    /// exactly this drift) and note who and why. The version is the caller's
    /// to bump (the write is conditional on the version read).
    pub fn accept(
        &mut self,
        by: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), TransitionError> {
        let why = format!("accepted by {by}: {reason}");
        self.transition(TicketState::Accepted, &why, now)?;
        self.accepted_drift = self.current_drift().map(Drift::fingerprint);
        self.push(TicketEntry {
            at: now,
            kind: EntryKind::Note,
            event_id: None,
            summary: why,
            actor: None,
            data: json!({
                ACCEPTED_BY: by,
                "reason": reason,
                "accepted_drift": self.accepted_drift,
            }),
        });
        Ok(())
    }

    /// The acceptance the ticket is in: its latest acceptance note, when the
    /// ticket is ACCEPTED. `None` for any other state, or when the note was
    /// dropped from the bounded history.
    pub fn acceptance(&self) -> Option<Acceptance> {
        if self.state != TicketState::Accepted {
            return None;
        }
        self.history.iter().rev().find_map(|e| {
            let by = e.data.get(ACCEPTED_BY)?.as_str()?;
            (e.kind == EntryKind::Note).then(|| Acceptance {
                by: by.to_string(),
                reason: e
                    .data
                    .get("reason")
                    .and_then(|r| r.as_str())
                    .unwrap_or_default()
                    .to_string(),
                at: e.at,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::domain::{Fingerprint, Ownership};

    fn ticket() -> Ticket {
        // What the change is does not matter here: acceptance is ticket state.
        let change = crate::testing::changes::sg_change("e-1", crate::domain::Identity::default());
        let fp = Fingerprint::for_change(&change, &Ownership::NotChecked);
        Ticket::new(fp, &change, &Ownership::NotChecked, change.time)
    }

    #[test]
    fn the_acceptance_written_is_the_acceptance_read() {
        let mut t = ticket();
        assert_eq!(t.acceptance(), None, "an OPEN ticket is not accepted");
        let at = Utc::now();
        t.accept("carol", "vendor needs ssh", at).unwrap();
        assert_eq!(t.state, TicketState::Accepted);
        assert_eq!(
            t.acceptance(),
            Some(Acceptance {
                by: "carol".into(),
                reason: "vendor needs ssh".into(),
                at
            })
        );
    }

    #[test]
    fn the_latest_acceptance_wins_and_a_reopened_ticket_has_none() {
        let mut t = ticket();
        let first = Utc::now();
        t.accept("carol", "first", first).unwrap();
        t.transition(TicketState::Open, "drifted again", first)
            .unwrap();
        assert_eq!(t.acceptance(), None);
        let second = first + chrono::Duration::minutes(5);
        t.accept("dave", "second", second).unwrap();
        let a = t.acceptance().unwrap();
        assert_eq!((a.by.as_str(), a.at), ("dave", second));
    }

    #[test]
    fn a_note_that_is_not_an_acceptance_is_not_one() {
        let mut t = ticket();
        t.state = TicketState::Accepted;
        t.push(TicketEntry {
            at: Utc::now(),
            kind: EntryKind::Note,
            event_id: None,
            summary: "someone's note".into(),
            actor: None,
            data: json!({"reason": "x"}),
        });
        assert_eq!(t.acceptance(), None);
    }
}
