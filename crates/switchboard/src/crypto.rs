//! Provider credentials at rest: AES-256-GCM under the master key.
//!
//! The associated data binds each ciphertext to its tenant and integration kind, so a sealed
//! blob copied to another tenant's row, or to another kind, fails to open instead of leaking.

use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use domain::ids::TenantId;
use secrecy::{ExposeSecret, SecretString};

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("expected 32 random bytes as 64 hex characters or base64 (generate one with `openssl rand -hex 32`)")]
    BadMasterKey,
    #[error("credentials could not be decrypted: wrong master key, or they belong to another tenant or kind")]
    Unsealable,
    #[error("the random number generator failed")]
    Random,
    #[error("the development key file {path} could not be used: {source}")]
    KeyFile { path: PathBuf, source: std::io::Error },
}

/// The key that seals credentials. Never printed: Debug shows nothing of it.
pub struct MasterKey {
    key: LessSafeKey,
    /// Derived from the master key: signs links (e.g. the Freshdesk sidebar's).
    signing: aws_lc_rs::hmac::Key,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// Where the master key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Configured,
    /// No `SWITCHBOARD_MASTER_KEY`: a development key kept in the data folder.
    DevelopmentFile {
        path: PathBuf,
        created: bool,
    },
}

/// A sealed secret: a fresh random nonce and the ciphertext with its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

impl MasterKey {
    /// Parses 32 bytes given as hex or base64.
    pub fn parse(text: &SecretString) -> Result<MasterKey, CryptoError> {
        let text = text.expose_secret().trim();
        let bytes = hex::decode(text)
            .ok()
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .filter(|b| b.len() == 32)
            .ok_or(CryptoError::BadMasterKey)?;
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Result<MasterKey, CryptoError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| CryptoError::BadMasterKey)?;
        // A separate key for signatures, so that no value is ever both encrypted and MACed
        // under the same key.
        let derive = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, bytes);
        let derived = aws_lc_rs::hmac::sign(&derive, b"switchboard/signing/v1");
        let signing = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, derived.as_ref());
        Ok(MasterKey {
            key: LessSafeKey::new(unbound),
            signing,
        })
    }

    /// An HMAC-SHA256 of `data` for `purpose` (purposes never verify each other's signatures).
    pub fn sign(&self, purpose: &str, data: &[u8]) -> Vec<u8> {
        aws_lc_rs::hmac::sign(&self.signing, &signed_message(purpose, data))
            .as_ref()
            .to_vec()
    }

    /// Checks a signature from [`Self::sign`] in constant time.
    pub fn verify_signature(&self, purpose: &str, data: &[u8], signature: &[u8]) -> bool {
        aws_lc_rs::hmac::verify(&self.signing, &signed_message(purpose, data), signature).is_ok()
    }

    /// The configured key, else the development key in `data_dir` (created on first use).
    pub fn load_or_create(
        configured: Option<&SecretString>,
        data_dir: &Path,
    ) -> Result<(MasterKey, KeySource), CryptoError> {
        if let Some(text) = configured {
            return Ok((Self::parse(text)?, KeySource::Configured));
        }
        let path = data_dir.join("master.key");
        let io = |source| CryptoError::KeyFile {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let key = Self::parse(&SecretString::from(text))?;
                Ok((key, KeySource::DevelopmentFile { path, created: false }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir).map_err(io)?;
                let mut bytes = [0u8; 32];
                aws_lc_rs::rand::fill(&mut bytes).map_err(|_| CryptoError::Random)?;
                write_private(&path, hex::encode(bytes).as_bytes()).map_err(io)?;
                Ok((
                    Self::from_bytes(&bytes)?,
                    KeySource::DevelopmentFile { path, created: true },
                ))
            }
            Err(e) => Err(io(e)),
        }
    }

    pub fn seal(&self, tenant: TenantId, kind: &str, plaintext: &[u8]) -> Result<Sealed, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| CryptoError::Random)?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(tenant, kind)),
                &mut buf,
            )
            .map_err(|_| CryptoError::Unsealable)?;
        Ok(Sealed {
            nonce: nonce.to_vec(),
            ciphertext: buf,
        })
    }

    pub fn open(&self, tenant: TenantId, kind: &str, sealed: &Sealed) -> Result<Vec<u8>, CryptoError> {
        let nonce = Nonce::try_assume_unique_for_key(&sealed.nonce).map_err(|_| CryptoError::Unsealable)?;
        let mut buf = sealed.ciphertext.clone();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad(tenant, kind)), &mut buf)
            .map_err(|_| CryptoError::Unsealable)?;
        Ok(plain.to_vec())
    }
}

