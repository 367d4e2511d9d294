//! `driftguard codify TICKET --template FILE`: the edit that makes the user's
//! template say what the resource now is (the drift was accepted on purpose).
//!
//! The edits come from `driftguard_core::codify` (pure); this module applies them to
//! the template's text:
//! - YAML: a textual edit of `Resources.<LogicalId>.Properties.<Property>`
//!   (replace the property's lines, add them at the end of `Properties`, or
//!   remove them), so comments, short-form intrinsics and layout elsewhere
//!   stay as they are; then the edited file is parsed and the property checked.
//! - JSON: re-serialized only when the file is exactly what `serde_json`'s
//!   pretty printer gives for it, so the diff is the edit alone.
//!
//! The result is a unified diff (the `similar` crate). Where a safe textual
//! edit is not possible (flow-style `Properties: {...}`, a JSON file in
//! another layout, a resource not found), an RFC 6902 JSON Patch of the
//! template instead, with the reason.
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use driftguard_core::codify::{self, yaml_property, yaml_to_json, Codification, Edit};
use driftguard_core::ports::TicketStore;
use driftguard_model::domain::Ticket;
use serde_json::{json, Value};

use crate::ops::Target;

/// What to do to the template.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A unified diff of the file.
    Diff(String),
    /// RFC 6902 operations on the template document, and why not a diff.
    JsonPatch { patch: Value, why: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Codified {
    pub codification: Codification,
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Yaml,
    Json,
}

fn format_of(name: &str, text: &str) -> Format {
    if name.ends_with(".json") || text.trim_start().starts_with('{') {
        Format::Json
    } else {
        Format::Yaml
    }
}

// ------------------------------------------------------------ YAML, as lines

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

/// `key:` at the start of the (trimmed) line; the rest after the colon.
fn key_rest<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let t = line.trim_start();
    for quoted in [key.to_string(), format!("\"{key}\""), format!("'{key}'")] {
        if let Some(rest) = t.strip_prefix(&quoted).and_then(|r| r.strip_prefix(':')) {
            if rest.is_empty() || rest.starts_with(' ') {
                return Some(rest);
            }
        }
    }
    None
}

/// A key's lines: `[key line, end)`, end after its last content line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    key: usize,
    end: usize,
    indent: usize,
}

fn block_end(lines: &[&str], key: usize, key_indent: usize, limit: usize) -> usize {
    let mut end = key + 1;
    for (i, l) in lines.iter().enumerate().take(limit).skip(key + 1) {
        if !is_content(l) {
            continue;
        }
        // A sequence may sit at its key's indent (`Key:` then `- item`).
        let item = indent(l) == key_indent && l.trim_start().starts_with("- ");
        if indent(l) < key_indent || (indent(l) == key_indent && !item) {
            break;
        }
        end = i + 1;
    }
    end
}

/// The child `key` of the block spanning `(from, to)` whose children are
/// indented more than `parent_indent`.
fn child(
    lines: &[&str],
    from: usize,
    to: usize,
    parent_indent: Option<usize>,
    key: &str,
) -> Option<Block> {
    let children = lines[from..to]
        .iter()
        .find(|l| is_content(l) && parent_indent.is_none_or(|p| indent(l) > p))
        .map(|l| indent(l))?;
    (from..to)
        .find(|&i| indent(lines[i]) == children && key_rest(lines[i], key).is_some())
        .map(|i| Block {
            key: i,
            end: block_end(lines, i, children, to),
            indent: children,
        })
}

