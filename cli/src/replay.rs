//! Offline replay: parse → classify → decide, per file. A malformed file is
//! reported (with the field) and the others are still processed.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use driftguard_core::remediate::planner::{plan, PlanInput};
use driftguard_model::domain::classify_actor_in;
use driftguard_model::domain::{
    decide, policy::Policy, Change, DecisionInput, Observation, Ownership, StackMembership, Verdict,
};
use serde_json::{json, Value};

/// The result of replaying one file, as printed with `--json`.
pub fn replay_one(policy: &Policy, path: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let file = path.display().to_string();
    if let Some(v) = other_function_input(&bytes, &file) {
        return Ok(v);
    }
    // A bare CloudTrail record (events/recorded/, a trail's log file entry): as
    // EventBridge would deliver it.
    let bytes = match serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| driftguard_model::sources::record::envelope_for_record(&v))
    {
        Some(envelope) => envelope.to_string().into_bytes(),
        None => bytes,
    };
    let observation = driftguard_model::sources::parse_bytes(&bytes).map_err(|e| e.to_string())?;
    // The EventBridge envelope's `account` (set by AWS) is checked as detect checks it.
    let envelope_account = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("account").and_then(Value::as_str).map(str::to_string));
    Ok(decide_offline(
        policy,
        &observation,
        &file,
        envelope_account.as_deref(),
    ))
}

/// Payloads of the other functions (events/notify, events/remediate, events/sweep,
/// events/config-rule, events/approve) are not changes: say what they are instead of failing,
/// so `replay events/**/*.json` classifies every well-formed fixture.
fn other_function_input(bytes: &[u8], file: &str) -> Option<Value> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    let source = v.get("source").and_then(Value::as_str);
    let detail_type = v.get("detail-type").and_then(Value::as_str).unwrap_or("");
    let (kind, evidence, what) = if source == Some(driftguard_model::events::SOURCE) {
        (
            "driftguard",
            format!(
                "source {} ({detail_type})",
                driftguard_model::events::SOURCE
            ),
            format!("driftguard's own bus event ({detail_type}), input of remediate/notify"),
        )
    } else if source == Some("aws.events") && detail_type == "Scheduled Event" {
        (
            "automation",
            "source aws.events (Scheduled Event)".to_string(),
            "the sweep's schedule".to_string(),
        )
    } else if v.pointer("/requestContext/http").is_some() && v.get("rawPath").is_some() {
        (
            "automation",
            "a Lambda function URL request (requestContext.http)".to_string(),
            "an approval request to the approval endpoint, input of approve".to_string(),
        )
    } else if v.get("invokingEvent").is_some() && v.get("configRuleName").is_some() {
        (
            "automation",
            "AWS Config rule invocation (invokingEvent, configRuleName)".to_string(),
            "an AWS Config rule evaluation request, input of config-rule".to_string(),
        )
    } else {
        return None;
    };
    let event_id = v
        .get("id")
        .or_else(|| v.get("resultToken"))
        .and_then(Value::as_str)
        .unwrap_or("-");
    Some(json!({
        "file": file,
        "event_id": event_id,
        "observation": "not_a_change",
        "change": {"actor": {"kind": kind, "principal": "-", "evidence": [evidence]}},
        "verdict": {"action": "ignore", "reason": format!("not a change: {what}")},
    }))
}

/// The account driftguard runs in, offline: `--account`, else the event's own
/// (principal patterns that omit the account match it).
fn home_account<'a>(policy: &'a Policy, change: &'a Change) -> &'a str {
    policy.identities.home_account().unwrap_or(&change.account)
}

fn offline_actor(policy: &Policy, change: &Change) -> driftguard_model::domain::Actor {
    let mut actor = classify_actor_in(
        &change.identity,
        &policy.identities,
        change.time,
        Some(home_account(policy, change)),
    );
    if actor.kind == driftguard_model::domain::ActorKind::Cloudformation
        && change.source != driftguard_model::domain::ChangeSource::CloudformationStack
    {
        actor.evidence.push(
            "offline: the owning stack was not looked up; detect treats this as CloudFormation's \
             own call only while that stack has an operation in progress"
                .into(),
        );
    }
    actor
}

