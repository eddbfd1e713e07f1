//! The twins' control API (`/_twin/faults/{kind}`, `/_twin/crowd`) on their own ports: faults
//! switched on and off at run time over HTTP do what `switch_fault` (the scenario runner's
//! path) does, and a crowd of shoppers starts at a rate.

#[path = "support/receiver.rs"]
mod receiver;

use std::sync::Arc;
use std::time::Duration;

use bigreach_clock::{Clock, ManualClock};
use bigreach_twins::bigcommerce::{BigCommerceTwin, BigCommerceTwinConfig, QuotaPlan, StoreSeed};
use bigreach_twins::bloomreach::{BloomreachTwin, BloomreachTwinConfig};
use bigreach_twins::control::FaultSwitch;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};

use receiver::{drain, receiver};

const TOKEN: &str = "twin-access-token";

fn clock() -> Arc<ManualClock> {
    ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .expect("time"),
    )
}

async fn bigcommerce(clock: Arc<ManualClock>) -> BigCommerceTwin {
    let config = BigCommerceTwinConfig {
        plan: QuotaPlan::Enterprise {
            requests_per_window: 1_000_000,
        },
        ..BigCommerceTwinConfig::default()
    };
    let twin = BigCommerceTwin::start(config, clock).await.expect("start");
    twin.seed_store(&StoreSeed {
        historical_orders: 10,
        customers: 5,
        products: 8,
        ..StoreSeed::default()
    });
    twin
}

/// `method` on the control API of the twin at `base`.
async fn control(
    base: &reqwest::Url,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, base.join(path).expect("url"));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("request");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn switch(base: &reqwest::Url, kind: &str, body: Value) -> Value {
    let (s, v) = control(
        base,
        reqwest::Method::PUT,
        &format!("_twin/faults/{kind}"),
        Some(body),
    )
    .await;
    assert_eq!(s, 200, "{kind}: {v}");
    v
}

