//! An evaluator for exactly the statements the generator writes: `Deny` on
//! `Resource: "*"` with the condition operators and keys listed in
//! [`SUPPORTED`]; anything else is an error, so a new key in the generator
//! fails the tests until the evaluator learns it.
//!
//! Semantics, from the IAM reference
//! (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>):
//! "If the key that you specify in a policy condition is not present in the
//! request context, the values do not match and the condition is false. If the
//! policy condition requires that the key is not matched, such as StringNotLike
//! or ArnNotLike, and the right key is not present, the condition is true." ARN
//! operators compare "each of the six colon-delimited components of the ARN"
//! separately, each with `*` and `?` wildcards (same page). Conditions of one
//! statement are ANDed, the values of one key ORed.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::analysis::wildcard;
use super::document::{Effect, PolicyDocument, Statement};
use super::GuardrailError;

/// (operator, key or key prefix) pairs the evaluator understands.
pub const SUPPORTED: &[(&str, &str)] = &[
    ("Null", "aws:ResourceTag/"),
    ("StringNotLike", "aws:ResourceTag/"),
    ("ForAllValues:StringNotEquals", "aws:CalledVia"),
    ("ArnLike", "aws:PrincipalArn"),
    ("ArnNotLike", "aws:PrincipalArn"),
    ("DateLessThan", "aws:CurrentTime"),
    ("DateGreaterThan", "aws:CurrentTime"),
];

/// The request context the statements look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `service:Action`.
    pub action: String,
    /// `aws:PrincipalArn`: the role ARN for a role session, the user ARN for a user.
    pub principal_arn: String,
    /// `aws:CalledVia`: the services that called on the principal's behalf.
    pub called_via: Vec<String>,
    /// The resource's tags (`aws:ResourceTag/KEY`).
    pub resource_tags: BTreeMap<String, String>,
    /// `aws:CurrentTime`.
    pub time: DateTime<Utc>,
}

/// The Sid of the first statement that denies `request`, if any.
pub fn evaluate(
    documents: &[PolicyDocument],
    request: &Request,
) -> Result<Option<String>, GuardrailError> {
    for statement in documents.iter().flat_map(|d| &d.statement) {
        if statement.effect == Effect::Allow {
            continue;
        }
        if denies(statement, request)? {
            return Ok(Some(statement.sid.clone()));
        }
    }
    Ok(None)
}

fn unsupported(statement: &Statement, what: String) -> GuardrailError {
    GuardrailError::Unsupported {
        sid: statement.sid.clone(),
        what,
    }
}

