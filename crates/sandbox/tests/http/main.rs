//! The sandbox over real HTTP: its APIs, webhooks, faults and pages.

mod automation;
mod faults;
mod freshchat;
mod freshdesk;
mod helpers;
mod pages;
mod rate_limit;
mod search;
mod webhooks;
