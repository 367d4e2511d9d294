//! `driftguard report [--since 7d] [--html FILE]`: what drifted, who did it,
//! and how long it stayed exposed, from the ticket table.
//!
//! [`build`] is pure (tickets in, [`Report`] out); [`table`] and [`html`]
//! render it. The HTML page is self-contained: inline CSS and SVG, no script,
//! no network. Every string from the table (principals, session names,
//! resource ids: all caller-set) is escaped before it reaches the page.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use driftguard_core::ports::TicketStore;
use driftguard_model::domain::{ActorKind, Ticket, TicketState};

use crate::demo::screen::{cell, fit};
use crate::ops::Target;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    #[error("--since {value:?}: {why} (e.g. 90m, 24h, 7d, 4w)")]
    Since { value: String, why: &'static str },
}

/// `7d`, `24h`, `90m`, `4w`, `3600s` → a duration.
pub fn parse_since(value: &str) -> Result<Duration, ReportError> {
    let err = |why| ReportError::Since {
        value: value.to_string(),
        why,
    };
    let v = value.trim();
    let split = v
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| err("no unit"))?;
    let (n, unit) = v.split_at(split);
    let n: i64 = n.parse().map_err(|_| err("not a number"))?;
    if n <= 0 {
        return Err(err("must be positive"));
    }
    let d = match unit {
        "s" => Duration::try_seconds(n),
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        "w" => Duration::try_weeks(n),
        _ => return Err(err("unknown unit")),
    };
    d.ok_or_else(|| err("too large"))
}

/// Median, p95 and max of the times to revert, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub count: usize,
    pub median: f64,
    pub p95: f64,
    pub max: f64,
}

/// Nearest-rank percentile of sorted values (`p` in 0..=100).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn stats(mut values: Vec<f64>) -> Option<Stats> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(Stats {
        count: values.len(),
        median: percentile(&values, 50.0),
        p95: percentile(&values, 95.0),
        max: values[values.len() - 1],
    })
}

/// One of the most drifted resources.
#[derive(Debug, Clone, PartialEq)]
pub struct Hotspot {
    pub resource: String,
    pub resource_type: String,
    /// Changes seen on it (every event recorded on the ticket).
    pub changes: u64,
    pub reopened: u32,
    /// The people and roles behind its changes (not driftguard, not CloudFormation).
    pub actors: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub since: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub tickets: usize,
    pub by_stack: Vec<(String, usize)>,
    pub by_type: Vec<(String, usize)>,
    pub by_actor: Vec<(String, usize)>,
    pub by_verdict: Vec<(String, usize)>,
    pub by_state: Vec<(String, usize)>,
    /// CloudTrail `eventTime` of the change → the ticket resolved, in seconds.
    pub time_to_revert: Option<Stats>,
    pub hotspots: Vec<Hotspot>,
}

impl Report {
    pub fn state_count(&self, state: TicketState) -> usize {
        self.by_state
            .iter()
            .find(|(s, _)| s == state.as_str())
            .map_or(0, |(_, n)| *n)
    }
}

/// How many hotspots the report lists.
pub const HOTSPOTS: usize = 5;

/// A principal in a few words: `role/session` for an assumed role, `user/name`
/// for a user, the service principal or ARN otherwise.
pub fn principal_label(principal: &str) -> String {
    for marker in [":assumed-role/", ":user/", ":role/"] {
        if let Some((_, rest)) = principal.split_once(marker) {
            let kind = marker.trim_matches(|c| c == ':' || c == '/');
            return format!("{kind}/{rest}");
        }
    }
    principal.to_string()
}

/// Who, in a few words: the session name with the role's name (an SSO user,
/// `alice@example.com (AWSReservedSSO_Admin_0123)`), else the principal.
/// Session names are chosen by the caller: the role beside it is what AWS
/// authenticated.
pub fn actor_label(actor: &driftguard_model::domain::Actor) -> String {
    let principal = principal_label(&actor.principal);
    let name = principal.rsplit('/').next().unwrap_or(&principal);
    match actor.session_name.as_deref().filter(|s| !s.is_empty()) {
        Some(session) if session != name => format!("{session} ({name})"),
        _ => principal,
    }
}

