//! Verdicts: what to do about a change. `decide` is the one pure decision function
//! shared by detect, the sweep and the offline replay.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::actor::{Actor, ActorKind};
use super::change::{Change, ChangeSource};
use super::drift::{Drift, DriftStatus};
use super::ownership::Ownership;
use super::policy::{MatchFacts, OwnershipKind, Policy, UnmanagedSetting};

/// What a verdict tells driftguard to do about a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Not a change driftguard cares about (read-only, own change, CloudFormation's).
    Ignore,
    /// A legitimate change (pipeline, policy exception).
    Allow,
    /// Open or update a ticket; change nothing.
    Ticket,
    /// Put the resource back as the template says.
    Revert,
    /// Roll the stack back.
    Rollback,
}

impl Action {
    /// The policy's name for it (`ignore`, `allow`, `ticket`, `revert`, `rollback`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ignore => "ignore",
            Self::Allow => "allow",
            Self::Ticket => "ticket",
            Self::Revert => "revert",
            Self::Rollback => "rollback",
        }
    }

    /// Does this verdict change infrastructure?
    pub fn acts(&self) -> bool {
        matches!(self, Self::Revert | Self::Rollback)
    }

    /// Does this verdict open or update a ticket?
    pub fn tickets(&self) -> bool {
        matches!(self, Self::Ticket | Self::Revert | Self::Rollback)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How serious a drift is: rules set it, tickets keep the highest, notifications show it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The least serious: a record.
    Low,
    /// The default.
    #[default]
    Medium,
    /// Serious.
    High,
    /// The most serious.
    Critical,
}

impl Severity {
    /// The policy's name for it (`low`, `medium`, `high`, `critical`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// What the policy says to do about one change, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// What to do.
    pub action: Action,
    /// Why, in words: the rule, the exemption or the safety cap that decided.
    pub reason: String,
    /// The policy rule that matched, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Plan and record only; change nothing.
    pub dry_run: bool,
    /// An approver must approve the plan before remediate acts on it.
    pub requires_approval: bool,
    /// How serious the drift is.
    pub severity: Severity,
    /// What the policy asked for before a safety rule capped it (protected,
    /// break-glass, ownership unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capped_from: Option<Action>,
    /// The policy environment of the change's account (`environments`);
    /// `None`: the account is in none, the top-level rules decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

impl Verdict {
    fn fixed(action: Action, reason: impl Into<String>) -> Self {
        Self {
            action,
            reason: reason.into(),
            rule: None,
            dry_run: true,
            requires_approval: false,
            severity: Severity::Low,
            capped_from: None,
            environment: None,
        }
    }

    /// Lower an acting verdict to `to` (which does not act), saying why and
    /// keeping what it was in `capped_from`; a verdict that does not act stays.
    pub fn cap(&mut self, to: Action, why: &str) {
        if self.action.acts() && !to.acts() {
            self.capped_from = Some(self.action);
            self.action = to;
            self.reason = format!("{}; capped to {}: {why}", self.reason, to.as_str());
        }
    }
}

/// The facts one decision is taken on.
#[derive(Debug, Clone)]
pub struct DecisionInput<'a> {
    /// The change to decide on.
    pub change: &'a Change,
    /// Who made it, classified.
    pub actor: &'a Actor,
    /// Which stack owns the resource.
    pub ownership: &'a Ownership,
    /// The drift the decision is about (CloudFormation's or the event's), if known.
    pub drift: Option<&'a Drift>,
    /// The account's OU path and tags, when the policy matches environments
    /// by them (`Policy::needs_account_facts`); `None`: by account id only.
    pub account: Option<&'a super::policy::AccountFacts>,
}

/// A verdict plus whether it must wait (stack operation in progress).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// What to do.
    pub verdict: Verdict,
    /// Set when nothing may be decided now: the sweep or a retry re-checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
    /// Set when the change was already undone when driftguard looked: its
    /// ticket resolves itself ([`super::decide_hit_and_run`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hit_and_run: Option<super::HitAndRun>,
}

