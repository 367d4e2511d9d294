//! The pure gates table, row by row: where an attempt must stop, and why.
use super::super::gates::{gates, Gate, GateFacts};
use super::super::prepare::Prepared;
use super::super::wake::Wake;
use super::*;

/// One row of the gates table: what the ticket and the attempt look like,
/// which facts are known, and where the attempt must stop.
struct Row {
    name: &'static str,
    wake: Wake,
    edit: fn(&mut Ticket, &mut Attempt, &mut StackMembership),
    policy: &'static str,
    planned: bool,
    expect: Option<RemediationOutcome>,
    says: &'static str,
}

fn gate_ticket() -> (Ticket, Attempt) {
    let change = console_change("sg-1");
    let mut m = membership("app");
    m.logical_id = "Sg".into();
    let ownership = Ownership::Managed(m);
    let fp = Fingerprint::for_change(&change, &ownership);
    let mut ticket = Ticket::new(fp, &change, &ownership, t0());
    ticket.last_change = Some(change);
    let decision = Decision {
        verdict: verdict(false, false),
        held: None,
    };
    ticket.decision = Some(decision.clone());
    ticket.push(decided_entry(t0()));
    let attempt = Attempt::from_ticket(&ticket, &decision, "env-1", false);
    (ticket, attempt)
}

fn gate_plan(membership: StackMembership) -> Prepared {
    let plan = Plan {
        strategy: driftguard_model::domain::Strategy::InverseCall,
        calls: vec![driftguard_model::domain::PlannedCall {
            service: "ec2".into(),
            operation: "RevokeSecurityGroupIngress".into(),
            parameters: json!({"GroupId": "sg-1"}),
        }],
        expected: "port 22 closed".into(),
        skipped: Vec::new(),
    };
    let digest = plan.digest();
    Prepared {
        membership,
        plan,
        digest,
        approval_required: None,
        entries: Vec::new(),
    }
}

fn approval(digest: &str) -> Approval {
    Approval {
        plan_digest: digest.into(),
        approver_arn: CAROL.into(),
        approved_at: t0(),
        via: "lambda-function-url:AWS_IAM".into(),
    }
}

fn awaiting(t: &mut Ticket) {
    t.state = TicketState::AwaitingApproval;
    t.approval_expires_at = Some(t0() + Duration::minutes(30));
}

