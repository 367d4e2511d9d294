//! Sweep at organization scale (issue 15): one part per member account and
//! region, swept by that part's own [`Sweeper`] (the member's stacks, its own
//! cursor) with bounded concurrency, and one coverage line per account.
//!
//! In a deployment each part is one invocation (one message per
//! account-region, concurrency bounded by the function's reserved
//! concurrency); [`sweep_parts`] is the same fan-out in one process, what the
//! organization-scale simulation measures (`shared/tests/org_sweep.rs`). A
//! part whose member role cannot be used ([`PartSweepers::sweeper`] fails)
//! is a coverage entry that says so; the other parts are unaffected.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use super::{RunContext, SweepSummary, Sweeper};
use crate::error::PortResult;

/// One account and region to sweep.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SweepPart {
    pub account: String,
    pub region: String,
}

/// Every account × region, region-major: consecutive parts are different
/// accounts, so one account's regions are never all at the tail of a round.
pub fn plan_parts(accounts: &[String], regions: &[String]) -> Vec<SweepPart> {
    let mut parts = Vec::with_capacity(accounts.len() * regions.len());
    for region in regions {
        for account in accounts {
            parts.push(SweepPart {
                account: account.clone(),
                region: region.clone(),
            });
        }
    }
    parts
}

/// The sweeper of one part (the member's role, clients and cursor).
#[async_trait]
pub trait PartSweepers: Send + Sync {
    /// `Err`: the part cannot be swept (its member role is missing or denies).
    async fn sweeper(&self, part: &SweepPart) -> PortResult<Arc<Sweeper>>;
}

/// What one account's parts came to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountCoverage {
    pub account: String,
    pub regions: usize,
    pub regions_swept: usize,
    pub stacks_listed: usize,
    pub stacks_swept: usize,
    pub resources: usize,
    pub checked: usize,
    pub drifted: usize,
    /// `region: why` for each part that could not be swept.
    pub problems: Vec<String>,
}

impl AccountCoverage {
    /// `111111111111: 3 of 3 regions, 20 of 20 stacks swept, 40 of 60 resources checked, 2 drifted`.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{}: {} of {} regions, {} of {} stacks swept, {} of {} resources checked, {} drifted",
            self.account,
            self.regions_swept,
            self.regions,
            self.stacks_swept,
            self.stacks_listed,
            self.checked,
            self.resources,
            self.drifted
        );
        for p in &self.problems {
            line.push_str(&format!("; {p}"));
        }
        line
    }

    fn add(&mut self, region: &str, result: &Result<SweepSummary, String>) {
        self.regions += 1;
        match result {
            Ok(s) => {
                self.regions_swept += usize::from(s.round_complete);
                self.stacks_listed += s.stacks.listed;
                self.stacks_swept += s.stacks.swept;
                self.resources += s.resources.resources;
                self.checked += s.resources.checked;
                self.drifted += s.drifted;
                if !s.round_complete {
                    self.problems
                        .push(format!("{region}: round not complete (resumes next run)"));
                }
            }
            Err(why) => self.problems.push(format!("{region}: not swept: {why}")),
        }
    }
}

/// The organization's sweep: per-account coverage and the concurrency seen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgSweep {
    pub parts: usize,
    pub concurrency: usize,
    pub max_in_flight: usize,
    pub accounts: Vec<AccountCoverage>,
    /// Parts in the order they finished (the simulation's starvation check).
    pub finished: Vec<SweepPart>,
}

/// Sweep every part, at most `concurrency` at once, each with the context
/// `ctx_for` gives it (its run id, account, region, deadline).
pub async fn sweep_parts(
    parts: &[SweepPart],
    concurrency: usize,
    sweepers: &dyn PartSweepers,
    ctx_for: impl Fn(&SweepPart) -> RunContext,
) -> OrgSweep {
    let concurrency = concurrency.max(1);
    let in_flight = AtomicUsize::new(0);
    let max_in_flight = AtomicUsize::new(0);
    let results: Vec<(SweepPart, Result<SweepSummary, String>)> = stream::iter(parts.iter())
        .map(|part| {
            let ctx = ctx_for(part);
            let (in_flight, max_in_flight) = (&in_flight, &max_in_flight);
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                max_in_flight.fetch_max(now, Ordering::SeqCst);
                let result = match sweepers.sweeper(part).await {
                    Ok(s) => s.run(&ctx).await.map_err(|e| e.to_string()),
                    Err(e) => Err(format!("member role cannot be used: {e}")),
                };
                in_flight.fetch_sub(1, Ordering::SeqCst);
                if let Err(why) = &result {
                    tracing::warn!(account = %part.account, region = %part.region, why, "sweep part failed");
                }
                (part.clone(), result)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut accounts: BTreeMap<String, AccountCoverage> = BTreeMap::new();
    for (part, result) in &results {
        accounts
            .entry(part.account.clone())
            .or_insert_with(|| AccountCoverage {
                account: part.account.clone(),
                ..AccountCoverage::default()
            })
            .add(&part.region, result);
    }
    OrgSweep {
        parts: parts.len(),
        concurrency,
        max_in_flight: max_in_flight.load(Ordering::SeqCst),
        accounts: accounts.into_values().collect(),
        finished: results.into_iter().map(|(p, _)| p).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_interleave_accounts_within_each_region() {
        let a = |s: &str| s.to_string();
        let parts = plan_parts(&[a("1"), a("2")], &[a("us-east-1"), a("eu-west-1")]);
        let got: Vec<(&str, &str)> = parts
            .iter()
            .map(|p| (p.account.as_str(), p.region.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("1", "us-east-1"),
                ("2", "us-east-1"),
                ("1", "eu-west-1"),
                ("2", "eu-west-1")
            ]
        );
    }

    #[test]
    fn a_coverage_line_names_what_was_not_swept() {
        let mut c = AccountCoverage {
            account: "222222222222".into(),
            ..AccountCoverage::default()
        };
        c.add(
            "eu-west-1",
            &Err("member role cannot be used: AccessDenied".into()),
        );
        assert_eq!(
            c.line(),
            "222222222222: 0 of 1 regions, 0 of 0 stacks swept, 0 of 0 resources checked, 0 drifted; eu-west-1: not swept: member role cannot be used: AccessDenied"
        );
    }
}