/// The value on the key's own line (flow style or a scalar), comments removed.
fn inline_value(line: &str, key: &str) -> String {
    let rest = key_rest(line, key).unwrap_or_default();
    rest.split(" #")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Where the resource's properties are.
struct Located {
    resource: Block,
    properties: Option<Block>,
}

fn locate(lines: &[&str], logical_id: &str) -> Result<Located, String> {
    let resources =
        child(lines, 0, lines.len(), None, "Resources").ok_or("no top-level Resources: key")?;
    let resource = child(
        lines,
        resources.key + 1,
        resources.end,
        Some(resources.indent),
        logical_id,
    )
    .ok_or_else(|| format!("no resource {logical_id} under Resources"))?;
    if !inline_value(lines[resource.key], logical_id).is_empty() {
        return Err(format!("{logical_id} is written in flow style"));
    }
    let properties = child(
        lines,
        resource.key + 1,
        resource.end,
        Some(resource.indent),
        "Properties",
    );
    if let Some(p) = properties {
        if !inline_value(lines[p.key], "Properties").is_empty() {
            return Err(format!(
                "{logical_id}'s Properties are written in flow style"
            ));
        }
    }
    Ok(Located {
        resource,
        properties,
    })
}

/// One edit on the lines.
fn edit_lines(lines: &mut Vec<String>, logical_id: &str, edit: &Edit) -> Result<(), String> {
    let view: Vec<&str> = lines.iter().map(String::as_str).collect();
    let at = locate(&view, logical_id)?;
    let property = edit.property();
    let existing = at
        .properties
        .and_then(|p| child(&view, p.key + 1, p.end, Some(p.indent), property));
    let child_indent = |p: Block| {
        view[p.key + 1..p.end]
            .iter()
            .find(|l| is_content(l))
            .map_or(p.indent + 2, |l| indent(l))
    };
    match (edit, existing, at.properties) {
        (Edit::Remove { .. }, Some(b), _) => {
            lines.drain(b.key..b.end);
        }
        (Edit::Remove { .. }, None, _) => {}
        (Edit::Set { value, .. }, Some(b), _) => {
            let new = yaml_property(property, value, b.indent);
            lines.splice(b.key..b.end, new);
        }
        (Edit::Set { value, .. }, None, Some(p)) => {
            let new = yaml_property(property, value, child_indent(p));
            lines.splice(p.end..p.end, new);
        }
        (Edit::Set { value, .. }, None, None) => {
            let r = at.resource;
            let inner = view[r.key + 1..r.end]
                .iter()
                .find(|l| is_content(l))
                .map_or(r.indent + 2, |l| indent(l));
            let mut new = vec![format!("{}Properties:", " ".repeat(inner))];
            new.extend(yaml_property(property, value, inner + 2));
            lines.splice(r.end..r.end, new);
        }
    }
    Ok(())
}

/// The template's `Resources.<id>.Properties` as JSON (intrinsics as `{"!Ref": ..}`).
fn template_properties(doc: &Value, logical_id: &str) -> Option<Value> {
    doc.get("Resources")?
        .get(logical_id)?
        .get("Properties")
        .cloned()
}

fn parse(format: Format, text: &str) -> Result<Value, String> {
    match format {
        Format::Json => serde_json::from_str(text).map_err(|e| e.to_string()),
        Format::Yaml => yaml_serde::from_str::<yaml_serde::Value>(text)
            .map(|v| yaml_to_json(&v))
            .map_err(|e| e.to_string()),
    }
}

/// The edited text parses and says what the edits say.
fn check(format: Format, text: &str, c: &Codification) -> Result<(), String> {
    let doc =
        parse(format, text).map_err(|e| format!("the edited template does not parse: {e}"))?;
    let props = template_properties(&doc, &c.logical_id);
    for e in &c.edits {
        let got = props.as_ref().and_then(|p| p.get(e.property()));
        let ok = match e {
            Edit::Set { value, .. } => got == Some(value),
            Edit::Remove { .. } => got.is_none(),
        };
        if !ok {
            return Err(format!(
                "the edited template does not read back {} as intended",
                e.property()
            ));
        }
    }
    Ok(())
}

fn edit_yaml(text: &str, c: &Codification) -> Result<String, String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for e in &c.edits {
        edit_lines(&mut lines, &c.logical_id, e)?;
    }
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    check(Format::Yaml, &out, c)?;
    Ok(out)
}

fn edit_json(text: &str, doc: &Value, c: &Codification) -> Result<String, String> {
    let pretty = serde_json::to_string_pretty(doc).map_err(|e| e.to_string())?;
    if pretty.trim_end() != text.trim_end() {
        return Err("the JSON file is not laid out as a pretty printer would: a rewrite would touch every line".into());
    }
    let mut edited = doc.clone();
    json_patch::patch(&mut edited, &patch_ops(c, doc)).map_err(|e| e.to_string())?;
    let mut out = serde_json::to_string_pretty(&edited).map_err(|e| e.to_string())?;
    if text.ends_with('\n') {
        out.push('\n');
    }
    check(Format::Json, &out, c)?;
    Ok(out)
}

