//! `driftguard doctor`: does each pipeline role admit only CI principals
//! (issue 34 item 2)? A person who can assume the deploy role is the
//! pipeline as far as an event without `sourceIdentity` shows. Each
//! `identities.pipeline` role pattern that names one role (no glob) is read
//! with `iam:GetRole` (the [`RoleTrust`] port); its trust policy must admit
//! only a service principal or an OIDC provider with a `…:sub` condition.
use driftguard_core::ports::trust::RoleTrust;
use driftguard_model::domain::policy::Policy;
use driftguard_model::domain::trust::{not_ci, trusted_principals};

use super::checks::{Check, Status};

/// The role ARN a pipeline pattern names, when it names exactly one role:
/// `role/NAME` or `role/PATH/NAME` in `account`, or a full role ARN, no glob.
pub fn role_arn_of(pattern: &str, account: Option<&str>) -> Option<String> {
    if pattern.contains(['*', '?']) {
        return None;
    }
    if pattern.starts_with("arn:") {
        return pattern.contains(":role/").then(|| pattern.to_string());
    }
    let rest = pattern.strip_prefix("role/")?;
    Some(format!("arn:aws:iam::{}:role/{rest}", account?))
}

fn check(status: Status, detail: String, fix: Option<&str>) -> Check {
    Check {
        name: "pipeline trust".into(),
        status,
        detail,
        fix: fix.map(str::to_string),
    }
}

const FIX: &str = "trust only your CI: a service principal (codebuild.amazonaws.com …) or your \
    OIDC provider with a `sub` condition naming the repository and branch";

/// One check per pipeline pattern of `policy`.
pub async fn pipeline_trust_checks(
    policy: &Policy,
    account: Option<&str>,
    trust: &dyn RoleTrust,
) -> Vec<Check> {
    let mut checks = Vec::new();
    for p in &policy.file.identities.pipeline {
        let Some(pattern) = p.principal.as_deref() else {
            continue;
        };
        let Some(arn) = role_arn_of(pattern, account) else {
            checks.push(check(
                Status::Warn,
                format!("{pattern}: not one role (a glob, a user, or no --account): its trust policy is not checked"),
                Some("name the role exactly (and pass --account for `role/NAME`)"),
            ));
            continue;
        };
        checks.push(role_check(&arn, trust.trust_policy(&arn).await));
    }
    checks
}

fn role_check(
    arn: &str,
    read: Result<Option<String>, driftguard_model::error::PortError>,
) -> Check {
    let document = match read {
        Err(e) => {
            return check(
                Status::Warn,
                format!("{arn}: GetRole failed: {e}"),
                Some("allow iam:GetRole on the pipeline roles"),
            )
        }
        Ok(None) => {
            return check(
                Status::Warn,
                format!("{arn}: no such role in this account"),
                Some("check identities.pipeline"),
            )
        }
        Ok(Some(d)) => d,
    };
    match trusted_principals(&document) {
        Err(e) => check(Status::Fail, format!("{arn}: {e}"), Some(FIX)),
        Ok(trusted) => {
            let others = not_ci(&trusted);
            if others.is_empty() {
                check(
                    Status::Pass,
                    format!("{arn}: trusts only CI principals"),
                    None,
                )
            } else {
                let list: Vec<String> = others.iter().map(ToString::to_string).collect();
                check(
                    Status::Fail,
                    format!(
                        "{arn} also trusts {}: a person who assumes it without --source-identity looks like the pipeline (allowed)",
                        list.join(", ")
                    ),
                    Some(FIX),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use driftguard_core::memory::trust::MemoryRoleTrust;

    const POLICY: &str = r#"
version: 1
identities:
  pipeline:
    - principal: "role/deploy-pipeline"
    - principal: "role/github-deploy"
    - principal: "arn:aws:iam::123456789012:role/cdk-*-cfn-exec-role-*"
    - principal: "role/gone"
"#;

    #[tokio::test]
    async fn names_each_pipeline_role_that_admits_more_than_ci() {
        let trust = MemoryRoleTrust::new();
        trust.add_role(
            "arn:aws:iam::123456789012:role/deploy-pipeline",
            r#"{"Statement":[
              {"Effect":"Allow","Principal":{"Service":"codebuild.amazonaws.com"},"Action":"sts:AssumeRole"},
              {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#,
        );
        trust.add_role(
            "arn:aws:iam::123456789012:role/github-deploy",
            r#"{"Statement":[{"Effect":"Allow",
              "Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
              "Action":"sts:AssumeRoleWithWebIdentity",
              "Condition":{"StringLike":{"token.actions.githubusercontent.com:sub":"repo:acme/app:*"}}}]}"#,
        );
        let policy = Policy::from_yaml(POLICY).unwrap();
        let checks = pipeline_trust_checks(&policy, Some("123456789012"), &trust).await;
        let got: Vec<(Status, &str)> = checks
            .iter()
            .map(|c| (c.status, c.detail.as_str()))
            .collect();
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(got[0].0, Status::Fail);
        assert!(
            got[0]
                .1
                .contains("AWS principal arn:aws:iam::123456789012:root"),
            "{got:?}"
        );
        assert_eq!(got[1].0, Status::Pass, "{got:?}");
        assert_eq!(got[2].0, Status::Warn, "a glob is not looked up: {got:?}");
        assert_eq!(got[3].0, Status::Warn, "{got:?}");
        assert!(got[3].1.contains("no such role"), "{got:?}");
        assert_eq!(trust.calls(), 3);
    }

    #[test]
    fn patterns_that_name_one_role() {
        let a = Some("123456789012");
        assert_eq!(
            role_arn_of("role/ci/deploy", a).as_deref(),
            Some("arn:aws:iam::123456789012:role/ci/deploy")
        );
        assert_eq!(role_arn_of("role/deploy", None), None);
        assert_eq!(role_arn_of("role/cdk-*", a), None);
        assert_eq!(role_arn_of("user/bob", a), None);
        assert_eq!(
            role_arn_of("arn:aws:iam::210987654321:role/deploy", None).as_deref(),
            Some("arn:aws:iam::210987654321:role/deploy")
        );
    }
}
