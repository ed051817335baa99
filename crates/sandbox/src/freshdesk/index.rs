//! The search index: ticket writes become searchable only after the configured lag ("updates
//! will take a few minutes to get indexed"), and results show tickets as they were indexed.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::model::Ticket;
use super::search::{self, Expr};
use crate::config::CustomFieldSpec;

/// Fixed by Freshdesk; `per_page` is ignored.
pub(crate) const PAGE_SIZE: usize = 30;

pub(crate) struct SearchIndex {
    lag: Duration,
    indexed: BTreeMap<u64, Ticket>,
    pending: VecDeque<(Instant, Ticket)>,
}

impl SearchIndex {
    pub(crate) fn new(lag: Duration) -> Self {
        Self {
            lag,
            indexed: BTreeMap::new(),
            pending: VecDeque::new(),
        }
    }

    /// Queues the ticket's current state; it becomes searchable after the lag.
    pub(crate) fn write(&mut self, ticket: &Ticket) {
        self.pending.push_back((Instant::now() + self.lag, ticket.clone()));
    }

    /// Indexes everything due by `until` (everything with `None`).
    pub(crate) fn catch_up(&mut self, until: Option<Instant>) {
        while let Some((due, _)) = self.pending.front() {
            if until.is_some_and(|now| *due > now) {
                break;
            }
            if let Some((_, ticket)) = self.pending.pop_front() {
                self.indexed.insert(ticket.id, ticket);
            }
        }
    }

    /// Matching tickets, newest first: the total and one page.
    pub(crate) fn search(&mut self, expr: &Expr, page: usize, custom: &[CustomFieldSpec]) -> (usize, Vec<Ticket>) {
        self.catch_up(Some(Instant::now()));
        let hits: Vec<&Ticket> = self
            .indexed
            .values()
            .rev()
            .filter(|t| search::matches(expr, t, custom))
            .collect();
        let results = hits
            .iter()
            .skip(page.saturating_sub(1) * PAGE_SIZE)
            .take(PAGE_SIZE)
            .map(|t| (*t).clone())
            .collect();
        (hits.len(), results)
    }
}
