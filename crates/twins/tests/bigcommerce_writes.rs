//! Writes a merchant's tools make over REST: v2 order creation and status changes, v3 refund
//! quotes and refunds, v3 customers, products, variants and inventory. Each fires the
//! documented webhooks and validates like the real API; shapes are checked against the
//! OpenAPI files.

#[path = "support/openapi.rs"]
mod openapi;
#[path = "support/receiver.rs"]
mod receiver;

use std::str::FromStr;
use std::sync::Arc;

use bigreach_clock::ManualClock;
use bigreach_twins::bigcommerce::{BigCommerceTwin, BigCommerceTwinConfig, QuotaPlan, StoreSeed};
use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use receiver::{drain, receiver};

const TOKEN: &str = "twin-access-token";

/// Nulls the reference documents although the spec does not mark them nullable: a refund
/// item's `requested_amount` (reference §3.9) and a product's `base_variant_id` for products
/// with option variants (as in `bigcommerce_api`).
const DOCUMENTED_NULLS: &[&str] = &[
    ".requested_amount: null but not nullable",
    ".base_variant_id: null but not nullable",
];

async fn twin() -> (BigCommerceTwin, Arc<ManualClock>) {
    let clock = ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .expect("time"),
    );
    let config = BigCommerceTwinConfig {
        plan: QuotaPlan::Enterprise {
            requests_per_window: 1_000_000,
        },
        ..BigCommerceTwinConfig::default()
    };
    let twin = BigCommerceTwin::start(config, clock.clone())
        .await
        .expect("start");
    twin.seed_store(&StoreSeed {
        historical_orders: 20,
        customers: 6,
        products: 10,
        ..StoreSeed::default()
    });
    (twin, clock)
}

async fn call(
    twin: &BigCommerceTwin,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, twin.api_root().join(path).expect("url"))
        .header("X-Auth-Token", TOKEN)
        .header("Accept", "application/json");
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let v = r.json().await.unwrap_or(Value::Null);
    (status, v)
}

async fn post(twin: &BigCommerceTwin, path: &str, body: Value) -> (u16, Value) {
    call(twin, reqwest::Method::POST, path, Some(body)).await
}

async fn put(twin: &BigCommerceTwin, path: &str, body: Value) -> (u16, Value) {
    call(twin, reqwest::Method::PUT, path, Some(body)).await
}

async fn get(twin: &BigCommerceTwin, path: &str) -> Value {
    let (s, v) = call(twin, reqwest::Method::GET, path, None).await;
    assert_eq!(s, 200, "GET {path}: {v}");
    v
}

/// Every store webhook goes to a local receiver.
async fn hooks(twin: &BigCommerceTwin) -> mpsc::UnboundedReceiver<Value> {
    let (dest, rx) = receiver(vec![200]).await;
    for scope in [
        "store/order/*",
        "store/customer/*",
        "store/product/*",
        "store/sku/*",
    ] {
        let (s, v) = post(
            twin,
            "v3/hooks",
            json!({ "scope": scope, "destination": dest }),
        )
        .await;
        assert_eq!(s, 200, "{v}");
    }
    rx
}

async fn delivered(twin: &BigCommerceTwin, rx: &mut mpsc::UnboundedReceiver<Value>) -> Vec<Value> {
    twin.webhooks_settled().await;
    drain(rx)
}

fn scopes(got: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = got
        .iter()
        .filter_map(|b| b["scope"].as_str().map(str::to_owned))
        .collect();
    out.sort();
    out
}

fn dec(v: &Value) -> Decimal {
    match v {
        Value::String(s) => Decimal::from_str(s).expect("decimal string"),
        Value::Number(n) => Decimal::from_str(&n.to_string()).expect("decimal number"),
        other => panic!("not money: {other}"),
    }
}

/// A variant of a product tracked by variant, with stock.
fn tracked(twin: &BigCommerceTwin) -> (u64, u64) {
    let t = twin.truth();
    let v = t
        .variants
        .iter()
        .find(|v| v.inventory_tracking == "variant")
        .expect("a variant-tracked product");
    (v.product_id, v.variant_id)
}

