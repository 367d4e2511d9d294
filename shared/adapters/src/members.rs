//! Member accounts (issue 15): a member's role assumed through STS
//! `AssumeRole`, its credentials cached until shortly before they expire,
//! and one set of lookups (CloudFormation catalog, drift detection,
//! CloudTrail actor lookup) per account and region, both caches bounded.
//!
//! AWS's API reference for `AssumeRole` (the SDK's docs,
//! `aws-sdk-sts/src/operation/assume_role/_assume_role_input.rs`): the
//! session name "is also used in the ARN of the assumed role principal.
//! This means that subsequent cross-account API requests that use the
//! temporary security credentials will expose the role session name to the
//! external account in their CloudTrail logs"; `DurationSeconds`: "By
//! default, the value is set to 3600 seconds"; `ExternalId`: "A unique
//! identifier that might be required when you assume a role in another
//! account". The session name is `driftguard-<function>`, so driftguard's
//! calls in a member account are recognisable there.
use driftguard_core::sync::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::identity::IdentityCache;
use aws_config::SdkConfig;
use aws_credential_types::provider::{error::CredentialsError, future, ProvideCredentials};
use aws_credential_types::Credentials;

use super::cloudformation::{
    CfnDriftDetector, CfnStackCatalog, MultiRegionCatalog, MultiRegionDriftDetector,
};
use super::cloudtrail::CloudTrailActorLookup;
use super::errors::map_sdk_error;
use driftguard_core::ports::{AccountLookups, MemberAccounts};
use driftguard_model::error::{PortError, PortResult};

const SERVICE: &str = "sts";

/// Which role driftguard assumes in a member account, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRole {
    /// The role's name, the same in every member (`templates/member.yaml`).
    pub role_name: String,
    /// Passed as `ExternalId` when set (the member template's `ExternalId`).
    pub external_id: Option<String>,
    /// `RoleSessionName`: `driftguard-detect`, `driftguard-sweep`...
    pub session_name: String,
    /// Credentials are assumed again this long before they expire.
    pub refresh_before: Duration,
    /// At most this many accounts' credentials and account-regions' lookups
    /// are kept; the least recently used goes first.
    pub capacity: usize,
}

impl MemberRole {
    pub fn new(role_name: &str, session_name: &str) -> Self {
        Self {
            role_name: role_name.to_string(),
            external_id: None,
            session_name: session_name.to_string(),
            refresh_before: Duration::from_secs(300),
            capacity: 256,
        }
    }

    /// The role's ARN in `account`, in the partition of `region`.
    pub fn arn_in(&self, account: &str, region: &str) -> String {
        format!(
            "arn:{}:iam::{account}:role/{}",
            partition_of(region),
            self.role_name
        )
    }
}

fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// A bounded map; the least recently used entry is dropped when it is full
/// (the member caches: credentials per account, clients per account and region).
#[derive(Debug)]
pub struct Bounded<K, V> {
    capacity: usize,
    tick: u64,
    entries: HashMap<K, (u64, V)>,
}

