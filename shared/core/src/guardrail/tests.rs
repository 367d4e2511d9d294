//! The guardrail on the example policy (snapshots: the bytes a pull request
//! shows), its exemptions one by one, the size split, and a property test
//! that the evaluator, run on the rendered documents, denies exactly what the
//! policy (through driftguard's own principal matching) says it should.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use super::analysis::{plan, Coverage};
use super::evaluate::{evaluate, Request};
use super::generate::{generate, Options, CLOUDFORMATION};
use super::services::{iam_action, STACK_NAME_TAG};
use super::*;
use driftguard_model::domain::policy::Policy;
use driftguard_model::domain::{ActorKind, Identity};
use driftguard_model::sources::operations::OPERATIONS;

const EXAMPLE: &str = include_str!("../../../../policy.example.yaml");
const ACCOUNT: &str = "123456789012";

fn example() -> Guardrail {
    let policy = Policy::from_yaml(EXAMPLE).unwrap();
    generate(&policy.file, &Options::default()).unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn request(action: &str, principal: &str, stack: Option<&str>) -> Request {
    Request {
        action: action.into(),
        principal_arn: principal.into(),
        called_via: Vec::new(),
        resource_tags: stack
            .map(|s| BTreeMap::from([(STACK_NAME_TAG.to_string(), s.to_string())]))
            .unwrap_or_default(),
        // Inside the example's break-glass window (2026-03-14..21).
        time: at("2026-03-16T12:00:00Z"),
    }
}

fn role(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

const INGRESS: &str = "ec2:AuthorizeSecurityGroupIngress";

#[test]
fn the_example_policy_renders_the_same_bytes_every_time() {
    let (a, b) = (example(), example());
    let scps: Vec<String> = a.scps().unwrap().iter().map(|d| d.render()).collect();
    let again: Vec<String> = b.scps().unwrap().iter().map(|d| d.render()).collect();
    assert_eq!(scps, again);
    assert_eq!(a.scp_template().unwrap(), b.scp_template().unwrap());
    assert_eq!(
        a.boundary_template().unwrap(),
        b.boundary_template().unwrap()
    );
    for (i, doc) in scps.iter().enumerate() {
        assert!(
            doc.len() <= SCP_MAX_BYTES,
            "SCP {} is {} bytes",
            i + 1,
            doc.len()
        );
        insta::assert_snapshot!(format!("example-scp-{}", i + 1), doc);
    }
    insta::assert_snapshot!("example-boundary", a.boundary().unwrap().render());
    insta::assert_snapshot!("example-cfn", a.scp_template().unwrap());
    insta::assert_snapshot!("example-cfn-boundary", a.boundary_template().unwrap());
}

#[test]
fn a_console_hotfix_on_a_managed_group_is_denied_by_the_rule_that_reverts_it() {
    let docs = example().scps().unwrap();
    let r = request(INGRESS, &role("AWSReservedSSO_Admin_0123"), Some("app"));
    assert_eq!(
        evaluate(&docs, &r).unwrap().as_deref(),
        Some("OpenIngressIsReverted")
    );
}

#[test]
fn the_pipeline_and_driftguard_are_exempt() {
    let docs = example().scps().unwrap();
    for principal in [role("deploy-pipeline"), role("driftguard-remediation")] {
        let r = request(INGRESS, &principal, Some("app"));
        assert_eq!(evaluate(&docs, &r).unwrap(), None, "{principal}");
    }
    // Issue 34, item 3: the example no longer exempts roles named like CDK's
    // exec role (anyone may create one; CloudFormation's own calls are exempt
    // through aws:CalledVia): such a role's hot-fix is denied like anyone's.
    let cdk = role("cdk-hnb659fds-cfn-exec-role-123456789012-us-east-1");
    let r = request(INGRESS, &cdk, Some("app"));
    assert_eq!(
        evaluate(&docs, &r).unwrap().as_deref(),
        Some("OpenIngressIsReverted")
    );
}

#[test]
fn cloudformations_own_calls_are_not_denied() {
    let docs = example().scps().unwrap();
    let mut r = request(INGRESS, &role("AWSReservedSSO_Admin_0123"), Some("app"));
    r.called_via = vec![CLOUDFORMATION.into()];
    assert_eq!(evaluate(&docs, &r).unwrap(), None);
}

#[test]
fn unmanaged_resources_protected_stacks_and_protected_types_are_not_denied() {
    let docs = example().scps().unwrap();
    let person = role("AWSReservedSSO_Admin_0123");
    assert_eq!(
        evaluate(&docs, &request(INGRESS, &person, None)).unwrap(),
        None
    );
    let core = request(INGRESS, &person, Some("core-network-prod"));
    assert_eq!(evaluate(&docs, &core).unwrap(), None);
    let key = request("kms:ScheduleKeyDeletion", &person, Some("app"));
    assert_eq!(evaluate(&docs, &key).unwrap(), None);
    let plans = example().plans;
    let kms = plans
        .iter()
        .find(|p| p.action == "kms:PutKeyPolicy")
        .unwrap();
    assert!(matches!(kms.coverage, Coverage::Protected { .. }));
}

#[test]
fn break_glass_is_exempt_inside_its_window_only() {
    let docs = example().scps().unwrap();
    let mut r = request(INGRESS, &role("BreakGlass"), Some("app"));
    assert_eq!(evaluate(&docs, &r).unwrap(), None, "inside the window");
    r.time = at("2026-03-13T23:59:59Z");
    assert_eq!(
        evaluate(&docs, &r).unwrap().as_deref(),
        Some("BreakGlass1Before")
    );
    r.time = at("2026-03-21T00:00:01Z");
    assert_eq!(
        evaluate(&docs, &r).unwrap().as_deref(),
        Some("BreakGlass1After")
    );
    r.time = at("2026-03-21T00:00:00Z");
    assert_eq!(evaluate(&docs, &r).unwrap(), None, "not_after is inside");
}

#[test]
fn a_window_bounded_break_glass_uses_current_time() {
    let text: String = example()
        .scps()
        .unwrap()
        .iter()
        .map(|d| d.render())
        .collect();
    assert!(
        text.contains("\"aws:CurrentTime\": \"2026-03-14T00:00:00Z\""),
        "{text}"
    );
    assert!(text.contains("DateGreaterThan"), "{text}");
}

fn big_policy(rules: usize, principals: usize) -> String {
    let mut y = String::from("identities:\n  pipeline:\n");
    for i in 0..principals {
        y.push_str(&format!(
            "    - principal: \"role/pipeline-role-number-{i:03}\"\n"
        ));
    }
    y.push_str("rules:\n");
    let types: Vec<&str> = OPERATIONS.iter().map(|s| s.resource_type).collect();
    for i in 0..rules {
        y.push_str(&format!(
            "  - name: rule-{i}\n    match: {{ resource_types: [\"{}\"] }}\n    verdict: revert\n",
            types[i % types.len()]
        ));
    }
    y
}

#[test]
fn a_policy_too_big_for_one_scp_is_split_deterministically_within_the_limit() {
    let policy = Policy::from_yaml(&big_policy(12, 40)).unwrap();
    let g = generate(&policy.file, &Options::default()).unwrap();
    let docs = g.scps().unwrap();
    assert!(docs.len() > 1, "expected a split, got {}", docs.len());
    assert!(docs.iter().all(|d| d.size() <= SCP_MAX_BYTES));
    let flat: Vec<_> = docs.iter().flat_map(|d| d.statement.clone()).collect();
    assert_eq!(flat, g.statements, "order kept, nothing lost");
    let again = generate(&policy.file, &Options::default())
        .unwrap()
        .scps()
        .unwrap();
    assert_eq!(docs, again);
    // One boundary per principal: rules with the same conditions merge there.
    let merged = super::merge_same_conditions(&g.statements);
    assert!(merged[0].sid.starts_with("Rule0Rule"), "{}", merged[0].sid);
    assert!(serde_json::to_string(&g.boundary().unwrap()).unwrap().len() <= BOUNDARY_MAX_CHARS);
    let huge = Policy::from_yaml(&big_policy(1, 140)).unwrap();
    let err = generate(&huge.file, &Options::default())
        .unwrap()
        .boundary()
        .unwrap_err();
    assert!(
        matches!(err, GuardrailError::BoundaryTooLarge { .. }),
        "{err}"
    );
}

#[test]
fn every_emitted_condition_is_one_the_evaluator_knows() {
    let docs = example().scps().unwrap();
    for s in docs.iter().flat_map(|d| &d.statement) {
        for (op, keys) in &s.condition.0 {
            for key in keys.keys() {
                assert!(
                    super::evaluate::SUPPORTED
                        .iter()
                        .any(|(o, k)| o == op && key.starts_with(k)),
                    "{op} {key}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------- property

const TYPES: &[&str] = &[
    "AWS::EC2::SecurityGroup",
    "AWS::IAM::Role",
    "AWS::S3::Bucket",
    "AWS::SSM::Parameter",
    "AWS::Lambda::Function",
];
const VERDICTS: &[&str] = &["revert", "ticket", "allow", "ignore"];
const ACTORS: &[&str] = &["console", "human", "automation", "unknown"];
const NAMES: &[&str] = &["deploy", "ci", "driftguard", "BreakGlass", "alice", "bob"];

fn rule_yaml(i: usize, (t, v, a): (Option<usize>, usize, Option<usize>)) -> String {
    let mut m = Vec::new();
    if let Some(t) = t {
        m.push(format!("resource_types: [\"{}\"]", TYPES[t]));
    }
    if let Some(a) = a {
        m.push(format!("actors: [{}]", ACTORS[a]));
    }
    format!(
        "  - name: rule-{i}\n    match: {{ {} }}\n    verdict: {}\n",
        m.join(", "),
        VERDICTS[v]
    )
}

fn policy_yaml(
    rules: &[(Option<usize>, usize, Option<usize>)],
    pipeline: &[usize],
    windows: &[(i64, i64)],
    protect_stack: bool,
) -> String {
    let mut y = String::from("identities:\n  own:\n    - principal: \"role/driftguard\"\n");
    if !pipeline.is_empty() {
        y.push_str("  pipeline:\n");
        for p in pipeline {
            y.push_str(&format!("    - principal: \"role/{}\"\n", NAMES[*p % 2]));
        }
    }
    if !windows.is_empty() {
        y.push_str("  break_glass:\n");
        let base = at("2026-01-01T00:00:00Z");
        for (start, len) in windows {
            let nb = base + Duration::days(*start);
            let na = nb + Duration::days(*len);
            y.push_str(&format!(
                "    - principal: \"role/BreakGlass\"\n      not_before: {}\n      not_after: {}\n",
                nb.to_rfc3339(),
                na.to_rfc3339()
            ));
        }
    }
    if protect_stack {
        y.push_str("protected:\n  - stack: \"core-*\"\n");
    }
    y.push_str("rules:\n");
    for (i, r) in rules.iter().enumerate() {
        y.push_str(&rule_yaml(i, *r));
    }
    y
}

/// driftguard's own view: is this principal exempt at `t`?
fn exempt_by_policy(policy: &Policy, name: &str, t: DateTime<Utc>) -> bool {
    let identity = Identity {
        identity_type: Some("AssumedRole".into()),
        principal_arn: Some(format!("arn:aws:sts::{ACCOUNT}:assumed-role/{name}/s")),
        session_issuer_arn: Some(role(name)),
        session_name: Some("s".into()),
        ..Identity::default()
    };
    let ids = &policy.identities;
    ids.own_match(&identity).is_some()
        || ids.pipeline_match(&identity).is_some()
        || matches!(ids.break_glass_match(&identity, t), Some(Ok(_)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn generator_and_evaluator_agree(
        rules in proptest::collection::vec(
            (proptest::option::of(0..TYPES.len()), 0..VERDICTS.len(), proptest::option::of(0..ACTORS.len())),
            0..5),
        pipeline in proptest::collection::vec(0..2usize, 0..3),
        windows in proptest::collection::vec((0i64..400, 1i64..60), 0..3),
        protect_stack in any::<bool>(),
        pin_account in any::<bool>(),
        op in 0..OPERATIONS.len(),
        who in 0..NAMES.len(),
        stack in proptest::option::of(prop_oneof![Just("app"), Just("core-net")]),
        via_cfn in any::<bool>(),
        day in -30i64..500,
    ) {
        let yaml = policy_yaml(&rules, &pipeline, &windows, protect_stack);
        let policy = Policy::from_yaml(&yaml).unwrap().with_home_account(ACCOUNT);
        let options = Options {
            account: pin_account.then(|| ACCOUNT.to_string()),
            ..Options::default()
        };
        let g = generate(&policy.file, &options).unwrap();
        let docs = g.scps().unwrap();
        prop_assert!(docs.iter().all(|d| d.size() <= SCP_MAX_BYTES));
        // The evaluator reads the documents as written, not the structs.
        let docs: Vec<PolicyDocument> = docs
            .iter()
            .map(|d| serde_json::from_str(&d.render()).unwrap())
            .collect();

        let spec = &OPERATIONS[op];
        let action = iam_action(spec);
        let t = at("2026-01-01T00:00:00Z") + Duration::days(day) + Duration::hours(7);
        let name = NAMES[who];
        let mut r = request(&action, &role(name), stack);
        r.time = t;
        if via_cfn {
            r.called_via = vec![CLOUDFORMATION.into()];
        }
        let denied = evaluate(&docs, &r).unwrap();

        let coverage = plan(&policy.file)
            .into_iter()
            .find(|p| p.action == action)
            .map(|p| p.coverage)
            .unwrap();
        let exempt = exempt_by_policy(&policy, name, t);
        let expected = match &coverage {
            Coverage::Deny { exclusions, .. } => {
                let excluded = stack.is_some_and(|s| {
                    exclusions.get(STACK_NAME_TAG).is_some_and(|globs| {
                        globs.iter().any(|g| super::analysis::wildcard(g.as_bytes(), s.as_bytes()))
                    })
                });
                stack.is_some() && !via_cfn && !exempt && !excluded
            }
            _ => false,
        };
        prop_assert_eq!(denied.is_some(), expected, "{:?} {:?}\n{}", denied, coverage, yaml);
        if exempt || via_cfn {
            prop_assert!(denied.is_none(), "an allowed change was denied");
        }
    }
}

/// A ticket on `app/Sg` whose history holds `observed` entries the way the
/// pipeline writes them (`pipeline::entries_for`: summary starting with the
/// API, the actor, the change's time in `data.time`).
fn recorded(id: &str, changes: &[(ActorKind, &str, &str)]) -> driftguard_model::domain::Ticket {
    use driftguard_model::domain::{EntryKind, TicketEntry};
    use driftguard_model::domain::{Ownership, StackMembership};
    let ownership = Ownership::Managed(StackMembership {
        stack_id: format!("arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/app/1"),
        stack_name: "app".into(),
        logical_id: "Sg".into(),
        resource_type: Some("AWS::EC2::SecurityGroup".into()),
        stack_status: "UPDATE_COMPLETE".into(),
        stack_tags: BTreeMap::new(),
        nested: None,
    });
    let change = driftguard_model::domain::Change {
        event_id: format!("{id}-created"),
        time: at("2026-06-01T00:00:00Z"),
        account: ACCOUNT.into(),
        region: "us-east-1".into(),
        source: driftguard_model::domain::ChangeSource::Cloudtrail,
        service: "ec2".into(),
        operation: "AuthorizeSecurityGroupIngress".into(),
        resource: driftguard_model::domain::ResourceRef::new("AWS::EC2::SecurityGroup", "sg-1"),
        identity: Identity::default(),
        request: serde_json::json!({}),
        response: serde_json::json!({}),
        stack_hint: None,
        drift_hint: None,
        unparsed: Vec::new(),
    };
    let fp = driftguard_model::domain::Fingerprint {
        account: ACCOUNT.into(),
        region: "us-east-1".into(),
        stack: "app".into(),
        logical_id: "Sg".into(),
    };
    let mut ticket = driftguard_model::domain::Ticket::new(fp, &change, &ownership, change.time);
    ticket.id = id.into();
    ticket.history.retain(|e| e.kind != EntryKind::Observed);
    for (kind, principal, time) in changes {
        ticket.history.push(TicketEntry {
            at: at(time),
            kind: EntryKind::Observed,
            event_id: Some(format!("{id}-{time}")),
            summary: format!("{INGRESS} on sg-1 by {kind} {principal} (seen via cloudtrail)"),
            actor: Some(driftguard_model::domain::Actor {
                break_glass_until: None,
                kind: *kind,
                principal: principal.to_string(),
                session_name: None,
                evidence: Vec::new(),
            }),
            data: serde_json::json!({ "time": time }),
        });
    }
    ticket
}

#[test]
fn simulate_denies_the_recorded_hotfixes_and_none_of_the_allowed_changes() {
    use driftguard_model::domain::ActorKind::*;
    let docs = example().scps().unwrap();
    let (console, pipeline, glass) = (
        role("AWSReservedSSO_Admin_0123"),
        role("deploy-pipeline"),
        role("BreakGlass"),
    );
    let tickets = [
        recorded(
            "t1",
            &[
                (Console, &console, "2026-03-15T10:00:00Z"),
                (Pipeline, &pipeline, "2026-03-15T11:00:00Z"),
            ],
        ),
        recorded(
            "t2",
            &[
                (BreakGlass, &glass, "2026-03-16T10:00:00Z"),
                (Cloudformation, CLOUDFORMATION, "2026-03-16T11:00:00Z"),
                // Before the window `since` leaves out.
                (Console, &console, "2026-02-01T10:00:00Z"),
            ],
        ),
    ];
    let sim = simulate::simulate(&tickets, &docs, at("2026-03-01T00:00:00Z")).unwrap();
    let blocked: Vec<_> = sim
        .blocked()
        .map(|r| (r.ticket.as_str(), r.api.as_str()))
        .collect();
    assert_eq!(blocked, [("t1", INGRESS)]);
    assert_eq!(
        sim.hotfixes.len(),
        1,
        "the February change is before --since"
    );
    assert_eq!(
        sim.allowed.len(),
        3,
        "pipeline, break-glass, CloudFormation"
    );
    assert_eq!(sim.wrongly_denied().count(), 0, "{:?}", sim.allowed);
    assert_eq!(sim.skipped, 0);
}

/// Issue 33: equivalents cannot drift apart. Every API a row of the operations
/// table keyed by what changes (`PROPERTIES`) lists is planned from the same
/// table, and on the example policy covered like its twins: denied in the SCPs
/// and the boundary when they are, left out with them when not (a protected type).
#[test]
fn every_listed_equivalent_is_denied_like_its_twins() {
    use driftguard_model::sources::operations::{lookup, PROPERTIES};
    let policy = Policy::from_yaml(EXAMPLE).unwrap();
    let plans = plan(&policy.file);
    let g = example();
    let scps: String = g.scps().unwrap().iter().map(|d| d.render()).collect();
    let boundary = g.boundary().unwrap().render();
    let mut denied = 0;
    for row in PROPERTIES {
        let mut kinds = std::collections::BTreeSet::new();
        for (api, _) in row.apis {
            let (service, op) = api.split_once(':').unwrap();
            let action = iam_action(lookup(service, op).unwrap());
            let planned = plans
                .iter()
                .find(|p| p.action == action)
                .unwrap_or_else(|| panic!("{}: {api} ({action}) not planned", row.what));
            assert!(planned.operations.iter().any(|o| o == api), "{api}");
            let quoted = format!("\"{action}\"");
            let is_denied = matches!(planned.coverage, Coverage::Deny { .. });
            kinds.insert(is_denied);
            if is_denied {
                denied += 1;
                assert!(scps.contains(&quoted), "{api}: {action} not in the SCPs");
                assert!(
                    boundary.contains(&quoted),
                    "{api}: {action} not in the boundary"
                );
            }
        }
        assert_eq!(kinds.len(), 1, "{}: twins covered differently", row.what);
    }
    assert!(denied > 40, "{denied}");
    // The twins named in issue 33, by name.
    for action in [
        "sns:AddPermission",
        "sns:RemovePermission",
        "sqs:AddPermission",
        "sqs:RemovePermission",
        "ec2:ModifyNetworkInterfaceAttribute",
        "ec2:ReplaceIamInstanceProfileAssociation",
        "ssm:DeleteParameters",
        "lambda:UpdateFunctionUrlConfig",
        "dynamodb:PutResourcePolicy",
    ] {
        assert!(scps.contains(&format!("\"{action}\"")), "{action}");
    }
}
