//! The per-change flow (`process_change`): actor, ownership, drift,
//! decision, ticket and publish, environments, and the metrics line.
#![allow(clippy::unwrap_used)]
use std::sync::atomic::Ordering;

use serde_json::json;

use super::test_support::*;
use super::*;
use crate::ports::TicketStore;
use driftguard_model::domain::EntryKind;
use driftguard_model::domain::{
    Action, ActorKind, ChangeSource, DriftOrigin, DriftStatus, Identity, Ownership, ResourceRef,
    TicketState,
};
use driftguard_model::error::PortError;
use driftguard_model::testing::changes::{sg_change, t0};
use driftguard_model::testing::identities::{cloudformation, console, role};
use driftguard_model::testing::policies::{self, sg_revert, OWN, PIPELINE};

#[tokio::test]
async fn console_change_on_a_managed_resource_opens_a_ticket_and_publishes() {
    let h = harness();
    h.drift.set("app", "WebSG", Ok(cfn_modified()));
    let r = h
        .pipeline
        .process_change(sg_change("ev-1", console()))
        .await
        .unwrap();
    assert_eq!(r.actor.kind, ActorKind::Console);
    assert_eq!(r.ownership.membership().unwrap().logical_id, "WebSG");
    assert_eq!(r.decision.verdict.action, Action::Revert);
    assert_eq!(r.drift.as_ref().unwrap().status, DriftStatus::Modified);
    let t = r.ticket.unwrap();
    assert_eq!(
        (t.state, t.state_changed, t.write),
        (TicketState::Open, true, TicketWrite::Created)
    );

    let tickets = h.store.tickets();
    assert_eq!(tickets.len(), 1);
    let stored = &tickets[0];
    assert_eq!(stored.id, t.id);
    assert_eq!(stored.fingerprint.stack, "app");
    assert_eq!(stored.last_actor.as_ref().unwrap().kind, ActorKind::Console);
    assert_eq!(stored.severity, driftguard_model::domain::Severity::High);
    assert_eq!(stored.version, 1);
    assert_eq!(stored.history.len(), 2);
    assert!(stored.drift.is_some(), "CloudFormation's view is kept");

    let events = h.published();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].ticket_id, t.id);
    assert!(events[0].state_changed);
    assert_eq!(events[0].plan, None);
    assert_eq!(
        events[0].drift.as_ref().unwrap().origin,
        DriftOrigin::Cloudformation
    );
}

#[tokio::test]
async fn unsupported_drift_detection_falls_back_to_the_event_and_says_so() {
    let h = harness();
    let r = h
        .pipeline
        .process_change(sg_change("ev-1", console()))
        .await
        .unwrap();
    assert!(r.drift.is_none());
    let d = r.event_drift.unwrap();
    assert_ne!(d.status, DriftStatus::InSync, "never claims in sync");
    let DriftOrigin::EventRequest(note) = &d.origin else {
        panic!("event origin expected")
    };
    assert!(note.contains("unsupported"), "{note}");
    assert_eq!(h.drift.calls.load(Ordering::SeqCst), 1);
    assert_eq!(h.store.tickets().len(), 1);
}

#[tokio::test]
async fn failing_drift_detection_degrades_instead_of_failing() {
    let h = harness();
    h.drift.set(
        "app",
        "WebSG",
        Err(PortError::Throttled {
            service: "cloudformation",
            operation: "DetectStackResourceDrift",
            message: "Rate exceeded".into(),
        }),
    );
    let r = h
        .pipeline
        .process_change(sg_change("ev-1", console()))
        .await
        .unwrap();
    let DriftOrigin::EventRequest(note) = &r.event_drift.unwrap().origin else {
        panic!()
    };
    assert!(note.contains("unavailable (throttled"), "{note}");
    assert!(r.ticket.is_some());
}

