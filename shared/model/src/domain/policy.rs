//! The policy: a YAML file, versioned with the template, that turns changes into verdicts.
//!
//! Parsing is strict: unknown keys and wrongly typed values are errors naming
//! the key and the line. See `docs/policy.md`.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};

use super::actor::{ActorKind, Identity};
use super::arn::{AccountSpec, ArnPattern, PrincipalRef, PrincipalType};
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
    /// Named environments (version 2): which accounts are which, and the
    /// rules and defaults that apply there before the top-level ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<EnvironmentFile>,
}

/// The newest policy format version: 2 added `environments`. Version 1
/// files load unchanged.
pub const POLICY_VERSION: u32 = 2;

/// One entry of `environments`: a name, the accounts it covers, and what
/// it overrides there (docs/policy.md#environments).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentFile {
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "match")]
    pub matches: EnvironmentMatchFile,
    /// Field by field over the top-level `defaults`, in this environment:
    /// for its rules, for the top-level rules that leave the field unset,
    /// and for the verdict when no rule matches.
    #[serde(default)]
    pub defaults: DefaultsOverride,
    /// Tried before the top-level rules; the first match of both lists wins.
    #[serde(default)]
    pub rules: Vec<RuleFile>,
}

/// How an environment's accounts are named: by id, by AWS Organizations OU
/// path, by account tag. An account is in the environment when `accounts`
/// lists it, or when it matches every criterion given of `ou` (any of the
/// paths) and `tags` (all of them); docs/policy.md#environments.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentMatchFile {
    /// 12-digit account ids (exact, no globs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    /// OU paths in the form of the `aws:PrincipalOrgPaths` condition key,
    /// `o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/`: an account under that OU (or
    /// one below it) matches. IAM's documentation: "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-22222222/"
    /// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalorgpaths).
    /// One path or a list.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ou: Vec<String>,
    /// Account tags (AWS Organizations `ListTagsForResource` on the account):
    /// every one given must be on the account with that value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// What AWS Organizations says of an account, for environments matched by
/// `match.ou` or `match.tags` (driftguard-core's `ports::AccountDirectory`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFacts {
    /// `o-…/r-…/ou-…/…/`: the organization, its root and the OUs down to the
    /// account's parent.
    pub ou_path: String,
    pub tags: BTreeMap<String, String>,
}

/// `o-<10-32>/r-<4-32>/` then `ou-<4-32>-<8-32>/` segments, lower-case
/// letters and digits (the ids' patterns in the Organizations API reference,
/// https://docs.aws.amazon.com/organizations/latest/APIReference/API_OrganizationalUnit.html:
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

/// `environments[].defaults`: each field given replaces the top-level one.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DefaultsOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Action>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
}