#[test]
fn gates_table() {
    use RemediationOutcome as O;
    let rows = [
        Row {
            name: "fresh decision, every fact known",
            wake: Wake::Decision,
            edit: |_, _, _| {},
            policy: "",
            planned: true,
            expect: None,
            says: "",
        },
        Row {
            name: "held by detect",
            wake: Wake::Decision,
            edit: |_, a, _| a.held = Some("stack busy when decided".into()),
            policy: "",
            planned: true,
            expect: Some(O::Held),
            says: "stack busy when decided",
        },
        Row {
            name: "accepted drift",
            wake: Wake::Decision,
            edit: |t, _, _| t.state = TicketState::Accepted,
            policy: "",
            planned: true,
            expect: Some(O::Refused),
            says: "accepted on purpose",
        },
        Row {
            name: "stale decision",
            wake: Wake::Decision,
            edit: |t, _, _| {
                t.history
                    .iter_mut()
                    .for_each(|e| e.at = t0() - Duration::days(2))
            },
            policy: "",
            planned: true,
            expect: Some(O::Refused),
            says: "stale decision",
        },
        Row {
            name: "stale but REMEDIATING: verified",
            wake: Wake::Decision,
            edit: |t, _, _| {
                t.state = TicketState::Remediating;
                t.history
                    .iter_mut()
                    .for_each(|e| e.at = t0() - Duration::days(2));
            },
            policy: "",
            planned: false,
            expect: None,
            says: "",
        },
        Row {
            name: "approval on an OPEN ticket",
            wake: Wake::Approval,
            edit: |_, _, _| {},
            policy: "",
            planned: true,
            expect: Some(O::Refused),
            says: "not AWAITING_APPROVAL",
        },
        Row {
            name: "approval wake-up, none recorded",
            wake: Wake::Approval,
            edit: |t, _, _| awaiting(t),
            policy: "",
            planned: true,
            expect: Some(O::Refused),
            says: "no approval is recorded",
        },
        Row {
            name: "approval after the expiry",
            wake: Wake::Approval,
            edit: |t, a, _| {
                awaiting(t);
                t.approval_expires_at = Some(t0() - Duration::minutes(1));
                a.approval = Some(approval("d"));
            },
            policy: "",
            planned: true,
            expect: Some(O::Refused),
            says: "expired",
        },
        Row {
            name: "stack mid-update",
            wake: Wake::Decision,
            edit: |_, _, m| m.stack_status = "UPDATE_IN_PROGRESS".into(),
            policy: "",
            planned: false,
            expect: Some(O::Held),
            says: "operation in progress",
        },
        Row {
            name: "rollback may cancel a mid-update stack",
            wake: Wake::Decision,
            edit: |_, a, m| {
                a.action = Action::Rollback;
                m.stack_status = "UPDATE_IN_PROGRESS".into();
            },
            policy: "",
            planned: false,
            expect: None,
            says: "",
        },
        Row {
            name: "protected stack",
            wake: Wake::Decision,
            edit: |_, _, _| {},
            policy: "protected: [{ stack: \"app\" }]\n",
            planned: false,
            expect: Some(O::Refused),
            says: "protected by policy",
        },
        Row {
            name: "approved another plan",
            wake: Wake::Approval,
            edit: |t, a, _| {
                awaiting(t);
                a.approval = Some(approval("other-digest"));
            },
            policy: "",
            planned: true,
            expect: Some(O::AwaitingApproval),
            says: "approve",
        },
        Row {
            name: "dry run",
            wake: Wake::Decision,
            edit: |_, a, _| a.dry_run = true,
            policy: "",
            planned: true,
            expect: Some(O::DryRun),
            says: "dry run",
        },
        Row {
            name: "dry run is not judged before the plan exists",
            wake: Wake::Decision,
            edit: |_, a, _| a.dry_run = true,
            policy: "",
            planned: false,
            expect: None,
            says: "",
        },
        Row {
            name: "policy requires approval",
            wake: Wake::Decision,
            edit: |_, a, _| a.requires_approval = true,
            policy: "",
            planned: true,
            expect: Some(O::AwaitingApproval),
            says: "the policy requires approval",
        },
    ];
    for row in rows {
        let (mut ticket, mut attempt) = gate_ticket();
        let mut m = membership("app");
        m.logical_id = "Sg".into();
        (row.edit)(&mut ticket, &mut attempt, &mut m);
        let policy = Policy::from_yaml(&format!("version: 1\n{APPROVERS}{}", row.policy)).unwrap();
        let prepared = gate_plan(m.clone());
        let facts = GateFacts {
            wake: row.wake,
            ticket: &ticket,
            attempt: &attempt,
            membership: Some(&m),
            policy: &policy,
            plan: row.planned.then_some(&prepared),
            now: t0() + Duration::seconds(30),
        };
        match (gates(&facts), row.expect) {
            (Gate::Proceed, None) => {}
            (Gate::End(e), Some(outcome)) => {
                assert_eq!(e.outcome, outcome, "{}: {}", row.name, e.reason);
                assert!(e.reason.contains(row.says), "{}: {}", row.name, e.reason);
            }
            (Gate::Ignore(why), _) => panic!("{}: ignored: {why}", row.name),
            (Gate::Proceed, Some(o)) => panic!("{}: proceeded, expected {o:?}", row.name),
            (Gate::End(e), None) => panic!("{}: stopped: {}", row.name, e.reason),
        }
    }
}

#[test]
fn a_plan_already_awaiting_approval_is_not_parked_twice() {
    let (mut ticket, mut attempt) = gate_ticket();
    attempt.requires_approval = true;
    let prepared = gate_plan(membership("app"));
    awaiting(&mut ticket);
    ticket.plan = Some(prepared.plan.clone());
    let policy = Policy::from_yaml(&format!("version: 1\n{APPROVERS}")).unwrap();
    let facts = GateFacts {
        wake: Wake::Decision,
        ticket: &ticket,
        attempt: &attempt,
        membership: Some(&prepared.membership),
        policy: &policy,
        plan: Some(&prepared),
        now: t0(),
    };
    assert!(matches!(gates(&facts), Gate::Ignore(why) if why.contains("already awaits")));
}
