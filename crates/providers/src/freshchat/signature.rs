//! `X-Freshchat-Signature` verification (freshworks.md §2.7).
//!
//! Freshchat signs the exact raw body with RSASSA-PKCS1-v1_5/SHA-256 and sends the signature as
//! standard base64. The admin UI shows the key as `-----BEGIN RSA PUBLIC KEY-----` armour around
//! what is really an X.509 SubjectPublicKeyInfo, sometimes on one line, so the parser ignores
//! the label. aws-lc-rs accepts both SubjectPublicKeyInfo and PKCS#1 `RSAPublicKey` DER, which
//! covers a correctly labelled PKCS#1 key too, without a hand-written DER reader.
//!
//! Relays may sign with a shared secret instead: [`verify_hmac`].

use std::fmt;

use aws_lc_rs::{hmac, signature};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq as _;

use crate::Secret;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the public key is empty")]
    Empty,
    #[error("the public key has an unterminated `-----` armour line")]
    UnterminatedArmour,
    #[error("the public key body is not valid base64")]
    Base64,
    #[error("the public key is not an RSA public key (SubjectPublicKeyInfo or PKCS#1 DER)")]
    NotRsa,
}

/// A parsed webhook verification key. Parse once per tenant, verify many times.
#[derive(Clone)]
pub struct FreshchatPublicKey {
    key: signature::ParsedPublicKey,
}

impl fmt::Debug for FreshchatPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FreshchatPublicKey(RSA)")
    }
}

impl FreshchatPublicKey {
    /// Accepts `BEGIN RSA PUBLIC KEY` or `BEGIN PUBLIC KEY` armour (or none), on one line or
    /// many, around an SPKI or PKCS#1 body.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let body = strip_armour(text)?;
        if body.is_empty() {
            return Err(KeyError::Empty);
        }
        let der = STANDARD.decode(body).map_err(|_| KeyError::Base64)?;
        signature::ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, der)
            .map(|key| Self { key })
            .map_err(|_| KeyError::NotRsa)
    }

    /// True when `header` is a valid signature of exactly `body`. Never panics; any malformed
    /// header is simply not valid.
    pub fn verify(&self, body: &[u8], header: &str) -> bool {
        let Ok(signature) = STANDARD.decode(header.trim()) else {
            return false;
        };
        self.key.verify_sig(body, &signature).is_ok()
    }
}

/// Drops every `-----…-----` marker and all whitespace, leaving the base64 body.
fn strip_armour(text: &str) -> Result<String, KeyError> {
    const DASHES: &str = "-----";
    let mut body = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(DASHES) {
        body.push_str(&rest[..start]);
        let after_open = &rest[start + DASHES.len()..];
        let close = after_open.find(DASHES).ok_or(KeyError::UnterminatedArmour)?;
        rest = &after_open[close + DASHES.len()..];
    }
    body.push_str(rest);
    body.retain(|c| !c.is_whitespace());
    Ok(body)
}

