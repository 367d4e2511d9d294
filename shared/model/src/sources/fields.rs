//! Typed access to JSON fields that names the field (as a dotted path) on error.
//!
//! Paths are built only when something is wrong, so the happy path allocates nothing.
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::SourceError;

/// `parent.key`, or `key` at the top level.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// The value of `key`, treating JSON `null` as absent.
pub(crate) fn get<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

pub(crate) fn as_object<'a>(
    value: &'a Value,
    path: &str,
) -> Result<&'a Map<String, Value>, SourceError> {
    value.as_object().ok_or_else(|| SourceError::WrongType {
        field: path.to_string(),
        expected: "an object",
    })
}

pub(crate) fn req_str<'a>(
    obj: &'a Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<&'a str, SourceError> {
    match get(obj, key) {
        None => Err(SourceError::MissingField(join(parent, key))),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(SourceError::WrongType {
            field: join(parent, key),
            expected: "a string",
        }),
    }
}

/// A required, non-empty string.
pub(crate) fn req_nonempty<'a>(
    obj: &'a Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<&'a str, SourceError> {
    let s = req_str(obj, parent, key)?;
    if s.is_empty() {
        return Err(SourceError::InvalidValue {
            field: join(parent, key),
            message: "must not be empty".to_string(),
        });
    }
    Ok(s)
}

pub(crate) fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<Option<&'a str>, SourceError> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(SourceError::WrongType {
            field: join(parent, key),
            expected: "a string",
        }),
    }
}

pub(crate) fn req_obj<'a>(
    obj: &'a Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<&'a Map<String, Value>, SourceError> {
    match get(obj, key) {
        None => Err(SourceError::MissingField(join(parent, key))),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(SourceError::WrongType {
            field: join(parent, key),
            expected: "an object",
        }),
    }
}

pub(crate) fn opt_obj<'a>(
    obj: &'a Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, SourceError> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(SourceError::WrongType {
            field: join(parent, key),
            expected: "an object",
        }),
    }
}

/// A flag CloudTrail writes either as a JSON boolean or as the string `"true"`.
pub(crate) fn opt_flag(
    obj: &Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<bool, SourceError> {
    match get(obj, key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => Ok(s.eq_ignore_ascii_case("true")),
        Some(_) => Err(SourceError::WrongType {
            field: join(parent, key),
            expected: "a boolean or \"true\"/\"false\"",
        }),
    }
}

/// [`opt_flag`] keeping "absent" (or `null`) apart from `false`.
pub(crate) fn opt_flag_value(
    obj: &Map<String, Value>,
    parent: &str,
    key: &str,
) -> Result<Option<bool>, SourceError> {
    match get(obj, key) {
        None => Ok(None),
        Some(_) => opt_flag(obj, parent, key).map(Some),
    }
}

pub(crate) fn parse_time(text: &str, path: &str) -> Result<DateTime<Utc>, SourceError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| SourceError::InvalidValue {
            field: path.to_string(),
            message: format!("not an RFC 3339 timestamp ({e}): {text:?}"),
        })
}

/// The value at a dotted path inside `value` (`"a.b.c"`), `null` treated as absent.
pub(crate) fn at_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(value, |v, key| v.as_object()?.get(key))
        .filter(|v| !v.is_null())
}

/// The first string found at any of the dotted paths.
pub(crate) fn first_str<'a>(value: &'a Value, paths: &[&str]) -> Option<&'a str> {
    paths
        .iter()
        .find_map(|p| at_path(value, p).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_dotted_path() {
        let v = json!({"a": 1, "b": null, "c": "x"});
        let m = v.as_object().unwrap();
        assert_eq!(
            req_str(m, "detail", "a").unwrap_err().field(),
            Some("detail.a")
        );
        assert_eq!(
            req_str(m, "detail", "b").unwrap_err(),
            SourceError::MissingField("detail.b".into())
        );
        assert_eq!(opt_str(m, "", "b").unwrap(), None);
        assert_eq!(req_str(m, "", "c").unwrap(), "x");
        assert!(opt_obj(m, "", "c").is_err());
    }

    #[test]
    fn flags_accept_strings_and_booleans() {
        let v = json!({"s": "true", "b": true, "f": "false", "n": 3});
        let m = v.as_object().unwrap();
        assert!(opt_flag(m, "", "s").unwrap());
        assert!(opt_flag(m, "", "b").unwrap());
        assert!(!opt_flag(m, "", "f").unwrap());
        assert!(!opt_flag(m, "", "missing").unwrap());
        assert!(opt_flag(m, "", "n").is_err());
    }

    #[test]
    fn paths_walk_nested_objects() {
        let v = json!({"a": {"b": {"c": "deep"}}, "x": []});
        assert_eq!(first_str(&v, &["a.z", "a.b.c"]), Some("deep"));
        assert_eq!(at_path(&v, "x.y"), None);
    }

    #[test]
    fn times_must_be_rfc3339() {
        assert!(parse_time("2026-03-14T09:26:53Z", "t").is_ok());
        assert_eq!(
            parse_time("yesterday", "detail.eventTime")
                .unwrap_err()
                .field(),
            Some("detail.eventTime")
        );
    }
}
