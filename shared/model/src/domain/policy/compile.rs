//! From the parsed `PolicyFile` to a `Policy`: every check the schema cannot
//! express, each error naming its key and, where it can be found, its line.
//! The sections' own checks are in their modules (`identity`, `protected`,
//! `settings`, `rules`, `environment`); this holds the shared helpers (line
//! lookup, globs) and the order they run in.
use std::collections::HashSet;

use globset::Glob;

use super::file::{PolicyFile, POLICY_VERSION};
use super::pattern::Pattern;
use super::{Policy, PolicyError};

pub(super) struct Compiler<'s> {
    source: &'s str,
}

impl Compiler<'_> {
    pub(super) fn line_of(&self, needle: &str) -> Option<usize> {
        self.source
            .lines()
            .position(|line| line.contains(needle))
            .map(|i| i + 1)
    }

    /// The `n`th (from 0) line containing `needle` at or after line `from`
    /// (1-based; the `environments:` key, so a rule's `tags:` above it is
    /// not taken for an environment's).
    pub(super) fn line_of_nth(&self, needle: &str, from: usize, n: usize) -> Option<usize> {
        self.source
            .lines()
            .enumerate()
            .skip(from.saturating_sub(1))
            .filter(|(_, line)| line.contains(needle))
            .nth(n)
            .map(|(i, _)| i + 1)
    }

    pub(super) fn glob(&self, key: &str, text: &str) -> Result<Pattern, PolicyError> {
        if text.is_empty() {
            return Err(PolicyError::Invalid {
                key: key.to_string(),
                line: None,
                message: "must not be empty".to_string(),
            });
        }
        let glob = Glob::new(text).map_err(|e| PolicyError::Invalid {
            key: key.to_string(),
            line: self.line_of(text),
            message: format!("invalid glob {text:?}: {}", e.kind()),
        })?;
        Ok(Pattern::new(text, glob.compile_matcher()))
    }

    pub(super) fn globs(&self, key: &str, texts: &[String]) -> Result<Vec<Pattern>, PolicyError> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| self.glob(&format!("{key}[{i}]"), t))
            .collect()
    }

    pub(super) fn opt_glob(
        &self,
        key: &str,
        text: &Option<String>,
    ) -> Result<Option<Pattern>, PolicyError> {
        text.as_deref().map(|t| self.glob(key, t)).transpose()
    }
}

impl Policy {
    /// Validate and compile `file`, parsed from `source` (searched for the
    /// lines errors point at). The checks run in this order: version,
    /// identities, protected, rate limits, rules, environments; the first
    /// failing one is the error.
    pub(super) fn compile(file: PolicyFile, source: &str) -> Result<Self, PolicyError> {
        let c = Compiler { source };
        if !(1..=POLICY_VERSION).contains(&file.version) {
            return Err(PolicyError::Invalid {
                key: "version".into(),
                line: c.line_of("version"),
                message: format!(
                    "unsupported version {}, expected 1 or {POLICY_VERSION}",
                    file.version
                ),
            });
        }
        if file.version < 2 && !file.environments.is_empty() {
            return Err(PolicyError::Invalid {
                key: "environments".into(),
                line: c.line_of("environments"),
                message: "needs `version: 2` (version 1 has no environments)".into(),
            });
        }
        let mut warnings = Vec::new();
        let identities = c.identities(&file.identities, &mut warnings)?;
        let protected = c.protected(&file.protected)?;
        c.rate_limits(&file.rate_limits)?;
        let mut names = HashSet::new();
        let rules = c.rules("rules", &file.rules, &file.defaults, &mut names)?;
        let environments = c.environments(&file, &names)?;
        Ok(Policy {
            file,
            identities,
            rules,
            environments,
            protected,
            warnings,
        })
    }
}