/// With `--account`, a change to another account's resource is rejected as
/// detect rejects it (`WATCHED_ACCOUNTS`).
fn foreign(policy: &Policy, change: &Change, file: &str, envelope: Option<&str>) -> Option<Value> {
    let home = policy.identities.home_account()?;
    let problem = driftguard_core::detect::watched_account_problem(
        &[home.to_string()],
        envelope,
        &change.account,
    )?;
    Some(json!({
        "file": file,
        "event_id": change.event_id,
        "observation": "rejected",
        "change": {"actor": {"kind": "unknown", "principal": "-", "evidence": [problem.clone()]}},
        "verdict": {"action": "ignore", "reason": format!("foreign_account: {problem}")},
    }))
}

/// Decide one parsed observation without AWS: ownership is `not_checked`; the
/// EventBridge envelope's `account`, when known, is checked as detect checks it.
pub fn decide_offline(
    policy: &Policy,
    observation: &Observation,
    file: &str,
    envelope_account: Option<&str>,
) -> Value {
    match observation {
        Observation::Change(change) => foreign(policy, change, file, envelope_account)
            .unwrap_or_else(|| decide_change(policy, change, file)),
        Observation::NotAChange {
            event_id,
            reason,
            detail,
            change,
        } => {
            let actor = change.as_ref().map(|c| offline_actor(policy, c));
            let mut change_json = change
                .as_ref()
                .and_then(|c| serde_json::to_value(c.as_ref()).ok())
                .unwrap_or_else(|| json!({}));
            if let Value::Object(map) = &mut change_json {
                map.insert(
                    "actor".into(),
                    actor
                        .map(|a| serde_json::to_value(a).unwrap_or(Value::Null))
                        .unwrap_or_else(|| json!({"kind": "unknown", "evidence": []})),
                );
            }
            json!({
                "file": file,
                "event_id": event_id,
                "observation": "not_a_change",
                "change": change_json,
                "verdict": {
                    "action": "ignore",
                    "reason": format!("not a change ({}): {detail}", reason.as_str()),
                },
            })
        }
    }
}

/// A change of driftguard's account: actor, verdict, and the plan when it acts.
fn decide_change(policy: &Policy, change: &Change, file: &str) -> Value {
    let actor = offline_actor(policy, change);
    let ownership = Ownership::NotChecked;
    let decision = decide(
        &DecisionInput {
            change,
            actor: &actor,
            ownership: &ownership,
            drift: change.drift_hint.as_ref(),
            account: None,
        },
        policy,
    );
    let mut change_json = serde_json::to_value(change).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut change_json {
        map.insert(
            "actor".into(),
            serde_json::to_value(&actor).unwrap_or(Value::Null),
        );
    }
    let mut out = json!({
        "file": file,
        "event_id": change.event_id,
        "observation": "change",
        "change": change_json,
        "ownership": ownership,
        // The policy environment of the change's account (null: in
        // none, the top-level rules decided).
        "environment": decision.verdict.environment,
        "verdict": decision.verdict,
        "held": decision.held,
    });
    if decision.verdict.environment.is_none() && policy.needs_account_facts() {
        // Offline, environments match by account id only.
        out["environment_not_evaluated"] = Value::String(
            "environments matched by OU path or account tag need AWS Organizations; \
             replay matches by account id only"
                .into(),
        );
    }
    if decision.verdict.action.acts() {
        match offline_plan(policy, change, &decision.verdict) {
            Ok(p) => out["plan"] = p,
            Err(why) => out["plan_refused"] = Value::String(why),
        }
    }
    out
}

/// The plan remediate would make from the event alone. Offline there is no
/// template and no CloudFormation drift result, so only strategies that need
/// neither (the exact inverse of the request) can apply; the others say why.
fn offline_plan(policy: &Policy, change: &Change, verdict: &Verdict) -> Result<Value, String> {
    let event_drift = driftguard_model::sources::operations::request_drift(change);
    let membership = StackMembership {
        stack_id: "(offline: not checked)".into(),
        stack_name: change
            .stack_hint
            .as_ref()
            .map(|h| h.stack.clone())
            .unwrap_or_else(|| "(offline: not checked)".into()),
        logical_id: "(offline: not checked)".into(),
        resource_type: change.resource.resource_type.clone(),
        stack_status: "UPDATE_COMPLETE".into(),
        stack_tags: Default::default(),
        nested: None,
    };
    let input = PlanInput {
        ticket_id: "(replay)",
        action: verdict.action,
        change: Some(change),
        drift: change.drift_hint.as_ref(),
        event_drift: event_drift.as_ref(),
        resource: &change.resource,
        membership: &membership,
        stack_status: &membership.stack_status,
        template: Err("offline replay: the stack template is not fetched"),
        stack_resources: &[],
        known_good: &[],
        policy,
        now: change.time,
    };
    match plan(&input) {
        Ok(planned) => serde_json::to_value(&planned.plan).map_err(|e| e.to_string()),
        Err(no) => Err(no.reason),
    }
}

