//! Known-good template history: the processed template and parameter values a
//! stack had when it was last stable and in sync, kept per version so a
//! `rollback` goes back to the *previous* known-good version (a change set with
//! `UsePreviousTemplate` is the current template: it is always empty).
//!
//! The port is [`TemplateHistory`] (DynamoDB: `adapters::aws::template_history`,
//! memory: `adapters::memory::template_history`). Bounded: at most
//! [`MAX_VERSIONS`] per stack, each at most [`MAX_TEMPLATE_BYTES`]; stored on the
//! ticket table, which is encrypted with driftguard's KMS key.
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::planner::{change_set_name, Planned};
use super::template::{is_dynamic_reference, is_masked};
use crate::ports::remediate::{
    KnownGood, Recorded, StackTemplate, TemplateHistory, TemplateSource,
};
use driftguard_model::domain::{Plan, PlannedCall, Strategy};
use driftguard_model::error::PortResult;

/// Versions kept per stack; recording one more drops the oldest.
pub const MAX_VERSIONS: u32 = 10;
/// A DynamoDB item holds at most 400 KB: larger templates are not kept.
pub const MAX_TEMPLATE_BYTES: usize = 350_000;

/// A [`TemplateSource`] that also answers the stack's known-good versions.
pub struct WithHistory<T> {
    pub inner: T,
    pub history: Arc<dyn TemplateHistory>,
}

#[async_trait]
impl<T: TemplateSource> TemplateSource for WithHistory<T> {
    async fn stack_template(&self, stack: &str) -> PortResult<StackTemplate> {
        self.inner.stack_template(stack).await
    }
    async fn known_good(&self, stack: &str) -> PortResult<Vec<KnownGood>> {
        self.history.versions(stack).await
    }
}

/// Where known-good versions are read from and stored: the sweep records
/// stable, in-sync stacks; detect records a stack after a deploy ends in
/// `CREATE_COMPLETE`/`UPDATE_COMPLETE`.
pub struct KnownGoodRecorder {
    pub templates: Arc<dyn TemplateSource>,
    pub history: Arc<dyn TemplateHistory>,
}

/// Pure: the stack a `CloudFormation Stack Status Change` event says a
/// deploy completed on (its stack id), or `None` when the event is not one.
/// Only a wake-up call: the status and template are re-read from
/// CloudFormation before anything is recorded ([`record_current`]).
pub fn completed_deploy(source: &str, change: &driftguard_model::domain::Change) -> Option<String> {
    let completed = matches!(
        change.operation.as_str(),
        "CREATE_COMPLETE" | "UPDATE_COMPLETE"
    );
    let from_cfn = source == "aws.cloudformation"
        && change.source == driftguard_model::domain::ChangeSource::CloudformationStack;
    if !(completed && from_cfn) {
        return None;
    }
    change
        .stack_hint
        .as_ref()
        .map(|h| h.stack.clone())
        .or_else(|| change.resource.physical_id.clone())
        .filter(|s| !s.is_empty())
}

/// Record the stack's current processed template and parameters as its next
/// known-good version (stable statuses only; unchanged ones are not repeated).
pub async fn record_current(
    source: &dyn TemplateSource,
    history: &dyn TemplateHistory,
    stack: &str,
    status: &str,
    now: DateTime<Utc>,
) -> Result<Recorded, String> {
    if !matches!(status, "CREATE_COMPLETE" | "UPDATE_COMPLETE") {
        return Err(HistoryError::NotStable {
            stack: stack.into(),
            status: status.into(),
        }
        .to_string());
    }
    let current = source
        .stack_template(stack)
        .await
        .map_err(|e| format!("template of {stack} not read: {e}"))?;
    let good = candidate(stack, status, &current.body, current.parameters, now)
        .map_err(|e| e.to_string())?;
    history
        .record(&good)
        .await
        .map_err(|e| format!("known-good version of {stack} not stored: {e}"))
}

/// Why a version is not recorded or not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error("stack {stack} is {status}: only CREATE_COMPLETE or UPDATE_COMPLETE is known good")]
    NotStable { stack: String, status: String },
    #[error("template of {stack} is {bytes} bytes: more than the {MAX_TEMPLATE_BYTES} kept")]
    TooLarge { stack: String, bytes: usize },
    #[error("stack {stack} has no known-good version {wanted}")]
    NoSuchVersion { stack: String, wanted: String },
    #[error("parameter {key} of {stack} version {version} {why}: its value cannot be restored, nothing is planned")]
    UnknownParameter {
        stack: String,
        version: u32,
        key: String,
        why: &'static str,
    },
}

/// Pure: the digest of a template and its parameters.
pub fn digest(template_body: &str, parameters: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    h.update(template_body.as_bytes());
    for (k, v) in parameters {
        h.update([0]);
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
    }
    format!("{:x}", h.finalize())
}

