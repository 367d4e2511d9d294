//! The fast paths of [`super::parse_bytes`]: a typed one for CloudTrail API-call
//! events (the bulk of what the detect function sees) and a pruned-`Value` one
//! for everything else ([`parse_pruned`]).
//!
//! Instead of building a `serde_json::Value` of the whole ~2 KB record and walking
//! it, the bytes are deserialized in one pass into borrowed views holding only the
//! fields [`super::cloudtrail`] reads (`requestParameters`, `responseElements` and
//! `resources` are still built as `Value`s: the change keeps them). Every other
//! value is still fully checked (UTF-8, escapes, numbers, depth) but not stored,
//! so the fast path accepts exactly the documents the `Value` parser accepts.
//!
//! It answers only when it is sure: any surprise (another kind of event, a wrongly
//! typed field, a missing field, bad JSON, an invalid time) makes it return `None`
//! and the caller runs the `Value` parser, which produces the same result or the
//! precise, field-naming error. Duplicate keys keep the last value, as `Value` does.
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::cloudtrail::{self, IdentityFields, Record};
use super::{kind_of, Envelope, EnvelopeHeader, Kind, ParsedEnvelope, SourceError};
use crate::domain::Observation;

/// The key `serde_json::Value` treats specially (a raw value in disguise) when it
/// opens an object; seeing it anywhere sends the event to the `Value` parser.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// `Some` when `bytes` is a CloudTrail API-call event that parses cleanly; the
/// observation is then exactly what the `Value` parser would return.
pub(crate) fn parse_cloudtrail(bytes: &[u8]) -> Option<Observation> {
    parse_cloudtrail_envelope(bytes).and_then(|p| p.observation.ok())
}

/// [`parse_cloudtrail`] with the envelope's header (`Ok` whenever `Some`).
pub(crate) fn parse_cloudtrail_envelope(bytes: &[u8]) -> Option<ParsedEnvelope> {
    let View(view) = serde_json::from_str::<View<EnvelopeView<'_>>>(utf8(bytes)?).ok()?;
    let source = view.source?;
    let detail_type = view.detail_type?;
    if kind_of(&source, &detail_type) != Some(Kind::CloudTrail) {
        return None;
    }
    let d = view.detail?;
    let no_detail = Map::new();
    let envelope = Envelope {
        id: view.id.as_deref(),
        account: view.account.as_deref(),
        time: view.time.as_deref(),
        region: view.region.as_deref(),
        detail: &no_detail,
    };
    // The same checks, in the same terms, as `cloudtrail::parse`.
    let event_name = d.event_name.as_deref().filter(|s| !s.is_empty())?;
    let event_source = d.event_source.as_deref().filter(|s| !s.is_empty())?;
    let event_id = envelope.event_id(d.event_id.as_deref()).ok()?;
    let time = envelope
        .time(d.event_time.as_deref(), "detail.eventTime")
        .ok()?;
    let account = envelope.account(d.recipient_account_id.as_deref()).ok()?;
    let region = envelope.region(d.aws_region.as_deref()).ok()?;
    let user = d.user_identity.as_ref();
    let identity = cloudtrail::identity_of(IdentityFields {
        identity_type: user.and_then(|u| u.identity_type.as_deref()),
        principal_arn: user.and_then(|u| u.arn.as_deref()),
        session_issuer_arn: user
            .and_then(|u| u.session_context.as_ref())
            .and_then(|c| c.session_issuer.as_ref())
            .and_then(|i| i.arn.as_deref()),
        invoked_by: user.and_then(|u| u.invoked_by.as_deref()),
        user_agent: d.user_agent.as_deref(),
        source_ip: d.source_ip.as_deref(),
        console_session: d.console_session,
        principal_id: user.and_then(|u| u.principal_id.as_deref()),
        account_id: user.and_then(|u| u.account_id.as_deref()),
        source_identity: user
            .and_then(|u| u.session_context.as_ref())
            .and_then(|c| c.source_identity.as_deref()),
        on_behalf_of: user
            .and_then(|u| u.on_behalf_of.as_ref())
            .and_then(|o| o.user_id.as_deref()),
    });
    let observation = cloudtrail::build(Record {
        event_name,
        event_source,
        event_id,
        time,
        account,
        region,
        identity,
        read_only: d.read_only,
        management_event: d.management_event,
        error_code: d.error_code.as_deref(),
        error_message: d.error_message.as_deref(),
        request: d.request.unwrap_or(Value::Null),
        response: d.response.unwrap_or(Value::Null),
        resources: d.resources.as_ref(),
    });
    let header = EnvelopeHeader {
        id: view.id.map(Cow::into_owned),
        source: Some(source.into_owned()),
        account: view.account.map(Cow::into_owned),
    };
    Some(ParsedEnvelope {
        observation: Ok(observation),
        header,
    })
}

