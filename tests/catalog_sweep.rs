//! The scheduled variant sweep: a variant edit does not move its product's `date_modified`, so
//! when its webhook never arrives the poller's listing by watermark misses it, and only the
//! sweep (`[mapping.catalog] sweep_secs`) finds it, within one sweep period (plus a poll
//! interval and the debounce window). Webhooks are not registered here, so nothing but the
//! poller can see the edit. The appliance and both twins run on one manual clock.

mod common;

use std::time::Duration;

use bigreach_clock::{Clock, ManualClock};
use bigreach_harness::twins::Twins;
use chrono::Utc;
use common::manual_clock::{advance_by, advance_until, drive, small_plan, start_appliance};
use rust_decimal::Decimal;

const POLL_SECS: u64 = 300;
const SWEEP_SECS: u64 = 600;

/// Starts everything with `sweep_secs`, waits for the first sync, edits one variant's price
/// (no webhook), and returns what the catalog item's price is after `wait`, with the time it
/// first showed the new price (seconds after the edit), if it did.
async fn edit_then_watch(sweep_secs: u64, wait: Duration) -> (bool, Option<f64>) {
    let plan = small_plan();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc::now());
    let twins = Twins::start(&plan, clock.clone()).await.unwrap();
    let secrets = Twins::secrets();
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    config.webhooks.manage_hooks = false;
    config.bigcommerce.poll_interval_secs = POLL_SECS;
    config.mapping.catalog.sweep_secs = Some(sweep_secs);
    let catalog = config.bloomreach.catalog_name.clone();
    let appliance = start_appliance(&clock, &config, &secrets, listeners).await;
    advance_until(
        &clock,
        Duration::from_millis(200),
        "the first sync delivered",
        || appliance.poll_passes() >= 1 && appliance.status().unwrap().idle,
    )
    .await;
    let variant = twins.bigcommerce.truth().variants[0].variant_id;
    let new_price: Decimal = "77.77".parse().unwrap();
    twins
        .bigcommerce
        .edit_variant(variant, Some(new_price), None)
        .unwrap();
    let edited = clock.now();
    let updated = || {
        twins
            .bloomreach
            .truth()
            .catalog_by_name(&catalog)
            .and_then(|c| c.items.get(&variant.to_string()).cloned())
            .is_some_and(|item| item["price"] == 77.77)
    };
    let mut seen_after = None;
    let steps = wait.as_secs();
    for _ in 0..steps {
        advance_by(&clock, Duration::from_secs(1), Duration::from_secs(1)).await;
        if seen_after.is_none() && updated() {
            seen_after = Some((clock.now() - edited).num_milliseconds() as f64 / 1000.0);
        }
    }
    let passes = appliance.poll_passes();
    assert!(
        passes > wait.as_secs() / POLL_SECS,
        "only {passes} poll passes"
    );
    let result = (updated(), seen_after);
    drive(&clock, appliance.shutdown()).await;
    twins.shutdown().await;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_variant_edit_without_its_webhook_arrives_within_one_sweep_period() {
    let (updated, after) = edit_then_watch(
        SWEEP_SECS,
        Duration::from_secs(SWEEP_SECS + POLL_SECS + 120),
    )
    .await;
    assert!(updated, "the sweep did not bring the new price");
    let after = after.unwrap();
    // The sweep runs on the first poll pass a period after the last one, then the write
    // waits for its debounce window.
    let bound = (SWEEP_SECS + POLL_SECS + 30 + 10) as f64;
    assert!(after <= bound, "arrived after {after} s (bound {bound} s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_sweep_the_watermark_poll_misses_a_variant_edit() {
    let (updated, _) = edit_then_watch(0, Duration::from_secs(SWEEP_SECS + POLL_SECS + 120)).await;
    assert!(
        !updated,
        "the watermark poll found a variant edit: the sweep test proves nothing"
    );
}