async fn rest(
    twin: &BigCommerceTwin,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .request(method, twin.api_root().join(path).expect("url"))
        .header("X-Auth-Token", TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.expect("request")
}

#[tokio::test]
async fn bigcommerce_faults_switch_over_http_as_switch_fault_does() {
    let clock = clock();
    let twin = bigcommerce(clock.clone()).await;
    let base = twin.base_url();
    let (dest, mut rx) = receiver(vec![200]).await;
    let r = rest(
        &twin,
        reqwest::Method::POST,
        "v3/hooks",
        Some(json!({ "scope": "store/customer/*", "destination": dest })),
    )
    .await;
    assert_eq!(r.status(), 200);

    // Duplicates on: a write made over REST is delivered twice with one hash.
    let on = switch(
        &base,
        "webhook_duplicates",
        json!({ "on": true, "per_mille": 1000 }),
    )
    .await;
    assert_eq!(on["faults"]["webhook_duplicates"]["per_mille"], 1000);
    let r = rest(
        &twin,
        reqwest::Method::POST,
        "v3/customers",
        Some(json!([{ "email": "dup@example.com", "first_name": "D", "last_name": "U" }])),
    )
    .await;
    assert_eq!(r.status(), 200);
    twin.webhooks_settled().await;
    let got = drain(&mut rx);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0]["hash"], got[1]["hash"]);
    switch(&base, "webhook_duplicates", json!({ "on": false })).await;
    let r = rest(
        &twin,
        reqwest::Method::POST,
        "v3/customers",
        Some(json!([{ "email": "once@example.com", "first_name": "O", "last_name": "N" }])),
    )
    .await;
    assert_eq!(r.status(), 200);
    twin.webhooks_settled().await;
    assert_eq!(drain(&mut rx).len(), 1);

    // The HTTP switch and the Rust switch leave the same state.
    let over_http = switch(
        &base,
        "webhook_reorder",
        json!({ "on": true, "max_delay_secs": 30 }),
    )
    .await;
    switch(&base, "webhook_reorder", json!({ "on": false })).await;
    twin.switch_fault(&FaultSwitch {
        kind: "webhook_reorder".into(),
        on: true,
        max_delay_secs: Some(30),
        ..FaultSwitch::default()
    })
    .expect("known kind");
    let (_, faults) = control(&base, reqwest::Method::GET, "_twin/faults", None).await;
    assert_eq!(faults, over_http["faults"]);
    assert_eq!(
        twin.webhook_faults().max_extra_delay,
        Duration::from_secs(30)
    );

    let outage = switch(
        &base,
        "webhook_outage",
        json!({ "on": true, "for_secs": 600 }),
    )
    .await;
    let until: DateTime<Utc> =
        serde_json::from_value(outage["faults"]["webhook_outage"]["until"].clone()).expect("until");
    assert_eq!(until, clock.now() + chrono::Duration::seconds(600));
    switch(&base, "webhook_outage", json!({ "on": false })).await;
    assert_eq!(twin.webhook_faults().fail_all_until, None);

    // Platform 429s: no quota headers while on.
    switch(
        &base,
        "bigcommerce_platform_429",
        json!({ "on": true, "per_mille": 1000 }),
    )
    .await;
    let r = rest(&twin, reqwest::Method::GET, "v2/time", None).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("x-rate-limit-requests-left").is_none());
    switch(&base, "bigcommerce_platform_429", json!({ "on": false })).await;
    assert_eq!(
        rest(&twin, reqwest::Method::GET, "v2/time", None)
            .await
            .status(),
        200
    );

    // Slowness: the answer waits on the clock.
    switch(
        &base,
        "bigcommerce_slow",
        json!({ "on": true, "latency_ms": 3000 }),
    )
    .await;
    let pending = {
        let twin = twin.clone();
        tokio::spawn(async move {
            rest(&twin, reqwest::Method::GET, "v2/time", None)
                .await
                .status()
        })
    };
    while clock.sleepers() == 0 {
        tokio::task::yield_now().await;
    }
    clock.advance(Duration::from_secs(3));
    assert_eq!(pending.await.expect("task"), 200);
    switch(&base, "bigcommerce_slow", json!({ "on": false })).await;

    // Hook deactivation, as BigCommerce does it.
    switch(&base, "hook_deactivation", json!({ "on": true })).await;
    let hooks: Value = rest(&twin, reqwest::Method::GET, "v3/hooks", None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(hooks["data"][0]["is_active"], false);

    let (s, v) = control(
        &base,
        reqwest::Method::PUT,
        "_twin/faults/bloomreach_outage",
        Some(json!({ "on": true })),
    )
    .await;
    assert_eq!(s, 404, "a Bloomreach fault on the BigCommerce twin: {v}");
    assert!(v["error"]
        .as_str()
        .expect("error")
        .contains("webhook_duplicates"));
    let (s, _) = control(
        &base,
        reqwest::Method::PUT,
        "_twin/faults/webhook_reorder",
        Some(json!({ "on": "yes" })),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = control(
        &base,
        reqwest::Method::PUT,
        "_twin/faults/webhook_reorder",
        Some(json!({ "on": true, "jitter": 1 })),
    )
    .await;
    assert_eq!(s, 400, "unknown parameters are refused");
    twin.shutdown().await;
}

#[tokio::test]
async fn a_crowd_started_over_http_trades_at_its_rate() {
    let clock = clock();
    let twin = bigcommerce(clock.clone()).await;
    let base = twin.base_url();
    let before = twin.truth().orders.len();
    let (s, v) = control(
        &base,
        reqwest::Method::POST,
        "_twin/crowd",
        Some(json!({ "orders": 6, "new_customers": 2, "over_secs": 60 })),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["started"]["orders"], 6);
    let started = clock.now();
    for _ in 0..10_000 {
        if twin.truth().orders.len() == before + 6
            && clock.now() >= started + chrono::Duration::seconds(60)
        {
            break;
        }
        clock.advance(Duration::from_millis(500));
        tokio::task::yield_now().await;
    }
    let truth = twin.truth();
    assert_eq!(truth.orders.len(), before + 6);
    let elapsed = clock.now() - started;
    assert!(
        elapsed <= chrono::Duration::seconds(61),
        "spread over 60 s, took {elapsed}"
    );
    let (s, _) = control(
        &base,
        reqwest::Method::POST,
        "_twin/crowd",
        Some(json!({ "orders": 1, "over_secs": 0 })),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = control(&base, reqwest::Method::GET, "_twin/nothing", None).await;
    assert_eq!(s, 404);
    twin.shutdown().await;
}

#[tokio::test]
async fn bloomreach_faults_switch_over_http() {
    let clock = clock();
    let config = BloomreachTwinConfig::default();
    let twin = BloomreachTwin::start(config.clone(), clock.clone())
        .await
        .expect("start");
    let base = twin.base_url();
    let batch = || async {
        reqwest::Client::new()
            .post(
                base.join(&format!("track/v2/projects/{}/batch", config.project_token))
                    .expect("url"),
            )
            .basic_auth(&config.key_id, Some(&config.secret))
            .json(&json!({ "commands": [{ "name": "customers", "data": { "customer_ids": { "customer_id": "1" }, "properties": { "a": 1 } } }] }))
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    };
    assert_eq!(batch().await, 200);

    let on = switch(&base, "bloomreach_outage", json!({ "on": true })).await;
    assert!(on["faults"]["bloomreach_outage"]["until"].is_string());
    assert_eq!(batch().await, 503);
    switch(&base, "bloomreach_outage", json!({ "on": false })).await;
    assert_eq!(batch().await, 200);

    switch(
        &base,
        "bloomreach_5xx",
        json!({ "on": true, "per_mille": 1000 }),
    )
    .await;
    assert!(batch().await >= 500);
    let off = switch(&base, "bloomreach_5xx", json!({ "on": false })).await;
    assert_eq!(
        off["faults"]["bloomreach_5xx"]["per_mille"],
        config.server_error_per_mille
    );

    switch(
        &base,
        "bloomreach_rate_limit",
        json!({ "on": true, "requests_per_minute": 1 }),
    )
    .await;
    assert_eq!(
        batch().await,
        429,
        "the window already holds this minute's requests"
    );
    let off = switch(&base, "bloomreach_rate_limit", json!({ "on": false })).await;
    assert_eq!(
        off["faults"]["bloomreach_rate_limit"]["requests_per_minute"], config.requests_per_minute,
        "off restores the configured ceiling"
    );
    assert_eq!(batch().await, 200);

    let on = switch(
        &base,
        "bloomreach_latency",
        json!({ "on": true, "latency_ms": 400 }),
    )
    .await;
    assert_eq!(
        on["faults"]["bloomreach_latency"],
        json!({ "base_ms": 400, "jitter_ms": 200 })
    );
    twin.switch_fault(&FaultSwitch {
        kind: "bloomreach_latency".into(),
        on: false,
        ..FaultSwitch::default()
    })
    .expect("known kind");
    let (_, faults) = control(&base, reqwest::Method::GET, "_twin/faults", None).await;
    assert_eq!(
        faults["bloomreach_latency"],
        json!({ "base_ms": 0, "jitter_ms": 0 })
    );

    let (s, v) = control(
        &base,
        reqwest::Method::PUT,
        "_twin/faults/webhook_outage",
        Some(json!({ "on": true })),
    )
    .await;
    assert_eq!(s, 404, "{v}");
    let (s, _) = control(&base, reqwest::Method::GET, "_twin/state", None).await;
    assert_eq!(s, 200);
    twin.shutdown().await;
}

/// Edits behind the connector's back: `PUT /_twin/catalogs/{name}/items/{id}` merges properties
/// into an item (not counted as an API write), `DELETE` removes it, and what is not there is a
/// 404 naming it. The BigCommerce twin deletes a variant, never a product's only one.
#[tokio::test]
async fn catalog_items_change_behind_the_connectors_back_and_variants_are_deleted() {
    let clock = clock();
    let config = BloomreachTwinConfig::default();
    let twin = BloomreachTwin::start(config.clone(), clock.clone())
        .await
        .expect("start");
    let base = twin.base_url();
    let api = |path: &str| {
        base.join(&format!("data/v2/projects/{}/{path}", config.project_token))
            .expect("url")
    };
    let http = reqwest::Client::new();
    let created: Value = http
        .post(api("catalogs"))
        .basic_auth(&config.key_id, Some(&config.secret))
        .json(&json!({"name": "products", "fields": [{"name": "price", "type": "number"}, {"name": "title"}]}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = created["id"].as_str().expect("catalog id").to_owned();
    let written = http
        .post(api(&format!("catalogs/{id}/items/partial-update")))
        .basic_auth(&config.key_id, Some(&config.secret))
        .json(
            &json!([{"item_id": "7", "properties": {"price": 10, "title": "Tee"}, "upsert": true}]),
        )
        .send()
        .await
        .expect("write");
    assert_eq!(written.status().as_u16(), 200);
    let accepted = twin.truth().stats.catalog_items_accepted;

    let (s, v) = control(
        &base,
        reqwest::Method::PUT,
        "_twin/catalogs/products/items/7",
        Some(json!({"price": 1.5})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let item = |twin: &BloomreachTwin| {
        twin.truth()
            .catalog_by_name("products")
            .and_then(|c| c.items.get("7").cloned())
    };
    assert_eq!(
        Value::Object(item(&twin).expect("item")),
        json!({"price": 1.5, "title": "Tee"})
    );
    assert_eq!(twin.truth().stats.catalog_items_accepted, accepted);
    let (s, v) = control(
        &base,
        reqwest::Method::DELETE,
        "_twin/catalogs/products/items/7",
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(item(&twin).is_none());
    let (s, v) = control(
        &base,
        reqwest::Method::DELETE,
        "_twin/catalogs/products/items/7",
        None,
    )
    .await;
    assert_eq!(s, 404);
    assert!(
        v["error"].as_str().unwrap_or_default().contains("\"7\""),
        "{v}"
    );
    let (s, v) = control(
        &base,
        reqwest::Method::PUT,
        "_twin/catalogs/nope/items/7",
        Some(json!({"price": 1})),
    )
    .await;
    assert_eq!(s, 404);
    assert!(
        v["error"].as_str().unwrap_or_default().contains("nope"),
        "{v}"
    );
    twin.shutdown().await;

    let bc = bigcommerce(clock).await;
    let truth = bc.truth();
    let mut per_product = std::collections::BTreeMap::<u64, Vec<u64>>::new();
    for v in &truth.variants {
        per_product
            .entry(v.product_id)
            .or_default()
            .push(v.variant_id);
    }
    let several = per_product
        .values()
        .find(|vs| vs.len() >= 2)
        .expect("a product with variants");
    for gone in &several[1..] {
        bc.delete_variant(*gone).expect("deleted");
        assert!(!bc.variant_ids().contains(gone));
    }
    assert!(bc.variant_ids().contains(&several[0]));
    assert!(
        bc.delete_variant(several[0]).is_err(),
        "a product keeps its only variant"
    );
    assert!(bc.delete_variant(several[1]).is_err(), "gone already");
    bc.shutdown().await;
}

/// The ids of every page of `GET v2/orders?sort={sort}&limit=5`, page by page until a short one.
async fn page_through(twin: &BigCommerceTwin, sort: &str) -> Vec<u64> {
    let mut ids = Vec::new();
    for page in 1.. {
        let r = rest(
            twin,
            reqwest::Method::GET,
            &format!(
                "v2/orders?sort={sort}&limit=5&page={page}&min_date_modified=2000-01-01T00:00:00Z"
            ),
            None,
        )
        .await;
        let listed: Vec<Value> = if r.status() == 204 {
            Vec::new()
        } else {
            r.json().await.expect("orders")
        };
        ids.extend(listed.iter().filter_map(|o| o["id"].as_u64()));
        if listed.len() < 5 {
            break;
        }
    }
    ids
}

#[tokio::test]
async fn an_order_edited_between_pages_hides_one_order_from_a_listing_by_modification_time() {
    let clock = clock();
    let twin = bigcommerce(clock.clone()).await;
    let base = twin.base_url();
    let all = page_through(&twin, "id:asc").await;
    assert!(all.len() > 5, "the seed has more than one page of orders");
    switch(&base, "order_listing_churn", json!({ "on": true })).await;

    // By modification time: the edited order moves to the last page, the one after the first
    // page's end moves up onto it, and no page shows it.
    clock.advance(Duration::from_secs(1));
    let mut by_time = page_through(&twin, "date_modified:asc").await;
    by_time.sort_unstable();
    by_time.dedup();
    assert!(
        by_time.len() < all.len(),
        "paging by modification time while orders change showed every order: {by_time:?}"
    );

    // By id, an edit moves nothing: every order is listed.
    clock.advance(Duration::from_secs(1));
    let mut by_id = page_through(&twin, "id:asc").await;
    by_id.sort_unstable();
    by_id.dedup();
    assert_eq!(
        by_id, all,
        "paging by id while orders change missed an order"
    );

    switch(&base, "order_listing_churn", json!({ "on": false })).await;
    let mut calm = page_through(&twin, "date_modified:asc").await;
    calm.sort_unstable();
    assert_eq!(
        calm, all,
        "with the fault off, a listing shows every order once"
    );
}