fn counted(counts: BTreeMap<String, usize>) -> Vec<(String, usize)> {
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

fn tally<'a>(tickets: &[&'a Ticket], key: impl Fn(&'a Ticket) -> String) -> Vec<(String, usize)> {
    let mut counts = BTreeMap::new();
    for t in tickets {
        *counts.entry(key(t)).or_insert(0) += 1;
    }
    counted(counts)
}

fn resource_type(t: &Ticket) -> String {
    t.resource
        .resource_type
        .clone()
        .unwrap_or_else(|| "(unknown)".into())
}

fn actor_of(t: &Ticket) -> String {
    t.last_actor
        .as_ref()
        .map_or_else(|| "(unknown)".into(), actor_label)
}

fn verdict_of(t: &Ticket) -> String {
    t.decision
        .as_ref()
        .map_or("(none)", |d| d.verdict.action.as_str())
        .to_string()
}

/// Seconds from the change's CloudTrail `eventTime` to the write that resolved it.
fn time_to_revert(t: &Ticket) -> Option<f64> {
    if t.state != TicketState::Resolved {
        return None;
    }
    let from = t.last_change.as_ref().map_or(t.created_at, |c| c.time);
    let ms = (t.updated_at - from).num_milliseconds();
    (ms >= 0).then(|| ms as f64 / 1000.0)
}

/// The people and roles a ticket's history names (driftguard's own and
/// CloudFormation's calls left out).
fn people(t: &Ticket) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let actors = t
        .history
        .iter()
        .filter_map(|e| e.actor.as_ref())
        .chain(t.last_actor.as_ref());
    for a in actors {
        if !matches!(a.kind, ActorKind::Driftguard | ActorKind::Cloudformation) {
            seen.insert(actor_label(a));
        }
    }
    seen.into_iter().collect()
}

fn hotspots(tickets: &[&Ticket]) -> Vec<Hotspot> {
    let mut spots: Vec<Hotspot> = tickets
        .iter()
        .map(|t| Hotspot {
            resource: format!("{}/{}", t.fingerprint.stack, t.fingerprint.logical_id),
            resource_type: resource_type(t),
            changes: t.events_seen,
            reopened: t.reopened,
            actors: people(t),
        })
        .collect();
    spots.sort_by(|a, b| {
        (b.changes, b.reopened)
            .cmp(&(a.changes, a.reopened))
            .then_with(|| a.resource.cmp(&b.resource))
    });
    spots.truncate(HOTSPOTS);
    spots
}

/// The report over the tickets last updated in `[now - window, now]`. Pure.
pub fn build(tickets: &[Ticket], window: Duration, now: DateTime<Utc>) -> Report {
    let since = now - window;
    let recent: Vec<&Ticket> = tickets
        .iter()
        .filter(|t| t.updated_at >= since && t.updated_at <= now)
        .collect();
    Report {
        since,
        now,
        tickets: recent.len(),
        by_stack: tally(&recent, |t| t.fingerprint.stack.clone()),
        by_type: tally(&recent, resource_type),
        by_actor: tally(&recent, actor_of),
        by_verdict: tally(&recent, verdict_of),
        by_state: tally(&recent, |t| t.state.as_str().to_string()),
        time_to_revert: stats(recent.iter().filter_map(|t| time_to_revert(t)).collect()),
        hotspots: hotspots(&recent),
    }
}

