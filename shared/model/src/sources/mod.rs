//! Event parsers: EventBridge envelopes from CloudTrail, AWS Config and
//! CloudFormation, normalized into [`crate::domain::Observation`].
//!
//! Entry points:
//! - [`parse_event`]: an already deserialized envelope (what a Lambda receives). Fast path,
//!   no size check.
//! - [`parse_event_checked`]: the same after checking the serialized size against
//!   [`MAX_EVENT_BYTES`] (cheap walk, stops as soon as the limit is passed).
//! - [`parse_bytes`]: raw bytes (files, the CLI): size check, JSON, then [`parse_event`].
//!
//! Every failure is a [`SourceError`] naming the field as a dotted path
//! (`detail.userIdentity.type`). Nothing here panics on any input.
pub mod cloudformation;
pub mod cloudtrail;
pub mod config;
mod fast;
mod fields;
pub mod identifiers;
pub mod operations;
pub mod record;
mod unparsed;

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::domain::Observation;

/// The largest event driftguard accepts: EventBridge's own maximum event size.
///
/// Historically 256 KB ("The maximum size for a PutEvents event entry is 256 KB",
/// EventBridge API Reference, PutEvents). Since 2026-01-29 EventBridge accepts
/// events up to 1 MB (AWS Compute Blog, "More room to build: serverless services
/// now support payloads up to 1 MB",
/// <https://aws.amazon.com/blogs/compute/more-room-to-build-serverless-services-now-support-payloads-up-to-1-mb>),
/// so a real event between 256 KB and 1 MB (large Config items) must not be rejected.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// The pre-2026 EventBridge entry limit, kept for reference and for producers that
/// still have to fit older consumers.
pub const LEGACY_MAX_EVENT_BYTES: usize = 256 * 1024;

/// `detail-type` of CloudTrail management events on EventBridge.
pub const CLOUDTRAIL_API_CALL: &str = "AWS API Call via CloudTrail";
/// `detail-type` of AWS Config's configuration item changes.
pub const CONFIG_ITEM_CHANGE: &str = "Config Configuration Item Change";
/// `detail-type` of AWS Config's rule compliance changes.
pub const CONFIG_COMPLIANCE_CHANGE: &str = "Config Rules Compliance Change";
/// `detail-type` of CloudFormation's drift detection results.
pub const CFN_DRIFT_STATUS_CHANGE: &str = "CloudFormation Drift Detection Status Change";
/// `detail-type` of CloudFormation's per-resource status changes.
pub const CFN_RESOURCE_STATUS_CHANGE: &str = "CloudFormation Resource Status Change";
/// `detail-type` of CloudFormation's stack status changes.
pub const CFN_STACK_STATUS_CHANGE: &str = "CloudFormation Stack Status Change";

/// Why an event could not be parsed; every variant names the field where it can.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    /// The bytes are not JSON.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The event is over [`MAX_EVENT_BYTES`].
    #[error("event is {size} bytes, over EventBridge's {max}-byte event size limit")]
    TooLarge {
        /// The event's size in bytes.
        size: usize,
        /// The limit ([`MAX_EVENT_BYTES`]).
        max: usize,
    },
    /// A required field is absent (its dotted path).
    #[error("missing field `{0}`")]
    MissingField(String),
    /// A field is there with the wrong JSON type.
    #[error("field `{field}` has the wrong type: expected {expected}")]
    WrongType {
        /// The field's dotted path.
        field: String,
        /// What the parser needed, e.g. `a string`.
        expected: &'static str,
    },
    /// A field's value is not one the parser accepts (a bad timestamp, say).
    #[error("field `{field}` has an invalid value: {message}")]
    InvalidValue {
        /// The field's dotted path.
        field: String,
        /// What is wrong with the value.
        message: String,
    },
    /// An envelope driftguard has no parser for (its `source` and `detail-type`).
    #[error("unsupported event: source `{source_name}`, detail-type `{detail_type}`")]
    Unsupported {
        /// The envelope's `source`, e.g. `aws.ec2`.
        source_name: String,
        /// The envelope's `detail-type`.
        detail_type: String,
    },
}

