//! The change-set port ([`driftguard_core::ports::remediate::ChangeSets`]) over the
//! CloudFormation SDK: `CreateChangeSet` (with `ClientToken`), one page of
//! `DescribeChangeSet`, `ExecuteChangeSet` (with `ClientRequestToken`),
//! `DeleteChangeSet` and the stack status. Every call goes through the one
//! retry layer ([`driftguard_core::resilience::retry`]) and the one error classifier
//! (`errors::map_sdk_error`).
use async_trait::async_trait;
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetType, DeploymentMode, Parameter, ResourceChange as SdkResourceChange,
};
use aws_sdk_cloudformation::Client;

use super::errors::map_sdk_error;
use driftguard_core::ports::remediate::{
    ChangeSetPage, ChangeSets, CreateRequest, ResourceChange, TemplateChoice,
};
use driftguard_core::resilience::{retry, RetryPolicy};
use driftguard_model::error::PortResult;

const SERVICE: &str = "cloudformation";

/// [`ChangeSets`] on one CloudFormation client.
#[derive(Debug, Clone)]
pub struct CfnChangeSets {
    client: Client,
    retry: RetryPolicy,
}

impl CfnChangeSets {
    pub fn new(client: Client, retry: RetryPolicy) -> Self {
        Self { client, retry }
    }
}

fn parameters(request: &CreateRequest) -> Vec<Parameter> {
    request
        .parameters
        .iter()
        .map(|(key, value)| match value {
            Some(v) => Parameter::builder()
                .parameter_key(key)
                .parameter_value(v)
                .build(),
            None => Parameter::builder()
                .parameter_key(key)
                .use_previous_value(true)
                .build(),
        })
        .collect()
}

fn change_of(rc: &SdkResourceChange) -> ResourceChange {
    ResourceChange {
        logical_id: rc.logical_resource_id().unwrap_or("?").to_string(),
        resource_type: rc.resource_type().map(str::to_string),
        action: rc
            .action()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default(),
        replacement: rc.replacement().map(|r| r.as_str().to_string()),
    }
}

#[async_trait]
impl ChangeSets for CfnChangeSets {
    async fn parameter_keys(&self, stack: &str) -> PortResult<Vec<String>> {
        let out = retry(&self.retry, "cloudformation:DescribeStacks", || async {
            self.client
                .describe_stacks()
                .stack_name(stack)
                .send()
                .await
                .map_err(|e| map_sdk_error(SERVICE, "DescribeStacks", e))
        })
        .await?;
        Ok(out
            .stacks()
            .first()
            .map(|s| s.parameters())
            .unwrap_or_default()
            .iter()
            .filter_map(|p| p.parameter_key().map(str::to_string))
            .collect())
    }

    async fn create(&self, request: &CreateRequest) -> PortResult<Option<String>> {
        let params = parameters(request);
        let out = retry(&self.retry, "cloudformation:CreateChangeSet", || async {
            let mut req = self
                .client
                .create_change_set()
                .stack_name(&request.stack)
                .change_set_name(&request.name)
                .client_token(&request.client_token)
                .change_set_type(ChangeSetType::Update)
                .set_parameters(Some(params.clone()))
                .capabilities(Capability::CapabilityIam)
                .capabilities(Capability::CapabilityNamedIam)
                .capabilities(Capability::CapabilityAutoExpand)
                .description("driftguard remediation");
            req = match &request.template {
                TemplateChoice::Previous => req.use_previous_template(true),
                TemplateChoice::Body(body) => req.template_body(body),
            };
            if request.revert_drift {
                req = req.deployment_mode(DeploymentMode::RevertDrift);
            }
            req.send()
                .await
                .map_err(|e| map_sdk_error(SERVICE, "CreateChangeSet", e))
        })
        .await?;
        Ok(out.id().map(str::to_string))
    }

