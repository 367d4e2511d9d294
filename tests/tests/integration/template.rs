//! Static checks of `template.yaml` that `sam validate --lint`, cfn-lint and
//! checkov do not make (scripts/check-template runs those):
//! - every function crate under `functions/` is a function in the template and
//!   vice versa, built the way SAM's `rust-cargolambda` needs;
//! - every `!Ref`, `!GetAtt`, `!Sub ${..}`, `!If`/`Condition` and `DependsOn`
//!   points at something that exists (`--lint` misses a `!GetAtt` to a missing
//!   resource inside SAM resources);
//! - no IAM statement allows a `*` action, and the template uses no YAML aliases
//!   (CloudFormation rejects them);
//! - the wiring the code relies on: table shape, bus rules on the event names of
//!   `driftguard_model::events`, environment variables, DLQs, retries, alarms, log groups;
//! - every `events/**/*.json` payload parses (except the deliberately malformed ones).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use driftguard_cli::emulator::workspace_root;
use yaml_serde::Value;

const PSEUDO_PARAMETERS: &[&str] = &[
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
];

struct Template {
    root: Value,
}

impl Template {
    fn load() -> Template {
        Template::load_path("template.yaml")
    }

    /// A template by its path from the workspace root (`templates/member.yaml`).
    fn load_path(relative: &str) -> Template {
        let path = workspace_root().join(relative);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {relative}: {e}"));
        let root: Value =
            yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{relative} is YAML: {e}"));
        Template { root }
    }

    fn section(&self, name: &str) -> &yaml_serde::Mapping {
        self.root
            .get(name)
            .and_then(Value::as_mapping)
            .unwrap_or_else(|| panic!("template has a {name} section"))
    }

    fn names(&self, section: &str) -> BTreeSet<String> {
        self.root
            .get(section)
            .and_then(Value::as_mapping)
            .map(|m| {
                m.keys()
                    .filter_map(|k| k.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn resources(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.section("Resources")
            .iter()
            .map(|(k, v)| (k.as_str().expect("logical id is a string"), v))
    }

    fn resources_of_type<'a>(&'a self, ty: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> {
        self.resources()
            .filter(move |(_, r)| r.get("Type").and_then(Value::as_str) == Some(ty))
    }

    fn resource(&self, logical_id: &str) -> &Value {
        self.section("Resources")
            .get(logical_id)
            .unwrap_or_else(|| panic!("resource {logical_id} exists"))
    }

    /// A function property, falling back to `Globals.Function`.
    fn function_property<'a>(&'a self, function: &'a Value, key: &str) -> Option<&'a Value> {
        function
            .get("Properties")
            .and_then(|p| p.get(key))
            .or_else(|| self.root.get("Globals")?.get("Function")?.get(key))
    }

    fn global_env(&self) -> BTreeSet<String> {
        self.root["Globals"]["Function"]["Environment"]["Variables"]
            .as_mapping()
            .expect("Globals.Function.Environment.Variables")
            .keys()
            .filter_map(|k| k.as_str().map(String::from))
            .collect()
    }
}

/// `!Tag value` as (tag without `!`, value), also for the long `Fn::X:` form.
fn intrinsic(value: &Value) -> Option<(String, &Value)> {
    match value {
        Value::Tagged(t) => Some((
            t.tag.to_string().trim_start_matches('!').to_string(),
            &t.value,
        )),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, v) = m.iter().next()?;
            let k = k.as_str()?;
            if k == "Ref" || k == "Condition" {
                Some((k.to_string(), v))
            } else {
                k.strip_prefix("Fn::").map(|name| (name.to_string(), v))
            }
        }
        _ => None,
    }
}

/// The `${Name}` / `${Resource.Attr}` variables of a `!Sub` string (`${!Literal}` excluded).
fn sub_variables(s: &str) -> Vec<String> {
    let mut vars = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let var = &after[..end];
        if !var.starts_with('!') {
            vars.push(var.trim().to_string());
        }
        rest = &after[end + 1..];
    }
    vars
}

#[derive(Default)]
struct ReferenceCheck {
    resources: BTreeSet<String>,
    /// Resources SAM generates: `<Function>Url` (AWS::Lambda::Url) for a function
    /// with `FunctionUrlConfig`.
    sam_generated: BTreeSet<String>,
    parameters: BTreeSet<String>,
    conditions: BTreeSet<String>,
    problems: Vec<String>,
}

impl ReferenceCheck {
    fn ref_target_exists(&self, name: &str) -> bool {
        self.resources.contains(name)
            || self.sam_generated.contains(name)
            || self.parameters.contains(name)
            || PSEUDO_PARAMETERS.contains(&name)
    }

    fn check_ref(&mut self, at: &str, name: &str) {
        if !self.ref_target_exists(name) {
            self.problems.push(format!(
                "{at}: Ref {name} is not a resource, parameter or pseudo parameter"
            ));
        }
    }

    fn check_get_att(&mut self, at: &str, resource: &str) {
        if !self.resources.contains(resource) && !self.sam_generated.contains(resource) {
            self.problems
                .push(format!("{at}: GetAtt {resource} is not a resource"));
        }
    }

    fn check_condition(&mut self, at: &str, name: &str) {
        if !self.conditions.contains(name) {
            self.problems
                .push(format!("{at}: condition {name} is not defined"));
        }
    }

    fn walk(&mut self, at: &str, value: &Value) {
        if let Some((name, arg)) = intrinsic(value) {
            match name.as_str() {
                "Ref" => match arg.as_str() {
                    Some(target) => self.check_ref(at, target),
                    None => self.problems.push(format!("{at}: Ref needs a string")),
                },
                "GetAtt" => {
                    let resource = match arg {
                        Value::String(s) => s.split('.').next().map(String::from),
                        Value::Sequence(items) => {
                            items.first().and_then(Value::as_str).map(String::from)
                        }
                        _ => None,
                    };
                    match resource {
                        Some(r) => self.check_get_att(at, &r),
                        None => self
                            .problems
                            .push(format!("{at}: malformed GetAtt {arg:?}")),
                    }
                }
                "Sub" => {
                    let (text, local) = match arg {
                        Value::String(s) => (Some(s.as_str()), BTreeSet::new()),
                        Value::Sequence(items) => (
                            items.first().and_then(Value::as_str),
                            items
                                .get(1)
                                .and_then(Value::as_mapping)
                                .map(|m| {
                                    m.keys()
                                        .filter_map(|k| k.as_str().map(String::from))
                                        .collect()
                                })
                                .unwrap_or_default(),
                        ),
                        _ => (None, BTreeSet::new()),
                    };
                    let Some(text) = text else {
                        self.problems.push(format!("{at}: malformed Sub"));
                        return;
                    };
                    for var in sub_variables(text) {
                        if local.contains(&var) {
                            continue;
                        }
                        match var.split_once('.') {
                            Some((resource, _)) if !PSEUDO_PARAMETERS.contains(&var.as_str()) => {
                                self.check_get_att(at, resource)
                            }
                            _ => self.check_ref(at, &var),
                        }
                    }
                }
                "If" => {
                    if let Some(cond) = arg
                        .as_sequence()
                        .and_then(|s| s.first())
                        .and_then(Value::as_str)
                    {
                        self.check_condition(at, cond);
                    } else {
                        self.problems.push(format!("{at}: malformed If"));
                    }
                }
                "Condition" => {
                    if let Some(cond) = arg.as_str() {
                        self.check_condition(at, cond);
                    }
                }
                _ => {}
            }
            // Nested intrinsics (e.g. the values inside !If or !Join).
            self.walk_children(at, arg);
            return;
        }
        self.walk_children(at, value);
    }

    fn walk_children(&mut self, at: &str, value: &Value) {
        match value {
            Value::Mapping(m) => {
                for (k, v) in m {
                    let key = k.as_str().unwrap_or("?");
                    self.walk(&format!("{at}.{key}"), v);
                }
            }
            Value::Sequence(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.walk(&format!("{at}[{i}]"), v);
                }
            }
            Value::Tagged(t) => self.walk(at, &t.value),
            _ => {}
        }
    }
}