/// Every other event: JSON into a `Value` pruned to the fields the parsers read
/// (`ENVELOPE`), then the ordinary [`super::parse_event`]. The parsers see exactly the
/// values they would see in the whole document, so they answer (and fail) the
/// same way. `None` when the bytes are not JSON `Value` accepts (or use the
/// raw-value token): the caller then parses the whole `Value` for the exact error.
pub(crate) fn parse_pruned(bytes: &[u8]) -> Option<Result<Observation, SourceError>> {
    parse_pruned_envelope(bytes).map(|p| p.observation)
}

/// [`parse_pruned`] with the envelope's header (the pruned value keeps `id`,
/// `source` and `account` whole).
pub(crate) fn parse_pruned_envelope(bytes: &[u8]) -> Option<ParsedEnvelope> {
    let mut deserializer = serde_json::Deserializer::from_str(utf8(bytes)?);
    let value = Pruned(ENVELOPE).deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    Some(ParsedEnvelope::of_value(&value))
}

/// The input as text. One check of the whole buffer is much cheaper than
/// `from_slice`'s check of every string; JSON that is not UTF-8 is an error
/// either way (the `Value` parser reports it).
fn utf8(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

// ---------------------------------------------------------------- pruning schema

/// What is kept of an object's field.
enum Keep {
    /// The whole value, whatever its type.
    Whole,
    /// If an object, only these fields; any other type is kept whole.
    Fields(&'static [(&'static str, Keep)]),
}

use Keep::{Fields, Whole};

/// Every field any parser in this module reads (`mod.rs` envelope, `cloudtrail`,
/// `config`, `cloudformation`). A parser reading a field not listed here would
/// see it absent: `tests/sources_props.rs` compares both paths on every input.
const ENVELOPE: &[(&str, Keep)] = &[
    ("source", Whole),
    ("detail-type", Whole),
    ("id", Whole),
    ("account", Whole),
    ("time", Whole),
    ("region", Whole),
    ("detail", Fields(DETAIL)),
];

const DETAIL: &[(&str, Keep)] = &[
    // CloudTrail
    ("eventName", Whole),
    ("eventSource", Whole),
    ("eventID", Whole),
    ("eventTime", Whole),
    ("recipientAccountId", Whole),
    ("awsRegion", Whole),
    ("userIdentity", Fields(USER_IDENTITY)),
    ("userAgent", Whole),
    ("sourceIPAddress", Whole),
    ("sessionCredentialFromConsole", Whole),
    ("readOnly", Whole),
    ("managementEvent", Whole),
    ("errorCode", Whole),
    ("errorMessage", Whole),
    ("requestParameters", Whole),
    ("responseElements", Whole),
    ("resources", Whole),
    // Config item change
    ("configurationItem", Fields(CONFIG_ITEM)),
    ("configurationItemSummary", Fields(CONFIG_ITEM)),
    (
        "configurationItemDiff",
        Fields(&[("changeType", Whole), ("changedProperties", Whole)]),
    ),
    ("s3DeliverySummary", Fields(&[("s3BucketLocation", Whole)])),
    // Config compliance change
    ("newEvaluationResult", Fields(NEW_EVALUATION)),
    ("oldEvaluationResult", Fields(&[("complianceType", Whole)])),
    ("resourceType", Whole),
    ("resourceId", Whole),
    ("configRuleName", Whole),
    ("notificationCreationTime", Whole),
    ("awsAccountId", Whole),
    // CloudFormation
    ("stack-id", Whole),
    ("status-details", Whole),
    ("stack-drift-detection-id", Whole),
    ("drift-detection-details", Whole),
    ("logical-resource-id", Whole),
    ("physical-resource-id", Whole),
    ("resource-type", Whole),
    ("client-request-token", Whole),
];

const USER_IDENTITY: &[(&str, Keep)] = &[
    ("type", Whole),
    ("arn", Whole),
    ("invokedBy", Whole),
    ("principalId", Whole),
    ("accountId", Whole),
    (
        "sessionContext",
        Fields(&[
            ("sessionIssuer", Fields(&[("arn", Whole)])),
            ("sourceIdentity", Whole),
        ]),
    ),
    ("onBehalfOf", Fields(&[("userId", Whole)])),
];

const CONFIG_ITEM: &[(&str, Keep)] = &[
    ("resourceType", Whole),
    ("resourceId", Whole),
    ("resourceName", Whole),
    ("ARN", Whole),
    ("configurationItemStatus", Whole),
    ("configurationItemCaptureTime", Whole),
    ("awsAccountId", Whole),
    ("awsRegion", Whole),
    ("changeType", Whole),
];

