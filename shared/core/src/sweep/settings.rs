//! Sweep settings from the environment, and which stacks are selected.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `SWEEP_STACK_GLOBS` | comma-separated stack-name globs | `*` |
//! | `SWEEP_REQUIRED_TAG` | `key=value` a stack must carry | - |
//! | `SWEEP_CONCURRENCY` | stacks detected at once | `4` |
//! | `SWEEP_DEADLINE_MARGIN_SECS` | stop starting stacks this long before the Lambda deadline | `120` |
//! | `SWEEP_QUEUE_URL` | the queue the scheduled run sends one message per member account and region to (`docs/multi-account.md`) | - (members are not swept) |
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};

use crate::ports::StackSummary;
use crate::resilience::RetryPolicy;
use driftguard_model::domain::stack_operation_in_progress;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SweepConfigError {
    #[error("environment variable {var}={value:?} is invalid: {message}")]
    Invalid {
        var: &'static str,
        value: String,
        message: String,
    },
}

/// How `DescribeStackDriftDetectionStatus` is polled.
#[derive(Debug, Clone, Copy)]
pub struct PollSettings {
    pub initial: Duration,
    pub max: Duration,
}

#[derive(Debug, Clone)]
pub struct SweepSettings {
    pub stack_globs: Vec<String>,
    globs: GlobSet,
    pub required_tag: Option<(String, String)>,
    pub concurrency: usize,
    /// No new stack is started once the deadline is closer than this.
    pub deadline_margin: Duration,
    /// In-flight stacks stop polling this long before the deadline, leaving time
    /// to store the cursor and publish the summary.
    pub finish_reserve: Duration,
    pub poll: PollSettings,
    /// Retries (backoff + full jitter, per-attempt timeout) around every call.
    pub retry: RetryPolicy,
    /// A pending detection older than this is not resumed but started afresh.
    pub max_detection_age: chrono::Duration,
    /// Per-stack entries in the summary event (the rest are in `COVERAGE#` items).
    pub max_stacks_in_summary: usize,
    /// Where the scheduled run sends the member parts (`SWEEP_QUEUE_URL`).
    pub queue_url: Option<String>,
}

pub const DEFAULT_CONCURRENCY: usize = 4;
pub const DEFAULT_DEADLINE_MARGIN: Duration = Duration::from_secs(120);

impl Default for SweepSettings {
    fn default() -> Self {
        Self::new(vec!["*".into()]).unwrap_or_else(|_| Self {
            stack_globs: Vec::new(),
            globs: GlobSet::empty(),
            ..Self::base()
        })
    }
}

impl SweepSettings {
    fn base() -> Self {
        Self {
            stack_globs: vec!["*".into()],
            globs: GlobSet::empty(),
            required_tag: None,
            concurrency: DEFAULT_CONCURRENCY,
            deadline_margin: DEFAULT_DEADLINE_MARGIN,
            finish_reserve: Duration::from_secs(20),
            poll: PollSettings {
                initial: Duration::from_secs(2),
                max: Duration::from_secs(15),
            },
            retry: RetryPolicy {
                max_attempts: 6,
                base_delay: Duration::from_millis(250),
                max_delay: Duration::from_secs(8),
                attempt_timeout: Duration::from_secs(20),
            },
            max_detection_age: chrono::Duration::hours(1),
            max_stacks_in_summary: 100,
            queue_url: None,
        }
    }

    /// Settings with these globs and defaults for the rest.
    pub fn new(globs: Vec<String>) -> Result<Self, SweepConfigError> {
        let mut builder = GlobSetBuilder::new();
        for g in &globs {
            let glob = Glob::new(g).map_err(|e| SweepConfigError::Invalid {
                var: "SWEEP_STACK_GLOBS",
                value: g.clone(),
                message: e.to_string(),
            })?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|e| SweepConfigError::Invalid {
            var: "SWEEP_STACK_GLOBS",
            value: globs.join(","),
            message: e.to_string(),
        })?;
        Ok(Self {
            stack_globs: globs,
            globs: set,
            ..Self::base()
        })
    }

