//! The one table of known hot-fix write operations: which CloudFormation resource
//! each touches, how to find its physical id in CloudTrail's `requestParameters`,
//! and what the request says was changed (the event-only view of drift).
//!
//! Property paths are JSON pointers into the CloudFormation properties of the
//! resource type (`/SecurityGroupIngress`, `/Value`, `/ManagedPolicyArns`...), so
//! they line up with what `DetectStackResourceDrift` reports. Where a change has
//! no CloudFormation property (a Lambda resource-based policy statement), the
//! path says so in the table's `summary`.
use serde_json::Value;

use super::fields::{at_path, first_str};

mod drift;
mod properties;

use crate::domain::{Change, ChangeSource, DifferenceKind, Drift, PropertyDifference, ResourceRef};
use drift::{decode_json_string, diff, not_equal, pascal_keys, strip_xmlns};
pub use properties::{equivalents, properties_of, Property, PROPERTIES};

/// How the CloudFormation physical id is derived from the identifying request parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhysicalId {
    /// The parameter is the physical id (group id, bucket name, role name...).
    AsIs,
    /// A Lambda function name or ARN (`...:function:name[:qualifier]`): the name.
    LambdaFunctionName,
    /// A KMS key id or key ARN (`...:key/<id>`): the key id.
    KmsKeyId,
    /// A Lambda function name or ARN, with the request's `qualifier` if any: the
    /// function's ARN, the primary identifier of `AWS::Lambda::Url` (its
    /// CloudFormation registry schema: `"primaryIdentifier":
    /// ["/properties/FunctionArn"]`, a read-only property whose pattern admits
    /// a `:qualifier`; cfn-lint's copy,
    /// `cfnlint/data/schemas/providers/us_east_1/aws-lambda-url.json`).
    LambdaFunctionArn,
    /// A DynamoDB table or stream ARN (`...:table/<name>[/stream/...]`): the table name.
    DynamoDbTableName,
    /// A list of names (a batch call): the name when the list holds exactly one,
    /// else nothing (one record, one resource: a batch of several is not guessed).
    SoleItem,
}

/// What the request says was changed.
#[derive(Debug, Clone, Copy)]
pub enum DriftRule {
    /// ADD at `path`, the request value at `from` (dotted path) as actual.
    Add {
        /// JSON pointer of the property in the CloudFormation resource.
        path: &'static str,
        /// Dotted path of the value in `requestParameters`.
        from: &'static str,
    },
    /// REMOVE at `path`, the request value at `from` (if any) as expected.
    Remove {
        /// JSON pointer of the property in the CloudFormation resource.
        path: &'static str,
        /// Dotted path of the value removed in `requestParameters`, if the request names it.
        from: Option<&'static str>,
    },
    /// NOT_EQUAL at `path`, the request value at `from` as actual (`xmlns` dropped).
    Set {
        /// JSON pointer of the property in the CloudFormation resource.
        path: &'static str,
        /// Dotted path of the value in `requestParameters`.
        from: &'static str,
    },
    /// As [`DriftRule::Set`], the value being a JSON document sent as a string.
    SetJson {
        /// JSON pointer of the property in the CloudFormation resource.
        path: &'static str,
        /// Dotted path of the JSON string in `requestParameters`.
        from: &'static str,
    },
    /// As [`DriftRule::Set`], camelCase keys turned into CloudFormation's PascalCase.
    SetPascal {
        /// JSON pointer of the property in the CloudFormation resource.
        path: &'static str,
        /// Dotted path of the value in `requestParameters`.
        from: &'static str,
    },
    /// Operation-specific.
    Custom(fn(&Value) -> Vec<PropertyDifference>),
    /// Operation-specific, from the request and the response (`responseElements`).
    CustomCall(fn(&Value, &Value) -> Vec<PropertyDifference>),
}

/// One known write operation.
#[derive(Debug, Clone, Copy)]
pub struct OperationSpec {
    /// Short service name, as in `eventSource` (`ec2` for `ec2.amazonaws.com`).
    pub service: &'static str,
    /// The operation, normalized (no Lambda version suffix).
    pub operation: &'static str,
    /// The `eventName`s CloudTrail logs this operation under, when they differ from
    /// `operation` (empty: CloudTrail logs `operation` itself). Lambda's are versioned:
    /// "In the CloudTrail log file, the `eventName` might include date and version
    /// information, but it is still referring to the same public API action"
    /// (<https://docs.aws.amazon.com/lambda/latest/dg/logging-using-cloudtrail.html>).
    /// `CloudTrailWriteRule` in template.yaml must route exactly these names
    /// (tests/tests/integration/template.rs derives the rule from this table).
    pub event_names: &'static [&'static str],
    /// CloudFormation resource type.
    pub resource_type: &'static str,
    /// Dotted paths in `requestParameters` holding the identifier, first found wins;
    /// a path starting with `responseElements.` is read in the response instead
    /// (where only the response names the resource).
    pub id_params: &'static [&'static str],
    /// The identifier AWS names in `responseElements`, for a request that names
    /// the resource another way (a security group by `groupName`).
    pub id_from_response: Option<fn(&Value) -> Option<&str>>,
    /// How the identifier found at `id_params` becomes the physical id.
    pub physical_id: PhysicalId,
    /// What the request says was changed (the event-only drift).
    pub drift: DriftRule,
    /// What the call does, in a few words (shown in tickets and the README).
    pub summary: &'static str,
}

const SG: &str = "AWS::EC2::SecurityGroup";
const INSTANCE: &str = "AWS::EC2::Instance";
const BUCKET: &str = "AWS::S3::Bucket";
const BUCKET_POLICY: &str = "AWS::S3::BucketPolicy";
const ROLE: &str = "AWS::IAM::Role";
const FUNCTION: &str = "AWS::Lambda::Function";
const PARAMETER: &str = "AWS::SSM::Parameter";
const TOPIC: &str = "AWS::SNS::Topic";
const QUEUE: &str = "AWS::SQS::Queue";
const TABLE: &str = "AWS::DynamoDB::Table";
const DB_INSTANCE: &str = "AWS::RDS::DBInstance";
const KEY: &str = "AWS::KMS::Key";
const ENI: &str = "AWS::EC2::NetworkInterface";
const FUNCTION_URL: &str = "AWS::Lambda::Url";

const GROUP_ID: &[&str] = &["groupId"];
const BUCKET_NAME: &[&str] = &["bucketName"];
const ROLE_NAME: &[&str] = &["roleName"];
const FUNCTION_NAME: &[&str] = &["functionName"];
const KEY_ID: &[&str] = &["keyId"];

macro_rules! op {
    ($service:literal, $operation:literal, $type:expr, $ids:expr, $pid:ident, $drift:expr, $summary:literal) => {
        op!($service, $operation as [], $type, $ids, $pid, $drift, $summary)
    };
    ($service:literal, $operation:literal as [$($name:literal),*], $type:expr, $ids:expr, $pid:ident, $drift:expr, $summary:literal) => {
        OperationSpec {
            service: $service,
            operation: $operation,
            event_names: &[$($name),*],
            resource_type: $type,
            id_params: $ids,
            id_from_response: None,
            physical_id: PhysicalId::$pid,
            drift: $drift,
            summary: $summary,
        }
    };
    ($service:literal, $operation:literal, $type:expr, $ids:expr, $pid:ident, $drift:expr, $summary:literal, response_id: $from:expr) => {
        OperationSpec {
            id_from_response: Some($from),
            ..op!($service, $operation, $type, $ids, $pid, $drift, $summary)
        }
    };
}