#[test]
fn every_reference_in_the_template_points_at_something_that_exists() {
    let template = Template::load();
    let mut check = ReferenceCheck {
        resources: template.names("Resources"),
        sam_generated: template
            .resources_of_type("AWS::Serverless::Function")
            .filter(|(_, f)| f["Properties"].get("FunctionUrlConfig").is_some())
            .map(|(id, _)| format!("{id}Url"))
            .collect(),
        parameters: template.names("Parameters"),
        conditions: template.names("Conditions"),
        problems: Vec::new(),
    };
    for section in ["Globals", "Conditions", "Resources", "Outputs"] {
        if let Some(value) = template.root.get(section) {
            check.walk(section, value);
        }
    }
    for (id, resource) in template.resources() {
        if let Some(cond) = resource.get("Condition").and_then(Value::as_str) {
            check.check_condition(id, cond);
        }
        let depends: Vec<&str> = match resource.get("DependsOn") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Sequence(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        for target in depends {
            if !check.resources.contains(target) {
                check
                    .problems
                    .push(format!("{id}: DependsOn {target} is not a resource"));
            }
        }
    }
    for (name, output) in template.section("Outputs") {
        if let Some(cond) = output.get("Condition").and_then(Value::as_str) {
            check.check_condition(name.as_str().unwrap_or("?"), cond);
        }
    }
    assert!(
        check.problems.is_empty(),
        "dangling references:\n{}",
        check.problems.join("\n")
    );
}

#[test]
fn the_reference_check_catches_what_sam_lint_misses() {
    // Guard the guard: a GetAtt to a missing resource inside a SAM function, a
    // Sub variable naming a missing resource, a Ref to a missing parameter and an
    // unknown condition must all be reported.
    let broken: Value = yaml_serde::from_str(
        r#"
Conditions:
  Real: !Equals [a, a]
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Role: !GetAtt MissingRole.Arn
      Environment:
        Variables:
          A: !Sub "${MissingQueue.Arn}/x"
          B: !Ref MissingParameter
          C: !If [MissingCondition, x, y]
          D: !Sub "${AWS::Region}-${!Literal}-${Fn}"
          E: { "Fn::GetAtt": [AlsoMissing, Arn] }
"#,
    )
    .unwrap();
    let mut check = ReferenceCheck {
        resources: ["Fn".to_string()].into(),
        conditions: ["Real".to_string()].into(),
        ..Default::default()
    };
    check.walk("Resources", &broken["Resources"]);
    let report = check.problems.join("\n");
    for missing in [
        "MissingRole",
        "MissingQueue",
        "MissingParameter",
        "MissingCondition",
        "AlsoMissing",
    ] {
        assert!(
            report.contains(missing),
            "{missing} not reported in:\n{report}"
        );
    }
    assert_eq!(check.problems.len(), 5, "{report}");
}

/// Package names of the crates under `functions/`.
fn function_crates() -> BTreeSet<String> {
    let dir = workspace_root().join("functions");
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("functions/ exists") {
        let manifest = entry.unwrap().path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let name = text
            .lines()
            .skip_while(|l| l.trim() != "[package]")
            .find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == "name").then(|| v.trim().trim_matches('"').to_string())
            })
            .unwrap_or_else(|| panic!("{} has a package name", manifest.display()));
        names.insert(name);
    }
    names
}

#[test]
fn every_function_crate_is_a_template_function_and_vice_versa() {
    let template = Template::load();
    let crates = function_crates();
    assert!(
        crates.len() >= 5,
        "expected the five function crates, found {crates:?}"
    );

    let workspace_manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
    let mut binaries = BTreeSet::new();
    for (id, function) in template.resources_of_type("AWS::Serverless::Function") {
        let metadata = &function["Metadata"];
        assert_eq!(
            metadata["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{id} BuildMethod"
        );
        let binary = metadata["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} has Metadata.BuildProperties.Binary"))
            .to_string();
        assert!(
            workspace_manifest.contains(&format!("\"functions/{binary}\"")),
            "{id}: functions/{binary} is not a workspace member"
        );
        // CodeUri is the member's own directory: SAM's rust-cargolambda builder runs
        // `cargo lambda build` there (it builds in source only), so cargo selects that
        // one package and resolves only its features: the function links only the
        // adapter services it enables, not the union over the workspace.
        assert_eq!(
            template
                .function_property(function, "CodeUri")
                .and_then(Value::as_str),
            Some(format!("functions/{binary}").as_str()),
            "{id} CodeUri"
        );
        assert_eq!(
            template
                .function_property(function, "Handler")
                .and_then(Value::as_str),
            Some("bootstrap"),
            "{id} Handler"
        );
        assert_eq!(
            template
                .function_property(function, "Runtime")
                .and_then(Value::as_str),
            Some("provided.al2023"),
            "{id} Runtime"
        );
        let arch: Vec<&str> = template
            .function_property(function, "Architectures")
            .and_then(Value::as_sequence)
            .map(|s| s.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(arch, ["arm64"], "{id} Architectures");
        assert!(
            binaries.insert(binary.clone()),
            "binary {binary} built by two functions"
        );
    }
    assert_eq!(
        binaries, crates,
        "template functions (left) vs crates under functions/ (right)"
    );
}

fn statements(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Mapping(m) => {
            if m.contains_key("Effect") {
                out.push(value.clone());
            }
            for v in m.values() {
                statements(v, out);
            }
        }
        Value::Sequence(items) => items.iter().for_each(|v| statements(v, out)),
        Value::Tagged(t) => statements(&t.value, out),
        _ => {}
    }
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        _ => vec![],
    }
}

