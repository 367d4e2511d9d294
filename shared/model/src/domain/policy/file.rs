//! The policy file's YAML schema, as parsed: `PolicyFile` and its sections
//! (`defaults`, `identities`, `protected`, `rules`, `environments`) with the
//! serde defaults of every field left out. `rate_limits` and `remediation`
//! are in `settings`. Validation is `compile`'s.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::settings::{RateLimits, RemediationSettings};
use crate::domain::actor::ActorKind;
use crate::domain::change::ChangeSource;
use crate::domain::drift::DriftStatus;
use crate::domain::ownership::Ownership;
use crate::domain::verdict::{Action, Severity};

/// The policy file as written: every section, with the defaults of what it leaves out
/// (strict: unknown keys are errors).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// Format version: 1, or 2 for `environments` (at most [`POLICY_VERSION`]).
    #[serde(default = "one")]
    pub version: u32,
    /// What applies when no rule says otherwise (safe: ticket, dry-run).
    #[serde(default)]
    pub defaults: Defaults,
    /// The principals driftguard knows: its own, the pipeline's, break-glass, approvers.
    #[serde(default)]
    pub identities: IdentitiesFile,
    /// Resources driftguard never changes: their drift is ticketed, never remediated.
    #[serde(default)]
    pub protected: Vec<ResourceSelector>,
    /// How many remediations driftguard may run per stack and overall (the blast radius).
    #[serde(default)]
    pub rate_limits: RateLimits,
    /// How remediation runs: approvals, circuit breaker, Cloud Control types, decision age.
    #[serde(default)]
    pub remediation: RemediationSettings,
    /// The top-level rules, in order: the first that matches decides.
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
    /// The environment's name (unique; shown on verdicts as `environment`).
    #[serde(default)]
    pub name: String,
    /// `match`: which accounts are in the environment.
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
    /// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalorgpaths>).
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

/// `environments[].defaults`: each field given replaces the top-level one.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DefaultsOverride {
    /// Replaces `defaults.dry_run` in the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// Replaces `defaults.verdict` (the verdict when no rule matches) in the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Action>,
    /// Replaces `defaults.severity` in the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
}

impl DefaultsOverride {
    pub(super) fn over(&self, base: &Defaults) -> Defaults {
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
    /// No ticket, no notification.
    Ignore,
    /// A low-severity ticket, never a remediation (the default).
    #[default]
    Ticket,
}

/// Ownership as a rule fact (`match.ownership`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnershipKind {
    /// The resource belongs to a CloudFormation stack.
    Managed,
    /// Proven to belong to no stack.
    Unmanaged,
    /// The owner could not be established.
    Unknown,
    /// Nobody looked (offline replay).
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

/// The `defaults` section: what a verdict is when no rule (or no rule field) says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Global dry-run: plans are made and shown but nothing is changed.
    #[serde(default = "yes")]
    pub dry_run: bool,
    /// Verdict when no rule matches.
    #[serde(default = "default_action")]
    pub verdict: Action,
    /// Severity of a verdict whose rule gives none.
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
/// [`crate::domain::arn::ArnPattern`] for the syntax), optionally narrowed by a role
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

/// One `identities.break_glass` entry: an emergency principal and the window in which its
/// changes are ticketed, never reverted.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlassFile {
    /// The principal pattern (as [`PrincipalPattern::principal`]).
    pub principal: String,
    /// Glob on the role session name (as [`PrincipalPattern::session_name`]).
    #[serde(default)]
    pub session_name: Option<String>,
    /// The principal's unique id (as [`PrincipalPattern::unique_id`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_id: Option<String>,
    /// Start of the window (inclusive).
    pub not_before: DateTime<Utc>,
    /// End of the window (inclusive): after it the principal is treated as anyone else.
    pub not_after: DateTime<Utc>,
    /// Why the window exists (an incident number, say), shown in evidence.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The `identities` section: principals classified before any rule runs.
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
    /// Roles whose sessions are people (a SAML or OIDC federation role an
    /// engineer signs in to): a change with one is `human`, not `automation`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub people: Vec<PrincipalPattern>,
}

/// Selects resources, e.g. for `protected`. Every field given must match.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSelector {
    /// CloudFormation resource type, e.g. `AWS::IAM::Role` (`type` in the file).
    #[serde(default, rename = "type")]
    pub resource_type: Option<String>,
    /// The resource's physical id (what CloudFormation reports as `PhysicalResourceId`).
    #[serde(default)]
    pub physical_id: Option<String>,
    /// The owning stack's name.
    #[serde(default)]
    pub stack: Option<String>,
    /// The resource's logical id in its stack.
    #[serde(default)]
    pub logical_id: Option<String>,
}

/// A rule's `match`: every criterion given must hold; a list matches when any entry does.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MatchFile {
    /// Globs on the change's account id.
    #[serde(default)]
    pub accounts: Vec<String>,
    /// Globs on the change's region.
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
    /// Actor classes: `console`, `human`, `pipeline`, `break_glass` ….
    #[serde(default)]
    pub actors: Vec<ActorKind>,
    /// Where the change was seen: `cloudtrail`, `config_item`, `sweep` ….
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

/// One entry of `rules`: a name, what it matches and the verdict it gives.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// Unique name, shown on verdicts and tickets.
    pub name: String,
    /// `match`: the facts the rule applies to.
    #[serde(default, rename = "match")]
    pub matches: MatchFile,
    /// What to do: `ignore`, `allow`, `ticket`, `revert`, `rollback`.
    pub verdict: Action,
    /// Plan without acting; unset: `defaults.dry_run`.
    #[serde(default)]
    pub dry_run: Option<bool>,
    /// Wait for an approver before acting; unset: no.
    #[serde(default)]
    pub requires_approval: Option<bool>,
    /// The verdict's severity; unset: `defaults.severity`.
    #[serde(default)]
    pub severity: Option<Severity>,
}
