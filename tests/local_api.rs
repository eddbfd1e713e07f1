//! The local HTTP API against a running appliance: token required, status and Prometheus
//! metrics, and the dead-letter round trip (a command Bloomreach rejects is dead-lettered with
//! its reason, an operator replays it, and the resend is byte-identical).

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bigreach_clock::{Clock, SystemClock};
use bigreach_harness::plan::DemoPlan;
use bigreach_harness::twins::Twins;
use bigreach_runtime::Appliance;

/// Waits for a condition (not for time to pass), polling on the clock, bounded at 60 s.
async fn wait_for<F: Fn() -> bool>(what: &str, condition: F) {
    let clock = SystemClock;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        clock.sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_round_trip_through_the_local_api() {
    let mut plan =
        DemoPlan::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo-small.toml"))
            .unwrap();
    plan.trading.over_secs = 0;
    let dir = tempfile::tempdir().unwrap();
    let twins = Twins::start(&plan, SystemClock::shared()).await.unwrap();
    let secrets = Twins::secrets();
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    // Bloomreach applies the batch, but the answer says the first purchase was rejected.
    let rejected_once = Arc::new(AtomicBool::new(false));
    let flag = rejected_once.clone();
    config.bloomreach.base_url = common::proxy(
        twins.bloomreach.base_url(),
        Arc::new(|_: &str, _: &[u8]| common::Verdict::Forward),
        Arc::new(
            move |path: &str, request: &[u8], status: u16, answer: &[u8]| {
                if !path.ends_with("/batch") || status != 200 {
                    return None;
                }
                let request: serde_json::Value = serde_json::from_slice(request).ok()?;
                let position = request["commands"]
                    .as_array()?
                    .iter()
                    .position(|c| c["data"]["event_type"] == "purchase")?;
                if flag.swap(true, Ordering::SeqCst) {
                    return None;
                }
                let mut answer: serde_json::Value = serde_json::from_slice(answer).ok()?;
                answer["results"][position] = serde_json::json!({
                    "success": false,
                    "errors": ["Invalid value for property total_price"],
                    "command_id": request["commands"][position]["command_id"],
                });
                Some((200, answer.to_string()))
            },
        ),
    )
    .await;
    // A data directory the appliance creates itself.
    config.data_dir = dir.path().join("data");
    let appliance = Appliance::start_with(&config, &secrets, SystemClock::shared(), listeners)
        .await
        .unwrap();
    // Data at rest is private to the service user.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |name: &str| {
            std::fs::metadata(config.data_dir.join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(""), 0o700, "the data directory");
        assert_eq!(mode("bigreach.redb"), 0o600, "the store file");
        assert_eq!(mode("api-token"), 0o600, "the API token");
    }
    let status = appliance.status().unwrap();
    let base = format!("http://{}", status.api_address);
    let token = appliance.api_token().to_owned();
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{base}{path}")).bearer_auth(&token);

    // No token, no answer.
    let refused = client
        .get(format!("{base}/api/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized");

    wait_for("the rejected purchase", || {
        rejected_once.load(Ordering::SeqCst)
    })
    .await;
    wait_for("a dead letter", || {
        appliance
            .status()
            .map(|s| s.store.dead_letters == 1)
            .unwrap_or(false)
    })
    .await;
    let letters: serde_json::Value = get("/api/dead-letters")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let letter = &letters[0];
    assert!(
        letter["reason"].as_str().unwrap().contains("Invalid value"),
        "{letter}"
    );
    assert_eq!(letter["payload"]["event_type"], "purchase");
    let id = letter["id"].as_u64().unwrap();

    let dropped_before = twins.bloomreach.truth().stats.duplicate_events_dropped;
    let replayed = client
        .post(format!("{base}/api/dead-letters/{id}/replay"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 200);
    wait_for("the replayed purchase to be delivered", || {
        appliance
            .store()
            .delivery(id)
            .map(|d| d.is_some())
            .unwrap_or(false)
    })
    .await;
    // Bloomreach had stored it the first time: the byte-identical resend is dropped as a duplicate.
    assert!(twins.bloomreach.truth().stats.duplicate_events_dropped > dropped_before);

    let again = client
        .post(format!("{base}/api/dead-letters/{id}/discard"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(body["code"], "not_found");

    let status: serde_json::Value = get("/api/status")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(status["lane_age_ms"].is_object(), "{status}");
    assert_eq!(status["alerts"], serde_json::json!([]), "{status}");
    assert_eq!(status["parked"], serde_json::json!([]), "{status}");
    let metrics = get("/metrics").send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("bigreach_delivered_total"), "{metrics}");
    // This very request is on an open API connection (the client may keep an earlier one
    // alive in its pool too).
    let api_open: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("bigreach_connections_open{listener=\"api\"} "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(api_open >= 1, "{metrics}");
    assert!(
        metrics.contains("bigreach_accept_errors_total{listener=\"webhooks\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("bigreach_outbox_pending{lane=\"transactions\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("bigreach_delivery_latency_seconds_bucket"),
        "{metrics}"
    );
    let audit: Vec<String> = appliance
        .store()
        .audit_log()
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert!(
        audit.contains(&"dead_letter.replayed".to_owned()),
        "{audit:?}"
    );
    appliance.shutdown().await;
    twins.shutdown().await;
}
