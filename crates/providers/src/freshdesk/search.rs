//! The filter-tickets query language (freshworks.md §3.6), built so that values can never
//! change the query's structure.
//!
//! `field:'text'`, `field:42`, `field:true`, `field:null`, `field:>42`, `AND`, `OR`,
//! parentheses; the whole expression is sent in double quotes, URL-encoded, ≤ 512 characters.
//! The language has no documented escape for quotes, so values containing `'`, `"` or `\`
//! are refused rather than escaped.

use std::fmt;

use chrono::NaiveDate;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Longest query Freshdesk accepts (counted with its surrounding double quotes).
pub const MAX_QUERY_CHARS: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchQueryError {
    #[error("search field `{0}` must be non-empty letters, digits and underscores")]
    InvalidField(String),
    #[error("search value contains {0:?}, which the Freshdesk query language cannot quote")]
    UnquotableValue(char),
    #[error("search query is {0} characters; Freshdesk allows {MAX_QUERY_CHARS}")]
    TooLong(usize),
}

/// A well-formed query expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    expression: String,
    /// Joined with AND/OR: needs parentheses when combined again.
    compound: bool,
}

impl SearchQuery {
    /// `field:'value'` — text, dropdown and custom text fields.
    pub fn text(field: &str, value: &str) -> Result<Self, SearchQueryError> {
        check_value(value)?;
        Self::leaf(field, format!("'{value}'"))
    }

    /// `field:42` — numbers (`priority`, `status`, number custom fields).
    pub fn integer(field: &str, value: i64) -> Result<Self, SearchQueryError> {
        Self::leaf(field, value.to_string())
    }

    pub fn boolean(field: &str, value: bool) -> Result<Self, SearchQueryError> {
        Self::leaf(field, value.to_string())
    }

    /// `field:null` — the field is empty.
    pub fn null(field: &str) -> Result<Self, SearchQueryError> {
        Self::leaf(field, "null".to_owned())
    }

    /// `field:>42` — greater than or equal.
    pub fn at_least(field: &str, value: i64) -> Result<Self, SearchQueryError> {
        Self::leaf(field, format!(">{value}"))
    }

    /// `field:<42` — less than or equal.
    pub fn at_most(field: &str, value: i64) -> Result<Self, SearchQueryError> {
        Self::leaf(field, format!("<{value}"))
    }

    /// `field:>'2024-01-31'` — on or after a UTC date.
    pub fn on_or_after(field: &str, date: NaiveDate) -> Result<Self, SearchQueryError> {
        Self::leaf(field, format!(">'{}'", date.format("%Y-%m-%d")))
    }

    /// `field:<'2024-01-31'` — on or before a UTC date.
    pub fn on_or_before(field: &str, date: NaiveDate) -> Result<Self, SearchQueryError> {
        Self::leaf(field, format!("<'{}'", date.format("%Y-%m-%d")))
    }

    #[must_use]
    pub fn and(self, other: Self) -> Self {
        self.join("AND", other)
    }

    #[must_use]
    pub fn or(self, other: Self) -> Self {
        self.join("OR", other)
    }

    pub fn as_str(&self) -> &str {
        &self.expression
    }

    /// The `query` parameter value, quoted and percent-encoded (`%20` for spaces, as in the
    /// vendor's examples).
    pub(crate) fn encoded(&self) -> Result<String, SearchQueryError> {
        let quoted = format!("\"{}\"", self.expression);
        let length = quoted.chars().count();
        if length > MAX_QUERY_CHARS {
            return Err(SearchQueryError::TooLong(length));
        }
        Ok(utf8_percent_encode(&quoted, QUERY_VALUE).to_string())
    }

    fn leaf(field: &str, value: String) -> Result<Self, SearchQueryError> {
        let valid = !field.is_empty() && field.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(SearchQueryError::InvalidField(field.chars().take(64).collect()));
        }
        Ok(Self {
            expression: format!("{field}:{value}"),
            compound: false,
        })
    }

    fn join(self, operator: &str, other: Self) -> Self {
        Self {
            expression: format!("{} {operator} {}", self.grouped(), other.grouped()),
            compound: true,
        }
    }

    fn grouped(&self) -> String {
        if self.compound {
            format!("({})", self.expression)
        } else {
            self.expression.clone()
        }
    }
}

impl fmt::Display for SearchQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expression)
    }
}

/// Everything but RFC 3986 unreserved characters is encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

fn check_value(value: &str) -> Result<(), SearchQueryError> {
    match value.chars().find(|c| matches!(c, '\'' | '"' | '\\') || c.is_control()) {
        Some(c) => Err(SearchQueryError::UnquotableValue(c)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(query: Result<SearchQuery, SearchQueryError>) -> SearchQuery {
        query.expect("valid query")
    }

    #[test]
    fn builds_the_documented_example() {
        let query =
            valid(SearchQuery::text("cf_chat_conversation_id", "abc")).and(valid(SearchQuery::integer("status", 2)));
        assert_eq!(query.as_str(), "cf_chat_conversation_id:'abc' AND status:2");
        assert_eq!(
            query.encoded().expect("fits"),
            "%22cf_chat_conversation_id%3A%27abc%27%20AND%20status%3A2%22"
        );
    }

    #[test]
    fn compound_operands_are_parenthesised() {
        let either = valid(SearchQuery::integer("priority", 3)).or(valid(SearchQuery::integer("priority", 4)));
        let query = either.and(valid(SearchQuery::null("tag")));
        assert_eq!(query.as_str(), "(priority:3 OR priority:4) AND tag:null");
        let dated =
            SearchQuery::on_or_after("created_at", NaiveDate::from_ymd_opt(2024, 1, 31).expect("date")).expect("valid");
        assert_eq!(dated.as_str(), "created_at:>'2024-01-31'");
        assert_eq!(SearchQuery::at_most("cf_x", -1).expect("valid").as_str(), "cf_x:<-1");
        assert_eq!(
            SearchQuery::boolean("cf_vip", true).expect("valid").to_string(),
            "cf_vip:true"
        );
    }

    #[test]
    fn values_that_could_break_out_are_refused() {
        for (value, bad) in [("it's", '\''), ("a\"b", '"'), ("a\\b", '\\'), ("a\nb", '\n')] {
            assert_eq!(
                SearchQuery::text("cf_x", value),
                Err(SearchQueryError::UnquotableValue(bad))
            );
        }
        for field in ["", "cf x", "status:2 OR x", "cf-x", "é"] {
            assert!(matches!(
                SearchQuery::integer(field, 1),
                Err(SearchQueryError::InvalidField(_))
            ));
        }
    }

    #[test]
    fn unicode_values_are_encoded_and_length_is_checked() {
        let query = SearchQuery::text("cf_name", "Zoë ☃").expect("valid");
        assert_eq!(
            query.encoded().expect("fits"),
            "%22cf_name%3A%27Zo%C3%AB%20%E2%98%83%27%22"
        );
        let long = SearchQuery::text("cf_x", &"a".repeat(600)).expect("valid");
        assert!(matches!(long.encoded(), Err(SearchQueryError::TooLong(_))));
        // 2 quotes + "cf_x:" + 2 single quotes = 9 characters around the value.
        let exact = SearchQuery::text("cf_x", &"a".repeat(MAX_QUERY_CHARS - 9)).expect("valid");
        assert!(exact.encoded().is_ok());
    }
}
