//! An outside script drives trading through the BigCommerce twin's REST API (create orders,
//! pay most of them, decline a few, leave some pending) while the appliance runs against both
//! twins: every paid order becomes exactly one purchase in the Bloomreach twin, and no unpaid
//! one does. `BIGREACH_REST_ORDERS` sets the number of orders (default 40; the issue's
//! measure is 1,000).

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

use bigreach_clock::SystemClock;
use bigreach_core::config::Config;
use bigreach_core::secret::SecretResolver;
use bigreach_runtime::{Appliance, Listeners};
use bigreach_twins::bigcommerce::{BigCommerceTwin, BigCommerceTwinConfig, QuotaPlan, StoreSeed};
use bigreach_twins::bloomreach::{BloomreachTwin, BloomreachTwinConfig};
use secrecy::SecretString;
use serde_json::{json, Value};

const STORE_HASH: &str = "rest42";
const BC_TOKEN: &str = "rest-bigcommerce-token";
const PROJECT: &str = "rest-project";
const KEY_ID: &str = "rest-key";
const KEY_SECRET: &str = "rest-bloomreach-secret";

/// The appliance's two listeners on loopback ports the system picks.
fn loopback_listeners() -> Listeners {
    let bind = || TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
    Listeners {
        webhooks: bind(),
        api: bind(),
    }
}

/// The configuration naming `listeners`' addresses (the hooks call the receiver directly).
fn appliance_toml(
    data_dir: &Path,
    bc: &BigCommerceTwin,
    br: &BloomreachTwin,
    listeners: &Listeners,
) -> String {
    format!(
        r#"version = 1
data_dir = "{data}"

[bigcommerce]
store_hash = "{STORE_HASH}"
api_root = "{api_root}"
access_token = "keyring:bc-token"
quota_reserve_share = 0.2
poll_interval_secs = 60
poll_overlap_secs = 600

[bloomreach]
base_url = "{br_url}"
project_token = "{PROJECT}"
key_id = "{KEY_ID}"
secret = "keyring:br-secret"
requests_per_second = 90
catalog_name = "bigreach_products"

[webhooks]
listen = "{webhooks}"
public_url = "http://{webhooks}/webhooks"
secret = "keyring:webhook-secret"
max_body_bytes = 262144
manage_hooks = true

[api]
listen = "{api}"
"#,
        data = data_dir.display(),
        webhooks = listeners.webhooks.local_addr().expect("bound address"),
        api = listeners.api.local_addr().expect("bound address"),
        api_root = bc.api_root(),
        br_url = br.base_url(),
    )
}