/// Build the facts a policy rule is matched on.
pub fn match_facts<'a>(input: &DecisionInput<'a>) -> MatchFacts<'a> {
    let membership = input.ownership.membership();
    let tags: Option<&'a BTreeMap<String, String>> = membership.map(|m| &m.stack_tags);
    MatchFacts {
        account: &input.change.account,
        region: &input.change.region,
        stack: membership.map(|m| m.stack_name.as_str()).or(input
            .change
            .stack_hint
            .as_ref()
            .map(|h| h.stack.as_str())),
        logical_id: membership.map(|m| m.logical_id.as_str()),
        // The resolved owner's type first: a bucket-policy call on a bucket
        // whose stack has no AWS::S3::BucketPolicy is a change to the bucket.
        resource_type: membership.and_then(|m| m.resource_type.as_deref()).or(input
            .change
            .resource
            .resource_type
            .as_deref()),
        api_resource_type: input.change.resource.resource_type.as_deref(),
        drift: input.drift.map(|d| d.status),
        ownership: Some(OwnershipKind::from(input.ownership)),
        physical_id: input.change.resource.physical_id.as_deref(),
        actor: Some(input.actor.kind),
        source: Some(input.change.source),
        operation: None,
        property_paths: input.drift.map(|d| d.property_paths()).unwrap_or_default(),
        tags,
    }
}

/// Decide what to do about one change. Pure: same input, same decision.
///
/// Rules that never bend come first (own changes, CloudFormation's own calls,
/// pipeline, unmanaged), then the policy's first matching rule, then safety caps
/// (break-glass, protected, ownership unknown, stack busy).
pub fn decide(input: &DecisionInput<'_>, policy: &Policy) -> Decision {
    if let Some(fixed) = unbending_verdict(input, policy) {
        return Decision {
            verdict: fixed,
            held: None,
            hit_and_run: None,
        };
    }
    let change = input.change;
    let unmanaged = matches!(input.ownership, Ownership::Unmanaged);
    let api = change.api();
    let mut facts = match_facts(input);
    facts.operation = Some(&api);
    // The change's account picks the rules: its environment's, else the
    // top-level ones (an account is in at most one environment).
    let set = policy.rule_set_for(&change.account, input.account);
    let in_env = set
        .environment
        .map(|e| format!(" (environment {e})"))
        .unwrap_or_default();
    let rule = set.first_match(&facts);
    let mut v = match rule {
        Some(r) => Verdict {
            action: r.action,
            reason: format!("policy rule {}{in_env}", r.name),
            rule: Some(r.name.clone()),
            dry_run: r.dry_run,
            requires_approval: r.requires_approval,
            severity: r.severity,
            capped_from: None,
            environment: None,
        },
        None if unmanaged => Verdict {
            reason: format!("no policy rule matched{in_env}: unmanaged resources are ticketed"),
            ..Verdict::fixed(Action::Ticket, "")
        },
        // A write no operation row lists: driftguard knows no exact undo, so
        // without a rule asking for more it is at most a ticket.
        None if crate::sources::identifiers::is_unlisted(change) && set.defaults.verdict.acts() => {
            Verdict {
                action: Action::Ticket,
                reason: format!(
                    "no policy rule matched{in_env}: {api} has no row in the operation table, so its default is a ticket (defaults.verdict {} applies to listed operations only)",
                    set.defaults.verdict
                ),
                rule: None,
                dry_run: set.defaults.dry_run,
                requires_approval: false,
                severity: set.defaults.severity,
                capped_from: None,
                environment: None,
            }
        }
        None => Verdict {
            action: set.defaults.verdict,
            reason: format!("no policy rule matched{in_env}: default verdict"),
            rule: None,
            dry_run: set.defaults.dry_run,
            requires_approval: set.defaults.verdict == Action::Rollback,
            severity: set.defaults.severity,
            capped_from: None,
            environment: None,
        },
    };
    v.environment = set.environment.map(str::to_string);
    // AWS's own remediators (Firewall Manager, a service-linked role) are
    // not reverted by default: undoing them starts a fight with AWS. Only a
    // rule that names `aws_service` may act on them (issue 34 item 5).
    if input.actor.kind == ActorKind::AwsService
        && !rule.is_some_and(|r| r.names_actor(ActorKind::AwsService))
    {
        v.cap(
            Action::Ticket,
            "AWS's own service acted (aws_service): only a rule naming aws_service acts on it",
        );
    }
    capped_and_held(v, input, policy, &facts)
}

