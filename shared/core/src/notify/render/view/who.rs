//! Who made the change: the actor, how they acted, the evidence, and where
//! the call came from.
use driftguard_model::domain::{ActorKind, Identity};

use super::View;
use crate::notify::render::text::{code, escape, push_line, truncate};

impl View<'_> {
    pub(in crate::notify::render) fn who_mrkdwn(&self) -> String {
        let Some(actor) = self.actor else {
            return "Not recorded in this event.".to_string();
        };
        let mut out = format!("*{}*: `{}`", actor_how(actor.kind), code(&actor.principal));
        if let Some(session) = actor.session_name.as_deref().filter(|s| !s.is_empty()) {
            out.push_str(&format!(" (session `{}`)", code(session)));
        }
        for e in actor.evidence.iter().take(6) {
            push_line(&mut out, &format!("• {}", escape(&truncate(e, 300))));
        }
        if let Some(identity) = self.change.map(|c| &c.identity) {
            let extra = identity_extra(identity);
            if !extra.is_empty() {
                push_line(&mut out, &format!("• {}", escape(&extra)));
            }
        }
        out
    }

    pub(in crate::notify::render) fn who_plain(&self) -> String {
        let Some(actor) = self.actor else {
            return String::new();
        };
        let mut out = format!("{} {}", actor_how(actor.kind), actor.principal);
        if let Some(session) = actor.session_name.as_deref().filter(|s| !s.is_empty()) {
            out.push_str(&format!(" (session {session})"));
        }
        if let Some(identity) = self.change.map(|c| &c.identity) {
            let extra = identity_extra(identity);
            if !extra.is_empty() {
                out.push_str(&format!("; {extra}"));
            }
        }
        out
    }
}

fn actor_how(kind: ActorKind) -> &'static str {
    match kind {
        ActorKind::Console => "AWS console",
        ActorKind::Human => "CLI/SDK with a person's credentials",
        ActorKind::Automation => "Role or service",
        ActorKind::AwsService => "AWS service (service-linked role or security service)",
        ActorKind::BreakGlass => "Break-glass role",
        ActorKind::Pipeline => "Deploy pipeline",
        ActorKind::Driftguard => "driftguard itself",
        ActorKind::Cloudformation => "CloudFormation",
        ActorKind::Unknown => "Unknown",
    }
}

fn identity_extra(identity: &Identity) -> String {
    let mut parts = Vec::new();
    if let Some(ip) = identity.source_ip.as_deref() {
        parts.push(format!("source IP {ip}"));
    }
    if let Some(agent) = identity.user_agent.as_deref() {
        parts.push(format!("user agent {}", truncate(agent, 120)));
    }
    parts.join(" · ")
}
