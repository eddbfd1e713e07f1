//! The operator answers: behaviour, and the JSON shape of every answer pinned by a snapshot
//! (`insta`; a changed shape fails until the snapshot under `snapshots/` is reviewed).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bigreach_clock::{Clock, ManualClock};
use chrono::{TimeZone, Utc};

use super::status::{BigCommerceQuota, Component, HookHealth, Live, LiveCounters, Parked};
use super::*;
use crate::model::{AttemptOutcome, Destination, Lane, NewCommand};
use crate::store::{Store, WithheldRecord};

const T0_MS: i64 = 1_764_547_200_000; // 2025-12-01T00:00:00Z

fn command(lane: Lane, name: &str, fact: &str, person: Option<&str>, payload: &str) -> NewCommand {
    NewCommand {
        lane,
        destination: match name {
            "customers" => Destination::CustomerUpdate,
            _ => Destination::Event,
        },
        fact: fact.into(),
        content_hash: "once".into(),
        customer_key: person.map(str::to_owned),
        payload: payload.as_bytes().to_vec(),
        event_time_ms: T0_MS - 60_000,
    }
}

/// A store with one person who has a delivered profile, a delivered purchase, a dead purchase
/// and a withheld order, and a pending catalog item.
fn fixture() -> (tempfile::TempDir, Store, Arc<ManualClock>, Vec<u64>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb")).unwrap();
    let clock = ManualClock::new(Utc.timestamp_millis_opt(T0_MS).unwrap());
    let ids: Vec<u64> = store
        .write(|tx| {
            tx.set_identity("email:jane@shop.com", "customer:42")?;
            tx.set_withheld(&WithheldRecord {
                subject: "order:5022".into(),
                reason: "not paid (status 7 \"Awaiting Payment\")".into(),
                person: Some("customer:42".into()),
                at_ms: T0_MS - 30_000,
            })?;
            let commands = [
                command(
                    Lane::Customers,
                    "customers",
                    "customer:42",
                    Some("customer:42"),
                    r#"{"customer_ids":{"registered":"42","email_id":"jane@shop.com"},"properties":{"first_name":"Jane"}}"#,
                ),
                command(
                    Lane::Transactions,
                    "customers/events",
                    "purchase:5021",
                    Some("customer:42"),
                    r#"{"customer_ids":{"registered":"42"},"event_type":"purchase","properties":{"total_price":19.9}}"#,
                ),
                command(
                    Lane::Transactions,
                    "customers/events",
                    "purchase:5023",
                    Some("customer:42"),
                    r#"{"customer_ids":{"registered":"42"},"event_type":"purchase","properties":{"total_price":-1}}"#,
                ),
            ];
            let mut ids = Vec::new();
            for c in &commands {
                ids.push(tx.enqueue(c, T0_MS - 50_000)?.unwrap());
            }
            ids.push(
                tx.enqueue(
                    &NewCommand {
                        lane: Lane::Catalog,
                        destination: Destination::CatalogItem {
                            item_id: "301".into(),
                        },
                        fact: "variant:301".into(),
                        content_hash: "h".into(),
                        customer_key: None,
                        payload: br#"{"title":"Mug","price":9.5}"#.to_vec(),
                        event_time_ms: T0_MS - 20_000,
                    },
                    T0_MS - 20_000,
                )?
                .unwrap(),
            );
            Ok(ids)
        })
        .unwrap();
    store
        .record_attempts(
            &[
                (
                    ids[0],
                    AttemptOutcome::Delivered {
                        request_id: Some("req-1".into()),
                    },
                ),
                (
                    ids[1],
                    AttemptOutcome::Delivered {
                        request_id: Some("req-1".into()),
                    },
                ),
                (
                    ids[2],
                    AttemptOutcome::Dead {
                        reason: "rejected by Bloomreach: Invalid value for property total_price (request id req-1)".into(),
                    },
                ),
            ],
            T0_MS - 40_000,
            8,
        )
        .unwrap();
    (dir, store, clock, ids)
}

struct FixedLive(Live);

impl LiveFigures for FixedLive {
    fn live(&self) -> Live {
        self.0.clone()
    }
}