/// The table. Keep it sorted by service, then operation.
#[rustfmt::skip]
pub static OPERATIONS: &[OperationSpec] = &[
    // ---------------------------------------------------------------- DynamoDB
    // "resourceArn: The Amazon Resource Name (ARN) of the DynamoDB resource to which
    // the policy will be attached. The resources you can specify include tables and
    // streams." (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_PutResourcePolicy.html)
    op!("dynamodb", "PutResourcePolicy", TABLE, &["resourceArn"], DynamoDbTableName,
        DriftRule::Custom(drift::dynamodb_put_resource_policy),
        "replaces the table's or its stream's resource-based policy"),
    op!("dynamodb", "UpdateContinuousBackups", TABLE, &["tableName"], AsIs,
        DriftRule::SetPascal { path: "/PointInTimeRecoverySpecification", from: "pointInTimeRecoverySpecification" },
        "changes point-in-time recovery"),
    op!("dynamodb", "UpdateTable", TABLE, &["tableName"], AsIs,
        DriftRule::Custom(drift::dynamodb_update_table), "changes table settings"),
    op!("dynamodb", "UpdateTimeToLive", TABLE, &["tableName"], AsIs,
        DriftRule::SetPascal { path: "/TimeToLiveSpecification", from: "timeToLiveSpecification" },
        "changes the TTL attribute"),
    // ---------------------------------------------------------------- EC2
    op!("ec2", "AuthorizeSecurityGroupEgress", SG, GROUP_ID, AsIs,
        DriftRule::Custom(drift::sg_authorize_egress), "adds outbound rules",
        response_id: added_rules_group_id),
    op!("ec2", "AuthorizeSecurityGroupIngress", SG, GROUP_ID, AsIs,
        DriftRule::Custom(drift::sg_authorize_ingress), "adds inbound rules",
        response_id: added_rules_group_id),
    op!("ec2", "ModifyInstanceAttribute", INSTANCE, &["instanceId"], AsIs,
        DriftRule::Custom(drift::ec2_modify_instance_attribute), "changes an instance attribute"),
    // "You can use this action to attach and detach security groups from an existing
    // EC2 instance." (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyNetworkInterfaceAttribute.html)
    // The record names the network interface only: the instance it is attached to
    // (and whether it is its primary interface) is not in it, so the resource is the
    // interface, never a guessed instance.
    op!("ec2", "ModifyNetworkInterfaceAttribute", ENI, &["networkInterfaceId"], AsIs,
        DriftRule::Custom(drift::ec2_modify_network_interface_attribute),
        "changes a network interface attribute (its security groups: an instance's when it is the instance's interface)"),
    op!("ec2", "ModifySecurityGroupRules", SG,
        &["ModifySecurityGroupRulesRequest.GroupId", "groupId"], AsIs,
        DriftRule::Custom(drift::sg_modify_rules), "rewrites existing rules in place"),
    // "Replaces an IAM instance profile for the specified running instance."; the
    // request names the association, the response's IamInstanceProfileAssociation
    // its InstanceId (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ReplaceIamInstanceProfileAssociation.html).
    op!("ec2", "ReplaceIamInstanceProfileAssociation", INSTANCE,
        &["responseElements.ReplaceIamInstanceProfileAssociationResponse.iamInstanceProfileAssociation.instanceId",
          "responseElements.iamInstanceProfileAssociation.instanceId"], AsIs,
        DriftRule::Custom(drift::ec2_replace_instance_profile),
        "swaps the instance's IAM instance profile (its role)"),
    op!("ec2", "RevokeSecurityGroupEgress", SG, GROUP_ID, AsIs,
        DriftRule::Custom(drift::sg_revoke_egress), "removes outbound rules"),
    op!("ec2", "RevokeSecurityGroupIngress", SG, GROUP_ID, AsIs,
        DriftRule::Custom(drift::sg_revoke_ingress), "removes inbound rules"),
    // ---------------------------------------------------------------- IAM
    op!("iam", "AttachRolePolicy", ROLE, ROLE_NAME, AsIs,
        DriftRule::Add { path: "/ManagedPolicyArns", from: "policyArn" },
        "attaches a managed policy"),
    op!("iam", "DeleteRolePermissionsBoundary", ROLE, ROLE_NAME, AsIs,
        DriftRule::Remove { path: "/PermissionsBoundary", from: None },
        "removes the permissions boundary"),
    op!("iam", "DeleteRolePolicy", ROLE, ROLE_NAME, AsIs,
        DriftRule::Custom(drift::iam_delete_role_policy), "deletes an inline policy"),
    op!("iam", "DetachRolePolicy", ROLE, ROLE_NAME, AsIs,
        DriftRule::Remove { path: "/ManagedPolicyArns", from: Some("policyArn") },
        "detaches a managed policy"),
    op!("iam", "PutRolePermissionsBoundary", ROLE, ROLE_NAME, AsIs,
        DriftRule::Set { path: "/PermissionsBoundary", from: "permissionsBoundary" },
        "sets the permissions boundary"),
    op!("iam", "PutRolePolicy", ROLE, ROLE_NAME, AsIs,
        DriftRule::Custom(drift::iam_put_role_policy), "adds or replaces an inline policy"),
    op!("iam", "UpdateAssumeRolePolicy", ROLE, ROLE_NAME, AsIs,
        DriftRule::SetJson { path: "/AssumeRolePolicyDocument", from: "policyDocument" },
        "replaces the trust policy"),
    op!("iam", "UpdateRole", ROLE, ROLE_NAME, AsIs,
        DriftRule::Custom(drift::iam_update_role), "changes description or session duration"),
    // ---------------------------------------------------------------- KMS
    op!("kms", "DisableKey", KEY, KEY_ID, KmsKeyId,
        DriftRule::Custom(drift::kms_disable_key), "disables the key"),
    op!("kms", "DisableKeyRotation", KEY, KEY_ID, KmsKeyId,
        DriftRule::Custom(drift::kms_disable_rotation), "turns automatic rotation off"),
    op!("kms", "EnableKey", KEY, KEY_ID, KmsKeyId,
        DriftRule::Custom(drift::kms_enable_key), "enables the key"),
    op!("kms", "EnableKeyRotation", KEY, KEY_ID, KmsKeyId,
        DriftRule::Custom(drift::kms_enable_rotation), "turns automatic rotation on"),
    op!("kms", "PutKeyPolicy", KEY, KEY_ID, KmsKeyId,
        DriftRule::SetJson { path: "/KeyPolicy", from: "policy" }, "replaces the key policy"),
    op!("kms", "ScheduleKeyDeletion", KEY, KEY_ID, KmsKeyId,
        DriftRule::Custom(drift::kms_schedule_deletion), "schedules the key for deletion"),
    // ---------------------------------------------------------------- Lambda
    op!("lambda", "AddPermission" as ["AddPermission20150331v2", "AddPermission20150331"], FUNCTION, FUNCTION_NAME, LambdaFunctionName,
        DriftRule::Custom(drift::lambda_add_permission),
        "adds a resource-based policy statement (path /Permissions: not a function property)"),
    op!("lambda", "PutFunctionConcurrency" as ["PutFunctionConcurrency20171031"], FUNCTION, FUNCTION_NAME, LambdaFunctionName,
        DriftRule::Set { path: "/ReservedConcurrentExecutions", from: "reservedConcurrentExecutions" },
        "sets reserved concurrency"),
    op!("lambda", "RemovePermission" as ["RemovePermission20150331v2", "RemovePermission20150331", "RemovePermission"], FUNCTION, FUNCTION_NAME, LambdaFunctionName,
        DriftRule::Custom(drift::lambda_remove_permission),
        "removes a resource-based policy statement (path /Permissions: not a function property)"),
    op!("lambda", "UpdateFunctionCode" as ["UpdateFunctionCode20150331v2", "UpdateFunctionCode20150331"], FUNCTION, FUNCTION_NAME, LambdaFunctionName,
        DriftRule::CustomCall(drift::lambda_update_code),
        "deploys new code (path /CodeSha256: the new package's hash from the response, not a function property)"),
    op!("lambda", "UpdateFunctionConfiguration" as ["UpdateFunctionConfiguration20150331v2", "UpdateFunctionConfiguration20150331"], FUNCTION, FUNCTION_NAME, LambdaFunctionName,
        DriftRule::Custom(drift::lambda_update_configuration), "changes configuration"),
    // `PUT /2021-10-31/functions/FunctionName/url?Qualifier=Qualifier`, body `AuthType`, `Cors`
    // (https://docs.aws.amazon.com/lambda/latest/api/API_UpdateFunctionUrlConfig.html).
    op!("lambda", "UpdateFunctionUrlConfig" as ["UpdateFunctionUrlConfig20211031"], FUNCTION_URL, FUNCTION_NAME, LambdaFunctionArn,
        DriftRule::Custom(drift::lambda_update_function_url), "changes the function URL's auth type or CORS"),
    // ---------------------------------------------------------------- RDS
    op!("rds", "ModifyDBInstance", DB_INSTANCE, &["dBInstanceIdentifier"], AsIs,
        DriftRule::Custom(drift::rds_modify_db_instance), "changes instance settings"),
    // ---------------------------------------------------------------- S3
    op!("s3", "DeleteBucketEncryption", BUCKET, BUCKET_NAME, AsIs,
        DriftRule::Remove { path: "/BucketEncryption", from: None },
        "removes default encryption"),
    op!("s3", "DeleteBucketPolicy", BUCKET_POLICY, BUCKET_NAME, AsIs,
        DriftRule::Remove { path: "/PolicyDocument", from: None }, "deletes the bucket policy"),
    // CloudTrail logs the bucket-level public access block calls under their IAM
    // action names (`s3:PutBucketPublicAccessBlock`), not the API names
    // (`PutPublicAccessBlock`): recorded in panther-labs/panther-analysis
    // rules/aws_cloudtrail_rules/aws_s3_delete_public_access_block.yml (events/recorded/).
    op!("s3", "DeleteBucketPublicAccessBlock", BUCKET, BUCKET_NAME, AsIs,
        DriftRule::Remove { path: "/PublicAccessBlockConfiguration", from: None },
        "removes the public access block"),
    op!("s3", "DeleteBucketTagging", BUCKET, BUCKET_NAME, AsIs,
        DriftRule::Remove { path: "/Tags", from: None }, "removes all tags"),
    op!("s3", "PutBucketEncryption", BUCKET, BUCKET_NAME, AsIs,
        DriftRule::Set { path: "/BucketEncryption", from: "ServerSideEncryptionConfiguration" },
        "changes default encryption"),
    op!("s3", "PutBucketPolicy", BUCKET_POLICY, BUCKET_NAME, AsIs,
        DriftRule::Set { path: "/PolicyDocument", from: "bucketPolicy" },
        "replaces the bucket policy"),
    op!("s3", "PutBucketPublicAccessBlock", BUCKET, BUCKET_NAME, AsIs,
        DriftRule::Set { path: "/PublicAccessBlockConfiguration", from: "PublicAccessBlockConfiguration" },
        "changes the public access block"),
    op!("s3", "PutBucketTagging", BUCKET, BUCKET_NAME, AsIs,
        DriftRule::Set { path: "/Tags", from: "Tagging.TagSet" }, "replaces tags"),
    op!("s3", "PutBucketVersioning", BUCKET, BUCKET_NAME, AsIs,
        DriftRule::Set { path: "/VersioningConfiguration/Status", from: "VersioningConfiguration.Status" },
        "turns versioning on or off"),
    // ---------------------------------------------------------------- SNS
    // "Adds a statement to a topic's access control policy"
    // (https://docs.aws.amazon.com/sns/latest/api/API_AddPermission.html); "Removes a
    // statement from a topic's access control policy"
    // (https://docs.aws.amazon.com/sns/latest/api/API_RemovePermission.html): the
    // policy SetTopicAttributes(Policy) replaces whole ("To remove the ability to
    // change topic permissions, you must deny permissions to the AddPermission,
    // RemovePermission, and SetTopicAttributes actions in your IAM policy.",
    // https://docs.aws.amazon.com/sns/latest/api/API_SetTopicAttributes.html).
    op!("sns", "AddPermission", TOPIC, &["topicArn"], AsIs,
        DriftRule::Custom(drift::sns_add_permission),
        "adds a statement to the topic policy (path /Policy, as SetTopicAttributes(Policy))"),
    op!("sns", "RemovePermission", TOPIC, &["topicArn"], AsIs,
        DriftRule::Custom(drift::sns_remove_permission),
        "removes a statement from the topic policy (path /Policy, as SetTopicAttributes(Policy))"),
    op!("sns", "SetTopicAttributes", TOPIC, &["topicArn"], AsIs,
        DriftRule::Custom(drift::sns_set_topic_attributes), "changes a topic attribute"),
    // ---------------------------------------------------------------- SQS
    // "Adds a permission to a queue for a specific principal"; "AddPermission
    // generates a policy for you. You can use SetQueueAttributes to upload your
    // policy." (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_AddPermission.html);
    // "Revokes any permissions in the queue policy that matches the specified Label
    // parameter." (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_RemovePermission.html);
    // "To remove the ability to change queue permissions, you must deny permission
    // to the AddPermission, RemovePermission, and SetQueueAttributes actions in your
    // IAM policy." (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html)
    op!("sqs", "AddPermission", QUEUE, &["queueUrl"], AsIs,
        DriftRule::Custom(drift::sqs_add_permission),
        "adds a statement to the queue policy (path /Policy, as SetQueueAttributes(Policy))"),
    op!("sqs", "RemovePermission", QUEUE, &["queueUrl"], AsIs,
        DriftRule::Custom(drift::sqs_remove_permission),
        "removes a statement from the queue policy (path /Policy, as SetQueueAttributes(Policy))"),
    op!("sqs", "SetQueueAttributes", QUEUE, &["queueUrl"], AsIs,
        DriftRule::Custom(drift::sqs_set_queue_attributes), "changes queue attributes"),
    // ---------------------------------------------------------------- SSM
    op!("ssm", "DeleteParameter", PARAMETER, &["name"], AsIs,
        DriftRule::Remove { path: "/Value", from: None }, "deletes the parameter"),
    // "Delete a list of parameters."; request `Names`, 1 to 10 items
    // (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DeleteParameters.html).
    // One record, one resource: resolved when the batch names one parameter only.
    op!("ssm", "DeleteParameters", PARAMETER, &["names"], SoleItem,
        DriftRule::Remove { path: "/Value", from: None },
        "deletes parameters (resolved when the batch names one)"),
    op!("ssm", "PutParameter", PARAMETER, &["name"], AsIs,
        DriftRule::Custom(drift::ssm_put_parameter), "overwrites the parameter"),
];

