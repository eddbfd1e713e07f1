//! `bigreach preflight`: the go-live checks. With the appliance running it asks it (`POST
//! /api/call {"op": "preflight"}`, which can also send a test webhook delivery); otherwise it runs
//! standalone from the config, on the data directory's store (for the audit entry). It prints one
//! line per check (✔ pass, ✖ fail, ? inconclusive) with the evidence and fix under each one that
//! did not pass, or the typed report with `--json`; exit status 11 when a blocking check failed.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use bigreach_clock::SystemClock;
use bigreach_core::app::{AppApi, AppError, Code, Operation, PreflightRequest};
use bigreach_core::config::Config;
use bigreach_core::preflight::{Outcome, PreflightReport, Severity};
use bigreach_core::secret::SecretResolver;
use bigreach_core::store::Store;

use crate::operator;

/// The exit status when a blocking check failed (distinct from every error code's).
pub const BLOCKING_FAILURE: u8 = 11;

/// Who the audit log names for a standalone run.
const ACTOR: &str = "operator (CLI)";

/// `bigreach preflight`'s arguments.
#[derive(clap::Args)]
pub struct PreflightArgs {
    /// The config file.
    #[arg(long, default_value = "bigreach.toml")]
    config: PathBuf,
    /// Print the typed report as JSON.
    #[arg(long)]
    json: bool,
    /// A storefront page to read (repeatable; default: the store's secure_url).
    #[arg(long = "storefront", value_name = "URL")]
    storefront: Vec<String>,
    /// The Bloomreach SDK file the snippet should load (default:
    /// <bloomreach.base_url>/js/exponea.min.js).
    #[arg(long, value_name = "URL")]
    sdk_url: Option<String>,
}

/// Runs the preflight and prints the report; returns whether it passed.
pub async fn run(args: PreflightArgs) -> Result<bool> {
    let request = PreflightRequest {
        storefront: args.storefront,
        sdk_url: args.sdk_url,
    };
    let asked: Result<PreflightReport> = operator::call_with(
        &args.config,
        reqwest::Method::POST,
        "api/call",
        Some(&Operation::Preflight(request.clone())),
    )
    .await;
    let report = match asked {
        Ok(report) => report,
        Err(error)
            if error
                .downcast_ref::<AppError>()
                .is_some_and(|e| e.code == Code::NotRunning) =>
        {
            standalone(&args.config, request).await?
        }
        Err(error) => return Err(error),
    };
    if args.json {
        operator::emit(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else {
        operator::emit(&report_text(&report))?;
    }
    Ok(report.passed)
}

/// The preflight without a running appliance: its own clients, the data directory's store.
async fn standalone(path: &std::path::Path, request: PreflightRequest) -> Result<PreflightReport> {
    let config = Config::load(path)?;
    let clock = SystemClock::shared();
    let secrets = SecretResolver::new();
    let runner = bigreach_runtime::preflight::Preflight::standalone(
        config.clone(),
        &secrets,
        clock.clone(),
    )?;
    bigreach_runtime::private::create_dir(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let store_path = config.data_dir.join("bigreach.redb");
    bigreach_runtime::private::create_file(&store_path)
        .with_context(|| format!("creating {}", store_path.display()))?;
    let report = tokio::task::spawn_blocking(move || -> Result<PreflightReport> {
        let store = Store::open(&store_path)?;
        let app = AppApi::new(store, clock).with_preflight_runner(Arc::new(runner));
        Ok(app.preflight(&request, ACTOR)?)
    })
    .await
    .context("the preflight's task failed")??;
    Ok(report)
}

/// The report as a person reads it.
pub fn report_text(report: &PreflightReport) -> String {
    let mut out = String::new();
    let blocking = report.blocking();
    let _ = writeln!(
        out,
        "Preflight at {}: {}",
        report.ran_at.format("%Y-%m-%d %H:%M:%S UTC"),
        if report.passed {
            "PASSED".to_owned()
        } else {
            format!(
                "BLOCKED by {} check(s): {}",
                blocking.len(),
                blocking.join(", ")
            )
        }
    );
    for check in &report.checks {
        let mark = match check.outcome {
            Outcome::Pass => "✔",
            Outcome::Fail => "✖",
            Outcome::Inconclusive => "?",
        };
        let severity = match (check.outcome, check.severity) {
            (Outcome::Pass, _) => "",
            (_, Severity::Block) => " [blocks]",
            (_, Severity::Warn) => " [warning]",
        };
        let _ = writeln!(out, "  {mark} {}: {}{severity}", check.id, check.title);
        if check.outcome == Outcome::Pass {
            continue;
        }
        let mut evidence = check.evidence.read.clone();
        if let Some(status) = check.evidence.status {
            let _ = write!(evidence, " (HTTP {status}");
            if let Some(id) = &check.evidence.request_id {
                let _ = write!(evidence, ", request id {id}");
            }
            evidence.push(')');
        }
        let _ = writeln!(out, "      read: {evidence}");
        let _ = writeln!(out, "      fix:  {}", check.fix);
        let _ = writeln!(out, "      see:  {}", check.runbook);
    }
    let _ = writeln!(out, "  digest {}", report.digest);
    out
}
