//! The production Bloomreach client against the Bloomreach twin (integration).
//!
//! Everything runs on 127.0.0.1 with a `ManualClock` shared by the twin and the client: no test
//! touches the internet or sleeps to wait for timing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bigreach_bloomreach::{
    BatchCommand, BloomreachClient, BloomreachError, CatalogField, CatalogItemUpdate, ClientConfig,
    CommandOutcome, ErrorClass, MAX_BATCH_COMMANDS,
};
use bigreach_clock::ManualClock;
use bigreach_twins::bloomreach::{BloomreachTruth, BloomreachTwin, BloomreachTwinConfig};
use chrono::{DateTime, TimeZone, Utc};
use secrecy::SecretString;
use serde_json::{json, Map, Value};

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("valid start time")
}

struct Harness {
    clock: Arc<ManualClock>,
    twin: BloomreachTwin,
    config: BloomreachTwinConfig,
    client: BloomreachClient,
}

impl Harness {
    async fn start(config: BloomreachTwinConfig) -> Self {
        let clock = ManualClock::new(start_time());
        let twin = BloomreachTwin::start(config.clone(), clock.clone())
            .await
            .expect("twin starts");
        let client = client_with(&twin, &clock, &config.project_token, &config.secret, 90);
        Self {
            clock,
            twin,
            config,
            client,
        }
    }

    async fn default() -> Self {
        Self::start(BloomreachTwinConfig::default()).await
    }

    fn client(&self, project_token: &str, secret: &str, rps: u32) -> BloomreachClient {
        client_with(&self.twin, &self.clock, project_token, secret, rps)
    }

    fn truth(&self) -> BloomreachTruth {
        self.twin.truth()
    }

    async fn stop(self) {
        self.twin.shutdown().await;
    }
}

fn client_with(
    twin: &BloomreachTwin,
    clock: &Arc<ManualClock>,
    project_token: &str,
    secret: &str,
    requests_per_second: u32,
) -> BloomreachClient {
    let mut config = ClientConfig::new(
        twin.base_url(),
        project_token,
        BloomreachTwinConfig::default().key_id,
        SecretString::from(secret.to_owned()),
    );
    config.requests_per_second = requests_per_second;
    BloomreachClient::new(config, clock.clone()).expect("client config is valid")
}

fn ids(customer: &str, email: &str) -> Value {
    json!({"customer_id": customer, "email_id": email})
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("a JSON object")
}

/// One command as the outbox holds it: `data` frozen to bytes (in the product, `core::map`
/// builds the JSON and the outbox stores it at enqueue time).
fn frozen(command_id: impl Into<String>, name: &str, data: Value) -> BatchCommand {
    BatchCommand {
        command_id: command_id.into(),
        name: name.to_owned(),
        data: serde_json::value::to_raw_value(&data).expect("JSON data freezes"),
    }
}

/// A profile update and two events of one customer, frozen as the outbox would.
fn customer_batch(customer: &str, email: &str) -> Vec<BatchCommand> {
    vec![
        frozen(
            format!("{customer}-profile"),
            "customers",
            json!({
                "customer_ids": ids(customer, email),
                "properties": {"first_name": "Jane", "last_name": "Doe", "email": email},
                "update_timestamp": 1_772_366_400.0,
            }),
        ),
        frozen(
            format!("{customer}-view"),
            "customers/events",
            json!({
                "customer_ids": ids(customer, email),
                "event_type": "view_item",
                "timestamp": 1_772_366_000.25,
                "properties": {"product_id": 112, "price": 19.99},
            }),
        ),
        frozen(
            format!("{customer}-purchase"),
            "customers/events",
            json!({
                "customer_ids": ids(customer, email),
                "event_type": "purchase",
                "timestamp": 1_772_366_100.5,
                "properties": {"purchase_id": 101, "total_price": 42.5, "status": "success"},
            }),
        ),
    ]
}