impl SourceError {
    /// The field the error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::MissingField(f) => Some(f),
            Self::WrongType { field, .. } | Self::InvalidValue { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// Parse raw bytes (size-checked first).
///
/// CloudTrail API calls take a typed fast path (`fast`); everything else, and
/// anything the fast path is not sure about, goes to [`parse_event`] over a
/// `Value` pruned to the fields the parsers read; bytes that are not JSON get
/// their error from the whole-`Value` parse. Results and errors are the same
/// whichever way an event goes (`tests/sources_props.rs`), with one addition
/// only this entry point makes: a CloudTrail call whose `requestParameters` or
/// `responseElements` `Value` cannot hold is decided without them
/// (`unparsed`, `Change::unparsed`) instead of being malformed.
pub fn parse_bytes(bytes: &[u8]) -> Result<Observation, SourceError> {
    parse_envelope_bytes(bytes).observation
}

/// The envelope's own fields the pipeline reads beside the observation: the
/// `id` (logs), the `source` (known-good recording) and the `account` EventBridge
/// set (`WATCHED_ACCOUNTS`). Each is the field's value when it is a string,
/// else `None`, whichever parser read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvelopeHeader {
    /// The envelope's `id` (EventBridge's event id).
    pub id: Option<String>,
    /// The envelope's `source`, e.g. `aws.ec2`, `aws.config`.
    pub source: Option<String>,
    /// The envelope's `account`: the account the event came from.
    pub account: Option<String>,
}

impl EnvelopeHeader {
    /// The header of an already deserialized envelope.
    pub fn of(event: &Value) -> Self {
        let text = |name: &str| event.get(name).and_then(Value::as_str).map(str::to_string);
        Self {
            id: text("id"),
            source: text("source"),
            account: text("account"),
        }
    }
}

/// One envelope parsed: the observation (or the error) and the envelope's header.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedEnvelope {
    /// The normalized change (or why it is not one), or why the event could not be parsed.
    pub observation: Result<Observation, SourceError>,
    /// The envelope's own fields.
    pub header: EnvelopeHeader,
}

impl ParsedEnvelope {
    /// What [`parse_event`] and [`EnvelopeHeader::of`] say of a deserialized envelope.
    pub fn of_value(event: &Value) -> Self {
        Self {
            observation: parse_event(event),
            header: EnvelopeHeader::of(event),
        }
    }
}

/// detect's entry point: the raw payload (what the Lambda runtime received) in
/// one pass, as [`parse_bytes`], with the envelope's header. Equal to
/// [`ParsedEnvelope::of_value`] of the same bytes deserialized as a `Value`
/// whenever they deserialize (`tests/sources_props.rs`, and every fixture in
/// `functions/detect/tests/one_path.rs`).
pub fn parse_envelope_bytes(bytes: &[u8]) -> ParsedEnvelope {
    if bytes.len() > MAX_EVENT_BYTES {
        return ParsedEnvelope {
            observation: Err(SourceError::TooLarge {
                size: bytes.len(),
                max: MAX_EVENT_BYTES,
            }),
            header: EnvelopeHeader::default(),
        };
    }
    if let Some(parsed) = fast::parse_cloudtrail_envelope(bytes) {
        return parsed;
    }
    if let Some(parsed) = fast::parse_pruned_envelope(bytes) {
        return parsed;
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => ParsedEnvelope::of_value(&value),
        // Valid JSON `Value` cannot hold, in a CloudTrail request or response:
        // decided without that field (`unparsed`), never dropped.
        Err(e) => unparsed::parse_envelope(bytes).unwrap_or_else(|| ParsedEnvelope {
            observation: Err(SourceError::MalformedJson(e.to_string())),
            header: EnvelopeHeader::default(),
        }),
    }
}

/// The pruned-`Value` path alone (see `fast::parse_pruned`): `None` only when the
/// bytes are not JSON (or use serde_json's raw-value token). For tests and benches.
#[doc(hidden)]
pub fn parse_bytes_pruned(bytes: &[u8]) -> Option<Result<Observation, SourceError>> {
    if bytes.len() > MAX_EVENT_BYTES {
        return None;
    }
    fast::parse_pruned(bytes)
}

/// The fast path alone: `Some` only for a CloudTrail API call it parsed, and then
/// equal to what [`parse_bytes_slow`] returns. For tests and benches.
#[doc(hidden)]
pub fn parse_bytes_fast(bytes: &[u8]) -> Option<Observation> {
    if bytes.len() > MAX_EVENT_BYTES {
        return None;
    }
    fast::parse_cloudtrail(bytes)
}

/// [`parse_bytes`] without the fast path, after the size check: JSON into a
/// `Value`, then [`parse_event`]. Public so tests and benches can compare the two.
#[doc(hidden)]
pub fn parse_bytes_slow(bytes: &[u8]) -> Result<Observation, SourceError> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(SourceError::TooLarge {
            size: bytes.len(),
            max: MAX_EVENT_BYTES,
        });
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| SourceError::MalformedJson(e.to_string()))?;
    parse_event(&value)
}

