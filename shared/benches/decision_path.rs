//! The decision path — parse + classify the actor + apply the policy — over every
//! fixture in `events/detect/` (malformed ones excluded). One core.
//!
//! `cargo bench -p shared --bench decision_path`; results in BENCHMARKS.md.
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shared::domain::{
    classify_actor, decide, Action, DecisionInput, Observation, Ownership, Policy,
};

fn fixtures() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/detect");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|b| shared::sources::parse_bytes(b).is_ok())
        .collect()
}

fn decide_bytes(policy: &Policy, bytes: &[u8]) -> Action {
    match shared::sources::parse_bytes(bytes) {
        Ok(Observation::Change(change)) => {
            let actor = classify_actor(&change.identity, &policy.identities, change.time);
            decide(
                &DecisionInput {
                    change: &change,
                    actor: &actor,
                    ownership: &Ownership::NotChecked,
                    drift: None,
                },
                policy,
            )
            .verdict
            .action
        }
        _ => Action::Ignore,
    }
}

fn bench(c: &mut Criterion) {
    let policy_text = include_str!("../../policy.example.yaml");
    let policy = match Policy::from_yaml(policy_text) {
        Ok(p) => p,
        Err(e) => panic!("example policy: {e}"),
    };
    let events = fixtures();
    assert!(!events.is_empty(), "no fixtures found");
    let mut group = c.benchmark_group("decision_path");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function(format!("{}_fixtures", events.len()), |b| {
        b.iter(|| {
            let mut acted = 0usize;
            for e in &events {
                if decide_bytes(&policy, std::hint::black_box(e)).acts() {
                    acted += 1;
                }
            }
            acted
        })
    });
    // The floor: building a serde_json::Value of each payload, nothing else.
    group.bench_function("json_value_only", |b| {
        b.iter(|| {
            events
                .iter()
                .filter(|e| {
                    serde_json::from_slice::<serde_json::Value>(std::hint::black_box(e)).is_ok()
                })
                .count()
        })
    });
    // The two halves, to see where the time goes.
    group.bench_function("parse_only", |b| {
        b.iter(|| {
            events
                .iter()
                .filter(|e| shared::sources::parse_bytes(std::hint::black_box(e)).is_ok())
                .count()
        })
    });
    // The `Value` parser alone (what `parse_bytes` did before its typed fast path).
    group.bench_function("parse_value_path_only", |b| {
        b.iter(|| {
            events
                .iter()
                .filter(|e| shared::sources::parse_bytes_slow(std::hint::black_box(e)).is_ok())
                .count()
        })
    });
    // The parse split by kind: CloudTrail calls (the typed fast path) and the
    // other sources (Config, CloudFormation), each per event of its own kind.
    let (cloudtrail, others): (Vec<&Vec<u8>>, Vec<&Vec<u8>>) = events
        .iter()
        .partition(|e| shared::sources::parse_bytes_fast(e).is_some());
    for (name, subset) in [
        ("parse_cloudtrail_only", &cloudtrail),
        ("parse_other_sources_only", &others),
    ] {
        group.throughput(Throughput::Elements(subset.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                subset
                    .iter()
                    .filter(|e| shared::sources::parse_bytes(std::hint::black_box(e)).is_ok())
                    .count()
            })
        });
    }
    let changes: Vec<_> = events
        .iter()
        .filter_map(|e| match shared::sources::parse_bytes(e) {
            Ok(Observation::Change(c)) => Some(c),
            _ => None,
        })
        .collect();
    group.throughput(Throughput::Elements(changes.len() as u64));
    group.bench_function("classify_and_decide_only", |b| {
        b.iter(|| {
            changes
                .iter()
                .filter(|change| {
                    let actor = classify_actor(&change.identity, &policy.identities, change.time);
                    decide(
                        &DecisionInput {
                            change,
                            actor: &actor,
                            ownership: &Ownership::NotChecked,
                            drift: None,
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
