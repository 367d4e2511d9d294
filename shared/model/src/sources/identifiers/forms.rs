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
    } else if let Some(name) = qualified_function_name(id) {
        // Lambda `name:qualifier`: "Function name – my-function (name-only),
        // my-function:v1 (with alias)" (Lambda API reference, e.g.
        // UpdateFunctionConfiguration's FunctionName,
        // <https://docs.aws.amazon.com/lambda/latest/api/API_UpdateFunctionConfiguration.html>).
        alts.push(name.to_string());
    } else if resource_type == "AWS::SSM::Parameter" {
        if let Some(stripped) = id.strip_prefix('/') {
            alts.push(stripped.to_string());
        } else {
            alts.push(format!("/{id}"));
        }
    }
    alts
}

/// `my-function` of `my-function:v1`: a function name ("[a-zA-Z0-9-_]+") and
/// an alias or version ("[a-zA-Z0-9-_$]+", `$LATEST`), nothing else.
fn qualified_function_name(id: &str) -> Option<&str> {
    let (name, qualifier) = id.split_once(':')?;
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let qualifier_ok = !qualifier.is_empty()
        && qualifier.len() <= 128
        && qualifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'$');
    (name_ok && qualifier_ok).then_some(name)
}

/// The queue URL CloudFormation stores for queue `name` (see the module docs):
/// SQS's endpoint in `region`, `sqs.<region>.amazonaws.com`, or
/// `sqs.<region>.amazonaws.com.cn` in the China regions (AWS General Reference,
/// "Amazon SQS endpoints": cn-north-1 `sqs.cn-north-1.amazonaws.com.cn`).
pub fn queue_url(region: &str, account: &str, name: &str) -> String {
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://sqs.{region}.{domain}/{account}/{name}")
}

/// A queue URL in the form CloudFormation stores, from any of SQS's URL forms:
/// `https://sqs.<region>.amazonaws.com/<account>/<name>` (kept; `.com.cn` in
/// China), the legacy `https://<region>.queue.amazonaws.com/...` and
/// `https://queue.amazonaws.com/...` (us-east-1) hosts, and an interface VPC
/// endpoint's `https://vpce-x-y.sqs.<region>.vpce.amazonaws.com/...` (the
/// form the AWS SDK for Ruby parses, aws/aws-sdk-ruby#2156:
/// "https://vpce-x-y.sqs.us-east-1.vpce.amazonaws.com/1234567890/demo").
/// `None`: not a queue URL.
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
    } else if let Some(r) = host
        .split_once(".sqs.")
        .filter(|(endpoint, _)| endpoint.starts_with("vpce-"))
        .and_then(|(_, rest)| rest.strip_suffix(".vpce.amazonaws.com"))
    {
        r
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
        // A qualified Lambda function name: the name is looked up too.
        assert_eq!(
            physical_id_forms("orders:live", None),
            ["orders:live", "orders"]
        );
        assert_eq!(
            physical_id_forms("orders:$LATEST", None),
            ["orders:$LATEST", "orders"]
        );
        assert_eq!(physical_id_forms("a:b:c", None), ["a:b:c"]);
        assert_eq!(
            physical_id_forms("arn:aws-cn:sqs:cn-north-1:123456789012:jobs", None)[1],
            "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/jobs"
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
            "https://vpce-0a1b2c3d4e5f67890-abcdefgh.sqs.us-east-1.vpce.amazonaws.com/123456789012/jobs",
        ] {
            assert_eq!(canonical_queue_url(url).as_deref(), Some(want), "{url}");
        }
        assert_eq!(
            canonical_queue_url("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/jobs")
                .as_deref(),
            Some("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/jobs")
        );
        for bad in [
            "https://example.com/123456789012/jobs",
            "https://evil.sqs.us-east-1.vpce.amazonaws.com/123456789012/jobs",
            "https://sqs.us-east-1.amazonaws.com/1234/jobs",
            "https://sqs.us-east-1.amazonaws.com/123456789012/",
            "sqs.us-east-1.amazonaws.com/123456789012/jobs",
        ] {
            assert_eq!(canonical_queue_url(bad), None, "{bad}");
        }
    }
}
