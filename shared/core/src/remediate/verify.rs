//! The convergence check after acting: CloudFormation drift detection first;
//! where it is unavailable (unsupported type, the emulator), inverse-call plans
//! read the resource back through its own API. Rollbacks are judged by the
//! stack's status. The result always says which verification was used.
use chrono::{DateTime, Utc};

use crate::ports::remediate::{PlanExecutor, ReadBack};
use crate::ports::DriftDetector;
use driftguard_model::domain::DriftOrigin;
use driftguard_model::domain::{Drift, DriftStatus, Plan, StackMembership, Strategy};
use driftguard_model::error::PortResult;

#[derive(Debug, Clone, PartialEq)]
pub enum Verification {
    /// IN_SYNC (or the rollback reached its stable status).
    Converged { method: String, drift: Drift },
    /// Still drifted: the reason says how.
    NotConverged {
        method: String,
        reason: String,
        drift: Drift,
    },
    /// A rollback CloudFormation is still working on: re-checked later.
    InProgress { reason: String },
    /// No way to check: never claimed as resolved.
    Unavailable { reason: String },
}

fn observed(status: DriftStatus, note: String, at: DateTime<Utc>) -> Drift {
    Drift {
        status,
        differences: Vec::new(),
        expected_properties: None,
        actual_properties: None,
        origin: DriftOrigin::EventRequest(note),
        detected_at: Some(at),
    }
}

/// Did acting converge? A rollback by its stack's status; otherwise by drift
/// detection, a change set CloudFormation still works on, or, where drift
/// detection cannot tell, the resource read back through its own API.
pub async fn verify(
    plan: &Plan,
    membership: &StackMembership,
    detector: Option<&dyn DriftDetector>,
    executor: &dyn PlanExecutor,
    now: DateTime<Utc>,
) -> Verification {
    let stack = &membership.stack_name;
    if plan.strategy == Strategy::StackRollback {
        return rollback_verification(stack, executor.stack_status(stack).await, now);
    }
    if let Some(v) = super::changeset::in_progress(plan, stack, executor).await {
        return v;
    }
    let why_no_drift_check = match detector {
        None => "no drift detector configured".to_string(),
        Some(detector) => {
            let drift = detector
                .detect_resource_drift(stack, &membership.logical_id)
                .await;
            match drift_verification(drift) {
                Ok(v) => return v,
                Err(why) => why,
            }
        }
    };
    read_back_verification(
        plan,
        executor.read_back(plan).await,
        &why_no_drift_check,
        now,
    )
}

/// Pure: a rollback judged by its stack's status (`None`: the stack is gone).
fn rollback_verification(
    stack: &str,
    status: PortResult<Option<String>>,
    now: DateTime<Utc>,
) -> Verification {
    match status {
        Ok(Some(s)) if s.ends_with("_IN_PROGRESS") => Verification::InProgress {
            reason: format!("stack {stack} is {s}: the sweep re-checks it"),
        },
        Ok(Some(s)) if s.ends_with("_COMPLETE") && s != "ROLLBACK_COMPLETE" => {
            let method = format!("cloudformation:DescribeStacks status {s}");
            Verification::Converged {
                drift: observed(DriftStatus::InSync, method.clone(), now),
                method,
            }
        }
        Ok(other) => {
            let method = "cloudformation:DescribeStacks".to_string();
            let reason = format!("stack {stack} is {}", other.as_deref().unwrap_or("gone"));
            Verification::NotConverged {
                drift: observed(DriftStatus::Unknown, reason.clone(), now),
                method,
                reason,
            }
        }
        Err(e) => Verification::Unavailable {
            reason: format!("could not read stack {stack}: {e}"),
        },
    }
}

/// Pure: what CloudFormation drift detection says, or (`Err`) why it cannot
/// tell.
fn drift_verification(drift: PortResult<Drift>) -> Result<Verification, String> {
    match drift {
        Ok(d) if d.status == DriftStatus::InSync => Ok(Verification::Converged {
            method: "CloudFormation DetectStackResourceDrift".into(),
            drift: d,
        }),
        Ok(d) if d.status.is_drifted() => {
            let paths = d.property_paths().join(", ");
            Ok(Verification::NotConverged {
                method: "CloudFormation DetectStackResourceDrift".into(),
                reason: format!(
                    "CloudFormation still reports {} {}",
                    d.status.as_str(),
                    if paths.is_empty() {
                        String::new()
                    } else {
                        format!("at {paths}")
                    }
                ),
                drift: d,
            })
        }
        Ok(d) => Err(format!("drift detection answered {}", d.status.as_str())),
        Err(e) => Err(format!("drift detection unavailable ({e})")),
    }
}

/// Pure: what the read-back through the resource's own API says.
fn read_back_verification(
    plan: &Plan,
    read_back: PortResult<Option<ReadBack>>,
    why_no_drift_check: &str,
    now: DateTime<Utc>,
) -> Verification {
    match read_back {
        Ok(Some(rb)) => {
            let method = format!("read back through the resource's own API ({why_no_drift_check})");
            if rb.converged {
                Verification::Converged {
                    drift: observed(DriftStatus::InSync, rb.detail, now),
                    method,
                }
            } else {
                Verification::NotConverged {
                    drift: observed(DriftStatus::Modified, rb.detail.clone(), now),
                    reason: rb.detail,
                    method,
                }
            }
        }
        Ok(None) => Verification::Unavailable {
            reason: format!(
                "{why_no_drift_check}; a {} plan has no read-back",
                plan.strategy.as_str()
            ),
        },
        Err(e) => Verification::Unavailable {
            reason: format!("{why_no_drift_check}; read-back failed: {e}"),
        },
    }
}
