//! Tests for how `drift_from_sdk` types a property difference's values.
#![allow(clippy::unwrap_used)]
use super::*;
use aws_sdk_cloudformation::types::{
    DifferenceType, PropertyDifference as SdkDifference, StackResourceDrift,
    StackResourceDriftStatus,
};
use serde_json::json;

fn record(expected: &str, actual: &str, docs: Option<(&str, &str)>) -> StackResourceDrift {
    let mut b = StackResourceDrift::builder()
        .stack_id("arn:aws:cloudformation:us-east-1:123456789012:stack/app/1")
        .logical_resource_id("Queue")
        .resource_type("AWS::SQS::Queue")
        .stack_resource_drift_status(StackResourceDriftStatus::Modified)
        .timestamp(aws_smithy_types::DateTime::from_secs(0))
        .property_differences(
            SdkDifference::builder()
                .property_path("/VisibilityTimeout")
                .expected_value(expected)
                .actual_value(actual)
                .difference_type(DifferenceType::NotEqual)
                .build(),
        );
    if let Some((e, a)) = docs {
        b = b.expected_properties(e).actual_properties(a);
    }
    b.build()
}

#[test]
fn scalar_strings_are_not_coerced_without_a_typed_document() {
    let d = drift_from_sdk(&record("true", "42", None));
    assert_eq!(d.differences[0].expected, Some(json!("true")));
    assert_eq!(d.differences[0].actual, Some(json!("42")));
}

#[test]
fn the_properties_document_types_the_value_at_its_path() {
    let d = drift_from_sdk(&record(
        "30",
        "45",
        Some((r#"{"VisibilityTimeout":30}"#, r#"{"VisibilityTimeout":45}"#)),
    ));
    assert_eq!(d.differences[0].expected, Some(json!(30)));
    assert_eq!(d.differences[0].actual, Some(json!(45)));
}
