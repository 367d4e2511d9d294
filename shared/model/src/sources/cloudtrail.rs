//! `AWS API Call via CloudTrail`: the detail is one CloudTrail record.
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::fields::{get, opt_flag, opt_flag_value, opt_obj, opt_str, req_nonempty};
use super::operations::{is_read_only_name, lookup, normalize_operation, resolve_resource_call};
use super::{Envelope, SourceError};
use crate::domain::{Change, ChangeSource, Identity, NotAChange, Observation, ResourceRef};

const DETAIL: &str = "detail";

pub(crate) fn parse(envelope: &Envelope<'_>) -> Result<Observation, SourceError> {
    let d = envelope.detail;
    let event_name = req_nonempty(d, DETAIL, "eventName")?;
    let event_source = req_nonempty(d, DETAIL, "eventSource")?;
    let event_id = envelope.event_id(opt_str(d, DETAIL, "eventID")?)?;
    let time = envelope.time(opt_str(d, DETAIL, "eventTime")?, "detail.eventTime")?;
    let account = envelope.account(opt_str(d, DETAIL, "recipientAccountId")?)?;
    let region = envelope.region(opt_str(d, DETAIL, "awsRegion")?)?;
    let identity = identity(d)?;
    let read_only = opt_flag_value(d, DETAIL, "readOnly")?;
    let management_event = opt_flag_value(d, DETAIL, "managementEvent")?;
    let error_code = opt_str(d, DETAIL, "errorCode")?;
    let error_message = opt_str(d, DETAIL, "errorMessage")?;

    Ok(build(Record {
        event_name,
        event_source,
        event_id,
        time,
        account,
        region,
        identity,
        read_only,
        management_event,
        error_code,
        error_message,
        request: get(d, "requestParameters").cloned().unwrap_or(Value::Null),
        response: get(d, "responseElements").cloned().unwrap_or(Value::Null),
        resources: d.get("resources"),
    }))
}

/// A CloudTrail record's facts, checked and extracted; what [`build`] turns into an
/// observation. Both the `Value` parser above and the typed fast path
/// (`super::fast`) fill it, so the two cannot disagree on what a record means.
pub(crate) struct Record<'a> {
    pub event_name: &'a str,
    pub event_source: &'a str,
    pub event_id: String,
    pub time: DateTime<Utc>,
    pub account: String,
    pub region: String,
    pub identity: Identity,
    /// `readOnly`, when the record has it (AWS-set).
    pub read_only: Option<bool>,
    /// `managementEvent`, when the record has it (AWS-set).
    pub management_event: Option<bool>,
    pub error_code: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub request: Value,
    pub response: Value,
    /// `detail.resources`, as given (any JSON type).
    pub resources: Option<&'a Value>,
}

