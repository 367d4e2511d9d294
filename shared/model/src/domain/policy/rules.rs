//! Rules: the facts a change is matched on (`MatchFacts`), rules compiled
//! from `rules` (top-level or an environment's) and the first-match lookup.
use std::collections::{BTreeMap, HashSet};

use super::compile::Compiler;
use super::file::{Defaults, OwnershipKind, RuleFile};
use super::pattern::Pattern;
use super::PolicyError;
use crate::domain::actor::ActorKind;
use crate::domain::change::ChangeSource;
use crate::domain::drift::DriftStatus;
use crate::domain::verdict::{Action, Severity};

/// The facts a rule is matched against.
#[derive(Debug, Clone, Default)]
pub struct MatchFacts<'a> {
    /// The change's account id.
    pub account: &'a str,
    /// The change's region.
    pub region: &'a str,
    /// The owning stack's name, when managed.
    pub stack: Option<&'a str>,
    /// The resource's logical id in its stack, when managed.
    pub logical_id: Option<&'a str>,
    /// The type of the resource the change resolved to (the owner's).
    pub resource_type: Option<&'a str>,
    /// The type the API call names, when it differs or is all there is.
    pub api_resource_type: Option<&'a str>,
    /// The drift's status, when known.
    pub drift: Option<DriftStatus>,
    /// Managed, unmanaged, unknown or not checked.
    pub ownership: Option<OwnershipKind>,
    /// The resource's physical id (for `protected` selectors).
    pub physical_id: Option<&'a str>,
    /// The actor's class.
    pub actor: Option<ActorKind>,
    /// Where the change was seen.
    pub source: Option<ChangeSource>,
    /// `service:Operation`, e.g. `ec2:AuthorizeSecurityGroupIngress`.
    pub operation: Option<&'a str>,
    /// JSON pointers of the drifted properties.
    pub property_paths: Vec<&'a str>,
    /// The owning stack's tags, when managed.
    pub tags: Option<&'a BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct RuleMatcher {
    accounts: Vec<Pattern>,
    regions: Vec<Pattern>,
    stacks: Vec<Pattern>,
    resource_types: Vec<Pattern>,
    api_resource_types: Vec<Pattern>,
    drift: Vec<DriftStatus>,
    ownership: Vec<OwnershipKind>,
    actors: Vec<ActorKind>,
    sources: Vec<ChangeSource>,
    operations: Vec<Pattern>,
    property_paths: Vec<Pattern>,
    tags: Vec<(String, Pattern)>,
}

fn any_match(patterns: &[Pattern], value: Option<&str>) -> bool {
    patterns.is_empty() || value.is_some_and(|v| patterns.iter().any(|p| p.is_match(v)))
}

impl RuleMatcher {
    pub(super) fn matches(&self, f: &MatchFacts<'_>) -> bool {
        any_match(&self.accounts, Some(f.account))
            && any_match(&self.regions, Some(f.region))
            && any_match(&self.stacks, f.stack)
            && any_match(&self.resource_types, f.resource_type)
            && any_match(&self.api_resource_types, f.api_resource_type)
            && (self.drift.is_empty() || f.drift.is_some_and(|d| self.drift.contains(&d)))
            && (self.ownership.is_empty()
                || f.ownership.is_some_and(|o| self.ownership.contains(&o)))
            && any_match(&self.operations, f.operation)
            && (self.actors.is_empty() || f.actor.is_some_and(|a| self.actors.contains(&a)))
            && (self.sources.is_empty() || f.source.is_some_and(|s| self.sources.contains(&s)))
            && (self.property_paths.is_empty()
                || f.property_paths
                    .iter()
                    .any(|path| self.property_paths.iter().any(|p| p.is_match(path))))
            && self.tags.iter().all(|(key, pattern)| {
                f.tags
                    .and_then(|tags| tags.get(key))
                    .is_some_and(|v| pattern.is_match(v))
            })
    }
}

