//! The operations table keyed by what changes: [`PROPERTIES`] lists, per
//! thing a write can change, every API of [`super::OPERATIONS`] that changes it.
/// One thing a write can change, and every API of [`super::OPERATIONS`] that changes it:
/// equivalents are listed together so they cannot drift apart (each is routed,
/// parsed, denied by the guardrail and, where a handler exists, undone like its
/// twins). shared/model/tests/equivalents.rs checks that each API's recorded
/// request parses into the path given here, and the guardrail tests that every
/// API listed is denied.
#[derive(Debug, Clone, Copy)]
pub struct Property {
    /// What changes, in a few words.
    pub what: &'static str,
    /// `(service:Operation, path)`: each API that changes it, and the JSON pointer
    /// its request is parsed into on the API's resource type (the same path
    /// unless the API names another resource, as an interface's `GroupSet` for an
    /// instance's `SecurityGroupIds`).
    pub apis: &'static [(&'static str, &'static str)],
}

/// The operations table keyed by what changes. Every entry of [`super::OPERATIONS`] is
/// in at least one row.
#[rustfmt::skip]
pub static PROPERTIES: &[Property] = &[
    Property { what: "a table's point-in-time recovery", apis: &[
        ("dynamodb:UpdateContinuousBackups", "/PointInTimeRecoverySpecification")] },
    Property { what: "a table's settings (billing, throughput, indexes, streams...)", apis: &[
        ("dynamodb:UpdateTable", "/BillingMode")] },
    Property { what: "a table's TTL", apis: &[
        ("dynamodb:UpdateTimeToLive", "/TimeToLiveSpecification")] },
    Property { what: "a table's resource-based policy", apis: &[
        ("dynamodb:PutResourcePolicy", "/ResourcePolicy/PolicyDocument")] },
    Property { what: "a security group's inbound rules", apis: &[
        ("ec2:AuthorizeSecurityGroupIngress", "/SecurityGroupIngress"),
        ("ec2:RevokeSecurityGroupIngress", "/SecurityGroupIngress"),
        ("ec2:ModifySecurityGroupRules", "/SecurityGroupIngress")] },
    Property { what: "a security group's outbound rules", apis: &[
        ("ec2:AuthorizeSecurityGroupEgress", "/SecurityGroupEgress"),
        ("ec2:RevokeSecurityGroupEgress", "/SecurityGroupEgress")] },
    Property { what: "an instance's security groups (its network interface's group set)", apis: &[
        ("ec2:ModifyInstanceAttribute", "/SecurityGroupIds"),
        ("ec2:ModifyNetworkInterfaceAttribute", "/GroupSet")] },
    Property { what: "an instance's user data", apis: &[
        ("ec2:ModifyInstanceAttribute", "/UserData")] },
    Property { what: "an instance's IAM instance profile (its role)", apis: &[
        ("ec2:ReplaceIamInstanceProfileAssociation", "/IamInstanceProfile")] },
    Property { what: "a role's managed policies", apis: &[
        ("iam:AttachRolePolicy", "/ManagedPolicyArns"),
        ("iam:DetachRolePolicy", "/ManagedPolicyArns")] },
    Property { what: "a role's inline policies", apis: &[
        ("iam:PutRolePolicy", "/Policies"),
        ("iam:DeleteRolePolicy", "/Policies")] },
    Property { what: "a role's permissions boundary", apis: &[
        ("iam:PutRolePermissionsBoundary", "/PermissionsBoundary"),
        ("iam:DeleteRolePermissionsBoundary", "/PermissionsBoundary")] },
    Property { what: "a role's trust policy", apis: &[
        ("iam:UpdateAssumeRolePolicy", "/AssumeRolePolicyDocument")] },
    Property { what: "a role's description or session duration", apis: &[
        ("iam:UpdateRole", "/MaxSessionDuration")] },
    Property { what: "whether a key is enabled", apis: &[
        ("kms:DisableKey", "/Enabled"),
        ("kms:EnableKey", "/Enabled")] },
    Property { what: "a key's automatic rotation", apis: &[
        ("kms:DisableKeyRotation", "/EnableKeyRotation"),
        ("kms:EnableKeyRotation", "/EnableKeyRotation")] },
    Property { what: "a key's policy", apis: &[
        ("kms:PutKeyPolicy", "/KeyPolicy")] },
    Property { what: "a key's pending deletion", apis: &[
        ("kms:ScheduleKeyDeletion", "/PendingWindowInDays")] },
    Property { what: "a function's resource-based policy", apis: &[
        ("lambda:AddPermission", "/Permissions"),
        ("lambda:RemovePermission", "/Permissions")] },
    Property { what: "a function's reserved concurrency", apis: &[
        ("lambda:PutFunctionConcurrency", "/ReservedConcurrentExecutions")] },
    Property { what: "a function's code", apis: &[
        ("lambda:UpdateFunctionCode", "/CodeSha256")] },
    Property { what: "a function's configuration (layers, environment, role...)", apis: &[
        ("lambda:UpdateFunctionConfiguration", "/Layers")] },
    Property { what: "a function URL's auth type", apis: &[
        ("lambda:UpdateFunctionUrlConfig", "/AuthType")] },
    Property { what: "a DB instance's settings", apis: &[
        ("rds:ModifyDBInstance", "/DeletionProtection")] },
    Property { what: "a bucket's default encryption", apis: &[
        ("s3:PutBucketEncryption", "/BucketEncryption"),
        ("s3:DeleteBucketEncryption", "/BucketEncryption")] },
    Property { what: "a bucket's policy", apis: &[
        ("s3:PutBucketPolicy", "/PolicyDocument"),
        ("s3:DeleteBucketPolicy", "/PolicyDocument")] },
    Property { what: "a bucket's public access block", apis: &[
        ("s3:PutBucketPublicAccessBlock", "/PublicAccessBlockConfiguration"),
        ("s3:DeleteBucketPublicAccessBlock", "/PublicAccessBlockConfiguration")] },
    Property { what: "a bucket's tags", apis: &[
        ("s3:PutBucketTagging", "/Tags"),
        ("s3:DeleteBucketTagging", "/Tags")] },
    Property { what: "a bucket's versioning", apis: &[
        ("s3:PutBucketVersioning", "/VersioningConfiguration/Status")] },
    Property { what: "a topic's access policy", apis: &[
        ("sns:SetTopicAttributes", "/Policy"),
        ("sns:AddPermission", "/Policy"),
        ("sns:RemovePermission", "/Policy")] },
    Property { what: "a topic's other attributes (display name, encryption key...)", apis: &[
        ("sns:SetTopicAttributes", "/DisplayName")] },
    Property { what: "a queue's access policy", apis: &[
        ("sqs:SetQueueAttributes", "/Policy"),
        ("sqs:AddPermission", "/Policy"),
        ("sqs:RemovePermission", "/Policy")] },
    Property { what: "a queue's other attributes (timeouts, retention, encryption...)", apis: &[
        ("sqs:SetQueueAttributes", "/VisibilityTimeout")] },
    Property { what: "a parameter's value (or its existence)", apis: &[
        ("ssm:PutParameter", "/Value"),
        ("ssm:DeleteParameter", "/Value"),
        ("ssm:DeleteParameters", "/Value")] },
];

/// The rows of [`PROPERTIES`] that list `service:operation`.
pub fn properties_of(service: &str, operation: &str) -> impl Iterator<Item = &'static Property> {
    let api = format!("{service}:{operation}");
    PROPERTIES
        .iter()
        .filter(move |p| p.apis.iter().any(|(a, _)| *a == api))
}

/// Every API listed with `service:operation` in a row of [`PROPERTIES`] (its
/// equivalents), itself excluded, sorted and deduplicated.
pub fn equivalents(service: &str, operation: &str) -> Vec<&'static str> {
    let api = format!("{service}:{operation}");
    let mut out: Vec<&'static str> = properties_of(service, operation)
        .flat_map(|p| p.apis.iter().map(|(a, _)| *a))
        .filter(|a| *a != api)
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}
