//! `bigreach bench <name>`: benchmarks that print their figures as a table (or JSON) and write
//! them to `target/bench/<name>.json`.
//!
//! - `ingest`: the webhook receiver with the real store and group commit, against the same
//!   receiver with the store disabled (a discarding `receiver::Inbox`), at 64 concurrent keep-alive
//!   senders on loopback.
//! - `drain`: a backlog of 200,000 tracking commands delivered by the full appliance to the
//!   Bloomreach twin at its default ceiling (6,000 requests/min).
//! - `flash-sale`: 12,000 orders in one minute of real time through both twins and the appliance,
//!   with catalog edits and history (backfill) traffic running; purchase latency and lane ages.
//! - `hostile`: `bigreach serve` as a child process under hostile traffic to its webhook port
//!   (200,000 open/close cycles, then 2,000 idle and 300 slow-header connections, also at a file
//!   limit of 1,024) while legitimate webhooks keep coming: RSS growth, ack latency, refusals.
//!
//! - `catalog`: the catalog path at 100,000 SKUs (`--skus`): initial load, an inventory storm on
//!   hot SKUs (debouncing: writes per SKU per window, staleness, back-in-stock per real crossing)
//!   and 1 % daily churn against full refreshes; it drives `core::ingest` and the store with a
//!   simulated deliverer, not the twins.
//!
//! Everything runs on loopback (in-process, except `hostile`'s child); load generators share
//! the machine's cores with what they measure, and the reports say so.
//!
//! One file per benchmark (`ingest.rs`, `drain.rs`, `flash_sale.rs`, `hostile.rs`); `backlog.rs` builds
//! synthetic outbox backlogs through the product's own mapping (`core::map`), `report.rs` prints
//! and writes the reports, and `figures.rs` holds the arithmetic they share.

mod backfill;
mod backlog;
mod catalog;
mod drain;
mod figures;
mod flash_sale;
mod hostile;
mod ingest;
mod report;

use std::time::Instant;

use bigreach_core::store::StoreError;
use bigreach_runtime::StartError;

use crate::demo::DemoError;
use crate::plan::{BigCommercePlan, BloomreachPlan, DemoPlan, StorePlan, TradingPlan};

/// The Bloomreach twin's per-IP ceiling in the benchmarks (its default).
const BLOOMREACH_CEILING_PER_MINUTE: u32 = 6_000;

/// Benchmark failures (not misses: a benchmark that runs and misses its target reports it).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// No benchmark of that name.
    #[error(
        "unknown benchmark {0:?}; use ingest, drain, flash-sale, hostile, catalog or backfill"
    )]
    Unknown(String),
    /// A file, socket or temporary directory failed.
    #[error("{what}: {source}")]
    Io {
        /// What failed.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The twins failed to start.
    #[error("{0}")]
    Demo(#[from] DemoError),
    /// The appliance failed to start.
    #[error("starting the appliance failed ({code}): {source}", code = source.code())]
    Start {
        /// The start error.
        #[from]
        source: StartError,
    },
    /// The report could not be encoded.
    #[error("encoding the report: {0}")]
    Json(#[from] serde_json::Error),
    /// The benchmark could not produce a meaningful figure.
    #[error("the benchmark could not run: {0}")]
    Run(String),
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> BenchError {
    let what = what.to_owned();
    move |source| BenchError::Io { what, source }
}

/// Runs one benchmark; returns whether it met its targets.
pub async fn run(name: &str, json: bool) -> Result<bool, BenchError> {
    run_with(name, json, &BenchOptions::default()).await
}

/// Options some benchmarks take.
#[derive(Debug, Clone, Default)]
pub struct BenchOptions {
    /// `catalog`: how many SKUs (default 100,000).
    pub skus: Option<u64>,
    /// `backfill`: historical orders (default 100,000).
    pub orders: Option<u64>,
    /// `backfill`: the BigCommerce quota plan (default `standard`).
    pub plan: Option<String>,
}

/// [`run`] with options.
pub async fn run_with(name: &str, json: bool, options: &BenchOptions) -> Result<bool, BenchError> {
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let started = Instant::now();
    let load_before = report::load_average();
    let outcome = match name {
        "ingest" => ingest::run().await?,
        "drain" => drain::run().await?,
        "flash-sale" => flash_sale::run().await?,
        "hostile" => hostile::run().await?,
        "catalog" => catalog::run(options.skus.unwrap_or(catalog::DEFAULT_SKUS)).await?,
        "backfill" => {
            backfill::run(
                options.orders.unwrap_or(backfill::DEFAULT_ORDERS),
                options.plan.as_deref().unwrap_or("standard"),
            )
            .await?
        }
        other => return Err(BenchError::Unknown(other.to_owned())),
    };
    report::publish(
        name,
        &outcome,
        report::Timing {
            started_at,
            started,
            load_before,
        },
        json,
    )
}

/// A twin store plan with no trading burst (the benchmarks drive trading themselves) and the
/// Bloomreach twin at [`BLOOMREACH_CEILING_PER_MINUTE`].
fn twin_plan(seed: u64, store: StorePlan, bigcommerce_plan: &str) -> DemoPlan {
    DemoPlan {
        seed,
        store,
        trading: TradingPlan {
            orders: 0,
            new_customers: 0,
            variant_edits: 0,
            over_secs: 0,
        },
        bigcommerce: BigCommercePlan {
            plan: bigcommerce_plan.to_owned(),
        },
        bloomreach: BloomreachPlan {
            requests_per_minute: BLOOMREACH_CEILING_PER_MINUTE,
        },
    }
}
