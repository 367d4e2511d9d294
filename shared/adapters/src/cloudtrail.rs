//! [`ActorLookup`] over CloudTrail `LookupEvents`: Config items carry no actor,
//! so the write call that changed the resource is looked up by resource name
//! in a window around the item's capture time.
use async_trait::async_trait;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_sdk_cloudtrail::Client;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::errors::map_sdk_error;
use driftguard_core::ports::ActorLookup;
use driftguard_model::domain::{Identity, ResourceRef};
use driftguard_model::error::{PortError, PortResult};
use driftguard_model::sources::SourceError;

const SERVICE: &str = "cloudtrail";

#[derive(Debug, Clone)]
pub struct CloudTrailActorLookup {
    client: Client,
    /// A us-east-1 client for global services' events (see [`is_global_service_type`]).
    global: Option<Client>,
    /// How far before the capture time to look (Config items lag the call).
    pub before: Duration,
    /// And after (clock skew).
    pub after: Duration,
    /// `LookupEvents` pages read per name at most (50 events each). "The rate of
    /// lookup requests is limited to two per second, per account, per Region"
    /// (<https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html>):
    /// bounded so a busy resource cannot eat the Lambda's budget.
    pub max_pages: usize,
}

impl CloudTrailActorLookup {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            global: None,
            before: Duration::minutes(15),
            after: Duration::minutes(2),
            max_pages: 5,
        }
    }

    /// Look global services' events up with `us_east_1` (a client for us-east-1).
    pub fn with_global_client(mut self, us_east_1: Client) -> Self {
        self.global = Some(us_east_1);
        self
    }

    fn client_for(&self, resource: &ResourceRef) -> &Client {
        match &self.global {
            Some(global)
                if resource
                    .resource_type
                    .as_deref()
                    .is_some_and(is_global_service_type) =>
            {
                global
            }
            _ => &self.client,
        }
    }

    /// Every page (up to [`Self::max_pages`]) of `LookupEvents` for one name:
    /// NextToken is "The token to use to get the next page of results after a
    /// previous API call. If the token does not appear, there are no more results to
    /// return. The token must be passed in with the same parameters as the previous
    /// call." (aws-sdk-cloudtrail 1.130 LookupEventsOutput): same attribute and window.
    async fn records_for(
        &self,
        client: &Client,
        attribute: LookupAttribute,
        around: DateTime<Utc>,
    ) -> PortResult<Vec<(DateTime<Utc>, Value)>> {
        let mut records = Vec::new();
        let mut token: Option<String> = None;
        for page in 0..self.max_pages.max(1) {
            let out = client
                .lookup_events()
                .lookup_attributes(attribute.clone())
                .start_time(super::to_smithy(around - self.before))
                .end_time(super::to_smithy(around + self.after))
                .max_results(50)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| map_sdk_error(SERVICE, "LookupEvents", e))?;
            records.extend(out.events().iter().filter_map(|e| {
                let record: Value = serde_json::from_str(e.cloud_trail_event()?).ok()?;
                let at = e.event_time().and_then(super::to_chrono).unwrap_or(around);
                Some((at, record))
            }));
            token = out
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                break;
            }
            if page + 1 == self.max_pages.max(1) {
                tracing::warn!(
                    pages = page + 1,
                    "LookupEvents: more pages than read; using what was read"
                );
            }
        }
        Ok(records)
    }
}

/// Types of global services, whose CloudTrail events are delivered in us-east-1:
/// "For most global services, events are logged as occurring in US East (N.
/// Virginia) Region" (CloudTrail user guide, global service events,
/// <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-concepts.html#cloudtrail-concepts-global-service-events>).
pub fn is_global_service_type(resource_type: &str) -> bool {
    resource_type.starts_with("AWS::IAM::")
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
    driftguard_model::sources::cloudtrail::identity(record)
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
            let records = self
                .records_for(self.client_for(resource), attribute, around)
                .await?;
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

    /// Who changed `sg-0abc`, asked of a lookup whose client `rule` answers.
    async fn find_sg_0abc(rule: &aws_smithy_mocks::Rule) -> Option<Identity> {
        let lookup = CloudTrailActorLookup::new(mock_client!(aws_sdk_cloudtrail, [rule]));
        lookup
            .find_identity(
                &ResourceRef::new("AWS::EC2::SecurityGroup", "sg-0abc"),
                Utc::now(),
            )
            .await
            .unwrap()
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
        let from_event =
            driftguard_model::sources::cloudtrail::identity(record.as_object().unwrap());
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
        let found = find_sg_0abc(&rule).await;
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
        let found = find_sg_0abc(&rule).await.unwrap();
        assert!(found.console_session);
    }

    #[tokio::test]
    async fn pages_are_followed_and_iam_is_looked_up_in_us_east_1() {
        // The write is on page 2 (NextToken, see records_for); IAM's events live in
        // us-east-1 (see is_global_service_type): the regional client is never asked.
        let page1 = mock!(Client::lookup_events)
            .match_requests(|r| r.next_token().is_none())
            .then_output(|| {
                LookupEventsOutput::builder()
                    .events(
                        Event::builder()
                            .cloud_trail_event(console_record(true).to_string())
                            .build(),
                    )
                    .next_token("t2")
                    .build()
            });
        let page2 = mock!(Client::lookup_events)
            .match_requests(|r| r.next_token() == Some("t2"))
            .then_output(|| {
                LookupEventsOutput::builder()
                    .events(
                        Event::builder()
                            .cloud_trail_event(console_record(false).to_string())
                            .build(),
                    )
                    .build()
            });
        let regional =
            mock!(Client::lookup_events).then_output(|| LookupEventsOutput::builder().build());
        let lookup = CloudTrailActorLookup::new(mock_client!(aws_sdk_cloudtrail, [&regional]))
            .with_global_client(mock_client!(
                aws_sdk_cloudtrail,
                aws_smithy_mocks::RuleMode::MatchAny,
                [&page1, &page2]
            ));
        let found = lookup
            .find_identity(
                &ResourceRef::new("AWS::IAM::Role", "app-AppRole-1"),
                Utc::now(),
            )
            .await
            .unwrap()
            .unwrap();
        assert!(found.console_session);
        assert_eq!(
            (page1.num_calls(), page2.num_calls(), regional.num_calls()),
            (1, 1, 0)
        );
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