impl<K: std::hash::Hash + Eq + Clone, V: Clone> Bounded<K, V> {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            tick: 0,
            entries: HashMap::new(),
        }
    }

    pub fn get(&mut self, k: &K) -> Option<V> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(k).map(|(used, v)| {
            *used = tick;
            v.clone()
        })
    }

    pub fn insert(&mut self, k: K, v: V) {
        self.tick += 1;
        if !self.entries.contains_key(&k) && self.entries.len() >= self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(k, _)| k.clone());
            if let Some(o) = oldest {
                self.entries.remove(&o);
            }
        }
        self.entries.insert(k, (self.tick, v));
    }

    pub fn remove(&mut self, k: &K) {
        self.entries.remove(k);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Credentials of the member role per account, from STS `AssumeRole` with
/// the central function's own credentials, kept until `refresh_before`
/// their expiry.
#[derive(Debug)]
pub struct MemberCredentials {
    sts: aws_sdk_sts::Client,
    role: MemberRole,
    region: String,
    cache: Mutex<Bounded<String, Credentials>>,
}

impl MemberCredentials {
    pub fn new(base: &SdkConfig, role: MemberRole) -> Self {
        Self {
            sts: aws_sdk_sts::Client::new(base),
            region: base.region().map(|r| r.to_string()).unwrap_or_default(),
            cache: Mutex::new(Bounded::new(role.capacity)),
            role,
        }
    }

    pub fn role(&self) -> &MemberRole {
        &self.role
    }

    /// Fresh credentials for `account`: cached, or assumed now. An error is
    /// the classified STS error (access denied: `Failed`, not retried).
    pub async fn credentials(&self, account: &str) -> PortResult<Credentials> {
        let fresh_until = SystemTime::now() + self.role.refresh_before;
        let cached = lock(&self.cache).get(&account.to_string());
        if let Some(c) = cached.filter(|c| c.expiry().is_some_and(|e| e > fresh_until)) {
            return Ok(c);
        }
        let assumed = self.assume(account).await?;
        lock(&self.cache).insert(account.to_string(), assumed.clone());
        Ok(assumed)
    }

    /// Forget an account's credentials (they were refused).
    pub fn forget(&self, account: &str) {
        lock(&self.cache).remove(&account.to_string());
    }

    async fn assume(&self, account: &str) -> PortResult<Credentials> {
        let arn = self.role.arn_in(account, &self.region);
        let out = self
            .sts
            .assume_role()
            .role_arn(&arn)
            .role_session_name(&self.role.session_name)
            .set_external_id(self.role.external_id.clone())
            .send()
            .await
            .map_err(|e| with_role(map_sdk_error(SERVICE, "AssumeRole", e), &arn))?;
        let c = out.credentials().ok_or_else(|| PortError::Failed {
            service: SERVICE,
            operation: "AssumeRole",
            message: format!("{arn}: the answer holds no credentials"),
        })?;
        let expiry = SystemTime::try_from(*c.expiration()).ok();
        tracing::info!(role = %arn, session = %self.role.session_name, expiry = ?c.expiration(), "member role assumed");
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            expiry,
            "driftguard-member-role",
        ))
    }
}

/// The error, naming the role it was about.
fn with_role(e: PortError, arn: &str) -> PortError {
    match e {
        PortError::Throttled {
            service,
            operation,
            message,
        } => PortError::Throttled {
            service,
            operation,
            message: format!("{arn}: {message}"),
        },
        PortError::Transient {
            service,
            operation,
            message,
        } => PortError::Transient {
            service,
            operation,
            message: format!("{arn}: {message}"),
        },
        PortError::Unsupported {
            service,
            operation,
            message,
        }
        | PortError::Failed {
            service,
            operation,
            message,
        } => PortError::Failed {
            service,
            operation,
            message: format!("{arn}: {message}"),
        },
        other => other,
    }
}

/// The SDK's credentials provider for one member account: reads through
/// [`MemberCredentials`] (the one cache; the clients' own identity cache is
/// off), so a client kept for hours always signs with valid credentials.
#[derive(Debug, Clone)]
struct AccountCredentials {
    source: Arc<MemberCredentials>,
    account: String,
}

impl ProvideCredentials for AccountCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            self.source
                .credentials(&self.account)
                .await
                .map_err(CredentialsError::provider_error)
        })
    }
}

/// [`MemberAccounts`] over STS: the lookups of a member account and region,
/// built once (their caches — the ownership index — live with them) and kept
/// in a bounded map.
#[derive(Debug)]
pub struct AwsMemberAccounts {
    base: SdkConfig,
    credentials: Arc<MemberCredentials>,
    lookups: Mutex<Bounded<(String, String), AccountLookups>>,
    /// The other regions a member's stacks may be in (`WATCHED_REGIONS`).
    regions: Vec<String>,
}

impl AwsMemberAccounts {
    /// `base`: the central function's SDK config (its credentials assume the
    /// member role; its timeouts and HTTP client are the members' too).
    pub fn new(base: &SdkConfig, role: MemberRole) -> Self {
        Self {
            lookups: Mutex::new(Bounded::new(role.capacity)),
            credentials: Arc::new(MemberCredentials::new(base, role)),
            base: base.clone(),
            regions: Vec::new(),
        }
    }

    /// Look a member's global resources (IAM, CloudFront, Route 53: events in
    /// us-east-1 only) up in these regions too, as the central account's are
    /// (`MultiRegionCatalog`).
    pub fn with_watched_regions(mut self, regions: Vec<String>) -> Self {
        self.regions = regions;
        self
    }