    /// Fast polling and retries for tests.
    pub fn quick(mut self) -> Self {
        self.poll = PollSettings {
            initial: Duration::from_millis(2),
            max: Duration::from_millis(10),
        };
        self.retry = RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(8),
            attempt_timeout: Duration::from_secs(10),
        };
        self.deadline_margin = Duration::from_millis(200);
        self.finish_reserve = Duration::from_millis(50);
        self
    }

    pub fn from_env() -> Result<Self, SweepConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SweepConfigError> {
        let non_empty = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let globs: Vec<String> = non_empty("SWEEP_STACK_GLOBS")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .filter(|g: &Vec<String>| !g.is_empty())
            .unwrap_or_else(|| vec!["*".into()]);
        let mut s = Self::new(globs)?;
        s.queue_url = non_empty("SWEEP_QUEUE_URL");
        if let Some(tag) = non_empty("SWEEP_REQUIRED_TAG") {
            let (k, v) = tag
                .split_once('=')
                .filter(|(k, _)| !k.trim().is_empty())
                .ok_or_else(|| SweepConfigError::Invalid {
                    var: "SWEEP_REQUIRED_TAG",
                    value: tag.clone(),
                    message: "expected key=value".into(),
                })?;
            s.required_tag = Some((k.trim().to_string(), v.trim().to_string()));
        }
        if let Some(v) = non_empty("SWEEP_CONCURRENCY") {
            s.concurrency = v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=64).contains(n))
                .ok_or_else(|| SweepConfigError::Invalid {
                    var: "SWEEP_CONCURRENCY",
                    value: v.clone(),
                    message: "expected a whole number from 1 to 64".into(),
                })?;
        }
        if let Some(v) = non_empty("SWEEP_DEADLINE_MARGIN_SECS") {
            let secs = v
                .parse::<u64>()
                .ok()
                .ok_or_else(|| SweepConfigError::Invalid {
                    var: "SWEEP_DEADLINE_MARGIN_SECS",
                    value: v.clone(),
                    message: "expected whole seconds".into(),
                })?;
            s.deadline_margin = Duration::from_secs(secs);
            // Keep a quarter of the margin (5-30 s) to store the cursor and publish.
            s.finish_reserve = (s.deadline_margin / 4)
                .clamp(Duration::from_secs(5), Duration::from_secs(30))
                .min(s.deadline_margin);
        }
        Ok(s)
    }

    /// `None` when the stack is swept; otherwise why not. `NotSelected` reasons
    /// are counted only; `Skipped` ones are reported per stack.
    pub fn select(&self, stack: &StackSummary) -> Selection {
        if !self.globs.is_match(&stack.stack_name) {
            return Selection::NotSelected("name does not match SWEEP_STACK_GLOBS");
        }
        if let Some((k, v)) = &self.required_tag {
            if stack.tags.get(k) != Some(v) {
                return Selection::NotSelected("missing SWEEP_REQUIRED_TAG");
            }
        }
        if stack.status == "DELETE_COMPLETE" {
            return Selection::Skipped("stack is deleted (DELETE_COMPLETE)".into());
        }
        if stack_operation_in_progress(&stack.status) {
            return Selection::Skipped(format!(
                "stack operation in progress ({}): swept next run",
                stack.status
            ));
        }
        Selection::Selected
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Selected,
    NotSelected(&'static str),
    Skipped(String),
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::{BTreeMap, HashMap};

    fn settings(vars: &[(&str, &str)]) -> Result<SweepSettings, SweepConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        SweepSettings::from_lookup(|k| map.get(k).cloned())
    }

    fn stack(name: &str, status: &str, tags: &[(&str, &str)]) -> StackSummary {
        StackSummary {
            stack_id: format!("arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/1"),
            stack_name: name.into(),
            status: status.into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn defaults_select_every_settled_stack() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.concurrency, 4);
        assert_eq!(s.deadline_margin, Duration::from_secs(120));
        assert_eq!(
            s.select(&stack("anything", "UPDATE_COMPLETE", &[])),
            Selection::Selected
        );
        assert!(matches!(
            s.select(&stack("a", "UPDATE_IN_PROGRESS", &[])),
            Selection::Skipped(r) if r.contains("UPDATE_IN_PROGRESS")
        ));
        assert!(matches!(
            s.select(&stack("a", "DELETE_COMPLETE", &[])),
            Selection::Skipped(_)
        ));
        assert_eq!(
            s.select(&stack("a", "UPDATE_ROLLBACK_FAILED", &[])),
            Selection::Selected
        );
    }

    #[test]
    fn globs_and_required_tag_filter() {
        let s = settings(&[
            ("SWEEP_STACK_GLOBS", "orders-*, payments"),
            ("SWEEP_REQUIRED_TAG", "team=core"),
            ("SWEEP_CONCURRENCY", "8"),
            ("SWEEP_DEADLINE_MARGIN_SECS", "60"),
        ])
        .unwrap();
        assert_eq!(s.concurrency, 8);
        assert_eq!(s.finish_reserve, Duration::from_secs(15));
        let core = [("team", "core")];
        assert_eq!(
            s.select(&stack("orders-api", "CREATE_COMPLETE", &core)),
            Selection::Selected
        );
        assert_eq!(
            s.select(&stack("payments", "CREATE_COMPLETE", &core)),
            Selection::Selected
        );
        assert!(matches!(
            s.select(&stack("billing", "CREATE_COMPLETE", &core)),
            Selection::NotSelected(_)
        ));
        assert!(matches!(
            s.select(&stack(
                "orders-api",
                "CREATE_COMPLETE",
                &[("team", "other")]
            )),
            Selection::NotSelected(_)
        ));
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (var, value) in [
            ("SWEEP_CONCURRENCY", "0"),
            ("SWEEP_CONCURRENCY", "many"),
            ("SWEEP_REQUIRED_TAG", "novalue"),
            ("SWEEP_STACK_GLOBS", "a[b"),
            ("SWEEP_DEADLINE_MARGIN_SECS", "-1"),
        ] {
            let e = settings(&[(var, value)]).unwrap_err().to_string();
            assert!(e.contains(var), "{e}");
        }
    }
}
