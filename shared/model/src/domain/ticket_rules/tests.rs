//! Unit tests of the ticket rules (moved from detect's inline tests).
#![allow(clippy::unwrap_used)]
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::domain::{
    classify_actor, ChangeSource, Identity, Policy, ResourceRef, Severity, Verdict,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap()
}

use crate::domain::tests::console_identity as console;

fn sg_change(event_id: &str, identity: Identity) -> Change {
    Change {
        event_id: event_id.into(),
        time: t0(),
        account: "123456789012".into(),
        region: "us-east-1".into(),
        source: ChangeSource::Cloudtrail,
        service: "ec2".into(),
        operation: "AuthorizeSecurityGroupIngress".into(),
        resource: ResourceRef::new("AWS::EC2::SecurityGroup", "sg-0abc"),
        identity,
        request: json!({"groupId": "sg-0abc", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
        response: serde_json::Value::Null,
        stack_hint: None,
        drift_hint: None,
        unparsed: Vec::new(),
    }
}

#[test]
fn allow_without_a_ticket_writes_nothing_and_closed_tickets_stay_closed() {
    let c = sg_change("e", console());
    let actor = classify_actor(&c.identity, &Policy::default().identities, t0());
    let ownership = Ownership::Unmanaged;
    let fp = Fingerprint::for_change(&c, &ownership);
    let decision = Decision {
        verdict: Verdict {
            action: Action::Allow,
            reason: "x".into(),
            rule: None,
            dry_run: true,
            requires_approval: false,
            severity: Severity::Low,
            capped_from: None,
            environment: None,
        },
        held: None,
    };
    let facts = DecisionFacts {
        change: &c,
        actor: &actor,
        ownership: &ownership,
        drift: None,
        event_drift: None,
        decision: &decision,
        fingerprint: &fp,
    };
    assert_eq!(apply_decision(None, &facts, t0()), TicketUpdate::Nothing);
    let mut closed = Ticket::new(fp.clone(), &c, &ownership, t0());
    closed.state = TicketState::Accepted;
    assert_eq!(
        apply_decision(Some(closed), &facts, t0()),
        TicketUpdate::Nothing
    );
}
