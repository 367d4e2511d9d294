//! Statements from the plan: one deny per policy rule (and set of protected
//! exclusions), then, for each `identities.break_glass` principal, denies of
//! every such action outside its windows (`aws:CurrentTime`).
//!
//! Every deny carries the same three exemptions:
//! - the resource has CloudFormation's stack tag (`Null` … `false`: "These
//!   operators test whether the key is present (exists) in the request context",
//!   <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>);
//! - the call does not come through CloudFormation (`aws:CalledVia`: "if you use
//!   AWS CloudFormation to launch an Amazon Elastic Compute Cloud (EC2) instance,
//!   the CloudFormation service independently uses your credentials",
//!   <https://aws.amazon.com/blogs/security/how-to-define-least-privileged-permissions-for-actions-called-by-aws-services/>);
//!   `ForAllValues:StringNotEquals` is true for an empty or missing list, so a
//!   direct call is denied and a call via CloudFormation is not;
//! - the principal (`aws:PrincipalArn`: the role's ARN for a role session) is
//!   none of driftguard's, the pipeline's or break-glass ones.
use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};

use driftguard_model::domain::arn::{AccountSpec, ArnPattern};
use driftguard_model::domain::policy::{BreakGlassFile, PolicyFile, PrincipalPattern};

use super::analysis::{plan, ActionPlan, Coverage, Exclusions, DEFAULT_RULE};
use super::document::{Conditions, Effect, Statement};
use super::evaluate::arn_like;
use super::services::STACK_NAME_TAG;
use super::GuardrailError;

/// The service principal CloudFormation calls other services with.
pub const CLOUDFORMATION: &str = "cloudformation.amazonaws.com";

/// Where the policy's short principal patterns (`role/NAME`) live.
#[derive(Debug, Clone)]
pub struct Options {
    /// The account of `role/NAME` patterns; `None`: any account (`*`), for an
    /// SCP attached to an OU of many accounts. SCPs only restrict principals of
    /// the organization's own accounts.
    pub account: Option<String>,
    /// The partition of `role/NAME` patterns.
    pub partition: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            account: None,
            partition: "aws".into(),
        }
    }
}

/// A break-glass principal and its windows, merged and sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakGlassWindows {
    pub principal: String,
    pub windows: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// The generator's output before it is packed into documents.
#[derive(Debug, Clone)]
pub struct Guardrail {
    pub plans: Vec<ActionPlan>,
    pub statements: Vec<Statement>,
    /// driftguard's and the pipeline's principals, as `aws:PrincipalArn` patterns.
    pub exempt: Vec<String>,
    pub break_glass: Vec<BreakGlassWindows>,
}

/// A policy principal pattern as an `ArnLike` pattern on `aws:PrincipalArn`.
/// IAM's `*` also crosses `/`, so the pattern can only match more: never
/// fewer exemptions than driftguard grants. `session_name` and `unique_id`
/// cannot be seen in `aws:PrincipalArn` and are dropped (the same way).
pub fn principal_arn(text: &str, options: &Options) -> Result<String, GuardrailError> {
    let pattern = ArnPattern::parse(text).map_err(|message| GuardrailError::Principal {
        principal: text.to_string(),
        message,
    })?;
    let resource = match text.strip_prefix("arn:") {
        Some(_) => text.splitn(6, ':').nth(5).unwrap_or_default(),
        None => text,
    };
    let account = match &pattern.account {
        AccountSpec::Exact(a) => a.clone(),
        AccountSpec::Any => "*".to_string(),
        AccountSpec::Home => options.account.clone().unwrap_or_else(|| "*".to_string()),
    };
    let partition = pattern.partition.as_deref().unwrap_or(&options.partition);
    Ok(format!(
        "arn:{partition}:iam::{account}:{}",
        collapse_any_path(resource)
    ))
}

/// `role/**/x` → `role/*x`: IAM has no "any number of segments", `*` covers it.
fn collapse_any_path(resource: &str) -> String {
    let mut out = String::new();
    let parts: Vec<&str> = resource.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        match (*part, last) {
            ("**", false) => out.push('*'),
            (p, true) => out.push_str(p),
            (p, false) => {
                out.push_str(p);
                out.push('/');
            }
        }
    }
    out
}

fn principals(list: &[PrincipalPattern], options: &Options) -> Result<Vec<String>, GuardrailError> {
    list.iter()
        .filter_map(|p| p.principal.as_deref())
        .map(|p| principal_arn(p, options))
        .collect()
}

