//! `bigreach verify`: every check of a bundle, each failure a typed reason naming what failed.
//!
//! In order: the zip is readable and holds plain, unique file names; the manifest lists every
//! other file and nothing else, and every hash matches (BagIt's completeness rule: no file
//! missing, none extra); the checkpoint parses, names the bundle's public key and is signed
//! by it; every line of `entries.jsonl` is one canonical entry, the entries are #1..#n with an
//! unbroken hash chain, `n` is the checkpoint's size and their Merkle root its root; the first
//! `audit.key_created` entry names this key; `consistency.json` proves this tree extends the
//! earlier checkpoint it names; with a previous bundle, that bundle verifies by itself and its
//! checkpoint is a prefix of this log; and the zip is byte for byte the form BigReach writes
//! (a byte changed outside the files' contents is caught too).

use base64::Engine;

use super::bundle::{
    self, ConsistencyDoc, CHECKPOINT, CONSISTENCY, CONSISTENCY_ALGORITHM, ENTRIES, MANIFEST,
    PAYLOAD, PUBLIC_KEY, SIGNATURE,
};
use super::checkpoint::{self, Checkpoint};
use super::merkle::{self, ConsistencyError, Hash};
use super::{canonical_entry, KEY_CREATED};
use crate::model::AuditRecord;
use crate::store::verify_audit_chain;

/// Why a bundle did not verify. Every message names the file or entry and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a readable zip.
    #[error("the bundle is not a readable zip ({reason}): it is damaged or not a BigReach audit bundle; ask for the original file or a fresh export")]
    NotAZip {
        /// What the zip reader said.
        reason: String,
    },
    /// A file name with a folder, `..`, or a duplicate.
    #[error("the bundle has a file named `{name}` ({reason}); a BigReach bundle has only plain, unique names: it was altered")]
    BadName {
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// No manifest.
    #[error("the bundle has no manifest-sha256.txt: it is incomplete; ask for the original file")]
    NoManifest,
    /// A manifest line that is not `<64 hex>  <name>`.
    #[error("manifest-sha256.txt line {line} is not `<sha256>  <file>`: the manifest was altered")]
    ManifestLine {
        /// 1-based line.
        line: usize,
    },
    /// A file the manifest lists is not in the bundle.
    #[error(
        "{name} is listed in the manifest but missing from the bundle: the bundle is incomplete"
    )]
    MissingFile {
        /// The file.
        name: String,
    },
    /// A file in the bundle the manifest does not list.
    #[error("{name} is in the bundle but not in the manifest: a file was added after export")]
    UnlistedFile {
        /// The file.
        name: String,
    },
    /// A listed file that a BigReach bundle never has.
    #[error("{name} is listed in the manifest but is not a file a BigReach bundle has: a file was added after export")]
    UnknownFile {
        /// The file.
        name: String,
    },
    /// A file every bundle has is not listed.
    #[error("the bundle has no {name}, which every BigReach bundle has: it is incomplete")]
    RequiredFileMissing {
        /// The file.
        name: String,
    },
    /// A file's hash differs from the manifest's.
    #[error("{name} does not match its SHA-256 in the manifest (manifest {expected}, file {actual}): the file was changed after export")]
    HashMismatch {
        /// The file.
        name: String,
        /// From the manifest.
        expected: String,
        /// Of the file.
        actual: String,
    },
    /// The checkpoint cannot be read.
    #[error("checkpoint.txt cannot be read: {reason}")]
    CheckpointFormat {
        /// Why.
        reason: String,
    },
    /// The public key cannot be read.
    #[error("public-key.pem is not an Ed25519 public key: {reason}")]
    PublicKey {
        /// Why.
        reason: String,
    },
    /// The checkpoint names another key than the bundle's.
    #[error("checkpoint.txt names key {checkpoint} but public-key.pem has fingerprint {key}: the key or the checkpoint was replaced")]
    KeyMismatch {
        /// In the checkpoint.
        checkpoint: String,
        /// Of the public key.
        key: String,
    },
    /// The signature does not verify.
    #[error("checkpoint.sig is not a valid Ed25519 signature of checkpoint.txt by public-key.pem: the checkpoint or its signature was changed")]
    BadSignature,
    /// A line of `entries.jsonl` is not a canonical entry.
    #[error("entries.jsonl line {line} is not a canonical audit entry ({reason}): the entries were altered")]
    EntryFormat {
        /// 1-based line.
        line: usize,
        /// Why.
        reason: String,
    },
    /// The hash chain breaks.
    #[error("the audit chain breaks at entry #{seq} (wrong position, previous hash or hash): entries were changed, removed or reordered")]
    ChainBroken {
        /// The first broken entry.
        seq: u64,
    },
    /// The entries are not as many as the checkpoint says.
    #[error("entries.jsonl has {entries} entries but the signed checkpoint says {checkpoint}: the log was truncated or extended after export")]
    SizeMismatch {
        /// In the checkpoint.
        checkpoint: u64,
        /// In the file.
        entries: u64,
    },
    /// The Merkle root differs from the checkpoint's.
    #[error("the Merkle root of entries.jsonl is {computed}, not the signed checkpoint's {checkpoint}: the entries were changed after export")]
    RootMismatch {
        /// In the checkpoint.
        checkpoint: String,
        /// Of the entries.
        computed: String,
    },
    /// The log does not record this key.
    #[error("the log's first audit.key_created entry {found} the key fingerprint {key}: the key is not the one this install recorded; do not trust the bundle")]
    KeyNotInLog {
        /// The bundle's key.
        key: String,
        /// What was found, for the message ("has no", "names another than").
        found: &'static str,
    },
    /// consistency.json is unreadable or contradicts the checkpoint.
    #[error("consistency.json {reason}: it was altered")]
    ConsistencyFormat {
        /// Why.
        reason: String,
    },
    /// The consistency proof does not verify.
    #[error("the consistency proof in consistency.json does not verify: {source}")]
    Inconsistent {
        /// The Merkle check's reason.
        source: ConsistencyError,
    },
    /// The previous bundle does not verify by itself.
    #[error("the previous bundle does not verify: {0}")]
    PreviousInvalid(Box<VerifyError>),
    /// The previous bundle is later than this one.
    #[error("the --previous bundle ({previous} entries) is later than this one ({size} entries): pass the earlier bundle as --previous")]
    PreviousIsLater {
        /// Its size.
        previous: u64,
        /// This bundle's size.
        size: u64,
    },
    /// The previous bundle's checkpoint is not a prefix of this log.
    #[error("the previous bundle's checkpoint ({size} entries, root {root}) is not a prefix of this bundle's log: history was rewritten between the two exports, or the previous bundle is from another install")]
    PreviousNotPrefix {
        /// Its size.
        size: u64,
        /// Its root (base64).
        root: String,
    },
    /// The zip differs from the form BigReach writes, though the files verified.
    #[error("the zip container differs from the form BigReach writes (a byte outside the files' contents was changed, or the bundle was re-packed); the files themselves verified: ask for the original file")]
    ContainerAltered,
}

