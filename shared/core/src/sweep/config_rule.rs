//! The AWS Config custom rule: "a CloudFormation-managed resource is in sync
//! with its stack". Evaluations go back with `PutEvaluations`.
//!
//! - Configuration-change triggers (`ConfigurationItemChangeNotification`,
//!   `OversizedConfigurationItemChangeNotification`): ownership
//!   ([`StackCatalog::owner_of`]), then `DetectStackResourceDrift` on the one
//!   resource; open driftguard tickets stand in when detection is unsupported.
//!   COMPLIANT (IN_SYNC), NON_COMPLIANT (MODIFIED/DELETED, annotation naming the
//!   property paths), NOT_APPLICABLE (unmanaged, deleted, out of scope, or
//!   nothing checkable and no open ticket: never "compliant" unchecked).
//! - Periodic triggers (`ScheduledNotification`): from the tickets: NON_COMPLIANT
//!   per resource with an open ticket, COMPLIANT for recently resolved ones.
//!
//! OrderingTimestamp is the item's `configurationItemCaptureTime` (periodic:
//! `notificationCreationTime`); the result token is passed through; at most 100
//! evaluations per call; `TESTMODE` as result token sets `TestMode`.
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::event::config::ConfigEvent;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::ports::config_rule::{
    Compliance, ConfigIdKind, ConfigIdResolver, Evaluation, EvaluationSink,
};
use crate::ports::{Clock, DriftDetector, StackCatalog, TicketStore};
use crate::resilience::{retry, RetryPolicy};
use driftguard_model::domain::{
    Drift, DriftStatus, Fingerprint, Ownership, ResourceRef, StackMembership, Ticket, TicketState,
};
use driftguard_model::error::{PortError, PortResult};

use super::orchestrator::account_region_of;

pub const TEST_MODE_TOKEN: &str = "TESTMODE";
/// `Evaluation.Annotation` is at most 256 characters.
pub const MAX_ANNOTATION_CHARS: usize = 256;
/// `PutEvaluations` takes at most 100 evaluations per call.
pub const MAX_EVALUATIONS_PER_CALL: usize = 100;
/// Resolved tickets reported COMPLIANT by periodic runs (older ones were reported before).
pub const RESOLVED_LOOKBACK_DAYS: i64 = 7;

impl Evaluation {
    fn new(item: &ItemRef, compliance: Compliance, annotation: &str, at: DateTime<Utc>) -> Self {
        Self {
            resource_type: item.resource_type.clone(),
            resource_id: item.resource_id.clone(),
            compliance,
            annotation: truncate_annotation(annotation),
            ordering_timestamp: at,
        }
    }
}

/// The [`ConfigIdKind`] of a CloudFormation resource type; `None`: Config uses the
/// physical id (security groups, buckets, ...).
pub fn config_id_kind(cfn_type: &str) -> Option<ConfigIdKind> {
    match cfn_type {
        "AWS::IAM::Role" => Some(ConfigIdKind::IamRoleId),
        "AWS::IAM::User" => Some(ConfigIdKind::IamUserId),
        "AWS::IAM::ManagedPolicy" => Some(ConfigIdKind::IamPolicyId),
        "AWS::RDS::DBInstance" => Some(ConfigIdKind::RdsDbiResourceId),
        _ => None,
    }
}

/// Config's resource type for a CloudFormation type: a customer managed policy is
/// `AWS::IAM::ManagedPolicy` in CloudFormation and `AWS::IAM::Policy` in Config
/// (<https://docs.aws.amazon.com/config/latest/developerguide/resource-config-reference.html>).
pub fn config_resource_type(cfn_type: &str) -> &str {
    match cfn_type {
        "AWS::IAM::ManagedPolicy" => "AWS::IAM::Policy",
        other => other,
    }
}

/// A fixed table (tests, offline replay).
#[derive(Debug, Default)]
pub struct StaticConfigIds(pub BTreeMap<(ConfigIdKind, String), String>);

#[async_trait]
impl ConfigIdResolver for StaticConfigIds {
    async fn config_resource_id(
        &self,
        kind: ConfigIdKind,
        physical_id: &str,
    ) -> PortResult<Option<String>> {
        Ok(self.0.get(&(kind, physical_id.to_string())).cloned())
    }
}

/// At most 256 characters, cut on a character boundary, marked with `…`.
pub fn truncate_annotation(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() <= MAX_ANNOTATION_CHARS {
        return s.to_string();
    }
    let mut out: String = s.chars().take(MAX_ANNOTATION_CHARS - 1).collect();
    out.push('…');
    out
}

