//! [`DeploymentProbe`] over the AWS SDK: the read-only calls `driftguard
//! doctor` makes (CloudFormation, CloudTrail, Config, EventBridge, SQS, SSM,
//! Secrets Manager, DynamoDB, IAM). Nothing here writes.
use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_cloudtrail::types::{AdvancedEventSelector, EventSelector, ReadWriteType};
use aws_sdk_sqs::types::QueueAttributeName;

use super::errors::map_sdk_error;
use driftguard_core::ports::deployment::{
    DeploymentProbe, ManagementEvents, RecorderFacts, RuleFacts, StackFacts, StackResource,
    TrailFacts,
};
use driftguard_model::error::{PortError, PortResult};

/// The probe for one account, home region from `sdk`; trails are read in
/// each region asked for.
#[derive(Debug, Clone)]
pub struct AwsDeploymentProbe {
    sdk: SdkConfig,
}

impl AwsDeploymentProbe {
    pub fn new(sdk: &SdkConfig) -> Self {
        Self { sdk: sdk.clone() }
    }

    fn trail_client(&self, region: &str) -> aws_sdk_cloudtrail::Client {
        let config = self
            .sdk
            .to_builder()
            .region(aws_config::Region::new(region.to_string()))
            .build();
        aws_sdk_cloudtrail::Client::new(&config)
    }
}

/// `Ok(None)` for a NotFound, the error otherwise.
fn absent<T>(r: PortResult<T>) -> PortResult<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(PortError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether basic or advanced selectors keep management write events. "By
/// default, trails created without specific event selectors will be
/// configured to log all read and write management events" and a selector's
/// `IncludeManagementEvents` / `ReadWriteType` default to true / All (the
/// SDK's `EventSelector` docs, from the CloudTrail API reference,
/// <https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_EventSelector.html>).
pub fn management_events(
    basic: &[EventSelector],
    advanced: &[AdvancedEventSelector],
) -> ManagementEvents {
    if basic.is_empty() && advanced.is_empty() {
        return ManagementEvents::Writes;
    }
    let basic_writes = basic.iter().any(|s| {
        s.include_management_events().unwrap_or(true)
            && !matches!(s.read_write_type(), Some(ReadWriteType::ReadOnly))
    });
    let advanced_writes = advanced.iter().any(|s| {
        let fields = s.field_selectors();
        let management = fields
            .iter()
            .any(|f| f.field() == "eventCategory" && f.equals().iter().any(|v| v == "Management"));
        let read_only = fields
            .iter()
            .any(|f| f.field() == "readOnly" && f.equals().iter().any(|v| v == "true"));
        management && !read_only
    });
    if basic_writes || advanced_writes {
        ManagementEvents::Writes
    } else if basic.is_empty() {
        ManagementEvents::Excluded(
            "its advanced event selectors keep no management write events (eventCategory = Management without readOnly = true)".into(),
        )
    } else {
        ManagementEvents::Excluded(
            "its event selectors exclude management events or keep only ReadOnly ones".into(),
        )
    }
}

impl AwsDeploymentProbe {
    async fn stack_resources(&self, name: &str) -> PortResult<Vec<StackResource>> {
        let cfn = aws_sdk_cloudformation::Client::new(&self.sdk);
        let mut pages = cfn
            .list_stack_resources()
            .stack_name(name)
            .into_paginator()
            .send();
        let mut resources = Vec::new();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| map_sdk_error("cloudformation", "ListStackResources", e))?;
            for r in page.stack_resource_summaries() {
                resources.push(StackResource {
                    logical_id: r.logical_resource_id().unwrap_or_default().to_string(),
                    resource_type: r.resource_type().unwrap_or_default().to_string(),
                    physical_id: r.physical_resource_id().unwrap_or_default().to_string(),
                });
            }
        }
        Ok(resources)
    }

    async fn describe_trails(
        &self,
        region: &str,
    ) -> PortResult<Vec<aws_sdk_cloudtrail::types::Trail>> {
        let out = self
            .trail_client(region)
            .describe_trails()
            .include_shadow_trails(true)
            .send()
            .await
            .map_err(|e| map_sdk_error("cloudtrail", "DescribeTrails", e))?;
        Ok(out.trail_list().to_vec())
    }

    async fn trail(
        &self,
        client: &aws_sdk_cloudtrail::Client,
        t: &aws_sdk_cloudtrail::types::Trail,
    ) -> PortResult<TrailFacts> {
        // "To get the status of a shadow trail (a replication of the trail in
        // another Region), you must specify its ARN" (GetTrailStatus, SDK docs).
        let arn = t.trail_arn().or(t.name()).unwrap_or_default().to_string();
        let status = client
            .get_trail_status()
            .name(&arn)
            .send()
            .await
            .map_err(|e| map_sdk_error("cloudtrail", "GetTrailStatus", e))?;
        let selectors = client
            .get_event_selectors()
            .trail_name(&arn)
            .send()
            .await
            .map_err(|e| map_sdk_error("cloudtrail", "GetEventSelectors", e))?;
        Ok(TrailFacts {
            name: t.name().unwrap_or_default().to_string(),
            arn,
            home_region: t.home_region().unwrap_or_default().to_string(),
            multi_region: t.is_multi_region_trail().unwrap_or(false),
            include_global_service_events: t.include_global_service_events().unwrap_or(false),
            logging: status.is_logging().unwrap_or(false),
            management_events: management_events(
                selectors.event_selectors(),
                selectors.advanced_event_selectors(),
            ),
        })
    }
}