fn live(parked: Vec<Parked>) -> Live {
    Live {
        counters: LiveCounters {
            webhooks_accepted: 12,
            delivered: 2,
            dead_lettered: 1,
            batches_sent: 1,
            batch_commands: 3,
            ..LiveCounters::default()
        },
        in_flight: 0,
        poll_passes: 3,
        hooks: Some(HookHealth {
            created: vec![],
            reactivated: vec!["store/order/*".into()],
            active: vec!["store/customer/*".into()],
        }),
        bigcommerce_quota: BigCommerceQuota {
            quota: Some(450),
            requests_left: Some(400),
            requests_sent: 50,
            rate_limited: 0,
        },
        bloomreach_requests_per_second: 90,
        webhook_address: SocketAddr::from(([127, 0, 0, 1], 8080)),
        api_address: SocketAddr::from(([127, 0, 0, 1], 8787)),
        parked,
        starting: vec![],
        stage: crate::cutover::Stage::Triggers,
        purchase_latencies_ms: vec![95_000, 800, 1_200],
    }
}

fn running(store: &Store, clock: &Arc<ManualClock>, parked: Vec<Parked>) -> AppApi {
    AppApi::running(
        store.clone(),
        clock.clone(),
        Arc::new(FixedLive(live(parked))),
        300_000,
        Arc::new(|| {}),
    )
}

/// The running API over `store`, and how often it woke delivery.
fn running_counting_wakes(store: &Store, clock: Arc<ManualClock>) -> (AppApi, Arc<AtomicUsize>) {
    let wakes = Arc::new(AtomicUsize::new(0));
    let counter = wakes.clone();
    let api = AppApi::running(
        store.clone(),
        clock,
        Arc::new(FixedLive(live(vec![]))),
        300_000,
        Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }),
    );
    (api, wakes)
}

#[test]
fn replay_and_discard_are_audited_wake_delivery_and_refuse_non_dead_letters() {
    let (_dir, store, clock, ids) = fixture();
    let (api, wakes) = running_counting_wakes(&store, clock);
    assert_eq!(api.dead_letters().unwrap().len(), 1);
    assert_eq!(
        api.dead_letter(ids[2]).unwrap().payload["event_type"],
        "purchase"
    );
    assert_eq!(api.dead_letter(ids[0]).unwrap_err().code, Code::NotFound);
    let replayed = api.replay_dead_letter(ids[2], "operator").unwrap();
    assert_eq!(replayed.state, CommandState::Pending);
    assert_eq!(wakes.load(Ordering::SeqCst), 1);
    assert_eq!(
        api.discard_dead_letter(ids[2], "operator")
            .unwrap_err()
            .code,
        Code::NotFound,
        "a replayed command is no dead letter any more"
    );
    let actions: Vec<_> = store
        .audit_log()
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(actions, ["dead_letter.replayed"]);
}

#[test]
fn a_bulk_replay_previews_exactly_what_goes_out_then_replays_all_or_nothing() {
    let (_dir, store, clock, ids) = fixture();
    let (api, wakes) = running_counting_wakes(&store, clock);
    let dead = api.dead_letters().unwrap();
    assert_eq!(
        dead[0].reason_class,
        dead_letters::ReasonClass::RejectedCommand
    );
    let preview = api
        .replay_dead_letters(&[ids[2]], true, "operator")
        .unwrap();
    assert!(preview.preview);
    assert_eq!(preview.changed, 0);
    assert_eq!(preview.letters.len(), 1);
    assert_eq!(preview.letters[0].payload["properties"]["total_price"], -1);
    assert_eq!(
        preview.letters[0].state,
        CommandState::Dead,
        "a preview changes nothing"
    );
    assert_eq!(wakes.load(Ordering::SeqCst), 0);
    assert!(store.audit_log().unwrap().is_empty());
    // One id that is not a dead letter refuses the whole batch.
    let refused = api
        .replay_dead_letters(&[ids[2], ids[0]], false, "operator")
        .unwrap_err();
    assert_eq!(refused.code, Code::NotFound);
    assert!(
        refused.message.contains(&ids[0].to_string()),
        "{}",
        refused.message
    );
    assert_eq!(api.dead_letters().unwrap().len(), 1, "nothing was replayed");
    assert_eq!(
        api.replay_dead_letters(&[], false, "operator")
            .unwrap_err()
            .code,
        Code::BadRequest
    );
    let done = api
        .replay_dead_letters(&[ids[2], ids[2]], false, "operator")
        .unwrap();
    assert_eq!(done.changed, 1);
    assert_eq!(done.letters[0].state, CommandState::Pending);
    assert_eq!(wakes.load(Ordering::SeqCst), 1);
    assert!(api.dead_letters().unwrap().is_empty());
    let actions: Vec<_> = store
        .audit_log()
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(actions, ["dead_letter.replayed"]);
}

