//! What doctor expects of a deployment, read from driftguard's own
//! `template.yaml` (compiled in): the EventBridge rules by logical id, the bus
//! each one is on, and the sources the CloudTrail rule routes.

/// The template the CLI was built with.
pub const TEMPLATE: &str = include_str!("../../../template.yaml");

/// One `AWS::Events::Rule` of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedRule {
    pub logical_id: String,
    /// On driftguard's own bus (`EventBusName` set), else the default bus.
    pub on_driftguard_bus: bool,
    /// The resource's `Condition`, if any: expected only when the stack has it.
    pub condition: Option<String>,
}

/// The top-level resources' blocks: `(logical id, lines)`.
fn resource_blocks(template: &str) -> Vec<(String, Vec<&str>)> {
    let mut blocks: Vec<(String, Vec<&str>)> = Vec::new();
    let mut in_resources = false;
    for line in template.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            in_resources = line.trim_end() == "Resources:";
            continue;
        }
        if !in_resources {
            continue;
        }
        let is_header = line.starts_with("  ")
            && !line.starts_with("   ")
            && line.trim_end().ends_with(':')
            && !line.trim_start().starts_with('#');
        if is_header {
            blocks.push((line.trim().trim_end_matches(':').to_string(), Vec::new()));
        } else if let Some((_, lines)) = blocks.last_mut() {
            lines.push(line);
        }
    }
    blocks
}

fn property<'a>(lines: &[&'a str], indent: usize, key: &str) -> Option<&'a str> {
    let prefix = format!("{}{key}:", " ".repeat(indent));
    lines
        .iter()
        .find(|l| l.starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim())
}

/// Every `AWS::Events::Rule` in `template`, in template order.
pub fn expected_rules(template: &str) -> Vec<ExpectedRule> {
    resource_blocks(template)
        .into_iter()
        .filter(|(_, lines)| property(lines, 4, "Type") == Some("AWS::Events::Rule"))
        .map(|(logical_id, lines)| ExpectedRule {
            on_driftguard_bus: property(&lines, 6, "EventBusName").is_some(),
            condition: property(&lines, 4, "Condition").map(str::to_string),
            logical_id,
        })
        .collect()
}

/// Whether the template's `CloudTrailWriteRule` routes events of `source`
/// (e.g. `aws.iam`): IAM is then watched and us-east-1 matters. The rule
/// routes every service by default (`WatchedServices` empty), the event
/// sources of its deny-list aside (`anything-but: [...amazonaws.com]`); a
/// source it lists (`- aws.iam`) is routed too.
pub fn routes_source(template: &str, source: &str) -> bool {
    let Some((_, lines)) = resource_blocks(template)
        .into_iter()
        .find(|(id, _)| id == "CloudTrailWriteRule")
    else {
        return false;
    };
    let item = format!("- {source}");
    if lines.iter().any(|l| l.trim() == item) {
        return true;
    }
    let Some(service) = source.strip_prefix("aws.") else {
        return false;
    };
    let event_source = format!("{service}.amazonaws.com");
    lines
        .iter()
        .find(|l| l.contains("anything-but:") && l.contains(".amazonaws.com"))
        .is_some_and(|deny| {
            !deny
                .split(|c: char| matches!(c, '[' | ']' | ',') || c.is_whitespace())
                .any(|word| word == event_source)
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_shipped_templates_rules_are_found_with_their_bus() {
        let rules = expected_rules(TEMPLATE);
        let ids: Vec<&str> = rules.iter().map(|r| r.logical_id.as_str()).collect();
        for id in [
            "CloudTrailWriteRule",
            "ConfigChangeRule",
            "CloudFormationEventRule",
            "SweepScheduleRule",
            "RemediateDecisionRule",
            "RemediateApprovalRule",
            "NotifyRule",
        ] {
            assert!(ids.contains(&id), "{id} in {ids:?}");
        }
        let on_bus = |id: &str| {
            rules
                .iter()
                .find(|r| r.logical_id == id)
                .unwrap()
                .on_driftguard_bus
        };
        assert!(on_bus("RemediateDecisionRule"));
        assert!(!on_bus("CloudTrailWriteRule"));
        assert!(routes_source(TEMPLATE, "aws.iam"));
        // Every service is routed, the deny-list's aside.
        assert!(routes_source(TEMPLATE, "aws.cloudfront"));
        assert!(!routes_source(TEMPLATE, "aws.sts"));
        assert!(!routes_source(TEMPLATE, "aws.signin"));
    }

    #[test]
    fn a_conditional_rule_carries_its_condition() {
        let t = "Resources:\n  A:\n    Type: AWS::Events::Rule\n    Condition: HasX\n    Properties:\n      EventBusName: b\n  B:\n    Type: AWS::SQS::Queue\nOutputs:\n  C:\n    Value: x\n";
        assert_eq!(
            expected_rules(t),
            vec![ExpectedRule {
                logical_id: "A".into(),
                on_driftguard_bus: true,
                condition: Some("HasX".into())
            }]
        );
    }
}
