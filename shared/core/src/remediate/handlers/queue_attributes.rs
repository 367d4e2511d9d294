//! SQS queue attributes: `SetQueueAttributes` is undone by setting the
//! template's values of the changed attributes again (SQS's documented
//! defaults where the template leaves one out and a default is documented).
//! Read back with `GetQueueAttributes`.
use std::collections::BTreeMap;

use serde_json::Value;

use super::{as_api_string, expected, mismatched, target_id, verdict, Handler, Undo};
use crate::ports::remediate::{Observed, ReadBack};
use crate::remediate::call::{Call, SetQueueAttributes};
use crate::remediate::planner::PlanInput;
use crate::remediate::template::Lookup;
use driftguard_model::domain::Change;

pub const HANDLER: Handler = Handler {
    family: "queue_attributes",
    description: "set the template's values of the changed queue attributes again (SQS's documented defaults when absent)",
    undoes: &["sqs:SetQueueAttributes"],
    permissions: &["sqs:SetQueueAttributes", "sqs:GetQueueAttributes"],
    plan,
};

/// SQS attributes CloudFormation names the same way, and the documented defaults
/// for the ones a template may leave out
/// (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html>).
const QUEUE_ATTRIBUTES: [(&str, Option<&str>); 10] = [
    ("VisibilityTimeout", Some("30")),
    ("DelaySeconds", Some("0")),
    ("ReceiveMessageWaitTimeSeconds", Some("0")),
    ("MessageRetentionPeriod", Some("345600")),
    ("MaximumMessageSize", None),
    ("KmsMasterKeyId", None),
    ("KmsDataKeyReusePeriodSeconds", None),
    ("SqsManagedSseEnabled", None),
    ("RedrivePolicy", None),
    ("RedriveAllowPolicy", None),
];

fn restored_value(i: &PlanInput<'_>, name: &str) -> Result<String, String> {
    let Some((_, default)) = QUEUE_ATTRIBUTES.iter().find(|(n, _)| *n == name) else {
        return Err(format!(
            "queue attribute {name} is not restored by this handler"
        ));
    };
    match (expected(i, name), default) {
        (Lookup::Found(v), _) => Ok(as_api_string(&v)),
        (Lookup::Absent, Some(d)) => Ok(d.to_string()),
        (Lookup::Absent, None) => Err(format!(
            "the template does not set {name}: its default is not known for certain"
        )),
        (Lookup::NotLiteral(why), _) => Err(why),
    }
}

fn plan(i: &PlanInput<'_>, change: &Change) -> Result<Undo, String> {
    let queue = target_id(i, change, "queueUrl")?;
    let changed = change
        .request
        .get("attributes")
        .and_then(Value::as_object)
        .ok_or("the request has no attributes")?;
    let attributes = changed
        .keys()
        .map(|name| Ok((name.clone(), restored_value(i, name)?)))
        .collect::<Result<BTreeMap<_, _>, String>>()?;
    if attributes.is_empty() {
        return Err("the request changes no attribute".into());
    }
    let names = attributes.keys().cloned().collect::<Vec<_>>().join(", ");
    let expected = format!("queue {queue} has the template's {names} again");
    Ok(Undo::one(
        Call::SetQueueAttributes(SetQueueAttributes {
            queue_url: queue,
            attributes,
        }),
        expected,
    ))
}

/// Converged when every restored attribute reads back as planned.
pub(crate) fn read_back(c: &SetQueueAttributes, seen: &Observed) -> ReadBack {
    let Observed::QueueAttributes(got) = seen else {
        return mismatched("sqs:GetQueueAttributes", seen);
    };
    let mismatches: Vec<String> = c
        .attributes
        .iter()
        .filter(|(k, v)| got.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    ReadBack {
        converged: mismatches.is_empty(),
        detail: format!(
            "sqs:GetQueueAttributes {}: {}",
            c.queue_url,
            verdict(&mismatches)
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::remediate::handlers::testing::{recorded, Case};

    const URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/orders";

    #[test]
    fn the_recorded_attributes_come_back_from_template_and_defaults() {
        let change = recorded("sqs-set-queue-attributes.json", "AWS::SQS::Queue", URL);
        let template = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisibilityTimeout: 45\n";
        let undo = Case::new("Queue", template)
            .plan(&HANDLER, &change)
            .unwrap();
        let want = SetQueueAttributes {
            queue_url: URL.into(),
            attributes: BTreeMap::from([
                ("MessageRetentionPeriod".to_string(), "345600".to_string()),
                ("VisibilityTimeout".to_string(), "45".to_string()),
            ]),
        };
        assert_eq!(undo.calls, vec![Call::SetQueueAttributes(want.clone())]);
        let mut got = want.attributes.clone();
        got.insert("DelaySeconds".into(), "0".into());
        assert!(read_back(&want, &Observed::QueueAttributes(got.clone())).converged);
        got.insert("VisibilityTimeout".into(), "300".into());
        let rb = read_back(&want, &Observed::QueueAttributes(got));
        assert!(
            !rb.converged && rb.detail.contains("differs at VisibilityTimeout"),
            "{}",
            rb.detail
        );
    }
}
