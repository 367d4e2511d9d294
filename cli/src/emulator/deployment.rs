//! What `template.yaml` declares about driftguard's own plumbing, read from the
//! template itself so the demo and the deployment cannot drift apart: the bus
//! name, the policy parameter, the ticket table's keys, index and TTL, the
//! EventBridge rules' patterns and which function each one triggers, and the
//! environment variables the functions are given. Pure: no I/O.
use std::collections::BTreeMap;

use driftguard_core::remediate::template::yaml_to_json;
use serde_json::{Map, Value};

/// The SAM template, as built into this binary.
pub const TEMPLATE: &str = include_str!("../../../template.yaml");

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeploymentError {
    #[error("template.yaml is not YAML: {0}")]
    Yaml(String),
    #[error("template.yaml: {path}: {message}")]
    Shape { path: String, message: String },
}

fn shape(path: &str, message: impl Into<String>) -> DeploymentError {
    DeploymentError::Shape {
        path: path.to_string(),
        message: message.into(),
    }
}

/// One attribute of a DynamoDB key schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub hash: String,
    pub range: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    pub key: KeySpec,
    pub projection: String,
}

/// `TicketTable` as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// Attribute name → type (`S`, `N`, `B`).
    pub attributes: BTreeMap<String, String>,
    pub key: KeySpec,
    pub indexes: Vec<IndexSpec>,
    pub ttl_attribute: Option<String>,
}

/// Which bus a rule listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleBus {
    /// The account's default bus (AWS service events: CloudTrail, Config, CloudFormation).
    Default,
    /// driftguard's own bus.
    Driftguard,
}

/// One EventBridge rule with an event pattern, and the functions it triggers.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    pub logical_id: String,
    pub bus: RuleBus,
    pub pattern: Value,
    /// Function binaries (`detect`, `remediate`, ...), from the targets' `!GetAtt X.Arn`.
    pub functions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub bus_name: String,
    pub policy_parameter: String,
    pub table: TableSpec,
    pub rules: Vec<RuleSpec>,
    /// The environment variables every function gets (`Globals.Function.Environment`).
    pub environment: Vec<String>,
}

impl Deployment {
    /// The template built into this binary.
    pub fn from_builtin_template() -> Result<Self, DeploymentError> {
        Self::parse(TEMPLATE)
    }

