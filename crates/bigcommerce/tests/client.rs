#![recursion_limit = "256"]
//! Client behaviour against a scripted local server, on a manual clock.

mod support;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bigreach_bigcommerce::{
    BigCommerceClient, BigCommerceError, ClientConfig, HookUpdate, NewHook, RetryHint,
};
use bigreach_clock::ManualClock;
use chrono::TimeZone;
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde_json::json;
use support::{drive, start_time, Canned, MockServer};

const TOKEN: &str = "tok-super-secret-123";

async fn setup(max_attempts: u32) -> (Arc<ManualClock>, MockServer, BigCommerceClient) {
    let clock = ManualClock::new(start_time());
    let server = MockServer::start(clock.clone()).await;
    let mut config = ClientConfig::new(
        server.base.join("stores/abc123/").unwrap(),
        SecretString::from(TOKEN),
    );
    config.max_attempts = max_attempts;
    config.user_agent = "BigReach-test/1".into();
    let client = BigCommerceClient::new(config, clock.clone()).unwrap();
    (clock, server, client)
}

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).unwrap()
}

fn order_json(id: u64, consignments: serde_json::Value) -> serde_json::Value {
    json!({
        "id": id, "customer_id": 0,
        "date_created": "Mon, 03 Mar 2025 14:22:10 +0000",
        "date_modified": "Mon, 03 Mar 2025 14:25:41 +0000",
        "date_shipped": "",
        "status_id": 11, "status": "Awaiting Fulfillment",
        "subtotal_ex_tax": "110.0000", "subtotal_inc_tax": "132.0000",
        "total_ex_tax": "105.0000", "total_inc_tax": "126.0000", "total_tax": "21.0000",
        "shipping_cost_ex_tax": "6.0000", "shipping_cost_inc_tax": "7.2000",
        "discount_amount": "11.0000", "coupon_discount": "11.0000",
        "items_total": 3, "payment_method": "Credit Card", "payment_status": "captured",
        "currency_code": "EUR", "currency_exchange_rate": "1.0000000000",
        "default_currency_code": "EUR", "store_default_currency_code": "USD",
        "store_default_to_transactional_exchange_rate": "0.9200000000",
        "is_email_opt_in": true, "cart_id": "b3f1c2d4", "order_source": "www",
        "channel_id": 1, "customer_locale": "de-DE", "is_deleted": false,
        "external_source": null,
        "billing_address": {"first_name": "Lena", "last_name": "Vogel", "company": null,
            "street_1": "Lindenstrasse 12", "city": "Berlin", "state": "Berlin", "zip": "10969",
            "country": "Germany", "country_iso2": "DE", "phone": "+49 30 1234567",
            "email": "lena.vogel@example.org", "form_fields": []},
        "products": {"url": "https://x/v2/orders/5021/products", "resource": "/orders/5021/products"},
        "consignments": consignments
    })
}

