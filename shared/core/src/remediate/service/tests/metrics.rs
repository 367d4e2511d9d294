//! The EMF metrics line a remediation prints.
use super::*;

#[tokio::test]
async fn a_verified_revert_prints_one_emf_line_with_its_exposure_window() {
    let w = world("");
    let (_, env) = decision(&w, "sg-1", "Sg", "app", verdict(false, false), "e-emf").await;
    let capture = crate::metrics::capture();
    let r = finished(w.remediator.handle(env).await.unwrap());
    assert_eq!(r.outcome, RemediationOutcome::Resolved, "{}", r.reason);
    let lines = capture.lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    let (metrics, dimensions) = crate::metrics::declared(line);
    let names: Vec<&str> = metrics.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Reverted",
            "RolledBack",
            "RemediationsRefused",
            "RemediationsFailed",
            "RemediationDuration",
            "ExposureWindow"
        ]
    );
    assert!(metrics.contains(&("ExposureWindow".into(), "Seconds".into())));
    assert!(metrics.contains(&("RemediationDuration".into(), "Milliseconds".into())));
    assert_eq!(
        dimensions,
        json!([["Function"], ["Function", "Severity", "Action"]])
    );
    assert_eq!(
        (&line["Function"], &line["Severity"], &line["Action"]),
        (&json!("remediate"), &json!("high"), &json!("revert"))
    );
    assert_eq!(
        (
            line["Reverted"].as_f64(),
            line["RemediationsFailed"].as_f64()
        ),
        (Some(1.0), Some(0.0))
    );
    // CloudTrail eventTime (the change's time) -> verified back in sync.
    let window = (r.finished_at - r.change.as_ref().unwrap().time).num_milliseconds();
    assert_eq!(
        line["ExposureWindow"].as_f64(),
        Some(window as f64 / 1000.0)
    );
}

#[tokio::test]
async fn a_dry_run_counts_nothing_as_reverted_and_has_no_exposure_window() {
    let w = world("");
    let (_, env) = decision(&w, "sg-1", "Sg", "app", verdict(true, false), "e-emf-dry").await;
    let capture = crate::metrics::capture();
    finished(w.remediator.handle(env).await.unwrap());
    let lines = capture.lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["Reverted"].as_f64(), Some(0.0));
    assert_eq!(lines[0]["outcome"], "dry_run");
    assert!(lines[0].get("ExposureWindow").is_none());
    assert!(lines[0].get("RemediationDuration").is_none());
}
