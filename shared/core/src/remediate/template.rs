//! A stack template as the planner reads it: `GetTemplate` plus the stack's
//! parameters, resolved for the simple literal cases only.
//!
//! Values that need CloudFormation to compute them (`Fn::GetAtt`, `Fn::Sub`,
//! `Fn::If`, a `Ref` to another resource...) are never guessed: a lookup of such
//! a value answers [`Lookup::NotLiteral`] and the handler refuses.
//!
//! The body is the *processed* template (`GetTemplate TemplateStage=Processed`:
//! "To get the template after CloudFormation has processed all transforms,
//! specify `Processed`.", aws-sdk-cloudformation 1.136 `GetTemplateInput`), so SAM
//! `Globals` and other transforms are applied. Two kinds of value are never
//! known to driftguard and refuse the lookup instead of being written as a
//! placeholder:
//! - a `NoEcho` parameter, which `DescribeStacks` returns masked ("If you set the
//!   value to true, the parameter value is masked with asterisks (*****)",
//!   <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html>);
//! - a dynamic reference `{{resolve:service:reference}}` ("CloudFormation
//!   retrieves the value of the specified reference when necessary during stack
//!   and change set operations",
//!   <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/dynamic-references.html>):
//!   written literally it would set the text `{{resolve:...}}` itself.
use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// What a template says about one value.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// A literal (after resolving `Ref` to parameters and pseudo parameters).
    Found(Value),
    /// The template does not set it.
    Absent,
    /// Set, but not as a simple literal: the reason says where and why.
    NotLiteral(String),
}

/// A parsed template with the stack's parameter values.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateView {
    resources: Map<String, Value>,
    parameters: BTreeMap<String, String>,
}

/// Is this parameter value CloudFormation's mask for a `NoEcho` parameter?
pub fn is_masked(value: &str) -> bool {
    !value.is_empty() && value.chars().all(|c| c == '*')
}

/// Does this string hold a dynamic reference CloudFormation resolves itself?
pub fn is_dynamic_reference(value: &str) -> bool {
    value.contains("{{resolve:")
}

/// The stack facts `Ref` may resolve to besides parameters.
#[derive(Debug, Clone, Default)]
pub struct Pseudo {
    pub stack_name: String,
    pub stack_id: String,
    pub account: String,
    pub region: String,
}

/// Whether `body` may declare parameters: `false` only for a JSON or YAML
/// mapping with no `Parameters` or an empty one (then there are no values
/// to look up); anything unreadable counts as `true`.
pub fn declares_parameters(body: &str) -> bool {
    let Ok(yaml) = yaml_serde::from_str::<yaml_serde::Value>(body) else {
        return true;
    };
    let Ok(Value::Object(root)) = yaml_to_json(yaml) else {
        return true;
    };
    match root.get("Parameters") {
        None | Some(Value::Null) => false,
        Some(Value::Object(declared)) => !declared.is_empty(),
        Some(_) => true,
    }
}