/// A rule, compiled.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule's name (`rules[].name`).
    pub name: String,
    /// Its verdict.
    pub action: Action,
    /// Its `dry_run`, or the defaults'.
    pub dry_run: bool,
    /// Its `requires_approval` (default: no).
    pub requires_approval: bool,
    /// Its `severity`, or the defaults'.
    pub severity: Severity,
    pub(super) matcher: RuleMatcher,
}

/// The rules and defaults that decide a change in one account: an
/// environment's, or the top-level ones for an account in none.
#[derive(Debug, Clone, Copy)]
pub struct RuleSet<'p> {
    /// The environment's name; `None`: the account is in no environment.
    pub environment: Option<&'p str>,
    /// `defaults` there: the verdict when no rule matches, and what rules leave unset.
    pub defaults: &'p Defaults,
    /// The rules, in order: the first match decides.
    pub rules: &'p [Rule],
}

impl Rule {
    /// Whether the rule's `match.actors` lists `kind` by name (a rule
    /// without `actors` matches every kind but names none).
    pub fn names_actor(&self, kind: ActorKind) -> bool {
        self.matcher.actors.contains(&kind)
    }
}

impl RuleSet<'_> {
    /// The first of the rules matching the facts.
    pub fn first_match(&self, facts: &MatchFacts<'_>) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matcher.matches(facts))
    }
}

impl Compiler<'_> {
    /// Compile `rules` (at `key`) with `defaults`; every name goes into `names`
    /// and must not be there already.
    pub(super) fn rules(
        &self,
        key: &str,
        rules: &[RuleFile],
        defaults: &Defaults,
        names: &mut HashSet<String>,
    ) -> Result<Vec<Rule>, PolicyError> {
        let mut out = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            let key = format!("{key}[{i}]");
            if r.name.trim().is_empty() || !names.insert(r.name.clone()) {
                return Err(PolicyError::Invalid {
                    key: format!("{key}.name"),
                    line: self.line_of(&format!("name: {}", r.name)),
                    message: format!(
                        "rule names must be unique (environments' rules included) and not empty: {:?}",
                        r.name
                    ),
                });
            }
            out.push(self.rule(&key, r, defaults)?);
        }
        Ok(out)
    }

    pub(super) fn rule(
        &self,
        key: &str,
        r: &RuleFile,
        defaults: &Defaults,
    ) -> Result<Rule, PolicyError> {
        let c = self;
        let m = &r.matches;
        let mk = format!("{key}.match");
        let matcher = RuleMatcher {
            accounts: c.globs(&format!("{mk}.accounts"), &m.accounts)?,
            regions: c.globs(&format!("{mk}.regions"), &m.regions)?,
            stacks: c.globs(&format!("{mk}.stacks"), &m.stacks)?,
            resource_types: c.globs(&format!("{mk}.resource_types"), &m.resource_types)?,
            api_resource_types: c
                .globs(&format!("{mk}.api_resource_types"), &m.api_resource_types)?,
            drift: m.drift.clone(),
            ownership: m.ownership.clone(),
            actors: m.actors.clone(),
            sources: m.sources.clone(),
            operations: c.globs(&format!("{mk}.operations"), &m.operations)?,
            property_paths: c.globs(&format!("{mk}.property_paths"), &m.property_paths)?,
            tags: m
                .tags
                .iter()
                .map(|(k, v)| Ok((k.clone(), c.glob(&format!("{mk}.tags.{k}"), v)?)))
                .collect::<Result<_, PolicyError>>()?,
        };
        Ok(Rule {
            name: r.name.clone(),
            action: r.verdict,
            dry_run: r.dry_run.unwrap_or(defaults.dry_run),
            // Rolling a stack back is high-risk: approval unless the rule says otherwise.
            requires_approval: r.requires_approval.unwrap_or(r.verdict == Action::Rollback),
            severity: r.severity.unwrap_or(defaults.severity),
            matcher,
        })
    }
}