fn order_body(product_id: u64, variant_id: u64, email: &str) -> Value {
    json!({
        "billing_address": {
            "first_name": "Ines", "last_name": "Haddad", "street_1": "Oranienstr. 1",
            "city": "Berlin", "state": "Berlin", "zip": "10969", "country": "Germany",
            "country_iso2": "DE", "email": email, "phone": "030 1234567"
        },
        "products": [{ "product_id": product_id, "variant_id": variant_id, "quantity": 2 }],
    })
}

#[tokio::test]
async fn an_order_created_over_rest_then_paid_fires_the_documented_webhooks() {
    let spec = openapi::load_spec("orders.v2.oas2.yml");
    let (twin, _clock) = twin().await;
    let mut rx = hooks(&twin).await;
    let (product_id, variant_id) = tracked(&twin);
    let (s, order) = post(
        &twin,
        "v2/orders",
        order_body(product_id, variant_id, " New.Buyer@Example.com"),
    )
    .await;
    assert_eq!(s, 200, "{order}");
    if let Some(spec) = &spec {
        openapi::assert_response(spec, "/orders", "post", "200", &order, &["fees"]);
    }
    assert_eq!(order["status_id"], 1);
    assert_eq!(order["customer_id"], 0);
    assert_eq!(order["order_source"], "external");
    assert_eq!(
        order["billing_address"]["email"], " New.Buyer@Example.com",
        "kept as typed"
    );
    let id = order["id"].as_u64().expect("id");
    assert_eq!(
        scopes(&delivered(&twin, &mut rx).await),
        ["store/order/created"]
    );

    let (s, paid) = put(
        &twin,
        &format!("v2/orders/{id}"),
        json!({ "status_id": 11 }),
    )
    .await;
    assert_eq!(s, 200, "{paid}");
    if let Some(spec) = &spec {
        openapi::assert_response(spec, "/orders/{order_id}", "put", "200", &paid, &["fees"]);
    }
    assert_eq!(paid["status_id"], 11);
    assert_eq!(paid["payment_status"], "captured");
    let got = delivered(&twin, &mut rx).await;
    assert_eq!(
        scopes(&got),
        [
            "store/order/statusUpdated",
            "store/order/updated",
            "store/sku/inventory/order/updated"
        ]
    );
    let status = got
        .iter()
        .find(|b| b["scope"] == "store/order/statusUpdated")
        .expect("statusUpdated");
    assert_eq!(
        status["data"]["status"],
        json!({ "previous_status_id": 1, "new_status_id": 11 })
    );
    let truth = twin.truth();
    let o = truth
        .orders
        .iter()
        .find(|o| o.order_id == id)
        .expect("order in the truth");
    assert!(o.paid);
    let person = truth
        .persons
        .iter()
        .find(|p| p.person_id == o.person_id)
        .expect("person");
    assert_eq!(person.email.as_deref(), Some("new.buyer@example.com"));

    // The same shopper again (another spelling) is the same person; created directly as paid.
    let mut again = order_body(product_id, variant_id, "NEW.BUYER@example.com");
    again["status_id"] = json!(11);
    let (s, second) = post(&twin, "v2/orders", again).await;
    assert_eq!(s, 200, "{second}");
    assert_eq!(second["status_id"], 11);
    let truth = twin.truth();
    let second_id = second["id"].as_u64().expect("id");
    let o2 = truth
        .orders
        .iter()
        .find(|o| o.order_id == second_id)
        .expect("order");
    assert_eq!(o2.person_id, o.person_id);
    assert!(o2.paid);
    // Setting the current status again changes nothing.
    assert_eq!(
        put(
            &twin,
            &format!("v2/orders/{id}"),
            json!({ "status_id": 11 })
        )
        .await
        .0,
        200
    );
    let (s, shipped) = put(&twin, &format!("v2/orders/{id}"), json!({ "status_id": 2 })).await;
    assert_eq!(s, 200);
    assert!(!shipped["date_shipped"].as_str().expect("date").is_empty());
    twin.shutdown().await;
}

