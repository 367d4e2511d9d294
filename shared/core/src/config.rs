//! Lambda configuration from environment variables, and policy loading.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `TABLE_NAME` | DynamoDB ticket table | required by detect, remediate, sweep |
//! | `EVENT_BUS_NAME` | custom bus | `driftguard` |
//! | `POLICY_PARAMETER` | SSM parameter holding the policy YAML | - |
//! | `POLICY_PATH` | policy file, when `POLICY_PARAMETER` is unset | - |
//! | `DRY_RUN` | `true` forces dry-run everywhere | `false` (the policy decides) |
//! | `TOPIC_ARN` | SNS topic (notify) | - |
//! | `SLACK_SECRET_ARN` | Secrets Manager secret with the Slack webhook URL (notify) | - |
//! | `OPSCENTER_MIRROR` | `true` mirrors tickets to OpsCenter | `false` |
//! | `EVENT_TTL_DAYS` | processed-event record TTL | `7` |
//! | `MEMBER_ROLE_NAME` | the role detect (the member template's `ReadRoleName`) or remediate (its `RemediationRoleName`) assumes in a member account (every watched account but the first) to look its changes up or remediate them there; unset: member accounts' changes are looked up in driftguard's own account, which finds no owner (docs/multi-account.md) | - |
//! | `MEMBER_EXTERNAL_ID` | `ExternalId` passed on that `AssumeRole` (the member template's `ExternalId`) | - |
//! | `WATCHED_ACCOUNTS` | comma-separated 12-digit account ids whose events detect accepts; the first is the account driftguard runs in (principal patterns without an account match it). The template sets `!Ref AWS::AccountId` | - (each event's own account) |
//!
//! With neither `POLICY_PARAMETER` nor `POLICY_PATH` the built-in safe default
//! policy applies (ticket everything, dry-run on). `AWS_ENDPOINT_URL`,
//! `AWS_REGION` are read by the SDK config (one attempt per call: retries are
//! `crate::resilience::retry`'s)
//! (`driftguard_adapters::load_sdk_config`).
use std::path::PathBuf;

use crate::ports::ParameterReader;
use driftguard_model::domain::policy::{Policy, PolicyError};
use driftguard_model::error::PortError;

pub const DEFAULT_EVENT_BUS: &str = "driftguard";
pub const DEFAULT_EVENT_TTL_DAYS: u32 = 7;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {var}={value:?} is invalid: {message}")]
    Invalid {
        var: &'static str,
        value: String,
        message: String,
    },
    #[error("policy from {source_name}: {error}")]
    Policy {
        source_name: String,
        #[source]
        error: PolicyError,
    },
    #[error("cannot read the policy parameter {name}: {error}")]
    PolicyParameter {
        name: String,
        #[source]
        error: PortError,
    },
}

/// Where the policy comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// An SSM parameter (String or SecureString) holding the YAML.
    Parameter(String),
    File(PathBuf),
    /// The built-in safe default.
    BuiltIn,
}

