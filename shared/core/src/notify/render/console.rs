//! AWS console links for a stack and for the resource types where the URL is
//! easy to build.
/// CloudFormation console link to a stack (id or name).
pub fn stack_console_url(region: &str, stack_id: &str) -> String {
    format!(
        "https://{region}.console.aws.amazon.com/cloudformation/home?region={region}#/stacks/stackinfo?stackId={}",
        urlencoding::encode(stack_id)
    )
}

/// Console links for the resource types where the URL is easy to build.
pub fn resource_console_url(
    resource_type: &str,
    physical_id: &str,
    region: &str,
) -> Option<String> {
    let id = urlencoding::encode(physical_id);
    Some(match resource_type {
        "AWS::EC2::SecurityGroup" => format!(
            "https://{region}.console.aws.amazon.com/ec2/home?region={region}#SecurityGroup:groupId={id}"
        ),
        "AWS::S3::Bucket" => format!("https://s3.console.aws.amazon.com/s3/buckets/{id}?region={region}"),
        "AWS::IAM::Role" => format!("https://console.aws.amazon.com/iam/home#/roles/details/{id}"),
        "AWS::SSM::Parameter" => format!(
            "https://{region}.console.aws.amazon.com/systems-manager/parameters/{id}/description?region={region}"
        ),
        _ => return None,
    })
}
