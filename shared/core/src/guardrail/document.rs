//! IAM policy documents as driftguard writes them: typed statements, a
//! rendering that is the same bytes for the same input (structs and sorted
//! maps, whatever serde_json's `preserve_order` says), and the size split.
use std::collections::BTreeMap;

use serde::de::Deserializer;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::GuardrailError;

/// `Condition`: operator → key → values (one value is written as a string).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions(pub BTreeMap<String, BTreeMap<String, Vec<String>>>);

impl Conditions {
    pub fn add(&mut self, operator: &str, key: &str, values: Vec<String>) {
        if values.is_empty() {
            return;
        }
        self.0
            .entry(operator.to_string())
            .or_default()
            .insert(key.to_string(), values);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One value or several, as IAM accepts either.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl From<OneOrMany> for Vec<String> {
    fn from(v: OneOrMany) -> Self {
        match v {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

struct Values<'a>(&'a [String]);

impl Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

impl Serialize for Conditions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut outer = s.serialize_map(Some(self.0.len()))?;
        for (operator, keys) in &self.0 {
            let inner: BTreeMap<&str, Values<'_>> =
                keys.iter().map(|(k, v)| (k.as_str(), Values(v))).collect();
            outer.serialize_entry(operator, &inner)?;
        }
        outer.end()
    }
}

impl<'de> Deserialize<'de> for Conditions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: BTreeMap<String, BTreeMap<String, OneOrMany>> = BTreeMap::deserialize(d)?;
        Ok(Self(
            raw.into_iter()
                .map(|(op, keys)| (op, keys.into_iter().map(|(k, v)| (k, v.into())).collect()))
                .collect(),
        ))
    }
}

fn one_or_many<S: Serializer>(v: &[String], s: S) -> Result<S::Ok, S::Error> {
    Values(v).serialize(s)
}

fn de_one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    OneOrMany::deserialize(d).map(Into::into)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    Allow,
    Deny,
}

/// A policy statement (only the elements driftguard writes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Statement {
    pub sid: String,
    pub effect: Effect,
    #[serde(serialize_with = "one_or_many", deserialize_with = "de_one_or_many")]
    pub action: Vec<String>,
    pub resource: String,
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub condition: Conditions,
}

/// The policy language version every document declares.
pub const POLICY_VERSION: &str = "2012-10-17";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PolicyDocument {
    pub version: String,
    pub statement: Vec<Statement>,
}

impl PolicyDocument {
    pub fn new(statement: Vec<Statement>) -> Self {
        Self {
            version: POLICY_VERSION.to_string(),
            statement,
        }
    }

    /// Pretty JSON, two-space indents, no trailing newline. This is what is
    /// measured against the size limit, so the limit holds for the file as
    /// written, whitespace included.
    pub fn render(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn size(&self) -> usize {
        self.render().len()
    }
}

/// Pack `statements` in order into as few documents as fit `limit` bytes each;
/// `always` (a boundary's allow) heads every document. A statement too big on
/// its own is split by halving its actions (Sid suffixes `A`, `B`).
pub fn pack(
    statements: Vec<Statement>,
    always: &[Statement],
    limit: usize,
) -> Result<Vec<PolicyDocument>, GuardrailError> {
    let mut docs: Vec<PolicyDocument> = Vec::new();
    let mut current = PolicyDocument::new(always.to_vec());
    for statement in statements {
        for piece in fit(statement, always, limit)? {
            let mut candidate = current.clone();
            candidate.statement.push(piece.clone());
            if candidate.size() > limit && current.statement.len() > always.len() {
                docs.push(std::mem::replace(
                    &mut current,
                    PolicyDocument::new(always.to_vec()),
                ));
                current.statement.push(piece);
            } else {
                current = candidate;
            }
        }
    }
    if current.statement.len() > always.len() || docs.is_empty() {
        docs.push(current);
    }
    Ok(docs)
}

/// `statement` as one or more statements that each fit a document alone.
fn fit(
    statement: Statement,
    always: &[Statement],
    limit: usize,
) -> Result<Vec<Statement>, GuardrailError> {
    let mut alone = always.to_vec();
    alone.push(statement.clone());
    let size = PolicyDocument::new(alone).size();
    if size <= limit {
        return Ok(vec![statement]);
    }
    if statement.action.len() < 2 {
        return Err(GuardrailError::TooLarge {
            sid: statement.sid,
            size,
            limit,
        });
    }
    let half = statement.action.len().div_ceil(2);
    let mut out = Vec::new();
    for (suffix, actions) in [
        ("A", &statement.action[..half]),
        ("B", &statement.action[half..]),
    ] {
        let mut part = statement.clone();
        part.sid = format!("{}{suffix}", statement.sid);
        part.action = actions.to_vec();
        out.extend(fit(part, always, limit)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn statement(sid: &str, actions: usize) -> Statement {
        let mut condition = Conditions::default();
        condition.add("Null", "aws:ResourceTag/k", vec!["false".into()]);
        Statement {
            sid: sid.into(),
            effect: Effect::Deny,
            action: (0..actions).map(|i| format!("svc:Action{i:03}")).collect(),
            resource: "*".into(),
            condition,
        }
    }

    #[test]
    fn one_value_is_a_string_and_the_document_reads_back() {
        let doc = PolicyDocument::new(vec![statement("A", 1), statement("B", 2)]);
        let text = doc.render();
        assert!(text.contains("\"Action\": \"svc:Action000\""), "{text}");
        assert!(text.contains("\"aws:ResourceTag/k\": \"false\""), "{text}");
        let back: PolicyDocument = serde_json::from_str(&text).unwrap();
        assert_eq!(back, doc);
    }

    #[test]
    fn packing_keeps_order_and_every_document_under_the_limit() {
        let statements: Vec<_> = (0..30).map(|i| statement(&format!("S{i}"), 5)).collect();
        let docs = pack(statements.clone(), &[], 1000).unwrap();
        assert!(docs.len() > 1);
        assert!(docs.iter().all(|d| d.size() <= 1000));
        let flat: Vec<_> = docs.into_iter().flat_map(|d| d.statement).collect();
        assert_eq!(flat, statements);
    }

    #[test]
    fn a_statement_too_big_alone_is_halved_by_actions() {
        let docs = pack(vec![statement("Big", 200)], &[], 2000).unwrap();
        let sids: Vec<_> = docs
            .iter()
            .flat_map(|d| d.statement.iter().map(|s| s.sid.clone()))
            .collect();
        assert!(
            sids.iter().all(|s| s.starts_with("Big")) && sids.len() > 2,
            "{sids:?}"
        );
        let actions: usize = docs
            .iter()
            .flat_map(|d| &d.statement)
            .map(|s| s.action.len())
            .sum();
        assert_eq!(actions, 200);
        assert!(docs.iter().all(|d| d.size() <= 2000));
    }

    #[test]
    fn a_single_action_that_cannot_fit_is_an_error() {
        let err = pack(vec![statement("Big", 1)], &[], 50).unwrap_err();
        assert!(matches!(err, GuardrailError::TooLarge { .. }), "{err}");
    }
}