#[tokio::test]
async fn order_writes_validate_like_the_v2_api() {
    let (twin, _clock) = twin().await;
    let (product_id, variant_id) = tracked(&twin);
    let ok = order_body(product_id, variant_id, "a@example.com");
    let mut no_zip = ok.clone();
    no_zip["billing_address"]["zip"] = json!("");
    let mut no_products = ok.clone();
    no_products["products"] = json!([]);
    let mut custom = ok.clone();
    custom["products"] =
        json!([{ "name": "Gift wrap", "quantity": 1, "price_inc_tax": 5, "price_ex_tax": 5 }]);
    let mut unknown_product = ok.clone();
    unknown_product["products"][0]["product_id"] = json!(999_999);
    let mut foreign_variant = ok.clone();
    foreign_variant["products"][0]["variant_id"] = json!(999_999);
    let mut shipped_at_creation = ok.clone();
    shipped_at_creation["status_id"] = json!(3);
    let mut unknown_customer = ok.clone();
    unknown_customer["customer_id"] = json!(999_999);
    let mut unmodelled = ok.clone();
    unmodelled["staff_notes"] = json!("VIP");
    let mut zero = ok.clone();
    zero["products"][0]["quantity"] = json!(0);
    for (what, body) in [
        ("no zip", no_zip),
        ("no products", no_products),
        ("custom product", custom),
        ("unknown product", unknown_product),
        ("variant of another product", foreign_variant),
        ("status 3 at creation", shipped_at_creation),
        ("unknown customer", unknown_customer),
        ("unmodelled field", unmodelled),
        ("zero quantity", zero),
    ] {
        let (s, v) = post(&twin, "v2/orders", body).await;
        assert_eq!(s, 400, "{what}: {v}");
        assert_eq!(v[0]["status"], 400, "{what}: the v2 error array");
        assert!(v[0]["message"].is_string(), "{what}");
    }
    let before = twin.truth().orders.len();
    let (s, created) = post(&twin, "v2/orders", ok).await;
    assert_eq!(s, 200, "{created}");
    assert_eq!(
        twin.truth().orders.len(),
        before + 1,
        "only the valid order was created"
    );
    let id = created["id"].as_u64().expect("id");
    let path = format!("v2/orders/{id}");
    assert_eq!(put(&twin, &path, json!({ "status_id": 5 })).await.0, 200);
    let (s, v) = put(&twin, &path, json!({ "status_id": 11 })).await;
    assert_eq!(s, 400, "a cancelled order cannot be paid: {v}");
    assert_eq!(put(&twin, &path, json!({ "status_id": 4 })).await.0, 400);
    assert_eq!(put(&twin, &path, json!({ "status_id": 12 })).await.0, 400);
    assert_eq!(
        put(&twin, &path, json!({ "customer_message": "hi" }))
            .await
            .0,
        400
    );
    assert_eq!(
        put(&twin, "v2/orders/999999", json!({ "status_id": 11 }))
            .await
            .0,
        404
    );
    twin.shutdown().await;
}

