//! The demo path end to end, in-process, on a small store: both twins, the appliance, and the
//! summary checked against the ground truths. A second test puts a lying network between the
//! appliance and Bloomreach (one batch of purchases acknowledged but never delivered) and proves
//! the summary catches the loss.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bigreach::demo::{self, DemoPlan, Twins};
use bigreach_clock::SystemClock;
use bigreach_core::secret::SecretResolver;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use url::Url;

fn small_plan() -> DemoPlan {
    let mut plan =
        DemoPlan::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo-small.toml"))
            .unwrap();
    // Trade all at once: the test waits for the appliance to go idle, not for time to pass.
    plan.trading.over_secs = 0;
    plan
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_store_arrives_whole_and_once() {
    let plan = small_plan();
    let dir = tempfile::tempdir().unwrap();
    let summary = demo::run(
        &plan,
        dir.path(),
        SystemClock::shared(),
        Duration::from_secs(90),
    )
    .await
    .unwrap();
    assert!(summary.finished, "{summary:#?}");
    assert!(summary.orders_paid_in_bigcommerce > 50, "{summary:#?}");
    assert_eq!(
        summary.purchases_in_bloomreach,
        summary.orders_paid_in_bigcommerce
    );
    assert_eq!(summary.purchases_missing, 0, "{summary:#?}");
    assert_eq!(summary.purchases_duplicated, 0, "{summary:#?}");
    assert_eq!(summary.purchases_wrong_amount, 0, "{summary:#?}");
    assert_eq!(summary.duplicate_profiles, 0, "{summary:#?}");
    assert_eq!(summary.merged_profiles, 0, "{summary:#?}");
    assert_eq!(summary.persons_without_profile, 0, "{summary:#?}");
    assert_eq!(summary.catalog_items_missing, 0, "{summary:#?}");
    assert_eq!(
        summary.catalog_items_in_bloomreach,
        summary.variants_in_bigcommerce
    );
    assert!(summary.latency_ms.count > 0, "{summary:#?}");
    assert!(summary.is_clean());
}

/// A proxy in front of the Bloomreach twin that forwards everything, except that it answers
/// the first batch carrying purchases with a fake all-success and drops it.
async fn lying_proxy(target: Url) -> (Url, Arc<AtomicBool>) {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let address = listener.local_addr().unwrap();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let client = reqwest::Client::new();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (client, target, flag) = (client.clone(), target.clone(), flag.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let (client, target, flag) = (client.clone(), target.clone(), flag.clone());
                    async move {
                        let (parts, body) = request.into_parts();
                        // Bounded by `Limited` first.
                        #[allow(clippy::disallowed_methods)]
                        let body = Limited::new(body, 64 << 20)
                            .collect()
                            .await
                            .unwrap()
                            .to_bytes();
                        let text = String::from_utf8_lossy(&body);
                        if parts.uri.path().ends_with("/batch")
                            && text.contains("\"event_type\":\"purchase\"")
                            && !flag.swap(true, Ordering::SeqCst)
                        {
                            let commands: serde_json::Value =
                                serde_json::from_slice(&body).unwrap();
                            let results: Vec<_> = commands["commands"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|c| serde_json::json!({"success": true, "command_id": c["command_id"]}))
                                .collect();
                            let fake = serde_json::json!({"success": true, "results": results});
                            return Ok::<_, std::convert::Infallible>(hyper::Response::new(
                                Full::new(Bytes::from(fake.to_string())),
                            ));
                        }
                        let url = target
                            .join(
                                parts
                                    .uri
                                    .path_and_query()
                                    .map(|p| p.as_str())
                                    .unwrap_or("/")
                                    .trim_start_matches('/'),
                            )
                            .unwrap();
                        let mut forward = client
                            .request(parts.method.clone(), url)
                            .body(body.to_vec());
                        for (name, value) in &parts.headers {
                            if name != "host" && name != "content-length" {
                                forward = forward.header(name, value);
                            }
                        }
                        let answer = forward.send().await.unwrap();
                        let mut response =
                            hyper::Response::builder().status(answer.status().as_u16());
                        for (name, value) in answer.headers() {
                            if name != "content-length" && name != "transfer-encoding" {
                                response = response.header(name, value);
                            }
                        }
                        let bytes = answer.bytes().await.unwrap();
                        Ok(response.body(Full::new(bytes)).unwrap())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (Url::parse(&format!("http://{address}/")).unwrap(), dropped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_batch_makes_the_summary_fail() {
    let plan = small_plan();
    let dir = tempfile::tempdir().unwrap();
    let clock = SystemClock::shared();
    let twins = Twins::start(&plan, clock.clone()).await.unwrap();
    let secrets = SecretResolver::new();
    let mut config = twins.appliance_config(dir.path(), &secrets);
    let (proxy, dropped) = lying_proxy(twins.bloomreach.base_url()).await;
    config.bloomreach.base_url = proxy;
    let summary = demo::run_with_twins(
        &plan,
        &twins,
        &config,
        &secrets,
        clock,
        Duration::from_secs(90),
    )
    .await
    .unwrap();
    twins.shutdown().await;
    assert!(
        dropped.load(Ordering::SeqCst),
        "the proxy never saw a purchase batch"
    );
    assert!(summary.purchases_missing > 0, "{summary:#?}");
    assert!(!summary.is_clean());
}
