//! Imports API of the Bloomreach twin: definitions over HTTP, runs that download a CSV file from
//! a local HTTP server (with Basic auth) and apply it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use bigreach_clock::ManualClock;
use bigreach_twins::bloomreach::{BloomreachTwin, BloomreachTwinConfig, ImportRunStatus};
use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::net::TcpListener;

const SHOP_USER: &str = "shop";
const SHOP_PASSWORD: &str = "s3cret";

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

/// A tiny file server on 127.0.0.1 that requires HTTP Basic `shop:s3cret`.
struct CsvServer {
    addr: SocketAddr,
    files: Arc<Mutex<HashMap<String, String>>>,
    downloads: Arc<AtomicUsize>,
}

impl CsvServer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let files: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let downloads = Arc::new(AtomicUsize::new(0));
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{SHOP_USER}:{SHOP_PASSWORD}"))
        );
        let (served_files, served_downloads) = (files.clone(), downloads.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (files, downloads, expected) = (
                    served_files.clone(),
                    served_downloads.clone(),
                    expected.clone(),
                );
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let authorized = req
                            .headers()
                            .get(hyper::header::AUTHORIZATION)
                            .is_some_and(|v| v.as_bytes() == expected.as_bytes());
                        let file = files.lock().get(req.uri().path()).cloned();
                        let mut response = hyper::Response::new(Full::new(Bytes::new()));
                        match (authorized, file) {
                            (false, _) => {
                                *response.status_mut() = hyper::StatusCode::UNAUTHORIZED;
                                response.headers_mut().insert(
                                    hyper::header::WWW_AUTHENTICATE,
                                    hyper::header::HeaderValue::from_static("Basic realm=\"shop\""),
                                );
                            }
                            (true, None) => *response.status_mut() = hyper::StatusCode::NOT_FOUND,
                            (true, Some(body)) => {
                                downloads.fetch_add(1, Ordering::SeqCst);
                                *response.body_mut() = Full::new(Bytes::from(body));
                                response.headers_mut().insert(
                                    hyper::header::CONTENT_TYPE,
                                    hyper::header::HeaderValue::from_static("text/csv"),
                                );
                            }
                        }
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            files,
            downloads,
        }
    }

    /// Serves `body` at `/feeds/{name}` and returns its URL.
    fn put(&self, name: &str, body: &str) -> String {
        let path = format!("/feeds/{name}");
        self.files.lock().insert(path.clone(), body.to_owned());
        format!("http://{}{path}", self.addr)
    }

    fn downloads(&self) -> usize {
        self.downloads.load(Ordering::SeqCst)
    }
}