/// The record as an observation. Whether it is a change is AWS's word first:
/// `errorCode` (the call failed); `managementEvent: false`, a data event
/// ("Data events provide visibility into the resource operations performed on
/// or within a resource. These are also known as data plane operations.",
/// <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/logging-data-events-with-cloudtrail.html>;
/// management events are "control plane operations",
/// <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/logging-management-events-with-cloudtrail.html>);
/// `readOnly` ("Write-only events include API operations that modify (or might
/// modify) your resources", same page). Both are set by CloudTrail, not the
/// caller: when present they decide (a `GetFederationToken` is logged
/// `readOnly: false`, events/recorded/other/sts-get-federation-token.json). The
/// `Get*`/`List*`/`Describe*` name heuristic only stands in for a missing `readOnly`.
pub(crate) fn build(record: Record<'_>) -> Observation {
    let service = service_name(record.event_source);
    let operation = normalize_operation(record.event_name);
    let resource = match lookup(service, operation) {
        Some(spec) => resolve_resource_call(
            spec,
            &record.request,
            &record.response,
            &record.region,
            &record.account,
        ),
        // Unknown write: never dropped; keep the ARN CloudTrail names, if any.
        None => {
            let found = super::identifiers::extract_ranked(
                record.resources,
                &record.request,
                &record.response,
                super::identifiers::LIMITS,
            );
            ResourceRef {
                arn: first_resource_arn(record.resources),
                identifiers: found.ids,
                listed_identifiers: found.listed,
                identifiers_truncated: found.truncated,
                ..ResourceRef::unresolved()
            }
        }
    };

    let change = Change {
        event_id: record.event_id,
        time: record.time,
        account: record.account,
        region: record.region,
        source: ChangeSource::Cloudtrail,
        service: service.to_string(),
        operation: operation.to_string(),
        resource,
        identity: record.identity,
        request: record.request,
        response: record.response,
        stack_hint: None,
        drift_hint: None,
        unparsed: Vec::new(),
    };

    if let Some(code) = record.error_code.filter(|c| !c.is_empty()) {
        let detail = match record.error_message {
            Some(message) => format!("errorCode={code}: {message}"),
            None => format!("errorCode={code}"),
        };
        return not_a_change(change, NotAChange::FailedCall, detail);
    }
    if record.management_event == Some(false) {
        let detail = format!(
            "managementEvent=false ({}): a data event, not a change of the resource's configuration",
            change.api()
        );
        return not_a_change(change, NotAChange::DataEvent, detail);
    }
    let read_only = match record.read_only {
        Some(read_only) => read_only,
        None => is_read_only_name(operation),
    };
    if read_only {
        let detail = match record.read_only {
            Some(_) => format!("readOnly=true ({})", change.api()),
            None => format!(
                "{} is a read-only call (the record has no readOnly)",
                change.api()
            ),
        };
        return not_a_change(change, NotAChange::ReadOnly, detail);
    }
    Observation::Change(Box::new(change))
}

fn not_a_change(change: Change, reason: NotAChange, detail: String) -> Observation {
    Observation::NotAChange {
        event_id: change.event_id.clone(),
        reason,
        detail,
        change: Some(Box::new(change)),
    }
}

/// `ec2.amazonaws.com` → `ec2`.
pub fn service_name(event_source: &str) -> &str {
    event_source.split('.').next().unwrap_or(event_source)
}

/// The session name of an assumed-role ARN
/// (`arn:aws:sts::123456789012:assumed-role/Role/session` → `session`).
pub fn session_name_of(arn: &str) -> Option<&str> {
    let (_, rest) = arn.split_once(":assumed-role/")?;
    let (_, session) = rest.split_once('/')?;
    session.rsplit('/').next().filter(|s| !s.is_empty())
}

/// Identity facts from a CloudTrail record.
pub fn identity(d: &Map<String, Value>) -> Result<Identity, SourceError> {
    const UI: &str = "detail.userIdentity";
    let user = opt_obj(d, DETAIL, "userIdentity")?;
    let empty = Map::new();
    let user = user.unwrap_or(&empty);
    let principal_arn = opt_str(user, UI, "arn")?;
    const CTX: &str = "detail.userIdentity.sessionContext";
    let ctx = opt_obj(user, UI, "sessionContext")?;
    let session_issuer_arn = match ctx {
        Some(ctx) => match opt_obj(ctx, CTX, "sessionIssuer")? {
            Some(issuer) => opt_str(
                issuer,
                "detail.userIdentity.sessionContext.sessionIssuer",
                "arn",
            )?,
            None => None,
        },
        None => None,
    };
    let source_identity = match ctx {
        Some(ctx) => opt_str(ctx, CTX, "sourceIdentity")?,
        None => None,
    };
    let on_behalf_of = match opt_obj(user, UI, "onBehalfOf")? {
        Some(obo) => opt_str(obo, "detail.userIdentity.onBehalfOf", "userId")?,
        None => None,
    };
    Ok(identity_of(IdentityFields {
        identity_type: opt_str(user, UI, "type")?,
        principal_arn,
        session_issuer_arn,
        invoked_by: opt_str(user, UI, "invokedBy")?,
        user_agent: opt_str(d, DETAIL, "userAgent")?,
        source_ip: opt_str(d, DETAIL, "sourceIPAddress")?,
        // The record's top-level field, written as the string "true".
        console_session: opt_flag(d, DETAIL, "sessionCredentialFromConsole")?,
        principal_id: opt_str(user, UI, "principalId")?,
        account_id: opt_str(user, UI, "accountId")?,
        source_identity,
        on_behalf_of,
    }))
}

