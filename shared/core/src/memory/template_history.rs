//! [`TemplateHistory`] in memory, with the DynamoDB adapter's rules (bounded,
//! unchanged versions not recorded twice).
use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::ports::remediate::{KnownGood, Recorded, TemplateHistory};
use crate::remediate::history::MAX_VERSIONS;
use driftguard_model::error::PortResult;

#[derive(Debug, Default)]
pub struct MemoryTemplateHistory {
    stacks: Mutex<BTreeMap<String, Vec<KnownGood>>>,
}

impl MemoryTemplateHistory {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl TemplateHistory for MemoryTemplateHistory {
    async fn record(&self, candidate: &KnownGood) -> PortResult<Recorded> {
        let mut stacks = self.stacks.lock().unwrap_or_else(|p| p.into_inner());
        let versions = stacks.entry(candidate.stack.clone()).or_default();
        if let Some(latest) = versions.last() {
            if latest.digest == candidate.digest {
                return Ok(Recorded::Unchanged(latest.version));
            }
        }
        let version = versions.last().map_or(1, |l| l.version + 1);
        let mut stored = candidate.clone();
        stored.version = version;
        versions.push(stored);
        let keep = usize::try_from(MAX_VERSIONS).unwrap_or(usize::MAX);
        if versions.len() > keep {
            let drop = versions.len() - keep;
            versions.drain(..drop);
        }
        Ok(Recorded::New(version))
    }

    async fn versions(&self, stack: &str) -> PortResult<Vec<KnownGood>> {
        let stacks = self.stacks.lock().unwrap_or_else(|p| p.into_inner());
        Ok(stacks.get(stack).cloned().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::remediate::history::candidate;

    fn at(body: &str) -> KnownGood {
        candidate(
            "app",
            "UPDATE_COMPLETE",
            body,
            BTreeMap::new(),
            "2026-03-01T10:00:00Z".parse().unwrap(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn versions_are_numbered_deduplicated_and_bounded() {
        let h = MemoryTemplateHistory::new();
        assert_eq!(h.record(&at("v1")).await.unwrap(), Recorded::New(1));
        assert_eq!(h.record(&at("v1")).await.unwrap(), Recorded::Unchanged(1));
        for i in 2..=(MAX_VERSIONS + 2) {
            assert_eq!(
                h.record(&at(&format!("v{i}"))).await.unwrap(),
                Recorded::New(i)
            );
        }
        let kept = h.versions("app").await.unwrap();
        assert_eq!(kept.len(), MAX_VERSIONS as usize);
        assert_eq!(kept.first().unwrap().version, 3);
        assert_eq!(kept.last().unwrap().version, MAX_VERSIONS + 2);
    }
}