/// The `eventName`s CloudTrail logs `spec` under (what `CloudTrailWriteRule` routes).
pub fn event_names(spec: &OperationSpec) -> Vec<&'static str> {
    if spec.event_names.is_empty() {
        vec![spec.operation]
    } else {
        spec.event_names.to_vec()
    }
}

/// The table entry for `service:operation` (operation already normalized).
pub fn lookup(service: &str, operation: &str) -> Option<&'static OperationSpec> {
    OPERATIONS
        .iter()
        .find(|spec| spec.operation == operation && spec.service == service)
}

/// CloudTrail names some Lambda (and CloudFront) operations with an API version
/// suffix: `UpdateFunctionConfiguration20150331v2`, `AddPermission20150331v2`,
/// `UpdateDistribution2020_05_31`. Strip it.
pub fn normalize_operation(name: &str) -> &str {
    let bytes = name.as_bytes();
    // Optional `v<digits>` after the date.
    let mut end = bytes.len();
    let digits_start = trailing_digits_start(bytes, end);
    if digits_start < end && digits_start > 0 && bytes[digits_start - 1] == b'v' {
        end = digits_start - 1;
    }
    // The date: eight digits, or `dddd_dd_dd`.
    let tail = &bytes[..end];
    let date_len = if tail.len() >= 8 && tail[tail.len() - 8..].iter().all(u8::is_ascii_digit) {
        8
    } else if tail.len() >= 10 && is_underscored_date(&tail[tail.len() - 10..]) {
        10
    } else {
        return name;
    };
    let cut = end - date_len;
    // Only strip after a letter, so a name made only of digits stays whole.
    if cut > 0 && bytes[cut - 1].is_ascii_alphabetic() {
        name.get(..cut).unwrap_or(name)
    } else {
        name
    }
}

