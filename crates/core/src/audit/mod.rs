//! The audit log made checkable outside the appliance: an offline bundle an auditor verifies
//! with stock tools or `bigreach verify`.
//!
//! The store keeps the log as a hash chain (`store::audit`: seq → [`AuditRecord`], each record
//! hashing the previous one). This module adds what an outsider needs:
//!
//! - [`canonical_entry`]: one canonical serialization of an entry (RFC 8785 JSON, `serde_jcs`),
//!   one line of `entries.jsonl`. The Merkle leaf is over exactly these bytes.
//! - [`merkle`]: the RFC 9162 (RFC 6962) tree over the entries: root and consistency proofs.
//! - [`checkpoint`]: the per-install Ed25519 key (`<data_dir>/audit-key.pem`, 0600, created on
//!   first use; its fingerprint goes into the log as an `audit.key_created` entry) and the
//!   signed checkpoint (C2SP checkpoint text: origin, size, root, plus time and key lines).
//! - [`bundle`]: the export (zip: `entries.jsonl`, CSV summaries, `report.html`,
//!   `checkpoint.txt` + `.sig`, `public-key.pem`, `consistency.json`, `manifest-sha256.txt`),
//!   written from the store directly (no running appliance).
//! - [`verify`]: every check `bigreach verify` makes, each failure a typed reason.
//!
//! The bundle layout and the manual verification steps are in `data/contract/audit-bundle.md`.

pub mod bundle;
pub mod checkpoint;
pub mod coverage;
pub mod merkle;
pub mod verify;

use crate::model::AuditRecord;
use crate::store::StoreError;

pub use bundle::{export, ExportRequest, Exported, Period};
pub use checkpoint::{Checkpoint, InstallKey};
pub use verify::{verify_bundle, Verified, VerifyError};

/// The audit action that records the install key's fingerprint.
pub const KEY_CREATED: &str = "audit.key_created";
/// The audit action that records an export (its checkpoint).
pub const EXPORTED: &str = "audit.exported";
/// The audit action that records the configuration the appliance started with (its hash).
pub const CONFIG_LOADED: &str = "config.loaded";
/// The audit action of the daily delivery summary.
pub const DELIVERY_DAILY: &str = "delivery.daily_summary";

/// The file name of the install key in the data directory.
pub const KEY_FILE: &str = "audit-key.pem";

/// Errors of the audit export (the verifier's are [`VerifyError`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The store could not be opened or read (see [`StoreError::InUse`] for a running
    /// appliance).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The data directory is not there.
    #[error("the data directory {path} does not exist; pass the `data_dir` of bigreach.toml with --data-dir (or --config)")]
    NoDataDir {
        /// The path given.
        path: String,
    },
    /// The data directory has no store.
    #[error("there is no store at {path}; pass the data directory of an appliance that has run (its `data_dir` in bigreach.toml) with --data-dir or --config")]
    NoStore {
        /// The store file looked for.
        path: String,
    },
    /// The install key could not be read or created.
    #[error("the audit key {path} could not be {operation}: {source}; check that the data directory belongs to the service user and is writable")]
    KeyFile {
        /// The key file.
        path: String,
        /// "read" or "created".
        operation: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The install key file is not a PKCS#8 Ed25519 private key.
    #[error("the audit key {path} is not a PKCS#8 Ed25519 key ({reason}); restore it from a backup (a new key would not match the fingerprint in the audit log)")]
    KeyFormat {
        /// The key file.
        path: String,
        /// What the parser said.
        reason: String,
    },
    /// The store's own hash chain is broken: it was altered outside BigReach.
    #[error("the audit chain in the store is broken at entry #{seq} (changed outside BigReach); no bundle was written: keep a copy of the data directory for investigation")]
    ChainBroken {
        /// The first broken entry.
        seq: u64,
    },
    /// The log no longer extends the checkpoint of the last export.
    #[error("the audit log no longer extends the last export's checkpoint ({previous_size} entries, root {previous_root}); it now has {size}: entries were removed or rewritten, so no bundle was written; keep a copy of the data directory for investigation")]
    HistoryRewritten {
        /// Size of the last export.
        previous_size: u64,
        /// Root of the last export (base64).
        previous_root: String,
        /// Size now.
        size: u64,
    },
    /// The last export's checkpoint recorded in the store cannot be read.
    #[error("the last export's checkpoint recorded in the store cannot be read ({reason}); the store may be damaged")]
    LastExport {
        /// What was wrong.
        reason: String,
    },
    /// An entry carries a field whose name says it holds a secret.
    #[error("audit entry #{seq} has a field named `{field}`, which looks like a secret; no bundle was written: report this as a bug (audit details must never hold secrets)")]
    SecretLikeField {
        /// The entry.
        seq: u64,
        /// The field name.
        field: String,
    },
    /// A known secret value appears in a bundle file.
    #[error("the bundle file {file} would contain a configured secret; no bundle was written: report this as a bug")]
    SecretInBundle {
        /// The file.
        file: String,
    },
    /// A time or date outside what the export can write.
    #[error(
        "the period is empty or inverted: {from} is after {to}; pass --from on or before --to"
    )]
    BadPeriod {
        /// First day.
        from: String,
        /// Last day.
        to: String,
    },
    /// The output file exists.
    #[error("{path} already exists; choose another --out (bundles are never overwritten)")]
    OutExists {
        /// The path.
        path: String,
    },
    /// Writing the bundle failed.
    #[error("writing the bundle {path} failed: {source}; check free space and permissions of its folder")]
    Write {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The zip writer failed.
    #[error("building the zip failed: {reason}")]
    Zip {
        /// The zip crate's message.
        reason: String,
    },
}

