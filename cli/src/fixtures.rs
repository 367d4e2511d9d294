//! Test fixtures shared by the commands' unit tests (`ops`, `report`): a
//! console change opening a security group, and its ticket on `shop-web`.
#![allow(clippy::unwrap_used)]
use chrono::{DateTime, Utc};
use driftguard_model::domain::{
    ChangeSource, Fingerprint, Identity, Ownership, ResourceRef, Ticket,
};
use serde_json::json;

/// `AuthorizeSecurityGroupIngress` on `sg-1` in 123456789012/us-east-1.
pub fn sg_change(event_id: &str, time: DateTime<Utc>) -> driftguard_model::domain::Change {
    driftguard_model::domain::Change {
        event_id: event_id.into(),
        time,
        account: "123456789012".into(),
        region: "us-east-1".into(),
        source: ChangeSource::Cloudtrail,
        service: "ec2".into(),
        operation: "AuthorizeSecurityGroupIngress".into(),
        resource: ResourceRef::new("AWS::EC2::SecurityGroup", "sg-1"),
        identity: Identity::default(),
        request: json!({}),
        response: json!({}),
        stack_hint: None,
        drift_hint: None,
        unparsed: Vec::new(),
    }
}

/// The OPEN ticket of `change` on `shop-web/<logical_id>`, created at the change's time.
pub fn sg_ticket(logical_id: &str, change: &driftguard_model::domain::Change) -> Ticket {
    let fp = Fingerprint {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        stack: "shop-web".into(),
        logical_id: logical_id.into(),
    };
    Ticket::new(fp, change, &Ownership::NotChecked, change.time)
}