/// What a bundle proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signed checkpoint.
    pub checkpoint: Checkpoint,
    /// Files checked against the manifest.
    pub files: usize,
    /// The earlier checkpoint the proof in `consistency.json` starts from.
    pub consistent_with: Option<u64>,
    /// With a previous bundle: its checkpoint's size (a prefix of this log).
    pub previous: Option<u64>,
}

/// Verifies a bundle (the zip's bytes), and with `previous` that it extends that bundle.
pub fn verify_bundle(zip: &[u8], previous: Option<&[u8]>) -> Result<Verified, VerifyError> {
    let (verified, leaves) = verify_one(zip)?;
    let previous = match previous {
        None => None,
        Some(bytes) => {
            let (old, _) =
                verify_one(bytes).map_err(|e| VerifyError::PreviousInvalid(Box::new(e)))?;
            let prefix = usize::try_from(old.checkpoint.size).unwrap_or(usize::MAX);
            if prefix > leaves.len() {
                return Err(VerifyError::PreviousIsLater {
                    previous: old.checkpoint.size,
                    size: verified.checkpoint.size,
                });
            }
            if merkle::root(&leaves[..prefix]) != old.checkpoint.root {
                return Err(VerifyError::PreviousNotPrefix {
                    size: old.checkpoint.size,
                    root: old.checkpoint.root_base64(),
                });
            }
            Some(old.checkpoint.size)
        }
    };
    Ok(Verified {
        previous,
        ..verified
    })
}

fn file<'a>(files: &'a [(String, Vec<u8>)], name: &str) -> Result<&'a [u8], VerifyError> {
    files
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, bytes)| bytes.as_slice())
        .ok_or_else(|| VerifyError::RequiredFileMissing { name: name.into() })
}

