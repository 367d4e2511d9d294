//! Metrics in CloudWatch Embedded Metric Format (EMF): one JSON line per
//! outcome on stdout. No API call is made: "Lambda automatically sends
//! everything that your function writes to standard output (STDOUT) to a
//! CloudWatch Logs log group, and CloudWatch Logs extracts metrics from any log
//! events that follow the embedded metric format specification"
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Lambda.html>).
//!
//! The format, from the specification
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>):
//! "The CloudWatch embedded metric format is a JSON specification used to
//! instruct CloudWatch Logs to automatically extract metric values embedded in
//! structured log events." A document carries
//! `{ "_aws": { "CloudWatchMetrics": [ ... ] } }` on its root, each directive
//! naming a `Namespace`, `Dimensions` (arrays of dimension-key arrays) and
//! `Metrics` (`Name`, `Unit`), and the root holds the values of every member
//! the directives reference; a target value is a number or an array of numbers,
//! which is how a distribution (the exposure window) is sent; `Timestamp` is
//! milliseconds since the epoch. "The LogEvent message MUST be a valid JSON
//! object with no additional data at the beginning or end of the LogEvent
//! message string": one line, nothing else on it.
//!
//! Builders are pure ([`decision`], [`remediation`], [`sweep`]); [`emit`]
//! writes the line, to stdout or to the test's capture ([`capture`]).
use std::cell::RefCell;
use std::io::Write;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::detect::{DecisionReport, TicketWrite};
use crate::sweep::SweepSummary;
use driftguard_model::domain::Strategy;
use driftguard_model::domain::{Action, Severity};
use driftguard_model::domain::{Change, TicketState};
use driftguard_model::events::{RemediationOutcome, RemediationResult};

/// The CloudWatch namespace every driftguard metric is in (template.yaml's
/// dashboard and alarms read it).
pub const NAMESPACE: &str = "Driftguard";

/// The dimension sets: per function, and per function, severity and action.
const BY_FUNCTION: &[&str] = &["Function"];
const BY_SEVERITY_ACTION: &[&str] = &["Function", "Severity", "Action"];

/// Metric names (the dashboard, the alarms and the docs use these).
pub mod names {
    pub const CHANGES_SEEN: &str = "ChangesSeen";
    pub const TICKETS_OPENED: &str = "DriftTicketsOpened";
    /// CloudTrail `eventTime` → driftguard's decision.
    pub const EXPOSURE_TO_DETECTION: &str = "ExposureToDetection";
    /// CloudTrail `eventTime` → verified back in sync.
    pub const EXPOSURE_WINDOW: &str = "ExposureWindow";
    pub const REVERTED: &str = "Reverted";
    pub const ROLLED_BACK: &str = "RolledBack";
    pub const REFUSED: &str = "RemediationsRefused";
    pub const FAILED: &str = "RemediationsFailed";
    /// The decision → the remediation's end (acted and verified, or failed).
    pub const REMEDIATION_DURATION: &str = "RemediationDuration";
    pub const STACKS_SWEPT: &str = "StacksSwept";
    pub const RESOURCES_CHECKED: &str = "ResourcesChecked";
    pub const RESOURCES_NOT_CHECKED: &str = "ResourcesNotChecked";
    pub const SWEEP_COVERAGE: &str = "SweepCoverage";
    pub const DRIFTED_RESOURCES: &str = "DriftedResources";
}

/// CloudWatch units driftguard uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
    Milliseconds,
    Percent,
}

impl Unit {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Seconds => "Seconds",
            Self::Milliseconds => "Milliseconds",
            Self::Percent => "Percent",
        }
    }
}

/// One metric's values (one value, or several for a distribution).
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub values: Vec<f64>,
}

/// One EMF document: dimensions, metrics, extra properties, time.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricLine {
    pub dimensions: Vec<(&'static str, String)>,
    pub dimension_sets: Vec<&'static [&'static str]>,
    pub metrics: Vec<Metric>,
    /// Searchable context in the log line (not metrics, not dimensions).
    pub properties: Map<String, Value>,
    pub timestamp: DateTime<Utc>,
}

