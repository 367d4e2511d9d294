//! Who a role's trust policy (IAM `AssumeRolePolicyDocument`, decoded JSON)
//! lets assume it, read for two questions (issue 34 items 1, 2): is the
//! role a *people* role (its sessions are engineers signed in through a
//! SAML identity provider, IAM Identity Center, or an OIDC provider without
//! a subject condition), and does a pipeline role admit only CI principals
//! (a service principal, or an OIDC provider with a `…:sub` condition)?
//! Pure: the document comes from `iam:GetRole` through a port.
use serde_json::Value;

/// One principal an `Allow` statement of the trust policy admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trusted {
    /// `Principal.Service`: an AWS service (`codebuild.amazonaws.com`).
    Service(String),
    /// `Principal.Federated` naming a SAML provider (`…:saml-provider/NAME`);
    /// IAM Identity Center's are `saml-provider/AWSSSO_…`.
    Saml(String),
    /// `Principal.Federated` naming an OIDC provider (or another web
    /// identity provider), and whether the statement conditions the token's
    /// subject (a condition key ending in `:sub`).
    Oidc {
        /// The provider.
        provider: String,
        /// A `…:sub` condition narrows who may assume the role.
        subject_condition: bool,
    },
    /// `Principal.AWS`: an account, user or role (or `*`).
    Aws(String),
    /// `Principal: "*"`.
    Anyone,
}

impl std::fmt::Display for Trusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Service(s) => write!(f, "service {s}"),
            Self::Saml(p) => write!(f, "SAML provider {p}"),
            Self::Oidc {
                provider,
                subject_condition: true,
            } => write!(f, "OIDC provider {provider} (with a sub condition)"),
            Self::Oidc { provider, .. } => {
                write!(f, "OIDC provider {provider} without a sub condition")
            }
            Self::Aws(p) => write!(f, "AWS principal {p}"),
            Self::Anyone => f.write_str("anyone (Principal \"*\")"),
        }
    }
}

/// A trust policy that is not a JSON policy document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("trust policy: {0}")]
pub struct TrustError(String);

/// A string or an array of strings (IAM allows both).
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a statement's `Condition` names a token subject (`…:sub`) that
/// narrows anything: a value of only wildcards (`"*"`) admits every subject.
fn has_subject_condition(statement: &Value) -> bool {
    let narrows = |v: &Value| match v {
        Value::String(s) => s.chars().any(|c| c != '*' && c != '?'),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .any(|s| s.chars().any(|c| c != '*' && c != '?')),
        _ => false,
    };
    statement
        .get("Condition")
        .and_then(Value::as_object)
        .is_some_and(|ops| {
            ops.values()
                .filter_map(Value::as_object)
                .any(|keys| keys.iter().any(|(k, v)| k.ends_with(":sub") && narrows(v)))
        })
}

fn principals_of(statement: &Value) -> Vec<Trusted> {
    let principal = match statement.get("Principal") {
        Some(Value::String(s)) if s == "*" => return vec![Trusted::Anyone],
        Some(p) => p,
        None => return Vec::new(),
    };
    let mut out: Vec<Trusted> = strings(principal.get("Service"))
        .into_iter()
        .map(Trusted::Service)
        .collect();
    for federated in strings(principal.get("Federated")) {
        out.push(if federated.contains(":saml-provider/") {
            Trusted::Saml(federated)
        } else {
            Trusted::Oidc {
                provider: federated,
                subject_condition: has_subject_condition(statement),
            }
        });
    }
    out.extend(strings(principal.get("AWS")).into_iter().map(|p| {
        if p == "*" {
            Trusted::Anyone
        } else {
            Trusted::Aws(p)
        }
    }));
    out
}

/// The principals the `Allow` statements of `document` admit.
pub fn trusted_principals(document: &str) -> Result<Vec<Trusted>, TrustError> {
    let doc: Value = serde_json::from_str(document).map_err(|e| TrustError(e.to_string()))?;
    let statements = match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => return Err(TrustError("no Statement".into())),
    };
    Ok(statements
        .iter()
        .filter(|s| s.get("Effect").and_then(Value::as_str) == Some("Allow"))
        .flat_map(principals_of)
        .collect())
}

/// Evidence that the role's sessions are people: its trust policy admits a
/// SAML provider (IAM Identity Center's included) or an OIDC provider
/// without a subject condition.
pub fn people_evidence(trusted: &[Trusted]) -> Option<String> {
    trusted
        .iter()
        .find(|t| {
            matches!(
                t,
                Trusted::Saml(_)
                    | Trusted::Oidc {
                        subject_condition: false,
                        ..
                    }
            )
        })
        .map(|t| format!("the role's trust policy admits {t} (iam:GetRole): a people role"))
}

/// The principals a pipeline role should not admit: anything but a service
/// principal or an OIDC provider with a subject condition.
pub fn not_ci(trusted: &[Trusted]) -> Vec<&Trusted> {
    trusted
        .iter()
        .filter(|t| {
            !matches!(
                t,
                Trusted::Service(_)
                    | Trusted::Oidc {
                        subject_condition: true,
                        ..
                    }
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const GITHUB: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
      "Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
      "Action":"sts:AssumeRoleWithWebIdentity",
      "Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"},
        "StringLike":{"token.actions.githubusercontent.com:sub":"repo:acme/app:ref:refs/heads/main"}}}]}"#;

    const OKTA: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
      "Principal":{"Federated":"arn:aws:iam::123456789012:saml-provider/Okta"},
      "Action":"sts:AssumeRoleWithSAML",
      "Condition":{"StringEquals":{"SAML:aud":"https://signin.aws.amazon.com/saml"}}}}"#;

    #[test]
    fn a_saml_role_is_a_people_role_and_not_ci() {
        let t = trusted_principals(OKTA).unwrap();
        assert!(people_evidence(&t).unwrap().contains("saml-provider/Okta"));
        assert_eq!(not_ci(&t).len(), 1);
    }

    #[test]
    fn github_oidc_with_a_subject_is_ci_not_people() {
        let t = trusted_principals(GITHUB).unwrap();
        assert_eq!(people_evidence(&t), None);
        assert!(not_ci(&t).is_empty());
        let no_sub = GITHUB.replace(":sub", ":repository");
        let t = trusted_principals(&no_sub).unwrap();
        assert!(people_evidence(&t).is_some());
        assert_eq!(not_ci(&t).len(), 1);
        // A subject of only wildcards narrows nothing.
        let any_sub = GITHUB.replace("repo:acme/app:ref:refs/heads/main", "*");
        let t = trusted_principals(&any_sub).unwrap();
        assert_eq!(not_ci(&t).len(), 1);
    }

    #[test]
    fn services_accounts_and_anyone() {
        let doc = r#"{"Statement":[
          {"Effect":"Allow","Principal":{"Service":["codebuild.amazonaws.com"]},"Action":"sts:AssumeRole"},
          {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"},
          {"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole"}]}"#;
        let t = trusted_principals(doc).unwrap();
        assert_eq!(
            t,
            vec![
                Trusted::Service("codebuild.amazonaws.com".into()),
                Trusted::Aws("arn:aws:iam::123456789012:root".into())
            ]
        );
        assert_eq!(people_evidence(&t), None);
        assert_eq!(not_ci(&t), vec![&t[1]]);
        assert!(trusted_principals("not json").is_err());
        assert_eq!(
            trusted_principals(r#"{"Statement":{"Effect":"Allow","Principal":"*"}}"#).unwrap(),
            vec![Trusted::Anyone]
        );
    }
}
