//! People roles by their trust policy: one cached `iam:GetRole` per role,
//! asked only when the kind decides the verdict.
#![allow(clippy::unwrap_used)]
use std::sync::Arc;

use super::test_support::*;
use crate::memory::trust::MemoryRoleTrust;
use crate::ports::trust::CachedRoleTrust;
use driftguard_model::domain::{Action, ActorKind};
use driftguard_model::testing::changes::sg_change;
use driftguard_model::testing::identities::role;
use driftguard_model::testing::policies::{policy, sg_revert, OWN, PIPELINE};

const OKTA_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
  "Principal":{"Federated":"arn:aws:iam::123456789012:saml-provider/Okta"},
  "Action":"sts:AssumeRoleWithSAML"}]}"#;
const LAMBDA_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
  "Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

fn harness_with_trust(rules: &str, trust: Arc<MemoryRoleTrust>) -> Harness {
    let text = policy(1, &[OWN, PIPELINE], &[rules]);
    harness_wired(quick(), &text, |p| {
        p.with_role_trust(Arc::new(CachedRoleTrust::new(trust)))
    })
}

fn trust() -> Arc<MemoryRoleTrust> {
    let t = Arc::new(MemoryRoleTrust::new());
    t.add_role("arn:aws:iam::123456789012:role/okta-engineer", OKTA_TRUST);
    t.add_role("arn:aws:iam::123456789012:role/batch", LAMBDA_TRUST);
    t
}

#[tokio::test]
async fn a_saml_role_is_a_person_and_the_role_is_looked_up_once() {
    let t = trust();
    // Humans' security-group changes are reverted, automation's ticketed.
    let h = harness_with_trust(&sg_revert("human", true), t.clone());
    for id in ["ev-1", "ev-2"] {
        let r = h
            .pipeline
            .process_change(sg_change(id, role("okta-engineer", "alice@example.com")))
            .await
            .unwrap();
        assert_eq!(r.actor.kind, ActorKind::Human, "{:?}", r.actor.evidence);
        assert!(r
            .actor
            .evidence
            .iter()
            .any(|e| e.contains("saml-provider/Okta")));
        assert_eq!(r.decision.verdict.action, Action::Revert);
    }
    assert_eq!(t.calls(), 1, "one GetRole per role per container");
    let r = h
        .pipeline
        .process_change(sg_change("ev-3", role("batch", "job")))
        .await
        .unwrap();
    assert_eq!(r.actor.kind, ActorKind::Automation);
    assert_eq!(t.calls(), 2);
}

#[tokio::test]
async fn no_look_up_when_the_kind_does_not_change_the_verdict() {
    let t = trust();
    // Both kinds reverted alike: the trust policy is not asked.
    let h = harness_with_trust(&sg_revert("human, automation", true), t.clone());
    let r = h
        .pipeline
        .process_change(sg_change(
            "ev-1",
            role("okta-engineer", "alice@example.com"),
        ))
        .await
        .unwrap();
    assert_eq!(r.actor.kind, ActorKind::Automation);
    assert_eq!(r.decision.verdict.action, Action::Revert);
    assert_eq!(t.calls(), 0);
}