#[test]
fn reasons_fall_into_the_classes_operators_act_on() {
    use dead_letters::ReasonClass;
    for (reason, class) in [
        (
            "rejected by Bloomreach: Invalid value (request id r)",
            ReasonClass::RejectedCommand,
        ),
        (
            "Bloomreach rejected the request (400, request id None): bad",
            ReasonClass::RejectedRequest,
        ),
        (
            "retry budget of 8 used up; last error: timeout",
            ReasonClass::RetriesExhausted,
        ),
        (
            "frozen payload is not valid JSON",
            ReasonClass::InvalidPayload,
        ),
        (
            "frozen catalog payload is not a JSON object",
            ReasonClass::InvalidPayload,
        ),
        ("something new", ReasonClass::Other),
    ] {
        assert_eq!(ReasonClass::of(Some(reason)), class, "{reason}");
    }
    assert_eq!(ReasonClass::of(None), ReasonClass::Other);
}

#[test]
fn status_needs_the_running_appliance() {
    let (_dir, store, clock, _) = fixture();
    let api = AppApi::new(store, clock);
    assert_eq!(api.status().unwrap_err().code, Code::NotRunning);
}

#[test]
fn a_late_purchase_and_a_parked_component_raise_alerts() {
    let (_dir, store, clock, ids) = fixture();
    store
        .write(|tx| {
            tx.replay_dead_letter(ids[2], T0_MS)?;
            Ok(())
        })
        .unwrap();
    let api = running(&store, &clock, vec![]);
    assert!(api.status().unwrap().alerts.is_empty());
    // The replayed purchase happened a minute before T0; the threshold is five minutes.
    clock.advance(std::time::Duration::from_secs(5 * 60));
    let status = api.status().unwrap();
    assert_eq!(status.alerts.len(), 1, "{:?}", status.alerts);
    assert_eq!(status.alerts[0].kind, status::AlertKind::Late);
    assert!(!status.idle);

    let parked = Parked {
        component: Component::Delivery,
        since: clock.now(),
        reason: "Bloomreach refused the credentials (401)".into(),
        hint: "check the API key".into(),
        probe_every_secs: 300,
    };
    let api = running(&store, &clock, vec![parked]);
    let kinds: Vec<_> = api
        .status()
        .unwrap()
        .alerts
        .iter()
        .map(|a| a.kind)
        .collect();
    assert_eq!(kinds, [status::AlertKind::Late, status::AlertKind::Parked]);
}

#[test]
fn a_purchase_waiting_in_a_lane_the_stage_keeps_closed_is_not_late() {
    let (_dir, store, clock, ids) = fixture();
    store
        .write(|tx| {
            tx.replay_dead_letter(ids[2], T0_MS)?;
            Ok(())
        })
        .unwrap();
    clock.advance(std::time::Duration::from_secs(5 * 60));
    let at = |stage| {
        let mut figures = live(vec![]);
        figures.stage = stage;
        AppApi::running(
            store.clone(),
            clock.clone(),
            Arc::new(FixedLive(figures)),
            300_000,
            Arc::new(|| {}),
        )
        .status()
        .unwrap()
    };
    // At read-only sync the transactions lane is closed: the purchase queues by design.
    let status = at(crate::cutover::Stage::ReadOnly);
    assert!(status.alerts.is_empty(), "{:?}", status.alerts);
    assert_eq!(status.stage, crate::cutover::Stage::ReadOnly);
    // Once ingest opens it, the same wait is late.
    let status = at(crate::cutover::Stage::Ingest);
    assert_eq!(status.alerts.len(), 1, "{:?}", status.alerts);
    assert_eq!(status.alerts[0].kind, status::AlertKind::Late);
}

