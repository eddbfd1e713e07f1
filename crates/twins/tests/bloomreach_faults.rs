//! Runtime fault knobs of the Bloomreach twin, as the scenario runner toggles them.

use std::sync::Arc;
use std::time::Duration;

use bigreach_clock::{Clock, ManualClock};
use bigreach_twins::bloomreach::{BloomreachTwin, BloomreachTwinConfig, LatencyModel};
use chrono::{TimeZone, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

struct Harness {
    twin: BloomreachTwin,
    clock: Arc<ManualClock>,
    http: reqwest::Client,
    config: BloomreachTwinConfig,
}

impl Harness {
    async fn start() -> Self {
        let config = BloomreachTwinConfig::default();
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap());
        let twin = BloomreachTwin::start(config.clone(), clock.clone())
            .await
            .unwrap();
        Self {
            twin,
            clock,
            http: reqwest::Client::new(),
            config,
        }
    }

    fn request(&self, method: Method, path: &str, body: Value) -> reqwest::RequestBuilder {
        let path = path.replace("{token}", &self.config.project_token);
        self.http
            .request(method, self.twin.base_url().join(&path).unwrap())
            .basic_auth(&self.config.key_id, Some(&self.config.secret))
            .json(&body)
    }

    fn batch(&self) -> reqwest::RequestBuilder {
        self.request(
            Method::POST,
            "track/v2/projects/{token}/batch",
            json!({"commands": [{"name": "customers", "data": {
                "customer_ids": {"customer_id": "1"}, "properties": {"a": 1}
            }}]}),
        )
    }
}

#[tokio::test]
async fn retry_after_is_sent_on_429_only_when_set() {
    let h = Harness::start().await;
    h.twin.set_requests_per_minute(1);
    assert_eq!(h.batch().send().await.unwrap().status(), StatusCode::OK);
    let limited = h.batch().send().await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        limited.headers().get("retry-after").is_none(),
        "undocumented for Engagement: not sent by default"
    );

    h.twin.set_retry_after(Some(7));
    let limited = h.batch().send().await.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["retry-after"], "7");

    h.twin.set_retry_after(None);
    let limited = h.batch().send().await.unwrap();
    assert!(limited.headers().get("retry-after").is_none());

    h.twin.set_retry_after(Some(7));
    h.clock.advance(Duration::from_secs(61));
    let ok = h.batch().send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.headers().get("retry-after").is_none(), "only on 429s");
}

#[tokio::test]
async fn server_errors_per_mille_1000_fails_every_request_and_applies_nothing() {
    let h = Harness::start().await;
    h.twin.set_server_error_per_mille(1000);
    let requests = [
        h.batch(),
        h.request(
            Method::POST,
            "data/v2/projects/{token}/catalogs",
            json!({"name": "products", "fields": [{"name": "title"}]}),
        ),
        h.request(
            Method::POST,
            "imports/v1/{token}",
            json!({"name": "x", "active": true}),
        ),
        h.request(
            Method::POST,
            "data/v2/projects/{token}/customers/anonymize",
            json!({"customer_ids": {"customer_id": "1"}}),
        ),
        h.request(
            Method::GET,
            "track/v2/projects/{token}/system/time",
            Value::Null,
        ),
    ];
    let count = requests.len() as u64;
    for request in requests {
        let status = request.send().await.unwrap().status();
        assert!(status.is_server_error(), "{status}");
    }
    let truth = h.twin.truth();
    assert!(truth.profiles.is_empty());
    assert!(truth.catalogs.is_empty());
    assert!(truth.imports.is_empty());
    assert_eq!(truth.stats.server_errors_5xx, count);
    assert_eq!(truth.stats.commands_accepted, 0);

    h.twin.set_server_error_per_mille(0);
    assert_eq!(h.batch().send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(h.twin.truth().profiles.len(), 1);
}

#[tokio::test]
async fn latency_can_be_changed_at_runtime() {
    let h = Harness::start().await;
    h.twin.set_latency(LatencyModel {
        base: Duration::from_secs(3),
        jitter: Duration::ZERO,
    });
    let pending = tokio::spawn(h.batch().send());
    while h.clock.sleepers() == 0 {
        tokio::task::yield_now().await;
    }
    assert!(!pending.is_finished());
    let stored = h.twin.truth().profiles[0].clone();
    assert_eq!(
        stored.ids["customer_id"],
        vec!["1".to_owned()],
        "data is applied on arrival"
    );
    h.clock.advance(Duration::from_secs(3));
    assert_eq!(pending.await.unwrap().unwrap().status(), StatusCode::OK);

    h.twin.set_latency(LatencyModel::ZERO);
    let before = h.clock.now();
    assert_eq!(h.batch().send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(h.clock.now(), before);
}
