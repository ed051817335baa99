//! Freshdesk property codes and custom field values (freshworks.md §3.2, §3.4).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// An integer-coded property with documented codes plus a catch-all for account-specific or
/// newer ones, so an unexpected code never rejects a ticket.
macro_rules! coded_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $fallback:ident { $($variant:ident = $code:literal),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
            $fallback(u16),
        }

        impl $name {
            /// Maps documented codes to their named variant.
            pub fn from_code(code: u16) -> Self {
                match code {
                    $($code => Self::$variant,)+
                    other => Self::$fallback(other),
                }
            }

            pub fn code(self) -> u16 {
                match self {
                    $(Self::$variant => $code,)+
                    Self::$fallback(code) => code,
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_u16(self.code())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
                u16::deserialize(de).map(Self::from_code)
            }
        }
    };
}

coded_enum! {
    /// Ticket `status`. Accounts add their own statuses from 6 up.
    TicketStatus, Custom { Open = 2, Pending = 3, Resolved = 4, Closed = 5 }
}

/// Freshdesk's two default custom statuses (§3.2 example codes). An account may number them
/// differently; prefer a code from `GET /ticket_fields` or `{{triggered_event}}` when available.
const DEFAULT_CUSTOM_STATUSES: [(&str, u16); 2] = [("waiting on customer", 6), ("waiting on third party", 7)];

impl TicketStatus {
    /// The four built-in statuses by their display name (as `{{ticket.status}}` renders them),
    /// ignoring case and surrounding space.
    pub fn from_standard_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "open" => Some(Self::Open),
            "pending" => Some(Self::Pending),
            "resolved" => Some(Self::Resolved),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }

    /// Like [`Self::from_standard_name`], also knowing Freshdesk's default custom statuses
    /// ("Waiting on Customer" → `Custom(6)`, "Waiting on Third Party" → `Custom(7)`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::from_standard_name(name).or_else(|| {
            let name = name.trim().to_ascii_lowercase();
            DEFAULT_CUSTOM_STATUSES
                .iter()
                .find(|(known, _)| *known == name)
                .map(|(_, code)| Self::Custom(*code))
        })
    }

    /// Resolved or closed: the ticket no longer needs an agent.
    pub fn is_closed(self) -> bool {
        matches!(self, Self::Resolved | Self::Closed)
    }
}

coded_enum! {
    /// Ticket `source`.
    TicketSource, Other {
        Email = 1, Portal = 2, Phone = 3, Chat = 7, Mobihelp = 8, FeedbackWidget = 9,
        OutboundEmail = 10,
    }
}

coded_enum! {
    /// Conversation `source`: 0 reply, 2 note, …
    ConversationSource, Other {
        Reply = 0, Note = 2, Tweet = 5, Survey = 6, Facebook = 7, ForwardedEmail = 8, Phone = 9,
        Ecommerce = 11,
    }
}

/// Ticket `priority`: a closed set of four.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TicketPriority {
    Low = 1,
    Medium = 2,
    High = 3,
    Urgent = 4,
}

impl TicketPriority {
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Low),
            2 => Some(Self::Medium),
            3 => Some(Self::High),
            4 => Some(Self::Urgent),
            _ => None,
        }
    }

    /// By display name, as `{{ticket.priority}}` renders it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "low" => Some(Self::Low),
            "medium" => Some(Self::Medium),
            "high" => Some(Self::High),
            "urgent" => Some(Self::Urgent),
            _ => None,
        }
    }
}

impl Serialize for TicketPriority {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.code())
    }
}

impl<'de> Deserialize<'de> for TicketPriority {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let code = u8::deserialize(de)?;
        Self::from_code(code).ok_or_else(|| serde::de::Error::custom(format!("unknown ticket priority {code}")))
    }
}

/// A custom field value with the JSON type Freshdesk insists on: number fields take JSON
/// integers (a string or a float is a `datatype_mismatch`), checkboxes booleans, everything
/// else (text, dropdown, date `YYYY-MM-DD`) strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum CustomFieldValue {
    Text(String),
    Integer(i64),
    Bool(bool),
}

/// Custom fields by their ticket-field name (`cf_…` on recent accounts).
pub type CustomFields = BTreeMap<String, CustomFieldValue>;

impl From<&str> for CustomFieldValue {
    fn from(value: &str) -> Self {
        Self::Text(value.to_owned())
    }
}

impl From<String> for CustomFieldValue {
    fn from(value: String) -> Self {
        Self::Text(value)
    }
}

impl From<i64> for CustomFieldValue {
    fn from(value: i64) -> Self {
        Self::Integer(value)
    }
}