/// `95s`, `12m 5s`, `3h 20m`, `2d 4h`.
pub fn human(seconds: f64) -> String {
    let s = seconds.round() as i64;
    match s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

fn section(lines: &mut Vec<String>, title: &str, rows: &[(String, usize)]) {
    lines.push(String::new());
    lines.push(format!("{}{}", cell(&title.to_uppercase(), 66), "TICKETS"));
    for (k, n) in rows.iter().take(8) {
        lines.push(format!("  {}{n:>7}", cell(k, 64)));
    }
    if rows.len() > 8 {
        lines.push(format!("  … {} more", rows.len() - 8));
    }
}

/// The terminal view: compact, 80 columns.
pub fn table(r: &Report) -> Vec<String> {
    let mut lines = vec![
        format!(
            "drift report {} .. {} UTC: {} tickets",
            when(r.since),
            when(r.now),
            r.tickets
        ),
        format!(
            "open {}  awaiting approval {}  accepted {}  failed {}  resolved {}",
            r.state_count(TicketState::Open),
            r.state_count(TicketState::AwaitingApproval),
            r.state_count(TicketState::Accepted),
            r.state_count(TicketState::Failed),
            r.state_count(TicketState::Resolved),
        ),
    ];
    lines.push(match &r.time_to_revert {
        Some(s) => format!(
            "time to revert ({} resolved): median {}, p95 {}, max {}",
            s.count,
            human(s.median),
            human(s.p95),
            human(s.max)
        ),
        None => "time to revert: no resolved tickets in the window".into(),
    });
    section(&mut lines, "by stack", &r.by_stack);
    section(&mut lines, "by resource type", &r.by_type);
    section(&mut lines, "by actor", &r.by_actor);
    section(&mut lines, "by verdict", &r.by_verdict);
    lines.push(String::new());
    lines.push(format!(
        "{}{}{}",
        cell("MOST DRIFTED", 34),
        cell("CHANGES", 9),
        "BY"
    ));
    for h in &r.hotspots {
        lines.push(format!(
            "  {}{}{}",
            cell(&h.resource, 32),
            cell(&h.changes.to_string(), 9),
            fit(&h.actors.join(", "), 35)
        ));
    }
    lines
}

/// Text for HTML: `&`, `<`, `>`, `"` and `'` escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A horizontal bar chart, as inline SVG.
pub fn bar_chart(title: &str, rows: &[(String, usize)]) -> String {
    let rows: Vec<&(String, usize)> = rows.iter().take(10).collect();
    let max = rows.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    let (label_w, bar_w, row_h) = (270.0, 230.0, 24.0);
    let height = 34.0 + row_h * rows.len() as f64;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" role="img" width="540" height="{height}" viewBox="0 0 540 {height}"><title>{t}</title><text x="0" y="18" class="h">{t}</text>"#,
        t = escape(title)
    );
    for (i, (label, n)) in rows.iter().enumerate() {
        let y = 30.0 + row_h * i as f64;
        let w = bar_w * (*n as f64) / (max as f64);
        svg.push_str(&format!(
            r#"<text x="{lx}" y="{ty}" class="l" text-anchor="end">{label}</text><rect x="{bx}" y="{y}" width="{w:.1}" height="16" rx="2" class="b"/><text x="{vx:.1}" y="{ty}" class="v">{n}</text>"#,
            lx = label_w - 8.0,
            ty = y + 12.5,
            label = escape(&fit(label, 33)),
            bx = label_w,
            vx = label_w + w + 6.0,
        ));
    }
    svg.push_str("</svg>");
    svg
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1d2330;background:#fff}\
h1{font-size:22px;margin:0 0 4px}p.sub{color:#5b6475;margin:0 0 18px}\
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:18px}\
.card{border:1px solid #d9dee8;border-radius:8px;padding:10px 16px;min-width:120px}\
.card b{display:block;font-size:22px}.card span{color:#5b6475;font-size:13px}\
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:8px}\
svg .h{font-weight:600;font-size:14px;fill:#1d2330}svg .l,svg .v{font-size:12px;fill:#1d2330}\
svg .b{fill:#3b6fd8}table{border-collapse:collapse;margin-top:8px}\
td,th{border-bottom:1px solid #e3e7ef;padding:6px 10px;text-align:left;font-size:13px}";

fn card(value: &str, label: &str) -> String {
    format!(
        r#"<div class="card"><b>{}</b><span>{}</span></div>"#,
        escape(value),
        escape(label)
    )
}

fn cards(r: &Report) -> String {
    let mut out = String::from(r#"<div class="cards">"#);
    out.push_str(&card(&r.tickets.to_string(), "tickets"));
    for (state, label) in [
        (TicketState::Open, "open"),
        (TicketState::Accepted, "accepted"),
        (TicketState::Failed, "failed"),
        (TicketState::Resolved, "resolved"),
    ] {
        out.push_str(&card(&r.state_count(state).to_string(), label));
    }
    if let Some(s) = &r.time_to_revert {
        out.push_str(&card(&human(s.median), "median time to revert"));
        out.push_str(&card(&human(s.p95), "p95 time to revert"));
        out.push_str(&card(&human(s.max), "max time to revert"));
    }
    out.push_str("</div>");
    out
}

fn hotspot_table(r: &Report) -> String {
    let mut out = String::from(
        "<h2>Most drifted resources</h2><table><tr><th>resource</th><th>type</th><th>changes</th><th>reopened</th><th>people and roles</th></tr>",
    );
    for h in &r.hotspots {
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&h.resource),
            escape(&h.resource_type),
            h.changes,
            h.reopened,
            escape(&h.actors.join(", "))
        ));
    }
    out.push_str("</table>");
    out
}

/// The self-contained HTML page.
pub fn html(r: &Report) -> String {
    let charts = [
        ("Drift by stack", &r.by_stack),
        ("Drift by resource type", &r.by_type),
        ("Drift by actor", &r.by_actor),
        ("Drift by verdict", &r.by_verdict),
        ("Tickets by state", &r.by_state),
    ]
    .iter()
    .map(|(t, rows)| format!("<div>{}</div>", bar_chart(t, rows)))
    .collect::<String>();
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\"><title>driftguard drift report</title><style>{STYLE}</style></head><body><h1>driftguard drift report</h1><p class=\"sub\">{} to {} UTC</p>{}<div class=\"grid\">{charts}</div>{}</body></html>\n",
        when(r.since),
        when(r.now),
        cards(r),
        hotspot_table(r)
    )
}

/// The report over the ticket table (every ticket is read; the window is applied here).
pub async fn collect(target: &Target, window: Duration, now: DateTime<Utc>) -> Result<Report> {
    let tickets = target
        .store()
        .await
        .list_tickets(None)
        .await
        .with_context(|| format!("list tickets in table {}", target.table))?;
    Ok(build(&tickets, window, now))
}

/// Tickets from a file of JSON lines (what `driftguard tickets list --json` prints).
pub fn read_tickets(path: &Path) -> Result<Vec<Ticket>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}:{}: not a ticket", path.display(), i + 1))
        })
        .collect()
}

