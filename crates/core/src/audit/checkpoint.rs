//! The per-install key and the signed checkpoint.
//!
//! The key is Ed25519, kept as a PKCS#8 PEM file `<data_dir>/audit-key.pem` (mode 0600),
//! created on first use. Its fingerprint is the SHA-256 of the public key's DER
//! `SubjectPublicKeyInfo` (what `openssl pkey -pubin -in public-key.pem -outform DER |
//! sha256sum` prints); when the key is created, an `audit.key_created` entry with the
//! fingerprint is appended to the log, so on a fresh install it is entry #1.
//!
//! The checkpoint is C2SP checkpoint text (origin, tree size, base64 root, then extension
//! lines), each line ending in `\n`:
//!
//! ```text
//! bigreach.audit/<first 16 hex digits of the fingerprint>
//! <size>
//! <base64 root>
//! time <RFC 3339 UTC, ms>
//! key sha256:<fingerprint hex>
//! ```
//!
//! `checkpoint.sig` is the raw 64-byte Ed25519 signature over exactly those bytes, so
//! `openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in checkpoint.txt -sigfile
//! checkpoint.sig` checks it.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use super::merkle::Hash;
use super::{AuditError, KEY_CREATED, KEY_FILE};
use crate::store::Store;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The install's signing key.
pub struct InstallKey {
    signing: SigningKey,
}

impl std::fmt::Debug for InstallKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallKey")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl InstallKey {
    /// Loads the key from `data_dir`, or creates it (0600) when there is none; either way the
    /// log gets an `audit.key_created` entry with its fingerprint if it has none for it.
    pub fn load_or_create(data_dir: &Path, store: &Store, at_ms: i64) -> Result<Self, AuditError> {
        if !data_dir.is_dir() {
            return Err(AuditError::NoDataDir {
                path: data_dir.display().to_string(),
            });
        }
        let path = data_dir.join(KEY_FILE);
        let key = match std::fs::read_to_string(&path) {
            Ok(pem) => Self::from_pem(&pem).map_err(|reason| AuditError::KeyFormat {
                path: path.display().to_string(),
                reason,
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate().map_err(|source| AuditError::KeyFile {
                    path: path.display().to_string(),
                    operation: "created",
                    source,
                })?;
                write_private(&path, key.private_pem().as_bytes()).map_err(|source| {
                    AuditError::KeyFile {
                        path: path.display().to_string(),
                        operation: "created",
                        source,
                    }
                })?;
                key
            }
            Err(source) => {
                return Err(AuditError::KeyFile {
                    path: path.display().to_string(),
                    operation: "read",
                    source,
                })
            }
        };
        let fingerprint = key.fingerprint();
        let recorded = store.audit_log()?.iter().any(|r| {
            r.action == KEY_CREATED
                && key_fingerprint_of(&r.detail).as_deref() == Some(fingerprint.as_str())
        });
        if !recorded {
            store.audit(
                at_ms,
                "system",
                KEY_CREATED,
                &serde_json::json!({
                    "key_fingerprint": fingerprint,
                    "algorithm": "ed25519",
                    "fingerprint_of": "sha256 of the DER SubjectPublicKeyInfo",
                }),
            )?;
        }
        Ok(key)
    }

    /// A fresh key from the operating system's random source.
    pub fn generate() -> std::io::Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| std::io::Error::other(e.to_string()))?;
        let signing = SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(InstallKey { signing })
    }

    /// Parses a PKCS#8 PEM private key.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        SigningKey::from_pkcs8_pem(pem)
            .map(|signing| InstallKey { signing })
            .map_err(|e| e.to_string())
    }

    fn private_pem(&self) -> zeroize::Zeroizing<String> {
        self.signing
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .unwrap_or_else(|e| unreachable!("PKCS#8 of an Ed25519 key: {e}"))
    }

    /// The public key.
    pub fn public(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The public key as PEM (`public-key.pem`).
    pub fn public_pem(&self) -> String {
        public_pem(&self.public())
    }

    /// The fingerprint: SHA-256 of the public key's DER `SubjectPublicKeyInfo`, hex.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.public())
    }

    /// Signs `bytes` (raw Ed25519, 64 bytes).
    pub fn sign(&self, bytes: &[u8]) -> [u8; 64] {
        self.signing.sign(bytes).to_bytes()
    }

    /// The text a scan for leaked secrets looks for: the base64 body of the private PEM.
    pub fn private_markers(&self) -> Vec<String> {
        let pem = self.private_pem();
        pem.lines()
            .filter(|line| !line.starts_with("-----") && !line.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The public key as PEM.
pub fn public_pem(key: &VerifyingKey) -> String {
    key.to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .unwrap_or_else(|e| unreachable!("SPKI of an Ed25519 key: {e}"))
}

/// Parses a PEM public key.
pub fn parse_public_pem(pem: &str) -> Result<VerifyingKey, String> {
    VerifyingKey::from_public_key_pem(pem).map_err(|e| e.to_string())
}

/// The fingerprint of a public key: SHA-256 of its DER `SubjectPublicKeyInfo`, hex.
pub fn fingerprint(key: &VerifyingKey) -> String {
    let der = key
        .to_public_key_der()
        .unwrap_or_else(|e| unreachable!("SPKI of an Ed25519 key: {e}"));
    hex::encode(Sha256::digest(der.as_bytes()))
}

/// Verifies a raw 64-byte Ed25519 signature.
pub fn verify_signature(key: &VerifyingKey, bytes: &[u8], signature: &[u8]) -> bool {
    let Ok(signature) = Signature::from_slice(signature) else {
        return false;
    };
    key.verify_strict(bytes, &signature).is_ok()
}

/// The `key_fingerprint` of a `audit.key_created` entry's detail.
pub fn key_fingerprint_of(detail: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(detail)
        .ok()?
        .get("key_fingerprint")?
        .as_str()
        .map(str::to_owned)
}

/// A signed tree head: the log's size and root at a time, under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// `bigreach.audit/<first 16 hex digits of the key fingerprint>`.
    pub origin: String,
    /// Entries in the tree.
    pub size: u64,
    /// The Merkle root.
    pub root: Hash,
    /// When it was made (ms since epoch, UTC).
    pub time_ms: i64,
    /// The signing key's fingerprint (hex).
    pub key_fingerprint: String,
}

impl Checkpoint {
    /// A checkpoint of `size` entries with `root`, made now under the key with `fingerprint`.
    pub fn new(size: u64, root: Hash, time_ms: i64, fingerprint: &str) -> Self {
        Checkpoint {
            origin: format!(
                "bigreach.audit/{}",
                &fingerprint[..16.min(fingerprint.len())]
            ),
            size,
            root,
            time_ms,
            key_fingerprint: fingerprint.to_owned(),
        }
    }

    /// The root as base64 (the checkpoint's third line).
    pub fn root_base64(&self) -> String {
        B64.encode(self.root)
    }

    /// The checkpoint text (what is signed).
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\ntime {}\nkey sha256:{}\n",
            self.origin,
            self.size,
            self.root_base64(),
            rfc3339_ms(self.time_ms),
            self.key_fingerprint
        )
    }

    /// Parses checkpoint text, exactly as [`Checkpoint::to_text`] writes it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some(body) = text.strip_suffix('\n') else {
            return Err("it does not end with a newline".into());
        };
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root, time, key] = lines.as_slice() else {
            return Err(format!("it has {} lines, not 5", lines.len()));
        };
        let size: u64 = size
            .parse()
            .map_err(|_| format!("the size line `{size}` is not a number"))?;
        let root: Hash = B64
            .decode(root)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| "the root line is not 32 bytes of base64".to_owned())?;
        let time = time
            .strip_prefix("time ")
            .ok_or("the fourth line does not start with `time `")?;
        let time_ms = chrono::DateTime::parse_from_rfc3339(time)
            .map_err(|e| format!("the time `{time}` is not RFC 3339: {e}"))?
            .timestamp_millis();
        let key_fingerprint = key
            .strip_prefix("key sha256:")
            .ok_or("the fifth line does not start with `key sha256:`")?
            .to_owned();
        let checkpoint = Checkpoint {
            origin: (*origin).to_owned(),
            size,
            root,
            time_ms,
            key_fingerprint,
        };
        if checkpoint.to_text() != text {
            return Err("it is not in the exact form BigReach writes".into());
        }
        Ok(checkpoint)
    }
}

