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

impl Row {
    /// A row no gate stops: planned, the approvers-only policy.
    fn new(
        name: &'static str,
        wake: Wake,
        edit: fn(&mut Ticket, &mut Attempt, &mut StackMembership),
    ) -> Self {
        Self {
            name,
            wake,
            edit,
            policy: "",
            planned: true,
            expect: None,
            says: "",
        }
    }

    /// Policy lines added to the approvers.
    fn policy(self, policy: &'static str) -> Self {
        Self { policy, ..self }
    }

    /// Judged before a plan exists.
    fn unplanned(self) -> Self {
        Self {
            planned: false,
            ..self
        }
    }

    /// The attempt ends with `outcome`, its reason saying `says`.
    fn stops(self, outcome: RemediationOutcome, says: &'static str) -> Self {
        Self {
            expect: Some(outcome),
            says,
            ..self
        }
    }
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
        hit_and_run: None,
    };
    ticket.decision = Some(decision.clone());
    ticket.push(decided_entry(t0()));
    let attempt = Attempt::from_ticket(&ticket, &decision, "env-1", false);
    (ticket, attempt)
}

fn gate_plan(membership: StackMembership) -> Prepared {
    let plan = driftguard_model::testing::tickets::revoke_ingress("sg-1", "port 22 closed");
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
        approver_id: None,
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
        Row::new(
            "fresh decision, every fact known",
            Wake::Decision,
            |_, _, _| {},
        ),
        Row::new("held by detect", Wake::Decision, |_, a, _| {
            a.held = Some("stack busy when decided".into())
        })
        .stops(O::Held, "stack busy when decided"),
        Row::new("accepted drift", Wake::Decision, |t, _, _| {
            t.state = TicketState::Accepted
        })
        .stops(O::Refused, "accepted on purpose"),
        Row::new("stale decision", Wake::Decision, |t, _, _| {
            t.history
                .iter_mut()
                .for_each(|e| e.at = t0() - Duration::days(2))
        })
        .stops(O::Refused, "stale decision"),
        Row::new(
            "stale but REMEDIATING: verified",
            Wake::Decision,
            |t, _, _| {
                t.state = TicketState::Remediating;
                t.history
                    .iter_mut()
                    .for_each(|e| e.at = t0() - Duration::days(2));
            },
        )
        .unplanned(),
        Row::new("approval on an OPEN ticket", Wake::Approval, |_, _, _| {})
            .stops(O::Refused, "not AWAITING_APPROVAL"),
        Row::new(
            "approval wake-up, none recorded",
            Wake::Approval,
            |t, _, _| awaiting(t),
        )
        .stops(O::Refused, "no approval is recorded"),
        Row::new("approval after the expiry", Wake::Approval, |t, a, _| {
            awaiting(t);
            t.approval_expires_at = Some(t0() - Duration::minutes(1));
            a.approval = Some(approval("d"));
        })
        .stops(O::Refused, "expired"),
        Row::new("stack mid-update", Wake::Decision, |_, _, m| {
            m.stack_status = "UPDATE_IN_PROGRESS".into()
        })
        .unplanned()
        .stops(O::Held, "operation in progress"),
        Row::new(
            "rollback may cancel a mid-update stack",
            Wake::Decision,
            |_, a, m| {
                a.action = Action::Rollback;
                m.stack_status = "UPDATE_IN_PROGRESS".into();
            },
        )
        .unplanned(),
        Row::new("protected stack", Wake::Decision, |_, _, _| {})
            .policy("protected: [{ stack: \"app\" }]\n")
            .unplanned()
            .stops(O::Refused, "protected by policy"),
        Row::new("approved another plan", Wake::Approval, |t, a, _| {
            awaiting(t);
            a.approval = Some(approval("other-digest"));
        })
        .stops(O::AwaitingApproval, "approve"),
        Row::new("dry run", Wake::Decision, |_, a, _| a.dry_run = true).stops(O::DryRun, "dry run"),
        Row::new(
            "dry run is not judged before the plan exists",
            Wake::Decision,
            |_, a, _| a.dry_run = true,
        )
        .unplanned(),
        Row::new("policy requires approval", Wake::Decision, |_, a, _| {
            a.requires_approval = true
        })
        .stops(O::AwaitingApproval, "the policy requires approval"),
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