/// Hex HMAC-SHA256 of the body, as relays send it: either case, optional `sha256=` prefix.
/// Compared in constant time.
pub fn verify_hmac(secret: &[u8], body: &[u8], header: &str) -> bool {
    let header = header.trim();
    let hex = header
        .get(..7)
        .filter(|prefix| prefix.eq_ignore_ascii_case("sha256="))
        .map_or(header, |_| &header[7..]);
    let Some(given) = decode_hex(hex) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let expected = hmac::sign(&key, body);
    expected.as_ref().ct_eq(&given).into()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// How a tenant's Freshchat webhooks are authenticated: the RSA key from the admin UI, or a
/// shared secret for relays that re-sign with HMAC.
#[derive(Debug, Clone)]
pub enum WebhookVerifier {
    Rsa(FreshchatPublicKey),
    Hmac(Secret),
}

impl WebhookVerifier {
    /// Checks `X-Freshchat-Signature`; a missing header never verifies.
    pub fn verify(&self, body: &[u8], header: Option<&str>) -> bool {
        let Some(header) = header else {
            return false;
        };
        match self {
            Self::Rsa(key) => key.verify(body, header),
            Self::Hmac(secret) => verify_hmac(secret.expose().as_bytes(), body, header),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The courier test vector (payloads/freshchat_message_create_1.*); the integration test in
    // tests/payloads.rs checks it against the real files too.
    const KEY_ONE_LINE: &str = "-----BEGIN RSA PUBLIC KEY----- MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAuGJLF4hTTtxWogT6dNkGf3CEgLAR2mGJzlds5cNbrHFoJNFnmVhkRYGzLYxx4EtDiezNCZVHfyMI2AKuNSQW2fEdDatVIG+q3Zr/X9eeDl8kQOGy804J/fgCYDrN8RQu0n5Dh1inv4puca0wb29SCvoAwrWb33ehDBIvv6+rUKBdjtv2xTV65kNiVDo5VRCaYRVeE10osxeONgw55HVY4nczuxnR+dmc2282de6WHe5LXtr0ZBdJ8yttFOLIluZ/sNM5DIWZBkIWQhyT581tbA7bTpsIbrT/IMBlmioIILw8WGtI7zcmNkjU5dnq5HnlVKEDhj/Ug/dLiyno8+Vp7QIDAQAB -----END RSA PUBLIC KEY-----";
    const BODY: &[u8] = br#"{"actor":{"actor_type":"user","actor_id":"882f3926-b292-414b-a411-96380db373cd"},"action":"message_create","action_time":"2019-06-21T17:43:20.875Z","data":{"message":{"message_parts":[{"text":{"content":"Test 2"}}],"app_id":"55b190fa-5d3c-45c4-bc49-74ddcfcf53d7","actor_id":"882f3926-b292-414b-a411-96380db373cd","id":"7a454fde-c720-4c97-a61d-0ffe70449eb6","channel_id":"c8fddfaf-622a-4a0e-b060-4f3ccbeab606","conversation_id":"c327498e-f713-481e-8d83-0603e03d2521","message_type":"normal","actor_type":"user","created_time":"2019-06-21T17:43:20.866Z"}}}"#;
    const SIGNATURE: &str = "AhrmypOSWoewHG6LmIRuWjxyokuMDmPklrSU9p0gpUNjdSRCJzvpL6rjuTi5poV/ZLzWRWNM7X9yWjT5m9YFPshYrvigcd1ph4Ot2xmaJGYoUNJHijQccE6oDtDIp6i/8oLRafHgObQnGukZWPbP9OE5EiKz/VcsMP0Wv7hawI/sfIviM0w+6fNOKXWi0jDBH9ap1mj5CqOUOojni7OD5iYmIrjV/h33dyNmbvAta9E+trzcEhYqxfHIN4Z8R2FsatfRHWicoQ4PE5cQ8+UONVya8qr85nQ9w8N7Ql7yNg9fEViYG4/W/JnGEbPPEf8WrYtKzoVyuupDz4mVHdfKWg==";

    fn key() -> FreshchatPublicKey {
        FreshchatPublicKey::parse(KEY_ONE_LINE).expect("test key parses")
    }

    fn key_body() -> String {
        strip_armour(KEY_ONE_LINE).expect("armour strips")
    }

    #[test]
    fn test_vector_verifies_and_tampering_fails() {
        let key = key();
        assert!(key.verify(BODY, SIGNATURE));
        assert!(key.verify(BODY, &format!("  {SIGNATURE}\n")));
        let mut with_newline = BODY.to_vec();
        with_newline.push(b'\n');
        assert!(!key.verify(&with_newline, SIGNATURE));
        assert!(!key.verify(b"", SIGNATURE));
    }

    #[test]
    fn multi_line_and_relabelled_keys_parse_to_the_same_key() {
        let body = key_body();
        let wrapped: Vec<String> = body
            .as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let multi = format!(
            "-----BEGIN RSA PUBLIC KEY-----\r\n{}\r\n-----END RSA PUBLIC KEY-----\n",
            wrapped.join("\r\n")
        );
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
            wrapped.join("\n")
        );
        for text in [multi.as_str(), pem.as_str(), body.as_str()] {
            let key = FreshchatPublicKey::parse(text).expect("key parses");
            assert!(key.verify(BODY, SIGNATURE), "{text}");
        }
    }

    #[test]
    fn pkcs1_body_is_accepted_too() {
        let spki = STANDARD.decode(key_body()).expect("base64");
        // SPKI = SEQUENCE { AlgorithmIdentifier (15 bytes here), BIT STRING { 0x00, RSAPublicKey } };
        // for this 2048-bit key the RSAPublicKey starts 24 bytes in.
        let pkcs1 = &spki[24..];
        assert_eq!(pkcs1[0], 0x30, "RSAPublicKey is a SEQUENCE");
        let text = format!(
            "-----BEGIN RSA PUBLIC KEY-----\n{}\n-----END RSA PUBLIC KEY-----",
            STANDARD.encode(pkcs1)
        );
        let key = FreshchatPublicKey::parse(&text).expect("pkcs1 parses");
        assert!(key.verify(BODY, SIGNATURE));
    }

    #[test]
    fn invalid_signatures_are_rejected() {
        let key = key();
        let invalid = "f7wMD1BBhcj60U0z3dCY519qmxQ8qfVUU212Dapw9vpZfRBfjjmukUK2GwbAb0Nc+TGQHxN4iP4WD+Y/mSx6f4bmkBsvCy3l4OCQ/FEK0y5R7f+GLLDhgbTh90MwuLDHhvxB5dxIeu59leL+4yO+l/8M3Tm48aQurVBi9IAlzFsMtc1S1CiRxsDUb/rD6IRekPa0pUAbkno9qJ/CGXh0kZMdsYzRkzZmKCs79OWrvU94ha0ptyt5wArfmD1oSzY3PjeL2w8LWDc0QV21H/Hvj42azIUqebiNRtZ2E+f34AfQsyfcPuy1k/6qLuYGOdU1uZidPuPcGpeSIm0GW6k9HQ==";
        for header in [invalid, "", "!!!not base64!!!", "AAAA", "é", &SIGNATURE[..100]] {
            assert!(!key.verify(BODY, header), "{header:?}");
        }
    }

    #[test]
    fn garbage_keys_are_errors() {
        assert_eq!(FreshchatPublicKey::parse("").err(), Some(KeyError::Empty));
        assert_eq!(
            FreshchatPublicKey::parse("-----BEGIN RSA PUBLIC KEY----- -----END RSA PUBLIC KEY-----").err(),
            Some(KeyError::Empty)
        );
        assert_eq!(
            FreshchatPublicKey::parse("-----BEGIN RSA PUBLIC KEY MIIB").err(),
            Some(KeyError::UnterminatedArmour)
        );
        assert_eq!(FreshchatPublicKey::parse("not*base64").err(), Some(KeyError::Base64));
        assert_eq!(FreshchatPublicKey::parse("AAAA").err(), Some(KeyError::NotRsa));
        let truncated = &key_body()[..200];
        assert!(FreshchatPublicKey::parse(truncated).is_err());
        assert!(FreshchatPublicKey::parse("é-----ü-----ß").is_err());
    }

    // Expected digests computed with `printf %s BODY | openssl dgst -sha256 -hmac s3cret`.
    const HMAC_BODY: &[u8] = b"{\"action\":\"message_create\"}";
    const HMAC_HEX: &str = "1f40e15faaad23ad756b6cc46d72efd47748e08c76a4579a54d1680a94d535fa";

    #[test]
    fn hmac_accepts_either_case_and_the_sha256_prefix() {
        assert!(verify_hmac(b"s3cret", HMAC_BODY, HMAC_HEX));
        assert!(verify_hmac(b"s3cret", HMAC_BODY, &HMAC_HEX.to_uppercase()));
        assert!(verify_hmac(b"s3cret", HMAC_BODY, &format!("sha256={HMAC_HEX}")));
        assert!(verify_hmac(b"s3cret", HMAC_BODY, &format!("SHA256={HMAC_HEX}\n")));
    }

    #[test]
    fn hmac_rejects_wrong_secret_body_or_garbage() {
        assert!(!verify_hmac(b"other", HMAC_BODY, HMAC_HEX));
        assert!(!verify_hmac(b"s3cret", b"{}", HMAC_HEX));
        for header in ["", "sha256=", "zz", "abc", &HMAC_HEX[..62], "é", "sha256é"] {
            assert!(!verify_hmac(b"s3cret", HMAC_BODY, header), "{header:?}");
        }
    }

    #[test]
    fn verifier_dispatches_and_requires_a_header() {
        let rsa = WebhookVerifier::Rsa(key());
        assert!(rsa.verify(BODY, Some(SIGNATURE)));
        assert!(!rsa.verify(BODY, None));
        let hmac = WebhookVerifier::Hmac(Secret::new("s3cret"));
        assert!(hmac.verify(HMAC_BODY, Some(HMAC_HEX)));
        assert!(!hmac.verify(HMAC_BODY, Some(SIGNATURE)));
        assert_eq!(format!("{hmac:?}"), "Hmac(***)");
    }
}
