//! Orders reported by a tenant's backend (SPEC §9): their status and what they mean for the
//! incidence that assisted them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::incidence::OrderImpact;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Placed,
    Modified,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 3] = [OrderStatus::Placed, OrderStatus::Modified, OrderStatus::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "placed",
            OrderStatus::Modified => "modified",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    /// Case-insensitive, surrounding whitespace ignored; `canceled` is accepted too.
    pub fn parse(s: &str) -> Option<OrderStatus> {
        let s = s.trim().to_ascii_lowercase();
        if s == "canceled" {
            return Some(OrderStatus::Cancelled);
        }
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// The `order_impact` an assisting incidence gets: PLACED or MODIFIED; a cancellation
    /// links nothing.
    pub fn impact(self) -> Option<OrderImpact> {
        match self {
            OrderStatus::Placed => Some(OrderImpact::Placed),
            OrderStatus::Modified => Some(OrderImpact::Modified),
            OrderStatus::Cancelled => None,
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_parse_and_map_to_impacts() {
        assert_eq!(OrderStatus::parse("placed"), Some(OrderStatus::Placed));
        assert_eq!(OrderStatus::parse(" MODIFIED "), Some(OrderStatus::Modified));
        assert_eq!(OrderStatus::parse("canceled"), Some(OrderStatus::Cancelled));
        assert_eq!(OrderStatus::parse("shipped"), None);
        assert_eq!(OrderStatus::Placed.impact(), Some(OrderImpact::Placed));
        assert_eq!(OrderStatus::Modified.impact(), Some(OrderImpact::Modified));
        assert_eq!(OrderStatus::Cancelled.impact(), None);
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
    }
}
