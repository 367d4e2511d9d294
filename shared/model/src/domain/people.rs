//! Who is a person and who is AWS itself, from AWS-set identity facts only
//! (issue 34 items 1, 2, 5). Field meanings:
//! <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html>.
use super::actor::Identity;
use super::arn::{PrincipalRef, PrincipalType};
use super::policy::IdentityRules;

/// Where IAM Identity Center provisions the roles of its permission sets,
/// named `AWSReservedSSO_<permission set>_<id>` (the path the recorded
/// console sessions in `events/recorded/` carry; no AWS sentence stating
/// that ordinary roles cannot use this path was found, so an insider's role
/// there would count as a person's — `human` is never more lenient than
/// `automation` in the shipped example, and the pipeline/own roles are
/// matched by their own patterns).
const IDENTITY_CENTER_PATH: &str = "/aws-reserved/sso.amazonaws.com/";

/// Where IAM keeps service-linked roles (Firewall Manager's is
/// `role/aws-service-role/fms.amazonaws.com/AWSServiceRoleForFMS`). "The
/// linked service defines the permissions of its service-linked roles, and
/// unless defined otherwise, only that service can assume the roles"
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/using-service-linked-roles.html>).
/// IAM refuses the path to `CreateRole` ("InvalidInput: Path prefix
/// '/aws-service-role/' can only be used for AWS Service linked Roles", an
/// observed error, recorded in tilfin/aws-iam-policy-tool PR #9; no AWS page
/// states it), and the call must also carry `invokedBy` (AWS-set: the
/// service made it), so neither the path alone nor `invokedBy` alone is AWS
/// acting for itself.
const SERVICE_LINKED_PATH: &str = "/aws-service-role/";

/// The session issuer's role path (`/aws-reserved/sso.amazonaws.com/`) and
/// name, when the issuer ARN is a well-formed role ARN.
fn issuer_path_and_name(identity: &Identity) -> Option<(&str, &str)> {
    let issuer = PrincipalRef::parse(identity.session_issuer_arn.as_deref()?).ok()?;
    (issuer.kind == PrincipalType::Role).then_some((issuer.path, issuer.name))
}

/// Evidence that a person made the call, from AWS-set fields other than the
/// console flag (which the caller weighs first): the session's
/// `sourceIdentity`, an Identity Center user it was made `onBehalfOf`, an
/// Identity Center permission set's role, a people role of the policy
/// (`identities.people`), or an IAM user, root, federated or Identity Center
/// user.
pub(crate) fn person_evidence(
    identity: &Identity,
    rules: &IdentityRules,
    home: Option<&str>,
) -> Option<String> {
    if let Some(who) = identity.source_identity.as_deref() {
        return Some(format!(
            "sessionContext.sourceIdentity={who} (recorded by AWS; chosen by the first \
             AssumeRole caller or the IdP, and it persists across role chaining): a person"
        ));
    }
    if let Some(user) = identity.on_behalf_of.as_deref() {
        return Some(format!(
            "onBehalfOf.userId={user} (AWS-set): an IAM Identity Center user"
        ));
    }
    if let Some((path, name)) = issuer_path_and_name(identity) {
        if path.starts_with(IDENTITY_CENTER_PATH) && name.starts_with("AWSReservedSSO_") {
            return Some(format!(
                "role {name} at {path} is an IAM Identity Center permission set: a person"
            ));
        }
    }
    if let Some(why) = rules.people_match_in(identity, home) {
        return Some(format!("a people role (identities.people): {why}"));
    }
    match identity.identity_type.as_deref() {
        Some(t @ ("IAMUser" | "Root" | "IdentityCenterUser" | "FederatedUser")) => {
            Some(format!("userIdentity.type={t}: a person"))
        }
        _ => None,
    }
}

/// Evidence that AWS acted for itself: a service-linked role's session
/// with `invokedBy`. Not `invokedBy` alone: "The name of the AWS service
/// that made the request" is also set when a service relays a customer
/// principal's credentials (an SSM runbook, a customer role a security
/// service's automation uses), and those are that principal's calls; AWS's
/// own security services (Firewall Manager, Security Hub, GuardDuty) act
/// through their service-linked roles.
pub(crate) fn aws_service_evidence(identity: &Identity) -> Option<String> {
    let (path, name) = issuer_path_and_name(identity)?;
    let service = identity.invoked_by.as_deref()?;
    // The role's own service made the call: `/aws-service-role/fms.amazonaws.com/`
    // with `invokedBy` fms.amazonaws.com (insider review: not any service).
    let linked = path
        .strip_prefix(SERVICE_LINKED_PATH)?
        .trim_end_matches('/');
    (linked == service).then(|| {
        format!(
            "role {name} at {path} is {service}'s service-linked role (only its service may \
             assume it), invokedBy={service} (AWS-set)"
        )
    })
}
