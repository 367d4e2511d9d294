//! [`AccountDirectory`] over AWS Organizations: an account's OU path (its
//! parents up to the root, `ListParents`, and the organization's id,
//! `DescribeOrganization`) and its tags (`ListTagsForResource`), for the
//! policy's environments matched by `match.ou` and `match.tags`. Kept per
//! account for an hour (an account moved to another OU is seen within it),
//! the cache bounded.
//!
//! The SDK's API docs (`aws-sdk-organizations`): `ListParents` "Lists the
//! root or organizational units (OUs) that serve as the immediate parent of
//! the specified child OU or account"; "In the current release, a child can
//! have only a single parent"; "always check the NextToken response parameter
//! value, even if you receive an empty result set". Both calls: "You can only
//! call this operation from the management account or a member account that
//! is a delegated administrator" (docs/multi-account.md says what that means
//! for the central account).
use driftguard_core::sync::lock;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_organizations::types::ParentType;
use aws_sdk_organizations::Client;

use super::errors::map_sdk_error;
use super::members::Bounded;
use driftguard_core::ports::AccountDirectory;
use driftguard_model::domain::policy::AccountFacts;
use driftguard_model::error::{PortError, PortResult};

const SERVICE: &str = "organizations";
/// AWS Organizations nests OUs at most five levels under a root (its quotas,
/// https://docs.aws.amazon.com/organizations/latest/userguide/orgs_reference_limits.html);
/// a longer walk is refused rather than looped.
const MAX_DEPTH: usize = 8;
const MAX_PAGES: usize = 100;

#[derive(Debug)]
pub struct OrgAccountDirectory {
    client: Client,
    ttl: Duration,
    org_id: Mutex<Option<String>>,
    kept: Mutex<Bounded<String, (Instant, AccountFacts)>>,
}

fn failed(operation: &'static str, message: String) -> PortError {
    PortError::Failed {
        service: SERVICE,
        operation,
        message,
    }
}

