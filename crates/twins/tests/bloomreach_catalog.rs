//! Catalog API of the Bloomreach twin, driven over HTTP with reqwest.

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

/// Clients must accept both JSON booleans and the strings "True"/"False".
fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s == "True",
        other => panic!("not a boolean: {other}"),
    }
}

impl Harness {
    async fn start(config: BloomreachTwinConfig) -> Self {
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap());
        let twin = BloomreachTwin::start(config.clone(), clock).await.unwrap();
        Self {
            twin,
            http: reqwest::Client::new(),
            config,
        }
    }

    async fn default() -> Self {
        Self::start(BloomreachTwinConfig {
            catalog_string_booleans_one_in: 0,
            ..BloomreachTwinConfig::default()
        })
        .await
    }

    fn url(&self, rest: &str) -> reqwest::Url {
        self.twin
            .base_url()
            .join(&format!(
                "data/v2/projects/{}/{rest}",
                self.config.project_token
            ))
            .unwrap()
    }

    async fn call(
        &self,
        method: reqwest::Method,
        rest: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, self.url(rest))
            .basic_auth(&self.config.key_id, Some(&self.config.secret));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    async fn create_products(&self) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "catalogs",
                Some(json!({
                    "name": "products",
                    "is_product_catalog": true,
                    "fields": [
                        {"name": "title", "type": "string", "searchable": true},
                        {"name": "price", "type": "number"},
                        {"name": "active", "type": "boolean"},
                    ],
                })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["success"], json!(true));
        body["id"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn create_get_list_and_update_a_catalog() {
    let h = Harness::default().await;
    let id = h.create_products().await;
    let (status, body) = h.call(reqwest::Method::GET, "catalogs", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"], json!([{"id": id, "name": "products"}]));
    let (_, body) = h
        .call(reqwest::Method::GET, &format!("catalogs/{id}"), None)
        .await;
    assert_eq!(body["data"]["name"], json!("products"));
    assert_eq!(
        body["data"]["fields"][0],
        json!({"name": "title", "type": "string", "searchable": true})
    );

    let (status, _) = h
        .call(
            reqwest::Method::POST,
            "catalogs",
            Some(json!({"name": "bad", "fields": [{"name": "x", "type": "integer"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = h
        .call(
            reqwest::Method::POST,
            "catalogs",
            Some(json!({"fields": []})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _) = h
        .call(
            reqwest::Method::PUT,
            &format!("catalogs/{id}"),
            Some(json!({"name": "products", "fields": [{"name": "title"}, {"name": "price", "type": "number"}, {"name": "active", "type": "boolean"}, {"name": "brand"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let truth = h.twin.truth();
    let catalog = truth.catalog_by_name("products").unwrap();
    assert_eq!(catalog.fields.len(), 4);
    assert_eq!(catalog.fields[3], ("brand".to_owned(), "string".to_owned()));

    let (status, _) = h
        .call(
            reqwest::Method::GET,
            "catalogs/000000000000000000000000",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn partial_update_fails_undeclared_fields_slashes_and_missing_items_without_upsert() {
    let h = Harness::default().await;
    let id = h.create_products().await;
    let (status, body) = h
        .call(
            reqwest::Method::POST,
            &format!("catalogs/{id}/items/partial-update"),
            Some(json!([
                {"item_id": "v-1", "properties": {"title": "Mug", "price": 9.5}, "upsert": true},
                {"item_id": "v-2", "properties": {"title": "Cup", "colour": "red", "size": "L"}, "upsert": true},
                {"item_id": "SKU/RED", "properties": {"title": "Red"}, "upsert": true},
                {"item_id": "v-3", "properties": {"title": "Bowl"}},
                {"item_id": "v-4", "properties": {"title": "Plate"}, "upsert": false},
            ])),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let results = body.as_array().unwrap();
    assert_eq!(results.len(), 5);
    assert_eq!(results[0], json!({"success": true, "queued": true}));
    assert_eq!(
        results[1],
        json!({"success": false, "queued": false, "errors": {"properties": ["Fields [colour, size] are not properly defined."]}})
    );
    assert!(!truthy(&results[2]["success"]));
    assert!(results[2]["errors"]["item_id"].is_array());
    assert!(!truthy(&results[3]["success"]));
    assert!(!truthy(&results[4]["success"]));

    let truth = h.twin.truth();
    let items = &truth.catalog_by_name("products").unwrap().items;
    assert_eq!(items.keys().collect::<Vec<_>>(), vec!["v-1"]);

    // Partial update keeps the other properties.
    let (_, body) = h
        .call(
            reqwest::Method::POST,
            &format!("catalogs/{id}/items/partial-update"),
            Some(json!([{"item_id": "v-1", "properties": {"price": 7}}])),
        )
        .await;
    assert!(truthy(&body[0]["success"]));
    let truth = h.twin.truth();
    let item = &truth.catalog_by_name("products").unwrap().items["v-1"];
    assert_eq!(item["title"], json!("Mug"));
    assert_eq!(item["price"], json!(7));
    assert_eq!(truth.stats.catalog_items_accepted, 2);
    assert_eq!(truth.stats.catalog_items_rejected, 4);
}

#[tokio::test]
async fn bulk_put_replaces_every_property_and_items_page() {
    let h = Harness::default().await;
    let id = h.create_products().await;
    let items: Vec<Value> = (0..5)
        .map(|i| json!({"item_id": format!("i-{i}"), "properties": {"title": format!("T{i}"), "price": i}}))
        .collect();
    let (status, body) = h
        .call(
            reqwest::Method::PUT,
            &format!("catalogs/{id}/items"),
            Some(Value::Array(items)),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body
        .as_array()
        .unwrap()
        .iter()
        .all(|r| truthy(&r["success"])));

    let (_, body) = h
        .call(
            reqwest::Method::PUT,
            &format!("catalogs/{id}/items"),
            Some(json!([{"item_id": "i-0", "properties": {"active": false}}])),
        )
        .await;
    assert!(truthy(&body[0]["success"]));
    let truth = h.twin.truth();
    let item = &truth.catalog_by_name("products").unwrap().items["i-0"];
    assert_eq!(item.len(), 1, "omitted properties are gone: {item:?}");

    let (status, body) = h
        .call(
            reqwest::Method::GET,
            &format!("catalogs/{id}/items?count=2&skip=1"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["matched"], json!(5));
    assert_eq!(body["limit"], json!(2));
    assert_eq!(body["skip"], json!(1));
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["item_id"], json!("i-1"));
    assert_eq!(data[0]["properties"]["title"], json!("T1"));
}

#[tokio::test]
async fn some_responses_spell_booleans_as_strings() {
    let h = Harness::start(BloomreachTwinConfig {
        catalog_string_booleans_one_in: 1,
        ..BloomreachTwinConfig::default()
    })
    .await;
    let id = h.create_products().await;
    let (_, body) = h
        .call(
            reqwest::Method::POST,
            &format!("catalogs/{id}/items/partial-update"),
            Some(json!([
                {"item_id": "a", "properties": {"title": "A"}, "upsert": true},
                {"item_id": "b", "properties": {"nope": 1}, "upsert": true},
            ])),
        )
        .await;
    assert_eq!(body[0], json!({"success": "True", "queued": "True"}));
    assert_eq!(body[1]["success"], json!("False"));
    assert_eq!(body[1]["queued"], json!("False"));
}

#[tokio::test]
async fn item_ids_with_a_slash_cannot_be_edited_by_path() {
    let h = Harness::default().await;
    let id = h.create_products().await;
    let (status, _) = h
        .call(
            reqwest::Method::PUT,
            &format!("catalogs/{id}/items/SKU%2FRED"),
            Some(json!({"properties": {"title": "Red"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = h
        .call(
            reqwest::Method::PUT,
            &format!("catalogs/{id}/items/sku-red"),
            Some(json!({"properties": {"title": "Red"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(h
        .twin
        .truth()
        .catalog_by_name("products")
        .unwrap()
        .items
        .contains_key("sku-red"));
}
