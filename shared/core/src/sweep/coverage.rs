//! Coverage, honestly: per stack, what drift detection actually checked.
//! Pure. "In sync" is only ever said of resources CloudFormation checked; the
//! rest is counted as NOT_CHECKED or as not reported at all (types drift
//! detection does not support are often missing from `DescribeStackResourceDrifts`).
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ports::StackResourceSummary;
use driftguard_model::domain::DriftStatus;

use crate::ports::sweep::ResourceDrift;

/// Counts of one stack's resources by what drift detection said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageCounts {
    /// M: every resource the stack lists (`ListStackResources`), plus any the
    /// drift results name that the listing missed.
    pub resources: usize,
    /// IN_SYNC + MODIFIED + DELETED.
    pub checked: usize,
    pub in_sync: usize,
    pub modified: usize,
    pub deleted: usize,
    /// Reported NOT_CHECKED (or UNKNOWN): not looked at.
    pub not_checked: usize,
    /// Listed by the stack but absent from the drift results: drift detection
    /// does not support their type.
    pub not_reported: usize,
    /// Types of the NOT_CHECKED and not-reported resources, with counts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unchecked_types: BTreeMap<String, usize>,
}

impl CoverageCounts {
    pub fn drifted(&self) -> usize {
        self.modified + self.deleted
    }

    /// "N of M resources checked", never "in sync" for the unchecked.
    pub fn sentence(&self) -> String {
        let mut s = format!("{} of {} resources checked", self.checked, self.resources);
        if self.checked > 0 {
            s.push_str(&format!(
                " ({} in sync, {} modified, {} deleted)",
                self.in_sync, self.modified, self.deleted
            ));
        }
        let unchecked = self.not_checked + self.not_reported;
        if unchecked > 0 {
            s.push_str(&format!(
                "; {unchecked} not checked ({} reported NOT_CHECKED, {} of unsupported types not reported)",
                self.not_checked, self.not_reported
            ));
        }
        s
    }

    pub fn add(&mut self, other: &CoverageCounts) {
        self.resources += other.resources;
        self.checked += other.checked;
        self.in_sync += other.in_sync;
        self.modified += other.modified;
        self.deleted += other.deleted;
        self.not_checked += other.not_checked;
        self.not_reported += other.not_reported;
        for (t, n) in &other.unchecked_types {
            *self.unchecked_types.entry(t.clone()).or_default() += n;
        }
    }
}

/// Count a stack's coverage from its resource listing and drift results.
pub fn compute_coverage(
    resources: &[StackResourceSummary],
    drifts: &[ResourceDrift],
) -> CoverageCounts {
    let mut c = CoverageCounts::default();
    let reported: BTreeSet<&str> = drifts.iter().map(|d| d.logical_id.as_str()).collect();
    let listed: BTreeSet<&str> = resources.iter().map(|r| r.logical_id.as_str()).collect();
    let unknown_type = || "(unknown type)".to_string();
    for d in drifts {
        match d.drift.status {
            DriftStatus::InSync => c.in_sync += 1,
            // CloudFormation never reports OUT_OF_TEMPLATE itself; counted as drift.
            DriftStatus::Modified | DriftStatus::OutOfTemplate => c.modified += 1,
            DriftStatus::Deleted => c.deleted += 1,
            DriftStatus::NotChecked | DriftStatus::Unknown => {
                c.not_checked += 1;
                *c.unchecked_types
                    .entry(d.resource_type.clone().unwrap_or_else(unknown_type))
                    .or_default() += 1;
            }
        }
    }
    c.checked = c.in_sync + c.modified + c.deleted;
    for r in resources {
        if !reported.contains(r.logical_id.as_str()) {
            c.not_reported += 1;
            *c.unchecked_types
                .entry(r.resource_type.clone().unwrap_or_else(unknown_type))
                .or_default() += 1;
        }
    }
    c.resources = listed.len() + reported.difference(&listed).count();
    c
}

/// How a stack's sweep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StackOutcome {
    /// Detection completed; results fed to the pipeline, IN_SYNC tickets resolved.
    Swept,
    /// DETECTION_FAILED: some resources could not be checked; drifted ones were
    /// still fed to the pipeline, but no ticket was resolved.
    DetectionFailed,
    /// The Lambda deadline came before the detection finished: resumed next run.
    Incomplete,
    /// A call failed (access denied, throttled past retries...): see `errors`.
    Failed,
    /// Not swept on purpose (`*_IN_PROGRESS`, `DELETE_COMPLETE`): see `reason`.
    Skipped,
}

impl StackOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Swept => "swept",
            Self::DetectionFailed => "detection_failed",
            Self::Incomplete => "incomplete",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