#[test]
fn operations_round_trip_as_tagged_json() {
    let operations = [
        Operation::Status,
        Operation::Trace {
            query: "jane@shop.com".into(),
        },
        Operation::DeadLetters,
        Operation::DeadLetter { id: 3 },
        Operation::ReplayDeadLetter { id: 3 },
        Operation::DiscardDeadLetter { id: 3 },
        Operation::SetAsideFetches,
        Operation::ReplaySetAsideFetch {
            key: "product:77".into(),
        },
        Operation::DiscardSetAsideFetch {
            key: "cart:not-a-uuid".into(),
        },
        Operation::Reconcile(ReconcileRequest {
            from: "2026-03-01".parse().unwrap(),
            to: "2026-03-07".parse().unwrap(),
            repair: true,
        }),
    ];
    let json = serde_json::to_value(&operations).unwrap();
    insta::assert_json_snapshot!("operations", json);
    let back: Vec<Operation> = serde_json::from_value(json).unwrap();
    assert_eq!(back, operations);
}

#[test]
fn answer_shapes_are_pinned() {
    let (_dir, store, clock, ids) = fixture();
    let parked = Parked {
        component: Component::Enrich,
        since: clock.now(),
        reason: "BigCommerce rejected the access token (401)".into(),
        hint: "check the access token, then restart".into(),
        probe_every_secs: 300,
    };
    let mut figures = live(vec![parked]);
    figures.starting = vec![status::Starting {
        service: "bloomreach".into(),
        waiting: "delivery".into(),
        since: clock.now(),
        reason: "Bloomreach answered 503".into(),
        attempts: 3,
    }];
    let api = AppApi::running(
        store.clone(),
        clock.clone(),
        Arc::new(FixedLive(figures)),
        300_000,
        Arc::new(|| {}),
    );
    let actor = "operator (test)";
    let status = api.call(Operation::Status, actor).unwrap();
    insta::assert_json_snapshot!("status", status);
    let trace = api
        .call(
            Operation::Trace {
                query: "  Jane@Shop.com ".into(),
            },
            actor,
        )
        .unwrap();
    insta::assert_json_snapshot!("trace", trace);
    let letters = api.call(Operation::DeadLetters, actor).unwrap();
    insta::assert_json_snapshot!("dead_letters", letters);
    let letter = api
        .call(Operation::DeadLetter { id: ids[2] }, actor)
        .unwrap();
    insta::assert_json_snapshot!("dead_letter", letter);
    let replayed = api
        .call(Operation::ReplayDeadLetter { id: ids[2] }, actor)
        .unwrap();
    insta::assert_json_snapshot!("dead_letter_replayed", replayed);
    let error = api
        .call(Operation::DiscardDeadLetter { id: ids[2] }, actor)
        .unwrap_err();
    insta::assert_json_snapshot!("error", error);
}

#[test]
fn bad_trace_queries_are_bad_requests() {
    let (_dir, store, clock, _) = fixture();
    let api = AppApi::new(store, clock);
    for query in ["", "jane", "+12"] {
        assert_eq!(
            api.trace(query).unwrap_err().code,
            Code::BadRequest,
            "{query:?}"
        );
    }
}

