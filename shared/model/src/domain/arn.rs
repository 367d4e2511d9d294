//! Principal ARNs, parsed by structure, and the policy's principal patterns.
//!
//! An IAM principal ARN is `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`; the
//! first five `:` separate the fixed fields and everything after them is the
//! resource, which may itself contain `:` and `/`: an IAM **path** may hold any
//! printable ASCII character ("`(\u002F)|(\u002F[\u0021-\u007E]+\u002F)`",
//! <https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html>),
//! so `arn:aws:iam::123456789012:user/a:role/deploy-pipeline` is the *user*
//! `deploy-pipeline` at path `/a:role/`, not a role. Names cannot hold `/` or
//! `:` ("`[\w+=,.@-]+`", same page), so the last `/` ends the path.
//!
//! A pattern is matched field by field: a role pattern matches roles only, the
//! account must be equal (or the pattern says `*` on purpose), the path is
//! compared segment by segment and `*` never crosses `/`.
use std::fmt;

/// What kind of principal an ARN names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalType {
    /// `arn:…:iam::ACCOUNT:role/PATH/NAME`
    Role,
    /// `arn:…:iam::ACCOUNT:user/PATH/NAME`
    User,
    /// `arn:…:sts::ACCOUNT:assumed-role/ROLE/SESSION` (no path in it).
    AssumedRole,
}

impl PrincipalType {
    /// The ARN's resource type: `role`, `user` or `assumed-role`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Role => "role",
            Self::User => "user",
            Self::AssumedRole => "assumed-role",
        }
    }
}

/// A parsed IAM/STS principal ARN (owned: [`PrincipalRef`] is the borrowed
/// form matching reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalArn {
    /// `aws`, `aws-cn`, `aws-us-gov` ….
    pub partition: String,
    /// The 12-digit account id.
    pub account: String,
    /// Role, user or assumed role.
    pub kind: PrincipalType,
    /// `/` or `/seg/…/` (roles and users); `/` for an assumed role.
    pub path: String,
    /// The role or user name (for an assumed role: the role's name).
    pub name: String,
    /// The role session name of an assumed role.
    pub session: Option<String>,
}

/// A principal ARN's fields, borrowed from its text: what the policy's
/// pattern matching reads, parsed without allocating (the decision path
/// parses the identity's ARNs once per classification).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrincipalRef<'a> {
    /// `aws`, `aws-cn`, `aws-us-gov` ….
    pub partition: &'a str,
    /// The 12-digit account id.
    pub account: &'a str,
    /// Role, user or assumed role.
    pub kind: PrincipalType,
    /// `/` or `/seg/…/` (roles and users); `/` for an assumed role.
    pub path: &'a str,
    /// The role or user name (for an assumed role: the role's name).
    pub name: &'a str,
    /// The role session name of an assumed role.
    pub session: Option<&'a str>,
}

/// Why a text is not a principal ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArnError {
    /// Not `arn:…` with six `:`-separated fields.
    #[error("{arn:?} is not an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`)")]
    NotAnArn {
        /// The text given.
        arn: String,
    },
    /// An ARN, but not a well-formed IAM role or user or STS assumed-role ARN.
    #[error("{arn:?}: {message}")]
    Invalid {
        /// The text given.
        arn: String,
        /// What is wrong with it.
        message: String,
    },
}

fn invalid(arn: &str, message: impl Into<String>) -> ArnError {
    ArnError::Invalid {
        arn: arn.to_string(),
        message: message.into(),
    }
}

/// The six fields of an ARN: the resource keeps every `:` after the fifth.
fn fields(arn: &str) -> Result<[&str; 6], ArnError> {
    let not_an_arn = || ArnError::NotAnArn { arn: arn.into() };
    let mut parts = arn.splitn(6, ':');
    let mut out = [""; 6];
    for field in &mut out {
        *field = parts.next().ok_or_else(not_an_arn)?;
    }
    if out[0] != "arn" {
        return Err(not_an_arn());
    }
    Ok(out)
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

impl PrincipalArn {
    /// Parse an IAM role or user ARN or an STS assumed-role ARN.
    pub fn parse(arn: &str) -> Result<Self, ArnError> {
        PrincipalRef::parse(arn).map(|p| p.into_owned())
    }
}

impl<'a> From<&'a PrincipalArn> for PrincipalRef<'a> {
    fn from(p: &'a PrincipalArn) -> Self {
        Self {
            partition: &p.partition,
            account: &p.account,
            kind: p.kind,
            path: &p.path,
            name: &p.name,
            session: p.session.as_deref(),
        }
    }
}

