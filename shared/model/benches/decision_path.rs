//! The decision path — parse + classify the actor + apply the policy — over every
//! fixture in `events/detect/` (malformed ones excluded) and every recorded
//! CloudTrail record in `events/recorded/` (in the EventBridge envelope). One core
//! (`scripts/bench` pins it with `taskset`).
//!
//! The parse is `driftguard_model::sources::parse_envelope_bytes`, the function detect's
//! Lambda runs on the raw payload (`functions/detect/src/main.rs`:
//! `LambdaEvent<Box<RawValue>>` → `Pipeline::process_raw_until`). Beside it: the
//! runtime's own step (the payload deserialized into a `Box<RawValue>` the way
//! `lambda_runtime` deserializes every payload), the path detect took before
//! (the runtime builds a `serde_json::Value`, then `parse_event`), and the
//! JSON-only floors.
//!
//! `cargo bench -p shared --bench decision_path`; results in BENCHMARKS.md.
use std::collections::HashMap;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use driftguard_model::domain::classify_actor_in;
use driftguard_model::domain::{
    decide, policy::Policy, Action, DecisionInput, Observation, Ownership,
};
use driftguard_model::sources::{identifiers, parse_envelope_bytes, ParsedEnvelope};
use serde_json::value::RawValue;
use serde_json::Value;

fn read_dir(dir: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// `events/detect/*.json` that parse (the malformed-event fixtures excluded).
fn fixtures() -> Vec<Vec<u8>> {
    read_dir("detect")
        .into_iter()
        .filter(|b| parse_envelope_bytes(b).observation.is_ok())
        .collect()
}

/// `events/recorded/*.json`, each in the envelope EventBridge delivers it in,
/// compact as EventBridge sends it.
fn recorded() -> Vec<Vec<u8>> {
    read_dir("recorded")
        .iter()
        .filter_map(|b| serde_json::from_slice::<Value>(b).ok())
        .filter_map(|v| driftguard_model::sources::record::envelope_for_record(&v))
        .map(|e| e.to_string().into_bytes())
        .collect()
}

/// What `lambda_runtime` does with every payload before the handler sees it
/// (`lambda_runtime::deserializer::deserialize`, lambda_runtime 1.5).
fn runtime_deserialize<T: for<'de> serde::Deserialize<'de>>(body: &[u8]) -> Option<T> {
    let jd = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(jd).ok()
}

/// Classify + decide, as the pipeline does them (ownership not looked up here).
fn decide_parsed(policy: &Policy, parsed: ParsedEnvelope) -> Action {
    match parsed.observation {
        Ok(Observation::Change(change)) => {
            let home = policy
                .identities
                .home_account()
                .unwrap_or(&change.account)
                .to_string();
            let actor = classify_actor_in(
                &change.identity,
                &policy.identities,
                change.time,
                Some(&home),
            );
            decide(
                &DecisionInput {
                    change: &change,
                    actor: &actor,
                    ownership: &Ownership::NotChecked,
                    drift: None,
                    account: None,
                },
                policy,
            )
            .verdict
            .action
        }
        _ => Action::Ignore,
    }
}

/// `events/routing/*.json` and `events/recorded/unlisted/*.json` (writes no
/// operation row lists: APIs of API Gateway, CloudFront, CloudTrail, DynamoDB,
/// EC2, S3, IAM, …), in the envelope EventBridge delivers them in.
fn routed() -> Vec<Vec<u8>> {
    ["routing", "recorded/unlisted"]
        .iter()
        .flat_map(|dir| read_dir(dir))
        .filter_map(|b| serde_json::from_slice::<Value>(&b).ok())
        .filter_map(|v| driftguard_model::sources::record::envelope_for_record(&v))
        .map(|e| e.to_string().into_bytes())
        .collect()
}

/// An ownership index of `n` physical ids, none of them a routed event's (the
/// adapters' `OwnershipIndex`: a `HashMap` from physical id to its owners).
fn unmanaged_index(n: usize) -> HashMap<String, Vec<&'static str>> {
    (0..n)
        .map(|i| {
            (
                format!("stack-{i}-Resource-{i:08X}"),
                vec!["AWS::S3::Bucket"],
            )
        })
        .collect()
}

/// detect on a routed stream: a write no row lists has its identifiers looked
/// up in the index (`identifiers::pick`, as `OwnershipIndex::pick_for`) and is
/// skipped when none is owned, before any claim; any other change is decided.
fn routed_path(policy: &Policy, index: &HashMap<String, Vec<&'static str>>, body: &[u8]) -> Action {
    let Some(raw) = runtime_deserialize::<Box<RawValue>>(body) else {
        return Action::Ignore;
    };
    let parsed = parse_envelope_bytes(raw.get().as_bytes());
    if let Ok(Observation::Change(change)) = &parsed.observation {
        if identifiers::is_unlisted(change) {
            let r = &change.resource;
            let owners: Vec<(&str, &str)> = r
                .identifiers
                .iter()
                .flat_map(|id| {
                    index
                        .get(id)
                        .into_iter()
                        .flatten()
                        .map(move |t| (id.as_str(), *t))
                })
                .collect();
            let listed = &r.identifiers[..r.listed_identifiers.min(r.identifiers.len())];
            let rank = |id: &str| if listed.iter().any(|c| c == id) { 2 } else { 0 };
            return match identifiers::pick(
                &change.service,
                &change.operation,
                &owners,
                |o| o.0,
                |o| Some(o.1),
                |_| "stack",
                |o| rank(o.0),
            ) {
                identifiers::Pick::Nothing => Action::Ignore,
                _ => Action::Ticket,
            };
        }
    }
    decide_parsed(policy, parsed)
}