impl MetricLine {
    fn new(function: &str, at: DateTime<Utc>) -> Self {
        Self {
            dimensions: vec![("Function", function.to_string())],
            dimension_sets: vec![BY_FUNCTION],
            metrics: Vec::new(),
            properties: Map::new(),
            timestamp: at,
        }
    }

    fn by_severity_action(mut self, severity: Severity, action: Action) -> Self {
        self.dimensions
            .push(("Severity", severity.as_str().to_string()));
        self.dimensions
            .push(("Action", action.as_str().to_string()));
        self.dimension_sets.push(BY_SEVERITY_ACTION);
        self
    }

    fn count(mut self, name: &'static str, yes: bool) -> Self {
        self.metrics.push(Metric {
            name,
            unit: Unit::Count,
            values: vec![if yes { 1.0 } else { 0.0 }],
        });
        self
    }

    fn value(mut self, name: &'static str, unit: Unit, value: Option<f64>) -> Self {
        if let Some(v) = value.filter(|v| v.is_finite()) {
            self.metrics.push(Metric {
                name,
                unit,
                values: vec![v],
            });
        }
        self
    }

    fn property(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.properties.insert(key.to_string(), value.into());
        self
    }

    /// The EMF document.
    pub fn to_json(&self) -> Value {
        let mut root = self.properties.clone();
        for (k, v) in &self.dimensions {
            root.insert((*k).to_string(), json!(v));
        }
        for m in &self.metrics {
            let value = match m.values.as_slice() {
                [one] => json!(one),
                many => json!(many),
            };
            root.insert(m.name.to_string(), value);
        }
        let definitions: Vec<Value> = self
            .metrics
            .iter()
            .map(|m| json!({ "Name": m.name, "Unit": m.unit.as_str() }))
            .collect();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": self.timestamp.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": self.dimension_sets,
                    "Metrics": definitions,
                }],
            }),
        );
        Value::Object(root)
    }
}

fn millis_between(from: DateTime<Utc>, to: DateTime<Utc>) -> Option<f64> {
    let ms = (to - from).num_milliseconds();
    (ms >= 0).then_some(ms as f64)
}

/// Exposure windows are in seconds: the alarm's threshold parameter is too.
fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> Option<f64> {
    millis_between(from, to).map(|ms| ms / 1000.0)
}

/// detect: one change decided. A ticket opened (created or re-opened) counts
/// as a drift ticket, and its exposure so far (CloudTrail `eventTime` → now)
/// is recorded.
pub fn decision(report: &DecisionReport, change: &Change, now: DateTime<Utc>) -> MetricLine {
    let verdict = &report.decision.verdict;
    let opened = report.ticket.as_ref().is_some_and(|t| {
        t.write == TicketWrite::Created || (t.state_changed && t.state == TicketState::Open)
    });
    MetricLine::new("detect", now)
        .by_severity_action(verdict.severity, verdict.action)
        .count(names::CHANGES_SEEN, true)
        .count(names::TICKETS_OPENED, opened)
        .value(
            names::EXPOSURE_TO_DETECTION,
            Unit::Seconds,
            report
                .ticket
                .as_ref()
                .and_then(|_| seconds_between(change.time, now)),
        )
        .property("event_id", report.event_id.as_str())
        .property("source", change.source.as_str())
        .property(
            "ticket_id",
            report.ticket.as_ref().map_or("", |t| t.id.as_str()),
        )
}

