//! Environments (policy version 2): which accounts are in which environment
//! (by id, OU path or account tag, with the `AccountFacts` the last two need),
//! and each environment compiled with its own defaults and rules.
use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::compile::Compiler;
use super::file::{Defaults, EnvironmentFile, PolicyFile};
use super::rules::{MatchFacts, Rule};
use super::PolicyError;

/// What AWS Organizations says of an account, for environments matched by
/// `match.ou` or `match.tags` (driftguard-core's `ports::AccountDirectory`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFacts {
    /// `o-…/r-…/ou-…/…/`: the organization, its root and the OUs down to the
    /// account's parent.
    pub ou_path: String,
    /// The account's tags.
    pub tags: BTreeMap<String, String>,
}

/// `o-<10-32>/r-<4-32>/` then `ou-<4-32>-<8-32>/` segments, lower-case
/// letters and digits (the ids' patterns in the Organizations API reference,
/// <https://docs.aws.amazon.com/organizations/latest/APIReference/API_OrganizationalUnit.html>:
/// "^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$").
pub fn is_ou_path(path: &str) -> bool {
    let Some(body) = path.strip_suffix('/') else {
        return false;
    };
    let alnum = |s: &str, min: usize, max: usize| {
        (min..=max).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    let mut parts = body.split('/');
    let org = parts.next().and_then(|p| p.strip_prefix("o-"));
    let root = parts.next().and_then(|p| p.strip_prefix("r-"));
    org.is_some_and(|o| alnum(o, 10, 32))
        && root.is_some_and(|r| alnum(r, 4, 32))
        && parts.all(|p| {
            p.strip_prefix("ou-")
                .and_then(|rest| rest.split_once('-'))
                .is_some_and(|(a, b)| alnum(a, 4, 32) && alnum(b, 8, 32))
        })
}

/// An environment, compiled: its accounts, its defaults (the top-level ones
/// with its overrides) and its rules (its own, then the top-level rules
/// compiled with those defaults).
#[derive(Debug, Clone)]
pub struct Environment {
    /// The environment's name.
    pub name: String,
    /// Account ids listed by `match.accounts`.
    pub accounts: Vec<String>,
    /// OU path prefixes (`match.ou`); empty: not matched by OU.
    pub ou_paths: Vec<String>,
    /// Tags the account must carry (`match.tags`); empty: not matched by tag.
    pub tags: BTreeMap<String, String>,
    /// The top-level defaults with the environment's overrides.
    pub defaults: Defaults,
    /// How many of `rules` are the environment's own (they come first).
    pub own_rules: usize,
    /// The environment's own rules, then the top-level ones compiled with its defaults.
    pub rules: Vec<Rule>,
}

impl Environment {
    /// Whether the environment matches accounts by OU or tag.
    pub fn matches_by_facts(&self) -> bool {
        !self.ou_paths.is_empty() || !self.tags.is_empty()
    }

    /// An account not listed by id: in the environment when it matches
    /// every criterion given (one of the OU paths, all the tags).
    pub fn covers(&self, facts: &AccountFacts) -> bool {
        self.matches_by_facts()
            && (self.ou_paths.is_empty()
                || self
                    .ou_paths
                    .iter()
                    .any(|p| facts.ou_path.starts_with(p.as_str())))
            && self.tags.iter().all(|(k, v)| facts.tags.get(k) == Some(v))
    }

    /// The first of the environment's rules, then of the top-level rules,
    /// matching the facts.
    pub fn first_match(&self, facts: &MatchFacts<'_>) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matcher.matches(facts))
    }
}

/// A 12-digit AWS account id.
fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

impl Compiler<'_> {
    /// An environment names its accounts somehow; its OU paths and tags are
    /// well-formed.
    fn environment_criteria(
        &self,
        key: &str,
        e: &EnvironmentFile,
        from: usize,
    ) -> Result<(), PolicyError> {
        let invalid = |field: &str, needle: &str, message: String| PolicyError::Invalid {
            key: format!("{key}{field}"),
            line: self.line_of_nth(needle, from, 0),
            message,
        };
        let m = &e.matches;
        if m.accounts.is_empty() && m.ou.is_empty() && m.tags.is_empty() {
            return Err(invalid(
                ".match",
                &format!("name: {}", e.name.trim()),
                "required: the environment's accounts, by id (`match.accounts`), OU path \
                 (`match.ou`) or account tag (`match.tags`)"
                    .into(),
            ));
        }
        for (j, path) in m.ou.iter().enumerate() {
            if !is_ou_path(path) {
                return Err(invalid(
                    &format!(".match.ou[{j}]"),
                    path,
                    format!(
                        "{path:?} is not an OU path: `o-<org id>/r-<root id>/ou-<id>/.../`, \
                         ending in `/` (the form of aws:PrincipalOrgPaths)"
                    ),
                ));
            }
        }
        for (k, v) in &m.tags {
            if k.trim().is_empty() || k.len() > 128 || v.len() > 256 {
                return Err(invalid(
                    ".match.tags",
                    "tags:",
                    format!("tag {k:?}: a key of 1 to 128 characters, a value of at most 256"),
                ));
            }
        }
        Ok(())
    }

    /// `environments`: names unique (`environment_name`), accounts given as
    /// 12-digit ids, each account listed by at most one environment
    /// (`environment_accounts`), OU paths and tags well-formed
    /// (`environment_criteria`).
    pub(super) fn environments(
        &self,
        file: &PolicyFile,
        top_level_names: &HashSet<String>,
    ) -> Result<Vec<Environment>, PolicyError> {
        let mut out: Vec<Environment> = Vec::new();
        // account → index of the environment listing it.
        let mut owner: BTreeMap<&str, usize> = BTreeMap::new();
        let mut names = top_level_names.clone();
        let from = self.line_of("environments:").unwrap_or(1);
        for (i, e) in file.environments.iter().enumerate() {
            let key = format!("environments[{i}]");
            let name = self.environment_name(&key, e, &out, from)?;
            self.environment_criteria(&key, e, from)?;
            self.environment_accounts(&key, i, file, &mut owner, from)?;
            let defaults = e.defaults.over(&file.defaults);
            let mut rules = self.rules(&format!("{key}.rules"), &e.rules, &defaults, &mut names)?;
            let own_rules = rules.len();
            // The top-level rules again, with this environment's defaults
            // (their names are checked once, above).
            for (j, r) in file.rules.iter().enumerate() {
                rules.push(self.rule(&format!("rules[{j}]"), r, &defaults)?);
            }
            out.push(Environment {
                name: name.to_string(),
                accounts: e.matches.accounts.clone(),
                ou_paths: e.matches.ou.clone(),
                tags: e.matches.tags.clone(),
                defaults,
                own_rules,
                rules,
            });
        }
        Ok(out)
    }

    /// `environments[i].name`: given, without surrounding blanks, of
    /// letters, digits, `-`, `_` and `.`, and not an `earlier` environment's.
    fn environment_name<'e>(
        &self,
        key: &str,
        e: &'e EnvironmentFile,
        earlier: &[Environment],
        from: usize,
    ) -> Result<&'e str, PolicyError> {
        let invalid = |field: &str, needle: &str, message: String| PolicyError::Invalid {
            key: format!("{key}{field}"),
            line: self.line_of_nth(needle, from, 0),
            message,
        };
        let name = e.name.trim();
        if name.is_empty() {
            return Err(invalid(
                ".name",
                "environments",
                "required: every environment has a name (shown on tickets and by replay)".into(),
            ));
        }
        if name != e.name
            || !name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
        {
            return Err(invalid(
                ".name",
                &format!("name: {}", e.name),
                format!("{:?}: letters, digits, `-`, `_` and `.` only", e.name),
            ));
        }
        if let Some(other) = earlier.iter().position(|o| o.name == name) {
            return Err(invalid(
                ".name",
                &format!("name: {name}"),
                format!("{name:?} is already the name of environments[{other}]"),
            ));
        }
        Ok(name)
    }

    /// `environments[i].match.accounts`: 12-digit ids, each listed once in
    /// the whole file (`owner`: account → index of the environment listing
    /// it, filled in here).
    fn environment_accounts<'f>(
        &self,
        key: &str,
        i: usize,
        file: &'f PolicyFile,
        owner: &mut BTreeMap<&'f str, usize>,
        from: usize,
    ) -> Result<(), PolicyError> {
        let e = &file.environments[i];
        let invalid = |field: &str, needle: &str, message: String| PolicyError::Invalid {
            key: format!("{key}{field}"),
            line: self.line_of_nth(needle, from, 0),
            message,
        };
        for (j, account) in e.matches.accounts.iter().enumerate() {
            let field = format!(".match.accounts[{j}]");
            if !is_account_id(account) {
                return Err(invalid(
                    &field,
                    account,
                    format!("{account:?} is not a 12-digit account id (no globs: an account is in one environment or none)"),
                ));
            }
            match owner.get(account.as_str()) {
                Some(&k) if k == i => {
                    return Err(invalid(
                        &field,
                        account,
                        format!("{account} is listed twice"),
                    ))
                }
                Some(&k) => {
                    return Err(PolicyError::Invalid {
                        key: format!("{key}{field}"),
                        line: self.line_of_nth(account, from, 1),
                        message: format!(
                            "ambiguous: {account} is also in environments[{k}] ({}); an \
                             account belongs to at most one environment",
                            file.environments[k].name
                        ),
                    })
                }
                None => {
                    owner.insert(account, i);
                }
            }
        }
        Ok(())
    }
}
