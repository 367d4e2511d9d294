//! Several regions behind one catalog and one drift detector: global
//! resources (IAM) looked up where their stack is, drift detected there.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use driftguard_core::ports::{
    DriftDetector, IdentifiedCall, IdentifiedOwner, StackCatalog, StackResourceSummary,
    StackSummary,
};
use driftguard_core::sync::lock;
use driftguard_model::domain::{Drift, Ownership, ResourceRef};
use driftguard_model::error::{PortError, PortResult};

use super::catalog::CfnStackCatalog;
use super::drift::CfnDriftDetector;
use super::unique_ids::UniqueIds;
use super::SERVICE;
use crate::errors::map_sdk_error;

/// The tag CloudFormation puts on the resources it creates, naming the stack.
pub const STACK_ID_TAG: &str = "aws:cloudformation:stack-id";

/// `arn:aws:cloudformation:<region>:...` → `<region>`.
pub fn region_of_stack_arn(stack_id: &str) -> Option<&str> {
    let mut parts = stack_id.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("cloudformation"), Some(region)) if !region.is_empty() => {
            Some(region)
        }
        _ => None,
    }
}

/// [`StackCatalog`] over the watched regions, for global services. IAM's events
/// reach a us-east-1 deployment only ("For most global services, events are logged
/// as occurring in US East (N. Virginia) Region",
/// <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-concepts.html#cloudtrail-concepts-global-service-events>),
/// while the role's stack may live in any region. For a global resource: the
/// role's `aws:cloudformation:stack-id` tag (`ListRoleTags`) goes straight to the
/// right region; otherwise each watched region is asked (each catalog caches its
/// answers). Regional resources are looked up in the home region only.
#[derive(Debug)]
pub struct MultiRegionCatalog {
    /// Home region first.
    regions: Vec<(String, CfnStackCatalog)>,
    iam: Option<aws_sdk_iam::Client>,
    /// Stack name or id → region, learnt from ownership answers (drift routing).
    stack_regions: Mutex<HashMap<String, String>>,
    /// IAM unique ids → names, for identifiers of writes no row lists.
    unique_ids: tokio::sync::Mutex<UniqueIds>,
}

impl MultiRegionCatalog {
    /// `regions`: (region, catalog), the home region first; `iam` for role tags.
    pub fn new(regions: Vec<(String, CfnStackCatalog)>, iam: Option<aws_sdk_iam::Client>) -> Self {
        Self {
            regions,
            iam,
            stack_regions: Mutex::new(HashMap::new()),
            unique_ids: tokio::sync::Mutex::new(UniqueIds::default()),
        }
    }

