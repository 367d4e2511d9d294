//! Blast radius: per-stack and global rate limits (conditional counters per
//! fixed window) and the per-resource circuit breaker's persisted state.
//!
//! The port is `crate::ports::SafetyStore`; the DynamoDB adapter is
//! `driftguard_adapters::safety`, the in-memory one `crate::memory::safety`.
use chrono::{DateTime, Utc};

use driftguard_model::domain::policy::RateLimit;

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
