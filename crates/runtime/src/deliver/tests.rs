//! The sinks' at-least-once contract, against a scripted loopback server on a manual clock.

// The loopback HTTP stub the client crates' tests share.
#[path = "../../../bigcommerce/tests/support/mod.rs"]
mod support;

use std::sync::atomic::AtomicU32;
use std::sync::Arc;
use std::time::Duration;

use bigreach_bloomreach::{BloomreachClient, ClientConfig};
use bigreach_clock::{Clock, ManualClock, SharedClock};
use bigreach_core::outbox::{AttemptOutcome, CommandStatus, Destination, Lane, OutboxRecord};
use secrecy::SecretString;
use serde_json::json;
use support::{drive, start_time, Canned, MockServer};

use super::catalog::CatalogSink;
use super::outcome::Classifier;
use super::tracking::TrackingSink;
use super::Sink;
use crate::metrics::Metrics;

fn record(id: u64, destination: Destination, payload: &[u8]) -> OutboxRecord {
    OutboxRecord {
        id,
        lane: Lane::Transactions,
        destination,
        fact: format!("fact:{id}"),
        customer_key: Some("customer:1".into()),
        payload: payload.to_vec(),
        event_time_ms: 0,
        enqueued_at_ms: 0,
        attempts: 0,
        next_attempt_ms: 0,
        status: CommandStatus::Pending,
        last_error: None,
    }
}

struct Rig {
    clock: Arc<ManualClock>,
    server: MockServer,
    tracking: Arc<TrackingSink>,
    catalog: Arc<CatalogSink>,
}

async fn rig() -> Rig {
    let clock = ManualClock::new(start_time());
    let server = MockServer::start(clock.clone()).await;
    let shared: SharedClock = clock.clone();
    let config = ClientConfig::new(
        server.base.clone(),
        "project",
        "key",
        SecretString::from("secret"),
    );
    let bloomreach = Arc::new(BloomreachClient::new(config, shared.clone()).unwrap());
    let metrics = Arc::new(Metrics::default());
    let classifier = Arc::new(Classifier {
        bloomreach: bloomreach.clone(),
        metrics: metrics.clone(),
        clock: shared.clone(),
        requests_per_second: 90,
        backoff: crate::retry_policy::Backoff::new(
            Duration::from_millis(500),
            Duration::from_secs(60),
            1,
        ),
        failure_streak: AtomicU32::new(0),
        parking: Arc::new(crate::parking::Parking::default()),
        probe_at_ms: std::sync::atomic::AtomicI64::new(0),
        gate: Arc::new(super::LaneGate::open()),
        applied_ceiling: AtomicU32::new(90),
    });
    Rig {
        tracking: Arc::new(TrackingSink {
            bloomreach: bloomreach.clone(),
            metrics: metrics.clone(),
            clock: shared,
            classifier: classifier.clone(),
        }),
        catalog: Arc::new(CatalogSink {
            bloomreach,
            catalog_id: "cat-1".into(),
            metrics,
            classifier,
        }),
        clock,
        server,
    }
}

