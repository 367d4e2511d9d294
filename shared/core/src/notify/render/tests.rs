//! Tests for `notify::render`: snapshots of every sample (`snapshots/`), Slack
//! and SNS limits, secrets never shown, console links, envelope parsing.
#![allow(clippy::unwrap_used)]
use serde_json::{json, Value};

use driftguard_model::domain::{
    DifferenceKind, Ownership, PropertyDifference, Ticket, TicketState,
};
use driftguard_model::events::{self, DriftDecision, RemediationOutcome};

use super::*;
use crate::notify::samples;

fn facts() -> TicketFacts {
    samples::ticket_facts()
}

fn render_all(name: &str, envelope: &Value) {
    let event = BusEvent::parse(envelope).unwrap().unwrap();
    let slack = slack_message(&event, &facts());
    check_slack_limits(&slack);
    let sns = sns_message(&event, &facts());
    assert!(sns.subject.len() <= SNS_SUBJECT_MAX);
    assert!(
        sns.subject.chars().all(|c| (' '..='~').contains(&c)),
        "{}",
        sns.subject
    );
    // The body is the detail, secrets summarised (super::redact).
    assert_eq!(
        serde_json::from_str::<Value>(&sns.body).unwrap(),
        crate::notify::redact::redact_detail(&envelope["detail"])
    );
    insta::assert_json_snapshot!(format!("{name}__slack"), slack);
    insta::assert_snapshot!(
        format!("{name}__sns"),
        format!(
            "subject: {}\nattributes: {:#?}",
            sns.subject, sns.attributes
        )
    );
}