#[test]
fn set_aside_fetches_are_listed_replayed_and_discarded_audited_with_an_alert() {
    use crate::model::FetchTarget;
    let (_dir, store, clock, _) = fixture();
    store
        .write(|tx| {
            for target in [
                FetchTarget::Product(77),
                FetchTarget::Cart(crate::model::CartId::parse("0bad-cart").unwrap()),
            ] {
                tx.queue_fetch(&target, T0_MS - 10_000, T0_MS - 20_000)?;
                tx.set_aside_fetch(
                    &target,
                    "BigCommerce answered 400 for v3/catalog/products: invalid",
                    T0_MS - 5_000,
                    0,
                )?;
            }
            Ok(())
        })
        .unwrap();
    let api = running(&store, &clock, vec![]);
    let actor = "operator (test)";
    let status = api.status().unwrap();
    assert_eq!(status.store.set_aside, 2);
    assert!(status
        .alerts
        .iter()
        .any(|a| a.kind == status::AlertKind::SetAside && a.message.contains("2 resource")));
    let listed = api.call(Operation::SetAsideFetches, actor).unwrap();
    insta::assert_json_snapshot!("set_aside_fetches", listed);

    let replayed = api
        .call(
            Operation::ReplaySetAsideFetch {
                key: "product:77".into(),
            },
            actor,
        )
        .unwrap();
    insta::assert_json_snapshot!("set_aside_replayed", replayed);
    assert_eq!(
        store.due_fetches(T0_MS).unwrap(),
        vec![(FetchTarget::Product(77), T0_MS - 20_000)],
        "back in the fetch queue, due now"
    );
    let discarded = api
        .discard_set_aside_fetch("cart:0bad-cart", actor)
        .unwrap();
    assert_eq!(discarded.state, SetAsideState::Discarded);
    assert!(api.set_aside_fetches().unwrap().is_empty());
    assert!(api.status().unwrap().alerts.is_empty());
    assert_eq!(
        api.replay_set_aside_fetch("product:77", actor)
            .unwrap_err()
            .code,
        Code::NotFound
    );
    assert_eq!(
        api.discard_set_aside_fetch("nonsense", actor)
            .unwrap_err()
            .code,
        Code::BadRequest
    );
    let actions: Vec<_> = store
        .audit_log()
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(actions, ["set_aside.replayed", "set_aside.discarded"]);
}

#[test]
fn a_trace_shows_the_persons_set_aside_fetches_and_counts_those_that_could_be_anyones() {
    use crate::model::FetchTarget;
    let (_dir, store, clock, _) = fixture();
    store
        .write(|tx| {
            tx.set_aside_fetch(
                &FetchTarget::Customer(42),
                "BigCommerce answered 422 for v3/customers",
                T0_MS,
                T0_MS,
            )?;
            tx.set_aside_fetch(&FetchTarget::Customer(7), "someone else", T0_MS, T0_MS)?;
            tx.set_aside_fetch(&FetchTarget::Order(5021), "an order", T0_MS, T0_MS)?;
            tx.set_aside_fetch(&FetchTarget::Product(77), "a product", T0_MS, T0_MS)?;
            tx.set_aside_key("inbox:3", "unreadable", T0_MS, T0_MS)?;
            Ok(())
        })
        .unwrap();
    let api = AppApi::new(store, clock);
    let trace = api.trace("jane@shop.com").unwrap();
    let keys: Vec<_> = trace.set_aside.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(
        keys,
        ["customer:42"],
        "hers, found through her identity link"
    );
    assert_eq!(
        trace.set_aside[0].reason,
        "BigCommerce answered 422 for v3/customers"
    );
    assert_eq!(
        trace.set_aside_unattributed, 2,
        "the order and the inbox entry could be hers; another customer and a product cannot"
    );
}