/// Pure: a candidate version from what CloudFormation reports, or why not.
pub fn candidate(
    stack: &str,
    status: &str,
    template_body: &str,
    parameters: BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<KnownGood, HistoryError> {
    if !matches!(status, "CREATE_COMPLETE" | "UPDATE_COMPLETE") {
        return Err(HistoryError::NotStable {
            stack: stack.into(),
            status: status.into(),
        });
    }
    if template_body.len() > MAX_TEMPLATE_BYTES {
        return Err(HistoryError::TooLarge {
            stack: stack.into(),
            bytes: template_body.len(),
        });
    }
    Ok(KnownGood {
        stack: stack.into(),
        version: 0,
        digest: digest(template_body, &parameters),
        template_body: template_body.into(),
        parameters,
        stack_status: status.into(),
        recorded_at: now,
    })
}

/// Pure: the version to roll back to: `--to VERSION`, else the one before the
/// latest (the latest is what the stack runs now).
pub fn target<'v>(
    stack: &str,
    versions: &'v [KnownGood],
    to: Option<u32>,
) -> Result<&'v KnownGood, HistoryError> {
    let missing = |wanted: String| HistoryError::NoSuchVersion {
        stack: stack.into(),
        wanted,
    };
    match to {
        Some(v) => versions
            .iter()
            .find(|k| k.version == v)
            .ok_or_else(|| missing(v.to_string())),
        None => {
            let n = versions.len();
            n.checked_sub(2)
                .and_then(|i| versions.get(i))
                .ok_or_else(|| missing("before the latest".into()))
        }
    }
}

/// Pure: the plan back to `good`: a change set with its template body and
/// parameter values, previewed, approval always required (replacements allowed
/// once approved). A masked (`NoEcho`) or dynamic-reference value refuses.
pub fn rollback_plan(
    good: &KnownGood,
    ticket_id: &str,
    now: DateTime<Utc>,
) -> Result<Planned, HistoryError> {
    for (key, value) in &good.parameters {
        let why = if is_masked(value) {
            Some("is NoEcho (stored masked)")
        } else if is_dynamic_reference(value) {
            Some("is a dynamic reference")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(HistoryError::UnknownParameter {
                stack: good.stack.clone(),
                version: good.version,
                key: key.clone(),
                why,
            });
        }
    }
    let stack = &good.stack;
    let name = change_set_name(&format!("driftguard-v{}", good.version), ticket_id, now);
    let calls = vec![
        PlannedCall::new(
            "cloudformation",
            "CreateChangeSet",
            json!({
                "StackName": stack,
                "ChangeSetName": name,
                "ChangeSetType": "UPDATE",
                "TemplateBody": good.template_body,
                "TemplateDigest": good.digest,
                "Parameters": good.parameters,
            }),
        ),
        PlannedCall::new(
            "cloudformation",
            "DescribeChangeSet",
            json!({"StackName": stack, "ChangeSetName": name, "AllowReplacement": true}),
        ),
        PlannedCall::new(
            "cloudformation",
            "ExecuteChangeSet",
            json!({"StackName": stack, "ChangeSetName": name}),
        ),
    ];
    Ok(Planned {
        plan: Plan {
            strategy: Strategy::StackRollback,
            calls,
            expected: format!(
                "{stack} runs known-good version {} (recorded {} at {}) again, as previewed by change set {name}",
                good.version, good.stack_status, good.recorded_at
            ),
            skipped: Vec::new(),
        },
        approval_required: Some(format!(
            "rolling {stack} back to known-good version {} always requires approval",
            good.version
        )),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t0() -> DateTime<Utc> {
        "2026-03-01T10:00:00Z".parse().unwrap()
    }

    fn good(version: u32, params: &[(&str, &str)]) -> KnownGood {
        let parameters: BTreeMap<String, String> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut k = candidate("app", "UPDATE_COMPLETE", "Resources: {}", parameters, t0()).unwrap();
        k.version = version;
        k
    }

    #[test]
    fn only_stable_small_templates_are_candidates() {
        let e = candidate(
            "app",
            "UPDATE_ROLLBACK_COMPLETE",
            "x",
            BTreeMap::new(),
            t0(),
        );
        assert!(matches!(e, Err(HistoryError::NotStable { .. })));
        let big = "x".repeat(MAX_TEMPLATE_BYTES + 1);
        let e = candidate("app", "CREATE_COMPLETE", &big, BTreeMap::new(), t0());
        assert!(matches!(e, Err(HistoryError::TooLarge { .. })));
    }

    #[test]
    fn the_target_is_the_version_before_the_latest_or_the_one_asked_for() {
        let versions = [good(1, &[]), good(2, &[]), good(3, &[])];
        assert_eq!(target("app", &versions, None).unwrap().version, 2);
        assert_eq!(target("app", &versions, Some(1)).unwrap().version, 1);
        assert!(target("app", &versions, Some(7)).is_err());
        assert!(
            target("app", &versions[..1], None).is_err(),
            "only the current one"
        );
    }

    #[test]
    fn the_rollback_plan_carries_the_known_good_template_and_needs_approval() {
        let p = rollback_plan(&good(2, &[("Level", "info")]), "DG-1", t0()).unwrap();
        let create = &p.plan.calls[0].parameters;
        assert_eq!(create["TemplateBody"], "Resources: {}");
        assert_eq!(create["Parameters"]["Level"], "info");
        assert!(create.get("UsePreviousTemplate").is_none());
        assert_eq!(p.plan.calls[1].parameters["AllowReplacement"], true);
        assert!(p.approval_required.is_some());
    }

    #[test]
    fn no_echo_and_dynamic_reference_parameters_refuse_the_rollback() {
        let e = rollback_plan(&good(2, &[("Secret", "****")]), "DG-1", t0()).unwrap_err();
        assert!(e.to_string().contains("NoEcho"), "{e}");
        let e = rollback_plan(&good(2, &[("P", "{{resolve:ssm:/x}}")]), "DG-1", t0()).unwrap_err();
        assert!(e.to_string().contains("dynamic reference"), "{e}");
    }
}
