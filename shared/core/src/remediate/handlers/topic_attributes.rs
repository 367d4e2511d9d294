//! SNS topic attributes: `SetTopicAttributes` is undone by setting the
//! template's value of that attribute again (a topic policy lives in
//! `AWS::SNS::TopicPolicy`, not here). Read back with `GetTopicAttributes`.
use super::{as_api_string, expected, mismatched, request_str, target_id, Handler, Undo};
use crate::ports::remediate::{Observed, ReadBack};
use crate::remediate::call::{Call, SetTopicAttributes};
use crate::remediate::planner::PlanInput;
use crate::remediate::template::Lookup;
use driftguard_model::domain::Change;

pub const HANDLER: Handler = Handler {
    family: "topic_attributes",
    description: "set the template's value of the changed topic attribute again",
    undoes: &["sns:SetTopicAttributes"],
    permissions: &["sns:SetTopicAttributes", "sns:GetTopicAttributes"],
    plan,
};

const TOPIC_ATTRIBUTES: [&str; 7] = [
    "DisplayName",
    "KmsMasterKeyId",
    "DeliveryPolicy",
    "TracingConfig",
    "SignatureVersion",
    "ContentBasedDeduplication",
    "ArchivePolicy",
];

fn plan(i: &PlanInput<'_>, change: &Change) -> Result<Undo, String> {
    let topic = target_id(i, change, "topicArn")?;
    let attribute = request_str(change, "attributeName")?;
    if !TOPIC_ATTRIBUTES.contains(&attribute) {
        return Err(format!(
            "topic attribute {attribute} is not restored by this handler (a topic policy lives in AWS::SNS::TopicPolicy)"
        ));
    }
    let value = match expected(i, attribute) {
        Lookup::Found(v) => as_api_string(&v),
        Lookup::Absent => {
            return Err(format!(
                "the template does not set {attribute} on the topic: its default is not known for certain"
            ))
        }
        Lookup::NotLiteral(why) => return Err(why),
    };
    let expected = format!("topic {topic} has the template's {attribute} again");
    Ok(Undo::one(
        Call::SetTopicAttributes(SetTopicAttributes {
            topic_arn: topic,
            attribute_name: attribute.to_string(),
            attribute_value: value,
        }),
        expected,
    ))
}

/// Converged when the attribute reads back as planned (absent reads as "").
pub(crate) fn read_back(c: &SetTopicAttributes, seen: &Observed) -> ReadBack {
    let Observed::TopicAttributes(attributes) = seen else {
        return mismatched("sns:GetTopicAttributes", seen);
    };
    let got = attributes
        .get(&c.attribute_name)
        .cloned()
        .unwrap_or_default();
    ReadBack {
        converged: got == c.attribute_value,
        detail: format!(
            "sns:GetTopicAttributes {}: {}={got:?}",
            c.topic_arn, c.attribute_name
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::remediate::handlers::testing::{recorded, Case};
    use std::collections::BTreeMap;

    const ARN: &str = "arn:aws:sns:us-east-1:123456789012:alerts";

    #[test]
    fn the_recorded_display_name_comes_back_or_is_refused_without_a_template_value() {
        let change = recorded("sns-set-topic-attributes.json", "AWS::SNS::Topic", ARN);
        let declared = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n      DisplayName: Paging\n";
        let undo = Case::new("Topic", declared)
            .plan(&HANDLER, &change)
            .unwrap();
        let want = SetTopicAttributes {
            topic_arn: ARN.into(),
            attribute_name: "DisplayName".into(),
            attribute_value: "Paging".into(),
        };
        assert_eq!(undo.calls, vec![Call::SetTopicAttributes(want.clone())]);
        let bare = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n";
        let err = Case::new("Topic", bare)
            .plan(&HANDLER, &change)
            .unwrap_err();
        assert!(err.contains("not known for certain"), "{err}");
        let seen = |v: &str| {
            Observed::TopicAttributes(BTreeMap::from([("DisplayName".into(), v.to_string())]))
        };
        assert!(read_back(&want, &seen("Paging")).converged);
        assert!(!read_back(&want, &seen("Alerts")).converged);
    }
}