#[test]
fn the_trace_verdict_puts_failures_before_waiting_before_withheld() {
    use trace::{verdict, TraceCommand, TraceWithheld, VerdictKind};
    let at = Utc.timestamp_millis_opt(T0_MS).unwrap();
    let command = |fact: &str, state: CommandState| TraceCommand {
        id: 1,
        fact: fact.into(),
        lane: "transactions".into(),
        destination: "customers/events".into(),
        state,
        attempts: 1,
        last_error: (state == CommandState::Dead).then(|| "rejected by Bloomreach: bad".into()),
        enqueued_at: at,
        acknowledged_at: (state == CommandState::Delivered).then_some(at),
        request_id: None,
        customer_ids: Default::default(),
    };
    let held = TraceWithheld {
        subject: "order:7".into(),
        reason: "not paid (status 7 \"Awaiting Payment\")".into(),
        person: None,
        at,
    };
    let delivered = command("purchase:1", CommandState::Delivered);
    let pending = command("purchase:2", CommandState::Pending);
    let dead = command("purchase:3", CommandState::Dead);
    let kind = |commands: &[TraceCommand], withheld: &[TraceWithheld]| {
        verdict("jane@shop.com", commands, withheld, &[], 0).kind
    };
    assert_eq!(kind(&[], &[]), VerdictKind::Unknown);
    assert_eq!(
        kind(std::slice::from_ref(&delivered), &[]),
        VerdictKind::Entered
    );
    assert_eq!(
        kind(
            std::slice::from_ref(&delivered),
            std::slice::from_ref(&held)
        ),
        VerdictKind::Withheld
    );
    assert_eq!(
        kind(
            &[delivered.clone(), pending.clone()],
            std::slice::from_ref(&held)
        ),
        VerdictKind::Waiting
    );
    let failed = verdict(
        "jane@shop.com",
        &[delivered, pending, dead],
        std::slice::from_ref(&held),
        &[],
        2,
    );
    assert_eq!(failed.kind, VerdictKind::Failed);
    assert!(
        failed
            .summary
            .contains("1 of jane@shop.com's updates failed"),
        "{}",
        failed.summary
    );
    assert!(failed.reasons[0].starts_with("purchase:3 was refused for good"));
    assert!(failed
        .reasons
        .iter()
        .any(|r| r.contains("order:7 was not sent: not paid")));
    assert!(failed
        .reasons
        .iter()
        .any(|r| r.contains("2 other fetch(es)")));
}

#[test]
fn lanes_read_idle_on_time_late_stalled_and_closed_and_latency_has_its_percentiles() {
    use status::LaneState;
    let (_dir, store, clock, _) = fixture();
    let state_of = |api: &AppApi, lane: &str| {
        let status = api.status().unwrap();
        let lane = status
            .lanes
            .iter()
            .find(|l| l.lane == lane)
            .unwrap()
            .clone();
        (lane.state, lane.queued, lane.oldest_age_ms)
    };
    let api = running(&store, &clock, vec![]);
    assert_eq!(api.status().unwrap().lanes.len(), Lane::ALL.len());
    assert_eq!(state_of(&api, "transactions").0, LaneState::Idle);
    assert_eq!(state_of(&api, "catalog"), (LaneState::OnTime, 1, 20_000));
    clock.advance(std::time::Duration::from_secs(300));
    assert_eq!(state_of(&api, "catalog").0, LaneState::Late);
    clock.advance(std::time::Duration::from_secs(5 * 300));
    assert_eq!(state_of(&api, "catalog").0, LaneState::Stalled);
    let parked = Parked {
        component: Component::Delivery,
        since: clock.now(),
        reason: "Bloomreach refused the credentials".into(),
        hint: "check the key".into(),
        probe_every_secs: 300,
    };
    let mut figures = live(vec![parked]);
    figures.stage = crate::cutover::Stage::Connect;
    let closed = AppApi::running(
        store.clone(),
        clock.clone(),
        Arc::new(FixedLive(figures.clone())),
        300_000,
        Arc::new(|| {}),
    );
    assert_eq!(state_of(&closed, "catalog").0, LaneState::Closed);
    figures.stage = crate::cutover::Stage::Triggers;
    let parked = AppApi::running(
        store.clone(),
        clock.clone(),
        Arc::new(FixedLive(figures)),
        300_000,
        Arc::new(|| {}),
    );
    let status = parked.status().unwrap();
    assert_eq!(
        status
            .lanes
            .iter()
            .find(|l| l.lane == "catalog")
            .unwrap()
            .state,
        LaneState::Stalled
    );
    // 800, 1,200, 95,000: the median is 1,200 and p99 the largest.
    let latency = status.purchase_latency;
    assert_eq!(
        (latency.samples, latency.p50_ms, latency.p99_ms),
        (3, 1_200, 95_000)
    );
    assert_eq!((latency.limit_ms, latency.window_secs), (300_000, 300));
}

