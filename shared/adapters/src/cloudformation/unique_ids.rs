//! IAM unique ids (`AROA…`, `AIDA…`) → names, for the identifiers of writes no
//! operation row lists: CloudFormation stores an IAM role or user under its
//! name ("When the logical ID of this resource is provided to the `Ref`
//! intrinsic function, `Ref` returns the resource name",
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-iam-role.html#aws-resource-iam-role-return-values>),
//! while a record may name it by its unique id ("The stable and unique string
//! identifying the role", `RoleId`; `UserId` alike; aws-sdk-iam 1.133 `Role`,
//! `User`). Learnt with one paged `ListRoles` and one paged `ListUsers` the
//! first time a unique id is seen, and kept as long as the ownership index is
//! ("Lists the IAM roles that have the specified path prefix", "Lists the IAM
//! users that have the specified path prefix"; aws-sdk-iam 1.133 ListRoles,
//! ListUsers): a unique id that names nothing managed costs no call after that.
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use driftguard_model::sources::identifiers::is_iam_unique_id;

use crate::errors::map_sdk_error;

/// The names learnt, and when.
#[derive(Debug, Default)]
pub(super) struct UniqueIds {
    learnt: Option<(Instant, HashMap<String, String>, Listing)>,
}

impl UniqueIds {
    /// `identifiers` with every IAM unique id followed by the name it stands
    /// for (when known), each form once, in order; listing the account's roles and users first if a
    /// unique id is there and what was learnt is older than `max_age`. With
    /// how many of them come from the first `listed` identifiers (a name
    /// stands where its unique id stood).
    pub(super) async fn resolve(
        &mut self,
        iam: &aws_sdk_iam::Client,
        identifiers: &[String],
        listed: usize,
        max_age: Duration,
    ) -> (Vec<String>, usize) {
        if !identifiers.iter().any(|i| is_iam_unique_id(i)) {
            return (identifiers.to_vec(), listed);
        }
        let fresh = self.learnt.as_ref().is_some_and(|(at, _, listing)| {
            let keep = match listing {
                Listing::Complete => max_age,
                Listing::Failed => max_age.min(FAILED_LISTING_KEPT),
            };
            at.elapsed() <= keep
        });
        if !fresh {
            let (names, listing) = list_unique_ids(iam).await;
            self.learnt = Some((Instant::now(), names, listing));
        }
        let names = self.learnt.as_ref().map(|(_, m, _)| m);
        let mut out = Vec::with_capacity(identifiers.len());
        let mut seen = HashSet::with_capacity(identifiers.len());
        let mut listed_out = 0;
        for (i, id) in identifiers.iter().enumerate() {
            let name = names.and_then(|m| m.get(id));
            for form in std::iter::once(id).chain(name) {
                if seen.insert(form.as_str()) {
                    out.push(form.clone());
                }
            }
            if i < listed {
                listed_out = out.len();
            }
        }
        (out, listed_out)
    }
}

/// Whether both listings answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listing {
    Complete,
    Failed,
}

/// How long a failed listing is kept before the next unique id asks again:
/// short, so a throttled or refused listing does not hide unique ids for a
/// whole index lifetime (each miss is a skipped write), yet a lasting
/// AccessDenied costs two calls per 30 s, not two per event.
const FAILED_LISTING_KEPT: Duration = Duration::from_secs(30);

