//! Who made a change, classified from CloudTrail's identity facts and the policy.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::people::{aws_service_evidence, person_evidence};
use super::policy::IdentityRules;

/// Raw identity facts taken from a CloudTrail record (or looked up for Config items).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// `userIdentity.type`: Root, IAMUser, AssumedRole, FederatedUser, AWSService, AWSAccount...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_type: Option<String>,
    /// `userIdentity.arn` (for an assumed role: `arn:aws:sts::1:assumed-role/Role/session`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_arn: Option<String>,
    /// `userIdentity.sessionContext.sessionIssuer.arn` (the role ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_issuer_arn: Option<String>,
    /// Role session name (last segment of an assumed-role ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_name: Option<String>,
    /// `userIdentity.invokedBy` (a service principal such as `cloudformation.amazonaws.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoked_by: Option<String>,
    /// CloudTrail `userAgent`: console, CLI, SDK or service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// CloudTrail `sourceIPAddress` (an IP, or a service name for AWS services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// The record's top-level `sessionCredentialFromConsole` (only there: the
    /// field inside `userIdentity` is not what AWS documents).
    #[serde(default)]
    pub console_session: bool,
    /// `userIdentity.principalId` (AWS-set): `AIDA…` for a user,
    /// `AROA…:SESSION` for an assumed role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    /// `userIdentity.accountId` (AWS-set): the account of the caller, which
    /// differs from the record's `recipientAccountId` for a cross-account call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// `userIdentity.sessionContext.sourceIdentity`: recorded by AWS, its
    /// value chosen by the first `AssumeRole*` caller (`--source-identity`,
    /// with `sts:SetSourceIdentity`) or the IdP's SAML attribute; it persists
    /// across role chaining and cannot be changed during the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
    /// `userIdentity.onBehalfOf.userId` (AWS-set): the IAM Identity Center
    /// user a request was made for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<String>,
}

impl Identity {
    /// The principal to show people and to match policies on: the role ARN for
    /// an assumed role, else the principal ARN.
    pub fn display_principal(&self) -> String {
        self.session_issuer_arn
            .clone()
            .or_else(|| self.principal_arn.clone())
            .or_else(|| self.invoked_by.clone())
            .unwrap_or_else(|| "unknown".to_string())
    }

    fn issuer_role_name(&self) -> Option<&str> {
        self.session_issuer_arn
            .as_deref()
            .and_then(|arn| arn.rsplit('/').next())
    }
}

/// The classes of actor driftguard distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// The AWS console.
    Console,
    /// CloudFormation itself (the stack service).
    Cloudformation,
    /// A deploy principal the policy allows.
    Pipeline,
    /// driftguard's own remediation role.
    Driftguard,
    /// An allowed emergency principal inside its time window.
    BreakGlass,
    /// CLI or SDK with a person's credentials.
    Human,
    /// Another service or role.
    Automation,
    /// AWS acting for itself: a service-linked role's session (path
    /// `/aws-service-role/`) on a call its service made (`invokedBy`). Its
    /// default verdict is a ticket.
    AwsService,
    /// Nothing to tell (no identity facts).
    Unknown,
}

impl ActorKind {
    /// Every class (the CLI lists them; the tests go through them all).
    pub const ALL: [ActorKind; 9] = [
        ActorKind::Console,
        ActorKind::Cloudformation,
        ActorKind::Pipeline,
        ActorKind::Driftguard,
        ActorKind::BreakGlass,
        ActorKind::Human,
        ActorKind::Automation,
        ActorKind::AwsService,
        ActorKind::Unknown,
    ];

    /// The name in policies and events (`console`, `break_glass` …).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Console => "console",
            Self::Cloudformation => "cloudformation",
            Self::Pipeline => "pipeline",
            Self::Driftguard => "driftguard",
            Self::BreakGlass => "break_glass",
            Self::Human => "human",
            Self::Automation => "automation",
            Self::AwsService => "aws_service",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ActorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A classified actor with the evidence that led to the classification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The class.
    pub kind: ActorKind,
    /// Role ARN, user ARN or service principal.
    pub principal: String,
    /// The role session name, for an assumed role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_name: Option<String>,
    /// Facts in the order they were weighed, e.g. `invokedBy=cloudformation.amazonaws.com`.
    pub evidence: Vec<String>,
    /// A `break_glass` actor: the end (`not_after`) of the window it acted
    /// in. Stored with the ticket's `last_actor`: the sweep carries the
    /// break-glass decision only until then, and decides the drift again after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass_until: Option<DateTime<Utc>>,
}

