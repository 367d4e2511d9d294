//! Drift: what CloudFormation (or the event itself) says differs from the template.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::remedy::canonical_json;

/// Whether a resource differs from its template: CloudFormation's
/// `StackResourceDriftStatus`, plus what only an event can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DriftStatus {
    /// Properties differ from the template (`MODIFIED`; CloudFormation events say `DRIFTED`).
    #[serde(alias = "modified")]
    Modified,
    /// The resource was deleted outside CloudFormation.
    #[serde(alias = "deleted")]
    Deleted,
    /// The resource matches its template.
    #[serde(alias = "in_sync")]
    InSync,
    /// CloudFormation has not checked the resource (e.g. a type drift detection does not
    /// support).
    #[serde(alias = "not_checked")]
    NotChecked,
    /// Not known: drift detection failed or did not run, or the event's own view (never in
    /// sync).
    #[serde(alias = "unknown")]
    Unknown,
    /// The event proves a change to a property the template does not declare,
    /// which CloudFormation drift detection never checks: "Only resource
    /// properties explicitly defined in the stack template are checked for
    /// drift" (<https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DetectStackResourceDrift.html>).
    /// CloudFormation's IN_SYNC answer never clears it; only a read-back
    /// through the resource's own API does.
    #[serde(alias = "out_of_template")]
    OutOfTemplate,
}

impl DriftStatus {
    /// From CloudFormation's name (`MODIFIED`, `DRIFTED`, `IN_SYNC` …); anything unknown is
    /// `Unknown`.
    pub fn parse(s: &str) -> Self {
        match s {
            "MODIFIED" | "DRIFTED" => Self::Modified,
            "DELETED" => Self::Deleted,
            "IN_SYNC" => Self::InSync,
            "NOT_CHECKED" => Self::NotChecked,
            "OUT_OF_TEMPLATE" => Self::OutOfTemplate,
            _ => Self::Unknown,
        }
    }

    /// CloudFormation's name (`OUT_OF_TEMPLATE` for driftguard's own status).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
            Self::InSync => "IN_SYNC",
            Self::NotChecked => "NOT_CHECKED",
            Self::Unknown => "UNKNOWN",
            Self::OutOfTemplate => "OUT_OF_TEMPLATE",
        }
    }

    /// The name a policy rule uses (`match.drift`).
    pub fn rule_name(&self) -> &'static str {
        match self {
            Self::Modified => "modified",
            Self::Deleted => "deleted",
            Self::InSync => "in_sync",
            Self::NotChecked => "not_checked",
            Self::Unknown => "unknown",
            Self::OutOfTemplate => "out_of_template",
        }
    }

    /// Modified, deleted or out of template: something to act on.
    pub fn is_drifted(&self) -> bool {
        matches!(self, Self::Modified | Self::Deleted | Self::OutOfTemplate)
    }
}

/// How one property differs (CloudFormation's `DifferenceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DifferenceKind {
    /// A value was added to a list property (`ADD`).
    Add,
    /// The property was removed from the resource (`REMOVE`).
    Remove,
    /// The property's value differs from the template's (`NOT_EQUAL`).
    NotEqual,
}

impl DifferenceKind {
    /// From CloudFormation's name (`ADD`, `REMOVE`, `NOT_EQUAL`); anything else is `NotEqual`.
    pub fn parse(s: &str) -> Self {
        match s {
            "ADD" => Self::Add,
            "REMOVE" => Self::Remove,
            _ => Self::NotEqual,
        }
    }
}

/// One property difference (CloudFormation's `PropertyDifference`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyDifference {
    /// JSON pointer into the resource properties, e.g. `/SecurityGroupIngress/2`.
    pub path: String,
    /// The template's value (CloudFormation's `ExpectedValue`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<serde_json::Value>,
    /// The resource's value (CloudFormation's `ActualValue`), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<serde_json::Value>,
    /// How the value differs.
    pub kind: DifferenceKind,
}

/// Where the drift facts came from. Both are kept; CloudFormation's wins when present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "origin", content = "note", rename_all = "snake_case")]
pub enum DriftOrigin {
    /// `DetectStackResourceDrift` / `DescribeStackResourceDrifts`.
    Cloudformation,
    /// The event's own request parameters (drift detection unsupported or unavailable:
    /// the note says why).
    EventRequest(String),
}

/// What differs between a resource and its template, and who said so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// In sync, modified, deleted …
    pub status: DriftStatus,
    /// The property differences (empty when in sync or not known).
    #[serde(default)]
    pub differences: Vec<PropertyDifference>,
    /// Template properties as CloudFormation expects them (JSON), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_properties: Option<serde_json::Value>,
    /// The resource's actual properties (JSON), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_properties: Option<serde_json::Value>,
    /// CloudFormation's drift detection, or the event's request.
    pub origin: DriftOrigin,
    /// When the drift was detected (CloudFormation's `Timestamp`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected_at: Option<DateTime<Utc>>,
}

impl Drift {
    /// The JSON pointers of the differing properties.
    pub fn property_paths(&self) -> Vec<&str> {
        self.differences.iter().map(|d| d.path.as_str()).collect()
    }

