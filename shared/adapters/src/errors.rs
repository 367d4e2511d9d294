//! AWS SDK errors → [`PortError`].
//!
//! One place decides what is throttling (retry with backoff), what is transient
//! (timeouts, connection failures, real 5xx), what is a lost conditional write
//! (`Conflict`), and what the API cannot do (`Unsupported`: including the
//! emulator's HTTP 500 "not implemented" pages, which carry no AWS error code).
//! See `docs/errors.md`.
//!
//! This is THE classifier: the remediation executor, the change-set,
//! rollback and Cloud Control helpers, the safety store, SNS, Secrets Manager
//! and every adapter map SDK errors here ([`classify`] / [`map_sdk_error`]), and
//! [`PortError::is_retryable`] on the result is what the one retry layer
//! (`driftguard_core::resilience::retry`) retries. Do not match on SDK error codes
//! anywhere else.
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use driftguard_model::error::PortError;

/// Error codes AWS services use for throttling (the SDK's own list, plus EC2's).
pub const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    // SNS: `ThrottledException` carries the code `Throttled`; `KMSThrottling`:
    // "The request was denied due to request throttling" (SNS Publish errors,
    // https://docs.aws.amazon.com/sns/latest/api/API_Publish.html#API_Publish_Errors).
    "Throttled",
    "KMSThrottling",
];

/// Codes of a server-side failure worth another attempt (the SDK's transient
/// list, `RequestTimeout`, plus the 5xx codes services send).
const TRANSIENT_CODES: &[&str] = &[
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServiceError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
];

/// Codes of a lost optimistic-concurrency race.
const CONFLICT_CODES: &[&str] = &[
    "ConditionalCheckFailedException",
    "TransactionConflictException",
    "TransactionCanceledException",
    "TransactionConflict",
];

const NOT_FOUND_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "NoSuchEntity",
    "NoSuchBucket",
    "NoSuchKey",
    "ParameterNotFound",
    "NotFoundException",
    // Remediation read-backs and removals: "the bucket has no policy / no
    // block", "the rule is already revoked" are states, not failures.
    "NoSuchBucketPolicy",
    "NoSuchPublicAccessBlockConfiguration",
    "InvalidPermission.NotFound",
];

const NOT_IMPLEMENTED_CODES: &[&str] = &[
    "NotImplemented",
    "NotImplementedException",
    "InvalidAction",
    "UnsupportedActionException",
    "UnsupportedOperation",
];

/// `NoSuchBucketPolicy`, `InvalidPermission.NotFound`, `NotFound` (SNS):
/// services name their not-found codes `NoSuch*` or `*NotFound*`.
fn is_not_found(code: &str) -> bool {
    NOT_FOUND_CODES.contains(&code) || code.starts_with("NoSuch") || code.contains("NotFound")
}

/// The facts of one SDK failure the classification needs, separated from the
/// SDK's generic types so the rules are plain and testable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorFacts {
    pub code: Option<String>,
    pub message: Option<String>,
    pub http_status: Option<u16>,
    /// Timeout or I/O failure before a response arrived.
    pub no_response: bool,
    /// The response could not be parsed (e.g. an HTML error page).
    pub unparseable: bool,
}

impl ErrorFacts {
    pub fn from_sdk<E>(err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let http_status = err.raw_response().map(|r| r.status().as_u16());
        match err {
            SdkError::ServiceError(ctx) => {
                let e = ctx.err();
                Self {
                    code: e.code().map(str::to_string),
                    message: e.message().map(str::to_string),
                    http_status,
                    no_response: false,
                    unparseable: false,
                }
            }
            SdkError::TimeoutError(_) => Self {
                message: Some("request timed out".into()),
                no_response: true,
                ..Self::default()
            },
            SdkError::DispatchFailure(d) => Self {
                message: Some(format!("dispatch failure: {d:?}")),
                no_response: true,
                ..Self::default()
            },
            SdkError::ResponseError(r) => Self {
                message: Some(format!("unparseable response: {r:?}")),
                http_status,
                unparseable: true,
                ..Self::default()
            },
            other => Self {
                message: Some(format!("{other}")),
                http_status,
                ..Self::default()
            },
        }
    }

    fn text(&self) -> String {
        match (&self.code, &self.message) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.clone(),
            (None, Some(m)) => m.clone(),
            (None, None) => match self.http_status {
                Some(s) => format!("HTTP {s} without an error code"),
                None => "no details".into(),
            },
        }
    }

    /// Classify these facts.
    pub fn classify(&self, service: &'static str, operation: &'static str) -> PortError {
        let message = self.text();
        let code = self.code.as_deref().unwrap_or("");
        if THROTTLING_CODES.contains(&code) || self.http_status == Some(429) {
            return PortError::Throttled {
                service,
                operation,
                message,
            };
        }
        if CONFLICT_CODES.contains(&code) {
            return PortError::Conflict {
                what: format!("{service}:{operation}"),
                message,
            };
        }
        if TRANSIENT_CODES.contains(&code) {
            return PortError::Transient {
                service,
                operation,
                message,
            };
        }
        if is_not_found(code) {
            return PortError::NotFound {
                what: format!("{service}:{operation}: {message}"),
            };
        }
        if NOT_IMPLEMENTED_CODES.contains(&code) || self.http_status == Some(501) {
            return PortError::Unsupported {
                service,
                operation,
                message,
            };
        }
        if self.no_response {
            return PortError::Transient {
                service,
                operation,
                message,
            };
        }
        if let Some(status) = self.http_status.filter(|s| *s >= 500) {
            // Real AWS 5xx responses carry a code (InternalFailure, ServiceUnavailable):
            // transient. An HTTP 500 without one is an emulator's "not implemented" page.
            if self.code.is_none() {
                return PortError::Unsupported {
                    service,
                    operation,
                    message: format!("HTTP {status} without an AWS error code (operation not implemented by this endpoint?)"),
                };
            }
            return PortError::Transient {
                service,
                operation,
                message,
            };
        }
        if self.unparseable {
            return PortError::Transient {
                service,
                operation,
                message,
            };
        }
        PortError::Failed {
            service,
            operation,
            message,
        }
    }
}