    async fn describe(
        &self,
        stack: &str,
        name: &str,
        next_token: Option<&str>,
    ) -> PortResult<ChangeSetPage> {
        let out = retry(&self.retry, "cloudformation:DescribeChangeSet", || async {
            self.client
                .describe_change_set()
                .stack_name(stack)
                .change_set_name(name)
                .set_next_token(next_token.map(str::to_string))
                .send()
                .await
                .map_err(|e| map_sdk_error(SERVICE, "DescribeChangeSet", e))
        })
        .await?;
        Ok(ChangeSetPage {
            id: out.change_set_id().map(str::to_string),
            status: out.status().map(|s| s.as_str().to_string()),
            status_reason: out.status_reason().map(str::to_string),
            execution_status: out.execution_status().map(|s| s.as_str().to_string()),
            changes: out
                .changes()
                .iter()
                .filter_map(|c| c.resource_change())
                .map(change_of)
                .collect(),
            next_token: out.next_token().map(str::to_string),
        })
    }

    async fn execute(&self, stack: &str, name: &str, token: &str) -> PortResult<()> {
        retry(&self.retry, "cloudformation:ExecuteChangeSet", || async {
            self.client
                .execute_change_set()
                .stack_name(stack)
                .change_set_name(name)
                .client_request_token(token)
                .send()
                .await
                .map_err(|e| map_sdk_error(SERVICE, "ExecuteChangeSet", e))
        })
        .await
        .map(|_| ())
    }

    async fn delete(&self, stack: &str, name: &str) -> PortResult<()> {
        retry(&self.retry, "cloudformation:DeleteChangeSet", || async {
            self.client
                .delete_change_set()
                .stack_name(stack)
                .change_set_name(name)
                .send()
                .await
                .map_err(|e| map_sdk_error(SERVICE, "DeleteChangeSet", e))
        })
        .await
        .map(|_| ())
    }

