//! Known-good templates from the pipeline's own deploys: a `CloudFormation
//! Stack Status Change` to `CREATE_COMPLETE`/`UPDATE_COMPLETE` makes detect
//! record the stack's processed template and parameters as its next version
//! (`remediation::history`, bounded and deduplicated by digest).
//!
//! The event is a wake-up call only. Only AWS can put `source:
//! aws.cloudformation` events on the default bus, but the stack-id, status
//! and the rest of the detail are not what is recorded: the status is re-read
//! with `DescribeStacks` and the template with `GetTemplate`
//! (`TemplateStage=Processed`), so a forged or stale event can at most record
//! what CloudFormation really deployed (docs/threat-model.md).
use super::Pipeline;
use crate::remediate::history::{completed_deploy, record_current, KnownGoodRecorder};
use crate::resilience::retry;
use driftguard_model::domain::Change;
use driftguard_model::sources::EnvelopeHeader;

impl Pipeline {
    /// Record known-good templates after completed deploys.
    pub fn with_known_good(mut self, recorder: KnownGoodRecorder) -> Self {
        self.known_good = Some(recorder);
        self
    }

    /// A completed deploy: re-read the stack, record its template when it is
    /// stable. Best effort: the event is never failed for it (the sweep
    /// records stable, in-sync stacks too).
    pub(super) async fn record_deploy(&self, header: &EnvelopeHeader, change: &Change) {
        let Some(recorder) = &self.known_good else {
            return;
        };
        let source = header.source.as_deref().unwrap_or("");
        let Some(stack) = completed_deploy(source, change) else {
            return;
        };
        if let Some(why) = self.foreign_account(header, change) {
            tracing::info!(stack, why, "known-good template not recorded");
            return;
        }
        if self.in_member_account(change) {
            // The recorder reads the central account's CloudFormation.
            tracing::info!(stack, account = %change.account, "known-good template not recorded: a member account's stack (recorded in driftguard's own account only)");
            return;
        }
        let described = retry(
            &self.settings.retry,
            "cloudformation:DescribeStacks",
            || self.ports.catalog.describe_stack(&stack),
        )
        .await;
        let summary = match described {
            Ok(Some(s)) => s,
            Ok(None) => {
                tracing::info!(
                    stack,
                    "known-good template not recorded: the stack does not exist"
                );
                return;
            }
            Err(e) => {
                tracing::warn!(stack, error = %e, "known-good template not recorded: stack not described");
                return;
            }
        };
        let now = self.ports.clock.now();
        let recorded = record_current(
            recorder.templates.as_ref(),
            recorder.history.as_ref(),
            &summary.stack_name,
            &summary.status,
            now,
        )
        .await;
        match recorded {
            Ok(r) => {
                tracing::info!(stack = %summary.stack_name, recorded = ?r, "known-good template after a deploy")
            }
            Err(why) => {
                tracing::info!(stack = %summary.stack_name, why, "known-good template not recorded")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use serde_json::{json, Value};

    use super::*;
    use crate::detect::{Outcome, Ports, Settings};
    use crate::memory::catalog::{MemoryActorLookup, MemoryDriftDetector, MemoryStackCatalog};
    use crate::memory::template_history::MemoryTemplateHistory;
    use crate::memory::{FixedClock, MemoryBus, MemoryTicketStore};
    use crate::ports::remediate::{KnownGood, TemplateHistory};
    use crate::ports::remediate::{StackTemplate, TemplateSource};
    use driftguard_model::domain::policy::Policy;
    use driftguard_model::error::PortResult;

    const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/app-network/0";

    /// `GetTemplate` (Processed) + `DescribeStacks` parameters of one stack.
    struct Templates(Mutex<String>);

    #[async_trait]
    impl TemplateSource for Templates {
        async fn stack_template(&self, _: &str) -> PortResult<StackTemplate> {
            Ok(StackTemplate {
                body: self.0.lock().unwrap().clone(),
                parameters: BTreeMap::from([("Env".into(), "prod".into())]),
                stack_id: STACK_ID.into(),
            })
        }
    }

    struct World {
        pipeline: Pipeline,
        catalog: Arc<MemoryStackCatalog>,
        templates: Arc<Templates>,
        history: Arc<MemoryTemplateHistory>,
    }

    fn world() -> World {
        let catalog = Arc::new(MemoryStackCatalog::new());
        catalog.add_stack("app-network", "UPDATE_COMPLETE");
        let templates = Arc::new(Templates(Mutex::new("Resources: {A: {Type: X}}".into())));
        let history = Arc::new(MemoryTemplateHistory::new());
        let ports = Ports {
            catalog: catalog.clone(),
            drift: Arc::new(MemoryDriftDetector::new()),
            actors: Arc::new(MemoryActorLookup::new()),
            tickets: Arc::new(MemoryTicketStore::new()),
            bus: Arc::new(MemoryBus::new()),
            ops_mirror: None,
            clock: Arc::new(FixedClock::new("2026-03-14T10:12:30Z".parse().unwrap())),
        };
        let pipeline = Pipeline::new(
            ports,
            Arc::new(Policy::from_yaml("").unwrap()),
            Settings::default(),
        )
        .with_known_good(KnownGoodRecorder {
            templates: templates.clone(),
            history: history.clone(),
        });
        World {
            pipeline,
            catalog,
            templates,
            history,
        }
    }

    /// The recorded event (`events/detect/cfn-stack-status-update-complete.json`)
    /// with another status and id.
    fn status_event(id: &str, status: &str, source: &str) -> Value {
        let mut e: Value = serde_json::from_str(include_str!(
            "../../../../events/detect/cfn-stack-status-update-complete.json"
        ))
        .unwrap();
        e["id"] = json!(id);
        e["source"] = json!(source);
        e["detail"]["stack-id"] = json!(STACK_ID);
        e["detail"]["status-details"]["status"] = json!(status);
        e
    }

    async fn versions(w: &World) -> Vec<KnownGood> {
        w.history.versions("app-network").await.unwrap()
    }

    #[tokio::test]
    async fn a_completed_deploy_records_the_template_cloudformation_reports() {
        let w = world();
        let out = w
            .pipeline
            .process_event(&status_event(
                "e-1",
                "UPDATE_COMPLETE",
                "aws.cloudformation",
            ))
            .await
            .unwrap();
        assert!(matches!(out, Outcome::Skipped { .. }), "{out:?}");
        let v = versions(&w).await;
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].template_body, "Resources: {A: {Type: X}}");
        assert_eq!(v[0].parameters["Env"], "prod");
        assert_eq!(v[0].stack_status, "UPDATE_COMPLETE");
    }

    #[tokio::test]
    async fn the_same_template_is_recorded_once_and_a_new_one_is_the_next_version() {
        let w = world();
        for id in ["e-1", "e-2"] {
            let e = status_event(id, "UPDATE_COMPLETE", "aws.cloudformation");
            w.pipeline.process_event(&e).await.unwrap();
        }
        assert_eq!(versions(&w).await.len(), 1, "deduplicated by digest");
        *w.templates.0.lock().unwrap() = "Resources: {B: {Type: X}}".into();
        let e = status_event("e-3", "CREATE_COMPLETE", "aws.cloudformation");
        w.pipeline.process_event(&e).await.unwrap();
        let v = versions(&w).await;
        assert_eq!(v.iter().map(|k| k.version).collect::<Vec<_>>(), [1, 2]);
    }

    #[tokio::test]
    async fn the_event_is_not_trusted_the_live_status_decides() {
        let w = world();
        // The event says UPDATE_COMPLETE; CloudFormation says the stack is
        // updating again: nothing is recorded.
        w.catalog
            .set_stack_status("app-network", "UPDATE_IN_PROGRESS");
        let e = status_event("e-1", "UPDATE_COMPLETE", "aws.cloudformation");
        w.pipeline.process_event(&e).await.unwrap();
        assert!(versions(&w).await.is_empty());
    }

    #[tokio::test]
    async fn other_statuses_and_other_sources_record_nothing() {
        let w = world();
        for (id, status) in [
            ("e-1", "UPDATE_ROLLBACK_COMPLETE"),
            ("e-2", "UPDATE_IN_PROGRESS"),
        ] {
            let e = status_event(id, status, "aws.cloudformation");
            w.pipeline.process_event(&e).await.unwrap();
        }
        assert!(versions(&w).await.is_empty());
        let e = status_event("e-3", "UPDATE_COMPLETE", "aws.cloudformation");
        let change = match driftguard_model::sources::parse_event(&e).unwrap() {
            driftguard_model::domain::Observation::NotAChange { change, .. } => *change.unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            completed_deploy("my.app", &change),
            None,
            "only CloudFormation's own events"
        );
        assert_eq!(
            completed_deploy("aws.cloudformation", &change).as_deref(),
            Some(STACK_ID)
        );
    }

    #[tokio::test]
    async fn without_a_recorder_nothing_happens() {
        let w = world();
        let bare = Pipeline::new(
            w.pipeline.ports.clone(),
            Arc::new(Policy::from_yaml("").unwrap()),
            Settings::default(),
        );
        let e = status_event("e-1", "UPDATE_COMPLETE", "aws.cloudformation");
        bare.process_event(&e).await.unwrap();
        assert!(versions(&w).await.is_empty());
    }
}
