//! The history backfill against the twins on loopback, on a manual clock: the files hold every
//! paid historical order once (split at the row limit), an order placed after the watermark is
//! left to the live path while one modified during the backfill is still imported once, and a
//! run dropped mid-way and restarted from the store writes nothing twice.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use bigreach_bigcommerce::{BigCommerceClient, ClientConfig};
use bigreach_clock::ManualClock;
use bigreach_core::backfill::progress::{BackfillProgress, Phase};
use bigreach_core::backfill::FileKind;
use bigreach_core::store::Store;
use bigreach_harness::twins::Twins;
use bigreach_runtime::backfill::BackfillJob;
use chrono::{DateTime, Utc};
use common::manual_clock::{drive, paid_guest_order, small_plan};

const START: &str = "2026-03-06T09:00:00Z";
/// Small enough that the purchases and items span several files.
const ROW_LIMIT: u64 = 100;

async fn setup(
    historical_orders: usize,
) -> (Arc<ManualClock>, Twins, tempfile::TempDir, BackfillJob) {
    let mut plan = small_plan();
    plan.store.historical_orders = historical_orders;
    let start: DateTime<Utc> = START.parse().unwrap();
    let clock = ManualClock::new(start);
    let twins = Twins::start(&plan, clock.clone()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, _listeners) = twins.appliance_config(dir.path()).unwrap();
    let token = Twins::secrets()
        .resolve(&config.bigcommerce.access_token)
        .unwrap();
    let client = BigCommerceClient::new(
        ClientConfig::new(config.bigcommerce_api_root(), token),
        clock.clone(),
    )
    .unwrap();
    let (settings, _) = drive(&clock, bigreach_runtime::mapping_settings(&config, &client))
        .await
        .unwrap();
    let store = Store::open(&dir.path().join("bigreach.redb")).unwrap();
    let job = BackfillJob {
        client,
        store,
        dir: dir.path().join("history"),
        settings,
        row_limit: ROW_LIMIT,
        clock: clock.clone(),
    };
    (clock, twins, dir, job)
}

/// Every data row of every file of `kind`, with its header's column names.
fn rows(dir: &Path, progress: &BackfillProgress, kind: FileKind) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    for file in &progress.files[&kind].files {
        let mut reader = csv::Reader::from_path(dir.join(&file.name)).unwrap();
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        let mut in_file = 0u64;
        for record in reader.records() {
            let record = record.unwrap();
            in_file += 1;
            out.push(
                header
                    .iter()
                    .cloned()
                    .zip(record.iter().map(str::to_owned))
                    .collect(),
            );
        }
        assert_eq!(in_file, file.rows, "{} holds the rows recorded", file.name);
        assert!(
            in_file <= ROW_LIMIT,
            "{} is within the row limit",
            file.name
        );
        let length = std::fs::metadata(dir.join(&file.name)).unwrap().len();
        assert_eq!(length, file.bytes, "{} has the recorded length", file.name);
    }
    out
}

/// The sale rows' purchase ids (refund rows share the purchase id and are left out).
fn sale_ids(rows: &[BTreeMap<String, String>]) -> Vec<u64> {
    rows.iter()
        .filter(|r| r["purchase_status"] != "refund")
        .map(|r| r["purchase_id"].parse().unwrap())
        .collect()
}

