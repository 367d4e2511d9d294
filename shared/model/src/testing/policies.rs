//! Policy texts: the tests' policies share their opening (the safe defaults,
//! driftguard's own role, the deploy pipeline) and the `sg-revert` rule;
//! each test writes only what is its own.

/// `identities.own`: driftguard's remediation role in the tests' accounts
/// (the home account and the members 111111111111 and 222222222222), each
/// written out: an own entry for any account (`*`) needs its `unique_id`.
pub const OWN: &str = r#"  own: [{ principal: "arn:aws:iam::123456789012:role/driftguard-remediation" }, { principal: "arn:aws:iam::111111111111:role/driftguard-remediation" }, { principal: "arn:aws:iam::222222222222:role/driftguard-remediation" }]"#;

/// `identities.pipeline`: the deploy pipeline's role, in any account.
pub const PIPELINE: &str = r#"  pipeline: [{ principal: "arn:aws:iam::*:role/deploy-pipeline" }]"#;

/// A policy file: `version`, the safe `defaults` (dry-run, ticket, medium),
/// the `identities` lines given, then `rules:` with the rules given (each a
/// YAML list item, as written). Sections after the rules (`environments`)
/// can be appended.
pub fn policy(version: u32, identities: &[&str], rules: &[&str]) -> String {
    let mut text = format!(
        "version: {version}\ndefaults: {{ dry_run: true, verdict: ticket, severity: medium }}\nidentities:\n"
    );
    for line in identities {
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("rules:\n");
    for rule in rules {
        text.push_str(rule.trim_end_matches('\n'));
        text.push('\n');
    }
    text
}

/// The rule `sg-revert`: a security-group change by one of `actors`
/// (`console, human`, say) is reverted, severity high; `live` adds
/// `dry_run: false`, else the defaults' dry-run applies.
pub fn sg_revert(actors: &str, live: bool) -> String {
    let dry_run = if live { "    dry_run: false\n" } else { "" };
    format!(
        "  - name: sg-revert\n    match: {{ actors: [{actors}], resource_types: [\"AWS::EC2::SecurityGroup\"] }}\n    verdict: revert\n{dry_run}    severity: high\n"
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::domain::{policy::Policy, Action};

    #[test]
    fn the_built_policy_parses_as_written() {
        let text = policy(1, &[OWN, PIPELINE], &[&sg_revert("console, human", true)]);
        let p = Policy::from_yaml(&text).unwrap();
        assert_eq!(p.rules.len(), 1);
        assert_eq!(p.rules[0].name, "sg-revert");
        assert_eq!(p.rules[0].action, Action::Revert);
        assert!(!p.rules[0].dry_run);
        assert!(p.dry_run_default());
        let dry = Policy::from_yaml(&policy(2, &[OWN], &[&sg_revert("console", false)])).unwrap();
        assert!(dry.rules[0].dry_run);
    }
}