/// The identity fields of a record, as read (absent and `null` are `None`).
pub(crate) struct IdentityFields<'a> {
    pub identity_type: Option<&'a str>,
    pub principal_arn: Option<&'a str>,
    pub session_issuer_arn: Option<&'a str>,
    pub invoked_by: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub source_ip: Option<&'a str>,
    pub console_session: bool,
    pub principal_id: Option<&'a str>,
    pub account_id: Option<&'a str>,
    pub source_identity: Option<&'a str>,
    pub on_behalf_of: Option<&'a str>,
}

pub(crate) fn identity_of(fields: IdentityFields<'_>) -> Identity {
    let own = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_string);
    Identity {
        identity_type: own(fields.identity_type),
        principal_arn: own(fields.principal_arn),
        session_issuer_arn: own(fields.session_issuer_arn),
        session_name: fields
            .principal_arn
            .and_then(session_name_of)
            .map(str::to_string),
        invoked_by: own(fields.invoked_by),
        user_agent: own(fields.user_agent),
        source_ip: own(fields.source_ip),
        console_session: fields.console_session,
        principal_id: own(fields.principal_id),
        account_id: own(fields.account_id),
        source_identity: own(fields.source_identity),
        on_behalf_of: own(fields.on_behalf_of),
    }
}

