#![recursion_limit = "256"]
//! Client behaviour against a scripted local server, on a manual clock.

// The loopback HTTP stub is shared with the BigCommerce client's tests.
#[path = "../../bigcommerce/tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bigreach_bloomreach::{
    BatchCommand, BloomreachClient, BloomreachError, CatalogField, CatalogItemUpdate, ClientConfig,
    CommandOutcome, ErrorClass,
};
use bigreach_clock::ManualClock;
use secrecy::SecretString;
use serde_json::{json, Map};
use support::{drive, start_time, Canned, MockServer};

const SECRET: &str = "very-secret-value";
const PROJECT: &str = "1a2b3c4d-0000-1111-2222-333344445555";

async fn setup(rps: u32) -> (Arc<ManualClock>, MockServer, BloomreachClient) {
    let clock = ManualClock::new(start_time());
    let server = MockServer::start(clock.clone()).await;
    let mut config = ClientConfig::new(
        server.base.clone(),
        PROJECT,
        "key-id-1",
        SecretString::from(SECRET),
    );
    config.requests_per_second = rps;
    let client = BloomreachClient::new(config, clock.clone()).unwrap();
    (clock, server, client)
}

fn event(id: &str, at: f64) -> BatchCommand {
    let data = json!({
        "customer_ids": {"registered": format!("{id}@example.com")},
        "event_type": "purchase",
        "timestamp": at,
        "properties": {"total_price": 126.0, "purchase_id": id},
    });
    BatchCommand {
        command_id: id.to_string(),
        name: "customers/events".to_string(),
        data: serde_json::value::to_raw_value(&data).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_sends_frozen_commands_verbatim_and_matches_results() {
    let (clock, server, client) = setup(90).await;
    server.push(
        Canned::json(
            200,
            json!({"success": true, "results": [
                {"command_id": "o2", "success": false, "errors": ["At least one id should be specified."]},
                {"command_id": "o1", "success": true},
                {"command_id": "o3", "success": false, "errors": ["Internal error, try again"]}
            ]})
            .to_string(),
        )
        .header("x-request-id", "req-42"),
    );
    let commands = vec![
        event("o1", 1_741_011_930.5),
        event("o2", 1_741_011_931.0),
        event("o3", 1.25),
    ];
    let frozen_data: Vec<String> = commands.iter().map(|c| c.data.get().to_string()).collect();
    let response = drive(&clock, Duration::from_millis(10), async move {
        client.batch(&commands).await
    })
    .await
    .unwrap();
    assert_eq!(response.request_id.as_deref(), Some("req-42"));
    let ids: Vec<&str> = response
        .results
        .iter()
        .map(|r| r.command_id.as_str())
        .collect();
    assert_eq!(ids, vec!["o1", "o2", "o3"]);
    assert_eq!(response.results[0].outcome, CommandOutcome::Accepted);
    assert!(matches!(
        response.results[1].outcome,
        CommandOutcome::Rejected {
            class: ErrorClass::Permanent,
            ..
        }
    ));
    assert!(matches!(
        response.results[2].outcome,
        CommandOutcome::Rejected {
            class: ErrorClass::Retryable,
            ..
        }
    ));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, format!("/track/v2/projects/{PROJECT}/batch"));
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("key-id-1:{SECRET}"))
    );
    assert_eq!(request.header("authorization"), Some(expected_auth));
    let body = String::from_utf8(request.body.clone()).unwrap();
    for data in &frozen_data {
        assert!(
            body.contains(data.as_str()),
            "data must be sent verbatim: {data}"
        );
    }
    let sent = request.json();
    assert_eq!(sent["commands"][0]["name"], "customers/events");
    assert_eq!(sent["commands"][0]["command_id"], "o1");
    assert_eq!(sent["commands"][0]["data"]["timestamp"], 1_741_011_930.5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_batches_and_bad_item_ids_are_refused_before_sending() {
    let (clock, server, client) = setup(90).await;
    let commands: Vec<BatchCommand> = (0..51).map(|i| event(&format!("c{i}"), 1.0)).collect();
    let (batch, items) = drive(&clock, Duration::from_millis(10), async move {
        let batch = client.batch(&commands).await;
        let items = client
            .catalog_bulk_partial_update(
                "cat1",
                &[CatalogItemUpdate {
                    item_id: "SKU/1".into(),
                    properties: Map::new(),
                    upsert: true,
                }],
            )
            .await;
        (batch, items)
    })
    .await;
    let batch = batch.unwrap_err();
    assert!(matches!(
        batch,
        BloomreachError::TooManyCommands { count: 51 }
    ));
    assert_eq!(batch.class(), ErrorClass::Permanent);
    assert!(
        matches!(items, Err(BloomreachError::InvalidItemId { ref item_id }) if item_id == "SKU/1")
    );
    assert!(server.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_statuses_are_classified_and_never_retried() {
    let (clock, server, client) = setup(90).await;
    server.push(
        Canned::json(429, r#"{"success": false}"#)
            .header("Retry-After", "7")
            .header("x-request-id", "rl-1"),
    );
    server.push(Canned::json(
        400,
        r#"{"success": false, "error": "Could not authenticate"}"#,
    ));
    server.push(Canned::json(503, "upstream unavailable").header("x-request-id", "s-1"));
    server.push(Canned::json(
        400,
        r#"{"success": false, "message": "Invalid JSON"}"#,
    ));
    server.push(Canned::json(429, "{}"));
    let probe = client.clone();
    let results = drive(&clock, Duration::from_millis(10), async move {
        let mut results = Vec::new();
        for _ in 0..4 {
            results.push(client.batch(&[event("x", 1.0)]).await);
        }
        results.push(client.system_time().await.map(|_| unreachable_response()));
        results
    })
    .await;
    let errors: Vec<BloomreachError> = results.into_iter().map(|r| r.unwrap_err()).collect();
    match &errors[0] {
        BloomreachError::RateLimited {
            retry_after,
            request_id,
        } => {
            assert_eq!(*retry_after, Some(Duration::from_secs(7)));
            assert_eq!(request_id.as_deref(), Some("rl-1"));
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert_eq!(errors[0].request_id(), Some("rl-1"));
    assert_eq!(errors[0].class(), ErrorClass::RateLimited);
    assert!(matches!(
        errors[1],
        BloomreachError::Auth { status: 400, .. }
    ));
    assert_eq!(errors[1].class(), ErrorClass::Auth);
    assert!(matches!(
        errors[2],
        BloomreachError::Server { status: 503, .. }
    ));
    assert_eq!(errors[2].class(), ErrorClass::Retryable);
    assert_eq!(errors[2].request_id(), Some("s-1"));
    assert!(
        matches!(&errors[3], BloomreachError::Rejected { status: 400, message, .. } if message == "Invalid JSON")
    );
    assert_eq!(errors[3].class(), ErrorClass::Permanent);
    assert!(matches!(
        errors[4],
        BloomreachError::RateLimited {
            retry_after: None,
            ..
        }
    ));
    assert_eq!(server.requests().len(), 5, "one attempt per call");
    let stats = probe.stats();
    assert_eq!(stats.requests, 5);
    assert_eq!(stats.rate_limited, 2);
    assert_eq!(stats.server_errors, 1);
    for error in &errors {
        assert!(!error.to_string().contains(SECRET));
        assert!(!format!("{error:?}").contains(SECRET));
    }
}

fn unreachable_response() -> bigreach_bloomreach::BatchResponse {
    bigreach_bloomreach::BatchResponse {
        request_id: None,
        results: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogs_create_list_update_items() {
    let (clock, server, client) = setup(90).await;
    server.push(Canned::json(200, r#"{"id": "cat-1", "success": true}"#));
    server.push(Canned::json(
        200,
        r#"{"success": true, "data": [{"id": "cat-1", "name": "products"}]}"#,
    ));
    server.push(Canned::json(200, r#"{"success": true}"#));
    server.push(Canned::json(
        200,
        r#"[{"success": "True", "queued": "True"},
            {"success": false, "queued": false, "errors": {"properties": ["Fields [x] are not properly defined."]}}]"#,
    ));
    server.push(Canned::json(
        200,
        r#"{"success": true, "matched": 1, "limit": 10, "skip": 0,
            "data": [{"item_id": "1207", "catalog_id": "cat-1", "properties": {"title": "Tee"}}]}"#,
    ));
    server.push(Canned::json(
        200,
        r#"{"success": true, "time": 1741011941.123}"#,
    ));
    let fields = vec![CatalogField {
        name: "title".into(),
        field_type: "string".into(),
        searchable: true,
    }];
    let items = vec![
        CatalogItemUpdate {
            item_id: "1207".into(),
            properties: json!({"title": "Tee"}).as_object().cloned().unwrap(),
            upsert: true,
        },
        CatalogItemUpdate {
            item_id: "1208".into(),
            properties: json!({"x": 1}).as_object().cloned().unwrap(),
            upsert: false,
        },
    ];
    let (created, listed, updated, results, page, time) =
        drive(&clock, Duration::from_millis(10), async move {
            (
                client.create_catalog("products", &fields, true).await,
                client.list_catalogs().await,
                client.update_catalog("cat-1", "products", &fields).await,
                client.catalog_bulk_partial_update("cat-1", &items).await,
                client.catalog_items("cat-1", 0, 10).await,
                client.system_time().await,
            )
        })
        .await;
    assert_eq!(created.unwrap(), "cat-1");
    assert_eq!(listed.unwrap()[0].name, "products");
    updated.unwrap();
    let results = results.unwrap();
    assert!(results[0].success && results[0].queued);
    assert_eq!(results[0].item_id, "1207");
    assert!(!results[1].success);
    assert_eq!(results[1].errors.len(), 1);
    let page = page.unwrap();
    assert_eq!(page[0].0, "1207");
    assert_eq!(page[0].1["title"], "Tee");
    assert!((time.unwrap() - 1_741_011_941.123).abs() < 1e-6);

    let requests = server.requests();
    let base = format!("/data/v2/projects/{PROJECT}/catalogs");
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("POST", base.as_str())
    );
    assert_eq!(
        requests[0].json(),
        json!({"name": "products", "is_product_catalog": true,
               "fields": [{"name": "title", "type": "string", "searchable": true}]})
    );
    assert_eq!(requests[2].method, "PUT");
    assert_eq!(requests[2].path, format!("{base}/cat-1"));
    assert_eq!(
        requests[3].path,
        format!("{base}/cat-1/items/partial-update")
    );
    assert_eq!(
        requests[3].json()[0],
        json!({"item_id": "1207", "properties": {"title": "Tee"}, "upsert": true})
    );
    assert_eq!(requests[4].query_value("skip").as_deref(), Some("0"));
    assert_eq!(requests[4].query_value("count").as_deref(), Some("10"));
    assert_eq!(
        requests[5].path,
        format!("/track/v2/projects/{PROJECT}/system/time")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_holds_the_request_rate_on_the_injected_clock() {
    let (clock, server, client) = setup(2).await;
    for _ in 0..8 {
        server.push(Canned::json(200, r#"{"time": 1.0}"#));
    }
    let paced = client.clone();
    drive(&clock, Duration::from_millis(10), async move {
        for _ in 0..5 {
            paced.system_time().await.unwrap();
        }
    })
    .await;
    let at: Vec<_> = server.requests().iter().map(|r| r.at).collect();
    // Burst of 2, then one every 500 ms.
    assert_eq!(at[1], at[0]);
    assert!(
        at[4] - at[0] >= chrono::Duration::milliseconds(1_500),
        "{:?}",
        at[4] - at[0]
    );

    client.set_requests_per_second(1);
    assert_eq!(client.requests_per_second(), 1);
    let before = server.requests().len();
    let slow = client.clone();
    drive(&clock, Duration::from_millis(10), async move {
        for _ in 0..3 {
            slow.system_time().await.unwrap();
        }
    })
    .await;
    let at: Vec<_> = server.requests()[before..].iter().map(|r| r.at).collect();
    assert!(
        at[2] - at[1] >= chrono::Duration::milliseconds(990),
        "{:?}",
        at[2] - at[1]
    );
}

#[test]
fn invalid_config_is_rejected_and_debug_hides_the_secret() {
    let clock = ManualClock::new(start_time());
    let good = ClientConfig::new(
        url::Url::parse("https://api.exponea.com/").unwrap(),
        PROJECT,
        "key",
        SecretString::from(SECRET),
    );
    assert!(!format!("{good:?}").contains(SECRET));
    let client = BloomreachClient::new(good.clone(), clock.clone()).unwrap();
    assert!(!format!("{client:?}").contains(SECRET));
    let mut bad = good.clone();
    bad.project_token = "a/b".into();
    assert!(matches!(
        BloomreachClient::new(bad, clock.clone()),
        Err(BloomreachError::InvalidConfig {
            field: "project_token",
            ..
        })
    ));
    let mut bad = good;
    bad.requests_per_second = 0;
    assert!(matches!(
        BloomreachClient::new(bad, clock),
        Err(BloomreachError::InvalidConfig {
            field: "requests_per_second",
            ..
        })
    ));
}