#[tokio::test]
async fn refund_quotes_and_refunds_over_rest() {
    let spec = openapi::load_spec("orders.v3.yml");
    let (twin, _clock) = twin().await;
    let (product_id, variant_id) = tracked(&twin);
    let (_, order) = post(
        &twin,
        "v2/orders",
        order_body(product_id, variant_id, "r@example.com"),
    )
    .await;
    let id = order["id"].as_u64().expect("id");
    let lines = get(&twin, &format!("v2/orders/{id}/products")).await;
    let line = lines[0]["id"].as_u64().expect("line id");
    let quote_path = format!("v3/orders/{id}/payment_actions/refund_quotes");
    let refund_path = format!("v3/orders/{id}/payment_actions/refunds");
    let one = json!({ "items": [{ "item_type": "PRODUCT", "item_id": line, "quantity": 1 }] });
    let (s, v) = post(&twin, &quote_path, one.clone()).await;
    assert_eq!(s, 422, "an unpaid order has nothing to refund: {v}");
    if let Some(spec) = &spec {
        openapi::assert_response(
            spec,
            "/orders/{order_id}/payment_actions/refund_quotes",
            "post",
            "422",
            &v,
            &["errors"],
        );
    }
    assert_eq!(
        put(
            &twin,
            &format!("v2/orders/{id}"),
            json!({ "status_id": 11 })
        )
        .await
        .0,
        200
    );
    let mut rx = hooks(&twin).await;

    let (s, quote) = post(&twin, &quote_path, one.clone()).await;
    assert_eq!(s, 201, "{quote}");
    if let Some(spec) = &spec {
        openapi::assert_response(
            spec,
            "/orders/{order_id}/payment_actions/refund_quotes",
            "post",
            "201",
            &quote,
            &[],
        );
    }
    let amount = dec(&quote["data"]["total_refund_amount"]);
    assert_eq!(
        amount,
        dec(&lines[0]["price_inc_tax"]),
        "one unit, tax included"
    );
    assert!(
        delivered(&twin, &mut rx).await.is_empty(),
        "a quote changes nothing"
    );
    assert_eq!(
        twin.truth()
            .orders
            .iter()
            .find(|o| o.order_id == id)
            .map(|o| o.refunded_total),
        Some(Decimal::ZERO)
    );

    let provider = quote["data"]["refund_methods"][0][0]["provider_id"].clone();
    let mut wrong = one.clone();
    wrong["payments"] = json!([{ "provider_id": provider, "amount": 1.0, "offline": false }]);
    let (s, v) = post(&twin, &refund_path, wrong).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["status"], 422);
    assert!(v["errors"]["payments"].is_string(), "{v}");
    let mut right = one.clone();
    right["payments"] = json!([{ "provider_id": provider, "amount": quote["data"]["total_refund_amount"], "offline": false }]);
    let (s, refund) = post(&twin, &refund_path, right).await;
    assert_eq!(s, 201, "{refund}");
    if let Some(spec) = &spec {
        openapi::assert_response_with_nulls(
            spec,
            "/orders/{order_id}/payment_actions/refunds",
            "post",
            "201",
            &refund,
            &[],
            DOCUMENTED_NULLS,
        );
    }
    assert_eq!(dec(&refund["data"]["total_amount"]), amount);
    let got = delivered(&twin, &mut rx).await;
    assert_eq!(
        scopes(&got),
        [
            "store/order/refund/created",
            "store/order/statusUpdated",
            "store/order/updated"
        ]
    );

    // The rest, shipping included, refunds everything: status 4.
    let rest = json!({ "items": [
        { "item_type": "PRODUCT", "item_id": line, "quantity": 1 },
        { "item_type": "SHIPPING", "item_id": order["id"] },
    ]});
    let (s, quote) = post(&twin, &quote_path, rest.clone()).await;
    assert_eq!(s, 201, "{quote}");
    let mut all = rest.clone();
    all["payments"] = json!([{ "provider_id": provider, "amount": quote["data"]["total_refund_amount"], "offline": false }]);
    assert_eq!(post(&twin, &refund_path, all).await.0, 201);
    let truth = twin.truth();
    let o = truth
        .orders
        .iter()
        .find(|o| o.order_id == id)
        .expect("order");
    assert_eq!(o.status_id, 4);
    assert_eq!(
        o.refunded_total, o.total_inc_tax,
        "refunds add up to the total"
    );
    let (s, v) = post(&twin, &quote_path, one).await;
    assert_eq!(s, 422, "nothing left: {v}");
    let by_amount =
        json!({ "items": [{ "item_type": "PRODUCT", "item_id": line, "amount": 1.0 }] });
    assert_eq!(post(&twin, &quote_path, by_amount).await.0, 422);
    let order_amount = json!({ "items": [{ "item_type": "ORDER", "item_id": id, "amount": 1.0 }] });
    assert_eq!(
        post(&twin, &quote_path, order_amount).await.0,
        422,
        "a refunded order has no amount left either"
    );
    assert_eq!(
        post(
            &twin,
            "v3/orders/999999/payment_actions/refund_quotes",
            json!({ "items": [] })
        )
        .await
        .0,
        422
    );
    twin.shutdown().await;
}