impl DefaultsOverride {
    fn over(&self, base: &Defaults) -> Defaults {
        Defaults {
            dry_run: self.dry_run.unwrap_or(base.dry_run),
            verdict: self.verdict.unwrap_or(base.verdict),
            severity: self.severity.unwrap_or(base.severity),
        }
    }
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
            environments: Vec::new(),
        }
    }
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
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
    fn matches(
        &self,
        identity: &Identity,
        principals: &Principals<'_>,
        home: Option<&str>,
    ) -> Option<String> {
        let arn = principals.for_kind(self.principal.kind)?;
        if !self.principal.matches(arn, home) {
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

/// The AWS-set ARNs patterns are matched on, parsed once per lookup: the
/// principal for a user pattern, the session issuer for a role pattern (only
/// when the session ARN is that role's). A principal ARN that does not parse
/// gives neither.
struct Principals<'a> {
    user: Option<PrincipalRef<'a>>,
    role: Option<PrincipalRef<'a>>,
}

impl<'a> Principals<'a> {
    fn of(identity: &'a Identity) -> Self {
        let principal = match identity.principal_arn.as_deref().map(PrincipalRef::parse) {
            Some(Err(_)) => {
                return Self {
                    user: None,
                    role: None,
                }
            }
            parsed => parsed.and_then(Result::ok),
        };
        let role = || {
            let issuer = PrincipalRef::parse(identity.session_issuer_arn.as_deref()?).ok()?;
            let session = principal?;
            let consistent = issuer.kind == PrincipalType::Role
                && session.kind == PrincipalType::AssumedRole
                && session.account == issuer.account
                && session.partition == issuer.partition
                && session.name == issuer.name;
            consistent.then_some(issuer)
        };
        Self {
            user: principal.filter(|p| p.kind == PrincipalType::User),
            role: role(),
        }
    }

    fn for_kind(&self, kind: PrincipalType) -> Option<PrincipalRef<'a>> {
        match kind {
            PrincipalType::User => self.user,
            PrincipalType::Role => self.role,
            PrincipalType::AssumedRole => None,
        }
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
        let principals = Principals::of(identity);
        self.own
            .iter()
            .find_map(|m| m.matches(identity, &principals, home))
    }

    pub fn pipeline_match(&self, identity: &Identity) -> Option<String> {
        self.pipeline_match_in(identity, self.home_account())
    }

    pub fn pipeline_match_in(&self, identity: &Identity, home: Option<&str>) -> Option<String> {
        let principals = Principals::of(identity);
        self.pipeline
            .iter()
            .find_map(|m| m.matches(identity, &principals, home))
    }

    /// Evidence when `identity` (the AWS-authenticated caller of an approval)
    /// is an allowed approver.
    pub fn approver_match(&self, identity: &Identity) -> Option<String> {
        let (home, principals) = (self.home_account(), Principals::of(identity));
        self.approvers
            .iter()
            .find_map(|m| m.matches(identity, &principals, home))
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
        let principals = Principals::of(identity);
        for entry in &self.break_glass {
            if let Some(evidence) = entry.who.matches(identity, &principals, home) {
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

/// An environment, compiled: its accounts, its defaults (the top-level ones
/// with its overrides) and its rules (its own, then the top-level rules
/// compiled with those defaults).
#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    pub accounts: Vec<String>,
    /// OU path prefixes (`match.ou`); empty: not matched by OU.
    pub ou_paths: Vec<String>,
    /// Tags the account must carry (`match.tags`); empty: not matched by tag.
    pub tags: BTreeMap<String, String>,
    pub defaults: Defaults,
    /// How many of `rules` are the environment's own (they come first).
    pub own_rules: usize,
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

/// The rules and defaults that decide a change in one account: an
/// environment's, or the top-level ones for an account in none.
#[derive(Debug, Clone, Copy)]
pub struct RuleSet<'p> {
    /// The environment's name; `None`: the account is in no environment.
    pub environment: Option<&'p str>,
    pub defaults: &'p Defaults,
    pub rules: &'p [Rule],
}

impl RuleSet<'_> {
    pub fn first_match(&self, facts: &MatchFacts<'_>) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matcher.matches(facts))
    }
}

/// A compiled, validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub file: PolicyFile,
    pub identities: IdentityRules,
    /// The top-level rules (accounts in no environment).
    pub rules: Vec<Rule>,
    pub environments: Vec<Environment>,
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
            environments: Vec::new(),
            protected: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// A 12-digit AWS account id.
fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
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

    /// The `n`th (from 0) line containing `needle` at or after line `from`
    /// (1-based; the `environments:` key, so a rule's `tags:` above it is
    /// not taken for an environment's).
    fn line_of_nth(&self, needle: &str, from: usize, n: usize) -> Option<usize> {
        self.source
            .lines()
            .enumerate()
            .skip(from.saturating_sub(1))
            .filter(|(_, line)| line.contains(needle))
            .nth(n)
            .map(|(i, _)| i + 1)
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

impl Compiler<'_> {
    /// Compile `rules` (at `key`) with `defaults`; every name goes into `names`
    /// and must not be there already.
    fn rules(
        &self,
        key: &str,
        rules: &[RuleFile],
        defaults: &Defaults,
        names: &mut std::collections::HashSet<String>,
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

    fn rule(&self, key: &str, r: &RuleFile, defaults: &Defaults) -> Result<Rule, PolicyError> {
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

    /// `environments`: names unique, accounts given as 12-digit ids, each
    /// account listed by at most one environment, OU paths and tags
    /// well-formed (`environment_criteria`).
    fn environments(
        &self,
        file: &PolicyFile,
        top_level_names: &std::collections::HashSet<String>,
    ) -> Result<Vec<Environment>, PolicyError> {
        let mut out: Vec<Environment> = Vec::new();
        // account → index of the environment listing it.
        let mut owner: BTreeMap<&str, usize> = BTreeMap::new();
        let mut names = top_level_names.clone();
        let from = self.line_of("environments:").unwrap_or(1);
        for (i, e) in file.environments.iter().enumerate() {
            let key = format!("environments[{i}]");
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
                    "required: every environment has a name (shown on tickets and by replay)"
                        .into(),
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
            if let Some(other) = out.iter().position(|o| o.name == name) {
                return Err(invalid(
                    ".name",
                    &format!("name: {name}"),
                    format!("{name:?} is already the name of environments[{other}]"),
                ));
            }
            self.environment_criteria(&key, e, from)?;
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
        let mut names = std::collections::HashSet::new();
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

    /// Legal but risky settings, for `driftguard policy check`.
    pub fn warnings(&self) -> &[PolicyWarning] {
        &self.warnings
    }

    /// Patterns that omit the account match `account` (the one driftguard runs in).
    pub fn with_home_account(mut self, account: impl Into<String>) -> Self {
        self.identities.set_home_account(account);
        self
    }

    /// The first top-level rule matching the facts (accounts in no
    /// environment; [`Policy::rule_set`] picks the right rules for an account).
    pub fn first_match(&self, facts: &MatchFacts<'_>) -> Option<&Rule> {
        self.rules.iter().find(|r| r.matcher.matches(facts))
    }

    /// The environment listing `account`, if any (at most one: an account in
    /// two is refused when the policy is loaded).
    pub fn environment_for(&self, account: &str) -> Option<&Environment> {
        self.environments
            .iter()
            .find(|e| e.accounts.iter().any(|a| a == account))
    }

    /// Whether some environment matches accounts by OU or tag, so a
    /// decision needs the account's [`AccountFacts`].
    pub fn needs_account_facts(&self) -> bool {
        self.environments.iter().any(Environment::matches_by_facts)
    }

    /// The rules and defaults deciding a change in `account`: its
    /// environment's, else the top-level ones.
    pub fn rule_set(&self, account: &str) -> RuleSet<'_> {
        self.rule_set_for(account, None)
    }

    /// [`Self::rule_set`] with the account's OU path and tags: the
    /// environment listing the account by id, else the first (in the file's
    /// order) whose OU and tags it matches, else the top-level rules.
    pub fn rule_set_for(&self, account: &str, facts: Option<&AccountFacts>) -> RuleSet<'_> {
        let by_facts = || facts.and_then(|f| self.environments.iter().find(|e| e.covers(f)));
        match self.environment_for(account).or_else(by_facts) {
            Some(e) => RuleSet {
                environment: Some(&e.name),
                defaults: &e.defaults,
                rules: &e.rules,
            },
            None => RuleSet {
                environment: None,
                defaults: &self.file.defaults,
                rules: &self.rules,
            },
        }
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
        // Patterns that are not `*`-only are skipped (`prop_assume!`, under
        // 10 % of them); proptest's default cap of 1,024 skips is reached near
        // 10,000 cases, so the cap grows with the cases (the 100,000-case run).
        #![proptest_config(ProptestConfig { cases: crate::domain::policy_props::cases(10_000), max_global_rejects: crate::domain::policy_props::cases(10_000), failure_persistence: None, ..ProptestConfig::default() })]

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
