//! AWS Config events (source `aws.config`): configuration item changes and rule
//! compliance changes. Config says what changed, not who: the actor is looked up
//! later (CloudTrail), so the identity stays empty here.
use serde_json::{json, Map, Value};

use super::fields::{get, opt_obj, opt_str, req_nonempty, req_obj};
use super::operations::arn_for;
use super::{Envelope, SourceError};
use crate::domain::{Change, ChangeSource, Identity, NotAChange, Observation, ResourceRef};

/// Statuses of a configuration item that do not describe a mutation.
const NOT_RECORDED: &[&str] = &["ResourceNotRecorded", "ResourceDeletedNotRecorded"];

/// `Config Configuration Item Change`, including the oversized form that carries
/// only `configurationItemSummary` and an S3 pointer.
pub(crate) fn parse_item_change(envelope: &Envelope<'_>) -> Result<Observation, SourceError> {
    let d = envelope.detail;
    let (item, item_path, oversized) = match opt_obj(d, "detail", "configurationItem")? {
        Some(item) => (item, "detail.configurationItem", false),
        None => match opt_obj(d, "detail", "configurationItemSummary")? {
            Some(summary) => (summary, "detail.configurationItemSummary", true),
            None => return Err(SourceError::MissingField("detail.configurationItem".into())),
        },
    };
    let resource_type = req_nonempty(item, item_path, "resourceType")?;
    let resource_id = req_nonempty(item, item_path, "resourceId")?;
    let resource_name = opt_str(item, item_path, "resourceName")?;
    let arn = opt_str(item, item_path, "ARN")?;
    let status = opt_str(item, item_path, "configurationItemStatus")?;
    let capture_time = opt_str(item, item_path, "configurationItemCaptureTime")?;
    let time = envelope.time(
        capture_time,
        &format!("{item_path}.configurationItemCaptureTime"),
    )?;
    let account = envelope.account(opt_str(item, item_path, "awsAccountId")?)?;
    // IAM is global: its items say `"awsRegion": "global"` (real items, e.g. an
    // `AWS::IAM::Role` `AROA…` item of AWS Config's own sample data), which is no
    // region a client can be built for; the envelope's region (where Config
    // recorded the item) is the one to look the owner up in.
    let own_region = opt_str(item, item_path, "awsRegion")?.filter(|r| *r != "global");
    let region = envelope.region(own_region)?;

    let diff = opt_obj(d, "detail", "configurationItemDiff")?;
    let change_type = item_change_type(diff, item, item_path, oversized)?;
    let mut request = item_request(d, diff, status, oversized)?;

    let physical_id = config_physical_id(
        resource_type,
        resource_id,
        resource_name,
        arn,
        &region,
        &account,
    );
    if physical_id.is_none() {
        // Say what Config named, since it is not CloudFormation's id.
        request.insert("configResourceId".into(), json!(resource_id));
    }
    let change = Change {
        event_id: envelope.event_id(None)?,
        time,
        account,
        region,
        source: ChangeSource::ConfigItem,
        service: "config".into(),
        operation: change_type.unwrap_or("UPDATE").to_string(),
        resource: ResourceRef {
            resource_type: Some(resource_type.to_string()),
            physical_id,
            arn: arn.filter(|a| !a.is_empty()).map(str::to_string),
            identifiers: Vec::new(),
            listed_identifiers: 0,
            identifiers_truncated: false,
        },
        identity: Identity::default(),
        request: Value::Object(request),
        response: Value::Null,
        stack_hint: None,
        drift_hint: None,
        unparsed: Vec::new(),
    };
    if let Some(status) = status.filter(|s| NOT_RECORDED.contains(s)) {
        return Ok(Observation::NotAChange {
            event_id: change.event_id.clone(),
            reason: NotAChange::NotRecorded,
            detail: format!("configurationItemStatus={status}"),
            change: Some(Box::new(change)),
        });
    }
    Ok(Observation::Change(Box::new(change)))
}

