//! `events/notify/*.json` and `docs/slack-example.json` are generated from the
//! real Rust types (`driftguard_core::notify::samples`), so they cannot drift from the
//! schemas. Regenerate with `DRIFTGUARD_UPDATE_FIXTURES=1 cargo test -p
//! integration-tests --test integration notify_events::`; a plain run checks them.
use std::path::Path;

use driftguard_cli::emulator::workspace_root;
use driftguard_core::notify::render::{slack_message, BusEvent};
use driftguard_core::notify::samples;
use serde_json::Value;

fn updating() -> bool {
    std::env::var("DRIFTGUARD_UPDATE_FIXTURES").is_ok_and(|v| v == "1")
}

/// Compare `path` with `expected` (pretty JSON), or write it when updating.
fn check_or_write(path: &Path, expected: &Value) {
    let text = format!("{}\n", serde_json::to_string_pretty(expected).unwrap());
    if updating() {
        std::fs::write(path, &text).unwrap();
        return;
    }
    let on_disk = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with DRIFTGUARD_UPDATE_FIXTURES=1 to generate it",
            path.display()
        )
    });
    let on_disk: Value = serde_json::from_str(&on_disk).unwrap();
    assert_eq!(
        &on_disk,
        expected,
        "{} is out of date: run with DRIFTGUARD_UPDATE_FIXTURES=1",
        path.display()
    );
}

#[test]
fn event_fixtures_match_the_rust_types() {
    let dir = workspace_root().join("events/notify");
    let envelopes = samples::all_envelopes();
    assert_eq!(envelopes.len(), 14, "8 decisions and 6 result outcomes");
    for (name, envelope) in &envelopes {
        check_or_write(&dir.join(format!("{name}.json")), envelope);
    }
    let accepted = samples::envelope_for(&samples::drift_accepted());
    check_or_write(&dir.join(ACCEPTED_FIXTURE), &accepted);
    // No stale files from renamed samples.
    let mut names: Vec<String> = envelopes.iter().map(|(n, _)| format!("{n}.json")).collect();
    names.push(ACCEPTED_FIXTURE.to_string());
    for entry in std::fs::read_dir(&dir).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().to_string();
        assert!(
            names.contains(&file),
            "events/notify/{file} is not generated from a sample"
        );
    }
}

/// `driftguard accept`'s event (not a decision or result: parsed on its own).
const ACCEPTED_FIXTURE: &str = "drift-accepted.json";

#[test]
fn the_accepted_fixture_parses_as_the_event_notify_consumes() {
    let text = std::fs::read_to_string(
        workspace_root()
            .join("events/notify")
            .join(ACCEPTED_FIXTURE),
    )
    .unwrap();
    let value: Value = serde_json::from_str(&text).unwrap();
    let event = driftguard_core::notify::accepted::AcceptedEvent::parse(&value)
        .unwrap()
        .expect("a Drift Accepted event");
    assert_eq!(event.detail, samples::drift_accepted());
    assert_eq!(value["source"], "driftguard");
}

#[test]
fn every_fixture_parses_as_the_event_notify_consumes() {
    let dir = workspace_root().join("events/notify");
    for (name, _) in samples::all_envelopes() {
        let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        let event = BusEvent::parse(&value)
            .unwrap()
            .expect("a driftguard event");
        assert_eq!(event.account, driftguard_cli::emulator::ACCOUNT);
        assert_eq!(event.region, driftguard_cli::emulator::REGION);
        assert_eq!(value["source"], "driftguard");
    }
}

#[test]
fn readme_slack_example_is_the_rendered_console_port_22_message() {
    let envelope = samples::envelope_for(&samples::console_port_22_decision());
    let event = BusEvent::parse(&envelope).unwrap().unwrap();
    let payload = slack_message(&event, &samples::ticket_facts());
    check_or_write(&workspace_root().join("docs/slack-example.json"), &payload);
}
