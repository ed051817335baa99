//! Helpers shared by the fuzz targets.
//!
//! Multi-field targets read their input as NUL-separated fields, so seeds stay readable and can
//! be written by hand (`printf 'a\0b\0c'`); the last field takes the rest, NULs included.

use std::borrow::Cow;

/// The first `N - 1` NUL-terminated fields, then the rest. Missing fields are empty.
pub fn fields<const N: usize>(data: &[u8]) -> [&[u8]; N] {
    let mut out: [&[u8]; N] = [&[]; N];
    let mut rest = data;
    for slot in out.iter_mut().take(N.saturating_sub(1)) {
        match rest.iter().position(|&b| b == 0) {
            Some(nul) => {
                *slot = &rest[..nul];
                rest = &rest[nul + 1..];
            }
            None => {
                *slot = rest;
                rest = &[];
            }
        }
    }
    if let Some(last) = out.last_mut() {
        *last = rest;
    }
    out
}

/// Input bytes as text the way a lenient HTTP layer would see them.
pub fn text(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}