#[tokio::test]
async fn cloudformation_and_driftguard_changes_open_no_ticket_and_skip_lookups() {
    // Issue 12 item 2: CloudFormation's calls are no longer blessed without a
    // look: the owner is looked up once (the owning stack is deploying), drift
    // detection is still skipped and nothing is ticketed.
    let h = harness();
    h.catalog.set_stack_status("app", "UPDATE_IN_PROGRESS");
    let by_cfn = h
        .pipeline
        .process_change(sg_change("ev-cfn", cloudformation()))
        .await
        .unwrap();
    assert_eq!(by_cfn.actor.kind, ActorKind::Cloudformation);
    assert_eq!(by_cfn.decision.verdict.action, Action::Ignore);
    assert!(
        by_cfn
            .actor
            .evidence
            .iter()
            .any(|e| e.contains("app is UPDATE_IN_PROGRESS")),
        "{:?}",
        by_cfn.actor.evidence
    );
    assert_eq!(h.catalog.owner_calls.load(Ordering::SeqCst), 1);
    h.catalog.set_stack_status("app", "UPDATE_COMPLETE");
    let ours = h
        .pipeline
        .process_change(sg_change(
            "ev-dg",
            role("driftguard-remediation", "driftguard-remediate"),
        ))
        .await
        .unwrap();
    assert_eq!(ours.actor.kind, ActorKind::Driftguard);
    assert_eq!(ours.decision.verdict.action, Action::Ignore);
    assert!(ours.ticket.is_none() && by_cfn.ticket.is_none());
    assert!(h.store.tickets().is_empty());
    assert!(h.published().is_empty());
    assert_eq!(
        h.catalog.owner_calls.load(Ordering::SeqCst),
        1,
        "driftguard: none"
    );
    assert_eq!(h.drift.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn cloudformation_acting_for_another_stack_is_decided_by_policy() {
    // Someone's own stack holds an AWS::EC2::SecurityGroupIngress aimed at
    // `app`'s group: CloudTrail shows CloudFormation's call, but `app` is not
    // deploying, so CloudFormation acted for another stack.
    let h = harness();
    let r = h
        .pipeline
        .process_change(sg_change("ev-cfn-other", cloudformation()))
        .await
        .unwrap();
    assert_eq!(r.actor.kind, ActorKind::Automation);
    assert!(
        r.actor
            .evidence
            .iter()
            .any(|e| e == "CloudFormation acted for another stack: owner app is UPDATE_COMPLETE"),
        "{:?}",
        r.actor.evidence
    );
    // The test policy reverts console/human changes only: the default verdict.
    assert_eq!(r.decision.verdict.action, Action::Ticket);
    assert!(r.ticket.is_some());
    assert_eq!(h.drift.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn events_from_unwatched_accounts_are_rejected_with_a_reason() {
    let h = harness_with(Settings {
        watched_accounts: vec!["111122223333".into()],
        ..quick()
    });
    let o = h
        .pipeline
        .process_event(&cloudtrail_envelope("ev-foreign"))
        .await
        .unwrap();
    let Outcome::Skipped { reason, detail, .. } = o else {
        panic!("{o:?}")
    };
    assert_eq!(reason, "foreign_account");
    assert!(detail.contains("123456789012 is not watched"), "{detail}");
    assert!(h.store.tickets().is_empty() && h.published().is_empty());

    let watched = harness_with(Settings {
        watched_accounts: vec!["123456789012".into()],
        ..quick()
    });
    let mut envelope = cloudtrail_envelope("ev-envelope");
    envelope["account"] = json!("999988887777");
    let o = watched.pipeline.process_event(&envelope).await.unwrap();
    assert!(
        matches!(o, Outcome::Skipped { ref reason, ref detail, .. }
            if reason == "foreign_account" && detail.contains("envelope account 999988887777")),
        "{o:?}"
    );
    let o = watched
        .pipeline
        .process_event(&cloudtrail_envelope("ev-home"))
        .await
        .unwrap();
    assert!(matches!(o, Outcome::Decided(_)), "{o:?}");
}

const ENVIRONMENTS: &str = r#"environments:
  - name: prod
    match: { accounts: ["111111111111"] }
    defaults: { dry_run: false }
  - name: dev
    match: { accounts: ["222222222222"] }
    rules:
      - name: dev-ticket-only
        verdict: ticket
        severity: low
"#;

/// `policy()` with environments (version 2) and `sg-revert` left to the
/// defaults' dry-run: prod reverts the console change live, dev only
/// tickets it.
fn env_policy() -> String {
    let rules = policies::policy(2, &[OWN, PIPELINE], &[&sg_revert("console, human", false)]);
    rules + ENVIRONMENTS
}

#[tokio::test]
async fn the_same_event_is_reverted_in_the_prod_account_and_ticketed_in_the_dev_account() {
    let h = harness_policy(
        Settings {
            watched_accounts: vec!["111111111111".into(), "222222222222".into()],
            ..quick()
        },
        &env_policy(),
    );
    h.drift.set("app", "WebSG", Ok(cfn_modified()));
    // The member account's event as the central bus receives it: the
    // envelope's and the record's account are the member's.
    let in_account = |account: &str| {
        let text = cloudtrail_envelope(&format!("ev-{account}"))
            .to_string()
            .replace("123456789012", account);
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    let mut reports = Vec::new();
    for account in ["111111111111", "222222222222"] {
        let o = h
            .pipeline
            .process_event(&in_account(account))
            .await
            .unwrap();
        let Outcome::Decided(r) = o else {
            panic!("{account}: {o:?}")
        };
        assert_eq!(r.actor.kind, ActorKind::Console, "{account}");
        reports.push(r);
    }
    let (prod, dev) = (&reports[0].decision.verdict, &reports[1].decision.verdict);
    assert_eq!(
        (
            prod.action,
            prod.dry_run,
            prod.environment.as_deref(),
            prod.rule.as_deref()
        ),
        (Action::Revert, false, Some("prod"), Some("sg-revert"))
    );
    assert_eq!(
        (dev.action, dev.environment.as_deref(), dev.rule.as_deref()),
        (Action::Ticket, Some("dev"), Some("dev-ticket-only"))
    );
    // Two tickets, one per account, each with its account, region and verdict.
    let mut tickets = h.store.tickets();
    tickets.sort_by(|a, b| a.fingerprint.account.cmp(&b.fingerprint.account));
    assert_eq!(tickets.len(), 2);
    for (t, (account, env, action)) in tickets.iter().zip([
        ("111111111111", "prod", Action::Revert),
        ("222222222222", "dev", Action::Ticket),
    ]) {
        assert_eq!(t.fingerprint.account, account);
        assert_eq!(t.fingerprint.region, "us-east-1");
        let v = &t.decision.as_ref().unwrap().verdict;
        assert_eq!((v.action, v.environment.as_deref()), (action, Some(env)));
    }
    assert_eq!(
        tickets[0].severity,
        driftguard_model::domain::Severity::High
    );
    assert_eq!(tickets[1].severity, driftguard_model::domain::Severity::Low);
    // The published decisions say it too (remediate acts on prod's only).
    let events = h.published();
    assert_eq!(events.len(), 2);
    for e in &events {
        let env = e.decision.verdict.environment.as_deref();
        match e.change.account.as_str() {
            "111111111111" => assert!(env == Some("prod") && e.decision.verdict.action.acts()),
            "222222222222" => assert!(env == Some("dev") && !e.decision.verdict.action.acts()),
            other => panic!("{other}"),
        }
    }
    // An account watched but in no environment: the top-level rules.
    let other = harness_policy(
        Settings {
            watched_accounts: vec!["123456789012".into()],
            ..quick()
        },
        &env_policy(),
    );
    other.drift.set("app", "WebSG", Ok(cfn_modified()));
    let o = other
        .pipeline
        .process_event(&cloudtrail_envelope("ev-home"))
        .await
        .unwrap();
    let Outcome::Decided(r) = o else {
        panic!("{o:?}")
    };
    let v = &r.decision.verdict;
    assert_eq!(
        (v.action, v.dry_run, v.environment.as_deref()),
        (Action::Revert, true, None)
    );
}

#[test]
fn watched_account_problems_name_the_account() {
    let w = vec!["123456789012".to_string()];
    assert_eq!(
        watched_account_problem(&w, Some("123456789012"), "123456789012"),
        None
    );
    assert!(watched_account_problem(&w, None, "210987654321").is_some());
    assert!(
        watched_account_problem(&[], Some("210987654321"), "123456789012")
            .unwrap()
            .contains("not the record's account")
    );
    assert_eq!(watched_account_problem(&[], None, "123456789012"), None);
}

#[tokio::test]
async fn pipeline_change_is_allowed_and_only_recorded_on_an_open_ticket() {
    let h = harness();
    let pipeline_role = role("deploy-pipeline", "codepipeline-deploy");
    let r = h
        .pipeline
        .process_change(sg_change("ev-p1", pipeline_role.clone()))
        .await
        .unwrap();
    assert_eq!(r.decision.verdict.action, Action::Allow);
    // No open ticket: a closed ALLOWED record for the sweep, nothing published.
    assert_eq!(r.ticket.unwrap().state, TicketState::Allowed);
    assert!(h.published().is_empty());

    h.pipeline
        .process_change(sg_change("ev-c1", console()))
        .await
        .unwrap();
    let r = h
        .pipeline
        .process_change(sg_change("ev-p2", pipeline_role))
        .await
        .unwrap();
    let t = r.ticket.unwrap();
    assert_eq!(
        (t.state, t.state_changed, t.write),
        (TicketState::Open, false, TicketWrite::Updated)
    );
    let stored = &h.store.tickets()[0];
    assert_eq!((stored.events_seen, stored.reopened), (3, 1));
    assert_eq!(
        stored.decision.as_ref().unwrap().verdict.action,
        Action::Revert,
        "the ticketing verdict stays"
    );
    assert_eq!(
        stored.last_actor.as_ref().unwrap().kind,
        ActorKind::Pipeline
    );
}

#[tokio::test]
async fn unmanaged_resources_are_ticketed_not_remediated() {
    let h = harness();
    let mut c = sg_change("ev-1", console());
    c.resource = ResourceRef::new("AWS::EC2::SecurityGroup", "sg-not-in-any-stack");
    let r = h.pipeline.process_change(c).await.unwrap();
    assert_eq!(r.ownership, Ownership::Unmanaged);
    // Issue 13 item 8: ticketed (the sg-revert rule is capped), never acted on.
    assert_eq!(r.decision.verdict.action, Action::Ticket);
    assert_eq!(r.decision.verdict.capped_from, Some(Action::Revert));
    assert_eq!(h.store.tickets().len(), 1);
}

#[tokio::test]
async fn stack_operation_in_progress_records_a_held_decision() {
    let h = harness();
    h.catalog.set_stack_status("app", "UPDATE_IN_PROGRESS");
    let r = h
        .pipeline
        .process_change(sg_change("ev-1", console()))
        .await
        .unwrap();
    assert!(r
        .decision
        .held
        .as_deref()
        .unwrap()
        .contains("UPDATE_IN_PROGRESS"));
    assert_eq!(
        h.drift.calls.load(Ordering::SeqCst),
        0,
        "no drift check on a busy stack"
    );
    let stored = &h.store.tickets()[0];
    assert!(stored.history.iter().any(|e| e.kind == EntryKind::Held));
    assert!(h.published()[0].decision.held.is_some());
}

#[tokio::test]
async fn a_resolved_ticket_is_reopened() {
    let h = harness();
    h.pipeline
        .process_change(sg_change("ev-1", console()))
        .await
        .unwrap();
    let mut t = h.store.tickets().remove(0);
    t.transition(TicketState::Resolved, "reverted", t0())
        .unwrap();
    t.version += 1;
    h.store.update_ticket(&t).await.unwrap();

    let r = h
        .pipeline
        .process_change(sg_change("ev-2", console()))
        .await
        .unwrap();
    let report = r.ticket.unwrap();
    assert_eq!(
        (report.state, report.state_changed),
        (TicketState::Open, true)
    );
    let stored = &h.store.tickets()[0];
    assert_eq!(stored.reopened, 1);
    assert_eq!(stored.version, 3);
    assert!(h.published()[1].state_changed);
}

#[tokio::test]
async fn twenty_concurrent_events_on_one_resource_make_one_ticket() {
    let h = harness();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let p = h.pipeline.clone();
            tokio::spawn(async move {
                p.process_change(sg_change(&format!("ev-{i}"), console()))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let tickets = h.store.tickets();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0].events_seen, 20);
    assert_eq!(tickets[0].version, 20);
    let opened = h.published().iter().filter(|e| e.state_changed).count();
    assert_eq!(opened, 1, "exactly one decision opened the ticket");
}

#[tokio::test]
async fn the_same_change_twice_is_recorded_once() {
    let h = harness();
    h.pipeline
        .process_change(sg_change("ev-1", console()))
        .await
        .unwrap();
    let r = h
        .pipeline
        .process_change(sg_change("ev-1", console()))
        .await
        .unwrap();
    assert_eq!(r.ticket.unwrap().write, TicketWrite::AlreadyRecorded);
    assert_eq!(h.store.tickets()[0].events_seen, 1);
}

#[tokio::test]
async fn config_items_look_the_actor_up_and_fall_back_to_unknown() {
    let h = harness();
    let mut c = sg_change("cfg-1", Identity::default());
    c.source = ChangeSource::ConfigItem;
    c.service = "config".into();
    c.operation = "ConfigurationItemChange".into();
    h.actors.set("sg-0abc", Ok(Some(console())));
    let r = h.pipeline.process_change(c.clone()).await.unwrap();
    assert_eq!(r.actor.kind, ActorKind::Console);
    assert!(r.actor.evidence[0].contains("LookupEvents"));

    h.actors.set(
        "sg-0abc",
        Err(PortError::Unsupported {
            service: "cloudtrail",
            operation: "LookupEvents",
            message: "not implemented".into(),
        }),
    );
    c.event_id = "cfg-2".into();
    let r = h.pipeline.process_change(c).await.unwrap();
    assert_eq!(r.actor.kind, ActorKind::Unknown);
    assert!(
        r.actor.evidence[0].contains("LookupEvents failed"),
        "{:?}",
        r.actor.evidence
    );
    assert_eq!(
        r.decision.verdict.action,
        Action::Ticket,
        "unknown actors are ticketed"
    );
}

#[tokio::test]
async fn throttled_ownership_fails_but_other_failures_degrade_to_unknown() {
    let h = harness();
    h.catalog.fail_owner_of(
        "sg-0abc",
        PortError::Throttled {
            service: "cloudformation",
            operation: "ListStacks",
            message: "Rate exceeded".into(),
        },
    );
    let err = h
        .pipeline
        .process_change(sg_change("ev-1", console()))
        .await
        .unwrap_err();
    assert_eq!(err.class(), "throttled");
    assert!(h.store.tickets().is_empty());

    h.catalog.fail_owner_of(
        "sg-0abc",
        PortError::Failed {
            service: "cloudformation",
            operation: "DescribeStackResources",
            message: "AccessDenied".into(),
        },
    );
    let r = h
        .pipeline
        .process_change(sg_change("ev-1", console()))
        .await
        .unwrap();
    assert!(matches!(r.ownership, Ownership::Unknown { .. }));
    assert_eq!(
        r.decision.verdict.action,
        Action::Ticket,
        "capped: ownership not proven"
    );
}

#[tokio::test]
async fn dry_run_override_forces_dry_run() {
    let h = harness_with(Settings {
        force_dry_run: true,
        ..quick()
    });
    let r = h
        .pipeline
        .process_change(sg_change("ev-1", console()))
        .await
        .unwrap();
    assert_eq!(r.decision.verdict.action, Action::Revert);
    assert!(r.decision.verdict.dry_run);
}

#[tokio::test]
async fn sweep_changes_with_a_drift_hint_skip_detection() {
    let h = harness();
    let mut c = sg_change("sweep-1", Identity::default());
    c.source = ChangeSource::Sweep;
    c.drift_hint = Some(cfn_modified());
    let r = h.pipeline.process_change(c).await.unwrap();
    assert_eq!(h.drift.calls.load(Ordering::SeqCst), 0);
    assert_eq!(r.drift.unwrap().status, DriftStatus::Modified);
    assert!(r.ticket.is_some());
}

#[tokio::test]
async fn a_decided_change_prints_one_emf_line_by_severity_and_action() {
    let h = harness();
    h.drift.set("app", "WebSG", Ok(cfn_modified()));
    let mut change = sg_change("ev-emf", console());
    change.time = t0() - chrono::Duration::seconds(90);
    let capture = crate::metrics::capture();
    h.pipeline.process_change(change).await.unwrap();
    let lines = capture.lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    let (metrics, dimensions) = crate::metrics::declared(line);
    assert_eq!(
        metrics,
        [
            ("ChangesSeen", "Count"),
            ("DriftTicketsOpened", "Count"),
            ("ExposureToDetection", "Seconds")
        ]
        .map(|(n, u)| (n.to_string(), u.to_string()))
    );
    assert_eq!(
        dimensions,
        json!([["Function"], ["Function", "Severity", "Action"]])
    );
    assert_eq!(
        (&line["Function"], &line["Severity"], &line["Action"]),
        (&json!("detect"), &json!("high"), &json!("revert"))
    );
    assert_eq!(line["DriftTicketsOpened"], 1.0);
    // CloudTrail eventTime -> the decision, 90 s later.
    assert_eq!(line["ExposureToDetection"], 90.0);
}

#[tokio::test]
async fn an_ignored_change_is_seen_but_opens_no_ticket_and_has_no_exposure() {
    let h = harness();
    let capture = crate::metrics::capture();
    h.pipeline
        .process_change(sg_change(
            "ev-own",
            role("driftguard-remediation", "driftguard-remediate"),
        ))
        .await
        .unwrap();
    let lines = capture.lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["ChangesSeen"], 1.0);
    assert_eq!(lines[0]["DriftTicketsOpened"], 0.0);
    assert!(lines[0].get("ExposureToDetection").is_none());
}
