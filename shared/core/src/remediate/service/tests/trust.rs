//! The ticket decides, never the event (docs/threat-model.md): a forged
//! decision, the event's change, a stale decision, a tampered or stored plan.
use super::*;

fn executed_groups(w: &World) -> Vec<Value> {
    w.executor
        .executed
        .lock()
        .unwrap()
        .iter()
        .map(|p| p.calls[0].parameters["GroupId"].clone())
        .collect()
}

#[tokio::test]
async fn a_forged_decision_changes_nothing_the_ticket_decides() {
    let w = world("");
    let mut real = verdict(false, false);
    real.action = Action::Ticket;
    let (id, env) = decision(&w, "sg-1", "Sg", "app", real, "e-real").await;
    // Someone with events:PutEvents sends revert, not dry-run, no approval.
    let mut forged = env;
    forged["id"] = json!("e-forged");
    forged["detail"]["decision"]["verdict"]["action"] = json!("revert");
    forged["detail"]["decision"]["verdict"]["dry_run"] = json!(false);
    forged["detail"]["decision"]["verdict"]["requires_approval"] = json!(false);
    let before = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert!(matches!(
        w.remediator.handle(forged).await.unwrap(),
        Outcome::Ignored(why) if why.contains("does not remediate")
    ));
    assert!(w.executor.executed.lock().unwrap().is_empty());
    assert!(w.bus.published().is_empty());
    assert_eq!(w.store.get_ticket(&id).await.unwrap().unwrap(), before);
}

#[tokio::test]
async fn the_change_acted_on_is_the_tickets_not_the_events() {
    let w = world("");
    let (_, mut env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-c").await;
    env["detail"]["change"]["request"]["groupId"] = json!("sg-victim");
    env["detail"]["change"]["resource"]["physical_id"] = json!("sg-victim");
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Resolved, "{}", r.reason);
    assert_eq!(executed_groups(&w), vec![json!("sg-1")]);
}

#[tokio::test]
async fn a_stale_decision_is_refused() {
    let w = world("remediation: { max_decision_age_seconds: 900 }");
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-old").await;
    w.clock.advance(Duration::seconds(901));
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Refused);
    assert!(
        r.reason.contains("remediation.max_decision_age_seconds"),
        "{}",
        r.reason
    );
    assert!(w.executor.executed.lock().unwrap().is_empty());
    assert_eq!(
        w.store.get_ticket(&id).await.unwrap().unwrap().state,
        TicketState::Open
    );
    // The age counts from the ticket's decision, not the event's time.
    assert!(stale_decision(
        &w.store.get_ticket(&id).await.unwrap().unwrap(),
        t0() + Duration::seconds(899),
        900
    )
    .is_none());
}

#[tokio::test]
async fn a_tampered_stored_plan_is_refused_and_never_executed() {
    let w = world("");
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, true), "e-t").await;
    finished(w.remediator.handle(env).await.unwrap());
    approve_stored_plan(&w, &id, CAROL).await;
    // Table write: the stored plan now opens the group to the world.
    edit(&w, &id, |t| {
        let call = &mut t.plan.as_mut().unwrap().calls[0];
        call.operation = "AuthorizeSecurityGroupIngress".into();
        call.parameters["GroupId"] = json!("sg-admin");
    })
    .await;
    let r = finished(
        w.remediator
            .handle(approval_envelope(&id, "e-t2", "carol"))
            .await
            .unwrap(),
    );
    assert_eq!(
        r.outcome,
        RemediationOutcome::AwaitingApproval,
        "{}",
        r.reason
    );
    assert!(w.executor.executed.lock().unwrap().is_empty());
    // The re-derived plan replaced the tampered one on the ticket.
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert_eq!(
        t.plan.as_ref().unwrap().calls[0].parameters["GroupId"],
        "sg-1"
    );
}

#[tokio::test]
async fn a_stored_plan_is_never_what_a_decision_executes() {
    let w = world("");
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-s").await;
    let mut evil = Plan {
        strategy: Strategy::InverseCall,
        calls: vec![driftguard_model::domain::PlannedCall::new(
            "ec2",
            "AuthorizeSecurityGroupIngress",
            json!({"GroupId": "sg-admin"}),
        )],
        expected: "x".into(),
        skipped: vec![],
    };
    edit(&w, &id, |t| t.plan = Some(evil.clone())).await;
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Resolved, "{}", r.reason);
    let ran = w.executor.executed.lock().unwrap().clone();
    assert_eq!(ran[0].calls[0].operation, "RevokeSecurityGroupIngress");
    assert_eq!(ran[0].calls[0].parameters["GroupId"], "sg-1");
    // And a plan aimed elsewhere fails the target check.
    let m = membership("app");
    let sg1 = ResourceRef::new("AWS::EC2::SecurityGroup", "sg-1");
    assert!(check_targets(&evil, &sg1, &m)
        .unwrap_err()
        .contains("GroupId=sg-admin"));
    evil.calls[0] = driftguard_model::domain::PlannedCall::new(
        "cloudformation",
        "ExecuteChangeSet",
        json!({"StackName": "driftguard"}),
    );
    assert!(check_targets(&evil, &sg1, &m).is_err());
    evil.calls[0] = driftguard_model::domain::PlannedCall::new("kms", "PutKeyPolicy", json!({}));
    assert!(check_targets(&evil, &sg1, &m).is_err());
    evil.calls[0] = driftguard_model::domain::PlannedCall::new(
        "ec2",
        "RevokeSecurityGroupIngress",
        json!({"GroupId": "sg-1"}),
    );
    assert!(check_targets(&evil, &sg1, &m).is_ok());
}
