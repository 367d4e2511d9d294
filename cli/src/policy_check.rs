//! `driftguard policy check FILE`: what the policy says, in a few lines, or
//! the first problem with the key and line (`driftguard_model::domain::policy::Policy::from_path`).
use driftguard_model::domain::policy::Policy;
use driftguard_model::domain::policy::POLICY_VERSION;

/// The lines `policy check` prints for a policy that loaded.
pub fn summary(file: &str, p: &Policy) -> Vec<String> {
    let mut lines = vec![format!(
        "{file}: ok (version {}, {} rules, dry_run default {}, {} pipeline / {} own / {} break-glass principals, {} environments)",
        p.file.version,
        p.rules.len(),
        p.dry_run_default(),
        p.file.identities.pipeline.len(),
        p.file.identities.own.len(),
        p.file.identities.break_glass.len(),
        p.environments.len(),
    )];
    for e in &p.environments {
        lines.push(format!(
            "{file}: environment {}: accounts {}; {} own rules before the {} top-level; defaults: dry_run {}, verdict {}, severity {}",
            e.name,
            e.accounts.join(", "),
            e.own_rules,
            e.rules.len() - e.own_rules,
            e.defaults.dry_run,
            e.defaults.verdict,
            e.defaults.severity.as_str(),
        ));
    }
    if !p.environments.is_empty() {
        lines.push(format!(
            "{file}: an account in no environment is decided by the top-level rules and defaults"
        ));
    } else if p.file.version < POLICY_VERSION {
        // Nothing to fix: version 1 still loads. Just say what is newer.
        lines.push(format!(
            "{file}: note: version {} has no `environments`; version {POLICY_VERSION} adds them (docs/policy.md#environments)",
            p.file.version
        ));
    }
    for w in p.warnings() {
        lines.push(format!("{file}: warning: {w}"));
    }
    lines
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::path::Path;

    #[test]
    fn the_example_policy_lists_its_environments() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy.example.yaml");
        let p = Policy::from_path(&path).unwrap();
        let lines = summary("policy.example.yaml", &p);
        assert!(
            lines[0].starts_with("policy.example.yaml: ok (version 2, 7 rules")
                && lines[0].ends_with("2 environments)"),
            "{lines:#?}"
        );
        assert!(lines.contains(&"policy.example.yaml: environment prod: accounts 111111111111; 1 own rules before the 7 top-level; defaults: dry_run true, verdict ticket, severity medium".to_string()), "{lines:#?}");
        assert!(
            lines
                .iter()
                .any(|l| l
                    .starts_with("policy.example.yaml: environment dev: accounts 222222222222;")),
            "{lines:#?}"
        );
        assert!(lines
            .iter()
            .any(|l| l.contains("an account in no environment")));
    }

    #[test]
    fn a_version_1_policy_still_checks_and_an_ambiguous_one_names_the_field() {
        let p =
            Policy::from_yaml("version: 1\nrules:\n  - name: a\n    verdict: ticket\n").unwrap();
        let lines = summary("p.yaml", &p);
        assert!(
            lines[0].starts_with("p.yaml: ok (version 1, 1 rules"),
            "{lines:#?}"
        );
        assert!(lines[1].contains("version 2 adds them"), "{lines:#?}");
        let err = Policy::from_yaml(
            "version: 2\nenvironments:\n  - name: prod\n    match: { accounts: [\"111111111111\"] }\n  - name: dev\n    match: { accounts: [\"111111111111\"] }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("line 6")
                && err.contains("`environments[1].match.accounts[0]`")
                && err.contains("ambiguous"),
            "{err}"
        );
    }
}