/// RFC 3339 in UTC with milliseconds.
pub fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_round_trips_and_only_in_its_exact_form() {
        let key = InstallKey::generate().unwrap();
        let checkpoint = Checkpoint::new(12, [7u8; 32], 1_764_700_000_123, &key.fingerprint());
        let text = checkpoint.to_text();
        assert_eq!(Checkpoint::parse(&text), Ok(checkpoint));
        assert!(text.starts_with("bigreach.audit/"));
        assert!(Checkpoint::parse(&text.replace("\n12\n", "\n012\n")).is_err());
        assert!(Checkpoint::parse(text.trim_end()).is_err());
    }

    #[test]
    fn a_signature_verifies_only_for_its_bytes_and_key() {
        let key = InstallKey::generate().unwrap();
        let other = InstallKey::generate().unwrap();
        let signature = key.sign(b"size 3");
        assert!(verify_signature(&key.public(), b"size 3", &signature));
        assert!(!verify_signature(&key.public(), b"size 4", &signature));
        assert!(!verify_signature(&other.public(), b"size 3", &signature));
        assert!(!verify_signature(
            &key.public(),
            b"size 3",
            &signature[..63]
        ));
        let pem = key.public_pem();
        assert_eq!(parse_public_pem(&pem).unwrap(), key.public());
        assert_ne!(key.fingerprint(), other.fingerprint());
    }

    #[test]
    fn the_key_is_created_private_once_and_recorded_in_the_log_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("bigreach.redb")).unwrap();
        let key = InstallKey::load_or_create(dir.path(), &store, 1_000).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = InstallKey::load_or_create(dir.path(), &store, 2_000).unwrap();
        assert_eq!(key.fingerprint(), again.fingerprint());
        let log = store.audit_log().unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].action, KEY_CREATED);
        assert_eq!(key_fingerprint_of(&log[0].detail), Some(key.fingerprint()));
    }
}
