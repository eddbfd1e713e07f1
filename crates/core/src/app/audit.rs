//! The audit bundle through the app API: export one into `<data_dir>/exports/` (the running
//! appliance's own store, so no stop is needed), list the exports, and verify one, each answer
//! with what an auditor needs to check it without BigReach.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{AppApi, AppError, Code};
use crate::audit::{self, AuditError, ExportRequest, Period};

/// The folder under the data directory exports are written to.
pub const EXPORTS_DIR: &str = "exports";

/// What the export needs beyond the store: where the data directory is, and the secret values
/// that must never appear in a bundle.
#[derive(Debug, Clone)]
pub struct AuditContext {
    /// The data directory (the install key lives there).
    pub data_dir: PathBuf,
    /// The configured secrets' values.
    pub secrets: Vec<String>,
}

/// An exported bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AuditExported {
    /// Its file name in the exports folder (the download's name).
    pub file_name: String,
    /// Where it is on this machine.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Entries in the log (the checkpoint's size).
    pub entries: u64,
    /// Entries in the period.
    pub in_period: u64,
    /// The Merkle root of the log, base64, as signed.
    pub root: String,
    /// The install key's fingerprint (SHA-256 of its public key).
    pub key_fingerprint: String,
    /// The signed checkpoint, as text.
    pub checkpoint: String,
    /// The size of the previous export the consistency proof starts from, if any.
    pub consistent_with: Option<u64>,
    /// How to check it: with BigReach, then with stock tools only.
    pub verify: Vec<String>,
}

/// One bundle in the exports folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AuditExportFile {
    /// Its file name.
    pub file_name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// When it was written.
    pub modified: Option<DateTime<Utc>>,
}

/// What verifying an exported bundle found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct AuditVerified {
    /// The bundle.
    pub file_name: String,
    /// Every check passed.
    pub ok: bool,
    /// Files that matched the manifest.
    pub files: u64,
    /// Entries in the log.
    pub entries: u64,
    /// The signed Merkle root, base64.
    pub root: Option<String>,
    /// The signing key's fingerprint.
    pub key_fingerprint: Option<String>,
    /// The previous export the consistency proof starts from, if any.
    pub consistent_with: Option<u64>,
    /// The check that failed and why (when not `ok`).
    pub failure: Option<String>,
}

fn audit_error(error: AuditError) -> AppError {
    let code = match &error {
        AuditError::BadPeriod { .. } => Code::BadRequest,
        AuditError::Store(_) => Code::StoreUnavailable,
        _ => Code::Internal,
    };
    AppError::new(code, error.to_string())
}

/// A bundle file name: plain, ending in `.zip`, no path.
fn checked_name(file_name: &str) -> Result<&str, AppError> {
    let plain = !file_name.is_empty()
        && file_name.ends_with(".zip")
        && !file_name.starts_with('.')
        && file_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if plain {
        Ok(file_name)
    } else {
        Err(AppError::new(
            Code::BadRequest,
            format!("{file_name:?} is not an export's file name (letters, digits, . _ - and .zip; list them with audit_exports)"),
        ))
    }
}

impl AppApi {
    /// The same API, able to export audit bundles of `context`'s data directory.
    pub fn with_audit(mut self, context: AuditContext) -> Self {
        self.audit = Some(std::sync::Arc::new(context));
        self
    }

    fn audit_context(&self) -> Result<&AuditContext, AppError> {
        self.audit.as_deref().ok_or_else(|| {
            AppError::new(
                Code::NotRunning,
                "exporting from here needs the running appliance; offline, run `bigreach audit export --out FILE.zip`",
            )
        })
    }

    fn exports_dir(&self) -> Result<PathBuf, AppError> {
        Ok(self.audit_context()?.data_dir.join(EXPORTS_DIR))
    }