/// remediate: one remediation ended. `decided_at` is when the ticket's
/// decision was taken (the start of the remediation's duration).
pub fn remediation(
    result: &RemediationResult,
    severity: Severity,
    action: Action,
    decided_at: Option<DateTime<Utc>>,
) -> MetricLine {
    let outcome = result.outcome;
    let resolved = outcome == RemediationOutcome::Resolved && !result.dry_run;
    let rollback = result
        .plan
        .as_ref()
        .is_some_and(|p| p.strategy == Strategy::StackRollback);
    let ended = resolved || outcome == RemediationOutcome::Failed;
    let at = result.finished_at;
    MetricLine::new("remediate", at)
        .by_severity_action(severity, action)
        .count(names::REVERTED, resolved && !rollback)
        .count(names::ROLLED_BACK, resolved && rollback)
        .count(names::REFUSED, outcome == RemediationOutcome::Refused)
        .count(names::FAILED, outcome == RemediationOutcome::Failed)
        .value(
            names::REMEDIATION_DURATION,
            Unit::Milliseconds,
            decided_at
                .filter(|_| ended)
                .and_then(|d| millis_between(d, at)),
        )
        .value(
            names::EXPOSURE_WINDOW,
            Unit::Seconds,
            result
                .change
                .as_ref()
                .filter(|_| resolved)
                .and_then(|c| seconds_between(c.time, at)),
        )
        .property("ticket_id", result.ticket_id.as_str())
        .property("outcome", outcome.as_str())
}

/// sweep: one run's coverage.
pub fn sweep(summary: &SweepSummary) -> MetricLine {
    let r = &summary.resources;
    let coverage = (r.resources > 0).then(|| 100.0 * r.checked as f64 / r.resources as f64);
    let mut line = MetricLine::new("sweep", summary.finished_at);
    for (name, n) in [
        (names::STACKS_SWEPT, summary.stacks.swept),
        (names::RESOURCES_CHECKED, r.checked),
        (names::RESOURCES_NOT_CHECKED, r.not_checked + r.not_reported),
        (names::DRIFTED_RESOURCES, summary.drifted),
    ] {
        line = line.value(name, Unit::Count, Some(n as f64));
    }
    line.value(names::SWEEP_COVERAGE, Unit::Percent, coverage)
        .property("run_id", summary.run_id.as_str())
}

thread_local! {
    /// A test's capture of this thread's lines (`None`: stdout).
    static CAPTURED: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

/// Write one EMF line to `out`.
pub fn write_line(out: &mut dyn Write, line: &MetricLine) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(&line.to_json()).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    out.write_all(&bytes)?;
    out.flush()
}

/// `DRIFTGUARD_METRICS`: `stdout` prints the lines anywhere, `off` nowhere.
pub const METRICS_ENV: &str = "DRIFTGUARD_METRICS";

/// Print on stdout? Inside Lambda (and `cargo lambda` / `sam local`), which
/// sets `AWS_LAMBDA_FUNCTION_NAME` ("The name of the function",
/// <https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime>);
/// elsewhere (the CLI's demo and plan run the same code) only when asked, so
/// their terminal output stays readable.
fn stdout_enabled() -> bool {
    match std::env::var(METRICS_ENV).ok().as_deref() {
        Some("stdout") => true,
        Some("off") => false,
        _ => std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some(),
    }
}

/// Print one EMF line on stdout (Lambda's log stream), or into the capture.
/// A failed write is logged, never fatal: metrics must not fail a remediation.
pub fn emit(line: &MetricLine) {
    let written = CAPTURED.with(|c| match c.borrow_mut().as_mut() {
        Some(buffer) => write_line(buffer, line),
        None if stdout_enabled() => write_line(&mut std::io::stdout().lock(), line),
        None => Ok(()),
    });
    if let Err(e) = written {
        tracing::warn!(error = %e, "could not write the EMF metrics line");
    }
}

/// Capture this thread's EMF lines instead of printing them (tests; a
/// current-thread runtime keeps the futures on this thread).
pub fn capture() -> Capture {
    CAPTURED.with(|c| *c.borrow_mut() = Some(Vec::new()));
    Capture(())
}

/// The capture; stdout again when dropped.
#[derive(Debug)]
pub struct Capture(());

impl Capture {
    /// The lines written so far, each parsed as JSON (a line that is not JSON
    /// is a string value, so a test sees it fail).
    pub fn lines(&self) -> Vec<Value> {
        CAPTURED.with(|c| {
            let text = c
                .borrow()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|_| Value::String(l.into())))
                .collect()
        })
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        CAPTURED.with(|c| *c.borrow_mut() = None);
    }
}

