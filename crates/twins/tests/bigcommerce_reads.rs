//! Reads public clients make by default beyond BigReach's own path: v2 order counts, statuses,
//! taxes, shipments, messages, consignments, shipping quotes, v2 customers, v3 transactions;
//! every resource link the twin emits is served. Shapes are checked against the OpenAPI files.

#[path = "support/openapi.rs"]
mod openapi;

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::Arc;

use bigreach_clock::ManualClock;
use bigreach_twins::bigcommerce::{BigCommerceTwin, BigCommerceTwinConfig, QuotaPlan, StoreSeed};
use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

const TOKEN: &str = "twin-access-token";

async fn seeded() -> (BigCommerceTwin, Arc<ManualClock>) {
    let clock = ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .expect("valid start time"),
    );
    let config = BigCommerceTwinConfig {
        plan: QuotaPlan::Enterprise {
            requests_per_window: 1_000_000,
        },
        ..BigCommerceTwinConfig::default()
    };
    let twin = BigCommerceTwin::start(config, clock.clone())
        .await
        .expect("twin starts");
    twin.seed_store(&StoreSeed::default());
    (twin, clock)
}

async fn get(url: reqwest::Url) -> reqwest::Response {
    reqwest::Client::new()
        .get(url)
        .header("X-Auth-Token", TOKEN)
        .header("Accept", "application/json")
        .send()
        .await
        .expect("request")
}

async fn get_status(twin: &BigCommerceTwin, path: &str) -> (u16, Value) {
    let r = get(twin.api_root().join(path).expect("url")).await;
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("json")
    };
    (status, v)
}

async fn get_json(twin: &BigCommerceTwin, path: &str) -> Value {
    let (status, v) = get_status(twin, path).await;
    assert_eq!(status, 200, "GET {path}: {v}");
    v
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().expect("v2 money is a string")).expect("decimal")
}

#[tokio::test]
async fn order_counts_and_statuses_have_their_documented_shapes() {
    let Some(spec) = openapi::load_spec("orders.v2.oas2.yml") else {
        return;
    };
    let (twin, _clock) = seeded().await;
    let truth = twin.truth();
    let count = get_json(&twin, "v2/orders/count").await;
    openapi::assert_response(&spec, "/orders/count", "get", "200", &count, &[]);
    assert_eq!(
        count["count"],
        truth.orders.len(),
        "every status, Incomplete included"
    );
    let by_status: u64 = count["statuses"]
        .as_array()
        .expect("statuses")
        .iter()
        .map(|s| s["count"].as_u64().expect("count"))
        .sum();
    assert_eq!(by_status, truth.orders.len() as u64);
    let paid = truth.orders.iter().filter(|o| o.status_id == 11).count();
    let eleven = get_json(&twin, "v2/orders/count?status_id=11").await;
    assert_eq!(eleven["count"], paid);
    let (status, body) = get_status(&twin, "v2/orders/count?min_date_created=yesterday").await;
    assert_eq!(status, 400);
    assert_eq!(body[0]["status"], 400);

    let statuses = get_json(&twin, "v2/order_statuses").await;
    openapi::assert_response(&spec, "/order_statuses", "get", "200", &statuses, &[]);
    let ids: Vec<u64> = statuses
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(ids, (0..=14).collect::<Vec<u64>>());
    let one = get_json(&twin, "v2/order_statuses/11").await;
    openapi::assert_response(
        &spec,
        "/order_statuses/{status_id}",
        "get",
        "200",
        &one,
        &[],
    );
    assert_eq!(one["name"], "Awaiting Fulfillment");
    let (status, body) = get_status(&twin, "v2/order_statuses/99").await;
    assert_eq!(status, 404);
    assert_eq!(body[0]["message"], "The requested resource was not found.");
    twin.shutdown().await;
}

