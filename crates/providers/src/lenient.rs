//! Tolerant field decoders for provider JSON.
//!
//! Providers are inconsistent about ids (strings that are sometimes numbers), send `""` or `null`
//! for "none", and change timestamp precision. These helpers accept every shape seen in
//! `shared/providers/payloads/` so one odd field never rejects a whole payload.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// An opaque id: a string, or a number rendered as its decimal text. `null` and `""` mean none.
pub(crate) fn opt_id<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    Ok(scalar_text(Option::<Value>::deserialize(de)?))
}

/// Like [`opt_id`], for free text values such as user property values (`true` becomes `"true"`).
pub(crate) fn opt_text<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    opt_id(de)
}

/// A required opaque id: a non-empty string or a number.
pub(crate) fn id<'de, D: Deserializer<'de>>(de: D) -> Result<String, D::Error> {
    opt_id(de)?.ok_or_else(|| serde::de::Error::custom("expected a non-empty id"))
}

/// Scalar text where `""` is a real value (property values); `null`/missing give `""`.
pub(crate) fn text<'de, D: Deserializer<'de>>(de: D) -> Result<String, D::Error> {
    Ok(match Option::<Value>::deserialize(de)? {
        Some(Value::String(s)) => s,
        other => scalar_text(other).unwrap_or_default(),
    })
}

/// A list of opaque ids; entries that are not scalars are dropped.
pub(crate) fn id_list<'de, D: Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    let values: Vec<Value> = null_default(de)?;
    Ok(values.into_iter().filter_map(|v| scalar_text(Some(v))).collect())
}

/// A flat object of scalar values as text (Freshchat conversation `properties`); `null` and
/// non-scalar values are dropped.
pub(crate) fn text_map<'de, D: Deserializer<'de>>(
    de: D,
) -> Result<std::collections::BTreeMap<String, String>, D::Error> {
    let map: serde_json::Map<String, Value> = null_default(de)?;
    Ok(map
        .into_iter()
        .filter_map(|(key, value)| match value {
            Value::String(s) => Some((key, s)),
            other => scalar_text(Some(other)).map(|text| (key, text)),
        })
        .collect())
}

/// An optional nested object that is dropped, not fatal, when it does not have the expected
/// shape (used for sub-objects the contract marks UNCONFIRMED).
pub(crate) fn or_none<'de, D, T>(de: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    Ok(Option::<Value>::deserialize(de)?.and_then(|v| serde_json::from_value(v).ok()))
}

/// A scalar value as text; arrays, objects, `null` and `""` give `None`.
pub(crate) fn scalar_text(value: Option<Value>) -> Option<String> {
    match value? {
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// An ISO-8601 timestamp; anything unparsable is treated as absent rather than failing the body.
pub(crate) fn opt_datetime<'de, D: Deserializer<'de>>(de: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    Ok(Option::<Value>::deserialize(de)?
        .as_ref()
        .and_then(Value::as_str)
        .and_then(parse_datetime))
}

pub(crate) fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `null` decodes as the type's default (providers send `"cc_emails": null` for empty lists).
pub(crate) fn null_default<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

/// Why a webhook body could not be read as a JSON object.
pub(crate) enum BodyError {
    InvalidJson(String),
    InvalidShape(String),
}

/// Decodes a webhook body that must be a JSON object. (serde would otherwise happily read a
/// struct from a JSON array.)
pub(crate) fn object_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, BodyError> {
    use serde_json::error::Category;
    let classify = |e: serde_json::Error| match e.classify() {
        Category::Data => BodyError::InvalidShape(e.to_string()),
        Category::Syntax | Category::Eof | Category::Io => BodyError::InvalidJson(e.to_string()),
    };
    let is_object = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{');
    if !is_object {
        serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(classify)?;
        return Err(BodyError::InvalidShape("expected a JSON object".to_owned()));
    }
    serde_json::from_slice(body).map_err(classify)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "opt_id")]
        id: Option<String>,
        #[serde(default, deserialize_with = "opt_datetime")]
        at: Option<DateTime<Utc>>,
        #[serde(default, deserialize_with = "null_default")]
        list: Vec<String>,
    }

    fn probe(value: Value) -> Probe {
        serde_json::from_value(value).expect("probe decodes")
    }

    #[test]
    fn ids_accept_strings_and_numbers_and_treat_empty_as_none() {
        assert_eq!(probe(json!({"id": "abc"})).id.as_deref(), Some("abc"));
        assert_eq!(
            probe(json!({"id": 1019183591791880_u64})).id.as_deref(),
            Some("1019183591791880")
        );
        assert_eq!(probe(json!({"id": ""})).id, None);
        assert_eq!(probe(json!({"id": null})).id, None);
        assert_eq!(probe(json!({})).id, None);
        assert_eq!(probe(json!({"id": {"x": 1}})).id, None);
    }

    #[test]
    fn timestamps_parse_or_vanish() {
        let at = probe(json!({"at": "2022-11-22T10:55:23.126Z"})).at;
        assert_eq!(at.map(|t| t.timestamp_millis()), Some(1_669_114_523_126));
        assert_eq!(probe(json!({"at": "yesterday"})).at, None);
        assert_eq!(probe(json!({"at": 5})).at, None);
    }

    #[test]
    fn null_lists_are_empty() {
        assert!(probe(json!({"list": null})).list.is_empty());
        assert_eq!(probe(json!({"list": ["a"]})).list, vec!["a".to_owned()]);
    }
}
