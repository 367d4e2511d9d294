//! Handler test fixtures: recorded CloudTrail records (events/recorded/) turned
//! into a [`Change`], and a [`PlanInput`] over a small template.
#![allow(clippy::unwrap_used)]
use std::collections::BTreeMap;

use serde_json::Value;

use super::{Handler, Undo};
use crate::remediate::planner::PlanInput;
use crate::remediate::template::{Pseudo, TemplateView};
use driftguard_model::domain::DriftOrigin;
use driftguard_model::domain::{
    policy::Policy, Action, Change, ChangeSource, Drift, DriftStatus, Identity, ResourceRef,
    StackMembership,
};

/// A recorded CloudTrail record's service, operation, request and response,
/// as the CloudTrail source hands them to the planner.
pub(crate) fn recorded(file: &str, resource_type: &str, physical: &str) -> Change {
    let path = format!(
        "{}/../../events/recorded/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let record: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let record = record.get("detail").cloned().unwrap_or(record);
    let source = record["eventSource"].as_str().unwrap();
    Change {
        event_id: record["eventID"].as_str().unwrap_or("ev-1").into(),
        time: "2026-03-01T10:00:00Z".parse().unwrap(),
        account: "123456789012".into(),
        region: "us-east-1".into(),
        source: ChangeSource::Cloudtrail,
        service: source.trim_end_matches(".amazonaws.com").into(),
        operation: record["eventName"].as_str().unwrap().into(),
        resource: ResourceRef::new(resource_type, physical),
        identity: Identity::default(),
        request: record["requestParameters"].clone(),
        response: record["responseElements"].clone(),
        stack_hint: None,
        drift_hint: None,
        unparsed: Vec::new(),
    }
}

/// The template a handler restores from, and the drift CloudFormation reported.
pub(crate) struct Case {
    pub template: Result<TemplateView, String>,
    pub drift: Option<Drift>,
    pub logical_id: String,
}

impl Case {
    pub(crate) fn new(logical_id: &str, template: &str) -> Self {
        Self {
            template: Ok(
                TemplateView::parse(template, BTreeMap::new(), &Pseudo::default()).unwrap(),
            ),
            drift: None,
            logical_id: logical_id.into(),
        }
    }

    /// CloudFormation's expected properties (they win over the template).
    pub(crate) fn expecting(mut self, properties: Value) -> Self {
        self.drift = Some(Drift {
            status: DriftStatus::NotChecked,
            differences: vec![],
            expected_properties: Some(properties),
            actual_properties: None,
            origin: DriftOrigin::Cloudformation,
            detected_at: None,
        });
        self
    }

    pub(crate) fn plan(&self, handler: &Handler, change: &Change) -> Result<Undo, String> {
        let membership = StackMembership {
            stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1".into(),
            stack_name: "app".into(),
            logical_id: self.logical_id.clone(),
            resource_type: change.resource.resource_type.clone(),
            stack_status: "UPDATE_COMPLETE".into(),
            stack_tags: BTreeMap::new(),
            nested: None,
        };
        let policy = Policy::default();
        let input = PlanInput {
            ticket_id: "DG-0123456789ab",
            action: Action::Revert,
            change: Some(change),
            drift: self.drift.as_ref(),
            event_drift: None,
            resource: &change.resource,
            membership: &membership,
            stack_status: "UPDATE_COMPLETE",
            template: self.template.as_ref().map_err(String::as_str),
            stack_resources: &[],
            known_good: &[],
            policy: &policy,
            now: "2026-03-01T10:05:00Z".parse().unwrap(),
        };
        (handler.plan)(&input, change)
    }
}
