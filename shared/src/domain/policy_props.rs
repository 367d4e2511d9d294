//! Generated inputs for the policy loader: whatever the YAML, `Policy::from_yaml`
//! answers `Ok` or an error naming a line (syntax) or a key (invalid), and
//! never panics. 10,000 cases each; `DRIFTGUARD_PROPTEST_CASES=100000` for
//! the long run (docs/reliability.md).
#![allow(clippy::unwrap_used)]
use proptest::prelude::*;

use super::policy::{Policy, PolicyError};

const EXAMPLE: &str = include_str!("../../../policy.example.yaml");

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

proptest! {
    #![proptest_config(config())]

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
