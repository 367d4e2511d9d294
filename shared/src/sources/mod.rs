//! Event parsers: EventBridge envelopes from CloudTrail, AWS Config and
//! CloudFormation, normalized into [`crate::domain::Observation`].
//!
//! Entry point: [`parse_event`]. Every failure is a [`SourceError`] naming the field.
use crate::domain::Observation;

/// EventBridge's maximum event entry size (256 KiB, per the PutEvents quota).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    #[error("event is {size} bytes, over EventBridge's {max}-byte entry limit")]
    TooLarge { size: usize, max: usize },
    #[error("missing field `{0}`")]
    MissingField(String),
    #[error("field `{field}` has the wrong type: expected {expected}")]
    WrongType { field: String, expected: &'static str },
    #[error("field `{field}` has an invalid value: {message}")]
    InvalidValue { field: String, message: String },
    #[error("unsupported event: source `{source_name}`, detail-type `{detail_type}`")]
    Unsupported {
        source_name: String,
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
pub fn parse_bytes(bytes: &[u8]) -> Result<Observation, SourceError> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(SourceError::TooLarge {
            size: bytes.len(),
            max: MAX_EVENT_BYTES,
        });
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| SourceError::MalformedJson(e.to_string()))?;
    parse_event(&value)
}

/// Parse one EventBridge envelope.
pub fn parse_event(_event: &serde_json::Value) -> Result<Observation, SourceError> {
    Err(SourceError::MissingField("source".into()))
}
