//! The `rate_limits` and `remediation` sections of the policy file: how many
//! actions driftguard may take per stack and overall, and how remediation
//! runs (approval lifetime, circuit breaker, decision age, what a change set
//! that reverts other resources may do).
use serde::{Deserialize, Serialize};

use super::compile::Compiler;
use super::PolicyError;

/// One cap on remediations: at most `max_actions` in any `window_minutes`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// How many remediations the window allows.
    pub max_actions: u32,
    /// The window's length in minutes.
    pub window_minutes: u32,
}

/// The `rate_limits` section: the blast radius. Past a cap driftguard tickets and alerts
/// instead of acting.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Per stack (default 5 an hour).
    #[serde(default = "per_stack_default")]
    pub per_stack: RateLimit,
    /// Across all stacks (default 20 an hour).
    #[serde(default = "global_default")]
    pub global: RateLimit,
}

fn per_stack_default() -> RateLimit {
    RateLimit {
        max_actions: 5,
        window_minutes: 60,
    }
}
fn global_default() -> RateLimit {
    RateLimit {
        max_actions: 20,
        window_minutes: 60,
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_stack: per_stack_default(),
            global: global_default(),
        }
    }
}

/// The `remediation` section: how remediate runs.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RemediationSettings {
    /// Resource types that may be patched through Cloud Control.
    #[serde(default)]
    pub cloud_control_types: Vec<String>,
    /// Allow `ContinueUpdateRollback` with `ResourcesToSkip`.
    #[serde(default)]
    pub allow_resources_to_skip: bool,
    /// How long an approval request stays valid.
    #[serde(default = "approval_ttl")]
    pub approval_ttl_minutes: u32,
    /// Consecutive failures on one resource before its circuit opens.
    #[serde(default = "breaker_threshold")]
    pub circuit_breaker_failures: u32,
    /// How long an open circuit stays open before the resource may be acted on again.
    #[serde(default = "breaker_cooldown")]
    pub circuit_breaker_cooldown_minutes: u32,
    /// May a principal approve a remediation of a change it made itself?
    #[serde(default)]
    pub allow_self_approval: bool,
    /// remediate refuses a decision older than this (from the ticket's
    /// decision time, not the event's): Lambda's async queue keeps events up
    /// to 6 h.
    #[serde(default = "max_decision_age")]
    pub max_decision_age_seconds: u32,
    /// What to do when a REVERT_DRIFT change set would also revert other
    /// drifted resources of the stack (it reverts every one of them).
    #[serde(default)]
    pub change_set_reverts_others: RevertsOthers,
}

/// `remediation.change_set_reverts_others`: a drift-aware change set
/// (`DeploymentMode=REVERT_DRIFT`) "bring\[s\] drifted resources in line with
/// their template definitions", every drifted resource of the stack, not only
/// the ticket's
/// (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/drift-aware-change-sets.html>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RevertsOthers {
    /// Skip the change set and plan the next strategy (the inverse call) for
    /// the ticket's resource alone.
    #[default]
    FallBack,
    /// Keep the change set, list every resource it reverts in the plan, and
    /// wait for a person's approval of that plan.
    RequireApproval,
}

fn max_decision_age() -> u32 {
    900
}

fn approval_ttl() -> u32 {
    24 * 60
}
fn breaker_threshold() -> u32 {
    3
}
fn breaker_cooldown() -> u32 {
    60
}

impl Default for RemediationSettings {
    fn default() -> Self {
        Self {
            cloud_control_types: Vec::new(),
            allow_resources_to_skip: false,
            approval_ttl_minutes: approval_ttl(),
            circuit_breaker_failures: breaker_threshold(),
            circuit_breaker_cooldown_minutes: breaker_cooldown(),
            allow_self_approval: false,
            max_decision_age_seconds: max_decision_age(),
            change_set_reverts_others: RevertsOthers::default(),
        }
    }
}

impl Compiler<'_> {
    /// `rate_limits`: every window at least a minute long.
    pub(super) fn rate_limits(&self, limits: &RateLimits) -> Result<(), PolicyError> {
        for (name, limit) in [
            ("rate_limits.per_stack", limits.per_stack),
            ("rate_limits.global", limits.global),
        ] {
            if limit.window_minutes == 0 {
                return Err(PolicyError::Invalid {
                    key: format!("{name}.window_minutes"),
                    line: self.line_of("window_minutes"),
                    message: "must be at least 1".into(),
                });
            }
        }
        Ok(())
    }
}
