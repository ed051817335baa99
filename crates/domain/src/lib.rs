//! Switchboard's functional core.
//!
//! Every business decision lives here as a pure function over typed values: no I/O, no clock (time
//! is always an argument), no randomness. The service crate loads state, calls into this crate and
//! stores what it decides.

pub mod callback;
pub mod context;
pub mod friction;
pub mod ids;
pub mod incidence;
pub mod money;
pub mod order;
pub mod phone;
pub mod routing;
pub mod ticket;
