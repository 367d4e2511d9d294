//! A compiled policy glob, with a fast path for the `*`-only globs nearly
//! every policy uses.
use globset::GlobMatcher;

#[derive(Debug, Clone)]
pub(super) struct Pattern {
    pub(super) text: String,
    matcher: GlobMatcher,
    /// `text` split at `*` when `*` is its only special character (nearly every
    /// policy glob): matched without the regex engine, with the same meaning.
    pub(super) star_segments: Option<Vec<String>>,
}

impl Pattern {
    pub(super) fn new(text: &str, matcher: GlobMatcher) -> Self {
        // With globset's default options `*` matches any run of bytes, `/` and
        // newlines included; anything fancier (`?`, classes, alternates,
        // escapes, `**`) stays with globset.
        let only_stars =
            !text.contains(['?', '[', ']', '{', '}', ',', '\\']) && !text.contains("**");
        Self {
            text: text.to_string(),
            matcher,
            star_segments: only_stars.then(|| text.split('*').map(str::to_string).collect()),
        }
    }

    pub(super) fn is_match(&self, value: &str) -> bool {
        match &self.star_segments {
            Some(segments) => star_match(segments, value),
            None => self.matcher.is_match(value),
        }
    }
}

/// Does `value` match the glob whose literal parts, between `*`s, are `segments`?
fn star_match(segments: &[String], value: &str) -> bool {
    let (first, rest) = match segments.split_first() {
        Some(split) => split,
        None => return value.is_empty(),
    };
    let Some((last, middle)) = rest.split_last() else {
        return value == first;
    };
    let Some(inner) = value
        .strip_prefix(first.as_str())
        .and_then(|v| v.strip_suffix(last.as_str()))
    else {
        return false;
    };
    // `inner` is what lies between a prefix and a suffix that do not overlap.
    let mut remaining = inner;
    for segment in middle {
        match remaining.find(segment.as_str()) {
            Some(at) => remaining = &remaining[at + segment.len()..],
            None => return false,
        }
    }
    true
}