fn push_unique(list: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for item in items {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

/// Break-glass entries by principal, windows sorted and merged (driftguard
/// allows inside *any* window of a principal, `not_before <= t <= not_after`).
pub fn break_glass_windows(
    entries: &[BreakGlassFile],
    options: &Options,
) -> Result<Vec<BreakGlassWindows>, GuardrailError> {
    let mut out: Vec<BreakGlassWindows> = Vec::new();
    for e in entries {
        let principal = principal_arn(&e.principal, options)?;
        match out.iter_mut().find(|b| b.principal == principal) {
            Some(b) => b.windows.push((e.not_before, e.not_after)),
            None => out.push(BreakGlassWindows {
                principal,
                windows: vec![(e.not_before, e.not_after)],
            }),
        }
    }
    for b in &mut out {
        b.windows.sort();
        let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        for (start, end) in b.windows.drain(..) {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        b.windows = merged;
    }
    Ok(out)
}

/// `open-ingress-is-reverted` → `OpenIngressIsReverted`.
pub fn sid_stem(rule: &str) -> String {
    let stem: String = rule
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    if stem.is_empty() {
        "Rule".to_string()
    } else {
        stem
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The conditions every deny shares: managed resource, not via CloudFormation,
/// outside the protected exclusions.
fn base_conditions(exclusions: &Exclusions) -> Conditions {
    let mut c = Conditions::default();
    c.add(
        "Null",
        &format!("aws:ResourceTag/{STACK_NAME_TAG}"),
        vec!["false".into()],
    );
    c.add(
        "ForAllValues:StringNotEquals",
        "aws:CalledVia",
        vec![CLOUDFORMATION.into()],
    );
    for (tag, globs) in exclusions {
        c.add(
            "StringNotLike",
            &format!("aws:ResourceTag/{tag}"),
            globs.clone(),
        );
    }
    c
}

fn deny(sid: String, actions: &[String], condition: Conditions) -> Statement {
    Statement {
        sid,
        effect: Effect::Deny,
        action: actions.to_vec(),
        resource: "*".into(),
        condition,
    }
}

/// The deny of one rule's group: everyone not exempt (break-glass included).
fn group_statement(
    g: &Generation<'_>,
    sid: &str,
    actions: &[String],
    ex: &Exclusions,
) -> Statement {
    let mut all_exempt = g.exempt.clone();
    push_unique(
        &mut all_exempt,
        g.break_glass.iter().map(|b| b.principal.clone()),
    );
    let mut main = base_conditions(ex);
    main.add("ArnNotLike", "aws:PrincipalArn", all_exempt);
    deny(sid.to_string(), actions, main)
}

/// The exempt patterns that may also match `bg` (all of them when `bg` has
/// wildcards): a break-glass principal that is also the pipeline's is exempt.
fn overlapping(exempt: &[String], bg: &str) -> Vec<String> {
    exempt
        .iter()
        .filter(|e| bg.contains(['*', '?']) || arn_like(e, bg))
        .cloned()
        .collect()
}

/// Each break-glass principal denied before, between and after its windows,
/// on every action the rules deny (`sid` names the `identities.break_glass`
/// entry; `part` the set of protected exclusions when there are several).
fn break_glass_statements(
    g: &Generation<'_>,
    part: &str,
    actions: &[String],
    ex: &Exclusions,
) -> Vec<Statement> {
    let mut out = Vec::new();
    for (j, bg) in g.break_glass.iter().enumerate() {
        for (label, after, before) in outside_windows(&bg.windows) {
            let mut c = base_conditions(ex);
            c.add("ArnLike", "aws:PrincipalArn", vec![bg.principal.clone()]);
            c.add(
                "ArnNotLike",
                "aws:PrincipalArn",
                overlapping(g.exempt, &bg.principal),
            );
            if let Some(t) = after {
                c.add("DateGreaterThan", "aws:CurrentTime", vec![time(t)]);
            }
            if let Some(t) = before {
                c.add("DateLessThan", "aws:CurrentTime", vec![time(t)]);
            }
            out.push(deny(
                format!("BreakGlass{}{label}{part}", j + 1),
                actions,
                c,
            ));
        }
    }
    out
}

type Outside = (String, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// (Sid label, after, before) for each stretch of time outside the windows.
fn outside_windows(windows: &[(DateTime<Utc>, DateTime<Utc>)]) -> Vec<Outside> {
    let (Some(first), Some(last)) = (windows.first(), windows.last()) else {
        return Vec::new();
    };
    let mut out = vec![("Before".to_string(), None, Some(first.0))];
    for (k, pair) in windows.windows(2).enumerate() {
        out.push((format!("Gap{}", k + 1), Some(pair[0].1), Some(pair[1].0)));
    }
    out.push(("After".to_string(), Some(last.1), None));
    out
}

struct Generation<'a> {
    exempt: &'a Vec<String>,
    break_glass: &'a [BreakGlassWindows],
}

/// The guardrail for `file`: same policy, same statements, same order.
pub fn generate(file: &PolicyFile, options: &Options) -> Result<Guardrail, GuardrailError> {
    let plans = plan(file);
    let mut exempt = principals(&file.identities.own, options)?;
    push_unique(&mut exempt, principals(&file.identities.pipeline, options)?);
    let break_glass = break_glass_windows(&file.identities.break_glass, options)?;
    let g = Generation {
        exempt: &exempt,
        break_glass: &break_glass,
    };
    let order = |rule: &str| {
        file.rules
            .iter()
            .position(|r| r.name == rule)
            .unwrap_or(file.rules.len())
    };
    let mut groups: BTreeMap<(usize, String, Exclusions), Vec<String>> = BTreeMap::new();
    for p in &plans {
        if let Coverage::Deny { rule, exclusions } = &p.coverage {
            groups
                .entry((order(rule), rule.clone(), exclusions.clone()))
                .or_default()
                .push(p.action.clone());
        }
    }
    let mut statements = Vec::new();
    let mut used: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_exclusions: BTreeMap<&Exclusions, Vec<String>> = BTreeMap::new();
    for ((_, rule, exclusions), actions) in &groups {
        let stem = if rule == DEFAULT_RULE {
            "PolicyDefaults".to_string()
        } else {
            sid_stem(rule)
        };
        let n = used.entry(stem.clone()).or_insert(0);
        *n += 1;
        let sid = if *n == 1 { stem } else { format!("{stem}{n}") };
        statements.push(group_statement(&g, &sid, actions, exclusions));
        by_exclusions
            .entry(exclusions)
            .or_default()
            .extend(actions.iter().cloned());
    }
    let parts = by_exclusions.len();
    for (i, (exclusions, mut actions)) in by_exclusions.into_iter().enumerate() {
        actions.sort();
        let part = if parts > 1 {
            format!("Part{}", i + 1)
        } else {
            String::new()
        };
        statements.extend(break_glass_statements(&g, &part, &actions, exclusions));
    }
    Ok(Guardrail {
        plans,
        statements,
        exempt,
        break_glass,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn short_patterns_take_the_account_given_or_any() {
        let any = Options::default();
        assert_eq!(
            principal_arn("role/deploy-pipeline", &any).unwrap(),
            "arn:aws:iam::*:role/deploy-pipeline"
        );
        let one = Options {
            account: Some("123456789012".into()),
            ..Options::default()
        };
        assert_eq!(
            principal_arn("role/ops/**/BreakGlass", &one).unwrap(),
            "arn:aws:iam::123456789012:role/ops/*BreakGlass"
        );
        assert_eq!(
            principal_arn("arn:aws-cn:iam::210987654321:user/ci", &one).unwrap(),
            "arn:aws-cn:iam::210987654321:user/ci"
        );
    }

    #[test]
    fn sids_are_the_rule_names_in_pascal_case() {
        assert_eq!(
            sid_stem("open-ingress-is-reverted"),
            "OpenIngressIsReverted"
        );
        assert_eq!(sid_stem("a_b c"), "ABC");
        assert_eq!(sid_stem("--"), "Rule");
    }

    #[test]
    fn overlapping_windows_merge_and_gaps_are_denied() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let entry = |nb: &str, na: &str| BreakGlassFile {
            principal: "role/BreakGlass".into(),
            not_before: at(nb),
            not_after: at(na),
            ..Default::default()
        };
        let bg = break_glass_windows(
            &[
                entry("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"),
                entry("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"),
                entry("2026-01-15T00:00:00Z", "2026-01-20T00:00:00Z"),
            ],
            &Options::default(),
        )
        .unwrap();
        assert_eq!(bg.len(), 1);
        assert_eq!(bg[0].windows.len(), 2);
        let labels: Vec<_> = outside_windows(&bg[0].windows)
            .into_iter()
            .map(|(l, _, _)| l)
            .collect();
        assert_eq!(labels, ["Before", "Gap1", "After"]);
    }
}