#[test]
fn an_audit_bundle_is_exported_listed_and_verified_through_the_api_and_a_changed_byte_fails() {
    let (dir, store, clock, _) = fixture();
    let data_dir = dir.path().to_path_buf();
    let plain = running(&store, &clock, vec![]);
    assert_eq!(
        plain.audit_export(None, None, "operator").unwrap_err().code,
        Code::NotRunning
    );
    let api = running(&store, &clock, vec![]).with_audit(audit::AuditContext {
        data_dir: data_dir.clone(),
        secrets: vec!["canary-secret-value-123".into()],
    });
    assert!(api.audit_exports().unwrap().is_empty());
    let exported = match api
        .call(
            Operation::AuditExport {
                from: None,
                to: None,
            },
            "operator (test)",
        )
        .unwrap()
    {
        Answer::AuditExported(exported) => exported,
        other => panic!("not an export: {other:?}"),
    };
    assert_eq!(exported.file_name, "bigreach-audit-20251201T000000Z.zip");
    assert!(exported.entries >= 1);
    assert!(exported.checkpoint.contains(&exported.root));
    assert!(exported.verify[0].starts_with("bigreach verify "));
    // A second export in the same second gets its own name.
    let second = api.audit_export(None, None, "operator").unwrap();
    assert_eq!(second.file_name, "bigreach-audit-20251201T000000Z-2.zip");
    assert_eq!(second.consistent_with, Some(exported.entries));
    let listed: Vec<_> = api
        .audit_exports()
        .unwrap()
        .into_iter()
        .map(|f| f.file_name)
        .collect();
    assert_eq!(listed.len(), 2);
    let verified = api.audit_verify(&exported.file_name).unwrap();
    assert!(verified.ok, "{verified:?}");
    assert_eq!(verified.root.as_deref(), Some(exported.root.as_str()));
    // One byte changed: the answer says it failed, and why.
    let path = data_dir.join("exports").join(&exported.file_name);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[300] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let failed = api.audit_verify(&exported.file_name).unwrap();
    assert!(!failed.ok);
    assert!(failed.failure.is_some());
    for bad in [
        "../bigreach.redb",
        "x/../../y.zip",
        ".zip",
        "a b.zip",
        "bundle.tar",
    ] {
        assert_eq!(
            api.audit_verify(bad).unwrap_err().code,
            Code::BadRequest,
            "{bad}"
        );
    }
    assert_eq!(
        api.audit_verify("bigreach-audit-19990101T000000Z.zip")
            .unwrap_err()
            .code,
        Code::NotFound
    );
    let actions: Vec<_> = store
        .audit_log()
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "audit.exported").count(),
        2,
        "{actions:?}"
    );
}

/// A keyring in memory: what the desktop's OS keyring does, for the connect tests.
#[derive(Default)]
struct MemorySecrets(std::sync::Mutex<std::collections::BTreeMap<String, String>>);

impl connection::SecretStore for MemorySecrets {
    fn put(&self, name: &str, value: &str) -> Result<crate::secret::SecretRef, AppError> {
        self.0
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
        Ok(crate::secret::SecretRef::Keyring(name.to_owned()))
    }

    fn present(&self, reference: &crate::secret::SecretRef) -> bool {
        match reference {
            crate::secret::SecretRef::Keyring(name) => self.0.lock().unwrap().contains_key(name),
            crate::secret::SecretRef::Env(_) => false,
        }
    }
}

fn connect_form() -> connection::ConnectRequest {
    connection::ConnectRequest {
        store_hash: "abc123".into(),
        access_token: "canary-bc-token-7f3a".into(),
        bloomreach_base_url: "https://api.exponea.com/".into(),
        project_token: "project-token".into(),
        key_id: "key-id".into(),
        api_secret: "canary-br-secret-9c1d".into(),
        webhook_public_url: "https://hooks.example.com/webhooks".into(),
        webhook_secret: None,
        data_dir: None,
    }
}