/// Test helper: the metric names a line declares with their units, and its dimension sets.
pub fn declared(line: &Value) -> (Vec<(String, String)>, Value) {
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    let metrics = directive["Metrics"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| {
                    (
                        m["Name"].as_str().unwrap_or_default().to_string(),
                        m["Unit"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (metrics, directive["Dimensions"].clone())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn line() -> MetricLine {
        MetricLine::new(
            "detect",
            DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        )
        .by_severity_action(Severity::High, Action::Revert)
        .count(names::CHANGES_SEEN, true)
        .value(names::EXPOSURE_TO_DETECTION, Unit::Seconds, Some(42.0))
    }

    #[test]
    fn a_line_is_one_emf_document_whose_directives_reference_root_members() {
        let doc = line().to_json();
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(
            directive["Dimensions"],
            json!([["Function"], ["Function", "Severity", "Action"]])
        );
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000i64);
        // Every referenced dimension and metric is a member of the root.
        for set in directive["Dimensions"].as_array().unwrap() {
            for key in set.as_array().unwrap() {
                assert!(doc[key.as_str().unwrap()].is_string(), "{key}");
            }
        }
        for m in directive["Metrics"].as_array().unwrap() {
            assert!(doc[m["Name"].as_str().unwrap()].is_number(), "{m}");
        }
        assert_eq!(doc["Severity"], "high");
        assert_eq!(doc["Action"], "revert");
    }

    #[test]
    fn a_distribution_is_an_array_of_values() {
        let mut l = line();
        l.metrics.push(Metric {
            name: names::EXPOSURE_WINDOW,
            unit: Unit::Seconds,
            values: vec![1.0, 2.0, 3.0],
        });
        assert_eq!(l.to_json()[names::EXPOSURE_WINDOW], json!([1.0, 2.0, 3.0]));
    }

    #[test]
    fn non_finite_and_negative_durations_are_left_out() {
        let l = MetricLine::new("remediate", Utc::now()).value(
            names::REMEDIATION_DURATION,
            Unit::Milliseconds,
            Some(f64::NAN),
        );
        assert!(l.metrics.is_empty());
        let now = Utc::now();
        assert_eq!(
            millis_between(now, now - chrono::Duration::seconds(1)),
            None
        );
    }

    /// Every metric name the template's alarms and dashboard read is one the
    /// functions print (a renamed metric would leave an alarm silent forever).
    #[test]
    fn the_template_reads_only_metrics_the_functions_print() {
        let template = include_str!("../../../template.yaml");
        let known = [
            names::CHANGES_SEEN,
            names::TICKETS_OPENED,
            names::EXPOSURE_TO_DETECTION,
            names::EXPOSURE_WINDOW,
            names::REVERTED,
            names::ROLLED_BACK,
            names::REFUSED,
            names::FAILED,
            names::REMEDIATION_DURATION,
            names::STACKS_SWEPT,
            names::RESOURCES_CHECKED,
            names::RESOURCES_NOT_CHECKED,
            names::SWEEP_COVERAGE,
            names::DRIFTED_RESOURCES,
        ];
        let mut used = Vec::new();
        let lines: Vec<&str> = template.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if l.trim() == "Namespace: Driftguard" {
                let name = lines[i + 1].trim().trim_start_matches("MetricName: ");
                used.push(name.to_string());
            }
            for part in l.split("[\"${Ns}\", \"").skip(1) {
                used.push(part.split('"').next().unwrap_or_default().to_string());
            }
        }
        assert!(used.len() >= 10, "{used:?}");
        for name in &used {
            assert!(known.contains(&name.as_str()), "template reads {name}");
        }
        for alarmed in [names::FAILED, names::EXPOSURE_WINDOW] {
            assert!(used.iter().any(|u| u == alarmed), "{alarmed}");
        }
    }

    #[test]
    fn emit_writes_one_json_line_into_the_capture() {
        let capture = capture();
        emit(&line());
        emit(&line());
        let lines = capture.lines();
        assert_eq!(lines.len(), 2);
        let (metrics, _) = declared(&lines[0]);
        assert!(metrics.contains(&("ChangesSeen".into(), "Count".into())));
        assert!(metrics.contains(&("ExposureToDetection".into(), "Seconds".into())));
    }
}
