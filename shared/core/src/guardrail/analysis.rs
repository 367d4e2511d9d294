//! Which write operations the policy wants nobody but the pipeline to make:
//! for every entry of `OPERATIONS`, the rule that decides a person's hot-fix of
//! a managed resource, and what `protected` keeps out of reach.
//!
//! A rule condition the guardrail cannot see at the API (drift kind, property
//! paths, accounts, regions, stacks, tags, the source that saw the change) makes
//! the rule *maybe* apply. A rule that maybe applies and allows or ignores the
//! change leaves the operation to people: the guardrail never denies what the
//! policy might let through.
use std::collections::BTreeMap;

use driftguard_model::domain::policy::{
    MatchFile, OwnershipKind, PolicyFile, ResourceSelector, RuleFile,
};
use driftguard_model::domain::Action;
use driftguard_model::domain::ActorKind;
use driftguard_model::sources::operations::{OperationSpec, OPERATIONS};

use super::services::{iam_action, service, LOGICAL_ID_TAG, STACK_NAME_TAG};

/// The actors the guardrail denies (everyone but CloudFormation, the pipeline,
/// driftguard and break-glass): the policy must deny all of them an operation.
pub const DENIED_ACTORS: [ActorKind; 4] = [
    ActorKind::Console,
    ActorKind::Human,
    ActorKind::Automation,
    ActorKind::Unknown,
];

/// The Sid stem of statements that come from `defaults.verdict`.
pub const DEFAULT_RULE: &str = "defaults";

/// Tag key → globs a resource's tag must match none of.
pub type Exclusions = BTreeMap<String, Vec<String>>;

/// What the guardrail does with one IAM action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    /// Denied on CloudFormation-managed resources; `rule` decides it.
    Deny {
        rule: String,
        exclusions: Exclusions,
    },
    /// Not denied: the policy leaves it to people (or might).
    LeftToPeople { why: String },
    /// Not denied: `protected` covers it in a way a condition cannot express.
    Protected { why: String },
    /// Not denied: the service has no resource-tag condition key.
    NoConditionKey { why: String },
}

/// One IAM action and the table operations it authorizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionPlan {
    pub action: String,
    pub operations: Vec<String>,
    pub coverage: Coverage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    Always,
    Maybe,
    Never,
}

impl Tri {
    fn and(self, other: Tri) -> Tri {
        match (self, other) {
            (Tri::Never, _) | (_, Tri::Never) => Tri::Never,
            (Tri::Maybe, _) | (_, Tri::Maybe) => Tri::Maybe,
            _ => Tri::Always,
        }
    }
}

/// `*` and `?` globs (globset's meaning for these: `*` any run of
/// characters, `?` one). `None`: a glob with other syntax (classes,
/// alternates), which the analysis treats as "maybe".
pub fn simple_glob(pattern: &str, text: &str) -> Option<bool> {
    if pattern.contains(['[', ']', '{', '}', '\\']) {
        return None;
    }
    Some(wildcard(pattern.as_bytes(), text.as_bytes()))
}

/// `*` any run of bytes, `?` one byte (IAM's `StringLike` and globset's `*`).
pub fn wildcard(p: &[u8], t: &[u8]) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// The patterns against every candidate value: all match → Always, none → Never.
fn globs(patterns: &[String], values: &[&str]) -> Tri {
    if patterns.is_empty() {
        return Tri::Always;
    }
    let mut hits = 0;
    for v in values {
        let mut hit = Some(false);
        for p in patterns {
            match simple_glob(p, v) {
                Some(true) => hit = Some(true),
                None if hit == Some(false) => hit = None,
                _ => {}
            }
            if hit == Some(true) {
                break;
            }
        }
        match hit {
            Some(true) => hits += 1,
            None => return Tri::Maybe,
            Some(false) => {}
        }
    }
    match hits {
        0 => Tri::Never,
        n if n == values.len() => Tri::Always,
        _ => Tri::Maybe,
    }
}

/// The types a change made with `spec` may resolve to: a bucket-policy call on
/// a bucket whose stack declares no `AWS::S3::BucketPolicy` is a bucket change.
fn resolved_types(spec: &OperationSpec) -> Vec<&'static str> {
    match spec.resource_type {
        "AWS::S3::BucketPolicy" => vec!["AWS::S3::BucketPolicy", "AWS::S3::Bucket"],
        t => vec![t],
    }
}