/// Check the serialized size of an already deserialized event, then parse it.
pub fn parse_event_checked(event: &Value) -> Result<Observation, SourceError> {
    check_size(event)?;
    parse_event(event)
}

/// `Err(TooLarge)` when the compact JSON form of `event` is over [`MAX_EVENT_BYTES`].
pub fn check_size(event: &Value) -> Result<(), SourceError> {
    let mut budget = SizeBudget {
        used: 0,
        max: MAX_EVENT_BYTES,
    };
    if budget.add_value(event) {
        Ok(())
    } else {
        Err(SourceError::TooLarge {
            size: json_size(event),
            max: MAX_EVENT_BYTES,
        })
    }
}

/// The exact length in bytes of `value` serialized as compact JSON, without serializing it.
pub fn json_size(value: &Value) -> usize {
    let mut budget = SizeBudget {
        used: 0,
        max: usize::MAX,
    };
    budget.add_value(value);
    budget.used
}

/// Counts serialized bytes, stopping early once over `max`.
struct SizeBudget {
    used: usize,
    max: usize,
}

impl SizeBudget {
    /// Adds `n` bytes; false once over the limit.
    fn add(&mut self, n: usize) -> bool {
        self.used = self.used.saturating_add(n);
        self.used <= self.max
    }

    fn add_str(&mut self, s: &str) -> bool {
        let escaped: usize = s
            .bytes()
            .map(|b| match b {
                b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
                0..=0x1f => 6,
                _ => 1,
            })
            .sum();
        self.add(escaped + 2)
    }

    fn add_value(&mut self, value: &Value) -> bool {
        match value {
            Value::Null | Value::Bool(true) => self.add(4),
            Value::Bool(false) => self.add(5),
            Value::Number(n) => {
                let mut counter = ByteCounter(0);
                // Writing to a counter cannot fail.
                let _ = write!(counter, "{n}");
                self.add(counter.0)
            }
            Value::String(s) => self.add_str(s),
            Value::Array(items) => {
                self.add(2 + items.len().saturating_sub(1))
                    && items.iter().all(|item| self.add_value(item))
            }
            Value::Object(map) => {
                // Braces, commas, and one colon per entry.
                self.add(2 + map.len().saturating_sub(1) + map.len())
                    && map
                        .iter()
                        .all(|(k, v)| self.add_str(k) && self.add_value(v))
            }
        }
    }
}

struct ByteCounter(usize);

impl std::fmt::Write for ByteCounter {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

/// The EventBridge envelope fields every parser uses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Envelope<'a> {
    pub id: Option<&'a str>,
    pub account: Option<&'a str>,
    pub time: Option<&'a str>,
    pub region: Option<&'a str>,
    pub detail: &'a Map<String, Value>,
}

impl<'a> Envelope<'a> {
    /// The source's own id if it has one, else the envelope's `id`.
    pub fn event_id(&self, own: Option<&str>) -> Result<String, SourceError> {
        own.filter(|s| !s.is_empty())
            .or(self.id.filter(|s| !s.is_empty()))
            .map(str::to_string)
            .ok_or_else(|| SourceError::MissingField("id".into()))
    }

    /// The source's own time (`own_path` names it in errors), else the envelope's `time`.
    pub fn time(&self, own: Option<&str>, own_path: &str) -> Result<DateTime<Utc>, SourceError> {
        match own {
            Some(t) => fields::parse_time(t, own_path),
            None => {
                let t = self
                    .time
                    .ok_or_else(|| SourceError::MissingField("time".into()))?;
                fields::parse_time(t, "time")
            }
        }
    }

    pub fn account(&self, own: Option<&str>) -> Result<String, SourceError> {
        own.filter(|s| !s.is_empty())
            .or(self.account)
            .map(str::to_string)
            .ok_or_else(|| SourceError::MissingField("account".into()))
    }

    pub fn region(&self, own: Option<&str>) -> Result<String, SourceError> {
        own.filter(|s| !s.is_empty())
            .or(self.region)
            .map(str::to_string)
            .ok_or_else(|| SourceError::MissingField("region".into()))
    }
}

/// Which parser an envelope goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    CloudTrail,
    ConfigItem,
    ConfigCompliance,
    CfnDrift,
    CfnResource,
    CfnStack,
}

