//! Errors shared by ports and adapters.
use thiserror::Error;

/// What went wrong talking to the outside world, classified so callers can
/// decide between retrying, degrading and failing the invocation.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum PortError {
    /// The service throttled us (retry with backoff).
    #[error("{service}:{operation} throttled: {message}")]
    Throttled {
        service: &'static str,
        operation: &'static str,
        message: String,
    },
    /// The call timed out or the connection failed (retry with backoff).
    #[error("{service}:{operation} timed out or could not connect: {message}")]
    Transient {
        service: &'static str,
        operation: &'static str,
        message: String,
    },
    /// A conditional write lost a race (re-read and retry the logic).
    #[error("conflict on {what}: {message}")]
    Conflict { what: String, message: String },
    #[error("{what} not found")]
    NotFound { what: String },
    /// The API or the resource type does not support the operation (drift detection
    /// for an unsupported type, an emulator without the call): degrade.
    #[error("{service}:{operation} unsupported: {message}")]
    Unsupported {
        service: &'static str,
        operation: &'static str,
        message: String,
    },
    /// Anything else: validation, access denied... Not retried.
    #[error("{service}:{operation} failed: {message}")]
    Failed {
        service: &'static str,
        operation: &'static str,
        message: String,
    },
}

impl PortError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Transient { .. })
    }

    /// Short machine-readable class, for logs and metrics.
    pub fn class(&self) -> &'static str {
        match self {
            Self::Throttled { .. } => "throttled",
            Self::Transient { .. } => "transient",
            Self::Conflict { .. } => "conflict",
            Self::NotFound { .. } => "not_found",
            Self::Unsupported { .. } => "unsupported",
            Self::Failed { .. } => "failed",
        }
    }
}

pub type PortResult<T> = Result<T, PortError>;