fn applies(m: &MatchFile, spec: &OperationSpec, actor: ActorKind) -> Tri {
    let unseen = !(m.accounts.is_empty()
        && m.regions.is_empty()
        && m.stacks.is_empty()
        && m.drift.is_empty()
        && m.property_paths.is_empty()
        && m.tags.is_empty()
        && m.sources.is_empty());
    let api = format!("{}:{}", spec.service, spec.operation);
    let managed = OwnershipKind::Managed;
    let listed = |ok: bool| if ok { Tri::Always } else { Tri::Never };
    [
        if unseen { Tri::Maybe } else { Tri::Always },
        globs(&m.resource_types, &resolved_types(spec)),
        globs(&m.api_resource_types, &[spec.resource_type]),
        globs(&m.operations, &[api.as_str()]),
        listed(m.ownership.is_empty() || m.ownership.contains(&managed)),
        listed(m.actors.is_empty() || m.actors.contains(&actor)),
    ]
    .into_iter()
    .fold(Tri::Always, Tri::and)
}

fn leaves_to_people(action: Action) -> bool {
    matches!(action, Action::Allow | Action::Ignore)
}

/// The rule deciding `actor`'s change with `spec`, or why it is left to
/// people. One guardrail covers every account it is attached to, so every
/// environment's rules (its own, then the top-level ones, with its default
/// verdict) must deny the change too: the guardrail never denies what one
/// environment lets through.
fn decide(file: &PolicyFile, spec: &OperationSpec, actor: ActorKind) -> Result<String, String> {
    let top = decide_with(file.rules.iter(), file.defaults.verdict, spec, actor)?;
    for env in &file.environments {
        let verdict = env.defaults.verdict.unwrap_or(file.defaults.verdict);
        decide_with(env.rules.iter().chain(&file.rules), verdict, spec, actor)
            .map_err(|why| format!("environment {}: {why}", env.name))?;
    }
    Ok(top)
}

fn decide_with<'a>(
    rules: impl Iterator<Item = &'a RuleFile>,
    default_verdict: Action,
    spec: &OperationSpec,
    actor: ActorKind,
) -> Result<String, String> {
    for RuleFile {
        name,
        matches,
        verdict,
        ..
    } in rules
    {
        match applies(matches, spec, actor) {
            Tri::Never => {}
            Tri::Maybe if leaves_to_people(*verdict) => {
                return Err(format!("rule {name} may {verdict} a {actor} change"))
            }
            Tri::Maybe => {}
            Tri::Always if leaves_to_people(*verdict) => {
                return Err(format!("rule {name}: {verdict} for {actor}"))
            }
            Tri::Always => return Ok(name.clone()),
        }
    }
    if leaves_to_people(default_verdict) {
        return Err(format!("defaults.verdict: {default_verdict}"));
    }
    Ok(DEFAULT_RULE.to_string())
}

/// The tag exclusions `protected` asks for on `spec`, or why it is out entirely.
fn protection(file: &PolicyFile, spec: &OperationSpec) -> Result<Exclusions, String> {
    let mut types = resolved_types(spec);
    types.push(spec.resource_type);
    let mut out = Exclusions::new();
    for (i, s) in file.protected.iter().enumerate() {
        let ResourceSelector {
            resource_type,
            physical_id,
            stack,
            logical_id,
        } = s;
        let type_hit = match resource_type {
            None => true,
            Some(t) => globs(std::slice::from_ref(t), &types) != Tri::Never,
        };
        if !type_hit {
            continue;
        }
        let tag = match (physical_id, stack, logical_id) {
            (None, Some(g), None) => Some((STACK_NAME_TAG, g)),
            (None, None, Some(g)) => Some((LOGICAL_ID_TAG, g)),
            _ => None,
        };
        match tag {
            Some((key, glob)) if simple_glob(glob, "").is_some() => {
                out.entry(key.to_string()).or_default().push(glob.clone());
            }
            _ if physical_id.is_none() && stack.is_none() && logical_id.is_none() => {
                return Err(format!("protected[{i}] protects the type"));
            }
            _ => {
                return Err(format!(
                    "protected[{i}] cannot be written as one tag condition"
                ))
            }
        }
    }
    for globs in out.values_mut() {
        globs.sort();
        globs.dedup();
    }
    Ok(out)
}

