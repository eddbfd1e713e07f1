use std::collections::HashSet;

use redb::Database;

use super::migrations::v1_to_v2::V1_OUTBOX_PENDING;
use super::schema::{KEY_SCHEMA, META, OUTBOX};
use super::*;
use crate::model::{
    AttemptOutcome, CommandStatus, Destination, InboxBody, InboxEntry, InboxSource, NewCommand,
    ResourceKind, Snapshot,
};

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bigreach.redb")).unwrap();
    (dir, store)
}

fn webhook(hash: &str) -> InboxEntry {
    InboxEntry {
        received_at_ms: 1,
        event_time_ms: 1,
        source: InboxSource::Webhook,
        hash: Some(hash.to_owned()),
        initial_sync: false,
        body: InboxBody::Notification {
            scope: "store/order/created".into(),
            fetch: None,
            invalid_id: None,
        },
    }
}

fn command(fact: &str, hash: &str, lane: Lane) -> NewCommand {
    NewCommand {
        lane,
        destination: Destination::Event,
        fact: fact.into(),
        content_hash: hash.into(),
        customer_key: Some("customer:1".into()),
        payload: br#"{"event_type":"purchase"}"#.to_vec(),
        event_time_ms: 10,
    }
}

#[test]
fn new_store_records_schema_version() {
    let (_dir, store) = temp_store();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn refuses_a_store_from_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bigreach.redb");
    drop(Store::open(&path).unwrap());
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(KEY_SCHEMA, 99u64.to_le_bytes().as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("newer than this build supports"));
}

#[test]
fn inbox_dedupes_by_hash_and_tracks_the_cursor() {
    let (_dir, store) = temp_store();
    let result = store
        .append_inbox(&[webhook("a"), webhook("b"), webhook("a")])
        .unwrap();
    assert_eq!(
        result,
        vec![
            Appended::Stored(1),
            Appended::Stored(2),
            Appended::Duplicate(1)
        ]
    );
    assert_eq!(store.pending_inbox(10).unwrap().len(), 2);
    store.write(|tx| tx.advance_inbox_cursor(1)).unwrap();
    let pending = store.pending_inbox(10).unwrap();
    assert_eq!(pending.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![2]);
    assert_eq!(store.counts().unwrap().inbox_pending, 1);
    // Survives reopening.
    assert_eq!(
        store.append_inbox(&[webhook("b")]).unwrap(),
        vec![Appended::Duplicate(2)]
    );
    assert!(store.has_webhook_hash("a").unwrap());
    assert!(store.has_webhook_hash("b").unwrap());
    assert!(!store.has_webhook_hash("c").unwrap());
}

#[test]
fn a_fact_is_enqueued_once_per_content() {
    let (_dir, store) = temp_store();
    let first = store
        .write(|tx| tx.enqueue(&command("purchase:1", "once", Lane::Transactions), 5))
        .unwrap();
    let again = store
        .write(|tx| tx.enqueue(&command("purchase:1", "once", Lane::Transactions), 6))
        .unwrap();
    let changed = store
        .write(|tx| tx.enqueue(&command("purchase:1", "v2", Lane::Transactions), 7))
        .unwrap();
    assert_eq!(first, Some(1));
    assert_eq!(again, None);
    assert_eq!(changed, Some(2));
    assert_eq!(store.commands_for_person("customer:1").unwrap().len(), 2);
}

