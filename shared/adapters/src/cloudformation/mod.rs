//! CloudFormation: which stack owns a resource ([`CfnStackCatalog`]) and what
//! CloudFormation thinks drifted ([`CfnDriftDetector`]).
//!
//! Ownership is resolved in two ways:
//! 1. the reverse lookup `DescribeStackResources(PhysicalResourceId)`, cached per
//!    container with a TTL ("stack for X does not exist" proves `Unmanaged`);
//! 2. when that call is unavailable (throttled past the SDK's retries, or an
//!    emulator without it), an [`OwnershipIndex`] built from `ListStacks` +
//!    `ListStackResources` (paged, cached; the sweep reuses it).
//!
//! A CloudTrail event does not always name a resource the way CloudFormation's
//! `PhysicalResourceId` does (an ARN instead of a role, function or bucket name;
//! a parameter name with or without its leading slash): [`physical_id_candidates`]
//! lists every form worth trying.
//!
//! - `catalog`: [`CfnStackCatalog`], its settings, and the [`StackCatalog`]
//!   port over it; `reverse`: the reverse lookup and its cache; `index`: the
//!   [`OwnershipIndex`] and its resumable build; `candidates`: the physical-id
//!   forms; `stacks`: `DescribeStacks` / `ListStackResources` entries read.
//! - `multi_region`: [`MultiRegionCatalog`] and [`MultiRegionDriftDetector`]
//!   for global services.
//! - `drift`: [`CfnDriftDetector`] and [`drift_from_sdk`].
//!
//! [`StackCatalog`]: driftguard_core::ports::StackCatalog
mod candidates;
mod catalog;
mod drift;
mod index;
mod multi_region;
mod reverse;
mod stacks;
mod unique_ids;

#[cfg(test)]
mod difference_value_tests;
#[cfg(test)]
mod identifiers_tests;
#[cfg(test)]
mod tests;

pub use self::candidates::physical_id_candidates;
pub use self::catalog::{CatalogSettings, CfnStackCatalog};
pub use self::drift::{drift_from_sdk, CfnDriftDetector};
pub use self::index::{OwnerRecord, OwnershipIndex};
pub use self::multi_region::{
    region_of_stack_arn, MultiRegionCatalog, MultiRegionDriftDetector, STACK_ID_TAG,
};
// For `crate::sweep`, which reads the same SDK shapes.
#[cfg(feature = "sweep")]
pub(crate) use self::stacks::{resource_summary_from_sdk, summary_from_stack};

const SERVICE: &str = "cloudformation";