#[test]
fn connect_writes_a_valid_config_and_keeps_the_secrets_in_the_hosts_store_only() {
    let (dir, store, clock, _) = fixture();
    let path = dir.path().join("conf").join("bigreach.toml");
    let secrets = Arc::new(MemorySecrets::default());
    let api =
        AppApi::new(store.clone(), clock.clone()).with_connection(connection::ConnectionContext {
            config_path: path.clone(),
            config: None,
            secrets: secrets.clone(),
        });
    assert!(!api.connection().unwrap().configured);
    // A bad form stores nothing and writes nothing.
    let mut bad = connect_form();
    bad.bloomreach_base_url = "not a url".into();
    let refused = api.connect(&bad, "operator").unwrap_err();
    assert_eq!(refused.code, Code::BadRequest);
    assert!(
        refused.message.contains("bloomreach_base_url"),
        "{}",
        refused.message
    );
    assert!(secrets.0.lock().unwrap().is_empty());
    assert!(!path.exists());
    let connected = match api
        .call(Operation::Connect(connect_form()), "operator (desktop)")
        .unwrap()
    {
        Answer::Connected(connected) => connected,
        other => panic!("not connected: {other:?}"),
    };
    let text = std::fs::read_to_string(&path).unwrap();
    for secret in secrets.0.lock().unwrap().values() {
        assert!(
            !text.contains(secret.as_str()),
            "a secret is in the config file"
        );
        assert!(!format!("{connected:?}").contains(secret.as_str()));
    }
    assert_eq!(
        secrets.0.lock().unwrap().len(),
        3,
        "token, API secret and a generated webhook secret"
    );
    let config = crate::config::Config::from_toml(&text, dir.path()).unwrap();
    assert_eq!(config.bigcommerce.store_hash, "abc123");
    assert_eq!(
        String::from(config.bloomreach.secret.clone()),
        "keyring:bloomreach-api-secret"
    );
    assert!(connected.connection.secrets.iter().all(|s| s.present));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // Never overwritten.
    assert_eq!(
        api.connect(&connect_form(), "operator").unwrap_err().code,
        Code::BadRequest
    );
    let audit = store.audit_log().unwrap();
    let written = audit
        .iter()
        .find(|r| r.action == "connection.written")
        .unwrap();
    assert!(!written.detail.contains("canary"));
    // Headless: the environment keeps the secrets; the answer names the variable.
    let headless = AppApi::new(store, clock).with_connection(connection::ConnectionContext {
        config_path: dir.path().join("other.toml"),
        config: None,
        secrets: Arc::new(connection::EnvironmentSecrets),
    });
    let refused = headless.connect(&connect_form(), "operator").unwrap_err();
    assert!(
        refused
            .message
            .contains("BIGREACH_BIGCOMMERCE_ACCESS_TOKEN"),
        "{}",
        refused.message
    );
    assert!(!dir.path().join("other.toml").exists());
}

struct FixedRehearsal;

impl rehearse::Rehearser for FixedRehearsal {
    fn rehearse(
        &self,
        kind: rehearse::RehearsalKind,
    ) -> Result<rehearse::RehearsalReport, AppError> {
        Ok(rehearse::RehearsalReport {
            kind,
            passed: false,
            summary: "the rollback lost 1 queued purchase".into(),
            lines: vec!["advance: ok".into()],
            seconds: 1.5,
        })
    }
}

#[test]
fn a_rehearsal_needs_a_rehearser_and_is_audited_with_its_verdict() {
    let (_dir, store, clock, _) = fixture();
    let api = AppApi::new(store.clone(), clock.clone());
    assert_eq!(
        api.rehearse(rehearse::RehearsalKind::Demo, "operator")
            .unwrap_err()
            .code,
        Code::NotRunning
    );
    let api = api.with_rehearser(Arc::new(FixedRehearsal));
    let report = api
        .rehearse(rehearse::RehearsalKind::Cutover, "operator")
        .unwrap();
    assert!(!report.passed);
    let entry = store.audit_log().unwrap().pop().unwrap();
    assert_eq!(entry.action, "rehearsal.run");
    assert!(
        entry.detail.contains("\"passed\":false"),
        "{}",
        entry.detail
    );
}