#[tokio::test]
async fn a_refund_by_amount_takes_an_order_item_and_everything_left_ends_at_the_total() {
    let spec = openapi::load_spec("orders.v3.yml");
    let (twin, _clock) = twin().await;
    let (product_id, variant_id) = tracked(&twin);
    // One line of one unit: a partial refund can only be by amount.
    let mut body = order_body(product_id, variant_id, "amount@example.com");
    body["products"][0]["quantity"] = json!(1);
    let (_, order) = post(&twin, "v2/orders", body).await;
    let id = order["id"].as_u64().expect("id");
    assert_eq!(
        put(
            &twin,
            &format!("v2/orders/{id}"),
            json!({ "status_id": 11 })
        )
        .await
        .0,
        200
    );
    let total = dec(&get(&twin, &format!("v2/orders/{id}")).await["total_inc_tax"]);
    let mut rx = hooks(&twin).await;
    let quote_path = format!("v3/orders/{id}/payment_actions/refund_quotes");
    let refund_path = format!("v3/orders/{id}/payment_actions/refunds");
    let ask = json!({ "items": [{ "item_type": "ORDER", "item_id": id, "amount": 12.5 }] });
    let (s, quote) = post(&twin, &quote_path, ask.clone()).await;
    assert_eq!(s, 201, "{quote}");
    assert_eq!(
        dec(&quote["data"]["total_refund_amount"]),
        dec(&json!("12.50"))
    );
    assert_eq!(
        dec(&quote["data"]["total_refund_tax_amount"]),
        Decimal::ZERO
    );
    let mut create = ask.clone();
    create["payments"] = json!([{ "provider_id": quote["data"]["refund_methods"][0][0]["provider_id"], "amount": 12.5, "offline": false }]);
    let (s, refund) = post(&twin, &refund_path, create).await;
    assert_eq!(s, 201, "{refund}");
    assert_eq!(refund["data"]["items"][0]["item_type"], "ORDER");
    assert_eq!(
        dec(&refund["data"]["items"][0]["requested_amount"]),
        dec(&json!("12.50"))
    );
    assert_eq!(
        scopes(&delivered(&twin, &mut rx).await),
        [
            "store/order/refund/created",
            "store/order/statusUpdated",
            "store/order/updated"
        ]
    );
    let listed = get(&twin, &refund_path).await;
    if let Some(spec) = &spec {
        openapi::assert_response_with_nulls(
            spec,
            "/orders/{order_id}/payment_actions/refunds",
            "get",
            "200",
            &listed,
            &[],
            DOCUMENTED_NULLS,
        );
    }
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(1));
    // More than is left is refused; then everything left gives back exactly the rest.
    let too_much = json!({ "items": [{ "item_type": "ORDER", "item_id": id, "amount": total.to_string().parse::<f64>().unwrap() }] });
    assert_eq!(post(&twin, &quote_path, too_much).await.0, 422);
    let rest = twin.refund(id, &[]).expect("everything left");
    let truth = twin.truth();
    let refunds: Vec<_> = truth.refunds.iter().filter(|r| r.order_id == id).collect();
    assert_eq!(refunds.len(), 2);
    assert_eq!(refunds[1].refund_id, rest);
    assert_eq!(refunds[1].total_amount, total - dec(&json!("12.50")));
    let o = truth
        .orders
        .iter()
        .find(|o| o.order_id == id)
        .expect("order");
    assert_eq!((o.status_id, o.refunded_total), (4, total));
    twin.shutdown().await;
}

