//! The `*`-only glob fast path (`pattern`) against globset.
#![allow(clippy::unwrap_used)]
use globset::Glob;
use proptest::prelude::*;

use super::pattern::Pattern;

proptest! {
    // Patterns that are not `*`-only are skipped (`prop_assume!`, under
    // 10 % of them); proptest's default cap of 1,024 skips is reached near
    // 10,000 cases, so the cap grows with the cases (the 100,000-case run).
    #![proptest_config(ProptestConfig { cases: crate::domain::policy_props::cases(10_000), max_global_rejects: crate::domain::policy_props::cases(10_000), failure_persistence: None, ..ProptestConfig::default() })]

    /// The `*`-only shortcut answers exactly as globset does.
    #[test]
    fn star_patterns_match_like_globset(
        pattern in "[ab*/:\né-]{0,8}",
        value in "[ab/:\né-]{0,10}",
    ) {
        let matcher = Glob::new(&pattern).unwrap().compile_matcher();
        let compiled = Pattern::new(&pattern, matcher.clone());
        prop_assume!(compiled.star_segments.is_some());
        prop_assert_eq!(compiled.is_match(&value), matcher.is_match(&value), "{:?} on {:?}", pattern, value);
    }
}

#[test]
fn fancy_globs_stay_with_globset() {
    for text in ["a?", "[ab]", "{a,b}", "a\\*", "**/x", "a**"] {
        let p = Pattern::new(text, Glob::new(text).unwrap().compile_matcher());
        assert!(p.star_segments.is_none(), "{text}");
    }
    let p = Pattern::new(
        "arn:aws:iam::*:role/cdk-*-cfn-exec-role-*",
        Glob::new("arn:aws:iam::*:role/cdk-*-cfn-exec-role-*")
            .unwrap()
            .compile_matcher(),
    );
    assert!(p.is_match(
        "arn:aws:iam::123456789012:role/cdk-hnb659fds-cfn-exec-role-123456789012-us-east-1"
    ));
    assert!(!p.is_match("arn:aws:iam::123456789012:role/cdk-cfn-exec-role"));
}
