//! Generated inputs for the policy loader: whatever the YAML, `Policy::from_yaml`
//! answers `Ok` or an error naming a line (syntax) or a key (invalid), and
//! never panics. 10,000 cases each; `DRIFTGUARD_PROPTEST_CASES=100000` for
//! the long run (docs/reliability.md).
#![allow(clippy::unwrap_used)]
use proptest::prelude::*;

use super::policy::{Policy, PolicyError};

const EXAMPLE: &str = include_str!("../../../../policy.example.yaml");

/// Cases per property: `DRIFTGUARD_PROPTEST_CASES`, else `normal`.
pub(crate) fn cases(normal: u32) -> u32 {
    std::env::var("DRIFTGUARD_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(normal)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(10_000),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn loads_or_names_the_problem(text: &str) -> Result<(), TestCaseError> {
    match Policy::from_yaml(text) {
        Ok(_) => Ok(()),
        Err(PolicyError::Syntax { line, .. }) => {
            prop_assert!(
                line <= text.lines().count() + 1,
                "line {} of {}",
                line,
                text.lines().count()
            );
            Ok(())
        }
        Err(e) => {
            prop_assert!(!e.to_string().is_empty());
            Ok(())
        }
    }
}

/// A line edit of the example policy.
#[derive(Debug, Clone)]
enum Edit {
    Delete,
    Duplicate,
    Replace(String),
    Indent(usize),
    Truncate(usize),
}

fn arb_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        Just(Edit::Delete),
        Just(Edit::Duplicate),
        "[ -~]{0,30}".prop_map(Edit::Replace),
        (0usize..6).prop_map(Edit::Indent),
        (0usize..40).prop_map(Edit::Truncate),
    ]
}

fn edited(edits: &[(prop::sample::Index, Edit)]) -> String {
    let mut lines: Vec<String> = EXAMPLE.lines().map(str::to_string).collect();
    for (at, edit) in edits {
        if lines.is_empty() {
            break;
        }
        let i = at.index(lines.len());
        match edit {
            Edit::Delete => {
                lines.remove(i);
            }
            Edit::Duplicate => lines.insert(i, lines[i].clone()),
            Edit::Replace(s) => lines[i] = s.clone(),
            Edit::Indent(n) => lines[i] = format!("{}{}", " ".repeat(*n), lines[i]),
            Edit::Truncate(n) => {
                let cut = lines[i]
                    .char_indices()
                    .nth(*n)
                    .map_or(lines[i].len(), |(b, _)| b);
                lines[i].truncate(cut);
            }
        }
    }
    lines.join("\n")
}

/// A policy of the documented shape with generated values.
fn arb_policy() -> impl Strategy<Value = String> {
    let verdict = prop_oneof![
        Just("ticket"),
        Just("revert"),
        Just("rollback"),
        Just("ignore"),
        Just("allow"),
        Just("nonsense")
    ];
    let actor = prop_oneof![
        Just("console"),
        Just("human"),
        Just("pipeline"),
        Just("unknown"),
        Just("automation"),
        Just("robot")
    ];
    let rule = (
        "[a-z-]{1,12}",
        verdict,
        prop::collection::vec(actor, 0..3),
        "[A-Za-z:*]{0,24}",
        any::<bool>(),
    )
        .prop_map(|(name, verdict, actors, rtype, dry)| {
            format!(
                "  - name: {name}\n    match: {{ actors: [{}], resource_types: [\"{rtype}\"] }}\n    verdict: {verdict}\n    dry_run: {dry}\n",
                actors.join(", ")
            )
        });
    (prop::collection::vec(rule, 0..6), "[ -~]{0,20}", 0u32..3).prop_map(
        |(rules, principal, version)| {
            format!(
                "version: {version}\nidentities:\n  pipeline:\n    - principal: \"{}\"\nrules:\n{}",
                principal.replace(['"', '\\'], ""),
                rules.concat()
            )
        },
    )
}

/// One generated environment: its name and accounts, as written.
#[derive(Debug, Clone)]
struct EnvModel {
    name: String,
    accounts: Vec<String>,
}

