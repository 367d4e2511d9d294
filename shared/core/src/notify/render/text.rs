//! Text helpers shared by every renderer: Slack mrkdwn escaping, code spans
//! and links, value previews with secrets summarised, and [`truncate`].
use serde_json::Value;

pub(in crate::notify) fn or_unknown(s: &str) -> String {
    if s.is_empty() {
        "unknown".to_string()
    } else {
        s.to_string()
    }
}

pub(super) fn push_line(out: &mut String, line: &str) {
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(line);
}

pub(super) fn link(url: &str, label: &str) -> String {
    // `|` ends the URL part of a Slack link; labels are ids, keep them readable.
    format!(
        "<{}|{}>",
        url.replace('|', "%7C"),
        escape(label).replace('|', "/")
    )
}

/// Slack mrkdwn control characters (`&`, `<`, `>`) escaped, as Slack asks.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text for inside a `code` span: escaped, and no backtick that would end it.
pub(super) fn code(text: &str) -> String {
    escape(&text.replace('`', "'"))
}

/// Compact JSON (or the bare string) cut to `max` characters, secrets
/// summarised ([`crate::notify::redact`]).
pub(super) fn preview(value: &Value, max: usize) -> String {
    preview_at("", value, max)
}

/// [`preview`] of a value found at a property path (`/Environment/Variables`).
pub(super) fn preview_at(path: &str, value: &Value, max: usize) -> String {
    let value = &crate::notify::redact::redact(&crate::notify::redact::path_segments(path), value);
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    truncate(&text, max)
}

/// Cut to at most `max` characters (not bytes), ending in `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}
