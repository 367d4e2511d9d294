//! A topic's or queue's access policy, as the template declares it: the
//! `PolicyDocument` of the one `AWS::SNS::TopicPolicy` (`Topics`) or
//! `AWS::SQS::QueuePolicy` (`Queues`) that names the resource. Shared by
//! `topic_attributes` and `queue_attributes`: `SetTopicAttributes(Policy)`,
//! `AddPermission` and `RemovePermission` all change that one policy
//! (`sources::operations::PROPERTIES`), and all are undone by setting the
//! template's document again — not by the opposite `*Permission` call, which
//! would leave any other change to the policy in place.
use serde_json::Value;

use crate::remediate::planner::PlanInput;
use crate::remediate::template::Lookup;

/// Which policy resource type declares the access policy of which resource.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PolicyOf {
    /// `AWS::SNS::TopicPolicy` / `AWS::SQS::QueuePolicy`.
    pub policy_type: &'static str,
    /// Its list property naming the resources it applies to (`Topics`, `Queues`).
    pub targets: &'static str,
}

pub(crate) const TOPIC_POLICY: PolicyOf = PolicyOf {
    policy_type: "AWS::SNS::TopicPolicy",
    targets: "Topics",
};

pub(crate) const QUEUE_POLICY: PolicyOf = PolicyOf {
    policy_type: "AWS::SQS::QueuePolicy",
    targets: "Queues",
};

/// The template's policy document for the resource (logical id from the
/// ticket's membership, physical id `physical`), as the JSON text the API
/// takes, or why it cannot be restored: no template, no policy resource names
/// it (the service's own default policy is not known for certain), two do, or
/// the document is not a literal.
pub(crate) fn declared_policy(
    i: &PlanInput<'_>,
    of: PolicyOf,
    physical: &str,
) -> Result<String, String> {
    let template = i.template.map_err(|why| {
        format!("the template is not available ({why}): the access policy to restore is unknown")
    })?;
    let logical = i.membership.logical_id.as_str();
    let naming: Vec<&str> = template
        .resources_of_type(of.policy_type)
        .filter(|(_, body)| {
            body.get("Properties")
                .and_then(|p| p.get(of.targets))
                .and_then(Value::as_array)
                .is_some_and(|items| {
                    items
                        .iter()
                        .any(|t| template.names_resource(t, logical, physical))
                })
        })
        .map(|(id, _)| id)
        .collect();
    let policy_id = match naming.as_slice() {
        [one] => *one,
        [] => {
            return Err(format!(
                "no {} of the template names {logical}: the policy it should have is not known for certain",
                of.policy_type
            ))
        }
        several => {
            return Err(format!(
                "{} {} resources name {logical} ({}): which document applies is not known",
                several.len(),
                of.policy_type,
                several.join(", ")
            ))
        }
    };
    match template.property(policy_id, "PolicyDocument") {
        Lookup::Found(document) => Ok(document.to_string()),
        Lookup::Absent => Err(format!("{policy_id} has no PolicyDocument")),
        Lookup::NotLiteral(why) => Err(why),
    }
}

/// Two policy texts say the same when they parse to the same JSON (services
/// return their own spacing and key order); otherwise compare the text.
pub(crate) fn same_policy(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}
