//! Codify accepted drift: what to put in the template so that it says what
//! the resource now is. Pure: a ticket (and, when known, the template's
//! current properties of the resource) in, property edits out.
//!
//! - Drift CloudFormation reported: the actual values. CloudFormation's
//!   `ActualProperties` is "the JSON structure containing the actual property
//!   values of the stack resource"
//!   (<https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackResourceDrift.html>);
//!   when it is on the ticket, each drifted top-level property takes its value
//!   from there, otherwise the property differences are applied to the
//!   template's value.
//! - Out-of-template drift (`DriftStatus::OutOfTemplate`): the property the
//!   template does not declare, added (e.g. `ManagedPolicyArns` with the
//!   attached policy's ARN).
//!
//! `driftguard codify` (cli/src/codify.rs) turns the edits into a diff of the
//! user's template; the Slack message of an accepted ticket shows [`snippet`].
use std::collections::BTreeMap;

use serde_json::Value;

use driftguard_model::domain::Ticket;
use driftguard_model::domain::{DifferenceKind, Drift, DriftStatus, PropertyDifference};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodifyError {
    #[error("ticket {ticket}: no drift recorded, nothing to codify")]
    NoDrift { ticket: String },
    #[error("ticket {ticket}: the resource was deleted; keeping that means removing {logical_id} from the template, not editing a property")]
    Deleted { ticket: String, logical_id: String },
    #[error("ticket {ticket}: drift status {status} has no property values to codify")]
    NotDrifted {
        ticket: String,
        status: &'static str,
    },
    #[error("ticket {ticket}: no property difference has a known value (CloudTrail hides some values, e.g. SecureString parameters)")]
    NoValues { ticket: String },
}

/// One edit of `Resources.<LogicalId>.Properties`.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Add or replace the property with this value.
    Set { property: String, value: Value },
    /// Remove the property.
    Remove { property: String },
}

