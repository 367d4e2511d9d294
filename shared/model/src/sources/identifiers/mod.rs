//! Identifiers of a write no operation row lists: every ARN and id the
//! CloudTrail record offers (`resources[]`, `requestParameters`,
//! `responseElements`), in the forms CloudFormation stores physical ids in, so
//! that the ownership index can be asked for them (the catalog's
//! `owner_of_identifiers`).
//!
//! Bounded whatever the record: at most [`LIMITS`]`.max_nodes` JSON values
//! are visited, [`LIMITS`]`.max_depth` levels deep, strings longer than
//! [`LIMITS`]`.max_len` bytes are skipped and at most
//! [`LIMITS`]`.max_identifiers` forms are kept. Never panics
//! (`shared/model/tests/identifiers_props.rs`).
//!
//! Order is priority, and the same in every build (object keys are visited
//! sorted, breadth first): `resources[]` first, then the request, then the
//! response, shallow values before nested ones, so a call's target
//! (`groupId`) comes before a group its rules merely mention. Only
//! `resources[]` is *listed* ([`Extracted::listed`]): CloudTrail's own list of
//! the resources the call accessed. The request is the caller's own words and a
//! response may echo them (`RunInstances`' `groupSet`,
//! `UpdateFunctionConfiguration`'s `Role`; CloudTrail documents
//! `responseElements` only as "The response element for actions that make
//! changes", CloudTrail record contents,
//! <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html>),
//! so an owner found only through them never outranks one `resources[]` names,
//! and owners of two stacks found through them leave the owner unknown
//! ([`pick`]).
//!
//! Strings under free-text keys (`description`, `comment`, `value`, …) are
//! never identifiers: a caller writes any ARN there.
//!
//! Objects and arrays under tag and environment keys (`tags`, `tagSet`,
//! `Tagging`, `tagSpecificationSet`, `tagList`, `environment`, `variables`)
//! are never read for identifiers: their keys are the caller's
//! (`{"FunctionName": "prod-orders"}` as a tag), not an API's parameter names.
mod forms;
mod targets;

use std::collections::VecDeque;

use serde_json::Value;

pub use forms::{canonical_queue_url, physical_id_forms, queue_url};
pub use targets::{
    ambiguous_reason, fit, is_custom_resource, is_parent_scoped, may_target, owner_label, pick,
    unproven_reason, Pick,
};

use crate::domain::{Change, ChangeSource};

/// The bounds of one extraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// JSON levels below `requestParameters` / `responseElements` (1: their own keys).
    pub max_depth: usize,
    /// JSON values visited in all, `resources[]` included.
    pub max_nodes: usize,
    /// Identifier forms kept.
    pub max_identifiers: usize,
    /// Longest string considered, in bytes.
    pub max_len: usize,
}

/// The bounds detect uses.
pub const LIMITS: Limits = Limits {
    // Deep enough for EC2's nesting (`RunInstances`' response reaches
    // `instancesSet.items[].networkInterfaceSet.items[].groupSet.items[]`):
    // the walk is a queue, bounded by `max_nodes`, not by the stack.
    max_depth: 32,
    max_nodes: 2_048,
    max_identifiers: 32,
    max_len: 2_048,
};

/// A record's identifiers, in priority order (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    /// Every identifier form, most telling first.
    pub ids: Vec<String>,
    /// How many of the first `ids` come from `resources[]` (CloudTrail's own
    /// list of the resources the call accessed).
    pub listed: usize,
    /// The identifier or node bound stopped the walk ([`Limits`]): the
    /// record may name more.
    pub truncated: bool,
}

/// The identifiers of one record, in priority order (see the module docs).
pub fn extract(resources: Option<&Value>, request: &Value, response: &Value) -> Vec<String> {
    extract_ranked(resources, request, response, LIMITS).ids
}

/// [`extract`] with explicit bounds.
pub fn extract_with(
    resources: Option<&Value>,
    request: &Value,
    response: &Value,
    limits: Limits,
) -> Vec<String> {
    extract_ranked(resources, request, response, limits).ids
}