impl PolicySource {
    pub fn describe(&self) -> String {
        match self {
            Self::Parameter(p) => format!("SSM parameter {p}"),
            Self::File(p) => format!("file {}", p.display()),
            Self::BuiltIn => "built-in default".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: Option<String>,
    pub event_bus_name: String,
    pub policy_source: PolicySource,
    /// `DRY_RUN=true`: global override, nothing is changed whatever the policy says.
    pub force_dry_run: bool,
    pub topic_arn: Option<String>,
    pub slack_secret_arn: Option<String>,
    pub opscenter_mirror: bool,
    pub event_ttl_days: u32,
    /// `WATCHED_ACCOUNTS`, in order (the first is driftguard's own account).
    pub watched_accounts: Vec<String>,
    /// `WATCHED_REGIONS` (comma-separated): where stacks owning global-service
    /// resources (IAM) are looked up. Empty: the function's own region.
    pub watched_regions: Vec<String>,
    /// `MEMBER_ROLE_NAME`: the role assumed in member accounts.
    pub member_role_name: Option<String>,
    /// `MEMBER_EXTERNAL_ID`: its `ExternalId`.
    pub member_external_id: Option<String>,
}

/// An IAM role name. `CreateRole`'s `RoleName` (the SDK's docs,
/// `aws-sdk-iam/src/operation/create_role/_create_role_input.rs`): "a string
/// of characters consisting of upper and lowercase alphanumeric characters
/// with no spaces. You can also include any of the following characters:
/// _+=,.@-"; at most 64 characters (IAM quotas,
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html>).
fn parse_role_name(var: &'static str, value: &str) -> Result<String, ConfigError> {
    let ok = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if ok {
        Ok(value.to_string())
    } else {
        Err(ConfigError::Invalid {
            var,
            value: value.to_string(),
            message:
                "expected an IAM role name (1-64 of A-Z a-z 0-9 + = , . @ _ -), not a path or ARN"
                    .into(),
        })
    }
}

/// `ExternalId`: length 2 to 1224, pattern `[\w+=,.@:\/-]*` (the API
/// reference's constraints,
/// <https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>).
fn parse_external_id(var: &'static str, value: &str) -> Result<String, ConfigError> {
    let ok = (2..=1224).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@:/-".contains(&b));
    if ok {
        Ok(value.to_string())
    } else {
        Err(ConfigError::Invalid {
            var,
            value: "(redacted)".into(),
            message: "expected 2-1224 of A-Z a-z 0-9 _ + = , . @ : / -".into(),
        })
    }
}

/// `111122223333,444455556666` → the ids; each must be 12 digits.
pub fn parse_accounts(var: &'static str, value: &str) -> Result<Vec<String>, ConfigError> {
    let mut accounts = Vec::new();
    for a in value.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::Invalid {
                var,
                value: value.to_string(),
                message: format!("{a:?} is not a 12-digit AWS account id"),
            });
        }
        if !accounts.iter().any(|x| x == a) {
            accounts.push(a.to_string());
        }
    }
    Ok(accounts)
}

/// `WATCHED_REGIONS`: comma-separated region names (`eu-west-1, us-east-1`).
fn parse_regions(value: &str) -> Result<Vec<String>, ConfigError> {
    let mut regions: Vec<String> = Vec::new();
    for r in value.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        let valid = r.len() <= 32
            && r.contains('-')
            && r.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return Err(ConfigError::Invalid {
                var: "WATCHED_REGIONS",
                value: value.to_string(),
                message: format!("{r:?} is not a region name"),
            });
        }
        if !regions.iter().any(|x| x == r) {
            regions.push(r.to_string());
        }
    }
    Ok(regions)
}

fn parse_bool(var: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        _ => Err(ConfigError::Invalid {
            var,
            value: value.to_string(),
            message: "expected true or false".into(),
        }),
    }
}

impl Config {
    /// Read the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Read through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let non_empty = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let policy_source = match (non_empty("POLICY_PARAMETER"), non_empty("POLICY_PATH")) {
            (Some(p), _) => PolicySource::Parameter(p),
            (None, Some(path)) => PolicySource::File(PathBuf::from(path)),
            (None, None) => PolicySource::BuiltIn,
        };
        let event_ttl_days =
            match non_empty("EVENT_TTL_DAYS") {
                None => DEFAULT_EVENT_TTL_DAYS,
                Some(v) => v.parse::<u32>().ok().filter(|d| *d >= 1).ok_or_else(|| {
                    ConfigError::Invalid {
                        var: "EVENT_TTL_DAYS",
                        value: v.clone(),
                        message: "expected a whole number of days, at least 1".into(),
                    }
                })?,
            };
        Ok(Self {
            table_name: non_empty("TABLE_NAME"),
            event_bus_name: non_empty("EVENT_BUS_NAME")
                .unwrap_or_else(|| DEFAULT_EVENT_BUS.to_string()),
            policy_source,
            force_dry_run: match non_empty("DRY_RUN") {
                Some(v) => parse_bool("DRY_RUN", &v)?,
                None => false,
            },
            topic_arn: non_empty("TOPIC_ARN"),
            slack_secret_arn: non_empty("SLACK_SECRET_ARN"),
            opscenter_mirror: match non_empty("OPSCENTER_MIRROR") {
                Some(v) => parse_bool("OPSCENTER_MIRROR", &v)?,
                None => false,
            },
            event_ttl_days,
            watched_accounts: match non_empty("WATCHED_ACCOUNTS") {
                Some(v) => parse_accounts("WATCHED_ACCOUNTS", &v)?,
                None => Vec::new(),
            },
            watched_regions: match non_empty("WATCHED_REGIONS") {
                Some(v) => parse_regions(&v)?,
                None => Vec::new(),
            },
            member_role_name: non_empty("MEMBER_ROLE_NAME")
                .map(|v| parse_role_name("MEMBER_ROLE_NAME", &v))
                .transpose()?,
            member_external_id: non_empty("MEMBER_EXTERNAL_ID")
                .map(|v| parse_external_id("MEMBER_EXTERNAL_ID", &v))
                .transpose()?,
        })
    }

    pub fn require_table(&self) -> Result<&str, ConfigError> {
        self.table_name
            .as_deref()
            .ok_or(ConfigError::Missing("TABLE_NAME"))
    }

    pub fn event_ttl(&self) -> chrono::Duration {
        chrono::Duration::days(i64::from(self.event_ttl_days))
    }
}

