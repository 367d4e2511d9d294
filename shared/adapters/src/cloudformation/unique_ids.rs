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
use std::collections::HashMap;
use std::time::{Duration, Instant};

use driftguard_model::sources::identifiers::is_iam_unique_id;

use crate::errors::map_sdk_error;

/// The names learnt, and when.
#[derive(Debug, Default)]
pub(super) struct UniqueIds {
    learnt: Option<(Instant, HashMap<String, String>)>,
}

impl UniqueIds {
    /// `identifiers` with every IAM unique id followed by the name it stands
    /// for (when known), listing the account's roles and users first if a
    /// unique id is there and what was learnt is older than `max_age`.
    pub(super) async fn resolve(
        &mut self,
        iam: &aws_sdk_iam::Client,
        identifiers: &[String],
        max_age: Duration,
    ) -> Vec<String> {
        if !identifiers.iter().any(|i| is_iam_unique_id(i)) {
            return identifiers.to_vec();
        }
        let fresh = self
            .learnt
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() <= max_age);
        if !fresh {
            self.learnt = Some((Instant::now(), list_unique_ids(iam).await));
        }
        let names = self.learnt.as_ref().map(|(_, m)| m);
        let mut out = Vec::with_capacity(identifiers.len());
        for id in identifiers {
            out.push(id.clone());
            if let Some(name) = names.and_then(|m| m.get(id)) {
                if !out.contains(name) {
                    out.push(name.clone());
                }
            }
        }
        out
    }
}

/// Every role's and user's unique id → name. A failed listing is logged and
/// learns nothing (the unique id then matches nothing: not an error).
async fn list_unique_ids(iam: &aws_sdk_iam::Client) -> HashMap<String, String> {
    let mut map = HashMap::new();
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
            let e = map_sdk_error("iam", "ListUsers", e);
            tracing::warn!(error = %e, "IAM users not listed: user unique ids stay unresolved");
        }
    }
    map
}
