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
    // (<https://docs.aws.amazon.com/documentdb/latest/developerguide/logging-with-cloudtrail.html>);
    // "Amazon Neptune console, AWS CLI, and API calls are logged as calls made
    // to the Amazon Relational Database Service (Amazon RDS) API"
    // (<https://docs.aws.amazon.com/neptune/latest/userguide/cloudtrail.html>).
    ("rds", &["RDS", "DocDB", "Neptune"]),
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

/// Resource types whose physical id is a name unique only inside a parent
/// resource, not in the account: an API Gateway stage ("A reference to a
/// unique stage identified in the format {restApiId}/{stage}",
/// <https://docs.aws.amazon.com/apigateway/latest/api/API_StageKey.html>), its
/// models, an HTTP API's stages; a Route 53 record (unique by hosted zone, name
/// and type); a log group's metric filters, subscription filters and streams
/// (a metric filter is referenced by `filterName` and `logGroupName`,
/// <https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_logs.MetricFilterReference.html>);
/// a principal's inline policies (`PolicyName` "must be unique within the
/// role", i.e. per principal); a Glue database's tables. Every stack may hold a
/// stage named `prod`, so a bare name of one of these types proves nothing:
/// [`pick`] takes such an owner only through an ARN or id form, never through a
/// plain name (the parent, named in the same record, is found instead).
const PARENT_SCOPED: &[&str] = &[
    "AWS::ApiGateway::Stage",
    "AWS::ApiGateway::Model",
    "AWS::ApiGatewayV2::Stage",
    "AWS::ApiGatewayV2::Model",
    "AWS::Route53::RecordSet",
    "AWS::Route53::RecordSetGroup",
    "AWS::Logs::MetricFilter",
    "AWS::Logs::SubscriptionFilter",
    "AWS::Logs::LogStream",
    "AWS::IAM::Policy",
    "AWS::IAM::RolePolicy",
    "AWS::IAM::UserPolicy",
    "AWS::IAM::GroupPolicy",
    "AWS::Glue::Table",
    "AWS::Glue::Partition",
];

/// Is `resource_type`'s physical id a name unique only inside its parent
/// (see [`PARENT_SCOPED`])?
pub fn is_parent_scoped(resource_type: &str) -> bool {
    PARENT_SCOPED.contains(&resource_type)
}

/// Is `id` a bare name (not an ARN, URL, EC2-style id or IAM unique id)?
fn is_bare_name(id: &str) -> bool {
    !(id.starts_with("arn:")
        || id.starts_with("https://")
        || id.starts_with("http://")
        || super::is_resource_id(id)
        || super::is_iam_unique_id(id))
}

/// Which owner a call is attributed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick<T> {
    /// The one owner that fits best.
    One(T),
    /// None fits (or there is none).
    Nothing,
    /// Several owners of the same identifier fit equally well, or the
    /// identifiers name resources of several stacks: which one the call
    /// changed cannot be told, so none is taken (the caller treats ownership
    /// as unknown).
    Ambiguous(Vec<T>),
    /// Only bare names of parent-scoped types matched
    /// ([`is_parent_scoped`]): the call may change one of them, or a
    /// same-named resource of another parent; ownership is unknown.
    Unproven(Vec<T>),
}