fn text<'a>(bytes: &'a [u8], name: &str) -> Result<&'a str, VerifyError> {
    std::str::from_utf8(bytes).map_err(|_| VerifyError::EntryFormat {
        line: 0,
        reason: format!("{name} is not UTF-8"),
    })
}

fn verify_one(zip: &[u8]) -> Result<(Verified, Vec<Hash>), VerifyError> {
    let files = bundle::read_zip(zip).map_err(|reason| VerifyError::NotAZip { reason })?;
    check_names(&files)?;
    check_manifest(&files)?;

    // The checkpoint and its signature.
    let checkpoint_bytes = file(&files, CHECKPOINT)?;
    let checkpoint_text =
        std::str::from_utf8(checkpoint_bytes).map_err(|_| VerifyError::CheckpointFormat {
            reason: "it is not UTF-8".into(),
        })?;
    let checkpoint = Checkpoint::parse(checkpoint_text)
        .map_err(|reason| VerifyError::CheckpointFormat { reason })?;
    let pem =
        std::str::from_utf8(file(&files, PUBLIC_KEY)?).map_err(|_| VerifyError::PublicKey {
            reason: "it is not UTF-8".into(),
        })?;
    let key =
        checkpoint::parse_public_pem(pem).map_err(|reason| VerifyError::PublicKey { reason })?;
    let fingerprint = checkpoint::fingerprint(&key);
    if fingerprint != checkpoint.key_fingerprint {
        return Err(VerifyError::KeyMismatch {
            checkpoint: checkpoint.key_fingerprint.clone(),
            key: fingerprint,
        });
    }
    if !checkpoint::verify_signature(&key, checkpoint_bytes, file(&files, SIGNATURE)?) {
        return Err(VerifyError::BadSignature);
    }

    // The entries: canonical, chained, as many as signed, with the signed root.
    let entries = text(file(&files, ENTRIES)?, ENTRIES)?;
    let records = parse_entries(entries)?;
    verify_audit_chain(&records).map_err(|seq| VerifyError::ChainBroken { seq })?;
    if records.len() as u64 != checkpoint.size {
        return Err(VerifyError::SizeMismatch {
            checkpoint: checkpoint.size,
            entries: records.len() as u64,
        });
    }
    let leaves: Vec<Hash> = entries
        .split_terminator('\n')
        .map(|line| merkle::leaf_hash(line.as_bytes()))
        .collect();
    let root = merkle::root(&leaves);
    if root != checkpoint.root {
        let b64 = base64::engine::general_purpose::STANDARD;
        return Err(VerifyError::RootMismatch {
            checkpoint: checkpoint.root_base64(),
            computed: b64.encode(root),
        });
    }
    match records.iter().find(|r| r.action == KEY_CREATED) {
        None => {
            return Err(VerifyError::KeyNotInLog {
                key: fingerprint,
                found: "is missing, so the log does not record",
            })
        }
        Some(first)
            if checkpoint::key_fingerprint_of(&first.detail).as_deref()
                != Some(fingerprint.as_str()) =>
        {
            return Err(VerifyError::KeyNotInLog {
                key: fingerprint,
                found: "names another key than",
            })
        }
        Some(_) => {}
    }

    let consistent_with = check_consistency(file(&files, CONSISTENCY)?, &checkpoint, &leaves)?;

    // Last: the container itself, so that every reason above is named first.
    if bundle::write_zip(&files).as_deref() != Ok(zip) {
        return Err(VerifyError::ContainerAltered);
    }
    Ok((
        Verified {
            checkpoint,
            files: files.len() - 1,
            consistent_with,
            previous: None,
        },
        leaves,
    ))
}

fn check_names(files: &[(String, Vec<u8>)]) -> Result<(), VerifyError> {
    let mut seen = std::collections::BTreeSet::new();
    for (name, _) in files {
        let bad = |reason| VerifyError::BadName {
            name: name.clone(),
            reason,
        };
        if name.is_empty() || name.contains('/') || name.contains('\\') || name.starts_with('.') {
            return Err(bad("a folder, a hidden or an empty name"));
        }
        if name.chars().any(char::is_control) || name.contains(' ') {
            return Err(bad("a space or a control character"));
        }
        if !seen.insert(name.as_str()) {
            return Err(bad("it appears twice"));
        }
    }
    Ok(())
}

