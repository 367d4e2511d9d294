//! The physical-id forms worth trying for a resource: a CloudTrail event does
//! not always name it the way CloudFormation's `PhysicalResourceId` does. The
//! forms themselves are the model's (`sources::identifiers::physical_id_forms`),
//! shared with the identifiers of writes no operation row lists.
use driftguard_model::domain::ResourceRef;
use driftguard_model::sources::identifiers::physical_id_forms;

/// The physical-id forms worth trying for a resource, most specific first.
pub fn physical_id_candidates(resource: &ResourceRef) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let resource_type = resource.resource_type.as_deref();
    for id in [resource.physical_id.as_deref(), resource.arn.as_deref()]
        .into_iter()
        .flatten()
    {
        for form in physical_id_forms(id, resource_type) {
            if !out.contains(&form) {
                out.push(form);
            }
        }
    }
    out
}
