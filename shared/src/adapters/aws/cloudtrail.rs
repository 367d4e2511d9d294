//! [`ActorLookup`] over CloudTrail `LookupEvents`: Config items carry no actor,
//! so the write call that changed the resource is looked up by resource name
//! in a window around the item's capture time.
use async_trait::async_trait;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_sdk_cloudtrail::Client;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::errors::map_sdk_error;
use crate::domain::{Identity, ResourceRef};
use crate::error::{PortError, PortResult};
use crate::ports::ActorLookup;
use crate::sources::SourceError;

const SERVICE: &str = "cloudtrail";

#[derive(Debug, Clone)]
pub struct CloudTrailActorLookup {
    client: Client,
    /// How far before the capture time to look (Config items lag the call).
    pub before: Duration,
    /// And after (clock skew).
    pub after: Duration,
}

impl CloudTrailActorLookup {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            before: Duration::minutes(15),
            after: Duration::minutes(2),
        }
    }
}

/// The identity facts of one CloudTrail record (`userIdentity`, `userAgent`,
/// `sourceIPAddress`, top-level `sessionCredentialFromConsole`), read by the
/// event parser's own extraction so a looked-up actor and an event's actor
/// come out the same. A `LookupEvents` record has the shape of an event's
/// `detail`, so errors name the fields `detail.…`.
pub fn identity_from_record(record: &Value) -> Result<Identity, SourceError> {
    let record = record.as_object().ok_or(SourceError::WrongType {
        field: "record".to_string(),
        expected: "an object",
    })?;
    crate::sources::cloudtrail::identity(record)
}

/// Is this record a successful write?
fn is_successful_write(record: &Value) -> bool {
    let read_only = match record.get("readOnly") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    !read_only && record.get("errorCode").is_none_or(Value::is_null)
}

/// Of the candidate records, the successful write closest to `around`.
pub fn pick_record(records: &[(DateTime<Utc>, Value)], around: DateTime<Utc>) -> Option<&Value> {
    records
        .iter()
        .filter(|(_, r)| is_successful_write(r))
        .min_by_key(|(t, _)| (*t - around).num_seconds().abs())
        .map(|(_, r)| r)
}