fn coverage(file: &PolicyFile, spec: &OperationSpec) -> Coverage {
    let keys = service(spec.service).and_then(|s| s.resource_tag_key);
    if keys.is_none() {
        return Coverage::NoConditionKey {
            why: format!("{} has no resource-tag condition key", spec.service),
        };
    }
    let exclusions = match protection(file, spec) {
        Ok(e) => e,
        Err(why) => return Coverage::Protected { why },
    };
    let mut rule = None;
    for actor in DENIED_ACTORS {
        match decide(file, spec, actor) {
            Ok(name) => {
                rule.get_or_insert(name);
            }
            Err(why) => return Coverage::LeftToPeople { why },
        }
    }
    Coverage::Deny {
        rule: rule.unwrap_or_else(|| DEFAULT_RULE.to_string()),
        exclusions,
    }
}

/// Every IAM action of the table, sorted, with what the guardrail does with it.
/// Operations sharing an action are denied only if each of them is; their
/// exclusions add up.
pub fn plan(file: &PolicyFile) -> Vec<ActionPlan> {
    let mut by_action: BTreeMap<String, ActionPlan> = BTreeMap::new();
    for spec in OPERATIONS {
        let action = iam_action(spec);
        let cov = coverage(file, spec);
        let api = format!("{}:{}", spec.service, spec.operation);
        let entry = by_action.entry(action.clone()).or_insert(ActionPlan {
            action,
            operations: Vec::new(),
            coverage: cov.clone(),
        });
        entry.operations.push(api);
        entry.coverage = merge(&entry.coverage, &cov);
    }
    by_action.into_values().collect()
}