/// The resource a configuration item names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRef {
    pub resource_type: String,
    pub resource_id: String,
    pub resource_name: Option<String>,
    pub arn: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    /// `configurationItemStatus`: OK, ResourceDiscovered, ResourceDeleted, ...
    pub status: Option<String>,
    pub capture_time: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    ItemChange {
        item: ItemRef,
        left_scope: bool,
        oversized: bool,
    },
    Periodic {
        notification_time: DateTime<Utc>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigRuleError {
    #[error("malformed Config rule event: {0}")]
    Malformed(String),
    #[error("unsupported invokingEvent messageType {0:?}")]
    UnsupportedMessageType(String),
    #[error("{step} failed: {source}")]
    Port {
        step: &'static str,
        #[source]
        source: PortError,
    },
}

fn field<'a>(v: &'a Value, path: &str) -> Result<&'a str, ConfigRuleError> {
    let mut cur = v;
    for part in path.split('.').skip(1) {
        cur = cur
            .get(part)
            .ok_or_else(|| ConfigRuleError::Malformed(format!("{path} is missing")))?;
    }
    cur.as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ConfigRuleError::Malformed(format!("{path} is not a non-empty string")))
}

fn time_field(v: &Value, path: &str) -> Result<DateTime<Utc>, ConfigRuleError> {
    let text = field(v, path)?;
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| ConfigRuleError::Malformed(format!("{path}={text:?}: {e}")))
}

/// The rule event → what to evaluate. Names the missing field.
pub fn parse_invocation(event: &ConfigEvent) -> Result<Invocation, ConfigRuleError> {
    let raw = event
        .invoking_event
        .as_deref()
        .ok_or_else(|| ConfigRuleError::Malformed("invokingEvent is missing".into()))?;
    let inv: Value = serde_json::from_str(raw)
        .map_err(|e| ConfigRuleError::Malformed(format!("invokingEvent is not JSON: {e}")))?;
    let message_type = field(&inv, "invokingEvent.messageType")?;
    let item_key = match message_type {
        "ScheduledNotification" => {
            return Ok(Invocation::Periodic {
                notification_time: time_field(&inv, "invokingEvent.notificationCreationTime")?,
            })
        }
        "ConfigurationItemChangeNotification" => "configurationItem",
        "OversizedConfigurationItemChangeNotification" => "configurationItemSummary",
        other => return Err(ConfigRuleError::UnsupportedMessageType(other.to_string())),
    };
    let p = |name: &str| format!("invokingEvent.{item_key}.{name}");
    let optional = |name: &str| field(&inv, &p(name)).ok().map(str::to_string);
    let item = ItemRef {
        resource_type: field(&inv, &p("resourceType"))?.to_string(),
        resource_id: field(&inv, &p("resourceId"))?.to_string(),
        resource_name: optional("resourceName"),
        arn: optional("ARN"),
        account: optional("awsAccountId"),
        region: optional("awsRegion"),
        status: optional("configurationItemStatus"),
        capture_time: time_field(&inv, &p("configurationItemCaptureTime"))?,
    };
    Ok(Invocation::ItemChange {
        item,
        left_scope: event.event_left_scope,
        oversized: item_key == "configurationItemSummary",
    })
}

/// "MODIFIED: /A, /B/0" from CloudFormation's differences.
pub fn drift_annotation(status: DriftStatus, paths: &[&str], whose: &str) -> String {
    match status {
        DriftStatus::Deleted => {
            format!("DELETED: {whose} no longer exists as the template declares it")
        }
        _ if paths.is_empty() => {
            format!("{} ({whose}): no property paths reported", status.as_str())
        }
        _ => format!("{} ({whose}): {}", status.as_str(), paths.join(", ")),
    }
}

fn open_like(state: TicketState) -> bool {
    matches!(
        state,
        TicketState::Open
            | TicketState::AwaitingApproval
            | TicketState::Remediating
            | TicketState::Failed
    )
}