fn paid_orders(twins: &Twins) -> BTreeSet<u64> {
    twins
        .bigcommerce
        .truth()
        .orders
        .iter()
        .filter(|o| o.paid)
        .map(|o| o.order_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_files_hold_every_paid_historical_order_once_split_at_the_row_limit() {
    let (clock, twins, _dir, job) = setup(600).await;
    let progress = drive(&clock, job.run(None, BTreeMap::new(), |_| {}))
        .await
        .unwrap();
    assert_eq!(progress.phase, Phase::Written);
    let purchases = rows(&job.dir, &progress, FileKind::Purchases);
    let ids = sale_ids(&purchases);
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "no purchase twice");
    assert_eq!(
        unique,
        paid_orders(&twins),
        "every paid order, nothing else"
    );
    assert!(progress.files[&FileKind::Purchases].files.len() > 1);
    let items = rows(&job.dir, &progress, FileKind::PurchaseItems);
    let lines: usize = twins
        .bigcommerce
        .truth()
        .orders
        .iter()
        .filter(|o| o.paid)
        .map(|o| o.line_count)
        .sum();
    let sale_items = items
        .iter()
        .filter(|r| r["purchase_status"] != "refund")
        .count();
    assert_eq!(sale_items, lines, "one item row per line of a paid order");
    let customers = rows(&job.dir, &progress, FileKind::Customers);
    assert_eq!(
        customers.len(),
        progress.cursors[&bigreach_core::backfill::ResourceKind::Customers].listed as usize
    );
    let catalog = rows(&job.dir, &progress, FileKind::CatalogItems);
    assert_eq!(catalog.len(), twins.bigcommerce.truth().variant_ids.len());
    for file in progress.files.values().flat_map(|f| &f.files) {
        assert_eq!(
            file.sha256.as_deref(),
            Some(
                bigreach_runtime::backfill::sha256_file(&job.dir.join(&file.name))
                    .unwrap()
                    .as_str()
            )
        );
    }
    twins.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_after_the_watermark_is_left_out_and_one_modified_during_the_run_is_in_once() {
    let (clock, twins, _dir, job) = setup(600).await;
    let modified = *paid_orders(&twins).iter().next().unwrap();
    // The first page is committed (the watermark is recorded) before the store changes.
    let mut pages = 0;
    let stop = Arc::new(tokio::sync::Notify::new());
    let stopper = stop.clone();
    let first = drive(&clock, async {
        tokio::select! {
            done = job.run(None, BTreeMap::new(), |_| { pages += 1; if pages == 2 { stopper.notify_one(); } }) => Some(done),
            () = stop.notified() => None,
        }
    })
    .await;
    assert!(first.is_none(), "the run was interrupted mid-way");
    let watermark = job.store.backfill_progress().unwrap().unwrap().watermark;
    clock.advance(std::time::Duration::from_secs(60));
    twins.bigcommerce.ship(modified).unwrap();
    let late = paid_guest_order(&twins.bigcommerce, "after.watermark@example.com", None);
    let progress = drive(&clock, job.run(None, BTreeMap::new(), |_| {}))
        .await
        .unwrap();
    assert_eq!(progress.watermark, watermark);
    let ids = sale_ids(&rows(&job.dir, &progress, FileKind::Purchases));
    assert_eq!(
        ids.iter().filter(|id| **id == modified).count(),
        1,
        "modified order imported once"
    );
    assert!(
        !ids.contains(&late),
        "the order after the watermark is the live path's"
    );
    assert_eq!(progress.orders_after_watermark, 1);
    let mut before = paid_orders(&twins);
    before.remove(&late);
    assert_eq!(ids.iter().copied().collect::<BTreeSet<_>>(), before);
    // The live path sees both orders (the modified one and the new one): it sends the new
    // order's sale and leaves the imported one's to the files.
    for id in [modified, late] {
        let order = drive(&clock, job.client.order(id)).await.unwrap().unwrap();
        let batch = bigreach_core::ingest::IngestBatch {
            observed: vec![bigreach_core::ingest::Observed {
                resource: bigreach_core::ingest::Resource::Order(Box::new(order)),
                initial_sync: false,
            }],
            ..Default::default()
        };
        bigreach_core::ingest::ingest(&job.store, &job.settings, &batch, 0).unwrap();
    }
    let sent_live = |id: u64| {
        job.store
            .fact_command(&format!("purchase:{id}"))
            .unwrap()
            .is_some()
    };
    assert!(
        !sent_live(modified),
        "the imported order is not sent live too"
    );
    assert!(sent_live(late), "the order after the watermark goes live");
    twins.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_dropped_mid_way_resumes_from_the_store_and_writes_nothing_twice() {
    let (clock, twins, _dir, job) = setup(600).await;
    for interrupt_after in [2, 2] {
        let mut pages = 0;
        let stop = Arc::new(tokio::sync::Notify::new());
        let stopper = stop.clone();
        let outcome = drive(&clock, async {
            tokio::select! {
                done = job.run(None, BTreeMap::new(), |_| { pages += 1; if pages == interrupt_after { stopper.notify_one(); } }) => Some(done),
                () = stop.notified() => None,
            }
        })
        .await;
        assert!(
            outcome.is_none(),
            "interrupted after {interrupt_after} pages"
        );
        // A torn append: rows past the committed length, as a kill between the sync and the
        // commit leaves them.
        let progress = job.store.backfill_progress().unwrap().unwrap();
        for set in progress.files.values() {
            if let Some(last) = set.files.last() {
                use std::io::Write;
                let mut file = std::fs::OpenOptions::new()
                    .append(true)
                    .open(job.dir.join(&last.name))
                    .unwrap();
                file.write_all(b"torn,row,that,was,never,committed\n")
                    .unwrap();
            }
        }
        std::fs::write(job.dir.join("purchases-0099.csv"), b"never recorded\n").unwrap();
    }
    let progress = drive(&clock, job.run(None, BTreeMap::new(), |_| {}))
        .await
        .unwrap();
    assert!(!job.dir.join("purchases-0099.csv").exists());
    let ids = sale_ids(&rows(&job.dir, &progress, FileKind::Purchases));
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "no purchase twice");
    assert_eq!(unique, paid_orders(&twins), "none lost");
    twins.shutdown().await;
}

/// `[history] mode = "imports"`: the poller's first pass sends no history through the tracking
/// API (nothing in the backfill lane, no purchase of the seeded orders).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_imports_mode_the_first_sync_sends_no_history_through_tracking() {
    let plan = small_plan();
    let start: DateTime<Utc> = START.parse().unwrap();
    let clock = ManualClock::new(start);
    let twins = Twins::start(&plan, clock.clone()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    config.history.mode = bigreach_core::config::HistoryMode::Imports;
    let appliance =
        common::manual_clock::start_appliance(&clock, &config, &Twins::secrets(), listeners).await;
    common::manual_clock::advance_until(
        &clock,
        std::time::Duration::from_millis(100),
        "the first poll pass",
        || appliance.poll_passes() >= 1 && appliance.status().unwrap().idle,
    )
    .await;
    let counts = appliance.store().counts().unwrap();
    assert_eq!(
        counts.outbox_pending.get("backfill").copied().unwrap_or(0),
        0
    );
    // The catalog sweep still keeps the catalog current (live state, not history); no order
    // of the history is sent through tracking.
    let history: Vec<u64> = twins
        .bigcommerce
        .truth()
        .orders
        .iter()
        .filter(|o| o.paid_at.is_some_and(|at| at < start))
        .map(|o| o.order_id)
        .collect();
    assert!(!history.is_empty());
    for id in history {
        let fact = format!("purchase:{id}");
        assert!(
            appliance.store().fact_command(&fact).unwrap().is_none(),
            "{fact} sent live"
        );
    }
    appliance.shutdown().await;
    twins.shutdown().await;
}
