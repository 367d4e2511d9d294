//! Stack description: `DescribeStacks` (with where a nested stack sits) and
//! the SDK's stack and stack-resource entries read into the port's summaries.
use std::collections::BTreeMap;

use driftguard_core::ports::{StackResourceSummary, StackSummary};
use driftguard_model::domain::NestedStack;
use driftguard_model::error::{PortError, PortResult};

use super::catalog::CfnStackCatalog;
use super::SERVICE;
use crate::errors::map_sdk_error;

impl CfnStackCatalog {
    /// `DescribeStacks`: the stack and, for a nested stack, where it sits.
    pub(super) async fn describe_stack_nesting(
        &self,
        stack: &str,
    ) -> PortResult<Option<(StackSummary, Option<NestedStack>)>> {
        match self.client.describe_stacks().stack_name(stack).send().await {
            Ok(out) => Ok(out.stacks().iter().find_map(|st| {
                let summary = summary_from_stack(st).filter(|s| s.status != "DELETE_COMPLETE")?;
                Some((summary, nesting_of(st)))
            })),
            Err(err) => match map_sdk_error(SERVICE, "DescribeStacks", err) {
                PortError::Failed { message, .. } if message.contains("does not exist") => Ok(None),
                other => Err(other),
            },
        }
    }
}

/// `ParentId`/`RootId` of a nested stack; `None` for a top-level stack.
fn nesting_of(s: &aws_sdk_cloudformation::types::Stack) -> Option<NestedStack> {
    let parent_id = s.parent_id().filter(|p| !p.is_empty())?;
    Some(NestedStack {
        parent_id: parent_id.to_string(),
        root_id: s.root_id().filter(|r| !r.is_empty()).map(str::to_string),
    })
}

/// A `DescribeStacks` entry → [`StackSummary`]; `None` without a stack name.
pub(crate) fn summary_from_stack(s: &aws_sdk_cloudformation::types::Stack) -> Option<StackSummary> {
    Some(StackSummary {
        stack_id: s.stack_id().unwrap_or_default().to_string(),
        stack_name: s.stack_name()?.to_string(),
        status: s
            .stack_status()
            .map(|st| st.as_str().to_string())
            .unwrap_or_default(),
        tags: s
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect::<BTreeMap<_, _>>(),
    })
}

/// A `ListStackResources` entry → [`StackResourceSummary`]; `None` without a
/// logical id, empty strings read as absent.
pub(crate) fn resource_summary_from_sdk(
    r: &aws_sdk_cloudformation::types::StackResourceSummary,
) -> Option<StackResourceSummary> {
    Some(StackResourceSummary {
        logical_id: r
            .logical_resource_id()
            .filter(|s| !s.is_empty())?
            .to_string(),
        physical_id: r
            .physical_resource_id()
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        resource_type: r
            .resource_type()
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        status: r.resource_status().map(|s| s.as_str().to_string()),
    })
}
