//! Webhooks of the BigCommerce twin: hook management, delivery shape, retries on the clock,
//! deactivation after the schedule.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bigreach_clock::ManualClock;
use bigreach_twins::bigcommerce::{
    BigCommerceTwin, BigCommerceTwinConfig, QuotaPlan, StoreSeed, TradingBurst,
};
use bytes::Bytes;
use chrono::{TimeZone, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const TOKEN: &str = "twin-access-token";

#[derive(Debug)]
struct Received {
    secret: Option<String>,
    content_type: Option<String>,
    body: Value,
}

/// A local receiver answering with scripted statuses (the last one repeats).
async fn receiver(script: Vec<u16>) -> (String, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::unbounded_channel();
    let script = Arc::new(Mutex::new(VecDeque::from(script)));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            let tx = tx.clone();
            let script = script.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let tx = tx.clone();
                    let script = script.clone();
                    async move {
                        let (parts, mut body) = req.into_parts();
                        let mut buf = Vec::new();
                        while let Some(Ok(frame)) = body.frame().await {
                            if let Ok(d) = frame.into_data() {
                                buf.extend_from_slice(&d);
                            }
                        }
                        let h = |n: &str| {
                            parts
                                .headers
                                .get(n)
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned)
                        };
                        let status = {
                            let mut s = script.lock();
                            if s.len() > 1 {
                                s.pop_front().unwrap_or(200)
                            } else {
                                s.front().copied().unwrap_or(200)
                            }
                        };
                        let _ = tx.send(Received {
                            secret: h("x-secret"),
                            content_type: h("content-type"),
                            body: serde_json::from_slice(&buf).unwrap_or(Value::Null),
                        });
                        let mut resp = Response::new(Full::new(Bytes::new()));
                        *resp.status_mut() =
                            hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (format!("http://{addr}/bc/webhooks"), rx)
}

async fn twin(schedule: Option<Vec<Duration>>) -> (BigCommerceTwin, Arc<ManualClock>) {
    let clock = ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .expect("time"),
    );
    let mut config = BigCommerceTwinConfig {
        plan: QuotaPlan::Enterprise {
            requests_per_window: 100_000,
        },
        ..BigCommerceTwinConfig::default()
    };
    if let Some(s) = schedule {
        config.webhook_retry_schedule = s;
    }
    let twin = BigCommerceTwin::start(config, clock.clone())
        .await
        .expect("start");
    twin.seed_store(&StoreSeed {
        historical_orders: 20,
        customers: 5,
        products: 5,
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
        .header("X-Auth-Token", TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let v = r.json().await.unwrap_or(Value::Null);
    (status, v)
}

async fn register(twin: &BigCommerceTwin, scope: &str, dest: &str) -> u64 {
    let (status, v) = call(
        twin,
        reqwest::Method::POST,
        "v3/hooks",
        Some(json!({ "scope": scope, "destination": dest, "is_active": true, "headers": { "X-Secret": "s3cr3t" } })),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["headers"]["X-Secret"], "s3cr3t");
    v["data"]["id"].as_u64().expect("hook id")
}

fn one_customer() -> TradingBurst {
    TradingBurst {
        orders: 0,
        new_customers: 1,
        variant_edits: 0,
        over: Duration::ZERO,
    }
}

#[tokio::test]
async fn hook_management_is_strict() {
    let (twin, _clock) = twin(None).await;
    let dest = "https://hooks.example.com/bc";
    register(&twin, "store/order/*", dest).await;
    let (s, v) = call(
        &twin,
        reqwest::Method::POST,
        "v3/hooks",
        Some(json!({ "scope": "store/order/*", "destination": dest })),
    )
    .await;
    assert_eq!(s, 422, "duplicate scope+destination: {v}");
    assert_eq!(v["status"], 422);
    let (s, _) = call(
        &twin,
        reqwest::Method::POST,
        "v3/hooks",
        Some(json!({ "scope": "store/orders/*", "destination": dest })),
    )
    .await;
    assert_eq!(s, 422, "unknown scope");
    let (s, _) = call(
        &twin,
        reqwest::Method::POST,
        "v3/hooks",
        Some(json!({ "scope": "store/order/created" })),
    )
    .await;
    assert_eq!(s, 422, "missing destination");
    let (s, _) = call(&twin, reqwest::Method::POST, "v3/hooks", Some(json!({ "scope": "store/order/created", "destination": "https://hooks.example.com:8443/x" }))).await;
    assert_eq!(s, 422, "custom port");
    let (s, v) = call(&twin, reqwest::Method::GET, "v3/hooks?is_active=true", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["meta"]["pagination"]["total"], 1);
    let id = v["data"][0]["id"].as_u64().expect("id");
    let (s, v) = call(
        &twin,
        reqwest::Method::PUT,
        &format!("v3/hooks/{id}"),
        Some(json!({ "is_active": false })),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["is_active"], false);
    let (s, _) = call(
        &twin,
        reqwest::Method::PUT,
        &format!("v3/hooks/{id}"),
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 422, "empty update");
    let (s, _) = call(&twin, reqwest::Method::GET, "v3/hooks/99", None).await;
    assert_eq!(s, 404);
    twin.shutdown().await;
}

#[tokio::test]
async fn delivery_retries_on_the_clock_then_succeeds() {
    let (twin, clock) = twin(None).await;
    let (dest, mut rx) = receiver(vec![500, 200]).await;
    register(&twin, "store/customer/*", &dest).await;
    twin.run_trading(&one_customer()).await;

    let first = rx.recv().await.expect("first delivery");
    assert_eq!(first.secret.as_deref(), Some("s3cr3t"));
    assert_eq!(first.content_type.as_deref(), Some("application/json"));
    let b = &first.body;
    assert_eq!(b["scope"], "store/customer/created");
    assert_eq!(b["data"]["type"], "customer");
    assert!(b["data"]["id"].is_u64());
    assert!(b["store_id"].is_string(), "store_id is a string");
    assert_eq!(b["producer"], "stores/abc123");
    assert!(b["created_at"].is_i64());
    let hash = b["hash"].as_str().expect("hash");
    assert_eq!(hash.len(), 40);

    twin.webhooks_settled().await;
    assert_eq!(twin.webhook_backlog(), 1, "awaiting retry");
    clock.advance(Duration::from_secs(59));
    twin.webhooks_settled().await;
    assert!(rx.try_recv().is_err(), "no retry before 60 s");
    clock.advance(Duration::from_secs(1));
    let second = rx.recv().await.expect("retry");
    assert_eq!(second.body, first.body, "identical body and hash on retry");
    twin.webhooks_settled().await;
    assert_eq!(twin.webhook_backlog(), 0);
    let truth = twin.truth();
    assert_eq!(truth.webhooks_sent, 2);
    assert_eq!(truth.webhooks_delivered, 1);
    twin.shutdown().await;
}

#[tokio::test]
async fn hook_is_deactivated_after_the_schedule_and_nothing_is_replayed() {
    let schedule = vec![Duration::from_secs(10), Duration::from_secs(20)];
    let (twin, clock) = twin(Some(schedule)).await;
    let (dest, mut rx) = receiver(vec![500]).await;
    let id = register(&twin, "store/customer/created", &dest).await;
    twin.run_trading(&one_customer()).await;
    rx.recv().await.expect("attempt 1");
    twin.webhooks_settled().await;
    clock.advance(Duration::from_secs(10));
    rx.recv().await.expect("attempt 2");
    twin.webhooks_settled().await;
    clock.advance(Duration::from_secs(20));
    rx.recv().await.expect("attempt 3");
    twin.webhooks_settled().await;
    assert_eq!(twin.webhook_backlog(), 0);
    let (_, v) = call(&twin, reqwest::Method::GET, &format!("v3/hooks/{id}"), None).await;
    assert_eq!(v["data"]["is_active"], false);
    assert_eq!(twin.truth().hooks_deactivated, 1);

    // Inactive: new events are not delivered, and nothing is replayed on re-activation.
    twin.run_trading(&one_customer()).await;
    twin.webhooks_settled().await;
    assert_eq!(twin.webhook_backlog(), 0);
    let (s, _) = call(
        &twin,
        reqwest::Method::PUT,
        &format!("v3/hooks/{id}"),
        Some(json!({ "is_active": true })),
    )
    .await;
    assert_eq!(s, 200);
    clock.advance(Duration::from_secs(3600));
    twin.webhooks_settled().await;
    assert!(rx.try_recv().is_err());
    assert_eq!(twin.truth().webhooks_sent, 3);
    twin.shutdown().await;
}

#[tokio::test]
async fn order_wildcard_receives_the_checkout_state_machine() {
    let (twin, _clock) = twin(None).await;
    let (dest, mut rx) = receiver(vec![200]).await;
    register(&twin, "store/order/*", &dest).await;
    twin.run_trading(&TradingBurst {
        orders: 1,
        new_customers: 1,
        variant_edits: 1,
        over: Duration::ZERO,
    })
    .await;
    twin.webhooks_settled().await;
    let mut got = Vec::new();
    while let Ok(r) = rx.try_recv() {
        got.push(r.body);
    }
    let scopes: Vec<&str> = got.iter().filter_map(|b| b["scope"].as_str()).collect();
    assert_eq!(scopes.len(), 3, "{scopes:?}");
    assert!(scopes.contains(&"store/order/created"));
    assert!(scopes.contains(&"store/order/updated"));
    let status = got
        .iter()
        .find(|b| b["scope"] == "store/order/statusUpdated")
        .expect("statusUpdated");
    let prev = status["data"]["status"]["previous_status_id"].as_u64();
    assert!(matches!(prev, Some(0 | 1)));
    assert!(matches!(
        status["data"]["status"]["new_status_id"].as_u64(),
        Some(6 | 7 | 11)
    ));
    let hashes: std::collections::BTreeSet<&str> =
        got.iter().filter_map(|b| b["hash"].as_str()).collect();
    assert_eq!(hashes.len(), 3, "distinct events, distinct hashes");
    twin.shutdown().await;
}