/// The item change's `changeType`: the diff's, else an oversized item's
/// summary's own (both read, in that order, so a wrong type fails alike).
fn item_change_type<'a>(
    diff: Option<&'a Map<String, Value>>,
    item: &'a Map<String, Value>,
    item_path: &str,
    oversized: bool,
) -> Result<Option<&'a str>, SourceError> {
    let from_diff = match diff {
        Some(diff) => opt_str(diff, "detail.configurationItemDiff", "changeType")?,
        None => None,
    };
    let from_item = if oversized {
        opt_str(item, item_path, "changeType")?
    } else {
        None
    };
    Ok(from_diff.or(from_item))
}

/// What an item change says beside the resource: the changed properties, the
/// item's status, and for an oversized item where its full form is in S3.
fn item_request(
    d: &Map<String, Value>,
    diff: Option<&Map<String, Value>>,
    status: Option<&str>,
    oversized: bool,
) -> Result<Map<String, Value>, SourceError> {
    let mut request = Map::new();
    if let Some(changed) = diff.and_then(|diff| get(diff, "changedProperties")) {
        request.insert("changedProperties".into(), changed.clone());
    }
    if let Some(status) = status {
        request.insert("configurationItemStatus".into(), json!(status));
    }
    if oversized {
        // The full item is in S3: say where, the detect function may fetch it.
        request.insert("oversized".into(), json!(true));
        if let Some(location) =
            opt_obj(d, "detail", "s3DeliverySummary")?.and_then(|s| get(s, "s3BucketLocation"))
        {
            request.insert("s3BucketLocation".into(), location.clone());
        }
    }
    Ok(request)
}

/// CloudFormation's physical id of a Config resource, `None` when the event
/// does not carry it.
///
/// Config's `resourceId` ("The ID of the resource (for example, sg-xxxxxx)")
/// is CloudFormation's physical id for most types. For a few it is the
/// resource's stable unique id instead: an IAM role's `RoleId` (`AROA…`), a
/// user's `UserId` (`AIDA…`), a group's (`AGPA…`), a managed policy's
/// `PolicyId` (`ANPA…`)
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids>),
/// a DB instance's `DbiResourceId` ("The AWS Region-unique, immutable
/// identifier for the DB instance",
/// <https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBInstance.html>;
/// `shared/core/src/sweep/config_rule.rs`, `ConfigIdKind`), while CloudFormation
/// names them by name (IAM, RDS) or ARN (managed policies). For those the
/// item's `resourceName` ("The custom name of the resource, if available") and
/// `ARN` ("Amazon Resource Name (ARN) associated with the resource",
/// <https://docs.aws.amazon.com/config/latest/APIReference/API_ConfigurationItem.html>)
/// are used; an ARN is never built from the unique id (`…:role/AROA…` names
/// nothing). A compliance change carries only the `resourceId`: this returns
/// `None` for it (events/recorded/other/config-compliance-iam-role.json).
/// SQS queues are identified by URL.
pub fn config_physical_id(
    resource_type: &str,
    resource_id: &str,
    resource_name: Option<&str>,
    arn: Option<&str>,
    region: &str,
    account: &str,
) -> Option<String> {
    let name = resource_name.filter(|n| !n.is_empty());
    let arn = arn.filter(|a| !a.is_empty());
    let owned = |s: &str| Some(s.to_string());
    match resource_type {
        // Named by name in CloudFormation, by a unique id in Config.
        "AWS::IAM::Role" | "AWS::IAM::User" | "AWS::IAM::Group" => name
            .or_else(|| arn.and_then(|a| a.rsplit('/').next()))
            .and_then(owned),
        "AWS::RDS::DBInstance" => name.or_else(|| arn_name(arn, ":db:")).and_then(owned),
        "AWS::RDS::DBCluster" => name.or_else(|| arn_name(arn, ":cluster:")).and_then(owned),
        "AWS::DynamoDB::Table" => owned(name.unwrap_or(resource_id)),
        // CloudFormation names a managed policy by its ARN.
        "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" => arn.and_then(owned),
        "AWS::SQS::Queue" if !resource_id.starts_with("https://") => {
            let queue = name.unwrap_or(resource_id);
            Some(format!(
                "https://sqs.{region}.amazonaws.com/{account}/{queue}"
            ))
        }
        _ => owned(resource_id),
    }
}

