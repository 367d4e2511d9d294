//! SSM parameters: `PutParameter` is undone with `PutParameter` (Overwrite) of
//! the template's `Value`. Read back with `GetParameter`.
use super::{as_api_string, expected, mismatched, target_id, Handler, Undo};
use crate::ports::remediate::{Observed, ReadBack};
use crate::remediate::call::{Call, PutParameter};
use crate::remediate::planner::PlanInput;
use crate::remediate::template::Lookup;
use driftguard_model::domain::Change;

pub const HANDLER: Handler = Handler {
    family: "ssm_parameter",
    description: "put the template's Value back on the parameter (Overwrite)",
    undoes: &["ssm:PutParameter"],
    permissions: &["ssm:PutParameter", "ssm:GetParameter"],
    plan,
};

fn plan(i: &PlanInput<'_>, change: &Change) -> Result<Undo, String> {
    let name = target_id(i, change, "name")?;
    let value = match expected(i, "Value") {
        Lookup::Found(v) => as_api_string(&v),
        Lookup::Absent => return Err(format!("the template sets no Value for parameter {name}")),
        Lookup::NotLiteral(why) => return Err(why),
    };
    let kind = match expected(i, "Type") {
        Lookup::Found(v) => as_api_string(&v),
        _ => "String".to_string(),
    };
    let expected = format!("parameter {name} has the template's value again");
    Ok(Undo::one(
        Call::PutParameter(PutParameter {
            name,
            value,
            kind,
            overwrite: true,
        }),
        expected,
    ))
}

pub(crate) fn read_back(c: &PutParameter, seen: &Observed) -> ReadBack {
    let Observed::Parameter(got) = seen else {
        return mismatched("ssm:GetParameter", seen);
    };
    ReadBack {
        converged: *got == c.value,
        detail: format!("ssm:GetParameter {}: value {got:?}", c.name),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::remediate::handlers::testing::{recorded, Case};

    #[test]
    fn the_recorded_overwrite_is_put_back_to_the_template_value() {
        let change = recorded(
            "ssm-put-parameter.json",
            "AWS::SSM::Parameter",
            "/app/checkout/feature-flags",
        );
        let template = "Parameters:\n  Flags: { Type: String, Default: \"off\" }\nResources:\n  Flags:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Type: String\n      Value: !Ref Flags\n";
        let undo = Case::new("Flags", template)
            .plan(&HANDLER, &change)
            .unwrap();
        let want = PutParameter {
            name: "/app/checkout/feature-flags".into(),
            value: "off".into(),
            kind: "String".into(),
            overwrite: true,
        };
        assert_eq!(undo.calls, vec![Call::PutParameter(want.clone())]);
        assert!(read_back(&want, &Observed::Parameter("off".into())).converged);
        assert!(!read_back(&want, &Observed::Parameter("on".into())).converged);
        // CloudFormation's expected value wins over the template.
        let case = Case::new("Flags", template).expecting(serde_json::json!({"Value": "warn"}));
        let calls = case.plan(&HANDLER, &change).unwrap().calls;
        assert!(
            matches!(&calls[..], [Call::PutParameter(p)] if p.value == "warn"),
            "{calls:?}"
        );
    }
}
