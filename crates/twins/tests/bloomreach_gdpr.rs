//! GDPR anonymization of the Bloomreach twin (`/data/v2/projects/{token}/customers/anonymize`
//! and `…/anonymize_bulk`).

use bigreach_clock::ManualClock;
use bigreach_twins::bloomreach::{BloomreachTwin, BloomreachTwinConfig, ProfileTruth};
use chrono::{DateTime, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

struct Harness {
    twin: BloomreachTwin,
    http: reqwest::Client,
    config: BloomreachTwinConfig,
}

impl Harness {
    async fn start(config: BloomreachTwinConfig) -> Self {
        let twin = BloomreachTwin::start(config.clone(), ManualClock::new(start_time()))
            .await
            .unwrap();
        Self {
            twin,
            http: reqwest::Client::new(),
            config,
        }
    }

    fn url(&self, path: &str) -> reqwest::Url {
        self.twin
            .base_url()
            .join(&format!("{path}/projects/{}", self.config.project_token))
            .unwrap()
    }

    async fn post(&self, rest: &str, body: Value) -> (StatusCode, Value) {
        let url = format!("{}/{rest}", self.url("data/v2"));
        let response = self
            .http
            .post(url)
            .basic_auth(&self.config.key_id, Some(&self.config.secret))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn batch_ok(&self, commands: Value) {
        let url = format!("{}/batch", self.url("track/v2"));
        let response = self
            .http
            .post(url)
            .basic_auth(&self.config.key_id, Some(&self.config.secret))
            .json(&json!({ "commands": commands }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        for result in body["results"].as_array().unwrap() {
            assert_eq!(result["success"], json!(true), "{body}");
        }
    }

    /// Tracks customer `n` with every kind of id, PII and non-PII properties, and a purchase.
    async fn seed_customer(&self, n: u32) {
        self.batch_ok(json!([
            {"name": "customers", "data": {
                "customer_ids": {"customer_id": format!("c{n}"), "email_id": format!("p{n}@example.com"), "cookie": format!("cookie-{n}")},
                "properties": {"email": format!("p{n}@example.com"), "phone": "+420600000000", "first_name": "Ann",
                               "last_name": "Lee", "city": "Brno", "loyalty_tier": "gold"},
            }},
            {"name": "customers/events", "data": {
                "customer_ids": {"customer_id": format!("c{n}")}, "event_type": "purchase",
                "timestamp": 1_767_225_600.0, "properties": {"total_price": 10},
            }},
        ]))
        .await;
    }

    fn profile(&self, internal_id: u64) -> ProfileTruth {
        self.twin
            .truth()
            .profiles
            .into_iter()
            .find(|p| p.internal_id == internal_id)
            .unwrap()
    }
}

#[tokio::test]
async fn anonymize_removes_ids_and_private_properties_and_records_an_event() {
    let h = Harness::start(BloomreachTwinConfig::default()).await;
    h.seed_customer(1).await;
    let internal = h
        .twin
        .truth()
        .profile_by_id("customer_id", "c1")
        .unwrap()
        .internal_id;

    let (status, body) = h
        .post(
            "customers/anonymize",
            json!({"customer_ids": {"email_id": "p1@example.com"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"success": true}));

    let profile = h.profile(internal);
    assert!(profile.anonymized);
    assert_eq!(
        profile.ids.keys().collect::<Vec<_>>(),
        vec!["cookie"],
        "only a fresh cookie is left"
    );
    let cookie = &profile.ids["cookie"];
    assert_eq!(cookie.len(), 1);
    assert_ne!(cookie[0], "cookie-1");
    assert_eq!(cookie[0].len(), 36);
    assert_eq!(
        serde_json::to_value(&profile.properties).unwrap(),
        json!({"city": "Brno", "loyalty_tier": "gold"}),
        "only the private properties are removed"
    );
    let types: Vec<&str> = profile
        .events
        .iter()
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(types, vec!["purchase", "anonymization"]);
    let anonymization = &profile.events[1];
    assert_eq!(anonymization.timestamp, start_time().timestamp() as f64);
    assert_eq!(anonymization.received_at, start_time());

    let truth = h.twin.truth();
    assert_eq!(truth.stats.anonymizations, 1);
    for (name, value) in [
        ("customer_id", "c1"),
        ("email_id", "p1@example.com"),
        ("cookie", "cookie-1"),
    ] {
        assert!(truth.profile_by_id(name, value).is_none(), "{name} kept");
    }

    // The old ids now identify a brand-new profile.
    h.batch_ok(json!([{"name": "customers", "data": {
        "customer_ids": {"customer_id": "c1"}, "properties": {"first_name": "Ann"}
    }}]))
    .await;
    let fresh = h.twin.truth();
    let new_profile = fresh.profile_by_id("customer_id", "c1").unwrap();
    assert_ne!(new_profile.internal_id, internal);
    assert!(!new_profile.anonymized);
    assert!(new_profile.events.is_empty());
}

#[tokio::test]
async fn only_the_configured_private_properties_are_removed() {
    let h = Harness::start(BloomreachTwinConfig {
        private_properties: vec!["email".to_owned()],
        ..BloomreachTwinConfig::default()
    })
    .await;
    h.seed_customer(1).await;
    let internal = h
        .twin
        .truth()
        .profile_by_id("customer_id", "c1")
        .unwrap()
        .internal_id;
    // Bloomreach's internal id works too (inferred spelling: `internal_id`).
    let (status, body) = h
        .post(
            "customers/anonymize",
            json!({"customer_ids": {"internal_id": internal.to_string()}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let profile = h.profile(internal);
    assert!(!profile.properties.contains_key("email"));
    for kept in ["phone", "first_name", "last_name", "city"] {
        assert!(profile.properties.contains_key(kept), "{kept}");
    }
}

#[tokio::test]
async fn bulk_anonymize_answers_per_customer() {
    let h = Harness::start(BloomreachTwinConfig::default()).await;
    h.seed_customer(1).await;
    h.seed_customer(2).await;
    let (status, body) = h
        .post(
            "customers/anonymize_bulk",
            json!({"customers": [
                {"customer_ids": {"customer_id": "c1"}},
                {"customer_ids": {"customer_id": "nobody"}},
                {"customer_ids": {}},
                {"customer_ids": {"customer_id": "c2", "email_id": "p1@example.com"}},
                {"customer_ids": {"cookie": "cookie-2", "email_id": "p2@example.com"}},
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], json!(true));
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    assert_eq!(results[0], json!({"success": true}));
    assert_eq!(
        results[1],
        json!({"success": false, "errors": ["Customer not found."]})
    );
    assert_eq!(
        results[2],
        json!({"success": false, "errors": ["At least one id should be specified."]})
    );
    // p1's email is gone after the first anonymization, so c2 alone matches.
    assert_eq!(results[3], json!({"success": true}));
    // Everything of c2 is gone now.
    assert_eq!(results[4]["success"], json!(false));

    let truth = h.twin.truth();
    assert_eq!(truth.stats.anonymizations, 2);
    assert!(truth.profiles.iter().all(|p| p.anonymized));
}

#[tokio::test]
async fn anonymize_errors_and_access() {
    let h = Harness::start(BloomreachTwinConfig {
        public_token: Some("public-token".to_owned()),
        ..BloomreachTwinConfig::default()
    })
    .await;
    h.seed_customer(1).await;
    h.seed_customer(2).await;

    let (status, body) = h
        .post(
            "customers/anonymize",
            json!({"customer_ids": {"customer_id": "nobody"}}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"success": false, "errors": ["Customer not found."]})
    );
    let (status, body) = h
        .post(
            "customers/anonymize",
            json!({"customer_ids": {"customer_id": "c1", "email_id": "p2@example.com"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = h
        .post(
            "customers/anonymize",
            json!({"customer_ids": {"registered": "x"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = h
        .post("customers/anonymize_bulk", json!({"customers": []}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let response = h
        .http
        .post(format!("{}/customers/anonymize", h.url("data/v2")))
        .header("Authorization", "Token public-token")
        .json(&json!({"customer_ids": {"customer_id": "c1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let truth = h.twin.truth();
    assert_eq!(truth.stats.anonymizations, 0);
    assert!(truth.profiles.iter().all(|p| !p.anonymized));
}
