//! Security-group rules: a rule added by `AuthorizeSecurityGroupIngress` /
//! `AuthorizeSecurityGroupEgress` is revoked exactly (by the rule ids the
//! response names, else by the request's permissions), unless the template
//! declares it too. Read back with `DescribeSecurityGroupRules`.
//!
//! The request comes in two shapes: `ipPermissions` items, or the single-rule
//! form an SDK call sends when it sets the top-level `CidrIp`, `IpProtocol`,
//! `FromPort`, `ToPort` parameters (Stratus Red Team's Go detonation; `ipProtocol`,
//! `fromPort`, `toPort`, `cidrIp` at the top of `requestParameters`, with
//! `"ipPermissions": {}`; events/recorded/ec2-authorize-security-group-ingress-flat.json).
//! The single-rule form is revoked by the rule id the response names:
//! "You can specify rules using either rule IDs or security group rule
//! properties" (`SecurityGroupRuleIds`, "The IDs of the security group rules",
//! <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RevokeSecurityGroupIngress.html>,
//! and the same for
//! <https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_RevokeSecurityGroupEgress.html>);
//! the rule the response describes (AWS-set) is what the template is checked
//! against and what the read-back looks for.
use serde_json::Value;

use super::{expected, field, int_of, items, mismatched, target_id, Handler, Undo};
use crate::ports::remediate::{Observed, ObservedRule, ReadBack};
use crate::remediate::call::{
    Call, GroupPair, IpPermission, IpRange, Ipv6Range, PrefixListRef, RevokeRules,
};
use crate::remediate::planner::PlanInput;
use crate::remediate::template::Lookup;
use driftguard_model::domain::Change;

pub const HANDLER: Handler = Handler {
    family: "security_group",
    description: "revoke exactly the ingress/egress rule a hot-fix added (rule ids from the response, else the request's permissions); refused when the template declares it",
    undoes: &["ec2:AuthorizeSecurityGroupIngress", "ec2:AuthorizeSecurityGroupEgress"],
    permissions: &[
        "ec2:RevokeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:DescribeSecurityGroupRules",
    ],
    plan,
};

fn plan(i: &PlanInput<'_>, change: &Change) -> Result<Undo, String> {
    let egress = change.operation == "AuthorizeSecurityGroupEgress";
    let group_id = target_id(i, change, "groupId")?;
    let security_group_rule_ids = rule_ids(&change.response);
    let permissions = permissions_of(change, &security_group_rule_ids)?;
    let note = template_cross_check(i, egress, &permissions)?;
    let rules = RevokeRules {
        group_id: group_id.clone(),
        security_group_rule_ids,
        ip_permissions: permissions,
    };
    let expected = format!(
        "security group {group_id} no longer has the {} rule(s) added by {} ({}){note}",
        if egress { "egress" } else { "ingress" },
        change.event_id,
        describe_rules(&rules)
    );
    let call = if egress {
        Call::RevokeSecurityGroupEgress(rules)
    } else {
        Call::RevokeSecurityGroupIngress(rules)
    };
    Ok(Undo::one(call, expected))
}

/// The permissions the hot-fix added: the request's `ipPermissions` items; for
/// the single-rule form, the rules the response describes (AWS-set, CIDRs in
/// the canonical form `DescribeSecurityGroupRules` shows), else the request's
/// top-level fields. The single-rule form is only undone when the response
/// names the rule's id (the revoke goes by id).
fn permissions_of(change: &Change, rule_ids: &[String]) -> Result<Vec<IpPermission>, String> {
    let request_items = items(change.request.get("ipPermissions"));
    if !request_items.is_empty() {
        return request_items
            .into_iter()
            .map(permission_from_request)
            .collect();
    }
    if rule_ids.is_empty() {
        return Err(
            "the request has no ipPermissions and the response names no rule id: the exact rule is unknown"
                .into(),
        );
    }
    let described: Vec<IpPermission> = response_rules(&change.response)
        .into_iter()
        .filter_map(permission_from_rule)
        .collect();
    if !described.is_empty() {
        return Ok(described);
    }
    Ok(permission_from_single_rule(&change.request)
        .into_iter()
        .collect())
}