/// Every role's and user's unique id → name. A failed listing is logged and
/// learns nothing (the unique id then matches nothing: not an error).
async fn list_unique_ids(iam: &aws_sdk_iam::Client) -> (HashMap<String, String>, Listing) {
    let mut map = HashMap::new();
    let mut listing = Listing::Complete;
    match iam
        .list_roles()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
    {
        Ok(roles) => {
            for r in roles {
                map.insert(r.role_id().to_string(), r.role_name().to_string());
            }
        }
        Err(e) => {
            listing = Listing::Failed;
            let e = map_sdk_error("iam", "ListRoles", e);
            tracing::warn!(error = %e, "IAM roles not listed: role unique ids stay unresolved");
        }
    }
    match iam
        .list_users()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
    {
        Ok(users) => {
            for u in users {
                map.insert(u.user_id().to_string(), u.user_name().to_string());
            }
        }
        Err(e) => {
            listing = Listing::Failed;
            let e = map_sdk_error("iam", "ListUsers", e);
            tracing::warn!(error = %e, "IAM users not listed: user unique ids stay unresolved");
        }
    }
    (map, listing)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_iam::operation::list_roles::ListRolesOutput;
    use aws_sdk_iam::operation::list_users::ListUsersOutput;
    use aws_sdk_iam::types::{Role, User};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::DateTime;

    const ROLE_ID: &str = "AROAEXAMPLEROLEID0001";
    const USER_ID: &str = "AIDAEXAMPLEUSERID0001";
    const STRANGER: &str = "AROAEXAMPLEROLEID0999";

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn unique_ids_become_names_with_one_listing_kept_for_max_age() {
        let roles = mock!(aws_sdk_iam::Client::list_roles).then_output(|| {
            let role = Role::builder()
                .path("/")
                .role_name("app-AppRole-XYZ")
                .role_id(ROLE_ID)
                .arn("arn:aws:iam::123456789012:role/app-AppRole-XYZ")
                .create_date(DateTime::from_secs(0))
                .build()
                .unwrap();
            ListRolesOutput::builder().roles(role).build().unwrap()
        });
        let users = mock!(aws_sdk_iam::Client::list_users).then_output(|| {
            let user = User::builder()
                .path("/")
                .user_name("alice")
                .user_id(USER_ID)
                .arn("arn:aws:iam::123456789012:user/alice")
                .create_date(DateTime::from_secs(0))
                .build()
                .unwrap();
            ListUsersOutput::builder().users(user).build().unwrap()
        });
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&roles, &users]);
        let mut unique = UniqueIds::default();
        let hour = Duration::from_secs(3600);

        // No unique id: nothing listed, the identifiers as they are.
        let plain = ids(&["shop-assets", "sg-0abc"]);
        assert_eq!(
            unique.resolve(&iam, &plain, 1, hour).await,
            (plain.clone(), 1)
        );
        assert_eq!((roles.num_calls(), users.num_calls()), (0, 0));

        // A unique id: one listing; each known id is followed by its name.
        // The first (listed) id's name is listed too.
        let (named, listed) = unique
            .resolve(&iam, &ids(&[ROLE_ID, USER_ID, "app-AppRole-XYZ"]), 1, hour)
            .await;
        assert_eq!(
            named,
            ids(&[ROLE_ID, "app-AppRole-XYZ", USER_ID, "alice"]),
            "a name already there is not repeated"
        );
        assert_eq!(listed, 2);
        assert_eq!((roles.num_calls(), users.num_calls()), (1, 1));

        // An id the listing did not have: no call while the listing is fresh.
        assert_eq!(
            unique.resolve(&iam, &ids(&[STRANGER]), 0, hour).await,
            (ids(&[STRANGER]), 0)
        );
        assert_eq!((roles.num_calls(), users.num_calls()), (1, 1));

        // Older than max_age: listed again.
        unique
            .resolve(&iam, &ids(&[STRANGER]), 0, Duration::ZERO)
            .await;
        assert_eq!((roles.num_calls(), users.num_calls()), (2, 2));
    }

    #[tokio::test]
    async fn a_failed_listing_is_asked_again_after_a_short_while_not_a_whole_ttl() {
        let roles = mock!(aws_sdk_iam::Client::list_roles)
            .then_http_response(|| {
                aws_smithy_runtime_api::http::Response::new(
                    aws_smithy_runtime_api::http::StatusCode::try_from(403).unwrap(),
                    aws_smithy_types::body::SdkBody::from(
                        "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>",
                    ),
                )
            });
        let users = mock!(aws_sdk_iam::Client::list_users).then_output(|| {
            ListUsersOutput::builder()
                .set_users(Some(vec![]))
                .build()
                .unwrap()
        });
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&roles, &users]);
        let mut unique = UniqueIds::default();
        let hour = Duration::from_secs(3600);
        assert_eq!(
            unique.resolve(&iam, &ids(&[ROLE_ID]), 1, hour).await,
            (ids(&[ROLE_ID]), 1)
        );
        assert_eq!((roles.num_calls(), users.num_calls()), (1, 1));
        // Within the short keep: not asked again.
        unique.resolve(&iam, &ids(&[ROLE_ID]), 1, hour).await;
        assert_eq!((roles.num_calls(), users.num_calls()), (1, 1));
        // Past it (aged by hand): asked again, although max_age is an hour.
        if let Some((at, _, _)) = unique.learnt.as_mut() {
            *at -= FAILED_LISTING_KEPT + Duration::from_secs(1);
        }
        unique.resolve(&iam, &ids(&[ROLE_ID]), 1, hour).await;
        assert_eq!((roles.num_calls(), users.num_calls()), (2, 2));
    }
}
