//! detect's entry point (`process_event`): duplicates, concurrent
//! deliveries, failed publishes, malformed and skipped events.
#![allow(clippy::unwrap_used)]
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::json;

use super::test_support::*;
use super::*;
use driftguard_model::domain::ActorKind;

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
