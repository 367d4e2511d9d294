//! Which owners a write may be attributed to: an owner entry of the ownership
//! index is accepted for a call only when its resource type can be the target
//! of the call's service, and never when it is a custom resource.
//!
//! Why custom resources never: a custom resource's physical id is whatever its
//! provider answers. "PhysicalResourceId: This value should be an identifier
//! unique to the custom resource vendor, and can be up to 1 KB in size. The value
//! must be a non-empty string" (CloudFormation User Guide, custom resource
//! responses,
//! <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html>).
//! So anyone who can deploy a stack can make a custom resource claim another
//! stack's bucket name or role name; trusting it would move a change to a
//! victim resource onto the claimant's stack (docs/threat-model.md).

/// Event sources whose CloudFormation namespaces are not their own name
/// (`monitoring.amazonaws.com` is CloudWatch). Every other service's calls may
/// target the namespace spelled like it (`ec2` → `AWS::EC2::*`, `secretsmanager`
/// → `AWS::SecretsManager::*`, `codestar-connections` →
/// `AWS::CodeStarConnections::*`: compared without case and dashes).
const NAMESPACES: &[(&str, &[&str])] = &[
    ("acm", &["CertificateManager"]),
    ("airflow", &["MWAA"]),
    ("aoss", &["OpenSearchServerless"]),
    ("apigateway", &["ApiGateway", "ApiGatewayV2"]),
    ("application-autoscaling", &["ApplicationAutoScaling"]),
    ("cognito-identity", &["Cognito"]),
    ("cognito-idp", &["Cognito"]),
    ("ds", &["DirectoryService"]),
    ("elasticfilesystem", &["EFS"]),
    (
        "elasticloadbalancing",
        &["ElasticLoadBalancing", "ElasticLoadBalancingV2"],
    ),
    ("elasticmapreduce", &["EMR"]),
    ("email", &["SES"]),
    ("es", &["Elasticsearch", "OpenSearchService"]),
    ("firehose", &["KinesisFirehose"]),
    ("inspector2", &["InspectorV2"]),
    ("kafka", &["MSK"]),
    (
        "kinesisanalytics",
        &["KinesisAnalytics", "KinesisAnalyticsV2"],
    ),
    ("macie2", &["Macie"]),
    ("monitoring", &["CloudWatch"]),
    ("mq", &["AmazonMQ"]),
    // "Amazon DocumentDB console, AWS CLI, and API calls are logged as calls
    // made to the Amazon RDS API"
    // (<https://docs.aws.amazon.com/documentdb/latest/developerguide/logging-with-cloudtrail.html>).
    ("rds", &["RDS", "DocDB"]),
    ("states", &["StepFunctions"]),
];

/// Is `resource_type` a custom resource (`Custom::*` or
/// `AWS::CloudFormation::CustomResource`)?
pub fn is_custom_resource(resource_type: &str) -> bool {
    resource_type.starts_with("Custom::") || resource_type == "AWS::CloudFormation::CustomResource"
}

/// Can a call to `service` (the event source's first label, `s3`) change a
/// resource of `resource_type`? Only `AWS::<namespace>::…` types of the
/// service's own namespaces; never a custom resource, a third-party or module
/// type (`Acme::S3::Bucket`, `AWS::S3::Bucket::MODULE`), or an unknown type.
pub fn may_target(service: &str, resource_type: &str) -> bool {
    if is_custom_resource(resource_type) {
        return false;
    }
    // `AWS::<namespace>::<name>`, nothing more (`…::MODULE` is a module).
    let Some((namespace, name)) = resource_type
        .strip_prefix("AWS::")
        .and_then(|rest| rest.split_once("::"))
    else {
        return false;
    };
    if namespace.is_empty() || name.is_empty() || name.contains("::") {
        return false;
    }
    match NAMESPACES.iter().find(|(s, _)| *s == service) {
        Some((_, namespaces)) => namespaces.contains(&namespace),
        None => {
            let plain = |s: &str| -> String {
                s.chars()
                    .filter(|c| *c != '-')
                    .flat_map(char::to_lowercase)
                    .collect()
            };
            !service.is_empty() && plain(service) == plain(namespace)
        }
    }
}

/// How well an owner of `resource_type` fits a call: `None`, never accepted
/// (see [`may_target`]); `Some(1)` when the operation names the type
/// (`TagRole` and `AWS::IAM::Role`, `PutBucketCors` and `AWS::S3::Bucket`);
/// `Some(0)` otherwise.
pub fn fit(service: &str, operation: &str, resource_type: Option<&str>) -> Option<u8> {
    let resource_type = resource_type?;
    if !may_target(service, resource_type) {
        return None;
    }
    let kind = resource_type.rsplit("::").next().unwrap_or_default();
    Some(u8::from(!kind.is_empty() && operation.contains(kind)))
}

/// Which owner a call is attributed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick<T> {
    /// The one owner that fits best.
    One(T),
    /// None fits (or there is none).
    Nothing,
    /// Several owners of the same identifier fit equally well: which one the
    /// call changed cannot be told, so none is taken (the caller treats
    /// ownership as unknown).
    Ambiguous(Vec<T>),
}

