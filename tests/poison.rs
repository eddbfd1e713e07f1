//! No poison pill: what cannot be fetched is set aside with its reason and never holds up
//! anything else. A cart id that is not a UUID, as an authenticated webhook can carry, is refused
//! at the receiver's edge (stored once, set aside, never fetched), and an order notified after it
//! still arrives in Bloomreach; a product BigCommerce refuses is found in its batch. The
//! appliance and both twins run on one manual clock that the test advances.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bigreach_clock::Clock;
use bigreach_clock::ManualClock;
use bigreach_core::app::status::AlertKind;
use bigreach_core::app::{SetAside, SetAsideState};
use bigreach_core::model::{InboxBody, InboxEntry, InboxSource, ResourceKind};
use bigreach_core::store::Appended;
use bigreach_harness::twins::Twins;
use chrono::Utc;
use common::manual_clock::{
    advance_by, advance_until, drive, paid_guest_order, post_webhook, small_plan, start_appliance,
    webhook,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_cart_id_is_set_aside_and_a_following_order_still_arrives() {
    let plan = small_plan();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc::now());
    let twins = Twins::start(&plan, clock.clone()).await.unwrap();
    let secrets = Twins::secrets();
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    config.webhooks.manage_hooks = false;
    // Only the webhooks drive enrich in this test; the poller passes once at start.
    config.bigcommerce.poll_interval_secs = 24 * 3600;
    let appliance = start_appliance(&clock, &config, &secrets, listeners).await;
    advance_until(
        &clock,
        Duration::from_millis(100),
        "the first poll pass and its delivery",
        || appliance.poll_passes() >= 1 && appliance.status().unwrap().idle,
    )
    .await;

    // A paid order the poller has not seen (it lists again only in a day).
    let order = paid_guest_order(&twins.bigcommerce, "poison.shopper@example.com", None);

    let url = format!(
        "http://{}/webhooks",
        appliance.status().unwrap().webhook_address
    );
    // An over-long cart id with characters no cart id has: the client refuses it.
    let bad_cart = format!("not a uuid/../{}", "x".repeat(10_000));
    let answer = post_webhook(
        &clock,
        &url,
        webhook(
            "store/cart/updated",
            serde_json::json!({"type": "cart", "id": bad_cart}),
            "poison-cart",
        ),
    )
    .await;
    assert_eq!(answer, 200, "an authenticated webhook is accepted durably");
    let answer = post_webhook(
        &clock,
        &url,
        webhook(
            "store/order/statusUpdated",
            serde_json::json!({"type": "order", "id": order,
                "status": {"previous_status_id": 0, "new_status_id": 11}}),
            "poison-order",
        ),
    )
    .await;
    assert_eq!(answer, 200);

    let purchased = || {
        twins.bloomreach.truth().profiles.iter().any(|profile| {
            profile.events.iter().any(|event| {
                event.event_type == "purchase" && event.properties["purchase_id"] == order
            })
        })
    };
    advance_until(
        &clock,
        Duration::from_millis(100),
        "the order after the poisoned cart to arrive in Bloomreach",
        purchased,
    )
    .await;
    let status = appliance.status().unwrap();
    assert!(status.parked.is_empty(), "{:?}", status.parked);
    assert_eq!(status.store.fetch_queue, 0, "nothing is stuck in the queue");
    assert_eq!(status.store.set_aside, 1);
    assert!(status.alerts.iter().any(|a| a.kind == AlertKind::SetAside));
    assert!(
        status
            .metrics
            .last_errors
            .iter()
            .all(|e| e.message.len() < 1_000),
        "an over-long id is capped wherever it is reported"
    );

    // The operator sees it with the reason, and gives it up (audited).
    let set_aside = appliance.app().set_aside_fetches().unwrap();
    assert_eq!(set_aside.len(), 1);
    assert!(
        set_aside[0].key.starts_with("cart:not a uuid/") && set_aside[0].key.len() < 200,
        "the key is the id's capped, escaped excerpt: {}",
        set_aside[0].key
    );
    assert!(
        set_aside[0]
            .reason
            .contains("is not valid (expected a UUID)")
            && set_aside[0].reason.len() < 500,
        "{}",
        set_aside[0].reason
    );
    // It names nothing BigCommerce could answer for: a replay is refused with the way out.
    let replay = appliance
        .app()
        .replay_set_aside_fetch(&set_aside[0].key, "test")
        .unwrap_err();
    assert!(replay.message.contains("discard it"), "{}", replay.message);
    // Nothing retries it: a minute later it is still the only one, and was fetched once.
    advance_by(&clock, Duration::from_secs(60), Duration::from_secs(1)).await;
    assert_eq!(appliance.status().unwrap().store.set_aside, 1);
    // Through the local API, as the CLI and the desktop shell do: list, then discard.
    let api = format!("http://{}", appliance.status().unwrap().api_address);
    let bearer = format!("Bearer {}", appliance.api_token());
    let listed: serde_json::Value = drive(
        &clock,
        reqwest::Client::new()
            .get(format!("{api}/api/set-aside"))
            .header("authorization", &bearer)
            .send(),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(listed[0]["key"], set_aside[0].key);
    let encoded: String = set_aside[0]
        .key
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let discarded = drive(
        &clock,
        reqwest::Client::new()
            .post(format!("{api}/api/set-aside/{encoded}/discard"))
            .header("authorization", &bearer)
            .header("content-type", "application/json")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(discarded.status(), 200);
    let discarded: SetAside = discarded.json().await.unwrap();
    assert_eq!(discarded.state, SetAsideState::Discarded);
    let status = appliance.status().unwrap();
    assert_eq!(status.store.set_aside, 0);
    assert!(status.alerts.is_empty(), "{:?}", status.alerts);
    assert_eq!(
        appliance
            .store()
            .audit_log()
            .unwrap()
            .last()
            .unwrap()
            .action,
        "set_aside.discarded"
    );

    drive(&clock, appliance.shutdown()).await;
    twins.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_bigcommerce_refuses_is_found_in_its_batch_and_the_others_are_synced() {
    let plan = small_plan();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc::now());
    let twins = Twins::start(&plan, clock.clone()).await.unwrap();
    let secrets = Twins::secrets();
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    config.webhooks.manage_hooks = false;
    config.bigcommerce.poll_interval_secs = 24 * 3600;

    let variants = twins.bigcommerce.truth().variants;
    let poison = variants[0].product_id;
    let good = variants
        .iter()
        .find(|v| v.product_id != poison)
        .unwrap()
        .clone();
    // Once armed, any product listing that holds the poisoned product is refused with a 422
    // (as BigCommerce answers for a product it cannot render); others pass.
    let armed = Arc::new(AtomicBool::new(false));
    let flag = armed.clone();
    config.bigcommerce.api_root = Some(
        common::proxy(
            twins.bigcommerce.api_root(),
            Arc::new(|_: &str, _: &[u8]| common::Verdict::Forward),
            Arc::new(move |path: &str, _: &[u8], status: u16, answer: &[u8]| {
                if !flag.load(Ordering::SeqCst)
                    || status != 200
                    || !path.ends_with("v3/catalog/products")
                {
                    return None;
                }
                let answer: serde_json::Value = serde_json::from_slice(answer).ok()?;
                answer["data"]
                    .as_array()?
                    .iter()
                    .any(|p| p["id"] == poison)
                    .then(|| {
                        (
                            422,
                            r#"{"status":422,"title":"The product could not be rendered"}"#
                                .to_owned(),
                        )
                    })
            }),
        )
        .await,
    );
    let appliance = start_appliance(&clock, &config, &secrets, listeners).await;
    advance_until(
        &clock,
        Duration::from_millis(100),
        "the first poll pass and its delivery",
        || appliance.poll_passes() >= 1 && appliance.status().unwrap().idle,
    )
    .await;
    armed.store(true, Ordering::SeqCst);

    twins
        .bigcommerce
        .edit_variant(good.variant_id, Some("123.45".parse().unwrap()), None)
        .unwrap();
    let url = format!(
        "http://{}/webhooks",
        appliance.status().unwrap().webhook_address
    );
    for product in [poison, good.product_id] {
        let answer = post_webhook(
            &clock,
            &url,
            webhook(
                "store/product/updated",
                serde_json::json!({"type": "product", "id": product}),
                &format!("poison-product-{product}"),
            ),
        )
        .await;
        assert_eq!(answer, 200);
    }
    let catalog = config.bloomreach.catalog_name.clone();
    advance_until(
        &clock,
        Duration::from_millis(100),
        "the good product's new price in Bloomreach",
        || {
            twins
                .bloomreach
                .truth()
                .catalog_by_name(&catalog)
                .and_then(|c| c.items.get(&good.variant_id.to_string()).cloned())
                .is_some_and(|item| item["price"] == 123.45)
        },
    )
    .await;
    let status = appliance.status().unwrap();
    assert!(status.parked.is_empty(), "{:?}", status.parked);
    assert_eq!(status.store.fetch_queue, 0);
    let set_aside = appliance.app().set_aside_fetches().unwrap();
    assert_eq!(set_aside.len(), 1, "{set_aside:?}");
    assert_eq!(set_aside[0].key, format!("product:{poison}"));
    assert!(
        set_aside[0].reason.contains("422"),
        "{}",
        set_aside[0].reason
    );

    // Fixed on BigCommerce's side: a replay fetches it and clears the record.
    armed.store(false, Ordering::SeqCst);
    appliance
        .app()
        .replay_set_aside_fetch(&set_aside[0].key, "operator (test)")
        .unwrap();
    advance_until(&clock, Duration::from_millis(100), "the replay", || {
        let status = appliance.status().unwrap();
        status.store.set_aside == 0 && status.store.fetch_queue == 0
    })
    .await;
    drive(&clock, appliance.shutdown()).await;
    twins.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbox_entry_that_cannot_be_read_is_set_aside_and_later_entries_still_flow() {
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
        "the first poll pass and its delivery",
        || appliance.poll_passes() >= 1 && appliance.status().unwrap().idle,
    )
    .await;

    // A stored resource this version cannot read (as an older or damaged store can hold).
    let now_ms = clock.now_ms();
    let appended = appliance
        .store()
        .append_inbox(&[InboxEntry {
            received_at_ms: now_ms,
            event_time_ms: now_ms,
            source: InboxSource::Poll,
            hash: None,
            initial_sync: false,
            body: InboxBody::Resource {
                kind: ResourceKind::Order,
                json: br#"{"id": "not an order"}"#.to_vec(),
            },
        }])
        .unwrap();
    let Appended::Stored(seq) = appended[0] else {
        panic!("{appended:?}");
    };
    // Then a paid order, notified by webhook.
    let order = paid_guest_order(&twins.bigcommerce, "after.unreadable@example.com", None);
    let url = format!(
        "http://{}/webhooks",
        appliance.status().unwrap().webhook_address
    );
    let answer = post_webhook(
        &clock,
        &url,
        webhook(
            "store/order/statusUpdated",
            serde_json::json!({"type": "order", "id": order,
                "status": {"previous_status_id": 0, "new_status_id": 11}}),
            "after-unreadable",
        ),
    )
    .await;
    assert_eq!(answer, 200);
    advance_until(
        &clock,
        Duration::from_millis(100),
        "the order after the unreadable entry to arrive in Bloomreach",
        || {
            twins.bloomreach.truth().profiles.iter().any(|profile| {
                profile.events.iter().any(|event| {
                    event.event_type == "purchase" && event.properties["purchase_id"] == order
                })
            })
        },
    )
    .await;
    let status = appliance.status().unwrap();
    assert_eq!(status.store.inbox_pending, 0, "the cursor moved past it");
    let set_aside = appliance.app().set_aside_fetches().unwrap();
    assert_eq!(set_aside.len(), 1, "{set_aside:?}");
    assert_eq!(set_aside[0].key, format!("inbox:{seq}"));
    assert!(
        set_aside[0].reason.contains("undecodable Order"),
        "{}",
        set_aside[0].reason
    );
    let discarded = appliance
        .app()
        .discard_set_aside_fetch(&set_aside[0].key, "test")
        .unwrap();
    assert_eq!(discarded.state, SetAsideState::Discarded);

    drive(&clock, appliance.shutdown()).await;
    twins.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bigcommerce_gateway_404_parks_enrich_and_sets_nothing_aside() {
    let plan = small_plan();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc::now());
    let twins = Twins::start(&plan, clock.clone()).await.unwrap();
    let secrets = Twins::secrets();
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    config.webhooks.manage_hooks = false;
    config.bigcommerce.poll_interval_secs = 24 * 3600;
    let variants = twins.bigcommerce.truth().variants;
    // Once armed, a gateway in front of BigCommerce answers 404 for every product listing.
    let armed = Arc::new(AtomicBool::new(false));
    let flag = armed.clone();
    config.bigcommerce.api_root = Some(
        common::proxy(
            twins.bigcommerce.api_root(),
            Arc::new(|_: &str, _: &[u8]| common::Verdict::Forward),
            Arc::new(move |path: &str, _: &[u8], _: u16, _: &[u8]| {
                (flag.load(Ordering::SeqCst) && path.ends_with("v3/catalog/products"))
                    .then(|| (404, "<html>Not Found</html>".to_owned()))
            }),
        )
        .await,
    );
    let appliance = start_appliance(&clock, &config, &secrets, listeners).await;
    advance_until(
        &clock,
        Duration::from_millis(100),
        "the first poll pass and its delivery",
        || appliance.poll_passes() >= 1 && appliance.status().unwrap().idle,
    )
    .await;
    armed.store(true, Ordering::SeqCst);
    let url = format!(
        "http://{}/webhooks",
        appliance.status().unwrap().webhook_address
    );
    let products: std::collections::BTreeSet<u64> =
        variants.iter().map(|v| v.product_id).take(3).collect();
    for product in &products {
        let answer = post_webhook(
            &clock,
            &url,
            webhook(
                "store/product/updated",
                serde_json::json!({"type": "product", "id": product}),
                &format!("gateway-product-{product}"),
            ),
        )
        .await;
        assert_eq!(answer, 200);
    }
    advance_until(&clock, Duration::from_millis(100), "enrich to park", || {
        !appliance.status().unwrap().parked.is_empty()
    })
    .await;
    let status = appliance.status().unwrap();
    assert!(
        status.parked[0].hint.contains("api_root"),
        "{:?}",
        status.parked
    );
    assert_eq!(status.store.set_aside, 0, "nothing is set aside");
    assert_eq!(
        status.store.fetch_queue,
        products.len() as u64,
        "all stay queued"
    );

    // The gateway recovers: the next probe (within 5 minutes) unparks and fetches them all.
    armed.store(false, Ordering::SeqCst);
    advance_until(
        &clock,
        Duration::from_secs(5),
        "the probe to unpark",
        || {
            let status = appliance.status().unwrap();
            status.parked.is_empty() && status.store.fetch_queue == 0
        },
    )
    .await;
    assert_eq!(appliance.status().unwrap().store.set_aside, 0);

    drive(&clock, appliance.shutdown()).await;
    twins.shutdown().await;
}
