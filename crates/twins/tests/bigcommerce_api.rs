//! REST behaviour of the BigCommerce twin: auth, quota, v2 orders, v3 customers/catalog,
//! seeded data consistency, the truth, and shapes checked against the OpenAPI files.

#[path = "support/openapi.rs"]
mod openapi;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bigreach_clock::{Clock, ManualClock};
use bigreach_twins::bigcommerce::{
    BigCommerceTwin, BigCommerceTwinConfig, QuotaPlan, StoreSeed, TradingBurst,
};
use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

const TOKEN: &str = "twin-access-token";

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("valid start time")
}

async fn twin_with(plan: QuotaPlan, per_mille: u32) -> (BigCommerceTwin, Arc<ManualClock>) {
    let clock = ManualClock::new(start_time());
    let config = BigCommerceTwinConfig {
        plan,
        platform_429_per_mille: per_mille,
        ..BigCommerceTwinConfig::default()
    };
    let twin = BigCommerceTwin::start(config, clock.clone())
        .await
        .expect("twin starts");
    (twin, clock)
}

async fn seeded() -> (BigCommerceTwin, Arc<ManualClock>, StoreSeed) {
    let (twin, clock) = twin_with(
        QuotaPlan::Enterprise {
            requests_per_window: 1_000_000,
        },
        0,
    )
    .await;
    let seed = StoreSeed::default();
    twin.seed_store(&seed);
    (twin, clock, seed)
}

async fn get(twin: &BigCommerceTwin, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(twin.api_root().join(path).expect("url"))
        .header("X-Auth-Token", TOKEN)
        .header("Accept", "application/json")
        .send()
        .await
        .expect("request")
}

async fn get_json(twin: &BigCommerceTwin, path: &str) -> Value {
    let r = get(twin, path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.expect("json")
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn dec(v: &Value) -> Decimal {
    let s = v.as_str().expect("v2 money is a string");
    assert_eq!(
        s.split('.').nth(1).map(str::len),
        Some(4),
        "4 decimals: {s}"
    );
    Decimal::from_str(s).expect("decimal")
}

fn rfc2822(v: &Value) -> DateTime<Utc> {
    let s = v.as_str().expect("date string");
    assert!(s.ends_with("+0000"), "v2 dates are in +0000: {s}");
    DateTime::parse_from_rfc2822(s)
        .expect("rfc2822")
        .with_timezone(&Utc)
}

/// Every v2 order (all statuses, including Incomplete), page by page.
async fn all_orders(twin: &BigCommerceTwin, extra: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut page = 1;
    loop {
        let r = get(twin, &format!("v2/orders?limit=250&page={page}{extra}")).await;
        if r.status() == 204 {
            break;
        }
        assert_eq!(r.status(), 200);
        let rows: Vec<Value> = r.json().await.expect("json");
        let n = rows.len();
        out.extend(rows);
        if n < 250 {
            break;
        }
        page += 1;
    }
    out
}

#[tokio::test]
async fn quota_headers_429_and_window_reset() {
    let (twin, clock) = twin_with(QuotaPlan::Standard, 0).await;
    let r = get(&twin, "v2/time").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "X-Rate-Limit-Time-Window-Ms").as_deref(),
        Some("30000")
    );
    assert_eq!(
        header(&r, "X-Rate-Limit-Requests-Quota").as_deref(),
        Some("150")
    );
    assert_eq!(
        header(&r, "X-Rate-Limit-Requests-Left").as_deref(),
        Some("149")
    );
    assert_eq!(
        header(&r, "X-Rate-Limit-Time-Reset-Ms").as_deref(),
        Some("30000")
    );
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["time"].as_i64(), Some(start_time().timestamp()));
    for _ in 0..149 {
        assert_eq!(get(&twin, "v2/time").await.status(), 200);
    }
    clock.advance(Duration::from_secs(10));
    let r = get(&twin, "v2/time").await;
    assert_eq!(r.status(), 429);
    assert_eq!(
        header(&r, "X-Rate-Limit-Requests-Left").as_deref(),
        Some("0")
    );
    assert_eq!(
        header(&r, "X-Rate-Limit-Time-Reset-Ms").as_deref(),
        Some("20000")
    );
    assert_eq!(header(&r, "X-Retry-After").as_deref(), Some("20"));
    clock.advance(Duration::from_secs(20));
    let r = get(&twin, "v2/time").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "X-Rate-Limit-Requests-Left").as_deref(),
        Some("149")
    );
    let truth = twin.truth();
    assert_eq!(truth.rate_limited_429, 1);
    assert_eq!(truth.requests_served, 152);
    twin.shutdown().await;
}

