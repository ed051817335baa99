//! `/api/v1`.

pub mod jobs;
pub mod me;

use axum::Router;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().merge(me::router()).merge(jobs::router())
}