fn pointer_token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// The edits as RFC 6902 operations on the template document.
fn patch_ops(c: &Codification, doc: &Value) -> json_patch::Patch {
    let base = format!("/Resources/{}/Properties", pointer_token(&c.logical_id));
    let mut ops = Vec::new();
    if template_properties(doc, &c.logical_id).is_none() {
        ops.push(json!({"op": "add", "path": base, "value": {}}));
    }
    let props = template_properties(doc, &c.logical_id).unwrap_or_default();
    for e in &c.edits {
        let path = format!("{base}/{}", pointer_token(e.property()));
        match e {
            Edit::Set { value, .. } => ops.push(json!({"op": "add", "path": path, "value": value})),
            Edit::Remove { .. } if props.get(e.property()).is_some() => {
                ops.push(json!({"op": "remove", "path": path}))
            }
            Edit::Remove { .. } => {}
        }
    }
    serde_json::from_value(Value::Array(ops)).unwrap_or_default()
}

fn unified(old: &str, new: &str, name: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

/// Codify `ticket` against the template `text` (file `name`). Pure.
pub fn codify(ticket: &Ticket, text: &str, name: &str) -> Result<Codified> {
    let format = format_of(name, text);
    let doc = parse(format, text)
        .map_err(|e| anyhow!("{name} is not a template this command can read: {e}"))?;
    let current = template_properties(&doc, &ticket.fingerprint.logical_id);
    let codification = codify::from_ticket(ticket, current.as_ref().or(Some(&json!({}))))?;
    let edited = match format {
        Format::Yaml => edit_yaml(text, &codification),
        Format::Json => edit_json(text, &doc, &codification),
    };
    let output = match edited {
        Ok(new) => Output::Diff(unified(text, &new, name)),
        Err(why) => Output::JsonPatch {
            patch: serde_json::to_value(patch_ops(&codification, &doc)).unwrap_or_default(),
            why,
        },
    };
    Ok(Codified {
        codification,
        output,
    })
}

/// What the command prints.
pub fn render(c: &Codified) -> String {
    let mut out = String::new();
    let cod = &c.codification;
    out.push_str(&format!(
        "# {}: {} {} drift, kept on purpose: {} propert{} to edit\n",
        cod.ticket_id,
        cod.logical_id,
        cod.status.as_str(),
        cod.edits.len(),
        if cod.edits.len() == 1 { "y" } else { "ies" }
    ));
    for n in &cod.notes {
        out.push_str(&format!("# note: {n}\n"));
    }
    match &c.output {
        Output::Diff(d) => out.push_str(d),
        Output::JsonPatch { patch, why } => {
            out.push_str(&format!(
                "# no safe textual edit ({why}); JSON Patch (RFC 6902) of the template:\n"
            ));
            out.push_str(&serde_json::to_string_pretty(patch).unwrap_or_default());
            out.push('\n');
        }
    }
    out
}

/// The ticket from the table, or from a `tickets show --json` file.
pub async fn load_ticket(target: &Target, id: &str, ticket_json: Option<&Path>) -> Result<Ticket> {
    if let Some(path) = ticket_json {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        return serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a ticket (driftguard tickets show ID --json)",
                path.display()
            )
        });
    }
    let store = target.store().await;
    let id = &crate::ops::full_ticket_id(&store, id).await?;
    store
        .get_ticket(id)
        .await
        .with_context(|| format!("read ticket {id} from {}", target.table))?
        .ok_or_else(|| anyhow!("no ticket {id} in table {}", target.table))
}