/// `detail.resources[].ARN` (CloudTrail lists touched resources for some calls).
fn first_resource_arn(resources: Option<&Value>) -> Option<String> {
    resources?
        .as_array()?
        .iter()
        .find_map(|r| r.get("ARN").and_then(Value::as_str))
        .filter(|arn| !arn.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::sources::{parse_event, CLOUDTRAIL_API_CALL};
    use crate::testing::records::console_user_identity;
    use serde_json::json;

    fn envelope(detail: Value) -> Value {
        json!({
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": CLOUDTRAIL_API_CALL,
            "source": "aws.ec2",
            "account": "123456789012",
            "time": "2026-03-14T09:26:54Z",
            "region": "us-east-1",
            "resources": [],
            "detail": detail
        })
    }

    fn console_record() -> Value {
        json!({
            "eventVersion": "1.09",
            "userIdentity": console_user_identity(),
            "eventTime": "2026-03-14T09:26:53Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "AuthorizeSecurityGroupIngress",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.7",
            "userAgent": "AWS Internal",
            "requestParameters": {"groupId": "sg-0a1b2c3d4e5f67890"},
            "responseElements": {"_return": true},
            "eventID": "d5a4b3c2-0000-4000-8000-000000000001",
            "readOnly": false,
            "recipientAccountId": "123456789012",
            "sessionCredentialFromConsole": "true"
        })
    }

    fn change_of(o: Observation) -> Change {
        match o {
            Observation::Change(c) => *c,
            other => panic!("not a change: {other:?}"),
        }
    }

    #[test]
    fn console_change_is_fully_normalized() {
        let c = change_of(parse_event(&envelope(console_record())).unwrap());
        assert_eq!(c.event_id, "d5a4b3c2-0000-4000-8000-000000000001");
        assert_eq!(c.time.to_rfc3339(), "2026-03-14T09:26:53+00:00");
        assert_eq!(
            (c.account.as_str(), c.region.as_str()),
            ("123456789012", "us-east-1")
        );
        assert_eq!(c.api(), "ec2:AuthorizeSecurityGroupIngress");
        assert_eq!(
            c.resource.physical_id.as_deref(),
            Some("sg-0a1b2c3d4e5f67890")
        );
        assert_eq!(c.request["groupId"], "sg-0a1b2c3d4e5f67890");
        assert_eq!(c.response["_return"], true);
        let id = &c.identity;
        assert_eq!(id.identity_type.as_deref(), Some("AssumedRole"));
        assert_eq!(id.session_name.as_deref(), Some("alice@example.com"));
        assert!(id
            .session_issuer_arn
            .as_deref()
            .unwrap()
            .ends_with("AWSReservedSSO_AdministratorAccess_0123456789abcdef"));
        assert_eq!(id.source_ip.as_deref(), Some("198.51.100.7"));
        assert_eq!(id.user_agent.as_deref(), Some("AWS Internal"));
        assert!(id.console_session);
    }

    #[test]
    fn console_flag_is_read_from_the_top_level_only() {
        let mut record = console_record();
        record
            .as_object_mut()
            .unwrap()
            .remove("sessionCredentialFromConsole");
        record["userIdentity"]["sessionCredentialFromConsole"] = json!("true");
        let c = change_of(parse_event(&envelope(record)).unwrap());
        assert!(!c.identity.console_session);
    }

    #[test]
    fn fallbacks_come_from_the_envelope() {
        let mut record = console_record();
        let m = record.as_object_mut().unwrap();
        for k in [
            "eventID",
            "eventTime",
            "recipientAccountId",
            "awsRegion",
            "userIdentity",
        ] {
            m.remove(k);
        }
        let c = change_of(parse_event(&envelope(record)).unwrap());
        assert_eq!(c.event_id, "6a7e8feb-b491-4cf7-a9f1-bf3703467718");
        assert_eq!(c.time.to_rfc3339(), "2026-03-14T09:26:54+00:00");
        assert_eq!(c.identity.identity_type, None);
    }

    #[test]
    fn invoked_by_and_versioned_names() {
        let mut record = console_record();
        record["eventSource"] = json!("lambda.amazonaws.com");
        record["eventName"] = json!("UpdateFunctionConfiguration20150331v2");
        record["requestParameters"] = json!({"functionName": "orders", "timeout": 30});
        record["userIdentity"]["invokedBy"] = json!("cloudformation.amazonaws.com");
        let c = change_of(parse_event(&envelope(record)).unwrap());
        assert_eq!(c.api(), "lambda:UpdateFunctionConfiguration");
        assert_eq!(
            c.resource.resource_type.as_deref(),
            Some("AWS::Lambda::Function")
        );
        assert_eq!(
            c.identity.invoked_by.as_deref(),
            Some("cloudformation.amazonaws.com")
        );
    }

    #[test]
    fn read_only_and_failed_calls_keep_the_change() {
        // A record without CloudTrail's `readOnly`: the name says it.
        let mut record = console_record();
        record["eventName"] = json!("DescribeSecurityGroups");
        record.as_object_mut().unwrap().remove("readOnly");
        let o = parse_event(&envelope(record)).unwrap();
        assert!(matches!(
            o,
            Observation::NotAChange {
                reason: NotAChange::ReadOnly,
                change: Some(_),
                ..
            }
        ));

        let mut record = console_record();
        record["readOnly"] = json!(true);
        let o = parse_event(&envelope(record)).unwrap();
        assert!(matches!(
            o,
            Observation::NotAChange {
                reason: NotAChange::ReadOnly,
                ..
            }
        ));

        let mut record = console_record();
        record["errorCode"] = json!("Client.UnauthorizedOperation");
        record["errorMessage"] = json!("You are not authorized");
        match parse_event(&envelope(record)).unwrap() {
            Observation::NotAChange {
                reason,
                detail,
                change,
                ..
            } => {
                assert_eq!(reason, NotAChange::FailedCall);
                assert!(detail.contains("Client.UnauthorizedOperation"), "{detail}");
                assert!(change.is_some());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cloudtrail_s_own_read_only_and_management_event_flags_win_over_the_name() {
        // `readOnly: false` on a `Get*` name (sts:GetFederationToken mints credentials).
        let mut record = console_record();
        record["eventSource"] = json!("sts.amazonaws.com");
        record["eventName"] = json!("GetFederationToken");
        let o = parse_event(&envelope(record.clone())).unwrap();
        assert!(matches!(o, Observation::Change(_)), "{o:?}");
        // `readOnly: true` on a write-sounding name.
        record["eventName"] = json!("PutParameter");
        record["readOnly"] = json!(true);
        let o = parse_event(&envelope(record.clone())).unwrap();
        assert!(
            matches!(
                o,
                Observation::NotAChange {
                    reason: NotAChange::ReadOnly,
                    ..
                }
            ),
            "{o:?}"
        );
        // `null` is no answer: the name decides.
        record["eventName"] = json!("GetFederationToken");
        record["readOnly"] = json!(null);
        let o = parse_event(&envelope(record)).unwrap();
        assert!(
            matches!(
                o,
                Observation::NotAChange {
                    reason: NotAChange::ReadOnly,
                    ..
                }
            ),
            "{o:?}"
        );

        // A data event writes data, not configuration.
        let mut record = console_record();
        record["eventSource"] = json!("s3.amazonaws.com");
        record["eventName"] = json!("PutObject");
        record["managementEvent"] = json!(false);
        match parse_event(&envelope(record.clone())).unwrap() {
            Observation::NotAChange {
                reason,
                detail,
                change,
                ..
            } => {
                assert_eq!(reason, NotAChange::DataEvent);
                assert!(detail.contains("managementEvent=false"), "{detail}");
                assert!(change.is_some());
            }
            other => panic!("{other:?}"),
        }
        record["managementEvent"] = json!(true);
        assert!(matches!(
            parse_event(&envelope(record)).unwrap(),
            Observation::Change(_)
        ));
    }

    #[test]
    fn unknown_writes_are_changes_with_unresolved_resources() {
        let mut record = console_record();
        record["eventSource"] = json!("route53.amazonaws.com");
        record["eventName"] = json!("ChangeResourceRecordSets");
        record["resources"] =
            json!([{"ARN": "arn:aws:route53:::hostedzone/Z1", "type": "AWS::Route53::HostedZone"}]);
        let c = change_of(parse_event(&envelope(record)).unwrap());
        assert!(!c.resource.is_resolved());
        assert_eq!(
            c.resource.arn.as_deref(),
            Some("arn:aws:route53:::hostedzone/Z1")
        );
        assert_eq!(c.api(), "route53:ChangeResourceRecordSets");
    }

    #[test]
    fn errors_name_the_field() {
        let cases: [(&str, Value); 6] = [
            ("detail.eventName", json!(42)),
            ("detail.userIdentity.type", json!(7)),
            ("detail.eventTime", json!("not a time")),
            (
                "detail.userIdentity.sessionContext.sessionIssuer.arn",
                json!(["x"]),
            ),
            ("detail.sessionCredentialFromConsole", json!(1)),
            ("detail.userIdentity", json!("alice")),
        ];
        for (field, bad) in cases {
            let mut record = console_record();
            let parts: Vec<&str> = field.split('.').skip(1).collect();
            let mut target = &mut record;
            for p in &parts[..parts.len() - 1] {
                target = target.get_mut(*p).unwrap();
            }
            target[parts[parts.len() - 1]] = bad;
            let err = parse_event(&envelope(record)).unwrap_err();
            assert_eq!(err.field(), Some(field), "{err}");
        }
        let mut record = console_record();
        record.as_object_mut().unwrap().remove("eventSource");
        assert_eq!(
            parse_event(&envelope(record)).unwrap_err(),
            SourceError::MissingField("detail.eventSource".into())
        );
    }

    #[test]
    fn session_names() {
        assert_eq!(
            session_name_of(
                "arn:aws:sts::123456789012:assumed-role/deploy-pipeline/codepipeline-deploy"
            ),
            Some("codepipeline-deploy")
        );
        assert_eq!(session_name_of("arn:aws:iam::123456789012:user/bob"), None);
        assert_eq!(
            session_name_of("arn:aws:sts::1:assumed-role/RoleOnly"),
            None
        );
        assert_eq!(service_name("ec2.amazonaws.com"), "ec2");
    }
}