/// The single-rule form's fields as a permission (`cidrIp` is its only source
/// field that names a source by value; a source group by name is not kept).
fn permission_from_single_rule(request: &Value) -> Option<IpPermission> {
    let ip_protocol = protocol_of(request.get("ipProtocol"))?;
    let cidr_ip = request.get("cidrIp").and_then(Value::as_str)?;
    Some(IpPermission {
        ip_protocol,
        from_port: port(request, &["fromPort"]),
        to_port: port(request, &["toPort"]),
        ip_ranges: vec![IpRange {
            cidr_ip: cidr_ip.to_string(),
        }],
        ..IpPermission::default()
    })
}

/// One rule of the response's `securityGroupRuleSet` (the `SecurityGroupRule`
/// shape: `ipProtocol`, `fromPort`, `toPort`, `cidrIpv4`, `cidrIpv6`,
/// `prefixListId`, `referencedGroupInfo.groupId`) as a permission.
fn permission_from_rule(rule: &Value) -> Option<IpPermission> {
    let text = |names: &[&str]| {
        field(rule, names)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let mut p = IpPermission {
        ip_protocol: protocol_of(field(rule, &["ipProtocol", "IpProtocol"]))?,
        from_port: port(rule, &["fromPort", "FromPort"]),
        to_port: port(rule, &["toPort", "ToPort"]),
        ..IpPermission::default()
    };
    if let Some(cidr_ip) = text(&["cidrIpv4", "CidrIpv4"]) {
        p.ip_ranges.push(IpRange { cidr_ip });
    } else if let Some(cidr_ipv6) = text(&["cidrIpv6", "CidrIpv6"]) {
        p.ipv6_ranges.push(Ipv6Range { cidr_ipv6 });
    } else if let Some(prefix_list_id) = text(&["prefixListId", "PrefixListId"]) {
        p.prefix_list_ids.push(PrefixListRef { prefix_list_id });
    } else {
        let group = field(rule, &["referencedGroupInfo", "ReferencedGroupInfo"])?;
        let group_id = field(group, &["groupId", "GroupId"])?.as_str()?.to_string();
        p.user_id_group_pairs.push(GroupPair { group_id });
    }
    Some(p)
}

fn protocol_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Refuse a rule the template also declares; say when the check was impossible.
fn template_cross_check(
    i: &PlanInput<'_>,
    egress: bool,
    permissions: &[IpPermission],
) -> Result<String, String> {
    let property = if egress {
        "SecurityGroupEgress"
    } else {
        "SecurityGroupIngress"
    };
    match expected(i, property) {
        Lookup::Found(Value::Array(rules)) => match permissions
            .iter()
            .find_map(|p| declared_in_template(&rules, p))
        {
            Some(rule) => Err(format!(
                "the rule ({rule}) is also declared in the template's {property}: revoking it would drift the group the other way"
            )),
            None => Ok(String::new()),
        },
        Lookup::Found(_) | Lookup::Absent => Ok(String::new()),
        // The undo is exact without the template; say what could not be cross-checked.
        Lookup::NotLiteral(why) => Ok(format!(" (template cross-check skipped: {why})")),
    }
}

/// The rules the response says were added (`securityGroupRuleSet`, the API's
/// `SecurityGroupRules`).
fn response_rules(response: &Value) -> Vec<&Value> {
    items(
        response
            .get("securityGroupRuleSet")
            .or_else(|| response.get("SecurityGroupRules")),
    )
}

fn rule_ids(response: &Value) -> Vec<String> {
    response_rules(response)
        .into_iter()
        .filter_map(|r| {
            field(r, &["securityGroupRuleId", "SecurityGroupRuleId"]).and_then(Value::as_str)
        })
        .map(str::to_string)
        .collect()
}

/// The strings at `inner` of each item of the list `names`.
fn sources(item: &Value, names: &[&str], inner: &[&str]) -> Vec<String> {
    items(field(item, names))
        .into_iter()
        .filter_map(|r| field(r, inner).and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

fn port(item: &Value, names: &[&str]) -> Option<i32> {
    int_of(field(item, names)).and_then(|n| i32::try_from(n).ok())
}

/// A CloudTrail `ipPermissions` item (or an API-shaped one) as a typed permission.
fn permission_from_request(item: &Value) -> Result<IpPermission, String> {
    let ip_protocol = protocol_of(field(item, &["ipProtocol", "IpProtocol"]))
        .ok_or("an ipPermissions item has no ipProtocol")?;
    let p = IpPermission {
        ip_protocol,
        from_port: port(item, &["fromPort", "FromPort"]),
        to_port: port(item, &["toPort", "ToPort"]),
        ip_ranges: sources(item, &["ipRanges", "IpRanges"], &["cidrIp", "CidrIp"])
            .into_iter()
            .map(|cidr_ip| IpRange { cidr_ip })
            .collect(),
        ipv6_ranges: sources(
            item,
            &["ipv6Ranges", "Ipv6Ranges"],
            &["cidrIpv6", "CidrIpv6"],
        )
        .into_iter()
        .map(|cidr_ipv6| Ipv6Range { cidr_ipv6 })
        .collect(),
        user_id_group_pairs: sources(
            item,
            &["groups", "UserIdGroupPairs"],
            &["groupId", "GroupId"],
        )
        .into_iter()
        .map(|group_id| GroupPair { group_id })
        .collect(),
        prefix_list_ids: sources(
            item,
            &["prefixListIds", "PrefixListIds"],
            &["prefixListId", "PrefixListId"],
        )
        .into_iter()
        .map(|prefix_list_id| PrefixListRef { prefix_list_id })
        .collect(),
    };
    if p.ip_ranges.is_empty()
        && p.ipv6_ranges.is_empty()
        && p.user_id_group_pairs.is_empty()
        && p.prefix_list_ids.is_empty()
    {
        return Err("an ipPermissions item names no source or destination".into());
    }
    Ok(p)
}

fn protocol_eq(a: &str, b: &str) -> bool {
    let norm = |s: &str| match s.to_ascii_lowercase().as_str() {
        "-1" | "all" => "-1".to_string(),
        "6" => "tcp".into(),
        "17" => "udp".into(),
        "1" => "icmp".into(),
        "58" => "icmpv6".into(),
        other => other.to_string(),
    };
    norm(a) == norm(b)
}

/// Does this protocol open every port whatever the range says? "Use -1 to specify
/// all protocols. When authorizing security group rules, specifying -1 or a
/// protocol number other than tcp, udp, icmp, or icmpv6 allows traffic on all
/// ports, regardless of any port range you specify."
/// (<https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpPermission.html>).
/// The response reports such a rule with ports -1/-1 while a template usually
/// declares none: ports are then no reason to call the rule undeclared.
fn all_ports(protocol: &str) -> bool {
    !matches!(
        protocol.to_ascii_lowercase().as_str(),
        "tcp" | "udp" | "icmp" | "icmpv6" | "6" | "17" | "1" | "58"
    )
}

/// The permission's sources, each as (API list, value).
fn named_sources(p: &IpPermission) -> Vec<(&'static str, &str)> {
    let mut out: Vec<(&'static str, &str)> = Vec::new();
    out.extend(p.ip_ranges.iter().map(|r| ("IpRanges", r.cidr_ip.as_str())));
    out.extend(
        p.ipv6_ranges
            .iter()
            .map(|r| ("Ipv6Ranges", r.cidr_ipv6.as_str())),
    );
    out.extend(
        p.user_id_group_pairs
            .iter()
            .map(|g| ("UserIdGroupPairs", g.group_id.as_str())),
    );
    out.extend(
        p.prefix_list_ids
            .iter()
            .map(|g| ("PrefixListIds", g.prefix_list_id.as_str())),
    );
    out
}

/// Is (a source of) this permission also declared by the template? Then revoking
/// it would drift the group the other way.
fn declared_in_template(template_rules: &[Value], permission: &IpPermission) -> Option<String> {
    let (from, to) = (
        permission.from_port.map(i64::from),
        permission.to_port.map(i64::from),
    );
    for rule in template_rules {
        let rp = match rule.get("IpProtocol") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => continue,
        };
        let ports_differ = int_of(rule.get("FromPort")) != from || int_of(rule.get("ToPort")) != to;
        if !protocol_eq(&rp, &permission.ip_protocol)
            || (ports_differ && !all_ports(&permission.ip_protocol))
        {
            continue;
        }
        for (list, rule_key) in [
            ("IpRanges", "CidrIp"),
            ("Ipv6Ranges", "CidrIpv6"),
            ("UserIdGroupPairs", "SourceSecurityGroupId"),
            ("UserIdGroupPairs", "DestinationSecurityGroupId"),
            ("IpRanges", "CidrIpv4"),
            // AWS::EC2::SecurityGroup Ingress / Egress: "SourcePrefixListId: The ID of
            // a prefix list", "DestinationPrefixListId: The prefix list IDs for the
            // destination AWS service"
            // (<https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-ec2-securitygroup-ingress.html>,
            // <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-ec2-securitygroup-egress.html>).
            ("PrefixListIds", "SourcePrefixListId"),
            ("PrefixListIds", "DestinationPrefixListId"),
        ] {
            let Some(wanted) = rule.get(rule_key).and_then(Value::as_str) else {
                continue;
            };
            if named_sources(permission)
                .iter()
                .any(|(l, v)| *l == list && *v == wanted)
            {
                return Some(format!("{rp} {from:?}-{to:?} {wanted}"));
            }
        }
    }
    None
}

/// The permissions, else (nothing described) the rule ids.
fn describe_rules(rules: &RevokeRules) -> String {
    if rules.ip_permissions.is_empty() {
        format!("rule {}", rules.security_group_rule_ids.join(", "))
    } else {
        describe(&rules.ip_permissions)
    }
}

fn describe(permissions: &[IpPermission]) -> String {
    let bound = |p: Option<i32>| p.map(|n| n.to_string()).unwrap_or("*".into());
    permissions
        .iter()
        .map(|p| {
            let sources: Vec<&str> = named_sources(p).into_iter().map(|(_, v)| v).collect();
            format!(
                "{} {}-{} from {}",
                p.ip_protocol,
                bound(p.from_port),
                bound(p.to_port),
                sources.join(",")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Does a described rule match a planned permission (protocol, ports, a source)?
fn rule_matches(rule: &ObservedRule, perm: &IpPermission) -> bool {
    let rp = rule.protocol.as_deref().unwrap_or_default();
    let protocol = perm.ip_protocol.as_str();
    let same_protocol =
        rp == protocol || (matches!(rp, "-1" | "all") && matches!(protocol, "-1" | "all"));
    if !same_protocol {
        return false;
    }
    if perm.from_port.is_some() && rule.from_port != perm.from_port {
        return false;
    }
    if perm.to_port.is_some() && rule.to_port != perm.to_port {
        return false;
    }
    let sources = named_sources(perm);
    let has = |list: &str, value: &Option<String>| {
        value
            .as_deref()
            .is_some_and(|v| sources.iter().any(|(l, s)| *l == list && *s == v))
    };
    has("IpRanges", &rule.cidr_ipv4)
        || has("Ipv6Ranges", &rule.cidr_ipv6)
        || has("PrefixListIds", &rule.prefix_list_id)
        || has("UserIdGroupPairs", &rule.group_id)
}

/// Converged when no rule of that direction matches a revoked id or permission.
pub(crate) fn read_back(c: &RevokeRules, egress: bool, seen: &Observed) -> ReadBack {
    let Observed::SecurityGroupRules(rules) = seen else {
        return mismatched("ec2:DescribeSecurityGroupRules", seen);
    };
    let still: Vec<String> = rules
        .iter()
        .filter(|rule| rule.egress == Some(egress))
        .filter(|rule| {
            rule.id
                .as_ref()
                .is_some_and(|id| c.security_group_rule_ids.contains(id))
                || c.ip_permissions.iter().any(|perm| rule_matches(rule, perm))
        })
        .map(|rule| rule.id.clone().unwrap_or("?".into()))
        .collect();
    let group = &c.group_id;
    ReadBack {
        converged: still.is_empty(),
        detail: if still.is_empty() {
            format!("ec2:DescribeSecurityGroupRules on {group}: the revoked rule is gone")
        } else {
            format!(
                "ec2:DescribeSecurityGroupRules on {group}: still present: {}",
                still.join(", ")
            )
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::remediate::handlers::testing::{recorded, Case};
    use serde_json::json;

    const TEMPLATE: &str = "Resources:\n  Sg:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      GroupDescription: web\n      SecurityGroupIngress:\n        - { IpProtocol: tcp, FromPort: 443, ToPort: 443, CidrIp: 0.0.0.0/0 }\n";
    const GROUP: &str = "sg-0d921df5d84f7270a";

    fn revoke() -> RevokeRules {
        let change = recorded(
            "ec2-authorize-security-group-ingress.json",
            "AWS::EC2::SecurityGroup",
            GROUP,
        );
        let undo = Case::new("Sg", TEMPLATE).plan(&HANDLER, &change).unwrap();
        match undo.calls.as_slice() {
            [Call::RevokeSecurityGroupIngress(r)] => r.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_recorded_ssh_rule_is_revoked_exactly() {
        let r = revoke();
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"GroupId": GROUP, "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]})
        );
    }

    #[test]
    fn the_recorded_egress_rule_is_revoked_on_the_egress_side() {
        let change = recorded(
            "ec2-authorize-security-group-egress.json",
            "AWS::EC2::SecurityGroup",
            "sg-03eee825d6bb78f54",
        );
        let undo = Case::new("Sg", TEMPLATE).plan(&HANDLER, &change).unwrap();
        let [Call::RevokeSecurityGroupEgress(r)] = undo.calls.as_slice() else {
            panic!("{:?}", undo.calls)
        };
        assert_eq!(r.ip_permissions[0].ip_protocol, "-1");
        assert_eq!(r.ip_permissions[0].ip_ranges[0].cidr_ip, "0.0.0.0/0");
    }

    #[test]
    fn a_rule_the_template_declares_is_refused() {
        let mut change = recorded(
            "ec2-authorize-security-group-ingress.json",
            "AWS::EC2::SecurityGroup",
            GROUP,
        );
        change.request["ipPermissions"]["items"][0]["fromPort"] = json!(443);
        change.request["ipPermissions"]["items"][0]["toPort"] = json!(443);
        let err = Case::new("Sg", TEMPLATE)
            .plan(&HANDLER, &change)
            .unwrap_err();
        assert!(err.contains("also declared in the template"), "{err}");
    }

    const FLAT: &str = "ec2-authorize-security-group-ingress-flat.json";
    const FLAT_GROUP: &str = "sg-003dc7f1f1c686164";

    #[test]
    fn the_recorded_single_rule_form_is_revoked_by_the_rule_id_the_response_names() {
        let change = recorded(FLAT, "AWS::EC2::SecurityGroup", FLAT_GROUP);
        let undo = Case::new("Sg", TEMPLATE).plan(&HANDLER, &change).unwrap();
        let [Call::RevokeSecurityGroupIngress(r)] = undo.calls.as_slice() else {
            panic!("{:?}", undo.calls)
        };
        assert_eq!(
            serde_json::to_value(r).unwrap(),
            json!({"GroupId": FLAT_GROUP, "SecurityGroupRuleIds": ["sgr-09b3e3d2ca1edf2a2"],
                   "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                                      "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]})
        );
        assert!(
            undo.expected.contains("tcp 22-22 from 0.0.0.0/0"),
            "{}",
            undo.expected
        );
        // The read-back finds the rule by its id, whatever it looks like now.
        let rule = ObservedRule {
            id: Some("sgr-09b3e3d2ca1edf2a2".into()),
            egress: Some(false),
            ..ObservedRule::default()
        };
        assert!(!read_back(r, false, &Observed::SecurityGroupRules(vec![rule])).converged);
        assert!(read_back(r, false, &Observed::SecurityGroupRules(vec![])).converged);
    }

    #[test]
    fn a_group_named_by_name_is_revoked_by_the_id_the_response_names() {
        // The CloudTrail source resolves the group from the response's rule set.
        let change = recorded(
            "ec2-authorize-security-group-ingress-group-name.json",
            "AWS::EC2::SecurityGroup",
            "sg-0a1b2c3d4e5f67890",
        );
        assert!(change.request.get("groupId").is_none());
        let undo = Case::new("Sg", TEMPLATE).plan(&HANDLER, &change).unwrap();
        let [Call::RevokeSecurityGroupIngress(r)] = undo.calls.as_slice() else {
            panic!("{:?}", undo.calls)
        };
        assert_eq!(r.group_id, "sg-0a1b2c3d4e5f67890");
        assert_eq!(r.security_group_rule_ids, ["sgr-0e5d4c3b2a1f09876"]);
    }

    #[test]
    fn an_all_protocols_rule_is_declared_whatever_its_ports() {
        // The response describes `-1` rules with ports -1/-1; the template has none.
        let template = [json!({"IpProtocol": "-1", "CidrIp": "10.0.0.0/8"})];
        let permission = IpPermission {
            ip_protocol: "-1".into(),
            from_port: Some(-1),
            to_port: Some(-1),
            ip_ranges: vec![IpRange {
                cidr_ip: "10.0.0.0/8".into(),
            }],
            ..IpPermission::default()
        };
        assert!(declared_in_template(&template, &permission).is_some());
        // tcp keeps its ports: 22 is not the template's 443.
        let template =
            [json!({"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "10.0.0.0/8"})];
        let tcp = IpPermission {
            ip_protocol: "tcp".into(),
            from_port: Some(22),
            to_port: Some(22),
            ..permission
        };
        assert!(declared_in_template(&template, &tcp).is_none());
    }

    #[test]
    fn a_prefix_list_rule_the_template_declares_is_declared() {
        let template = [json!({"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
            "SourcePrefixListId": "pl-0123456789abcdef0"})];
        let permission = IpPermission {
            ip_protocol: "6".into(),
            from_port: Some(443),
            to_port: Some(443),
            prefix_list_ids: vec![PrefixListRef {
                prefix_list_id: "pl-0123456789abcdef0".into(),
            }],
            ..IpPermission::default()
        };
        assert!(declared_in_template(&template, &permission).is_some());
        let other = IpPermission {
            prefix_list_ids: vec![PrefixListRef {
                prefix_list_id: "pl-0fedcba9876543210".into(),
            }],
            ..permission
        };
        assert!(declared_in_template(&template, &other).is_none());
        assert!(protocol_eq("58", "icmpv6"));
    }

    /// Defensive: AWS documents the top-level `CidrIp`/`FromPort`/`IpProtocol`/`ToPort`
    /// of `AuthorizeSecurityGroupEgress` as "Not supported. Use IP permissions
    /// instead.", so no real record has this shape; the handler still revokes
    /// on the egress side if one ever arrives.
    #[test]
    fn the_single_rule_form_on_the_egress_side_is_revoked_there() {
        let mut change = recorded(FLAT, "AWS::EC2::SecurityGroup", FLAT_GROUP);
        change.operation = "AuthorizeSecurityGroupEgress".into();
        change.response["securityGroupRuleSet"]["items"][0]["isEgress"] = json!(true);
        let undo = Case::new("Sg", TEMPLATE).plan(&HANDLER, &change).unwrap();
        let [Call::RevokeSecurityGroupEgress(r)] = undo.calls.as_slice() else {
            panic!("{:?}", undo.calls)
        };
        assert_eq!(r.security_group_rule_ids, ["sgr-09b3e3d2ca1edf2a2"]);
    }

    #[test]
    fn the_single_rule_form_is_checked_against_the_template_and_needs_a_rule_id() {
        let mut change = recorded(FLAT, "AWS::EC2::SecurityGroup", FLAT_GROUP);
        let rule = &mut change.response["securityGroupRuleSet"]["items"][0];
        rule["fromPort"] = json!(443);
        rule["toPort"] = json!(443);
        let err = Case::new("Sg", TEMPLATE)
            .plan(&HANDLER, &change)
            .unwrap_err();
        assert!(err.contains("also declared in the template"), "{err}");

        // Without the response's rule set: the request's own fields describe
        // the rule, but nothing names its id.
        let mut change = recorded(FLAT, "AWS::EC2::SecurityGroup", FLAT_GROUP);
        change.response = json!({"_return": true});
        let err = Case::new("Sg", TEMPLATE)
            .plan(&HANDLER, &change)
            .unwrap_err();
        assert!(err.contains("names no rule id"), "{err}");

        // A rule set that describes the rule by a source this module cannot
        // name: the request's own fields describe it, the id revokes it.
        let mut change = recorded(FLAT, "AWS::EC2::SecurityGroup", FLAT_GROUP);
        let rule = change.response["securityGroupRuleSet"]["items"][0]
            .as_object_mut()
            .unwrap();
        rule.remove("cidrIpv4");
        let undo = Case::new("Sg", TEMPLATE).plan(&HANDLER, &change).unwrap();
        let [Call::RevokeSecurityGroupIngress(r)] = undo.calls.as_slice() else {
            panic!("{:?}", undo.calls)
        };
        assert_eq!(r.ip_permissions[0].ip_ranges[0].cidr_ip, "0.0.0.0/0");
        assert_eq!(r.security_group_rule_ids, ["sgr-09b3e3d2ca1edf2a2"]);
    }

    #[test]
    fn read_back_sees_the_rule_gone_or_still_there() {
        let r = revoke();
        let ssh = ObservedRule {
            id: Some("sgr-1".into()),
            egress: Some(false),
            protocol: Some("tcp".into()),
            from_port: Some(22),
            to_port: Some(22),
            cidr_ipv4: Some("0.0.0.0/0".into()),
            ..ObservedRule::default()
        };
        let https = ObservedRule {
            from_port: Some(443),
            to_port: Some(443),
            ..ssh.clone()
        };
        let rb = read_back(&r, false, &Observed::SecurityGroupRules(vec![ssh.clone()]));
        assert!(
            !rb.converged && rb.detail.contains("sgr-1"),
            "{}",
            rb.detail
        );
        let rb = read_back(&r, false, &Observed::SecurityGroupRules(vec![https]));
        assert!(rb.converged, "{}", rb.detail);
        // The same rule on the egress side is not the one revoked.
        assert!(read_back(&r, true, &Observed::SecurityGroupRules(vec![ssh])).converged);
        assert!(!read_back(&r, false, &Observed::Parameter("x".into())).converged);
    }
}