/// Read the ticket and the template, print the diff (or the patch).
pub async fn run(
    target: &Target,
    id: &str,
    template: &Path,
    ticket_json: Option<&Path>,
) -> Result<()> {
    let ticket = load_ticket(target, id, ticket_json).await?;
    let text = std::fs::read_to_string(template)
        .with_context(|| format!("read the template {}", template.display()))?;
    let name = template
        .file_name()
        .map_or_else(|| "template".into(), |n| n.to_string_lossy().into_owned());
    print!("{}", render(&codify(&ticket, &text, &name)?));
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::demo::app::{ADMIN_POLICY, APP_STACK_TEMPLATE};
    use driftguard_model::domain::out_of_template;
    use driftguard_model::domain::{
        Drift, DriftOrigin, DriftStatus, Fingerprint, Observation, Ownership,
    };

    /// A ticket as detect writes it for a recorded-shape demo event.
    fn ticket_for(fixture: &str, logical_id: &str) -> Ticket {
        let path = format!("{}/../events/detect/{fixture}", env!("CARGO_MANIFEST_DIR"));
        let event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let Observation::Change(change) = driftguard_model::sources::parse_event(&event).unwrap()
        else {
            panic!("{fixture} is not a change")
        };
        let fp = Fingerprint {
            account: change.account.clone(),
            region: change.region.clone(),
            stack: "shop-web".into(),
            logical_id: logical_id.into(),
        };
        let mut t = Ticket::new(fp, &change, &Ownership::NotChecked, change.time);
        t.event_drift = driftguard_model::sources::operations::request_drift(&change);
        t
    }

    fn diff_of(c: &Codified) -> &str {
        match &c.output {
            Output::Diff(d) => d,
            other => panic!("expected a diff, got {other:?}"),
        }
    }

    /// The diff's added and removed lines, without the headers.
    fn changed(diff: &str) -> Vec<&str> {
        diff.lines()
            .filter(|l| {
                (l.starts_with('+') || l.starts_with('-'))
                    && !l.starts_with("+++")
                    && !l.starts_with("---")
            })
            .collect()
    }

    #[test]
    fn attached_managed_policy_out_of_template_adds_managed_policy_arns() {
        let mut t = ticket_for("console-iam-attach-role-policy.json", "AppRole");
        // CloudFormation: IN_SYNC, the template declares no ManagedPolicyArns.
        let cfn = Drift {
            status: DriftStatus::InSync,
            differences: vec![],
            expected_properties: Some(json!({"AssumeRolePolicyDocument": {}, "Tags": []})),
            actual_properties: None,
            origin: DriftOrigin::Cloudformation,
            detected_at: None,
        };
        t.event_drift = out_of_template(&cfn, t.event_drift.as_ref());
        t.drift = Some(cfn);
        let c = codify(&t, APP_STACK_TEMPLATE, "app-stack.yaml").unwrap();
        assert_eq!(c.codification.status, DriftStatus::OutOfTemplate);
        let d = diff_of(&c);
        assert_eq!(
            changed(d),
            [
                "+      ManagedPolicyArns:".to_string(),
                format!("+      - {ADMIN_POLICY}")
            ],
            "{d}"
        );
        assert!(
            d.starts_with("--- a/app-stack.yaml\n+++ b/app-stack.yaml\n"),
            "{d}"
        );
        // The new property sits after the role's Tags, inside Properties.
        assert!(
            d.contains("        - { Key: app, Value: shop-web }\n+      ManagedPolicyArns:"),
            "{d}"
        );
    }

    #[test]
    fn ssh_opened_on_a_security_group_appends_the_rule_and_keeps_comments() {
        let t = ticket_for("console-sg-ingress.json", "WebSecurityGroup");
        let c = codify(&t, APP_STACK_TEMPLATE, "app-stack.yaml").unwrap();
        let d = diff_of(&c);
        let lines = changed(d);
        // The property's value is rewritten as a block list: the template's
        // rule first, then the one opened by hand.
        assert_eq!(
            lines[0],
            "-        - { IpProtocol: tcp, FromPort: 443, ToPort: 443, CidrIp: 0.0.0.0/0 }",
            "{d}"
        );
        assert!(lines.contains(&"+      - CidrIp: 0.0.0.0/0"), "{d}");
        assert!(
            lines.contains(&"+        Description: temp ssh for debugging"),
            "{d}"
        );
        assert!(lines.contains(&"+        FromPort: 22"), "{d}");
        assert!(
            d.contains("       SecurityGroupIngress:\n-        - {"),
            "the key line is kept: {d}"
        );
        // Nothing else moves: the comment above the resource is context, not changed.
        assert!(!lines.iter().any(|l| l.contains('#')), "{d}");
        // Both rules are in the edited template, the template's first.
        let Output::Diff(_) = &c.output else {
            unreachable!()
        };
        let Edit::Set { value, .. } = &c.codification.edits[0] else {
            panic!("{:?}", c.codification.edits)
        };
        assert_eq!(value[0]["FromPort"], 443);
        assert_eq!(value[1]["FromPort"], 22);
    }

    #[test]
    fn a_flag_flipped_by_hand_replaces_the_intrinsic_with_the_value_and_says_so() {
        let t = ticket_for("console-ssm-put-parameter.json", "FeatureFlagsParameter");
        let c = codify(&t, APP_STACK_TEMPLATE, "app-stack.yaml").unwrap();
        let d = diff_of(&c);
        assert_eq!(
            changed(d),
            [
                "-      Value: !Ref FeatureFlags",
                "+      Value: '{\"newCheckout\":true}'"
            ],
            "{d}"
        );
        assert!(c.codification.notes.iter().any(|n| n.contains("intrinsic")));
        assert!(render(&c).contains("# note: Value was an intrinsic function"));
    }

    #[test]
    fn a_removed_public_access_block_removes_the_property() {
        let t = ticket_for("console-s3-delete-public-access-block.json", "AssetsBucket");
        let c = codify(&t, APP_STACK_TEMPLATE, "app-stack.yaml").unwrap();
        let lines = changed(diff_of(&c)).len();
        assert_eq!(lines, 5, "the key and its four settings");
    }

    #[test]
    fn json_templates_get_a_diff_when_pretty_printed_and_a_patch_otherwise() {
        let yaml: yaml_serde::Value = yaml_serde::from_str(APP_STACK_TEMPLATE).unwrap();
        let doc = yaml_to_json(&yaml);
        let pretty = serde_json::to_string_pretty(&doc).unwrap() + "\n";
        let t = ticket_for("console-sg-ingress.json", "WebSecurityGroup");
        let c = codify(&t, &pretty, "app-stack.json").unwrap();
        let d = diff_of(&c);
        assert!(d.contains("+            \"CidrIp\": \"0.0.0.0/0\","), "{d}");
        let compact = serde_json::to_string(&doc).unwrap();
        let c = codify(&t, &compact, "app-stack.json").unwrap();
        let Output::JsonPatch { patch, why } = &c.output else {
            panic!("{:?}", c.output)
        };
        assert!(why.contains("pretty"), "{why}");
        assert_eq!(patch[0]["op"], "add");
        assert_eq!(
            patch[0]["path"],
            "/Resources/WebSecurityGroup/Properties/SecurityGroupIngress"
        );
        // The patch applies to the template and gives the same properties.
        let mut patched = doc.clone();
        json_patch::patch(
            &mut patched,
            &serde_json::from_value::<json_patch::Patch>(patch.clone()).unwrap(),
        )
        .unwrap();
        assert_eq!(
            patched["Resources"]["WebSecurityGroup"]["Properties"]["SecurityGroupIngress"][1]
                ["FromPort"],
            22
        );
    }

    #[test]
    fn flow_style_properties_fall_back_to_a_json_patch() {
        let template =
            "Resources:\n  AppRole:\n    Type: AWS::IAM::Role\n    Properties: { RoleName: app }\n";
        let mut t = ticket_for("console-iam-attach-role-policy.json", "AppRole");
        if let Some(d) = t.event_drift.as_mut() {
            d.status = DriftStatus::OutOfTemplate;
        }
        let c = codify(&t, template, "t.yaml").unwrap();
        let Output::JsonPatch { why, .. } = &c.output else {
            panic!("{:?}", c.output)
        };
        assert!(why.contains("flow style"), "{why}");
    }

    #[test]
    fn an_unknown_logical_id_is_a_patch_with_the_reason_and_a_bad_file_an_error() {
        let t = ticket_for("console-sg-ingress.json", "NoSuchGroup");
        let c = codify(&t, APP_STACK_TEMPLATE, "app-stack.yaml").unwrap();
        let Output::JsonPatch { why, .. } = &c.output else {
            panic!("{:?}", c.output)
        };
        assert!(why.contains("no resource NoSuchGroup"), "{why}");
        let e = codify(&t, "Resources: [", "bad.yaml").unwrap_err();
        assert!(e.to_string().contains("bad.yaml"), "{e}");
    }
}
