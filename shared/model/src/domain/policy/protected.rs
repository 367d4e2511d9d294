//! Protected resources (`protected`): selectors compiled, and the check that
//! keeps driftguard's hands off whatever they match.
use super::compile::Compiler;
use super::file::ResourceSelector;
use super::pattern::Pattern;
use super::rules::MatchFacts;
use super::{Policy, PolicyError};

#[derive(Debug, Clone, Default)]
pub(super) struct SelectorMatcher {
    resource_type: Option<Pattern>,
    physical_id: Option<Pattern>,
    stack: Option<Pattern>,
    logical_id: Option<Pattern>,
}

fn opt_match(pattern: &Option<Pattern>, value: Option<&str>) -> bool {
    match pattern {
        None => true,
        Some(p) => value.is_some_and(|v| p.is_match(v)),
    }
}

impl Compiler<'_> {
    /// `protected`: each selector's globs compiled; an empty selector is
    /// refused.
    pub(super) fn protected(
        &self,
        selectors: &[ResourceSelector],
    ) -> Result<Vec<SelectorMatcher>, PolicyError> {
        let c = self;
        let mut protected = Vec::new();
        for (i, s) in selectors.iter().enumerate() {
            let key = format!("protected[{i}]");
            let m = SelectorMatcher {
                resource_type: c.opt_glob(&format!("{key}.type"), &s.resource_type)?,
                physical_id: c.opt_glob(&format!("{key}.physical_id"), &s.physical_id)?,
                stack: c.opt_glob(&format!("{key}.stack"), &s.stack)?,
                logical_id: c.opt_glob(&format!("{key}.logical_id"), &s.logical_id)?,
            };
            if m.resource_type.is_none()
                && m.physical_id.is_none()
                && m.stack.is_none()
                && m.logical_id.is_none()
            {
                return Err(PolicyError::Invalid {
                    key,
                    line: c.line_of("protected"),
                    message: "an empty selector would protect everything; name at least one field"
                        .into(),
                });
            }
            protected.push(m);
        }
        Ok(protected)
    }
}

impl Policy {
    /// Protected resources are never touched, whatever the rules say.
    /// A selector's `type` matches the resolved type or the API's own.
    pub fn is_protected(&self, facts: &MatchFacts<'_>) -> bool {
        self.protected.iter().any(|s| {
            (opt_match(&s.resource_type, facts.resource_type)
                || (facts.api_resource_type.is_some()
                    && opt_match(&s.resource_type, facts.api_resource_type)))
                && opt_match(&s.physical_id, facts.physical_id)
                && opt_match(&s.stack, facts.stack)
                && opt_match(&s.logical_id, facts.logical_id)
        })
    }
}
