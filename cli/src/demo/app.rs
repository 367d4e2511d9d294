//! The sample application (`examples/app-stack.yaml`), deployed through
//! CloudFormation, and the five changes made to it behind CloudFormation's back,
//! each with the CloudTrail-shaped event AWS would emit for it: the matching
//! `events/detect` fixture with the real ids, ARNs, values and times substituted.
use std::collections::HashMap;

use anyhow::{anyhow, bail, Context, Result};
use aws_config::SdkConfig;
use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::emulator::resources;

pub const APP_STACK_TEMPLATE: &str = include_str!("../../../examples/app-stack.yaml");
pub const STACK_NAME: &str = "shop-web";
pub const ADMIN_POLICY: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
pub const FLAGS_PARAMETER: &str = "/shop/checkout/feature-flags";
pub const FLAGS_TEMPLATE_VALUE: &str = r#"{"newCheckout":false}"#;
pub const FLAGS_HOTFIX_VALUE: &str = r#"{"newCheckout":true}"#;
pub const RELEASE_PARAMETER: &str = "/shop/release";
pub const RELEASE_PIPELINE_VALUE: &str = "2026.11.2";
pub const BREAK_GLASS_CIDR: &str = "203.0.113.25/32";

const CONSOLE_SG_INGRESS: &str = include_str!("../../../events/detect/console-sg-ingress.json");
const CONSOLE_SSM_PUT: &str = include_str!("../../../events/detect/console-ssm-put-parameter.json");
const CONSOLE_IAM_ATTACH: &str =
    include_str!("../../../events/detect/console-iam-attach-role-policy.json");
const PIPELINE_SSM_PUT: &str =
    include_str!("../../../events/detect/pipeline-ssm-put-parameter.json");
const BREAK_GLASS_SG_INGRESS: &str =
    include_str!("../../../events/detect/break-glass-console-sg-ingress.json");

/// What must have happened to a change by the end of the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Ticketed, reverted, verified, ticket RESOLVED.
    Reverted,
    /// The pipeline's change: still in place, no open ticket (a closed ALLOWED record).
    Allowed,
    /// Break-glass: ticketed (OPEN), the change still in place.
    TicketedNotReverted,
}

impl Expect {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Reverted => "reverted",
            Self::Allowed => "allowed",
            Self::TicketedNotReverted => "ticketed",
        }
    }
}

/// The deployed stack: logical id → physical id.
#[derive(Debug, Clone)]
pub struct AppStack {
    pub name: String,
    pub physical: HashMap<String, String>,
}

impl AppStack {
    pub fn id(&self, logical: &str) -> Result<&str> {
        self.physical
            .get(logical)
            .map(String::as_str)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| anyhow!("stack {} has no physical id for {logical}", self.name))
    }
}

/// One change made to the application behind CloudFormation's back.
#[derive(Debug, Clone)]
pub struct Scene {
    pub title: &'static str,
    /// Who did it, in words.
    pub who: &'static str,
    /// What they did, in words.
    pub did: String,
    pub logical_id: &'static str,
    pub expect: Expect,
    /// The EventBridge envelope (CloudTrail record) to deliver.
    pub event: Value,
}

impl Scene {
    pub fn cloudtrail_event_id(&self) -> &str {
        self.event["detail"]["eventID"].as_str().unwrap_or_default()
    }

    pub fn api(&self) -> String {
        let source = self.event["source"].as_str().unwrap_or_default();
        let name = self.event["detail"]["eventName"]
            .as_str()
            .unwrap_or_default();
        format!("{}:{name}", source.trim_start_matches("aws."))
    }
}

pub async fn deploy(sdk: &SdkConfig) -> Result<AppStack> {
    let cfn = aws_sdk_cloudformation::Client::new(sdk);
    cfn.create_stack()
        .stack_name(STACK_NAME)
        .template_body(APP_STACK_TEMPLATE)
        .capabilities(aws_sdk_cloudformation::types::Capability::CapabilityIam)
        .tags(
            aws_sdk_cloudformation::types::Tag::builder()
                .key("app")
                .value("shop-web")
                .build(),
        )
        .send()
        .await
        .context("create stack shop-web from examples/app-stack.yaml")?;
    resources::wait_for_stack(&cfn, STACK_NAME).await?;
    let physical = resources::physical_ids(&cfn, STACK_NAME).await?;
    let app = AppStack {
        name: STACK_NAME.to_string(),
        physical,
    };
    // moto skips a bucket's PublicAccessBlockConfiguration: apply what the
    // template declares, as CloudFormation would have.
    let bucket = app.id("AssetsBucket")?;
    s3_client(sdk)
        .put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .with_context(|| format!("put the public access block on {bucket}"))?;
    Ok(app)
}

/// The CloudTrail event of a console user opening tcp/22 from `cidr` on
/// `group` (`events/detect/console-sg-ingress.json` with fresh ids, the time,
/// and the rules the real call created).
pub fn console_sg_ingress_event(
    group: &str,
    cidr: &str,
    why: &str,
    response: Value,
) -> Result<Value> {
    from_fixture(CONSOLE_SG_INGRESS, 1, |e| {
        set_ingress(e, group, cidr, why, response)
    })
}

pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}

/// A fresh id in the shape of a UUID (unique per run and per event).
fn fresh_id(seq: u32) -> String {
    let n = Utc::now().timestamp_nanos_opt().unwrap_or_default() as u128;
    let x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (u128::from(seq) << 64);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (x >> 96) as u32,
        (x >> 80) as u16,
        (x >> 68) as u16 & 0xfff,
        (x >> 56) as u16 & 0xfff,
        x as u64 & 0xffff_ffff_ffff
    )
}

/// The fixture with fresh ids and the current time; `edit` substitutes the rest.
fn from_fixture(fixture: &str, seq: u32, edit: impl FnOnce(&mut Value)) -> Result<Value> {
    let mut event: Value = serde_json::from_str(fixture).context("an events/detect fixture")?;
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    event["id"] = json!(fresh_id(seq * 3));
    event["time"] = json!(now);
    let detail = &mut event["detail"];
    detail["eventID"] = json!(fresh_id(seq * 3 + 1));
    detail["requestID"] = json!(fresh_id(seq * 3 + 2));
    detail["eventTime"] = json!(now);
    edit(&mut event);
    Ok(event)
}

/// `securityGroupRuleSet` items as CloudTrail records them, from the real call.
fn rule_set(
    out: &aws_sdk_ec2::operation::authorize_security_group_ingress::AuthorizeSecurityGroupIngressOutput,
) -> Value {
    let items: Vec<Value> = out
        .security_group_rules()
        .iter()
        .map(|r| {
            json!({
                "groupOwnerId": r.group_owner_id(),
                "groupId": r.group_id(),
                "securityGroupRuleId": r.security_group_rule_id(),
                "isEgress": r.is_egress(),
                "ipProtocol": r.ip_protocol(),
                "fromPort": r.from_port(),
                "toPort": r.to_port(),
                "cidrIpv4": r.cidr_ipv4(),
                "description": r.description(),
            })
        })
        .collect();
    json!({ "_return": true, "securityGroupRuleSet": { "items": items } })
}