fn kind_of(source: &str, detail_type: &str) -> Option<Kind> {
    match (source, detail_type) {
        // CloudTrail events keep the calling service as their source (`aws.ec2`, ...).
        (s, CLOUDTRAIL_API_CALL) if s.starts_with("aws.") => Some(Kind::CloudTrail),
        ("aws.config", CONFIG_ITEM_CHANGE) => Some(Kind::ConfigItem),
        ("aws.config", CONFIG_COMPLIANCE_CHANGE) => Some(Kind::ConfigCompliance),
        ("aws.cloudformation", CFN_DRIFT_STATUS_CHANGE) => Some(Kind::CfnDrift),
        ("aws.cloudformation", CFN_RESOURCE_STATUS_CHANGE) => Some(Kind::CfnResource),
        ("aws.cloudformation", CFN_STACK_STATUS_CHANGE) => Some(Kind::CfnStack),
        _ => None,
    }
}

/// Parse one EventBridge envelope.
pub fn parse_event(event: &Value) -> Result<Observation, SourceError> {
    let top = fields::as_object(event, "(event)")?;
    let source = fields::req_str(top, "", "source")?;
    let detail_type = fields::req_str(top, "", "detail-type")?;
    let kind = kind_of(source, detail_type).ok_or_else(|| SourceError::Unsupported {
        source_name: source.to_string(),
        detail_type: detail_type.to_string(),
    })?;
    let envelope = Envelope {
        id: fields::opt_str(top, "", "id")?,
        account: fields::opt_str(top, "", "account")?,
        time: fields::opt_str(top, "", "time")?,
        region: fields::opt_str(top, "", "region")?,
        detail: fields::req_obj(top, "", "detail")?,
    };
    match kind {
        Kind::CloudTrail => cloudtrail::parse(&envelope),
        Kind::ConfigItem => config::parse_item_change(&envelope),
        Kind::ConfigCompliance => config::parse_compliance_change(&envelope),
        Kind::CfnDrift => cloudformation::parse_drift_status(&envelope),
        Kind::CfnResource => cloudformation::parse_resource_status(&envelope),
        Kind::CfnStack => cloudformation::parse_stack_status(&envelope),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn json_size_is_exact() {
        for v in [
            json!(null),
            json!({"a": [1, 2.5, -3, true, false, null], "b\n": "x\"y\\z\u{1}é"}),
            json!([]),
            json!({}),
            json!([[{}], {"k": []}]),
            json!(u64::MAX),
        ] {
            assert_eq!(json_size(&v), serde_json::to_vec(&v).unwrap().len(), "{v}");
        }
    }

    #[test]
    fn oversized_values_and_bytes_are_rejected() {
        let big = json!({"source": "aws.ec2", "detail": "x".repeat(MAX_EVENT_BYTES)});
        assert!(matches!(
            parse_event_checked(&big),
            Err(SourceError::TooLarge {
                max: MAX_EVENT_BYTES,
                ..
            })
        ));
        let bytes = serde_json::to_vec(&big).unwrap();
        assert!(matches!(
            parse_bytes(&bytes),
            Err(SourceError::TooLarge { .. })
        ));
        // Just under the limit: the size check passes and parsing decides.
        let small = json!({"source": "aws.ec2"});
        assert_eq!(
            parse_event_checked(&small),
            Err(SourceError::MissingField("detail-type".into()))
        );
    }

    #[test]
    fn envelope_errors_name_the_field() {
        assert!(matches!(
            parse_bytes(b"{not json"),
            Err(SourceError::MalformedJson(_))
        ));
        assert_eq!(
            parse_event(&json!([])).unwrap_err(),
            SourceError::WrongType {
                field: "(event)".into(),
                expected: "an object"
            }
        );
        assert_eq!(
            parse_event(&json!({"source": 1})).unwrap_err().field(),
            Some("source")
        );
        assert_eq!(
            parse_event(&json!({"source": "aws.ec2", "detail-type": CLOUDTRAIL_API_CALL}))
                .unwrap_err(),
            SourceError::MissingField("detail".into())
        );
        assert_eq!(
            parse_event(
                &json!({"source": "aws.ec2", "detail-type": CLOUDTRAIL_API_CALL, "detail": "x"})
            )
            .unwrap_err()
            .field(),
            Some("detail")
        );
        assert!(matches!(
            parse_event(
                &json!({"source": "com.example", "detail-type": "Order Placed", "detail": {}})
            ),
            Err(SourceError::Unsupported { .. })
        ));
        assert!(matches!(
            parse_event(
                &json!({"source": "aws.config", "detail-type": CLOUDTRAIL_API_CALL.to_lowercase(), "detail": {}})
            ),
            Err(SourceError::Unsupported { .. })
        ));
    }
}