impl<'a> PrincipalRef<'a> {
    /// Parse an IAM role or user ARN or an STS assumed-role ARN, borrowing its fields.
    pub fn parse(arn: &'a str) -> Result<Self, ArnError> {
        let [_, partition, service, region, account, resource] = fields(arn)?;
        if partition.is_empty() || !region.is_empty() {
            return Err(invalid(
                arn,
                "IAM and STS ARNs have a partition and no region",
            ));
        }
        if !is_account(account) {
            return Err(invalid(arn, "the account is not 12 digits"));
        }
        let (kind, rest) = resource
            .split_once('/')
            .ok_or_else(|| invalid(arn, "no `TYPE/NAME` resource"))?;
        let kind_len = kind.len();
        let kind = match (service, kind) {
            ("iam", "role") => PrincipalType::Role,
            ("iam", "user") => PrincipalType::User,
            ("sts", "assumed-role") => PrincipalType::AssumedRole,
            _ => {
                return Err(invalid(
                    arn,
                    format!("`{service}:{kind}` is not a role or user"),
                ))
            }
        };
        let (path, name, session) = if kind == PrincipalType::AssumedRole {
            let (role, session) = rest
                .split_once('/')
                .ok_or_else(|| invalid(arn, "an assumed-role ARN ends in ROLE/SESSION"))?;
            if session.contains('/') || session.is_empty() {
                return Err(invalid(arn, "bad role session name"));
            }
            ("/", role, Some(session))
        } else {
            // `/a/b/name` → (`/a/b/`, `name`): the path runs from the `/`
            // after the resource type through the last `/`.
            match rest.rfind('/') {
                Some(at) => (
                    &resource[kind_len..=kind_len + 1 + at],
                    &rest[at + 1..],
                    None,
                ),
                None => (&resource[kind_len..=kind_len], rest, None),
            }
        };
        if name.is_empty() || name.contains(':') {
            return Err(invalid(arn, "bad principal name"));
        }
        Ok(Self {
            partition,
            account,
            kind,
            path,
            name,
            session,
        })
    }

    /// The owned form.
    pub fn into_owned(self) -> PrincipalArn {
        PrincipalArn {
            partition: self.partition.into(),
            account: self.account.into(),
            kind: self.kind,
            path: self.path.into(),
            name: self.name.into(),
            session: self.session.map(str::to_string),
        }
    }
}

/// The account part of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountSpec {
    /// Omitted: the account driftguard runs in.
    Home,
    /// `*`, written on purpose: any account (`driftguard policy check` warns).
    Any,
    /// These 12 digits.
    Exact(String),
}

/// A compiled principal pattern (the `principal` key of an identity entry).
///
/// Syntax (see `docs/policy.md`):
/// - `role/NAME`, `role/PATH/NAME`, `user/NAME`, `user/PATH/NAME`: a role or user in
///   the account driftguard runs in;
/// - `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME` (and `user/…`) with ACCOUNT 12
///   digits, or `*` for any account (warned about);
/// - in NAME and each PATH segment `*` matches any characters except `/`, `?` one
///   character except `/`; a whole path segment `**` matches any number of segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArnPattern {
    /// The pattern as the policy wrote it.
    pub text: String,
    /// `None`: any partition (short form).
    pub partition: Option<String>,
    /// Which account the principal must be in.
    pub account: AccountSpec,
    /// A role pattern matches roles (and their sessions), a user pattern users.
    pub kind: PrincipalType,
    path: Vec<String>,
    name: String,
}

impl fmt::Display for ArnPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn check_glob_text(what: &str, segment: &str) -> Result<(), String> {
    if segment.is_empty() {
        return Err(format!("empty {what}"));
    }
    if let Some(c) = segment.chars().find(|c| {
        matches!(c, '[' | ']' | '{' | '}' | '\\') || !c.is_ascii() || c.is_ascii_control()
    }) {
        return Err(format!(
            "{what} {segment:?}: {c:?} is not allowed (only `*` and `?` are wildcards; IAM names and paths are printable ASCII)"
        ));
    }
    Ok(())
}