#[test]
fn due_commands_come_by_lane_priority_and_respect_next_attempt() {
    let (_dir, store) = temp_store();
    store
        .write(|tx| {
            tx.enqueue(&command("item:1", "h", Lane::Backfill), 0)?;
            tx.enqueue(&command("purchase:1", "h", Lane::Transactions), 0)?;
            tx.enqueue(&command("customer:1", "h", Lane::Customers), 0)?;
            Ok(())
        })
        .unwrap();
    let due = store.due_commands(0, 10, false, &HashSet::new()).unwrap();
    let lanes: Vec<_> = due.iter().map(|c| c.lane).collect();
    assert_eq!(lanes, [Lane::Transactions, Lane::Customers, Lane::Backfill]);

    let purchase = due[0].id;
    store
        .record_attempts(
            &[(
                purchase,
                AttemptOutcome::Retry {
                    error: "429".into(),
                    next_attempt_ms: 100,
                    counts: false,
                },
            )],
            1,
            3,
        )
        .unwrap();
    let due = store.due_commands(50, 10, false, &HashSet::new()).unwrap();
    assert!(due.iter().all(|c| c.id != purchase));
    assert_eq!(store.next_due_ms().unwrap(), Some(0));
    let due = store.due_commands(100, 10, false, &HashSet::new()).unwrap();
    assert_eq!(due[0].id, purchase);
    assert_eq!(due[0].attempts, 0, "a 429 does not use the retry budget");
    let excluded: HashSet<u64> = [purchase].into();
    let due = store.due_commands(100, 10, false, &excluded).unwrap();
    assert!(due.iter().all(|c| c.id != purchase));
}