fn merge(a: &Coverage, b: &Coverage) -> Coverage {
    match (a, b) {
        (
            Coverage::Deny { rule, exclusions },
            Coverage::Deny {
                exclusions: more, ..
            },
        ) => {
            let mut all = exclusions.clone();
            for (k, v) in more {
                let list = all.entry(k.clone()).or_default();
                list.extend(v.iter().cloned());
                list.sort();
                list.dedup();
            }
            Coverage::Deny {
                rule: rule.clone(),
                exclusions: all,
            }
        }
        (Coverage::Deny { .. }, other) => other.clone(),
        (first, _) => first.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn file(yaml: &str) -> PolicyFile {
        driftguard_model::domain::policy::Policy::from_yaml(yaml)
            .unwrap()
            .file
    }

    fn coverage_of(plans: &[ActionPlan], action: &str) -> Coverage {
        plans
            .iter()
            .find(|p| p.action == action)
            .map(|p| p.coverage.clone())
            .unwrap_or_else(|| panic!("no {action}"))
    }

    #[test]
    fn wildcards_match_like_iam_string_like() {
        assert!(wildcard(b"core-*", b"core-network"));
        assert!(wildcard(b"a?c*", b"abcdef"));
        assert!(!wildcard(b"a?c", b"ac"));
        assert!(wildcard(b"*", b""));
        assert_eq!(simple_glob("{a,b}", "a"), None);
    }

    #[test]
    fn the_first_rule_that_surely_applies_names_the_statement() {
        let plans = plan(&file(
            "rules:\n  - name: sg\n    match: { resource_types: [\"AWS::EC2::SecurityGroup\"] }\n    verdict: revert\n",
        ));
        assert_eq!(
            coverage_of(&plans, "ec2:AuthorizeSecurityGroupIngress"),
            Coverage::Deny {
                rule: "sg".into(),
                exclusions: Exclusions::new()
            }
        );
        assert!(matches!(
            coverage_of(&plans, "iam:AttachRolePolicy"),
            Coverage::Deny { rule, .. } if rule == DEFAULT_RULE
        ));
    }

    #[test]
    fn a_rule_that_may_allow_leaves_the_operation_to_people() {
        let plans = plan(&file(
            "rules:\n  - name: tuning\n    match: { property_paths: [\"/ReservedConcurrentExecutions\"] }\n    verdict: allow\n",
        ));
        assert!(matches!(
            coverage_of(&plans, "lambda:PutFunctionConcurrency"),
            Coverage::LeftToPeople { .. }
        ));
    }

    #[test]
    fn an_allow_for_one_denied_actor_kind_is_enough_to_leave_it() {
        let plans = plan(&file(
            "rules:\n  - name: ops-console\n    match: { actors: [console], resource_types: [\"AWS::SSM::Parameter\"] }\n    verdict: allow\n",
        ));
        assert!(matches!(
            coverage_of(&plans, "ssm:PutParameter"),
            Coverage::LeftToPeople { why } if why.contains("ops-console")
        ));
        assert!(matches!(
            coverage_of(&plans, "sqs:SetQueueAttributes"),
            Coverage::Deny { .. }
        ));
    }

    #[test]
    fn an_environment_that_allows_leaves_the_operation_to_people_everywhere() {
        // One guardrail is attached to every account: an environment letting
        // a change through keeps it out of the guardrail.
        let plans = plan(&file(
            "version: 2\nrules:\n  - name: sg\n    match: { resource_types: [\"AWS::EC2::SecurityGroup\"] }\n    verdict: revert\nenvironments:\n  - name: sandbox\n    match: { accounts: [\"222222222222\"] }\n    rules:\n      - name: sandbox-sg\n        match: { resource_types: [\"AWS::EC2::SecurityGroup\"] }\n        verdict: allow\n",
        ));
        assert!(matches!(
            coverage_of(&plans, "ec2:AuthorizeSecurityGroupIngress"),
            Coverage::LeftToPeople { why } if why.contains("environment sandbox") && why.contains("sandbox-sg")
        ));
        // An environment's default verdict counts too.
        let plans = plan(&file(
            "version: 2\nenvironments:\n  - name: lab\n    match: { accounts: [\"333333333333\"] }\n    defaults: { verdict: ignore }\n",
        ));
        assert!(matches!(
            coverage_of(&plans, "iam:AttachRolePolicy"),
            Coverage::LeftToPeople { why } if why.contains("environment lab")
        ));
        // An environment that tickets or reverts keeps the deny.
        let plans = plan(&file(
            "version: 2\nrules:\n  - name: sg\n    match: { resource_types: [\"AWS::EC2::SecurityGroup\"] }\n    verdict: revert\nenvironments:\n  - name: dev\n    match: { accounts: [\"222222222222\"] }\n    rules:\n      - name: dev-ticket-only\n        verdict: ticket\n",
        ));
        assert!(matches!(
            coverage_of(&plans, "ec2:AuthorizeSecurityGroupIngress"),
            Coverage::Deny { rule, .. } if rule == "sg"
        ));
    }

    #[test]
    fn protected_types_are_out_and_protected_stacks_become_tag_exclusions() {
        let plans = plan(&file(
            "protected:\n  - type: \"AWS::KMS::Key\"\n  - stack: \"core-network*\"\n  - type: \"AWS::IAM::Role\"\n    logical_id: \"Admin*\"\n",
        ));
        assert!(matches!(
            coverage_of(&plans, "kms:PutKeyPolicy"),
            Coverage::Protected { .. }
        ));
        let Coverage::Deny { exclusions, .. } = coverage_of(&plans, "iam:AttachRolePolicy") else {
            panic!("iam denied")
        };
        assert_eq!(
            exclusions[STACK_NAME_TAG],
            vec!["core-network*".to_string()]
        );
        assert_eq!(exclusions[LOGICAL_ID_TAG], vec!["Admin*".to_string()]);
        let Coverage::Deny { exclusions, .. } = coverage_of(&plans, "sqs:SetQueueAttributes")
        else {
            panic!("sqs denied")
        };
        assert!(!exclusions.contains_key(LOGICAL_ID_TAG));
    }

    #[test]
    fn a_physical_id_selector_keeps_the_whole_operation_out() {
        let plans = plan(&file(
            "protected:\n  - type: \"AWS::SQS::Queue\"\n    physical_id: \"https://x\"\n",
        ));
        assert!(matches!(
            coverage_of(&plans, "sqs:SetQueueAttributes"),
            Coverage::Protected { .. }
        ));
    }

    #[test]
    fn an_allowing_default_denies_only_what_rules_decide() {
        let plans = plan(&file(
            "defaults: { verdict: allow }\nrules:\n  - name: roles\n    match: { resource_types: [\"AWS::IAM::Role\"] }\n    verdict: revert\n",
        ));
        assert!(matches!(
            coverage_of(&plans, "iam:PutRolePolicy"),
            Coverage::Deny { .. }
        ));
        assert!(matches!(
            coverage_of(&plans, "s3:PutBucketPolicy"),
            Coverage::LeftToPeople { .. }
        ));
    }
}
