//! Remedies: an ordered plan of strategies; the first that applies wins.
use serde::{Deserialize, Serialize};

/// How a plan puts a resource back; the planner tries them in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// `CreateChangeSet` with `DeploymentMode=REVERT_DRIFT`, inspected, then executed.
    RevertDriftChangeSet,
    /// The exact undo of a known hot-fix.
    InverseCall,
    /// Cloud Control `UpdateResource` with a JSON Patch starting with `test` ops.
    CloudControlPatch,
    /// Cancel, continue-rollback, rollback, or a change set to the last good template.
    StackRollback,
}

impl Strategy {
    /// The name in plans, events and metrics (`inverse_call` …).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::RevertDriftChangeSet => "revert_drift_change_set",
            Self::InverseCall => "inverse_call",
            Self::CloudControlPatch => "cloud_control_patch",
            Self::StackRollback => "stack_rollback",
        }
    }
}

/// One API call a plan will make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedCall {
    /// e.g. `ec2`.
    pub service: String,
    /// e.g. `RevokeSecurityGroupIngress`.
    pub operation: String,
    /// The request, in the API's own parameter names.
    pub parameters: serde_json::Value,
}

impl PlannedCall {
    /// A call to `service:operation` with `parameters`.
    pub fn new(service: &str, operation: &str, parameters: serde_json::Value) -> Self {
        Self {
            service: service.into(),
            operation: operation.into(),
            parameters,
        }
    }
}

/// A remediation plan: the calls, their parameters and the expected result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The strategy that applied.
    pub strategy: Strategy,
    /// The calls it makes, in order.
    pub calls: Vec<PlannedCall>,
    /// What the resource should look like afterwards, in words.
    pub expected: String,
    /// Strategies tried first that did not apply, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<(Strategy, String)>,
}

impl Plan {
    /// The plan's digest: SHA-256 (hex) of its canonical JSON (object keys
    /// sorted at every level, no whitespace). An approval names the plan by
    /// this digest; remediate refuses to run a plan whose digest differs from
    /// the approved one. `skipped` and `expected` are part of the digest: what
    /// a person approved is the whole plan they were shown.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        hex::encode(Sha256::digest(canonical_json(&value).as_bytes()))
    }
}

/// Canonical JSON: object keys sorted at every level, no whitespace. Stable
/// whatever `serde_json`'s `preserve_order` feature is in the build.
pub fn canonical_json(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical_json(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(canonical_json)
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod digest_tests {
    use super::*;

    fn plan(cidr: &str) -> Plan {
        Plan {
            strategy: Strategy::InverseCall,
            calls: vec![PlannedCall::new(
                "ec2",
                "RevokeSecurityGroupIngress",
                serde_json::json!({"GroupId": "sg-1", "IpPermissions": [{"IpRanges": [{"CidrIp": cidr}], "FromPort": 22}]}),
            )],
            expected: "rule gone".into(),
            skipped: vec![],
        }
    }

    #[test]
    fn digest_is_stable_and_names_the_exact_plan() {
        assert_eq!(plan("0.0.0.0/0").digest(), plan("0.0.0.0/0").digest());
        assert_ne!(plan("0.0.0.0/0").digest(), plan("10.0.0.0/8").digest());
        assert_eq!(plan("0.0.0.0/0").digest().len(), 64);
    }

    #[test]
    fn canonical_json_ignores_key_order() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":2,"c":[3,{"f":4,"e":5}]}}"#)
                .unwrap_or_default();
        let b: serde_json::Value =
            serde_json::from_str(r#"{"a":{"c":[3,{"e":5,"f":4}],"d":2},"b":1}"#)
                .unwrap_or_default();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            canonical_json(&a),
            r#"{"a":{"c":[3,{"e":5,"f":4}],"d":2},"b":1}"#
        );
    }
}
