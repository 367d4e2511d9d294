//! The forms one identifier takes as a CloudFormation physical id.
//!
//! CloudFormation stores each resource under the value `Ref` returns for it
//! (`PhysicalResourceId`), which is not always the form a CloudTrail record
//! names it by. The forms worth looking up, each from the resource type's
//! "Return values" section of the CloudFormation Template Reference:
//! - S3 bucket: "`Ref` returns the bucket name"
//!   (<https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-s3-bucket.html#aws-resource-s3-bucket-return-values>);
//!   a record names it by `bucketName` and by its ARN in `resources[]`.
//! - IAM role (user, group, instance profile alike): "`Ref` returns the
//!   resource name" (`aws-resource-iam-role.html#aws-resource-iam-role-return-values`);
//!   managed policies keep their ARN.
//! - SQS queue: "`Ref` returns the queue URL. For example: `{ "Ref":
//!   "https://sqs.us-east-2.amazonaws.com/123456789012/ab1-MyQueue-A2BCDEF3GHI4" }`"
//!   (`aws-resource-sqs-queue.html#aws-resource-sqs-queue-return-values`): a queue
//!   named by its ARN, or by a URL of the legacy `queue.amazonaws.com` hosts,
//!   is looked up in that form.
//! - EC2 security group: "`Ref` returns the resource ID"
//!   (`aws-resource-ec2-securitygroup.html#aws-resource-ec2-securitygroup-return-values`):
//!   the `sg-` id, never the group name. A record that names the group by
//!   `groupName` carries the id in its response (`securityGroupRuleSet`),
//!   which the extraction reads too.
//! - Lambda function: the function name; SSM parameter: the parameter name
//!   (with or without its leading `/`); log group: its name.

/// `id` and the other forms CloudFormation may store the same resource under,
/// most specific first, without duplicates. `resource_type` narrows bare names
/// (an SSM parameter with or without its leading slash).
pub fn physical_id_forms(id: &str, resource_type: Option<&str>) -> Vec<String> {
    let id = id.trim();
    let mut out: Vec<String> = Vec::new();
    let mut add = |s: String| {
        let s = s.trim();
        if !s.is_empty() && !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    };
    add(id.to_string());
    for alt in alternate_forms(resource_type.unwrap_or(""), id) {
        add(alt);
    }
    out
}

fn alternate_forms(resource_type: &str, id: &str) -> Vec<String> {
    let mut alts = Vec::new();
    if let Some(rest) = id.strip_prefix("arn:") {
        // arn:partition:service:region:account:resource
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        if let [_partition, service, region, account, resource] = parts[..] {
            match service {
                "s3" => alts.push(resource.to_string()),
                "iam" => {
                    // role/path/name, user/name, instance-profile/name; managed
                    // policies keep their ARN as physical id.
                    if let Some(name) = resource.rsplit('/').next() {
                        alts.push(name.to_string());
                    }
                }
                "lambda" => {
                    if let Some(name) = resource.strip_prefix("function:") {
                        alts.push(name.split(':').next().unwrap_or(name).to_string());
                    }
                }
                "ssm" => {
                    if let Some(name) = resource.strip_prefix("parameter") {
                        // `parameter/a/b` is the parameter `/a/b`; `parameter/x` may be `x`.
                        alts.push(name.to_string());
                        alts.push(name.trim_start_matches('/').to_string());
                    }
                }
                "sqs" => alts.push(queue_url(region, account, resource)),
                "logs" => {
                    if let Some(name) = resource.strip_prefix("log-group:") {
                        alts.push(name.trim_end_matches(":*").to_string());
                    }
                }
                _ => {
                    if let Some(last) = resource.rsplit(['/', ':']).next() {
                        alts.push(last.to_string());
                    }
                }
            }
        }
    } else if let Some(name) = id.split_once(":function:").map(|(_, n)| n) {
        // Lambda partial ARN `123456789012:function:name`.
        alts.push(name.split(':').next().unwrap_or(name).to_string());
    } else if resource_type == "AWS::SSM::Parameter" {
        if let Some(stripped) = id.strip_prefix('/') {
            alts.push(stripped.to_string());
        } else {
            alts.push(format!("/{id}"));
        }
    }
    alts
}

/// The queue URL CloudFormation stores for queue `name` (see the module docs).
pub fn queue_url(region: &str, account: &str, name: &str) -> String {
    format!("https://sqs.{region}.amazonaws.com/{account}/{name}")
}

/// A queue URL in the form CloudFormation stores, from any of SQS's URL forms:
/// `https://sqs.<region>.amazonaws.com/<account>/<name>` (kept), and the legacy
/// `https://<region>.queue.amazonaws.com/...` and `https://queue.amazonaws.com/...`
/// (us-east-1) hosts. `None`: not a queue URL.
pub fn canonical_queue_url(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    let (account, name) = path.trim_end_matches('/').split_once('/')?;
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let name_ok = !name.is_empty()
        && name.len() <= 80
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !account_ok || !name_ok {
        return None;
    }
    let region = if let Some(r) = host
        .strip_prefix("sqs.")
        .and_then(|h| h.split_once(".amazonaws.com").map(|(r, _)| r))
    {
        r
    } else if host == "queue.amazonaws.com" {
        "us-east-1"
    } else {
        host.strip_suffix(".queue.amazonaws.com")?
    };
    if region.is_empty() || region.contains('/') {
        return None;
    }
    Some(queue_url(region, account, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_give_the_physical_id_cloudformation_stores() {
        let cases = [
            ("arn:aws:s3:::shop-assets", "shop-assets"),
            ("arn:aws:iam::123456789012:role/app/AppRole", "AppRole"),
            (
                "arn:aws:lambda:us-east-1:123456789012:function:orders:live",
                "orders",
            ),
            (
                "arn:aws:sqs:us-east-2:123456789012:jobs",
                "https://sqs.us-east-2.amazonaws.com/123456789012/jobs",
            ),
            (
                "arn:aws:logs:us-east-1:123456789012:log-group:/app/web:*",
                "/app/web",
            ),
            (
                "arn:aws:ec2:us-east-1:123456789012:security-group/sg-0abc",
                "sg-0abc",
            ),
        ];
        for (arn, want) in cases {
            let forms = physical_id_forms(arn, None);
            assert_eq!(forms[0], arn);
            assert!(forms.contains(&want.to_string()), "{arn}: {forms:?}");
        }
        assert_eq!(
            physical_id_forms("app/flag", Some("AWS::SSM::Parameter")),
            ["app/flag", "/app/flag"]
        );
    }

    #[test]
    fn queue_urls_are_canonical() {
        let want = "https://sqs.us-east-1.amazonaws.com/123456789012/jobs";
        for url in [
            want,
            "https://queue.amazonaws.com/123456789012/jobs",
            "https://us-east-1.queue.amazonaws.com/123456789012/jobs",
            "https://sqs.us-east-1.amazonaws.com/123456789012/jobs/",
        ] {
            assert_eq!(canonical_queue_url(url).as_deref(), Some(want), "{url}");
        }
        for bad in [
            "https://example.com/123456789012/jobs",
            "https://sqs.us-east-1.amazonaws.com/1234/jobs",
            "https://sqs.us-east-1.amazonaws.com/123456789012/",
            "sqs.us-east-1.amazonaws.com/123456789012/jobs",
        ] {
            assert_eq!(canonical_queue_url(bad), None, "{bad}");
        }
    }
}
