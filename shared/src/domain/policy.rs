//! The policy: a YAML file, versioned with the template, that turns changes into verdicts.
//!
//! Parsing is strict: unknown keys and wrongly typed values are errors naming
//! the key and the line. See `docs/policy.md`.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};

use super::actor::{ActorKind, Identity};
use super::arn::{AccountSpec, ArnPattern, PrincipalArn, PrincipalType};
use super::change::ChangeSource;
use super::drift::DriftStatus;
use super::ownership::Ownership;
use super::verdict::{Action, Severity};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("policy line {line}, column {column}: {message}")]
    Syntax {
        message: String,
        line: usize,
        column: usize,
    },
    #[error("policy{}: `{key}`: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Invalid {
        key: String,
        line: Option<usize>,
        message: String,
    },
    #[error("cannot read policy {path}: {message}")]
    Io { path: String, message: String },
}

// ---------------------------------------------------------------- file format

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    #[serde(default = "one")]
    pub version: u32,
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub identities: IdentitiesFile,
    #[serde(default)]
    pub protected: Vec<ResourceSelector>,
    #[serde(default)]
    pub rate_limits: RateLimits,
    #[serde(default)]
    pub remediation: RemediationSettings,
    #[serde(default)]
    pub rules: Vec<RuleFile>,
    /// Changes to resources no stack owns: `ticket` (default: a low-severity
    /// ticket, never any remediation) or `ignore`.
    #[serde(default)]
    pub unmanaged: UnmanagedSetting,
}

/// What happens to a change on a resource proven to belong to no stack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnmanagedSetting {
    Ignore,
    #[default]
    Ticket,
}

/// Ownership as a rule fact (`match.ownership`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnershipKind {
    Managed,
    Unmanaged,
    Unknown,
    NotChecked,
}

impl From<&Ownership> for OwnershipKind {
    fn from(o: &Ownership) -> Self {
        match o {
            Ownership::Managed(_) => Self::Managed,
            Ownership::Unmanaged => Self::Unmanaged,
            Ownership::Unknown { .. } => Self::Unknown,
            Ownership::NotChecked => Self::NotChecked,
        }
    }
}

fn one() -> u32 {
    1
}

impl Default for PolicyFile {
    fn default() -> Self {
        Self {
            version: 1,
            defaults: Defaults::default(),
            identities: IdentitiesFile::default(),
            protected: Vec::new(),
            rate_limits: RateLimits::default(),
            remediation: RemediationSettings::default(),
            rules: Vec::new(),
            unmanaged: UnmanagedSetting::default(),
        }
    }
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Global dry-run: plans are made and shown but nothing is changed.
    #[serde(default = "yes")]
    pub dry_run: bool,
    /// Verdict when no rule matches.
    #[serde(default = "default_action")]
    pub verdict: Action,
    #[serde(default)]
    pub severity: Severity,
}

fn default_action() -> Action {
    Action::Ticket
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            dry_run: true,
            verdict: Action::Ticket,
            severity: Severity::Medium,
        }
    }
}

/// A principal pattern: a role or user matched by ARN structure (see
/// [`super::arn::ArnPattern`] for the syntax), optionally narrowed by a role
/// session name glob and pinned to the principal's unique id.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalPattern {
    /// `role/NAME`, `role/PATH/NAME`, `user/NAME` (driftguard's account) or
    /// `arn:aws:iam::ACCOUNT:role/…` (ACCOUNT: 12 digits, or `*` on purpose).
    /// A role pattern matches an assumed-role session through its AWS-set
    /// `sessionContext.sessionIssuer.arn`. Required.
    #[serde(default)]
    pub principal: Option<String>,
    /// Glob on the role session name: it only narrows `principal` (the
    /// session name is chosen by the caller).
    #[serde(default)]
    pub session_name: Option<String>,
    /// The role's (`AROA…`) or user's (`AIDA…`) unique id: AWS-set
    /// `userIdentity.principalId` (before the `:` for an assumed role). A
    /// role deleted and re-created under the same name gets a new id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassFile {
    pub principal: String,
    #[serde(default)]
    pub session_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_id: Option<String>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitiesFile {
    /// driftguard's own remediation role(s): changes they make are never acted on.
    #[serde(default)]
    pub own: Vec<PrincipalPattern>,
    /// Deploy principals: their changes are allowed.
    #[serde(default)]
    pub pipeline: Vec<PrincipalPattern>,
    /// Emergency principals, each with a time window: ticketed, never reverted.
    #[serde(default)]
    pub break_glass: Vec<BreakGlassFile>,
    /// Principals whose (AWS-authenticated) approval lets an
    /// AWAITING_APPROVAL remediation run. Empty: nobody can approve.
    #[serde(default)]
    pub approvers: Vec<PrincipalPattern>,
}