fn ticket_paths(t: &Ticket) -> Vec<String> {
    t.drift
        .as_ref()
        .or(t.event_drift.as_ref())
        .map(|d| d.property_paths().into_iter().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Pure: NOT_APPLICABLE for an item out of the rule's scope or deleted.
fn out_of_scope(item: &ItemRef, left_scope: bool) -> Option<Evaluation> {
    let why = if left_scope {
        "the resource left the rule's scope"
    } else if item
        .status
        .as_deref()
        .is_some_and(|s| s.starts_with("ResourceDeleted"))
    {
        "the resource was deleted"
    } else {
        return None;
    };
    Some(Evaluation::new(
        item,
        Compliance::NotApplicable,
        why,
        item.capture_time,
    ))
}

/// Pure: NOT_APPLICABLE for an item no stack is proven to own.
fn not_owned(item: &ItemRef, ownership: &Ownership) -> Evaluation {
    let why = match ownership {
        Ownership::Unmanaged => "not managed by a CloudFormation stack".to_string(),
        other => format!("stack ownership not established: {}", other.label()),
    };
    Evaluation::new(item, Compliance::NotApplicable, &why, item.capture_time)
}

/// Pure: what drift detection says of the item (`Ok(Ok)`), or why it could
/// not tell (`Ok(Err)`, the tickets then stand in); a retryable failure
/// fails the invocation.
fn drift_evaluation(
    item: &ItemRef,
    drift: PortResult<Drift>,
    whose: &str,
) -> Result<Result<Evaluation, String>, ConfigRuleError> {
    let at = item.capture_time;
    Ok(match drift {
        Ok(d) if d.status == DriftStatus::InSync => Ok(Evaluation::new(
            item,
            Compliance::Compliant,
            &format!("IN_SYNC with stack {whose} (CloudFormation drift detection)"),
            at,
        )),
        Ok(d) if d.status.is_drifted() => Ok(Evaluation::new(
            item,
            Compliance::NonCompliant,
            &drift_annotation(d.status, &d.property_paths(), whose),
            at,
        )),
        Ok(d) => Err(format!("drift detection reported {}", d.status.as_str())),
        Err(e) if e.is_retryable() => {
            return Err(ConfigRuleError::Port {
                step: "DetectStackResourceDrift",
                source: e,
            })
        }
        // Its own outcome (CloudFormation's UNSUPPORTED status or an unsupported
        // type), the reason kept. Reported NOT_APPLICABLE (or NON_COMPLIANT from
        // an open ticket) on purpose: "For the Evaluation data type, Config
        // supports only the COMPLIANT, NON_COMPLIANT, and NOT_APPLICABLE values"
        // (aws-sdk-config Evaluation; https://docs.aws.amazon.com/config/latest/APIReference/API_Evaluation.html).
        Err(PortError::Unsupported { message, .. }) => Err(format!(
            "drift detection unsupported for {} ({message})",
            item.resource_type
        )),
        Err(e) => Err(format!("drift detection failed ({})", e.class())),
    })
}

/// Pure: the ticket the item's resource would have: the stack's account
/// and region, else the item's (or the event's account).
fn ticket_fingerprint(item: &ItemRef, m: &StackMembership, event: &ConfigEvent) -> Fingerprint {
    let (account, region) = account_region_of(&m.stack_id).unwrap_or_else(|| {
        (
            item.account
                .clone()
                .or_else(|| event.account_id.clone())
                .unwrap_or_default(),
            item.region.clone().unwrap_or_default(),
        )
    });
    Fingerprint {
        account,
        region,
        stack: m.stack_name.clone(),
        logical_id: m.logical_id.clone(),
    }
}

/// Pure: an item drift detection could not check, by driftguard's ticket:
/// NON_COMPLIANT while one is open, NOT_APPLICABLE otherwise.
fn ticket_evaluation(
    item: &ItemRef,
    ticket: Option<Ticket>,
    why_unchecked: &str,
    whose: &str,
) -> Evaluation {
    let at = item.capture_time;
    match ticket.filter(|t| open_like(t.state)) {
        Some(t) => {
            let paths = ticket_paths(&t);
            Evaluation::new(
                item,
                Compliance::NonCompliant,
                &format!(
                    // The display id: the annotation holds 256 characters.
                    "{why_unchecked}; open driftguard ticket {} ({}) for {whose}: {}",
                    t.display_id(),
                    t.state,
                    if paths.is_empty() {
                        "no property paths recorded".to_string()
                    } else {
                        paths.join(", ")
                    }
                ),
                at,
            )
        }
        None => Evaluation::new(
            item,
            Compliance::NotApplicable,
            &format!("{why_unchecked}; no open driftguard ticket for {whose}"),
            at,
        ),
    }
}

/// What one invocation reported.
#[derive(Debug, Clone, Serialize)]
pub struct RuleReport {
    pub trigger: &'static str,
    pub test_mode: bool,
    pub evaluations: Vec<Evaluation>,
    pub calls: usize,
    pub rejected: usize,
}

pub struct ConfigRule {
    pub catalog: Arc<dyn StackCatalog>,
    pub drift: Arc<dyn DriftDetector>,
    pub tickets: Arc<dyn TicketStore>,
    pub sink: Arc<dyn EvaluationSink>,
    pub clock: Arc<dyn Clock>,
    pub retry: RetryPolicy,
    /// Config's ids for periodic evaluations built from tickets.
    pub config_ids: Arc<dyn ConfigIdResolver>,
}

impl ConfigRule {
    pub async fn handle(&self, event: &ConfigEvent) -> Result<RuleReport, ConfigRuleError> {
        let token = event
            .result_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ConfigRuleError::Malformed("resultToken is missing".into()))?;
        let test_mode = token == TEST_MODE_TOKEN;
        let invocation = parse_invocation(event)?;
        let (trigger, evaluations) = match &invocation {
            Invocation::ItemChange {
                item, left_scope, ..
            } => (
                "configuration_change",
                vec![self.evaluate_item(item, *left_scope, event).await?],
            ),
            Invocation::Periodic { notification_time } => (
                "periodic",
                self.evaluate_periodic(*notification_time).await?,
            ),
        };
        let mut calls = 0;
        let mut rejected = 0;
        for batch in evaluations.chunks(MAX_EVALUATIONS_PER_CALL) {
            rejected += retry(&self.retry, "put_evaluations", || {
                self.sink.put_evaluations(token, batch, test_mode)
            })
            .await
            .map_err(|source| ConfigRuleError::Port {
                step: "PutEvaluations",
                source,
            })?;
            calls += 1;
        }
        for e in &evaluations {
            tracing::info!(
                trigger,
                resource_type = %e.resource_type,
                resource_id = %e.resource_id,
                compliance = e.compliance.as_str(),
                annotation = %e.annotation,
                ordering_timestamp = %e.ordering_timestamp,
                test_mode,
                "evaluation"
            );
        }
        if rejected > 0 {
            tracing::warn!(rejected, "AWS Config rejected some evaluations");
        }
        Ok(RuleReport {
            trigger,
            test_mode,
            evaluations,
            calls,
            rejected,
        })
    }

    async fn owner(&self, item: &ItemRef) -> Result<Ownership, ConfigRuleError> {
        // Config's resourceId is not always CloudFormation's physical id (IAM
        // roles: the role id vs. the role name): try the name too.
        let mut ids = vec![item.resource_id.clone()];
        if let Some(n) = item
            .resource_name
            .as_ref()
            .filter(|n| **n != item.resource_id)
        {
            ids.push(n.clone());
        }
        let mut last = Ownership::Unmanaged;
        for id in ids {
            let mut r = ResourceRef::new(&item.resource_type, id);
            r.arn = item.arn.clone();
            let found = retry(&self.retry, "owner_of", || self.catalog.owner_of(&r)).await;
            match found {
                Ok(o @ Ownership::Managed(_)) => return Ok(o),
                Ok(o) => last = o,
                Err(e) if e.is_retryable() => {
                    return Err(ConfigRuleError::Port {
                        step: "resolve ownership",
                        source: e,
                    })
                }
                Err(e) => {
                    last = Ownership::Unknown {
                        reason: e.to_string(),
                    }
                }
            }
        }
        Ok(last)
    }

    /// A configuration change: out of scope or deleted, not managed, or
    /// the drift of its stack's resource; where drift detection cannot
    /// tell, driftguard's open ticket for it.
    async fn evaluate_item(
        &self,
        item: &ItemRef,
        left_scope: bool,
        event: &ConfigEvent,
    ) -> Result<Evaluation, ConfigRuleError> {
        if let Some(e) = out_of_scope(item, left_scope) {
            return Ok(e);
        }
        let m = match self.owner(item).await? {
            Ownership::Managed(m) => m,
            other => return Ok(not_owned(item, &other)),
        };
        let whose = format!("{}/{}", m.stack_name, m.logical_id);
        let why_unchecked = if m.operation_in_progress() {
            format!(
                "stack operation in progress ({}): drift not checked",
                m.stack_status
            )
        } else {
            let drift = retry(&self.retry, "detect_drift", || {
                self.drift
                    .detect_resource_drift(&m.stack_name, &m.logical_id)
            })
            .await;
            match drift_evaluation(item, drift, &whose)? {
                Ok(e) => return Ok(e),
                Err(why) => why,
            }
        };
        // Fallback: what driftguard already knows from its tickets.
        let id = ticket_fingerprint(item, &m, event).ticket_id();
        let ticket = retry(&self.retry, "get_ticket", || self.tickets.get_ticket(&id))
            .await
            .map_err(|source| ConfigRuleError::Port {
                step: "read ticket",
                source,
            })?;
        Ok(ticket_evaluation(item, ticket, &why_unchecked, &whose))
    }

    /// (Config resource type, Config resource id) of a ticket's resource; `None`
    /// when it cannot be named the way Config does (an evaluation on the physical
    /// id would land on no resource, or on the wrong one).
    async fn config_key(
        &self,
        ticket_id: &str,
        cfn_type: &str,
        physical_id: &str,
    ) -> Result<Option<(String, String)>, ConfigRuleError> {
        let config_type = config_resource_type(cfn_type).to_string();
        let Some(kind) = config_id_kind(cfn_type) else {
            return Ok(Some((config_type, physical_id.to_string())));
        };
        let found = retry(&self.retry, "config_resource_id", || {
            self.config_ids.config_resource_id(kind, physical_id)
        })
        .await;
        match found {
            Ok(Some(id)) => Ok(Some((config_type, id))),
            Ok(None) => {
                tracing::info!(
                    ticket_id,
                    physical_id,
                    ?kind,
                    "resource gone: no Config id, not reported"
                );
                Ok(None)
            }
            Err(e) if e.is_retryable() => Err(ConfigRuleError::Port {
                step: "resolve the Config resource id",
                source: e,
            }),
            Err(e) => {
                tracing::warn!(ticket_id, physical_id, ?kind, error = %e, "Config resource id not resolved: not reported");
                Ok(None)
            }
        }
    }

    async fn evaluate_periodic(
        &self,
        at: DateTime<Utc>,
    ) -> Result<Vec<Evaluation>, ConfigRuleError> {
        let mut by_resource: BTreeMap<(String, String), Evaluation> = BTreeMap::new();
        let since = self.clock.now() - chrono::Duration::days(RESOLVED_LOOKBACK_DAYS);
        let states = [
            TicketState::Open,
            TicketState::AwaitingApproval,
            TicketState::Remediating,
            TicketState::Failed,
            TicketState::Resolved,
        ];
        for state in states {
            let tickets = retry(&self.retry, "list_tickets", || {
                self.tickets.list_tickets(Some(state))
            })
            .await
            .map_err(|source| ConfigRuleError::Port {
                step: "list tickets",
                source,
            })?;
            for t in tickets {
                let (Some(rt), Some(id)) = (
                    t.resource.resource_type.clone().filter(|s| !s.is_empty()),
                    t.resource.physical_id.clone().filter(|s| !s.is_empty()),
                ) else {
                    tracing::debug!(ticket_id = %t.id, "ticket without resource type or id: not reported");
                    continue;
                };
                let open = open_like(t.state);
                if !open && t.updated_at < since {
                    continue;
                }
                let Some((rt, id)) = self.config_key(&t.id, &rt, &id).await? else {
                    continue;
                };
                let key = (rt.clone(), id.clone());
                if !open && by_resource.contains_key(&key) {
                    continue;
                }
                let annotation = if open {
                    let paths = ticket_paths(&t);
                    format!(
                        "open driftguard ticket {} ({}) for {}/{}{}",
                        t.id,
                        t.state,
                        t.fingerprint.stack,
                        t.fingerprint.logical_id,
                        if paths.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", paths.join(", "))
                        }
                    )
                } else {
                    format!("driftguard ticket {} resolved at {}", t.id, t.updated_at)
                };
                let evaluation = Evaluation {
                    resource_type: rt,
                    resource_id: id,
                    compliance: if open {
                        Compliance::NonCompliant
                    } else {
                        Compliance::Compliant
                    },
                    annotation: truncate_annotation(&annotation),
                    ordering_timestamp: at,
                };
                match by_resource.get(&key) {
                    // Several open tickets on one resource: the first stays.
                    Some(existing) if existing.compliance == Compliance::NonCompliant => {}
                    _ => {
                        by_resource.insert(key, evaluation);
                    }
                }
            }
        }
        Ok(by_resource.into_values().collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::Mutex;

    use chrono::TimeZone;

    use crate::memory::catalog::{MemoryDriftDetector, MemoryStackCatalog};
    use crate::memory::{FixedClock, MemoryTicketStore};
    use driftguard_model::domain::DifferenceKind;
    use driftguard_model::domain::{Change, ChangeSource, Drift, DriftOrigin, PropertyDifference};
    use driftguard_model::testing;

    const ITEM_CHANGE: &str =
        include_str!("../../../../events/config-rule/item-change-security-group.json");
    const DELETED: &str =
        include_str!("../../../../events/config-rule/item-change-resource-deleted.json");
    const OVERSIZED: &str =
        include_str!("../../../../events/config-rule/oversized-item-change-bucket.json");
    const SCHEDULED: &str =
        include_str!("../../../../events/config-rule/scheduled-notification.json");
    const SG: &str = "sg-0123456789abcdef0";
    const TOKEN: &str = "eyJlbmNyeXB0ZWREYXRhIjpbLTEyOCw1Nyw4NF19";

    fn event(text: &str) -> ConfigEvent {
        serde_json::from_str(text).unwrap()
    }

    /// Records what would be sent.
    #[derive(Default)]
    struct RecordingSink(Mutex<Vec<(String, Vec<Evaluation>, bool)>>);

    #[async_trait]
    impl EvaluationSink for RecordingSink {
        async fn put_evaluations(
            &self,
            token: &str,
            evaluations: &[Evaluation],
            test_mode: bool,
        ) -> PortResult<usize> {
            self.0
                .lock()
                .unwrap()
                .push((token.into(), evaluations.to_vec(), test_mode));
            Ok(0)
        }
    }

    struct H {
        drift: Arc<MemoryDriftDetector>,
        tickets: Arc<MemoryTicketStore>,
        sink: Arc<RecordingSink>,
        rule: ConfigRule,
    }

    fn h() -> H {
        let catalog = Arc::new(MemoryStackCatalog::new());
        catalog.add_stack("orders-service", "UPDATE_COMPLETE");
        catalog.add_resource(
            "orders-service",
            "WebSecurityGroup",
            "AWS::EC2::SecurityGroup",
            SG,
        );
        catalog.add_resource(
            "orders-service",
            "Assets",
            "AWS::S3::Bucket",
            "orders-service-assets-1a2b3c4d",
        );
        let drift = Arc::new(MemoryDriftDetector::new());
        let tickets = Arc::new(MemoryTicketStore::new());
        let sink = Arc::new(RecordingSink::default());
        let rule = ConfigRule {
            catalog,
            drift: drift.clone(),
            tickets: tickets.clone(),
            sink: sink.clone(),
            clock: Arc::new(FixedClock::new(
                Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap(),
            )),
            retry: RetryPolicy::quick(),
            config_ids: Arc::new(StaticConfigIds(BTreeMap::from([(
                (ConfigIdKind::IamRoleId, "orders-AppRole-1X2Y".to_string()),
                "AROAEXAMPLEROLEID0001".to_string(),
            )]))),
        };
        H {
            drift,
            tickets,
            sink,
            rule,
        }
    }

    fn modified(paths: &[&str]) -> Drift {
        Drift {
            status: DriftStatus::Modified,
            differences: paths
                .iter()
                .map(|p| PropertyDifference {
                    path: p.to_string(),
                    expected: None,
                    actual: None,
                    kind: DifferenceKind::NotEqual,
                })
                .collect(),
            expected_properties: None,
            actual_properties: None,
            origin: DriftOrigin::Cloudformation,
            detected_at: None,
        }
    }

    fn ticket_for(stack: &str, logical: &str, rt: &str, id: &str, state: TicketState) -> Ticket {
        let change = Change {
            event_id: format!("ev-{id}"),
            time: Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap(),
            source: ChangeSource::Sweep,
            ..testing::changes::change(
                "cloudformation",
                "DetectStackDrift",
                ResourceRef::new(rt, id),
            )
        };
        let fp = testing::tickets::fingerprint(stack, logical);
        let mut t = Ticket::new(fp, &change, &Ownership::Unmanaged, change.time);
        t.state = state;
        t.version = 1;
        t.drift = Some(modified(&["/SecurityGroupIngress/1"]));
        t
    }

    #[test]
    fn parses_every_fixture() {
        let Invocation::ItemChange {
            item,
            left_scope,
            oversized,
        } = parse_invocation(&event(ITEM_CHANGE)).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (item.resource_type.as_str(), item.resource_id.as_str()),
            ("AWS::EC2::SecurityGroup", SG)
        );
        assert_eq!(
            item.capture_time.to_rfc3339(),
            "2026-03-02T10:15:42.118+00:00"
        );
        assert!(!left_scope && !oversized);
        let Invocation::ItemChange {
            item, left_scope, ..
        } = parse_invocation(&event(DELETED)).unwrap()
        else {
            panic!()
        };
        assert!(left_scope);
        assert_eq!(item.status.as_deref(), Some("ResourceDeleted"));
        let Invocation::ItemChange {
            item, oversized, ..
        } = parse_invocation(&event(OVERSIZED)).unwrap()
        else {
            panic!()
        };
        assert!(oversized);
        assert_eq!(item.resource_type, "AWS::S3::Bucket");
        assert!(matches!(
            parse_invocation(&event(SCHEDULED)).unwrap(),
            Invocation::Periodic { .. }
        ));
        let mut bad = event(ITEM_CHANGE);
        bad.invoking_event = Some(r#"{"messageType":"ConfigurationItemChangeNotification","configurationItem":{"resourceId":"x"}}"#.into());
        let e = parse_invocation(&bad).unwrap_err().to_string();
        assert!(e.contains("configurationItem.resourceType"), "{e}");
    }

    #[test]
    fn annotations_are_cut_on_a_char_boundary() {
        let long = "é".repeat(300);
        let cut = truncate_annotation(&long);
        assert_eq!(cut.chars().count(), MAX_ANNOTATION_CHARS);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate_annotation("short"), "short");
        let exact = "x".repeat(256);
        assert_eq!(truncate_annotation(&exact), exact);
    }

    #[tokio::test]
    async fn drifted_managed_resource_is_non_compliant_naming_the_paths() {
        let h = h();
        h.drift.set(
            "orders-service",
            "WebSecurityGroup",
            Ok(modified(&["/SecurityGroupIngress/1", "/Tags/0/Value"])),
        );
        let r = h.rule.handle(&event(ITEM_CHANGE)).await.unwrap();
        assert_eq!(r.calls, 1);
        let sent = h.sink.0.lock().unwrap();
        let (token, evals, test_mode) = &sent[0];
        assert_eq!(token, TOKEN);
        assert!(!test_mode);
        let e = &evals[0];
        assert_eq!(e.compliance, Compliance::NonCompliant);
        assert_eq!(e.resource_id, SG);
        assert!(
            e.annotation
                .contains("/SecurityGroupIngress/1, /Tags/0/Value"),
            "{}",
            e.annotation
        );
        assert_eq!(
            e.ordering_timestamp.to_rfc3339(),
            "2026-03-02T10:15:42.118+00:00"
        );
    }

    #[tokio::test]
    async fn in_sync_is_compliant_and_many_paths_stay_within_256_chars() {
        let h = h();
        let mut in_sync = modified(&[]);
        in_sync.status = DriftStatus::InSync;
        h.drift
            .set("orders-service", "WebSecurityGroup", Ok(in_sync));
        let r = h.rule.handle(&event(ITEM_CHANGE)).await.unwrap();
        assert_eq!(r.evaluations[0].compliance, Compliance::Compliant);

        let paths: Vec<String> = (0..40)
            .map(|i| format!("/SecurityGroupIngress/{i}/CidrIp"))
            .collect();
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        h.drift
            .set("orders-service", "WebSecurityGroup", Ok(modified(&refs)));
        let r = h.rule.handle(&event(ITEM_CHANGE)).await.unwrap();
        assert!(r.evaluations[0].annotation.chars().count() <= MAX_ANNOTATION_CHARS);
    }

    #[tokio::test]
    async fn deleted_left_scope_and_unmanaged_are_not_applicable() {
        let h = h();
        let r = h.rule.handle(&event(DELETED)).await.unwrap();
        assert_eq!(r.evaluations[0].compliance, Compliance::NotApplicable);
        let mut ev = event(ITEM_CHANGE);
        ev.invoking_event = ev.invoking_event.map(|s| s.replace(SG, "sg-unmanaged"));
        let r = h.rule.handle(&ev).await.unwrap();
        assert_eq!(r.evaluations[0].compliance, Compliance::NotApplicable);
        assert!(r.evaluations[0].annotation.contains("not managed"));
    }

    #[tokio::test]
    async fn unsupported_detection_falls_back_to_open_tickets() {
        let h = h();
        // No drift answer configured: detection is unsupported.
        let r = h.rule.handle(&event(ITEM_CHANGE)).await.unwrap();
        assert_eq!(
            r.evaluations[0].compliance,
            Compliance::NotApplicable,
            "unchecked is never compliant"
        );
        let t = ticket_for(
            "orders-service",
            "WebSecurityGroup",
            "AWS::EC2::SecurityGroup",
            SG,
            TicketState::Open,
        );
        h.tickets.create_ticket(&t).await.unwrap();
        let r = h.rule.handle(&event(ITEM_CHANGE)).await.unwrap();
        let e = &r.evaluations[0];
        assert_eq!(e.compliance, Compliance::NonCompliant);
        assert!(
            e.annotation.contains(t.display_id())
                && e.annotation.contains("/SecurityGroupIngress/1"),
            "{}",
            e.annotation
        );
    }

    #[tokio::test]
    async fn unsupported_status_keeps_its_reason_in_the_annotation() {
        let h = h();
        h.drift.set(
            "orders-service",
            "WebSecurityGroup",
            Err(PortError::Unsupported {
                service: "cloudformation",
                operation: "DetectStackResourceDrift",
                message: "UNSUPPORTED for orders-service/WebSecurityGroup: not supported".into(),
            }),
        );
        let r = h.rule.handle(&event(ITEM_CHANGE)).await.unwrap();
        let e = &r.evaluations[0];
        assert_eq!(e.compliance, Compliance::NotApplicable);
        assert!(
            e.annotation
                .contains("UNSUPPORTED for orders-service/WebSecurityGroup"),
            "{}",
            e.annotation
        );
    }

    #[tokio::test]
    async fn periodic_evaluations_use_the_ids_and_types_config_uses() {
        let h = h();
        // CloudFormation's physical id of a role is its name; Config's the role id.
        let role = ticket_for(
            "orders",
            "AppRole",
            "AWS::IAM::Role",
            "orders-AppRole-1X2Y",
            TicketState::Open,
        );
        // A managed policy whose id cannot be resolved (deleted): not reported.
        let policy = ticket_for(
            "orders",
            "Policy",
            "AWS::IAM::ManagedPolicy",
            "arn:aws:iam::123456789012:policy/gone",
            TicketState::Open,
        );
        let sg = ticket_for(
            "orders",
            "Sg",
            "AWS::EC2::SecurityGroup",
            SG,
            TicketState::Open,
        );
        for t in [&role, &policy, &sg] {
            h.tickets.create_ticket(t).await.unwrap();
        }
        let r = h.rule.handle(&event(SCHEDULED)).await.unwrap();
        let ids: Vec<(&str, &str)> = r
            .evaluations
            .iter()
            .map(|e| (e.resource_type.as_str(), e.resource_id.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("AWS::EC2::SecurityGroup", SG),
                ("AWS::IAM::Role", "AROAEXAMPLEROLEID0001"),
            ]
        );
    }

    #[test]
    fn config_types_and_id_kinds() {
        assert_eq!(
            config_resource_type("AWS::IAM::ManagedPolicy"),
            "AWS::IAM::Policy"
        );
        assert_eq!(config_resource_type("AWS::S3::Bucket"), "AWS::S3::Bucket");
        assert_eq!(
            config_id_kind("AWS::RDS::DBInstance"),
            Some(ConfigIdKind::RdsDbiResourceId)
        );
        assert_eq!(config_id_kind("AWS::EC2::SecurityGroup"), None);
    }

    #[tokio::test]
    async fn periodic_reports_open_tickets_in_batches_of_100_in_test_mode() {
        let h = h();
        for i in 0..150 {
            let t = ticket_for(
                "app",
                &format!("Sg{i}"),
                "AWS::EC2::SecurityGroup",
                &format!("sg-{i:04}"),
                TicketState::Open,
            );
            h.tickets.create_ticket(&t).await.unwrap();
        }
        let mut resolved = ticket_for(
            "app",
            "Old",
            "AWS::S3::Bucket",
            "old-bucket",
            TicketState::Resolved,
        );
        resolved.updated_at = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        h.tickets.create_ticket(&resolved).await.unwrap();
        let mut ev = event(SCHEDULED);
        ev.result_token = Some(TEST_MODE_TOKEN.into());
        let r = h.rule.handle(&ev).await.unwrap();
        assert_eq!(r.calls, 2);
        let sent = h.sink.0.lock().unwrap();
        assert_eq!(
            sent.iter().map(|(_, e, _)| e.len()).collect::<Vec<_>>(),
            [100, 51]
        );
        assert!(sent
            .iter()
            .all(|(tok, _, test_mode)| tok == TEST_MODE_TOKEN && *test_mode));
        let all: Vec<&Evaluation> = sent.iter().flat_map(|(_, e, _)| e).collect();
        assert_eq!(
            all.iter()
                .filter(|e| e.compliance == Compliance::NonCompliant)
                .count(),
            150
        );
        let old = all.iter().find(|e| e.resource_id == "old-bucket").unwrap();
        assert_eq!(old.compliance, Compliance::Compliant);
        assert!(all
            .iter()
            .all(|e| e.ordering_timestamp.to_rfc3339() == "2026-03-02T00:00:07.311+00:00"));
    }
}
