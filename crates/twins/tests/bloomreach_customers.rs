//! Customer reads of the Bloomreach twin's Data API (export one customer, attributes, events,
//! export) and the catalog item list, in the wire shapes of Bloomreach's own recorded responses
//! (python SDK `tests/data/*.json`), before any client post-processing.

use std::collections::BTreeSet;

use bigreach_clock::ManualClock;
use bigreach_twins::bloomreach::{BloomreachTwin, BloomreachTwinConfig};
use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

struct Harness {
    twin: BloomreachTwin,
    http: reqwest::Client,
    config: BloomreachTwinConfig,
}

impl Harness {
    async fn start() -> Self {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap());
        let config = BloomreachTwinConfig {
            catalog_string_booleans_one_in: 0,
            public_token: Some("public-token".to_owned()),
            ..BloomreachTwinConfig::default()
        };
        let twin = BloomreachTwin::start(config.clone(), clock).await.unwrap();
        Self {
            twin,
            http: reqwest::Client::new(),
            config,
        }
    }

    fn url(&self, api: &str, rest: &str) -> reqwest::Url {
        self.twin
            .base_url()
            .join(&format!(
                "{api}/v2/projects/{}/{rest}",
                self.config.project_token
            ))
            .unwrap()
    }

    async fn call(
        &self,
        method: reqwest::Method,
        api: &str,
        rest: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let response = self
            .http
            .request(method, self.url(api, rest))
            .basic_auth(&self.config.key_id, Some(&self.config.secret))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    async fn post(&self, rest: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, "data", rest, body).await
    }

    async fn track(&self) {
        let commands = json!([
            {"name": "customers", "data": {"customer_ids": {"customer_id": "c-1", "cookie": "k-1"}, "properties": {"first_name": "Lena", "last_name": "Vogel"}}},
            {"name": "customers/events", "data": {"customer_ids": {"customer_id": "c-1"}, "event_type": "purchase", "timestamp": 1_772_000_000.25, "properties": {"total_price": 12.5}}},
            {"name": "customers/events", "data": {"customer_ids": {"customer_id": "c-1"}, "event_type": "view_item", "timestamp": 1_772_000_100.0, "properties": {"item_id": "7"}}},
            {"name": "customers", "data": {"customer_ids": {"email_id": "amara@example.com"}, "properties": {"first_name": "Amara", "tier": "gold"}}},
        ]);
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "track",
                "batch",
                json!({ "commands": commands }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for r in body["results"].as_array().unwrap() {
            assert_eq!(r["success"], json!(true), "{body}");
        }
    }
}

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[tokio::test]
async fn export_one_customer_has_ids_properties_and_events() {
    let h = Harness::start().await;
    h.track().await;
    let (status, body) = h
        .post(
            "customers/export-one",
            json!({"customer_ids": {"customer_id": "c-1"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        keys(&body),
        BTreeSet::from(["success", "ids", "properties", "events"])
    );
    assert_eq!(body["success"], json!(true));
    assert_eq!(
        body["ids"]["customer_id"],
        json!("c-1"),
        "a hard id is a string"
    );
    assert_eq!(body["ids"]["cookie"], json!(["k-1"]), "a soft id is a list");
    assert_eq!(body["properties"]["first_name"], json!("Lena"));
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    for e in events {
        assert_eq!(keys(e), BTreeSet::from(["type", "timestamp", "properties"]));
    }
    assert_eq!(events[0]["type"], json!("purchase"));
    assert_eq!(events[0]["timestamp"], json!(1_772_000_000.25));
    assert_eq!(events[0]["properties"]["total_price"], json!(12.5));

    let (status, body) = h
        .post(
            "customers/export-one",
            json!({"customer_ids": {"customer_id": "nobody"}}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"success": false, "errors": ["Customer not found."]})
    );
    let (status, _) = h
        .post(
            "customers/export-one",
            json!({"customer_ids": {"loyalty": "x"}}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "unknown id names are refused"
    );
    // The Data API needs private access: the public token is refused.
    let response = h
        .http
        .post(h.url("data", "customers/export-one"))
        .header("Authorization", "Token public-token")
        .json(&json!({"customer_ids": {"customer_id": "c-1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn attributes_answer_one_result_per_attribute_in_order() {
    let h = Harness::start().await;
    h.track().await;
    let (status, body) = h
        .post(
            "customers/attributes",
            json!({"customer_ids": {"customer_id": "c-1"}, "attributes": [
                {"type": "property", "property": "first_name"},
                {"type": "id", "id": "cookie"},
                {"type": "segmentation", "id": "5a8b"},
                {"type": "property", "property": "never_set"},
            ]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body), BTreeSet::from(["success", "results"]));
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0], json!({"success": true, "value": "Lena"}));
    assert_eq!(results[1], json!({"success": true, "value": ["k-1"]}));
    assert_eq!(
        results[2]["success"],
        json!(false),
        "no segmentations in the twin"
    );
    assert_eq!(results[3], json!({"success": true, "value": null}));
}

#[tokio::test]
async fn events_filter_by_type_and_export_lists_every_customer() {
    let h = Harness::start().await;
    h.track().await;
    let (status, body) = h
        .post(
            "customers/events",
            json!({"customer_ids": {"customer_id": "c-1"}, "event_types": ["purchase"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body), BTreeSet::from(["success", "data"]));
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["type"], json!("purchase"));

    let (status, body) = h
        .post("customers/export", json!({"format": "native_json"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(keys(&body), BTreeSet::from(["success", "fields", "data"]));
    // Decode the rows as the SDK does: id columns first, then property columns.
    let fields = body["fields"].as_array().unwrap();
    let ids: Vec<&str> = fields
        .iter()
        .filter(|f| f["type"] == "id")
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    let props: Vec<&str> = fields
        .iter()
        .filter(|f| f["type"] == "property")
        .map(|f| f["property"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["customer_id", "email_id", "phone_id", "cookie"]);
    assert_eq!(props, ["first_name", "last_name", "tier"]);
    let rows = body["data"].as_array().unwrap();
    assert_eq!(rows.len(), h.twin.truth().profiles.len());
    let amara = rows
        .iter()
        .find(|r| r[1] == json!("amara@example.com"))
        .expect("Amara is exported");
    assert_eq!(amara[0], Value::Null);
    assert_eq!(amara[ids.len()], json!("Amara"));
    assert_eq!(amara[ids.len() + 2], json!("gold"));
    let (status, _) = h.post("customers/export", json!({"format": "csv"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn catalog_item_list_has_the_recorded_wire_shape() {
    let h = Harness::start().await;
    let (status, created) = h
        .post(
            "catalogs",
            json!({"name": "products", "fields": [{"name": "title", "type": "string"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    for n in 1..=3 {
        let (status, body) = h
            .call(
                reqwest::Method::PUT,
                "data",
                &format!("catalogs/{id}/items/{n}"),
                json!({"properties": {"title": format!("Item {n}")}}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let response = h
        .http
        .get(h.url("data", &format!("catalogs/{id}/items?count=2&skip=1")))
        .basic_auth(&h.config.key_id, Some(&h.config.secret))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        keys(&body),
        BTreeSet::from([
            "success",
            "data",
            "limit",
            "matched",
            "matched_limited",
            "skip",
            "total"
        ])
    );
    assert_eq!(body["total"], json!(3));
    assert_eq!(body["matched"], json!(3));
    assert_eq!(body["matched_limited"], json!(false));
    assert_eq!(body["limit"], json!(2));
    assert_eq!(body["skip"], json!(1));
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    for item in data {
        assert_eq!(
            keys(item),
            BTreeSet::from(["catalog_id", "item_id", "properties"])
        );
        assert_eq!(item["catalog_id"], json!(id));
    }
    assert_eq!(data[0]["item_id"], json!("2"));
}
