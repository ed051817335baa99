//! Freshchat REST/webhook objects other than messages (freshworks.md §1.5, §2.4).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::lenient;

/// A closed set of documented string values plus `Other` for anything new, so an unexpected
/// value never rejects a payload. Matching ignores ASCII case; `Other` keeps the original text.
macro_rules! open_string_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident => $text:literal $(| $alias:literal)*),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
            Other(String),
        }

        impl $name {
            pub fn parse(text: &str) -> Self {
                match text.to_ascii_lowercase().as_str() {
                    $($text $(| $alias)* => Self::$variant,)+
                    _ => Self::Other(text.to_owned()),
                }
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(text) => text,
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
                Ok(Self::parse(&String::deserialize(de)?))
            }
        }
    };
}

open_string_enum! {
    /// Who did something: `actor_type`, `resolver`, `assignor`, `reopener`.
    ActorType { User => "user", Agent => "agent", System => "system", Bot => "bot" }
}

open_string_enum! {
    /// `message_type`; absent means `normal` (the 2022-11 webhook sample omits it).
    #[derive(Default)]
    MessageType { #[default] Normal => "normal", Private => "private", System => "system" }
}

open_string_enum! {
    /// Conversation status; the 2018 webhook sample spells reopened as `reopen`.
    ConversationStatus {
        New => "new",
        Assigned => "assigned",
        Resolved => "resolved",
        Reopened => "reopened" | "reopen",
    }
}

/// A required field was absent (or empty) in a provider object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("missing field `{0}`")]
pub struct MissingField(pub &'static str);

/// One custom user property. Values are strings on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserProperty {
    #[serde(deserialize_with = "lenient::text")]
    pub name: String,
    #[serde(default, deserialize_with = "lenient::text")]
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct Avatar {
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub url: Option<String>,
}

/// A Freshchat end user (`GET /users/{id}`; optionally embedded in resolution webhooks).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    #[serde(deserialize_with = "lenient::id")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub reference_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub phone: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub last_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::null_default")]
    pub properties: Vec<UserProperty>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub restore_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub org_contact_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::or_none")]
    pub avatar: Option<Avatar>,
    #[serde(default, deserialize_with = "lenient::or_none")]
    pub login_status: Option<bool>,
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub created_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub updated_time: Option<DateTime<Utc>>,
}

impl User {
    /// The value of a custom property, if set.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_str())
    }
}

/// A conversation (`GET /conversations/{id}`, and the `conversation` object of webhooks).
/// `conversation_id` is empty only when the provider omitted it; readers reject that.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct Conversation {
    #[serde(default, deserialize_with = "lenient::text")]
    pub conversation_id: String,
    /// A JSON number in REST answers; kept as opaque text like every other id.
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub conversation_internal_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::or_none")]
    pub status: Option<ConversationStatus>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub app_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub channel_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub assigned_agent_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub assigned_org_agent_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub assigned_group_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub org_contact_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub created_by: Option<String>,
    /// `priority` and custom `cf_*` properties, values as text.
    #[serde(default, deserialize_with = "lenient::text_map")]
    pub properties: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub created_time: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient::opt_datetime")]
    pub updated_time: Option<DateTime<Utc>>,
}

impl Conversation {
    pub(crate) fn require_id(self, field: &'static str) -> Result<Self, MissingField> {
        if self.conversation_id.is_empty() {
            Err(MissingField(field))
        } else {
            Ok(self)
        }
    }
}

/// An agent (`GET /agents`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Agent {
    #[serde(deserialize_with = "lenient::id")]
    pub id: String,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub last_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::id_list")]
    pub groups: Vec<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub role_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub role_name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub availability_status: Option<String>,
    #[serde(default, deserialize_with = "lenient::or_none")]
    pub is_deactivated: Option<bool>,
    #[serde(default, deserialize_with = "lenient::or_none")]
    pub is_deleted: Option<bool>,
}

/// The `pagination` object of list answers (§1.3); any key may be missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub struct Pagination {
    #[serde(default, deserialize_with = "lenient::or_none")]
    pub total_items: Option<u64>,
    #[serde(default, deserialize_with = "lenient::or_none")]
    pub total_pages: Option<u64>,
    #[serde(default, deserialize_with = "lenient::or_none")]
    pub current_page: Option<u64>,
    #[serde(default, deserialize_with = "lenient::or_none")]
    pub items_per_page: Option<u64>,
}

impl Pagination {
    /// Whether a page after `page` exists; `None` when the answer does not say.
    pub fn has_page_after(&self, page: u32) -> Option<bool> {
        self.total_pages.map(|total| total > u64::from(page))
    }
}

/// `GET /accounts/configuration` — used as the token check.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct AccountConfiguration {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub organisation_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub app_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub account_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub datacenter: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_text")]
    pub account_domain: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_enums_parse_known_values_and_keep_unknown_ones() {
        assert_eq!(ActorType::parse("agent"), ActorType::Agent);
        assert_eq!(ActorType::parse("BOT"), ActorType::Bot);
        assert_eq!(ActorType::parse("widget"), ActorType::Other("widget".into()));
        assert_eq!(ActorType::Other("widget".into()).as_str(), "widget");
        assert_eq!(MessageType::default(), MessageType::Normal);
        assert_eq!(ConversationStatus::parse("reopen"), ConversationStatus::Reopened);
        assert_eq!(
            serde_json::to_value(ConversationStatus::Resolved).expect("serialises"),
            json!("resolved")
        );
    }

    #[test]
    fn user_properties_are_name_value_strings() {
        let user: User = serde_json::from_value(json!({
            "id": "d108c12a", "email": "a@b.c", "phone": null, "reference_id": "cust-7",
            "properties": [{"name": "plan", "value": "Gold"}, {"name": "visits", "value": 3}],
            "created_time": "2022-11-22T10:55:23.126Z", "login_status": true
        }))
        .expect("user decodes");
        assert_eq!(user.property("plan"), Some("Gold"));
        assert_eq!(user.property("visits"), Some("3"));
        assert_eq!(user.property("missing"), None);
        assert_eq!(user.phone, None);
        assert_eq!(user.reference_id.as_deref(), Some("cust-7"));
        assert_eq!(user.login_status, Some(true));
    }

    #[test]
    fn user_without_id_is_rejected() {
        assert!(serde_json::from_value::<User>(json!({"email": "a@b.c"})).is_err());
        assert!(serde_json::from_value::<User>(json!({"id": ""})).is_err());
    }

    #[test]
    fn pagination_knows_when_to_stop() {
        let p = Pagination {
            total_pages: Some(3),
            ..Pagination::default()
        };
        assert_eq!(p.has_page_after(2), Some(true));
        assert_eq!(p.has_page_after(3), Some(false));
        assert_eq!(Pagination::default().has_page_after(1), None);
    }
}
