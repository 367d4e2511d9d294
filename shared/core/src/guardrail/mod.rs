//! Preventive guardrails generated from the policy: a service control policy
//! (or the same as an IAM permissions boundary, or a CloudFormation template
//! deploying either) that denies the write operations driftguard handles on
//! CloudFormation-managed resources, except through CloudFormation, for the
//! pipeline, driftguard itself and break-glass principals in their window.
//!
//! Pure: policy in, documents out; the evaluator and the simulation replay
//! recorded tickets against the documents. No AWS calls (`docs/guardrails.md`).
//!
//! The generator is this module's own API; its parts live in private
//! submodules, re-exported here by name (one path per item):
//! `analysis` ([`plan`]: which operations the policy wants denied, and which
//! rule says so), `generate` ([`generate`]: the statements), `document`
//! ([`PolicyDocument`], [`pack`]: rendering and the size split), `evaluate`
//! ([`evaluate`]: the condition keys the generator writes, evaluated),
//! `simulate` ([`simulate`]: recorded changes replayed). The public
//! submodules keep their prefix: [`cfn`] (the deploying template) and
//! [`services`] (IAM actions and the condition key per service).
mod analysis;
pub mod cfn;
mod document;
mod evaluate;
mod generate;
pub mod services;
mod simulate;

#[cfg(test)]
mod tests;

pub use self::analysis::{plan, ActionPlan, Coverage};
pub use self::document::{pack, Conditions, Effect, PolicyDocument, Statement};
pub use self::evaluate::{evaluate, Request, SUPPORTED};
pub use self::generate::{generate, BreakGlassWindows, Guardrail, Options};
pub use self::simulate::{simulate, Replayed, Simulation};

/// "Service control policies: 5,120 bytes (not characters)"
/// (<https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-organizations-policy.html>,
/// `Content`; the Organizations quotas page says the same). Measured on the
/// pretty-printed document, whitespace included.
pub const SCP_MAX_BYTES: usize = 5_120;

/// "The maximum character limit for managed policies is 6,144"
/// (<https://repost.aws/knowledge-center/iam-increase-policy-size>, pointing to
/// <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html>;
/// IAM counts no whitespace). A principal has one permissions boundary, so the
/// boundary must fit one policy.
pub const BOUNDARY_MAX_CHARS: usize = 6_144;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GuardrailError {
    #[error("principal {principal:?}: {message}")]
    Principal { principal: String, message: String },
    #[error("statement {sid} alone is {size} bytes, over the {limit}-byte limit (too many exempt principals?)")]
    TooLarge {
        sid: String,
        size: usize,
        limit: usize,
    },
    #[error("the boundary needs {size} characters, over IAM's {limit} for one managed policy (a principal has only one boundary): use the SCPs, or fewer principals/rules")]
    BoundaryTooLarge { size: usize, limit: usize },
    #[error("statement {sid}: the evaluator does not know {what}")]
    Unsupported { sid: String, what: String },
}

/// The boundary's allow: a boundary caps what identity policies grant, so
/// without it the boundary would allow nothing.
pub fn boundary_allow() -> Statement {
    Statement {
        sid: "AllowWhatIdentityPoliciesGrant".into(),
        effect: Effect::Allow,
        action: vec!["*".into()],
        resource: "*".into(),
        condition: Conditions::default(),
    }
}

impl Guardrail {
    /// The SCPs, in order, each within [`SCP_MAX_BYTES`].
    pub fn scps(&self) -> Result<Vec<PolicyDocument>, GuardrailError> {
        pack(self.statements.clone(), &[], SCP_MAX_BYTES)
    }

    /// The permissions boundary: one document (IAM counts no whitespace).
    /// When the per-rule statements do not fit, statements with the same
    /// conditions are merged, their Sids joined (`OpenIngressIsRevertedAdminPolicyAttached…`).
    pub fn boundary(&self) -> Result<PolicyDocument, GuardrailError> {
        let per_rule = boundary_document(self.statements.clone());
        if compact_size(&per_rule) <= BOUNDARY_MAX_CHARS {
            return Ok(per_rule);
        }
        let merged = boundary_document(merge_same_conditions(&self.statements));
        let size = compact_size(&merged);
        if size > BOUNDARY_MAX_CHARS {
            return Err(GuardrailError::BoundaryTooLarge {
                size,
                limit: BOUNDARY_MAX_CHARS,
            });
        }
        Ok(merged)
    }

    /// The template deploying the SCPs.
    pub fn scp_template(&self) -> Result<String, GuardrailError> {
        Ok(cfn::scp_template(&self.scps()?))
    }

    /// The (StackSet) template deploying the boundary.
    pub fn boundary_template(&self) -> Result<String, GuardrailError> {
        Ok(cfn::boundary_template(&self.boundary()?))
    }
}

fn boundary_document(denies: Vec<Statement>) -> PolicyDocument {
    let mut statements = vec![boundary_allow()];
    statements.extend(denies);
    PolicyDocument::new(statements)
}

/// The size IAM counts: no whitespace outside strings (the compact rendering).
fn compact_size(doc: &PolicyDocument) -> usize {
    serde_json::to_string(doc)
        .map(|s| s.len())
        .unwrap_or(usize::MAX)
}

/// Statements with equal effect and conditions as one, in first-seen order:
/// actions united and sorted, Sids joined.
pub fn merge_same_conditions(statements: &[Statement]) -> Vec<Statement> {
    let mut out: Vec<Statement> = Vec::new();
    for s in statements {
        match out
            .iter_mut()
            .find(|o| o.effect == s.effect && o.condition == s.condition)
        {
            Some(o) => {
                o.sid.push_str(&s.sid);
                o.action.extend(s.action.iter().cloned());
                o.action.sort();
                o.action.dedup();
            }
            None => out.push(s.clone()),
        }
    }
    out
}