fn trailing_digits_start(bytes: &[u8], end: usize) -> usize {
    let mut i = end;
    while i > 0 && bytes[i - 1].is_ascii_digit() {
        i -= 1;
    }
    i
}

fn is_underscored_date(b: &[u8]) -> bool {
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'_',
            _ => c.is_ascii_digit(),
        })
}

/// `Get*`, `List*`, `Describe*`, `Head*` (followed by an upper-case letter or nothing).
pub fn is_read_only_name(operation: &str) -> bool {
    ["Get", "List", "Describe", "Head", "BatchGet"]
        .iter()
        .any(|prefix| {
            operation
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.chars().next().is_none_or(|c| c.is_ascii_uppercase()))
        })
}

/// The resource an operation touches, from its request parameters.
pub fn resolve_resource(
    spec: &OperationSpec,
    request: &Value,
    region: &str,
    account: &str,
) -> ResourceRef {
    resolve_resource_call(spec, request, &Value::Null, region, account)
}

/// The prefix of an `id_params` path read in the response.
const IN_RESPONSE: &str = "responseElements.";

/// The resource an operation touches, from its request parameters (and its
/// response, for the `id_params` paths that say `responseElements.`).
pub fn resolve_resource_call(
    spec: &OperationSpec,
    request: &Value,
    response: &Value,
    region: &str,
    account: &str,
) -> ResourceRef {
    let unresolved = ResourceRef {
        resource_type: Some(spec.resource_type.to_string()),
        physical_id: None,
        arn: None,
        identifiers: Vec::new(),
        listed_identifiers: 0,
        identifiers_truncated: false,
    };
    // The request's (or response path's) identifier; else the one the
    // response names ([`OperationSpec::id_from_response`]).
    let from_response = || spec.id_from_response.and_then(|f| f(response));
    let Some(raw) = raw_identifier(spec, request, response).or_else(from_response) else {
        return unresolved;
    };
    let physical_id = match spec.physical_id {
        PhysicalId::AsIs | PhysicalId::SoleItem => raw.to_string(),
        PhysicalId::LambdaFunctionName => lambda_function_name(raw).to_string(),
        PhysicalId::KmsKeyId => raw
            .rsplit_once(":key/")
            .map_or(raw, |(_, id)| id)
            .to_string(),
        PhysicalId::DynamoDbTableName => match dynamodb_table_name(raw) {
            Some(name) => name.to_string(),
            None => return unresolved,
        },
        PhysicalId::LambdaFunctionArn => {
            let qualifier = first_str(request, &["qualifier"]);
            lambda_function_arn(raw, qualifier, region, account)
        }
    };
    let arn = match spec.physical_id {
        PhysicalId::KmsKeyId | PhysicalId::LambdaFunctionName | PhysicalId::DynamoDbTableName
            if raw.starts_with("arn:") =>
        {
            Some(raw.to_string())
        }
        _ => arn_for(spec.resource_type, &physical_id, region, account),
    };
    ResourceRef {
        resource_type: Some(spec.resource_type.to_string()),
        physical_id: Some(physical_id),
        arn,
        identifiers: Vec::new(),
        listed_identifiers: 0,
        identifiers_truncated: false,
    }
}

/// The identifying string: the first `id_params` path found (request, or
/// response for `responseElements.` paths); for [`PhysicalId::SoleItem`], the
/// only item of the list found there.
fn raw_identifier<'a>(
    spec: &OperationSpec,
    request: &'a Value,
    response: &'a Value,
) -> Option<&'a str> {
    spec.id_params.iter().find_map(|path| {
        let (root, path) = match path.strip_prefix(IN_RESPONSE) {
            Some(rest) => (response, rest),
            None => (request, *path),
        };
        let found = at_path(root, path)?;
        let one = match (spec.physical_id, found) {
            (PhysicalId::SoleItem, Value::Array(items)) if items.len() == 1 => &items[0],
            (PhysicalId::SoleItem, _) => return None,
            (_, v) => v,
        };
        one.as_str().filter(|s| !s.is_empty())
    })
}

/// `arn:aws:dynamodb:r:a:table/<name>[/stream/<label>]` → the table name.
fn dynamodb_table_name(raw: &str) -> Option<&str> {
    let (_, rest) = raw.split_once(":table/")?;
    rest.split('/').next().filter(|n| !n.is_empty())
}

/// A function name, partial or full ARN (and a qualifier) → the function's ARN.
fn lambda_function_arn(raw: &str, qualifier: Option<&str>, region: &str, account: &str) -> String {
    let name = lambda_function_name(raw);
    let qualified = raw
        .split_once(":function:")
        .and_then(|(_, rest)| rest.split_once(':'))
        .map(|(_, q)| q)
        .or(qualifier);
    let (region, account) = match raw.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            (
                parts.get(2).copied().unwrap_or(region),
                parts.get(3).copied().unwrap_or(account),
            )
        }
        None => (region, account),
    };
    match qualified {
        Some(q) => format!("arn:aws:lambda:{region}:{account}:function:{name}:{q}"),
        None => format!("arn:aws:lambda:{region}:{account}:function:{name}"),
    }
}

