//! Tracking API and identity rules of the Bloomreach twin, driven over HTTP with reqwest.

use std::sync::Arc;
use std::time::Duration;

use bigreach_clock::{Clock, ManualClock};
use bigreach_twins::bloomreach::{BloomreachTwin, BloomreachTwinConfig, ProfileTruth};
use chrono::{DateTime, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

struct Harness {
    twin: BloomreachTwin,
    clock: Arc<ManualClock>,
    http: reqwest::Client,
    config: BloomreachTwinConfig,
}

impl Harness {
    async fn start(config: BloomreachTwinConfig) -> Self {
        let clock = ManualClock::new(start_time());
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

    async fn default() -> Self {
        Self::start(BloomreachTwinConfig::default()).await
    }

    fn url(&self, path: &str) -> reqwest::Url {
        self.twin.base_url().join(path).unwrap()
    }

    fn track(&self, rest: &str) -> reqwest::Url {
        self.url(&format!(
            "track/v2/projects/{}/{rest}",
            self.config.project_token
        ))
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = req.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    async fn batch(&self, commands: Value) -> (StatusCode, Value) {
        self.send(
            self.http
                .post(self.track("batch"))
                .basic_auth(&self.config.key_id, Some(&self.config.secret))
                .json(&json!({ "commands": commands })),
        )
        .await
    }

    /// Sends one batch and asserts every command succeeded.
    async fn batch_ok(&self, commands: Value) {
        let (status, body) = self.batch(commands).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for result in body["results"].as_array().unwrap() {
            assert_eq!(result["success"], json!(true), "{body}");
        }
    }

    fn profile(&self, name: &str, value: &str) -> Option<ProfileTruth> {
        self.twin.truth().profile_by_id(name, value).cloned()
    }
}

fn customer(ids: Value, properties: Value) -> Value {
    json!({"name": "customers", "data": {"customer_ids": ids, "properties": properties}})
}

fn event(ids: Value, event_type: &str, timestamp: Value, properties: Value) -> Value {
    json!({"name": "customers/events", "data": {
        "customer_ids": ids, "event_type": event_type, "timestamp": timestamp, "properties": properties
    }})
}

#[tokio::test]
async fn batch_answers_one_result_per_command_in_order_and_echoes_command_id() {
    let h = Harness::default().await;
    let response = h
        .http
        .post(h.track("batch"))
        .basic_auth(&h.config.key_id, Some(&h.config.secret))
        .json(&json!({"sdk": "bigreach", "commands": [
            {"name": "customers", "command_id": "c-1", "data": {"customer_ids": {"customer_id": "1"}, "properties": {"first_name": "Ann"}}},
            {"name": "customers/events", "command_id": "c-2", "data": {"customer_ids": {}, "event_type": "purchase"}},
            {"name": "system/time", "command_id": "c-3"},
            {"name": "crm/events", "data": {}},
            {"name": "customers/events", "data": {"customer_ids": {"customer_id": "1"}, "event_type": "purchase", "timestamp": 1700000000.5}},
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], json!(true));
    assert!(body["start_time"].is_f64());
    assert!(body["end_time"].is_f64());
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    assert_eq!(results[0], json!({"success": true, "command_id": "c-1"}));
    assert_eq!(
        results[1],
        json!({"success": false, "errors": ["At least one id should be specified."], "command_id": "c-2"})
    );
    assert_eq!(results[2]["success"], json!(true));
    assert_eq!(results[2]["command_id"], json!("c-3"));
    let expected_time = start_time().timestamp() as f64;
    assert_eq!(results[2]["time"].as_f64().unwrap(), expected_time);
    assert_eq!(results[3]["success"], json!(false));
    assert!(results[3].get("command_id").is_none());
    assert_eq!(results[4], json!({"success": true}));

    let profile = h.profile("customer_id", "1").unwrap();
    assert_eq!(profile.properties["first_name"], json!("Ann"));
    assert_eq!(profile.events.len(), 1);
    assert_eq!(profile.events[0].timestamp, 1_700_000_000.5);
    assert_eq!(profile.events[0].received_at, start_time());
    let stats = h.twin.truth().stats;
    assert_eq!(stats.commands_accepted, 3);
    assert_eq!(stats.commands_rejected, 2);
}

#[tokio::test]
async fn whole_batch_rejections_have_documented_shapes_and_apply_nothing() {
    let h = Harness::default().await;
    let auth = |r: reqwest::RequestBuilder| r.basic_auth(&h.config.key_id, Some(&h.config.secret));

    let (status, body) = h
        .send(auth(h.http.post(h.track("batch"))).body("{not json"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"success": false, "message": "Invalid JSON"}));

    let (status, body) = h.batch(json!([])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"success": false, "message": "No commands"}));

    let (status, body) = h
        .send(auth(h.http.post(h.track("batch"))).json(&json!({"sdk": "x"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["message"], json!("No commands"));

    let commands: Vec<Value> = (0..51)
        .map(|i| customer(json!({"customer_id": format!("c{i}")}), json!({"n": i})))
        .collect();
    let (status, body) = h.batch(Value::Array(commands.clone())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["success"], json!(false));
    assert!(body["message"].as_str().unwrap().contains("50"));
    assert!(h.twin.truth().profiles.is_empty());

    let (status, _) = h.batch(Value::Array(commands[..50].to_vec())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h.twin.truth().profiles.len(), 50);
}

#[tokio::test]
async fn auth_failures_have_their_documented_statuses() {
    let config = BloomreachTwinConfig {
        public_token: Some("public-abc".to_owned()),
        ..BloomreachTwinConfig::default()
    };
    let h = Harness::start(config).await;
    let body = json!({"commands": [customer(json!({"customer_id": "1"}), json!({"a": 1}))]});

    let (status, _) = h.send(h.http.post(h.track("batch")).json(&body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, _) = h
        .send(
            h.http
                .post(h.track("batch"))
                .basic_auth(&h.config.key_id, Some("wrong-secret"))
                .json(&body),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let wrong_project = h.url("track/v2/projects/not-my-project/batch");
    let (status, reply) = h
        .send(
            h.http
                .post(wrong_project)
                .basic_auth(&h.config.key_id, Some(&h.config.secret))
                .json(&body),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply,
        json!({"success": false, "error": "Could not authenticate"})
    );
    assert!(h.twin.truth().profiles.is_empty());

    // Public token: fine for tracking, forbidden on catalogs.
    let (status, _) = h
        .send(
            h.http
                .post(h.track("batch"))
                .header("Authorization", "Token public-abc")
                .json(&body),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let catalogs = h.url(&format!(
        "data/v2/projects/{}/catalogs",
        h.config.project_token
    ));
    let (status, reply) = h
        .send(
            h.http
                .get(catalogs.clone())
                .header("Authorization", "Token public-abc"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(reply["errors"][0]
        .as_str()
        .unwrap()
        .contains("no permission"));
    let (status, _) = h.send(h.http.get(catalogs)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, reply) = h
        .send(
            h.http
                .get(h.track("system/time"))
                .basic_auth(&h.config.key_id, Some(&h.config.secret)),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply["success"], json!(true));
    assert_eq!(
        reply["time"].as_f64().unwrap(),
        start_time().timestamp() as f64
    );

    let (status, _) = h.send(h.http.get(h.url("track/v2/nowhere"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn over_the_per_minute_ceiling_answers_429_discards_and_recovers() {
    let h = Harness::default().await;
    h.twin.set_requests_per_minute(3);
    for i in 0..3 {
        h.batch_ok(json!([customer(
            json!({"customer_id": format!("ok{i}")}),
            json!({"a": 1})
        )]))
        .await;
    }
    let (status, _) = h
        .batch(json!([customer(
            json!({"customer_id": "limited"}),
            json!({"a": 1})
        )]))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(h.profile("customer_id", "limited").is_none());
    assert_eq!(h.twin.truth().stats.rate_limited_429, 1);

    h.clock.advance(Duration::from_secs(30));
    let (status, _) = h
        .batch(json!([customer(
            json!({"customer_id": "limited"}),
            json!({"a": 1})
        )]))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the window is 60 s");

    h.clock.advance(Duration::from_secs(31));
    h.batch_ok(json!([customer(
        json!({"customer_id": "limited"}),
        json!({"a": 1})
    )]))
    .await;
    assert!(h.profile("customer_id", "limited").is_some());
    let stats = h.twin.truth().stats;
    assert_eq!(stats.rate_limited_429, 2);
    assert_eq!(stats.requests, 6);
}

#[tokio::test]
async fn outage_and_random_server_errors_discard_the_request() {
    let h = Harness::default().await;
    h.twin
        .set_outage(Some(start_time() + chrono::Duration::minutes(5)));
    let (status, body) = h
        .batch(json!([customer(
            json!({"customer_id": "1"}),
            json!({"a": 1})
        )]))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.is_string(), "outage pages are HTML, not JSON");
    assert!(h.twin.truth().profiles.is_empty());
    h.clock.advance(Duration::from_secs(5 * 60));
    h.batch_ok(json!([customer(
        json!({"customer_id": "1"}),
        json!({"a": 1})
    )]))
    .await;

    let flaky = Harness::start(BloomreachTwinConfig {
        server_error_per_mille: 1000,
        ..BloomreachTwinConfig::default()
    })
    .await;
    for _ in 0..4 {
        let (status, _) = flaky
            .batch(json!([customer(
                json!({"customer_id": "1"}),
                json!({"a": 1})
            )]))
            .await;
        assert!(status.is_server_error());
    }
    let truth = flaky.twin.truth();
    assert!(truth.profiles.is_empty());
    assert_eq!(truth.stats.server_errors_5xx, 4);
}

#[tokio::test]
async fn duplicate_filter_drops_identical_events_but_not_number_type_changes_or_consents() {
    let h = Harness::default().await;
    let ids = json!({"customer_id": "7"});
    let purchase = event(
        ids.clone(),
        "purchase",
        json!(1_700_000_000.25),
        json!({"total_price": 1, "purchase_id": "o-1"}),
    );
    h.batch_ok(json!([purchase.clone()])).await;
    h.batch_ok(json!([purchase.clone()])).await;
    // Same content, keys in another order: still a duplicate.
    h.batch_ok(json!([event(
        ids.clone(),
        "purchase",
        json!(1_700_000_000.25),
        json!({"purchase_id": "o-1", "total_price": 1})
    )]))
    .await;
    // 1 vs 1.0: a different type, so a different event.
    h.batch_ok(json!([event(
        ids.clone(),
        "purchase",
        json!(1_700_000_000.25),
        json!({"total_price": 1.0, "purchase_id": "o-1"})
    )]))
    .await;
    let consent = event(
        ids.clone(),
        "consent",
        json!(1_700_000_000.0),
        json!({"action": "accept", "category": "newsletter"}),
    );
    h.batch_ok(json!([consent.clone()])).await;
    h.batch_ok(json!([consent])).await;

    let profile = h.profile("customer_id", "7").unwrap();
    let purchases: Vec<_> = profile
        .events
        .iter()
        .filter(|e| e.event_type == "purchase")
        .collect();
    assert_eq!(purchases.len(), 2);
    assert_eq!(purchases[0].properties["total_price"], json!(1));
    assert_eq!(purchases[1].properties["total_price"], json!(1.0));
    assert_eq!(
        profile
            .events
            .iter()
            .filter(|e| e.event_type == "consent")
            .count(),
        2
    );
    assert_eq!(h.twin.truth().stats.duplicate_events_dropped, 2);

    // The same event on another profile is kept.
    h.batch_ok(json!([event(
        json!({"customer_id": "8"}),
        "purchase",
        json!(1_700_000_000.25),
        json!({"total_price": 1, "purchase_id": "o-1"})
    )]))
    .await;
    assert_eq!(h.profile("customer_id", "8").unwrap().events.len(), 1);
}

#[tokio::test]
async fn duplicate_window_is_ninety_days_and_restarts_with_each_duplicate() {
    let h = Harness::default().await;
    let e = event(
        json!({"customer_id": "9"}),
        "view",
        json!(1_600_000_000),
        json!({"p": "x"}),
    );
    let day = Duration::from_secs(86_400);
    h.batch_ok(json!([e.clone()])).await;
    h.clock.advance(day * 60);
    h.batch_ok(json!([e.clone()])).await; // dropped, window restarts
    h.clock.advance(day * 80);
    h.batch_ok(json!([e.clone()])).await; // 80 days after the last duplicate: dropped
    h.clock.advance(day * 91);
    h.batch_ok(json!([e])).await; // 91 days later: stored again
    let profile = h.profile("customer_id", "9").unwrap();
    assert_eq!(profile.events.len(), 2);
    assert_eq!(h.twin.truth().stats.duplicate_events_dropped, 2);
}

#[tokio::test]
async fn guest_email_profile_merges_into_the_older_customer_profile() {
    let h = Harness::default().await;
    h.batch_ok(json!([customer(
        json!({"customer_id": "42"}),
        json!({"first_name": "Ann", "tier": "gold"})
    )]))
    .await;
    h.clock.advance(Duration::from_secs(10));
    h.batch_ok(json!([
        customer(
            json!({"email_id": "ann@example.com"}),
            json!({"first_name": "Annie", "guest": true})
        ),
        event(
            json!({"email_id": "ann@example.com"}),
            "purchase",
            json!(1_700_000_000),
            json!({"purchase_id": "g-1"})
        ),
    ]))
    .await;
    let older = h.profile("customer_id", "42").unwrap().internal_id;
    let guest = h
        .profile("email_id", "ann@example.com")
        .unwrap()
        .internal_id;
    assert!(older < guest);
    assert_eq!(h.twin.truth().profiles.len(), 2);

    h.clock.advance(Duration::from_secs(10));
    h.batch_ok(json!([event(
        json!({"customer_id": "42", "email_id": "ann@example.com"}),
        "purchase",
        json!(1_700_000_100),
        json!({"purchase_id": "c-1"})
    )]))
    .await;

    let truth = h.twin.truth();
    assert_eq!(truth.profiles.len(), 1);
    let merged = &truth.profiles[0];
    assert_eq!(merged.internal_id, older);
    assert_eq!(merged.merged_from, vec![guest]);
    assert_eq!(merged.ids["customer_id"], vec!["42".to_owned()]);
    assert_eq!(merged.ids["email_id"], vec!["ann@example.com".to_owned()]);
    assert_eq!(
        merged.properties["first_name"],
        json!("Annie"),
        "newer value wins"
    );
    assert_eq!(merged.properties["tier"], json!("gold"));
    assert_eq!(merged.properties["guest"], json!(true));
    assert_eq!(merged.events.len(), 2);
    assert_eq!(truth.stats.merges, 1);
}

#[tokio::test]
async fn profiles_with_different_customer_ids_are_never_merged() {
    let h = Harness::default().await;
    h.batch_ok(json!([customer(
        json!({"customer_id": "1", "email_id": "a@x.com", "cookie": "ck-1"}),
        json!({"n": 1})
    )]))
    .await;
    h.batch_ok(json!([customer(
        json!({"customer_id": "2"}),
        json!({"n": 2})
    )]))
    .await;

    // Names customer 2 and the email of customer 1: no merge, the email stays where it was.
    h.batch_ok(json!([event(
        json!({"customer_id": "2", "email_id": "a@x.com"}),
        "login",
        json!(1_700_000_000),
        json!({})
    )]))
    .await;
    let truth = h.twin.truth();
    assert_eq!(truth.profiles.len(), 2);
    assert_eq!(truth.stats.merges, 0);
    let one = h.profile("customer_id", "1").unwrap();
    let two = h.profile("customer_id", "2").unwrap();
    assert_eq!(one.ids["email_id"], vec!["a@x.com".to_owned()]);
    assert!(!two.ids.contains_key("email_id"));
    assert_eq!(two.events.len(), 1);
    assert!(one.events.is_empty());

    // A soft id shared with a conflicting profile is stolen by the identified one.
    h.batch_ok(json!([customer(
        json!({"customer_id": "2", "cookie": "ck-1"}),
        json!({"n": 3})
    )]))
    .await;
    let one = h.profile("customer_id", "1").unwrap();
    let two = h.profile("customer_id", "2").unwrap();
    assert!(!one.ids.contains_key("cookie"));
    assert_eq!(two.ids["cookie"], vec!["ck-1".to_owned()]);
    assert_eq!(two.properties["n"], json!(3));
    assert_eq!(h.twin.truth().stats.merges, 0);

    // A new customer id on a command that also names an email owned by customer 1 creates a new
    // profile for the new id; the email is not moved.
    h.batch_ok(json!([customer(
        json!({"customer_id": "3", "email_id": "a@x.com"}),
        json!({"n": 4})
    )]))
    .await;
    let three = h.profile("customer_id", "3").unwrap();
    assert!(!three.ids.contains_key("email_id"));
    assert_eq!(h.twin.truth().profiles.len(), 3);
    assert!(h.twin.truth().stats.identity_conflicts >= 3);
}

#[tokio::test]
async fn hard_ids_are_case_sensitive() {
    let h = Harness::default().await;
    h.batch_ok(json!([
        customer(json!({"email_id": "A@x.com"}), json!({"v": "upper"})),
        customer(json!({"email_id": "a@x.com"}), json!({"v": "lower"})),
    ]))
    .await;
    let truth = h.twin.truth();
    assert_eq!(truth.profiles.len(), 2);
    assert_eq!(
        h.profile("email_id", "A@x.com").unwrap().properties["v"],
        json!("upper")
    );
    assert_eq!(
        h.profile("email_id", "a@x.com").unwrap().properties["v"],
        json!("lower")
    );
}

#[tokio::test]
async fn cookie_profile_merges_into_the_identified_profile() {
    let h = Harness::default().await;
    h.batch_ok(json!([customer(
        json!({"email_id": "b@x.com"}),
        json!({"a": 1})
    )]))
    .await;
    h.batch_ok(json!([event(
        json!({"cookie": "anon-1"}),
        "view_item",
        json!(1_700_000_000),
        json!({"product_id": "p1"})
    )]))
    .await;
    h.batch_ok(json!([customer(
        json!({"email_id": "b@x.com", "cookie": "anon-1"}),
        json!({"b": 2})
    )]))
    .await;
    let truth = h.twin.truth();
    assert_eq!(truth.profiles.len(), 1);
    assert_eq!(truth.profiles[0].events.len(), 1);
    assert_eq!(truth.profiles[0].ids["cookie"], vec!["anon-1".to_owned()]);
}

#[tokio::test]
async fn update_timestamp_is_last_write_wins_per_property() {
    let h = Harness::default().await;
    let ids = json!({"customer_id": "5"});
    let with_ts = |props: Value, ts: f64| json!({"name": "customers", "data": {"customer_ids": ids, "properties": props, "update_timestamp": ts}});
    h.batch_ok(json!([with_ts(
        json!({"name": "new", "city": "Prague"}),
        200.0
    )]))
    .await;
    h.batch_ok(json!([with_ts(
        json!({"name": "old", "phone": "+420"}),
        100.0
    )]))
    .await;
    let p = h.profile("customer_id", "5").unwrap();
    assert_eq!(p.properties["name"], json!("new"));
    assert_eq!(p.properties["city"], json!("Prague"));
    assert_eq!(
        p.properties["phone"],
        json!("+420"),
        "unset properties are still written"
    );

    // Inside one batch the order is random, but timestamps decide.
    for round in 0..8 {
        let props = |v: &str| json!({"status": v});
        h.batch_ok(json!([
            with_ts(
                props(&format!("late-{round}")),
                1_000.0 + f64::from(round) * 10.0 + 5.0
            ),
            with_ts(
                props(&format!("early-{round}")),
                1_000.0 + f64::from(round) * 10.0
            ),
        ]))
        .await;
        let p = h.profile("customer_id", "5").unwrap();
        assert_eq!(p.properties["status"], json!(format!("late-{round}")));
    }
}

#[tokio::test]
async fn batch_commands_are_not_applied_in_array_order() {
    let h = Harness::default().await;
    let mut first_won = 0;
    for i in 0..24 {
        let ids = json!({"customer_id": format!("order-{i}")});
        h.batch_ok(json!([
            customer(ids.clone(), json!({"v": "first"})),
            customer(ids.clone(), json!({"v": "second"})),
        ]))
        .await;
        if h.profile("customer_id", &format!("order-{i}"))
            .unwrap()
            .properties["v"]
            == json!("first")
        {
            first_won += 1;
        }
    }
    assert!(
        first_won > 0 && first_won < 24,
        "first won {first_won} of 24"
    );
}

#[tokio::test]
async fn per_command_validation_errors() {
    let h = Harness::default().await;
    let big = "x".repeat(16 * 1024 + 1);
    let (status, body) = h
        .batch(json!([
            customer(json!({"loyalty_id": "1"}), json!({"a": 1})),
            customer(json!({"customer_id": 12}), json!({"a": 1})),
            customer(json!({"customer_id": "1"}), json!({})),
            customer(json!({"customer_id": "1"}), json!({"bio": big})),
            {"name": "customers/events", "data": {"customer_ids": {"customer_id": "1"}}},
            {"name": "customers/events", "data": {"customer_ids": {"customer_id": "1"}, "event_type": "x", "properties": []}},
            {"name": "customers/events", "data": {"customer_ids": {"customer_id": "1"}, "event_type": "x", "timestamp": "yesterday"}},
            {"name": "customers/events", "data": {"customer_ids": {"customer_id": "1"}, "event_type": "x", "timestamp": "2026-02-01T10:00:00Z"}},
            {"name": "customers/events", "data": {"customer_ids": {"customer_id": "1"}, "event_type": "y"}},
        ]))
        .await;
    assert_eq!(status, StatusCode::OK);
    let results = body["results"].as_array().unwrap();
    for (i, expected_ok) in [false, false, false, false, false, false, false, true, true]
        .into_iter()
        .enumerate()
    {
        assert_eq!(
            results[i]["success"],
            json!(expected_ok),
            "command {i}: {}",
            results[i]
        );
        if !expected_ok {
            assert!(!results[i]["errors"].as_array().unwrap().is_empty());
        }
    }
    let p = h.profile("customer_id", "1").unwrap();
    assert!(p.properties.is_empty());
    let x = p.events.iter().find(|e| e.event_type == "x").unwrap();
    let iso = Utc.with_ymd_and_hms(2026, 2, 1, 10, 0, 0).unwrap();
    assert_eq!(x.timestamp, iso.timestamp() as f64);
    let y = p.events.iter().find(|e| e.event_type == "y").unwrap();
    assert_eq!(
        y.timestamp,
        start_time().timestamp() as f64,
        "missing timestamp = receive time"
    );
}

#[tokio::test]
async fn soft_ids_keep_the_64_most_recently_used() {
    let h = Harness::default().await;
    for i in 0..65 {
        h.batch_ok(json!([customer(
            json!({"customer_id": "s", "cookie": format!("ck-{i}")}),
            json!({"i": i})
        )]))
        .await;
    }
    let p = h.profile("customer_id", "s").unwrap();
    let cookies = &p.ids["cookie"];
    assert_eq!(cookies.len(), 64);
    assert!(!cookies.contains(&"ck-0".to_owned()));
    assert!(h.profile("cookie", "ck-0").is_none());
    // A dropped cookie now makes a new profile.
    h.batch_ok(json!([customer(
        json!({"cookie": "ck-0"}),
        json!({"a": 1})
    )]))
    .await;
    assert_eq!(h.twin.truth().profiles.len(), 2);
}

#[tokio::test]
async fn twin_state_endpoint_serves_the_truth_without_auth() {
    let h = Harness::default().await;
    h.batch_ok(json!([customer(
        json!({"customer_id": "1"}),
        json!({"a": 1})
    )]))
    .await;
    let (status, body) = h.send(h.http.get(h.url("_twin/state"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::to_value(h.twin.truth()).unwrap());
    assert_eq!(body["stats"]["requests"], json!(1));
    h.twin.shutdown().await;
}

#[tokio::test]
async fn latency_is_served_on_the_injected_clock() {
    let config = BloomreachTwinConfig {
        latency: bigreach_twins::bloomreach::LatencyModel {
            base: Duration::from_secs(2),
            jitter: Duration::ZERO,
        },
        ..BloomreachTwinConfig::default()
    };
    let h = Harness::start(config).await;
    let pending = tokio::spawn({
        let http = h.http.clone();
        let url = h.track("batch");
        let (key, secret) = (h.config.key_id.clone(), h.config.secret.clone());
        async move {
            http.post(url)
                .basic_auth(key, Some(secret))
                .json(&json!({"commands": [event(json!({"customer_id": "l2"}), "x", json!(1.0), json!({}))]}))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    while h.clock.sleepers() == 0 {
        tokio::task::yield_now().await;
    }
    assert!(!pending.is_finished());
    // Data is applied on arrival; the answer waits for the clock.
    let stored = h.profile("customer_id", "l2").unwrap();
    assert_eq!(
        stored.events[0].received_at,
        h.clock.now() + chrono::Duration::seconds(2)
    );
    h.clock.advance(Duration::from_secs(2));
    assert_eq!(pending.await.unwrap(), StatusCode::OK);
}
