//! Recorded writes no operation row lists (`events/recorded/unlisted/`,
//! provenance in its README) are the oracle for their identifier extraction:
//! each one, in the EventBridge envelope CloudTrail delivers it in, parses to a
//! change of an operation without a row, unresolved (its owner comes from the
//! ownership index), carrying exactly the README's identifiers in order, with
//! the README's actor kind; the bytes path agrees with the `Value` path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use driftguard_model::domain::policy::Policy;
use driftguard_model::domain::{classify_actor, Observation};
use driftguard_model::sources::identifiers::is_unlisted;
use driftguard_model::sources::record::envelope_for_record;
use driftguard_model::sources::{parse_bytes, parse_event};
use serde_json::Value;

use common::CONVENTIONS_POLICY;

fn dir() -> PathBuf {
    common::events_dir("recorded").join("unlisted")
}

fn json_files() -> BTreeSet<String> {
    common::json_files(&dir())
}

#[test]
fn every_file_is_in_the_readme_and_vice_versa() {
    let listed: BTreeSet<String> = common::readme_table(&dir(), 6)
        .iter()
        .map(|c| common::tick(&c[0]))
        .collect();
    assert_eq!(json_files(), listed);
}

#[test]
fn every_record_yields_the_readme_identifiers_and_actor() {
    let policy = Policy::from_yaml(CONVENTIONS_POLICY).unwrap();
    let mut failures = Vec::new();
    for row in common::readme_table(&dir(), 6) {
        let file = common::tick(&row[0]);
        let record: Value =
            serde_json::from_slice(&std::fs::read(dir().join(&file)).unwrap()).unwrap();
        assert_eq!(
            record["eventName"],
            common::tick(&row[1]).as_str(),
            "{file}"
        );
        let env = envelope_for_record(&record).expect("a bare record");
        let parsed = parse_event(&env).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            parse_bytes(&serde_json::to_vec(&env).unwrap()),
            Ok(parsed.clone()),
            "{file}"
        );
        let outcome = match &parsed {
            Observation::Change(_) => "change",
            Observation::NotAChange { reason, .. } => reason.as_str(),
        };
        let change = match parsed {
            Observation::Change(c) => *c,
            Observation::NotAChange { change, .. } => *change.expect("change kept"),
        };
        let want: Vec<String> = common::tick(&row[3])
            .split(", ")
            .map(str::to_string)
            .collect();
        let actor = classify_actor(&change.identity, &policy.identities, change.time);
        let ok = is_unlisted(&change)
            && !change.resource.is_resolved()
            && change.resource.identifiers == want
            && actor.kind.as_str() == row[4]
            && outcome == row[5];
        if !ok {
            failures.push(format!(
                "{file}: unlisted {}, resolved {}, identifiers {:?}, actor {}, outcome {outcome}",
                is_unlisted(&change),
                change.resource.is_resolved(),
                change.resource.identifiers,
                actor.kind
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The example of docs/policy.md, "Operations no row lists", is a valid policy
/// (after the `version` and `defaults` every policy file starts with).
#[test]
fn the_policy_docs_example_for_unlisted_operations_parses() {
    let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/policy.md");
    let text = std::fs::read_to_string(&docs).unwrap();
    let section = text
        .split("### Operations no row lists")
        .nth(1)
        .expect("the section");
    let example = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("its yaml block");
    let policy = Policy::from_yaml(&format!(
        "version: 1\ndefaults: {{ dry_run: true, verdict: ticket, severity: medium }}\n{example}"
    ))
    .unwrap_or_else(|e| panic!("docs/policy.md example: {e}\n{example}"));
    assert_eq!(policy.rules.len(), 3);
    assert!(policy.warnings().is_empty(), "{:?}", policy.warnings());
}