/// The service principal CloudFormation's own calls carry.
pub const CLOUDFORMATION_PRINCIPAL: &str = "cloudformation.amazonaws.com";

/// Classify an identity. `at` is the time of the change (break-glass windows);
/// patterns that omit the account match the rules' home account.
pub fn classify_actor(identity: &Identity, rules: &IdentityRules, at: DateTime<Utc>) -> Actor {
    classify_actor_in(identity, rules, at, rules.home_account())
}

/// [`classify_actor`] with the account driftguard runs in given per call.
pub fn classify_actor_in(
    identity: &Identity,
    rules: &IdentityRules,
    at: DateTime<Utc>,
    home: Option<&str>,
) -> Actor {
    let mut evidence = Vec::new();
    let kind = classify_kind(identity, rules, at, home, &mut evidence);
    if let Some(agent) = identity.user_agent.as_deref() {
        evidence.push(user_agent_note(agent));
    }
    let break_glass_until = (kind == ActorKind::BreakGlass)
        .then(|| rules.break_glass_until_in(identity, at, home))
        .flatten();
    Actor {
        kind,
        principal: identity.display_principal(),
        session_name: identity.session_name.clone(),
        evidence,
        break_glass_until,
    }
}

/// The user agent is an HTTP header the caller writes: it is shown, never weighed.
fn user_agent_note(agent: &str) -> String {
    let says = if contains_ignoring_ascii_case(agent, "cloudformation") {
        " (says CloudFormation; caller-set, not trusted)"
    } else if contains_ignoring_ascii_case(agent, "console.amazonaws.com")
        || agent
            .as_bytes()
            .get(..12)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"aws internal"))
    {
        " (says console; caller-set, not trusted)"
    } else {
        " (caller-set)"
    };
    format!("userAgent={agent}{says}")
}

/// `haystack.to_ascii_lowercase().contains(needle)` for a lower-case ASCII
/// `needle`, without the copy.
fn contains_ignoring_ascii_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// CloudFormation's own calls, by AWS-set fields only. With a service role
/// the session is the role's (`…:assumed-role/ROLE/AWSCloudFormation`) and
/// `userIdentity.invokedBy` names CloudFormation; without one CloudFormation
/// calls with the caller's credentials (a forward access session) and the
/// record still says `invokedBy` / `sourceIPAddress` =
/// `cloudformation.amazonaws.com`. Compared exactly: AWS writes the service
/// principal in lower case, and a look-alike is not CloudFormation.
fn cloudformation_evidence(identity: &Identity) -> Option<String> {
    let field = [
        ("invokedBy", identity.invoked_by.as_deref()),
        ("sourceIPAddress", identity.source_ip.as_deref()),
    ]
    .into_iter()
    .find(|(_, v)| *v == Some(CLOUDFORMATION_PRINCIPAL))?
    .0;
    let credentials = match (
        identity.session_issuer_arn.as_deref(),
        identity.session_name.as_deref(),
    ) {
        (Some(role), Some("AWSCloudFormation")) => format!("with its service role {role}"),
        _ => format!(
            "with the caller's credentials ({})",
            identity
                .principal_arn
                .as_deref()
                .unwrap_or("no principal ARN")
        ),
    };
    Some(format!(
        "{field}={CLOUDFORMATION_PRINCIPAL} (AWS-set), {credentials}"
    ))
}

/// Which policy class a principal belongs to, whoever uses it.
fn role_class(
    identity: &Identity,
    rules: &IdentityRules,
    home: Option<&str>,
) -> Option<(&'static str, String)> {
    if let Some(why) = rules.own_match_in(identity, home) {
        return Some(("driftguard's own role", why));
    }
    rules
        .pipeline_match_in(identity, home)
        .map(|why| ("a pipeline principal", why))
}