/// Pick among `owners`, the (identifier, owner) pairs the index holds for a
/// call's identifiers in the identifiers' priority order (`id_of`, `type_of`,
/// `stack_of` and `rank` read each pair). `rank` says how strongly the record
/// ties the identifier to the call: 2 when CloudTrail's `resources[]` names
/// it, 0 when only the caller's request or the response does (a response may
/// echo what the caller chose; [`super::Extracted`]). The highest rank with an
/// owner wins: an owner found only through the request is taken only when no
/// `resources[]` identifier has one. When the owners of that rank belong to
/// more than one stack, which stack's resource the call changed cannot be told
/// ([`Pick::Ambiguous`]: a decoy in the caller's own stack never takes the
/// write). Within one stack the best [`fit`] wins, then the earliest
/// identifier; two owners of that same identifier with that fit are
/// ambiguous. A parent-scoped type ([`is_parent_scoped`]) named by a bare
/// name proves nothing: when nothing else owns the call it is
/// [`Pick::Unproven`], never a skip.
pub fn pick<T: Clone>(
    service: &str,
    operation: &str,
    owners: &[T],
    id_of: impl Fn(&T) -> &str,
    type_of: impl Fn(&T) -> Option<&str>,
    stack_of: impl Fn(&T) -> &str,
    rank: impl Fn(&T) -> u8,
) -> Pick<T> {
    type Ranked<'a, T> = Vec<(u8, u8, &'a T)>;
    let (proven, unproven): (Ranked<'_, T>, Ranked<'_, T>) = owners
        .iter()
        .filter_map(|o| fit(service, operation, type_of(o)).map(|f| (rank(o), f, o)))
        .partition(|(_, _, o)| {
            !(type_of(o).is_some_and(is_parent_scoped) && is_bare_name(id_of(o)))
        });
    let Some(best_rank) = proven.iter().map(|(r, _, _)| *r).max() else {
        return match unproven.is_empty() {
            true => Pick::Nothing,
            false => Pick::Unproven(unproven.iter().map(|(_, _, o)| (*o).clone()).collect()),
        };
    };
    let tier: Vec<(u8, &T)> = proven
        .iter()
        .filter(|(r, _, _)| *r == best_rank)
        .map(|(_, f, o)| (*f, *o))
        .collect();
    if let Some((_, first)) = tier.first() {
        if tier.iter().any(|(_, o)| stack_of(o) != stack_of(first)) {
            return Pick::Ambiguous(tier.iter().map(|(_, o)| (*o).clone()).collect());
        }
    }
    let Some(best) = tier.iter().map(|(f, _)| *f).max() else {
        return Pick::Nothing;
    };
    let Some((_, first)) = tier.iter().find(|(f, _)| *f == best) else {
        return Pick::Nothing;
    };
    let id = id_of(first);
    let top: Vec<T> = tier
        .iter()
        .filter(|(f, o)| *f == best && id_of(o) == id)
        .map(|(_, o)| (*o).clone())
        .collect();
    match <[T; 1]>::try_from(top) {
        Ok([one]) => Pick::One(one),
        Err(many) => Pick::Ambiguous(many),
    }
}

impl<T> Pick<T> {
    /// Why no owner was taken, for [`Pick::Ambiguous`] and [`Pick::Unproven`]
    /// (`id_of` and `label_of` read each owner); `None` otherwise.
    pub fn reason(
        &self,
        id_of: impl Fn(&T) -> &str,
        label_of: impl Fn(&T) -> String,
    ) -> Option<String> {
        let (owners, unproven) = match self {
            Pick::Ambiguous(o) => (o, false),
            Pick::Unproven(o) => (o, true),
            Pick::One(_) | Pick::Nothing => return None,
        };
        let labels: Vec<String> = owners.iter().map(label_of).collect();
        let id = owners.first().map_or("", id_of);
        Some(match unproven {
            true => unproven_reason(id, &labels),
            false => ambiguous_reason(id, &labels),
        })
    }
}

