//! Blast radius: per-stack and global rate limits (conditional counters per
//! fixed window) and the per-resource circuit breaker's persisted state.
//!
//! The port is `crate::ports::SafetyStore`; the DynamoDB adapter is
//! `driftguard_adapters::safety`, the in-memory one `crate::memory::safety`.
use chrono::{DateTime, Utc};

use driftguard_model::domain::policy::{RateLimit, RateLimits};
use driftguard_model::domain::StackMembership;

/// One blast-radius budget a remediation spends: the scope its counters are
/// stored under (`ports::keys::rate_slot`), its cap, and its name in messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub scope: String,
    pub limit: RateLimit,
    pub label: &'static str,
}

/// The budgets a remediation in `account`/`region` on `membership`'s stack
/// spends, per-stack first:
/// - per stack: `stack#<account>#<region>#<stack id>`, so two accounts' (or
///   regions') stacks of one name never share a budget (the stack's name when
///   its id is unknown);
/// - global, per policy environment (the decision's `environment`):
///   `global#<environment>`, and `global` for accounts in no environment, so
///   reverts in a sandbox never spend production's budget.
pub fn budgets(
    limits: RateLimits,
    account: &str,
    region: &str,
    membership: &StackMembership,
    environment: Option<&str>,
) -> [Budget; 2] {
    let stack = if membership.stack_id.is_empty() {
        &membership.stack_name
    } else {
        &membership.stack_id
    };
    let global = match environment {
        Some(env) => format!("global#{env}"),
        None => "global".to_string(),
    };
    [
        Budget {
            scope: format!("stack#{account}#{region}#{stack}"),
            limit: limits.per_stack,
            label: "per-stack",
        },
        Budget {
            scope: global,
            limit: limits.global,
            label: "global",
        },
    ]
}

/// The rate-limit window containing `now`: (start, end), epoch seconds.
pub fn window(limit: RateLimit, now: DateTime<Utc>) -> (i64, i64) {
    let len = i64::from(limit.window_minutes.max(1)) * 60;
    let start = now.timestamp().div_euclid(len) * len;
    (start, start + len)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::memory::safety::MemorySafetyStore;
    use crate::ports::SafetyStore;
    use chrono::Duration;

    fn stack(account: &str, name: &str) -> StackMembership {
        let mut m =
            driftguard_model::testing::changes::membership(name, "Sg", "AWS::EC2::SecurityGroup");
        m.stack_id = format!("arn:aws:cloudformation:us-east-1:{account}:stack/{name}/0a1b2c3d");
        m
    }

    #[test]
    fn two_accounts_same_named_stacks_have_their_own_budgets() {
        let limits = RateLimits::default();
        let prod = budgets(
            limits,
            "111111111111",
            "us-east-1",
            &stack("111111111111", "app"),
            Some("prod"),
        );
        let sandbox = budgets(
            limits,
            "222222222222",
            "us-east-1",
            &stack("222222222222", "app"),
            Some("sandbox"),
        );
        assert_eq!(
            prod[0].scope,
            "stack#111111111111#us-east-1#arn:aws:cloudformation:us-east-1:111111111111:stack/app/0a1b2c3d"
        );
        assert_ne!(prod[0].scope, sandbox[0].scope, "same name, two stacks");
        assert_eq!(
            (prod[1].scope.as_str(), sandbox[1].scope.as_str()),
            ("global#prod", "global#sandbox")
        );
        assert_eq!(
            (prod[0].limit, prod[1].limit),
            (limits.per_stack, limits.global)
        );
        // Accounts in no environment share the top-level global budget.
        let plain = budgets(
            limits,
            "333333333333",
            "eu-west-1",
            &stack("333333333333", "app"),
            None,
        );
        assert_eq!(plain[1].scope, "global");
        // A stack id unknown: the name, still under its account and region.
        let mut unnamed = stack("111111111111", "app");
        unnamed.stack_id.clear();
        let b = budgets(limits, "111111111111", "eu-west-1", &unnamed, None);
        assert_eq!(b[0].scope, "stack#111111111111#eu-west-1#app");
    }

    #[tokio::test]
    async fn a_sandbox_stack_named_like_prod_spends_only_its_own_budget() {
        let store = MemorySafetyStore::new();
        let limits = RateLimits {
            per_stack: RateLimit {
                max_actions: 1,
                window_minutes: 60,
            },
            global: RateLimit {
                max_actions: 1,
                window_minutes: 60,
            },
        };
        let t: DateTime<Utc> = "2026-03-01T10:00:00Z".parse().unwrap();
        let sandbox = budgets(
            limits,
            "222222222222",
            "us-east-1",
            &stack("222222222222", "app"),
            Some("sandbox"),
        );
        let prod = budgets(
            limits,
            "111111111111",
            "us-east-1",
            &stack("111111111111", "app"),
            Some("prod"),
        );
        for b in &sandbox {
            assert!(store.try_acquire(&b.scope, b.limit, t).await.unwrap());
        }
        for b in &sandbox {
            assert!(
                !store.try_acquire(&b.scope, b.limit, t).await.unwrap(),
                "{} spent",
                b.scope
            );
        }
        for b in &prod {
            assert!(
                store.try_acquire(&b.scope, b.limit, t).await.unwrap(),
                "{} untouched",
                b.scope
            );
        }
    }

    #[test]
    fn windows_are_fixed_and_aligned() {
        let limit = RateLimit {
            max_actions: 1,
            window_minutes: 60,
        };
        let t: DateTime<Utc> = "2026-03-01T10:59:59Z".parse().unwrap();
        let (s, e) = window(limit, t);
        assert_eq!(e - s, 3600);
        assert_eq!(
            s,
            "2026-03-01T10:00:00Z"
                .parse::<DateTime<Utc>>()
                .unwrap()
                .timestamp()
        );
    }

    #[tokio::test]
    async fn memory_counters_cap_per_window_and_release() {
        let store = MemorySafetyStore::new();
        let limit = RateLimit {
            max_actions: 2,
            window_minutes: 10,
        };
        let t: DateTime<Utc> = "2026-03-01T10:00:00Z".parse().unwrap();
        assert!(store.try_acquire("stack#app", limit, t).await.unwrap());
        assert!(store.try_acquire("stack#app", limit, t).await.unwrap());
        assert!(!store.try_acquire("stack#app", limit, t).await.unwrap());
        assert!(store.try_acquire("stack#other", limit, t).await.unwrap());
        store.release("stack#app", limit, t).await.unwrap();
        assert!(store.try_acquire("stack#app", limit, t).await.unwrap());
        assert!(store
            .try_acquire("stack#app", limit, t + Duration::minutes(10))
            .await
            .unwrap());
    }
}
