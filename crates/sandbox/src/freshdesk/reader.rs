//! Reads typed values out of a JSON request body the way Freshdesk reports problems: every
//! problem at once, as `datatype_mismatch` / `invalid_value` / `invalid_field` entries.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{DeskError, FieldError};
use crate::timestamps;

/// Reads typed values out of a JSON object, collecting errors instead of stopping.
pub(crate) struct Reader<'a> {
    map: &'a Map<String, Value>,
    pub errors: Vec<FieldError>,
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(n) if n.is_f64() => "Float",
        Value::Number(_) => "Integer",
        Value::String(_) => "String",
        Value::Array(_) => "Array",
        Value::Object(_) => "key/value pair",
    }
}

pub(crate) fn mismatch(field: &str, value: &Value, expected: &str) -> FieldError {
    FieldError::new(
        field,
        "datatype_mismatch",
        format!(
            "The value provided is of type {}.It should be of type {expected}",
            json_type(value)
        ),
    )
}

pub(crate) fn one_of(values: impl IntoIterator<Item = String>) -> String {
    format!(
        "It should be one of these values: {}",
        values.into_iter().collect::<Vec<_>>().join(",")
    )
}

impl<'a> Reader<'a> {
    pub(crate) fn new(body: &'a Value) -> Result<Self, DeskError> {
        match body {
            Value::Object(map) => Ok(Self {
                map,
                errors: Vec::new(),
            }),
            _ => Err(DeskError::InvalidJson("Request body has invalid json format".into())),
        }
    }

    pub(crate) fn known(&mut self, allowed: &[&str]) {
        for key in self.map.keys() {
            if !allowed.contains(&key.as_str()) {
                self.errors.push(FieldError::new(
                    key,
                    "invalid_field",
                    "Unexpected/invalid field in request",
                ));
            }
        }
    }

    /// The value unless absent or `null`.
    pub(crate) fn value(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub(crate) fn string(&mut self, key: &str) -> Option<String> {
        match self.value(key)? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.errors.push(mismatch(key, other, "String"));
                None
            }
        }
    }

    pub(crate) fn integer(&mut self, key: &str) -> Option<u64> {
        let v = self.value(key)?;
        match v.as_u64() {
            Some(n) => Some(n),
            None => {
                self.errors.push(mismatch(key, v, "Integer"));
                None
            }
        }
    }

    pub(crate) fn boolean(&mut self, key: &str) -> Option<bool> {
        match self.value(key)? {
            Value::Bool(b) => Some(*b),
            other => {
                self.errors.push(mismatch(key, other, "Boolean"));
                None
            }
        }
    }

    pub(crate) fn strings(&mut self, key: &str) -> Option<Vec<String>> {
        let v = self.value(key)?;
        let items = v
            .as_array()
            .and_then(|a| a.iter().map(|i| i.as_str().map(String::from)).collect());
        if items.is_none() {
            self.errors.push(mismatch(key, v, "Array of String"));
        }
        items
    }

    pub(crate) fn email(&mut self, key: &str) -> Option<String> {
        let email = self.string(key)?;
        if valid_email(&email) {
            Some(email)
        } else {
            self.errors.push(FieldError::new(
                key,
                "invalid_value",
                "It should be in the 'valid email address' format",
            ));
            None
        }
    }

    pub(crate) fn date_time(&mut self, key: &str) -> Option<DateTime<Utc>> {
        let text = self.string(key)?;
        let parsed = timestamps::parse(&text);
        if parsed.is_none() {
            self.errors.push(FieldError::new(
                key,
                "invalid_value",
                "It should be in the 'valid date-time' format",
            ));
        }
        parsed
    }

    /// An integer that must be one of `allowed`.
    pub(crate) fn code(&mut self, key: &str, allowed: &[u16]) -> Option<u16> {
        let n = self.integer(key)?;
        match u16::try_from(n).ok().filter(|c| allowed.contains(c)) {
            Some(c) => Some(c),
            None => {
                let values = allowed.iter().map(u16::to_string);
                self.errors.push(FieldError::new(key, "invalid_value", one_of(values)));
                None
            }
        }
    }

    pub(crate) fn finish(self) -> Result<(), DeskError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(DeskError::Validation(self.errors))
        }
    }
}

fn valid_email(email: &str) -> bool {
    email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.ends_with('.'))
        && !email.contains(char::is_whitespace)
}
