//! Code signing (issue 36 item 1): every function of template.yaml runs only code
//! signed by the driftguard signing profile, enforced by default.
//!
//! "If you set the policy to Enforce, Lambda blocks the deployment request if
//! signature validation checks fail. If you set the policy to Warn, Lambda allows
//! the deployment and creates a CloudWatch log. Default value: Warn"
//! (https://docs.aws.amazon.com/lambda/latest/api/API_CodeSigningPolicies.html):
//! the template sets the policy itself, never relying on Lambda's default.

use std::collections::BTreeSet;

use yaml_serde::Value;

use super::{intrinsic, Template};

#[test]
fn every_function_has_the_code_signing_configuration() {
    let template = Template::load();
    let configs: Vec<_> = template
        .resources_of_type("AWS::Lambda::CodeSigningConfig")
        .collect();
    assert_eq!(configs.len(), 1, "one code signing configuration");
    let (config_id, _) = configs[0];
    let functions: Vec<_> = template
        .resources_of_type("AWS::Serverless::Function")
        .chain(template.resources_of_type("AWS::Lambda::Function"))
        .collect();
    assert!(functions.len() >= 6, "the six functions at least");
    for (id, function) in functions {
        let arn = function["Properties"]
            .get("CodeSigningConfigArn")
            .unwrap_or_else(|| panic!("{id} has no CodeSigningConfigArn"));
        let (tag, target) = intrinsic(arn).unwrap_or_else(|| panic!("{id}: a !GetAtt"));
        assert_eq!(tag, "GetAtt", "{id}");
        assert_eq!(
            target.as_str(),
            Some(format!("{config_id}.CodeSigningConfigArn").as_str()),
            "{id} points at {config_id}"
        );
    }
    // No layers today; Lambda checks the layers of a signed function too (SAM:
    // https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/authoring-codesigning.html),
    // so a layer would need --signing-profiles as well.
    assert_eq!(
        template
            .resources_of_type("AWS::Serverless::LayerVersion")
            .count(),
        0,
        "a layer needs --signing-profiles too: extend samconfig.toml and this test"
    );
}

#[test]
fn the_code_signing_configuration_enforces_by_default() {
    let template = Template::load();
    let config = template.resource("CodeSigningConfig")["Properties"].clone();
    let policy = &config["CodeSigningPolicies"]["UntrustedArtifactOnDeployment"];
    let (tag, parameter) = intrinsic(policy).expect("a !Ref of CodeSigningPolicy");
    assert_eq!(
        (tag.as_str(), parameter.as_str()),
        ("Ref", Some("CodeSigningPolicy"))
    );
    let parameter = &template.root["Parameters"]["CodeSigningPolicy"];
    assert_eq!(parameter["Default"].as_str(), Some("Enforce"));
    assert_eq!(
        parameter["AllowedValues"],
        Value::from(vec!["Enforce", "Warn"])
    );
    let publishers = &config["AllowedPublishers"]["SigningProfileVersionArns"];
    let publishers = publishers.as_sequence().expect("a list");
    assert_eq!(publishers.len(), 1);
    let (tag, parameter) = intrinsic(&publishers[0]).expect("a !Ref");
    assert_eq!(
        (tag.as_str(), parameter.as_str()),
        ("Ref", Some("SigningProfileVersionArn"))
    );
    // No default: nobody deploys without naming the profile that signs.
    assert!(template.root["Parameters"]["SigningProfileVersionArn"]
        .get("Default")
        .is_none());
}

/// samconfig.toml signs every function with `--signing-profiles` (SAM: "Signing
/// your code – Use the sam package or sam deploy command with the
/// --signing-profiles option", same page as above).
#[test]
fn sam_deploy_signs_every_function() {
    let template = Template::load();
    let root = driftguard_cli::emulator::workspace_root();
    let config = std::fs::read_to_string(root.join("samconfig.toml")).expect("samconfig.toml");
    let line = config
        .lines()
        .find(|l| l.trim_start().starts_with("signing_profiles"))
        .expect("samconfig.toml sets signing_profiles");
    let value = line.split_once('=').expect("key = value").1.trim();
    let signed: BTreeSet<&str> = value
        .trim_matches('"')
        .split_whitespace()
        .map(|pair| pair.split_once('=').expect("Function=Profile").0)
        .collect();
    let functions: BTreeSet<&str> = template
        .resources_of_type("AWS::Serverless::Function")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        signed, functions,
        "samconfig.toml signs exactly the functions"
    );
}