fn classify_kind(
    identity: &Identity,
    rules: &IdentityRules,
    at: DateTime<Utc>,
    home: Option<&str>,
    evidence: &mut Vec<String>,
) -> ActorKind {
    if let Some(why) = cloudformation_evidence(identity) {
        evidence.push(why);
        return ActorKind::Cloudformation;
    }
    // Break-glass is a person with the break-glass role inside its window,
    // proven by the AWS-set issuer ARN and the event time.
    match rules.break_glass_match_in(identity, at, home) {
        Some(Ok(why)) => {
            evidence.push(why);
            return ActorKind::BreakGlass;
        }
        // Outside its window a break-glass principal is treated like anyone else.
        Some(Err(why)) => evidence.push(why),
        None => {}
    }
    // A person is a person, whatever role they switched into or chained to
    // and whichever service relayed the call: the kind says who acted, the
    // role class says with what (a person with the pipeline's role is not
    // the pipeline, issue 34 item 2).
    let (kind, why) = if identity.console_session {
        (
            ActorKind::Console,
            "sessionCredentialFromConsole=true (AWS-set): a person".to_string(),
        )
    } else if let Some(why) = person_behind_role(identity, rules, home) {
        (ActorKind::Human, why)
    } else {
        return classify_principal(identity, rules, home, evidence);
    };
    evidence.push(why);
    if let Some((class, why)) = role_class(identity, rules, home) {
        evidence.push(format!("acting with {class}: {why}"));
    }
    if let Some(service) = identity.invoked_by.as_deref() {
        evidence.push(format!(
            "invokedBy={service}: the service relayed the person's call"
        ));
    }
    kind
}

/// A person's evidence that outranks the role's class: the session names
/// its person (`sourceIdentity`, `onBehalfOf`), so even driftguard's or the
/// pipeline's role in that session is that person's. Other people evidence
/// (a people role, an IAM user) cannot be a policy role and is weighed after it.
fn person_behind_role(
    identity: &Identity,
    rules: &IdentityRules,
    home: Option<&str>,
) -> Option<String> {
    let named = identity.source_identity.is_some() || identity.on_behalf_of.is_some();
    let in_policy_role = role_class(identity, rules, home).is_some();
    if named || !in_policy_role {
        person_evidence(identity, rules, home)
    } else {
        None
    }
}

/// No person's evidence: the policy's roles, AWS itself, else by type.
fn classify_principal(
    identity: &Identity,
    rules: &IdentityRules,
    home: Option<&str>,
    evidence: &mut Vec<String>,
) -> ActorKind {
    if let Some(why) = rules.own_match_in(identity, home) {
        evidence.push(format!("driftguard's own role: {why}"));
        return ActorKind::Driftguard;
    }
    if let Some(why) = rules.pipeline_match_in(identity, home) {
        evidence.push(format!("pipeline principal: {why}"));
        return ActorKind::Pipeline;
    }
    if let Some(why) = aws_service_evidence(identity) {
        evidence.push(why);
        return ActorKind::AwsService;
    }
    classify_other(identity, evidence)
}

/// Nobody the policy names, no person, not AWS itself: classified by the
/// AWS-set identity type.
fn classify_other(identity: &Identity, evidence: &mut Vec<String>) -> ActorKind {
    let identity_type = identity.identity_type.as_deref().unwrap_or("");
    if identity_type == "AWSService" {
        evidence.push("userIdentity.type=AWSService".to_string());
        return ActorKind::Automation;
    }
    if let Some(service) = identity.invoked_by.as_deref() {
        evidence.push(format!("invokedBy={service}"));
        return ActorKind::Automation;
    }
    match identity_type {
        "AssumedRole" => {
            match identity.issuer_role_name() {
                Some(role) => {
                    evidence.push(format!("assumed role {role} is not a known principal"));
                }
                None => evidence.push("AssumedRole without a session issuer".to_string()),
            }
            ActorKind::Automation
        }
        "" => {
            evidence.push("no userIdentity".to_string());
            ActorKind::Unknown
        }
        other => {
            evidence.push(format!("userIdentity.type={other} not classified"));
            ActorKind::Unknown
        }
    }
}