#[async_trait]
impl ActorLookup for CloudTrailActorLookup {
    async fn find_identity(
        &self,
        resource: &ResourceRef,
        around: DateTime<Utc>,
    ) -> PortResult<Option<Identity>> {
        let names: Vec<&str> = [resource.physical_id.as_deref(), resource.arn.as_deref()]
            .into_iter()
            .flatten()
            .filter(|n| !n.is_empty())
            .collect();
        for name in names {
            let attribute = LookupAttribute::builder()
                .attribute_key(LookupAttributeKey::ResourceName)
                .attribute_value(name)
                .build()
                .map_err(|e| PortError::Failed {
                    service: SERVICE,
                    operation: "LookupEvents",
                    message: e.to_string(),
                })?;
            let out = self
                .client
                .lookup_events()
                .lookup_attributes(attribute)
                .start_time(super::to_smithy(around - self.before))
                .end_time(super::to_smithy(around + self.after))
                .max_results(50)
                .send()
                .await
                .map_err(|e| map_sdk_error(SERVICE, "LookupEvents", e))?;
            let records: Vec<(DateTime<Utc>, Value)> = out
                .events()
                .iter()
                .filter_map(|e| {
                    let record: Value = serde_json::from_str(e.cloud_trail_event()?).ok()?;
                    let at = e.event_time().and_then(super::to_chrono).unwrap_or(around);
                    Some((at, record))
                })
                .collect();
            if let Some(record) = pick_record(&records, around) {
                match identity_from_record(record) {
                    Ok(identity) => return Ok(Some(identity)),
                    // Best effort: a record the parser rejects names no actor.
                    Err(error) => tracing::warn!(
                        resource = name,
                        %error,
                        "CloudTrail record with a malformed identity; trying the next name"
                    ),
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_cloudtrail::operation::lookup_events::LookupEventsOutput;
    use aws_sdk_cloudtrail::types::Event;
    use aws_smithy_mocks::{mock, mock_client};
    use serde_json::json;

    fn console_record(read_only: bool) -> Value {
        json!({
            "eventName": "AuthorizeSecurityGroupIngress",
            "readOnly": read_only,
            "sessionCredentialFromConsole": "true",
            "sourceIPAddress": "198.51.100.7",
            "userAgent": "AWS Internal",
            "userIdentity": {
                "type": "AssumedRole",
                "arn": "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com",
                "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_AdministratorAccess_0123456789abcdef"}}
            }
        })
    }

    #[test]
    fn identity_from_a_console_record() {
        let id = identity_from_record(&console_record(false)).unwrap();
        assert!(id.console_session);
        assert_eq!(id.session_name.as_deref(), Some("alice@example.com"));
        assert!(id
            .session_issuer_arn
            .unwrap()
            .ends_with("AWSReservedSSO_AdministratorAccess_0123456789abcdef"));
    }

    #[test]
    fn a_looked_up_identity_equals_the_parsed_event_identity() {
        let record = console_record(false);
        let from_event = crate::sources::cloudtrail::identity(record.as_object().unwrap());
        assert_eq!(identity_from_record(&record).unwrap(), from_event.unwrap());
    }

    #[test]
    fn a_malformed_identity_is_an_error_naming_the_field() {
        let mut record = console_record(false);
        record["userIdentity"]["arn"] = json!(42);
        let err = identity_from_record(&record).unwrap_err();
        assert_eq!(err.field(), Some("detail.userIdentity.arn"));
    }

    #[tokio::test]
    async fn a_record_with_a_malformed_identity_names_no_actor() {
        let mut record = console_record(false);
        record["userIdentity"] = json!("alice");
        // LookupEvents' `Event.CloudTrailEvent` is "A JSON string that contains a
        // representation of the event returned" (aws-sdk-cloudtrail 1.130,
        // types::Event; https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_Event.html):
        // the record as logged, so a malformed identity in it must name no actor.
        let rule = mock!(Client::lookup_events).then_output(move || {
            LookupEventsOutput::builder()
                .events(
                    Event::builder()
                        .cloud_trail_event(record.to_string())
                        .build(),
                )
                .build()
        });
        let lookup = CloudTrailActorLookup::new(mock_client!(aws_sdk_cloudtrail, [&rule]));
        let found = lookup
            .find_identity(
                &ResourceRef::new("AWS::EC2::SecurityGroup", "sg-0abc"),
                Utc::now(),
            )
            .await
            .unwrap();
        assert_eq!(found, None);
    }

    #[tokio::test]
    async fn looks_up_the_write_call_by_resource_name() {
        // "The events list is sorted by time. The most recent event is listed first."
        // (LookupEventsOutput.Events, aws-sdk-cloudtrail 1.130;
        // https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html),
        // looked up with one `ResourceName` attribute ("Currently the list can contain
        // only one item", LookupEventsInput.LookupAttributes).
        let rule = mock!(Client::lookup_events)
            .match_requests(|r| r.lookup_attributes()[0].attribute_value() == "sg-0abc")
            .then_output(|| {
                LookupEventsOutput::builder()
                    .events(
                        Event::builder()
                            .cloud_trail_event(console_record(true).to_string())
                            .build(),
                    )
                    .events(
                        Event::builder()
                            .cloud_trail_event(console_record(false).to_string())
                            .build(),
                    )
                    .build()
            });
        let lookup = CloudTrailActorLookup::new(mock_client!(aws_sdk_cloudtrail, [&rule]));
        let found = lookup
            .find_identity(
                &ResourceRef::new("AWS::EC2::SecurityGroup", "sg-0abc"),
                Utc::now(),
            )
            .await
            .unwrap()
            .unwrap();
        assert!(found.console_session);
    }

    #[tokio::test]
    async fn nothing_found_is_none() {
        // No match is an empty `Events` list, not an error: "If the token does not
        // appear, there are no more results to return" (LookupEventsOutput.NextToken).
        let rule =
            mock!(Client::lookup_events).then_output(|| LookupEventsOutput::builder().build());
        let lookup = CloudTrailActorLookup::new(mock_client!(aws_sdk_cloudtrail, [&rule]));
        let found = lookup
            .find_identity(&ResourceRef::new("AWS::S3::Bucket", "b"), Utc::now())
            .await
            .unwrap();
        assert_eq!(found, None);
    }
}