/// The identifiers with how many `resources[]` gave (see [`Extracted`]).
pub fn extract_ranked(
    resources: Option<&Value>,
    request: &Value,
    response: &Value,
    limits: Limits,
) -> Extracted {
    let mut c = Collector {
        out: Vec::new(),
        nodes: 0,
        limits,
        cut: false,
    };
    c.resources(resources);
    let listed = c.out.len();
    c.walk(request);
    c.walk(response);
    Extracted {
        truncated: c.full() || c.cut,
        ids: c.out,
        listed,
    }
}

/// Does `change` come from a CloudTrail write no operation row lists (the
/// calls whose owner is found from [`extract`]'s identifiers)?
pub fn is_unlisted(change: &Change) -> bool {
    change.source == ChangeSource::Cloudtrail
        && super::operations::lookup(&change.service, &change.operation).is_none()
}

struct Collector {
    out: Vec<String>,
    nodes: usize,
    limits: Limits,
    /// Something was left unvisited (the queue cut at `max_nodes`).
    cut: bool,
}

impl Collector {
    fn full(&self) -> bool {
        self.out.len() >= self.limits.max_identifiers || self.nodes >= self.limits.max_nodes
    }

    fn add_forms(&mut self, raw: &str, resource_type: Option<&str>) {
        for form in physical_id_forms(raw, resource_type) {
            if self.out.len() >= self.limits.max_identifiers {
                return;
            }
            if form.len() <= self.limits.max_len && !self.out.contains(&form) {
                self.out.push(form);
            }
        }
    }

    /// `resources[].ARN` (CloudTrail's "list of resources accessed in the event").
    fn resources(&mut self, resources: Option<&Value>) {
        let Some(items) = resources.and_then(Value::as_array) else {
            return;
        };
        for item in items {
            if self.full() {
                return;
            }
            self.nodes += 1;
            let arn = item.get("ARN").and_then(Value::as_str);
            let usable = |a: &&str| {
                a.len() <= self.limits.max_len && is_arn(a) && !a.chars().any(char::is_control)
            };
            if let Some(arn) = arn.filter(usable) {
                let resource_type = item.get("type").and_then(Value::as_str);
                self.add_forms(arn, resource_type);
            }
        }
    }

    /// Breadth first, keys sorted, each string classified by its shape and the
    /// key it sits under (an array's items sit under the array's key).
    fn walk(&mut self, root: &Value) {
        let mut queue: VecDeque<(&Value, Option<&str>, usize)> = VecDeque::new();
        queue.push_back((root, None, 0));
        while let Some((value, key, depth)) = queue.pop_front() {
            if self.full() {
                return;
            }
            self.nodes += 1;
            let deeper = depth < self.limits.max_depth;
            match value {
                Value::String(s) => {
                    if let Some(raw) = classify(key, s, self.limits.max_len) {
                        self.add_forms(&raw, None);
                    }
                }
                Value::Object(map) if deeper => {
                    let mut keys: Vec<&String> = map
                        .iter()
                        .filter(|(k, v)| !(is_callers_map(k) && (v.is_object() || v.is_array())))
                        .map(|(k, _)| k)
                        .collect();
                    keys.sort();
                    for k in keys {
                        if let Some(v) = map.get(k) {
                            queue.push_back((v, Some(k), depth + 1));
                        }
                    }
                }
                Value::Array(items) if deeper => {
                    for v in items {
                        queue.push_back((v, key, depth + 1));
                    }
                }
                _ => {}
            }
            // The queue itself is bounded by what is left to visit.
            if queue.len() > self.limits.max_nodes {
                queue.truncate(self.limits.max_nodes);
                self.cut = true;
            }
        }
    }
}

/// The identifier a string is, in the form to look up; `None`: not one.
fn classify(key: Option<&str>, s: &str, max_len: usize) -> Option<String> {
    if key.is_some_and(is_free_text) {
        return None;
    }
    let s = s.trim();
    if s.is_empty() || s.len() > max_len || s.chars().any(char::is_control) {
        return None;
    }
    if s.starts_with("arn:") {
        return is_arn(s).then(|| s.to_string());
    }
    if s.starts_with("https://") || s.starts_with("http://") {
        return canonical_queue_url(s);
    }
    if is_resource_id(s) || is_iam_unique_id(s) {
        return Some(s.to_string());
    }
    let named = key.is_some_and(is_identifying_key);
    (named && is_plain_name(s)).then(|| s.to_string())
}