/// The group of the rules an `AuthorizeSecurityGroupIngress`/`Egress` added,
/// as AWS names it in `responseElements.securityGroupRuleSet.items[].groupId`
/// (the `SecurityGroupRule` shape: "GroupId: The ID of the security group",
/// <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_SecurityGroupRule.html>).
/// A request may name the group by `groupName` instead ("[Default VPC] The name
/// of the security group. For security groups for a default VPC you can
/// specify either the ID or the name of the security group",
/// <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AuthorizeSecurityGroupIngress.html>;
/// events/recorded/ec2-authorize-security-group-ingress-group-name.json).
/// `None` unless every rule names the same group.
fn added_rules_group_id(response: &Value) -> Option<&str> {
    let mut ids = drift::items(response.get("securityGroupRuleSet"))
        .iter()
        .map(|rule| rule.get("groupId").and_then(Value::as_str));
    let first = ids.next()??;
    let agreed = ids.all(|id| id == Some(first));
    (agreed && first.starts_with("sg-")).then_some(first)
}

/// `arn:aws:lambda:r:a:function:name[:qualifier]` or a bare name → the name.
fn lambda_function_name(raw: &str) -> &str {
    match raw.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => raw,
    }
}

/// The resource's ARN, from its CloudFormation physical id.
pub fn arn_for(
    resource_type: &str,
    physical_id: &str,
    region: &str,
    account: &str,
) -> Option<String> {
    if physical_id.starts_with("arn:") {
        return Some(physical_id.to_string());
    }
    Some(match resource_type {
        SG => format!("arn:aws:ec2:{region}:{account}:security-group/{physical_id}"),
        INSTANCE => format!("arn:aws:ec2:{region}:{account}:instance/{physical_id}"),
        ENI => format!("arn:aws:ec2:{region}:{account}:network-interface/{physical_id}"),
        BUCKET | BUCKET_POLICY => format!("arn:aws:s3:::{physical_id}"),
        ROLE => format!("arn:aws:iam::{account}:role/{physical_id}"),
        FUNCTION => format!("arn:aws:lambda:{region}:{account}:function:{physical_id}"),
        PARAMETER => format!(
            "arn:aws:ssm:{region}:{account}:parameter/{}",
            physical_id.trim_start_matches('/')
        ),
        QUEUE => {
            // The physical id is the queue URL; the name is its last segment.
            let name = physical_id.rsplit('/').next().filter(|n| !n.is_empty())?;
            format!("arn:aws:sqs:{region}:{account}:{name}")
        }
        TABLE => format!("arn:aws:dynamodb:{region}:{account}:table/{physical_id}"),
        DB_INSTANCE => format!("arn:aws:rds:{region}:{account}:db:{physical_id}"),
        KEY => format!("arn:aws:kms:{region}:{account}:key/{physical_id}"),
        _ => return None,
    })
}

/// What a CloudTrail change's request says was changed, as CloudFormation-style
/// property differences. `None` for other sources, unknown operations, or a
/// request that names nothing.
pub fn request_drift(change: &Change) -> Option<Drift> {
    if change.source != ChangeSource::Cloudtrail {
        return None;
    }
    let spec = lookup(&change.service, &change.operation)?;
    let differences = differences_for_call(spec, &change.request, &change.response);
    if differences.is_empty() {
        return None;
    }
    Some(Drift::from_event(
        differences,
        format!(
            "from the {} request ({}): not confirmed by CloudFormation drift detection",
            change.api(),
            spec.summary
        ),
    ))
}

/// The property differences an operation's request describes (without its response).
pub fn differences_for(spec: &OperationSpec, request: &Value) -> Vec<PropertyDifference> {
    differences_for_call(spec, request, &Value::Null)
}