/// Read every ticket (from the table, or `tickets_file`), print the table,
/// write the page if asked.
pub async fn run(
    target: &Target,
    since: &str,
    html_file: Option<&Path>,
    tickets_file: Option<&Path>,
) -> Result<()> {
    let window = parse_since(since)?;
    let report = match tickets_file {
        Some(path) => build(&read_tickets(path)?, window, Utc::now()),
        None => collect(target, window, Utc::now()).await?,
    };
    for line in table(&report) {
        println!("{line}");
    }
    if let Some(path) = html_file {
        std::fs::write(path, html(&report))
            .with_context(|| format!("write the HTML report to {}", path.display()))?;
        println!("\nHTML report: {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use driftguard_model::domain::EntryKind;
    use driftguard_model::domain::{Actor, Decision, TicketEntry, Verdict};
    use serde_json::json;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600, 0).unwrap() + Duration::minutes(minutes)
    }

    fn actor(kind: ActorKind, principal: &str) -> Actor {
        Actor {
            break_glass_until: None,
            kind,
            principal: principal.into(),
            session_name: None,
            evidence: vec![],
        }
    }

    const ALICE: &str = "arn:aws:sts::123456789012:assumed-role/Admin/alice@example.com";

    fn ticket(logical: &str, state: TicketState, changed: i64, updated: i64) -> Ticket {
        let change = crate::fixtures::sg_change(&format!("e-{logical}"), at(changed));
        let mut t = crate::fixtures::sg_ticket(logical, &change);
        t.last_change = Some(change);
        t.last_actor = Some(actor(ActorKind::Console, ALICE));
        t.decision = Some(Decision {
            verdict: Verdict {
                action: driftguard_model::domain::Action::Revert,
                reason: "r".into(),
                rule: None,
                dry_run: false,
                requires_approval: false,
                severity: driftguard_model::domain::Severity::High,
                capped_from: None,
                environment: None,
            },
            held: None,
            hit_and_run: None,
        });
        t.state = state;
        t.updated_at = at(updated);
        t
    }

    #[test]
    fn actors_read_as_the_session_and_the_role() {
        let mut a = actor(
            ActorKind::Console,
            "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123",
        );
        a.session_name = Some("alice@example.com".into());
        assert_eq!(
            actor_label(&a),
            "alice@example.com (AWSReservedSSO_Admin_0123)"
        );
        a.session_name = None;
        assert_eq!(
            actor_label(&a),
            "role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123"
        );
    }

    #[test]
    fn since_takes_units_and_names_bad_values() {
        assert_eq!(parse_since("7d").unwrap(), Duration::days(7));
        assert_eq!(parse_since("90m").unwrap(), Duration::minutes(90));
        assert_eq!(parse_since("2w").unwrap(), Duration::weeks(2));
        for bad in ["", "7", "d", "0d", "7y", "-1d"] {
            let e = parse_since(bad).unwrap_err();
            assert!(e.to_string().contains("--since"), "{e}");
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let s = stats((1..=100).map(f64::from).collect()).unwrap();
        assert_eq!((s.median, s.p95, s.max, s.count), (50.0, 95.0, 100.0, 100));
        let one = stats(vec![7.0]).unwrap();
        assert_eq!((one.median, one.p95, one.max), (7.0, 7.0, 7.0));
        assert!(stats(vec![]).is_none());
    }

    #[test]
    fn the_report_counts_the_window_and_times_reverts_from_event_time() {
        let mut web = ticket("WebSecurityGroup", TicketState::Resolved, 0, 2);
        web.events_seen = 3;
        web.history.push(TicketEntry {
            at: at(1),
            kind: EntryKind::Observed,
            event_id: None,
            summary: "x".into(),
            actor: Some(actor(
                ActorKind::Driftguard,
                "arn:aws:sts::123456789012:assumed-role/driftguard-remediation/x",
            )),
            data: json!(null),
        });
        let flags = ticket("FeatureFlagsParameter", TicketState::Resolved, 0, 10);
        let role = ticket("AppRole", TicketState::Accepted, 0, 5);
        let old = ticket("Old", TicketState::Failed, -20_000, -20_000);
        let r = build(&[web, flags, role, old], Duration::days(7), at(60));
        assert_eq!(r.tickets, 3, "the 2-week-old ticket is outside 7d");
        assert_eq!(r.by_stack, vec![("shop-web".to_string(), 3)]);
        assert_eq!(r.state_count(TicketState::Resolved), 2);
        assert_eq!(r.state_count(TicketState::Accepted), 1);
        assert_eq!(r.state_count(TicketState::Failed), 0);
        let s = r.time_to_revert.unwrap();
        assert_eq!((s.count, s.median, s.max), (2, 120.0, 600.0));
        assert_eq!(r.hotspots[0].resource, "shop-web/WebSecurityGroup");
        assert_eq!(
            r.hotspots[0].actors,
            vec!["assumed-role/Admin/alice@example.com".to_string()],
            "driftguard's own calls are not people"
        );
        assert_eq!(
            r.by_actor,
            vec![("assumed-role/Admin/alice@example.com".to_string(), 3)]
        );
    }

    #[test]
    fn the_table_fits_80_columns_and_says_the_numbers() {
        let r = build(
            &[ticket("WebSecurityGroup", TicketState::Resolved, 0, 2)],
            Duration::days(7),
            at(60),
        );
        let lines = table(&r);
        let text = lines.join("\n");
        assert!(
            text.contains("median 2m 0s, p95 2m 0s, max 2m 0s"),
            "{text}"
        );
        assert!(lines.iter().all(|l| l.chars().count() <= 80), "{text}");
    }

    #[test]
    fn the_page_is_self_contained_and_escapes_caller_set_names() {
        let mut t = ticket("Web", TicketState::Open, 0, 2);
        t.last_actor = Some(actor(
            ActorKind::Human,
            "arn:aws:sts::123456789012:assumed-role/x/<script>alert(1)</script>",
        ));
        let page = html(&build(&[t], Duration::days(7), at(60)));
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;"));
        assert!(page.contains("<svg"));
        for network in ["http://", "https://", "src=", "<link", "@import"] {
            let outside_svg_ns = page.replace("http://www.w3.org/2000/svg", "");
            assert!(!outside_svg_ns.contains(network), "{network} in the page");
        }
    }
}
