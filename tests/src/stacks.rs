//! The tests' CloudFormation pieces on the emulator: [`deploy`] (create a
//! stack through the harness and read its physical ids) and the hot-fix
//! scenario's template.
use std::collections::HashMap;

use driftguard_cli::emulator::resources;

/// Create the stack `name` from `template` (`CAPABILITY_IAM`), wait for
/// `CREATE_COMPLETE`, and return its logical → physical ids.
pub async fn deploy(
    cfn: &aws_sdk_cloudformation::Client,
    name: &str,
    template: &str,
) -> HashMap<String, String> {
    resources::create_stack(cfn, name, template)
        .await
        .expect("stack created");
    resources::physical_ids(cfn, name)
        .await
        .expect("stack resources")
}

/// The hot-fix scenario's stack (remediate_moto, handlers_moto): a web security
/// group allowing 443, a bucket with a full public access block, a parameter
/// whose value is `Ref Level` (default `info`) and a bare role, plus `extra`
/// resources (a JSON object of logical id → resource).
pub fn hotfix_template(prefix: &str, extra: serde_json::Value) -> String {
    let mut resources = serde_json::json!({
        "WebSG": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "web tier",
            "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"}]
        }},
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {
            "BucketName": format!("{prefix}-data"),
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": true, "IgnorePublicAcls": true,
                "BlockPublicPolicy": true, "RestrictPublicBuckets": true
            }
        }},
        "LevelParam": {"Type": "AWS::SSM::Parameter", "Properties": {
            "Name": format!("/{prefix}/level"), "Type": "String", "Value": {"Ref": "Level"}
        }},
        "AppRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
        }}}
    });
    if let (Some(all), Some(more)) = (resources.as_object_mut(), extra.as_object()) {
        all.extend(more.clone());
    }
    serde_json::json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {"Level": {"Type": "String", "Default": "info"}},
        "Resources": resources
    })
    .to_string()
}