    /// An IAM client for the role-tag lookup (IAM is global: any region's endpoint).
    pub fn iam_client(sdk: &aws_config::SdkConfig) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(sdk)
    }

    /// The region a stack was found in; `None`: the home region.
    pub fn region_of_stack(&self, stack: &str) -> Option<String> {
        region_of_stack_arn(stack)
            .map(str::to_string)
            .or_else(|| lock(&self.stack_regions).get(stack).cloned())
    }

    fn catalog_for_stack(&self, stack: &str) -> PortResult<&CfnStackCatalog> {
        let region = self.region_of_stack(stack);
        self.regions
            .iter()
            .find(|(r, _)| region.as_deref().is_none_or(|want| want == r))
            .map(|(_, c)| c)
            .ok_or_else(|| PortError::Failed {
                service: SERVICE,
                operation: "DescribeStacks",
                message: format!("stack {stack} is in region {region:?}, which is not watched"),
            })
    }

    /// The region named by the role's `aws:cloudformation:stack-id` tag, if any.
    /// Only a routing hint ("aws:" tags are reserved: "You can't create, edit, or
    /// delete tag keys that begin with aws:",
    /// https://docs.aws.amazon.com/IAM/latest/UserGuide/id_tags.html): ownership is
    /// still proven by that region's CloudFormation.
    async fn tagged_region(&self, resource: &ResourceRef) -> Option<String> {
        let iam = self.iam.as_ref()?;
        if resource.resource_type.as_deref() != Some("AWS::IAM::Role") {
            return None;
        }
        let id = resource.physical_id.as_deref()?;
        let name = id.rsplit('/').next().filter(|n| !n.is_empty())?;
        // ListRoleTags: "Lists the tags that are attached to the specified role."
        // (aws-sdk-iam 1.133; https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListRoleTags.html)
        match iam.list_role_tags().role_name(name).send().await {
            Ok(out) => out
                .tags()
                .iter()
                .find(|t| t.key() == STACK_ID_TAG)
                .and_then(|t| region_of_stack_arn(t.value()))
                .map(str::to_string),
            Err(e) => {
                let e = map_sdk_error("iam", "ListRoleTags", e);
                tracing::info!(role = name, error = %e, "role tags unavailable: asking every watched region");
                None
            }
        }
    }

    fn remember(&self, region: &str, ownership: &Ownership) {
        if let Ownership::Managed(m) = ownership {
            let mut map = lock(&self.stack_regions);
            map.insert(m.stack_name.clone(), region.to_string());
            map.insert(m.stack_id.clone(), region.to_string());
        }
    }

    async fn owner_in_every_region(&self, resource: &ResourceRef) -> PortResult<Ownership> {
        let mut unknown: Option<String> = None;
        for (region, catalog) in &self.regions {
            match catalog.owner_of(resource).await {
                Ok(o @ Ownership::Managed(_)) => {
                    self.remember(region, &o);
                    return Ok(o);
                }
                Ok(Ownership::Unmanaged) => {}
                Ok(other) => unknown = Some(format!("{region}: {}", other.label())),
                Err(e) if e.is_retryable() => return Err(e),
                Err(e) => unknown = Some(format!("{region}: {e}")),
            }
        }
        // Unmanaged only when every watched region proved it.
        Ok(match unknown {
            Some(reason) => Ownership::Unknown { reason },
            None => Ownership::Unmanaged,
        })
    }
}

#[async_trait]
impl StackCatalog for MultiRegionCatalog {
    async fn owner_of(&self, resource: &ResourceRef) -> PortResult<Ownership> {
        let Some((home, home_catalog)) = self.regions.first() else {
            return Ok(Ownership::Unknown {
                reason: "no watched region".into(),
            });
        };
        let global = resource
            .resource_type
            .as_deref()
            .is_some_and(crate::cloudtrail::is_global_service_type);
        if !global || self.regions.len() == 1 {
            let o = home_catalog.owner_of(resource).await?;
            self.remember(home, &o);
            return Ok(o);
        }
        if let Some(region) = self.tagged_region(resource).await {
            if let Some((r, catalog)) = self.regions.iter().find(|(r, _)| *r == region) {
                let o = catalog.owner_of(resource).await?;
                tracing::info!(resource = %resource.label(), region = %r, owner = %o.label(), "owner looked up in the region the stack-id tag names");
                if matches!(o, Ownership::Managed(_)) {
                    self.remember(r, &o);
                    return Ok(o);
                }
            }
        }
        self.owner_in_every_region(resource).await
    }

