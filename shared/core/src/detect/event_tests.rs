//! detect's entry point (`process_event`): duplicates, concurrent
//! deliveries, failed publishes, malformed and skipped events.
#![allow(clippy::unwrap_used)]
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::json;

use super::test_support::*;
use super::*;
use driftguard_model::domain::{Action, ActorKind};

#[tokio::test]
async fn duplicate_delivery_is_a_no_op() {
    let h = harness();
    let event = cloudtrail_envelope("11111111-2222-3333-4444-555555555555");
    let first = h.pipeline.process_event(&event).await.unwrap();
    let Outcome::Decided(report) = first else {
        panic!("{first:?}")
    };
    assert_eq!(report.actor.kind, ActorKind::Console);
    let second = h.pipeline.process_event(&event).await.unwrap();
    assert!(matches!(second, Outcome::Duplicate { .. }), "{second:?}");
    assert_eq!(h.store.tickets().len(), 1);
    assert_eq!(h.published().len(), 1);
}

#[tokio::test]
async fn twenty_concurrent_deliveries_of_one_event_make_one_ticket_and_one_decision() {
    let h = harness();
    let event = Arc::new(cloudtrail_envelope("ev-concurrent"));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (p, e) = (h.pipeline.clone(), event.clone());
            tokio::spawn(async move { p.process_event(&e).await })
        })
        .collect();
    let mut decided = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            Outcome::Decided(_) => decided += 1,
            Outcome::Duplicate { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(decided, 1);
    assert_eq!(h.store.tickets().len(), 1);
    assert_eq!(h.store.tickets()[0].events_seen, 1);
    assert_eq!(h.published().len(), 1);
}

#[tokio::test]
async fn a_failed_publish_fails_the_event_and_the_retry_republishes() {
    let h = harness();
    h.bus.fail_next.store(1, Ordering::SeqCst);
    let event = cloudtrail_envelope("ev-publish");
    let err = h.pipeline.process_event(&event).await.unwrap_err();
    assert!(err.to_string().contains("publish decision"), "{err}");
    assert_eq!(h.store.tickets().len(), 1, "the ticket was written");
    assert!(h.published().is_empty());

    // Lambda retries: the claim was released, the event is on the ticket already.
    let Outcome::Decided(r) = h.pipeline.process_event(&event).await.unwrap() else {
        panic!()
    };
    let t = r.ticket.unwrap();
    assert_eq!(t.write, TicketWrite::AlreadyRecorded);
    assert!(
        t.state_changed,
        "the retry still reports the ticket as opened"
    );
    assert_eq!(h.published().len(), 1);
    assert_eq!(h.store.tickets()[0].events_seen, 1);
}

#[tokio::test]
async fn malformed_events_fail_naming_the_field() {
    let h = harness();
    let mut event = cloudtrail_envelope("ev-bad");
    event["detail"].as_object_mut().unwrap().remove("eventName");
    let err = h.pipeline.process_event(&event).await.unwrap_err();
    assert!(matches!(err, PipelineError::Malformed(_)));
    assert!(err.to_string().contains("detail.eventName"), "{err}");
    assert!(h
        .pipeline
        .process_event(&json!({"detail": {}}))
        .await
        .unwrap_err()
        .to_string()
        .contains("source"));
}

#[tokio::test]
async fn read_only_and_unsupported_events_are_skipped() {
    let h = harness();
    let mut event = cloudtrail_envelope("ev-ro");
    event["detail"]["eventName"] = json!("DescribeSecurityGroups");
    event["detail"]["readOnly"] = json!(true);
    let o = h.pipeline.process_event(&event).await.unwrap();
    assert!(
        matches!(o, Outcome::Skipped { ref reason, .. } if reason == "read_only"),
        "{o:?}"
    );
    let o = h
        .pipeline
        .process_event(&json!({"source": "aws.s3", "detail-type": "Object Created", "detail": {}}))
        .await
        .unwrap();
    assert!(
        matches!(o, Outcome::Skipped { ref reason, .. } if reason == "unsupported_event"),
        "{o:?}"
    );
}

/// `event` as the raw payload, with the string `"__bad__"` replaced by `bad`
/// (valid JSON `serde_json::Value` refuses).
fn raw_with(event: &serde_json::Value, bad: &str) -> Vec<u8> {
    let bytes = serde_json::to_string(event)
        .unwrap()
        .replace("\"__bad__\"", bad)
        .into_bytes();
    assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_err());
    bytes
}

/// Bad input (issue 33): a request `Value` cannot hold (a lone surrogate
/// escape, a number past f64) is decided on the AWS-set fields, never sent
/// to the DLQ: the group id was in the request, so the resource is unresolved
/// and the verdict a capped ticket that says the request was not read.
#[tokio::test]
async fn an_unreadable_request_is_decided_on_the_rest_of_the_record() {
    for (n, bad) in [r#""\ud800""#, "1e400"].into_iter().enumerate() {
        let h = harness();
        let mut event = cloudtrail_envelope(&format!("ev-bad-request-{n}"));
        event["detail"]["requestParameters"]["description"] = json!("__bad__");
        let o = h
            .pipeline
            .process_raw_until(&raw_with(&event, bad), None)
            .await
            .unwrap();
        let Outcome::Decided(report) = o else {
            panic!("{o:?}")
        };
        assert_eq!(report.event_id, format!("ev-bad-request-{n}"));
        assert_eq!(report.actor.kind, ActorKind::Console);
        assert_eq!(report.resource, "AWS::EC2::SecurityGroup (unresolved)");
        assert_eq!(report.decision.verdict.action, Action::Ticket, "{bad}");
        let tickets = h.store.tickets();
        let [ticket] = tickets.as_slice() else {
            panic!("{tickets:?}")
        };
        let change = ticket.last_change.as_ref().unwrap();
        assert_eq!(change.request, serde_json::Value::Null);
        assert!(
            change.unparsed[0].starts_with("request unparsed: "),
            "{:?}",
            change.unparsed
        );
        assert!(ticket.history[0].summary.contains("; request unparsed: "));
        assert_eq!(h.published()[0].change.unparsed, change.unparsed);
    }
}

/// An unreadable response leaves the request: the group is resolved and the
/// policy's verdict stands (the console's SSH opening is reverted).
#[tokio::test]
async fn an_unreadable_response_keeps_the_request_and_the_verdict() {
    let h = harness();
    let mut event = cloudtrail_envelope("ev-bad-response");
    event["detail"]["responseElements"]["securityGroupRuleSet"] =
        json!({"items": [{"fromPort": "__bad__"}]});
    let o = h
        .pipeline
        .process_raw_until(&raw_with(&event, "-1e999"), None)
        .await
        .unwrap();
    let Outcome::Decided(report) = o else {
        panic!("{o:?}")
    };
    assert_eq!(report.resource, "AWS::EC2::SecurityGroup sg-0abc");
    assert_eq!(report.decision.verdict.action, Action::Revert);
    let change = &h.published()[0].change;
    assert_eq!(change.response, serde_json::Value::Null);
    assert!(
        change.unparsed[0].starts_with("response unparsed: number out of range"),
        "{:?}",
        change.unparsed
    );
}
