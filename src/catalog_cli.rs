//! `bigreach catalog drift [--repair] [--last] [--json]`: the full catalog comparison of the
//! running appliance (through its local API, `POST /api/call`), as a short table or the typed
//! report as JSON. Exit status [`DRIFT_NOT_REPAIRED`] when the catalog drifted and the run did
//! not repair it.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use bigreach_core::app::Operation;
use bigreach_core::map::catalog::drift::DriftReport;
use clap::Subcommand;

use crate::operator::{call_with, emit};

/// The exit status of `bigreach catalog drift` when drift was found and not repaired
/// (distinct from every error code's).
pub const DRIFT_NOT_REPAIRED: u8 = 10;

/// `bigreach catalog …`.
#[derive(Subcommand)]
pub enum CatalogCommand {
    /// Compare every variant in BigCommerce (mapped as the live path writes it) with every item
    /// of the Bloomreach catalog; exit status 10 when they differ and nothing was repaired.
    Drift {
        /// Enqueue the writes that undo the drift (only the differing fields; missing items in
        /// full; extra items deleted). Audited.
        #[arg(long, conflicts_with = "last")]
        repair: bool,
        /// Show the last comparison's report (the scheduled one, or the last one asked for)
        /// instead of running one.
        #[arg(long)]
        last: bool,
        /// The config file of the running appliance.
        #[arg(long, default_value = "bigreach.toml")]
        config: std::path::PathBuf,
        /// Print the typed report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a catalog command; returns whether the exit status is 0 (false: drift not repaired).
pub async fn catalog(command: CatalogCommand) -> Result<bool> {
    match command {
        CatalogCommand::Drift {
            repair,
            last,
            config,
            json,
        } => drift(&config, repair, last, json).await,
    }
}

async fn drift(config: &Path, repair: bool, last: bool, json: bool) -> Result<bool> {
    let operation = if last {
        Operation::LastCatalogDrift
    } else {
        Operation::CatalogDrift { repair }
    };
    let report: DriftReport =
        call_with(config, reqwest::Method::POST, "api/call", Some(&operation)).await?;
    if json {
        emit(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else {
        emit(&drift_report(&report))?;
    }
    Ok(!report.unrepaired())
}

/// A comparison as an operator reads it: the counts in a short table, then the drifted items.
pub fn drift_report(r: &DriftReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Catalog comparison {} to {}: {} variant(s) in BigCommerce, {} item(s) in Bloomreach",
        r.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        r.finished_at.format("%H:%M:%S UTC"),
        r.bigcommerce_items,
        r.bloomreach_items
    );
    let c = &r.counts;
    let _ = writeln!(out, "  {:<16}{:>8}", "class", "items");
    for (name, count) in [
        ("in sync", c.in_sync),
        ("missing", c.missing),
        ("extra", c.extra),
        ("differing", c.differing),
        ("retired", c.retired),
        ("pending writes", c.pending_writes),
    ] {
        let _ = writeln!(out, "  {name:<16}{count:>8}");
    }
    const SHOWN: usize = 20;
    for item in r.differing.iter().take(SHOWN) {
        let fields: Vec<String> = item
            .fields
            .iter()
            .map(|f| format!("{} {} -> {}", f.field, f.old, f.new))
            .collect();
        let _ = writeln!(out, "  differing {}: {}", item.item_id, fields.join(", "));
    }
    for (name, ids) in [("missing", &r.missing), ("extra", &r.extra)] {
        if !ids.is_empty() {
            let more = ids.len().saturating_sub(SHOWN);
            let mut shown = ids
                .iter()
                .take(SHOWN)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if more > 0 {
                let _ = write!(shown, " and {more} more");
            }
            let _ = writeln!(out, "  {name}: {shown}");
        }
    }
    match &r.repair {
        Some(repair) => {
            let _ = writeln!(
                out,
                "  repair queued: {} partial update(s), {} full write(s), {} delete(s){}",
                repair.partial_updates,
                repair.full_upserts,
                repair.deletes,
                if repair.skipped.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; {} left to a newer write ({})",
                        repair.skipped.len(),
                        repair.skipped.join(", ")
                    )
                }
            );
        }
        None if r.drifted() > 0 => {
            let _ = writeln!(
                out,
                "  the catalog drifted; `bigreach catalog drift --repair` queues the writes that undo it"
            );
        }
        None => {
            let _ = writeln!(out, "  Bloomreach holds what BigCommerce has");
        }
    }
    out
}
