//! `driftguard doctor`: is driftguard wired right, and does the account give
//! it what it needs? Reads the deployment (the driftguard stack, or explicit
//! flags) through the read-only [`DeploymentProbe`], then runs the pure
//! [`checks`] over what it found: one line per check with ✔ / ! / ✘ and the
//! fix. Nothing is written.
pub mod checks;
pub mod cli;
pub mod pipeline_trust;
pub mod template;

use std::collections::BTreeMap;

use driftguard_core::ports::deployment::{DeploymentProbe, StackFacts};
use driftguard_core::ports::trust::RoleTrust;
use driftguard_model::domain::policy::Policy;
use driftguard_model::error::PortError;
use serde_json::json;

use checks::{Check, Facts, Read, RuleRead, Status, GLOBAL_REGION};

/// What to check: a stack, explicit names (which win over the stack's), or both.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub stack: Option<String>,
    /// Watched regions (trails are checked in each); default: the home region.
    pub regions: Vec<String>,
    pub home_region: String,
    pub table: Option<String>,
    pub bus: Option<String>,
    pub policy_parameter: Option<String>,
    pub remediation_role: Option<String>,
    pub slack_secret: Option<String>,
    /// Dead-letter queue URLs.
    pub dlqs: Vec<String>,
    /// Whether the Config rule is deployed (default: from the stack).
    pub config_rule: Option<bool>,
    /// The account driftguard runs in: `role/NAME` pipeline patterns are
    /// its roles (their trust policies are checked).
    pub account: Option<String>,
}

fn text(e: PortError) -> String {
    e.to_string()
}

fn read<T>(r: Result<T, PortError>) -> Read<T> {
    r.map_err(text)
}

/// The names the checks need, from the stack then the flags.
#[derive(Debug, Clone, Default)]
struct Names {
    table: Option<String>,
    bus: Option<String>,
    policy: Option<String>,
    role: Option<String>,
    slack: Option<String>,
    dry_run: Option<String>,
    dlqs: Vec<(String, String)>,
    rules: Vec<(String, Option<String>, bool)>,
    config_rule: bool,
}

/// A rule's physical id is its name; a defensive split in case it carries
/// the bus as `bus|name`.
fn rule_name(physical: &str) -> String {
    physical.rsplit('|').next().unwrap_or(physical).to_string()
}

