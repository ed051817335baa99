//! The filter-tickets query language (freshworks.md §3.6): `field:value`, `field:>value`,
//! `field:<value` (≥ / ≤), strings in single quotes, bare numbers and booleans, `null`,
//! `AND`, `OR` (AND binds tighter) and parentheses.

use chrono::NaiveDate;

use super::model::Ticket;
use crate::config::{CustomFieldSpec, FieldKind};

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cond(Condition),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Condition {
    field: String,
    op: Op,
    value: Literal,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Eq,
    AtLeast,
    AtMost,
}

#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Str(String),
    Int(i64),
    Bool(bool),
    Null,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    Word(String),
    Str(String),
    Colon(Op),
}

fn tokenize(query: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' => {
                chars.next();
                tokens.push(if c == '(' { Token::Open } else { Token::Close });
            }
            ':' => {
                chars.next();
                let op = match chars.peek() {
                    Some('>') => Op::AtLeast,
                    Some('<') => Op::AtMost,
                    _ => Op::Eq,
                };
                if op != Op::Eq {
                    chars.next();
                }
                tokens.push(Token::Colon(op));
            }
            '\'' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => text.push(c),
                        None => return Err("unterminated string".into()),
                    }
                }
                tokens.push(Token::Str(text));
            }
            c if c.is_alphanumeric() || c == '_' || c == '-' || c == '.' => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_alphanumeric() || c == '_' || c == '-' || c == '.' {
                        word.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                tokens.push(match word.as_str() {
                    "AND" => Token::And,
                    "OR" => Token::Or,
                    _ => Token::Word(word),
                });
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.next();
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.atom()?;
        while self.peek() == Some(&Token::And) {
            self.next();
            left = Expr::And(Box::new(left), Box::new(self.atom()?));
        }
        Ok(left)
    }

    fn atom(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("missing )".into()),
                }
            }
            Some(Token::Word(field)) => {
                let Some(Token::Colon(op)) = self.next() else {
                    return Err(format!("expected : after {field}"));
                };
                let value = match self.next() {
                    Some(Token::Str(s)) => Literal::Str(s),
                    Some(Token::Word(w)) if w == "null" => Literal::Null,
                    Some(Token::Word(w)) if w == "true" => Literal::Bool(true),
                    Some(Token::Word(w)) if w == "false" => Literal::Bool(false),
                    Some(Token::Word(w)) => {
                        Literal::Int(w.parse().map_err(|_| format!("{w} is not a number; quote strings"))?)
                    }
                    _ => return Err(format!("missing value for {field}")),
                };
                Ok(Expr::Cond(Condition { field, op, value }))
            }
            _ => Err("expected a condition".into()),
        }
    }
}

/// Parses the text between the double quotes.
pub(crate) fn parse(query: &str) -> Result<Expr, String> {
    let mut parser = Parser {
        tokens: tokenize(query)?,
        at: 0,
    };
    let expr = parser.or()?;
    match parser.peek() {
        None => Ok(expr),
        Some(t) => Err(format!("unexpected {t:?}")),
    }
}

/// What a field holds, for type checks and comparison.
enum Kind {
    Number,
    Text,
    Tag,
    Date,
    Boolean,
    AnyText,
}

fn field_kind(field: &str, custom: &[CustomFieldSpec]) -> Option<Kind> {
    Some(match field {
        "status" | "priority" | "source" | "agent_id" | "group_id" | "requester_id" | "company_id" => Kind::Number,
        "type" => Kind::Text,
        "tag" => Kind::Tag,
        "created_at" | "updated_at" | "due_by" | "fr_due_by" => Kind::Date,
        "custom_string" => Kind::AnyText,
        _ => match &custom.iter().find(|s| s.name == field)?.kind {
            FieldKind::Number | FieldKind::Decimal => Kind::Number,
            FieldKind::Checkbox => Kind::Boolean,
            FieldKind::Date => Kind::Date,
            FieldKind::Text | FieldKind::Paragraph | FieldKind::Dropdown { .. } => Kind::Text,
        },
    })
}

