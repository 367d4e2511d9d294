//! One invocation: an EventBridge envelope in, a short JSON summary out. Fails
//! (so Lambda retries, then the DLQ keeps the event) only when the event could
//! otherwise be lost: a malformed envelope, an unreachable ticket store, or a
//! remediation another invocation holds (in progress, or crashed holding it).
use chrono::{DateTime, Utc};
use driftguard_core::remediate::RemediateError;
use driftguard_core::remediate::{Outcome, Remediator};
use lambda_runtime::Error;
use serde_json::{json, Value};

pub async fn handle(remediator: &Remediator, event: Value) -> Result<Value, Error> {
    handle_until(remediator, event, None).await
}

/// [`handle`] with the invocation's deadline (the Lambda context's
/// `Lambda-Runtime-Deadline-Ms`, "the date that the function times out in Unix
/// time milliseconds",
/// <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>): the
/// remediation claim's lease ends with the invocation, so a crashed attempt's
/// claim is free when Lambda retries.
pub async fn handle_until(
    remediator: &Remediator,
    event: Value,
    deadline: Option<DateTime<Utc>>,
) -> Result<Value, Error> {
    let id = event
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    match remediator.handle_until(event, deadline).await {
        Ok(Outcome::Ignored(why)) => {
            tracing::info!(event = %id, reason = %why, "ignored");
            Ok(json!({"status": "ignored", "reason": why}))
        }
        Ok(Outcome::Duplicate(why)) => {
            tracing::info!(event = %id, reason = %why, "duplicate delivery");
            Ok(json!({"status": "duplicate", "reason": why}))
        }
        Ok(Outcome::Finished(result)) => Ok(json!({
            "status": "processed",
            "ticket_id": result.ticket_id,
            "outcome": result.outcome.as_str(),
            "ticket_state": result.ticket_state,
            "reason": result.reason,
            "plan": result.plan,
        })),
        Err(e) => {
            let kind = match &e {
                RemediateError::Malformed { .. } => "malformed",
                RemediateError::Store(_) => "ticket_store",
                RemediateError::InProgress { .. } => "in_progress",
                RemediateError::Unavailable(_) => "unavailable",
                RemediateError::Unannounced { .. } => "unannounced",
            };
            tracing::error!(event = %id, kind, error = %e, "remediation failed: event will be retried");
            Err(Box::new(e))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    //! The payloads in `events/remediate/` are built from the real types; this
    //! test fails when they drift from what the types serialize to
    //! (regenerate with `UPDATE_FIXTURES=1 cargo test -p remediate`).
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use chrono::{DateTime, Utc};
    use driftguard_core::remediate::{approval_event, bus_envelope};
    use driftguard_model::domain::{classify_actor, policy::Policy, Action, Change, Fingerprint};
    use driftguard_model::domain::{
        ChangeSource, Decision, Ownership, ResourceRef, Severity, StackMembership, Verdict,
    };
    use driftguard_model::events::{
        DriftDecision, DRIFT_DECISION, REMEDIATION_APPROVED, SCHEMA_VERSION,
    };
    use driftguard_model::testing::identities::console;
    use serde_json::json;

    fn events_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/remediate")
    }

    fn at() -> DateTime<Utc> {
        "2026-03-01T10:00:00Z".parse().unwrap()
    }

    fn console_ingress_decision() -> DriftDecision {
        let change = Change {
            event_id: "6f1c5f1e-7d0a-4b0e-9a51-2d5c4b8f0a11".into(),
            time: at(),
            account: "123456789012".into(),
            region: "us-east-1".into(),
            source: ChangeSource::Cloudtrail,
            service: "ec2".into(),
            operation: "AuthorizeSecurityGroupIngress".into(),
            resource: ResourceRef::new("AWS::EC2::SecurityGroup", "sg-0123456789abcdef0"),
            identity: console(),
            request: json!({
                "groupId": "sg-0123456789abcdef0",
                "ipPermissions": {"items": [{
                    "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {},
                    "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {}
                }]}
            }),
            response: json!({"_return": true, "securityGroupRuleSet": {"items": [{
                "groupId": "sg-0123456789abcdef0", "securityGroupRuleId": "sgr-0a1b2c3d4e5f67890",
                "isEgress": false, "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"
            }]}}),
            stack_hint: None,
            drift_hint: None,
            unparsed: Vec::new(),
        };
        let ownership = Ownership::Managed(StackMembership {
            stack_id: "arn:aws:cloudformation:us-east-1:123456789012:stack/shop-web/0a1b2c3d-0000-0000-0000-000000000000".into(),
            stack_name: "shop-web".into(),
            logical_id: "WebSecurityGroup".into(),
            resource_type: Some("AWS::EC2::SecurityGroup".into()),
            stack_status: "UPDATE_COMPLETE".into(),
            stack_tags: BTreeMap::new(),
            nested: None,
        });
        let policy = Policy::default();
        let actor = classify_actor(&change.identity, &policy.identities, change.time);
        DriftDecision {
            schema_version: SCHEMA_VERSION,
            ticket_id: Fingerprint::for_change(&change, &ownership).ticket_id(),
            ticket_state: driftguard_model::domain::TicketState::Open,
            state_changed: true,
            change,
            actor,
            ownership,
            drift: None,
            event_drift: None,
            decision: Decision {
                verdict: Verdict {
                    action: Action::Revert,
                    reason: "policy rule open-ingress-is-reverted".into(),
                    rule: Some("open-ingress-is-reverted".into()),
                    dry_run: false,
                    requires_approval: false,
                    severity: Severity::High,
                    capped_from: None,
                    environment: None,
                },
                held: None,
                hit_and_run: None,
            },
            plan: None,
            decided_at: at(),
        }
    }

    fn fixtures() -> Vec<(&'static str, serde_json::Value)> {
        let decision = console_ingress_decision();
        let mut approval_needed = decision.clone();
        approval_needed.decision.verdict.requires_approval = true;
        let mut dry_run = decision.clone();
        dry_run.decision.verdict.dry_run = true;
        let approved = approval_event(&decision.ticket_id, "carol@example.com", at());
        let env = |id: &str, dt: &str, d: &dyn erased::Detail| {
            bus_envelope(id, dt, &d.value(), "123456789012", "us-east-1", at())
        };
        vec![
            (
                "decision-revert-sg-ingress.json",
                env(
                    "1b7f3c52-0c1e-4d7a-8a8e-000000000001",
                    DRIFT_DECISION,
                    &decision,
                ),
            ),
            (
                "decision-revert-dry-run.json",
                env(
                    "1b7f3c52-0c1e-4d7a-8a8e-000000000002",
                    DRIFT_DECISION,
                    &dry_run,
                ),
            ),
            (
                "decision-revert-requires-approval.json",
                env(
                    "1b7f3c52-0c1e-4d7a-8a8e-000000000003",
                    DRIFT_DECISION,
                    &approval_needed,
                ),
            ),
            (
                "remediation-approved.json",
                env(
                    "1b7f3c52-0c1e-4d7a-8a8e-000000000004",
                    REMEDIATION_APPROVED,
                    &approved,
                ),
            ),
        ]
    }

    mod erased {
        pub trait Detail {
            fn value(&self) -> serde_json::Value;
        }
        impl<T: serde::Serialize> Detail for T {
            fn value(&self) -> serde_json::Value {
                serde_json::to_value(self).unwrap_or_default()
            }
        }
    }

    #[test]
    fn event_fixtures_match_the_types() {
        let update = std::env::var("UPDATE_FIXTURES").is_ok_and(|v| v == "1");
        for (name, value) in fixtures() {
            let path = events_dir().join(name);
            let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
            if update {
                std::fs::write(&path, &text).unwrap();
                continue;
            }
            let on_disk = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_FIXTURES=1)", path.display()));
            // Compare as JSON values: key order depends on whether some crate in
            // the build enables serde_json's `preserve_order`, the content does not.
            let on_disk: serde_json::Value = serde_json::from_str(&on_disk)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
            assert_eq!(
                on_disk,
                value,
                "{} differs from the types (run with UPDATE_FIXTURES=1)",
                path.display()
            );
            // And each parses back into the detail type.
            let detail = &value["detail"];
            if value["detail-type"] == DRIFT_DECISION {
                serde_json::from_value::<DriftDecision>(detail.clone()).unwrap();
            } else {
                serde_json::from_value::<driftguard_model::events::RemediationApproved>(
                    detail.clone(),
                )
                .unwrap();
            }
        }
    }
}
