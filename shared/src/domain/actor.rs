//! Who made a change, classified from CloudTrail's identity facts and the policy.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// The record's top-level `sessionCredentialFromConsole` (only there: the
    /// field inside `userIdentity` is not what AWS documents).
    #[serde(default)]
    pub console_session: bool,
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
    Unknown,
}

impl ActorKind {
    pub const ALL: [ActorKind; 8] = [
        ActorKind::Console,
        ActorKind::Cloudformation,
        ActorKind::Pipeline,
        ActorKind::Driftguard,
        ActorKind::BreakGlass,
        ActorKind::Human,
        ActorKind::Automation,
        ActorKind::Unknown,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Console => "console",
            Self::Cloudformation => "cloudformation",
            Self::Pipeline => "pipeline",
            Self::Driftguard => "driftguard",
            Self::BreakGlass => "break_glass",
            Self::Human => "human",
            Self::Automation => "automation",
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
    pub kind: ActorKind,
    /// Role ARN, user ARN or service principal.
    pub principal: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_name: Option<String>,
    /// Facts in the order they were weighed, e.g. `invokedBy=cloudformation.amazonaws.com`.
    pub evidence: Vec<String>,
}

const CLOUDFORMATION_PRINCIPAL: &str = "cloudformation.amazonaws.com";

/// Classify an identity. `at` is the time of the change (break-glass windows).
pub fn classify_actor(identity: &Identity, rules: &IdentityRules, at: DateTime<Utc>) -> Actor {
    let mut evidence = Vec::new();
    let kind = classify_kind(identity, rules, at, &mut evidence);
    Actor {
        kind,
        principal: identity.display_principal(),
        session_name: identity.session_name.clone(),
        evidence,
    }
}

fn classify_kind(
    identity: &Identity,
    rules: &IdentityRules,
    at: DateTime<Utc>,
    evidence: &mut Vec<String>,
) -> ActorKind {
    // CloudFormation's own calls: with a service role `invokedBy` names it;
    // without one, CloudTrail shows it as the source address and user agent.
    for (field, value) in [
        ("invokedBy", identity.invoked_by.as_deref()),
        ("sourceIPAddress", identity.source_ip.as_deref()),
        ("userAgent", identity.user_agent.as_deref()),
    ] {
        if value == Some(CLOUDFORMATION_PRINCIPAL) {
            evidence.push(format!("{field}={CLOUDFORMATION_PRINCIPAL}"));
            return ActorKind::Cloudformation;
        }
    }

    if let Some(why) = rules.own_match(identity) {
        evidence.push(format!("driftguard's own role: {why}"));
        return ActorKind::Driftguard;
    }
    match rules.break_glass_match(identity, at) {
        Some(Ok(why)) => {
            evidence.push(why);
            return ActorKind::BreakGlass;
        }
        // Outside its window a break-glass principal is treated like anyone else.
        Some(Err(why)) => evidence.push(why),
        None => {}
    }
    if let Some(why) = rules.pipeline_match(identity) {
        evidence.push(format!("pipeline principal: {why}"));
        return ActorKind::Pipeline;
    }

    if identity.console_session {
        evidence.push("sessionCredentialFromConsole=true".to_string());
        return ActorKind::Console;
    }
    if let Some(agent) = identity.user_agent.as_deref() {
        let lower = agent.to_ascii_lowercase();
        if lower.contains("console.amazonaws.com") || lower.starts_with("aws internal") {
            evidence.push(format!("userAgent={agent}"));
            return ActorKind::Console;
        }
    }

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
        "IAMUser" | "Root" | "FederatedUser" | "IdentityCenterUser" => {
            evidence.push(format!("userIdentity.type={identity_type}"));
            if let Some(agent) = identity.user_agent.as_deref() {
                evidence.push(format!("userAgent={agent}"));
            }
            return ActorKind::Human;
        }
        "AssumedRole" => {
            // Identity Center (SSO) and SAML federated sessions are people.
            if let Some(role) = identity.issuer_role_name() {
                if role.starts_with("AWSReservedSSO_") {
                    evidence.push(format!(
                        "role {role} is an IAM Identity Center permission set"
                    ));
                    return ActorKind::Human;
                }
                evidence.push(format!("assumed role {role} is not a known principal"));
                return ActorKind::Automation;
            }
            evidence.push("AssumedRole without a session issuer".to_string());
            return ActorKind::Automation;
        }
        "" => evidence.push("no userIdentity".to_string()),
        other => evidence.push(format!("userIdentity.type={other} not classified")),
    }
    ActorKind::Unknown
}