fn line(id: u64, quantity: u32) -> serde_json::Value {
    json!({"id": id, "order_id": 5021, "product_id": 311, "variant_id": 1207, "sku": "TEE",
           "name": "Organic Tee", "brand": "Northwind", "quantity": quantity,
           "base_price": "25.0000", "price_ex_tax": "25.0000", "price_inc_tax": "30.0000",
           "total_ex_tax": "50.0000", "total_inc_tax": "60.0000",
           "discounted_total_inc_tax": "54.0000",
           "product_options": [{"display_name": "Color", "display_value": "Blue"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_modified_since_sends_documented_query_and_fills_line_items_from_consignments() {
    let (clock, server, client) = setup(3).await;
    let consignments = json!({"pickups": [], "downloads": [], "email": {"gift_certificates": []},
        "shipping": [{"id": 1, "line_items": [line(9101, 2), line(9102, 1)]}]});
    server.push(Canned::json(
        200,
        json!([order_json(5021, consignments)]).to_string(),
    ));
    let since = chrono::Utc.with_ymd_and_hms(2025, 3, 3, 14, 0, 0).unwrap();
    let orders = drive(&clock, Duration::from_millis(100), async move {
        client.orders_modified_since(since, 2).await
    })
    .await
    .unwrap();

    let requests = server.requests();
    assert_eq!(
        requests.len(),
        1,
        "no extra request when consignments are complete"
    );
    let request = &requests[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/stores/abc123/v2/orders");
    assert_eq!(request.header("x-auth-token").as_deref(), Some(TOKEN));
    assert_eq!(
        request.header("accept").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        request.header("user-agent").as_deref(),
        Some("BigReach-test/1")
    );
    assert_eq!(
        request.query_value("min_date_modified").as_deref(),
        Some("2025-03-03T14:00:00Z")
    );
    let raw = request.raw_query.clone().unwrap();
    assert!(!raw.contains("%25"), "date encoded more than once: {raw}");
    assert_eq!(
        request.query_value("sort").as_deref(),
        Some("date_modified:asc")
    );
    assert_eq!(request.query_value("limit").as_deref(), Some("250"));
    assert_eq!(request.query_value("page").as_deref(), Some("2"));
    assert_eq!(
        request.query_value("include").as_deref(),
        Some("consignments.line_items")
    );
    assert_eq!(
        request.query_value("consignment_structure").as_deref(),
        Some("object")
    );

    let order = &orders[0];
    assert_eq!(order.id, 5021);
    assert_eq!(order.customer_id, 0);
    assert_eq!(order.total_inc_tax, dec("126.0000"));
    assert_eq!(
        order.store_default_to_transactional_exchange_rate,
        dec("0.92")
    );
    assert_eq!(
        order.date_modified,
        chrono::Utc
            .with_ymd_and_hms(2025, 3, 3, 14, 25, 41)
            .unwrap()
    );
    assert_eq!(order.default_currency_code, "EUR");
    assert_eq!(order.billing_address.email, "lena.vogel@example.org");
    assert_eq!(order.billing_address.company, "");
    assert_eq!(order.cart_id.as_deref(), Some("b3f1c2d4"));
    assert_eq!(order.line_items.len(), 2);
    assert_eq!(
        order.line_items[0].discounted_total_inc_tax,
        Some(dec("54"))
    );
    assert_eq!(order.line_items[0].product_options[0].display_value, "Blue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_falls_back_to_products_endpoint_when_consignments_only_link() {
    let (clock, server, client) = setup(3).await;
    let consignments = json!({"shipping": [{"id": 1, "line_items": [
        {"url": "https://x/v2/orders/5021/products/9101", "resource": "/orders/5021/products/9101"}]}]});
    server.push(Canned::json(
        200,
        order_json(5021, consignments).to_string(),
    ));
    server.push(Canned::json(
        200,
        json!([line(9101, 2), line(9102, 1)]).to_string(),
    ));
    let order = drive(&clock, Duration::from_millis(100), async move {
        client.order(5021).await
    })
    .await
    .unwrap()
    .expect("order exists");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].path, "/stores/abc123/v2/orders/5021/products");
    assert_eq!(order.line_items.len(), 2);
    assert_eq!(order.line_items.iter().map(|l| l.quantity).sum::<u32>(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_204_lists_and_missing_orders() {
    let (clock, server, client) = setup(3).await;
    server.push(Canned::json(204, ""));
    server.push(Canned::json(
        404,
        r#"[{"status":404,"message":"not found"}]"#,
    ));
    let (orders, missing) = drive(&clock, Duration::from_millis(100), async move {
        let orders = client.orders_in_id_range(10, 20, 1).await;
        let missing = client.order(99).await;
        (orders, missing)
    })
    .await;
    assert!(orders.unwrap().is_empty());
    assert!(missing.unwrap().is_none());
    let requests = server.requests();
    assert_eq!(requests[0].query_value("min_id").as_deref(), Some("10"));
    assert_eq!(requests[0].query_value("max_id").as_deref(), Some("20"));
}

fn quota_headers(canned: Canned, left: u32, reset_ms: u64) -> Canned {
    canned
        .header("X-Rate-Limit-Requests-Quota", "150")
        .header("X-Rate-Limit-Requests-Left", &left.to_string())
        .header("x-rate-limit-time-reset-ms", &reset_ms.to_string())
        .header("X-Rate-Limit-Time-Window-Ms", "30000")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_waits_for_reset_once_only_the_reserve_is_left() {
    let (clock, server, client) = setup(3).await;
    // 31 left > ceil(150 × 0.2) = 30: the next request goes at once (and uses one: 30 left).
    server.push(quota_headers(Canned::json(200, "[]"), 31, 15_000));
    server.push(quota_headers(Canned::json(200, "[]"), 30, 14_000));
    server.push(quota_headers(Canned::json(200, "[]"), 149, 30_000));
    let snapshot_client = client.clone();
    drive(&clock, Duration::from_millis(100), async move {
        for _ in 0..3 {
            client.currencies().await.unwrap();
        }
    })
    .await;
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[1].at, requests[0].at, "above the reserve: no wait");
    let waited = requests[2].at - requests[1].at;
    assert!(
        waited >= chrono::Duration::seconds(14),
        "at the reserve the client must wait for the reset, waited {waited}"
    );
    let quota = snapshot_client.quota();
    assert_eq!(quota.quota, Some(150));
    assert_eq!(quota.requests_left, Some(149));
    assert_eq!(quota.requests_sent, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_429_waits_reset_and_headerless_429_backs_off() {
    let (clock, server, client) = setup(5).await;
    server.push(quota_headers(Canned::json(429, "{}"), 0, 3_000));
    server.push(Canned::json(429, "{}"));
    server.push(Canned::json(429, "{}"));
    server.push(quota_headers(
        Canned::json(200, r#"{"id":"abc123","name":"Shop"}"#),
        100,
        20_000,
    ));
    let probe = client.clone();
    let store = drive(&clock, Duration::from_millis(50), async move {
        client.store_information().await
    })
    .await
    .unwrap();
    assert_eq!(store.id, "abc123");
    assert_eq!(store.default_channel_id, 1);
    let at: Vec<_> = server.requests().iter().map(|r| r.at).collect();
    assert_eq!(at.len(), 4);
    assert!(
        at[1] - at[0] >= chrono::Duration::seconds(3),
        "quota 429 waits the reset"
    );
    // Platform-load backoff: 5 s then 10 s, each with equal jitter (≥ half).
    assert!(at[2] - at[1] >= chrono::Duration::milliseconds(2_500));
    assert!(at[3] - at[2] >= chrono::Duration::seconds(5));
    assert_eq!(probe.quota().rate_limited, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_exhaustion_is_bounded_by_max_attempts() {
    let (clock, server, client) = setup(2).await;
    server.push(Canned::json(429, "{}"));
    server.push(Canned::json(429, "{}"));
    let error = drive(&clock, Duration::from_millis(100), async move {
        client.currencies().await
    })
    .await
    .unwrap_err();
    assert!(matches!(
        error,
        BigCommerceError::RateLimitExhausted { attempts: 2, .. }
    ));
    assert_eq!(error.retry_hint(), RetryHint::Later);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_retry_with_backoff_then_give_up() {
    let (clock, server, client) = setup(3).await;
    server.push(Canned::json(503, "maintenance"));
    server.push(Canned::json(200, "[]"));
    server.push(Canned::json(500, "boom"));
    server.push(Canned::json(502, "bad gateway"));
    server.push(Canned::json(500, "still boom"));
    let (first, second) = drive(&clock, Duration::from_millis(100), async move {
        (client.currencies().await, client.currencies().await)
    })
    .await;
    assert!(first.unwrap().is_empty());
    let requests = server.requests();
    assert!(requests[1].at - requests[0].at >= chrono::Duration::seconds(1));
    match second.unwrap_err() {
        BigCommerceError::Http {
            status,
            body_excerpt,
            ..
        } => {
            assert_eq!(status, 500);
            assert_eq!(body_excerpt, "still boom");
        }
        other => panic!("expected Http, got {other:?}"),
    }
    assert_eq!(requests.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_errors_are_not_retried_and_never_show_the_token() {
    let (clock, server, client) = setup(5).await;
    server.push(Canned::json(
        400,
        r#"{"status":400,"title":"Invalid filter"}"#,
    ));
    server.push(Canned::json(401, "{}"));
    server.push(Canned::json(
        403,
        r#"{"title":"You don't have a required scope"}"#,
    ));
    let (bad, unauthorized, forbidden) = drive(&clock, Duration::from_millis(100), async move {
        (
            client.customers_modified_since(None, 1).await,
            client.currencies().await,
            client.hooks().await,
        )
    })
    .await;
    let bad = bad.unwrap_err();
    assert!(
        matches!(&bad, BigCommerceError::Http { status: 400, body_excerpt, .. } if body_excerpt.contains("Invalid filter"))
    );
    assert_eq!(bad.retry_hint(), RetryHint::Never);
    let unauthorized = unauthorized.unwrap_err();
    assert!(matches!(
        unauthorized,
        BigCommerceError::Unauthorized { .. }
    ));
    assert_eq!(unauthorized.retry_hint(), RetryHint::Operator);
    assert!(matches!(
        forbidden.unwrap_err(),
        BigCommerceError::Forbidden { .. }
    ));
    assert_eq!(server.requests().len(), 3, "no retries for 4xx");
    for error in [
        bad.to_string(),
        format!("{unauthorized:?}"),
        unauthorized.to_string(),
    ] {
        assert!(!error.contains(TOKEN));
    }
}

#[test]
fn config_debug_never_shows_the_token_and_bad_config_is_rejected() {
    let clock = ManualClock::new(start_time());
    let config = ClientConfig::new(
        url::Url::parse("https://api.bigcommerce.com/stores/abc123/").unwrap(),
        SecretString::from(TOKEN),
    );
    assert!(!format!("{config:?}").contains(TOKEN));
    let client = BigCommerceClient::new(config.clone(), clock.clone()).unwrap();
    assert!(!format!("{client:?}").contains(TOKEN));
    let mut bad = config.clone();
    bad.reserve_share = 1.5;
    assert!(matches!(
        BigCommerceClient::new(bad, clock.clone()),
        Err(BigCommerceError::InvalidConfig {
            field: "reserve_share",
            ..
        })
    ));
    let mut bad = config;
    bad.max_attempts = 0;
    assert!(matches!(
        BigCommerceClient::new(bad, clock),
        Err(BigCommerceError::InvalidConfig {
            field: "max_attempts",
            ..
        })
    ));
    assert!(ClientConfig::api_root_for_store("abc/../x").is_err());
    assert_eq!(
        ClientConfig::api_root_for_store("abc123").unwrap().as_str(),
        "https://api.bigcommerce.com/stores/abc123/"
    );
}

fn customer_json(id: u64) -> serde_json::Value {
    json!({"id": id, "email": format!("c{id}@example.com"), "first_name": "A", "last_name": "B",
           "company": "", "phone": null, "customer_group_id": 0,
           "date_created": "2024-05-14T09:34:00Z", "date_modified": "2025-01-15T00:03:17+00:00",
           "accepts_product_review_abandoned_cart_emails": true, "origin_channel_id": 1,
           "attributes": [{"attribute_id": 1, "attribute_value": "gold"}],
           "form_fields": [{"name": "Newsletter", "value": ["yes"], "customer_id": id}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_pages_and_id_chunks() {
    let (clock, server, client) = setup(3).await;
    server.push(Canned::json(
        200,
        json!({"data": [customer_json(1), customer_json(2)],
               "meta": {"pagination": {"total": 3, "count": 2, "per_page": 2, "current_page": 1,
                                       "total_pages": 2}}})
        .to_string(),
    ));
    for _ in 0..3 {
        server.push(Canned::json(
            200,
            json!({"data": [customer_json(7)], "meta": {}}).to_string(),
        ));
    }
    let ids: Vec<u64> = (1..=120).collect();
    let since = chrono::Utc.with_ymd_and_hms(2025, 1, 15, 0, 3, 17).unwrap();
    let (page, by_id) = drive(&clock, Duration::from_millis(100), async move {
        (
            client.customers_modified_since(Some(since), 1).await,
            client.customers_by_ids(&ids).await,
        )
    })
    .await;
    let page = page.unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(page.has_next());
    assert_eq!(page.items[0].phone, "");
    assert_eq!(page.items[0].attributes[0].attribute_value, "gold");
    assert_eq!(page.items[0].form_fields[0].value, json!(["yes"]));
    assert_eq!(by_id.unwrap().len(), 3);
    let requests = server.requests();
    assert_eq!(requests[0].path, "/stores/abc123/v3/customers");
    assert_eq!(
        requests[0].query_value("date_modified:min").as_deref(),
        Some("2025-01-15T00:03:17Z")
    );
    assert_eq!(
        requests[0].query_value("sort").as_deref(),
        Some("date_modified:asc")
    );
    assert_eq!(
        requests[0].query_value("include").as_deref(),
        Some("attributes,formfields")
    );
    let chunk_sizes: Vec<usize> = requests[1..]
        .iter()
        .map(|r| r.query_value("id:in").unwrap().split(',').count())
        .collect();
    assert_eq!(chunk_sizes, vec![50, 50, 20]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_parse_v3_numbers_and_inherited_variant_prices() {
    let (clock, server, client) = setup(3).await;
    let product = json!({"id": 311, "name": "Organic Tee", "type": "physical", "sku": "TEE-ORG",
        "description": "<p>Soft</p>", "price": 25.0, "sale_price": 0, "retail_price": 29.0,
        "calculated_price": 25.0, "categories": [23, 41], "brand_id": 7, "inventory_level": 57,
        "inventory_tracking": "variant", "availability": "available", "is_visible": true,
        "base_variant_id": null, "date_modified": "2025-03-03T14:25:41+00:00",
        "custom_url": {"url": "/organic-tee/", "is_customized": false},
        "custom_fields": [{"id": 15, "name": "material", "value": "cotton"}],
        "images": [{"id": 901, "is_thumbnail": true, "url_standard": "https://cdn/x.jpg"}],
        "variants": [{"id": 1207, "product_id": 311, "sku": "TEE-ORG-BLU-M", "price": null,
            "sale_price": 22.0, "retail_price": null, "calculated_price": 22.0,
            "inventory_level": 31, "purchasing_disabled": false, "image_url": "",
            "option_values": [{"id": 140, "label": "Blue", "option_id": 12,
                               "option_display_name": "Color"}]}]});
    server.push(Canned::json(
        200,
        json!({"data": [product], "meta": {"pagination": {"current_page": 1, "total_pages": 1}}})
            .to_string(),
    ));
    let page = drive(&clock, Duration::from_millis(100), async move {
        client.products_modified_since(None, 1).await
    })
    .await
    .unwrap();
    let product = &page.items[0];
    assert_eq!(product.product_type, "physical");
    assert_eq!(product.price, dec("25"));
    assert_eq!(product.custom_url.as_ref().unwrap().url, "/organic-tee/");
    assert_eq!(product.base_variant_id, None);
    let variant = &product.variants[0];
    assert_eq!(variant.price, None, "null = inherit");
    assert_eq!(variant.sale_price, Some(dec("22")));
    assert_eq!(variant.option_values[0].option_display_name, "Color");
    let request = &server.requests()[0];
    assert_eq!(request.path, "/stores/abc123/v3/catalog/products");
    assert_eq!(
        request.query_value("sort").as_deref(),
        Some("date_modified")
    );
    assert_eq!(request.query_value("direction").as_deref(), Some("asc"));
    assert_eq!(
        request.query_value("include").as_deref(),
        Some("variants,custom_fields,images")
    );
    assert_eq!(request.query_value("date_modified:min"), None);
}

fn hook_json(id: u64, active: bool) -> serde_json::Value {
    json!({"id": id, "client_id": "c", "store_hash": "abc123", "scope": "store/order/*",
           "destination": "https://hooks.example.com/bc", "is_active": active,
           "headers": {"X-Appliance-Secret": "s"}, "created_at": 1561479335,
           "updated_at": 1561479335})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_list_every_page_create_and_update() {
    let (clock, server, client) = setup(3).await;
    let meta = |page: u32| json!({"pagination": {"current_page": page, "total_pages": 2}});
    server.push(Canned::json(
        200,
        json!({"data": [hook_json(1, true)], "meta": meta(1)}).to_string(),
    ));
    server.push(Canned::json(
        200,
        json!({"data": [hook_json(2, false)], "meta": meta(2)}).to_string(),
    ));
    server.push(Canned::json(
        200,
        json!({"data": hook_json(3, true), "meta": {}}).to_string(),
    ));
    server.push(Canned::json(
        200,
        json!({"data": hook_json(2, true), "meta": {}}).to_string(),
    ));
    let new_hook = NewHook {
        scope: "store/order/*".into(),
        destination: "https://hooks.example.com/bc".into(),
        is_active: true,
        headers: Some(BTreeMap::from([(
            "X-Appliance-Secret".to_string(),
            "s".to_string(),
        )])),
    };
    let (hooks, created, updated) = drive(&clock, Duration::from_millis(100), async move {
        (
            client.hooks().await,
            client.create_hook(&new_hook).await,
            client
                .update_hook(
                    2,
                    &HookUpdate {
                        is_active: Some(true),
                        ..HookUpdate::default()
                    },
                )
                .await,
        )
    })
    .await;
    let hooks = hooks.unwrap();
    assert_eq!(hooks.iter().map(|h| h.id).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(created.unwrap().id, 3);
    assert!(updated.unwrap().is_active);
    let requests = server.requests();
    assert_eq!(requests[1].query_value("page").as_deref(), Some("2"));
    assert_eq!(requests[2].method, "POST");
    assert_eq!(
        requests[2].header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        requests[2].json()["destination"],
        "https://hooks.example.com/bc"
    );
    assert_eq!(requests[3].method, "PUT");
    assert_eq!(requests[3].path, "/stores/abc123/v3/hooks/2");
    assert_eq!(requests[3].json(), json!({"is_active": true}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_hook_is_not_retried_after_a_server_error() {
    let (clock, server, client) = setup(5).await;
    server.push(Canned::json(502, "bad gateway"));
    let new_hook = NewHook {
        scope: "store/cart/*".into(),
        destination: "https://hooks.example.com/bc".into(),
        is_active: true,
        headers: None,
    };
    let result = drive(&clock, Duration::from_millis(100), async move {
        client.create_hook(&new_hook).await
    })
    .await;
    assert!(matches!(
        result,
        Err(BigCommerceError::Http { status: 502, .. })
    ));
    assert_eq!(server.requests().len(), 1);
}