/// The name after `marker` in an ARN (`arn:aws:rds:r:a:db:orders-db` → `orders-db`).
fn arn_name<'a>(arn: Option<&'a str>, marker: &str) -> Option<&'a str> {
    arn?.split_once(marker)
        .map(|(_, name)| name)
        .filter(|n| !n.is_empty())
}

/// `Config Rules Compliance Change`: a Change when a resource becomes NON_COMPLIANT.
pub(crate) fn parse_compliance_change(envelope: &Envelope<'_>) -> Result<Observation, SourceError> {
    const NEW: &str = "detail.newEvaluationResult";
    let d = envelope.detail;
    let new = req_obj(d, "detail", "newEvaluationResult")?;
    let compliance = req_nonempty(new, NEW, "complianceType")?;
    let (resource_type, resource_id, rule) = compliance_target(d, new)?;
    let recorded = opt_str(new, NEW, "resultRecordedTime")?;
    let time = match recorded {
        Some(t) => envelope.time(Some(t), "detail.newEvaluationResult.resultRecordedTime")?,
        None => envelope.time(
            opt_str(d, "detail", "notificationCreationTime")?,
            "detail.notificationCreationTime",
        )?,
    };
    let account = envelope.account(opt_str(d, "detail", "awsAccountId")?)?;
    let region = envelope.region(opt_str(d, "detail", "awsRegion")?)?;
    let annotation = opt_str(new, NEW, "annotation")?;
    let old_compliance = match opt_obj(d, "detail", "oldEvaluationResult")? {
        Some(old) => opt_str(old, "detail.oldEvaluationResult", "complianceType")?,
        None => None,
    };

    let physical_id = config_physical_id(resource_type, resource_id, None, None, &region, &account);
    let unresolved_id = physical_id.is_none().then_some(resource_id);
    let arn = physical_id
        .as_deref()
        .and_then(|id| arn_for(resource_type, id, &region, &account));
    // Until the unique id is resolved to a name (issue 33 item 2), the owner is
    // looked up by the id Config gave: it names no stack's resource, so the change
    // is unmanaged (`unmanaged: ignore` holds, one ticket per resource with
    // `unmanaged: ticket`), never an unresolved change that would open a ticket per
    // compliance flip. No ARN is built from it.
    let physical_id = physical_id.or_else(|| Some(resource_id.to_string()));
    let change = Change {
        event_id: envelope.event_id(None)?,
        time,
        account,
        region,
        source: ChangeSource::ConfigCompliance,
        service: "config".into(),
        operation: format!("ComplianceChange:{rule}"),
        resource: ResourceRef {
            resource_type: Some(resource_type.to_string()),
            physical_id,
            arn,
            identifiers: Vec::new(),
            listed_identifiers: 0,
            identifiers_truncated: false,
        },
        identity: Identity::default(),
        request: compliance_request(rule, compliance, old_compliance, annotation, unresolved_id),
        response: Value::Null,
        stack_hint: None,
        drift_hint: None,
        unparsed: Vec::new(),
    };
    if compliance != "NON_COMPLIANT" {
        return Ok(Observation::NotAChange {
            event_id: change.event_id.clone(),
            reason: NotAChange::NoDrift,
            detail: format!("complianceType={compliance} for rule {rule}"),
            change: Some(Box::new(change)),
        });
    }
    Ok(Observation::Change(Box::new(change)))
}