fn ids(outcomes: &[(u64, AttemptOutcome)]) -> Vec<u64> {
    let mut ids: Vec<u64> = outcomes.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tracking_command_gets_exactly_one_outcome_and_only_an_ack_is_delivered() {
    let rig = rig().await;
    rig.server.push(
        Canned::json(
            200,
            json!({"success": true, "results": [
                {"command_id": "1", "success": true},
                {"command_id": "2", "success": false, "errors": ["At least one id should be specified."]}
            ]})
            .to_string(),
        )
        .header("x-request-id", "req-7"),
    );
    let frozen = br#"{"customer_ids":{"registered":"1"},"event_type":"purchase","timestamp":1.5}"#;
    let work = vec![
        record(1, Destination::Event, frozen),
        record(2, Destination::CustomerUpdate, br#"{"customer_ids":{}}"#),
        record(3, Destination::Event, br#"{"event_type":"purchase"}"#),
        record(4, Destination::Event, b"not json"),
    ];
    let sink = rig.tracking.clone();
    let outcomes = drive(&rig.clock, Duration::from_millis(10), async move {
        sink.send(&work).await
    })
    .await;
    assert_eq!(ids(&outcomes), vec![1, 2, 3, 4], "{outcomes:?}");
    let outcome = |id: u64| outcomes.iter().find(|(i, _)| *i == id).unwrap().1.clone();
    assert_eq!(
        outcome(1),
        AttemptOutcome::Delivered {
            request_id: Some("req-7".into())
        }
    );
    assert!(
        matches!(outcome(2), AttemptOutcome::Dead { .. }),
        "{:?}",
        outcome(2)
    );
    // No result for command 3: not known, so it is sent again.
    assert!(
        matches!(outcome(3), AttemptOutcome::Retry { .. }),
        "{:?}",
        outcome(3)
    );
    assert!(
        matches!(outcome(4), AttemptOutcome::Dead { reason } if reason.contains("not valid JSON"))
    );
    // The payload went out as frozen, byte for byte.
    let sent = rig.server.requests();
    assert_eq!(sent.len(), 1);
    let body = String::from_utf8(sent[0].body.clone()).unwrap();
    assert!(
        body.contains(std::str::from_utf8(frozen).unwrap()),
        "{body}"
    );
    assert_eq!(sent[0].json()["commands"][1]["name"], "customers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_request_is_a_retry_for_every_command_never_a_delivery() {
    let rig = rig().await;
    rig.server
        .push(Canned::json(503, "upstream unavailable").header("x-request-id", "s-1"));
    let work = vec![
        record(1, Destination::Event, b"{}"),
        record(2, Destination::CustomerUpdate, b"{}"),
    ];
    let sink = rig.tracking.clone();
    let outcomes = drive(&rig.clock, Duration::from_millis(10), async move {
        sink.send(&work).await
    })
    .await;
    assert_eq!(ids(&outcomes), vec![1, 2]);
    for (_, outcome) in &outcomes {
        assert!(
            matches!(outcome, AttemptOutcome::Retry { counts: false, .. }),
            "a 5xx keeps the command without using its budget: {outcome:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_refused_for_good_is_split_so_only_the_command_at_fault_is_a_dead_letter() {
    let rig = rig().await;
    let refused = || Canned::json(400, r#"{"error":"malformed command data"}"#);
    let accepted = |ids: &[u64]| {
        let results: Vec<_> = ids
            .iter()
            .map(|id| json!({"command_id": id.to_string(), "success": true}))
            .collect();
        Canned::json(
            200,
            json!({"success": true, "results": results}).to_string(),
        )
    };
    // [1 2 3 4] refused → [1 2] taken; [3 4] refused → [3] refused, [4] taken.
    rig.server.push(refused());
    rig.server.push(accepted(&[1, 2]));
    rig.server.push(refused());
    rig.server.push(refused());
    rig.server.push(accepted(&[4]));
    let work: Vec<_> = (1..=4)
        .map(|id| record(id, Destination::Event, br#"{"event_type":"purchase"}"#))
        .collect();
    let sink = rig.tracking.clone();
    let outcomes = drive(&rig.clock, Duration::from_millis(10), async move {
        sink.send(&work).await
    })
    .await;
    assert_eq!(
        ids(&outcomes),
        vec![1, 2, 3, 4],
        "one outcome each: {outcomes:?}"
    );
    for (id, outcome) in &outcomes {
        if *id == 3 {
            assert!(
                matches!(outcome, AttemptOutcome::Dead { reason } if reason.contains("400")),
                "{outcome:?}"
            );
        } else {
            assert!(
                matches!(outcome, AttemptOutcome::Delivered { .. }),
                "{id}: {outcome:?}"
            );
        }
    }
    let sent: Vec<usize> = rig
        .server
        .requests()
        .iter()
        .map(|r| r.json()["commands"].as_array().unwrap().len())
        .collect();
    assert_eq!(sent, vec![4, 2, 2, 1, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_catalog_item_gets_exactly_one_outcome() {
    let rig = rig().await;
    rig.server
        .push(Canned::json(200, json!([{"success": true}]).to_string()));
    let item = |id: &str| Destination::CatalogItem { item_id: id.into() };
    let work = vec![
        record(1, item("v1"), br#"{"title":"Mug"}"#),
        record(2, item("v2"), br#"{"title":"Cup"}"#),
        record(3, item("v3"), b"[1, 2]"),
    ];
    let sink = rig.catalog.clone();
    let outcomes = drive(&rig.clock, Duration::from_millis(10), async move {
        sink.send(&work).await
    })
    .await;
    assert_eq!(ids(&outcomes), vec![1, 2, 3], "{outcomes:?}");
    let outcome = |id: u64| outcomes.iter().find(|(i, _)| *i == id).unwrap().1.clone();
    assert_eq!(outcome(1), AttemptOutcome::Delivered { request_id: None });
    // No result for item 2: never counted as delivered. (The client reports it as a rejection
    // "no result for this item", which today's classification dead-letters; the retry policy
    // decides that, not the sink.)
    assert!(
        !matches!(outcome(2), AttemptOutcome::Delivered { .. }),
        "{:?}",
        outcome(2)
    );
    assert!(
        matches!(outcome(3), AttemptOutcome::Dead { reason } if reason.contains("not a JSON object"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_retries_back_off_on_the_items_own_attempts() {
    let rig = rig().await;
    rig.server.push(Canned::json(
        200,
        json!([{"success": false, "errors": ["Service temporarily unavailable"]}]).to_string(),
    ));
    let mut tried = record(
        1,
        Destination::CatalogItem {
            item_id: "v1".into(),
        },
        br#"{"title":"Mug"}"#,
    );
    tried.attempts = 7;
    let sink = rig.catalog.clone();
    let now = rig.clock.now_ms();
    let outcomes = drive(&rig.clock, Duration::from_millis(10), async move {
        sink.send(&[tried]).await
    })
    .await;
    let AttemptOutcome::Retry {
        next_attempt_ms,
        counts,
        ..
    } = outcomes[0].1.clone()
    else {
        panic!("{outcomes:?}");
    };
    assert!(counts, "a transient item rejection uses its budget");
    // The eighth attempt waits up to a minute (seeded jitter), not a first attempt's second.
    assert!(
        next_attempt_ms - now > 1_000,
        "waited only {} ms",
        next_attempt_ms - now
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_follows_the_stage_ceiling_and_a_rate_lowered_by_pressure_stays_lowered() {
    use bigreach_core::cutover::Stage;
    let rig = rig().await;
    let classifier = rig.tracking.classifier.clone();
    let bloomreach = classifier.bloomreach.clone();
    assert_eq!(bloomreach.requests_per_second(), 90);
    classifier.gate.set(Stage::ReadOnly, Some(1));
    classifier.apply_ceiling();
    assert_eq!(bloomreach.requests_per_second(), 45, "half at read-only");
    classifier.recover_rate();
    assert_eq!(
        bloomreach.requests_per_second(),
        45,
        "recovery stops at the ceiling"
    );
    // 429s halved it; the next stage's higher ceiling does not undo that.
    bloomreach.set_requests_per_second(10);
    classifier.gate.set(Stage::Ingest, Some(2));
    classifier.apply_ceiling();
    assert_eq!(bloomreach.requests_per_second(), 10);
    for _ in 0..100 {
        classifier.recover_rate();
    }
    assert_eq!(
        bloomreach.requests_per_second(),
        72,
        "it climbs back to 80%"
    );
    classifier.gate.set(Stage::Triggers, Some(3));
    classifier.apply_ceiling();
    assert_eq!(bloomreach.requests_per_second(), 90);
    classifier.gate.set(Stage::Preflight, Some(4));
    classifier.apply_ceiling();
    assert_eq!(
        bloomreach.requests_per_second(),
        1,
        "nothing is sent; the pacer's floor"
    );
}