/// One entry as its canonical bytes: RFC 8785 (JCS) JSON of the record's fields, no newline.
pub fn canonical_entry(record: &AuditRecord) -> Vec<u8> {
    // A record is strings and integers only, which JCS always serializes.
    serde_jcs::to_vec(record).unwrap_or_else(|e| unreachable!("JCS of an audit record: {e}"))
}

/// The Merkle leaf hashes of a log, in order.
pub fn leaf_hashes(records: &[AuditRecord]) -> Vec<merkle::Hash> {
    records
        .iter()
        .map(|r| merkle::leaf_hash(&canonical_entry(r)))
        .collect()
}

/// Field names that must never appear in an audit detail (lowercase substrings).
const SECRET_FIELD_NAMES: [&str; 8] = [
    "secret",
    "password",
    "passwd",
    "access_token",
    "api_token",
    "api_key",
    "private_key",
    "authorization",
];

/// The first field of an entry's detail whose name says it holds a secret.
pub fn secret_like_field(record: &AuditRecord) -> Option<String> {
    fn walk(value: &serde_json::Value) -> Option<String> {
        match value {
            serde_json::Value::Object(map) => map.iter().find_map(|(key, value)| {
                let lower = key.to_ascii_lowercase();
                if SECRET_FIELD_NAMES.iter().any(|name| lower.contains(name)) {
                    Some(key.clone())
                } else {
                    walk(value)
                }
            }),
            serde_json::Value::Array(items) => items.iter().find_map(walk),
            _ => None,
        }
    }
    serde_json::from_str::<serde_json::Value>(&record.detail)
        .ok()
        .and_then(|detail| walk(&detail))
}

/// The configured secret values `resolver` can resolve (those it cannot are skipped), for the
/// export's scan: a bundle containing one of them is refused.
pub fn configured_secrets(
    config: &crate::config::Config,
    resolver: &crate::secret::SecretResolver,
) -> Vec<String> {
    use secrecy::ExposeSecret;
    [
        &config.bigcommerce.access_token,
        &config.bloomreach.secret,
        &config.webhooks.secret,
    ]
    .into_iter()
    .filter_map(|reference| resolver.resolve(reference).ok())
    .map(|secret| secret.expose_secret().to_owned())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(detail: &str) -> AuditRecord {
        AuditRecord {
            seq: 1,
            at_ms: 1_700_000_000_000,
            actor: "operator".into(),
            action: "dead_letter.replayed".into(),
            detail: detail.into(),
            prev_hash: String::new(),
            hash: "ab".into(),
        }
    }

    #[test]
    fn the_canonical_entry_sorts_keys_and_has_no_whitespace() {
        let text = String::from_utf8(canonical_entry(&record(r#"{"id":7}"#))).unwrap();
        assert_eq!(
            text,
            r#"{"action":"dead_letter.replayed","actor":"operator","at_ms":1700000000000,"detail":"{\"id\":7}","hash":"ab","prev_hash":"","seq":1}"#
        );
    }

    #[test]
    fn secret_like_field_names_are_found_at_any_depth() {
        assert_eq!(secret_like_field(&record(r#"{"id":7,"note":"x"}"#)), None);
        assert_eq!(
            secret_like_field(&record(r#"{"a":[{"Webhook_Secret":"x"}]}"#)),
            Some("Webhook_Secret".into())
        );
        assert_eq!(
            secret_like_field(&record(r#"{"access_token":"x"}"#)),
            Some("access_token".into())
        );
        // A fingerprint of a public key is not a secret.
        assert_eq!(
            secret_like_field(&record(r#"{"key_fingerprint":"ab"}"#)),
            None
        );
    }
}