#[test]
fn delivery_and_dead_letters_settle_a_command_once() {
    let (_dir, store) = temp_store();
    let ids = store
        .write(|tx| {
            Ok((
                tx.enqueue(&command("a", "h", Lane::Transactions), 0)?
                    .unwrap(),
                tx.enqueue(&command("b", "h", Lane::Transactions), 0)?
                    .unwrap(),
            ))
        })
        .unwrap();
    let retry = AttemptOutcome::Retry {
        error: "bad value".into(),
        next_attempt_ms: 0,
        counts: true,
    };
    store
        .record_attempts(
            &[
                (
                    ids.0,
                    AttemptOutcome::Delivered {
                        request_id: Some("r1".into()),
                    },
                ),
                (ids.1, retry.clone()),
            ],
            10,
            2,
        )
        .unwrap();
    store.record_attempts(&[(ids.1, retry)], 11, 2).unwrap();
    // A late second answer for a delivered command changes nothing.
    store
        .record_attempts(
            &[(
                ids.0,
                AttemptOutcome::Dead {
                    reason: "late".into(),
                },
            )],
            12,
            2,
        )
        .unwrap();
    let counts = store.counts().unwrap();
    assert_eq!(counts.delivered, 1);
    assert_eq!(counts.dead_letters, 1);
    assert_eq!(counts.outbox_pending["transactions"], 0);
    let dead = store.dead_letters().unwrap();
    assert_eq!(dead[0].id, ids.1);
    assert!(dead[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("retry budget of 2"));
    assert_eq!(
        store
            .delivery(ids.0)
            .unwrap()
            .unwrap()
            .request_id
            .as_deref(),
        Some("r1")
    );
}

#[test]
fn audit_chain_verifies_and_detects_tampering() {
    let (_dir, store) = temp_store();
    for i in 0..3 {
        store
            .audit(
                i,
                "operator",
                "config.changed",
                &serde_json::json!({"n": i}),
            )
            .unwrap();
    }
    let mut log = store.audit_log().unwrap();
    assert_eq!(verify_audit_chain(&log), Ok(()));
    log[1].detail = r#"{"n":42}"#.into();
    assert_eq!(verify_audit_chain(&log), Err(2));
}

#[test]
fn snapshots_round_trip() {
    let (_dir, store) = temp_store();
    let snap = Snapshot {
        fingerprint: "f".into(),
        observed_at_ms: 3,
        json: b"{}".to_vec(),
    };
    let key = format!("{}:{}", ResourceKind::Order.as_str(), 5);
    store.write(|tx| tx.put_snapshot(&key, &snap)).unwrap();
    assert_eq!(store.snapshot(&key).unwrap(), Some(snap));
    assert_eq!(store.snapshot("order:6").unwrap(), None);
}

fn command_for(fact: &str, lane: Lane, destination: Destination, person: &str) -> NewCommand {
    NewCommand {
        lane,
        destination,
        fact: fact.into(),
        content_hash: "h".into(),
        customer_key: Some(person.into()),
        payload: b"{}".to_vec(),
        event_time_ms: 0,
    }
}

#[test]
fn lower_lanes_keep_a_share_but_purchases_take_the_rest_of_the_batch() {
    let (_dir, store) = temp_store();
    store
        .write(|tx| {
            for i in 0..100 {
                tx.enqueue(
                    &command_for(
                        &format!("p{i}"),
                        Lane::Transactions,
                        Destination::Event,
                        &format!("c{i}"),
                    ),
                    0,
                )?;
                tx.enqueue(
                    &command_for(
                        &format!("b{i}"),
                        Lane::Backfill,
                        Destination::Event,
                        &format!("h{i}"),
                    ),
                    0,
                )?;
            }
            Ok(())
        })
        .unwrap();
    let batch = store.due_commands(0, 50, false, &HashSet::new()).unwrap();
    assert_eq!(batch.len(), 50);
    let backfill = batch.iter().filter(|c| c.lane == Lane::Backfill).count();
    assert_eq!(backfill, LOWER_LANE_SHARE, "backfill keeps its share");
    assert_eq!(batch[0].lane, Lane::Transactions, "purchases come first");
}

#[test]
fn a_persons_events_wait_for_their_profile_command_and_nobody_else_waits() {
    let (_dir, store) = temp_store();
    let (profile, event, other) = store
        .write(|tx| {
            let profile = tx
                .enqueue(
                    &command_for(
                        "guest:a",
                        Lane::Customers,
                        Destination::CustomerUpdate,
                        "email:a",
                    ),
                    0,
                )?
                .unwrap();
            let event = tx
                .enqueue(
                    &command_for(
                        "purchase:1",
                        Lane::Transactions,
                        Destination::Event,
                        "email:a",
                    ),
                    0,
                )?
                .unwrap();
            let other = tx
                .enqueue(
                    &command_for(
                        "purchase:2",
                        Lane::Transactions,
                        Destination::Event,
                        "email:b",
                    ),
                    0,
                )?
                .unwrap();
            Ok((profile, event, other))
        })
        .unwrap();
    let ids = |batch: Vec<OutboxRecord>| batch.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let first = ids(store.due_commands(0, 50, false, &HashSet::new()).unwrap());
    assert_eq!(
        first,
        vec![profile, other],
        "a's purchase waits (its profile goes first), b's does not"
    );
    // In flight is not delivered: still waiting.
    let in_flight: HashSet<u64> = [profile, other].into();
    assert!(ids(store.due_commands(0, 50, false, &in_flight).unwrap()).is_empty());
    store
        .record_attempts(
            &[(profile, AttemptOutcome::Delivered { request_id: None })],
            1,
            3,
        )
        .unwrap();
    let after = ids(store.due_commands(1, 50, false, &[other].into()).unwrap());
    assert_eq!(after, vec![event]);
}

#[test]
fn dead_letters_can_be_replayed_byte_identical_or_discarded() {
    let (_dir, store) = temp_store();
    let (a, b) = store
        .write(|tx| {
            Ok((
                tx.enqueue(&command("a", "h", Lane::Transactions), 0)?
                    .unwrap(),
                tx.enqueue(&command("b", "h", Lane::Transactions), 0)?
                    .unwrap(),
            ))
        })
        .unwrap();
    let dead = AttemptOutcome::Dead {
        reason: "rejected".into(),
    };
    store
        .record_attempts(&[(a, dead.clone()), (b, dead)], 1, 3)
        .unwrap();
    assert_eq!(store.counts().unwrap().dead_letters, 2);
    let before = store.command(a).unwrap().unwrap().payload;
    let replayed = store
        .write(|tx| tx.replay_dead_letter(a, 5))
        .unwrap()
        .unwrap();
    assert_eq!(replayed.payload, before);
    assert_eq!(replayed.attempts, 0);
    assert_eq!(
        store.due_commands(5, 50, false, &HashSet::new()).unwrap()[0].id,
        a
    );
    let discarded = store
        .write(|tx| tx.discard_dead_letter(b))
        .unwrap()
        .unwrap();
    assert_eq!(discarded.status, CommandStatus::Discarded);
    assert_eq!(store.counts().unwrap().dead_letters, 0);
    // Not dead any more: neither call applies twice.
    assert!(store
        .write(|tx| tx.replay_dead_letter(a, 6))
        .unwrap()
        .is_none());
    assert!(store
        .write(|tx| tx.discard_dead_letter(b))
        .unwrap()
        .is_none());
}

#[test]
fn a_schema_1_store_is_migrated_and_keeps_its_pending_commands() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bigreach.redb");
    {
        // Build a version 1 store by hand: the v1 index and a pending record.
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(KEY_SCHEMA, 1u64.to_le_bytes().as_slice())
            .unwrap();
        let record = OutboxRecord {
            id: 7,
            lane: Lane::Transactions,
            destination: Destination::Event,
            fact: "purchase:7".into(),
            customer_key: Some("customer:1".into()),
            payload: b"{}".to_vec(),
            event_time_ms: 1,
            enqueued_at_ms: 2,
            attempts: 1,
            next_attempt_ms: 3,
            status: CommandStatus::Pending,
            last_error: None,
        };
        txn.open_table(OUTBOX)
            .unwrap()
            .insert(7, encode("outbox record", &record).unwrap().as_slice())
            .unwrap();
        txn.open_table(V1_OUTBOX_PENDING)
            .unwrap()
            .insert((0u8, 7u64), 3i64)
            .unwrap();
        txn.commit().unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let due = store.due_commands(3, 50, false, &HashSet::new()).unwrap();
    assert_eq!(due.iter().map(|c| c.id).collect::<Vec<_>>(), vec![7]);
    assert_eq!(store.counts().unwrap().outbox_pending["transactions"], 1);
}

#[test]
fn after_an_outage_purchases_drain_first_and_the_backlog_still_moves() {
    let (_dir, store) = temp_store();
    store
        .write(|tx| {
            for i in 0..300 {
                tx.enqueue(
                    &command_for(&format!("b{i}"), Lane::Backfill, Destination::Event, "h"),
                    0,
                )?;
            }
            for i in 0..200 {
                tx.enqueue(
                    &command_for(
                        &format!("p{i}"),
                        Lane::Transactions,
                        Destination::Event,
                        &format!("c{i}"),
                    ),
                    0,
                )?;
            }
            Ok(())
        })
        .unwrap();
    // Deliver batch after batch, as the deliverer does once Bloomreach is back.
    let mut lanes_per_batch = Vec::new();
    loop {
        let batch = store.due_commands(0, 50, false, &HashSet::new()).unwrap();
        if batch.is_empty() {
            break;
        }
        let purchases = batch
            .iter()
            .filter(|c| c.lane == Lane::Transactions)
            .count();
        lanes_per_batch.push((purchases, batch.len() - purchases));
        let outcomes: Vec<_> = batch
            .iter()
            .map(|c| (c.id, AttemptOutcome::Delivered { request_id: None }))
            .collect();
        store.record_attempts(&outcomes, 1, 3).unwrap();
    }
    // All 200 purchases go in the first five batches (48 slots each, then the rest)...
    let purchase_batches: Vec<_> = lanes_per_batch.iter().take_while(|(p, _)| *p > 0).collect();
    assert_eq!(purchase_batches.len(), 5, "{lanes_per_batch:?}");
    assert!(lanes_per_batch[5..].iter().all(|(p, _)| *p == 0));
    // ...while the backfill still moves in every one of them.
    assert!(purchase_batches.iter().all(|(_, b)| *b >= LOWER_LANE_SHARE));
    let total: usize = lanes_per_batch.iter().map(|(p, b)| p + b).sum();
    assert_eq!(total, 500);
}

#[test]
fn profiles_that_hold_purchases_back_jump_their_lanes_share() {
    let (_dir, store) = temp_store();
    store
        .write(|tx| {
            for i in 0..100 {
                let person = format!("email:g{i}");
                tx.enqueue(
                    &command_for(
                        &format!("guest:{i}"),
                        Lane::Customers,
                        Destination::CustomerUpdate,
                        &person,
                    ),
                    0,
                )?;
                tx.enqueue(
                    &command_for(
                        &format!("purchase:{i}"),
                        Lane::Transactions,
                        Destination::Event,
                        &person,
                    ),
                    0,
                )?;
            }
            Ok(())
        })
        .unwrap();
    let batch = store.due_commands(0, 50, false, &HashSet::new()).unwrap();
    let profiles = batch.iter().filter(|c| c.lane == Lane::Customers).count();
    // Without promotion the customers lane would get its share of 2; the held purchases pull
    // their profiles forward instead (up to half the batch).
    assert!(profiles >= 25, "{profiles} profiles in {batch:?}");
    assert!(
        batch.iter().all(|c| c.lane == Lane::Customers),
        "no held purchase is sent"
    );
}

#[test]
fn a_set_aside_fetch_leaves_the_queue_and_comes_back_only_on_replay_or_a_new_notification() {
    use crate::model::FetchTarget;
    let (_dir, store) = temp_store();
    let bad = FetchTarget::Cart(crate::model::CartId::parse("not-a-uuid").unwrap());
    let good = FetchTarget::Order(5021);
    store
        .write(|tx| {
            tx.queue_fetch(&bad, 100, 40)?;
            tx.queue_fetch(&good, 100, 50)?;
            tx.set_aside_fetch(&bad, "refused by the client", 120, 0)?;
            Ok(())
        })
        .unwrap();
    let due: Vec<_> = store.due_fetches(1_000).unwrap();
    assert_eq!(due, vec![(good.clone(), 50)], "only the good target is due");
    let counts = store.counts().unwrap();
    assert_eq!((counts.fetch_queue, counts.set_aside), (1, 1));
    let listed = store.set_aside_fetches().unwrap();
    assert_eq!(
        listed,
        vec![SetAsideFetch {
            key: "cart:not-a-uuid".into(),
            reason: "refused by the client".into(),
            at_ms: 120,
            oldest_event_ms: 40,
        }]
    );

    // A replay queues it again, due now, with its oldest notification kept.
    let replayed = store
        .write(|tx| tx.replay_set_aside_fetch("cart:not-a-uuid", 200))
        .unwrap();
    assert!(replayed.is_some());
    assert!(store.set_aside_fetch("cart:not-a-uuid").unwrap().is_none());
    assert!(store.due_fetches(200).unwrap().contains(&(bad.clone(), 40)));
    assert!(store
        .write(|tx| tx.replay_set_aside_fetch("cart:not-a-uuid", 200))
        .unwrap()
        .is_none());

    // Set aside again, then a later notification queues it and a working fetch clears it.
    store
        .write(|tx| {
            tx.set_aside_fetch(&bad, "still refused", 300, 0)?;
            tx.queue_fetch(&bad, 400, 390)
        })
        .unwrap();
    assert_eq!(store.counts().unwrap().set_aside, 1);
    store.write(|tx| tx.clear_fetch(&bad)).unwrap();
    assert_eq!(store.counts().unwrap().set_aside, 0);

    // Discard gives it up.
    store
        .write(|tx| tx.set_aside_fetch(&bad, "refused", 500, 490).map(|_| ()))
        .unwrap();
    assert!(store
        .write(|tx| tx.discard_set_aside_fetch("cart:not-a-uuid"))
        .unwrap()
        .is_some());
    let counts = store.counts().unwrap();
    assert_eq!((counts.fetch_queue, counts.set_aside), (1, 0));
}

#[test]
fn a_schema_2_store_is_migrated_with_an_empty_set_aside_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bigreach.redb");
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(KEY_SCHEMA, 2u64.to_le_bytes().as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert!(store.set_aside_fetches().unwrap().is_empty());
}

#[test]
fn a_schema_3_store_opens_as_4_with_its_commands_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bigreach.redb");
    let id = {
        let store = Store::open(&path).unwrap();
        let id = store
            .write(|tx| tx.enqueue(&catalog_item("7", "10"), 0))
            .unwrap()
            .unwrap();
        drop(store);
        let db = Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(KEY_SCHEMA, 3u64.to_le_bytes().as_slice())
            .unwrap();
        txn.commit().unwrap();
        id
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 4);
    let record = store.command(id).unwrap().unwrap();
    assert_eq!(record.status, CommandStatus::Pending);
    assert_eq!(store.counts().unwrap().outbox_pending["catalog"], 1);
}

