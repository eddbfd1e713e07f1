//! A webhook naming another store is refused, counted and not stored. The receiver opens before
//! BigCommerce has answered, so at first only `producer` can be checked; once the BigCommerce
//! preflight has read the numeric store id, an envelope whose `store_id` is another store's is
//! refused too, even with our store hash in `producer`.

mod common;

use std::time::Duration;

use bigreach_clock::ManualClock;
use bigreach_harness::twins::Twins;
use chrono::Utc;
use common::manual_clock::{
    advance_until, drive, post_webhook, small_plan, start_appliance, webhook_from,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_with_another_numeric_store_id_is_refused_once_the_store_is_known() {
    let plan = small_plan();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc::now());
    let twins = Twins::start(&plan, clock.clone()).await.unwrap();
    let secrets = Twins::secrets();
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    config.webhooks.manage_hooks = false;
    config.bigcommerce.poll_interval_secs = 24 * 3600;
    let appliance = start_appliance(&clock, &config, &secrets, listeners).await;
    advance_until(
        &clock,
        Duration::from_millis(100),
        "the BigCommerce preflight and the first poll pass",
        || appliance.poll_passes() >= 1,
    )
    .await;
    let url = format!(
        "http://{}/webhooks",
        appliance.status().unwrap().webhook_address
    );
    let ours = twins.bigcommerce.store_id().to_string();
    let theirs = (twins.bigcommerce.store_id() + 1).to_string();
    let before = appliance.status().unwrap().store.inbox_total;

    let refused = post_webhook(
        &clock,
        &url,
        webhook_from(
            &theirs,
            "store/customer/updated",
            serde_json::json!({"type": "customer", "id": 1}),
            "other-store",
        ),
    )
    .await;
    assert_eq!(refused, 403, "another store's webhook is refused");
    let status = appliance.status().unwrap();
    assert_eq!(status.store.inbox_total, before, "and not stored");
    assert_eq!(status.metrics.webhooks_other_store, 1, "and counted");

    let accepted = post_webhook(
        &clock,
        &url,
        webhook_from(
            &ours,
            "store/customer/updated",
            serde_json::json!({"type": "customer", "id": 1}),
            "our-store",
        ),
    )
    .await;
    assert_eq!(accepted, 200, "our own store's webhook is accepted");
    assert_eq!(appliance.status().unwrap().store.inbox_total, before + 1);

    drive(&clock, appliance.shutdown()).await;
    twins.shutdown().await;
}