/// Production: the runtime's `Box<RawValue>`, then detect's parse and decision.
fn production(policy: &Policy, body: &[u8]) -> Action {
    match runtime_deserialize::<Box<RawValue>>(body) {
        Some(raw) => decide_parsed(policy, parse_envelope_bytes(raw.get().as_bytes())),
        None => Action::Ignore,
    }
}

/// Before: the runtime's `Value`, then `parse_event` over it.
fn value_path(policy: &Policy, body: &[u8]) -> Action {
    match runtime_deserialize::<Value>(body) {
        Some(v) => decide_parsed(policy, ParsedEnvelope::of_value(&v)),
        None => Action::Ignore,
    }
}

fn bench(c: &mut Criterion) {
    let policy_text = include_str!("../../../policy.example.yaml");
    let policy = match Policy::from_yaml(policy_text) {
        Ok(p) => p,
        Err(e) => panic!("example policy: {e}"),
    };
    let (fixtures, recorded) = (fixtures(), recorded());
    assert!(
        !fixtures.is_empty() && !recorded.is_empty(),
        "no fixtures found"
    );
    let all: Vec<Vec<u8>> = fixtures.iter().chain(&recorded).cloned().collect();
    let n = all.len();
    let mut group = c.benchmark_group("decision_path");

    let sets: [(&str, &Vec<Vec<u8>>); 3] = [
        ("all", &all),
        ("fixtures", &fixtures),
        ("recorded", &recorded),
    ];
    for (set, events) in sets {
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_function(format!("production_{set}_{}", events.len()), |b| {
            b.iter(|| {
                events
                    .iter()
                    .filter(|e| production(&policy, std::hint::black_box(e)).acts())
                    .count()
            })
        });
        group.bench_function(format!("value_path_{set}_{}", events.len()), |b| {
            b.iter(|| {
                events
                    .iter()
                    .filter(|e| value_path(&policy, std::hint::black_box(e)).acts())
                    .count()
            })
        });
    }

    group.throughput(Throughput::Elements(n as u64));
    // detect's decision without the runtime's step (what `driftguard replay` runs).
    group.bench_function(format!("decide_bytes_all_{n}"), |b| {
        b.iter(|| {
            all.iter()
                .filter(|e| {
                    decide_parsed(&policy, parse_envelope_bytes(std::hint::black_box(e))).acts()
                })
                .count()
        })
    });
    // Floors: JSON and nothing else.
    group.bench_function("floor_runtime_raw_value", |b| {
        b.iter(|| {
            all.iter()
                .filter(|e| runtime_deserialize::<Box<RawValue>>(std::hint::black_box(e)).is_some())
                .count()
        })
    });
    group.bench_function("floor_json_value", |b| {
        b.iter(|| {
            all.iter()
                .filter(|e| serde_json::from_slice::<Value>(std::hint::black_box(e)).is_ok())
                .count()
        })
    });
    group.bench_function("floor_ignored_any", |b| {
        b.iter(|| {
            all.iter()
                .filter(|e| {
                    serde_json::from_slice::<serde::de::IgnoredAny>(std::hint::black_box(e)).is_ok()
                })
                .count()
        })
    });
    group.bench_function("parse_only", |b| {
        b.iter(|| {
            all.iter()
                .filter(|e| {
                    parse_envelope_bytes(std::hint::black_box(e))
                        .observation
                        .is_ok()
                })
                .count()
        })
    });
    let changes: Vec<_> = all
        .iter()
        .filter_map(|e| match parse_envelope_bytes(e).observation {
            Ok(Observation::Change(c)) => Some(c),
            _ => None,
        })
        .collect();
    group.throughput(Throughput::Elements(changes.len() as u64));
    group.bench_function(format!("classify_and_decide_only_{}", changes.len()), |b| {
        b.iter(|| {
            changes
                .iter()
                .filter(|change| {
                    let home = policy.identities.home_account().unwrap_or(&change.account);
                    let actor = classify_actor_in(
                        &change.identity,
                        &policy.identities,
                        change.time,
                        Some(home),
                    );
                    decide(
                        &DecisionInput {
                            change,
                            actor: &actor,
                            ownership: &Ownership::NotChecked,
                            drift: None,
                            account: None,
                        },
                        &policy,
                    )
                    .verdict
                    .action
                    .acts()
                })
                .count()
        })
    });
    group.finish();
    bench_routed(c, &policy, &recorded);
}

/// Issue 33's mixed stream: with every write routed, most events are writes
/// no row lists on resources no stack owns. The stream: every routed
/// unlisted record (skipped after the index lookup) and the recorded listed
/// ones (decided), against a 10,000-id index.
fn bench_routed(c: &mut Criterion, policy: &Policy, recorded: &[Vec<u8>]) {
    let routed = routed();
    let index = unmanaged_index(10_000);
    let mixed: Vec<Vec<u8>> = routed.iter().chain(recorded).cloned().collect();
    let mut group = c.benchmark_group("routed");
    for (set, events) in [("unlisted", &routed), ("mixed", &mixed)] {
        group.throughput(Throughput::Elements(events.len() as u64));
        group.bench_function(format!("routed_{set}_{}", events.len()), |b| {
            b.iter(|| {
                events
                    .iter()
                    .filter(|e| routed_path(policy, &index, std::hint::black_box(e)).acts())
                    .count()
            })
        });
        group.bench_function(format!("floor_ignored_any_{set}_{}", events.len()), |b| {
            b.iter(|| {
                events
                    .iter()
                    .filter(|e| {
                        serde_json::from_slice::<serde::de::IgnoredAny>(std::hint::black_box(e))
                            .is_ok()
                    })
                    .count()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