fn signed_message(purpose: &str, data: &[u8]) -> Vec<u8> {
    let mut m = purpose.as_bytes().to_vec();
    m.push(0);
    m.extend_from_slice(data);
    m
}

fn aad(tenant: TenantId, kind: &str) -> Vec<u8> {
    let mut aad = b"switchboard/credentials/v1\0".to_vec();
    aad.extend_from_slice(tenant.as_uuid().as_bytes());
    aad.push(0);
    aad.extend_from_slice(kind.as_bytes());
    aad
}

/// Writes a file readable only by its owner.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn key(byte: u8) -> MasterKey {
        MasterKey::parse(&SecretString::from(hex::encode([byte; 32]))).expect("valid key")
    }

    #[test]
    fn round_trips_and_fails_closed() {
        let (a, b) = (TenantId(Uuid::from_u128(1)), TenantId(Uuid::from_u128(2)));
        let k = key(7);
        let sealed = k.seal(a, "freshdesk", b"{\"api_key\":\"s3cret\"}").expect("seal");
        assert!(
            !sealed.ciphertext.windows(6).any(|w| w == b"s3cret"),
            "ciphertext hides the secret"
        );
        assert_eq!(
            k.open(a, "freshdesk", &sealed).expect("open"),
            b"{\"api_key\":\"s3cret\"}"
        );
        assert!(
            matches!(k.open(b, "freshdesk", &sealed), Err(CryptoError::Unsealable)),
            "another tenant"
        );
        assert!(
            matches!(k.open(a, "freshchat", &sealed), Err(CryptoError::Unsealable)),
            "another kind"
        );
        assert!(
            matches!(key(8).open(a, "freshdesk", &sealed), Err(CryptoError::Unsealable)),
            "another key"
        );
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert!(
            matches!(k.open(a, "freshdesk", &tampered), Err(CryptoError::Unsealable)),
            "tampered"
        );
        assert_ne!(
            k.seal(a, "freshdesk", b"x").expect("seal").nonce,
            k.seal(a, "freshdesk", b"x").expect("seal").nonce
        );
    }

    #[test]
    fn signatures_are_bound_to_key_purpose_and_data() {
        let (k, other) = (key(1), key(2));
        let sig = k.sign("sidebar", b"tenant|42");
        assert!(k.verify_signature("sidebar", b"tenant|42", &sig));
        assert!(!k.verify_signature("sidebar", b"tenant|43", &sig));
        assert!(!k.verify_signature("other", b"tenant|42", &sig));
        assert!(!other.verify_signature("sidebar", b"tenant|42", &sig));
        assert!(!k.verify_signature("sidebar", b"tenant|42", &sig[..16]));
    }

    #[test]
    fn parses_hex_and_base64_only_of_32_bytes() {
        assert!(MasterKey::parse(&SecretString::from(hex::encode([1u8; 32]))).is_ok());
        let b64 = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        assert!(MasterKey::parse(&SecretString::from(b64)).is_ok());
        assert!(MasterKey::parse(&SecretString::from(hex::encode([1u8; 16]))).is_err());
        assert!(MasterKey::parse(&SecretString::from("not a key".to_owned())).is_err());
        assert_eq!(format!("{:?}", key(1)), "MasterKey(***)");
    }

    #[test]
    fn development_key_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("sb-crypto-{}", Uuid::new_v4()));
        let (k1, s1) = MasterKey::load_or_create(None, &dir).expect("create");
        assert!(matches!(s1, KeySource::DevelopmentFile { created: true, .. }));
        let (k2, s2) = MasterKey::load_or_create(None, &dir).expect("reuse");
        assert!(matches!(s2, KeySource::DevelopmentFile { created: false, .. }));
        let t = TenantId(Uuid::from_u128(9));
        let sealed = k1.seal(t, "k", b"v").expect("seal");
        assert_eq!(k2.open(t, "k", &sealed).expect("same key"), b"v");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("master.key"))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