    /// Drift facts from the event alone, never claiming to be in sync.
    pub fn from_event(differences: Vec<PropertyDifference>, why: impl Into<String>) -> Self {
        Self {
            status: DriftStatus::Unknown,
            differences,
            expected_properties: None,
            actual_properties: None,
            origin: DriftOrigin::EventRequest(why.into()),
            detected_at: None,
        }
    }
}

impl Drift {
    /// What identifies this drift's values: SHA-256 (hex) of the sorted
    /// (path, kind, actual value) triples. The same differing properties with
    /// the same values give the same fingerprint whoever looked (the event's
    /// CloudFormation check, a later sweep); expected values and timestamps do
    /// not count.
    pub fn fingerprint(&self) -> String {
        let mut parts: Vec<String> = self
            .differences
            .iter()
            .map(|d| {
                canonical_json(&serde_json::json!([
                    d.path,
                    d.kind,
                    d.actual.clone().unwrap_or(serde_json::Value::Null)
                ]))
            })
            .collect();
        parts.sort();
        let mut h = Sha256::new();
        h.update(self.status.as_str().as_bytes());
        for p in parts {
            h.update([0u8]);
            h.update(p.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// The top-level property a JSON pointer names (`/ManagedPolicyArns/0` →
/// `ManagedPolicyArns`).
fn top_property(path: &str) -> &str {
    path.trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
}

/// Out-of-template drift: the event's differences on properties CloudFormation
/// did not check. CloudFormation checks "only resource properties explicitly
/// defined in the stack template"
/// (<https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackResourceDrift.html>),
/// so a managed policy attached to a role whose template has no
/// `ManagedPolicyArns`, an inline policy added to it, or a bucket policy on a
/// bucket with no `AWS::S3::BucketPolicy` reads IN_SYNC
/// (aws-cloudformation/cloudformation-coverage-roadmap issues 2489, 936).
///
/// A difference counts when its top-level property is absent from
/// CloudFormation's `ExpectedProperties` (the template's declared properties)
/// and CloudFormation reported no difference under it; without
/// `ExpectedProperties`, an IN_SYNC answer to a change the event proves means
/// the property was not checked. Pure.
pub fn out_of_template(cloudformation: &Drift, event: Option<&Drift>) -> Option<Drift> {
    let event = event?;
    if !matches!(
        cloudformation.status,
        DriftStatus::InSync | DriftStatus::Modified
    ) {
        return None;
    }
    let declared = cloudformation
        .expected_properties
        .as_ref()
        .and_then(serde_json::Value::as_object);
    let unchecked = |d: &&PropertyDifference| {
        let top = top_property(&d.path);
        let reported = cloudformation
            .differences
            .iter()
            .any(|c| top_property(&c.path) == top);
        !reported
            && match declared {
                Some(props) => !top.is_empty() && !props.contains_key(top),
                None => cloudformation.status == DriftStatus::InSync,
            }
    };
    let differences: Vec<PropertyDifference> = event
        .differences
        .iter()
        .filter(unchecked)
        .cloned()
        .collect();
    if differences.is_empty() {
        return None;
    }
    let paths = differences
        .iter()
        .map(|d| d.path.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    Some(Drift {
        status: DriftStatus::OutOfTemplate,
        differences,
        expected_properties: cloudformation.expected_properties.clone(),
        actual_properties: cloudformation.actual_properties.clone(),
        origin: DriftOrigin::EventRequest(format!(
            "out-of-template drift: the event changed {} which the template does not declare; CloudFormation answered {} because it checks only the template's properties",
            paths,
            cloudformation.status.as_str()
        )),
        detected_at: cloudformation.detected_at,
    })
}

/// A write no operation row lists, on a resource CloudFormation answered
/// IN_SYNC for: CloudFormation checks only the template's properties, and
/// which property the call changed is not known, so IN_SYNC proves nothing
/// about it. Out-of-template drift without property differences, saying so;
/// `None` for any other answer (MODIFIED's differences stand on their own).
/// The caller knows the call is unlisted (`sources::identifiers::is_unlisted`). Pure.
pub fn unlisted_write(cloudformation: &Drift, api: &str) -> Option<Drift> {
    if cloudformation.status != DriftStatus::InSync {
        return None;
    }
    Some(Drift {
        status: DriftStatus::OutOfTemplate,
        differences: Vec::new(),
        expected_properties: cloudformation.expected_properties.clone(),
        actual_properties: cloudformation.actual_properties.clone(),
        origin: DriftOrigin::EventRequest(format!(
            "{api} has no row in the operation table: CloudFormation answered IN_SYNC, which covers only the template's properties; what the call changed is in its request on the ticket"
        )),
        detected_at: cloudformation.detected_at,
    })
}

/// The drift a decision is taken on: out-of-template drift (which
/// CloudFormation cannot see) over CloudFormation's answer, CloudFormation's
/// answer over the event's alone.
pub fn decisive<'a>(
    cloudformation: Option<&'a Drift>,
    event: Option<&'a Drift>,
) -> Option<&'a Drift> {
    match event {
        Some(e) if e.status == DriftStatus::OutOfTemplate => Some(e),
        _ => cloudformation.or(event),
    }
}
