//! Errors shared by ports and adapters.
use thiserror::Error;

/// What went wrong talking to the outside world, classified so callers can
/// decide between retrying, degrading and failing the invocation.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum PortError {
    /// The service throttled us (retry with backoff).
    #[error("{service}:{operation} throttled: {message}")]
    Throttled {
        /// The AWS service called, e.g. `cloudformation`.
        service: &'static str,
        /// The API operation called, e.g. `DescribeStackResources`.
        operation: &'static str,
        /// The service's message.
        message: String,
    },
    /// The call timed out or the connection failed (retry with backoff).
    #[error("{service}:{operation} timed out or could not connect: {message}")]
    Transient {
        /// The AWS service called.
        service: &'static str,
        /// The API operation called.
        operation: &'static str,
        /// What failed (timeout, connection error).
        message: String,
    },
    /// A conditional write lost a race (re-read and retry the logic).
    #[error("conflict on {what}: {message}")]
    Conflict {
        /// The item that changed under us, e.g. `ticket DG-…`.
        what: String,
        /// The service's message.
        message: String,
    },
    /// The item asked for does not exist.
    #[error("{what} not found")]
    NotFound {
        /// The item, e.g. `stack app`.
        what: String,
    },
    /// The API or the resource type does not support the operation (drift detection
    /// for an unsupported type, an emulator without the call): degrade.
    #[error("{service}:{operation} unsupported: {message}")]
    Unsupported {
        /// The AWS service called.
        service: &'static str,
        /// The API operation called.
        operation: &'static str,
        /// The service's message.
        message: String,
    },
    /// Anything else: validation, access denied... Not retried.
    #[error("{service}:{operation} failed: {message}")]
    Failed {
        /// The AWS service called.
        service: &'static str,
        /// The API operation called.
        operation: &'static str,
        /// The service's message (error code and text).
        message: String,
    },
}

impl PortError {
    /// Throttled or transient: the same call may succeed if retried with backoff.
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

/// What every port call returns.
pub type PortResult<T> = Result<T, PortError>;