#[async_trait]
impl DeploymentProbe for AwsDeploymentProbe {
    async fn stack(&self, name: &str) -> PortResult<Option<StackFacts>> {
        let cfn = aws_sdk_cloudformation::Client::new(&self.sdk);
        let described = cfn.describe_stacks().stack_name(name).send().await;
        let out = match described {
            Ok(out) => out,
            // CloudFormation says a missing stack with a ValidationError
            // "Stack with id NAME does not exist".
            Err(e) if format!("{e:?}").contains("does not exist") => return Ok(None),
            Err(e) => return Err(map_sdk_error("cloudformation", "DescribeStacks", e)),
        };
        let Some(stack) = out.stacks().first() else {
            return Ok(None);
        };
        let parameters: BTreeMap<String, String> = stack
            .parameters()
            .iter()
            .filter_map(|p| {
                Some((
                    p.parameter_key()?.to_string(),
                    p.resolved_value()
                        .or(p.parameter_value())
                        .unwrap_or_default()
                        .to_string(),
                ))
            })
            .collect();
        Ok(Some(StackFacts {
            name: stack.stack_name().unwrap_or(name).to_string(),
            status: stack
                .stack_status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            parameters,
            resources: self.stack_resources(name).await?,
        }))
    }

    /// The trails that apply in `region`: those `DescribeTrails` lists there
    /// (shadow trails included: "A shadow trail is the replication in a
    /// Region of a trail that was created in a different Region"), plus the
    /// home region's multi-region trails ("Specifies whether the trail exists
    /// only in one Region or exists in all Regions", `IsMultiRegionTrail`;
    /// both from the SDK's CloudTrail docs), in case the listing there lacks
    /// the replica. Status and selectors are read in each trail's home region.
    async fn trails(&self, region: &str) -> PortResult<Vec<TrailFacts>> {
        let mut listed = self.describe_trails(region).await?;
        let home = self.sdk.region().map(|r| r.to_string()).unwrap_or_default();
        if !home.is_empty() && home != region {
            for t in self.describe_trails(&home).await? {
                let known = listed.iter().any(|l| l.trail_arn() == t.trail_arn());
                if t.is_multi_region_trail() == Some(true) && !known {
                    listed.push(t);
                }
            }
        }
        let mut trails = Vec::new();
        for t in &listed {
            let client = self.trail_client(t.home_region().unwrap_or(region));
            trails.push(self.trail(&client, t).await?);
        }
        Ok(trails)
    }

    async fn recorders(&self) -> PortResult<Vec<RecorderFacts>> {
        let config = aws_sdk_config::Client::new(&self.sdk);
        let out = config
            .describe_configuration_recorder_status()
            .send()
            .await
            .map_err(|e| map_sdk_error("config", "DescribeConfigurationRecorderStatus", e))?;
        Ok(out
            .configuration_recorders_status()
            .iter()
            .map(|s| RecorderFacts {
                name: s.name().unwrap_or_default().to_string(),
                recording: s.recording(),
            })
            .collect())
    }

    async fn rule(&self, bus: Option<&str>, name: &str) -> PortResult<Option<RuleFacts>> {
        let events = aws_sdk_eventbridge::Client::new(&self.sdk);
        let described = absent(
            events
                .describe_rule()
                .name(name)
                .set_event_bus_name(bus.map(str::to_string))
                .send()
                .await
                .map_err(|e| map_sdk_error("events", "DescribeRule", e)),
        )?;
        let Some(rule) = described else {
            return Ok(None);
        };
        let targets = events
            .list_targets_by_rule()
            .rule(name)
            .set_event_bus_name(bus.map(str::to_string))
            .send()
            .await
            .map_err(|e| map_sdk_error("events", "ListTargetsByRule", e))?;
        Ok(Some(RuleFacts {
            name: name.to_string(),
            state: rule
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            targets: targets.targets().len(),
        }))
    }