    /// Writes an audit bundle into `<data_dir>/exports/` (audited as `audit.exported`).
    pub fn audit_export(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        actor: &str,
    ) -> Result<AuditExported, AppError> {
        let context = self.audit_context()?;
        let dir = self.exports_dir()?;
        create_private_dir(&dir).map_err(|error| {
            AppError::new(
                Code::StoreUnavailable,
                format!("creating {}: {error}", dir.display()),
            )
        })?;
        let now_ms = self.clock.now_ms();
        let stamp = DateTime::from_timestamp_millis(now_ms)
            .unwrap_or_default()
            .format("%Y%m%dT%H%M%SZ");
        let mut file_name = format!("bigreach-audit-{stamp}.zip");
        let mut n = 2;
        while dir.join(&file_name).exists() {
            file_name = format!("bigreach-audit-{stamp}-{n}.zip");
            n += 1;
        }
        let out = dir.join(&file_name);
        let exported = audit::export(
            &self.store,
            &ExportRequest {
                data_dir: &context.data_dir,
                out: &out,
                period: Period { from, to },
                secrets: context.secrets.clone(),
                now_ms,
                actor,
            },
        )
        .map_err(audit_error)?;
        let checkpoint = &exported.checkpoint;
        let path = out.display().to_string();
        Ok(AuditExported {
            file_name,
            bytes: exported.bytes,
            entries: checkpoint.size,
            in_period: exported.in_period,
            root: checkpoint.root_base64(),
            key_fingerprint: checkpoint.key_fingerprint.clone(),
            checkpoint: checkpoint.to_text(),
            consistent_with: exported.consistent_with,
            verify: vec![
                format!("bigreach verify {path}"),
                format!("mkdir bundle && cd bundle && unzip {path}"),
                "sha256sum -c --strict manifest-sha256.txt".to_owned(),
                "openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in checkpoint.txt -sigfile checkpoint.sig".to_owned(),
                "openssl pkey -pubin -in public-key.pem -outform DER | sha256sum".to_owned(),
            ],
            path,
        })
    }

    /// The bundles in the exports folder, newest first.
    pub fn audit_exports(&self) -> Result<Vec<AuditExportFile>, AppError> {
        let dir = self.exports_dir()?;
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => {
                return Err(AppError::new(
                    Code::StoreUnavailable,
                    format!("reading {}: {error}", dir.display()),
                ))
            }
        };
        let mut files: Vec<AuditExportFile> = entries
            .flatten()
            .filter_map(|entry| {
                let file_name = entry.file_name().to_str()?.to_owned();
                checked_name(&file_name).ok()?;
                let meta = entry.metadata().ok()?;
                Some(AuditExportFile {
                    file_name,
                    bytes: meta.len(),
                    modified: meta.modified().ok().map(DateTime::<Utc>::from),
                })
            })
            .collect();
        files.sort_by(|a, b| {
            b.modified
                .cmp(&a.modified)
                .then(b.file_name.cmp(&a.file_name))
        });
        Ok(files)
    }

    /// The path of an exported bundle (for a download), refusing anything but a plain name of
    /// a bundle that is there.
    pub fn audit_export_path(&self, file_name: &str) -> Result<PathBuf, AppError> {
        let path = self.exports_dir()?.join(checked_name(file_name)?);
        if path.is_file() {
            Ok(path)
        } else {
            Err(AppError::new(
                Code::NotFound,
                format!("no export {file_name}; list them with audit_exports"),
            ))
        }
    }

    /// Verifies an exported bundle as `bigreach verify` does; a bundle that fails is an answer
    /// (`ok: false` with the failed check), not an error.
    pub fn audit_verify(&self, file_name: &str) -> Result<AuditVerified, AppError> {
        let path = self.audit_export_path(file_name)?;
        let bytes = read(&path)?;
        Ok(match audit::verify_bundle(&bytes, None) {
            Ok(verified) => AuditVerified {
                file_name: file_name.to_owned(),
                ok: true,
                files: verified.files as u64,
                entries: verified.checkpoint.size,
                root: Some(verified.checkpoint.root_base64()),
                key_fingerprint: Some(verified.checkpoint.key_fingerprint.clone()),
                consistent_with: verified.consistent_with,
                failure: None,
            },
            Err(error) => AuditVerified {
                file_name: file_name.to_owned(),
                ok: false,
                files: 0,
                entries: 0,
                root: None,
                key_fingerprint: None,
                consistent_with: None,
                failure: Some(error.to_string()),
            },
        })
    }
}

fn read(path: &Path) -> Result<Vec<u8>, AppError> {
    std::fs::read(path).map_err(|error| {
        AppError::new(
            Code::StoreUnavailable,
            format!("reading {}: {error}", path.display()),
        )
    })
}

/// Creates the exports folder private to the service user (0700), as the data directory is.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}