/// Why a call naming only bare names of parent-scoped types (`identifier`,
/// owned by `owners`, labels) is attributed to none of them.
pub fn unproven_reason(identifier: &str, owners: &[String]) -> String {
    format!(
        "identifier {identifier} is a name unique only within a parent resource ({}): whose it is cannot be told from the name",
        owners.join(", ")
    )
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
        assert!(may_target("rds", "AWS::Neptune::DBCluster"));
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

    fn all(_: &Owner) -> u8 {
        2
    }

    fn one_stack(_: &Owner) -> &str {
        "s"
    }

    #[test]
    fn the_operation_naming_the_type_wins_and_a_tie_is_ambiguous() {
        let owners: [Owner; 3] = [
            ("x", "B", "AWS::IAM::User"),
            ("x", "A", "AWS::IAM::Role"),
            ("x", "C", "Custom::Claim"),
        ];
        assert_eq!(
            pick("iam", "TagRole", &owners, id_of, type_of, one_stack, all),
            Pick::One(owners[1])
        );
        assert!(matches!(
            pick("iam", "SetSecurityTokenServicePreferences", &owners, id_of, type_of, one_stack, all),
            Pick::Ambiguous(v) if v.len() == 2
        ));
        assert_eq!(
            pick(
                "s3",
                "PutBucketCors",
                &owners,
                id_of,
                type_of,
                one_stack,
                all
            ),
            Pick::Nothing
        );
        assert_eq!(
            pick(
                "iam",
                "TagRole",
                &owners[2..],
                id_of,
                type_of,
                one_stack,
                all
            ),
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
            pick(
                "iam",
                "PutRoleThing",
                &owners,
                id_of,
                type_of,
                one_stack,
                all
            ),
            Pick::One(owners[1])
        );
        assert_eq!(
            pick("iam", "Frobnicate", &owners, id_of, type_of, one_stack, all),
            Pick::One(owners[0])
        );
    }

    #[test]
    fn a_request_only_identifier_never_outranks_a_listed_one_and_two_stacks_are_ambiguous() {
        // resources[] names the victim's API (rank 2); the request names an
        // authorizer of the insider's stack whose type the operation names
        // better (rank 0).
        type Ranked = (&'static str, &'static str, &'static str, &'static str, u8);
        let owners: [Ranked; 3] = [
            (
                "abc123",
                "victim",
                "AWS::ApiGateway::RestApi",
                "VictimApi",
                2,
            ),
            (
                "a1b2c3",
                "sandbox",
                "AWS::ApiGateway::Authorizer",
                "Mine",
                0,
            ),
            (
                "d4e5f6",
                "victim",
                "AWS::ApiGateway::Authorizer",
                "Theirs",
                0,
            ),
        ];
        let ranked = |set: &[Ranked]| {
            pick(
                "apigateway",
                "UpdateAuthorizer",
                set,
                |o| o.0,
                |o| Some(o.2),
                |o| o.1,
                |o| o.4,
            )
        };
        assert_eq!(ranked(&owners), Pick::One(owners[0]));
        // Without it, the request names resources of two stacks: neither is
        // taken (a decoy in the caller's stack never takes the write).
        assert!(matches!(ranked(&owners[1..]), Pick::Ambiguous(v) if v.len() == 2));
        // With only the request's one, it is taken.
        assert_eq!(ranked(&owners[1..2]), Pick::One(owners[1]));
    }

    #[test]
    fn a_parent_scoped_type_named_by_a_bare_name_is_unproven_never_taken_nor_skipped() {
        // Every API may have a stage named `prod`: the insider's stack's stage
        // does not take a change to the victim's API's stage.
        let owners: [Owner; 3] = [
            ("abc123", "VictimApi", "AWS::ApiGateway::RestApi"),
            ("prod", "MyStage", "AWS::ApiGateway::Stage"),
            ("www.example.com", "MyRecord", "AWS::Route53::RecordSet"),
        ];
        assert_eq!(
            pick(
                "apigateway",
                "UpdateStage",
                &owners,
                id_of,
                type_of,
                one_stack,
                all
            ),
            Pick::One(owners[0])
        );
        // A managed record in an unmanaged hosted zone: whose record the name
        // is cannot be told, yet the write is not skipped (ownership unknown).
        assert_eq!(
            pick(
                "route53",
                "ChangeResourceRecordSets",
                &owners[2..],
                id_of,
                type_of,
                one_stack,
                all
            ),
            Pick::Unproven(vec![owners[2]])
        );
        assert!(is_parent_scoped("AWS::Logs::MetricFilter"));
        assert!(!is_parent_scoped("AWS::S3::Bucket"));
        // An ARN or id form still counts.
        let by_arn: [Owner; 1] = [(
            "arn:aws:apigateway:us-east-1::/restapis/abc123/stages/prod",
            "S",
            "AWS::ApiGateway::Stage",
        )];
        assert_eq!(
            pick(
                "apigateway",
                "UpdateStage",
                &by_arn,
                id_of,
                type_of,
                one_stack,
                all
            ),
            Pick::One(by_arn[0])
        );
    }
}