#[tokio::test]
async fn customers_are_created_and_updated_over_v3() {
    let spec = openapi::load_spec("customers.v3.yml");
    let (twin, _clock) = twin().await;
    let mut rx = hooks(&twin).await;
    let (s, created) = post(
        &twin,
        "v3/customers",
        json!([{ "email": "Zoe.Larsen@example.com", "first_name": "Zoe", "last_name": "Larsen", "phone": "+45 20 12 34 56" }]),
    )
    .await;
    assert_eq!(s, 200, "{created}");
    if let Some(spec) = &spec {
        openapi::assert_response(spec, "/customers", "post", "200", &created, &[]);
    }
    let id = created["data"][0]["id"].as_u64().expect("id");
    assert_eq!(created["data"][0]["email"], "Zoe.Larsen@example.com");
    let got = delivered(&twin, &mut rx).await;
    assert_eq!(scopes(&got), ["store/customer/created"]);
    assert_eq!(got[0]["data"]["id"], id);

    let (s, v) = post(
        &twin,
        "v3/customers",
        json!([{ "email": "zoe.larsen@EXAMPLE.com", "first_name": "Z", "last_name": "L" }]),
    )
    .await;
    assert_eq!(s, 422, "the email is taken: {v}");
    if let Some(spec) = &spec {
        openapi::assert_response(spec, "/customers", "post", "422", &v, &["instance"]);
    }
    assert_eq!(
        post(
            &twin,
            "v3/customers",
            json!([{ "email": "x@example.com", "first_name": "X" }])
        )
        .await
        .0,
        422
    );
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({ "email": format!("n{i}@example.com"), "first_name": "N", "last_name": "N" }))
        .collect();
    assert_eq!(
        post(&twin, "v3/customers", Value::Array(eleven)).await.0,
        413
    );

    let (s, updated) = put(
        &twin,
        "v3/customers",
        json!([{ "id": id, "email": "zoe@larsen.example", "last_name": "Larsen-Ito" }]),
    )
    .await;
    assert_eq!(s, 200, "{updated}");
    if let Some(spec) = &spec {
        openapi::assert_response(spec, "/customers", "put", "200", &updated, &[]);
    }
    assert_eq!(updated["data"][0]["last_name"], "Larsen-Ito");
    assert_eq!(
        scopes(&delivered(&twin, &mut rx).await),
        ["store/customer/updated"]
    );
    let truth = twin.truth();
    let p = truth
        .persons
        .iter()
        .find(|p| p.customer_id == Some(id))
        .expect("person");
    assert_eq!(p.email.as_deref(), Some("zoe@larsen.example"));
    assert_eq!(
        put(
            &twin,
            "v3/customers",
            json!([{ "id": 999_999, "first_name": "Q" }])
        )
        .await
        .0,
        422
    );
    assert_eq!(
        put(&twin, "v3/customers", json!([{ "first_name": "Q" }]))
            .await
            .0,
        422
    );
    twin.shutdown().await;
}

