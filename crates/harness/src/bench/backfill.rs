//! `bench backfill`: the history backfill against the BigCommerce twin at a quota plan, on the
//! real clock (the twin's quota windows are real 30 s windows, as BigCommerce's are: on a scaled
//! clock the CPU time of each page is multiplied too, and the share of the quota used then
//! measures the machine, not the pacing). Figures: BigCommerce order calls per 1,000 orders
//! (the twin's request count by endpoint: order listings with their line items, refunds), and
//! all calls (with the customer and catalog pages, which depend on the store's customers and
//! products, not its orders), against a baseline in the same run that lists orders without line
//! items and fetches each order's products, shipping addresses and coupons separately (the
//! usual tap pattern, on a sample of orders); the share of our allowed request rate used; 429s;
//! orders in the files; then the files imported into
//! the Bloomreach twin through its Imports API (served on a loopback port, one definition per
//! file) and the orders imported read from the twin's ground truth; orders both imported and
//! after the watermark (live), and paid orders in neither.

use std::collections::{BTreeMap, BTreeSet};

use bigreach_bigcommerce::{BigCommerceClient, ClientConfig};
use bigreach_clock::{SharedClock, SystemClock};
use bigreach_core::backfill::plan::QuotaFigures;
use bigreach_core::backfill::FileKind;
use bigreach_core::store::Store;
use bigreach_runtime::backfill::BackfillJob;
use serde_json::json;

use super::report::{Outcome, Target};
use super::{twin_plan, BenchError};
use crate::plan::StorePlan;
use crate::twins::Twins;

/// Orders when `--orders` is not given.
pub(super) const DEFAULT_ORDERS: u64 = 100_000;
/// Orders the baseline fetches one by one (its calls per order do not depend on how many).
const BASELINE_SAMPLE: u64 = 100;

/// Whether a twin endpoint (`v2/orders/{id}/products`) serves orders or their parts.
fn is_order_endpoint(endpoint: &str) -> bool {
    endpoint.starts_with("v2/orders") || endpoint.starts_with("v3/orders")
}