fn denies(statement: &Statement, request: &Request) -> Result<bool, GuardrailError> {
    if statement.resource != "*" {
        return Err(unsupported(
            statement,
            format!("Resource {}", statement.resource),
        ));
    }
    if !statement
        .action
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&request.action))
    {
        return Ok(false);
    }
    for (operator, keys) in &statement.condition.0 {
        for (key, values) in keys {
            if !holds(statement, operator, key, values, request)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

fn holds(
    statement: &Statement,
    operator: &str,
    key: &str,
    values: &[String],
    request: &Request,
) -> Result<bool, GuardrailError> {
    let tag = key
        .strip_prefix("aws:ResourceTag/")
        .map(|k| request.resource_tags.get(k));
    Ok(match (operator, key, tag) {
        ("Null", _, Some(present)) => match values {
            [v] if v == "false" => present.is_some(),
            [v] if v == "true" => present.is_none(),
            _ => return Err(unsupported(statement, format!("Null {values:?}"))),
        },
        ("StringNotLike", _, Some(present)) => {
            present.is_none_or(|v| !values.iter().any(|p| wildcard(p.as_bytes(), v.as_bytes())))
        }
        ("ForAllValues:StringNotEquals", "aws:CalledVia", None) => {
            request.called_via.iter().all(|v| !values.contains(v))
        }
        ("ArnLike", "aws:PrincipalArn", None) => {
            values.iter().any(|p| arn_like(p, &request.principal_arn))
        }
        ("ArnNotLike", "aws:PrincipalArn", None) => {
            !values.iter().any(|p| arn_like(p, &request.principal_arn))
        }
        ("DateLessThan" | "DateGreaterThan", "aws:CurrentTime", None) => {
            let mut any = false;
            for v in values {
                let t: DateTime<Utc> = v
                    .parse()
                    .map_err(|_| unsupported(statement, format!("date {v:?}")))?;
                any |= if operator == "DateLessThan" {
                    request.time < t
                } else {
                    request.time > t
                };
            }
            any
        }
        _ => return Err(unsupported(statement, format!("{operator} on {key}"))),
    })
}

/// `ArnLike`: six `:`-separated components, each a case-sensitive wildcard match.
pub fn arn_like(pattern: &str, arn: &str) -> bool {
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let a: Vec<&str> = arn.splitn(6, ':').collect();
    p.len() == 6
        && a.len() == 6
        && p.iter()
            .zip(&a)
            .all(|(p, a)| wildcard(p.as_bytes(), a.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::guardrail::document::Conditions;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn request(principal: &str) -> Request {
        Request {
            action: "ec2:AuthorizeSecurityGroupIngress".into(),
            principal_arn: principal.into(),
            called_via: Vec::new(),
            resource_tags: [(
                "aws:cloudformation:stack-name".to_string(),
                "app".to_string(),
            )]
            .into(),
            time: at("2026-06-01T00:00:00Z"),
        }
    }

    fn statement(condition: Conditions) -> PolicyDocument {
        PolicyDocument::new(vec![Statement {
            sid: "S".into(),
            effect: Effect::Deny,
            action: vec!["ec2:AuthorizeSecurityGroupIngress".into()],
            resource: "*".into(),
            condition,
        }])
    }

    #[test]
    fn arn_like_matches_component_by_component() {
        assert!(arn_like(
            "arn:aws:iam::*:role/cdk-*-cfn-exec-role-*",
            "arn:aws:iam::123456789012:role/cdk-hnb659fds-cfn-exec-role-123456789012-us-east-1"
        ));
        assert!(!arn_like(
            "arn:aws:iam::*:role/deploy",
            "arn:aws:iam::123456789012:user/deploy"
        ));
        assert!(!arn_like("arn:aws:iam::1:role/x", "not an arn"));
    }

    #[test]
    fn a_negated_operator_on_a_missing_tag_is_true_and_null_false_is_not() {
        let mut c = Conditions::default();
        c.add(
            "StringNotLike",
            "aws:ResourceTag/missing",
            vec!["x*".into()],
        );
        let docs = statement(c);
        assert_eq!(
            evaluate(&[docs], &request("arn:aws:iam::1:user/a"))
                .unwrap()
                .as_deref(),
            Some("S")
        );
        let mut c = Conditions::default();
        c.add("Null", "aws:ResourceTag/missing", vec!["false".into()]);
        assert_eq!(
            evaluate(&[statement(c)], &request("arn:aws:iam::1:user/a")).unwrap(),
            None
        );
    }

    #[test]
    fn called_via_cloudformation_escapes_the_deny() {
        let mut c = Conditions::default();
        c.add(
            "ForAllValues:StringNotEquals",
            "aws:CalledVia",
            vec!["cloudformation.amazonaws.com".into()],
        );
        let docs = [statement(c)];
        let mut r = request("arn:aws:iam::1:user/a");
        assert!(evaluate(&docs, &r).unwrap().is_some());
        r.called_via = vec!["cloudformation.amazonaws.com".into()];
        assert!(evaluate(&docs, &r).unwrap().is_none());
    }

    #[test]
    fn dates_compare_strictly() {
        let mut c = Conditions::default();
        c.add(
            "DateLessThan",
            "aws:CurrentTime",
            vec!["2026-06-01T00:00:00Z".into()],
        );
        let docs = [statement(c)];
        let mut r = request("arn:aws:iam::1:user/a");
        assert!(evaluate(&docs, &r).unwrap().is_none(), "equal is not less");
        r.time = at("2026-05-31T23:59:59Z");
        assert!(evaluate(&docs, &r).unwrap().is_some());
    }

    #[test]
    fn an_unknown_key_is_an_error_not_a_guess() {
        let mut c = Conditions::default();
        c.add("StringEquals", "aws:SourceIp", vec!["1.2.3.4".into()]);
        let err = evaluate(&[statement(c)], &request("arn:aws:iam::1:user/a")).unwrap_err();
        assert!(matches!(err, GuardrailError::Unsupported { .. }), "{err}");
    }
}
