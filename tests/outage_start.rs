//! `serve` starts while Bloomreach fails: the receiver and the local API open at once and
//! accept durably, the Bloomreach preflight and catalog setup retry with backoff in the
//! background (the status says what start-up waits for), and once the outage ends everything
//! is delivered with nothing dead-lettered. The appliance and both twins run on one manual clock.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bigreach_clock::{Clock, ManualClock};
use bigreach_core::app::status::{AlertKind, Component};
use bigreach_harness::twins::Twins;
use chrono::Utc;
use common::manual_clock::{
    advance_by, advance_until, drive, paid_guest_order, post_webhook, small_plan, start_appliance,
    webhook,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_started_during_a_bloomreach_outage_accepts_webhooks_and_delivers_after_it() {
    let plan = small_plan();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc::now());
    let twins = Twins::start(&plan, clock.clone()).await.unwrap();
    let secrets = Twins::secrets();
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    config.webhooks.manage_hooks = false;
    config.bigcommerce.poll_interval_secs = 24 * 3600;

    // Bloomreach is down (every request answered 503) from before the start.
    let outage = Arc::new(AtomicBool::new(true));
    let refused = Arc::new(AtomicUsize::new(0));
    let (flag, count) = (outage.clone(), refused.clone());
    config.bloomreach.base_url = common::proxy(
        twins.bloomreach.base_url(),
        Arc::new(move |_: &str, _: &[u8]| {
            if flag.load(Ordering::SeqCst) {
                count.fetch_add(1, Ordering::SeqCst);
                return common::Verdict::Answer(
                    503,
                    r#"{"success": false, "errors": ["Service Unavailable"]}"#.into(),
                );
            }
            common::Verdict::Forward
        }),
        Arc::new(|_: &str, _: &[u8], _: u16, _: &[u8]| None),
    )
    .await;
    let appliance = start_appliance(&clock, &config, &secrets, listeners).await;
    advance_until(
        &clock,
        Duration::from_millis(100),
        "the first poll pass and a failed Bloomreach check",
        || {
            let status = appliance.status().unwrap();
            appliance.poll_passes() >= 1
                && status
                    .starting
                    .iter()
                    .any(|s| s.service == "bloomreach" && s.attempts >= 1)
        },
    )
    .await;
    let status = appliance.status().unwrap();
    let waiting = status
        .starting
        .iter()
        .find(|s| s.service == "bloomreach")
        .unwrap();
    assert!(waiting.reason.contains("503"), "{}", waiting.reason);
    assert_eq!(waiting.waiting, "delivery");
    assert!(!status.idle);
    assert!(
        status.parked.is_empty(),
        "an outage is no operator's matter"
    );

    // A shopper pays; the webhook is accepted although Bloomreach is down.
    let order = paid_guest_order(&twins.bigcommerce, "outage.shopper@example.com", None);
    let url = format!("http://{}/webhooks", status.webhook_address);
    let answer = post_webhook(
        &clock,
        &url,
        webhook(
            "store/order/statusUpdated",
            serde_json::json!({"type": "order", "id": order,
                "status": {"previous_status_id": 0, "new_status_id": 11}}),
            "outage-order",
        ),
    )
    .await;
    assert_eq!(answer, 200);

    // Ten minutes of outage: start-up keeps trying with backoff (not in a tight loop), the
    // purchase waits in the outbox, nothing is dead-lettered.
    let before = refused.load(Ordering::SeqCst);
    advance_by(&clock, Duration::from_secs(600), Duration::from_secs(1)).await;
    let tries = refused.load(Ordering::SeqCst) - before;
    assert!(
        (3..=60).contains(&tries),
        "{tries} checks in 10 min of outage"
    );
    let status = appliance.status().unwrap();
    assert_eq!(status.store.dead_letters, 0);
    assert!(
        status.store.outbox_pending["transactions"] >= 1,
        "{:?}",
        status.store
    );

    outage.store(false, Ordering::SeqCst);
    let purchased = || {
        twins.bloomreach.truth().profiles.iter().any(|profile| {
            profile.events.iter().any(|event| {
                event.event_type == "purchase" && event.properties["purchase_id"] == order
            })
        })
    };
    advance_until(
        &clock,
        Duration::from_millis(200),
        "delivery after the outage",
        || purchased() && appliance.status().unwrap().idle,
    )
    .await;
    let status = appliance.status().unwrap();
    assert!(status.starting.is_empty(), "{:?}", status.starting);
    assert_eq!(
        status.store.dead_letters, 0,
        "{:?}",
        status.metrics.last_errors
    );
    assert!(status.alerts.is_empty(), "{:?}", status.alerts);
    drive(&clock, appliance.shutdown()).await;
    twins.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_404_parks_delivery_without_dead_letters_and_delivery_resumes_after() {
    let plan = small_plan();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc::now());
    let twins = Twins::start(&plan, clock.clone()).await.unwrap();
    let secrets = Twins::secrets();
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    config.webhooks.manage_hooks = false;

    // A gateway in front of Bloomreach answers 404 to every delivery (tracking batches and
    // catalog updates) from the start of delivery, for 150 s.
    let gateway_down = Arc::new(AtomicBool::new(true));
    let flag = gateway_down.clone();
    config.bloomreach.base_url = common::proxy(
        twins.bloomreach.base_url(),
        Arc::new(move |path: &str, _: &[u8]| {
            let delivering =
                path.ends_with("/batch") || path.contains("/catalogs/") && path.contains("/items");
            if delivering && flag.load(Ordering::SeqCst) {
                return common::Verdict::Answer(
                    404,
                    "<html><body><h1>404 Not Found</h1>nginx</body></html>".into(),
                );
            }
            common::Verdict::Forward
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
    let began = clock.now();
    let status = appliance.status().unwrap();
    let alert = status
        .alerts
        .iter()
        .find(|a| a.kind == AlertKind::Parked)
        .expect("a parked alert");
    assert!(alert.message.contains("base_url"), "{}", alert.message);
    advance_by(&clock, Duration::from_secs(150), Duration::from_secs(1)).await;
    let status = appliance.status().unwrap();
    assert_eq!(
        status.store.dead_letters, 0,
        "{:?}",
        status.metrics.last_errors
    );
    assert!(
        status.store.outbox_pending.values().sum::<u64>() > 0,
        "the data is kept"
    );

    gateway_down.store(false, Ordering::SeqCst);
    let delivered_before = appliance.status().unwrap().store.delivered;
    advance_until(&clock, Duration::from_secs(1), "delivery to unpark", || {
        let status = appliance.status().unwrap();
        status.parked.is_empty() && status.store.delivered > delivered_before
    })
    .await;
    let resumed_after = clock.now() - began;
    assert!(
        resumed_after <= chrono::Duration::seconds(310),
        "resumed {resumed_after} after parking; the probe comes every 5 minutes"
    );
    advance_until(&clock, Duration::from_secs(1), "delivery to finish", || {
        let status = appliance.status().unwrap();
        status.parked.is_empty() && status.idle
    })
    .await;
    let status = appliance.status().unwrap();
    assert_eq!(status.store.dead_letters, 0);
    assert!(status.store.delivered > 0);
    assert!(status.alerts.is_empty(), "{:?}", status.alerts);
    drive(&clock, appliance.shutdown()).await;
    twins.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_bloomreach_key_at_start_parks_delivery_with_the_fix_and_webhooks_still_land() {
    let plan = small_plan();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc::now());
    let twins = Twins::start(&plan, clock.clone()).await.unwrap();
    let secrets = Twins::secrets();
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    config.webhooks.manage_hooks = false;
    config.bigcommerce.poll_interval_secs = 24 * 3600;
    let revoked = Arc::new(AtomicBool::new(true));
    let refused = Arc::new(AtomicUsize::new(0));
    let (flag, count) = (revoked.clone(), refused.clone());
    config.bloomreach.base_url = common::proxy(
        twins.bloomreach.base_url(),
        Arc::new(move |_: &str, _: &[u8]| {
            if flag.load(Ordering::SeqCst) {
                count.fetch_add(1, Ordering::SeqCst);
                return common::Verdict::Answer(
                    401,
                    r#"{"success": false, "errors": ["Could not authenticate"]}"#.into(),
                );
            }
            common::Verdict::Forward
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
    assert!(status.starting.iter().any(|s| s.service == "bloomreach"));
    let url = format!("http://{}/webhooks", status.webhook_address);
    let answer = post_webhook(
        &clock,
        &url,
        webhook(
            "store/customer/updated",
            serde_json::json!({"type": "customer", "id": 1}),
            "revoked-start-customer",
        ),
    )
    .await;
    assert_eq!(answer, 200, "the receiver accepts while delivery is parked");

    // Parked: one probe every five minutes, not a loop.
    let before = refused.load(Ordering::SeqCst);
    advance_by(&clock, Duration::from_secs(20 * 60), Duration::from_secs(5)).await;
    let probes = refused.load(Ordering::SeqCst) - before;
    assert!(
        (3..=5).contains(&probes),
        "{probes} checks in 20 min while parked"
    );

    revoked.store(false, Ordering::SeqCst);
    advance_until(&clock, Duration::from_secs(1), "delivery to finish", || {
        let status = appliance.status().unwrap();
        status.parked.is_empty() && status.idle
    })
    .await;
    let status = appliance.status().unwrap();
    assert!(status.starting.is_empty());
    assert_eq!(status.store.dead_letters, 0);
    assert!(status.store.delivered > 0);
    drive(&clock, appliance.shutdown()).await;
    twins.shutdown().await;
}