/// The property differences an operation's request and response describe.
pub fn differences_for_call(
    spec: &OperationSpec,
    request: &Value,
    response: &Value,
) -> Vec<PropertyDifference> {
    let found = |from: &str| at_path(request, from);
    match spec.drift {
        DriftRule::Add { path, from } => found(from)
            .map(|v| vec![diff(DifferenceKind::Add, path, None, Some(strip_xmlns(v)))])
            .unwrap_or_default(),
        DriftRule::Remove { path, from } => {
            let expected = from.and_then(found).map(strip_xmlns);
            vec![diff(DifferenceKind::Remove, path, expected, None)]
        }
        DriftRule::Set { path, from } => found(from)
            .map(|v| vec![not_equal(path, strip_xmlns(v))])
            .unwrap_or_default(),
        DriftRule::SetJson { path, from } => found(from)
            .map(|v| vec![not_equal(path, decode_json_string(v))])
            .unwrap_or_default(),
        DriftRule::SetPascal { path, from } => found(from)
            .map(|v| vec![not_equal(path, pascal_keys(v))])
            .unwrap_or_default(),
        DriftRule::Custom(f) => f(request),
        DriftRule::CustomCall(f) => f(request, response),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn spec(service: &str, operation: &str) -> &'static OperationSpec {
        lookup(service, operation).unwrap_or_else(|| panic!("{service}:{operation} missing"))
    }

    #[test]
    fn a_group_named_by_name_is_the_group_the_response_names() {
        let ingress = spec("ec2", "AuthorizeSecurityGroupIngress");
        let request = json!({"groupName": "web", "ipPermissions": {}, "ipProtocol": "tcp",
                             "fromPort": 22, "toPort": 22, "cidrIp": "0.0.0.0/0"});
        let rule = |group: &str| json!({"groupId": group, "securityGroupRuleId": "sgr-1", "isEgress": false});
        let resolve = |response: Value| {
            resolve_resource_call(ingress, &request, &response, "us-east-1", "123456789012")
        };
        let r = resolve(json!({"securityGroupRuleSet": {"items": [rule("sg-1"), rule("sg-1")]}}));
        assert_eq!(r.physical_id.as_deref(), Some("sg-1"));
        assert_eq!(
            r.arn.as_deref(),
            Some("arn:aws:ec2:us-east-1:123456789012:security-group/sg-1")
        );
        // Rules naming two groups, none, or something that is not a group id: no guess.
        for response in [
            json!({"securityGroupRuleSet": {"items": [rule("sg-1"), rule("sg-2")]}}),
            json!({"securityGroupRuleSet": {"items": []}}),
            json!({"securityGroupRuleSet": {"items": [rule("web")]}}),
            json!({"_return": true}),
            Value::Null,
        ] {
            assert!(!resolve(response.clone()).is_resolved(), "{response}");
        }
        // The request's own groupId comes first.
        let named = json!({"groupId": "sg-9"});
        let r = resolve_resource_call(
            ingress,
            &named,
            &json!({"securityGroupRuleSet": {"items": [rule("sg-1")]}}),
            "us-east-1",
            "123456789012",
        );
        assert_eq!(r.physical_id.as_deref(), Some("sg-9"));
        // Only the operations whose response names the group use it.
        let revoke = spec("ec2", "RevokeSecurityGroupIngress");
        assert!(revoke.id_from_response.is_none());
    }

    fn one(spec: &OperationSpec, request: Value) -> (ResourceRef, Vec<PropertyDifference>) {
        (
            resolve_resource(spec, &request, "us-east-1", "123456789012"),
            differences_for(spec, &request),
        )
    }

    #[test]
    fn table_is_large_unique_and_sorted() {
        assert!(OPERATIONS.len() >= 25, "{}", OPERATIONS.len());
        for pair in OPERATIONS.windows(2) {
            assert!(
                (pair[0].service, pair[0].operation) < (pair[1].service, pair[1].operation),
                "{}:{} before {}:{}",
                pair[0].service,
                pair[0].operation,
                pair[1].service,
                pair[1].operation
            );
        }
        for spec in OPERATIONS {
            assert!(spec.resource_type.starts_with("AWS::"));
            assert!(!spec.id_params.is_empty());
            assert!(!is_read_only_name(spec.operation), "{}", spec.operation);
            // Every entry survives an empty or odd request.
            for request in [json!({}), json!(null), json!([1]), json!("x")] {
                let _ = differences_for(spec, &request);
                let r = resolve_resource(spec, &request, "r", "a");
                assert!(!r.is_resolved());
            }
        }
    }

    #[test]
    fn every_cloudtrail_event_name_normalizes_to_its_operation() {
        for spec in OPERATIONS {
            for name in event_names(spec) {
                assert_eq!(normalize_operation(name), spec.operation, "{name}");
                assert!(lookup(spec.service, normalize_operation(name)).is_some());
            }
        }
        let lambda: Vec<_> = OPERATIONS
            .iter()
            .filter(|s| s.service == "lambda")
            .collect();
        assert!(lambda.iter().all(|s| !s.event_names.is_empty()));
        // The API names of the bucket-level public access block calls are not what
        // CloudTrail logs (events/recorded/s3-delete-bucket-public-access-block.json).
        assert!(lookup("s3", "PutPublicAccessBlock").is_none());
        assert!(lookup("s3", "DeleteBucketPublicAccessBlock").is_some());
    }

    #[test]
    fn normalizes_versioned_operation_names() {
        assert_eq!(
            normalize_operation("UpdateFunctionConfiguration20150331v2"),
            "UpdateFunctionConfiguration"
        );
        assert_eq!(
            normalize_operation("UpdateFunctionCode20150331v2"),
            "UpdateFunctionCode"
        );
        assert_eq!(
            normalize_operation("AddPermission20150331v2"),
            "AddPermission"
        );
        assert_eq!(
            normalize_operation("CreateFunction20150331"),
            "CreateFunction"
        );
        assert_eq!(
            normalize_operation("UpdateDistribution2020_05_31"),
            "UpdateDistribution"
        );
        assert_eq!(normalize_operation("PutParameter"), "PutParameter");
        assert_eq!(normalize_operation("CreateVolumeV2"), "CreateVolumeV2");
        assert_eq!(normalize_operation("12345678"), "12345678");
        assert_eq!(normalize_operation(""), "");
        assert_eq!(normalize_operation("v2"), "v2");
    }

    #[test]
    fn read_only_names() {
        for name in [
            "GetObject",
            "ListBuckets",
            "DescribeSecurityGroups",
            "HeadBucket",
            "Get",
            "BatchGetItem",
        ] {
            assert!(is_read_only_name(name), "{name}");
        }
        for name in ["Getaway", "PutParameter", "Listen", "UpdateTable"] {
            assert!(!is_read_only_name(name), "{name}");
        }
    }

    #[test]
    fn ec2_authorize_ingress_becomes_cloudformation_rules() {
        let (r, d) = one(
            spec("ec2", "AuthorizeSecurityGroupIngress"),
            json!({"groupId": "sg-0a1b2c3d4e5f67890", "ipPermissions": {"items": [{
                "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {},
                "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0", "description": "ssh"}]},
                "ipv6Ranges": {"items": [{"cidrIpv6": "::/0"}]}, "prefixListIds": {}}]}}),
        );
        assert_eq!(r.resource_type.as_deref(), Some("AWS::EC2::SecurityGroup"));
        assert_eq!(r.physical_id.as_deref(), Some("sg-0a1b2c3d4e5f67890"));
        assert_eq!(
            r.arn.as_deref(),
            Some("arn:aws:ec2:us-east-1:123456789012:security-group/sg-0a1b2c3d4e5f67890")
        );
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].path, "/SecurityGroupIngress");
        assert_eq!(d[0].kind, DifferenceKind::Add);
        assert_eq!(
            d[0].actual,
            Some(json!([
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0", "Description": "ssh"},
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv6": "::/0"}
            ]))
        );
    }

    #[test]
    fn ec2_egress_revoke_and_modify() {
        let (_, d) = one(
            spec("ec2", "AuthorizeSecurityGroupEgress"),
            json!({"groupId": "sg-1", "ipPermissions": {"items": [{"ipProtocol": "-1",
                "groups": {"items": [{"groupId": "sg-2"}]}}]}}),
        );
        assert_eq!(d[0].path, "/SecurityGroupEgress");
        assert_eq!(
            d[0].actual,
            Some(json!([{"IpProtocol": "-1", "DestinationSecurityGroupId": "sg-2"}]))
        );

        let (_, d) = one(
            spec("ec2", "RevokeSecurityGroupIngress"),
            json!({"groupId": "sg-1", "securityGroupRuleIds": {"items": [{"securityGroupRuleId": "sgr-1"}]}}),
        );
        assert_eq!(d[0].kind, DifferenceKind::Remove);
        assert_eq!(
            d[0].expected,
            Some(json!([{"SecurityGroupRuleId": "sgr-1"}]))
        );

        let (_, d) = one(
            spec("ec2", "RevokeSecurityGroupEgress"),
            json!({"groupId": "sg-1", "ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIp": "10.0.0.0/8"}),
        );
        assert_eq!(d[0].path, "/SecurityGroupEgress");
        assert_eq!(
            d[0].expected,
            Some(
                json!([{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "10.0.0.0/8"}])
            )
        );

        let (r, d) = one(
            spec("ec2", "ModifySecurityGroupRules"),
            json!({"ModifySecurityGroupRulesRequest": {"GroupId": "sg-9", "SecurityGroupRule": {
                "SecurityGroupRuleId": "sgr-9", "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv4": "0.0.0.0/0"}}}}),
        );
        assert_eq!(r.physical_id.as_deref(), Some("sg-9"));
        assert_eq!(d[0].kind, DifferenceKind::NotEqual);
        assert_eq!(
            d[0].actual.as_ref().unwrap()[0]["SecurityGroupRuleId"],
            "sgr-9"
        );
    }

    #[test]
    fn ec2_modify_instance_attribute() {
        let (r, d) = one(
            spec("ec2", "ModifyInstanceAttribute"),
            json!({"instanceId": "i-0123456789abcdef0", "instanceType": {"value": "t3.large"},
                   "groupSet": {"items": [{"groupId": "sg-1"}, {"groupId": "sg-2"}]}}),
        );
        assert_eq!(r.resource_type.as_deref(), Some("AWS::EC2::Instance"));
        assert_eq!(r.physical_id.as_deref(), Some("i-0123456789abcdef0"));
        let paths: Vec<_> = d.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["/InstanceType", "/SecurityGroupIds"]);
        assert_eq!(d[0].actual, Some(json!("t3.large")));
        assert_eq!(d[1].actual, Some(json!(["sg-1", "sg-2"])));
    }

    #[test]
    fn s3_operations() {
        let bucket = "app-data-123456789012";
        let (r, d) = one(
            spec("s3", "DeleteBucketPublicAccessBlock"),
            json!({"bucketName": bucket, "publicAccessBlock": "", "Host": "x"}),
        );
        assert_eq!(r.resource_type.as_deref(), Some("AWS::S3::Bucket"));
        assert_eq!(r.physical_id.as_deref(), Some(bucket));
        assert_eq!(r.arn.as_deref(), Some("arn:aws:s3:::app-data-123456789012"));
        assert_eq!(d[0].path, "/PublicAccessBlockConfiguration");
        assert_eq!(d[0].kind, DifferenceKind::Remove);

        let (_, d) = one(
            spec("s3", "PutBucketPublicAccessBlock"),
            json!({"bucketName": bucket, "PublicAccessBlockConfiguration": {
                "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/", "BlockPublicAcls": false}}),
        );
        assert_eq!(d[0].actual, Some(json!({"BlockPublicAcls": false})));

        let (r, d) = one(
            spec("s3", "PutBucketPolicy"),
            json!({"bucketName": bucket, "bucketPolicy": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                 "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}}]}}),
        );
        assert_eq!(r.resource_type.as_deref(), Some("AWS::S3::BucketPolicy"));
        assert_eq!(d[0].path, "/PolicyDocument");
        // Policy condition keys are not PascalCased.
        assert_eq!(
            d[0].actual.as_ref().unwrap()["Statement"][0]["Condition"]["StringEquals"]
                ["aws:SourceVpce"],
            "vpce-1"
        );

        let (_, d) = one(
            spec("s3", "DeleteBucketPolicy"),
            json!({"bucketName": bucket}),
        );
        assert_eq!(
            (d[0].path.as_str(), d[0].kind),
            ("/PolicyDocument", DifferenceKind::Remove)
        );

        let (_, d) = one(
            spec("s3", "PutBucketVersioning"),
            json!({"bucketName": bucket, "VersioningConfiguration": {"Status": "Suspended", "xmlns": "x"}}),
        );
        assert_eq!(d[0].path, "/VersioningConfiguration/Status");
        assert_eq!(d[0].actual, Some(json!("Suspended")));

        let (_, d) = one(
            spec("s3", "PutBucketEncryption"),
            json!({"bucketName": bucket, "ServerSideEncryptionConfiguration": {"xmlns": "x",
                "Rule": {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}}}),
        );
        assert_eq!(d[0].path, "/BucketEncryption");
        let (_, d) = one(
            spec("s3", "DeleteBucketEncryption"),
            json!({"bucketName": bucket}),
        );
        assert_eq!(
            (d[0].path.as_str(), d[0].kind),
            ("/BucketEncryption", DifferenceKind::Remove)
        );
        let (_, d) = one(
            spec("s3", "PutBucketTagging"),
            json!({"bucketName": bucket, "Tagging": {"TagSet": {"Tag": [{"Key": "k", "Value": "v"}]}}}),
        );
        assert_eq!(d[0].path, "/Tags");
        let (_, d) = one(
            spec("s3", "DeleteBucketTagging"),
            json!({"bucketName": bucket}),
        );
        assert_eq!(d[0].kind, DifferenceKind::Remove);
    }

    #[test]
    fn iam_operations() {
        let admin = "arn:aws:iam::aws:policy/AdministratorAccess";
        let (r, d) = one(
            spec("iam", "AttachRolePolicy"),
            json!({"roleName": "app-role", "policyArn": admin}),
        );
        assert_eq!(r.resource_type.as_deref(), Some("AWS::IAM::Role"));
        assert_eq!(r.physical_id.as_deref(), Some("app-role"));
        assert_eq!(
            r.arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/app-role")
        );
        assert_eq!(d[0].path, "/ManagedPolicyArns");
        assert_eq!(d[0].kind, DifferenceKind::Add);
        assert_eq!(d[0].actual, Some(json!(admin)));

        let (_, d) = one(
            spec("iam", "DetachRolePolicy"),
            json!({"roleName": "r", "policyArn": admin}),
        );
        assert_eq!(d[0].kind, DifferenceKind::Remove);
        assert_eq!(d[0].expected, Some(json!(admin)));

        let (_, d) = one(
            spec("iam", "PutRolePolicy"),
            json!({"roleName": "r", "policyName": "inline", "policyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[]}"}),
        );
        assert_eq!(d[0].path, "/Policies");
        assert_eq!(
            d[0].actual.as_ref().unwrap()["PolicyDocument"]["Version"],
            "2012-10-17"
        );

        let (_, d) = one(
            spec("iam", "DeleteRolePolicy"),
            json!({"roleName": "r", "policyName": "inline"}),
        );
        assert_eq!(d[0].expected, Some(json!({"PolicyName": "inline"})));

        let (_, d) = one(
            spec("iam", "UpdateAssumeRolePolicy"),
            json!({"roleName": "r", "policyDocument": "{\"Statement\": []}"}),
        );
        assert_eq!(d[0].path, "/AssumeRolePolicyDocument");
        assert_eq!(d[0].actual, Some(json!({"Statement": []})));

        let (_, d) = one(
            spec("iam", "UpdateRole"),
            json!({"roleName": "r", "maxSessionDuration": 43200}),
        );
        assert_eq!(d[0].path, "/MaxSessionDuration");
        let (_, d) = one(
            spec("iam", "PutRolePermissionsBoundary"),
            json!({"roleName": "r", "permissionsBoundary": "arn:aws:iam::123456789012:policy/b"}),
        );
        assert_eq!(d[0].path, "/PermissionsBoundary");
        let (_, d) = one(
            spec("iam", "DeleteRolePermissionsBoundary"),
            json!({"roleName": "r"}),
        );
        assert_eq!(d[0].kind, DifferenceKind::Remove);
    }

    #[test]
    fn lambda_operations() {
        let (r, d) = one(
            spec("lambda", "UpdateFunctionConfiguration"),
            json!({"functionName": "arn:aws:lambda:us-east-1:123456789012:function:orders:live",
                   "timeout": 30, "environment": {"variables": {"LOG_LEVEL": "debug"}}}),
        );
        assert_eq!(r.resource_type.as_deref(), Some("AWS::Lambda::Function"));
        assert_eq!(r.physical_id.as_deref(), Some("orders"));
        assert_eq!(
            r.arn.as_deref(),
            Some("arn:aws:lambda:us-east-1:123456789012:function:orders:live")
        );
        let env = d.iter().find(|d| d.path == "/Environment").unwrap();
        // Variable names are user data: kept as written.
        assert_eq!(
            env.actual,
            Some(json!({"Variables": {"LOG_LEVEL": "debug"}}))
        );
        assert!(d.iter().any(|d| d.path == "/Timeout"));

        let (r, d) = one(
            spec("lambda", "UpdateFunctionCode"),
            json!({"functionName": "orders", "s3Bucket": "b", "s3Key": "k.zip", "publish": true}),
        );
        assert_eq!(
            r.arn.as_deref(),
            Some("arn:aws:lambda:us-east-1:123456789012:function:orders")
        );
        assert_eq!(
            d[0].actual,
            Some(json!({"S3Bucket": "b", "S3Key": "k.zip"}))
        );

        let (_, d) = one(
            spec("lambda", "AddPermission"),
            json!({"functionName": "orders", "statementId": "s1", "action": "lambda:InvokeFunction", "principal": "*"}),
        );
        assert_eq!(
            (d[0].path.as_str(), d[0].kind),
            ("/Permissions", DifferenceKind::Add)
        );
        assert_eq!(d[0].actual.as_ref().unwrap()["Principal"], "*");
        let (_, d) = one(
            spec("lambda", "RemovePermission"),
            json!({"functionName": "orders", "statementId": "s1"}),
        );
        assert_eq!(d[0].kind, DifferenceKind::Remove);
        let (_, d) = one(
            spec("lambda", "PutFunctionConcurrency"),
            json!({"functionName": "orders", "reservedConcurrentExecutions": 0}),
        );
        assert_eq!(d[0].actual, Some(json!(0)));
    }

    #[test]
    fn lambda_reports_only_what_the_record_proves() {
        let configuration = spec("lambda", "UpdateFunctionConfiguration");
        // Layers only: CloudTrail's empty `environment` is no made-up value, but it may
        // hide a variables change, so /Environment is reported with no value.
        let (_, d) = one(
            configuration,
            json!({"environment": {}, "functionName": "orders", "layers": ["arn:aws:lambda:us-east-1:123456789012:layer:x:1"]}),
        );
        let paths: Vec<_> = d.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["/Layers", "/Environment"]);
        assert_eq!((d[1].expected.as_ref(), d[1].actual.as_ref()), (None, None));
        // Variables only (logged as `"environment": {}`): never invisible.
        let (_, d) = one(
            configuration,
            json!({"environment": {}, "functionName": "orders"}),
        );
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].path.as_str(), d[0].actual.as_ref()),
            ("/Environment", None)
        );
        // Variables shown (even none): an /Environment change.
        let (_, d) = one(
            configuration,
            json!({"environment": {"variables": {}}, "functionName": "orders"}),
        );
        assert_eq!(d[0].path, "/Environment");
        assert_eq!(d[0].actual, Some(json!({"Variables": {}})));

        // The code: the response's hash, no made-up location.
        let code = spec("lambda", "UpdateFunctionCode");
        let request = json!({"functionName": "orders", "publish": true, "dryRun": false});
        let response = json!({"functionName": "orders", "codeSha256": "Pt1c8vVaBygmNtAeSyjlpdy7r8nHRqJAAL++HEGlQkc="});
        let d = differences_for_call(code, &request, &response);
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].path.as_str(), d[0].kind),
            ("/CodeSha256", DifferenceKind::NotEqual)
        );
        assert_eq!(
            d[0].actual,
            Some(json!("Pt1c8vVaBygmNtAeSyjlpdy7r8nHRqJAAL++HEGlQkc="))
        );
        // Neither a location nor a hash: nothing is proven.
        assert!(
            differences_for_call(code, &request, &json!({"functionName": "orders"})).is_empty()
        );
    }

    #[test]
    fn ssm_sns_sqs() {
        let (r, d) = one(
            spec("ssm", "PutParameter"),
            json!({"name": "/app/feature-flag", "value": "on", "type": "String", "overwrite": true}),
        );
        assert_eq!(r.physical_id.as_deref(), Some("/app/feature-flag"));
        assert_eq!(
            r.arn.as_deref(),
            Some("arn:aws:ssm:us-east-1:123456789012:parameter/app/feature-flag")
        );
        assert_eq!(d[0].path, "/Value");
        assert_eq!(d[0].actual, Some(json!("on")));
        assert_eq!(d[1].path, "/Type");
        let (_, d) = one(spec("ssm", "DeleteParameter"), json!({"name": "p"}));
        assert_eq!(d[0].kind, DifferenceKind::Remove);

        let topic = "arn:aws:sns:us-east-1:123456789012:alerts";
        let (r, d) = one(
            spec("sns", "SetTopicAttributes"),
            json!({"topicArn": topic, "attributeName": "DisplayName", "attributeValue": "Alerts!"}),
        );
        assert_eq!(r.physical_id.as_deref(), Some(topic));
        assert_eq!(r.arn.as_deref(), Some(topic));
        assert_eq!(d[0].path, "/DisplayName");

        let url = "https://sqs.us-east-1.amazonaws.com/123456789012/orders";
        let (r, d) = one(
            spec("sqs", "SetQueueAttributes"),
            json!({"queueUrl": url, "attributes": {"VisibilityTimeout": "300",
                   "RedrivePolicy": "{\"maxReceiveCount\":5}"}}),
        );
        assert_eq!(r.physical_id.as_deref(), Some(url));
        assert_eq!(
            r.arn.as_deref(),
            Some("arn:aws:sqs:us-east-1:123456789012:orders")
        );
        let vt = d.iter().find(|d| d.path == "/VisibilityTimeout").unwrap();
        assert_eq!(vt.actual, Some(json!(300)));
        let rp = d.iter().find(|d| d.path == "/RedrivePolicy").unwrap();
        assert_eq!(rp.actual, Some(json!({"maxReceiveCount": 5})));
    }

    #[test]
    fn dynamodb_rds_kms() {
        let (r, d) = one(
            spec("dynamodb", "UpdateTable"),
            json!({"tableName": "orders", "billingMode": "PROVISIONED",
                   "provisionedThroughput": {"readCapacityUnits": 5, "writeCapacityUnits": 5}}),
        );
        assert_eq!(
            r.arn.as_deref(),
            Some("arn:aws:dynamodb:us-east-1:123456789012:table/orders")
        );
        let pt = d
            .iter()
            .find(|d| d.path == "/ProvisionedThroughput")
            .unwrap();
        assert_eq!(
            pt.actual,
            Some(json!({"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}))
        );
        assert!(d.iter().any(|d| d.path == "/BillingMode"));
        let (_, d) = one(
            spec("dynamodb", "UpdateTimeToLive"),
            json!({"tableName": "orders", "timeToLiveSpecification": {"enabled": false, "attributeName": "ttl"}}),
        );
        assert_eq!(
            d[0].actual,
            Some(json!({"Enabled": false, "AttributeName": "ttl"}))
        );
        let (_, d) = one(
            spec("dynamodb", "UpdateContinuousBackups"),
            json!({"tableName": "orders", "pointInTimeRecoverySpecification": {"pointInTimeRecoveryEnabled": false}}),
        );
        assert_eq!(d[0].path, "/PointInTimeRecoverySpecification");

        let (r, d) = one(
            spec("rds", "ModifyDBInstance"),
            json!({"dBInstanceIdentifier": "orders-db", "publiclyAccessible": true,
                   "dBInstanceClass": "db.r6g.large", "applyImmediately": true,
                   "vpcSecurityGroupIds": ["sg-1"]}),
        );
        assert_eq!(
            r.arn.as_deref(),
            Some("arn:aws:rds:us-east-1:123456789012:db:orders-db")
        );
        let paths: Vec<_> = d.iter().map(|d| d.path.as_str()).collect();
        assert!(paths.contains(&"/PubliclyAccessible"));
        assert!(paths.contains(&"/DBInstanceClass"));
        assert!(paths.contains(&"/VPCSecurityGroups"));
        assert!(!paths.contains(&"/ApplyImmediately"));

        let key = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let (r, d) = one(spec("kms", "DisableKey"), json!({"keyId": key}));
        assert_eq!(r.physical_id.as_deref(), Some(key));
        assert_eq!(d[0].actual, Some(json!(false)));
        let (r, d) = one(
            spec("kms", "ScheduleKeyDeletion"),
            json!({"keyId": format!("arn:aws:kms:us-east-1:123456789012:key/{key}"), "pendingWindowInDays": 7}),
        );
        assert_eq!(r.physical_id.as_deref(), Some(key));
        assert_eq!(d.len(), 2);
        for op in ["EnableKey", "EnableKeyRotation", "DisableKeyRotation"] {
            assert_eq!(one(spec("kms", op), json!({"keyId": key})).1.len(), 1);
        }
        let (_, d) = one(
            spec("kms", "PutKeyPolicy"),
            json!({"keyId": key, "policy": "{\"Statement\":[]}", "policyName": "default"}),
        );
        assert_eq!(d[0].actual, Some(json!({"Statement": []})));
    }
}