fn check_slack_limits(payload: &Value) {
    let blocks = payload["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50);
    for b in blocks {
        if b["type"] == "header" {
            assert!(b["text"]["text"].as_str().unwrap().chars().count() <= SLACK_HEADER_MAX);
        }
        if let Some(t) = b["text"]["text"].as_str() {
            assert!(t.chars().count() <= SLACK_SECTION_MAX);
        }
        if let Some(fields) = b["fields"].as_array() {
            assert!(fields.len() <= 10);
            for f in fields {
                assert!(f["text"].as_str().unwrap().chars().count() <= SLACK_FIELD_MAX);
            }
        }
    }
    assert!(payload["text"].as_str().unwrap().chars().count() <= SLACK_TEXT_MAX);
}

#[test]
fn every_sample_renders_within_limits_and_matches_its_snapshot() {
    for (name, envelope) in samples::all_envelopes() {
        render_all(&name, &envelope);
    }
}

#[test]
fn plain_text_fallback_for_the_console_port_22_change() {
    let envelope = samples::envelope_for(&samples::console_port_22_decision());
    let event = BusEvent::parse(&envelope).unwrap().unwrap();
    insta::assert_snapshot!(plain_text(&event, &TicketFacts::default()));
}

/// A decision whose change, drift and plan carry secret values: a Lambda
/// environment variable, a SecureString PutParameter, a large policy document.
fn secret_laden_decision() -> (DriftDecision, Vec<&'static str>) {
    let mut decision = samples::console_port_22_decision();
    let statements: Vec<Value> = (0..30)
        .map(|i| json!({"Sid": format!("S{i}"), "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::LEAKY-BUCKET-NAME/*"}))
        .collect();
    decision.change.request = json!({
        "name": "/app/db-password", "type": "SecureString", "value": "SECURESTRING-VALUE-1", "overwrite": true,
        "policyDocument": {"Version": "2012-10-17", "Statement": statements},
    });
    decision.drift.as_mut().unwrap().differences = vec![
        PropertyDifference {
            path: "/Environment/Variables/DB_PASSWORD".into(),
            expected: Some(json!("ENV-VALUE-EXPECTED")),
            actual: Some(json!("ENV-VALUE-ACTUAL")),
            kind: DifferenceKind::NotEqual,
        },
        PropertyDifference {
            path: "/Environment/Variables".into(),
            expected: None,
            actual: Some(json!({"API_KEY": "ENV-OBJECT-VALUE"})),
            kind: DifferenceKind::Add,
        },
    ];
    decision.event_drift = None;
    decision.plan.as_mut().unwrap().calls[0].parameters = json!({
        "FunctionName": "orders", "Environment": {"Variables": {"DB_PASSWORD": "PLAN-ENV-VALUE"}}
    });
    let secrets = vec![
        "SECURESTRING-VALUE-1",
        "LEAKY-BUCKET-NAME",
        "ENV-VALUE-EXPECTED",
        "ENV-VALUE-ACTUAL",
        "ENV-OBJECT-VALUE",
        "PLAN-ENV-VALUE",
    ];
    (decision, secrets)
}

#[test]
fn a_secret_value_never_appears_in_slack_sns_or_email_text() {
    let (decision, secrets) = secret_laden_decision();
    let envelope = samples::envelope_for(&decision);
    let event = BusEvent::parse(&envelope).unwrap().unwrap();
    let slack = slack_message(&event, &facts()).to_string();
    let sns = sns_message(&event, &facts());
    let text = plain_text(&event, &facts());
    for secret in &secrets {
        for (channel, rendered) in [
            ("slack", &slack),
            ("sns body", &sns.body),
            ("sns subject", &sns.subject),
            ("text", &text),
        ] {
            assert!(
                !rendered.contains(secret),
                "{secret} leaked into {channel}: {rendered}"
            );
        }
    }
    // Names stay, values become summaries.
    assert!(
        slack.contains("DB_PASSWORD") && slack.contains("‹redacted"),
        "{slack}"
    );
    assert!(sns.body.contains("/app/db-password") && sns.body.contains("‹document: 30 statements"));
    // The plan with a secret is shown summarised, not dropped.
    let slack_value = slack_message(&event, &facts());
    insta::assert_json_snapshot!("decision-with-secrets__slack", slack_value);
}

#[test]
fn long_differences_are_truncated_within_slack_limits() {
    let mut decision = samples::console_port_22_decision();
    let drift = decision.drift.as_mut().unwrap();
    drift.differences = (0..40)
        .map(|i| PropertyDifference {
            path: format!("/Tags/{i}/Value"),
            expected: Some(Value::String("x".repeat(5000))),
            actual: Some(Value::String("é".repeat(5000))),
            kind: DifferenceKind::NotEqual,
        })
        .collect();
    let event = BusEvent::parse(&samples::envelope_for(&decision))
        .unwrap()
        .unwrap();
    let slack = slack_message(&event, &facts());
    check_slack_limits(&slack);
    let what = slack["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(what.contains("more"), "{what}");
}

#[test]
fn out_of_template_drift_is_shown_as_such_over_cloudformations_in_sync() {
    let mut decision = samples::console_port_22_decision();
    let cfn = decision.drift.clone().unwrap();
    let mut in_sync = cfn.clone();
    in_sync.status = driftguard_model::domain::DriftStatus::InSync;
    in_sync.differences.clear();
    in_sync.expected_properties = Some(serde_json::json!({"GroupDescription": "web"}));
    decision.event_drift = driftguard_model::domain::out_of_template(&in_sync, Some(&cfn));
    decision.drift = Some(in_sync);
    assert!(decision.event_drift.is_some());
    let event = BusEvent::parse(&samples::envelope_for(&decision))
        .unwrap()
        .unwrap();
    let slack = slack_message(&event, &facts());
    check_slack_limits(&slack);
    let what = slack["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(what.contains("Out-of-template drift"), "{what}");
    assert!(what.contains("OUT_OF_TEMPLATE"), "{what}");
    let plain = plain_text(&event, &facts());
    assert!(plain.contains("out-of-template drift"), "{plain}");
}

#[test]
fn a_change_decided_without_its_unreadable_request_says_so() {
    let mut decision = samples::console_port_22_decision();
    decision.change.request = Value::Null;
    decision.change.unparsed =
        vec!["request unparsed: unexpected end of hex escape at line 1 column 31".into()];
    let event = BusEvent::parse(&samples::envelope_for(&decision))
        .unwrap()
        .unwrap();
    let slack = slack_message(&event, &facts());
    check_slack_limits(&slack);
    let what = slack["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(
        what.contains("Not read from the record: `request unparsed: unexpected end of hex escape"),
        "{what}"
    );
}

#[test]
fn mrkdwn_control_characters_and_backticks_are_escaped() {
    let mut decision = samples::console_port_22_decision();
    decision.actor.principal = "arn:aws:iam::1:user/<!channel>&`x`".into();
    let event = BusEvent::parse(&samples::envelope_for(&decision))
        .unwrap()
        .unwrap();
    let who = slack_message(&event, &facts())["blocks"][2]["text"]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(who.contains("&lt;!channel&gt;&amp;'x'"), "{who}");
    assert!(!who.contains("<!channel>"));
}

#[test]
fn subject_is_ascii_and_less_than_100_characters() {
    let mut decision = samples::console_port_22_decision();
    if let Ownership::Managed(m) = &mut decision.ownership {
        m.stack_name = format!("stäck-{}", "n".repeat(200));
    }
    let event = BusEvent::parse(&samples::envelope_for(&decision))
        .unwrap()
        .unwrap();
    let s = sns_message(&event, &facts()).subject;
    assert_eq!(s.len(), SNS_SUBJECT_MAX);
    assert!(s.ends_with("..."));
    assert!(s.is_ascii());
    assert!(s.contains("st?ck-"));
}

#[test]
fn envelopes_from_other_sources_or_detail_types_are_not_ours() {
    let mut envelope = samples::envelope_for(&samples::console_port_22_decision());
    envelope["detail-type"] = json!(events::SWEEP_SUMMARY);
    assert_eq!(BusEvent::parse(&envelope).unwrap(), None);
    envelope["detail-type"] = json!(events::DRIFT_DECISION);
    envelope["source"] = json!("aws.ec2");
    assert_eq!(BusEvent::parse(&envelope).unwrap(), None);
}

#[test]
fn a_malformed_detail_is_an_error_naming_the_detail_type() {
    let mut envelope = samples::envelope_for(&samples::console_port_22_decision());
    envelope["detail"] = json!({ "ticket_id": 5 });
    let err = BusEvent::parse(&envelope).unwrap_err();
    assert!(matches!(err, EnvelopeError::BadDetail { .. }));
    assert!(err.to_string().contains(events::DRIFT_DECISION));
    envelope["id"] = json!("");
    envelope["detail"] =
        samples::envelope_for(&samples::console_port_22_decision())["detail"].clone();
    assert_eq!(
        BusEvent::parse(&envelope).unwrap_err(),
        EnvelopeError::MissingField("id")
    );
}

#[test]
fn console_links_for_stack_and_easy_resource_types() {
    assert_eq!(
        stack_console_url("eu-west-1", "arn:aws:cloudformation:eu-west-1:1:stack/web/abc"),
        "https://eu-west-1.console.aws.amazon.com/cloudformation/home?region=eu-west-1#/stacks/stackinfo?stackId=arn%3Aaws%3Acloudformation%3Aeu-west-1%3A1%3Astack%2Fweb%2Fabc"
    );
    assert!(
        resource_console_url("AWS::SSM::Parameter", "/app/flag", "us-east-1")
            .unwrap()
            .contains("parameters/%2Fapp%2Fflag/description")
    );
    assert!(resource_console_url("AWS::IAM::Role", "app-role", "us-east-1").is_some());
    assert!(resource_console_url("AWS::S3::Bucket", "b", "us-east-1").is_some());
    assert_eq!(
        resource_console_url("AWS::SQS::Queue", "q", "us-east-1"),
        None
    );
}

/// `value` as if it came from member account 111111111111 in eu-west-1,
/// delivered on the central bus (account 999999999999, us-east-1).
fn from_member(value: &Value) -> Value {
    let text = value
        .to_string()
        .replace(samples::ACCOUNT, "111111111111")
        .replace(samples::REGION, "eu-west-1");
    let mut envelope: Value = serde_json::from_str(&text).unwrap();
    envelope["account"] = json!("999999999999");
    envelope["region"] = json!("us-east-1");
    envelope
}

/// Every console URL in a Slack payload.
fn console_urls(slack: &Value) -> Vec<String> {
    let text = slack.to_string();
    text.match_indices("<https://")
        .map(|(at, _)| {
            let rest = &text[at + 1..];
            rest[..rest.find('|').unwrap()].to_string()
        })
        .collect()
}

#[test]
fn a_member_accounts_change_names_its_account_and_region_and_links_to_that_region() {
    let envelope = from_member(&samples::envelope_for(&samples::console_port_22_decision()));
    let event = BusEvent::parse(&envelope).unwrap().unwrap();
    let sns = sns_message(&event, &TicketFacts::default());
    assert_eq!(sns.attributes["account"], "111111111111");
    assert_eq!(sns.attributes["region"], "eu-west-1");
    assert!(
        sns.subject.contains("(111111111111 eu-west-1)"),
        "{}",
        sns.subject
    );
    assert!(sns.subject.len() <= SNS_SUBJECT_MAX);

    let slack = slack_message(&event, &TicketFacts::default());
    check_slack_limits(&slack);
    let blocks = slack["blocks"].as_array().unwrap();
    let place = blocks
        .iter()
        .find(|b| {
            b["text"]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("*Where*"))
        })
        .unwrap();
    let title = place["text"]["text"].as_str().unwrap();
    assert!(
        title.contains("region `eu-west-1`")
            && title.contains("switch role to account `111111111111`"),
        "{title}"
    );
    let fields: Vec<&str> = place["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"*Account*\n111111111111"), "{fields:?}");
    assert!(fields.contains(&"*Region*\neu-west-1"), "{fields:?}");
    let urls = console_urls(&slack);
    assert!(urls.len() >= 2, "stack and security group: {urls:?}");
    for url in &urls {
        assert!(
            url.starts_with("https://eu-west-1.console.aws.amazon.com/")
                && url.contains("region=eu-west-1"),
            "{url}"
        );
    }
    // Nothing says the central account or region.
    let all = slack.to_string();
    assert!(
        !all.contains("999999999999") && !all.contains("us-east-1"),
        "{all}"
    );
    let text = plain_text(&event, &TicketFacts::default());
    assert!(
        text.contains("Where: account 111111111111, region eu-west-1,"),
        "{text}"
    );
}

#[test]
fn a_result_without_its_change_takes_the_account_and_region_from_the_ticket() {
    let mut result = samples::result(RemediationOutcome::Resolved);
    result.change = None;
    let envelope = from_member(&samples::envelope_for(&result));
    let event = BusEvent::parse(&envelope).unwrap().unwrap();
    let facts = TicketFacts {
        account: Some("111111111111".into()),
        region: Some("eu-west-1".into()),
        ..facts()
    };
    let sns = sns_message(&event, &facts);
    assert_eq!(
        (
            sns.attributes["account"].as_str(),
            sns.attributes["region"].as_str()
        ),
        ("111111111111", "eu-west-1")
    );
    let slack = slack_message(&event, &facts).to_string();
    assert!(slack.contains("*Account*\\n111111111111"), "{slack}");
    for url in console_urls(&slack_message(&event, &facts)) {
        assert!(url.contains("eu-west-1"), "{url}");
    }
    // Without the ticket, the envelope's (where driftguard runs) as before.
    let sns = sns_message(&event, &TicketFacts::default());
    assert_eq!(sns.attributes["account"], "999999999999");
}

#[test]
fn where_without_console_links_says_nothing_about_signing_in() {
    let mut decision = samples::console_port_22_decision();
    decision.ownership = Ownership::Unmanaged;
    decision.change.resource = driftguard_model::domain::ResourceRef::new("AWS::SQS::Queue", "q");
    let event = BusEvent::parse(&samples::envelope_for(&decision))
        .unwrap()
        .unwrap();
    let slack = slack_message(&event, &TicketFacts::default());
    assert!(console_urls(&slack).is_empty());
    assert!(!slack.to_string().contains("switch role"), "{slack}");
}

#[test]
fn results_take_severity_and_verdict_from_the_ticket() {
    let envelope = samples::envelope_for(&samples::result(RemediationOutcome::Resolved));
    let event = BusEvent::parse(&envelope).unwrap().unwrap();
    let without = sns_message(&event, &TicketFacts::default());
    assert_eq!(without.attributes["severity"], "unknown");
    let with = sns_message(&event, &facts());
    assert_eq!(with.attributes["severity"], "high");
    assert_eq!(with.attributes["verdict"], "revert");
    assert_eq!(with.attributes["outcome"], "resolved");
}

fn accepted_ticket() -> Ticket {
    samples::accepted_ticket()
}

#[test]
fn an_accepted_ticket_carries_the_codify_snippet() {
    let slack = accepted_slack_message(&accepted_ticket(), "carol", "needed <for> the migration");
    check_slack_limits(&slack);
    let text = slack.to_string();
    assert!(text.contains("ManagedPolicyArns"), "{text}");
    assert!(
        text.contains("&lt;for&gt;"),
        "caller text is escaped: {text}"
    );
    insta::assert_json_snapshot!("accepted-ticket__slack", slack);
}

#[test]
fn only_accepted_tickets_get_a_snippet() {
    let mut t = accepted_ticket();
    t.state = TicketState::Open;
    assert!(codify_blocks(&t).is_empty());
}