/// The resource type, resource id and rule name of a compliance change: the
/// detail's own fields, else the evaluation result's qualifier.
fn compliance_target<'a>(
    d: &'a Map<String, Value>,
    new: &'a Map<String, Value>,
) -> Result<(&'a str, &'a str, &'a str), SourceError> {
    const NEW: &str = "detail.newEvaluationResult";
    let qualifier = match opt_obj(new, NEW, "evaluationResultIdentifier")? {
        Some(id) => opt_obj(
            id,
            "detail.newEvaluationResult.evaluationResultIdentifier",
            "evaluationResultQualifier",
        )?,
        None => None,
    };
    const QUALIFIER: &str =
        "detail.newEvaluationResult.evaluationResultIdentifier.evaluationResultQualifier";
    let from_qualifier = |key: &str| -> Result<Option<&str>, SourceError> {
        match qualifier {
            Some(q) => opt_str(q, QUALIFIER, key),
            None => Ok(None),
        }
    };
    let resource_type = match opt_str(d, "detail", "resourceType")? {
        Some(t) => t,
        None => from_qualifier("resourceType")?
            .ok_or_else(|| SourceError::MissingField("detail.resourceType".into()))?,
    };
    let resource_id = match opt_str(d, "detail", "resourceId")? {
        Some(id) => id,
        None => from_qualifier("resourceId")?
            .ok_or_else(|| SourceError::MissingField("detail.resourceId".into()))?,
    };
    let rule = match opt_str(d, "detail", "configRuleName")? {
        Some(r) => r,
        None => from_qualifier("configRuleName")?.unwrap_or(""),
    };
    Ok((resource_type, resource_id, rule))
}