#[tokio::test]
async fn pro_plan_quota_and_platform_429_without_headers() {
    let (twin, _clock) = twin_with(QuotaPlan::Pro, 0).await;
    let r = get(&twin, "v2/time").await;
    assert_eq!(
        header(&r, "X-Rate-Limit-Requests-Quota").as_deref(),
        Some("450")
    );
    twin.shutdown().await;

    let (twin, _clock) = twin_with(QuotaPlan::Standard, 1000).await;
    let r = get(&twin, "v2/time").await;
    assert_eq!(r.status(), 429);
    assert!(header(&r, "X-Rate-Limit-Requests-Left").is_none());
    assert!(header(&r, "X-Retry-After").is_none());
    twin.shutdown().await;
}

#[tokio::test]
async fn auth_and_store_hash() {
    let (twin, _clock) = twin_with(QuotaPlan::Standard, 0).await;
    let url = twin.api_root().join("v3/customers").expect("url");
    let c = reqwest::Client::new();
    for token in [None, Some("wrong")] {
        let mut req = c.get(url.clone());
        if let Some(t) = token {
            req = req.header("X-Auth-Token", t);
        }
        let r = req.send().await.expect("request");
        assert_eq!(r.status(), 401);
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["status"], 401);
        assert!(body["title"].is_string());
        assert!(body["type"].is_string());
    }
    let other = twin.base_url().join("stores/zzz999/v2/time").expect("url");
    let r = c
        .get(other)
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 404);
    // /_twin/state needs no auth.
    let r = c
        .get(twin.base_url().join("_twin/state").expect("url"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200);
    twin.shutdown().await;
}

#[tokio::test]
async fn v2_orders_paging_limits_and_empty_204() {
    let (twin, _clock, seed) = seeded().await;
    let r = get(&twin, "v2/orders?min_id=999999999").await;
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.expect("body").is_empty());
    let r = get(&twin, "v2/orders?limit=251").await;
    assert_eq!(r.status(), 413);
    let r = get(&twin, "v2/orders?limit=0").await;
    assert_eq!(r.status(), 400);
    let page: Vec<Value> = get_json(&twin, "v2/orders")
        .await
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(page.len(), 50, "default limit is 50");
    let ids: Vec<u64> = page.iter().filter_map(|o| o["id"].as_u64()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "default sort id:asc");

    // Incomplete orders only appear when asked for.
    let listed = all_orders(&twin, "").await;
    let incomplete = all_orders(&twin, "&status_id=0").await;
    assert!(listed.iter().all(|o| o["status_id"] != 0));
    assert!(incomplete.iter().all(|o| o["status_id"] == 0));
    assert_eq!(listed.len() + incomplete.len(), seed.historical_orders);
    let r = get(&twin, "v2/orders/1").await;
    assert_eq!(r.status(), 404);
    twin.shutdown().await;
}