impl Edit {
    pub fn property(&self) -> &str {
        match self {
            Self::Set { property, .. } | Self::Remove { property } => property,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Codification {
    pub ticket_id: String,
    pub logical_id: String,
    pub resource_type: Option<String>,
    pub status: DriftStatus,
    pub edits: Vec<Edit>,
    /// What the reader should know (values unknown, intrinsics replaced...).
    pub notes: Vec<String>,
}

/// Split `/ManagedPolicyArns/0` into (`ManagedPolicyArns`, `/0`); JSON
/// pointer escapes (`~1`, `~0`) in the top-level name are decoded.
fn split_path(path: &str) -> (String, String) {
    let trimmed = path.trim_start_matches('/');
    let (top, rest) = match trimmed.split_once('/') {
        Some((top, rest)) => (top, format!("/{rest}")),
        None => (trimmed, String::new()),
    };
    (top.replace("~1", "/").replace("~0", "~"), rest)
}

fn items(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

/// Add `actual` to the property's value (a list gets the new items, once).
fn add_to(current: Option<Value>, rest: &str, actual: &Value) -> Value {
    match (current, rest) {
        (Some(Value::Array(mut list)), "") => {
            for item in items(actual) {
                if !list.contains(&item) {
                    list.push(item);
                }
            }
            Value::Array(list)
        }
        (None, "") => Value::Array(items(actual)),
        (Some(mut v), rest) if !rest.is_empty() => {
            set_pointer(&mut v, rest, actual.clone(), true);
            v
        }
        (_, _) => actual.clone(),
    }
}

/// Set (or insert, for an array index) `value` at `pointer` inside `target`.
fn set_pointer(target: &mut Value, pointer: &str, value: Value, insert: bool) {
    let (parent, last) = match pointer.rsplit_once('/') {
        Some(p) => p,
        None => return,
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    let Some(container) = target.pointer_mut(parent) else {
        return;
    };
    match container {
        Value::Array(list) => match last.parse::<usize>() {
            Ok(i) if insert && i <= list.len() => list.insert(i, value),
            Ok(i) if i < list.len() => list[i] = value,
            _ => list.push(value),
        },
        Value::Object(map) => {
            map.insert(last, value);
        }
        _ => {}
    }
}

fn remove_pointer(target: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    match target.pointer_mut(parent) {
        Some(Value::Array(list)) => {
            if let Ok(i) = last.parse::<usize>() {
                if i < list.len() {
                    list.remove(i);
                }
            }
        }
        Some(Value::Object(map)) => {
            map.remove(&last.replace("~1", "/").replace("~0", "~"));
        }
        _ => {}
    }
}

/// The property's new value (`None`: remove it) from the template's value and
/// the differences under it. Differences without a known value are skipped.
fn apply(current: Option<Value>, diffs: &[(&PropertyDifference, String)]) -> Option<Value> {
    let mut value = current;
    for (d, rest) in diffs {
        let actual = d.actual.as_ref().filter(|a| !a.is_null());
        value = match (d.kind, actual) {
            (DifferenceKind::Remove, _) if rest.is_empty() => None,
            (DifferenceKind::Remove, _) => value.map(|mut v| {
                remove_pointer(&mut v, rest);
                v
            }),
            (DifferenceKind::Add, Some(a)) => Some(add_to(value, rest, a)),
            (DifferenceKind::NotEqual, Some(a)) if rest.is_empty() => Some(a.clone()),
            (DifferenceKind::NotEqual, Some(a)) => {
                let mut v = value.unwrap_or_else(|| Value::Object(Default::default()));
                set_pointer(&mut v, rest, a.clone(), false);
                Some(v)
            }
            (_, None) => value,
        };
    }
    value
}

fn check_status(ticket: &Ticket, drift: &Drift) -> Result<(), CodifyError> {
    match drift.status {
        DriftStatus::Deleted => Err(CodifyError::Deleted {
            ticket: ticket.id.clone(),
            logical_id: ticket.fingerprint.logical_id.clone(),
        }),
        s if !s.is_drifted() && drift.differences.is_empty() => Err(CodifyError::NotDrifted {
            ticket: ticket.id.clone(),
            status: s.as_str(),
        }),
        _ => Ok(()),
    }
}

/// The edits that make the template say what the resource is.
/// `template_properties`: the resource's `Properties` in the user's template
/// (as JSON; intrinsics as `{"!Ref": ...}`), when known.
pub fn from_ticket(
    ticket: &Ticket,
    template_properties: Option<&Value>,
) -> Result<Codification, CodifyError> {
    let drift = ticket.current_drift().ok_or_else(|| CodifyError::NoDrift {
        ticket: ticket.id.clone(),
    })?;
    check_status(ticket, drift)?;
    let mut groups: BTreeMap<String, Vec<(&PropertyDifference, String)>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for d in &drift.differences {
        let (top, rest) = split_path(&d.path);
        if top.is_empty() {
            continue;
        }
        if !groups.contains_key(&top) {
            order.push(top.clone());
        }
        groups.entry(top).or_default().push((d, rest));
    }
    let actual_props = (drift.status == DriftStatus::Modified)
        .then_some(drift.actual_properties.as_ref())
        .flatten()
        .and_then(Value::as_object);
    let mut edits = Vec::new();
    let mut notes = Vec::new();
    for top in order {
        let diffs = &groups[&top];
        let current = template_properties.and_then(|p| p.get(&top)).cloned();
        if let Some(Value::Object(o)) = &current {
            if o.keys()
                .any(|k| k.starts_with('!') || k.starts_with("Fn::") || k == "Ref")
            {
                notes.push(format!("{top} was an intrinsic function in the template ({}): replaced by the literal value; change the parameter or mapping it reads instead if you prefer", Value::Object(o.clone())));
            }
        }
        let unknown = diffs.iter().any(|(d, _)| {
            d.kind != DifferenceKind::Remove && d.actual.as_ref().is_none_or(Value::is_null)
        });
        if unknown {
            notes.push(format!(
                "{top}: a value is not known (CloudTrail does not log it): check it by hand"
            ));
        }
        let new = match actual_props {
            Some(props) => props.get(&top).cloned(),
            None => apply(current.clone(), diffs),
        };
        match new {
            Some(value) if Some(&value) != current.as_ref() => edits.push(Edit::Set {
                property: top,
                value,
            }),
            None if current.is_some() || template_properties.is_none() => {
                edits.push(Edit::Remove { property: top })
            }
            _ => {}
        }
    }
    if edits.is_empty() {
        return Err(CodifyError::NoValues {
            ticket: ticket.id.clone(),
        });
    }
    Ok(Codification {
        ticket_id: ticket.id.clone(),
        logical_id: ticket.fingerprint.logical_id.clone(),
        resource_type: ticket.resource.resource_type.clone(),
        status: drift.status,
        edits,
        notes,
    })
}

/// JSON → YAML, with `{"!Ref": x}` (how [`yaml_to_json`] keeps a short-form
/// intrinsic) turned back into the tag.
pub fn json_to_yaml(value: &Value) -> yaml_serde::Value {
    use yaml_serde::value::{Tag, TaggedValue};
    match value {
        Value::Object(map) if map.len() == 1 => {
            let (k, v) = map
                .iter()
                .next()
                .map(|(k, v)| (k.clone(), v))
                .unwrap_or_default();
            match k.strip_prefix('!') {
                Some(tag) => yaml_serde::Value::Tagged(Box::new(TaggedValue {
                    tag: Tag::new(tag),
                    value: json_to_yaml(v),
                })),
                None => {
                    let mut m = yaml_serde::Mapping::new();
                    m.insert(yaml_serde::Value::String(k), json_to_yaml(v));
                    yaml_serde::Value::Mapping(m)
                }
            }
        }
        // Keys sorted: the same output whether or not `serde_json`'s
        // `preserve_order` is on in the build (dev-dependencies turn it on for
        // `cargo test --workspace`, the release CLI has it off).
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            yaml_serde::Value::Mapping(
                entries
                    .into_iter()
                    .map(|(k, v)| (yaml_serde::Value::String(k.clone()), json_to_yaml(v)))
                    .collect(),
            )
        }
        Value::Array(items) => {
            yaml_serde::Value::Sequence(items.iter().map(json_to_yaml).collect())
        }
        Value::String(s) => yaml_serde::Value::String(s.clone()),
        Value::Number(n) => yaml_serde::Value::Number(
            n.as_i64()
                .map(yaml_serde::Number::from)
                .or_else(|| n.as_u64().map(yaml_serde::Number::from))
                .unwrap_or_else(|| yaml_serde::Number::from(n.as_f64().unwrap_or_default())),
        ),
        Value::Bool(b) => yaml_serde::Value::Bool(*b),
        Value::Null => yaml_serde::Value::Null,
    }
}

/// YAML → JSON; a tagged value (`!Ref X`) becomes `{"!Ref": "X"}`.
pub fn yaml_to_json(value: &yaml_serde::Value) -> Value {
    match value {
        yaml_serde::Value::Null => Value::Null,
        yaml_serde::Value::Bool(b) => Value::Bool(*b),
        yaml_serde::Value::Number(n) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_u64().map(Value::from))
            .or_else(|| n.as_f64().map(Value::from))
            .unwrap_or(Value::Null),
        yaml_serde::Value::String(s) => Value::String(s.clone()),
        yaml_serde::Value::Sequence(items) => {
            Value::Array(items.iter().map(yaml_to_json).collect())
        }
        yaml_serde::Value::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match k {
                        yaml_serde::Value::String(s) => s.clone(),
                        other => yaml_serde::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        yaml_serde::Value::Tagged(t) => {
            let mut m = serde_json::Map::new();
            m.insert(
                format!("!{}", t.tag.to_string().trim_start_matches('!')),
                yaml_to_json(&t.value),
            );
            Value::Object(m)
        }
    }
}

/// `key: value` as YAML lines (no trailing newline), indented by `indent`.
pub fn yaml_property(key: &str, value: &Value, indent: usize) -> Vec<String> {
    let pad = " ".repeat(indent);
    let mut m = yaml_serde::Mapping::new();
    m.insert(
        yaml_serde::Value::String(key.to_string()),
        json_to_yaml(value),
    );
    let text = yaml_serde::to_string(&yaml_serde::Value::Mapping(m)).unwrap_or_default();
    text.lines().map(|l| format!("{pad}{l}")).collect()
}

/// The template fragment to paste (YAML): `<LogicalId>: Properties: ...` with
/// the edited properties; removals are listed as comments.
pub fn snippet(c: &Codification) -> String {
    let mut lines = vec![format!("{}:", c.logical_id), "  Properties:".to_string()];
    for e in &c.edits {
        match e {
            Edit::Set { property, value } => lines.extend(yaml_property(property, value, 4)),
            Edit::Remove { property } => lines.push(format!("    # remove {property}")),
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use driftguard_model::domain::DriftOrigin;
    use driftguard_model::domain::{Change, Ownership, ResourceRef};
    use driftguard_model::testing::changes::change;
    use driftguard_model::testing::tickets::fingerprint;
    use serde_json::json;

    fn ticket(logical: &str, drift: Drift) -> Ticket {
        let change = Change {
            event_id: "e1".into(),
            time: chrono::Utc::now(),
            request: json!({}),
            response: json!({}),
            ..change(
                "iam",
                "AttachRolePolicy",
                ResourceRef::new("AWS::IAM::Role", "shop-web-AppRole-1"),
            )
        };
        let fp = fingerprint("shop-web", logical);
        let mut t = Ticket::new(fp, &change, &Ownership::NotChecked, chrono::Utc::now());
        t.event_drift = Some(drift);
        t
    }

    fn diff(path: &str, kind: DifferenceKind, actual: Option<Value>) -> PropertyDifference {
        PropertyDifference {
            path: path.into(),
            expected: None,
            actual,
            kind,
        }
    }

    fn drift(status: DriftStatus, differences: Vec<PropertyDifference>) -> Drift {
        Drift {
            status,
            differences,
            expected_properties: None,
            actual_properties: None,
            origin: DriftOrigin::EventRequest("test".into()),
            detected_at: None,
        }
    }

    const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

    #[test]
    fn out_of_template_drift_adds_the_property() {
        let t = ticket(
            "AppRole",
            drift(
                DriftStatus::OutOfTemplate,
                vec![diff(
                    "/ManagedPolicyArns",
                    DifferenceKind::Add,
                    Some(json!(ADMIN)),
                )],
            ),
        );
        let c = from_ticket(&t, Some(&json!({"AssumeRolePolicyDocument": {}}))).unwrap();
        assert_eq!(
            c.edits,
            vec![Edit::Set {
                property: "ManagedPolicyArns".into(),
                value: json!([ADMIN])
            }]
        );
        assert_eq!(
            snippet(&c),
            format!("AppRole:\n  Properties:\n    ManagedPolicyArns:\n    - {ADMIN}")
        );
    }

    #[test]
    fn added_rules_are_appended_to_the_template_list_once() {
        let rule =
            json!({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0"});
        let https =
            json!({"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"});
        let t = ticket(
            "WebSecurityGroup",
            drift(
                DriftStatus::Unknown,
                vec![diff(
                    "/SecurityGroupIngress",
                    DifferenceKind::Add,
                    Some(json!([rule, https])),
                )],
            ),
        );
        let c = from_ticket(&t, Some(&json!({"SecurityGroupIngress": [https]}))).unwrap();
        assert_eq!(
            c.edits,
            vec![Edit::Set {
                property: "SecurityGroupIngress".into(),
                value: json!([https, rule])
            }]
        );
    }

    #[test]
    fn cloudformation_actual_values_win_and_intrinsics_are_noted() {
        let mut d = drift(
            DriftStatus::Modified,
            vec![diff("/Value", DifferenceKind::NotEqual, Some(json!("x")))],
        );
        d.origin = DriftOrigin::Cloudformation;
        d.actual_properties = Some(json!({"Value": "{\"newCheckout\":true}", "Type": "String"}));
        let t = ticket("FeatureFlagsParameter", d);
        let c = from_ticket(&t, Some(&json!({"Value": {"!Ref": "FeatureFlags"}}))).unwrap();
        assert_eq!(
            c.edits,
            vec![Edit::Set {
                property: "Value".into(),
                value: json!("{\"newCheckout\":true}")
            }]
        );
        assert!(c.notes[0].contains("intrinsic"), "{:?}", c.notes);
    }

    #[test]
    fn removals_deletions_and_unknown_values_are_said() {
        let t = ticket(
            "AssetsBucket",
            drift(
                DriftStatus::Unknown,
                vec![diff(
                    "/PublicAccessBlockConfiguration",
                    DifferenceKind::Remove,
                    None,
                )],
            ),
        );
        let c = from_ticket(&t, Some(&json!({"PublicAccessBlockConfiguration": {}}))).unwrap();
        assert_eq!(
            c.edits,
            vec![Edit::Remove {
                property: "PublicAccessBlockConfiguration".into()
            }]
        );
        let gone = ticket("AssetsBucket", drift(DriftStatus::Deleted, vec![]));
        assert!(matches!(
            from_ticket(&gone, None),
            Err(CodifyError::Deleted { .. })
        ));
        let hidden = ticket(
            "Secret",
            drift(
                DriftStatus::Unknown,
                vec![diff("/Value", DifferenceKind::NotEqual, None)],
            ),
        );
        assert!(matches!(
            from_ticket(&hidden, Some(&json!({"Value": "a"}))),
            Err(CodifyError::NoValues { .. })
        ));
    }

    #[test]
    fn yaml_intrinsics_survive_the_round_trip() {
        let yaml: yaml_serde::Value = yaml_serde::from_str("Value: !Ref FeatureFlags\n").unwrap();
        let json = yaml_to_json(&yaml);
        assert_eq!(json, json!({"Value": {"!Ref": "FeatureFlags"}}));
        let back = yaml_serde::to_string(&json_to_yaml(&json)).unwrap();
        assert_eq!(back.trim(), "Value: !Ref FeatureFlags");
    }
}
