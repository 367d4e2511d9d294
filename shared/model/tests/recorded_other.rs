//! Real shapes beyond the operation table (`events/recorded/other/`, provenance
//! in its README): AWS Config envelopes and bare CloudTrail records of
//! operations without a row. Each parses (both parser paths agree), resolves
//! the resource type and physical id the README's table gives (`-`: none), is
//! classified as the actor it gives, and has the outcome it gives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use driftguard_model::domain::policy::Policy;
use driftguard_model::domain::{classify_actor, Change, Observation};
use driftguard_model::sources::{parse_bytes, parse_event, record::envelope_for_record};
use serde_json::Value;

use common::CONVENTIONS_POLICY;

fn dir() -> PathBuf {
    common::events_dir("recorded").join("other")
}

/// The event as EventBridge delivers it: envelopes as they are, bare
/// CloudTrail records wrapped.
fn event(file: &str) -> Value {
    let bytes = std::fs::read(dir().join(file)).unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
    envelope_for_record(&v).unwrap_or(v)
}

fn json_files() -> BTreeSet<String> {
    common::json_files(&dir())
}

fn change_of(o: &Observation) -> Option<&Change> {
    match o {
        Observation::Change(c) => Some(c),
        Observation::NotAChange { change, .. } => change.as_deref(),
    }
}

fn outcome_of(o: &Observation) -> &'static str {
    match o {
        Observation::Change(_) => "change",
        Observation::NotAChange { reason, .. } => reason.as_str(),
    }
}

/// `-` in the table: nothing.
fn cell(c: &str) -> Option<String> {
    Some(common::tick(c)).filter(|c| c != "-")
}

#[test]
fn every_file_is_in_the_readme_and_vice_versa() {
    let listed: BTreeSet<String> = common::readme_table(&dir(), 7)
        .into_iter()
        .map(|c| common::tick(&c[0]))
        .collect();
    assert_eq!(json_files(), listed);
}

#[test]
fn every_event_parses_resolves_and_classifies_as_documented() {
    let policy = Policy::from_yaml(CONVENTIONS_POLICY).unwrap();
    let mut failures = Vec::new();
    for row in common::readme_table(&dir(), 7) {
        let file = common::tick(&row[0]);
        let env = event(&file);
        let parsed = parse_event(&env).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            parse_bytes(&serde_json::to_vec(&env).unwrap()),
            Ok(parsed.clone()),
            "{file}"
        );
        let c = change_of(&parsed).unwrap_or_else(|| panic!("{file}: no change kept"));
        let actor = classify_actor(&c.identity, &policy.identities, c.time);
        let got = (
            c.resource.resource_type.clone(),
            c.resource.physical_id.clone(),
            actor.kind.as_str().to_string(),
            outcome_of(&parsed).to_string(),
        );
        let want = (cell(&row[3]), cell(&row[4]), row[5].clone(), row[6].clone());
        if got != want {
            failures.push(format!("{file}: got {got:?}, README {want:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn a_role_named_by_its_unique_id_gets_no_made_up_arn() {
    let o = parse_event(&event("config-compliance-iam-role.json")).unwrap();
    let c = change_of(&o).unwrap();
    assert_eq!(c.resource.arn, None);
    assert_eq!(c.request["configResourceId"], "AROA3EXAMPLEAPPROLE02");
    // Looked up by Config's id (no stack names it: unmanaged), as before the fix,
    // so a compliance flip is never an unresolved ticket of its own.
    assert_eq!(
        c.resource.physical_id.as_deref(),
        Some("AROA3EXAMPLEAPPROLE02")
    );

    let o = parse_event(&event("config-item-iam-role.json")).unwrap();
    let c = change_of(&o).unwrap();
    assert_eq!(
        c.resource.arn.as_deref(),
        Some("arn:aws:iam::123456789012:role/service-role/app-config-role")
    );
    // The item says "awsRegion": "global" (IAM); the owner is looked up in the
    // region Config recorded it in, the envelope's.
    assert_eq!(c.region, "us-east-1");
}