/// Pick among `owners`, the (identifier, owner) pairs the index holds for a
/// call's identifiers in the identifiers' priority order (`id_of` and `type_of`
/// read each pair): the best [`fit`] wins, then the earliest identifier; two
/// owners of that same identifier with that fit are [`Pick::Ambiguous`].
pub fn pick<T: Clone>(
    service: &str,
    operation: &str,
    owners: &[T],
    id_of: impl Fn(&T) -> &str,
    type_of: impl Fn(&T) -> Option<&str>,
) -> Pick<T> {
    let fits: Vec<(u8, &T)> = owners
        .iter()
        .filter_map(|o| fit(service, operation, type_of(o)).map(|f| (f, o)))
        .collect();
    let Some(best) = fits.iter().map(|(f, _)| *f).max() else {
        return Pick::Nothing;
    };
    let Some((_, first)) = fits.iter().find(|(f, _)| *f == best) else {
        return Pick::Nothing;
    };
    let id = id_of(first);
    let top: Vec<T> = fits
        .iter()
        .filter(|(f, o)| *f == best && id_of(o) == id)
        .map(|(_, o)| (*o).clone())
        .collect();
    match <[T; 1]>::try_from(top) {
        Ok([one]) => Pick::One(one),
        Err(many) => Pick::Ambiguous(many),
    }
}

/// `stack/LogicalId (AWS::Type)`, as owners are named in [`ambiguous_reason`].
pub fn owner_label(stack: &str, logical_id: &str, resource_type: Option<&str>) -> String {
    format!("{stack}/{logical_id} ({})", resource_type.unwrap_or("?"))
}

/// Why `identifier`, owned by `owners` (labels) that fit the call equally, is
/// attributed to none of them.
pub fn ambiguous_reason(identifier: &str, owners: &[String]) -> String {
    format!(
        "identifier {identifier} is a physical id of several resources the call could target ({}): which one it changed cannot be told",
        owners.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_targets_its_own_namespaces_only() {
        assert!(may_target("s3", "AWS::S3::Bucket"));
        assert!(may_target("rds", "AWS::RDS::DBInstance"));
        assert!(may_target("rds", "AWS::DocDB::DBCluster"));
        assert!(may_target("s3", "AWS::S3::BucketPolicy"));
        assert!(may_target("iam", "AWS::IAM::Role"));
        assert!(may_target("ec2", "AWS::EC2::SecurityGroup"));
        assert!(may_target("secretsmanager", "AWS::SecretsManager::Secret"));
        assert!(may_target(
            "codestar-connections",
            "AWS::CodeStarConnections::Connection"
        ));
        assert!(may_target("monitoring", "AWS::CloudWatch::Alarm"));
        assert!(may_target(
            "elasticloadbalancing",
            "AWS::ElasticLoadBalancingV2::LoadBalancer"
        ));
        assert!(!may_target("s3", "AWS::IAM::Role"));
        assert!(!may_target("iam", "AWS::SSM::Parameter"));
        assert!(!may_target("monitoring", "AWS::Monitoring::X"));
        assert!(!may_target("sts", "AWS::IAM::Role"));
        assert!(!may_target("", "AWS::::X"));
    }

    #[test]
    fn custom_third_party_and_unknown_types_are_never_accepted() {
        for t in [
            "Custom::BucketClaim",
            "AWS::CloudFormation::CustomResource",
            "Acme::S3::Bucket",
            "AWS::S3::Bucket::MODULE",
            "S3",
            "",
        ] {
            assert!(!may_target("s3", t), "{t}");
        }
        assert!(!may_target(
            "cloudformation",
            "AWS::CloudFormation::CustomResource"
        ));
        assert_eq!(fit("s3", "PutBucketCors", None), None);
    }

    type Owner = (&'static str, &'static str, &'static str);

    fn id_of(o: &Owner) -> &str {
        o.0
    }

    fn type_of(o: &Owner) -> Option<&str> {
        Some(o.2)
    }

    #[test]
    fn the_operation_naming_the_type_wins_and_a_tie_is_ambiguous() {
        let owners: [Owner; 3] = [
            ("x", "B", "AWS::IAM::User"),
            ("x", "A", "AWS::IAM::Role"),
            ("x", "C", "Custom::Claim"),
        ];
        assert_eq!(
            pick("iam", "TagRole", &owners, id_of, type_of),
            Pick::One(owners[1])
        );
        assert!(matches!(
            pick("iam", "SetSecurityTokenServicePreferences", &owners, id_of, type_of),
            Pick::Ambiguous(v) if v.len() == 2
        ));
        assert_eq!(
            pick("s3", "PutBucketCors", &owners, id_of, type_of),
            Pick::Nothing
        );
        assert_eq!(
            pick("iam", "TagRole", &owners[2..], id_of, type_of),
            Pick::Nothing,
            "a custom resource alone is never taken"
        );
    }

    #[test]
    fn a_better_fit_beats_an_earlier_identifier_and_then_order_decides() {
        let owners: [Owner; 3] = [
            ("arn:aws:iam::1:policy/P", "P", "AWS::IAM::ManagedPolicy"),
            ("AppRole", "R", "AWS::IAM::Role"),
            ("Other", "O", "AWS::IAM::Role"),
        ];
        assert_eq!(
            pick("iam", "PutRoleThing", &owners, id_of, type_of),
            Pick::One(owners[1])
        );
        assert_eq!(
            pick("iam", "Frobnicate", &owners, id_of, type_of),
            Pick::One(owners[0])
        );
    }
}
