//! Identity rules: principal patterns (`identities.own`, `pipeline`,
//! `break_glass`, `approvers`) compiled and matched against an event's
//! AWS-set identity, with the evidence text for a match.
use chrono::{DateTime, Utc};

use super::compile::Compiler;
use super::file::{BreakGlassFile, IdentitiesFile, PrincipalPattern};
use super::pattern::Pattern;
use super::{PolicyError, PolicyWarning};
use crate::domain::actor::Identity;
use crate::domain::arn::{AccountSpec, ArnPattern, PrincipalRef, PrincipalType};

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
        let matched = if principals.role_path_unknown {
            self.principal.matches_any_path(arn, home)
        } else {
            self.principal.matches(arn, home)
        };
        if !matched {
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
    /// The role's path is not known (rebuilt from an assumed-role ARN):
    /// patterns are matched on account and name only.
    role_path_unknown: bool,
}

impl<'a> Principals<'a> {
    fn of(identity: &'a Identity) -> Self {
        let principal = match identity.principal_arn.as_deref().map(PrincipalRef::parse) {
            Some(Err(_)) => {
                return Self {
                    user: None,
                    role: None,
                    role_path_unknown: false,
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
            role_path_unknown: false,
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
    people: Vec<PrincipalMatcher>,
    home_account: Option<String>,
}

impl IdentityRules {
    /// The account patterns without an account match (the one driftguard runs in), if set.
    pub fn home_account(&self) -> Option<&str> {
        self.home_account.as_deref()
    }

    /// Set the home account (see the type's docs).
    pub fn set_home_account(&mut self, account: impl Into<String>) {
        self.home_account = Some(account.into());
    }

    /// Evidence when `identity` is driftguard's own role (`identities.own`), in the home
    /// account.
    pub fn own_match(&self, identity: &Identity) -> Option<String> {
        self.own_match_in(identity, self.home_account())
    }

    /// Evidence when `identity` is driftguard's own role, with `home` as the home account.
    pub fn own_match_in(&self, identity: &Identity, home: Option<&str>) -> Option<String> {
        let principals = Principals::of(identity);
        self.own
            .iter()
            .find_map(|m| m.matches(identity, &principals, home))
    }

    /// Evidence when `identity` is a deploy principal (`identities.pipeline`), in the home
    /// account.
    pub fn pipeline_match(&self, identity: &Identity) -> Option<String> {
        self.pipeline_match_in(identity, self.home_account())
    }

    /// Evidence when `identity` is a deploy principal, with `home` as the home account.
    pub fn pipeline_match_in(&self, identity: &Identity, home: Option<&str>) -> Option<String> {
        let principals = Principals::of(identity);
        self.pipeline
            .iter()
            .find_map(|m| m.matches(identity, &principals, home))
    }

    /// Evidence when `identity` is a people role's session (`identities.people`),
    /// with `home` as the home account.
    pub fn people_match_in(&self, identity: &Identity, home: Option<&str>) -> Option<String> {
        let principals = Principals::of(identity);
        self.people
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

    /// [`Self::approver_match`] for a caller known only by its assumed-role ARN
    /// (a function URL's `userArn`), whose session issuer was rebuilt without
    /// the role's path: role patterns match on account and name (a role name is
    /// unique in its account), so `role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_X_*`
    /// matches an Identity Center session; `unique_id` still pins the role.
    pub fn approver_match_path_unknown(&self, identity: &Identity) -> Option<String> {
        let home = self.home_account();
        let mut principals = Principals::of(identity);
        principals.role_path_unknown = true;
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

    /// [`IdentityRules::break_glass_match`] with `home` as the home account.
    pub fn break_glass_match_in(
        &self,
        identity: &Identity,
        at: DateTime<Utc>,
        home: Option<&str>,
    ) -> Option<Result<String, String>> {
        let (evidence, entry, inside) = self.break_glass_window(identity, at, home)?;
        let window = format!(
            "break-glass window {}..{}",
            entry.not_before, entry.not_after
        );
        Some(if inside {
            Ok(format!("{evidence}; {at} is inside {window}"))
        } else {
            Err(format!("{evidence}; but {at} is outside {window}"))
        })
    }

    /// When the break-glass window `identity` acts inside at `at` ends
    /// (its `not_after`): a drift carried as break-glass is decided again after it.
    pub fn break_glass_until_in(
        &self,
        identity: &Identity,
        at: DateTime<Utc>,
        home: Option<&str>,
    ) -> Option<DateTime<Utc>> {
        match self.break_glass_window(identity, at, home)? {
            (_, entry, true) => Some(entry.not_after),
            _ => None,
        }
    }

    /// The first window of `identity`'s that holds `at` (`true`), else the
    /// last of its windows (`false`), with the match's evidence.
    fn break_glass_window(
        &self,
        identity: &Identity,
        at: DateTime<Utc>,
        home: Option<&str>,
    ) -> Option<(String, &BreakGlassMatcher, bool)> {
        let mut outside = None;
        let principals = Principals::of(identity);
        for entry in &self.break_glass {
            if let Some(evidence) = entry.who.matches(identity, &principals, home) {
                if entry.not_before <= at && at <= entry.not_after {
                    return Some((evidence, entry, true));
                }
                outside = Some((evidence, entry, false));
            }
        }
        outside
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

/// Which list an entry is in: `own`, `pipeline` and `break_glass` entries
/// exempt changes from being acted on, so they must be pinned
/// ([`Compiler::pin_checks`]); approvers are checked by the caller's
/// AWS-authenticated identity only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Own,
    Exempting,
    Approver,
}

/// The longest break-glass window `driftguard policy check` accepts without a warning.
pub const BREAK_GLASS_MAX_DAYS: i64 = 7;

impl Compiler<'_> {
    fn principal(
        &self,
        key: &str,
        p: &PrincipalPattern,
        entry: Entry,
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
        self.pin_checks(key, text, &principal, unique_id.is_some(), entry)?;
        if entry == Entry::Approver && principal.name_has_wildcard() && unique_id.is_none() {
            // An approval gives the caller's role name and account, not its
            // path (insider review): anyone allowed iam:CreateRole there can
            // make a role whose name matches and approve.
            warnings.push(PolicyWarning {
                key: format!("{key}.principal"),
                line: self.line_of(text),
                message: format!(
                    "{text:?} has a wildcard in its name and no unique_id: anyone allowed \
                     iam:CreateRole in that account can create a matching role and approve; \
                     add the role's unique_id (AROA…)"
                ),
            });
        }
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
        Ok(PrincipalMatcher {
            principal,
            session_name: self.opt_glob(&format!("{key}.session_name"), &p.session_name)?,
            unique_id,
        })
    }

    /// Pinning (docs/policy.md#pinning): an exempting entry (`own`,
    /// `pipeline`, `break_glass`) or a verdict-steering one (`people`) whose
    /// name has a wildcard must write its account as 12 digits (not omitted, not `*`); an `own` entry whose
    /// account is `*` must carry `unique_id`.
    fn pin_checks(
        &self,
        key: &str,
        text: &str,
        principal: &ArnPattern,
        has_unique_id: bool,
        entry: Entry,
    ) -> Result<(), PolicyError> {
        let explicit = matches!(principal.account, AccountSpec::Exact(_));
        let refuse = |message: String| {
            Err(PolicyError::Invalid {
                key: format!("{key}.principal"),
                line: self.line_of(text),
                message,
            })
        };
        if entry != Entry::Approver && principal.name_has_wildcard() && !explicit {
            return refuse(format!(
                "{text:?} has a wildcard in its name: anyone allowed iam:CreateRole can \
                 create a matching {}; pin it by writing its account \
                 (arn:aws:iam::111122223333:{}/…) and, better, its unique_id",
                principal.kind.as_str(),
                principal.kind.as_str()
            ));
        }
        if entry == Entry::Own && principal.account == AccountSpec::Any && !has_unique_id {
            return refuse(format!(
                "{text:?} names driftguard's own role in every AWS account by name alone; \
                 changes it makes are never acted on: add its `unique_id` (the stack output \
                 RemediationRoleId / RemediateRoleId) or write one entry per account"
            ));
        }
        Ok(())
    }

    /// A break-glass window longer than [`BREAK_GLASS_MAX_DAYS`]: warned about.
    fn window_warning(&self, key: &str, b: &BreakGlassFile) -> Option<PolicyWarning> {
        let days = (b.not_after - b.not_before).num_seconds() as f64 / 86_400.0;
        (days > BREAK_GLASS_MAX_DAYS as f64).then(|| PolicyWarning {
            key: format!("{key}.not_after"),
            line: self.line_of("not_after"),
            message: format!(
                "a break-glass window of {days:.1} days is a standing exemption: keep it to \
                 {BREAK_GLASS_MAX_DAYS} days or less (the incident's), and open a new one when needed"
            ),
        })
    }
}

impl Compiler<'_> {
    /// `identities`: every principal pattern compiled (risky ones noted in
    /// `warnings`), every break-glass window ending after it starts.
    pub(super) fn identities(
        &self,
        file: &IdentitiesFile,
        warnings: &mut Vec<PolicyWarning>,
    ) -> Result<IdentityRules, PolicyError> {
        let c = self;
        let mut identities = IdentityRules::default();
        for (i, p) in file.own.iter().enumerate() {
            identities.own.push(c.principal(
                &format!("identities.own[{i}]"),
                p,
                Entry::Own,
                warnings,
            )?);
        }
        for (i, p) in file.pipeline.iter().enumerate() {
            identities.pipeline.push(c.principal(
                &format!("identities.pipeline[{i}]"),
                p,
                Entry::Exempting,
                warnings,
            )?);
        }
        for (i, p) in file.approvers.iter().enumerate() {
            identities.approvers.push(c.principal(
                &format!("identities.approvers[{i}]"),
                p,
                Entry::Approver,
                warnings,
            )?);
        }
        for (i, p) in file.people.iter().enumerate() {
            // A people pattern steers the verdict (human, not automation):
            // pinned like the exempting ones.
            identities.people.push(c.principal(
                &format!("identities.people[{i}]"),
                p,
                Entry::Exempting,
                warnings,
            )?);
        }
        for (i, b) in file.break_glass.iter().enumerate() {
            let key = format!("identities.break_glass[{i}]");
            if b.not_after <= b.not_before {
                return Err(PolicyError::Invalid {
                    line: c.line_of("not_after"),
                    key: format!("{key}.not_after"),
                    message: "must be later than not_before".into(),
                });
            }
            warnings.extend(c.window_warning(&key, b));
            identities.break_glass.push(BreakGlassMatcher {
                who: c.principal(
                    &key,
                    &PrincipalPattern {
                        principal: Some(b.principal.clone()),
                        session_name: b.session_name.clone(),
                        unique_id: b.unique_id.clone(),
                    },
                    Entry::Exempting,
                    warnings,
                )?,
                not_before: b.not_before,
                not_after: b.not_after,
            });
        }
        Ok(identities)
    }
}
