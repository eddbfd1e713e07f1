//! The demo path end to end, in-process, on a small store: both twins, the appliance, and the
//! summary checked against the ground truths. A second test puts a lying network between the
//! appliance and Bloomreach (one batch of purchases acknowledged but never delivered) and proves
//! the summary catches the loss.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bigreach_clock::SystemClock;
use bigreach_harness::demo;
use bigreach_harness::plan::DemoPlan;
use bigreach_harness::twins::Twins;

fn small_plan() -> DemoPlan {
    let mut plan = DemoPlan::builtin("small").unwrap();
    // Trade all at once: the test waits for the appliance to go idle, not for time to pass.
    plan.trading.over_secs = 0;
    plan
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_store_arrives_whole_and_once() {
    let plan = small_plan();
    let dir = tempfile::tempdir().unwrap();
    let summary = demo::run(
        &plan,
        dir.path(),
        SystemClock::shared(),
        Duration::from_secs(90),
    )
    .await
    .unwrap();
    assert!(summary.finished, "{summary:#?}");
    assert!(summary.orders_paid_in_bigcommerce > 50, "{summary:#?}");
    assert_eq!(
        summary.purchases_in_bloomreach,
        summary.orders_paid_in_bigcommerce
    );
    assert_eq!(summary.purchases_missing, 0, "{summary:#?}");
    assert_eq!(summary.purchases_duplicated, 0, "{summary:#?}");
    assert_eq!(summary.purchases_wrong_amount, 0, "{summary:#?}");
    assert_eq!(summary.duplicate_profiles, 0, "{summary:#?}");
    assert_eq!(summary.merged_profiles, 0, "{summary:#?}");
    assert_eq!(summary.persons_without_profile, 0, "{summary:#?}");
    assert_eq!(summary.catalog_items_missing, 0, "{summary:#?}");
    assert_eq!(
        summary.catalog_items_in_bloomreach,
        summary.variants_in_bigcommerce
    );
    assert!(summary.latency_ms.count > 0, "{summary:#?}");
    assert!(summary.is_clean(), "{:?}", summary.findings());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_batch_makes_the_summary_fail() {
    let plan = small_plan();
    let dir = tempfile::tempdir().unwrap();
    let clock = SystemClock::shared();
    let twins = Twins::start(&plan, clock.clone()).await.unwrap();
    let secrets = Twins::secrets();
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    // Answer the first batch carrying purchases with a fake all-success, and drop it.
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let proxy = common::proxy(
        twins.bloomreach.base_url(),
        Arc::new(move |path: &str, body: &[u8]| {
            let text = String::from_utf8_lossy(body);
            if path.ends_with("/batch")
                && text.contains("\"event_type\":\"purchase\"")
                && !flag.swap(true, Ordering::SeqCst)
            {
                return common::Verdict::Answer(200, common::fake_batch_success(body));
            }
            common::Verdict::Forward
        }),
        Arc::new(|_: &str, _: &[u8], _: u16, _: &[u8]| None),
    )
    .await;
    config.bloomreach.base_url = proxy;
    let summary = demo::run_with_twins(
        &plan,
        &twins,
        &config,
        listeners,
        &secrets,
        clock,
        Duration::from_secs(90),
    )
    .await
    .unwrap();
    twins.shutdown().await;
    assert!(
        dropped.load(Ordering::SeqCst),
        "the proxy never saw a purchase batch"
    );
    assert!(summary.purchases_missing > 0, "{summary:#?}");
    assert!(!summary.is_clean());
}