fn catalog_item(variant: &str, price: &str) -> NewCommand {
    NewCommand {
        lane: Lane::Catalog,
        destination: Destination::CatalogItem {
            item_id: variant.into(),
        },
        fact: format!("item:{variant}"),
        content_hash: price.into(),
        customer_key: None,
        payload: format!(r#"{{"price":{price}}}"#).into_bytes(),
        event_time_ms: 1,
    }
}

#[test]
fn a_newer_catalog_state_supersedes_an_older_one_backing_off_or_dead() {
    let (_dir, store) = temp_store();
    let none = HashSet::new();
    let old = store
        .write(|tx| tx.enqueue(&catalog_item("7", "10"), 0))
        .unwrap()
        .unwrap();
    // The old state fails and backs off for a minute.
    let claimed = store.due_commands(0, 50, true, &none).unwrap();
    assert_eq!(claimed.len(), 1);
    let retry = AttemptOutcome::Retry {
        error: "HTTP 429".into(),
        next_attempt_ms: 60_000,
        counts: false,
    };
    store.record_attempts(&[(old, retry)], 1, 5).unwrap();
    // A newer price arrives: it alone is due, now and after the old one's back-off.
    let new = store
        .write(|tx| tx.enqueue(&catalog_item("7", "8"), 2))
        .unwrap()
        .unwrap();
    let at = |now: i64| -> Vec<u64> {
        store
            .due_commands(now, 50, true, &none)
            .unwrap()
            .iter()
            .map(|c| c.id)
            .collect()
    };
    assert_eq!(at(2), vec![new]);
    assert_eq!(at(120_000), vec![new]);
    let superseded = store.command(old).unwrap().unwrap();
    assert_eq!(superseded.status, CommandStatus::Superseded);
    assert!(
        superseded
            .last_error
            .as_deref()
            .unwrap()
            .contains(&format!("command {new}")),
        "{superseded:?}"
    );
    // A late answer for the old one changes nothing.
    store
        .record_attempts(
            &[(old, AttemptOutcome::Delivered { request_id: None })],
            3,
            5,
        )
        .unwrap();
    assert_eq!(
        store.command(old).unwrap().unwrap().status,
        CommandStatus::Superseded
    );
    assert_eq!(store.counts().unwrap().outbox_pending["catalog"], 1);

    // A dead-lettered state is superseded too: replaying it would put an old price back.
    store
        .record_attempts(
            &[(
                new,
                AttemptOutcome::Dead {
                    reason: "bad".into(),
                },
            )],
            4,
            5,
        )
        .unwrap();
    assert_eq!(store.dead_letters().unwrap().len(), 1);
    let newest = store
        .write(|tx| tx.enqueue(&catalog_item("7", "9"), 5))
        .unwrap()
        .unwrap();
    assert!(store.dead_letters().unwrap().is_empty());
    assert_eq!(
        store.command(new).unwrap().unwrap().status,
        CommandStatus::Superseded
    );
    assert!(store
        .write(|tx| tx.replay_dead_letter(new, 6))
        .unwrap()
        .is_none());
    assert_eq!(at(6), vec![newest]);
}

#[test]
fn a_catalog_item_waits_while_an_older_state_of_it_is_in_flight() {
    let (_dir, store) = temp_store();
    let none = HashSet::new();
    let ids = store
        .write(|tx| {
            Ok((
                tx.enqueue(&catalog_item("7", "10"), 0)?.unwrap(),
                tx.enqueue(&catalog_item("8", "10"), 0)?.unwrap(),
            ))
        })
        .unwrap();
    let first: Vec<u64> = store
        .due_commands(0, 50, true, &none)
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(first, vec![ids.0, ids.1]);
    // Both are in flight; a newer state of item 7 arrives. It must not race the old request.
    let in_flight: HashSet<u64> = [ids.0, ids.1].into_iter().collect();
    let newer = store
        .write(|tx| tx.enqueue(&catalog_item("7", "8"), 1))
        .unwrap()
        .unwrap();
    assert!(store
        .due_commands(1, 50, true, &in_flight)
        .unwrap()
        .is_empty());
    // Once the old request is answered, the newer state goes.
    let only_8: HashSet<u64> = [ids.1].into_iter().collect();
    let next: Vec<u64> = store
        .due_commands(1, 50, true, &only_8)
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(next, vec![newer]);
}