/// What a compliance change says, and the Config id when it is not CloudFormation's.
fn compliance_request(
    rule: &str,
    compliance: &str,
    old_compliance: Option<&str>,
    annotation: Option<&str>,
    config_resource_id: Option<&str>,
) -> Value {
    let mut request = json!({
        "configRuleName": rule,
        "complianceType": compliance,
        "previousComplianceType": old_compliance,
        "annotation": annotation,
    });
    if let Some(id) = config_resource_id {
        request["configResourceId"] = json!(id);
    }
    request
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::sources::{parse_event, CONFIG_COMPLIANCE_CHANGE, CONFIG_ITEM_CHANGE};

    fn envelope(detail_type: &str, detail: Value) -> Value {
        json!({
            "version": "0", "id": "0b2a1c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d",
            "detail-type": detail_type, "source": "aws.config",
            "account": "123456789012", "time": "2026-03-14T09:30:00Z",
            "region": "us-east-1", "resources": [], "detail": detail
        })
    }

    fn item(resource_type: &str, id: &str, name: &str, status: &str) -> Value {
        json!({
            "recordVersion": "1.3",
            "messageType": "ConfigurationItemChangeNotification",
            "configurationItemDiff": {
                "changedProperties": {"Configuration.IpPermissions.1": {"changeType": "CREATE"}},
                "changeType": "UPDATE"
            },
            "configurationItem": {
                "configurationItemCaptureTime": "2026-03-14T09:28:00.000Z",
                "awsAccountId": "123456789012",
                "configurationItemStatus": status,
                "resourceType": resource_type,
                "resourceId": id,
                "resourceName": name,
                "ARN": format!("arn:aws:x:::{id}"),
                "awsRegion": "us-east-1"
            }
        })
    }

    #[test]
    fn item_change_is_a_change_without_identity() {
        let o = parse_event(&envelope(
            CONFIG_ITEM_CHANGE,
            item("AWS::EC2::SecurityGroup", "sg-1", "web", "OK"),
        ))
        .unwrap();
        let Observation::Change(c) = o else { panic!() };
        assert_eq!(c.source, ChangeSource::ConfigItem);
        assert_eq!(c.api(), "config:UPDATE");
        assert_eq!(c.resource.physical_id.as_deref(), Some("sg-1"));
        assert_eq!(c.event_id, "0b2a1c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d");
        assert_eq!(c.time.to_rfc3339(), "2026-03-14T09:28:00+00:00");
        assert_eq!(c.identity, Identity::default());
        assert!(c.request["changedProperties"].is_object());
    }

    #[test]
    fn iam_roles_use_the_resource_name() {
        let o = parse_event(&envelope(
            CONFIG_ITEM_CHANGE,
            item("AWS::IAM::Role", "AROAEXAMPLEID", "app-role", "OK"),
        ))
        .unwrap();
        let Observation::Change(c) = o else { panic!() };
        assert_eq!(c.resource.physical_id.as_deref(), Some("app-role"));
    }

    #[test]
    fn physical_ids_per_type() {
        let p = |t, id, name| {
            config_physical_id(
                t,
                id,
                name,
                Some("arn:aws:iam::1:policy/p"),
                "us-east-1",
                "123456789012",
            )
        };
        assert_eq!(
            p("AWS::RDS::DBInstance", "db-ABC", Some("orders-db")).as_deref(),
            Some("orders-db")
        );
        assert_eq!(
            p("AWS::IAM::ManagedPolicy", "ANPA1", Some("p")).as_deref(),
            Some("arn:aws:iam::1:policy/p")
        );
        assert_eq!(
            p("AWS::SQS::Queue", "orders", None).as_deref(),
            Some("https://sqs.us-east-1.amazonaws.com/123456789012/orders")
        );
        assert_eq!(p("AWS::S3::Bucket", "b", Some("b")).as_deref(), Some("b"));
    }

    #[test]
    fn a_unique_id_is_never_a_physical_id() {
        let p = |t, id, name, arn| config_physical_id(t, id, name, arn, "us-east-1", "1");
        let role_arn = Some("arn:aws:iam::1:role/service-role/app-role");
        // The name, else the ARN's last segment (IAM paths are not part of the name).
        assert_eq!(
            p("AWS::IAM::Role", "AROA1", None, role_arn).as_deref(),
            Some("app-role")
        );
        assert_eq!(
            p(
                "AWS::IAM::User",
                "AIDA1",
                None,
                Some("arn:aws:iam::1:user/ops/bob")
            )
            .as_deref(),
            Some("bob")
        );
        assert_eq!(
            p(
                "AWS::RDS::DBInstance",
                "db-ABC",
                None,
                Some("arn:aws:rds:r:1:db:orders-db")
            )
            .as_deref(),
            Some("orders-db")
        );
        for t in [
            "AWS::IAM::Role",
            "AWS::IAM::User",
            "AWS::IAM::Group",
            "AWS::IAM::Policy",
            "AWS::RDS::DBInstance",
            "AWS::RDS::DBCluster",
        ] {
            assert_eq!(p(t, "AROA1", None, None), None, "{t}");
            assert_eq!(p(t, "AROA1", Some(""), Some("")), None, "{t}");
        }
    }

    #[test]
    fn a_compliance_change_on_a_role_builds_no_arn_from_its_unique_id() {
        let mut d = compliance("NON_COMPLIANT");
        d["resourceType"] = json!("AWS::IAM::Role");
        d["resourceId"] = json!("AROAEXAMPLEID");
        let Observation::Change(c) = parse_event(&envelope(CONFIG_COMPLIANCE_CHANGE, d)).unwrap()
        else {
            panic!()
        };
        // Looked up by Config's id (no stack names a role by it: unmanaged), never
        // an unresolved change with a ticket per compliance flip; no ARN from it.
        assert_eq!(c.resource.physical_id.as_deref(), Some("AROAEXAMPLEID"));
        assert_eq!(c.resource.arn, None);
        assert_eq!(c.request["configResourceId"], "AROAEXAMPLEID");
        // Other types keep Config's id, and say nothing more.
        let Observation::Change(c) = parse_event(&envelope(
            CONFIG_COMPLIANCE_CHANGE,
            compliance("NON_COMPLIANT"),
        ))
        .unwrap() else {
            panic!()
        };
        assert!(c.request.get("configResourceId").is_none());
    }

    #[test]
    fn not_recorded_statuses_are_not_changes() {
        for status in NOT_RECORDED {
            let o = parse_event(&envelope(
                CONFIG_ITEM_CHANGE,
                item("AWS::S3::Bucket", "b", "b", status),
            ))
            .unwrap();
            assert!(
                matches!(
                    o,
                    Observation::NotAChange {
                        reason: NotAChange::NotRecorded,
                        ..
                    }
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn oversized_items_are_changes_with_an_s3_pointer() {
        let detail = json!({
            "messageType": "OversizedConfigurationItemChangeNotification",
            "configurationItemSummary": {
                "changeType": "UPDATE", "configurationItemCaptureTime": "2026-03-14T09:28:00.000Z",
                "awsAccountId": "123456789012", "configurationItemStatus": "OK",
                "resourceType": "AWS::EC2::Instance", "resourceId": "i-0123456789abcdef0",
                "resourceName": null, "awsRegion": "us-east-1"
            },
            "s3DeliverySummary": {"s3BucketLocation": "config-bucket/AWSLogs/123456789012/Config/x.json.gz"}
        });
        let Observation::Change(c) = parse_event(&envelope(CONFIG_ITEM_CHANGE, detail)).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            c.resource.physical_id.as_deref(),
            Some("i-0123456789abcdef0")
        );
        assert_eq!(c.request["oversized"], true);
        assert!(c.request["s3BucketLocation"]
            .as_str()
            .unwrap()
            .starts_with("config-bucket/"));
    }

    #[test]
    fn item_errors_name_the_field() {
        let err =
            parse_event(&envelope(CONFIG_ITEM_CHANGE, json!({"messageType": "x"}))).unwrap_err();
        assert_eq!(err.field(), Some("detail.configurationItem"));
        let mut d = item("AWS::S3::Bucket", "b", "b", "OK");
        d["configurationItem"]["resourceType"] = json!(3);
        let err = parse_event(&envelope(CONFIG_ITEM_CHANGE, d)).unwrap_err();
        assert_eq!(err.field(), Some("detail.configurationItem.resourceType"));
    }

    fn compliance(kind: &str) -> Value {
        json!({
            "resourceId": "sg-0a1b2c3d4e5f67890", "awsRegion": "us-east-1", "awsAccountId": "123456789012",
            "configRuleName": "restricted-ssh", "recordVersion": "1.0",
            "configRuleARN": "arn:aws:config:us-east-1:123456789012:config-rule/config-rule-abc123",
            "messageType": "ComplianceChangeNotification",
            "newEvaluationResult": {
                "evaluationResultIdentifier": {"evaluationResultQualifier": {
                    "configRuleName": "restricted-ssh", "resourceType": "AWS::EC2::SecurityGroup",
                    "resourceId": "sg-0a1b2c3d4e5f67890"}, "orderingTimestamp": "2026-03-14T09:29:00.000Z"},
                "complianceType": kind, "resultRecordedTime": "2026-03-14T09:29:10.000Z",
                "configRuleInvokedTime": "2026-03-14T09:29:05.000Z"
            },
            "oldEvaluationResult": {"complianceType": "COMPLIANT"},
            "notificationCreationTime": "2026-03-14T09:29:11.000Z",
            "resourceType": "AWS::EC2::SecurityGroup"
        })
    }

    #[test]
    fn non_compliant_is_a_change_compliant_is_not() {
        let Observation::Change(c) = parse_event(&envelope(
            CONFIG_COMPLIANCE_CHANGE,
            compliance("NON_COMPLIANT"),
        ))
        .unwrap() else {
            panic!()
        };
        assert_eq!(c.source, ChangeSource::ConfigCompliance);
        assert_eq!(
            c.resource.resource_type.as_deref(),
            Some("AWS::EC2::SecurityGroup")
        );
        assert_eq!(c.request["configRuleName"], "restricted-ssh");
        assert_eq!(c.operation, "ComplianceChange:restricted-ssh");
        for kind in ["COMPLIANT", "NOT_APPLICABLE", "INSUFFICIENT_DATA"] {
            let o = parse_event(&envelope(CONFIG_COMPLIANCE_CHANGE, compliance(kind))).unwrap();
            assert!(
                matches!(
                    o,
                    Observation::NotAChange {
                        reason: NotAChange::NoDrift,
                        ..
                    }
                ),
                "{kind}"
            );
        }
    }

    #[test]
    fn compliance_falls_back_to_the_qualifier() {
        let mut d = compliance("NON_COMPLIANT");
        let m = d.as_object_mut().unwrap();
        m.remove("resourceType");
        m.remove("resourceId");
        let Observation::Change(c) = parse_event(&envelope(CONFIG_COMPLIANCE_CHANGE, d)).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            c.resource.physical_id.as_deref(),
            Some("sg-0a1b2c3d4e5f67890")
        );

        let mut d = compliance("NON_COMPLIANT");
        d["newEvaluationResult"]["complianceType"] = json!(false);
        let err = parse_event(&envelope(CONFIG_COMPLIANCE_CHANGE, d)).unwrap_err();
        assert_eq!(
            err.field(),
            Some("detail.newEvaluationResult.complianceType")
        );
    }
}