const NEW_EVALUATION: &[(&str, Keep)] = &[
    ("complianceType", Whole),
    ("resultRecordedTime", Whole),
    ("annotation", Whole),
    (
        "evaluationResultIdentifier",
        Fields(&[(
            "evaluationResultQualifier",
            Fields(&[
                ("resourceType", Whole),
                ("resourceId", Whole),
                ("configRuleName", Whole),
            ]),
        )]),
    ),
];

/// A `Value` holding only the listed fields of an object (recursively); any
/// other JSON type is built exactly as `Value` builds it.
struct Pruned(&'static [(&'static str, Keep)]);

impl<'de> DeserializeSeed<'de> for Pruned {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Pruned {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut kept = Map::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match self.0.iter().find(|(name, _)| *name == key) {
                Some((_, Whole)) => {
                    kept.insert(key.into_owned(), map.next_value::<Value>()?);
                }
                Some((_, Fields(fields))) => {
                    kept.insert(key.into_owned(), map.next_value_seed(Pruned(fields))?);
                }
                None => {
                    map.next_value::<Checked>()?;
                }
            }
        }
        Ok(Value::Object(kept))
    }
    // Everything below mirrors `serde_json::Value`'s own visitor.
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
}

// ---------------------------------------------------------------- views

/// An optional string field: `null` is absent, like `fields::opt_str`.
type Text<'a> = Option<Cow<'a, str>>;

#[derive(Default)]
struct EnvelopeView<'a> {
    source: Text<'a>,
    detail_type: Text<'a>,
    id: Text<'a>,
    account: Text<'a>,
    time: Text<'a>,
    region: Text<'a>,
    detail: Option<RecordView<'a>>,
}

#[derive(Default)]
struct RecordView<'a> {
    event_name: Text<'a>,
    event_source: Text<'a>,
    event_id: Text<'a>,
    event_time: Text<'a>,
    recipient_account_id: Text<'a>,
    aws_region: Text<'a>,
    user_identity: Option<UserIdentityView<'a>>,
    user_agent: Text<'a>,
    source_ip: Text<'a>,
    console_session: bool,
    read_only: Option<bool>,
    management_event: Option<bool>,
    error_code: Text<'a>,
    error_message: Text<'a>,
    request: Option<Value>,
    response: Option<Value>,
    resources: Option<Value>,
}

#[derive(Default)]
struct UserIdentityView<'a> {
    identity_type: Text<'a>,
    arn: Text<'a>,
    invoked_by: Text<'a>,
    principal_id: Text<'a>,
    account_id: Text<'a>,
    session_context: Option<SessionContextView<'a>>,
    on_behalf_of: Option<OnBehalfOfView<'a>>,
}

#[derive(Default)]
struct SessionContextView<'a> {
    session_issuer: Option<SessionIssuerView<'a>>,
    source_identity: Text<'a>,
}

#[derive(Default)]
struct OnBehalfOfView<'a> {
    user_id: Text<'a>,
}

#[derive(Default)]
struct SessionIssuerView<'a> {
    arn: Text<'a>,
}

/// A view filled key by key from a JSON object; unknown keys are checked and dropped.
trait ObjectView<'de>: Default {
    const NAME: &'static str;
    /// Reads the value of `key` if the view keeps it; `Ok(false)` if it does not.
    fn read<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error>;
}

