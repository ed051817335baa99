//! Freshdesk webhook authentication: `Authorization` header, `?token=`, the tenant's token.
//!
//! Input: `authorization \0 query token \0 expected token`.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use providers::freshdesk::check_webhook_auth;
use switchboard_fuzz::{fields, text};

fuzz_target!(|data: &[u8]| {
    let [authorization, query, expected] = fields::<3>(data);
    let authorization = text(authorization);
    let query = text(query);
    let accepted = check_webhook_auth(Some(&authorization), Some(&query), expected);

    // An unconfigured tenant is closed, whatever is presented.
    if expected.is_empty() {
        assert!(!accepted);
        assert!(!check_webhook_auth(Some(&authorization), None, expected));
        assert!(!check_webhook_auth(None, Some(&query), expected));
        return;
    }
    let by_query = query.as_bytes() == expected;
    let by_header = check_webhook_auth(Some(&authorization), None, expected);
    assert_eq!(check_webhook_auth(None, Some(&query), expected), by_query);
    assert_eq!(accepted, by_query || by_header);
    if by_header {
        // Accepted only as `Basic base64(user:token)`.
        let (scheme, credentials) = authorization.trim().split_once(' ').expect("a scheme and credentials");
        assert!(scheme.eq_ignore_ascii_case("basic"));
        let decoded = STANDARD.decode(credentials.trim()).expect("base64 credentials");
        let colon = decoded.iter().position(|&b| b == b':').expect("user:password");
        assert_eq!(&decoded[colon + 1..], expected);
    }

    // The token as the Basic password, with the fuzzed text as the user name, is accepted;
    // one byte off, or only a prefix, is not.
    let user: Vec<u8> = query.bytes().filter(|&b| b != b':').collect();
    let basic = |password: &[u8]| {
        let mut credentials = user.clone();
        credentials.push(b':');
        credentials.extend_from_slice(password);
        format!("Basic {}", STANDARD.encode(credentials))
    };
    assert!(check_webhook_auth(Some(&basic(expected)), None, expected));
    assert!(check_webhook_auth(
        Some(&basic(expected).replacen("Basic", " basic", 1)),
        None,
        expected
    ));
    let mut wrong = expected.to_vec();
    wrong[0] ^= 0x01;
    assert!(!check_webhook_auth(Some(&basic(&wrong)), None, expected));
    if let Ok(wrong) = std::str::from_utf8(&wrong) {
        assert!(!check_webhook_auth(None, Some(wrong), expected));
    }
    assert!(!check_webhook_auth(
        Some(&basic(&expected[..expected.len() - 1])),
        None,
        expected
    ));
});
