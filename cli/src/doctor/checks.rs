//! doctor's checks: pure functions over the facts read from the account
//! ([`Facts`]), one [`Check`] each, with the fix when it fails.
use std::collections::BTreeMap;

use driftguard_core::ports::deployment::{ManagementEvents, RecorderFacts, RuleFacts, TrailFacts};
use driftguard_model::domain::policy::Policy;
use driftguard_model::domain::Identity;
use serde::Serialize;

/// IAM, CloudFront and STS events "are recorded in the Region in which they
/// were created, the US East (N. Virginia) Region, us-east-1"
/// (<https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-create-and-update-a-trail-by-using-the-aws-cli-update-trail.html>).
pub const GLOBAL_REGION: &str = "us-east-1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn mark(self) -> &'static str {
        match self {
            Self::Pass => "✔",
            Self::Warn => "!",
            Self::Fail => "✘",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn pass(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status: Status::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    fn warn(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// A read failed: the fix is the permission, unless the call never
    /// reached AWS (then the endpoint, network and region).
    fn unreadable(
        name: impl Into<String>,
        detail: impl Into<String>,
        error: &str,
        allow: &str,
    ) -> Self {
        let unreachable = error.contains("could not connect") || error.contains("timed out");
        let fix = if unreachable {
            "the call did not reach AWS: check the endpoint, network, region and credentials"
                .to_string()
        } else {
            allow.to_string()
        };
        Self::fail(name, detail, fix)
    }

    fn fail(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// A value read for one named thing: `Err` is why it could not be read.
pub type Read<T> = Result<T, String>;

/// One expected rule, found in the stack (its physical name) or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRead {
    pub logical_id: String,
    /// `None`: the stack has no such resource.
    pub name: Option<String>,
    /// The custom bus it is on; `None`: the default bus.
    pub bus: Option<String>,
    pub facts: Read<Option<RuleFacts>>,
}

/// Everything the checks look at. `None`: not configured (no stack output,
/// no flag), which the check says.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub home_region: String,
    /// `--stack NAME`: its status, or why it was not found.
    pub stack: Option<(String, Read<Option<String>>)>,
    /// Trails that apply in each watched region (plus us-east-1 when IAM is watched).
    pub trails: BTreeMap<String, Read<Vec<TrailFacts>>>,
    pub iam_watched: bool,
    /// Recorders, when the Config rule is deployed.
    pub recorders: Option<Read<Vec<RecorderFacts>>>,
    pub rules: Vec<RuleRead>,
    /// The policy parameter's name and value.
    pub policy: Option<(String, Read<Option<String>>)>,
    /// The remediation role's name and ARN.
    pub role: Option<(String, Read<Option<String>>)>,
    /// The remediation role's unique id, when it could be read (its
    /// sessions carry it as `principalId`: own entries may be pinned by it).
    pub role_id: Option<String>,
    /// The stack's `DryRun` parameter.
    pub dry_run: Option<String>,
    /// Dead-letter queues: (logical id or URL, depth).
    pub dlqs: Vec<(String, Read<u64>)>,
    /// The Slack secret's id and value; `Some(("", _))` never happens: an
    /// empty `SlackSecretArn` is `None`.
    pub slack: Option<(String, Read<Option<String>>)>,
    pub table: Option<(String, Read<Option<String>>)>,
    pub bus: Option<(String, Read<bool>)>,
}

/// Every check, in the order they are printed.
pub fn run_checks(f: &Facts) -> Vec<Check> {
    let mut checks = Vec::new();
    if let Some(c) = stack_check(f) {
        checks.push(c);
    }
    checks.extend(trail_checks(f));
    checks.push(recorder_check(f));
    checks.extend(f.rules.iter().map(rule_check));
    let policy = policy_check(f);
    checks.push(policy.0);
    checks.push(own_role_check(f, policy.1.as_ref()));
    checks.push(dry_run_check(f, policy.1.as_ref()));
    checks.extend(f.dlqs.iter().map(|(name, depth)| dlq_check(name, depth)));
    checks.push(slack_check(f));
    checks.push(table_check(f));
    checks.push(bus_check(f));
    checks
}

fn stack_check(f: &Facts) -> Option<Check> {
    let (name, read) = f.stack.as_ref()?;
    let label = format!("stack {name}");
    Some(match read {
        Ok(Some(status)) if status.ends_with("_COMPLETE") && !status.contains("ROLLBACK") => {
            Check::pass(label, status.clone())
        }
        Ok(Some(status)) => Check::warn(
            label,
            status.clone(),
            "finish or fix the stack operation (aws cloudformation describe-stack-events)",
        ),
        Ok(None) => Check::fail(
            label,
            format!("no stack {name} in {}", f.home_region),
            "deploy driftguard (sam deploy --guided) or pass --stack with its name",
        ),
        Err(e) => Check::fail(label, e.clone(), "check your credentials and region"),
    })
}

/// A trail delivers the write calls driftguard needs in a region when it is
/// logging and keeps management write events.
fn delivering(t: &TrailFacts) -> bool {
    t.logging && t.management_events == ManagementEvents::Writes
}

fn trail_label(t: &TrailFacts) -> String {
    if t.multi_region {
        format!("{} (multi-region, home {})", t.name, t.home_region)
    } else {
        t.name.clone()
    }
}

/// Why none of `trails` delivers.
fn not_delivering(trails: &[TrailFacts]) -> String {
    if trails.is_empty() {
        return "no trail applies here".into();
    }
    trails
        .iter()
        .map(|t| match (&t.management_events, t.logging) {
            (_, false) => format!("{} is not logging", trail_label(t)),
            (ManagementEvents::Excluded(why), _) => format!("{}: {why}", trail_label(t)),
            (ManagementEvents::Writes, true) => format!("{} delivers", trail_label(t)),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

const TRAIL_FIX: &str = "deploy with CreateTrail=true, or create a multi-region trail with management events (ReadWriteType All or WriteOnly) and `aws cloudtrail start-logging`: without one EventBridge never receives \"AWS API Call via CloudTrail\" events (docs/deploy.md)";

fn trail_checks(f: &Facts) -> Vec<Check> {
    let mut checks = Vec::new();
    for (region, read) in &f.trails {
        let label = format!("trail {region}");
        checks.push(match read {
            Err(e) => Check::unreadable(
                label,
                e.clone(),
                e,
                "allow cloudtrail:DescribeTrails, GetTrailStatus and GetEventSelectors",
            ),
            Ok(trails) => match trails.iter().find(|t| delivering(t)) {
                Some(t) => Check::pass(
                    label,
                    format!("{} logs management write events", trail_label(t)),
                ),
                None => Check::fail(label, not_delivering(trails), TRAIL_FIX),
            },
        });
    }
    if f.iam_watched {
        checks.push(global_check(f));
    }
    checks
}

/// IAM is watched: its events reach EventBridge in us-east-1 only, from a
/// trail there that includes global service events ("Specifies whether the
/// trail is publishing events from global services such as IAM to the log
/// files", CreateTrail `IncludeGlobalServiceEvents`, SDK docs).
fn global_check(f: &Facts) -> Check {
    let label = "IAM (us-east-1)";
    let Some(read) = f.trails.get(GLOBAL_REGION) else {
        return Check::fail(
            label,
            "us-east-1 was not checked",
            "run doctor with --region us-east-1",
        );
    };
    let trails = match read {
        Ok(t) => t,
        Err(e) => {
            return Check::unreadable(
                label,
                e.clone(),
                e,
                "allow cloudtrail:DescribeTrails in us-east-1",
            )
        }
    };
    let Some(t) = trails
        .iter()
        .find(|t| delivering(t) && t.include_global_service_events)
    else {
        let why = if trails.iter().any(delivering) {
            "no delivering trail in us-east-1 includes global service events".to_string()
        } else {
            not_delivering(trails)
        };
        return Check::fail(
            label,
            format!("IAM changes are not delivered: {why}"),
            "use a multi-region trail with IncludeGlobalServiceEvents=true (CreateTrail=true makes one)",
        );
    };
    if f.home_region != GLOBAL_REGION {
        return Check::warn(
            label,
            format!(
                "{} delivers IAM events, but only to EventBridge in us-east-1 and driftguard runs in {}",
                trail_label(t),
                f.home_region
            ),
            "deploy a driftguard stack in us-east-1 too (docs/deploy.md)",
        );
    }
    Check::pass(
        label,
        format!("{} includes global service events", trail_label(t)),
    )
}

fn recorder_check(f: &Facts) -> Check {
    let label = "AWS Config recorder";
    let Some(read) = &f.recorders else {
        return Check::pass(label, "the Config rule is not deployed: no recorder needed");
    };
    match read {
        Err(e) => Check::unreadable(
            label,
            e.clone(),
            e,
            "allow config:DescribeConfigurationRecorderStatus",
        ),
        Ok(recorders) => match recorders.iter().find(|r| r.recording) {
            Some(r) => Check::pass(label, format!("{} is recording", r.name)),
            None if recorders.is_empty() => Check::fail(
                label,
                "the Config rule is deployed but the region has no configuration recorder",
                "set up AWS Config recording in this region, or deploy with DeployConfigRule=false",
            ),
            None => Check::fail(
                label,
                format!(
                    "{} exists but is not recording",
                    recorders
                        .iter()
                        .map(|r| r.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "aws configservice start-configuration-recorder --configuration-recorder-name NAME",
            ),
        },
    }
}

fn rule_check(r: &RuleRead) -> Check {
    let label = format!("rule {}", r.logical_id);
    let Some(name) = &r.name else {
        return Check::fail(
            label,
            "the stack has no such rule",
            "redeploy the stack from template.yaml (sam deploy)",
        );
    };
    match &r.facts {
        Err(e) => Check::unreadable(
            label,
            e.clone(),
            e,
            "allow events:DescribeRule and events:ListTargetsByRule",
        ),
        Ok(None) => Check::fail(
            label,
            format!("{name} does not exist (deleted outside CloudFormation?)"),
            "redeploy the stack (sam deploy) to recreate it",
        ),
        Ok(Some(rule)) if !rule.state.starts_with("ENABLED") => Check::fail(
            label,
            format!("{name} is {}", rule.state),
            match &r.bus {
                Some(bus) => format!("aws events enable-rule --name {name} --event-bus-name {bus}"),
                None => format!("aws events enable-rule --name {name}"),
            },
        ),
        Ok(Some(rule)) if rule.targets == 0 => Check::fail(
            label,
            format!("{name} has no target: what it matches goes nowhere"),
            "redeploy the stack (sam deploy) to restore its target",
        ),
        Ok(Some(rule)) => Check::pass(
            label,
            format!("{name} {} with {} target(s)", rule.state, rule.targets),
        ),
    }
}

fn policy_check(f: &Facts) -> (Check, Option<Policy>) {
    let label = "policy";
    let Some((name, read)) = &f.policy else {
        return (
            Check::fail(
                label,
                "no policy parameter (no stack, no --policy-parameter)",
                "pass --stack or --policy-parameter",
            ),
            None,
        );
    };
    match read {
        Err(e) => (
            Check::unreadable(
                label,
                format!("{name} is not readable: {e}"),
                e,
                "allow ssm:GetParameter (and kms:Decrypt for a SecureString)",
            ),
            None,
        ),
        Ok(None) => (
            Check::fail(
                label,
                format!("{name} does not exist: the functions fail closed"),
                format!(
                    "aws ssm put-parameter --name {name} --type String --value file://policy.yaml"
                ),
            ),
            None,
        ),
        Ok(Some(text)) => match Policy::from_yaml(text) {
            Ok(p) => (
                Check::pass(label, format!("{name}: valid, {} rules", p.rules.len())),
                Some(p),
            ),
            Err(e) => (
                Check::fail(
                    label,
                    format!("{name} does not parse: {e}"),
                    "fix it (`driftguard policy check FILE`) and put it again",
                ),
                None,
            ),
        },
    }
}

/// The remediation role's sessions as CloudTrail records them: an assumed role.
fn role_session(role_arn: &str, role_id: Option<&str>) -> Identity {
    let (partition, account, name) = driftguard_model::domain::arn::PrincipalArn::parse(role_arn)
        .map(|a| (a.partition, a.account, a.name))
        .unwrap_or_default();
    Identity {
        identity_type: Some("AssumedRole".into()),
        principal_arn: Some(format!(
            "arn:{partition}:sts::{account}:assumed-role/{name}/remediate"
        )),
        session_issuer_arn: Some(role_arn.to_string()),
        session_name: Some("remediate".into()),
        principal_id: role_id.map(|id| format!("{id}:remediate")),
        account_id: Some(account),
        ..Identity::default()
    }
}

fn own_role_check(f: &Facts, policy: Option<&Policy>) -> Check {
    let label = "own role";
    let Some((name, read)) = &f.role else {
        return Check::fail(
            label,
            "no remediation role (no stack, no --remediation-role)",
            "pass --stack or --remediation-role",
        );
    };
    let arn = match read {
        Err(e) => return Check::unreadable(label, format!("{name}: {e}"), e, "allow iam:GetRole"),
        Ok(None) => {
            return Check::fail(
                label,
                format!("role {name} does not exist"),
                "redeploy the stack",
            )
        }
        Ok(Some(arn)) => arn,
    };
    let Some(policy) = policy else {
        return Check::fail(
            label,
            format!("{arn}: cannot be checked without a valid policy"),
            "fix the policy first",
        );
    };
    let identity = role_session(arn, f.role_id.as_deref());
    let home = identity.account_id.clone();
    match policy.identities.own_match_in(&identity, home.as_deref()) {
        Some(pattern) => Check::pass(label, format!("identities.own: {pattern}")),
        None => Check::fail(
            label,
            format!("{arn} matches no identities.own pattern: driftguard would treat its own reverts as drift (loops)"),
            match &f.role_id {
                Some(id) => format!(
                    "add `- principal: \"{arn}\"` with `unique_id: \"{id}\"` to identities.own in the policy"
                ),
                None => format!("add `- principal: \"{arn}\"` to identities.own in the policy"),
            },
        ),
    }
}

fn dry_run_check(f: &Facts, policy: Option<&Policy>) -> Check {
    let label = "dry-run";
    if f.dry_run.as_deref() == Some("true") {
        return Check::warn(
            label,
            "on (stack parameter DryRun=true): plans are made, nothing is reverted",
            "after a trial period: sam deploy --parameter-overrides DryRun=false",
        );
    }
    match policy.map(Policy::dry_run_default) {
        Some(true) => Check::warn(
            label,
            "the policy's defaults.dry_run is true: only rules with dry_run: false act",
            "set dry_run: false on the rules that should revert",
        ),
        Some(false) => Check::pass(label, "off: verdicts that revert are carried out"),
        None => Check::warn(
            label,
            format!(
                "stack parameter DryRun={}",
                f.dry_run.as_deref().unwrap_or("(unknown)")
            ),
            "fix the policy to know",
        ),
    }
}

fn dlq_check(name: &str, depth: &Read<u64>) -> Check {
    let label = format!("dead-letter queue {name}");
    match depth {
        Err(e) => Check::unreadable(label, e.clone(), e, "allow sqs:GetQueueAttributes"),
        Ok(0) => Check::pass(label, "empty"),
        Ok(n) => Check::fail(
            label,
            format!("{n} message(s): events driftguard failed to process"),
            "read them (aws sqs receive-message), fix the cause, then redrive (aws sqs start-message-move-task)",
        ),
    }
}

fn slack_check(f: &Facts) -> Check {
    let label = "Slack secret";
    let Some((id, read)) = &f.slack else {
        return Check::warn(
            label,
            "not configured: SNS only",
            "deploy with SlackSecretArn=ARN to post to Slack",
        );
    };
    match read {
        Err(e) => Check::unreadable(
            label,
            format!("{id}: {e}"),
            e,
            "allow secretsmanager:GetSecretValue (and kms:Decrypt) for the notify role",
        ),
        Ok(None) => Check::fail(
            label,
            format!("{id} does not exist or has no SecretString"),
            "aws secretsmanager put-secret-value --secret-string https://hooks.slack.com/...",
        ),
        Ok(Some(v)) if v.trim().starts_with("https://") => {
            Check::pass(label, format!("{id}: readable, an https webhook URL"))
        }
        Ok(Some(_)) => Check::fail(
            label,
            format!("{id}: its SecretString is not an https:// webhook URL"),
            "put the webhook URL as the SecretString",
        ),
    }
}

fn table_check(f: &Facts) -> Check {
    let label = "ticket table";
    let Some((name, read)) = &f.table else {
        return Check::fail(
            label,
            "no table (no stack, no --table)",
            "pass --stack or --table",
        );
    };
    match read {
        Err(e) => Check::unreadable(
            label,
            format!("{name}: {e}"),
            e,
            "allow dynamodb:DescribeTable",
        ),
        Ok(None) => Check::fail(
            label,
            format!("{name} does not exist"),
            "redeploy the stack",
        ),
        Ok(Some(s)) if s == "ACTIVE" => Check::pass(label, format!("{name} ACTIVE")),
        Ok(Some(s)) => Check::warn(label, format!("{name} is {s}"), "wait until it is ACTIVE"),
    }
}

fn bus_check(f: &Facts) -> Check {
    let label = "event bus";
    let Some((name, read)) = &f.bus else {
        return Check::fail(
            label,
            "no bus (no stack, no --bus)",
            "pass --stack or --bus",
        );
    };
    match read {
        Err(e) => Check::unreadable(
            label,
            format!("{name}: {e}"),
            e,
            "allow events:DescribeEventBus",
        ),
        Ok(false) => Check::fail(
            label,
            format!("{name} does not exist"),
            "redeploy the stack",
        ),
        Ok(true) => Check::pass(label, format!("{name} exists")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/driftguard-remediation";
    const POLICY: &str = "version: 1\ndefaults: { dry_run: false }\nidentities:\n  own: [{ principal: \"arn:aws:iam::123456789012:role/driftguard-remediation\" }]\n";

    fn trail(logging: bool, events: ManagementEvents, global: bool) -> TrailFacts {
        TrailFacts {
            name: "main".into(),
            arn: "arn:aws:cloudtrail:us-east-1:123456789012:trail/main".into(),
            home_region: "us-east-1".into(),
            multi_region: true,
            include_global_service_events: global,
            logging,
            management_events: events,
        }
    }

    fn rule(state: &str, targets: usize) -> RuleRead {
        RuleRead {
            logical_id: "NotifyRule".into(),
            name: Some("driftguard-NotifyRule-1".into()),
            bus: Some("driftguard".into()),
            facts: Ok(Some(RuleFacts {
                name: "driftguard-NotifyRule-1".into(),
                state: state.into(),
                targets,
            })),
        }
    }

    /// A deployment where every check passes.
    fn healthy() -> Facts {
        Facts {
            home_region: "us-east-1".into(),
            stack: Some(("driftguard".into(), Ok(Some("CREATE_COMPLETE".into())))),
            trails: BTreeMap::from([(
                "us-east-1".to_string(),
                Ok(vec![trail(true, ManagementEvents::Writes, true)]),
            )]),
            iam_watched: true,
            recorders: Some(Ok(vec![RecorderFacts {
                name: "default".into(),
                recording: true,
            }])),
            rules: vec![rule("ENABLED", 1)],
            policy: Some(("/driftguard/policy".into(), Ok(Some(POLICY.into())))),
            role: Some(("driftguard-remediation".into(), Ok(Some(ROLE.into())))),
            role_id: None,
            dry_run: Some("false".into()),
            dlqs: vec![("DetectDeadLetterQueue".into(), Ok(0))],
            slack: Some(("slack".into(), Ok(Some("https://hooks.slack.com/x".into())))),
            table: Some(("tickets".into(), Ok(Some("ACTIVE".into())))),
            bus: Some(("driftguard".into(), Ok(true))),
        }
    }

    fn status_of(f: &Facts, name: &str) -> (Status, String) {
        let c = run_checks(f)
            .into_iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no check {name}"));
        (c.status, c.detail)
    }

    #[test]
    fn a_healthy_deployment_passes_every_check() {
        let checks = run_checks(&healthy());
        assert!(
            checks.iter().all(|c| c.status == Status::Pass),
            "{checks:#?}"
        );
        assert_eq!(checks.len(), 12);
    }

    /// Each row breaks one fact; that check (and only the expected status) changes.
    #[test]
    fn each_broken_fact_fails_or_warns_its_check() {
        type Breaker = fn(&mut Facts);
        let rows: Vec<(&str, Breaker, &str, Status, &str)> = vec![
            (
                "no trail",
                |f| {
                    f.trails.insert("us-east-1".into(), Ok(vec![]));
                },
                "trail us-east-1",
                Status::Fail,
                "no trail applies",
            ),
            (
                "trail stopped",
                |f| {
                    f.trails.insert(
                        "us-east-1".into(),
                        Ok(vec![trail(false, ManagementEvents::Writes, true)]),
                    );
                },
                "trail us-east-1",
                Status::Fail,
                "not logging",
            ),
            (
                "read-only selectors",
                |f| {
                    f.trails.insert(
                        "us-east-1".into(),
                        Ok(vec![trail(
                            true,
                            ManagementEvents::Excluded("ReadOnly".into()),
                            true,
                        )]),
                    );
                },
                "trail us-east-1",
                Status::Fail,
                "ReadOnly",
            ),
            (
                "no global events",
                |f| {
                    f.trails.insert(
                        "us-east-1".into(),
                        Ok(vec![trail(true, ManagementEvents::Writes, false)]),
                    );
                },
                "IAM (us-east-1)",
                Status::Fail,
                "global service events",
            ),
            (
                "deployed outside us-east-1",
                |f| {
                    f.home_region = "eu-west-1".into();
                },
                "IAM (us-east-1)",
                Status::Warn,
                "driftguard runs in eu-west-1",
            ),
            (
                "us-east-1 not checked",
                |f| {
                    f.trails = BTreeMap::from([(
                        "eu-west-1".to_string(),
                        Ok(vec![trail(true, ManagementEvents::Writes, true)]),
                    )]);
                },
                "IAM (us-east-1)",
                Status::Fail,
                "not checked",
            ),
            (
                "no recorder",
                |f| {
                    f.recorders = Some(Ok(vec![]));
                },
                "AWS Config recorder",
                Status::Fail,
                "no configuration recorder",
            ),
            (
                "recorder stopped",
                |f| {
                    f.recorders = Some(Ok(vec![RecorderFacts {
                        name: "default".into(),
                        recording: false,
                    }]));
                },
                "AWS Config recorder",
                Status::Fail,
                "not recording",
            ),
            (
                "rule disabled",
                |f| {
                    f.rules = vec![rule("DISABLED", 1)];
                },
                "rule NotifyRule",
                Status::Fail,
                "DISABLED",
            ),
            (
                "rule without target",
                |f| {
                    f.rules = vec![rule("ENABLED", 0)];
                },
                "rule NotifyRule",
                Status::Fail,
                "no target",
            ),
            (
                "rule deleted",
                |f| {
                    f.rules[0].facts = Ok(None);
                },
                "rule NotifyRule",
                Status::Fail,
                "does not exist",
            ),
            (
                "rule not in stack",
                |f| {
                    f.rules[0].name = None;
                },
                "rule NotifyRule",
                Status::Fail,
                "no such rule",
            ),
            (
                "policy missing",
                |f| {
                    f.policy = Some(("/p".into(), Ok(None)));
                },
                "policy",
                Status::Fail,
                "does not exist",
            ),
            (
                "policy unreadable",
                |f| {
                    f.policy = Some(("/p".into(), Err("AccessDenied".into())));
                },
                "policy",
                Status::Fail,
                "not readable",
            ),
            (
                "policy invalid",
                |f| {
                    f.policy = Some(("/p".into(), Ok(Some("version: 1\nbogus: 1\n".into()))));
                },
                "policy",
                Status::Fail,
                "does not parse",
            ),
            (
                "own role mismatch",
                |f| {
                    f.role = Some((
                        "other".into(),
                        Ok(Some("arn:aws:iam::123456789012:role/other".into())),
                    ));
                },
                "own role",
                Status::Fail,
                "loops",
            ),
            (
                "own role pinned by another unique id",
                |f| {
                    f.policy = Some((
                        "p".into(),
                        Ok(Some(
                            "version: 1\nidentities:\n  own:\n    - principal: role/driftguard-remediation\n      unique_id: AROA3EXAMPLEDRIFTGRD1\n".into(),
                        )),
                    ));
                    f.role_id = Some("AROA3EXAMPLERECREATE".into());
                },
                "own role",
                Status::Fail,
                "loops",
            ),
            (
                "own role missing",
                |f| {
                    f.role = Some(("r".into(), Ok(None)));
                },
                "own role",
                Status::Fail,
                "does not exist",
            ),
            (
                "dry-run forced",
                |f| {
                    f.dry_run = Some("true".into());
                },
                "dry-run",
                Status::Warn,
                "DryRun=true",
            ),
            (
                "dlq not empty",
                |f| {
                    f.dlqs = vec![("DetectDeadLetterQueue".into(), Ok(3))];
                },
                "dead-letter queue DetectDeadLetterQueue",
                Status::Fail,
                "3 message",
            ),
            (
                "slack unreadable",
                |f| {
                    f.slack = Some(("s".into(), Err("AccessDenied".into())));
                },
                "Slack secret",
                Status::Fail,
                "AccessDenied",
            ),
            (
                "slack not a url",
                |f| {
                    f.slack = Some(("s".into(), Ok(Some("hunter2".into()))));
                },
                "Slack secret",
                Status::Fail,
                "not an https",
            ),
            (
                "slack not configured",
                |f| {
                    f.slack = None;
                },
                "Slack secret",
                Status::Warn,
                "SNS only",
            ),
            (
                "table missing",
                |f| {
                    f.table = Some(("t".into(), Ok(None)));
                },
                "ticket table",
                Status::Fail,
                "does not exist",
            ),
            (
                "bus missing",
                |f| {
                    f.bus = Some(("b".into(), Ok(false)));
                },
                "event bus",
                Status::Fail,
                "does not exist",
            ),
            (
                "stack missing",
                |f| {
                    f.stack = Some(("driftguard".into(), Ok(None)));
                },
                "stack driftguard",
                Status::Fail,
                "no stack",
            ),
        ];
        for (what, breaks, check, status, says) in rows {
            let mut f = healthy();
            breaks(&mut f);
            let (got, detail) = status_of(&f, check);
            assert_eq!(got, status, "{what}: {detail}");
            assert!(
                detail.contains(says),
                "{what}: {detail:?} should say {says:?}"
            );
        }
    }

    /// Issue 34, item 4: own entries pinned by the role's unique id are checked
    /// with the id `iam:GetRole` returns; a mismatch's fix names the real id.
    #[test]
    fn the_own_role_is_checked_by_its_unique_id() {
        let pinned = "version: 1\nidentities:\n  own:\n    - principal: role/driftguard-remediation\n      unique_id: AROA3EXAMPLEDRIFTGRD1\n";
        let mut f = healthy();
        f.policy = Some(("p".into(), Ok(Some(pinned.into()))));
        f.role_id = Some("AROA3EXAMPLEDRIFTGRD1".into());
        assert_eq!(status_of(&f, "own role").0, Status::Pass);
        f.role_id = Some("AROA3EXAMPLERECREATE".into());
        let check = run_checks(&f)
            .into_iter()
            .find(|c| c.name == "own role")
            .unwrap();
        assert_eq!(check.status, Status::Fail);
        let fix = check.fix.unwrap();
        assert!(fix.contains("unique_id: \"AROA3EXAMPLERECREATE\""), "{fix}");
        // Without the id (GetRole not allowed), a pinned entry cannot match.
        f.role_id = None;
        assert_eq!(status_of(&f, "own role").0, Status::Fail);
    }

    #[test]
    fn an_unreadable_fact_is_fixed_by_the_permission_or_the_connection() {
        let mut f = healthy();
        f.table = Some((
            "t".into(),
            Err("dynamodb:DescribeTable failed: AccessDeniedException".into()),
        ));
        f.bus = Some((
            "b".into(),
            Err("events:DescribeEventBus timed out or could not connect: dispatch failure".into()),
        ));
        let checks = run_checks(&f);
        let fix = |name: &str| {
            checks
                .iter()
                .find(|c| c.name == name)
                .and_then(|c| c.fix.clone())
                .unwrap()
        };
        assert_eq!(fix("ticket table"), "allow dynamodb:DescribeTable");
        assert!(
            fix("event bus").contains("did not reach AWS"),
            "{checks:#?}"
        );
    }

    #[test]
    fn a_disabled_rule_on_driftguards_bus_is_fixed_on_that_bus() {
        let c = rule_check(&rule("DISABLED", 1));
        assert_eq!(
            c.fix.as_deref(),
            Some(
                "aws events enable-rule --name driftguard-NotifyRule-1 --event-bus-name driftguard"
            )
        );
    }

    #[test]
    fn the_policy_default_dry_run_warns_and_a_config_rule_not_deployed_needs_no_recorder() {
        let mut f = healthy();
        f.policy = Some((
            "/p".into(),
            Ok(Some(POLICY.replace("dry_run: false", "dry_run: true"))),
        ));
        assert_eq!(status_of(&f, "dry-run").0, Status::Warn);
        f.recorders = None;
        assert_eq!(status_of(&f, "AWS Config recorder").0, Status::Pass);
    }
}