/// Classify an SDK error of any operation (the name the remediation code uses).
#[cfg(any(test, feature = "sweep"))]
pub fn classify<E>(
    service: &'static str,
    operation: &'static str,
    err: SdkError<E, HttpResponse>,
) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    map_sdk_error(service, operation, err)
}

/// Map an SDK error of any operation.
pub fn map_sdk_error<E>(
    service: &'static str,
    operation: &'static str,
    err: SdkError<E, HttpResponse>,
) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    ErrorFacts::from_sdk(&err).classify(service, operation)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn facts(code: Option<&str>, status: Option<u16>) -> ErrorFacts {
        ErrorFacts {
            code: code.map(str::to_string),
            message: Some("msg".into()),
            http_status: status,
            ..ErrorFacts::default()
        }
    }

    #[test]
    fn throttling_codes_are_throttled() {
        for code in [
            "Throttling",
            "ThrottlingException",
            "RequestLimitExceeded",
            "ProvisionedThroughputExceededException",
        ] {
            let e =
                facts(Some(code), Some(400)).classify("cloudformation", "DescribeStackResources");
            assert!(matches!(e, PortError::Throttled { .. }), "{code}: {e:?}");
            assert!(e.is_retryable());
        }
        assert!(matches!(
            facts(None, Some(429)).classify("s", "o"),
            PortError::Throttled { .. }
        ));
    }

    #[test]
    fn conditional_check_is_conflict() {
        let e = facts(Some("ConditionalCheckFailedException"), Some(400))
            .classify("dynamodb", "PutItem");
        assert!(matches!(e, PortError::Conflict { .. }));
    }

    #[test]
    fn emulator_500_without_code_is_unsupported_but_real_500_is_transient() {
        let e = facts(None, Some(500)).classify("cloudformation", "DetectStackResourceDrift");
        assert!(matches!(e, PortError::Unsupported { .. }), "{e:?}");
        let e = facts(Some("InternalFailure"), Some(500))
            .classify("cloudformation", "DetectStackResourceDrift");
        assert!(matches!(e, PortError::Transient { .. }), "{e:?}");
        let e = facts(Some("NotImplemented"), Some(500)).classify("ssm", "CreateOpsItem");
        assert!(matches!(e, PortError::Unsupported { .. }), "{e:?}");
    }

    #[test]
    fn timeouts_are_transient_and_validation_fails() {
        let t = ErrorFacts {
            no_response: true,
            ..ErrorFacts::default()
        };
        assert!(matches!(t.classify("s", "o"), PortError::Transient { .. }));
        let e =
            facts(Some("ValidationError"), Some(400)).classify("cloudformation", "DescribeStacks");
        assert!(matches!(e, PortError::Failed { .. }));
        assert!(e.to_string().contains("ValidationError: msg"), "{e}");
    }

    #[test]
    fn folded_rules_of_the_former_classifiers_hold() {
        // executor::classify: NoSuch* / *NotFound* codes are NotFound (S3
        // GetBucketPolicy answers NoSuchBucketPolicy when there is none).
        for code in [
            "NoSuchBucketPolicy",
            "InvalidPermission.NotFound",
            "NotFound",
            "ParameterNotFound",
        ] {
            let e = facts(Some(code), Some(404)).classify("s3", "GetBucketPolicy");
            assert!(matches!(e, PortError::NotFound { .. }), "{code}: {e:?}");
        }
        // 4xx-coded server errors and SNS's own throttling codes.
        let e = facts(Some("InternalError"), Some(400)).classify("sns", "Publish");
        assert!(matches!(e, PortError::Transient { .. }), "{e:?}");
        for code in ["Throttled", "KMSThrottling"] {
            let e = facts(Some(code), Some(400)).classify("sns", "Publish");
            assert!(matches!(e, PortError::Throttled { .. }), "{code}: {e:?}");
        }
        for code in ["UnsupportedActionException", "UnsupportedOperation"] {
            let e = facts(Some(code), Some(400)).classify("ec2", "X");
            assert!(matches!(e, PortError::Unsupported { .. }), "{code}: {e:?}");
        }
    }

    #[test]
    fn maps_a_real_sdk_service_error() {
        use aws_sdk_dynamodb::operation::put_item::PutItemError;
        use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;
        let raw = HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::empty());
        let err = SdkError::service_error(
            PutItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder()
                    .message("The conditional request failed")
                    .meta(
                        aws_smithy_types::error::ErrorMetadata::builder()
                            .code("ConditionalCheckFailedException")
                            .build(),
                    )
                    .build(),
            ),
            raw,
        );
        assert!(matches!(
            map_sdk_error("dynamodb", "PutItem", err),
            PortError::Conflict { .. }
        ));
    }
}