#[test]
fn no_iam_statement_allows_a_star_action() {
    let template = Template::load();
    let mut all = Vec::new();
    statements(template.root.get("Resources").unwrap(), &mut all);
    assert!(
        all.len() > 20,
        "found only {} statements: is the walk broken?",
        all.len()
    );
    let mut problems = Vec::new();
    for statement in &all {
        let sid = statement
            .get("Sid")
            .and_then(Value::as_str)
            .unwrap_or("(no Sid)");
        let allow = statement.get("Effect").and_then(Value::as_str) == Some("Allow");
        if allow && statement.get("NotAction").is_some() {
            problems.push(format!("{sid}: Allow with NotAction"));
        }
        let actions = statement.get("Action").map(strings).unwrap_or_default();
        if allow && actions.is_empty() {
            problems.push(format!("{sid}: Allow without a literal Action list"));
        }
        for action in actions {
            if action == "*" || action.ends_with(":*") {
                problems.push(format!("{sid}: action {action}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "over-broad IAM:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_template_uses_no_yaml_aliases() {
    // sam deploy unrolls aliases, but CloudFormation itself rejects them
    // ("YAML aliases are not allowed in CloudFormation templates").
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    for (n, line) in text.lines().enumerate() {
        let code = line.split(" #").next().unwrap_or(line);
        let bytes = code.as_bytes();
        for i in 1..bytes.len() {
            let sigil = bytes[i] == b'*' || bytes[i] == b'&';
            let after_separator = matches!(bytes[i - 1], b' ' | b'[' | b',');
            let names_something = bytes.get(i + 1).is_some_and(|b| b.is_ascii_alphabetic());
            assert!(
                !(sigil && after_separator && names_something),
                "template.yaml:{}: YAML anchor or alias: {line}",
                n + 1
            );
        }
    }
}

#[test]
fn ticket_table_matches_the_shared_conventions() {
    let template = Template::load();
    let table = &template.resource("TicketTable")["Properties"];
    let key: Vec<(&str, &str)> = table["KeySchema"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap(),
                k["KeyType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(key, [("pk", "HASH")], "partition key pk, no sort key");
    let gsi = table["GlobalSecondaryIndexes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|i| i["IndexName"].as_str() == Some("by-state"))
        .expect("GSI by-state");
    let gsi_key: Vec<(&str, &str)> = gsi["KeySchema"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap(),
                k["KeyType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(gsi_key, [("state", "HASH"), ("updated_at", "RANGE")]);
    assert_eq!(gsi["Projection"]["ProjectionType"].as_str(), Some("ALL"));
    let attrs: BTreeMap<&str, &str> = table["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap(),
                a["AttributeType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        attrs,
        BTreeMap::from([("pk", "S"), ("state", "S"), ("updated_at", "S")])
    );
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some("ttl")
    );
    assert_eq!(
        table["TimeToLiveSpecification"]["Enabled"].as_bool(),
        Some(true)
    );
    assert_eq!(
        table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(
        table["SSESpecification"]["SSEEnabled"].as_bool(),
        Some(true)
    );
}

#[test]
fn functions_get_the_environment_the_code_reads() {
    let template = Template::load();
    let env = template.global_env();
    for var in [
        "TABLE_NAME",
        "EVENT_BUS_NAME",
        "POLICY_PARAMETER",
        "DRY_RUN",
        "TOPIC_ARN",
        "SLACK_SECRET_ARN",
        "OPSCENTER_MIRROR",
        "EVENT_TTL_DAYS",
    ] {
        assert!(
            env.contains(var),
            "Globals.Function.Environment lacks {var}"
        );
    }
    let dry_run = &template.section("Parameters")[&Value::from("DryRun")];
    assert_eq!(
        dry_run["Default"].as_str(),
        Some("true"),
        "dry-run must be the default"
    );
    let bus = template.resource("DriftguardBus");
    assert_eq!(bus["Type"].as_str(), Some("AWS::Events::EventBus"));
    let default_bus_name = &template.section("Parameters")[&Value::from("EventBusName")]["Default"];
    assert_eq!(default_bus_name.as_str(), Some("driftguard"));
}

fn is_tag(value: &Value, tag: &str, arg: &str) -> bool {
    matches!(intrinsic(value), Some((t, v)) if t == tag && (v.as_str() == Some(arg)
        || v.as_str().and_then(|s| s.split('.').next()) == Some(arg)))
}

/// (rule id, target function logical id) for every rule.
fn rule_targets(template: &Template) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (id, rule) in template.resources_of_type("AWS::Events::Rule") {
        for target in rule["Properties"]["Targets"]
            .as_sequence()
            .expect("rule targets")
        {
            let (_, arn) = intrinsic(&target["Arn"]).expect("target Arn is a GetAtt");
            let function = arn.as_str().unwrap().split('.').next().unwrap().to_string();
            out.push((id.to_string(), function));
        }
    }
    out
}

#[test]
fn every_trigger_retries_and_dead_letters_and_may_invoke_its_function() {
    let template = Template::load();
    let targets = rule_targets(&template);
    assert!(targets.len() >= 7, "{targets:?}");
    for (id, rule) in template.resources_of_type("AWS::Events::Rule") {
        for target in rule["Properties"]["Targets"].as_sequence().unwrap() {
            let retry = &target["RetryPolicy"];
            assert!(
                retry["MaximumRetryAttempts"].as_u64().is_some(),
                "{id}: RetryPolicy.MaximumRetryAttempts"
            );
            assert!(
                retry["MaximumEventAgeInSeconds"].as_u64().is_some(),
                "{id}: RetryPolicy.MaximumEventAgeInSeconds"
            );
            let dlq = &target["DeadLetterConfig"]["Arn"];
            let (_, queue) = intrinsic(dlq).unwrap_or_else(|| panic!("{id}: DeadLetterConfig.Arn"));
            let queue = queue.as_str().unwrap().split('.').next().unwrap();
            assert_eq!(
                template.resource(queue)["Type"].as_str(),
                Some("AWS::SQS::Queue"),
                "{id}"
            );
        }
    }
    for (rule, function) in targets {
        let permitted = template
            .resources_of_type("AWS::Lambda::Permission")
            .any(|(_, p)| {
                let p = &p["Properties"];
                p["Principal"].as_str() == Some("events.amazonaws.com")
                    && is_tag(&p["SourceArn"], "GetAtt", &rule)
                    && (is_tag(&p["FunctionName"], "Ref", &function)
                        || is_tag(&p["FunctionName"], "GetAtt", &function))
            });
        assert!(
            permitted,
            "no lambda:InvokeFunction permission for {rule} -> {function}"
        );
    }
}

#[test]
fn every_function_has_a_dlq_a_log_group_and_alarms() {
    let template = Template::load();
    let alarms: Vec<&Value> = template
        .resources_of_type("AWS::CloudWatch::Alarm")
        .map(|(_, a)| &a["Properties"])
        .collect();
    let alarm_on = |metric: &str, dimension_target: &str| {
        alarms.iter().any(|a| {
            a["MetricName"].as_str() == Some(metric)
                && a["Dimensions"].as_sequence().is_some_and(|d| {
                    d.iter().any(|d| {
                        is_tag(&d["Value"], "Ref", dimension_target)
                            || is_tag(&d["Value"], "GetAtt", dimension_target)
                    })
                })
                && a["AlarmActions"]
                    .as_sequence()
                    .is_some_and(|acts| !acts.is_empty())
        })
    };
    for (id, function) in template.resources_of_type("AWS::Serverless::Function") {
        let props = &function["Properties"];
        // A function URL is invoked synchronously: the caller gets the error,
        // there is no asynchronous event to dead-letter (alarms and logs still).
        let synchronous = props.get("FunctionUrlConfig").is_some();
        if synchronous {
            assert!(alarm_on("Errors", id), "no Errors alarm on {id}");
            assert!(alarm_on("Throttles", id), "no Throttles alarm on {id}");
            assert!(
                props["LoggingConfig"].get("LogGroup").is_some(),
                "{id} log group"
            );
            continue;
        }
        let (_, queue) = intrinsic(&props["DeadLetterQueue"]["TargetArn"])
            .unwrap_or_else(|| panic!("{id} DeadLetterQueue"));
        let queue = queue
            .as_str()
            .unwrap()
            .split('.')
            .next()
            .unwrap()
            .to_string();
        assert_eq!(
            props["DeadLetterQueue"]["Type"].as_str(),
            Some("SQS"),
            "{id}"
        );
        assert!(
            alarm_on("ApproximateNumberOfMessagesVisible", &queue),
            "no DLQ depth alarm on {queue}"
        );
        assert!(alarm_on("Errors", id), "no Errors alarm on {id}");
        assert!(alarm_on("Throttles", id), "no Throttles alarm on {id}");

        let (_, group) = intrinsic(&props["LoggingConfig"]["LogGroup"])
            .unwrap_or_else(|| panic!("{id} LoggingConfig.LogGroup"));
        let group = template.resource(group.as_str().unwrap());
        assert_eq!(group["Type"].as_str(), Some("AWS::Logs::LogGroup"));
        assert!(
            group["Properties"].get("RetentionInDays").is_some(),
            "{id}: log retention"
        );
        let format = props["LoggingConfig"]
            .get("LogFormat")
            .or_else(|| template.root["Globals"]["Function"]["LoggingConfig"].get("LogFormat"))
            .and_then(Value::as_str);
        assert_eq!(format, Some("JSON"), "{id}: JSON logs");
    }
    let reserved =
        &template.resource("RemediateFunction")["Properties"]["ReservedConcurrentExecutions"];
    assert!(
        is_tag(reserved, "Ref", "RemediateReservedConcurrency"),
        "remediate's blast-radius cap"
    );
    // detect's cap on cold instances (each builds its ownership index),
    // unreserved only when an operator sets 0.
    let detect = &template.resource("DetectFunction")["Properties"]["ReservedConcurrentExecutions"];
    let (tag, args) = intrinsic(detect).expect("detect's reserved concurrency");
    let args = args.as_sequence().expect("!If arguments");
    assert_eq!(tag, "If");
    assert_eq!(args[0].as_str(), Some("ReservesDetectConcurrency"));
    assert!(is_tag(&args[1], "Ref", "DetectReservedConcurrency"));
    assert!(is_tag(&args[2], "Ref", "AWS::NoValue"));
    let default = &template.root["Parameters"]["DetectReservedConcurrency"]["Default"];
    assert!(
        default.as_u64().is_some_and(|d| d > 0),
        "reserved by default"
    );
}

#[test]
fn bus_rules_match_the_events_the_code_publishes() {
    use driftguard_model::events::{
        DRIFT_ACCEPTED, DRIFT_DECISION, REMEDIATION_APPROVED, REMEDIATION_RESULT, SOURCE,
        SWEEP_SUMMARY,
    };
    let template = Template::load();
    let published = [
        DRIFT_DECISION,
        REMEDIATION_RESULT,
        REMEDIATION_APPROVED,
        SWEEP_SUMMARY,
        DRIFT_ACCEPTED,
    ];
    let mut routed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (id, rule) in template.resources_of_type("AWS::Events::Rule") {
        let props = &rule["Properties"];
        if !(is_tag(&props["EventBusName"], "Ref", "DriftguardBus")
            || is_tag(&props["EventBusName"], "GetAtt", "DriftguardBus"))
        {
            continue;
        }
        let pattern = &props["EventPattern"];
        assert_eq!(strings(&pattern["source"]), [SOURCE], "{id} source");
        let function = rule_targets(&template)
            .into_iter()
            .find(|(r, _)| r == id)
            .map(|(_, f)| f)
            .unwrap();
        for detail_type in strings(&pattern["detail-type"]) {
            assert!(
                published.contains(&detail_type.as_str()),
                "{id}: unknown detail-type {detail_type}"
            );
            routed
                .entry(detail_type)
                .or_default()
                .insert(function.clone());
        }
        if let Some(actions) = pattern
            .get("detail")
            .and_then(|d| d["decision"]["verdict"].get("action"))
        {
            for action in strings(actions) {
                let parsed: driftguard_model::domain::Action =
                    serde_json::from_value(serde_json::Value::String(action.clone()))
                        .unwrap_or_else(|e| {
                            panic!("{id}: verdict action {action} is not an Action: {e}")
                        });
                assert!(
                    parsed.acts(),
                    "{id}: remediate is triggered by a non-acting verdict {action}"
                );
            }
        }
    }
    let expect = |dt: &str, f: &[&str]| {
        assert_eq!(
            routed.get(dt).cloned().unwrap_or_default(),
            f.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(),
            "functions receiving {dt}"
        );
    };
    expect(DRIFT_DECISION, &["RemediateFunction", "NotifyFunction"]);
    expect(REMEDIATION_APPROVED, &["RemediateFunction"]);
    expect(REMEDIATION_RESULT, &["NotifyFunction"]);
    // `driftguard accept` puts it; notify announces it.
    expect(DRIFT_ACCEPTED, &["NotifyFunction"]);
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

#[test]
fn every_event_payload_is_valid_json() {
    let events = workspace_root().join("events");
    let malformed = events.join("detect").join("malformed");
    let mut files = Vec::new();
    json_files(&events, &mut files);
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter(|p| !p.starts_with(&malformed))
        .collect();
    assert!(!files.is_empty(), "no payloads under events/");
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&text) {
            problems.push(format!("{}: {e}", file.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "invalid JSON payloads:\n{}",
        problems.join("\n")
    );
}

#[test]
fn native_payloads_for_sweep_and_config_rule_have_the_lambda_shapes() {
    let events = workspace_root().join("events");
    let read = |p: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(events.join(p)).unwrap()).unwrap()
    };
    let scheduled = read("sweep/scheduled.json");
    assert_eq!(scheduled["detail-type"], "Scheduled Event");
    assert_eq!(scheduled["source"], "aws.events");

    let mut files = Vec::new();
    json_files(&events.join("config-rule"), &mut files);
    let mut message_types = BTreeSet::new();
    for file in files {
        let event: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for field in [
            "resultToken",
            "configRuleName",
            "accountId",
            "ruleParameters",
        ] {
            assert!(event.get(field).is_some(), "{}: {field}", file.display());
        }
        // AWS Config passes invokingEvent as a JSON string, not an object.
        let invoking: serde_json::Value =
            serde_json::from_str(event["invokingEvent"].as_str().unwrap())
                .unwrap_or_else(|e| panic!("{}: invokingEvent: {e}", file.display()));
        message_types.insert(invoking["messageType"].as_str().unwrap().to_string());
    }
    for expected in [
        "ConfigurationItemChangeNotification",
        "OversizedConfigurationItemChangeNotification",
        "ScheduledNotification",
    ] {
        assert!(
            message_types.contains(expected),
            "no config-rule payload with {expected}"
        );
    }
}

/// Translate the SAM template offline with `samtranslator` (from `.venv/sam`), the
/// way `sam deploy` does, with CodeUri pointing at `s3://bucket/key`; also write a
/// placeholder code zip to `zip_out`.
fn translate_template(bucket: &str, key: &str, zip_out: &Path) -> String {
    let python = workspace_root().join(".venv/sam/bin/python");
    assert!(
        python.exists(),
        "{} missing: run scripts/setup",
        python.display()
    );
    let script = r##"
import io, json, sys, zipfile
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

template_path, code_uri, zip_out = sys.argv[1:4]
with open(template_path) as f:
    template = yaml_parse(f.read())
for resource in template["Resources"].values():
    if resource.get("Type") == "AWS::Serverless::Function":
        resource["Properties"]["CodeUri"] = code_uri
        # moto's CloudFormation has no AWS::Lambda::CodeSigningConfig (it skips the
        # type, then a !GetAtt of it fails) and moto does not verify signatures:
        # the configuration is left out here only (template/code_signing.rs covers it).
        resource["Properties"].pop("CodeSigningConfigArn", None)
template["Resources"].pop("CodeSigningConfig", None)
template["Parameters"].pop("SigningProfileVersionArn", None)
template["Parameters"].pop("CodeSigningPolicy", None)
# moto's CloudFormation skips AWS::Lambda::Url ("Tried to parse AWS::Lambda::Url but
# it's not supported") and then fails validating an output that reads its
# attribute: the approval URL output is left out here only (static tests cover it).
template["Outputs"].pop("ApprovalUrl", None)

class NoManagedPolicies:
    def load(self):
        return {}

with zipfile.ZipFile(zip_out, "w") as z:
    z.writestr("bootstrap", "#!/bin/sh\nexit 1\n")
print(json.dumps(transform(template, {}, NoManagedPolicies())))
"##;
    let output = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(workspace_root().join("template.yaml"))
        .arg(format!("s3://{bucket}/{key}"))
        .arg(zip_out)
        .env("AWS_DEFAULT_REGION", driftguard_cli::emulator::REGION)
        .output()
        .expect("run samtranslator");
    assert!(
        output.status.success(),
        "samtranslator failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The transformed template creates on the moto emulator and the resources come out
/// wired as the code expects. moto skips AWS::Config::ConfigRule and does not run
/// the functions; the rest is created for real.
#[tokio::test]
async fn translated_template_deploys_on_moto_with_the_expected_wiring() {
    use aws_sdk_cloudformation::types::{Capability, StackStatus};

    let moto = integration_tests::moto();
    let config = moto.sdk_config_with_sdk_retries().await;
    let bucket = integration_tests::unique("driftguard-artifacts");
    let zip = tempfile::NamedTempFile::new().unwrap();
    let body = translate_template(&bucket, "code.zip", zip.path());

    let s3 = aws_sdk_s3::Client::new(&config);
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("code.zip")
        .body(std::fs::read(zip.path()).unwrap().into())
        .send()
        .await
        .unwrap();

    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let stack = integration_tests::unique("driftguard");
    cfn.create_stack()
        .stack_name(&stack)
        .template_body(body)
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .parameters(
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key("OwnRoleName")
                .parameter_value(format!("{stack}-remediation"))
                .build(),
        )
        .parameters(
            aws_sdk_cloudformation::types::Parameter::builder()
                .parameter_key("EventBusName")
                .parameter_value(&stack)
                .build(),
        )
        .send()
        .await
        .expect("CreateStack");
    let described = cfn
        .describe_stacks()
        .stack_name(&stack)
        .send()
        .await
        .unwrap();
    let described = &described.stacks()[0];
    assert_eq!(
        described.stack_status(),
        Some(&StackStatus::CreateComplete),
        "{:?}",
        described.stack_status_reason()
    );
    let outputs: BTreeMap<String, String> = described
        .outputs()
        .iter()
        .map(|o| {
            (
                o.output_key().unwrap().to_string(),
                o.output_value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let physical: BTreeMap<String, String> = cfn
        .list_stack_resources()
        .stack_name(&stack)
        .send()
        .await
        .unwrap()
        .stack_resource_summaries()
        .iter()
        .filter_map(|r| {
            Some((
                r.logical_resource_id()?.to_string(),
                r.physical_resource_id()?.to_string(),
            ))
        })
        .collect();

    // Outputs the operators and the policy need.
    assert_eq!(outputs["EventBusName"], stack);
    assert!(outputs["RemediationRoleArn"].ends_with(&format!(":role/{stack}-remediation")));
    for key in [
        "TicketTableName",
        "AlertTopicArn",
        "DetectFunctionArn",
        "RemediateFunctionArn",
    ] {
        assert!(!outputs[key].is_empty(), "output {key}");
    }

    // The ticket table, as the TicketStore adapter expects it.
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let table_name = &outputs["TicketTableName"];
    let table = ddb
        .describe_table()
        .table_name(table_name)
        .send()
        .await
        .unwrap();
    let table = table.table().unwrap();
    let key: Vec<&str> = table
        .key_schema()
        .iter()
        .map(|k| k.attribute_name())
        .collect();
    assert_eq!(key, ["pk"]);
    let gsi = table.global_secondary_indexes();
    assert_eq!(gsi.len(), 1);
    assert_eq!(gsi[0].index_name(), Some("by-state"));
    let gsi_key: Vec<&str> = gsi[0]
        .key_schema()
        .iter()
        .map(|k| k.attribute_name())
        .collect();
    assert_eq!(gsi_key, ["state", "updated_at"]);
    // moto's CloudFormation ignores TimeToLiveSpecification and PITR (the static
    // ticket_table_matches_the_shared_conventions test covers them).

    // Functions: environment wired to the created resources, remediate capped.
    let lambda = aws_sdk_lambda::Client::new(&config);
    let detect = lambda
        .get_function_configuration()
        .function_name(&physical["DetectFunction"])
        .send()
        .await
        .unwrap();
    let env = detect
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default();
    assert_eq!(env.get("TABLE_NAME"), Some(table_name));
    assert_eq!(env.get("EVENT_BUS_NAME"), Some(&stack));
    assert_eq!(env.get("TOPIC_ARN"), Some(&outputs["AlertTopicArn"]));
    assert_eq!(env.get("DRY_RUN").map(String::as_str), Some("true"));
    assert_eq!(
        env.get("POLICY_PARAMETER").map(String::as_str),
        Some("/driftguard/policy")
    );
    assert_eq!(detect.handler(), Some("bootstrap"));
    let concurrency = lambda
        .get_function_concurrency()
        .function_name(&physical["RemediateFunction"])
        .send()
        .await
        .unwrap();
    assert_eq!(concurrency.reserved_concurrent_executions(), Some(2));

    // Rules: the remediate rule on driftguard's bus filters acting verdicts and
    // targets remediate with retries and a dead-letter queue.
    let events = aws_sdk_eventbridge::Client::new(&config);
    let rule = events
        .describe_rule()
        .name(&physical["RemediateDecisionRule"])
        .event_bus_name(&stack)
        .send()
        .await
        .expect("remediate rule is on the driftguard bus");
    let pattern: serde_json::Value = serde_json::from_str(rule.event_pattern().unwrap()).unwrap();
    assert_eq!(
        pattern["detail-type"],
        serde_json::json!([driftguard_model::events::DRIFT_DECISION])
    );
    assert_eq!(
        pattern["detail"]["decision"]["verdict"]["action"],
        serde_json::json!(["revert", "rollback"])
    );
    let targets = events
        .list_targets_by_rule()
        .rule(&physical["RemediateDecisionRule"])
        .event_bus_name(&stack)
        .send()
        .await
        .unwrap();
    let target = &targets.targets()[0];
    assert_eq!(target.arn(), outputs["RemediateFunctionArn"].as_str());
    assert!(target
        .retry_policy()
        .and_then(|r| r.maximum_retry_attempts())
        .is_some());
    assert!(target
        .dead_letter_config()
        .and_then(|d| d.arn())
        .is_some_and(|a| a.contains("RemediateDeadLetterQueue")));

    // The CloudTrail rule is on the default bus and routes every write: its only
    // eventName condition is the deny-list (routing_moto.rs evaluates it).
    let trail = events
        .describe_rule()
        .name(&physical["CloudTrailWriteRule"])
        .send()
        .await
        .expect("CloudTrail rule on the default bus");
    let pattern: serde_json::Value = serde_json::from_str(trail.event_pattern().unwrap()).unwrap();
    let names = pattern["detail"]["eventName"].as_array().unwrap();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0]["anything-but"]
        .as_array()
        .is_some_and(|deny| deny.iter().any(|n| n == "PutLogEvents")));
    assert_eq!(
        pattern["detail"]["eventSource"],
        serde_json::json!([{"anything-but": ["signin.amazonaws.com", "sts.amazonaws.com"]}]),
        "WatchedServices empty: every service but the deny-list's"
    );

    // The remediation role exists under the name the policy's identities.own matches.
    let iam = aws_sdk_iam::Client::new(&config);
    iam.get_role()
        .role_name(format!("{stack}-remediation"))
        .send()
        .await
        .expect("remediation role");

    cfn.delete_stack().stack_name(&stack).send().await.unwrap();
}

// ------------------------------------------------------------ rules from the operations table
// `ConfigChangeRule` routes the types the parser maps, derived from
// `driftguard_model::sources::operations::OPERATIONS` here. `CloudTrailWriteRule` routes every
// write, whatever its operation (issue 33): routing_moto.rs evaluates its pattern,
// and the member's copy, against every table name and recorded event.

fn sorted_strings(value: &Value) -> BTreeSet<String> {
    strings(value).into_iter().collect()
}

fn table_resource_types() -> BTreeSet<String> {
    driftguard_model::sources::operations::OPERATIONS
        .iter()
        .map(|s| s.resource_type.to_string())
        .collect()
}

#[test]
fn config_change_rule_is_filtered_to_the_table_types_and_its_own_rule() {
    let template = Template::load();
    let pattern = &template.resource("ConfigChangeRule")["Properties"]["EventPattern"];
    assert_eq!(strings(&pattern["source"]), ["aws.config"]);
    assert!(
        pattern.get("detail-type").is_none(),
        "detail-type only inside $or"
    );
    let alternatives = pattern["$or"].as_sequence().expect("$or list");
    let types = table_resource_types();
    let (mut item, mut summary, mut compliance) = (false, false, false);
    for alt in alternatives {
        let detail_type = strings(&alt["detail-type"]);
        let detail = &alt["detail"];
        match detail_type.as_slice() {
            [t] if t == driftguard_model::sources::CONFIG_ITEM_CHANGE => {
                if let Some(ci) = detail.get("configurationItem") {
                    assert_eq!(sorted_strings(&ci["resourceType"]), types);
                    item = true;
                } else {
                    let ci = &detail["configurationItemSummary"];
                    assert_eq!(sorted_strings(&ci["resourceType"]), types);
                    summary = true;
                }
            }
            [t] if t == driftguard_model::sources::CONFIG_COMPLIANCE_CHANGE => {
                // The name DriftConfigRule gives itself, nothing else.
                let names = detail["configRuleName"].as_sequence().expect("names");
                let own = &template.resource("DriftConfigRule")["Properties"]["ConfigRuleName"];
                assert_eq!(names.len(), 1);
                assert_eq!(&names[0], own);
                compliance = true;
            }
            other => panic!("unexpected alternative {other:?}"),
        }
    }
    assert!(item && summary && compliance);
}

// ------------------------------------------------------------ the optional trail
// "To record events with a detail-type value of AWS API Call via CloudTrail, a
// CloudTrail trail with logging enabled is required."
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html)

/// The strings of a plain or `!Sub`-tagged value.
fn sub_strings(value: &Value) -> Vec<String> {
    match value {
        Value::Tagged(tagged) => strings(&tagged.value),
        other => strings(other),
    }
}

#[test]
fn the_optional_trail_logs_management_events_in_every_region() {
    let template = Template::load();
    let param = &template.section("Parameters")["CreateTrail"];
    assert_eq!(param["Default"], "false", "default: use an existing trail");
    for id in [
        "TrailKey",
        "TrailBucket",
        "TrailBucketPolicy",
        "ManagementTrail",
    ] {
        assert_eq!(
            template.resource(id)["Condition"],
            "CreateManagementTrail",
            "{id}"
        );
    }
    let trail = &template.resource("ManagementTrail")["Properties"];
    assert_eq!(trail["IsLogging"], true);
    assert_eq!(trail["IsMultiRegionTrail"], true);
    assert_eq!(trail["IncludeGlobalServiceEvents"], true, "IAM's events");
    assert_eq!(trail["EnableLogFileValidation"], true);
    let selector = &trail["EventSelectors"][0];
    assert_eq!(selector["IncludeManagementEvents"], true);
    assert_ne!(
        selector["ReadWriteType"], "ReadOnly",
        "write calls are what we need"
    );
    // The bucket policy lets exactly this trail write (aws:SourceArn ends in its name).
    let statements = template.resource("TrailBucketPolicy")["Properties"]["PolicyDocument"]
        ["Statement"]
        .as_sequence()
        .unwrap();
    let trail_name = sub_strings(&trail["TrailName"]);
    for statement in statements {
        let source_arn = sub_strings(&statement["Condition"]["StringEquals"]["aws:SourceArn"]);
        assert!(
            source_arn
                .iter()
                .any(|a| a.ends_with(":trail/${AWS::StackName}-management-events")),
            "{source_arn:?}"
        );
    }
    assert_eq!(trail_name, ["${AWS::StackName}-management-events"]);
}

// ---------------------------------------------------------------- trust (issue 12)
// The bus policy, the approval endpoint, event ages, and the permission
// inventory of docs/security.md.

/// (role or managed policy logical id, action) of every Allow statement.
fn granted_actions(template: &Template) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (id, resource) in template.resources() {
        let ty = resource["Type"].as_str().unwrap_or_default();
        if ty != "AWS::IAM::Role" && ty != "AWS::IAM::ManagedPolicy" {
            continue;
        }
        let mut all = Vec::new();
        statements(&resource["Properties"], &mut all);
        for statement in all {
            if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
                continue;
            }
            // Trust policies (sts:AssumeRole for lambda.amazonaws.com) are not grants.
            if statement.get("Principal").is_some() {
                continue;
            }
            for action in statement.get("Action").map(strings).unwrap_or_default() {
                out.insert((id.to_string(), action));
            }
        }
    }
    out
}

/// (logical id, action) of every row of docs/security.md's Allow table: the
/// first cell starts with the logical id in backticks, the second lists the
/// actions in backticks.
fn documented_actions(doc: &str) -> BTreeSet<(String, String)> {
    let allow = doc
        .split("Allow statements")
        .nth(1)
        .and_then(|rest| rest.split("Explicit denies").next())
        .expect("docs/security.md has an 'Allow statements' table before 'Explicit denies'");
    let mut out = BTreeSet::new();
    for line in allow.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let id = cells[0]
            .trim_start_matches("| `")
            .split('`')
            .next()
            .unwrap();
        for action in cells[1].split(", ") {
            out.insert((id.to_string(), action.trim_matches('`').to_string()));
        }
    }
    out
}

#[test]
fn every_granted_action_is_documented_in_security_md_and_vice_versa() {
    let template = Template::load();
    let granted = granted_actions(&template);
    assert!(
        granted.len() > 100,
        "{} grants: is the walk broken?",
        granted.len()
    );
    let doc = std::fs::read_to_string(workspace_root().join("docs/security.md")).unwrap();
    let documented = documented_actions(&doc);
    let undocumented: Vec<_> = granted.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&granted).collect();
    assert!(
        undocumented.is_empty() && stale.is_empty(),
        "granted but not in docs/security.md: {undocumented:?}\nin docs/security.md but not granted: {stale:?}"
    );
}

#[test]
fn the_inventory_check_catches_an_undocumented_grant() {
    let doc = "Allow statements\n| `R` (f) | `s3:GetObject`, `s3:PutObject` | * | why |\nExplicit denies\n| `R` (f) | `iam:PassRole` | * | no |\n";
    let documented = documented_actions(doc);
    assert!(documented.contains(&("R".to_string(), "s3:PutObject".to_string())));
    assert!(!documented.contains(&("R".to_string(), "iam:PassRole".to_string())));
}

#[test]
fn no_cloudcontrol_prefix_and_change_sets_only_by_driftguards_name() {
    let template = Template::load();
    let granted = granted_actions(&template);
    let bad: Vec<_> = granted
        .iter()
        .filter(|(_, a)| a.starts_with("cloudcontrol:"))
        .collect();
    assert!(
        bad.is_empty(),
        "cloudcontrol:* does not exist, use cloudformation:: {bad:?}"
    );
    let mut all = Vec::new();
    statements(&template.resource("RemediateRole")["Properties"], &mut all);
    let writes = [
        "cloudformation:CreateChangeSet",
        "cloudformation:ExecuteChangeSet",
    ];
    for statement in &all {
        let actions = statement.get("Action").map(strings).unwrap_or_default();
        let allow = statement["Effect"].as_str() == Some("Allow");
        if allow && actions.iter().any(|a| writes.contains(&a.as_str())) {
            assert_eq!(
                statement["Condition"]["StringLike"]["cloudformation:ChangeSetName"].as_str(),
                Some("driftguard-*"),
                "change set writes must be limited to driftguard-* names"
            );
        }
    }
    let denied_on_own_stack = all.iter().any(|s| {
        s["Effect"].as_str() == Some("Deny")
            && s.get("Action")
                .map(strings)
                .unwrap_or_default()
                .iter()
                .any(|a| a == "cloudformation:ExecuteChangeSet")
            && s["Resource"]
                .as_sequence()
                .is_some_and(|r| r.iter().any(|r| is_tag(r, "Ref", "AWS::StackId")))
    });
    assert!(
        denied_on_own_stack,
        "remediate must be denied change sets on ${{AWS::StackId}}"
    );
}

#[test]
fn reading_the_policy_never_decrypts_other_secure_strings() {
    let template = Template::load();
    for (id, role) in template.resources_of_type("AWS::IAM::Role") {
        let mut all = Vec::new();
        statements(&role["Properties"], &mut all);
        let reads_policy = all.iter().any(|s| s["Sid"].as_str() == Some("ReadPolicy"));
        if !reads_policy {
            continue;
        }
        let deny = all
            .iter()
            .find(|s| s["Sid"].as_str() == Some("DecryptNoOtherSecureString"))
            .unwrap_or_else(|| panic!("{id} reads the policy without DecryptNoOtherSecureString"));
        assert_eq!(deny["Effect"].as_str(), Some("Deny"));
        let context = &deny["Condition"]["StringNotEquals"]["kms:EncryptionContext:PARAMETER_ARN"];
        let (_, arn) = intrinsic(context).expect("a !Sub of the policy parameter ARN");
        assert!(arn
            .as_str()
            .unwrap()
            .ends_with(":parameter${PolicyParameterName}"));
    }
}

#[test]
fn only_driftguards_roles_may_put_driftguard_events_on_its_bus() {
    let template = Template::load();
    let policy = template.resource("DriftguardBusPolicy");
    assert_eq!(policy["Type"].as_str(), Some("AWS::Events::EventBusPolicy"));
    let statement = &policy["Properties"]["Statement"];
    assert_eq!(statement["Effect"].as_str(), Some("Deny"));
    assert_eq!(statement["Principal"].as_str(), Some("*"));
    assert_eq!(statement["Action"].as_str(), Some("events:PutEvents"));
    assert_eq!(
        statement["Condition"]["ForAnyValue:StringEquals"]["events:source"].as_str(),
        Some(driftguard_model::events::SOURCE)
    );
    // The one exception: `Drift Accepted`, which has a policy of its own.
    assert_eq!(
        statement["Condition"]["ForAnyValue:StringNotEquals"]["events:detail-type"].as_str(),
        Some(driftguard_model::events::DRIFT_ACCEPTED)
    );
    let allowed: BTreeSet<String> = statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| {
            intrinsic(v)
                .unwrap()
                .1
                .as_str()
                .unwrap()
                .trim_end_matches(".Arn")
                .to_string()
        })
        .collect();
    // Exactly the roles that publish on the bus (events:PutEvents on it).
    let publishers: BTreeSet<String> = granted_actions(&template)
        .into_iter()
        .filter(|(_, a)| a == "events:PutEvents")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(allowed, publishers);
}

#[test]
fn only_the_acceptors_may_put_drift_accepted_on_the_bus() {
    let template = Template::load();
    let policy = template.resource("DriftguardBusAcceptPolicy");
    assert_eq!(policy["Type"].as_str(), Some("AWS::Events::EventBusPolicy"));
    assert!(is_tag(
        &policy["Properties"]["EventBusName"],
        "GetAtt",
        "DriftguardBus"
    ));
    let statement = &policy["Properties"]["Statement"];
    assert_eq!(statement["Effect"].as_str(), Some("Deny"));
    assert_eq!(statement["Principal"].as_str(), Some("*"));
    assert_eq!(statement["Action"].as_str(), Some("events:PutEvents"));
    let any = &statement["Condition"]["ForAnyValue:StringEquals"];
    assert_eq!(
        any["events:source"].as_str(),
        Some(driftguard_model::events::SOURCE)
    );
    assert_eq!(
        any["events:detail-type"].as_str(),
        Some(driftguard_model::events::DRIFT_ACCEPTED)
    );
    // The exception is the AcceptorArns parameter, and nobody without it.
    let (tag, args) = intrinsic(&statement["Condition"]["ArnNotLike"]).expect("an !If");
    assert_eq!(tag, "If");
    let args = args.as_sequence().unwrap();
    assert_eq!(args[0].as_str(), Some("HasAcceptors"));
    assert!(is_tag(&args[1]["aws:PrincipalArn"], "Ref", "AcceptorArns"));
    assert!(is_tag(&args[2], "Ref", "AWS::NoValue"));
    let param = &template.section("Parameters")[&Value::from("AcceptorArns")];
    assert_eq!(param["Default"].as_str(), Some(""));
}

#[test]
fn the_approval_endpoint_is_an_iam_authenticated_function_url() {
    let template = Template::load();
    let function = template.resource("ApproveFunction");
    let props = &function["Properties"];
    assert_eq!(
        props["FunctionUrlConfig"]["AuthType"].as_str(),
        Some("AWS_IAM")
    );
    assert_eq!(
        function["Metadata"]["BuildProperties"]["Binary"].as_str(),
        Some("approve")
    );
    let permission = template
        .resources_of_type("AWS::Lambda::Permission")
        .map(|(_, p)| &p["Properties"])
        .find(|p| is_tag(&p["FunctionName"], "Ref", "ApproveFunction"))
        .expect("a permission for the approval URL");
    assert_eq!(
        permission["Action"].as_str(),
        Some("lambda:InvokeFunctionUrl")
    );
    assert_eq!(permission["FunctionUrlAuthType"].as_str(), Some("AWS_IAM"));
    assert!(
        is_tag(&permission["Principal"], "Ref", "AWS::AccountId"),
        "this account only"
    );
    let outputs = template.section("Outputs");
    assert!(is_tag(
        &outputs[&Value::from("ApprovalUrl")]["Value"],
        "GetAtt",
        "ApproveFunctionUrl"
    ));
    // Its role writes ticket items only, and changes nothing else.
    let granted: Vec<String> = granted_actions(&template)
        .into_iter()
        .filter(|(id, _)| id == "ApproveRole")
        .map(|(_, a)| a)
        .collect();
    for action in &granted {
        assert!(
            !action.starts_with("iam:")
                && !action.starts_with("cloudformation:")
                && action != "ssm:PutParameter",
            "approve must not change resources: {action}"
        );
    }
}

#[test]
fn every_async_function_drops_events_as_old_as_its_rules_do() {
    let template = Template::load();
    let mut max_age: BTreeMap<String, u64> = BTreeMap::new();
    for (_, rule) in template.resources_of_type("AWS::Events::Rule") {
        for target in rule["Properties"]["Targets"].as_sequence().unwrap() {
            let (_, arn) = intrinsic(&target["Arn"]).unwrap();
            let function = arn.as_str().unwrap().split('.').next().unwrap().to_string();
            let age = target["RetryPolicy"]["MaximumEventAgeInSeconds"]
                .as_u64()
                .unwrap();
            let entry = max_age.entry(function).or_insert(age);
            assert_eq!(
                *entry, age,
                "rules of one function disagree on the event age"
            );
        }
    }
    assert_eq!(
        max_age.get("RemediateFunction"),
        Some(&900),
        "a stale decision is not acted on"
    );
    assert!(
        template.root["Globals"]["Function"]
            .get("EventInvokeConfig")
            .is_none(),
        "no global EventInvokeConfig: each async function sets its own"
    );
    for (id, function) in template.resources_of_type("AWS::Serverless::Function") {
        let config = &function["Properties"]["EventInvokeConfig"];
        if function["Properties"].get("FunctionUrlConfig").is_some() {
            assert!(
                config.is_null(),
                "{id} is synchronous: no EventInvokeConfig"
            );
            continue;
        }
        let age = config["MaximumEventAgeInSeconds"]
            .as_u64()
            .unwrap_or_else(|| panic!("{id}: EventInvokeConfig.MaximumEventAgeInSeconds"));
        if let Some(rule_age) = max_age.get(id) {
            assert_eq!(
                age, *rule_age,
                "{id}: Lambda's queue keeps events longer than its rules"
            );
        }
        assert!(
            age <= 7200,
            "{id}: events up to {age} s old are too stale to act on"
        );
    }
}

// ---------------------------------------------------------------- regions (issue 13)
// IAM's CloudTrail events are delivered in us-east-1 only ("For most global
// services, events are logged as occurring in US East (N. Virginia) Region",
// https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-concepts.html#cloudtrail-concepts-global-service-events):
// the us-east-1 deployment must find the owning stack in every watched region.

/// Does the function crate in `functions/<dir>` read `Config::watched_regions`?
fn function_reads_watched_regions(dir: &Path) -> bool {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir.join("src")) else {
        return false;
    };
    for e in entries.flatten() {
        files.push(e.path());
    }
    files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .any(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .contains("watched_regions")
        })
}

#[test]
fn watched_regions_reaches_each_function_whose_code_reads_it() {
    let template = Template::load();
    let param = &template.section("Parameters")[&Value::from("WatchedRegions")];
    assert_eq!(param["Type"].as_str(), Some("String"));
    assert_eq!(
        param["Default"].as_str(),
        Some(""),
        "default: the deployment's region"
    );
    // Region names only, comma-separated, no spaces: the policy condition
    // below splits the value on "," as it is.
    assert_eq!(
        param["AllowedPattern"].as_str(),
        Some("^$|^[a-z]{2}(-[a-z]+)+-[0-9]+(,[a-z]{2}(-[a-z]+)+-[0-9]+)*$")
    );
    assert!(
        !template.global_env().contains("WATCHED_REGIONS"),
        "only the functions that resolve global owners get it"
    );

    let mut readers = BTreeSet::new();
    for (id, function) in template.resources_of_type("AWS::Serverless::Function") {
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} names its binary"));
        let reads =
            function_reads_watched_regions(&workspace_root().join("functions").join(binary));
        let value = function["Properties"]["Environment"]["Variables"].get("WATCHED_REGIONS");
        assert_eq!(
            reads,
            value.is_some(),
            "{id}: reads watched_regions = {reads}, WATCHED_REGIONS set = {}",
            value.is_some()
        );
        let Some(value) = value else { continue };
        readers.insert(id.to_string());
        let (tag, args) = intrinsic(value).expect("WATCHED_REGIONS is an !If");
        assert_eq!(tag, "If", "{id}");
        let args = args.as_sequence().unwrap();
        assert_eq!(args[0].as_str(), Some("HasWatchedRegions"));
        assert!(is_tag(&args[1], "Ref", "WatchedRegions"), "{id}: {value:?}");
        assert!(is_tag(&args[2], "Ref", "AWS::Region"), "{id}: {value:?}");
    }
    assert!(readers.contains("DetectFunction"), "{readers:?}");
}

#[test]
fn drift_read_policy_reads_the_stacks_of_the_watched_regions_only() {
    let template = Template::load();
    let mut all = Vec::new();
    statements(
        &template.resource("DriftReadPolicy")["Properties"],
        &mut all,
    );
    let watched = all
        .iter()
        .find(|s| s.get("Sid").and_then(Value::as_str) == Some("ReadStacksInWatchedRegions"))
        .expect("a ReadStacksInWatchedRegions statement");
    // What the multi-region catalog and drift detector call in another region
    // (driftguard_adapters::cloudformation: the reverse lookup, the stack, the
    // paged resource list, resource drift). ListStacks has no resource-level
    // permissions and is granted on "*" already.
    let actions: BTreeSet<String> = strings(&watched["Action"]).into_iter().collect();
    for a in [
        "cloudformation:DescribeStacks",
        "cloudformation:DescribeStackResources",
        "cloudformation:ListStackResources",
        "cloudformation:DetectStackResourceDrift",
    ] {
        assert!(actions.contains(a), "{a} missing: {actions:?}");
    }
    let resource = sub_strings(&watched["Resource"]);
    assert_eq!(
        resource,
        ["arn:${AWS::Partition}:cloudformation:*:${AWS::AccountId}:stack/*/*"]
    );
    // The condition key that limits actions to "the Regions specified using
    // the aws:RequestedRegion condition key"
    // (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_aws_deny-requested-region.html).
    let regions = &watched["Condition"]["StringEquals"]["aws:RequestedRegion"];
    let (tag, args) = intrinsic(regions).expect("an !If over the parameter");
    assert_eq!(tag, "If");
    let args = args.as_sequence().unwrap();
    assert_eq!(args[0].as_str(), Some("HasWatchedRegions"));
    let (split, split_args) = intrinsic(&args[1]).expect("!Split of the parameter");
    assert_eq!(split, "Split");
    assert!(is_tag(&split_args[1], "Ref", "WatchedRegions"));
    assert!(is_tag(&args[2][0], "Ref", "AWS::Region"));
    // The role-tag lookup that sends a role straight to its stack's region.
    let granted = granted_actions(&template);
    assert!(granted.contains(&("DriftReadPolicy".into(), "iam:ListRoleTags".into())));
}

/// The hot-fix handlers against the template and the docs (Cloud Custodian's
/// `PolicyMetaLint` idea): what a handler undoes is in the operations table and
/// routed by `CloudTrailWriteRule`; what it needs is granted to `RemediateRole`
/// (inline or through its managed policies); no remediation write is granted
/// that no handler declares; docs/remediation.md's table is the registry's.
mod handler_meta_lint {
    use std::collections::BTreeSet;

    use driftguard_core::remediate::handlers::{markdown_table, REGISTRY};
    use driftguard_model::sources::operations::{event_names, lookup};

    use super::{intrinsic, statements, strings, Template};
    use driftguard_cli::emulator::workspace_root;

    /// Services the handlers act on.
    fn handler_services() -> BTreeSet<String> {
        REGISTRY
            .iter()
            .flat_map(|h| h.permissions.iter())
            .filter_map(|a| a.split(':').next())
            .map(str::to_string)
            .collect()
    }

    /// (Sid, action) of every Allow statement of `RemediateRole`, inline and
    /// in the managed policies its `ManagedPolicyArns` reference.
    pub(super) fn remediate_grants(template: &Template) -> Vec<(String, String)> {
        let role = &template.resource("RemediateRole")["Properties"];
        let mut all = Vec::new();
        statements(&role["Policies"], &mut all);
        for arn in role["ManagedPolicyArns"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            if let Some((_, id)) = intrinsic(arn) {
                let id = id.as_str().expect("ManagedPolicyArns: !Ref to a policy");
                statements(&template.resource(id)["Properties"], &mut all);
            }
        }
        all.iter()
            .filter(|s| s["Effect"].as_str() == Some("Allow"))
            .flat_map(|s| {
                let sid = s["Sid"].as_str().unwrap_or_default().to_string();
                s.get("Action")
                    .map(strings)
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |a| (sid.clone(), a))
            })
            .collect()
    }

    fn is_read(action: &str) -> bool {
        let op = action.split(':').nth(1).unwrap_or_default();
        ["Get", "List", "Describe"]
            .iter()
            .any(|p| op.starts_with(p))
    }

    /// Writes on the handlers' services that are driftguard's own plumbing, not remediation.
    const PLUMBING_WRITES: &[&str] = &["sqs:SendMessage"];

    /// Writes on the handlers' services granted but declared by no handler.
    fn undeclared_writes<'g>(
        grants: &'g [(String, String)],
        declared: &BTreeSet<&str>,
    ) -> Vec<&'g (String, String)> {
        let services = handler_services();
        grants
            .iter()
            .filter(|(_, a)| services.contains(a.split(':').next().unwrap_or_default()))
            .filter(|(_, a)| !is_read(a) && !PLUMBING_WRITES.contains(&a.as_str()))
            .filter(|(_, a)| !declared.contains(a.as_str()))
            .collect()
    }

    /// What a handler undoes is a row of the table; that every table name is
    /// routed by `CloudTrailWriteRule` is routing_moto.rs's
    /// `every_write_reaches_detect_and_no_noise_does_central_and_member`.
    #[test]
    fn every_handler_operation_is_in_the_table() {
        for h in REGISTRY {
            for api in h.undoes {
                let (service, operation) = api.split_once(':').unwrap();
                let spec = lookup(service, operation)
                    .unwrap_or_else(|| panic!("{}: {api} is not in OPERATIONS", h.family));
                assert!(
                    !event_names(spec).is_empty(),
                    "{}: {api} has no CloudTrail name",
                    h.family
                );
            }
        }
    }

    #[test]
    fn every_handler_permission_is_granted_and_every_remediation_write_is_declared() {
        let template = Template::load();
        let grants = remediate_grants(&template);
        let granted: BTreeSet<&str> = grants.iter().map(|(_, a)| a.as_str()).collect();
        let declared: BTreeSet<&str> = REGISTRY
            .iter()
            .flat_map(|h| h.permissions.iter().copied())
            .collect();
        let missing: Vec<_> = declared.difference(&granted).collect();
        assert!(
            missing.is_empty(),
            "declared by a handler, not granted to RemediateRole: {missing:?}"
        );
        let undeclared = undeclared_writes(&grants, &declared);
        assert!(
            undeclared.is_empty(),
            "remediation writes granted that no handler declares (Sid, action): {undeclared:?}"
        );
        // The inverse-call statements (Sid Revert*) grant only what handlers declare.
        for (sid, action) in grants.iter().filter(|(sid, _)| sid.starts_with("Revert")) {
            assert!(
                declared.contains(action.as_str()),
                "{sid}: {action} is declared by no handler"
            );
        }
    }

    #[test]
    fn the_docs_handler_table_is_the_registry() {
        let doc = std::fs::read_to_string(workspace_root().join("docs/remediation.md")).unwrap();
        let table = doc
            .split("<!-- handlers:begin -->\n")
            .nth(1)
            .and_then(|rest| rest.split("<!-- handlers:end -->").next())
            .expect("docs/remediation.md has <!-- handlers:begin --> ... <!-- handlers:end -->");
        assert_eq!(
            table,
            markdown_table(),
            "paste this table:\n{}",
            markdown_table()
        );
    }

    #[test]
    fn the_lint_catches_an_undeclared_write_and_a_read_is_not_a_write() {
        let declared: BTreeSet<&str> = REGISTRY
            .iter()
            .flat_map(|h| h.permissions.iter().copied())
            .collect();
        let grant = |sid: &str, a: &str| (sid.to_string(), a.to_string());
        let grants = [
            grant("RevertSecurityGroupRules", "ec2:RevokeSecurityGroupIngress"),
            grant(
                "RevertSecurityGroupRules",
                "ec2:AuthorizeSecurityGroupIngress",
            ),
            grant("Read", "ec2:DescribeSecurityGroupRules"),
            grant("DeadLetters", "sqs:SendMessage"),
            grant("Tickets", "dynamodb:PutItem"),
        ];
        assert_eq!(undeclared_writes(&grants, &declared), [&grants[1]]);
    }
}

/// templates/member.yaml against this template and the handler registry.
mod member;

/// Code signing of every function.
mod code_signing;

/// The approver IAM policy example against the Service Authorization Reference.
mod approver_policy;