    /// The SDK config of a member account and region: the base config with
    /// the member role's credentials.
    pub fn sdk_config(&self, account: &str, region: &str) -> SdkConfig {
        self.base
            .to_builder()
            .region(aws_config::Region::new(region.to_string()))
            .identity_cache(IdentityCache::no_cache())
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    AccountCredentials {
                        source: self.credentials.clone(),
                        account: account.to_string(),
                    },
                ),
            )
            .build()
    }

    /// Assume the member role in `account` now (or find its credentials
    /// cached): a missing or refusing role is one classified error here
    /// rather than a failure inside every later call.
    pub async fn assume(&self, account: &str) -> PortResult<()> {
        match self.credentials.credentials(account).await {
            Ok(_) => Ok(()),
            Err(e) => {
                self.credentials.forget(account);
                Err(e)
            }
        }
    }

    /// The role assumed in members.
    pub fn role(&self) -> &MemberRole {
        self.credentials.role()
    }

    /// How many account-regions have lookups kept (bounded by the capacity).
    pub fn kept(&self) -> usize {
        lock(&self.lookups).len()
    }

    /// The member's lookups for events of `region`: its CloudFormation there
    /// first, then in every other watched region (for global services), IAM
    /// for unique ids and role tags, all through the member role, as the
    /// central account's own lookups are built (functions/detect).
    fn build(&self, account: &str, region: &str) -> AccountLookups {
        let sdk = self.sdk_config(account, region);
        let us_east_1 = sdk
            .to_builder()
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let regions: Vec<(String, aws_sdk_cloudformation::Client)> = std::iter::once(region)
            .chain(
                self.regions
                    .iter()
                    .map(String::as_str)
                    .filter(|r| *r != region),
            )
            .map(|r| {
                let cfn = aws_sdk_cloudformation::Client::new(&self.sdk_config(account, r));
                (r.to_string(), cfn)
            })
            .collect();
        let catalog = Arc::new(MultiRegionCatalog::new(
            regions
                .iter()
                .map(|(r, c)| (r.clone(), CfnStackCatalog::new(c.clone())))
                .collect(),
            Some(MultiRegionCatalog::iam_client(&sdk)),
        ));
        let drift = MultiRegionDriftDetector::new(
            catalog.clone(),
            regions
                .into_iter()
                .map(|(r, c)| (r, CfnDriftDetector::new(c)))
                .collect(),
        );
        AccountLookups {
            catalog,
            drift: Arc::new(drift),
            actors: Arc::new(
                CloudTrailActorLookup::new(aws_sdk_cloudtrail::Client::new(&sdk))
                    .with_global_client(aws_sdk_cloudtrail::Client::new(&us_east_1)),
            ),
        }
    }
}

#[async_trait]
impl MemberAccounts for AwsMemberAccounts {
    async fn lookups(&self, account: &str, region: &str) -> PortResult<AccountLookups> {
        self.assume(account).await?;
        let key = (account.to_string(), region.to_string());
        if let Some(l) = lock(&self.lookups).get(&key) {
            return Ok(l);
        }
        let built = self.build(account, region);
        lock(&self.lookups).insert(key, built.clone());
        Ok(built)
    }

    fn role_arn(&self, account: &str, region: &str) -> String {
        self.credentials.role().arn_in(account, region)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_bounded_map_drops_the_least_recently_used() {
        let mut m = Bounded::new(2);
        m.insert("a", 1);
        m.insert("b", 2);
        assert_eq!(m.get(&"a"), Some(1));
        m.insert("c", 3);
        assert_eq!(m.len(), 2);
        assert_eq!(m.get(&"b"), None, "b was the least recently used");
        assert_eq!(m.get(&"a"), Some(1));
        assert_eq!(m.get(&"c"), Some(3));
        m.insert("c", 4);
        assert_eq!(m.len(), 2, "replacing an entry evicts nothing");
    }

    #[test]
    fn role_arns_follow_the_partition_of_the_region() {
        let r = MemberRole::new("driftguard-read", "driftguard-detect");
        assert_eq!(
            r.arn_in("222222222222", "eu-west-1"),
            "arn:aws:iam::222222222222:role/driftguard-read"
        );
        assert_eq!(
            r.arn_in("222222222222", "cn-north-1"),
            "arn:aws-cn:iam::222222222222:role/driftguard-read"
        );
        assert_eq!(
            r.arn_in("222222222222", "us-gov-west-1"),
            "arn:aws-us-gov:iam::222222222222:role/driftguard-read"
        );
    }
}
