//! What changed: the API call, and the drift (CloudFormation's, the event's,
//! or out-of-template) with its property differences.
use serde_json::Value;

use driftguard_model::domain::{DifferenceKind, Drift, PropertyDifference};

use super::View;
use crate::notify::render::event::NotifyEvent;
use crate::notify::render::text::{code, escape, preview, preview_at, push_line, truncate};
use crate::notify::render::{MAX_DIFFERENCES_SHOWN, SLACK_SECTION_MAX, VALUE_PREVIEW_MAX};

impl<'a> View<'a> {
    /// The drift to show: out-of-template drift (CloudFormation cannot see
    /// it), else CloudFormation's when it has differences, else the event's.
    fn shown_drift(&self) -> Option<&'a Drift> {
        match self.event {
            NotifyEvent::Decision(d) => d
                .event_drift
                .as_ref()
                .filter(|e| e.status == driftguard_model::domain::DriftStatus::OutOfTemplate)
                .or(d.drift.as_ref().filter(|d| !d.differences.is_empty()))
                .or(d.event_drift.as_ref())
                .or(d.drift.as_ref()),
            NotifyEvent::Result(r) => r.verified.as_ref(),
        }
    }

    pub(in crate::notify::render) fn what_changed_mrkdwn(&self) -> String {
        let mut out = String::new();
        if let Some(c) = self.change {
            out.push_str(&format!(
                "`{}` on {}",
                code(&c.api()),
                escape(&c.resource.label())
            ));
        }
        let drift = self.shown_drift();
        let after = self.result().is_some();
        match drift {
            Some(d) if !d.differences.is_empty() => {
                let title = if after {
                    format!("Still different after remediation ({}):", d.status.as_str())
                } else {
                    format!("{} ({}):", drift_origin(d), d.status.as_str())
                };
                push_line(&mut out, &title);
                // Leave room for the "*What changed*" title and the "more" line.
                let budget = SLACK_SECTION_MAX - 200;
                let mut shown = 0;
                for diff in d.differences.iter().take(MAX_DIFFERENCES_SHOWN) {
                    let line = difference_mrkdwn(diff);
                    if out.chars().count() + line.chars().count() + 1 > budget {
                        break;
                    }
                    push_line(&mut out, &line);
                    shown += 1;
                }
                if d.differences.len() > shown {
                    push_line(
                        &mut out,
                        &format!("…and {} more", d.differences.len() - shown),
                    );
                }
            }
            Some(d) if d.status == driftguard_model::domain::DriftStatus::Deleted => {
                push_line(&mut out, "CloudFormation reports the resource *DELETED*");
            }
            Some(d) if after => {
                push_line(
                    &mut out,
                    &format!(
                        "After remediation CloudFormation reports *{}*",
                        d.status.as_str()
                    ),
                );
            }
            _ => {
                if let Some(c) = self.change.filter(|c| !c.request.is_null()) {
                    push_line(
                        &mut out,
                        &format!(
                            "Request: `{}`",
                            code(&preview(&c.request, VALUE_PREVIEW_MAX * 2))
                        ),
                    );
                }
            }
        }
        if let Some(c) = self.change.filter(|c| !c.unparsed.is_empty()) {
            // Left out of the record (issue 33, "Bad input"): say so, bounded.
            push_line(
                &mut out,
                &format!(
                    "Not read from the record: `{}`",
                    code(&truncate(&c.unparsed.join("; "), VALUE_PREVIEW_MAX * 2))
                ),
            );
        }
        if out.is_empty() {
            out.push_str("No details in the event.");
        }
        out
    }

    pub(in crate::notify::render) fn what_changed_plain(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = self.change {
            parts.push(format!("{} on {}", c.api(), c.resource.label()));
        }
        if let Some(d) = self.shown_drift() {
            if d.status == driftguard_model::domain::DriftStatus::OutOfTemplate {
                parts.push(
                    "out-of-template drift: a property the template does not declare".to_string(),
                );
            }
            let diffs: Vec<String> = d
                .differences
                .iter()
                .take(3)
                .map(|diff| {
                    let value = |v: &Option<Value>| {
                        v.as_ref()
                            .map_or("nothing".to_string(), |v| preview_at(&diff.path, v, 120))
                    };
                    match diff.kind {
                        DifferenceKind::Add => {
                            format!("{} added {}", diff.path, value(&diff.actual))
                        }
                        DifferenceKind::Remove => {
                            format!("{} removed (was {})", diff.path, value(&diff.expected))
                        }
                        DifferenceKind::NotEqual => {
                            format!(
                                "{} {} -> {}",
                                diff.path,
                                value(&diff.expected),
                                value(&diff.actual)
                            )
                        }
                    }
                })
                .collect();
            if !diffs.is_empty() {
                let more = d.differences.len().saturating_sub(diffs.len());
                let more = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                parts.push(format!("{}{more}", diffs.join(", ")));
            }
            if self.result().is_some() {
                parts.push(format!(
                    "after remediation CloudFormation reports {}",
                    d.status.as_str()
                ));
            }
        }
        parts.join("; ")
    }
}

fn drift_origin(d: &Drift) -> &'static str {
    if d.status == driftguard_model::domain::DriftStatus::OutOfTemplate {
        return "Out-of-template drift, a property the template does not declare (CloudFormation drift detection does not check it)";
    }
    match d.origin {
        driftguard_model::domain::DriftOrigin::Cloudformation => "CloudFormation drift detection",
        driftguard_model::domain::DriftOrigin::EventRequest(_) => "From the API request",
    }
}

fn difference_mrkdwn(diff: &PropertyDifference) -> String {
    let value = |v: &Option<Value>| match v {
        Some(v) => format!("`{}`", code(&preview_at(&diff.path, v, VALUE_PREVIEW_MAX))),
        None => "_nothing_".to_string(),
    };
    let path = code(&truncate(&diff.path, 200));
    match diff.kind {
        DifferenceKind::Add => format!("• `{path}` added: {}", value(&diff.actual)),
        DifferenceKind::Remove => format!("• `{path}` removed (was {})", value(&diff.expected)),
        DifferenceKind::NotEqual => format!(
            "• `{path}`: {} → {}",
            value(&diff.expected),
            value(&diff.actual)
        ),
    }
}