/// Keys whose strings are free text the caller writes (any ARN may appear in
/// a description): never read for identifiers.
fn is_free_text(key: &str) -> bool {
    const KEYS: &[&str] = &[
        "description",
        "comment",
        "comments",
        "message",
        "reason",
        "note",
        "notes",
        "value",
        "values",
        "text",
        "summary",
        "label",
        "title",
    ];
    KEYS.contains(&key.to_ascii_lowercase().as_str())
}

/// `arn:partition:service:region:account:resource` with a service and a resource.
pub fn is_arn(s: &str) -> bool {
    let mut parts = s.splitn(6, ':');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("arn"), Some(p), Some(svc), Some(_), Some(_), Some(res))
            if !p.is_empty() && !svc.is_empty() && !res.is_empty()
    )
}

/// An EC2-style resource id: lower-case prefix words joined by `-`, then hex
/// digits (`sg-0a1b2c3d4e5f67890`, `eipalloc-…`, `tgw-attach-…`). "Prior to
/// January 2016, the IDs assigned to newly created resources of certain
/// resource types used 8 characters after the hyphen (for example,
/// i-1a2b3c4d). From January 2016 to June 2018, we changed the IDs of these
/// resource types to use 17 characters after the hyphen (for example,
/// i-1234567890abcdef0)" (EC2 User Guide, resource IDs,
/// <https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/resource-ids.html>).
/// Anything from 8 to 17 is taken: a recorded event names `i-012345abcde`
/// (`events/recorded/ec2-modify-instance-attribute.json`).
pub fn is_resource_id(s: &str) -> bool {
    let Some((prefix, hex)) = s.rsplit_once('-') else {
        return false;
    };
    (8..=17).contains(&hex.len())
        && hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        && !prefix.is_empty()
        && prefix.len() <= 24
        && prefix
            .split('-')
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
}

/// An IAM unique id of a user (`AIDA`), role (`AROA`), group (`AGPA`), managed
/// policy (`ANPA`) or instance profile (`AIPA`): "unique IDs ... begin with a
/// prefix that indicates the type of resource" (IAM User Guide, IAM
/// identifiers, <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids>).
/// Access key ids (`AKIA`, `ASIA`) are not resources.
pub fn is_iam_unique_id(s: &str) -> bool {
    ["AIDA", "AROA", "AGPA", "ANPA", "AIPA"]
        .iter()
        .any(|p| s.starts_with(p))
        && (16..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Keys that name a resource: `…Name`, `…Id`, `…Arn`, `…Url`,
/// `…Identifier` (and their plurals), `bucket`. Not the caller's or the
/// request's own ids.
fn is_identifying_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let k = k.strip_suffix('s').unwrap_or(&k);
    if matches!(
        k,
        "accountid" | "requestid" | "ownerid" | "clientrequestid" | "principalid" | "eventid"
    ) {
        return false;
    }
    ["name", "id", "arn", "url", "identifier"]
        .iter()
        .any(|suffix| k.ends_with(suffix))
        // SES names an identity by `identity` / `emailIdentity`, EventBridge a
        // rule by `rule` (PutTargets, RemoveTargets).
        || matches!(k, "bucket" | "identity" | "emailidentity" | "rule")
}

/// Keys whose object or array values are keyed by the caller (tags,
/// environment variables): nothing under them is an identifier.
fn is_callers_map(key: &str) -> bool {
    const KEYS: &[&str] = &[
        "tags",
        "tag",
        "tagset",
        "tagging",
        "taglist",
        "tagspecificationset",
        "tagspecifications",
        "environment",
        "variables",
    ];
    KEYS.contains(&key.to_ascii_lowercase().as_str())
}

/// A name as resources are named: printable, no line breaks, not a document.
fn is_plain_name(s: &str) -> bool {
    s.len() <= 512 && !s.starts_with(['{', '[', '<']) && s.chars().all(|c| !c.is_control())
}

#[cfg(test)]
mod tests;