fn names_from_stack(stack: Option<&StackFacts>, o: &Options) -> Names {
    let param = |k: &str| {
        stack
            .and_then(|s| s.parameters.get(k))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    let physical = |id: &str| stack.and_then(|s| s.physical(id)).map(str::to_string);
    let mut rules = Vec::new();
    if let Some(s) = stack {
        for expected in template::expected_rules(template::TEMPLATE) {
            let name = s.physical(&expected.logical_id).map(rule_name);
            // A conditional rule is expected only where the stack made it.
            if expected.condition.is_some() && name.is_none() {
                continue;
            }
            rules.push((expected.logical_id, name, expected.on_driftguard_bus));
        }
    }
    let mut dlqs: Vec<(String, String)> = stack
        .map(|s| {
            s.of_type("AWS::SQS::Queue")
                .filter(|r| r.logical_id.ends_with("DeadLetterQueue") && !r.physical_id.is_empty())
                .map(|r| (r.logical_id.clone(), r.physical_id.clone()))
                .collect()
        })
        .unwrap_or_default();
    dlqs.extend(o.dlqs.iter().map(|u| (u.clone(), u.clone())));
    Names {
        table: o.table.clone().or_else(|| physical("TicketTable")),
        bus: o
            .bus
            .clone()
            .or_else(|| physical("DriftguardBus"))
            .or_else(|| param("EventBusName")),
        policy: o
            .policy_parameter
            .clone()
            .or_else(|| param("PolicyParameterName")),
        role: o
            .remediation_role
            .clone()
            .or_else(|| physical("RemediateRole"))
            .or_else(|| param("OwnRoleName")),
        slack: o.slack_secret.clone().or_else(|| param("SlackSecretArn")),
        dry_run: param("DryRun"),
        dlqs,
        rules,
        config_rule: o.config_rule.unwrap_or_else(|| {
            param("DeployConfigRule").as_deref() == Some("true")
                || stack.is_some_and(|s| s.of_type("AWS::Config::ConfigRule").next().is_some())
        }),
    }
}

/// The regions whose trails are read: the watched ones, the home region by
/// default, and us-east-1 when IAM is watched.
fn regions(o: &Options, iam_watched: bool) -> Vec<String> {
    let mut regions = if o.regions.is_empty() {
        vec![o.home_region.clone()]
    } else {
        o.regions.clone()
    };
    if iam_watched && !regions.iter().any(|r| r == GLOBAL_REGION) {
        regions.push(GLOBAL_REGION.to_string());
    }
    regions
}

/// Read every fact the checks need.
pub async fn gather(probe: &dyn DeploymentProbe, o: &Options) -> Facts {
    let stack_read = match &o.stack {
        Some(name) => Some((name.clone(), read(probe.stack(name).await))),
        None => None,
    };
    let stack = stack_read
        .as_ref()
        .and_then(|(_, r)| r.as_ref().ok().cloned().flatten());
    let names = names_from_stack(stack.as_ref(), o);
    let iam_watched = template::routes_source(template::TEMPLATE, "aws.iam");
    let mut trails = BTreeMap::new();
    for region in regions(o, iam_watched) {
        let t = read(probe.trails(&region).await);
        trails.insert(region, t);
    }
    let recorders = if names.config_rule {
        Some(read(probe.recorders().await))
    } else {
        None
    };
    let mut rules = Vec::new();
    for (logical_id, name, on_bus) in &names.rules {
        let bus = on_bus.then_some(names.bus.as_deref()).flatten();
        let facts = match name {
            Some(n) => read(probe.rule(bus, n).await),
            None => Ok(None),
        };
        rules.push(RuleRead {
            logical_id: logical_id.clone(),
            name: name.clone(),
            bus: bus.map(str::to_string),
            facts,
        });
    }
    let mut dlqs = Vec::new();
    for (label, url) in &names.dlqs {
        dlqs.push((label.clone(), read(probe.queue_depth(url).await)));
    }
    Facts {
        home_region: o.home_region.clone(),
        stack: stack_read.map(|(n, r)| (n, r.map(|s| s.map(|s| s.status)))),
        trails,
        iam_watched,
        recorders,
        rules,
        policy: named(&names.policy, |n| probe.parameter(n)).await,
        role: named(&names.role, |n| probe.role_arn(n)).await,
        role_id: match &names.role {
            Some(n) => probe.role_id(n).await.ok().flatten(),
            None => None,
        },
        dry_run: names.dry_run.clone(),
        dlqs,
        slack: named(&names.slack, |n| probe.secret(n)).await,
        table: named(&names.table, |n| probe.table_status(n)).await,
        bus: named(&names.bus, |n| probe.bus_exists(n)).await,
    }
}

async fn named<'a, T, F, Fut>(name: &'a Option<String>, f: F) -> Option<(String, Read<T>)>
where
    F: FnOnce(&'a str) -> Fut,
    Fut: std::future::Future<Output = Result<T, PortError>>,
{
    let n = name.as_deref()?;
    Some((n.to_string(), read(f(n).await)))
}

/// One line per check, the fix under each that is not ✔.
pub fn render(checks: &[Check]) -> Vec<String> {
    let mut lines = Vec::new();
    for c in checks {
        lines.push(format!("{} {}: {}", c.status.mark(), c.name, c.detail));
        if let (Some(fix), true) = (&c.fix, c.status != Status::Pass) {
            lines.push(format!("    fix: {fix}"));
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warned = checks.iter().filter(|c| c.status == Status::Warn).count();
    lines.push(format!(
        "{} checks: {} passed, {warned} warning(s), {failed} failed",
        checks.len(),
        checks.len() - failed - warned
    ));
    lines
}

/// The `--json` document.
pub fn to_json(checks: &[Check]) -> serde_json::Value {
    json!({
        "ok": !checks.iter().any(|c| c.status == Status::Fail),
        "checks": checks,
    })
}

/// Gather, check, print. `Ok(false)` when a check failed (exit non-zero).
pub async fn run(
    probe: &dyn DeploymentProbe,
    o: &Options,
    as_json: bool,
    out: &mut dyn std::io::Write,
) -> std::io::Result<bool> {
    run_with_trust(probe, None, o, as_json, out).await
}

/// [`run`], and with `trust` each pipeline role's trust policy is checked
/// ([`pipeline_trust`]).
pub async fn run_with_trust(
    probe: &dyn DeploymentProbe,
    trust: Option<&dyn RoleTrust>,
    o: &Options,
    as_json: bool,
    out: &mut dyn std::io::Write,
) -> std::io::Result<bool> {
    let facts = gather(probe, o).await;
    let mut checks = checks::run_checks(&facts);
    if let (Some(trust), Some((_, Ok(Some(text))))) = (trust, &facts.policy) {
        if let Ok(policy) = Policy::from_yaml(text) {
            checks.extend(
                pipeline_trust::pipeline_trust_checks(&policy, o.account.as_deref(), trust).await,
            );
        }
    }
    if as_json {
        writeln!(out, "{}", to_json(&checks))?;
    } else {
        for line in render(&checks) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(!checks.iter().any(|c| c.status == Status::Fail))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use driftguard_core::memory::deployment::MemoryDeploymentProbe;
    use driftguard_core::ports::deployment::{RuleFacts, StackResource};

    fn stack() -> StackFacts {
        let mut resources: Vec<StackResource> = template::expected_rules(template::TEMPLATE)
            .into_iter()
            .map(|r| StackResource {
                physical_id: format!("dg-{}", r.logical_id),
                logical_id: r.logical_id,
                resource_type: "AWS::Events::Rule".into(),
            })
            .collect();
        for (id, ty, p) in [
            ("TicketTable", "AWS::DynamoDB::Table", "dg-tickets"),
            ("DriftguardBus", "AWS::Events::EventBus", "dg-bus"),
            ("RemediateRole", "AWS::IAM::Role", "driftguard-remediation"),
            (
                "DetectDeadLetterQueue",
                "AWS::SQS::Queue",
                "http://q/detect-dlq",
            ),
        ] {
            resources.push(StackResource {
                logical_id: id.into(),
                resource_type: ty.into(),
                physical_id: p.into(),
            });
        }
        StackFacts {
            name: "dg".into(),
            status: "CREATE_COMPLETE".into(),
            parameters: BTreeMap::from([
                ("PolicyParameterName".to_string(), "/dg/policy".to_string()),
                ("DryRun".to_string(), "true".to_string()),
                ("SlackSecretArn".to_string(), String::new()),
                ("DeployConfigRule".to_string(), "false".to_string()),
            ]),
            resources,
        }
    }

    #[tokio::test]
    async fn names_come_from_the_stack_and_rules_are_looked_up_on_their_bus() {
        let mut probe = MemoryDeploymentProbe::default();
        probe.stacks.insert("dg".into(), stack());
        probe.rules.insert(
            ("dg-bus".into(), "dg-RemediateDecisionRule".into()),
            RuleFacts {
                name: "dg-RemediateDecisionRule".into(),
                state: "ENABLED".into(),
                targets: 1,
            },
        );
        probe.queues.insert("http://q/detect-dlq".into(), 2);
        probe.unreadable.push("/dg/policy".into());
        let o = Options {
            stack: Some("dg".into()),
            home_region: "eu-west-1".into(),
            ..Options::default()
        };
        let f = gather(&probe, &o).await;
        assert_eq!(f.table.as_ref().unwrap().0, "dg-tickets");
        assert_eq!(f.bus.as_ref().unwrap().0, "dg-bus");
        assert_eq!(f.dry_run.as_deref(), Some("true"));
        assert!(
            f.slack.is_none(),
            "an empty SlackSecretArn is not configured"
        );
        assert!(f.recorders.is_none());
        assert_eq!(
            f.trails.keys().collect::<Vec<_>>(),
            vec!["eu-west-1", "us-east-1"],
            "IAM is watched: us-east-1 is checked too"
        );
        let decision = f
            .rules
            .iter()
            .find(|r| r.logical_id == "RemediateDecisionRule")
            .unwrap();
        assert!(matches!(decision.facts, Ok(Some(_))), "{decision:?}");
        assert_eq!(f.dlqs, vec![("DetectDeadLetterQueue".into(), Ok(2))]);
        assert!(f.policy.as_ref().unwrap().1.is_err());
        let mut out = Vec::new();
        let ok = run(&probe, &o, false, &mut out).await.unwrap();
        assert!(!ok);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("✘ policy: /dg/policy is not readable"),
            "{text}"
        );
        assert!(text.contains("    fix: "), "{text}");
    }

    #[tokio::test]
    async fn flags_win_over_the_stack() {
        let mut probe = MemoryDeploymentProbe::default();
        probe.stacks.insert("dg".into(), stack());
        let o = Options {
            stack: Some("dg".into()),
            home_region: "us-east-1".into(),
            table: Some("other".into()),
            config_rule: Some(true),
            ..Options::default()
        };
        let f = gather(&probe, &o).await;
        assert_eq!(f.table.as_ref().unwrap().0, "other");
        assert!(f.recorders.is_some());
    }
}
