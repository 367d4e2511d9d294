//! Member accounts (issue 15): a ticket of a member account is acted on by
//! that account's remediator (the member role's clients), never with the
//! central account's; a member whose role cannot be used is not remediated;
//! a remediator bound to an account refuses other accounts' tickets.
use super::*;

/// The world's ticket account (`console_change`'s).
const MEMBER: &str = "123456789012";
const HOME: &str = "111111111111";

/// Hands out one member remediator (sharing the world's table and bus, with
/// its own executor), or refuses as STS refuses a missing role.
struct Members {
    member: Option<Arc<Remediator>>,
    asked: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl MemberRemediators for Members {
    async fn remediator(&self, account: &str, region: &str) -> PortResult<Arc<Remediator>> {
        self.asked
            .lock()
            .unwrap()
            .push((account.to_string(), region.to_string()));
        self.member.clone().ok_or_else(|| PortError::Failed {
            service: "sts",
            operation: "AssumeRole",
            message: format!("arn:aws:iam::{account}:role/driftguard-remediation: AccessDenied"),
        })
    }
}

fn member_of(w: &World, executor: Arc<FakeExecutor>) -> Remediator {
    Remediator {
        tickets: w.remediator.tickets.clone(),
        bus: w.remediator.bus.clone(),
        catalog: w.remediator.catalog.clone(),
        drift: w.remediator.drift.clone(),
        templates: w.remediator.templates.clone(),
        executor,
        safety: w.remediator.safety.clone(),
        clock: w.remediator.clock.clone(),
        policy: w.remediator.policy.clone(),
        settings: w.remediator.settings.clone(),
        accounts: AccountScope {
            account: Some(MEMBER.into()),
            members: None,
        },
    }
}

#[tokio::test]
async fn a_member_accounts_ticket_is_remediated_by_that_accounts_remediator() {
    let mut w = world("");
    let member_executor = Arc::new(FakeExecutor::default());
    let members = Arc::new(Members {
        member: Some(Arc::new(member_of(&w, member_executor.clone()))),
        asked: Mutex::new(Vec::new()),
    });
    w.remediator.accounts = AccountScope {
        account: Some(HOME.into()),
        members: Some(members.clone()),
    };
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-m1").await;
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Resolved, "{}", r.reason);
    assert_eq!(
        member_executor.executed.lock().unwrap().len(),
        1,
        "the member's clients acted"
    );
    assert!(
        w.executor.executed.lock().unwrap().is_empty(),
        "the central clients did not"
    );
    assert_eq!(
        members.asked.lock().unwrap().as_slice(),
        [(MEMBER.to_string(), "us-east-1".to_string())]
    );
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert_eq!(t.state, TicketState::Resolved);
}

#[tokio::test]
async fn a_member_whose_role_cannot_be_used_is_not_remediated_by_anyone() {
    let mut w = world("");
    w.remediator.accounts = AccountScope {
        account: Some(HOME.into()),
        members: Some(Arc::new(Members {
            member: None,
            asked: Mutex::new(Vec::new()),
        })),
    };
    let (id, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-m2").await;
    let r = finished(w.remediator.handle(env.clone()).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Refused, "{}", r.reason);
    assert!(
        r.reason.contains(MEMBER) && r.reason.contains("AccessDenied"),
        "{}",
        r.reason
    );
    assert!(w.executor.executed.lock().unwrap().is_empty());
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert_eq!(t.state, TicketState::Open, "left for a human: {t:?}");
    // The ticket says so, and the result is on the bus once.
    let said: Vec<_> = t
        .history
        .iter()
        .filter(|e| e.summary.contains("remediation role cannot be used"))
        .collect();
    assert_eq!(said.len(), 1, "{:?}", t.history);
    let results = || {
        w.bus
            .published()
            .iter()
            .filter(|(t, _)| t == "Drift Remediation Result")
            .count()
    };
    assert_eq!(results(), 1);
    // The same decision delivered again: no second entry or result.
    let _ = w.remediator.handle(env).await.unwrap();
    let t = w.store.get_ticket(&id).await.unwrap().unwrap();
    assert_eq!(
        t.history
            .iter()
            .filter(|e| e.summary.contains("remediation role cannot be used"))
            .count(),
        1
    );
    assert_eq!(results(), 1);
}

#[tokio::test]
async fn a_remediator_bound_to_an_account_refuses_other_accounts_tickets() {
    let mut w = world("");
    w.remediator.accounts = AccountScope {
        account: Some(HOME.into()),
        members: None,
    };
    let (_, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-m3").await;
    let Outcome::Ignored(why) = w.remediator.handle(env).await.unwrap() else {
        panic!("expected ignored")
    };
    assert!(why.contains(MEMBER) && why.contains(HOME), "{why}");
    assert!(w.executor.executed.lock().unwrap().is_empty());
}