/// One stack's coverage, stored as `COVERAGE#<stack>` and listed in the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackCoverage {
    pub stack_name: String,
    pub stack_id: String,
    pub stack_status: String,
    pub outcome: StackOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection_id: Option<String>,
    /// CloudFormation's stack drift status: DRIFTED, IN_SYNC, NOT_CHECKED, UNKNOWN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_drift_status: Option<String>,
    pub counts: CoverageCounts,
    /// "N of M resources checked ...".
    pub coverage: String,
    /// Logical ids found MODIFIED or DELETED.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drifted: Vec<String>,
    /// Tickets written (created or updated) for this stack's drift.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tickets: Vec<String>,
    /// Tickets resolved because their resource was checked IN_SYNC.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    pub swept_at: DateTime<Utc>,
    pub duration_ms: u64,
}

impl StackCoverage {
    pub fn new(
        stack_name: &str,
        stack_id: &str,
        stack_status: &str,
        outcome: StackOutcome,
        at: DateTime<Utc>,
    ) -> Self {
        let counts = CoverageCounts::default();
        Self {
            stack_name: stack_name.to_string(),
            stack_id: stack_id.to_string(),
            stack_status: stack_status.to_string(),
            outcome,
            reason: None,
            detection_id: None,
            stack_drift_status: None,
            coverage: counts.sentence(),
            counts,
            drifted: Vec::new(),
            tickets: Vec::new(),
            resolved: Vec::new(),
            errors: Vec::new(),
            swept_at: at,
            duration_ms: 0,
        }
    }

    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    pub fn set_counts(&mut self, counts: CoverageCounts) {
        self.coverage = counts.sentence();
        self.counts = counts;
    }

    /// Keep the first few errors (the log has them all).
    pub fn push_error(&mut self, e: impl Into<String>) {
        const MAX_ERRORS: usize = 5;
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(e.into());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use driftguard_model::domain::{Drift, DriftOrigin};

    fn res(id: &str, t: &str) -> StackResourceSummary {
        StackResourceSummary {
            logical_id: id.into(),
            physical_id: Some(format!("{id}-phys")),
            resource_type: Some(t.into()),
            status: Some("CREATE_COMPLETE".into()),
        }
    }

    fn drift(id: &str, t: &str, status: DriftStatus) -> ResourceDrift {
        ResourceDrift {
            logical_id: id.into(),
            physical_id: None,
            resource_type: Some(t.into()),
            drift: Drift {
                status,
                differences: vec![],
                expected_properties: None,
                actual_properties: None,
                origin: DriftOrigin::Cloudformation,
                detected_at: None,
            },
        }
    }

    #[test]
    fn counts_checked_not_checked_and_unreported() {
        let resources = vec![
            res("Sg", "AWS::EC2::SecurityGroup"),
            res("Bucket", "AWS::S3::Bucket"),
            res("Param", "AWS::SSM::Parameter"),
            res("Custom", "Custom::Thing"),
            res("Waiter", "AWS::CloudFormation::WaitConditionHandle"),
        ];
        let drifts = vec![
            drift("Sg", "AWS::EC2::SecurityGroup", DriftStatus::Modified),
            drift("Bucket", "AWS::S3::Bucket", DriftStatus::InSync),
            drift("Param", "AWS::SSM::Parameter", DriftStatus::Deleted),
            drift("Custom", "Custom::Thing", DriftStatus::NotChecked),
        ];
        let c = compute_coverage(&resources, &drifts);
        assert_eq!(
            (c.resources, c.checked, c.in_sync, c.modified, c.deleted),
            (5, 3, 1, 1, 1)
        );
        assert_eq!((c.not_checked, c.not_reported), (1, 1));
        assert_eq!(c.unchecked_types["Custom::Thing"], 1);
        assert_eq!(
            c.unchecked_types["AWS::CloudFormation::WaitConditionHandle"],
            1
        );
        assert_eq!(c.drifted(), 2);
        let s = c.sentence();
        assert!(s.starts_with("3 of 5 resources checked"), "{s}");
        assert!(s.contains("2 not checked"), "{s}");
    }

    #[test]
    fn nothing_checked_never_reads_as_in_sync() {
        let resources = vec![res("Custom", "Custom::Thing")];
        let drifts = vec![drift("Custom", "Custom::Thing", DriftStatus::NotChecked)];
        let c = compute_coverage(&resources, &drifts);
        assert_eq!(c.checked, 0);
        let s = c.sentence();
        assert_eq!(
            s,
            "0 of 1 resources checked; 1 not checked (1 reported NOT_CHECKED, 0 of unsupported types not reported)"
        );
        assert!(!s.contains("in sync"));
    }

    #[test]
    fn drift_results_missing_from_the_listing_still_count() {
        let c = compute_coverage(
            &[],
            &[drift("Late", "AWS::SNS::Topic", DriftStatus::InSync)],
        );
        assert_eq!((c.resources, c.checked), (1, 1));
    }
}