impl<'de> ObjectView<'de> for EnvelopeView<'de> {
    const NAME: &'static str = "an EventBridge event";
    fn read<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        match key {
            "source" => self.source = text(map)?,
            "detail-type" => self.detail_type = text(map)?,
            "id" => self.id = text(map)?,
            "account" => self.account = text(map)?,
            "time" => self.time = text(map)?,
            "region" => self.region = text(map)?,
            "detail" => {
                // EventBridge writes `source` and `detail-type` first: when they
                // already say this is not a CloudTrail call, stop here.
                if let (Some(source), Some(detail_type)) = (&self.source, &self.detail_type) {
                    if kind_of(source, detail_type) != Some(Kind::CloudTrail) {
                        return Err(de::Error::custom("not a CloudTrail API call"));
                    }
                }
                self.detail = map
                    .next_value::<Option<View<RecordView<'de>>>>()?
                    .map(|v| v.0);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl<'de> ObjectView<'de> for RecordView<'de> {
    const NAME: &'static str = "a CloudTrail record";
    fn read<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        match key {
            "eventName" => self.event_name = text(map)?,
            "eventSource" => self.event_source = text(map)?,
            "eventID" => self.event_id = text(map)?,
            "eventTime" => self.event_time = text(map)?,
            "recipientAccountId" => self.recipient_account_id = text(map)?,
            "awsRegion" => self.aws_region = text(map)?,
            "userIdentity" => {
                self.user_identity = map
                    .next_value::<Option<View<UserIdentityView<'de>>>>()?
                    .map(|v| v.0);
            }
            "userAgent" => self.user_agent = text(map)?,
            "sourceIPAddress" => self.source_ip = text(map)?,
            "sessionCredentialFromConsole" => self.console_session = map.next_value::<Flag>()?.0,
            "readOnly" => self.read_only = map.next_value::<Option<Flag>>()?.map(|f| f.0),
            "managementEvent" => {
                self.management_event = map.next_value::<Option<Flag>>()?.map(|f| f.0);
            }
            "errorCode" => self.error_code = text(map)?,
            "errorMessage" => self.error_message = text(map)?,
            "requestParameters" => self.request = map.next_value()?,
            "responseElements" => self.response = map.next_value()?,
            "resources" => self.resources = map.next_value()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl<'de> ObjectView<'de> for UserIdentityView<'de> {
    const NAME: &'static str = "userIdentity";
    fn read<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        match key {
            "type" => self.identity_type = text(map)?,
            "arn" => self.arn = text(map)?,
            "invokedBy" => self.invoked_by = text(map)?,
            "principalId" => self.principal_id = text(map)?,
            "accountId" => self.account_id = text(map)?,
            "sessionContext" => {
                self.session_context = map
                    .next_value::<Option<View<SessionContextView<'de>>>>()?
                    .map(|v| v.0);
            }
            "onBehalfOf" => {
                self.on_behalf_of = map
                    .next_value::<Option<View<OnBehalfOfView<'de>>>>()?
                    .map(|v| v.0);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl<'de> ObjectView<'de> for SessionContextView<'de> {
    const NAME: &'static str = "sessionContext";
    fn read<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        match key {
            "sessionIssuer" => {
                self.session_issuer = map
                    .next_value::<Option<View<SessionIssuerView<'de>>>>()?
                    .map(|v| v.0);
            }
            "sourceIdentity" => self.source_identity = text(map)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl<'de> ObjectView<'de> for OnBehalfOfView<'de> {
    const NAME: &'static str = "onBehalfOf";
    fn read<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        match key {
            "userId" => self.user_id = text(map)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl<'de> ObjectView<'de> for SessionIssuerView<'de> {
    const NAME: &'static str = "sessionIssuer";
    fn read<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        match key {
            "arn" => self.arn = text(map)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

// ---------------------------------------------------------------- deserializers

/// A JSON object read into `T`; anything else is an error (the slow path says which).
struct View<T>(T);

impl<'de, T: ObjectView<'de>> Deserialize<'de> for View<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ViewVisitor(PhantomData))
    }
}

struct ViewVisitor<T>(PhantomData<T>);

impl<'de, T: ObjectView<'de>> Visitor<'de> for ViewVisitor<T> {
    type Value = View<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::NAME)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut view = T::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if !view.read(&key, &mut map)? {
                map.next_value::<Checked>()?;
            }
        }
        Ok(View(view))
    }
}

fn text<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Text<'de>, A::Error> {
    Ok(map.next_value::<Option<BorrowedText<'de>>>()?.map(|t| t.0))
}

/// A string, borrowed from the input unless it had escapes.
struct BorrowedText<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for BorrowedText<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = BorrowedText<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(BorrowedText(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BorrowedText(Cow::Owned(v.to_string())))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// `fields::opt_flag`: a boolean, or a string that is `"true"` in any case; `null` is false.
struct Flag(bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FlagVisitor;
        impl<'de> Visitor<'de> for FlagVisitor {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean or \"true\"/\"false\"")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Flag, E> {
                Ok(Flag(v.eq_ignore_ascii_case("true")))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Flag, E> {
                Ok(Flag(false))
            }
        }
        deserializer.deserialize_any(FlagVisitor)
    }
}

/// An object key, borrowed when it can be; the raw-value token is refused.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let key = BorrowedText::deserialize(deserializer)?.0;
        if key == RAW_VALUE_TOKEN {
            return Err(de::Error::custom("raw value token"));
        }
        Ok(key)
    }
}

/// Any JSON value, checked as strictly as `Value` would check it (escapes,
/// surrogates, number range, nesting depth), then dropped.
/// (`IgnoredAny` would skip strings and numbers without checking them.)
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_none<E: de::Error>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Checked, D::Error> {
        Checked::deserialize(deserializer)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_key_seed(KeySeed)?.is_some() {
            map.next_value::<Checked>()?;
        }
        Ok(Checked)
    }
}