/// The string at `pointer`, or `-`.
fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("-")
        .to_string()
}

/// `TYPE ID` of the changed resource, saying what is unresolved.
fn resource_text(v: &Value) -> String {
    match (
        v.pointer("/change/resource/resource_type")
            .and_then(Value::as_str),
        v.pointer("/change/resource/physical_id")
            .and_then(Value::as_str),
    ) {
        (Some(t), Some(id)) => format!("{t} {id}"),
        (Some(t), None) => format!("{t} (unresolved)"),
        (None, Some(id)) => id.to_string(),
        (None, None) => "(unresolved)".into(),
    }
}

/// The policy environment the change was decided in, in words.
fn environment_text(v: &Value) -> String {
    match v.pointer("/environment").and_then(Value::as_str) {
        Some(e) => format!("environment {e}"),
        None if v.get("environment_not_evaluated").is_some() => {
            "no environment by account id (OU and tag environments are not evaluated offline)"
                .to_string()
        }
        None => "no environment (top-level rules)".to_string(),
    }
}

/// ` (dry-run, approval required, severity high)`, or nothing.
fn verdict_flags(v: &Value) -> String {
    let mut flags = Vec::new();
    if let Some(d) = v.pointer("/verdict/dry_run").and_then(Value::as_bool) {
        flags.push(if d { "dry-run" } else { "live" }.to_string());
    }
    if v.pointer("/verdict/requires_approval")
        .and_then(Value::as_bool)
        == Some(true)
    {
        flags.push("approval required".into());
    }
    if let Some(sev) = v.pointer("/verdict/severity").and_then(Value::as_str) {
        flags.push(format!("severity {sev}"));
    }
    if flags.is_empty() {
        String::new()
    } else {
        format!(" ({})", flags.join(", "))
    }
}

fn print_plan(out: &mut impl Write, plan: &Value) -> std::io::Result<()> {
    writeln!(
        out,
        "  plan     {} — {}",
        text(plan, "/strategy"),
        text(plan, "/expected")
    )?;
    for call in plan
        .pointer("/calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        writeln!(
            out,
            "           {}:{} {}",
            text(call, "/service"),
            text(call, "/operation"),
            call.pointer("/parameters")
                .map(|p| p.to_string())
                .unwrap_or_default()
        )?;
    }
    Ok(())
}

fn print_block(out: &mut impl Write, v: &Value) -> std::io::Result<()> {
    let s = |p: &str| text(v, p);
    writeln!(out, "{}", s("/file"))?;
    writeln!(
        out,
        "  change   {}:{} on {}  [{} {}]",
        s("/change/service"),
        s("/change/operation"),
        resource_text(v),
        s("/change/source"),
        s("/change/time")
    )?;
    writeln!(
        out,
        "  actor    {:<14} {}",
        s("/change/actor/kind"),
        s("/change/actor/principal")
    )?;
    if v.pointer("/observation").and_then(Value::as_str) == Some("change") {
        writeln!(
            out,
            "  where    account {}, region {}, {}",
            s("/change/account"),
            s("/change/region"),
            environment_text(v)
        )?;
    }
    if let Some(evidence) = v
        .pointer("/change/actor/evidence")
        .and_then(Value::as_array)
    {
        for e in evidence.iter().filter_map(Value::as_str) {
            writeln!(out, "           - {e}")?;
        }
    }
    writeln!(
        out,
        "  verdict  {:<14} {}{}",
        s("/verdict/action"),
        s("/verdict/reason"),
        verdict_flags(v)
    )?;
    if let Some(held) = v.pointer("/held").and_then(Value::as_str) {
        writeln!(out, "  held     {held}")?;
    }
    if let Some(plan) = v.pointer("/plan").filter(|p| !p.is_null()) {
        print_plan(out, plan)?;
    }
    if let Some(refused) = v.pointer("/plan_refused").and_then(Value::as_str) {
        writeln!(out, "  plan     none: {refused}")?;
    }
    writeln!(out)
}

