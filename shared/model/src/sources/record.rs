//! A bare CloudTrail record (what a trail writes to S3, what `LookupEvents` returns,
//! what detection-rule repositories record) in the EventBridge envelope CloudTrail
//! delivers it in: `detail-type` "AWS API Call via CloudTrail", `source`
//! `aws.<service>`, the record as `detail`
//! (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html>;
//! top-level fields per
//! <https://docs.aws.amazon.com/eventbridge/latest/ref/overiew-event-structure.html>).
use serde_json::{json, Value};

use super::cloudtrail::service_name;
use super::CLOUDTRAIL_API_CALL;

/// The envelope for `record`, or `None` when it is not a bare CloudTrail record
/// (an envelope already, or no `eventSource`/`eventName`).
pub fn envelope_for_record(record: &Value) -> Option<Value> {
    let map = record.as_object()?;
    if map.contains_key("detail-type") || map.contains_key("detail") {
        return None;
    }
    let source = map.get("eventSource")?.as_str()?;
    map.get("eventName")?.as_str()?;
    let field = |name: &str| map.get(name).cloned().unwrap_or(Value::Null);
    // The account the event is delivered in: the recipient's, else the caller's.
    let account = map
        .get("recipientAccountId")
        .cloned()
        .unwrap_or_else(|| record["userIdentity"]["accountId"].clone());
    // EventBridge always gives an event id; a record without `eventID` (a trimmed
    // test case) gets one derived from its content, stable across runs.
    let id = match map.get("eventID").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => content_id(record),
    };
    Some(json!({
        "version": "0",
        "id": id,
        "detail-type": CLOUDTRAIL_API_CALL,
        "source": format!("aws.{}", service_name(source)),
        "account": account,
        "time": field("eventTime"),
        "region": field("awsRegion"),
        "resources": [],
        "detail": record,
    }))
}

/// A UUID-shaped id from the record's SHA-256.
fn content_id(record: &Value) -> String {
    use sha2::{Digest, Sha256};
    let hex = hex::encode(Sha256::digest(record.to_string().as_bytes()));
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_a_record_and_leaves_envelopes_and_other_json_alone() {
        let record = json!({
            "eventSource": "s3.amazonaws.com", "eventName": "DeleteBucketPublicAccessBlock",
            "eventID": "e-1", "eventTime": "2026-03-14T09:00:00Z", "awsRegion": "us-east-1",
            "recipientAccountId": "123456789012",
        });
        let env = envelope_for_record(&record);
        let env = env.as_ref();
        assert_eq!(env.map(|e| e["source"].clone()), Some(json!("aws.s3")));
        assert_eq!(
            env.map(|e| e["account"].clone()),
            Some(json!("123456789012"))
        );
        assert_eq!(env.map(|e| e["detail"].clone()), Some(record.clone()));
        assert_eq!(
            envelope_for_record(&json!({"detail-type": "x", "detail": record})),
            None
        );
        assert_eq!(
            envelope_for_record(&json!({"eventSource": "s3.amazonaws.com"})),
            None
        );
        assert_eq!(envelope_for_record(&json!([1])), None);
        // No eventID: a stable, UUID-shaped id all the same.
        let bare = json!({"eventSource": "kms.amazonaws.com", "eventName": "DisableKey"});
        let id = envelope_for_record(&bare).map(|e| e["id"].clone());
        assert_eq!(id.as_ref().and_then(Value::as_str).map(str::len), Some(36));
        assert_eq!(id, envelope_for_record(&bare).map(|e| e["id"].clone()));
    }
}