/// One REST call as a well-behaved script makes it: on a 429 it waits for the quota window
/// (`X-Rate-Limit-Time-Reset-Ms`, on the clock) and tries again.
async fn rest(bc: &BigCommerceTwin, method: reqwest::Method, path: &str, body: Value) -> Value {
    let clock = SystemClock::shared();
    for _ in 0..100 {
        let r = reqwest::Client::new()
            .request(method.clone(), bc.api_root().join(path).expect("url"))
            .header("X-Auth-Token", BC_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("request");
        if r.status() == 429 {
            let wait = r
                .headers()
                .get("x-rate-limit-time-reset-ms")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1000);
            clock.sleep(Duration::from_millis(wait.max(50))).await;
            continue;
        }
        assert_eq!(r.status(), 200, "{path}");
        return r.json().await.expect("json");
    }
    panic!("{path}: still rate limited after 100 tries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_created_and_paid_over_rest_are_one_purchase_each() {
    let n: usize = std::env::var("BIGREACH_REST_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let clock = SystemClock::shared();
    let bc = BigCommerceTwin::start(
        BigCommerceTwinConfig {
            store_hash: STORE_HASH.into(),
            access_token: BC_TOKEN.into(),
            plan: QuotaPlan::Pro,
            ..BigCommerceTwinConfig::default()
        },
        clock.clone(),
    )
    .await
    .expect("BigCommerce twin");
    bc.seed_store(&StoreSeed {
        customers: 5,
        products: 6,
        historical_orders: 10,
        ..StoreSeed::default()
    });
    let br = BloomreachTwin::start(
        BloomreachTwinConfig {
            project_token: PROJECT.into(),
            key_id: KEY_ID.into(),
            secret: KEY_SECRET.into(),
            ..BloomreachTwinConfig::default()
        },
        clock.clone(),
    )
    .await
    .expect("Bloomreach twin");
    let dir = tempfile::tempdir().expect("tempdir");
    let listeners = loopback_listeners();
    let config = Config::from_toml(
        &appliance_toml(dir.path(), &bc, &br, &listeners),
        Path::new("test"),
    )
    .expect("config");
    // The `keyring:` names of the configuration are this test's credentials.
    let secrets = SecretResolver::with_keyring(|name: &str| {
        let value = match name {
            "bc-token" => BC_TOKEN,
            "br-secret" => KEY_SECRET,
            "webhook-secret" => "rest-webhook-secret",
            _ => return None,
        };
        Some(SecretString::from(value.to_owned()))
    });
    let appliance = Appliance::start_with(&config, &secrets, clock.clone(), listeners)
        .await
        .expect("appliance starts");
    appliance.wait_poll_passes(1).await;

    // The outside script: products by id, orders by REST, most paid.
    let products = rest(
        &bc,
        reqwest::Method::GET,
        "v3/catalog/products?include=variants",
        json!(null),
    )
    .await;
    let variants: Vec<(u64, u64)> = products["data"]
        .as_array()
        .expect("products")
        .iter()
        .flat_map(|p| {
            p["variants"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| {
                    (
                        v["product_id"].as_u64().unwrap_or(0),
                        v["id"].as_u64().unwrap_or(0),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let mut expected: BTreeMap<u64, bool> = BTreeMap::new();
    for i in 0..n {
        let (product_id, variant_id) = variants[i % variants.len()];
        // Every third shopper comes back with another spelling of their email.
        let email = if i % 3 == 2 {
            format!("Shopper{}@Example.com", i - 1)
        } else {
            format!("shopper{i}@example.com")
        };
        let order = rest(
            &bc,
            reqwest::Method::POST,
            "v2/orders",
            json!({
                "billing_address": { "first_name": "Rest", "last_name": format!("Shopper {i}"),
                    "zip": "78701", "country_iso2": "US", "email": email },
                "products": [{ "product_id": product_id, "variant_id": variant_id, "quantity": 1 + i % 2 }],
            }),
        )
        .await;
        let id = order["id"].as_u64().expect("order id");
        let status = match i % 10 {
            0 => None,
            1 => Some(6),
            _ => Some(11),
        };
        if let Some(s) = status {
            rest(
                &bc,
                reqwest::Method::PUT,
                &format!("v2/orders/{id}"),
                json!({ "status_id": s }),
            )
            .await;
        }
        expected.insert(id, status == Some(11));
    }

    let purchases = |br: &BloomreachTwin| -> BTreeMap<u64, usize> {
        let mut out = BTreeMap::new();
        for p in br.truth().profiles {
            for e in p.events.iter().filter(|e| e.event_type == "purchase") {
                if let Some(id) = e.properties.get("purchase_id").and_then(Value::as_u64) {
                    *out.entry(id).or_insert(0) += 1;
                }
            }
        }
        out
    };
    let paid = expected.values().filter(|p| **p).count();
    let deadline = clock.now() + chrono::Duration::seconds(120 + n as i64 / 4);
    loop {
        let seen = purchases(&br);
        let done = expected.keys().filter(|id| seen.contains_key(id)).count();
        if done >= paid || clock.now() > deadline {
            break;
        }
        clock.sleep(Duration::from_millis(100)).await;
    }
    let seen = purchases(&br);
    let doubled = expected
        .keys()
        .filter(|id| seen.get(id).is_some_and(|c| *c > 1))
        .count();
    let arrived = expected.keys().filter(|id| seen.contains_key(id)).count();
    eprintln!(
        "{n} orders over REST, {paid} paid: {arrived} purchases in Bloomreach, {doubled} doubled"
    );
    for (id, is_paid) in &expected {
        let count = seen.get(id).copied().unwrap_or(0);
        if *is_paid {
            assert_eq!(count, 1, "paid order {id} is one purchase");
        } else {
            assert_eq!(count, 0, "unpaid order {id} is no purchase");
        }
    }
    appliance.shutdown().await;
    bc.shutdown().await;
    br.shutdown().await;
}