    async fn queue_depth(&self, queue_url: &str) -> PortResult<u64> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        // `Ref` of an `AWS::SQS::Queue` is its URL; a bare name is resolved.
        let url = if queue_url.contains("://") {
            queue_url.to_string()
        } else {
            sqs.get_queue_url()
                .queue_name(queue_url)
                .send()
                .await
                .map_err(|e| map_sdk_error("sqs", "GetQueueUrl", e))?
                .queue_url()
                .unwrap_or(queue_url)
                .to_string()
        };
        let out = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .map_err(|e| map_sdk_error("sqs", "GetQueueAttributes", e))?;
        Ok(out
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }

    async fn parameter(&self, name: &str) -> PortResult<Option<String>> {
        let ssm = aws_sdk_ssm::Client::new(&self.sdk);
        let out = absent(
            ssm.get_parameter()
                .name(name)
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| map_sdk_error("ssm", "GetParameter", e)),
        )?;
        Ok(out.and_then(|o| o.parameter().and_then(|p| p.value()).map(str::to_string)))
    }

    async fn secret(&self, id: &str) -> PortResult<Option<String>> {
        let sm = aws_sdk_secretsmanager::Client::new(&self.sdk);
        let out = absent(
            sm.get_secret_value()
                .secret_id(id)
                .send()
                .await
                .map_err(|e| map_sdk_error("secretsmanager", "GetSecretValue", e)),
        )?;
        Ok(out.and_then(|o| o.secret_string().map(str::to_string)))
    }

    async fn table_status(&self, name: &str) -> PortResult<Option<String>> {
        let ddb = aws_sdk_dynamodb::Client::new(&self.sdk);
        let out = absent(
            ddb.describe_table()
                .table_name(name)
                .send()
                .await
                .map_err(|e| map_sdk_error("dynamodb", "DescribeTable", e)),
        )?;
        Ok(out.and_then(|o| {
            o.table()
                .and_then(|t| t.table_status())
                .map(|s| s.as_str().to_string())
        }))
    }

    async fn bus_exists(&self, name: &str) -> PortResult<bool> {
        let events = aws_sdk_eventbridge::Client::new(&self.sdk);
        let out = absent(
            events
                .describe_event_bus()
                .name(name)
                .send()
                .await
                .map_err(|e| map_sdk_error("events", "DescribeEventBus", e)),
        )?;
        Ok(out.is_some())
    }

    async fn role_arn(&self, name: &str) -> PortResult<Option<String>> {
        let iam = aws_sdk_iam::Client::new(&self.sdk);
        let out = absent(
            iam.get_role()
                .role_name(name)
                .send()
                .await
                .map_err(|e| map_sdk_error("iam", "GetRole", e)),
        )?;
        Ok(out.and_then(|o| o.role().map(|r| r.arn().to_string())))
    }

    async fn role_id(&self, name: &str) -> PortResult<Option<String>> {
        let iam = aws_sdk_iam::Client::new(&self.sdk);
        let out = absent(
            iam.get_role()
                .role_name(name)
                .send()
                .await
                .map_err(|e| map_sdk_error("iam", "GetRole", e)),
        )?;
        Ok(out.and_then(|o| o.role().map(|r| r.role_id().to_string())))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_cloudtrail::types::AdvancedFieldSelector;

    fn basic(include: Option<bool>, rw: Option<ReadWriteType>) -> EventSelector {
        EventSelector::builder()
            .set_include_management_events(include)
            .set_read_write_type(rw)
            .build()
    }

    fn advanced(fields: &[(&str, &str)]) -> AdvancedEventSelector {
        let mut b = AdvancedEventSelector::builder();
        for (field, value) in fields {
            b = b.field_selectors(
                AdvancedFieldSelector::builder()
                    .field(*field)
                    .equals(*value)
                    .build()
                    .unwrap(),
            );
        }
        b.build().unwrap()
    }

    #[test]
    fn selectors_that_keep_management_writes() {
        let writes = ManagementEvents::Writes;
        assert_eq!(
            management_events(&[], &[]),
            writes,
            "no selectors: the default logs all"
        );
        assert_eq!(management_events(&[basic(None, None)], &[]), writes);
        assert_eq!(
            management_events(&[basic(Some(true), Some(ReadWriteType::WriteOnly))], &[]),
            writes
        );
        assert_eq!(
            management_events(&[], &[advanced(&[("eventCategory", "Management")])]),
            writes
        );
    }

    #[test]
    fn selectors_that_drop_management_writes() {
        for basic_only in [
            vec![basic(Some(false), None)],
            vec![basic(Some(true), Some(ReadWriteType::ReadOnly))],
        ] {
            assert!(matches!(
                management_events(&basic_only, &[]),
                ManagementEvents::Excluded(_)
            ));
        }
        for adv in [
            advanced(&[
                ("eventCategory", "Data"),
                ("resources.type", "AWS::S3::Object"),
            ]),
            advanced(&[("eventCategory", "Management"), ("readOnly", "true")]),
        ] {
            assert!(matches!(
                management_events(&[], &[adv]),
                ManagementEvents::Excluded(_)
            ));
        }
    }
}