impl TemplateView {
    /// Parse a JSON or YAML template body (YAML short forms such as `!Ref` are
    /// read as their long forms). `parameters` are the stack's current values;
    /// template defaults fill the gaps.
    pub fn parse(
        body: &str,
        parameters: BTreeMap<String, String>,
        pseudo: &Pseudo,
    ) -> Result<Self, String> {
        let yaml: yaml_serde::Value =
            yaml_serde::from_str(body).map_err(|e| format!("template is not JSON or YAML: {e}"))?;
        let json = yaml_to_json(yaml)?;
        let root = json
            .as_object()
            .ok_or_else(|| "template is not a mapping".to_string())?;
        let resources = root
            .get("Resources")
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| "template has no Resources".to_string())?;
        let mut params = BTreeMap::new();
        if let Some(declared) = root.get("Parameters").and_then(Value::as_object) {
            for (name, decl) in declared {
                if let Some(default) = decl.get("Default").and_then(scalar_string) {
                    params.insert(name.clone(), default);
                }
            }
        }
        params.extend(parameters);
        for (name, value) in [
            ("AWS::StackName", &pseudo.stack_name),
            ("AWS::StackId", &pseudo.stack_id),
            ("AWS::AccountId", &pseudo.account),
            ("AWS::Region", &pseudo.region),
        ] {
            if !value.is_empty() {
                params.insert(name.to_string(), value.clone());
            }
        }
        params.insert("AWS::Partition".into(), "aws".into());
        params.insert("AWS::URLSuffix".into(), "amazonaws.com".into());
        Ok(Self {
            resources,
            parameters: params,
        })
    }

    pub fn resource_type(&self, logical_id: &str) -> Option<&str> {
        self.resources
            .get(logical_id)
            .and_then(|r| r.get("Type"))
            .and_then(Value::as_str)
    }

    /// `Resources.<logical_id>.Properties.<name>`, resolved.
    pub fn property(&self, logical_id: &str, name: &str) -> Lookup {
        let Some(resource) = self.resources.get(logical_id) else {
            return Lookup::NotLiteral(format!("template has no resource {logical_id}"));
        };
        match resource.get("Properties").and_then(|p| p.get(name)) {
            None => Lookup::Absent,
            Some(v) => match self.resolve(v, &format!("{logical_id}.{name}")) {
                Ok(Some(v)) => Lookup::Found(v),
                Ok(None) => Lookup::Absent,
                Err(why) => Lookup::NotLiteral(why),
            },
        }
    }

    /// Logical ids and raw bodies of every resource of a type.
    pub fn resources_of_type<'a>(
        &'a self,
        resource_type: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        self.resources
            .iter()
            .filter(move |(_, r)| r.get("Type").and_then(Value::as_str) == Some(resource_type))
            .map(|(id, r)| (id.as_str(), r))
    }

    /// Does `value` name the resource (`Ref` to its logical id, or its physical id literally)?
    pub fn names_resource(&self, value: &Value, logical_id: &str, physical_id: &str) -> bool {
        match value {
            Value::String(s) => s == physical_id,
            Value::Object(o) => o.get("Ref").and_then(Value::as_str) == Some(logical_id),
            _ => false,
        }
    }

    /// Resolve a template value. `Ok(None)` for `AWS::NoValue`.
    pub fn resolve(&self, value: &Value, at: &str) -> Result<Option<Value>, String> {
        match value {
            Value::Object(o) if o.len() == 1 => {
                let (key, arg) = o
                    .iter()
                    .next()
                    .map(|(k, v)| (k.as_str(), v))
                    .unwrap_or_default();
                if key == "Ref" {
                    let name = arg
                        .as_str()
                        .ok_or_else(|| format!("{at}: Ref takes a name"))?;
                    if name == "AWS::NoValue" {
                        return Ok(None);
                    }
                    return match self.parameters.get(name) {
                        Some(v) if is_masked(v) => Err(format!(
                            "{at}: parameter {name} is NoEcho (CloudFormation shows it as {v}): its value cannot be known, nothing is written"
                        )),
                        Some(v) if is_dynamic_reference(v) => Err(format!(
                            "{at}: parameter {name} is a dynamic reference ({v}) only CloudFormation resolves"
                        )),
                        Some(v) => Ok(Some(Value::String(v.clone()))),
                        None if self.resources.contains_key(name) => Err(format!(
                            "{at} is a Ref to resource {name}, known only to CloudFormation"
                        )),
                        None => Err(format!("{at}: parameter {name} has no known value")),
                    };
                }
                if key.starts_with("Fn::") || key == "Condition" {
                    return Err(format!("{at} uses {key}, not a simple literal"));
                }
                self.resolve_object(o, at)
            }
            Value::Object(o) => self.resolve_object(o, at),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    if let Some(v) = self.resolve(item, &format!("{at}[{i}]"))? {
                        out.push(v);
                    }
                }
                Ok(Some(Value::Array(out)))
            }
            Value::String(text) if is_dynamic_reference(text) => Err(format!(
                "{at} is a dynamic reference ({text}) only CloudFormation resolves: not written literally"
            )),
            other => Ok(Some(other.clone())),
        }
    }

    fn resolve_object(&self, o: &Map<String, Value>, at: &str) -> Result<Option<Value>, String> {
        let mut out = Map::new();
        for (k, v) in o {
            if let Some(v) = self.resolve(v, &format!("{at}.{k}"))? {
                out.insert(k.clone(), v);
            }
        }
        Ok(Some(Value::Object(out)))
    }
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// YAML to JSON, turning CloudFormation short-form tags into long forms
/// (`!GetAtt A.B` → `{"Fn::GetAtt": ["A", "B"]}`, `!Ref X` → `{"Ref": "X"}`).
/// Fails on a mapping key that is not a string, number or boolean.
pub fn yaml_to_json(v: yaml_serde::Value) -> Result<Value, String> {
    use yaml_serde::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).map_err(|e| e.to_string())?,
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => return Err(format!("unsupported mapping key {other:?}")),
                };
                out.insert(key, yaml_to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let long = if name == "Ref" || name == "Condition" {
                name.to_string()
            } else {
                format!("Fn::{name}")
            };
            let mut inner = yaml_to_json(t.value)?;
            // `!GetAtt A.B` is the short form of `Fn::GetAtt: [A, B]`.
            if long == "Fn::GetAtt" {
                if let Value::String(s) = &inner {
                    if let Some((a, b)) = s.split_once('.') {
                        inner = serde_json::json!([a, b]);
                    }
                }
            }
            let mut o = Map::new();
            o.insert(long, inner);
            Value::Object(o)
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_readable_template_without_parameters_declares_none() {
        assert!(declares_parameters(YAML));
        assert!(declares_parameters(
            r#"{"Parameters": {"Env": {"Type": "String"}}, "Resources": {}}"#
        ));
        assert!(!declares_parameters(
            r#"{"Resources": {"G": {"Type": "AWS::EC2::SecurityGroup"}}}"#
        ));
        assert!(!declares_parameters("Parameters: {}\nResources: {}\n"));
        assert!(!declares_parameters(
            "Resources:\n  G: { Type: AWS::SNS::Topic }\n"
        ));
        // Unreadable or odd: assume there are some (the values are then read).
        assert!(declares_parameters("{ not a template"));
        assert!(declares_parameters("- a list"));
        assert!(declares_parameters("Parameters: [Env]\nResources: {}\n"));
    }

    const YAML: &str = r#"
Parameters:
  Env: { Type: String, Default: dev }
  Level: { Type: String }
Resources:
  Param:
    Type: AWS::SSM::Parameter
    Properties:
      Name: !Sub "/app/${Env}/level"
      Type: String
      Value: !Ref Level
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      PublicAccessBlockConfiguration:
        BlockPublicAcls: true
        IgnorePublicAcls: true
        BlockPublicPolicy: !Ref AWS::NoValue
      Tags:
        - Key: env
          Value: !Ref Env
  Policy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Bucket
      PolicyDocument:
        Statement:
          - Effect: Deny
            Resource: !GetAtt Bucket.Arn
"#;

    fn view() -> TemplateView {
        let params = BTreeMap::from([("Level".to_string(), "info".to_string())]);
        TemplateView::parse(YAML, params, &Pseudo::default()).unwrap()
    }

    #[test]
    fn resolves_refs_to_parameters_and_drops_no_value() {
        let t = view();
        assert_eq!(t.property("Param", "Value"), Lookup::Found(json!("info")));
        assert_eq!(
            t.property("Bucket", "PublicAccessBlockConfiguration"),
            Lookup::Found(json!({"BlockPublicAcls": true, "IgnorePublicAcls": true}))
        );
        assert_eq!(
            t.property("Bucket", "Tags"),
            Lookup::Found(json!([{"Key": "env", "Value": "dev"}]))
        );
        assert_eq!(t.property("Param", "Description"), Lookup::Absent);
    }

    #[test]
    fn refuses_values_only_cloudformation_can_compute() {
        let t = view();
        assert!(
            matches!(t.property("Param", "Name"), Lookup::NotLiteral(w) if w.contains("Fn::Sub"))
        );
        assert!(
            matches!(t.property("Policy", "PolicyDocument"), Lookup::NotLiteral(w) if w.contains("Fn::GetAtt"))
        );
        assert!(
            matches!(t.property("Policy", "Bucket"), Lookup::NotLiteral(w) if w.contains("Ref to resource Bucket"))
        );
    }

    #[test]
    fn finds_resources_by_type_and_reference() {
        let t = view();
        let (id, body) = t.resources_of_type("AWS::S3::BucketPolicy").next().unwrap();
        assert_eq!(id, "Policy");
        assert!(t.names_resource(&body["Properties"]["Bucket"], "Bucket", "my-bucket"));
        assert_eq!(t.resource_type("Bucket"), Some("AWS::S3::Bucket"));
    }

    #[test]
    fn no_echo_parameters_and_dynamic_references_are_refused_never_written() {
        let body = r#"
Parameters:
  Secret: { Type: String, NoEcho: true }
Resources:
  P:
    Type: AWS::SSM::Parameter
    Properties:
      Value: !Ref Secret
      Description: "{{resolve:ssm:/app/description}}"
      Name: plain
"#;
        // DescribeStacks masks NoEcho values with asterisks.
        let params = BTreeMap::from([("Secret".to_string(), "****".to_string())]);
        let t = TemplateView::parse(body, params, &Pseudo::default()).unwrap();
        assert!(
            matches!(t.property("P", "Value"), Lookup::NotLiteral(w) if w.contains("NoEcho")),
            "{:?}",
            t.property("P", "Value")
        );
        assert!(
            matches!(t.property("P", "Description"), Lookup::NotLiteral(w) if w.contains("dynamic reference"))
        );
        assert_eq!(t.property("P", "Name"), Lookup::Found(json!("plain")));
        assert!(is_masked("*****") && !is_masked("") && !is_masked("a*"));
    }

    #[test]
    fn reads_json_templates() {
        let body = r#"{"Resources":{"P":{"Type":"AWS::SSM::Parameter","Properties":{"Value":"v1","Type":"String"}}}}"#;
        let t = TemplateView::parse(body, BTreeMap::new(), &Pseudo::default()).unwrap();
        assert_eq!(t.property("P", "Value"), Lookup::Found(json!("v1")));
    }
}