#[tokio::test]
async fn taxes_shipments_messages_and_consignments_of_an_order() {
    let Some(spec) = openapi::load_spec("orders.v2.oas2.yml") else {
        return;
    };
    let (twin, _clock) = seeded().await;
    let orders: Vec<Value> = get_json(&twin, "v2/orders?limit=250")
        .await
        .as_array()
        .expect("array")
        .clone();
    let shipped = orders
        .iter()
        .find(|o| o["status_id"] == 2)
        .expect("the seed ships some orders");
    let unshipped = orders
        .iter()
        .find(|o| o["status_id"] == 11)
        .expect("the seed has orders awaiting fulfillment");
    for o in [shipped, unshipped] {
        let id = o["id"].as_u64().expect("id");
        let taxes = get_json(&twin, &format!("v2/orders/{id}/taxes")).await;
        openapi::assert_response(
            &spec,
            "/orders/{order_id}/taxes",
            "get",
            "200",
            &taxes,
            &["order_product_id", "line_item_type"],
        );
        let detailed = get_json(&twin, &format!("v2/orders/{id}/taxes?details=true")).await;
        openapi::assert_response(
            &spec,
            "/orders/{order_id}/taxes",
            "get",
            "200",
            &detailed,
            &[],
        );
        let sum: Decimal = detailed
            .as_array()
            .expect("rows")
            .iter()
            .map(|t| dec(&t["line_amount"]))
            .sum();
        assert_eq!(
            sum,
            dec(&o["total_tax"]),
            "tax lines add up to the order's tax"
        );
        assert_eq!(dec(&taxes[0]["line_amount"]), dec(&o["total_tax"]));

        let consignments = get_json(&twin, &format!("v2/orders/{id}/consignments")).await;
        openapi::assert_response(
            &spec,
            "/orders/{order_id}/consignments",
            "get",
            "200",
            &consignments,
            &[],
        );
        let with_lines = get_json(
            &twin,
            &format!("v2/orders/{id}/consignments?include=consignments.line_items"),
        )
        .await;
        assert_eq!(
            with_lines["shipping"][0]["line_items"][0]["order_id"], id,
            "line items expanded"
        );
        assert_eq!(
            get_status(&twin, &format!("v2/orders/{id}/messages"))
                .await
                .0,
            204
        );
        assert_eq!(
            get_status(&twin, &format!("v2/orders/{id}/fees")).await.0,
            204
        );
    }
    let id = shipped["id"].as_u64().expect("id");
    let shipments = get_json(&twin, &format!("v2/orders/{id}/shipments")).await;
    openapi::assert_response(
        &spec,
        "/orders/{order_id}/shipments",
        "get",
        "200",
        &shipments,
        &[],
    );
    let items: u64 = shipments[0]["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["quantity"].as_u64().expect("quantity"))
        .sum();
    assert_eq!(items, shipped["items_total"].as_u64().expect("items_total"));
    let count = get_json(&twin, &format!("v2/orders/{id}/shipments/count")).await;
    openapi::assert_response(
        &spec,
        "/orders/{order_id}/shipments/count",
        "get",
        "200",
        &count,
        &[],
    );
    assert_eq!(count["count"], 1);
    let sid = shipments[0]["id"].as_u64().expect("shipment id");
    let one = get_json(&twin, &format!("v2/orders/{id}/shipments/{sid}")).await;
    assert_eq!(one, shipments[0]);
    let unshipped_id = unshipped["id"].as_u64().expect("id");
    assert_eq!(
        get_status(&twin, &format!("v2/orders/{unshipped_id}/shipments"))
            .await
            .0,
        204
    );
    assert_eq!(get_status(&twin, "v2/orders/999999/taxes").await.0, 404);
    twin.shutdown().await;
}

/// Collects every `{url, resource}` link in `v`.
fn links(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let (Some(Value::String(url)), Some(Value::String(_))) =
                (m.get("url"), m.get("resource"))
            {
                out.insert(url.clone());
            }
            m.values().for_each(|x| links(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| links(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_resource_link_the_twin_emits_is_served() {
    let (twin, _clock) = seeded().await;
    let mut found = BTreeSet::new();
    let orders = get_json(&twin, "v2/orders?limit=20").await;
    links(&orders, &mut found);
    let with = get_json(&twin, "v2/orders?limit=20&include=consignments").await;
    links(&with, &mut found);
    let first = orders[0]["id"].as_u64().expect("id");
    links(
        &get_json(&twin, &format!("v2/orders/{first}/shipping_addresses")).await,
        &mut found,
    );
    links(
        &get_json(&twin, &format!("v2/orders/{first}/consignments")).await,
        &mut found,
    );
    links(&get_json(&twin, "v2/customers?limit=5").await, &mut found);
    for kind in [
        "/products",
        "/shipping_addresses",
        "/coupons",
        "/consignments",
        "/shipping_quotes",
        "/addresses",
    ] {
        assert!(
            found.iter().any(|u| u.contains(kind)),
            "the twin emits {kind} links"
        );
    }
    for url in &found {
        let r = get(reqwest::Url::parse(url).expect("absolute link")).await;
        assert!(
            r.status() == 200 || r.status() == 204,
            "{url} answers {}",
            r.status()
        );
    }
    twin.shutdown().await;
}

#[tokio::test]
async fn v2_customers_list_count_filters_and_addresses() {
    let Some(spec) = openapi::load_spec("customers.v2.yml") else {
        return;
    };
    let (twin, _clock) = seeded().await;
    let truth = twin.truth();
    let registered = truth
        .persons
        .iter()
        .filter(|p| p.customer_id.is_some())
        .count();
    let count = get_json(&twin, "v2/customers/count").await;
    openapi::assert_response(&spec, "/customers/count", "get", "200", &count, &[]);
    assert_eq!(count["count"], registered);
    let page = get_json(&twin, "v2/customers?limit=250").await;
    openapi::assert_response(
        &spec,
        "/customers",
        "get",
        "200",
        &page,
        &["_authentication"],
    );
    assert_eq!(page.as_array().map(Vec::len), Some(registered));
    let c = &page[3];
    let id = c["id"].as_u64().expect("id");
    let email = c["email"].as_str().expect("email").to_uppercase();
    let by_email = get_json(&twin, &format!("v2/customers?email={email}")).await;
    assert_eq!(by_email.as_array().map(Vec::len), Some(1));
    assert_eq!(by_email[0]["id"], id);
    let one = get_json(&twin, &format!("v2/customers/{id}")).await;
    openapi::assert_response(
        &spec,
        "/customers/{customer_id}",
        "get",
        "200",
        &one,
        &["_authentication"],
    );
    let addresses = get_json(&twin, &format!("v2/customers/{id}/addresses")).await;
    openapi::assert_response(
        &spec,
        "/customers/{customer_id}/addresses",
        "get",
        "200",
        &addresses,
        &[],
    );
    assert_eq!(addresses[0]["customer_id"], id);
    assert_eq!(get_status(&twin, "v2/customers?page=99").await.0, 204);
    assert_eq!(get_status(&twin, "v2/customers?min_id=abc").await.0, 400);
    assert_eq!(get_status(&twin, "v2/customers/999999").await.0, 404);
    let modified = chrono::DateTime::parse_from_rfc2822(c["date_modified"].as_str().expect("date"))
        .expect("rfc2822");
    let since = modified.with_timezone(&Utc).format("%Y-%m-%dT%H:%M:%SZ");
    let dm = get_json(
        &twin,
        &format!("v2/customers?min_date_modified={since}&limit=250"),
    )
    .await;
    let rows = dm.as_array().expect("rows");
    assert!(rows.iter().any(|r| r["id"] == id));
    assert!(rows.iter().all(|r| {
        chrono::DateTime::parse_from_rfc2822(r["date_modified"].as_str().expect("date"))
            .expect("rfc2822")
            >= modified
    }));
    twin.shutdown().await;
}

#[tokio::test]
async fn v3_transactions_of_a_paid_order_and_none_for_an_unpaid_one() {
    let Some(spec) = openapi::load_spec("orders.v3.yml") else {
        return;
    };
    let (twin, _clock) = seeded().await;
    let truth = twin.truth();
    let paid = truth.orders.iter().find(|o| o.paid).expect("a paid order");
    let unpaid = truth
        .orders
        .iter()
        .find(|o| !o.paid)
        .expect("an unpaid order");
    let t = get_json(&twin, &format!("v3/orders/{}/transactions", paid.order_id)).await;
    // `reference_transaction_id` is for refunds and voids only (not nullable in the spec).
    openapi::assert_response(
        &spec,
        "/orders/{order_id}/transactions",
        "get",
        "200",
        &t,
        &["reference_transaction_id"],
    );
    assert_eq!(
        Decimal::from_str(&t["data"][0]["amount"].to_string()).expect("amount"),
        paid.total_inc_tax
    );
    assert_eq!(
        get_status(
            &twin,
            &format!("v3/orders/{}/transactions", unpaid.order_id)
        )
        .await
        .0,
        204
    );
    twin.shutdown().await;
}

#[tokio::test]
async fn single_resources_and_counts_conform_too() {
    let (Some(orders), Some(customers)) = (
        openapi::load_spec("orders.v2.oas2.yml"),
        openapi::load_spec("customers.v2.yml"),
    ) else {
        return;
    };
    let (twin, _clock) = seeded().await;
    let list = get_json(&twin, "v2/orders?limit=250").await;
    let shipped = list
        .as_array()
        .expect("array")
        .iter()
        .find(|o| o["status_id"] == 2)
        .expect("a shipped order");
    let id = shipped["id"].as_u64().expect("id");
    let address = &get_json(&twin, &format!("v2/orders/{id}/shipping_addresses")).await[0];
    let aid = address["id"].as_u64().expect("address id");
    let one = get_json(&twin, &format!("v2/orders/{id}/shipping_addresses/{aid}")).await;
    openapi::assert_response(
        &orders,
        "/orders/{order_id}/shipping_addresses/{id}",
        "get",
        "200",
        &one,
        &[],
    );
    let quote = get_json(
        &twin,
        &format!("v2/orders/{id}/shipping_addresses/{aid}/shipping_quotes"),
    )
    .await;
    openapi::assert_response(
        &orders,
        "/orders/{order_id}/shipping_addresses/{shipping_address_id}/shipping_quotes",
        "get",
        "200",
        &quote,
        &[],
    );
    let quote2 = get_json(
        &twin,
        &format!("v2/orders/{id}/consignments/shipping/{aid}/shipping_quotes"),
    )
    .await;
    openapi::assert_response(
        &orders,
        "/orders/{order_id}/consignments/shipping/{shipping_consignment_id}/shipping_quotes",
        "get",
        "200",
        &quote2,
        &[],
    );
    let shipment = get_json(&twin, &format!("v2/orders/{id}/shipments/{id}")).await;
    openapi::assert_response(
        &orders,
        "/orders/{order_id}/shipments/{shipment_id}",
        "get",
        "200",
        &shipment,
        &[],
    );
    assert_eq!(
        get_status(&twin, &format!("v2/orders/{id}/shipping_addresses/1"))
            .await
            .0,
        404
    );

    let c = &get_json(&twin, "v2/customers?limit=1").await[0];
    let cid = c["id"].as_u64().expect("customer id");
    let addresses = get_json(&twin, &format!("v2/customers/{cid}/addresses")).await;
    let caid = addresses[0]["id"].as_u64().expect("address id");
    let a = get_json(&twin, &format!("v2/customers/{cid}/addresses/{caid}")).await;
    openapi::assert_response(
        &customers,
        "/customers/{customer_id}/addresses/{customer_address_id}",
        "get",
        "200",
        &a,
        &[],
    );
    let n = get_json(&twin, &format!("v2/customers/{cid}/addresses/count")).await;
    openapi::assert_response(
        &customers,
        "/customers/{customer_id}/addresses/count",
        "get",
        "200",
        &n,
        &[],
    );
    let g = get_json(&twin, "v2/customer_groups/1").await;
    openapi::assert_response(
        &customers,
        "/customer_groups/{customer_group_id}",
        "get",
        "200",
        &g,
        &[],
    );
    let gc = get_json(&twin, "v2/customer_groups/count").await;
    openapi::assert_response(&customers, "/customer_groups/count", "get", "200", &gc, &[]);
    assert_eq!(gc["count"], 2);
    assert_eq!(get_status(&twin, "v2/customer_groups/9").await.0, 404);
    twin.shutdown().await;
}