/// Policies with an `environments` section: names from a small set (so they
/// clash), accounts from a small set of valid ids and a few invalid ones (so
/// they overlap), sometimes `ou`/`tags` (refused), `defaults` overrides and
/// rules. Returns the text and what it lists.
fn arb_env_policy() -> impl Strategy<Value = (String, Vec<EnvModel>)> {
    let name = prop_oneof![
        Just("prod"),
        Just("dev"),
        Just("test"),
        Just("stage"),
        Just(""),
        Just("pro d")
    ];
    let account = prop_oneof![
        8 => prop_oneof![
            Just("111111111111"),
            Just("222222222222"),
            Just("333333333333"),
            Just("444444444444"),
            Just("555555555555")
        ],
        1 => prop_oneof![Just("1234"), Just("11111111111*"), Just("abcdefghijkl")],
    ];
    let extra = prop_oneof![
        6 => Just(""),
        1 => Just(", ou: \"ou-ab12-cdef3456\""),
        1 => Just(", tags: { env: prod }"),
        1 => Just(", acounts: []"),
    ];
    let defaults = prop_oneof![
        Just(String::new()),
        any::<bool>().prop_map(|d| format!("    defaults: {{ dry_run: {d} }}\n")),
        prop_oneof![
            Just("ticket"),
            Just("ignore"),
            Just("revert"),
            Just("nonsense")
        ]
        .prop_map(|v| format!("    defaults: {{ verdict: {v}, severity: low }}\n")),
        Just("    defaults: { dryrun: false }\n".to_string()),
    ];
    let rule = (
        prop_oneof![Just("a"), Just("b"), Just("c"), Just("everything-else")],
        prop_oneof![Just("ticket"), Just("revert"), Just("allow"), Just("nuke")],
    )
        .prop_map(|(n, v)| format!("      - name: {n}\n        verdict: {v}\n"));
    let env = (
        name,
        prop::collection::vec(account, 0..4),
        extra,
        defaults,
        prop::collection::vec(rule, 0..3),
    )
        .prop_map(|(name, accounts, extra, defaults, rules)| {
            let quoted: Vec<String> = accounts.iter().map(|a| format!("\"{a}\"")).collect();
            let rules = if rules.is_empty() {
                String::new()
            } else {
                format!("    rules:\n{}", rules.concat())
            };
            (
                format!(
                    "  - name: \"{name}\"\n    match: {{ accounts: [{}]{extra} }}\n{defaults}{rules}",
                    quoted.join(", ")
                ),
                EnvModel {
                    name: name.to_string(),
                    accounts: accounts.iter().map(|a| a.to_string()).collect(),
                },
            )
        });
    (prop::collection::vec(env, 0..5), 1u32..4).prop_map(|(envs, version)| {
        let (texts, models): (Vec<String>, Vec<EnvModel>) = envs.into_iter().unzip();
        (
            format!(
                "version: {version}\nrules:\n  - name: everything-else\n    verdict: ticket\nenvironments:\n{}",
                texts.concat()
            ),
            models,
        )
    })
}

proptest! {
    #![proptest_config(config())]

    /// Whatever the environments, the loader answers or names the problem;
    /// an account listed in two environments never loads; a policy that
    /// loads puts each listed account in exactly the environment listing it.
    #[test]
    fn generated_environments_load_or_name_the_problem((text, envs) in arb_env_policy()) {
        loads_or_names_the_problem(&text)?;
        let mut seen = std::collections::BTreeMap::new();
        let mut overlap = false;
        for (i, e) in envs.iter().enumerate() {
            for a in &e.accounts {
                if let Some(j) = seen.insert(a.clone(), i) {
                    prop_assert!(j <= i);
                    overlap = true;
                }
            }
        }
        match Policy::from_yaml(&text) {
            Ok(p) => {
                prop_assert!(!overlap, "an account in two environments loaded:\n{}", text);
                prop_assert!(envs.is_empty() || text.starts_with("version: 2"), "{}", text);
                prop_assert_eq!(p.environments.len(), envs.len());
                for e in &envs {
                    for a in &e.accounts {
                        let found = p.environment_for(a).map(|f| f.name.as_str());
                        prop_assert_eq!(found, Some(e.name.as_str()));
                        prop_assert_eq!(p.rule_set(a).environment, Some(e.name.as_str()));
                    }
                }
                prop_assert!(p.environment_for("999999999999").is_none());
                prop_assert_eq!(p.rule_set("999999999999").environment, None);
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn arbitrary_text_never_panics_the_loader(text in "\\PC{0,200}") {
        loads_or_names_the_problem(&text)?;
    }

    #[test]
    fn edits_of_the_example_policy_never_panic_the_loader(
        edits in prop::collection::vec((any::<prop::sample::Index>(), arb_edit()), 1..4)
    ) {
        loads_or_names_the_problem(&edited(&edits))?;
    }

    #[test]
    fn generated_policies_load_or_name_the_problem(text in arb_policy()) {
        loads_or_names_the_problem(&text)?;
    }
}

#[test]
fn the_example_policy_loads() {
    Policy::from_yaml(EXAMPLE).unwrap();
}
