//! Authentication of inbound Freshdesk automation webhooks. Freshdesk cannot sign requests; a
//! rule either sends HTTP Basic credentials or carries a secret in the URL (freshworks.md §4.2).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq as _;

/// True when the tenant's webhook token is presented as the Basic password (any username) or
/// as the `?token=` query value. Compared in constant time; an empty expected token never
/// matches, so an unconfigured tenant is closed rather than open.
pub fn check_webhook_auth(authorization_header: Option<&str>, query_token: Option<&str>, expected: &[u8]) -> bool {
    if expected.is_empty() {
        return false;
    }
    let by_query = query_token.is_some_and(|token| bool::from(token.as_bytes().ct_eq(expected)));
    let by_basic = authorization_header
        .and_then(basic_password)
        .is_some_and(|password| bool::from(password.as_slice().ct_eq(expected)));
    // Non-short-circuit `|`: both checks always run.
    by_query | by_basic
}

/// The password of a `Basic base64(user:password)` header.
fn basic_password(header: &str) -> Option<Vec<u8>> {
    let header = header.trim();
    let (scheme, credentials) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(credentials.trim()).ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    decoded.get(colon + 1..).map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
    }

    #[test]
    fn accepts_the_token_as_basic_password_with_any_username() {
        assert!(check_webhook_auth(Some(&basic("freshdesk", "s3cret")), None, b"s3cret"));
        assert!(check_webhook_auth(Some(&basic("", "s3cret")), None, b"s3cret"));
        assert!(check_webhook_auth(
            Some(&basic("x", "s3cret").replace("Basic", "basic")),
            None,
            b"s3cret"
        ));
        // A password may itself contain ':'; only the first one separates the username.
        assert!(check_webhook_auth(Some(&basic("u", "a:b")), None, b"a:b"));
    }

    #[test]
    fn accepts_the_token_in_the_query() {
        assert!(check_webhook_auth(None, Some("s3cret"), b"s3cret"));
        assert!(check_webhook_auth(Some("Bearer nope"), Some("s3cret"), b"s3cret"));
    }

    #[test]
    fn rejects_everything_else() {
        let expected = b"s3cret";
        assert!(!check_webhook_auth(None, None, expected));
        assert!(!check_webhook_auth(None, Some("s3cre"), expected));
        assert!(!check_webhook_auth(None, Some("s3cret "), expected));
        assert!(!check_webhook_auth(Some(&basic("s3cret", "x")), None, expected));
        assert!(!check_webhook_auth(Some("Bearer s3cret"), None, expected));
        assert!(!check_webhook_auth(Some("Basic !!!"), None, expected));
        assert!(!check_webhook_auth(Some("Basic"), None, expected));
        assert!(!check_webhook_auth(
            Some(&format!("Basic {}", STANDARD.encode("no-colon"))),
            None,
            expected
        ));
        // An unconfigured (empty) token never authenticates, even against empty input.
        assert!(!check_webhook_auth(None, Some(""), b""));
        assert!(!check_webhook_auth(Some(&basic("u", "")), None, b""));
    }
}