/// Load the configured policy for a function: [`load_policy`], then the
/// account driftguard runs in (the first of `WATCHED_ACCOUNTS`, which the
/// template sets to `AWS::AccountId`) as the account of principal patterns that
/// name none (`role/NAME`). Without it such patterns match nothing, which fails
/// safe but would refuse every approval and recognise no pipeline.
pub async fn load_function_policy<P: ParameterReader + ?Sized>(
    config: &Config,
    ssm: Option<&P>,
) -> Result<Policy, ConfigError> {
    let policy = load_policy(&config.policy_source, ssm).await?;
    Ok(match config.watched_accounts.first() {
        Some(home) => policy.with_home_account(home.clone()),
        None => policy,
    })
}

/// Load and validate the policy. `ssm` (the SSM client: the adapter
/// is `adapters::aws::ssm`) is only needed for [`PolicySource::Parameter`].
pub async fn load_policy<P: ParameterReader + ?Sized>(
    source: &PolicySource,
    ssm: Option<&P>,
) -> Result<Policy, ConfigError> {
    let policy_error = |error| ConfigError::Policy {
        source_name: source.describe(),
        error,
    };
    match source {
        PolicySource::BuiltIn => Ok(Policy::default()),
        PolicySource::File(path) => Policy::from_path(path).map_err(policy_error),
        PolicySource::Parameter(name) => {
            let client = ssm.ok_or_else(|| ConfigError::PolicyParameter {
                name: name.clone(),
                error: PortError::Failed {
                    service: "ssm",
                    operation: "GetParameter",
                    message: "no SSM client configured".into(),
                },
            })?;
            let text = client.read_parameter(name).await.map_err(|error| {
                ConfigError::PolicyParameter {
                    name: name.clone(),
                    error,
                }
            })?;
            Policy::from_yaml(&text).map_err(policy_error)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.event_bus_name, "driftguard");
        assert_eq!(c.policy_source, PolicySource::BuiltIn);
        assert!(!c.force_dry_run && !c.opscenter_mirror);
        assert_eq!(c.event_ttl_days, 7);
        assert!(matches!(
            c.require_table(),
            Err(ConfigError::Missing("TABLE_NAME"))
        ));
    }

    #[test]
    fn member_role_settings_parse_and_reject_arns_and_junk() {
        let c = config(&[
            ("MEMBER_ROLE_NAME", "driftguard-read"),
            ("MEMBER_EXTERNAL_ID", "o-abc:central"),
        ])
        .unwrap();
        assert_eq!(c.member_role_name.as_deref(), Some("driftguard-read"));
        assert_eq!(c.member_external_id.as_deref(), Some("o-abc:central"));
        assert_eq!(config(&[]).unwrap().member_role_name, None);
        for bad in [
            "arn:aws:iam::1:role/x",
            "path/role",
            "has space",
            &"r".repeat(65),
        ] {
            let e = config(&[("MEMBER_ROLE_NAME", bad)])
                .unwrap_err()
                .to_string();
            assert!(e.contains("MEMBER_ROLE_NAME"), "{e}");
        }
        let e = config(&[("MEMBER_EXTERNAL_ID", "secret with space")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("MEMBER_EXTERNAL_ID") && !e.contains("secret"),
            "{e}"
        );
    }

    #[test]
    fn watched_regions_parse_dedupe_and_reject_junk() {
        assert!(config(&[]).unwrap().watched_regions.is_empty());
        let c = config(&[("WATCHED_REGIONS", " eu-west-1, us-east-1,,eu-west-1 ")]).unwrap();
        assert_eq!(c.watched_regions, ["eu-west-1", "us-east-1"]);
        let err = config(&[("WATCHED_REGIONS", "eu-west-1,EU WEST")]).unwrap_err();
        assert!(err.to_string().contains("WATCHED_REGIONS"), "{err}");
    }

    #[test]
    fn parameter_wins_over_path_and_flags_parse() {
        let c = config(&[
            ("TABLE_NAME", "t"),
            ("POLICY_PARAMETER", "/driftguard/policy"),
            ("POLICY_PATH", "policy.yaml"),
            ("DRY_RUN", "TRUE"),
            ("OPSCENTER_MIRROR", "true"),
            ("EVENT_TTL_DAYS", "3"),
        ])
        .unwrap();
        assert_eq!(
            c.policy_source,
            PolicySource::Parameter("/driftguard/policy".into())
        );
        assert!(c.force_dry_run && c.opscenter_mirror);
        assert_eq!(c.event_ttl(), chrono::Duration::days(3));
        assert_eq!(
            config(&[("POLICY_PATH", "p.yaml")]).unwrap().policy_source,
            PolicySource::File("p.yaml".into())
        );
    }

    #[test]
    fn invalid_values_name_the_variable() {
        let e = config(&[("DRY_RUN", "maybe")]).unwrap_err().to_string();
        assert!(e.contains("DRY_RUN"), "{e}");
        let e = config(&[("EVENT_TTL_DAYS", "0")]).unwrap_err().to_string();
        assert!(e.contains("EVENT_TTL_DAYS"), "{e}");
    }

    #[test]
    fn watched_accounts_are_a_checked_comma_list() {
        assert!(config(&[]).unwrap().watched_accounts.is_empty());
        let c = config(&[(
            "WATCHED_ACCOUNTS",
            " 111122223333, 444455556666,111122223333 ",
        )])
        .unwrap();
        assert_eq!(c.watched_accounts, ["111122223333", "444455556666"]);
        for bad in ["12345", "11112222333a", "111122223333,*"] {
            let e = config(&[("WATCHED_ACCOUNTS", bad)])
                .unwrap_err()
                .to_string();
            assert!(e.contains("WATCHED_ACCOUNTS"), "{e}");
        }
    }

    #[tokio::test]
    async fn policy_from_file_and_builtin() {
        let p = load_policy(&PolicySource::BuiltIn, None::<&dyn ParameterReader>)
            .await
            .unwrap();
        assert!(p.dry_run_default());
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policy.example.yaml");
        if std::path::Path::new(path).exists() {
            let p = load_policy(
                &PolicySource::File(path.into()),
                None::<&dyn ParameterReader>,
            )
            .await
            .unwrap();
            assert!(!p.rules.is_empty());
        }
        let missing = load_policy(
            &PolicySource::File("/nonexistent/policy.yaml".into()),
            None::<&dyn ParameterReader>,
        )
        .await;
        assert!(missing
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/policy.yaml"));
    }

    #[tokio::test]
    async fn policy_from_a_parameter_reader() {
        use crate::memory::parameters::MemoryParameters;
        let ssm = MemoryParameters::default()
            .with("/dg/policy", "version: 1\ndefaults: {dry_run: false}\n");
        let p = load_policy(&PolicySource::Parameter("/dg/policy".into()), Some(&ssm))
            .await
            .unwrap();
        assert!(!p.dry_run_default());
        let missing = load_policy(&PolicySource::Parameter("/dg/other".into()), Some(&ssm)).await;
        assert!(
            matches!(&missing, Err(ConfigError::PolicyParameter { name, .. }) if name == "/dg/other"),
            "{missing:?}"
        );
    }
}
