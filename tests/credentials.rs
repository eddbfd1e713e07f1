//! Revoked credentials: the retry policy parks the stage that needs an operator, shows the fix
//! in the status as an alert, keeps the data, and stops hammering the service (one probe every
//! five minutes) instead of looping or dead-lettering. The appliance runs on a manual clock that
//! the test advances; a faulty proxy revokes the credential mid-run.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bigreach_clock::{ManualClock, SystemClock};
use bigreach_core::app::status::{AlertKind, Component};
use bigreach_harness::twins::Twins;
use chrono::Utc;
use common::manual_clock::{advance_by, advance_until, drive, small_plan, start_appliance};

/// A webhook from the twin's store: its `producer` names the store hash (the numeric
/// `store_id` is left out, so the receiver judges it by `producer`).
fn order_webhook(id: u64) -> String {
    serde_json::json!({
        "scope": "store/order/statusUpdated",
        "data": {"type": "order", "id": id, "status": {"previous_status_id": 0, "new_status_id": 11}},
        "hash": format!("revoked-test-{id}"),
        "created_at": Utc::now().timestamp(),
        "producer": "stores/demo42"
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_bigcommerce_token_parks_enrich_with_the_fix_in_the_status() {
    let plan = small_plan();
    let dir = tempfile::tempdir().unwrap();
    let twins = Twins::start(&plan, SystemClock::shared()).await.unwrap();
    let secrets = Twins::secrets();
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    config.webhooks.manage_hooks = false;
    // Only the webhook drives enrich in this test; the poller passes once at start.
    config.bigcommerce.poll_interval_secs = 24 * 3600;

    // The token is revoked once the appliance has started; every request after that is
    // counted and answered 401, as BigCommerce does for a deleted API account.
    let revoked = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicUsize::new(0));
    let (flag, count) = (revoked.clone(), refused.clone());
    config.bigcommerce.api_root = Some(
        common::proxy(
            twins.bigcommerce.api_root(),
            Arc::new(move |_: &str, _: &[u8]| {
                if flag.load(Ordering::SeqCst) {
                    count.fetch_add(1, Ordering::SeqCst);
                    return common::Verdict::Answer(
                        401,
                        r#"{"status":401,"title":"Unauthorized","type":"https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"}"#.into(),
                    );
                }
                common::Verdict::Forward
            }),
            Arc::new(|_: &str, _: &[u8], _: u16, _: &[u8]| None),
        )
        .await,
    );
    let clock = ManualClock::new(Utc::now());
    let appliance = start_appliance(&clock, &config, &secrets, listeners).await;
    // The first pass is drained before the token is revoked (reading refunded orders' refunds
    // takes BigCommerce requests), so that only the webhook's fetch meets the 401.
    advance_until(
        &clock,
        Duration::from_millis(100),
        "the first poll pass, drained",
        || appliance.poll_passes() >= 1 && appliance.status().unwrap().idle,
    )
    .await;
    revoked.store(true, Ordering::SeqCst);

    let status = appliance.status().unwrap();
    let url = format!("http://{}/webhooks", status.webhook_address);
    let answer = drive(
        &clock,
        reqwest::Client::new()
            .post(&url)
            .header(
                bigreach_runtime::receiver::SECRET_HEADER,
                bigreach_harness::twins::credentials::WEBHOOK_SECRET,
            )
            .body(order_webhook(1))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(answer.status(), 200);

    advance_until(&clock, Duration::from_millis(50), "enrich to park", || {
        appliance
            .status()
            .unwrap()
            .parked
            .iter()
            .any(|p| p.component == Component::Enrich)
    })
    .await;
    let status = appliance.status().unwrap();
    let alert = status
        .alerts
        .iter()
        .find(|a| a.kind == AlertKind::Parked)
        .expect("a parked alert");
    assert!(
        alert.message.contains("access token") && alert.message.contains("restart"),
        "{}",
        alert.message
    );
    assert_eq!(status.store.fetch_queue, 1, "the order stays queued");

    // Parked: four virtual minutes pass without a single request to BigCommerce.
    let before = refused.load(Ordering::SeqCst);
    advance_by(&clock, Duration::from_secs(240), Duration::from_secs(2)).await;
    assert_eq!(
        refused.load(Ordering::SeqCst),
        before,
        "a parked enrich stage must not retry"
    );
    // After five minutes it probes once; with the token fixed, it fetches and unparks.
    revoked.store(false, Ordering::SeqCst);
    advance_until(&clock, Duration::from_secs(1), "enrich to unpark", || {
        let status = appliance.status().unwrap();
        status.parked.is_empty() && status.store.fetch_queue == 0
    })
    .await;
    assert!(appliance.status().unwrap().alerts.is_empty());
    drive(&clock, appliance.shutdown()).await;
    twins.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_bloomreach_key_parks_delivery_with_an_alert_and_no_dead_letters() {
    let plan = small_plan();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc::now());
    let twins = Twins::start(&plan, clock.clone()).await.unwrap();
    let secrets = Twins::secrets();
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    config.webhooks.manage_hooks = false;

    // Revoked from the start of delivery: the first batch is refused command by command inside
    // a 200 (a key that lost its permissions), every later request as a whole with a 401.
    let revoked = Arc::new(AtomicBool::new(true));
    let refused = Arc::new(AtomicUsize::new(0));
    let (flag, count) = (revoked.clone(), refused.clone());
    config.bloomreach.base_url = common::proxy(
        twins.bloomreach.base_url(),
        Arc::new(move |path: &str, body: &[u8]| {
            let delivering =
                path.ends_with("/batch") || path.contains("/catalogs/") && path.contains("/items");
            if !delivering || !flag.load(Ordering::SeqCst) {
                return common::Verdict::Forward;
            }
            if count.fetch_add(1, Ordering::SeqCst) == 0 && path.ends_with("/batch") {
                let request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
                let results: Vec<serde_json::Value> =
                    request["commands"]
                        .as_array()
                        .map(|commands| {
                            commands
                            .iter()
                            .map(|c| serde_json::json!({
                                "success": false,
                                "errors": ["Access denied: no permission for this API group"],
                                "command_id": c["command_id"],
                            }))
                            .collect()
                        })
                        .unwrap_or_default();
                return common::Verdict::Answer(
                    200,
                    serde_json::json!({"success": true, "results": results}).to_string(),
                );
            }
            common::Verdict::Answer(
                401,
                r#"{"success": false, "errors": ["Could not authenticate"]}"#.into(),
            )
        }),
        Arc::new(|_: &str, _: &[u8], _: u16, _: &[u8]| None),
    )
    .await;
    let appliance = start_appliance(&clock, &config, &secrets, listeners).await;
    advance_until(
        &clock,
        Duration::from_millis(100),
        "delivery to park",
        || {
            appliance
                .status()
                .unwrap()
                .parked
                .iter()
                .any(|p| p.component == Component::Delivery)
        },
    )
    .await;
    let status = appliance.status().unwrap();
    let alert = status
        .alerts
        .iter()
        .find(|a| a.kind == AlertKind::Parked)
        .expect("a parked alert");
    assert!(alert.message.contains("API key"), "{}", alert.message);

    // Half an hour of a revoked key: nothing is dead-lettered, and delivery probes once every
    // five minutes instead of hammering Bloomreach.
    let before = refused.load(Ordering::SeqCst);
    advance_by(&clock, Duration::from_secs(30 * 60), Duration::from_secs(5)).await;
    let probes = refused.load(Ordering::SeqCst) - before;
    let status = appliance.status().unwrap();
    assert_eq!(
        status.store.dead_letters, 0,
        "{:?}",
        status.metrics.last_errors
    );
    assert!(
        (5..=7).contains(&probes),
        "{probes} requests in 30 min while parked (one probe every 5 min)"
    );
    assert!(
        status.store.outbox_pending.values().sum::<u64>() > 0,
        "the data is kept"
    );

    // The key is fixed: the next probe succeeds, delivery unparks and everything arrives.
    revoked.store(false, Ordering::SeqCst);
    advance_until(&clock, Duration::from_secs(1), "delivery to finish", || {
        let status = appliance.status().unwrap();
        status.parked.is_empty() && status.idle
    })
    .await;
    let status = appliance.status().unwrap();
    assert_eq!(status.store.dead_letters, 0);
    assert!(status.alerts.is_empty(), "{:?}", status.alerts);
    assert!(status.store.delivered > 0);
    drive(&clock, appliance.shutdown()).await;
    twins.shutdown().await;
}