impl From<bool> for CustomFieldValue {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

impl CustomFieldValue {
    /// Reads a value from a ticket. Unset fields (`null`) are absent. Types Switchboard never
    /// writes (decimals, multi-selects) are kept as their JSON text rather than failing the
    /// whole ticket.
    fn from_json(value: Value) -> Option<Self> {
        match value {
            Value::Null => None,
            Value::String(s) => Some(Self::Text(s)),
            Value::Bool(b) => Some(Self::Bool(b)),
            Value::Number(n) => Some(n.as_i64().map_or_else(|| Self::Text(n.to_string()), Self::Integer)),
            other => Some(Self::Text(other.to_string())),
        }
    }

    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Self::Integer(n) => Some(*n),
            _ => None,
        }
    }
}

pub(crate) fn custom_fields<'de, D: Deserializer<'de>>(de: D) -> Result<CustomFields, D::Error> {
    let raw: BTreeMap<String, Value> = crate::lenient::null_default(de)?;
    Ok(raw
        .into_iter()
        .filter_map(|(name, value)| CustomFieldValue::from_json(value).map(|v| (name, v)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_codes_and_names() {
        assert_eq!(TicketStatus::from_code(2), TicketStatus::Open);
        assert_eq!(TicketStatus::from_code(6), TicketStatus::Custom(6));
        assert_eq!(TicketStatus::Custom(6).code(), 6);
        assert_eq!(TicketStatus::from_name(" resolved "), Some(TicketStatus::Resolved));
        assert_eq!(TicketStatus::from_name("Closed"), Some(TicketStatus::Closed));
        assert_eq!(
            TicketStatus::from_name("Waiting on Customer"),
            Some(TicketStatus::Custom(6))
        );
        assert_eq!(
            TicketStatus::from_name("Waiting on Third Party"),
            Some(TicketStatus::Custom(7))
        );
        assert_eq!(TicketStatus::from_standard_name("Waiting on Customer"), None);
        assert_eq!(TicketStatus::from_name("Escalated to L2"), None);
        assert!(TicketStatus::Resolved.is_closed() && !TicketStatus::Pending.is_closed());
        assert_eq!(serde_json::to_value(TicketStatus::Pending).expect("json"), json!(3));
        assert_eq!(
            serde_json::from_value::<TicketStatus>(json!(7)).expect("decodes"),
            TicketStatus::Custom(7)
        );
    }

    #[test]
    fn priority_is_a_closed_set() {
        assert_eq!(serde_json::to_value(TicketPriority::Urgent).expect("json"), json!(4));
        assert_eq!(TicketPriority::from_name("High"), Some(TicketPriority::High));
        assert!(serde_json::from_value::<TicketPriority>(json!(9)).is_err());
        assert_eq!(
            serde_json::from_value::<TicketPriority>(json!(1)).expect("decodes"),
            TicketPriority::Low
        );
    }

    #[test]
    fn sources_keep_unknown_codes() {
        assert_eq!(serde_json::to_value(TicketSource::Chat).expect("json"), json!(7));
        assert_eq!(TicketSource::from_code(12), TicketSource::Other(12));
        assert_eq!(ConversationSource::from_code(0), ConversationSource::Reply);
        assert_eq!(ConversationSource::from_code(2), ConversationSource::Note);
    }

    #[test]
    fn custom_field_values_serialise_with_the_right_json_type() {
        let fields: CustomFields = [
            ("cf_cart_value".to_owned(), CustomFieldValue::from(25_000)),
            ("cf_order_stage".to_owned(), "PRE_ORDER".into()),
            ("cf_vip".to_owned(), true.into()),
        ]
        .into_iter()
        .collect();
        let text = serde_json::to_string(&fields).expect("json");
        assert_eq!(
            text,
            r#"{"cf_cart_value":25000,"cf_order_stage":"PRE_ORDER","cf_vip":true}"#
        );
    }

    #[test]
    fn custom_fields_read_leniently() {
        #[derive(Deserialize)]
        struct Probe {
            #[serde(deserialize_with = "custom_fields")]
            custom_fields: CustomFields,
        }
        let probe: Probe = serde_json::from_value(json!({"custom_fields": {
            "cf_a": "x", "cf_b": 5, "cf_c": false, "cf_d": null, "cf_e": 2.5, "cf_f": ["p", "q"]
        }}))
        .expect("decodes");
        let f = probe.custom_fields;
        assert_eq!(f.get("cf_a").and_then(CustomFieldValue::as_text), Some("x"));
        assert_eq!(f.get("cf_b").and_then(CustomFieldValue::as_integer), Some(5));
        assert_eq!(f.get("cf_c"), Some(&CustomFieldValue::Bool(false)));
        assert!(!f.contains_key("cf_d"));
        assert_eq!(f.get("cf_e"), Some(&CustomFieldValue::Text("2.5".into())));
        assert_eq!(f.get("cf_f"), Some(&CustomFieldValue::Text(r#"["p","q"]"#.into())));
    }
}