#[tokio::test]
async fn v2_min_date_modified_filter_and_sort() {
    let (twin, _clock, _seed) = seeded().await;
    let all = all_orders(&twin, "&sort=date_modified:asc").await;
    let dates: Vec<DateTime<Utc>> = all.iter().map(|o| rfc2822(&o["date_modified"])).collect();
    assert!(
        dates.windows(2).all(|w| w[0] <= w[1]),
        "sorted by date_modified"
    );
    let cutoff = dates[dates.len() / 2];
    let expected = dates.iter().filter(|d| **d >= cutoff).count();
    let rfc = cutoff.format("%a, %d %b %Y %H:%M:%S +0000").to_string();
    let iso = cutoff.format("%Y-%m-%dT%H:%M:%S+00:00").to_string();
    for form in [rfc, iso] {
        let enc: String = url::form_urlencoded::byte_serialize(form.as_bytes()).collect();
        let rows = all_orders(
            &twin,
            &format!("&sort=date_modified:asc&min_date_modified={enc}"),
        )
        .await;
        assert_eq!(rows.len(), expected, "filter with {form}");
        assert!(rows.iter().all(|o| rfc2822(&o["date_modified"]) >= cutoff));
    }
    let r = get(&twin, "v2/orders?min_date_modified=last-tuesday").await;
    assert_eq!(r.status(), 400);
    // An unencoded '+' turns into a space: rejected, not silently misread.
    let r = get(
        &twin,
        "v2/orders?min_date_modified=2026-01-01T00:00:00+00:00",
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = get(&twin, "v2/orders?sort=total:asc").await;
    assert_eq!(r.status(), 400);
    twin.shutdown().await;
}

#[tokio::test]
async fn seeded_orders_add_up_and_match_the_truth() {
    let (twin, _clock, seed) = seeded().await;
    let truth = twin.truth();
    assert_eq!(truth.orders.len(), seed.historical_orders);
    let currencies = get_json(&twin, "v2/currencies").await;
    let rates: BTreeMap<String, (u64, String)> = currencies
        .as_array()
        .expect("array")
        .iter()
        .map(|c| {
            (
                c["currency_code"].as_str().unwrap_or_default().to_owned(),
                (
                    c["id"].as_u64().unwrap_or_default(),
                    c["currency_exchange_rate"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                ),
            )
        })
        .collect();
    assert_eq!(rates.len(), 3);
    let persons: BTreeMap<u64, _> = truth.persons.iter().map(|p| (p.person_id, p)).collect();
    let mut orders = all_orders(&twin, "").await;
    orders.extend(all_orders(&twin, "&status_id=0").await);
    assert_eq!(orders.len(), seed.historical_orders);
    let mut currencies_seen = std::collections::BTreeSet::new();
    for o in &orders {
        let id = o["id"].as_u64().expect("id");
        let t = truth
            .orders
            .iter()
            .find(|t| t.order_id == id)
            .expect("in truth");
        let subtotal_ex = dec(&o["subtotal_ex_tax"]);
        let shipping_ex = dec(&o["shipping_cost_ex_tax"]);
        let total_tax = dec(&o["total_tax"]);
        let discount = dec(&o["discount_amount"]);
        let total_inc = dec(&o["total_inc_tax"]);
        let total_ex = dec(&o["total_ex_tax"]);
        assert_eq!(
            subtotal_ex + shipping_ex + total_tax - discount,
            total_inc,
            "order {id}"
        );
        assert_eq!(total_ex + total_tax, total_inc);
        assert_eq!(
            dec(&o["subtotal_ex_tax"]) + dec(&o["subtotal_tax"]),
            dec(&o["subtotal_inc_tax"])
        );
        assert_eq!(t.total_inc_tax, total_inc);
        // Currency fields agree with v2/currencies.
        let code = o["default_currency_code"].as_str().expect("code");
        currencies_seen.insert(code.to_owned());
        assert_eq!(t.currency, code);
        let (cid, rate) = &rates[code];
        assert_eq!(o["default_currency_id"].as_u64(), Some(*cid));
        assert_eq!(o["currency_code"].as_str(), Some(code));
        assert_eq!(o["store_default_currency_code"], "USD");
        assert_eq!(
            o["store_default_to_transactional_exchange_rate"].as_str(),
            Some(rate.as_str())
        );
        // Lines add up to the subtotal.
        let lines: Vec<Value> = get_json(&twin, &format!("v2/orders/{id}/products"))
            .await
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(lines.len(), t.line_count);
        let sum: Decimal = lines.iter().map(|l| dec(&l["total_ex_tax"])).sum();
        assert_eq!(sum, subtotal_ex);
        for l in &lines {
            assert!(l["product_id"].is_u64() && l["variant_id"].is_u64() && l["sku"].is_string());
            let q = Decimal::from(l["quantity"].as_u64().expect("quantity"));
            assert_eq!(dec(&l["price_ex_tax"]) * q, dec(&l["total_ex_tax"]));
        }
        // Identity.
        let person = persons[&t.person_id];
        let billing_email = o["billing_address"]["email"].as_str().unwrap_or_default();
        let customer_id = o["customer_id"].as_u64().expect("customer_id");
        if customer_id == 0 {
            assert_eq!(
                person.email.clone().unwrap_or_default(),
                billing_email.trim().to_lowercase()
            );
        } else {
            assert_eq!(person.customer_id, Some(customer_id));
        }
        // Paid flag follows the status.
        let status = o["status_id"].as_u64().expect("status");
        assert_eq!(
            t.paid,
            matches!(status, 2 | 4 | 10 | 11 | 14),
            "order {id} status {status}"
        );
        assert_eq!(t.paid, t.paid_at.is_some());
    }
    assert!(
        currencies_seen.len() > 1,
        "several transactional currencies"
    );
    twin.shutdown().await;
}

#[tokio::test]
async fn truth_counts_and_identities() {
    let (twin, _clock, seed) = seeded().await;
    let truth = twin.truth();
    let registered = truth
        .persons
        .iter()
        .filter(|p| p.customer_id.is_some())
        .count();
    assert_eq!(registered, seed.customers);
    let customers = get_json(&twin, "v3/customers?limit=10").await;
    assert_eq!(
        customers["meta"]["pagination"]["total"].as_u64(),
        Some(seed.customers as u64)
    );
    assert_eq!(truth.products, seed.products);
    let variants = get_json(&twin, "v3/catalog/variants?limit=1").await;
    assert_eq!(
        variants["meta"]["pagination"]["total"].as_u64(),
        Some(truth.variant_ids.len() as u64)
    );
    assert!(
        truth
            .persons
            .iter()
            .any(|p| p.email.is_none() && p.phone_e164.is_some()),
        "phone-only guests"
    );
    for p in &truth.persons {
        if let Some(e) = &p.email {
            assert_eq!(*e, e.trim().to_lowercase());
        }
        if let Some(ph) = &p.phone_e164 {
            assert!(ph.starts_with('+') && ph[1..].chars().all(|c| c.is_ascii_digit()));
        }
    }
    // Some guests registered later: a person with a customer id also has guest orders.
    let guest_orders_of_registered = truth
        .orders
        .iter()
        .filter(|o| {
            truth
                .persons
                .iter()
                .any(|p| p.person_id == o.person_id && p.customer_id.is_some())
        })
        .count();
    assert!(guest_orders_of_registered > 0);
    // The state endpoint serves the same truth.
    let state: Value = reqwest::get(twin.base_url().join("_twin/state").expect("url"))
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(
        state["orders"].as_array().map(Vec::len),
        Some(truth.orders.len())
    );
    // Determinism: same seed, same store.
    let (twin2, _c2, _s2) = seeded().await;
    assert_eq!(twin2.truth().orders, truth.orders);
    assert_eq!(twin2.truth().persons, truth.persons);
    twin.shutdown().await;
    twin2.shutdown().await;
}

#[tokio::test]
async fn v3_customers_filters_and_envelope() {
    let (twin, _clock, _seed) = seeded().await;
    let all = get_json(
        &twin,
        "v3/customers?limit=250&sort=date_modified:asc&include=attributes,formfields",
    )
    .await;
    let data = all["data"].as_array().cloned().unwrap_or_default();
    let dates: Vec<DateTime<Utc>> = data
        .iter()
        .map(|c| {
            DateTime::parse_from_rfc3339(c["date_modified"].as_str().expect("date"))
                .expect("iso")
                .with_timezone(&Utc)
        })
        .collect();
    assert!(dates.windows(2).all(|w| w[0] <= w[1]));
    assert!(data
        .iter()
        .all(|c| c["attributes"].is_array() && c["form_fields"].is_array()));
    let cutoff = dates[dates.len() / 2];
    let enc: String =
        url::form_urlencoded::byte_serialize(cutoff.to_rfc3339().as_bytes()).collect();
    let filtered = get_json(
        &twin,
        &format!("v3/customers?date_modified:min={enc}&sort=date_modified:asc&limit=250"),
    )
    .await;
    let expected = dates.iter().filter(|d| **d >= cutoff).count();
    assert_eq!(filtered["data"].as_array().map(Vec::len), Some(expected));
    let first = &data[0];
    let email = first["email"].as_str().expect("email").to_uppercase();
    let enc: String = url::form_urlencoded::byte_serialize(email.as_bytes()).collect();
    let by_email = get_json(&twin, &format!("v3/customers?email:in={enc}")).await;
    assert_eq!(by_email["data"][0]["id"], first["id"]);
    let page2 = get_json(&twin, "v3/customers?limit=5&page=2").await;
    let pg = &page2["meta"]["pagination"];
    assert_eq!(pg["per_page"], 5);
    assert_eq!(pg["current_page"], 2);
    assert_eq!(pg["count"], 5);
    assert!(pg["links"]["previous"].is_string() && pg["links"]["next"].is_string());
    let r = get(&twin, "v3/customers?date_modified:min=garbage").await;
    assert_eq!(r.status(), 400);
    twin.shutdown().await;
}

fn product_map(v: &Value) -> BTreeMap<u64, Value> {
    v["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (p["id"].as_u64().unwrap_or_default(), p.clone()))
        .collect()
}

#[tokio::test]
async fn variant_edit_does_not_bump_product_date_modified() {
    let (twin, clock, _seed) = seeded().await;
    let before =
        product_map(&get_json(&twin, "v3/catalog/products?include=variants&limit=250").await);
    clock.advance(Duration::from_secs(3600));
    twin.run_trading(&TradingBurst {
        orders: 0,
        new_customers: 0,
        variant_edits: 6,
        over: Duration::ZERO,
    })
    .await;
    let after =
        product_map(&get_json(&twin, "v3/catalog/products?include=variants&limit=250").await);
    let mut changed_products = 0;
    for (id, b) in &before {
        let a = &after[id];
        assert_eq!(a["date_modified"], b["date_modified"], "product {id}");
        if a["variants"] != b["variants"] {
            changed_products += 1;
        }
    }
    assert!(changed_products > 0, "some variant changed");
    // No product shows up in a date_modified delta since before the edits.
    let since = (start_time() + chrono::Duration::minutes(1)).to_rfc3339();
    let enc: String = url::form_urlencoded::byte_serialize(since.as_bytes()).collect();
    let delta = get_json(
        &twin,
        &format!("v3/catalog/products?date_modified:min={enc}&sort=date_modified&direction=asc"),
    )
    .await;
    assert_eq!(delta["data"].as_array().map(Vec::len), Some(0));
    let r = get(&twin, "v3/catalog/products?limit=251").await;
    assert_eq!(r.status(), 413);
    twin.shutdown().await;
}

#[tokio::test]
async fn live_trading_moves_orders_through_the_state_machine() {
    let (twin, clock, seed) = seeded().await;
    let started = clock.now();
    let burst = TradingBurst {
        orders: 12,
        new_customers: 3,
        variant_edits: 2,
        over: Duration::from_secs(120),
    };
    let handle = {
        let twin = twin.clone();
        tokio::spawn(async move { twin.run_trading(&burst).await })
    };
    while !handle.is_finished() {
        clock.advance(Duration::from_secs(1));
        tokio::task::yield_now().await;
    }
    handle.await.expect("trading task");
    let truth = twin.truth();
    assert_eq!(truth.orders.len(), seed.historical_orders + 12);
    assert_eq!(
        truth
            .persons
            .iter()
            .filter(|p| p.customer_id.is_some())
            .count(),
        seed.customers + 3
    );
    let live: Vec<_> = truth
        .orders
        .iter()
        .filter(|o| o.order_id > 100 + seed.historical_orders as u64 - 1)
        .collect();
    assert_eq!(live.len(), 12);
    assert!(live.iter().any(|o| o.paid));
    for o in &live {
        if let Some(at) = o.paid_at {
            assert!(at >= started && at <= clock.now());
        }
        let v2 = get_json(&twin, &format!("v2/orders/{}", o.order_id)).await;
        let status = v2["status_id"].as_u64().expect("status");
        assert!(matches!(status, 6 | 7 | 11), "settled status {status}");
        assert_eq!(o.paid, status == 11);
        if status == 11 {
            assert_eq!(v2["payment_status"], "captured");
        }
    }
    twin.shutdown().await;
}

// ---------- OpenAPI shape checks ----------

/// `base_variant_id`: "This value is `null` for complex products" (products_catalog.v3.yml).
/// `sku_id`: null for a base variant (reference doc 5.2, from the variants guide).
const DOCUMENTED_NULLS: &[&str] = &[
    "product_Full.base_variant_id: null",
    "productVariant_Full.sku_id: null",
];

#[tokio::test]
async fn responses_conform_to_the_openapi_schemas() {
    let (Some(orders), Some(products), Some(customers), Some(hooks), Some(currencies), Some(store)) = (
        openapi::load_spec("orders.v2.oas2.yml"),
        openapi::load_spec("products_catalog.v3.yml"),
        openapi::load_spec("customers.v3.yml"),
        openapi::load_spec("webhooks.v3.yml"),
        openapi::load_spec("currencies.v2.yml"),
        openapi::load_spec("store_information.v2.yml"),
    ) else {
        return;
    };
    let (twin, _clock, _seed) = seeded().await;
    let list = all_orders(&twin, "").await;
    // One guest order with a coupon and one registered order, with line items in consignments.
    let picks: Vec<&Value> = list
        .iter()
        .filter(|o| o["customer_id"] == 0)
        .take(1)
        .chain(list.iter().filter(|o| o["customer_id"] != 0).take(1))
        .collect();
    for o in picks {
        let id = o["id"].as_u64().expect("id");
        let full = get_json(
            &twin,
            &format!("v2/orders/{id}?include=consignments.line_items&consignment_structure=object"),
        )
        .await;
        openapi::assert_conforms(&orders, "order_Resp", &full, &["fees"], DOCUMENTED_NULLS);
        let shipping = &full["consignments"]["shipping"][0];
        let mut errs = Vec::new();
        openapi::check(
            &orders,
            &serde_json::json!({"$ref": "#/components/schemas/shippingConsignment_Get"}),
            shipping,
            "consignment",
            &mut errs,
        );
        assert!(errs.is_empty(), "{errs:#?}");
        for l in shipping["line_items"].as_array().expect("lines") {
            openapi::assert_conforms(&orders, "orderProducts", l, &[], DOCUMENTED_NULLS);
        }
        let plain = get_json(&twin, &format!("v2/orders/{id}")).await;
        assert!(plain["products"]["url"].is_string() && plain["products"]["resource"].is_string());
        assert!(plain["consignments"]["resource"].is_string());
    }
    let prods = get_json(
        &twin,
        "v3/catalog/products?include=variants,images,custom_fields,primary_image&limit=250",
    )
    .await;
    let optional_product = [
        "options",
        "modifiers",
        "bulk_pricing_rules",
        "videos",
        "parent_relations",
        "date_last_imported",
    ];
    for p in prods["data"].as_array().expect("data").iter().take(20) {
        openapi::assert_conforms(
            &products,
            "product_Full",
            p,
            &optional_product,
            DOCUMENTED_NULLS,
        );
        for v in p["variants"].as_array().expect("variants") {
            openapi::assert_conforms(&products, "productVariant_Full", v, &[], DOCUMENTED_NULLS);
        }
    }
    let custs = get_json(
        &twin,
        "v3/customers?include=addresses,attributes,formfields,storecredit&limit=5",
    )
    .await;
    for c in custs["data"].as_array().expect("data") {
        openapi::assert_conforms(
            &customers,
            "customer_Full",
            c,
            &["channel_ids"],
            DOCUMENTED_NULLS,
        );
    }
    let mut errs = Vec::new();
    openapi::check(
        &customers,
        &serde_json::json!({"$ref": "#/components/schemas/pagination_Full"}),
        &custs["meta"]["pagination"],
        "pagination",
        &mut errs,
    );
    assert!(errs.is_empty(), "{errs:#?}");
    for c in get_json(&twin, "v2/currencies")
        .await
        .as_array()
        .expect("array")
    {
        openapi::assert_conforms(&currencies, "currency_Full", c, &[], DOCUMENTED_NULLS);
    }
    let info = get_json(&twin, "v2/store").await;
    openapi::assert_conforms(&store, "StoreInformation", &info, &[], DOCUMENTED_NULLS);
    let created: Value = reqwest::Client::new()
        .post(twin.api_root().join("v3/hooks").expect("url"))
        .header("X-Auth-Token", TOKEN)
        .json(&serde_json::json!({ "scope": "store/order/*", "destination": "https://hooks.example.com/bc" }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    openapi::assert_conforms(
        &hooks,
        "webhook_Full",
        &created["data"],
        &[],
        DOCUMENTED_NULLS,
    );
    twin.shutdown().await;
}
