//! The physical-id forms worth trying for a resource: a CloudTrail event does
//! not always name it the way CloudFormation's `PhysicalResourceId` does.
use driftguard_model::domain::ResourceRef;

/// The physical-id forms worth trying for a resource, most specific first.
pub fn physical_id_candidates(resource: &ResourceRef) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |s: String| {
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    };
    let resource_type = resource.resource_type.as_deref().unwrap_or("");
    for id in [resource.physical_id.as_deref(), resource.arn.as_deref()]
        .into_iter()
        .flatten()
    {
        let id = id.trim();
        add(id.to_string());
        for alt in alternate_forms(resource_type, id) {
            add(alt);
        }
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
                "sqs" => alts.push(format!(
                    "https://sqs.{region}.amazonaws.com/{account}/{resource}"
                )),
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
