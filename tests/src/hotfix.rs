//! The console hot-fix most tests make: a port opened to the world on a
//! security group, through EC2 on the emulator.
use serde_json::{json, Value};

/// Opens `port`/tcp to 0.0.0.0/0 on `group` (AuthorizeSecurityGroupIngress)
/// and returns what CloudTrail logs as that call's `responseElements`: the new
/// rules' ids in `securityGroupRuleSet` (a real record of the call carries
/// them; `events/recorded/` has one).
pub async fn open_port(ec2: &aws_sdk_ec2::Client, group: &str, port: i32) -> Value {
    let authorized = ec2
        .authorize_security_group_ingress()
        .group_id(group)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(port)
                .to_port(port)
                .ip_ranges(
                    aws_sdk_ec2::types::IpRange::builder()
                        .cidr_ip("0.0.0.0/0")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("open port {port} on {group}: {e:?}"));
    let rule_ids: Vec<Value> = authorized
        .security_group_rules()
        .iter()
        .filter_map(|r| r.security_group_rule_id())
        .map(|id| json!({"securityGroupRuleId": id, "groupId": group, "isEgress": false}))
        .collect();
    json!({"_return": true, "securityGroupRuleSet": {"items": rule_ids}})
}

/// [`open_port`] on 22: SSH to the world.
pub async fn open_ssh(ec2: &aws_sdk_ec2::Client, group: &str) -> Value {
    open_port(ec2, group, 22).await
}