    async fn stack_status(&self, stack: &str) -> PortResult<Option<String>> {
        retry(&self.retry, "cloudformation:DescribeStacks", || {
            super::rollbacks::stack_status(&self.client, stack)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    //! Change-set rules against the SDK through [`CfnChangeSets`] and
    //! aws-smithy-mocks; each mock is shaped by the documentation cited in
    //! `remediation::changeset` (DescribeChangeSet, ResourceChange, CreateChangeSet).
    #![allow(clippy::unwrap_used)]
    use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput;
    use aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput;
    use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
    use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
    use aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetOutput;
    use aws_sdk_cloudformation::types::{
        Change, ChangeAction, ChangeSetStatus, DeploymentMode, ExecutionStatus, Parameter,
        Replacement, ResourceChange as SdkChange, Stack, StackStatus,
    };
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};

    use super::*;
    use driftguard_core::ports::remediate::ExecutionError;
    use driftguard_core::remediate::changeset::run;
    use driftguard_core::remediate::executor::WaitPolicy;
    use driftguard_core::testing::plans::revert_plan;
    use driftguard_model::domain::Plan;

    fn stack(status: StackStatus) -> DescribeStacksOutput {
        DescribeStacksOutput::builder()
            .stacks(
                Stack::builder()
                    .stack_name("app")
                    .stack_status(status)
                    .parameters(
                        Parameter::builder()
                            .parameter_key("Level")
                            .parameter_value("info")
                            .build(),
                    )
                    .creation_time(aws_smithy_types::DateTime::from_secs(0))
                    .build(),
            )
            .build()
    }

    fn modify(logical: &str, replacement: Replacement) -> Change {
        Change::builder()
            .resource_change(
                SdkChange::builder()
                    .logical_resource_id(logical)
                    .action(ChangeAction::Modify)
                    .replacement(replacement)
                    .build(),
            )
            .build()
    }

    fn complete(changes: Vec<Change>, next: Option<&str>) -> DescribeChangeSetOutput {
        DescribeChangeSetOutput::builder()
            .status(ChangeSetStatus::CreateComplete)
            .execution_status(ExecutionStatus::Available)
            .set_changes(Some(changes))
            .set_next_token(next.map(str::to_string))
            .build()
    }

    struct Mocks {
        create: Rule,
        execute: Rule,
        delete: Rule,
    }

    fn mocks() -> Mocks {
        Mocks {
            create: mock!(aws_sdk_cloudformation::Client::create_change_set)
                .then_output(|| CreateChangeSetOutput::builder().id("cs-arn").build()),
            execute: mock!(aws_sdk_cloudformation::Client::execute_change_set)
                .then_output(|| ExecuteChangeSetOutput::builder().build()),
            delete: mock!(aws_sdk_cloudformation::Client::delete_change_set)
                .then_output(|| DeleteChangeSetOutput::builder().build()),
        }
    }

    fn stacks_then(statuses: &[StackStatus]) -> Rule {
        let mut b = mock!(aws_sdk_cloudformation::Client::describe_stacks).sequence();
        for s in statuses {
            let s = s.clone();
            b = b.output(move || stack(s.clone()));
        }
        b.repeatedly().build()
    }

    async fn run_with(rules: &[&Rule], plan: &Plan) -> Result<Vec<String>, ExecutionError> {
        let client = mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, rules);
        let port = CfnChangeSets::new(client, RetryPolicy::quick());
        run(&port, plan, &WaitPolicy::quick()).await
    }

    #[tokio::test]
    async fn revert_drift_change_set_touching_only_the_drifted_resource_is_executed() {
        let m = mocks();
        let create = mock!(aws_sdk_cloudformation::Client::create_change_set)
            .match_requests(|r| {
                r.deployment_mode() == Some(&DeploymentMode::RevertDrift)
                    && r.use_previous_template() == Some(true)
                    && r.client_token() == Some("cs1")
                    && r.parameters()
                        .iter()
                        .all(|p| p.use_previous_value() == Some(true))
            })
            .then_output(|| CreateChangeSetOutput::builder().id("cs-arn").build());
        let execute = mock!(aws_sdk_cloudformation::Client::execute_change_set)
            .match_requests(|r| r.client_request_token() == Some("cs1"))
            .then_output(|| ExecuteChangeSetOutput::builder().build());
        let describe = mock!(aws_sdk_cloudformation::Client::describe_change_set)
            .sequence()
            .output(|| {
                DescribeChangeSetOutput::builder()
                    .status(ChangeSetStatus::CreatePending)
                    .execution_status(ExecutionStatus::Unavailable)
                    .build()
            })
            .output(|| complete(vec![modify("Sg", Replacement::False)], None))
            .build();
        let stacks = stacks_then(&[
            StackStatus::UpdateComplete,
            StackStatus::UpdateInProgress,
            StackStatus::UpdateComplete,
        ]);
        let notes = run_with(
            &[&create, &describe, &execute, &stacks, &m.delete],
            &revert_plan(),
        )
        .await
        .unwrap();
        assert_eq!((create.num_calls(), execute.num_calls()), (1, 1));
        assert_eq!(describe.num_calls(), 2);
        assert!(
            notes.iter().any(|n| n.contains("previews: Modify Sg")),
            "{notes:?}"
        );
        assert!(notes.last().unwrap().contains("UPDATE_COMPLETE"));
        assert_eq!(m.delete.num_calls(), 0);
    }

    /// `Replacement` "indicates whether CloudFormation will replace the resource by
    /// creating a new one and deleting the old one": True and Conditional are refused.
    #[tokio::test]
    async fn a_change_set_with_a_replacement_is_refused_and_deleted() {
        for replacement in [Replacement::True, Replacement::Conditional] {
            let m = mocks();
            let r = replacement.clone();
            let describe = mock!(aws_sdk_cloudformation::Client::describe_change_set)
                .then_output(move || complete(vec![modify("Sg", r.clone())], None));
            let stacks = stacks_then(&[StackStatus::UpdateComplete]);
            let err = run_with(
                &[&m.create, &describe, &m.execute, &m.delete, &stacks],
                &revert_plan(),
            )
            .await
            .unwrap_err();
            assert!(
                matches!(&err, ExecutionError::Refused(why) if why.contains("would replace Sg") && why.contains(replacement.as_str())),
                "{err}"
            );
            assert_eq!(m.execute.num_calls(), 0, "nothing executed");
            assert_eq!(m.delete.num_calls(), 1, "the change set is cleaned up");
        }
    }

    /// A drift-aware change set reverts every drifted resource of the stack: a
    /// second drifted resource in it refuses the one-resource revert.
    #[tokio::test]
    async fn a_change_set_reverting_a_second_drifted_resource_is_refused() {
        let m = mocks();
        let describe =
            mock!(aws_sdk_cloudformation::Client::describe_change_set).then_output(|| {
                complete(
                    vec![
                        modify("Sg", Replacement::False),
                        modify("Database", Replacement::False),
                    ],
                    None,
                )
            });
        let stacks = stacks_then(&[StackStatus::UpdateComplete]);
        let err = run_with(
            &[&m.create, &describe, &m.execute, &m.delete, &stacks],
            &revert_plan(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, ExecutionError::Refused(why) if why.contains("would also touch Database")),
            "{err}"
        );
        assert_eq!(m.execute.num_calls(), 0);
        assert_eq!(m.delete.num_calls(), 1);
    }

    /// `NextToken`: "If the output exceeds 1 MB, a string that identifies the next
    /// page of changes." The second page's resource is seen and refuses the set.
    #[tokio::test]
    async fn every_page_of_the_change_set_is_reviewed() {
        let m = mocks();
        let first = mock!(aws_sdk_cloudformation::Client::describe_change_set)
            .match_requests(|r| r.next_token().is_none())
            .then_output(|| complete(vec![modify("Sg", Replacement::False)], Some("page-2")));
        let second = mock!(aws_sdk_cloudformation::Client::describe_change_set)
            .match_requests(|r| r.next_token() == Some("page-2"))
            .then_output(|| complete(vec![modify("Database", Replacement::True)], None));
        let stacks = stacks_then(&[StackStatus::UpdateComplete]);
        let err = run_with(
            &[&m.create, &first, &second, &m.execute, &m.delete, &stacks],
            &revert_plan(),
        )
        .await
        .unwrap_err();
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
        assert!(
            matches!(&err, ExecutionError::Refused(why) if why.contains("Database")),
            "{err}"
        );
        assert_eq!(m.execute.num_calls(), 0);
    }

    /// `ExecutionStatus`: "If the change set execution status is AVAILABLE, you can
    /// execute the change set." OBSOLETE ("the stack was already updated") is refused.
    #[tokio::test]
    async fn a_change_set_that_is_not_available_is_not_executed() {
        let m = mocks();
        let describe =
            mock!(aws_sdk_cloudformation::Client::describe_change_set).then_output(|| {
                DescribeChangeSetOutput::builder()
                    .status(ChangeSetStatus::CreateComplete)
                    .execution_status(ExecutionStatus::Obsolete)
                    .changes(modify("Sg", Replacement::False))
                    .build()
            });
        let stacks = stacks_then(&[StackStatus::UpdateComplete]);
        let err = run_with(
            &[&m.create, &describe, &m.execute, &m.delete, &stacks],
            &revert_plan(),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("OBSOLETE, not AVAILABLE"), "{err}");
        assert_eq!(m.execute.num_calls(), 0);
    }

    #[tokio::test]
    async fn an_empty_revert_drift_change_set_is_refused() {
        let m = mocks();
        let describe = mock!(aws_sdk_cloudformation::Client::describe_change_set)
            .then_output(|| complete(vec![], None));
        let stacks = stacks_then(&[StackStatus::UpdateComplete]);
        let err = run_with(&[&m.create, &describe, &m.delete, &stacks], &revert_plan())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ExecutionError::Refused(why) if why.contains("no changes")),
            "{err}"
        );
    }

    /// A stack still updating when the polls run out is handed over (Ok, with a
    /// note), not reported as a failure that would open the circuit breaker.
    #[tokio::test]
    async fn a_slow_update_is_handed_over_not_failed() {
        let m = mocks();
        let describe = mock!(aws_sdk_cloudformation::Client::describe_change_set)
            .then_output(|| complete(vec![modify("Sg", Replacement::False)], None));
        let stacks = stacks_then(&[StackStatus::UpdateComplete, StackStatus::UpdateInProgress]);
        let notes = run_with(
            &[&m.create, &describe, &m.execute, &m.delete, &stacks],
            &revert_plan(),
        )
        .await
        .unwrap();
        assert_eq!(m.execute.num_calls(), 1);
        assert!(notes.last().unwrap().contains("handed over"), "{notes:?}");
    }
}