impl ArnPattern {
    /// Compile a principal pattern; `Err` says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (partition, account, resource) = if text.starts_with("arn:") {
            let [_, partition, service, region, account, resource] =
                fields(text).map_err(|e| e.to_string())?;
            if service != "iam" {
                return Err(format!(
                    "service `{service}`: name the role or user with an `iam` ARN (an assumed-role session matches its role: `role/NAME` plus `session_name`)"
                ));
            }
            if !region.is_empty() {
                return Err("IAM ARNs have no region".into());
            }
            if partition.is_empty() || partition.contains('*') {
                return Err("write the partition (aws, aws-cn, aws-us-gov)".into());
            }
            let account = match account {
                "" => AccountSpec::Home,
                "*" => AccountSpec::Any,
                a if is_account(a) => AccountSpec::Exact(a.to_string()),
                a => {
                    return Err(format!(
                        "account {a:?} must be 12 digits, `*` (any account) or empty (driftguard's account)"
                    ))
                }
            };
            (Some(partition.to_string()), account, resource)
        } else {
            (None, AccountSpec::Home, text)
        };
        let (kind, rest) = resource
            .split_once('/')
            .ok_or_else(|| "expected `role/NAME` or `user/NAME` after the account".to_string())?;
        let kind = match kind {
            "role" => PrincipalType::Role,
            "user" => PrincipalType::User,
            other => {
                return Err(format!(
                    "`{other}` principals cannot be named: use `role/…` or `user/…`"
                ))
            }
        };
        let mut segments: Vec<&str> = rest.split('/').collect();
        let name = segments.pop().unwrap_or_default();
        check_glob_text("name", name)?;
        if name == "**" {
            return Err("`**` is for path segments, not the name".into());
        }
        for s in &segments {
            check_glob_text("path segment", s)?;
        }
        Ok(Self {
            text: text.to_string(),
            partition,
            account,
            kind,
            path: segments.into_iter().map(str::to_string).collect(),
            name: name.to_string(),
        })
    }

    /// Whether the name holds a wildcard (`*` or `?`): the pattern then names
    /// every role (or user) so named, which anyone allowed `iam:CreateRole`
    /// in the account can create.
    pub fn name_has_wildcard(&self) -> bool {
        self.name.contains(['*', '?'])
    }

    /// Does `arn` (a role or user ARN) match? `home` is the account driftguard
    /// runs in; without it a pattern that omits the account matches nothing.
    pub fn matches<'a>(&self, arn: impl Into<PrincipalRef<'a>>, home: Option<&str>) -> bool {
        let arn = arn.into();
        self.matches_any_path(arn, home) && self.path_matches(arn.path)
    }

    /// [`Self::matches`] without the path: for a role known only from an
    /// assumed-role ARN, which carries no path (the caller of a function URL).
    /// A role's name is unique in its account whatever its path ("Role names
    /// must be unique within the account",
    /// <https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html>),
    /// so the name and account still name one role.
    pub fn matches_any_path<'a>(
        &self,
        arn: impl Into<PrincipalRef<'a>>,
        home: Option<&str>,
    ) -> bool {
        let arn = arn.into();
        if arn.kind != self.kind {
            return false;
        }
        if let Some(p) = &self.partition {
            if *p != arn.partition {
                return false;
            }
        }
        let account_ok = match &self.account {
            AccountSpec::Any => true,
            AccountSpec::Exact(a) => a == arn.account,
            AccountSpec::Home => home == Some(arn.account),
        };
        account_ok && segment_glob(&self.name, arn.name)
    }

    fn path_matches(&self, path: &str) -> bool {
        let inner = path.trim_start_matches('/').trim_end_matches('/');
        let segments: Vec<&str> = if inner.is_empty() {
            Vec::new()
        } else {
            inner.split('/').collect()
        };
        let pattern: Vec<&str> = self.path.iter().map(String::as_str).collect();
        path_glob(&pattern, &segments)
    }
}

/// Segments against segments; `**` takes any number of whole segments.
fn path_glob(pattern: &[&str], segments: &[&str]) -> bool {
    match pattern.split_first() {
        None => segments.is_empty(),
        Some((&"**", rest)) => (0..=segments.len()).any(|i| path_glob(rest, &segments[i..])),
        Some((p, rest)) => match segments.split_first() {
            Some((s, more)) => segment_glob(p, s) && path_glob(rest, more),
            None => false,
        },
    }
}

/// `*` any run of characters but `/`, `?` one character but `/`; the rest literal.
pub fn segment_glob(pattern: &str, text: &str) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        // One byte, one character: the same answer without decoding.
        return glob(pattern.as_bytes(), text.as_bytes(), b'*', b'?', b'/');
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    glob(&p, &t, '*', '?', '/')
}