fn check_manifest(files: &[(String, Vec<u8>)]) -> Result<(), VerifyError> {
    let manifest = files
        .iter()
        .find(|(n, _)| n == MANIFEST)
        .map(|(_, b)| b.as_slice())
        .ok_or(VerifyError::NoManifest)?;
    let manifest =
        std::str::from_utf8(manifest).map_err(|_| VerifyError::ManifestLine { line: 1 })?;
    let mut listed = std::collections::BTreeMap::new();
    for (index, line) in manifest.lines().enumerate() {
        let line_no = index + 1;
        let (hash, name) = line
            .split_once("  ")
            .ok_or(VerifyError::ManifestLine { line: line_no })?;
        if hash.len() != 64
            || !hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            || name == MANIFEST
            || listed.insert(name, hash).is_some()
        {
            return Err(VerifyError::ManifestLine { line: line_no });
        }
    }
    if !manifest.ends_with('\n') && !manifest.is_empty() {
        return Err(VerifyError::ManifestLine {
            line: manifest.lines().count(),
        });
    }
    for name in listed.keys() {
        if !files.iter().any(|(n, _)| n == name) {
            return Err(VerifyError::MissingFile {
                name: (*name).to_owned(),
            });
        }
    }
    for (name, bytes) in files {
        if name == MANIFEST {
            continue;
        }
        let Some(expected) = listed.get(name.as_str()) else {
            return Err(VerifyError::UnlistedFile { name: name.clone() });
        };
        let actual = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
        if actual != *expected {
            return Err(VerifyError::HashMismatch {
                name: name.clone(),
                expected: (*expected).to_owned(),
                actual,
            });
        }
    }
    if let Some(name) = listed.keys().find(|name| !PAYLOAD.contains(name)) {
        return Err(VerifyError::UnknownFile {
            name: (*name).to_owned(),
        });
    }
    for name in PAYLOAD {
        if !listed.contains_key(name) {
            return Err(VerifyError::RequiredFileMissing { name: name.into() });
        }
    }
    Ok(())
}

fn parse_entries(entries: &str) -> Result<Vec<AuditRecord>, VerifyError> {
    if !entries.is_empty() && !entries.ends_with('\n') {
        return Err(VerifyError::EntryFormat {
            line: entries.split_terminator('\n').count(),
            reason: "the last line has no newline (the file was cut)".into(),
        });
    }
    let mut records = Vec::new();
    for (index, line) in entries.split_terminator('\n').enumerate() {
        let format = |reason: String| VerifyError::EntryFormat {
            line: index + 1,
            reason,
        };
        let record: AuditRecord =
            serde_json::from_str(line).map_err(|e| format(format!("not an entry: {e}")))?;
        if canonical_entry(&record) != line.as_bytes() {
            return Err(format("not in RFC 8785 canonical form".into()));
        }
        records.push(record);
    }
    Ok(records)
}

fn decode_hash(text: &str) -> Option<Hash> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?
        .try_into()
        .ok()
}

fn check_consistency(
    bytes: &[u8],
    checkpoint: &Checkpoint,
    leaves: &[Hash],
) -> Result<Option<u64>, VerifyError> {
    let format = |reason: &str| VerifyError::ConsistencyFormat {
        reason: reason.to_owned(),
    };
    let doc: ConsistencyDoc =
        serde_json::from_slice(bytes).map_err(|_| format("is not the consistency document"))?;
    if doc.algorithm != CONSISTENCY_ALGORITHM {
        return Err(format("names another algorithm"));
    }
    if doc.to.size != checkpoint.size || doc.to.root != checkpoint.root_base64() {
        return Err(format("names another tree than the signed checkpoint"));
    }
    let Some(from) = doc.from else {
        return if doc.proof.is_empty() {
            Ok(None)
        } else {
            Err(format("has a proof but no earlier checkpoint"))
        };
    };
    let old_root = decode_hash(&from.root)
        .ok_or_else(|| format("has an earlier root that is not 32 bytes of base64"))?;
    let proof: Vec<Hash> = doc
        .proof
        .iter()
        .map(|h| decode_hash(h))
        .collect::<Option<_>>()
        .ok_or_else(|| format("has a proof hash that is not 32 bytes of base64"))?;
    merkle::verify_consistency(
        from.size,
        checkpoint.size,
        &old_root,
        &checkpoint.root,
        &proof,
    )
    .map_err(|source| VerifyError::Inconsistent { source })?;
    // The entries are all here, so the earlier root can be recomputed too.
    let prefix = usize::try_from(from.size).unwrap_or(usize::MAX);
    if prefix > leaves.len() || merkle::root(&leaves[..prefix]) != old_root {
        return Err(format(
            "names an earlier root that is not a prefix of these entries",
        ));
    }
    Ok(Some(from.size))
}
