//! `X-Freshchat-Signature`: the RSA key text from configuration, the header, the raw body.
//!
//! Input: `key text \0 header \0 body`. RSA: a fuzzed key rarely parses, so verification also
//! runs against the known test key (whose valid signature is a committed seed). HMAC: the
//! secret is the key field, and a correct header is computed here, so the accepting path and
//! its tamper-resistance are exercised on every input.
#![no_main]

use std::sync::LazyLock;

use aws_lc_rs::hmac;
use libfuzzer_sys::fuzz_target;
use providers::Secret;
use providers::freshchat::{FreshchatPublicKey, WebhookVerifier, verify_hmac};
use switchboard_fuzz::{fields, text};

/// The test vector's key (crates/providers/src/freshchat/signature.rs).
const TEST_KEY: &str = "-----BEGIN RSA PUBLIC KEY----- MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAuGJLF4hTTtxWogT6dNkGf3CEgLAR2mGJzlds5cNbrHFoJNFnmVhkRYGzLYxx4EtDiezNCZVHfyMI2AKuNSQW2fEdDatVIG+q3Zr/X9eeDl8kQOGy804J/fgCYDrN8RQu0n5Dh1inv4puca0wb29SCvoAwrWb33ehDBIvv6+rUKBdjtv2xTV65kNiVDo5VRCaYRVeE10osxeONgw55HVY4nczuxnR+dmc2282de6WHe5LXtr0ZBdJ8yttFOLIluZ/sNM5DIWZBkIWQhyT581tbA7bTpsIbrT/IMBlmioIILw8WGtI7zcmNkjU5dnq5HnlVKEDhj/Ug/dLiyno8+Vp7QIDAQAB -----END RSA PUBLIC KEY-----";

static KNOWN_KEY: LazyLock<Option<FreshchatPublicKey>> = LazyLock::new(|| FreshchatPublicKey::parse(TEST_KEY).ok());

fuzz_target!(|data: &[u8]| {
    let [key_text, header, body] = fields::<3>(data);
    let key_text = text(key_text);
    let header = text(header);

    // RSA: parsing any text never panics; a verified body stops verifying when altered.
    let parsed = FreshchatPublicKey::parse(&key_text).ok();
    for key in parsed.iter().chain(KNOWN_KEY.iter()) {
        let verifier = WebhookVerifier::Rsa(key.clone());
        let verified = key.verify(body, &header);
        assert_eq!(verifier.verify(body, Some(&header)), verified);
        assert!(!verifier.verify(body, None), "a missing header never verifies");
        if verified {
            assert_tamper_fails(body, |b| key.verify(b, &header));
            assert!(!key.verify(body, &format!("{header}A")), "trailing junk in the header");
        }
    }

    // HMAC: the fuzzed header verifies exactly when it is the digest, modulo case, `sha256=`
    // and surrounding whitespace.
    let secret = key_text.as_bytes();
    let expected = hex(hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), body).as_ref());
    let accepted = verify_hmac(secret, body, &header);
    assert_eq!(accepted, normalised(&header) == expected, "header {header:?}");
    let verifier = WebhookVerifier::Hmac(Secret::new(key_text.as_ref()));
    assert_eq!(verifier.verify(body, Some(&header)), accepted);
    for good in [
        expected.clone(),
        expected.to_uppercase(),
        format!("sha256={expected}"),
        format!(" SHA256={expected}\n"),
    ] {
        assert!(verify_hmac(secret, body, &good), "{good:?}");
    }
    assert_tamper_fails(body, |b| verify_hmac(secret, b, &expected));
    let mut wrong = expected.clone().into_bytes();
    wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
    assert!(!verify_hmac(secret, body, &String::from_utf8_lossy(&wrong)));
    assert!(!verify_hmac(secret, body, &expected[..expected.len() - 2]), "truncated");
});

/// Flipping one bit anywhere in the body (first, middle, last byte), or appending a byte,
/// must make verification fail.
fn assert_tamper_fails(body: &[u8], verifies: impl Fn(&[u8]) -> bool) {
    let mut tampered = body.to_vec();
    for i in [0, body.len() / 2, body.len().saturating_sub(1)] {
        if i < tampered.len() {
            tampered[i] ^= 0x01;
            assert!(!verifies(&tampered), "verified with byte {i} flipped");
            tampered[i] ^= 0x01;
        }
    }
    tampered.push(b'\n');
    assert!(!verifies(&tampered), "verified with a byte appended");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What `verify_hmac` is documented to accept, reduced to lower-case hex.
fn normalised(header: &str) -> String {
    let header = header.trim();
    let hex = match header.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("sha256=") => &header[7..],
        _ => header,
    };
    hex.to_ascii_lowercase()
}
