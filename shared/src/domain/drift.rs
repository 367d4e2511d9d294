//! Drift: what CloudFormation (or the event itself) says differs from the template.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DriftStatus {
    Modified,
    Deleted,
    InSync,
    NotChecked,
    Unknown,
}

impl DriftStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "MODIFIED" | "DRIFTED" => Self::Modified,
            "DELETED" => Self::Deleted,
            "IN_SYNC" => Self::InSync,
            "NOT_CHECKED" => Self::NotChecked,
            _ => Self::Unknown,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
            Self::InSync => "IN_SYNC",
            Self::NotChecked => "NOT_CHECKED",
            Self::Unknown => "UNKNOWN",
        }
    }

    pub fn is_drifted(&self) -> bool {
        matches!(self, Self::Modified | Self::Deleted)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DifferenceKind {
    Add,
    Remove,
    NotEqual,
}

impl DifferenceKind {
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<serde_json::Value>,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub status: DriftStatus,
    #[serde(default)]
    pub differences: Vec<PropertyDifference>,
    /// Template properties as CloudFormation expects them (JSON), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_properties: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_properties: Option<serde_json::Value>,
    pub origin: DriftOrigin,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected_at: Option<DateTime<Utc>>,
}

impl Drift {
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
