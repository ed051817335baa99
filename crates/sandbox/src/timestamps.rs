//! Timestamp formats of the two providers (freshworks.md §1.9 and §3.1).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

/// Freshchat: ISO-8601 UTC with milliseconds and `Z` (`2022-11-22T10:55:23.126Z`).
pub fn millis(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Freshdesk: ISO-8601 UTC to the second (`2015-08-24T11:56:51Z`).
pub fn seconds(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Parses the ISO-8601 forms clients send (`from_time`, `due_by`).
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

pub fn serialize_millis<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&millis(*at))
}

pub fn serialize_seconds<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&seconds(*at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_match_the_providers() {
        let at = Utc
            .timestamp_millis_opt(1_669_114_523_126)
            .single()
            .expect("valid instant");
        assert_eq!(millis(at), "2022-11-22T10:55:23.126Z");
        assert_eq!(seconds(at), "2022-11-22T10:55:23Z");
        assert_eq!(parse("2022-11-22T10:55:23.126Z"), Some(at));
    }
}