    pub fn parse(text: &str) -> Result<Self, DeploymentError> {
        let yaml: yaml_serde::Value =
            yaml_serde::from_str(text).map_err(|e| DeploymentError::Yaml(e.to_string()))?;
        let root = yaml_to_json(yaml).map_err(DeploymentError::Yaml)?;
        let resources = root
            .get("Resources")
            .and_then(Value::as_object)
            .ok_or_else(|| shape("Resources", "missing"))?;
        let default_of = |name: &str| -> Result<String, DeploymentError> {
            let path = format!("Parameters.{name}.Default");
            root.pointer(&format!("/Parameters/{name}/Default"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| shape(&path, "missing or not a string"))
        };
        let bus_name = default_of("EventBusName")?;
        let policy_parameter = default_of("PolicyParameterName")?;

        let table = resources
            .iter()
            .find(|(_, r)| r["Type"] == "AWS::DynamoDB::Table")
            .ok_or_else(|| shape("Resources", "no AWS::DynamoDB::Table"))?;
        let table = table_spec(table.0, &table.1["Properties"])?;

        let mut rules = Vec::new();
        for (logical_id, resource) in resources {
            if let Some(rule) = rule_spec(&root, resources, logical_id, resource)? {
                rules.push(rule);
            }
        }
        let environment = root
            .pointer("/Globals/Function/Environment/Variables")
            .and_then(Value::as_object)
            .map(|vars| vars.keys().cloned().collect())
            .ok_or_else(|| shape("Globals.Function.Environment.Variables", "missing"))?;
        Ok(Self {
            bus_name,
            policy_parameter,
            table,
            rules,
            environment,
        })
    }

    /// Every function some rule triggers, sorted.
    pub fn functions(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .rules
            .iter()
            .flat_map(|r| r.functions.iter().cloned())
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

fn key_spec(path: &str, schema: &Value) -> Result<KeySpec, DeploymentError> {
    let mut hash = None;
    let mut range = None;
    for k in schema.as_array().into_iter().flatten() {
        let name = k["AttributeName"].as_str().map(str::to_string);
        match k["KeyType"].as_str() {
            Some("HASH") => hash = name,
            Some("RANGE") => range = name,
            _ => return Err(shape(path, "KeyType is neither HASH nor RANGE")),
        }
    }
    Ok(KeySpec {
        hash: hash.ok_or_else(|| shape(path, "no HASH key"))?,
        range,
    })
}

/// The rule `logical_id` when it routes events (an `AWS::Events::Rule` with
/// an `EventPattern`; a schedule, the sweep's, routes nothing), with the
/// function binaries its targets name.
fn rule_spec(
    root: &Value,
    resources: &Map<String, Value>,
    logical_id: &str,
    resource: &Value,
) -> Result<Option<RuleSpec>, DeploymentError> {
    if resource["Type"] != "AWS::Events::Rule" {
        return Ok(None);
    }
    let props = &resource["Properties"];
    let Some(pattern) = props.get("EventPattern") else {
        return Ok(None);
    };
    // As CloudFormation hands it to EventBridge: conditions and parameters
    // resolved with the parameters' defaults (the routing rule's
    // `!If WatchesEveryService`).
    let pattern = &resolve_defaults(root, pattern).map_err(|e| {
        shape(
            &format!("Resources.{logical_id}.Properties.EventPattern"),
            &e,
        )
    })?;
    let bus = match props.get("EventBusName") {
        None => RuleBus::Default,
        Some(_) => RuleBus::Driftguard,
    };
    let mut functions = Vec::new();
    for target in props["Targets"].as_array().into_iter().flatten() {
        let target_of = target
            .pointer("/Arn/Fn::GetAtt/0")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                shape(
                    &format!("Resources.{logical_id}.Targets"),
                    "target Arn is not !GetAtt <Function>.Arn",
                )
            })?;
        let binary = resources
            .get(target_of)
            .and_then(|f| f.pointer("/Metadata/BuildProperties/Binary"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                shape(
                    &format!("Resources.{target_of}.Metadata.BuildProperties.Binary"),
                    "missing",
                )
            })?;
        functions.push(binary.to_string());
    }
    Ok(Some(RuleSpec {
        logical_id: logical_id.to_string(),
        bus,
        pattern: pattern.clone(),
        functions,
    }))
}

/// `value` with the intrinsic functions a rule pattern may use resolved under
/// the template's parameter defaults: `Ref` of a parameter, `Fn::If` on a
/// condition, `Fn::Equals`, `Fn::Not`, `Fn::Split`. Other functions are left
/// as written.
fn resolve_defaults(root: &Value, value: &Value) -> Result<Value, String> {
    let resolve = |v: &Value| resolve_defaults(root, v);
    let args = |v: &Value, n: usize| -> Result<Vec<Value>, String> {
        match v.as_array() {
            Some(items) if items.len() == n => Ok(items.clone()),
            _ => Err(format!("expected {n} arguments, got {v}")),
        }
    };
    let Some(object) = value.as_object() else {
        return match value {
            Value::Array(items) => items
                .iter()
                .map(resolve)
                .collect::<Result<_, _>>()
                .map(Value::Array),
            other => Ok(other.clone()),
        };
    };
    let Some((name, arg)) = object.iter().next().filter(|_| object.len() == 1) else {
        return object
            .iter()
            .map(|(k, v)| Ok((k.clone(), resolve(v)?)))
            .collect::<Result<Map<_, _>, String>>()
            .map(Value::Object);
    };
    match name.as_str() {
        "Ref" => {
            let param = arg.as_str().unwrap_or_default();
            root.pointer(&format!("/Parameters/{param}/Default"))
                .cloned()
                .ok_or_else(|| format!("Ref {param}: no parameter default"))
        }
        "Fn::If" => {
            let [cond, yes, no]: [Value; 3] = args(arg, 3)?.try_into().map_err(|_| "Fn::If")?;
            let name = cond.as_str().unwrap_or_default();
            let condition = root
                .pointer(&format!("/Conditions/{name}"))
                .ok_or_else(|| format!("no condition {name}"))?;
            match resolve(condition)? {
                Value::Bool(true) => resolve(&yes),
                Value::Bool(false) => resolve(&no),
                other => Err(format!("condition {name} is {other}")),
            }
        }
        "Fn::Equals" => {
            let both = args(arg, 2)?;
            Ok(Value::Bool(resolve(&both[0])? == resolve(&both[1])?))
        }
        "Fn::Not" => match resolve(&args(arg, 1)?[0])? {
            Value::Bool(b) => Ok(Value::Bool(!b)),
            other => Err(format!("Fn::Not of {other}")),
        },
        "Fn::Split" => {
            let both = args(arg, 2)?;
            let (sep, text) = (resolve(&both[0])?, resolve(&both[1])?);
            match (sep.as_str(), text.as_str()) {
                (Some(sep), Some(text)) => Ok(text.split(sep).map(Value::from).collect()),
                _ => Err(format!("Fn::Split of {sep} and {text}")),
            }
        }
        // Others (`Fn::Sub` of the account id) stay as written, as before.
        _ => Ok(Value::Object(Map::from_iter([(
            name.clone(),
            resolve(arg)?,
        )]))),
    }
}

fn table_spec(logical_id: &str, props: &Value) -> Result<TableSpec, DeploymentError> {
    let at = |field: &str| format!("Resources.{logical_id}.Properties.{field}");
    let mut attributes = BTreeMap::new();
    for a in props["AttributeDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        match (a["AttributeName"].as_str(), a["AttributeType"].as_str()) {
            (Some(n), Some(t)) => {
                attributes.insert(n.to_string(), t.to_string());
            }
            _ => return Err(shape(&at("AttributeDefinitions"), "name or type missing")),
        }
    }
    let key = key_spec(&at("KeySchema"), &props["KeySchema"])?;
    let mut indexes = Vec::new();
    for gsi in props["GlobalSecondaryIndexes"]
        .as_array()
        .into_iter()
        .flatten()
    {
        indexes.push(IndexSpec {
            name: gsi["IndexName"]
                .as_str()
                .ok_or_else(|| shape(&at("GlobalSecondaryIndexes"), "IndexName missing"))?
                .to_string(),
            key: key_spec(&at("GlobalSecondaryIndexes"), &gsi["KeySchema"])?,
            projection: gsi
                .pointer("/Projection/ProjectionType")
                .and_then(Value::as_str)
                .unwrap_or("ALL")
                .to_string(),
        });
    }
    let ttl_attribute = props
        .get("TimeToLiveSpecification")
        .filter(|t| t["Enabled"] == Value::Bool(true))
        .and_then(|t| t["AttributeName"].as_str())
        .map(str::to_string);
    Ok(TableSpec {
        attributes,
        key,
        indexes,
        ttl_attribute,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn the_builtin_template_declares_what_the_demo_provisions() {
        let d = Deployment::from_builtin_template().unwrap();
        assert_eq!(d.bus_name, driftguard_core::config::DEFAULT_EVENT_BUS);
        assert!(d.policy_parameter.starts_with('/'));
        assert_eq!(
            d.table.key,
            KeySpec {
                hash: "pk".into(),
                range: None
            }
        );
        assert_eq!(d.table.ttl_attribute.as_deref(), Some("ttl"));
        let index = &d.table.indexes[0];
        assert_eq!(index.name, driftguard_adapters::dynamodb::STATE_INDEX);
        assert_eq!(
            index.key,
            KeySpec {
                hash: "state".into(),
                range: Some("updated_at".into())
            }
        );
        assert_eq!(d.functions(), vec!["detect", "notify", "remediate"]);
        for var in [
            "TABLE_NAME",
            "EVENT_BUS_NAME",
            "POLICY_PARAMETER",
            "DRY_RUN",
            "TOPIC_ARN",
            "SLACK_SECRET_ARN",
        ] {
            assert!(d.environment.iter().any(|v| v == var), "{var}");
        }
        let cloudtrail = d
            .rules
            .iter()
            .find(|r| r.pattern["detail-type"] == json!(["AWS API Call via CloudTrail"]))
            .unwrap();
        assert_eq!(cloudtrail.bus, RuleBus::Default);
        assert_eq!(cloudtrail.functions, vec!["detect"]);
        let remediate = d
            .rules
            .iter()
            .filter(|r| r.functions == vec!["remediate".to_string()])
            .count();
        assert_eq!(remediate, 2, "decisions that act, and approvals");
        assert!(d
            .rules
            .iter()
            .filter(|r| r.functions.contains(&"remediate".to_string()))
            .all(|r| r.bus == RuleBus::Driftguard));
    }

    #[test]
    fn short_forms_read_as_long_forms_and_schedules_are_skipped() {
        let t = r#"
Parameters:
  EventBusName: { Type: String, Default: bus }
  PolicyParameterName: { Type: String, Default: /p }
Globals: { Function: { Environment: { Variables: { TABLE_NAME: !Ref T } } } }
Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{ AttributeName: pk, AttributeType: S }]
      KeySchema: [{ AttributeName: pk, KeyType: HASH }]
  F:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: f } }
  Sched:
    Type: AWS::Events::Rule
    Properties: { ScheduleExpression: rate(1 hour), Targets: [{ Id: f, Arn: !GetAtt F.Arn }] }
  R:
    Type: AWS::Events::Rule
    Properties:
      EventBusName: !GetAtt B.Name
      EventPattern: { source: [x] }
      Targets: [{ Id: f, Arn: !GetAtt F.Arn }]
"#;
        let d = Deployment::parse(t).unwrap();
        assert_eq!(d.rules.len(), 1);
        assert_eq!(d.rules[0].bus, RuleBus::Driftguard);
        assert_eq!(d.rules[0].functions, vec!["f"]);
        assert_eq!(d.table.ttl_attribute, None);
    }

    #[test]
    fn a_target_that_is_not_a_function_is_named() {
        let t = r#"
Parameters:
  EventBusName: { Default: bus }
  PolicyParameterName: { Default: /p }
Globals: { Function: { Environment: { Variables: {} } } }
Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties: { KeySchema: [{ AttributeName: pk, KeyType: HASH }] }
  R:
    Type: AWS::Events::Rule
    Properties: { EventPattern: { source: [x] }, Targets: [{ Id: q, Arn: arn:aws:sqs:::q }] }
"#;
        let e = Deployment::parse(t).unwrap_err().to_string();
        assert!(e.contains("Resources.R.Targets"), "{e}");
    }
}
