//! SNS topic attributes: `SetTopicAttributes` is undone by setting the
//! template's value of that attribute again. The topic's access policy (the
//! `Policy` attribute, which `AddPermission` and `RemovePermission` change
//! too) comes back from the template's `AWS::SNS::TopicPolicy`
//! (`access_policy`). Read back with `GetTopicAttributes`.
use super::access_policy::{declared_policy, same_policy, TOPIC_POLICY};
use super::{as_api_string, expected, mismatched, request_str, target_id, Handler, Undo};
use crate::ports::remediate::{Observed, ReadBack};
use crate::remediate::call::{Call, SetTopicAttributes};
use crate::remediate::planner::PlanInput;
use crate::remediate::template::Lookup;
use driftguard_model::domain::Change;

pub const HANDLER: Handler = Handler {
    family: "topic_attributes",
    description: "set the template's value of the changed topic attribute again; the access policy (also after AddPermission/RemovePermission) from the template's AWS::SNS::TopicPolicy",
    undoes: &[
        "sns:SetTopicAttributes",
        "sns:AddPermission",
        "sns:RemovePermission",
    ],
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

/// The topic's access policy attribute, which the permission calls change too:
/// "To remove the ability to change topic permissions, you must deny
/// permissions to the AddPermission, RemovePermission, and SetTopicAttributes
/// actions in your IAM policy."
/// (<https://docs.aws.amazon.com/sns/latest/api/API_SetTopicAttributes.html>).
const POLICY: &str = "Policy";

fn plan(i: &PlanInput<'_>, change: &Change) -> Result<Undo, String> {
    let topic = target_id(i, change, "topicArn")?;
    let attribute = match change.operation.as_str() {
        "AddPermission" | "RemovePermission" => POLICY,
        _ => request_str(change, "attributeName")?,
    };
    let value = if attribute == POLICY {
        declared_policy(i, TOPIC_POLICY, &topic)?
    } else {
        template_value(i, attribute)?
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

/// The template's value of a topic attribute CloudFormation names the same way.
fn template_value(i: &PlanInput<'_>, attribute: &str) -> Result<String, String> {
    if !TOPIC_ATTRIBUTES.contains(&attribute) {
        return Err(format!(
            "topic attribute {attribute} is not restored by this handler"
        ));
    }
    match expected(i, attribute) {
        Lookup::Found(v) => Ok(as_api_string(&v)),
        Lookup::Absent => Err(format!(
            "the template does not set {attribute} on the topic: its default is not known for certain"
        )),
        Lookup::NotLiteral(why) => Err(why),
    }
}

/// Converged when the attribute reads back as planned (absent reads as "";
/// a policy compared as JSON).
pub(crate) fn read_back(c: &SetTopicAttributes, seen: &Observed) -> ReadBack {
    let Observed::TopicAttributes(attributes) = seen else {
        return mismatched("sns:GetTopicAttributes", seen);
    };
    let got = attributes
        .get(&c.attribute_name)
        .cloned()
        .unwrap_or_default();
    ReadBack {
        converged: got == c.attribute_value
            || (c.attribute_name == POLICY && same_policy(&got, &c.attribute_value)),
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

    const WITH_POLICY: &str = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n  TopicPolicy:\n    Type: AWS::SNS::TopicPolicy\n    Properties:\n      Topics: [!Ref Topic]\n      PolicyDocument: { Version: \"2012-10-17\", Statement: [{ Sid: owner, Effect: Allow, Principal: { AWS: \"123456789012\" }, Action: \"sns:Publish\", Resource: \"*\" }] }\n";

    fn policy_undo(file: &str, template: &str) -> Result<Undo, String> {
        let change = recorded(file, "AWS::SNS::Topic", ARN);
        Case::new("Topic", template).plan(&HANDLER, &change)
    }

    #[test]
    fn every_form_of_a_topic_policy_change_gets_the_template_policy_back() {
        let want_document = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Sid": "owner", "Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "sns:Publish", "Resource": "*"}]});
        // The twins of sources::operations::PROPERTIES ("a topic's access policy").
        for file in [
            "sns-add-permission.json",
            "sns-remove-permission.json",
            "sns-set-topic-attributes-policy.json",
        ] {
            let undo = policy_undo(file, WITH_POLICY).unwrap();
            let [Call::SetTopicAttributes(c)] = undo.calls.as_slice() else {
                panic!("{file}: {:?}", undo.calls);
            };
            assert_eq!(c.topic_arn, ARN, "{file}");
            assert_eq!(c.attribute_name, "Policy", "{file}");
            let sent: serde_json::Value = serde_json::from_str(&c.attribute_value).unwrap();
            assert_eq!(sent, want_document, "{file}");
            // SNS answers with its own spacing: compared as JSON.
            let respaced = serde_json::to_string_pretty(&want_document).unwrap();
            let seen = Observed::TopicAttributes(BTreeMap::from([("Policy".into(), respaced)]));
            assert!(read_back(c, &seen).converged, "{file}");
            let other = Observed::TopicAttributes(BTreeMap::from([("Policy".into(), "{}".into())]));
            assert!(!read_back(c, &other).converged, "{file}");
        }
    }

    #[test]
    fn a_topic_policy_the_template_does_not_state_literally_is_refused_with_the_reason() {
        let bare = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n";
        let err = policy_undo("sns-add-permission.json", bare).unwrap_err();
        assert!(
            err.contains("no AWS::SNS::TopicPolicy of the template names Topic"),
            "{err}"
        );
        let by_ref = WITH_POLICY.replace("Resource: \"*\"", "Resource: !Ref Topic");
        let err = policy_undo("sns-add-permission.json", &by_ref).unwrap_err();
        assert!(err.contains("known only to CloudFormation"), "{err}");
        let twice = format!(
            "{WITH_POLICY}  Second:\n    Type: AWS::SNS::TopicPolicy\n    Properties:\n      Topics: [!Ref Topic]\n      PolicyDocument: {{}}\n"
        );
        let err = policy_undo("sns-remove-permission.json", &twice).unwrap_err();
        assert!(
            err.contains("2 AWS::SNS::TopicPolicy resources name Topic"),
            "{err}"
        );
    }
}
