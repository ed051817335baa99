//! Who is calling: tenant API keys.

pub mod api_keys;
