//! `PropertyReadBack` over the resources' own APIs: the check that can see
//! what CloudFormation drift detection does not ("Only resource properties
//! explicitly defined in the stack template are checked for drift",
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackResourceDrift.html>).
//!
//! - IAM role `/ManagedPolicyArns`: `ListAttachedRolePolicies` ("Lists all
//!   managed policies that are attached to the specified IAM role",
//!   <https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListAttachedRolePolicies.html>);
//! - IAM role `/Policies`: `ListRolePolicies` ("Lists the names of the inline
//!   policies that are embedded in the specified IAM role",
//!   <https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListRolePolicies.html>);
//! - bucket `/PolicyDocument`: `GetBucketPolicy` ("Returns the policy of a
//!   specified bucket"; `NoSuchBucketPolicy` when it has none,
//!   <https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketPolicy.html>).
use async_trait::async_trait;
use serde_json::Value;

use super::errors::classify;
use driftguard_core::ports::{PropertyCheck, PropertyReadBack};
use driftguard_model::domain::{DifferenceKind, PropertyDifference, ResourceRef};
use driftguard_model::error::{PortError, PortResult};

pub struct AwsReadBack {
    iam: aws_sdk_iam::Client,
    s3: aws_sdk_s3::Client,
}

impl AwsReadBack {
    pub fn new(iam: aws_sdk_iam::Client, s3: aws_sdk_s3::Client) -> Self {
        Self { iam, s3 }
    }

    pub fn from_conf(sdk: &aws_config::SdkConfig) -> Self {
        Self::new(aws_sdk_iam::Client::new(sdk), aws_sdk_s3::Client::new(sdk))
    }

    async fn attached_policies(&self, role: &str) -> PortResult<Vec<String>> {
        let mut arns = Vec::new();
        let mut pages = self
            .iam
            .list_attached_role_policies()
            .role_name(role)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("iam", "ListAttachedRolePolicies", e))?;
            arns.extend(
                page.attached_policies()
                    .iter()
                    .filter_map(|p| p.policy_arn().map(str::to_string)),
            );
        }
        Ok(arns)
    }

    async fn inline_policies(&self, role: &str) -> PortResult<Vec<String>> {
        let mut names = Vec::new();
        let mut pages = self
            .iam
            .list_role_policies()
            .role_name(role)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify("iam", "ListRolePolicies", e))?;
            names.extend(page.policy_names().iter().cloned());
        }
        Ok(names)
    }

    async fn bucket_policy(&self, bucket: &str) -> PortResult<Option<String>> {
        match self.s3.get_bucket_policy().bucket(bucket).send().await {
            Ok(out) => Ok(out.policy().map(str::to_string)),
            Err(e) => match classify("s3", "GetBucketPolicy", e) {
                PortError::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }
}

/// The value a difference added (`actual`) or removed (`expected`), by key.
fn named(d: &PropertyDifference, key: Option<&str>) -> Option<(bool, String)> {
    let added = d.kind != DifferenceKind::Remove;
    let value = if added {
        d.actual.as_ref()
    } else {
        d.expected.as_ref()
    }?;
    let text = match key {
        Some(k) => value.get(k).and_then(Value::as_str),
        None => value.as_str(),
    }?;
    Some((added, text.to_string()))
}

/// Still drifted when an added member is present or a removed one absent.
fn members_drifted(
    differences: &[&PropertyDifference],
    key: Option<&str>,
    present: &[String],
) -> Option<(bool, Vec<String>)> {
    let mut notes = Vec::new();
    let mut drifted = false;
    for d in differences {
        let (added, name) = named(d, key)?;
        let there = present.contains(&name);
        drifted |= added == there;
        notes.push(format!(
            "{name} {}",
            if there { "is present" } else { "is absent" }
        ));
    }
    Some((drifted, notes))
}

#[async_trait]
impl PropertyReadBack for AwsReadBack {
    async fn check(
        &self,
        resource: &ResourceRef,
        differences: &[PropertyDifference],
    ) -> PortResult<Option<PropertyCheck>> {
        let Some(id) = resource.physical_id.as_deref().filter(|i| !i.is_empty()) else {
            return Ok(None);
        };
        let at = |path: &str| -> Vec<&PropertyDifference> {
            differences
                .iter()
                .filter(|d| d.path == path || d.path.starts_with(&format!("{path}/")))
                .collect()
        };
        let kind = resource.resource_type.as_deref().unwrap_or_default();
        let (method, found) = if kind == "AWS::IAM::Role" && !at("/ManagedPolicyArns").is_empty() {
            let present = self.attached_policies(id).await?;
            (
                "iam:ListAttachedRolePolicies",
                members_drifted(&at("/ManagedPolicyArns"), None, &present),
            )
        } else if kind == "AWS::IAM::Role" && !at("/Policies").is_empty() {
            let present = self.inline_policies(id).await?;
            (
                "iam:ListRolePolicies",
                members_drifted(&at("/Policies"), Some("PolicyName"), &present),
            )
        } else if kind.starts_with("AWS::S3::Bucket") && !at("/PolicyDocument").is_empty() {
            let policy = self.bucket_policy(id).await?;
            let added = at("/PolicyDocument")
                .iter()
                .any(|d| d.kind != DifferenceKind::Remove);
            // An out-of-template bucket policy: the template declares none.
            let note = if policy.is_some() {
                "a bucket policy is set"
            } else {
                "no bucket policy"
            };
            (
                "s3:GetBucketPolicy",
                added.then(|| (policy.is_some(), vec![note.to_string()])),
            )
        } else {
            return Ok(None);
        };
        Ok(found.map(|(still_drifted, notes)| PropertyCheck {
            still_drifted,
            method: method.to_string(),
            detail: format!("{method} on {id}: {}", notes.join("; ")),
        }))
    }
}
