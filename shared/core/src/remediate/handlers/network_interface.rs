//! A network interface's security groups: `ModifyNetworkInterfaceAttribute`
//! (`groupSet`) is undone by setting the template's `GroupSet` of the
//! `AWS::EC2::NetworkInterface` again. The record names the interface only:
//! the change is undone only when the ticket's resource is that interface as a
//! managed `AWS::EC2::NetworkInterface` (its owner found by its id). An
//! instance's own interface is no resource of a stack: whether it is a managed
//! instance's primary interface is not in the record, so nothing is reverted on
//! a guess (the instance's groups are `ModifyInstanceAttribute`'s twin,
//! `sources::operations::PROPERTIES`). Read back with `DescribeNetworkInterfaces`.
use std::collections::BTreeSet;

use serde_json::Value;

use super::{expected, items, mismatched, target_id, Handler, Undo};
use crate::ports::remediate::{Observed, ReadBack};
use crate::remediate::call::{Call, ModifyNetworkInterfaceGroups};
use crate::remediate::planner::PlanInput;
use crate::remediate::template::Lookup;
use driftguard_model::domain::Change;

pub const HANDLER: Handler = Handler {
    family: "network_interface",
    description: "set the template's GroupSet of a managed AWS::EC2::NetworkInterface again (never on a guessed instance; other attributes refused)",
    undoes: &["ec2:ModifyNetworkInterfaceAttribute"],
    permissions: &[
        "ec2:ModifyNetworkInterfaceAttribute",
        "ec2:DescribeNetworkInterfaces",
    ],
    plan,
};

const INTERFACE: &str = "AWS::EC2::NetworkInterface";
const IDENTIFYING: &str = "networkInterfaceId";
const GROUP_SET: &str = "groupSet";

fn plan(i: &PlanInput<'_>, change: &Change) -> Result<Undo, String> {
    // The owning stack's own type for the resource, never the type the API
    // implies (every ModifyNetworkInterfaceAttribute names an interface).
    let managed_type = i.membership.resource_type.as_deref();
    if managed_type != Some(INTERFACE) {
        return Err(format!(
            "the interface is not a managed {INTERFACE} (the ticket's resource is {}): whether it is a managed instance's primary interface is not in the record, nothing is reverted on a guess",
            managed_type.unwrap_or("unknown")
        ));
    }
    let interface = target_id(i, change, IDENTIFYING)?;
    let others: Vec<&str> = change
        .request
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| ![IDENTIFYING, GROUP_SET].contains(&k.as_str()) && !v.is_null())
        .map(|(k, _)| k.as_str())
        .collect();
    if !others.is_empty() {
        return Err(format!(
            "the request changes {}: only the group set is restored by this handler",
            others.join(", ")
        ));
    }
    if items(change.request.get(GROUP_SET)).is_empty() {
        return Err("the request changes no group set".into());
    }
    let groups = template_groups(i)?;
    let expected = format!(
        "interface {interface} has the template's security groups again ({})",
        groups.join(", ")
    );
    Ok(Undo::one(
        Call::ModifyNetworkInterfaceAttribute(ModifyNetworkInterfaceGroups {
            network_interface_id: interface,
            groups,
        }),
        expected,
    ))
}

/// The template's `GroupSet`: CloudFormation's resolved expected properties
/// first, else a literal list of group ids.
fn template_groups(i: &PlanInput<'_>) -> Result<Vec<String>, String> {
    let listed = match expected(i, "GroupSet") {
        Lookup::Found(Value::Array(groups)) => groups,
        Lookup::Found(other) => {
            return Err(format!("the template's GroupSet is {other}, not a list"))
        }
        Lookup::Absent => {
            return Err(
                "the template sets no GroupSet: the VPC's default group is not known here".into(),
            )
        }
        Lookup::NotLiteral(why) => return Err(why),
    };
    listed
        .iter()
        .map(|g| {
            g.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("the template's GroupSet holds {g}, not a group id"))
        })
        .collect()
}

/// Converged when the interface has exactly the planned groups (any order).
pub(crate) fn read_back(c: &ModifyNetworkInterfaceGroups, seen: &Observed) -> ReadBack {
    let Observed::NetworkInterfaceGroups(got) = seen else {
        return mismatched("ec2:DescribeNetworkInterfaces", seen);
    };
    let want: BTreeSet<&String> = c.groups.iter().collect();
    let have: BTreeSet<&String> = got.iter().collect();
    ReadBack {
        converged: want == have,
        detail: format!(
            "ec2:DescribeNetworkInterfaces {}: groups {}",
            c.network_interface_id,
            got.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::remediate::handlers::testing::{recorded, Case};
    use serde_json::json;

    const ENI: &str = "eni-0a1b2c3d4e5f67890";
    const TEMPLATE: &str = "Resources:\n  Nic:\n    Type: AWS::EC2::NetworkInterface\n    Properties:\n      SubnetId: subnet-1\n      GroupSet: [sg-0123456789abcdef0]\n";

    fn change() -> Change {
        recorded(
            "ec2-modify-network-interface-attribute.json",
            INTERFACE,
            ENI,
        )
    }

    #[test]
    fn a_managed_interface_gets_the_template_groups_back() {
        let undo = Case::new("Nic", TEMPLATE)
            .plan(&HANDLER, &change())
            .unwrap();
        let want = ModifyNetworkInterfaceGroups {
            network_interface_id: ENI.into(),
            groups: vec!["sg-0123456789abcdef0".into()],
        };
        assert_eq!(
            undo.calls,
            vec![Call::ModifyNetworkInterfaceAttribute(want.clone())]
        );
        let seen = |g: &[&str]| {
            Observed::NetworkInterfaceGroups(g.iter().map(|s| s.to_string()).collect())
        };
        assert!(read_back(&want, &seen(&["sg-0123456789abcdef0"])).converged);
        assert!(!read_back(&want, &seen(&["sg-0fedcba9876543210"])).converged);
        // CloudFormation's resolved expected properties win over a template Ref.
        let by_ref = TEMPLATE.replace("[sg-0123456789abcdef0]", "[!Ref WebSG]")
            + "  WebSG:\n    Type: AWS::EC2::SecurityGroup\n";
        let err = Case::new("Nic", &by_ref)
            .plan(&HANDLER, &change())
            .unwrap_err();
        assert!(err.contains("known only to CloudFormation"), "{err}");
        let resolved = Case::new("Nic", &by_ref)
            .expecting(json!({"GroupSet": ["sg-0123456789abcdef0"], "SubnetId": "subnet-1"}))
            .plan(&HANDLER, &change())
            .unwrap();
        assert_eq!(resolved.calls, undo.calls);
    }

    #[test]
    fn an_interface_that_is_not_a_managed_interface_is_never_reverted_on_a_guess() {
        // The same record ticketed on an instance (an owner found some other way):
        // the record does not prove the interface is its primary one.
        let on_instance = recorded(
            "ec2-modify-network-interface-attribute.json",
            "AWS::EC2::Instance",
            "i-087711ddaf98f9489",
        );
        let instance = "Resources:\n  Web:\n    Type: AWS::EC2::Instance\n    Properties:\n      SecurityGroupIds: [sg-0123456789abcdef0]\n";
        let err = Case::new("Web", instance)
            .plan(&HANDLER, &on_instance)
            .unwrap_err();
        assert!(err.contains("nothing is reverted on a guess"), "{err}");
        let mut described = change();
        described.request["description"] = json!({"value": "x"});
        let err = Case::new("Nic", TEMPLATE)
            .plan(&HANDLER, &described)
            .unwrap_err();
        assert!(err.contains("only the group set"), "{err}");
    }
}