#[tokio::test]
async fn products_variants_and_inventory_are_written_with_their_webhooks() {
    let products_spec = openapi::load_spec("products_catalog.v3.yml");
    let variants_spec = openapi::load_spec("product-variants_catalog.v3.yml");
    let inventory_spec = openapi::load_spec("inventory.v3.yml");
    let (twin, clock) = twin().await;
    let mut rx = hooks(&twin).await;
    let (product_id, variant_id) = tracked(&twin);
    let before = get(&twin, &format!("v3/catalog/products/{product_id}")).await;
    clock.advance(std::time::Duration::from_secs(60));

    let (s, v) = put(
        &twin,
        &format!("v3/catalog/products/{product_id}"),
        json!({ "price": 49.5, "name": "Renamed Tee" }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    if let Some(spec) = &products_spec {
        openapi::assert_response_with_nulls(
            spec,
            "/catalog/products/{product_id}",
            "put",
            "200",
            &v,
            &[],
            DOCUMENTED_NULLS,
        );
    }
    assert_eq!(
        dec(&v["data"]["price"]),
        Decimal::from_str("49.5").expect("d")
    );
    assert_ne!(
        v["data"]["date_modified"], before["data"]["date_modified"],
        "a product write bumps the date"
    );
    assert_eq!(
        scopes(&delivered(&twin, &mut rx).await),
        ["store/product/updated"]
    );
    assert_eq!(
        put(
            &twin,
            &format!("v3/catalog/products/{product_id}"),
            json!({ "inventory_level": 3 })
        )
        .await
        .0,
        422,
        "a variant-tracked product takes stock on its variants"
    );
    assert_eq!(
        put(
            &twin,
            &format!("v3/catalog/products/{product_id}"),
            json!({ "price": -1 })
        )
        .await
        .0,
        422
    );
    assert_eq!(
        put(&twin, "v3/catalog/products/999999", json!({ "price": 1 }))
            .await
            .0,
        404
    );

    let path = format!("v3/catalog/products/{product_id}/variants/{variant_id}");
    let (s, v) = put(&twin, &path, json!({ "price": 12.0, "inventory_level": 7 })).await;
    assert_eq!(s, 200, "{v}");
    if let Some(spec) = &variants_spec {
        openapi::assert_response(
            spec,
            "/catalog/products/{product_id}/variants/{variant_id}",
            "put",
            "200",
            &v,
            &[],
        );
    }
    assert_eq!(v["data"]["inventory_level"], 7);
    assert_eq!(
        scopes(&delivered(&twin, &mut rx).await),
        ["store/sku/inventory/updated", "store/sku/updated"]
    );
    let after = get(&twin, &format!("v3/catalog/products/{product_id}")).await;
    let (_, v2) = put(
        &twin,
        "v3/catalog/variants",
        json!([{ "id": variant_id, "price": 13.0 }]),
    )
    .await;
    assert_eq!(v2["data"][0]["price"], 13.0);
    assert_eq!(
        get(&twin, &format!("v3/catalog/products/{product_id}")).await["data"]["date_modified"],
        after["data"]["date_modified"],
        "a variant write does not bump the product's date"
    );
    let _ = delivered(&twin, &mut rx).await;
    assert_eq!(
        put(
            &twin,
            "v3/catalog/variants",
            json!([{ "id": 999_999, "price": 1 }])
        )
        .await
        .0,
        422
    );
    assert_eq!(put(&twin, &path, json!({ "sku": "X" })).await.0, 422);

    let (s, v) = put(
        &twin,
        "v3/inventory/adjustments/absolute",
        json!({ "reason": "count", "items": [{ "location_id": 1, "variant_id": variant_id, "quantity": 20 }] }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    if let Some(spec) = &inventory_spec {
        openapi::assert_response(
            spec,
            "/inventory/adjustments/absolute",
            "put",
            "200",
            &v,
            &[],
        );
    }
    let (s, _) = post(
        &twin,
        "v3/inventory/adjustments/relative",
        json!({ "reason": "sold at the fair", "items": [{ "location_id": 1, "variant_id": variant_id, "quantity": -5 }] }),
    )
    .await;
    assert_eq!(s, 200);
    let level = twin
        .truth()
        .variants
        .iter()
        .find(|v| v.variant_id == variant_id)
        .map(|v| v.inventory_level);
    assert_eq!(level, Some(15));
    let got = delivered(&twin, &mut rx).await;
    assert_eq!(
        got.iter()
            .filter(|b| b["scope"] == "store/sku/inventory/updated")
            .count(),
        2
    );
    let (s, v) = put(
        &twin,
        "v3/inventory/adjustments/absolute",
        json!({ "items": [{ "location_id": 2, "variant_id": variant_id, "quantity": 1 }] }),
    )
    .await;
    assert_eq!(s, 422, "the twin has one location: {v}");
    if let Some(spec) = &inventory_spec {
        openapi::assert_response(
            spec,
            "/inventory/adjustments/absolute",
            "put",
            "422",
            &v,
            &[],
        );
    }
    twin.shutdown().await;
}

#[tokio::test]
async fn a_product_created_over_rest_sells_like_any_other() {
    let spec = openapi::load_spec("products_catalog.v3.yml");
    let (twin, _clock) = twin().await;
    let mut rx = hooks(&twin).await;
    let body = json!({
        "name": "Linen Apron", "type": "physical", "weight": 0.4, "price": 24.0,
        "sku": "APRON-LIN", "inventory_tracking": "product", "inventory_level": 5,
    });
    let (s, created) = post(&twin, "v3/catalog/products", body.clone()).await;
    assert_eq!(s, 200, "{created}");
    if let Some(spec) = &spec {
        openapi::assert_response(spec, "/catalog/products", "post", "200", &created, &[]);
    }
    let product_id = created["data"]["id"].as_u64().expect("id");
    let variant_id = created["data"]["base_variant_id"]
        .as_u64()
        .expect("base variant");
    let got = delivered(&twin, &mut rx).await;
    assert_eq!(scopes(&got), ["store/product/created"]);
    assert_eq!(got[0]["data"]["id"], product_id);
    let variants = get(&twin, &format!("v3/catalog/products/{product_id}/variants")).await;
    assert_eq!(variants["data"][0]["sku"], "APRON-LIN");

    let (s, v) = post(&twin, "v3/catalog/products", body.clone()).await;
    assert_eq!(s, 409, "a duplicate name: {v}");
    let mut no_price = body.clone();
    no_price["name"] = json!("Other Apron");
    no_price.as_object_mut().expect("object").remove("price");
    assert_eq!(post(&twin, "v3/catalog/products", no_price).await.0, 422);
    let mut digital = body.clone();
    digital["name"] = json!("E-book");
    digital["type"] = json!("digital");
    assert_eq!(post(&twin, "v3/catalog/products", digital).await.0, 422);
    let mut with_variants = body;
    with_variants["name"] = json!("Apron Set");
    with_variants["variants"] = json!([]);
    assert_eq!(
        post(&twin, "v3/catalog/products", with_variants).await.0,
        422
    );

    let mut order = order_body(product_id, variant_id, "apron@example.com");
    order["status_id"] = json!(11);
    let (s, o) = post(&twin, "v2/orders", order).await;
    assert_eq!(s, 200, "{o}");
    assert_eq!(o["items_total"], 2);
    let got = delivered(&twin, &mut rx).await;
    assert!(
        got.iter()
            .any(|b| b["scope"] == "store/product/inventory/order/updated"),
        "{got:#?}"
    );
    let after = get(&twin, &format!("v3/catalog/products/{product_id}")).await;
    assert_eq!(
        after["data"]["inventory_level"], 3,
        "the sale took two of five"
    );
    twin.shutdown().await;
}

#[tokio::test]
async fn v2_customer_writes_take_the_same_path_as_v3() {
    let spec = openapi::load_spec("customers.v2.yml");
    let (twin, _clock) = twin().await;
    let mut rx = hooks(&twin).await;
    let (s, c) = post(
        &twin,
        "v2/customers",
        json!({ "first_name": "Theo", "last_name": "Klein", "email": "theo@example.com", "_authentication": { "password": "x" } }),
    )
    .await;
    assert_eq!(s, 200, "{c}");
    if let Some(spec) = &spec {
        openapi::assert_response(spec, "/customers", "post", "200", &c, &["_authentication"]);
    }
    let id = c["id"].as_u64().expect("id");
    assert_eq!(
        scopes(&delivered(&twin, &mut rx).await),
        ["store/customer/created"]
    );
    let (s, u) = put(
        &twin,
        &format!("v2/customers/{id}"),
        json!({ "email": "theo.klein@example.com" }),
    )
    .await;
    assert_eq!(s, 200, "{u}");
    if let Some(spec) = &spec {
        openapi::assert_response(
            spec,
            "/customers/{customer_id}",
            "put",
            "200",
            &u,
            &["_authentication"],
        );
    }
    assert_eq!(u["email"], "theo.klein@example.com");
    assert_eq!(
        scopes(&delivered(&twin, &mut rx).await),
        ["store/customer/updated"]
    );
    let (s, v) = post(
        &twin,
        "v2/customers",
        json!({ "first_name": "A", "last_name": "B" }),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v[0]["status"], 400);
    let (s, _) = post(
        &twin,
        "v2/customers",
        json!({ "first_name": "T", "last_name": "K", "email": "THEO.KLEIN@example.com" }),
    )
    .await;
    assert_eq!(s, 400, "the email is taken");
    assert_eq!(
        put(&twin, "v2/customers/999999", json!({ "first_name": "Q" }))
            .await
            .0,
        404
    );
    assert_eq!(
        put(
            &twin,
            &format!("v2/customers/{id}"),
            json!({ "notes": "VIP" })
        )
        .await
        .0,
        400
    );
    twin.shutdown().await;
}
