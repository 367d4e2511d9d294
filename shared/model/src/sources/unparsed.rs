//! Bad input (issue 33): a CloudTrail event whose `requestParameters` or
//! `responseElements` are valid JSON that `serde_json::Value` cannot hold —
//! a lone UTF-16 surrogate escape (`"\ud800"`: RFC 8259 §8.2, "the ABNF in
//! this specification allows member names and string values to contain bit
//! sequences that cannot encode Unicode characters; for example, "\uDEAD" (a
//! single unpaired UTF-16 surrogate)"; a Rust string cannot hold one) or a
//! number outside f64's range (`1e400`: RFC 8259 §6, "This specification
//! allows implementations to set limits on the range and precision of
//! numbers accepted"). Both are
//! caller-controlled text inside a request. Every other parser path rejects
//! the whole event (it would go to the DLQ undecided); here the two fields are
//! read as raw text, each one that does not parse is left out and named in
//! [`Change::unparsed`], and the event is decided on the rest of the record,
//! which AWS writes. Every other field must still parse exactly as `Value`
//! would parse it, or the event stays malformed.
use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::{ParsedEnvelope, CLOUDTRAIL_API_CALL};
use crate::domain::{Change, Observation};

/// The fields read leniently, with the name each is given on the change:
/// what the caller sent, and what AWS echoes of it.
const LENIENT: [(&str, &str); 2] = [
    ("requestParameters", "request"),
    ("responseElements", "response"),
];

/// The envelope with its unreadable request or response left out and named on
/// the change; `None` when the event is not a CloudTrail API call, when
/// something else in it does not parse, or when nothing needed leaving out
/// (the caller then reports the original error).
pub(crate) fn parse_envelope(bytes: &[u8]) -> Option<ParsedEnvelope> {
    let text = std::str::from_utf8(bytes).ok()?;
    let top: BTreeMap<String, Box<RawValue>> = serde_json::from_str(text).ok()?;
    let mut envelope = Map::new();
    let mut notes = Vec::new();
    for (key, raw) in top {
        let value = if key == "detail" {
            detail(&raw, &mut notes)?
        } else {
            serde_json::from_str(raw.get()).ok()?
        };
        envelope.insert(key, value);
    }
    if notes.is_empty() || envelope.get("detail-type")?.as_str()? != CLOUDTRAIL_API_CALL {
        return None;
    }
    let mut parsed = ParsedEnvelope::of_value(&Value::Object(envelope));
    if let Ok(observation) = parsed.observation.as_mut() {
        if let Some(change) = change_of(observation) {
            change.unparsed = notes;
        }
    }
    Some(parsed)
}

/// The record, its lenient fields replaced by `null` when they do not parse.
fn detail(raw: &RawValue, notes: &mut Vec<String>) -> Option<Value> {
    let fields: BTreeMap<String, Box<RawValue>> = serde_json::from_str(raw.get()).ok()?;
    let mut record = Map::new();
    for (key, raw) in fields {
        let lenient = LENIENT.iter().find(|(field, _)| *field == key);
        let value = match (serde_json::from_str::<Value>(raw.get()), lenient) {
            (Ok(value), _) => value,
            (Err(e), Some((_, name))) => {
                // serde_json's message says what and where (line, column),
                // never the text: a request may carry secrets.
                notes.push(format!("{name} unparsed: {e}"));
                Value::Null
            }
            (Err(_), None) => return None,
        };
        record.insert(key, value);
    }
    Some(Value::Object(record))
}

fn change_of(observation: &mut Observation) -> Option<&mut Change> {
    match observation {
        Observation::Change(change) => Some(change),
        Observation::NotAChange { change, .. } => change.as_deref_mut(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::sources::{parse_bytes, parse_bytes_slow, SourceError};

    fn event(request: &str, response: &str) -> String {
        format!(
            r#"{{"version": "0", "id": "e-1", "detail-type": "AWS API Call via CloudTrail",
              "source": "aws.ec2", "account": "123456789012", "time": "2026-03-14T09:26:54Z",
              "region": "us-east-1", "resources": [], "detail": {{
                "eventVersion": "1.09", "eventSource": "ec2.amazonaws.com",
                "eventName": "AuthorizeSecurityGroupIngress", "eventID": "ev-1",
                "eventTime": "2026-03-14T09:26:53Z", "awsRegion": "us-east-1",
                "recipientAccountId": "123456789012", "readOnly": false,
                "userIdentity": {{"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/ops",
                                  "accountId": "123456789012"}},
                "requestParameters": {request}, "responseElements": {response}}}}}"#
        )
    }

    fn change(bytes: &str) -> Change {
        match parse_bytes(bytes.as_bytes()).unwrap() {
            Observation::Change(c) => *c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_unreadable_request_is_left_out_and_named_and_the_change_decided() {
        let bytes = event(
            r#"{"groupId": "sg-1", "x": "\ud800"}"#,
            r#"{"_return": true}"#,
        );
        // serde_json's Value refuses the whole event.
        assert!(matches!(
            parse_bytes_slow(bytes.as_bytes()),
            Err(SourceError::MalformedJson(_))
        ));
        let c = change(&bytes);
        assert_eq!(c.event_id, "ev-1");
        assert_eq!(c.api(), "ec2:AuthorizeSecurityGroupIngress");
        assert_eq!(c.request, Value::Null);
        assert_eq!(c.response["_return"], true);
        assert!(!c.resource.is_resolved());
        assert_eq!(c.unparsed.len(), 1);
        // serde_json: "unexpected end of hex escape" (a leading surrogate
        // must be followed by a trailing one) "at line 1 column …".
        assert!(
            c.unparsed[0].starts_with("request unparsed: unexpected end of hex escape at line"),
            "{}",
            c.unparsed[0]
        );
        // What and where, not the text (a request may carry secrets).
        assert!(!c.unparsed[0].contains("ud800"), "{}", c.unparsed[0]);
        assert_eq!(
            c.identity.principal_arn.as_deref(),
            Some("arn:aws:iam::123456789012:user/ops")
        );
    }

    #[test]
    fn an_unreadable_response_keeps_the_request() {
        let c = change(&event(
            r#"{"groupId": "sg-1"}"#,
            r#"{"securityGroupRuleSet": {"items": [{"fromPort": 1e400}]}}"#,
        ));
        assert_eq!(c.resource.physical_id.as_deref(), Some("sg-1"));
        assert_eq!(c.response, Value::Null);
        assert!(
            c.unparsed[0].starts_with("response unparsed: number out of range"),
            "{}",
            c.unparsed[0]
        );
    }

    #[test]
    fn anything_else_unreadable_stays_malformed() {
        for bytes in [
            // An AWS-set field.
            event(r#"{}"#, r#"{}"#).replace(r#""eventID": "ev-1""#, r#""eventID": "\ud800""#),
            // A field no parser reads.
            event(r#"{}"#, r#"{}"#).replace(r#""readOnly": false"#, r#""x": [1e400]"#),
            // Not a CloudTrail call.
            event(r#"{"x": "\ud800"}"#, r#"{}"#).replace(
                "AWS API Call via CloudTrail",
                "Config Configuration Item Change",
            ),
            // Not JSON at all.
            event(r#"{"x": "\ud800"}"#, r#"{}"#).replace("\"detail\"", "detail"),
        ] {
            assert!(parse_envelope(bytes.as_bytes()).is_none(), "{bytes}");
            assert!(
                matches!(
                    parse_bytes(bytes.as_bytes()),
                    Err(SourceError::MalformedJson(_))
                ),
                "{bytes}"
            );
        }
    }
}