/// Rejects unknown fields and values of the wrong type before anything is searched.
pub(crate) fn check(expr: &Expr, custom: &[CustomFieldSpec]) -> Result<(), String> {
    match expr {
        Expr::And(a, b) | Expr::Or(a, b) => check(a, custom).and_then(|()| check(b, custom)),
        Expr::Cond(c) => {
            let kind = field_kind(&c.field, custom).ok_or_else(|| format!("unknown field {}", c.field))?;
            let fits = match (&kind, &c.value) {
                (_, Literal::Null) => c.op == Op::Eq,
                (Kind::Number, Literal::Int(_)) => true,
                (Kind::Text | Kind::Tag | Kind::AnyText, Literal::Str(_)) => c.op == Op::Eq,
                (Kind::Boolean, Literal::Bool(_)) => c.op == Op::Eq,
                (Kind::Date, Literal::Str(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
                _ => false,
            };
            if fits {
                Ok(())
            } else {
                Err(format!("invalid value for {}", c.field))
            }
        }
    }
}

pub(crate) fn matches(expr: &Expr, t: &Ticket, custom: &[CustomFieldSpec]) -> bool {
    match expr {
        Expr::And(a, b) => matches(a, t, custom) && matches(b, t, custom),
        Expr::Or(a, b) => matches(a, t, custom) || matches(b, t, custom),
        Expr::Cond(c) => condition(c, t, custom),
    }
}

fn condition(c: &Condition, t: &Ticket, custom: &[CustomFieldSpec]) -> bool {
    let number = |n: Option<i64>| match (&c.value, n) {
        (Literal::Null, n) => n.is_none(),
        (Literal::Int(want), Some(have)) => compare(c.op, have.cmp(want)),
        _ => false,
    };
    let text = |s: Option<&str>| match (&c.value, s) {
        (Literal::Null, s) => s.is_none_or(str::is_empty),
        (Literal::Str(want), Some(have)) => have == want,
        _ => false,
    };
    let date = |d: Option<NaiveDate>| match (&c.value, d) {
        (Literal::Null, d) => d.is_none(),
        (Literal::Str(want), Some(have)) => {
            NaiveDate::parse_from_str(want, "%Y-%m-%d").is_ok_and(|want| compare(c.op, have.cmp(&want)))
        }
        _ => false,
    };
    let id = |v: Option<u64>| v.and_then(|v| i64::try_from(v).ok());
    match c.field.as_str() {
        "status" => number(Some(i64::from(t.status))),
        "priority" => number(Some(i64::from(t.priority))),
        "source" => number(Some(i64::from(t.source))),
        "agent_id" => number(id(t.responder_id)),
        "group_id" => number(id(t.group_id)),
        "requester_id" => number(id(Some(t.requester_id))),
        "company_id" => number(id(t.company_id)),
        "type" => text(t.ticket_type.as_deref()),
        "tag" => match &c.value {
            Literal::Null => t.tags.is_empty(),
            Literal::Str(want) => t.tags.iter().any(|tag| tag == want),
            _ => false,
        },
        "created_at" => date(Some(t.created_at.date_naive())),
        "updated_at" => date(Some(t.updated_at.date_naive())),
        "due_by" => date(Some(t.due_by.date_naive())),
        "fr_due_by" => date(Some(t.fr_due_by.date_naive())),
        "custom_string" => custom
            .iter()
            .filter(|s| matches!(s.kind, FieldKind::Text | FieldKind::Paragraph))
            .any(|s| text(t.custom_fields.get(&s.name).and_then(|v| v.as_str()))),
        name => {
            let value = t.custom_fields.get(name).filter(|v| !v.is_null());
            match field_kind(name, custom) {
                Some(Kind::Number) => number(value.and_then(serde_json::Value::as_i64)),
                Some(Kind::Boolean) => match &c.value {
                    Literal::Bool(want) => value.and_then(serde_json::Value::as_bool) == Some(*want),
                    Literal::Null => value.is_none(),
                    _ => false,
                },
                Some(Kind::Date) => date(
                    value
                        .and_then(|v| v.as_str())
                        .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()),
                ),
                Some(_) => text(value.and_then(|v| v.as_str())),
                None => false,
            }
        }
    }
}

fn compare(op: Op, ordering: std::cmp::Ordering) -> bool {
    match op {
        Op::Eq => ordering.is_eq(),
        Op::AtLeast => ordering.is_ge(),
        Op::AtMost => ordering.is_le(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn and_binds_tighter_than_or() -> Result<(), String> {
        let e = parse("status:2 OR priority:3 AND tag:'vip'")?;
        let Expr::Or(_, right) = e else {
            return Err("expected OR at the top".into());
        };
        assert!(matches!(*right, Expr::And(..)));
        Ok(())
    }

    #[test]
    fn rejects_bad_queries() {
        for bad in [
            "status",
            "status:",
            "(status:2",
            "status:2 AND",
            "status:two",
            "type:'x",
            "a:1 b:2",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let custom = [CustomFieldSpec::new("cf_n", "n", FieldKind::Number)];
        for bad in ["cf_n:'3'", "nope:1", "type:3", "tag:>'x'", "created_at:'yesterday'"] {
            let parsed = parse(bad).map_err(|e| e.to_string());
            assert!(parsed.and_then(|e| check(&e, &custom)).is_err(), "{bad}");
        }
    }
}
