//! After the ticket write: the decision announced ("Drift Decision" on the
//! bus, mirrored to OpsCenter when the ticket's state changed) and recorded
//! (one JSON log line and one EMF metrics line per decision).
use super::ticket::Written;
use super::{DecisionReport, Pipeline, PipelineError, TicketWrite};
use crate::resilience::retry;
use driftguard_model::domain::ticket_rules::DecisionFacts;
use driftguard_model::domain::{Change, Ownership, Ticket, TicketState};
use driftguard_model::error::PortError;
use driftguard_model::events::{DriftDecision, DRIFT_DECISION, SCHEMA_VERSION};

impl Pipeline {
    /// Publish the decision of a written ticket (mirroring it first when its
    /// state changed); `Ok(true)` once published.
    pub(super) async fn announce(
        &self,
        facts: &DecisionFacts<'_>,
        written: Option<&Written>,
    ) -> Result<bool, PipelineError> {
        // An ALLOWED record is for the sweep: nothing to remediate or announce.
        // Nor an out-of-order change: the ticket's newer decision stands. Nor
        // a hit-and-run below high severity: its ticket is the record.
        let quiet = facts
            .decision
            .hit_and_run
            .as_ref()
            .is_some_and(|h| !h.announced);
        let announced = written.filter(|(t, w, _)| {
            t.state != TicketState::Allowed && *w != TicketWrite::OutOfOrder && !quiet
        });
        let Some((ticket, _, state_changed)) = announced else {
            return Ok(false);
        };
        let event_id = &facts.change.event_id;
        if *state_changed {
            self.mirror(ticket).await;
        }
        let detail = DriftDecision {
            schema_version: SCHEMA_VERSION,
            ticket_id: ticket.id.clone(),
            ticket_state: ticket.state,
            state_changed: *state_changed,
            change: facts.change.clone(),
            actor: facts.actor.clone(),
            ownership: facts.ownership.clone(),
            drift: facts.drift.cloned(),
            event_drift: facts.event_drift.cloned(),
            decision: facts.decision.clone(),
            // The remediation planner fills this in once it is wired in.
            plan: None,
            decided_at: self.ports.clock.now(),
        };
        let detail = serde_json::to_value(&detail).map_err(|e| PipelineError::Port {
            step: "publish decision",
            event_id: event_id.clone(),
            source: PortError::Failed {
                service: "driftguard",
                operation: "serialize",
                message: e.to_string(),
            },
        })?;
        retry(&self.settings.retry, "publish", || {
            self.ports.bus.publish(DRIFT_DECISION, &detail)
        })
        .await
        .map_err(PipelineError::port("publish decision", event_id))?;
        Ok(true)
    }

    async fn mirror(&self, ticket: &Ticket) {
        if let Some(m) = &self.ports.ops_mirror {
            if let Err(e) = m.mirror(ticket).await {
                // Optional: OpsCenter is a copy, the ticket table is the record.
                tracing::warn!(ticket_id = %ticket.id, error = %e, "OpsCenter mirror failed");
            }
        }
    }

    /// One JSON log line and one EMF metrics line for the decision.
    pub(super) fn record_decision(&self, report: &DecisionReport, change: &Change) {
        log_decision(report, change);
        crate::metrics::emit(&crate::metrics::decision(
            report,
            change,
            self.ports.clock.now(),
        ));
    }
}

fn log_decision(report: &DecisionReport, change: &Change) {
    let stack = match &report.ownership {
        Ownership::Managed(m) => m.stack_name.as_str(),
        _ => "",
    };
    let v = &report.decision.verdict;
    tracing::info!(
        event_id = %report.event_id,
        outcome = "decided",
        resource = %report.resource,
        api = %change.api(),
        source = change.source.as_str(),
        stack,
        ownership = %report.ownership.label(),
        actor_kind = report.actor.kind.as_str(),
        principal = %report.actor.principal,
        verdict = v.action.as_str(),
        rule = v.rule.as_deref().unwrap_or(""),
        dry_run = v.dry_run,
        held = report.decision.held.is_some(),
        drift_status = report.drift.as_ref().or(report.event_drift.as_ref()).map(|d| d.status.as_str()).unwrap_or(""),
        ticket_id = report.ticket.as_ref().map(|t| t.id.as_str()).unwrap_or(""),
        ticket_state = report.ticket.as_ref().map(|t| t.state.as_str()).unwrap_or(""),
        state_changed = report.ticket.as_ref().is_some_and(|t| t.state_changed),
        published = report.published,
        duration_ms = report.duration_ms,
        "decision"
    );
}
