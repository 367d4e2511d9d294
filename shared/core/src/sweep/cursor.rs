//! The sweep cursor (`CURSOR#sweep`): where an interrupted round resumes.
//!
//! Stacks are swept in stack-name order. When a run stops starting new stacks
//! (the Lambda deadline is near), the cursor keeps the name of the first stack
//! not started, and the detection ids of stacks whose detection was still
//! running (polled again next run instead of starting a new detection). A
//! round that finishes clears the cursor; the next run starts a new round.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A detection started by an earlier run that did not finish in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDetection {
    pub stack_name: String,
    pub detection_id: String,
    pub started_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepCursor {
    /// When the round this cursor continues began.
    pub round_started_at: DateTime<Utc>,
    /// The first stack (by name) not started yet; `None`: only `pending` remain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_stack: Option<String>,
    /// Stack id → the detection still running when the last run stopped.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pending: BTreeMap<String, PendingDetection>,
    pub updated_at: DateTime<Utc>,
}

/// A stack the run will sweep, in order, with a detection to resume if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned<T> {
    pub stack: T,
    pub resume_detection: Option<String>,
}

/// Which of the selected stacks (sorted by name) this run sweeps: all of them
/// without a cursor; otherwise the pending ones and those from `next_stack` on.
/// Pending detections older than `max_detection_age` are started afresh.
pub fn plan_run<T>(
    selected: Vec<T>,
    name_and_id: impl Fn(&T) -> (&str, &str),
    cursor: Option<&SweepCursor>,
    now: DateTime<Utc>,
    max_detection_age: chrono::Duration,
) -> Vec<Planned<T>> {
    let Some(cursor) = cursor else {
        return selected
            .into_iter()
            .map(|stack| Planned {
                stack,
                resume_detection: None,
            })
            .collect();
    };
    selected
        .into_iter()
        .filter_map(|stack| {
            let (name, id) = name_and_id(&stack);
            let pending = cursor.pending.get(id);
            let after_cursor = cursor
                .next_stack
                .as_deref()
                .is_some_and(|next| name >= next);
            if pending.is_none() && !after_cursor {
                return None;
            }
            let resume_detection = pending
                .filter(|p| now - p.started_at <= max_detection_age)
                .map(|p| p.detection_id.clone());
            Some(Planned {
                stack,
                resume_detection,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, h, 0, 0).unwrap()
    }

    fn stacks() -> Vec<(String, String)> {
        ["a", "b", "c", "d"]
            .iter()
            .map(|n| (n.to_string(), format!("id-{n}")))
            .collect()
    }

    fn names(p: &[Planned<(String, String)>]) -> Vec<&str> {
        p.iter().map(|p| p.stack.0.as_str()).collect()
    }

    #[test]
    fn no_cursor_sweeps_everything() {
        let p = plan_run(
            stacks(),
            |s| (&s.0, &s.1),
            None,
            t(6),
            chrono::Duration::hours(1),
        );
        assert_eq!(names(&p), ["a", "b", "c", "d"]);
    }

    #[test]
    fn cursor_resumes_pending_and_the_rest() {
        let cursor = SweepCursor {
            round_started_at: t(5),
            next_stack: Some("c".into()),
            pending: BTreeMap::from([
                (
                    "id-a".to_string(),
                    PendingDetection {
                        stack_name: "a".into(),
                        detection_id: "det-a".into(),
                        started_at: t(5),
                    },
                ),
                (
                    "id-b".to_string(),
                    PendingDetection {
                        stack_name: "b".into(),
                        detection_id: "det-old".into(),
                        started_at: t(1),
                    },
                ),
            ]),
            updated_at: t(5),
        };
        let p = plan_run(
            stacks(),
            |s| (&s.0, &s.1),
            Some(&cursor),
            t(6),
            chrono::Duration::hours(2),
        );
        assert_eq!(names(&p), ["a", "b", "c", "d"]);
        assert_eq!(p[0].resume_detection.as_deref(), Some("det-a"));
        assert_eq!(p[1].resume_detection, None, "too old: start afresh");
        assert_eq!(p[2].resume_detection, None);

        let only_pending = SweepCursor {
            next_stack: None,
            ..cursor
        };
        let p = plan_run(
            stacks(),
            |s| (&s.0, &s.1),
            Some(&only_pending),
            t(6),
            chrono::Duration::hours(2),
        );
        assert_eq!(names(&p), ["a", "b"]);
    }
}
