//! Freshchat's webhook signature (freshworks.md §2.7): RSASSA-PKCS1-v1_5 with SHA-256 over the
//! exact body bytes, base64 (standard, padded) in `X-Freshchat-Signature`.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::SandboxError;

pub(crate) struct Signer {
    key: RsaKeyPair,
    rng: SystemRandom,
    public_key_pem: String,
}

impl Signer {
    /// Uses the given PKCS#8 key (stable across restarts) or generates an RSA-2048 one.
    pub(crate) fn new(pkcs8: Option<&[u8]>) -> Result<Self, SandboxError> {
        let key = match pkcs8 {
            Some(der) => RsaKeyPair::from_pkcs8(der).map_err(|e| SandboxError::SigningKey(e.to_string()))?,
            None => RsaKeyPair::generate(KeySize::Rsa2048)
                .map_err(|_| SandboxError::SigningKey("RSA-2048 generation failed".into()))?,
        };
        let spki = key
            .public_key()
            .as_der()
            .map_err(|_| SandboxError::SigningKey("cannot encode the public key".into()))?;
        let public_key_pem = misleading_armour(&STANDARD.encode(spki.as_ref()));
        Ok(Self {
            key,
            rng: SystemRandom::new(),
            public_key_pem,
        })
    }

    /// The public key as Freshchat's admin UI shows it.
    pub(crate) fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }

    /// Base64 signature of `body`.
    pub(crate) fn sign(&self, body: &[u8]) -> Result<String, SandboxError> {
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, body, &mut signature)
            .map_err(|_| SandboxError::SigningKey("signing failed".into()))?;
        Ok(STANDARD.encode(signature))
    }
}

/// An SPKI body inside "RSA PUBLIC KEY" armour (which by name would be PKCS#1): the mismatch
/// Freshchat really ships, kept so clients' key parsers are exercised.
fn misleading_armour(spki_base64: &str) -> String {
    let mut pem = String::from("-----BEGIN RSA PUBLIC KEY-----\n");
    for chunk in spki_base64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str("-----END RSA PUBLIC KEY-----\n");
    pem
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    #[test]
    fn signature_verifies_with_the_published_key() -> Result<(), Box<dyn std::error::Error>> {
        let signer = Signer::new(None)?;
        let pem = signer.public_key_pem();
        assert!(pem.starts_with("-----BEGIN RSA PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"));
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(b64)?;
        let body = br#"{"action":"message_create"}"#;
        let sig = STANDARD.decode(signer.sign(body)?)?;
        let key = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der);
        assert!(key.verify(body, &sig).is_ok());
        assert!(key.verify(b"{\"action\":\"message_create\"}\n", &sig).is_err());
        Ok(())
    }
}
