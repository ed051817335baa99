//! `/api/v1`.

pub mod calls;
pub mod channel;
pub mod context;
pub mod freshdesk;
pub mod incidences;
pub mod input;
pub mod integrations;
pub mod jobs;
pub mod me;
pub mod messages;
pub mod orders;
pub mod settings;

use crate::http::routes::Routes;

pub fn router() -> Routes {
    Routes::new()
        .merge(me::router())
        .merge(jobs::router())
        .merge(incidences::router())
        .merge(freshdesk::router())
        .merge(messages::router())
        .merge(context::router())
        .merge(channel::router())
        .merge(calls::router())
        .merge(orders::router())
        .merge(integrations::router())
        .merge(settings::router())
}