    /// IAM unique ids first become names (one cached listing); a global
    /// service's identifiers are looked up in every watched region's index (the
    /// owning stack may be in any), a regional one's in the home region's.
    async fn owner_of_identifiers(&self, call: &IdentifiedCall<'_>) -> PortResult<IdentifiedOwner> {
        let Some((home, home_catalog)) = self.regions.first() else {
            return Ok(IdentifiedOwner {
                ownership: Ownership::Unknown {
                    reason: "no watched region".into(),
                },
                identifier: None,
            });
        };
        let (identifiers, listed) = match &self.iam {
            Some(iam) => {
                let max_age = home_catalog.settings.index_ttl;
                let mut unique = self.unique_ids.lock().await;
                unique
                    .resolve(iam, call.identifiers, call.listed, max_age)
                    .await
            }
            None => (call.identifiers.to_vec(), call.listed),
        };
        let call = IdentifiedCall {
            identifiers: &identifiers,
            listed,
            ..*call
        };
        let regions: &[(String, CfnStackCatalog)] = if is_global_service(call.service) {
            &self.regions
        } else {
            std::slice::from_ref(&self.regions[0])
        };
        let mut unknown: Option<IdentifiedOwner> = None;
        for (region, catalog) in regions {
            let found = catalog.owner_of_identifiers(&call).await?;
            match &found.ownership {
                Ownership::Managed(_) => {
                    self.remember(region, &found.ownership);
                    return Ok(found);
                }
                Ownership::Unmanaged => {}
                _ => unknown = unknown.or(Some(found)),
            }
        }
        tracing::debug!(home = %home, service = call.service, "no identifier matched a managed resource");
        Ok(unknown.unwrap_or(IdentifiedOwner {
            ownership: Ownership::Unmanaged,
            identifier: None,
        }))
    }

    async fn describe_stack(&self, stack: &str) -> PortResult<Option<StackSummary>> {
        self.catalog_for_stack(stack)?.describe_stack(stack).await
    }

    /// The home region's stacks (the sweep's scope).
    async fn list_stacks(&self) -> PortResult<Vec<StackSummary>> {
        match self.regions.first() {
            Some((_, c)) => c.list_stacks().await,
            None => Ok(Vec::new()),
        }
    }

    async fn list_stack_resources(&self, stack: &str) -> PortResult<Vec<StackResourceSummary>> {
        self.catalog_for_stack(stack)?
            .list_stack_resources(stack)
            .await
    }
}

/// Services whose resources a stack in any region may own while their events
/// arrive in us-east-1 only, so an unlisted write is looked up in every
/// watched region: IAM (see [`MultiRegionCatalog`]), CloudFront ("events
/// created by Amazon CloudFront, AWS Identity and Access Management, and AWS
/// STS are recorded in the Region in which they were created, the US East
/// (N. Virginia) Region, us-east-1",
/// <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-create-and-update-a-trail-by-using-the-aws-cli-update-trail.html>)
/// and Route 53 ("AWS global services, such as … IAM and Amazon Route 53 …
/// The default event bus for the us-east-1 Region receives all events that the
/// global services generate",
/// <https://repost.aws/knowledge-center/eventbridge-rule-triggers-iam-single-region>).
fn is_global_service(service: &str) -> bool {
    matches!(service, "iam" | "cloudfront" | "route53")
}

/// [`DriftDetector`] routed to the region the [`MultiRegionCatalog`] found the
/// stack in (home region otherwise).
#[derive(Debug)]
pub struct MultiRegionDriftDetector {
    catalog: Arc<MultiRegionCatalog>,
    /// Home region first.
    detectors: Vec<(String, CfnDriftDetector)>,
}

impl MultiRegionDriftDetector {
    pub fn new(
        catalog: Arc<MultiRegionCatalog>,
        detectors: Vec<(String, CfnDriftDetector)>,
    ) -> Self {
        Self { catalog, detectors }
    }
}

#[async_trait]
impl DriftDetector for MultiRegionDriftDetector {
    async fn detect_resource_drift(&self, stack: &str, logical_id: &str) -> PortResult<Drift> {
        let region = self.catalog.region_of_stack(stack);
        let detector = self
            .detectors
            .iter()
            .find(|(r, _)| region.as_deref().is_none_or(|want| want == r))
            .map(|(_, d)| d)
            .ok_or_else(|| PortError::Unsupported {
                service: SERVICE,
                operation: "DetectStackResourceDrift",
                message: "no watched region".into(),
            })?;
        detector.detect_resource_drift(stack, logical_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::is_global_service;

    #[test]
    fn writes_delivered_in_us_east_1_only_are_looked_up_in_every_region() {
        for service in ["iam", "cloudfront", "route53"] {
            assert!(is_global_service(service), "{service}");
        }
        assert!(!is_global_service("s3"));
        assert!(!is_global_service("ec2"));
    }
}
