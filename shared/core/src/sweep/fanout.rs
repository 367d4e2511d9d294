//! Sweep at organization scale (issue 15): one part per member account and
//! region, swept by that part's own [`super::Sweeper`] (the member's stacks, its own
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

use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use super::{RunContext, SweepSummary};
use crate::ports::sweep::{PartMessage, PartSweepers};

/// One account and region to sweep.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SweepPart {
    pub account: String,
    pub region: String,
}

/// The parts a scheduled run sends: every watched member account (the
/// watched accounts but this one, which the scheduled run sweeps itself) ×
/// every watched region.
pub fn member_parts(
    run_id: &str,
    this_account: &str,
    watched_accounts: &[String],
    regions: &[String],
) -> Vec<PartMessage> {
    let members: Vec<String> = watched_accounts
        .iter()
        .filter(|a| a.as_str() != this_account)
        .cloned()
        .collect();
    plan_parts(&members, regions)
        .into_iter()
        .map(|p| PartMessage {
            run_id: run_id.to_string(),
            account: p.account,
            region: p.region,
        })
        .collect()
}

/// Why a part message must not be swept, if it must not: it does not parse
/// (naming the field), or names an account or region that is not watched
/// (anyone who can send to the queue could name any account).
pub fn check_part_message(
    body: &str,
    this_account: &str,
    watched_accounts: &[String],
    regions: &[String],
) -> Result<PartMessage, String> {
    let m: PartMessage =
        serde_json::from_str(body).map_err(|e| format!("the part message does not parse: {e}"))?;
    if m.account == this_account || !watched_accounts.contains(&m.account) {
        return Err(format!(
            "account {} is not a watched member account (WATCHED_ACCOUNTS={})",
            m.account,
            watched_accounts.join(",")
        ));
    }
    if !regions.contains(&m.region) {
        return Err(format!(
            "region {} is not watched (WATCHED_REGIONS={})",
            m.region,
            regions.join(",")
        ));
    }
    Ok(m)
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
    #![allow(clippy::unwrap_used)]
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
    fn the_scheduled_run_sends_every_member_and_region_but_its_own_account() {
        let a = |s: &str| s.to_string();
        let watched = [a("123456789012"), a("111111111111"), a("222222222222")];
        let regions = [a("us-east-1"), a("eu-west-1")];
        let parts = member_parts("run-1", "123456789012", &watched, &regions);
        let got: Vec<(&str, &str)> = parts
            .iter()
            .map(|p| (p.account.as_str(), p.region.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("111111111111", "us-east-1"),
                ("222222222222", "us-east-1"),
                ("111111111111", "eu-west-1"),
                ("222222222222", "eu-west-1")
            ]
        );
        assert!(parts.iter().all(|p| p.run_id == "run-1"));
        assert!(member_parts("run-1", "123456789012", &watched[..1], &regions).is_empty());
    }

    #[test]
    fn a_part_message_for_an_unwatched_account_or_region_or_garbage_is_refused() {
        let a = |s: &str| s.to_string();
        let watched = [a("123456789012"), a("111111111111")];
        let regions = [a("us-east-1")];
        let check = |body: &str| check_part_message(body, "123456789012", &watched, &regions);
        let ok = check(r#"{"run_id":"r","account":"111111111111","region":"us-east-1"}"#);
        assert_eq!(ok.unwrap().part().account, "111111111111");
        let stranger = check(r#"{"run_id":"r","account":"444444444444","region":"us-east-1"}"#);
        assert!(stranger
            .unwrap_err()
            .contains("444444444444 is not a watched member account"));
        let own = check(r#"{"run_id":"r","account":"123456789012","region":"us-east-1"}"#);
        assert!(
            own.is_err(),
            "this account is swept by the scheduled run itself"
        );
        let region = check(r#"{"run_id":"r","account":"111111111111","region":"ap-south-1"}"#);
        assert!(region
            .unwrap_err()
            .contains("region ap-south-1 is not watched"));
        let garbage = check(r#"{"run_id":"r","account":"111111111111"}"#).unwrap_err();
        assert!(garbage.contains("missing field `region`"), "{garbage}");
        let extra =
            check(r#"{"run_id":"r","account":"111111111111","region":"us-east-1","role":"x"}"#);
        assert!(extra.unwrap_err().contains("unknown field `role`"));
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