/// Iterative wildcard matching with one backtrack point.
fn glob<T: Copy + PartialEq>(p: &[T], t: &[T], any: T, one: T, slash: T) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if t[ti] == slash {
            return false;
        }
        if pi < p.len() && (p[pi] == one || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == any {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == any)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const HOME: Option<&str> = Some("123456789012");

    fn m(pattern: &str, arn: &str) -> bool {
        ArnPattern::parse(pattern)
            .unwrap()
            .matches(&PrincipalArn::parse(arn).unwrap(), HOME)
    }

    #[test]
    fn a_user_whose_path_ends_in_role_is_a_user() {
        let arn =
            PrincipalArn::parse("arn:aws:iam::123456789012:user/a:role/deploy-pipeline").unwrap();
        assert_eq!(arn.kind, PrincipalType::User);
        assert_eq!(arn.path, "/a:role/");
        assert_eq!(arn.name, "deploy-pipeline");
    }

    #[test]
    fn the_issue_examples_do_not_match() {
        for pattern in [
            "role/deploy-pipeline",
            "arn:aws:iam::*:role/deploy-pipeline",
        ] {
            assert!(!m(
                pattern,
                "arn:aws:iam::123456789012:user/a:role/deploy-pipeline"
            ));
        }
        assert!(!m(
            "arn:aws:iam::*:role/driftguard-remediation",
            "arn:aws:iam::123456789012:user/x:role/driftguard-remediation"
        ));
        assert!(!m(
            "arn:aws:iam::*:role/cdk-*-cfn-exec-role-*",
            "arn:aws:iam::123456789012:role/cdk-x-cfn-exec-role-y/dev-admin"
        ));
        assert!(m(
            "arn:aws:iam::*:role/cdk-*-cfn-exec-role-*",
            "arn:aws:iam::123456789012:role/cdk-hnb659fds-cfn-exec-role-123456789012-us-east-1"
        ));
    }

    #[test]
    fn accounts_default_to_home_and_star_is_any() {
        let other = "arn:aws:iam::210987654321:role/deploy-pipeline";
        assert!(m(
            "role/deploy-pipeline",
            "arn:aws:iam::123456789012:role/deploy-pipeline"
        ));
        assert!(!m("role/deploy-pipeline", other));
        assert!(m("arn:aws:iam::*:role/deploy-pipeline", other));
        assert!(m(
            "arn:aws:iam:::role/deploy-pipeline",
            "arn:aws:iam::123456789012:role/deploy-pipeline"
        ));
        let p = ArnPattern::parse("role/deploy-pipeline").unwrap();
        let arn = PrincipalArn::parse("arn:aws:iam::123456789012:role/deploy-pipeline").unwrap();
        assert!(!p.matches(&arn, None), "no home account: matches nothing");
    }

    #[test]
    fn paths_are_exact_unless_globbed() {
        let sso =
            "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_1";
        assert!(!m("role/AWSReservedSSO_Admin_*", sso));
        assert!(m(
            "role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_*",
            sso
        ));
        assert!(m("role/**/AWSReservedSSO_Admin_*", sso));
        assert!(m("role/**/deploy", "arn:aws:iam::123456789012:role/deploy"));
        assert!(!m(
            "role/*/deploy",
            "arn:aws:iam::123456789012:role/a/b/deploy"
        ));
    }

    #[test]
    fn bad_patterns_are_refused_with_a_reason() {
        for bad in [
            "arn:aws:sts::*:assumed-role/deploy/*",
            "arn:aws:iam::12345:role/x",
            "arn:*:iam::*:role/x",
            "group/x",
            "role/",
            "role/[ab]",
            "deploy-pipeline",
        ] {
            assert!(ArnPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arns_that_are_not_principals_are_refused() {
        for bad in [
            "arn:aws:iam::123456789012:root",
            "arn:aws:iam::123456789012:group/g",
            "arn:aws:iam::12345678901:role/x",
            "arn:aws:iam:us-east-1:123456789012:role/x",
            "cloudformation.amazonaws.com",
            "arn:aws:sts::123456789012:assumed-role/r",
        ] {
            assert!(PrincipalArn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn segment_glob_never_crosses_a_slash() {
        assert!(segment_glob("a*c", "abbbc"));
        assert!(segment_glob("*", ""));
        assert!(!segment_glob("*", "a/b"));
        assert!(!segment_glob("a?c", "a/c"));
        assert!(segment_glob(
            "cdk-*-cfn-exec-role-*",
            "cdk-1-cfn-exec-role-2"
        ));
        assert!(!segment_glob("ab", "abc"));
    }

    #[test]
    fn the_borrowed_parse_slices_the_path_from_the_arn() {
        for (arn, path, name, session) in [
            ("arn:aws:iam::123456789012:role/deploy", "/", "deploy", None),
            (
                "arn:aws:iam::123456789012:role/a/b/deploy",
                "/a/b/",
                "deploy",
                None,
            ),
            (
                "arn:aws:iam::123456789012:user/x:role/y",
                "/x:role/",
                "y",
                None,
            ),
            (
                "arn:aws:sts::123456789012:assumed-role/ops/alice",
                "/",
                "ops",
                Some("alice"),
            ),
        ] {
            let r = PrincipalRef::parse(arn).unwrap();
            assert_eq!((r.path, r.name, r.session), (path, name, session), "{arn}");
            let owned = PrincipalArn::parse(arn).unwrap();
            assert_eq!(PrincipalRef::from(&owned), r, "{arn}");
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn name() -> impl Strategy<Value = String> {
            "[A-Za-z0-9+=,.@_-]{1,12}"
        }
        fn segment() -> impl Strategy<Value = String> {
            // IAM path characters: printable ASCII but `/`.
            "[!-.0-~]{1,8}"
        }
        /// Path segments a pattern may spell literally (`:` included: paths hold it).
        fn literal_segment() -> impl Strategy<Value = String> {
            "[A-Za-z0-9:._-]{1,8}"
        }
        fn account() -> impl Strategy<Value = String> {
            "[0-9]{12}"
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: crate::domain::policy_props::cases(2_000), failure_persistence: None, ..ProptestConfig::default() })]

            /// A pattern naming one role never matches a user, another
            /// account, another path or another name.
            #[test]
            fn a_pattern_matches_only_its_own_type_account_path_and_name(
                n in name(), other in name(), path in proptest::collection::vec(literal_segment(), 0..3),
                other_path in proptest::collection::vec(segment(), 0..3),
                acct in account(), other_acct in account(),
            ) {
                let p = |s: &[String]| if s.is_empty() { String::new() } else { format!("{}/", s.join("/")) };
                let pattern = ArnPattern::parse(&format!("arn:aws:iam::{acct}:role/{}{n}", p(&path))).unwrap();
                let arn = |kind: &str, a: &str, pth: &[String], nm: &str| {
                    PrincipalArn::parse(&format!("arn:aws:iam::{a}:{kind}/{}{nm}", p(pth))).unwrap()
                };
                let literal = !n.contains(['*', '?']) && path.iter().all(|s| !s.contains(['*', '?']));
                prop_assert!(!literal || pattern.matches(&arn("role", &acct, &path, &n), None));
                prop_assert!(!pattern.matches(&arn("user", &acct, &path, &n), None));
                if other_acct != acct {
                    prop_assert!(!pattern.matches(&arn("role", &other_acct, &path, &n), None));
                }
                if literal && other_path != path {
                    prop_assert!(!pattern.matches(&arn("role", &acct, &other_path, &n), None));
                }
                if literal && other != n {
                    prop_assert!(!pattern.matches(&arn("role", &acct, &path, &other), None));
                }
                // The same text as a user path never makes a role.
                let smuggled = format!("arn:aws:iam::{acct}:user/x:role/{}{n}", p(&path));
                prop_assert!(!pattern.matches(&PrincipalArn::parse(&smuggled).unwrap(), None));
            }

            /// `*` in a name never crosses `/`: `role/a*` never matches a role
            /// whose path starts with `a`.
            #[test]
            fn a_star_never_crosses_a_slash(seg in segment(), n in name(), acct in account()) {
                let pattern = ArnPattern::parse(&format!("arn:aws:iam::{acct}:role/*")).unwrap();
                let nested = PrincipalArn::parse(&format!("arn:aws:iam::{acct}:role/{seg}/{n}")).unwrap();
                prop_assert!(!pattern.matches(&nested, None));
            }

            /// The byte matcher ASCII text takes gives the answer the
            /// character matcher gives (which any other text takes).
            #[test]
            fn the_ascii_glob_agrees_with_the_char_glob(p in "[ab*?/é]{0,6}", t in "[ab/é]{0,6}") {
                let chars = |s: &str| s.chars().collect::<Vec<char>>();
                prop_assert_eq!(segment_glob(&p, &t), glob(&chars(&p), &chars(&t), '*', '?', '/'));
            }

            /// Parsing never panics and a parsed ARN's fields never hold what
            /// the structure forbids.
            #[test]
            fn parsing_arbitrary_text_is_total(text in "arn:[a-z-]{0,8}:(iam|sts|s3)::[0-9*]{0,13}:[ -~]{0,40}") {
                if let Ok(arn) = PrincipalArn::parse(&text) {
                    prop_assert!(!arn.name.contains(['/', ':']));
                    prop_assert!(arn.path.starts_with('/') && arn.path.ends_with('/'));
                    prop_assert_eq!(arn.account.len(), 12);
                }
                let _ = ArnPattern::parse(&text);
            }
        }
    }
}