/// Open tcp/22 from `cidr` on `group`; the rules created, as CloudTrail records them.
pub async fn open_ssh(
    ec2: &aws_sdk_ec2::Client,
    group: &str,
    cidr: &str,
    why: &str,
) -> Result<Value> {
    let out = ec2
        .authorize_security_group_ingress()
        .group_id(group)
        .ip_permissions(
            aws_sdk_ec2::types::IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(
                    aws_sdk_ec2::types::IpRange::builder()
                        .cidr_ip(cidr)
                        .description(why)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .with_context(|| format!("open tcp/22 from {cidr} on {group}"))?;
    Ok(rule_set(&out))
}

fn set_ingress(event: &mut Value, group: &str, cidr: &str, why: &str, response: Value) {
    let request = &mut event["detail"]["requestParameters"];
    request["groupId"] = json!(group);
    request["ipPermissions"]["items"][0]["ipRanges"]["items"] =
        json!([{ "cidrIp": cidr, "description": why }]);
    event["detail"]["responseElements"] = response;
}

async fn put_parameter(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) -> Result<i64> {
    Ok(ssm
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .with_context(|| format!("put parameter {name}"))?
        .version())
}

fn set_parameter(event: &mut Value, name: &str, value: &str, version: i64) {
    let request = &mut event["detail"]["requestParameters"];
    request["name"] = json!(name);
    request["value"] = json!(value);
    event["detail"]["responseElements"]["version"] = json!(version);
}

/// Who makes a change, in words, and what the demo expects of it.
struct Head {
    title: &'static str,
    who: &'static str,
    logical_id: &'static str,
    expect: Expect,
}

impl Head {
    fn scene(self, did: String, event: Value) -> Scene {
        Scene {
            title: self.title,
            who: self.who,
            did,
            logical_id: self.logical_id,
            expect: self.expect,
            event,
        }
    }
}

/// tcp/22 opened from `cidr` on `group`, and its CloudTrail record (`fixture`).
async fn ssh_scene(
    ec2: &aws_sdk_ec2::Client,
    head: Head,
    (group, cidr, why): (&str, &str, &str),
    (fixture, seq): (&str, u32),
) -> Result<Scene> {
    let response = open_ssh(ec2, group, cidr, why).await?;
    let event = from_fixture(fixture, seq, |e| set_ingress(e, group, cidr, why, response))?;
    Ok(head.scene(format!("opened tcp/22 to {cidr} on {group}"), event))
}

/// The parameter `name` set to `value`, and its CloudTrail record (`fixture`).
async fn parameter_scene(
    ssm: &aws_sdk_ssm::Client,
    head: Head,
    (name, value): (&str, &str),
    (fixture, seq): (&str, u32),
) -> Result<Scene> {
    let version = put_parameter(ssm, name, value).await?;
    let event = from_fixture(fixture, seq, |e| set_parameter(e, name, value, version))?;
    Ok(head.scene(format!("set {name} to {value}"), event))
}

/// AdministratorAccess attached to `role` in the console.
async fn admin_scene(iam: &aws_sdk_iam::Client, role: &str) -> Result<Scene> {
    iam.attach_role_policy()
        .role_name(role)
        .policy_arn(ADMIN_POLICY)
        .send()
        .await
        .with_context(|| format!("attach AdministratorAccess to {role}"))?;
    let event = from_fixture(CONSOLE_IAM_ATTACH, 3, |e| {
        e["detail"]["requestParameters"] = json!({ "roleName": role, "policyArn": ADMIN_POLICY });
    })?;
    let head = Head {
        title: "console hot-fix: AdministratorAccess attached",
        who: "alice@example.com (console)",
        logical_id: "AppRole",
        expect: Expect::Reverted,
    };
    Ok(head.scene(
        format!("attached AdministratorAccess to role {role}"),
        event,
    ))
}

/// The five changes, made through the resources' own APIs (moto does not check
/// who calls: the principal is the one the CloudTrail record names).
pub async fn make_changes(sdk: &SdkConfig, app: &AppStack) -> Result<Vec<Scene>> {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let ssm = aws_sdk_ssm::Client::new(sdk);
    let console = "alice@example.com (console)";
    Ok(vec![
        ssh_scene(
            &ec2,
            Head {
                title: "console hot-fix: SSH opened to the world",
                who: console,
                logical_id: "WebSecurityGroup",
                expect: Expect::Reverted,
            },
            (
                app.id("WebSecurityGroup")?,
                "0.0.0.0/0",
                "temp ssh for debugging",
            ),
            (CONSOLE_SG_INGRESS, 1),
        )
        .await?,
        parameter_scene(
            &ssm,
            Head {
                title: "console hot-fix: feature flag flipped by hand",
                who: console,
                logical_id: "FeatureFlagsParameter",
                expect: Expect::Reverted,
            },
            (FLAGS_PARAMETER, FLAGS_HOTFIX_VALUE),
            (CONSOLE_SSM_PUT, 2),
        )
        .await?,
        admin_scene(&aws_sdk_iam::Client::new(sdk), app.id("AppRole")?).await?,
        parameter_scene(
            &ssm,
            Head {
                title: "pipeline: release recorded by the deploy role",
                who: "deploy-pipeline (codepipeline-deploy)",
                logical_id: "ReleaseParameter",
                expect: Expect::Allowed,
            },
            (RELEASE_PARAMETER, RELEASE_PIPELINE_VALUE),
            (PIPELINE_SSM_PUT, 4),
        )
        .await?,
        ssh_scene(
            &ec2,
            Head {
                title: "break-glass: on-call opens SSH during an incident",
                who: "BreakGlass (oncall-carol, console)",
                logical_id: "BastionSecurityGroup",
                expect: Expect::TicketedNotReverted,
            },
            (
                app.id("BastionSecurityGroup")?,
                BREAK_GLASS_CIDR,
                "INC-4711 vendor ssh",
            ),
            (BREAK_GLASS_SG_INGRESS, 5),
        )
        .await?,
    ])
}

/// Put one CloudTrail-shaped envelope on the default bus, where AWS would put it.
pub async fn deliver(events: &aws_sdk_eventbridge::Client, envelope: &Value) -> Result<()> {
    let text = |k: &str| envelope[k].as_str().unwrap_or_default().to_string();
    let out = events
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .source(text("source"))
                .detail_type(text("detail-type"))
                .detail(envelope["detail"].to_string())
                .event_bus_name("default")
                .build(),
        )
        .send()
        .await
        .context("PutEvents on the default bus")?;
    if out.failed_entry_count() > 0 {
        let why = out
            .entries()
            .iter()
            .filter_map(|e| e.error_message())
            .collect::<Vec<_>>()
            .join("; ");
        bail!("PutEvents rejected the event: {why}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fixtures_get_fresh_ids_and_times_and_keep_their_shape() {
        let a = from_fixture(CONSOLE_SSM_PUT, 1, |e| set_parameter(e, "/x", "v", 7)).unwrap();
        let b = from_fixture(CONSOLE_SSM_PUT, 2, |_| {}).unwrap();
        assert_ne!(a["detail"]["eventID"], b["detail"]["eventID"]);
        assert_ne!(a["id"], a["detail"]["eventID"]);
        assert_eq!(a["detail"]["requestParameters"]["name"], "/x");
        assert_eq!(a["detail"]["responseElements"]["version"], 7);
        assert_eq!(a["detail"]["sessionCredentialFromConsole"], "true");
        let parsed = driftguard_model::sources::parse_event(&a).unwrap();
        assert!(
            matches!(parsed, driftguard_model::domain::Observation::Change(_)),
            "{parsed:?}"
        );
    }

    #[test]
    fn every_fixture_the_demo_uses_parses() {
        for f in [
            CONSOLE_SG_INGRESS,
            CONSOLE_SSM_PUT,
            CONSOLE_IAM_ATTACH,
            PIPELINE_SSM_PUT,
            BREAK_GLASS_SG_INGRESS,
        ] {
            let e = from_fixture(f, 9, |_| {}).unwrap();
            driftguard_model::sources::parse_event(&e).unwrap();
        }
    }
}