impl OrgAccountDirectory {
    /// From the function's SDK config (its credentials: the management
    /// account's or a delegated administrator's).
    pub fn from_conf(sdk: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(sdk))
    }

    pub fn new(client: Client) -> Self {
        Self {
            client,
            ttl: Duration::from_secs(3600),
            org_id: Mutex::new(None),
            kept: Mutex::new(Bounded::new(1024)),
        }
    }

    async fn organization_id(&self) -> PortResult<String> {
        if let Some(id) = lock(&self.org_id).clone() {
            return Ok(id);
        }
        let out = self
            .client
            .describe_organization()
            .send()
            .await
            .map_err(|e| map_sdk_error(SERVICE, "DescribeOrganization", e))?;
        let id = out
            .organization()
            .and_then(|o| o.id())
            .ok_or_else(|| failed("DescribeOrganization", "no organization id".into()))?
            .to_string();
        *lock(&self.org_id) = Some(id.clone());
        Ok(id)
    }

    /// The one parent of `child`.
    async fn parent(&self, child: &str) -> PortResult<(String, bool)> {
        let mut token = None;
        for _ in 0..MAX_PAGES {
            let out = self
                .client
                .list_parents()
                .child_id(child)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| map_sdk_error(SERVICE, "ListParents", e))?;
            if let Some(p) = out.parents().first() {
                let id = p.id().ok_or_else(|| {
                    failed("ListParents", format!("{child}: a parent without id"))
                })?;
                return Ok((id.to_string(), p.r#type() == Some(&ParentType::Root)));
            }
            match out.next_token() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        Err(failed("ListParents", format!("{child} has no parent")))
    }

    /// `o-…/r-…/ou-…/…/` of `account`.
    async fn ou_path(&self, account: &str) -> PortResult<String> {
        let mut chain = Vec::new();
        let mut child = account.to_string();
        for _ in 0..MAX_DEPTH {
            let (parent, is_root) = self.parent(&child).await?;
            chain.push(parent.clone());
            if is_root {
                let mut path = format!("{}/", self.organization_id().await?);
                for id in chain.iter().rev() {
                    path.push_str(id);
                    path.push('/');
                }
                return Ok(path);
            }
            child = parent;
        }
        Err(failed(
            "ListParents",
            format!("{account}: no root within {MAX_DEPTH} levels"),
        ))
    }

    async fn tags(&self, account: &str) -> PortResult<std::collections::BTreeMap<String, String>> {
        let mut tags = std::collections::BTreeMap::new();
        let mut token = None;
        for _ in 0..MAX_PAGES {
            let out = self
                .client
                .list_tags_for_resource()
                .resource_id(account)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| map_sdk_error(SERVICE, "ListTagsForResource", e))?;
            for t in out.tags() {
                tags.insert(t.key().to_string(), t.value().to_string());
            }
            match out.next_token() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        Ok(tags)
    }
}

#[async_trait]
impl AccountDirectory for OrgAccountDirectory {
    async fn facts(&self, account: &str) -> PortResult<AccountFacts> {
        let key = account.to_string();
        if let Some((at, facts)) = lock(&self.kept).get(&key) {
            if at.elapsed() < self.ttl {
                return Ok(facts);
            }
        }
        let facts = AccountFacts {
            ou_path: self.ou_path(account).await?,
            tags: self.tags(account).await?,
        };
        lock(&self.kept).insert(key, (Instant::now(), facts.clone()));
        Ok(facts)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_organizations::operation::describe_organization::DescribeOrganizationOutput;
    use aws_sdk_organizations::operation::list_parents::ListParentsOutput;
    use aws_sdk_organizations::operation::list_tags_for_resource::ListTagsForResourceOutput;
    use aws_sdk_organizations::types::{Organization, Parent, Tag};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn parent(id: &str, ty: ParentType) -> ListParentsOutput {
        ListParentsOutput::builder()
            .parents(Parent::builder().id(id).r#type(ty).build())
            .build()
    }

    #[tokio::test]
    async fn the_ou_path_walks_up_to_the_root_and_tags_are_read_once_an_hour() {
        // account → ou-ab12-22222222 → ou-ab12-11111111 → r-ab12 (the shapes
        // of the API reference's ListParents example).
        let to_inner = mock!(Client::list_parents)
            .match_requests(|r| r.child_id() == Some("111111111111"))
            .then_output(|| parent("ou-ab12-22222222", ParentType::OrganizationalUnit));
        let to_outer = mock!(Client::list_parents)
            .match_requests(|r| r.child_id() == Some("ou-ab12-22222222"))
            .then_output(|| parent("ou-ab12-11111111", ParentType::OrganizationalUnit));
        let to_root = mock!(Client::list_parents)
            .match_requests(|r| r.child_id() == Some("ou-ab12-11111111"))
            .then_output(|| parent("r-ab12", ParentType::Root));
        let org = mock!(Client::describe_organization).then_output(|| {
            DescribeOrganizationOutput::builder()
                .organization(Organization::builder().id("o-a1b2c3d4e5").build())
                .build()
        });
        let tags = mock!(Client::list_tags_for_resource)
            .match_requests(|r| r.resource_id() == Some("111111111111"))
            .then_output(|| {
                ListTagsForResourceOutput::builder()
                    .tags(Tag::builder().key("env").value("prod").build().unwrap())
                    .build()
            });
        let client = mock_client!(
            aws_sdk_organizations,
            RuleMode::MatchAny,
            [&to_inner, &to_outer, &to_root, &org, &tags]
        );
        let d = OrgAccountDirectory::new(client);
        let f = d.facts("111111111111").await.unwrap();
        assert_eq!(
            f.ou_path,
            "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-22222222/"
        );
        assert!(driftguard_model::domain::policy::is_ou_path(&f.ou_path));
        assert_eq!(f.tags.get("env").map(String::as_str), Some("prod"));
        assert_eq!(d.facts("111111111111").await.unwrap(), f);
        assert_eq!(
            (to_inner.num_calls(), org.num_calls(), tags.num_calls()),
            (1, 1, 1),
            "kept for an hour"
        );
    }

    #[tokio::test]
    async fn a_tree_deeper_than_organizations_allows_is_refused() {
        let lp = mock!(Client::list_parents)
            .then_output(|| parent("ou-ab12-22222222", ParentType::OrganizationalUnit));
        let client = mock_client!(aws_sdk_organizations, RuleMode::MatchAny, [&lp]);
        let e = OrgAccountDirectory::new(client)
            .facts("111111111111")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("no root within 8 levels"), "{e}");
        assert_eq!(lp.num_calls(), MAX_DEPTH);
    }
}