struct Harness {
    twin: BloomreachTwin,
    clock: Arc<ManualClock>,
    http: reqwest::Client,
    config: BloomreachTwinConfig,
    shop: CsvServer,
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
            shop: CsvServer::start().await,
        }
    }

    async fn default() -> Self {
        Self::start(BloomreachTwinConfig {
            catalog_string_booleans_one_in: 0,
            ..BloomreachTwinConfig::default()
        })
        .await
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = self.twin.base_url().join(path).unwrap();
        let mut req = self
            .http
            .request(method, url)
            .basic_auth(&self.config.key_id, Some(&self.config.secret));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn imports_path(&self, rest: &str) -> String {
        format!("imports/v1/{}{rest}", self.config.project_token)
    }

    async fn create(&self, definition: Value) -> (StatusCode, Value) {
        self.call(Method::POST, &self.imports_path(""), Some(definition))
            .await
    }

    async fn create_ok(&self, definition: Value) -> String {
        let (status, body) = self.create(definition).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["success"], json!(true));
        body["import_id"].as_str().unwrap().to_owned()
    }

    async fn start_run(&self, import_id: &str, body: Option<Value>) -> (StatusCode, Value) {
        let path = format!(
            "data/v1/projects/{}/imports/{import_id}/start",
            self.config.project_token
        );
        self.call(Method::POST, &path, body).await
    }

    /// Starts a run, waits for it in the background, and returns `last_run` from the API.
    async fn run_to_end(&self, import_id: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.start_run(import_id, body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer, json!({"success": true}));
        self.twin.wait_for_import_runs().await;
        self.last_run(import_id).await
    }

    async fn last_run(&self, import_id: &str) -> Value {
        let (status, body) = self
            .call(
                Method::GET,
                &self.imports_path(&format!("/{import_id}")),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["last_run"].clone()
    }

    async fn batch_ok(&self, commands: Value) {
        let url = self
            .twin
            .base_url()
            .join(&format!(
                "track/v2/projects/{}/batch",
                self.config.project_token
            ))
            .unwrap();
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
}

fn purchase_definition(name: &str, url: &str, password: &str) -> Value {
    json!({
        "name": name,
        "active": true,
        "trigger": {"trigger_type": "now"},
        "source": {"source_type": "url", "import_url": url, "use_socks_proxy": false,
                   "auth": {"username": SHOP_USER, "password": password}},
        "mapping": {"tz_info": "UTC", "column_mapping": {
            "id_mappings": [
                {"from_column": "customer_id", "to_id": "customer_id"},
                {"from_column": "email_id", "to_id": "email_id"},
            ],
            "property_mappings": [
                {"from_column": "order_id", "to_column": "purchase_id", "target_type": "string", "searchable": false, "indexed": null},
                {"from_column": "total", "to_column": "total_price", "target_type": "number"},
                {"from_column": "status", "to_column": "purchase_status", "target_type": "text"},
            ],
        }},
        "timestamp_column": "purchase_time",
        "destination": {"event_destination": {"event_type": "purchase", "event_triggers": false}},
    })
}

const PURCHASES: &str = "customer_id,email_id,order_id,total,purchase_time,status\n\
c1,,1001,12.50,1767225600.25,success\n\
,b@example.com,1002,20,2026-01-02T10:00:00Z,success\n\
c3,,1003,abc,2026-01-03 10:00:00,success\n\
,,1004,5,1767225600,success\n\
c1,,1005,7,2026-01-04T00:00:00+02:00,success\n";

#[tokio::test]
async fn event_import_lands_on_the_right_profiles_and_a_rerun_is_deduplicated() {
    let h = Harness::default().await;
    // Existing profiles the import must find: c1 by customer id, b@ by email.
    h.batch_ok(json!([
        {"name": "customers", "data": {"customer_ids": {"customer_id": "c1"}, "properties": {"first_name": "Ann"}}},
        {"name": "customers", "data": {"customer_ids": {"customer_id": "c2", "email_id": "b@example.com"}, "properties": {"first_name": "Bo"}}},
    ]))
    .await;
    let before = h.twin.truth();
    let c1_internal = before
        .profile_by_id("customer_id", "c1")
        .unwrap()
        .internal_id;
    let c2_internal = before
        .profile_by_id("customer_id", "c2")
        .unwrap()
        .internal_id;

    let url = h.shop.put("purchases.csv", PURCHASES);
    let id = h
        .create_ok(purchase_definition("purchases", &url, SHOP_PASSWORD))
        .await;
    assert_eq!(id.len(), 24);

    let run = h.run_to_end(&id, None).await;
    assert_eq!(run["status"], json!("finished"), "{run}");
    assert_eq!(run["rows_total"], json!(5));
    assert_eq!(run["rows_imported"], json!(3));
    assert_eq!(run["rows_failed"], json!(2));
    let errors = run["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert!(
        errors[0]
            .as_str()
            .unwrap()
            .starts_with("Row 3: column 'total'"),
        "{run}"
    );
    assert!(
        errors[1]
            .as_str()
            .unwrap()
            .starts_with("Row 4: no customer id"),
        "{run}"
    );
    let started = start_time().timestamp() as f64;
    assert_eq!(run["started_at"].as_f64(), Some(started));
    assert_eq!(run["finished_at"].as_f64(), Some(started));
    // The connection test and the run each downloaded the file once.
    assert_eq!(h.shop.downloads(), 2);

    let truth = h.twin.truth();
    let c1 = truth.profile_by_id("customer_id", "c1").unwrap();
    assert_eq!(c1.internal_id, c1_internal);
    assert_eq!(c1.events.len(), 2);
    assert_eq!(c1.events[0].event_type, "purchase");
    assert_eq!(c1.events[0].timestamp, 1_767_225_600.25);
    assert_eq!(
        c1.events[0].properties,
        json!({"purchase_id": "1001", "total_price": 12.5, "purchase_status": "success"})
            .as_object()
            .unwrap()
            .clone()
    );
    assert_eq!(c1.events[0].received_at, start_time());
    // An ISO time with an offset.
    assert_eq!(c1.events[1].timestamp, 1_767_477_600.0);
    assert_eq!(c1.events[1].properties["total_price"], json!(7));
    let c2 = truth.profile_by_id("email_id", "b@example.com").unwrap();
    assert_eq!(c2.internal_id, c2_internal);
    assert_eq!(c2.events.len(), 1);
    assert_eq!(c2.events[0].timestamp, 1_767_348_000.0);
    assert!(
        truth.profile_by_id("customer_id", "c3").is_none(),
        "a failed row creates no profile"
    );
    let stats = &truth.stats;
    assert_eq!(stats.import_rows_imported, 3);
    assert_eq!(stats.import_rows_failed, 2);

    // Re-running the same file: every row is reported, no event is stored twice.
    h.clock.advance(std::time::Duration::from_secs(3600));
    let rerun = h
        .run_to_end(&id, Some(json!({"test_connection": false})))
        .await;
    assert_eq!(rerun["status"], json!("finished"));
    assert_eq!(rerun["rows_total"], json!(5));
    assert_eq!(rerun["rows_imported"], json!(3));
    assert_eq!(rerun["rows_failed"], json!(2));
    let after = h.twin.truth();
    assert_eq!(
        after
            .profile_by_id("customer_id", "c1")
            .unwrap()
            .events
            .len(),
        2
    );
    assert_eq!(
        after
            .profile_by_id("email_id", "b@example.com")
            .unwrap()
            .events
            .len(),
        1
    );
    assert_eq!(after.stats.duplicate_events_dropped, 3);

    let import = after.import_by_id(&id).unwrap();
    assert_eq!(import.name, "purchases");
    assert_eq!(import.destination, "event:purchase");
    assert_eq!(import.runs.len(), 2);
    assert!(import
        .runs
        .iter()
        .all(|r| r.status == ImportRunStatus::Finished && r.rows_imported == 3));
    assert_eq!(
        import.runs[1].started_at,
        start_time() + chrono::Duration::hours(1)
    );
}

#[tokio::test]
async fn the_definition_is_echoed_without_its_password_and_listed() {
    let h = Harness::default().await;
    let url = h.shop.put("p.csv", PURCHASES);
    let id = h
        .create_ok(purchase_definition("purchases", &url, SHOP_PASSWORD))
        .await;
    let (status, body) = h
        .call(Method::GET, &h.imports_path(&format!("/{id}")), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["import_id"], json!(id));
    assert_eq!(body["source"]["import_url"], json!(url));
    assert_eq!(body["source"]["auth"], json!({"username": SHOP_USER}));
    assert!(!body.to_string().contains(SHOP_PASSWORD));
    assert_eq!(body["timestamp_column"], json!("purchase_time"));
    assert_eq!(
        body["destination"],
        json!({"event_destination": {"event_type": "purchase", "event_triggers": false}})
    );
    assert_eq!(body["last_run"], Value::Null);

    let (status, body) = h
        .call(
            Method::GET,
            &h.imports_path("/000000000000000000000000"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = h.start_run("000000000000000000000000", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn wrong_basic_auth_fails_the_run_with_a_reason() {
    let h = Harness::default().await;
    let url = h.shop.put("purchases.csv", PURCHASES);
    let id = h
        .create_ok(purchase_definition("wrong password", &url, "nope"))
        .await;

    // Without the connection test the run starts and fails in the background.
    let run = h
        .run_to_end(&id, Some(json!({"test_connection": false})))
        .await;
    assert_eq!(run["status"], json!("failed"), "{run}");
    assert_eq!(run["rows_total"], json!(0));
    assert_eq!(run["rows_imported"], json!(0));
    let reason = run["errors"][0].as_str().unwrap();
    assert!(reason.contains("HTTP 401"), "{reason}");
    assert!(run["finished_at"].is_f64());

    // With the connection test (the default) the start itself is refused and no run recorded.
    let (status, body) = h.start_run(&id, Some(json!({"path": url}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("Connection test failed:"),
        "{body}"
    );
    let truth = h.twin.truth();
    let runs = &truth.import_by_id(&id).unwrap().runs;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, ImportRunStatus::Failed);
    assert!(truth.profiles.is_empty());
    assert_eq!(h.shop.downloads(), 0);

    // The twin never downloads from outside the machine.
    let run = h
        .run_to_end(
            &id,
            Some(json!({"path": "https://shop.example.com/feed.csv", "test_connection": false})),
        )
        .await;
    assert_eq!(run["status"], json!("failed"));
    assert!(
        run["errors"][0].as_str().unwrap().contains("loopback"),
        "{run}"
    );
}

#[tokio::test]
async fn path_override_and_the_v2_and_run_aliases_start_runs() {
    let h = Harness::default().await;
    let empty = h.shop.put(
        "empty.csv",
        "customer_id,email_id,order_id,total,purchase_time,status\n",
    );
    let full = h.shop.put("full.csv", PURCHASES);
    let id = h
        .create_ok(purchase_definition("purchases", &empty, SHOP_PASSWORD))
        .await;

    let run = h.run_to_end(&id, None).await;
    assert_eq!(run["status"], json!("finished"));
    assert_eq!(run["rows_total"], json!(0));

    // SFCC's /data/v2 alias with a per-run path.
    let (status, body) = h
        .call(
            Method::POST,
            &format!(
                "data/v2/projects/{}/imports/{id}/start",
                h.config.project_token
            ),
            Some(json!({"path": full})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Awaiting through the status endpoint alone (no helper, no sleep): the run is on a task.
    let run = loop {
        let run = h.last_run(&id).await;
        if run["status"] != json!("running") {
            break run;
        }
        tokio::task::yield_now().await;
    };
    assert_eq!(run["status"], json!("finished"));
    assert_eq!(run["rows_imported"], json!(3));
    let truth = h.twin.truth();
    let runs = &truth.import_by_id(&id).unwrap().runs;
    assert_eq!(runs[1].source_url, full);

    // Magento's /imports/v1/{token}/{id}/run with path_to_overwrite.
    let (status, body) = h
        .call(
            Method::POST,
            &h.imports_path(&format!("/{id}/run")),
            Some(json!({"path_to_overwrite": empty, "test_connection": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    h.twin.wait_for_import_runs().await;
    assert_eq!(h.twin.truth().import_by_id(&id).unwrap().runs.len(), 3);

    let (status, body) = h.start_run(&id, Some(json!({"path": "feed.csv"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["errors"]["path"].is_array(), "{body}");
    let (status, _) = h
        .start_run(&id, Some(json!({"test_connection": "yes"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn at_most_25_active_definitions_and_list_paging() {
    let h = Harness::default().await;
    let url = h.shop.put("p.csv", PURCHASES);
    let mut ids = Vec::new();
    for n in 0..25 {
        ids.push(
            h.create_ok(purchase_definition(
                &format!("import {n}"),
                &url,
                SHOP_PASSWORD,
            ))
            .await,
        );
    }
    let (status, body) = h
        .create(purchase_definition("import 26", &url, SHOP_PASSWORD))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["success"], json!(false));
    let message = body["errors"][0].as_str().unwrap();
    assert!(message.contains("25 active imports"), "{message}");

    // Inactive definitions do not count, and cannot run.
    let mut inactive = purchase_definition("inactive", &url, SHOP_PASSWORD);
    inactive["active"] = json!(false);
    let inactive_id = h.create_ok(inactive).await;
    let (status, body) = h.start_run(&inactive_id, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errors"][0], json!("The import is not active."));

    // Deleting one frees a slot.
    let (status, _) = h
        .call(
            Method::DELETE,
            &h.imports_path(&format!("/{}", ids[0])),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h
        .call(
            Method::DELETE,
            &h.imports_path(&format!("/{}", ids[0])),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    h.create_ok(purchase_definition("import 26", &url, SHOP_PASSWORD))
        .await;

    let (status, page) = h.call(Method::GET, &h.imports_path(""), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["data"].as_array().unwrap().len(), 10, "default limit");
    assert_eq!(page["total"], json!(26));
    assert_eq!(page["data"][0]["name"], json!("import 1"));
    let (_, page) = h
        .call(Method::GET, &h.imports_path("?limit=50&offset=20"), None)
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 6);
    for bad in ["?limit=0", "?limit=51", "?limit=ten", "?offset=-1"] {
        let (status, body) = h.call(Method::GET, &h.imports_path(bad), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    assert_eq!(h.twin.truth().imports.len(), 26);
}

#[tokio::test]
async fn definitions_are_validated_field_by_field_and_need_private_access() {
    let h = Harness::start(BloomreachTwinConfig {
        public_token: Some("public-token".to_owned()),
        ..BloomreachTwinConfig::default()
    })
    .await;
    let (status, body) = h
        .create(json!({
            "name": "",
            "active": "yes",
            "trigger": {"trigger_type": "scheduled"},
            "source": {"source_type": "url", "import_url": "not a url"},
            "mapping": {"tz_info": "Mars/Olympus", "column_mapping": {
                "id_mappings": [{"from_column": "x", "to_id": "registered"}],
                "property_mappings": [{"from_column": "a", "to_column": "a", "target_type": "money"}],
            }},
            "destination": {"event_destination": {"event_type": "purchase"}},
        }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let errors = body["errors"].as_object().unwrap();
    for field in [
        "name",
        "active",
        "trigger.trigger_type",
        "source.import_url",
        "mapping.tz_info",
        "mapping.column_mapping.id_mappings[0].to_id",
        "mapping.column_mapping.property_mappings[0].target_type",
        "destination.event_destination.event_triggers",
    ] {
        assert!(errors.contains_key(field), "{field} missing in {body}");
    }

    let (status, body) = h.create(json!({"name": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for field in ["active", "trigger", "source", "mapping", "destination"] {
        assert!(body["errors"][field].is_array(), "{field} in {body}");
    }
    let (status, _) = h.call(Method::POST, &h.imports_path(""), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no body is invalid JSON");

    let url = h.twin.base_url().join(&h.imports_path("")).unwrap();
    let response = h
        .http
        .get(url.clone())
        .header("Authorization", "Token public-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = h.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = h.call(Method::GET, "imports/v1/wrong-token", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], json!("Could not authenticate"));
    assert!(h.twin.truth().imports.is_empty());
}

#[tokio::test]
async fn customer_import_applies_typed_properties_last_row_wins() {
    let h = Harness::default().await;
    let url = h.shop.put(
        "customers.csv",
        "id,email,first_name,age,vip,tags,updated\n\
         c1,a@example.com,Ann,30,TRUE,\"[\"\"x\"\",\"\"y\"\"]\",1767225600\n\
         c2,b@example.com,Bo,41,false,,1767225600\n\
         c1,a@example.com,Anna,,,,1767225700\n\
         c4,d@example.com,Di,old,true,,1767225600\n",
    );
    let id = h
        .create_ok(json!({
            "name": "customers",
            "active": true,
            "trigger": {"trigger_type": "now"},
            "source": {"source_type": "url", "import_url": url, "auth": {"username": SHOP_USER, "password": SHOP_PASSWORD}},
            "mapping": {"tz_info": "UTC", "column_mapping": {
                "id_mappings": [{"from_column": "id", "to_id": "customer_id"}, {"from_column": "email", "to_id": "email_id"}],
                "property_mappings": [
                    {"from_column": "email", "to_column": "email", "target_type": "string"},
                    {"from_column": "first_name", "to_column": "first_name", "target_type": "string"},
                    {"from_column": "age", "to_column": "age", "target_type": "number"},
                    {"from_column": "vip", "to_column": "vip", "target_type": "boolean"},
                    {"from_column": "tags", "to_column": "tags", "target_type": "list"},
                ],
            }},
            "timestamp_column": "updated",
            "destination": {"customer_destination": {}},
        }))
        .await;
    let run = h.run_to_end(&id, None).await;
    assert_eq!(run["status"], json!("finished"));
    assert_eq!(run["rows_imported"], json!(3));
    assert_eq!(run["rows_failed"], json!(1));
    assert!(run["errors"][0]
        .as_str()
        .unwrap()
        .starts_with("Row 4: column 'age': 'old' is not a number"));

    let truth = h.twin.truth();
    let c1 = truth.profile_by_id("customer_id", "c1").unwrap();
    assert_eq!(c1.ids["email_id"], vec!["a@example.com".to_owned()]);
    assert_eq!(
        serde_json::to_value(&c1.properties).unwrap(),
        json!({"email": "a@example.com", "first_name": "Anna", "age": 30, "vip": true, "tags": ["x", "y"]})
    );
    assert!(c1.events.is_empty());
    let c2 = truth.profile_by_id("customer_id", "c2").unwrap();
    assert_eq!(c2.properties["vip"], json!(false));
    assert!(
        !c2.properties.contains_key("tags"),
        "empty cells are left out"
    );
    assert!(truth.profile_by_id("customer_id", "c4").is_none());
    assert_eq!(truth.import_by_id(&id).unwrap().destination, "customer");
}

#[tokio::test]
async fn catalog_import_writes_only_declared_fields() {
    let h = Harness::default().await;
    let (status, body) = h
        .call(
            Method::POST,
            &format!("data/v2/projects/{}/catalogs", h.config.project_token),
            Some(json!({"name": "products", "fields": [
                {"name": "title", "type": "string"},
                {"name": "price", "type": "number"},
            ]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = h.shop.put(
        "products.csv",
        "item_id,title,price,color\n\
         p1,Mug,9.5,\n\
         p2,Cap,12,red\n\
         a/b,Slash,1,\n\
         ,Nameless,1,\n",
    );
    let definition = |catalog: &str| {
        json!({
            "name": "products",
            "active": true,
            "trigger": {"trigger_type": "now"},
            "source": {"source_type": "url", "import_url": url, "auth": {"username": SHOP_USER, "password": SHOP_PASSWORD}},
            "mapping": {"tz_info": "UTC", "column_mapping": {
                "id_mappings": [],
                "property_mappings": [
                    {"from_column": "item_id", "to_column": "item_id", "target_type": "string"},
                    {"from_column": "title", "to_column": "title", "target_type": "string"},
                    {"from_column": "price", "to_column": "price", "target_type": "number"},
                    {"from_column": "color", "to_column": "color", "target_type": "string"},
                ],
            }},
            "timestamp_column": null,
            "destination": {"catalog_destination": {"catalog_name": catalog, "catalog_attributes": {"catalog_type": "product"}}},
        })
    };
    let id = h.create_ok(definition("products")).await;
    let run = h.run_to_end(&id, None).await;
    assert_eq!(run["status"], json!("finished"), "{run}");
    assert_eq!(run["rows_total"], json!(4));
    assert_eq!(run["rows_imported"], json!(1));
    assert_eq!(run["rows_failed"], json!(3));
    let errors: Vec<&str> = run["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        errors[0].starts_with("Row 2:") && errors[0].contains("[color]"),
        "{errors:?}"
    );
    assert!(
        errors[1].starts_with("Row 3:") && errors[1].contains('/'),
        "{errors:?}"
    );
    assert!(errors[2].starts_with("Row 4: item_id"), "{errors:?}");

    let truth = h.twin.truth();
    let catalog = truth.catalog_by_name("products").unwrap();
    assert_eq!(catalog.items.len(), 1);
    assert_eq!(
        serde_json::to_value(&catalog.items["p1"]).unwrap(),
        json!({"title": "Mug", "price": 9.5})
    );
    assert_eq!(
        truth.import_by_id(&id).unwrap().destination,
        "catalog:products"
    );

    // A catalog that does not exist fails the run.
    let missing = h.create_ok(definition("nowhere")).await;
    let run = h.run_to_end(&missing, None).await;
    assert_eq!(run["status"], json!("failed"));
    assert_eq!(run["errors"][0], json!("Catalog 'nowhere' does not exist."));

    // Catalog definitions need an item_id mapping and take no id mappings.
    let mut bad = definition("products");
    bad["mapping"]["column_mapping"]["id_mappings"] =
        json!([{"from_column": "item_id", "to_id": "customer_id"}]);
    bad["mapping"]["column_mapping"]["property_mappings"] =
        json!([{"from_column": "title", "to_column": "title", "target_type": "string"}]);
    let (status, body) = h.create(bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["errors"]["mapping.column_mapping.id_mappings"].is_array(),
        "{body}"
    );
    assert!(
        body["errors"]["mapping.column_mapping.property_mappings"].is_array(),
        "{body}"
    );
}

#[tokio::test]
async fn file_level_problems_fail_the_run_and_apply_nothing() {
    let h = Harness::start(BloomreachTwinConfig {
        import_row_limit: 3,
        ..BloomreachTwinConfig::default()
    })
    .await;
    let url = h.shop.put("big.csv", PURCHASES);
    let id = h
        .create_ok(purchase_definition("too big", &url, SHOP_PASSWORD))
        .await;
    let run = h.run_to_end(&id, None).await;
    assert_eq!(run["status"], json!("failed"));
    assert_eq!(run["rows_total"], json!(5));
    assert_eq!(run["rows_imported"], json!(0));
    assert!(
        run["errors"][0]
            .as_str()
            .unwrap()
            .contains("at most 3 rows"),
        "{run}"
    );
    assert!(h.twin.truth().profiles.is_empty());

    let missing_column = h.shop.put("short.csv", "customer_id,total\nc1,1\n");
    let run = h
        .run_to_end(&id, Some(json!({"path": missing_column})))
        .await;
    assert_eq!(run["status"], json!("failed"));
    assert_eq!(
        run["errors"][0],
        json!("Column 'email_id' is missing from the file's header.")
    );

    let empty = h.shop.put("empty.csv", "");
    let run = h.run_to_end(&id, Some(json!({"path": empty}))).await;
    assert_eq!(run["status"], json!("failed"));
    assert!(run["errors"][0].as_str().unwrap().contains("empty"));
    assert!(h.twin.truth().profiles.is_empty());
}