/// Requests per endpoint between two twin truths (endpoints asked for in between only).
fn calls_between(
    before: &bigreach_twins::bigcommerce::BigCommerceTruth,
    after: &bigreach_twins::bigcommerce::BigCommerceTruth,
) -> BTreeMap<String, u64> {
    after
        .requests_by_endpoint
        .iter()
        .map(|(endpoint, n)| {
            let earlier = before
                .requests_by_endpoint
                .get(endpoint)
                .copied()
                .unwrap_or(0);
            (endpoint.clone(), n - earlier)
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Of `calls` by endpoint, those to order endpoints.
fn to_orders(calls: &BTreeMap<String, u64>) -> u64 {
    calls
        .iter()
        .filter(|(endpoint, _)| is_order_endpoint(endpoint))
        .map(|(_, n)| n)
        .sum()
}

fn run_error(error: impl std::fmt::Display) -> BenchError {
    BenchError::Run(error.to_string())
}

pub(super) async fn run(orders: u64, plan_name: &str) -> Result<Outcome, BenchError> {
    let plan = twin_plan(
        13,
        StorePlan {
            customers: (orders / 4).max(1) as usize,
            products: 200,
            max_variants_per_product: 3,
            historical_orders: orders as usize,
            history_days: 365,
            guest_share_per_mille: 300,
            phone_only_guest_per_mille: 50,
            currencies: vec!["USD".to_owned(), "EUR".to_owned()],
        },
        plan_name,
    );
    let clock: SharedClock = SystemClock::shared();
    let twins = Twins::start(&plan, clock.clone()).await?;
    let result = measure(&twins, clock, orders).await;
    twins.shutdown().await;
    result
}

async fn measure(twins: &Twins, clock: SharedClock, orders: u64) -> Result<Outcome, BenchError> {
    let dir = tempfile::tempdir().map_err(super::io("a temporary directory"))?;
    let (config, _listeners) = twins.appliance_config(dir.path())?;
    let token = Twins::secrets()
        .resolve(&config.bigcommerce.access_token)
        .map_err(run_error)?;
    let mut client_config = ClientConfig::new(config.bigcommerce_api_root(), token);
    client_config.reserve_share = config.bigcommerce.quota_reserve_share;
    let client = BigCommerceClient::new(client_config, clock.clone()).map_err(run_error)?;
    let (settings, _) = bigreach_runtime::mapping_settings(&config, &client)
        .await
        .map_err(run_error)?;
    let store = Store::open(&dir.path().join("bigreach.redb"))?;
    let job = BackfillJob {
        client: client.clone(),
        store,
        dir: dir.path().join("history"),
        settings,
        row_limit: bigreach_core::backfill::MAX_ROWS_PER_FILE,
        clock: clock.clone(),
    };
    let before = twins.bigcommerce.truth();
    let started = clock.now();
    let progress = job
        .run(None, BTreeMap::new(), |_| {})
        .await
        .map_err(run_error)?;
    let virtual_secs = (clock.now() - started).num_milliseconds() as f64 / 1000.0;
    let after = twins.bigcommerce.truth();
    let by_endpoint = calls_between(&before, &after);
    let order_calls = to_orders(&by_endpoint);
    let calls = after.requests_served - before.requests_served;
    let rate_limited = after.rate_limited_429 - before.rate_limited_429;

    // The import: the files served and imported into the Bloomreach twin.
    let import_started = clock.now();
    let bloomreach = {
        let secret = Twins::secrets()
            .resolve(&config.bloomreach.secret)
            .map_err(run_error)?;
        bigreach_bloomreach::BloomreachClient::new(
            bigreach_bloomreach::ClientConfig::new(
                config.bloomreach.base_url.clone(),
                config.bloomreach.project_token.clone(),
                config.bloomreach.key_id.clone(),
                secret,
            ),
            clock.clone(),
        )
        .map_err(run_error)?
    };
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(super::io("the file listener"))?;
    let public_url = url::Url::parse(&format!(
        "http://{}/",
        listener
            .local_addr()
            .map_err(super::io("the file listener"))?
    ))
    .map_err(run_error)?;
    let imported_progress = job
        .import(
            bigreach_runtime::backfill::ImportSettings {
                bloomreach,
                listener,
                public_url,
                catalog_name: config.bloomreach.catalog_name.clone(),
                poll_every: std::time::Duration::from_secs(1),
            },
            |_| {},
        )
        .await
        .map_err(run_error)?;
    let import_secs = (clock.now() - import_started).num_milliseconds() as f64 / 1000.0;
    let imports_failed = imported_progress
        .imports
        .iter()
        .filter(|run| run.state != bigreach_core::backfill::progress::ImportRun::DONE)
        .count();
    let mut imported = BTreeSet::new();
    for profile in twins.bloomreach.truth().profiles {
        for event in &profile.events {
            let sale = event
                .properties
                .get("purchase_status")
                .and_then(|v| v.as_str())
                != Some("refund");
            if event.event_type == "purchase" && sale {
                if let Some(id) = event.properties.get("purchase_id").and_then(|v| v.as_u64()) {
                    imported.insert(id);
                }
            }
        }
    }

    let mut in_files = BTreeSet::new();
    for file in &progress.files[&FileKind::Purchases].files {
        let mut reader = csv::Reader::from_path(job.dir.join(&file.name)).map_err(run_error)?;
        let headers = reader.headers().map_err(run_error)?.clone();
        let id_at = headers.iter().position(|h| h == "purchase_id");
        let status_at = headers.iter().position(|h| h == "purchase_status");
        for record in reader.records() {
            let record = record.map_err(run_error)?;
            if status_at.and_then(|i| record.get(i)) == Some("refund") {
                continue;
            }
            if let Some(id) = id_at
                .and_then(|i| record.get(i))
                .and_then(|t| t.parse::<u64>().ok())
            {
                in_files.insert(id);
            }
        }
    }
    let watermark = progress.watermark;
    let paid: Vec<_> = after.orders.iter().filter(|o| o.paid).collect();
    let live: BTreeSet<u64> = after
        .orders
        .iter()
        .filter(|o| o.paid && o.paid_at.is_some_and(|at| at > watermark))
        .map(|o| o.order_id)
        .collect();
    let both = imported.intersection(&live).count();
    let neither = paid
        .iter()
        .filter(|o| !imported.contains(&o.order_id) && !live.contains(&o.order_id))
        .count();

    // The baseline: list without line items, then each order's products, shipping addresses
    // and coupons one by one.
    let baseline_before = twins.bigcommerce.truth();
    let sample = baseline(
        &config,
        twins,
        &token_header(&config)?,
        orders.min(BASELINE_SAMPLE),
    )
    .await?;
    let baseline_calls = to_orders(&calls_between(&baseline_before, &twins.bigcommerce.truth()));
    let per_1000 = |calls: u64, orders: u64| calls as f64 * 1000.0 / orders.max(1) as f64;
    let calls_per_1000 = per_1000(order_calls, orders);
    let all_calls_per_1000 = per_1000(calls, orders);
    let baseline_per_1000 = per_1000(baseline_calls, sample);

    let quota = client.quota();
    let figures = QuotaFigures {
        requests_per_window: quota.quota.unwrap_or(150),
        window_secs: 30.0,
        reserve_share: config.bigcommerce.quota_reserve_share,
    };
    let allowed = figures.allowed_per_second();
    // The quota is per 30 s window, and a run that ends a little into a window may use that
    // whole window's share: measured against the rate alone it can come out above 1. The
    // share is of what the windows the run touched allowed.
    let windows = (virtual_secs / figures.window_secs).ceil().max(1.0);
    let share = calls as f64 / (windows * allowed * figures.window_secs);
    let rate_share = if virtual_secs > 0.0 {
        calls as f64 / virtual_secs / allowed
    } else {
        0.0
    };
    let figures = json!({
        "orders": orders,
        "calls": calls,
        "order_calls": order_calls,
        "calls_by_endpoint": by_endpoint,
        "calls_per_1000_orders": calls_per_1000,
        "all_calls_per_1000_orders": all_calls_per_1000,
        "baseline_calls_per_1000_orders": baseline_per_1000,
        "baseline_sample_orders": sample,
        "quota_share_used": share,
        "quota_windows": windows,
        "rate_over_allowed_rate": rate_share,
        "bigcommerce_429s": rate_limited,
        "orders_in_files": in_files.len(),
        "orders_imported": imported.len(),
        "import_runs_failed": imports_failed,
        "twin_seconds_to_import": import_secs,
        "orders_both_imported_and_live": both,
        "orders_neither": neither,
        "twin_seconds_to_finish": virtual_secs,
        "rows": progress.files.iter().map(|(k, f)| (k.stem().to_owned(), f.rows())).collect::<BTreeMap<_, _>>(),
    });
    let table = vec![
        format!("orders                         {orders}"),
        format!("BigCommerce calls              {calls} ({order_calls} to order endpoints)"),
        format!("order calls per 1,000 orders   {calls_per_1000:.2}"),
        format!("all calls per 1,000 orders     {all_calls_per_1000:.2} (with the customer and catalog pages)"),
        format!("baseline calls per 1,000       {baseline_per_1000:.0} (order endpoints)"),
        format!("share of our quota used        {share:.3} ({windows} windows of 30 s; {rate_share:.3} of the allowed rate)"),
        format!("429s                           {rate_limited}"),
        format!("orders in the files            {}", in_files.len()),
        format!("orders imported (twin)         {}", imported.len()),
        format!("import runs not done           {imports_failed}"),
        format!("twin time to import            {import_secs:.1} s"),
        format!("both imported and live         {both}"),
        format!("neither                        {neither}"),
        format!("twin time to finish            {virtual_secs:.1} s"),
    ];
    let targets = vec![
        Target::new(
            "order calls per 1,000 orders",
            "≤ 5",
            format!("{calls_per_1000:.2}"),
            calls_per_1000 <= 5.0,
        ),
        Target::new(
            "share of our quota used",
            "≥ 0.80",
            format!("{share:.3}"),
            share >= 0.80,
        ),
        Target::new(
            "BigCommerce 429s",
            "0",
            rate_limited.to_string(),
            rate_limited == 0,
        ),
        Target::new(
            "import runs not done",
            "0",
            imports_failed.to_string(),
            imports_failed == 0,
        ),
        Target::new(
            "orders both imported and live",
            "0",
            both.to_string(),
            both == 0,
        ),
        Target::new(
            "paid orders in neither",
            "0",
            neither.to_string(),
            neither == 0,
        ),
    ];
    let notes = vec![
        "real time: the twin's quota windows are real 30 s windows, so the share of the quota used measures the pacing (on a scaled clock each page's CPU time is scaled too)".to_owned(),
        "calls per 1,000 orders counts the order endpoints (v2/orders with line items, v3/orders refunds), as the baseline does; the customer and catalog pages depend on how many customers and products the store has (here one customer per four orders) and are in all_calls_per_1000_orders and calls_by_endpoint".to_owned(),
        "orders_imported counts the orders the Bloomreach twin holds a sale of after the Imports API runs (its ground truth); orders_in_files the written purchase files".to_owned(),
    ];
    Ok(Outcome {
        table,
        figures,
        targets,
        notes,
    })
}

fn token_header(config: &bigreach_core::config::Config) -> Result<String, BenchError> {
    use secrecy::ExposeSecret;
    Ok(Twins::secrets()
        .resolve(&config.bigcommerce.access_token)
        .map_err(run_error)?
        .expose_secret()
        .to_owned())
}

/// Lists `sample` orders without line items and fetches each one's products, shipping
/// addresses and coupons: the calls it made are counted by the twin. Returns the orders seen.
async fn baseline(
    config: &bigreach_core::config::Config,
    twins: &Twins,
    token: &str,
    sample: u64,
) -> Result<u64, BenchError> {
    let _ = twins;
    let http = reqwest::Client::new();
    let root = config.bigcommerce_api_root();
    let get = |path: String| {
        let url = root.join(&path);
        let http = http.clone();
        let token = token.to_owned();
        async move {
            let url = url.map_err(run_error)?;
            let reply = http
                .get(url)
                .header("X-Auth-Token", token)
                .header("Accept", "application/json")
                .send()
                .await
                .map_err(run_error)?;
            reply.bytes().await.map_err(run_error)
        }
    };
    let body = get(format!("v2/orders?limit={sample}&page=1&sort=id:asc")).await?;
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap_or_default();
    for order in &listed {
        let Some(id) = order["id"].as_u64() else {
            continue;
        };
        for part in ["products", "shipping_addresses", "coupons"] {
            get(format!("v2/orders/{id}/{part}")).await?;
        }
    }
    Ok(listed.len() as u64)
}