/// `account`: the account driftguard runs in (`--account`); without it each
/// event's own account is taken as driftguard's.
pub fn run(
    policy_path: Option<&Path>,
    json_lines: bool,
    files: &[PathBuf],
    account: Option<&str>,
) -> ExitCode {
    let policy = match policy_path {
        Some(p) => match Policy::from_path(p) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{}: {e}", p.display());
                return ExitCode::from(2);
            }
        },
        None => Policy::default(),
    };
    let policy = match account {
        Some(a) => policy.with_home_account(a),
        None => policy,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failures = 0usize;
    for path in files {
        match replay_one(&policy, path) {
            Ok(v) => {
                let written = if json_lines {
                    writeln!(out, "{v}")
                } else {
                    print_block(&mut out, &v)
                };
                if written.is_err() {
                    // Closed pipe (e.g. `| head`): stop quietly.
                    return ExitCode::SUCCESS;
                }
            }
            Err(e) => {
                failures += 1;
                eprintln!("{}: error: {e}", path.display());
            }
        }
    }
    if failures > 0 {
        eprintln!(
            "{failures} of {} file(s) could not be replayed",
            files.len()
        );
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn events_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
    }

    fn all_fixtures(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                all_fixtures(&path, out);
            } else if path.extension().is_some_and(|e| e == "json")
                // A sweep part: Lambda's SQS event for the sweep function, not
                // an EventBridge event replay decides.
                && !path.ends_with("sweep/part.json")
            {
                out.push(path);
            }
        }
    }

    fn example_policy() -> Policy {
        Policy::from_path(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy.example.yaml"))
            .unwrap()
    }

    #[test]
    fn every_well_formed_fixture_is_classified_and_malformed_ones_are_errors() {
        let policy = example_policy();
        let mut files = Vec::new();
        all_fixtures(&events_dir(), &mut files);
        assert!(files.len() >= 60, "{} fixtures", files.len());
        let kinds: Vec<&str> = driftguard_model::domain::ActorKind::ALL
            .iter()
            .map(|k| k.as_str())
            .collect();
        for path in files {
            let malformed = path.components().any(|c| c.as_os_str() == "malformed");
            match replay_one(&policy, &path) {
                Ok(v) => {
                    assert!(!malformed, "{} should fail", path.display());
                    let kind = v
                        .pointer("/change/actor/kind")
                        .and_then(Value::as_str)
                        .unwrap();
                    assert!(kinds.contains(&kind), "{}: {kind}", path.display());
                    let action = v
                        .pointer("/verdict/action")
                        .and_then(Value::as_str)
                        .unwrap();
                    assert!(
                        ["ignore", "allow", "ticket", "revert", "rollback"].contains(&action),
                        "{}: {action}",
                        path.display()
                    );
                    assert!(v
                        .pointer("/verdict/reason")
                        .and_then(Value::as_str)
                        .is_some());
                }
                Err(e) => {
                    assert!(malformed, "{}: {e}", path.display());
                    assert!(!e.is_empty());
                }
            }
        }
    }

    /// Rows of events/adversarial/README.md: (file, kind, verdict).
    fn adversarial_rows() -> Vec<(String, String, String)> {
        let text = std::fs::read_to_string(events_dir().join("adversarial/README.md")).unwrap();
        text.lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                let c: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
                (
                    c[0].trim_matches('`').to_string(),
                    c[2].to_string(),
                    c[3].to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn replay_of_the_adversarial_set_shows_no_crafted_event_steering_a_verdict() {
        // What `driftguard replay --json --policy policy.example.yaml --account
        // 123456789012 events/adversarial/*.json` prints, file by file.
        let policy = example_policy().with_home_account("123456789012");
        let rows = adversarial_rows();
        assert!(rows.len() >= 25);
        for (file, kind, verdict) in rows {
            let v = replay_one(&policy, &events_dir().join("adversarial").join(&file)).unwrap();
            let got = v
                .pointer("/change/actor/kind")
                .and_then(Value::as_str)
                .unwrap();
            let action = v
                .pointer("/verdict/action")
                .and_then(Value::as_str)
                .unwrap();
            match (verdict.as_str(), got) {
                ("rejected", _) => {
                    assert_eq!(v["observation"], json!("rejected"), "{file}");
                }
                // Offline nobody looks the owning stack up: a call the AWS-set
                // invokedBy proves is CloudFormation's stays so, and says detect
                // checks the stack (shared/tests/adversarial.rs shows it does).
                (_, "cloudformation") => {
                    assert!(
                        file == "cloudformation-for-another-stack.json"
                            || file == "cloudformation-by-group-name.json"
                            || file == "duplicate-invokedby-cfn-last.json",
                        "{file}"
                    );
                    let evidence = v.pointer("/change/actor/evidence").unwrap().to_string();
                    assert!(evidence.contains("invokedBy=cloudformation.amazonaws.com (AWS-set)"));
                    assert!(evidence.contains("offline: the owning stack was not looked up"));
                }
                _ => {
                    assert_eq!(got, kind, "{file}");
                    assert_eq!(action, verdict, "{file}");
                }
            }
        }
    }

    #[test]
    fn console_sg_change_is_reverted_with_a_plan_and_cloudformations_own_is_ignored() {
        let policy = example_policy();
        let v = replay_one(
            &policy,
            &events_dir().join("detect/console-sg-ingress.json"),
        )
        .unwrap();
        assert_eq!(v.pointer("/change/actor/kind"), Some(&json!("console")));
        assert_eq!(v.pointer("/verdict/action"), Some(&json!("revert")));
        assert_eq!(v.pointer("/plan/strategy"), Some(&json!("inverse_call")));
        assert_eq!(
            v.pointer("/plan/calls/0/operation"),
            Some(&json!("RevokeSecurityGroupIngress"))
        );
        let v = replay_one(
            &policy,
            &events_dir().join("detect/cloudformation-sg-ingress.json"),
        )
        .unwrap();
        assert_eq!(
            v.pointer("/change/actor/kind"),
            Some(&json!("cloudformation"))
        );
        assert_eq!(v.pointer("/verdict/action"), Some(&json!("ignore")));
    }

    #[test]
    fn replay_shows_the_environment_of_the_changes_account() {
        let policy = example_policy();
        let event: Value = serde_json::from_str(
            &std::fs::read_to_string(events_dir().join("detect/console-sg-ingress.json")).unwrap(),
        )
        .unwrap();
        let dir = std::env::temp_dir().join(format!("dg-replay-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // The same console change, in the example's prod and dev accounts.
        let mut seen = Vec::new();
        for (account, environment, action, rule) in [
            (
                "111111111111",
                "prod",
                "revert",
                "prod-security-groups-reverted",
            ),
            ("222222222222", "dev", "ticket", "dev-ticket-only"),
        ] {
            let text = event.to_string().replace("123456789012", account);
            let path = dir.join(format!("{account}.json"));
            std::fs::write(&path, text).unwrap();
            let v = replay_one(&policy, &path).unwrap();
            assert_eq!(v.pointer("/change/account"), Some(&json!(account)));
            assert_eq!(v["environment"], json!(environment), "{v}");
            assert_eq!(v.pointer("/verdict/environment"), Some(&json!(environment)));
            assert_eq!(v.pointer("/verdict/action"), Some(&json!(action)), "{v}");
            assert_eq!(v.pointer("/verdict/rule"), Some(&json!(rule)));
            let mut table = Vec::new();
            print_block(&mut table, &v).unwrap();
            let table = String::from_utf8(table).unwrap();
            assert!(
                table.contains(&format!(
                    "  where    account {account}, region us-east-1, environment {environment}\n"
                )),
                "{table}"
            );
            seen.push(v);
        }
        // The original account is in no environment: the top-level rules.
        let v = replay_one(
            &policy,
            &events_dir().join("detect/console-sg-ingress.json"),
        )
        .unwrap();
        assert_eq!(v["environment"], Value::Null);
        assert!(v.pointer("/verdict/environment").is_none());
        let mut table = Vec::new();
        print_block(&mut table, &v).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(
            table.contains(
                "account 123456789012, region us-east-1, no environment (top-level rules)"
            ),
            "{table}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn replay_says_when_ou_and_tag_environments_were_not_evaluated() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy.example.yaml"),
        )
        .unwrap()
        .replace("accounts: [\"222222222222\"]", "tags: { env: dev }");
        let policy = Policy::from_yaml(&text).unwrap();
        assert!(policy.needs_account_facts());
        let v = replay_one(
            &policy,
            &events_dir().join("detect/console-sg-ingress.json"),
        )
        .unwrap();
        assert_eq!(v["environment"], Value::Null);
        assert!(v["environment_not_evaluated"].is_string(), "{v}");
        let mut table = Vec::new();
        print_block(&mut table, &v).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(
            table.contains(
                "no environment by account id (OU and tag environments are not evaluated offline)"
            ),
            "{table}"
        );
    }
}