fn assert_all_accepted(commands: &[BatchCommand], results: &[bigreach_bloomreach::CommandResult]) {
    assert_eq!(results.len(), commands.len(), "one result per command");
    for (command, result) in commands.iter().zip(results) {
        assert_eq!(
            result.command_id, command.command_id,
            "results in command order"
        );
        assert_eq!(
            result.outcome,
            CommandOutcome::Accepted,
            "command {}",
            command.command_id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_time_and_credential_errors() {
    let h = Harness::default().await;
    let time = h.client.system_time().await.expect("system time");
    assert_eq!(
        time,
        start_time().timestamp() as f64,
        "the twin's clock time"
    );
    h.clock.advance(Duration::from_millis(1_500));
    let later = h.client.system_time().await.expect("system time");
    assert!((later - time - 1.5).abs() < 1e-6, "{later} vs {time}");

    let wrong_secret = h.client(&h.config.project_token, "not-the-secret", 90);
    let error = wrong_secret
        .system_time()
        .await
        .expect_err("a wrong secret must fail");
    assert_eq!(error.class(), ErrorClass::Auth, "{error:?}");
    assert!(
        matches!(error, BloomreachError::Auth { status: 401, .. }),
        "{error:?}"
    );
    assert!(error.request_id().is_some(), "the twin sends x-request-id");

    // A wrong project token: the twin answers 400 "Could not authenticate".
    let wrong_token = h.client("0000-not-the-project", &h.config.secret, 90);
    let error = wrong_token
        .system_time()
        .await
        .expect_err("a wrong project token must fail");
    assert_eq!(error.class(), ErrorClass::Auth, "{error:?}");
    assert!(
        matches!(error, BloomreachError::Auth { status: 400, .. }),
        "{error:?}"
    );
    // The Data API classifies the same way.
    let error = wrong_token
        .list_catalogs()
        .await
        .expect_err("a wrong project token must fail");
    assert_eq!(error.class(), ErrorClass::Auth, "{error:?}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_stores_one_profile_with_both_events() {
    let h = Harness::default().await;
    let commands = customer_batch("bc-17", "jane@example.com");
    let response = h.client.batch(&commands).await.expect("batch");
    assert_all_accepted(&commands, &response.results);
    assert!(response.request_id.is_some());

    let truth = h.truth();
    assert_eq!(
        truth.profiles.len(),
        1,
        "one profile: {:#?}",
        truth.profiles
    );
    let profile = truth
        .profile_by_id("customer_id", "bc-17")
        .expect("profile by customer_id");
    assert_eq!(
        profile.ids.get("email_id"),
        Some(&vec!["jane@example.com".to_owned()])
    );
    assert_eq!(profile.properties.get("first_name"), Some(&json!("Jane")));
    assert_eq!(profile.events.len(), 2, "{:#?}", profile.events);
    let mut events: Vec<(&str, f64)> = profile
        .events
        .iter()
        .map(|event| (event.event_type.as_str(), event.timestamp))
        .collect();
    events.sort_by(|a, b| a.0.cmp(b.0));
    assert_eq!(
        events,
        vec![
            ("purchase", 1_772_366_100.5),
            ("view_item", 1_772_366_000.25)
        ]
    );
    let purchase = profile
        .events
        .iter()
        .find(|event| event.event_type == "purchase")
        .expect("purchase");
    assert_eq!(
        Value::Object(purchase.properties.clone()),
        json!({"purchase_id": 101, "total_price": 42.5, "status": "success"}),
        "properties arrive exactly as frozen"
    );
    assert_eq!(truth.stats.commands_accepted, 3);
    assert_eq!(truth.stats.commands_rejected, 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_command_is_rejected_alone_as_permanent() {
    let h = Harness::default().await;
    let mut commands = customer_batch("bc-18", "joe@example.com");
    let invalid = json!({
        "customer_ids": {},
        "event_type": "purchase",
        "timestamp": 1_772_366_200.0,
        "properties": {},
    });
    commands.insert(1, frozen("no-ids", "customers/events", invalid));
    let response = h.client.batch(&commands).await.expect("batch");
    assert_eq!(response.results.len(), commands.len());
    for (command, result) in commands.iter().zip(&response.results) {
        assert_eq!(result.command_id, command.command_id);
        if command.command_id == "no-ids" {
            match &result.outcome {
                CommandOutcome::Rejected { errors, class } => {
                    assert_eq!(*class, ErrorClass::Permanent);
                    assert!(
                        errors.iter().any(|error| error.contains("At least one id")),
                        "{errors:?}"
                    );
                }
                CommandOutcome::Accepted => panic!("the command without ids was accepted"),
            }
        } else {
            assert_eq!(
                result.outcome,
                CommandOutcome::Accepted,
                "command {}",
                command.command_id
            );
        }
    }
    let truth = h.truth();
    assert_eq!(truth.stats.commands_accepted, 3);
    assert_eq!(truth.stats.commands_rejected, 1);
    let profile = truth
        .profile_by_id("customer_id", "bc-18")
        .expect("the valid commands were applied");
    assert_eq!(profile.events.len(), 2);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resending_a_frozen_batch_is_deduplicated() {
    let h = Harness::default().await;
    let commands = customer_batch("bc-19", "ann@example.com");
    let events = commands
        .iter()
        .filter(|command| command.name == "customers/events")
        .count();
    let first = h.client.batch(&commands).await.expect("first send");
    assert_all_accepted(&commands, &first.results);
    // A retry later (as the outbox would do after a lost answer): same frozen bytes.
    h.clock.advance(Duration::from_secs(90));
    let second = h.client.batch(&commands).await.expect("second send");
    assert_all_accepted(&commands, &second.results);

    let truth = h.truth();
    assert_eq!(truth.stats.duplicate_events_dropped, events as u64);
    assert_eq!(truth.profiles.len(), 1);
    let profile = truth
        .profile_by_id("customer_id", "bc-19")
        .expect("profile");
    assert_eq!(profile.events.len(), events, "one copy of each event");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_batch_is_not_applied() {
    let config = BloomreachTwinConfig {
        requests_per_minute: 5,
        ..BloomreachTwinConfig::default()
    };
    let h = Harness::start(config).await;
    let client = h.client(&h.config.project_token, &h.config.secret, 1_000);
    for n in 0..5 {
        client
            .system_time()
            .await
            .unwrap_or_else(|error| panic!("request {n} within the limit: {error}"));
    }
    let commands = customer_batch("bc-20", "max@example.com");
    let error = client
        .batch(&commands)
        .await
        .expect_err("the 6th request in a minute is rate limited");
    assert!(
        matches!(error, BloomreachError::RateLimited { .. }),
        "{error:?}"
    );
    assert_eq!(error.class(), ErrorClass::RateLimited);
    assert_eq!(client.stats().rate_limited, 1);
    let truth = h.truth();
    assert_eq!(truth.stats.rate_limited_429, 1);
    assert!(
        truth.profiles.is_empty(),
        "nothing of a 429 batch is stored: {:#?}",
        truth.profiles
    );
    assert_eq!(truth.stats.commands_accepted, 0);

    // Once the minute has passed, the same frozen batch goes through.
    h.clock.advance(Duration::from_secs(61));
    let response = client.batch(&commands).await.expect("after the window");
    assert_all_accepted(&commands, &response.results);
    let truth = h.truth();
    let profile = truth
        .profile_by_id("customer_id", "bc-20")
        .expect("profile");
    assert_eq!(profile.events.len(), 2);
    h.stop().await;
}

fn catalog_fields() -> Vec<CatalogField> {
    vec![
        CatalogField {
            name: "title".to_owned(),
            field_type: "string".to_owned(),
            searchable: true,
        },
        CatalogField {
            name: "price".to_owned(),
            field_type: "number".to_owned(),
            searchable: false,
        },
        CatalogField {
            name: "active".to_owned(),
            field_type: "boolean".to_owned(),
            searchable: false,
        },
    ]
}

fn item(id: &str, properties: Value) -> CatalogItemUpdate {
    CatalogItemUpdate {
        item_id: id.to_owned(),
        properties: object(properties),
        upsert: true,
    }
}

/// `string_booleans_one_in`: 1 = the twin always spells per-item booleans "True"/"False";
/// 0 = always JSON booleans.
async fn catalog_round_trip(string_booleans_one_in: u32) {
    let h = Harness::start(BloomreachTwinConfig {
        catalog_string_booleans_one_in: string_booleans_one_in,
        ..BloomreachTwinConfig::default()
    })
    .await;
    let id = h
        .client
        .create_catalog("bigreach_variants", &catalog_fields(), true)
        .await
        .expect("create catalog");
    assert!(!id.is_empty());
    let catalogs = h.client.list_catalogs().await.expect("list catalogs");
    assert!(
        catalogs
            .iter()
            .any(|catalog| catalog.id == id && catalog.name == "bigreach_variants"),
        "{catalogs:?}"
    );

    let items = vec![
        item(
            "501",
            json!({"title": "Tee S", "price": 19.99, "active": true}),
        ),
        item(
            "502",
            json!({"title": "Tee M", "price": 21, "active": false}),
        ),
    ];
    let results = h
        .client
        .catalog_bulk_partial_update(&id, &items)
        .await
        .expect("bulk upsert");
    assert_eq!(results.len(), 2);
    for (sent, result) in items.iter().zip(&results) {
        assert_eq!(result.item_id, sent.item_id);
        assert!(result.success, "{result:?}");
        assert!(result.queued, "{result:?}");
        assert!(result.errors.is_empty(), "{result:?}");
    }

    // An undeclared property fails that item only.
    let items = vec![
        item("503", json!({"title": "Tee L", "price": 22.5})),
        item("504", json!({"title": "Tee XL", "colour": "red"})),
        item("501", json!({"price": 17.5})),
    ];
    let results = h
        .client
        .catalog_bulk_partial_update(&id, &items)
        .await
        .expect("bulk upsert");
    assert_eq!(results.len(), 3);
    assert!(results[0].success, "{:?}", results[0]);
    assert!(!results[1].success, "{:?}", results[1]);
    assert!(!results[1].queued, "{:?}", results[1]);
    assert_eq!(results[1].item_id, "504");
    assert!(
        results[1]
            .errors
            .iter()
            .any(|error| error.contains("colour")),
        "{:?}",
        results[1]
    );
    assert!(results[2].success, "{:?}", results[2]);

    let stored = h.client.catalog_items(&id, 0, 100).await.expect("items");
    let stored: BTreeMap<String, Map<String, Value>> = stored.into_iter().collect();
    assert_eq!(
        stored.keys().map(String::as_str).collect::<Vec<_>>(),
        vec!["501", "502", "503"]
    );
    assert_eq!(
        Value::Object(stored["501"].clone()),
        json!({"title": "Tee S", "price": 17.5, "active": true}),
        "a partial update changes only the listed properties"
    );
    assert_eq!(
        Value::Object(stored["502"].clone()),
        json!({"title": "Tee M", "price": 21, "active": false})
    );
    // Paging.
    let second = h.client.catalog_items(&id, 1, 1).await.expect("items");
    assert_eq!(
        second.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        vec!["502"]
    );

    let truth = h.truth();
    let catalog = truth
        .catalog_by_name("bigreach_variants")
        .expect("catalog in truth");
    assert_eq!(catalog.id, id);
    assert_eq!(
        catalog.fields,
        vec![
            ("title".to_owned(), "string".to_owned()),
            ("price".to_owned(), "number".to_owned()),
            ("active".to_owned(), "boolean".to_owned()),
        ]
    );
    assert_eq!(truth.stats.catalog_items_accepted, 4);
    assert_eq!(truth.stats.catalog_items_rejected, 1);

    // Item ids with '/' never leave the client.
    let before = h.truth().stats.requests;
    let error = h
        .client
        .catalog_bulk_partial_update(&id, &[item("a/b", json!({"title": "x"}))])
        .await
        .expect_err("slash in item id");
    assert!(
        matches!(error, BloomreachError::InvalidItemId { .. }),
        "{error:?}"
    );
    assert_eq!(h.truth().stats.requests, before);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogs_with_string_booleans() {
    catalog_round_trip(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogs_with_json_booleans() {
    catalog_round_trip(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_commands_are_refused_before_sending() {
    let h = Harness::default().await;
    h.client.system_time().await.expect("system time");
    let before = h.truth().stats.requests;
    assert_eq!(before, 1);
    let event = json!({
        "customer_ids": ids("bc-21", "kim@example.com"),
        "event_type": "view_item",
        "timestamp": 1_772_366_000.0,
        "properties": {},
    });
    let commands: Vec<BatchCommand> = (0..=MAX_BATCH_COMMANDS)
        .map(|n| frozen(format!("c{n}"), "customers/events", event.clone()))
        .collect();
    assert_eq!(commands.len(), 51);
    let error = h
        .client
        .batch(&commands)
        .await
        .expect_err("51 commands are too many");
    assert!(
        matches!(error, BloomreachError::TooManyCommands { count: 51 }),
        "{error:?}"
    );
    assert_eq!(error.class(), ErrorClass::Permanent);
    let truth = h.truth();
    assert_eq!(truth.stats.requests, before, "nothing was sent");
    assert!(truth.profiles.is_empty());
    assert_eq!(h.client.stats().requests, 1);

    // Exactly 50 is fine.
    let response = h
        .client
        .batch(&commands[..MAX_BATCH_COMMANDS])
        .await
        .expect("50 commands");
    assert_eq!(response.results.len(), MAX_BATCH_COMMANDS);
    assert!(response
        .results
        .iter()
        .all(|result| result.outcome == CommandOutcome::Accepted));
    h.stop().await;
}

/// A one-file server on 127.0.0.1 (OS-picked port) that answers `GET /f.csv` with `csv` when
/// the request carries Basic `user:pass`, else 401.
async fn csv_server(csv: &'static str) -> (String, tokio::task::JoinHandle<()>) {
    use http_body_util::Full;
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/f.csv", listener.local_addr().expect("address"));
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = service_fn(
                    |request: hyper::Request<hyper::body::Incoming>| async move {
                        // base64("user:pass")
                        let authorized = request
                            .headers()
                            .get("authorization")
                            .is_some_and(|v| v == "Basic dXNlcjpwYXNz");
                        let mut response = hyper::Response::new(Full::new(
                            bytes::Bytes::from_static(csv.as_bytes()),
                        ));
                        if !authorized {
                            *response.status_mut() = hyper::StatusCode::UNAUTHORIZED;
                            *response.body_mut() = Full::new(bytes::Bytes::new());
                        }
                        Ok::<_, std::convert::Infallible>(response)
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, task)
}

fn customer_import(url: &str, password: &str) -> bigreach_bloomreach::ImportDefinition {
    serde_json::from_value(json!({
        "name": "customers",
        "active": true,
        "trigger": {"trigger_type": "now"},
        "source": {"source_type": "url", "import_url": url, "use_socks_proxy": false,
                   "auth": {"username": "user", "password": password}},
        "mapping": {"tz_info": "UTC", "column_mapping": {
            "id_mappings": [{"from_column": "customer_id", "to_id": "customer_id"}],
            "property_mappings": [{"from_column": "first_name", "to_column": "first_name",
                                   "target_type": "string"}]}},
        "timestamp_column": null,
        "destination": {"customer_destination": {}}
    }))
    .expect("a typed definition")
}

/// Reads the definition until its last run is no longer running (the twin runs it on a task).
async fn settled(h: &Harness, import_id: &str) -> bigreach_bloomreach::ImportRunStatus {
    for _ in 0..2_000 {
        let state = h.client.import_state(import_id).await.expect("read import");
        if let Some(run) = state.last_run {
            if run.state != bigreach_bloomreach::ImportRunState::Running {
                return run;
            }
        }
        tokio::task::yield_now().await;
    }
    panic!("the import run did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_create_start_read_and_delete_through_the_twin() {
    use bigreach_bloomreach::{ImportRunState, StartImport};
    let h = Harness::default().await;
    let (url, server) = csv_server("customer_id,first_name\n7,Ada\n8,Grace\n").await;
    let start = StartImport {
        path: None,
        test_connection: false,
    };

    let id = h
        .client
        .create_import(&customer_import(&url, "pass"))
        .await
        .expect("created");
    let fresh = h.client.import_state(&id).await.expect("read");
    assert_eq!(
        (fresh.import_id.as_str(), fresh.last_run),
        (id.as_str(), None)
    );
    h.client.start_import(&id, &start).await.expect("started");
    let run = settled(&h, &id).await;
    assert_eq!(run.state, ImportRunState::Finished, "{run:?}");
    assert_eq!(
        (run.rows_total, run.rows_imported, run.rows_failed),
        (2, 2, 0)
    );
    let truth = h.truth();
    let ada = truth.profile_by_id("customer_id", "7").expect("imported");
    assert_eq!(ada.properties["first_name"], "Ada");

    // A wrong password: the run fails with Bloomreach's reason.
    let wrong = h
        .client
        .create_import(&customer_import(&url, "not-pass"))
        .await
        .expect("created");
    h.client
        .start_import(&wrong, &start)
        .await
        .expect("started");
    let run = settled(&h, &wrong).await;
    assert_eq!(run.state, ImportRunState::Failed);
    assert!(run.errors.iter().any(|e| e.contains("401")), "{run:?}");
    // With the connection test, the same refusal is the start's answer (no run recorded).
    let tested = h
        .client
        .start_import(
            &wrong,
            &StartImport {
                path: None,
                test_connection: true,
            },
        )
        .await
        .expect_err("the connection test fails");
    assert_eq!(tested.class(), ErrorClass::Permanent, "{tested:?}");

    let (listed, total) = h.client.list_imports(0, 50).await.expect("listed");
    assert_eq!(total, 2);
    assert_eq!(listed[0].import_url.as_deref(), Some(url.as_str()));
    h.client.delete_import(&id).await.expect("deleted");
    let gone = h.client.import_state(&id).await.expect_err("deleted");
    assert!(
        matches!(gone, BloomreachError::Rejected { status: 404, .. }),
        "{gone:?}"
    );
    server.abort();
    h.stop().await;
}