/// The verdicts no policy rule can change: driftguard's own changes,
/// CloudFormation's own calls, the pipeline, an unmanaged resource under
/// `unmanaged: ignore`, and a resource CloudFormation reports IN_SYNC.
fn unbending_verdict(input: &DecisionInput<'_>, policy: &Policy) -> Option<Verdict> {
    match input.actor.kind {
        ActorKind::Driftguard => {
            return Some(Verdict::fixed(
                Action::Ignore,
                "driftguard's own change (loop prevention)",
            ))
        }
        // A stack status event is CloudFormation reporting on itself; it may still
        // call for a rollback, so it goes to the policy. A call CloudFormation
        // made on a resource whose owner could not be established is a change
        // to an unknown resource (a ticket at most), never "CloudFormation
        // itself": the identifiers that would name the stack are the caller's.
        ActorKind::Cloudformation
            if input.change.source != ChangeSource::CloudformationStack
                && !matches!(input.ownership, Ownership::Unknown { .. }) =>
        {
            return Some(Verdict::fixed(
                Action::Ignore,
                "made by CloudFormation itself",
            ))
        }
        ActorKind::Pipeline => {
            return Some(Verdict::fixed(
                Action::Allow,
                format!("pipeline principal {}", input.actor.principal),
            ))
        }
        _ => {}
    }
    if matches!(input.ownership, Ownership::Unmanaged)
        && policy.unmanaged() == UnmanagedSetting::Ignore
    {
        return Some(Verdict::fixed(
            Action::Ignore,
            "resource is not managed by any CloudFormation stack (policy: unmanaged: ignore)",
        ));
    }
    match input.drift {
        Some(drift) if drift.status == DriftStatus::InSync => Some(Verdict::fixed(
            Action::Ignore,
            "CloudFormation reports the resource IN_SYNC",
        )),
        _ => None,
    }
}

/// The policy's verdict `v` after the safety caps (unmanaged, break-glass,
/// protected, ownership not proven), held while the owning stack has an
/// operation in progress.
fn capped_and_held(
    mut v: Verdict,
    input: &DecisionInput<'_>,
    policy: &Policy,
    facts: &MatchFacts<'_>,
) -> Decision {
    if matches!(input.ownership, Ownership::Unmanaged) {
        v.cap(
            Action::Ticket,
            "no stack owns the resource: nothing to restore it from",
        );
    }
    if input.actor.kind == ActorKind::BreakGlass {
        v.cap(Action::Ticket, "break-glass change inside its window");
    }
    if policy.is_protected(facts) {
        v.cap(Action::Ticket, "protected resource");
    }
    if let Ownership::Unknown { reason } = input.ownership {
        v.cap(Action::Ticket, &format!("ownership not proven ({reason})"));
    }
    let held = input
        .ownership
        .membership()
        .filter(|m| m.operation_in_progress() && v.action.tickets())
        .map(|m| {
            format!(
                "stack {} has an operation in progress ({}): re-check later",
                m.stack_name, m.stack_status
            )
        });
    Decision {
        verdict: v,
        held,
        hit_and_run: None,
    }
}

/// An ACCEPTED ticket stays accepted while the resource shows exactly the
/// drift that was accepted (`Ticket::accepted_drift`): the change is then
/// ignored instead of reopening it. A different drift decides afresh. Pure.
pub fn accepted_decision(
    ticket: &super::ticket::Ticket,
    drift: Option<&Drift>,
) -> Option<Decision> {
    if ticket.state != super::ticket::TicketState::Accepted {
        return None;
    }
    let accepted = ticket.accepted_drift.as_deref()?;
    let current = drift?.fingerprint();
    (current == accepted).then(|| Decision {
        verdict: Verdict {
            severity: ticket.severity,
            ..Verdict::fixed(
                Action::Ignore,
                format!(
                    "drift accepted on ticket {} and unchanged since (fingerprint {})",
                    ticket.id,
                    &accepted[..accepted.len().min(12)]
                ),
            )
        },
        held: None,
        hit_and_run: None,
    })
}