/// Selects resources, e.g. for `protected`. Every field given must match.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSelector {
    #[serde(default, rename = "type")]
    pub resource_type: Option<String>,
    #[serde(default)]
    pub physical_id: Option<String>,
    #[serde(default)]
    pub stack: Option<String>,
    #[serde(default)]
    pub logical_id: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub max_actions: u32,
    pub window_minutes: u32,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    #[serde(default = "per_stack_default")]
    pub per_stack: RateLimit,
    #[serde(default = "global_default")]
    pub global: RateLimit,
}

fn per_stack_default() -> RateLimit {
    RateLimit {
        max_actions: 5,
        window_minutes: 60,
    }
}
fn global_default() -> RateLimit {
    RateLimit {
        max_actions: 20,
        window_minutes: 60,
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_stack: per_stack_default(),
            global: global_default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RemediationSettings {
    /// Resource types that may be patched through Cloud Control.
    #[serde(default)]
    pub cloud_control_types: Vec<String>,
    /// Allow `ContinueUpdateRollback` with `ResourcesToSkip`.
    #[serde(default)]
    pub allow_resources_to_skip: bool,
    /// How long an approval request stays valid.
    #[serde(default = "approval_ttl")]
    pub approval_ttl_minutes: u32,
    /// Consecutive failures on one resource before its circuit opens.
    #[serde(default = "breaker_threshold")]
    pub circuit_breaker_failures: u32,
    #[serde(default = "breaker_cooldown")]
    pub circuit_breaker_cooldown_minutes: u32,
    /// May a principal approve a remediation of a change it made itself?
    #[serde(default)]
    pub allow_self_approval: bool,
    /// remediate refuses a decision older than this (from the ticket's
    /// decision time, not the event's): Lambda's async queue keeps events up
    /// to 6 h.
    #[serde(default = "max_decision_age")]
    pub max_decision_age_seconds: u32,
    /// What to do when a REVERT_DRIFT change set would also revert other
    /// drifted resources of the stack (it reverts every one of them).
    #[serde(default)]
    pub change_set_reverts_others: RevertsOthers,
}

/// `remediation.change_set_reverts_others`: a drift-aware change set
/// (`DeploymentMode=REVERT_DRIFT`) "bring[s] drifted resources in line with
/// their template definitions", every drifted resource of the stack, not only
/// the ticket's
/// (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/drift-aware-change-sets.html>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RevertsOthers {
    /// Skip the change set and plan the next strategy (the inverse call) for
    /// the ticket's resource alone.
    #[default]
    FallBack,
    /// Keep the change set, list every resource it reverts in the plan, and
    /// wait for a person's approval of that plan.
    RequireApproval,
}

fn max_decision_age() -> u32 {
    900
}

fn approval_ttl() -> u32 {
    24 * 60
}
fn breaker_threshold() -> u32 {
    3
}
fn breaker_cooldown() -> u32 {
    60
}

impl Default for RemediationSettings {
    fn default() -> Self {
        Self {
            cloud_control_types: Vec::new(),
            allow_resources_to_skip: false,
            approval_ttl_minutes: approval_ttl(),
            circuit_breaker_failures: breaker_threshold(),
            circuit_breaker_cooldown_minutes: breaker_cooldown(),
            allow_self_approval: false,
            max_decision_age_seconds: max_decision_age(),
            change_set_reverts_others: RevertsOthers::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MatchFile {
    #[serde(default)]
    pub accounts: Vec<String>,
    #[serde(default)]
    pub regions: Vec<String>,
    /// Globs on the owning stack's name.
    #[serde(default)]
    pub stacks: Vec<String>,
    /// Globs on the CloudFormation type of the resource the change resolved
    /// to (a bucket-policy call on a bucket whose stack has no
    /// `AWS::S3::BucketPolicy` is an `AWS::S3::Bucket` change).
    #[serde(default)]
    pub resource_types: Vec<String>,
    /// Globs on the type the API call itself names (e.g. `AWS::S3::BucketPolicy`
    /// for `s3:PutBucketPolicy`), whatever it resolved to.
    #[serde(default)]
    pub api_resource_types: Vec<String>,
    /// Drift kinds: `modified`, `deleted`, `out_of_template`, `unknown`
    /// (the event's own view), `not_checked`.
    #[serde(default)]
    pub drift: Vec<DriftStatus>,
    /// `managed`, `unmanaged`, `unknown`.
    #[serde(default)]
    pub ownership: Vec<OwnershipKind>,
    #[serde(default)]
    pub actors: Vec<ActorKind>,
    #[serde(default)]
    pub sources: Vec<ChangeSource>,
    /// Globs on `service:Operation`, e.g. `ec2:AuthorizeSecurityGroup*`.
    #[serde(default)]
    pub operations: Vec<String>,
    /// Globs on drifted property paths (JSON pointer), e.g. `/SecurityGroupIngress*`.
    #[serde(default)]
    pub property_paths: Vec<String>,
    /// Stack or resource tags: key → glob on the value.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub name: String,
    #[serde(default, rename = "match")]
    pub matches: MatchFile,
    pub verdict: Action,
    #[serde(default)]
    pub dry_run: Option<bool>,
    #[serde(default)]
    pub requires_approval: Option<bool>,
    #[serde(default)]
    pub severity: Option<Severity>,
}

// ---------------------------------------------------------------- compiled form

#[derive(Debug, Clone)]
struct Pattern {
    text: String,
    matcher: GlobMatcher,
    /// `text` split at `*` when `*` is its only special character (nearly every
    /// policy glob): matched without the regex engine, with the same meaning.
    star_segments: Option<Vec<String>>,
}

impl Pattern {
    fn new(text: &str, matcher: GlobMatcher) -> Self {
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

    fn is_match(&self, value: &str) -> bool {
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

#[derive(Debug, Clone)]
struct PrincipalMatcher {
    principal: ArnPattern,
    session_name: Option<Pattern>,
    unique_id: Option<String>,
}

impl PrincipalMatcher {
    /// Evidence text when the identity matches; `home` is the account
    /// driftguard runs in (patterns that omit the account need it).
    fn matches(&self, identity: &Identity, home: Option<&str>) -> Option<String> {
        let arn = principal_for(identity, self.principal.kind)?;
        if !self.principal.matches(&arn, home) {
            return None;
        }
        let mut why = format!(
            "{} {} matches {}",
            arn.kind.as_str(),
            arn_text(identity, self.principal.kind),
            self.principal
        );
        if let Some(id) = &self.unique_id {
            let given = identity.principal_id.as_deref()?;
            let unique = given.split(':').next().unwrap_or(given);
            if unique != id {
                return None;
            }
            why.push_str(&format!("; unique id {unique}"));
        }
        if let Some(s) = &self.session_name {
            let name = identity.session_name.as_deref()?;
            if !s.is_match(name) {
                return None;
            }
            why.push_str(&format!("; role session name {name} matches {}", s.text));
        }
        Some(why)
    }
}

/// The AWS-set ARN a pattern of `kind` is matched on: the session issuer for a
/// role (only when the session ARN is that role's), the principal for a user.
fn principal_for(identity: &Identity, kind: PrincipalType) -> Option<PrincipalArn> {
    let principal = identity
        .principal_arn
        .as_deref()
        .map(PrincipalArn::parse)
        .transpose()
        .ok()?;
    match kind {
        PrincipalType::User => principal.filter(|p| p.kind == PrincipalType::User),
        PrincipalType::Role => {
            let issuer = PrincipalArn::parse(identity.session_issuer_arn.as_deref()?).ok()?;
            let session = principal?;
            let consistent = issuer.kind == PrincipalType::Role
                && session.kind == PrincipalType::AssumedRole
                && session.account == issuer.account
                && session.partition == issuer.partition
                && session.name == issuer.name;
            consistent.then_some(issuer)
        }
        PrincipalType::AssumedRole => None,
    }
}

fn arn_text(identity: &Identity, kind: PrincipalType) -> &str {
    match kind {
        PrincipalType::Role => identity.session_issuer_arn.as_deref(),
        _ => identity.principal_arn.as_deref(),
    }
    .unwrap_or("")
}

#[derive(Debug, Clone)]
struct BreakGlassMatcher {
    who: PrincipalMatcher,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
}

/// Identity rules, compiled.
///
/// Patterns that omit the account match the *home* account: the one
/// driftguard runs in. Each `*_match` uses the home account set with
/// [`IdentityRules::set_home_account`]; the `*_match_in` forms take it per
/// call (the pipeline passes the watched account). Without one, such patterns
/// match nothing: an unknown account is never the pipeline's.
#[derive(Debug, Clone, Default)]
pub struct IdentityRules {
    own: Vec<PrincipalMatcher>,
    pipeline: Vec<PrincipalMatcher>,
    break_glass: Vec<BreakGlassMatcher>,
    approvers: Vec<PrincipalMatcher>,
    home_account: Option<String>,
}

impl IdentityRules {
    pub fn home_account(&self) -> Option<&str> {
        self.home_account.as_deref()
    }

    pub fn set_home_account(&mut self, account: impl Into<String>) {
        self.home_account = Some(account.into());
    }

    pub fn own_match(&self, identity: &Identity) -> Option<String> {
        self.own_match_in(identity, self.home_account())
    }

    pub fn own_match_in(&self, identity: &Identity, home: Option<&str>) -> Option<String> {
        self.own.iter().find_map(|m| m.matches(identity, home))
    }

    pub fn pipeline_match(&self, identity: &Identity) -> Option<String> {
        self.pipeline_match_in(identity, self.home_account())
    }

    pub fn pipeline_match_in(&self, identity: &Identity, home: Option<&str>) -> Option<String> {
        self.pipeline.iter().find_map(|m| m.matches(identity, home))
    }

    /// Evidence when `identity` (the AWS-authenticated caller of an approval)
    /// is an allowed approver.
    pub fn approver_match(&self, identity: &Identity) -> Option<String> {
        let home = self.home_account();
        self.approvers
            .iter()
            .find_map(|m| m.matches(identity, home))
    }

    /// `Some(Ok(evidence))` inside a window, `Some(Err(evidence))` when a
    /// break-glass principal acts outside every window of its own.
    pub fn break_glass_match(
        &self,
        identity: &Identity,
        at: DateTime<Utc>,
    ) -> Option<Result<String, String>> {
        self.break_glass_match_in(identity, at, self.home_account())
    }

    pub fn break_glass_match_in(
        &self,
        identity: &Identity,
        at: DateTime<Utc>,
        home: Option<&str>,
    ) -> Option<Result<String, String>> {
        let mut outside = None;
        for entry in &self.break_glass {
            if let Some(evidence) = entry.who.matches(identity, home) {
                if entry.not_before <= at && at <= entry.not_after {
                    return Some(Ok(format!(
                        "{evidence}; {at} is inside break-glass window {}..{}",
                        entry.not_before, entry.not_after
                    )));
                }
                outside = Some(format!(
                    "{evidence}; but {at} is outside break-glass window {}..{}",
                    entry.not_before, entry.not_after
                ));
            }
        }
        outside.map(Err)
    }
}

#[derive(Debug, Clone, Default)]
struct SelectorMatcher {
    resource_type: Option<Pattern>,
    physical_id: Option<Pattern>,
    stack: Option<Pattern>,
    logical_id: Option<Pattern>,
}

fn opt_match(pattern: &Option<Pattern>, value: Option<&str>) -> bool {
    match pattern {
        None => true,
        Some(p) => value.is_some_and(|v| p.is_match(v)),
    }
}

/// The facts a rule is matched against.
#[derive(Debug, Clone, Default)]
pub struct MatchFacts<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub stack: Option<&'a str>,
    pub logical_id: Option<&'a str>,
    /// The type of the resource the change resolved to (the owner's).
    pub resource_type: Option<&'a str>,
    /// The type the API call names, when it differs or is all there is.
    pub api_resource_type: Option<&'a str>,
    pub drift: Option<DriftStatus>,
    pub ownership: Option<OwnershipKind>,
    pub physical_id: Option<&'a str>,
    pub actor: Option<ActorKind>,
    pub source: Option<ChangeSource>,
    pub operation: Option<&'a str>,
    pub property_paths: Vec<&'a str>,
    pub tags: Option<&'a BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default)]
struct RuleMatcher {
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
    fn matches(&self, f: &MatchFacts<'_>) -> bool {
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
    pub name: String,
    pub action: Action,
    pub dry_run: bool,
    pub requires_approval: bool,
    pub severity: Severity,
    matcher: RuleMatcher,
}

/// A compiled, validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub file: PolicyFile,
    pub identities: IdentityRules,
    pub rules: Vec<Rule>,
    protected: Vec<SelectorMatcher>,
    warnings: Vec<PolicyWarning>,
}

/// A legal but risky policy setting (`driftguard policy check` prints it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWarning {
    pub key: String,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for PolicyWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: `{}`: {}", self.key, self.message),
            None => write!(f, "`{}`: {}", self.key, self.message),
        }
    }
}

/// `AROA…` (role) or `AIDA…` (user) followed by upper-case letters and digits.
fn is_unique_id(id: &str) -> bool {
    (id.starts_with("AROA") || id.starts_with("AIDA"))
        && id.len() >= 16
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

impl Default for Policy {
    /// The safe default: ticket everything, dry-run on, no known principals.
    fn default() -> Self {
        Policy {
            file: PolicyFile::default(),
            identities: IdentityRules::default(),
            rules: Vec::new(),
            protected: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

struct Compiler<'s> {
    source: &'s str,
}

impl Compiler<'_> {
    fn line_of(&self, needle: &str) -> Option<usize> {
        self.source
            .lines()
            .position(|line| line.contains(needle))
            .map(|i| i + 1)
    }

    fn glob(&self, key: &str, text: &str) -> Result<Pattern, PolicyError> {
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

    fn globs(&self, key: &str, texts: &[String]) -> Result<Vec<Pattern>, PolicyError> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| self.glob(&format!("{key}[{i}]"), t))
            .collect()
    }

    fn opt_glob(&self, key: &str, text: &Option<String>) -> Result<Option<Pattern>, PolicyError> {
        text.as_deref().map(|t| self.glob(key, t)).transpose()
    }

    fn principal(
        &self,
        key: &str,
        p: &PrincipalPattern,
        warnings: &mut Vec<PolicyWarning>,
    ) -> Result<PrincipalMatcher, PolicyError> {
        let Some(text) = p.principal.as_deref() else {
            return Err(PolicyError::Invalid {
                key: format!("{key}.principal"),
                line: None,
                message: "required: the role session name is chosen by the caller, so \
                          `session_name` only narrows a `principal`"
                    .to_string(),
            });
        };
        let principal = ArnPattern::parse(text).map_err(|message| PolicyError::Invalid {
            key: format!("{key}.principal"),
            line: self.line_of(text),
            message,
        })?;
        if principal.account == AccountSpec::Any {
            warnings.push(PolicyWarning {
                key: format!("{key}.principal"),
                line: self.line_of(text),
                message: format!(
                    "{text:?} matches that {} in every AWS account, including accounts you \
                     do not own; write the account id, or omit the account for driftguard's own",
                    principal.kind.as_str()
                ),
            });
        }
        let unique_id = match p.unique_id.as_deref() {
            None => None,
            Some(id) if is_unique_id(id) => Some(id.to_string()),
            Some(id) => {
                return Err(PolicyError::Invalid {
                    key: format!("{key}.unique_id"),
                    line: self.line_of(id),
                    message: format!("{id:?} is not a role (AROA…) or user (AIDA…) unique id"),
                })
            }
        };
        Ok(PrincipalMatcher {
            principal,
            session_name: self.opt_glob(&format!("{key}.session_name"), &p.session_name)?,
            unique_id,
        })
    }
}

impl Policy {
    /// Parse and validate a policy from YAML text.
    pub fn from_yaml(text: &str) -> Result<Self, PolicyError> {
        let file: PolicyFile = if text.trim().is_empty() {
            PolicyFile::default()
        } else {
            yaml_serde::from_str(text).map_err(|e| {
                let (line, column) = e
                    .location()
                    .map(|l| (l.line(), l.column()))
                    .unwrap_or((0, 0));
                PolicyError::Syntax {
                    message: e.to_string(),
                    line,
                    column,
                }
            })?
        };
        Self::compile(file, text)
    }

    pub fn from_path(path: &std::path::Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_yaml(&text)
    }

    fn compile(file: PolicyFile, source: &str) -> Result<Self, PolicyError> {
        let c = Compiler { source };
        if file.version != 1 {
            return Err(PolicyError::Invalid {
                key: "version".into(),
                line: c.line_of("version"),
                message: format!("unsupported version {}, expected 1", file.version),
            });
        }
        let mut identities = IdentityRules::default();
        let mut warnings = Vec::new();
        for (i, p) in file.identities.own.iter().enumerate() {
            identities
                .own
                .push(c.principal(&format!("identities.own[{i}]"), p, &mut warnings)?);
        }
        for (i, p) in file.identities.pipeline.iter().enumerate() {
            identities.pipeline.push(c.principal(
                &format!("identities.pipeline[{i}]"),
                p,
                &mut warnings,
            )?);
        }
        for (i, p) in file.identities.approvers.iter().enumerate() {
            identities.approvers.push(c.principal(
                &format!("identities.approvers[{i}]"),
                p,
                &mut warnings,
            )?);
        }
        for (i, b) in file.identities.break_glass.iter().enumerate() {
            let key = format!("identities.break_glass[{i}]");
            if b.not_after <= b.not_before {
                return Err(PolicyError::Invalid {
                    line: c.line_of("not_after"),
                    key: format!("{key}.not_after"),
                    message: "must be later than not_before".into(),
                });
            }
            identities.break_glass.push(BreakGlassMatcher {
                who: c.principal(
                    &key,
                    &PrincipalPattern {
                        principal: Some(b.principal.clone()),
                        session_name: b.session_name.clone(),
                        unique_id: b.unique_id.clone(),
                    },
                    &mut warnings,
                )?,
                not_before: b.not_before,
                not_after: b.not_after,
            });
        }
        let mut protected = Vec::new();
        for (i, s) in file.protected.iter().enumerate() {
            let key = format!("protected[{i}]");
            let m = SelectorMatcher {
                resource_type: c.opt_glob(&format!("{key}.type"), &s.resource_type)?,
                physical_id: c.opt_glob(&format!("{key}.physical_id"), &s.physical_id)?,
                stack: c.opt_glob(&format!("{key}.stack"), &s.stack)?,
                logical_id: c.opt_glob(&format!("{key}.logical_id"), &s.logical_id)?,
            };
            if m.resource_type.is_none()
                && m.physical_id.is_none()
                && m.stack.is_none()
                && m.logical_id.is_none()
            {
                return Err(PolicyError::Invalid {
                    key,
                    line: c.line_of("protected"),
                    message: "an empty selector would protect everything; name at least one field"
                        .into(),
                });
            }
            protected.push(m);
        }
        for (name, limit) in [
            ("rate_limits.per_stack", file.rate_limits.per_stack),
            ("rate_limits.global", file.rate_limits.global),
        ] {
            if limit.window_minutes == 0 {
                return Err(PolicyError::Invalid {
                    key: format!("{name}.window_minutes"),
                    line: c.line_of("window_minutes"),
                    message: "must be at least 1".into(),
                });
            }
        }
        let mut rules = Vec::new();
        let mut names = std::collections::HashSet::new();
        for (i, r) in file.rules.iter().enumerate() {
            let key = format!("rules[{i}]");
            if r.name.trim().is_empty() || !names.insert(r.name.clone()) {
                return Err(PolicyError::Invalid {
                    key: format!("{key}.name"),
                    line: c.line_of(&format!("name: {}", r.name)),
                    message: format!("rule names must be unique and not empty: {:?}", r.name),
                });
            }
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
            rules.push(Rule {
                name: r.name.clone(),
                action: r.verdict,
                dry_run: r.dry_run.unwrap_or(file.defaults.dry_run),
                // Rolling a stack back is high-risk: approval unless the rule says otherwise.
                requires_approval: r.requires_approval.unwrap_or(r.verdict == Action::Rollback),
                severity: r.severity.unwrap_or(file.defaults.severity),
                matcher,
            });
        }
        Ok(Policy {
            file,
            identities,
            rules,
            protected,
            warnings,
        })
    }

    /// Legal but risky settings, for `driftguard policy check`.
    pub fn warnings(&self) -> &[PolicyWarning] {
        &self.warnings
    }

    /// Patterns that omit the account match `account` (the one driftguard runs in).
    pub fn with_home_account(mut self, account: impl Into<String>) -> Self {
        self.identities.set_home_account(account);
        self
    }

    /// The first rule matching the facts.
    pub fn first_match(&self, facts: &MatchFacts<'_>) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matcher.matches(facts))
    }

    /// Protected resources are never touched, whatever the rules say.
    /// A selector's `type` matches the resolved type or the API's own.
    pub fn is_protected(&self, facts: &MatchFacts<'_>) -> bool {
        self.protected.iter().any(|s| {
            (opt_match(&s.resource_type, facts.resource_type)
                || (facts.api_resource_type.is_some()
                    && opt_match(&s.resource_type, facts.api_resource_type)))
                && opt_match(&s.physical_id, facts.physical_id)
                && opt_match(&s.stack, facts.stack)
                && opt_match(&s.logical_id, facts.logical_id)
        })
    }

    pub fn dry_run_default(&self) -> bool {
        self.file.defaults.dry_run
    }

    pub fn rate_limits(&self) -> RateLimits {
        self.file.rate_limits
    }

    pub fn remediation(&self) -> &RemediationSettings {
        &self.file.remediation
    }

    pub fn unmanaged(&self) -> UnmanagedSetting {
        self.file.unmanaged
    }
}

#[cfg(test)]
mod star_glob_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: crate::domain::policy_props::cases(10_000), failure_persistence: None, ..ProptestConfig::default() })]

        /// The `*`-only shortcut answers exactly as globset does.
        #[test]
        fn star_patterns_match_like_globset(
            pattern in "[ab*/:\né-]{0,8}",
            value in "[ab/:\né-]{0,10}",
        ) {
            let matcher = Glob::new(&pattern).unwrap().compile_matcher();
            let compiled = Pattern::new(&pattern, matcher.clone());
            prop_assume!(compiled.star_segments.is_some());
            prop_assert_eq!(compiled.is_match(&value), matcher.is_match(&value), "{:?} on {:?}", pattern, value);
        }
    }

    #[test]
    fn fancy_globs_stay_with_globset() {
        for text in ["a?", "[ab]", "{a,b}", "a\\*", "**/x", "a**"] {
            let p = Pattern::new(text, Glob::new(text).unwrap().compile_matcher());
            assert!(p.star_segments.is_none(), "{text}");
        }
        let p = Pattern::new(
            "arn:aws:iam::*:role/cdk-*-cfn-exec-role-*",
            Glob::new("arn:aws:iam::*:role/cdk-*-cfn-exec-role-*")
                .unwrap()
                .compile_matcher(),
        );
        assert!(p.is_match(
            "arn:aws:iam::123456789012:role/cdk-hnb659fds-cfn-exec-role-123456789012-us-east-1"
        ));
        assert!(!p.is_match("arn:aws:iam::123456789012:role/cdk-cfn-exec-role"));
    }
}
