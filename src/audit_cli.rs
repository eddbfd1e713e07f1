//! `bigreach audit export` and `bigreach verify`: the offline audit bundle. Both work on files
//! only (the data directory, the bundle); no running appliance is needed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bigreach_core::audit::{self, AuditError, ExportRequest, Period, VerifyError};
use bigreach_core::config::Config;
use bigreach_core::secret::SecretResolver;
use bigreach_core::store::StoreError;

/// The exit status of `bigreach verify` when the bundle does not verify (distinct from every
/// error code's and from reconcile's 8).
pub const NOT_VERIFIED: u8 = 9;
/// The exit status when the store is open in a running appliance (the operator code of an
/// unavailable store).
pub const STORE_IN_USE: u8 = 6;

/// `bigreach audit …`.
#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Write an offline audit bundle (zip: entries, CSV summaries, an HTML report, a signed
    /// checkpoint, a consistency proof from the previous export, a sha256sum manifest),
    /// straight from the data directory; stop the running appliance first.
    Export {
        /// The zip to write (never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// The data directory (default: `data_dir` of the --config file).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The config file, to find the data directory and the secrets the bundle must not
        /// contain (its `env:` secrets are read when set).
        #[arg(long, default_value = "bigreach.toml")]
        config: PathBuf,
        /// First day the summaries cover, YYYY-MM-DD (UTC).
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// Last day the summaries cover (inclusive), YYYY-MM-DD (UTC).
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
    },
}

/// `bigreach verify FILE.zip [--previous OLD.zip]`.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The bundle.
    pub bundle: PathBuf,
    /// An earlier bundle of the same install: this one must extend it.
    #[arg(long)]
    pub previous: Option<PathBuf>,
}

/// Runs `bigreach audit …`.
pub fn audit(command: AuditCommand) -> Result<()> {
    let AuditCommand::Export {
        out,
        data_dir,
        config,
        from,
        to,
    } = command;
    let (data_dir, secrets) = match data_dir {
        Some(dir) => {
            // The config, when there is one beside, still names the secrets to look for.
            let secrets = Config::load(&config)
                .map(|c| audit::configured_secrets(&c, &SecretResolver::new()))
                .unwrap_or_default();
            (dir, secrets)
        }
        None => {
            let loaded = Config::load(&config).with_context(|| {
                format!(
                    "reading {} to find the data directory (or pass --data-dir)",
                    config.display()
                )
            })?;
            let secrets = audit::configured_secrets(&loaded, &SecretResolver::new());
            (loaded.data_dir, secrets)
        }
    };
    match export(&data_dir, &out, Period { from, to }, secrets) {
        Ok(text) => crate::operator::emit(&text),
        Err(AuditError::Store(error @ StoreError::InUse { .. })) => {
            eprintln!("error: {error}");
            std::process::exit(i32::from(STORE_IN_USE));
        }
        Err(error) => Err(error.into()),
    }
}

fn export(
    data_dir: &Path,
    out: &Path,
    period: Period,
    secrets: Vec<String>,
) -> Result<String, AuditError> {
    let store = audit::bundle::open_store(data_dir)?;
    let now_ms = bigreach_clock::Clock::now_ms(&bigreach_clock::SystemClock);
    let exported = audit::export(
        &store,
        &ExportRequest {
            data_dir,
            out,
            period,
            secrets,
            now_ms,
            actor: "operator (cli)",
        },
    )?;
    let checkpoint = &exported.checkpoint;
    let consistency = match exported.consistent_with {
        Some(size) => format!("consistency proof from the previous export ({size} entries)"),
        None => "first export of this install (no consistency proof)".to_owned(),
    };
    Ok(format!(
        "wrote {}: {} entries ({} in the period), {} bytes\n\
         checkpoint: {} entries, root {}\n\
         key fingerprint: {}\n\
         {consistency}\n\
         verify: bigreach verify {}\n",
        out.display(),
        checkpoint.size,
        exported.in_period,
        exported.bytes,
        checkpoint.size,
        checkpoint.root_base64(),
        checkpoint.key_fingerprint,
        out.display(),
    ))
}

/// Runs `bigreach verify`; exit status [`NOT_VERIFIED`] when the bundle fails a check.
pub fn verify(args: VerifyArgs) -> Result<()> {
    let read = |path: &Path| {
        std::fs::read(path).with_context(|| format!("reading the bundle {}", path.display()))
    };
    let bundle = read(&args.bundle)?;
    let previous = args.previous.as_deref().map(read).transpose()?;
    match audit::verify_bundle(&bundle, previous.as_deref()) {
        Ok(verified) => {
            let c = &verified.checkpoint;
            let mut text = format!(
                "OK: {}\n  {} files match manifest-sha256.txt, none missing, none extra\n  \
                 {} entries, hash chain unbroken, Merkle root {} as signed\n  \
                 checkpoint signed by key {} (recorded in the log's audit.key_created entry)\n",
                args.bundle.display(),
                verified.files,
                c.size,
                c.root_base64(),
                c.key_fingerprint,
            );
            match verified.consistent_with {
                Some(size) => text.push_str(&format!(
                    "  consistency proof from the export of {size} entries verifies\n"
                )),
                None => text.push_str("  first export of this install (no consistency proof)\n"),
            }
            if let (Some(size), Some(path)) = (verified.previous, &args.previous) {
                text.push_str(&format!(
                    "  extends {} ({size} entries): history not rewritten\n",
                    path.display()
                ));
            }
            crate::operator::emit(&text)
        }
        Err(error) => {
            eprintln!("FAILED: {}: {error}", args.bundle.display());
            print_hint(&error);
            std::process::exit(i32::from(NOT_VERIFIED));
        }
    }
}

fn print_hint(error: &VerifyError) {
    if matches!(error, VerifyError::PreviousInvalid(_)) {
        eprintln!("  (the check failed on the --previous bundle, not on this one)");
    }
}
