//! The catalog comparison as an operation over a store and a fake source: the report, the
//! repair's outbox writes (deltas, full state, delete), its audit entries, the last report, and
//! the JSON shape of the answer.

use std::sync::Arc;

use bigreach_clock::{Clock, ManualClock};
use chrono::{TimeZone, Utc};
use serde_json::json;
use std::sync::Mutex;

use super::*;
use crate::app::{Answer, Operation};
use crate::model::Destination;
use crate::store::Store;

const T0_MS: i64 = 1_764_547_200_000; // 2025-12-01T00:00:00Z

fn product(variants: &[(u64, &str, i64)]) -> Product {
    serde_json::from_value(json!({
        "id": 311, "name": "Organic Tee", "type": "physical", "sku": "TEE-ORG",
        "price": 25.0, "sale_price": 0, "retail_price": 0, "calculated_price": 25.0,
        "categories": [23], "brand_id": 7, "inventory_level": 10, "inventory_tracking": "variant",
        "is_visible": true, "availability": "available", "custom_url": {"url": "/tee/"},
        "date_modified": "2025-11-03T14:25:41+00:00", "base_variant_id": null,
        "variants": variants.iter().map(|(id, price, stock)| json!({
            "id": id, "product_id": 311, "sku": format!("TEE-{id}"), "price": price.parse::<f64>().unwrap(),
            "sale_price": null, "retail_price": null, "calculated_price": price.parse::<f64>().unwrap(),
            "inventory_level": stock, "purchasing_disabled": false, "image_url": "https://cdn.example/t.jpg",
            "option_values": []
        })).collect::<Vec<_>>()
    }))
    .expect("product fixture parses")
}

/// Both sides held in memory; Bloomreach's side can be changed between runs.
struct FakeSource {
    products: Mutex<Vec<Product>>,
    items: Mutex<Vec<BloomreachItem>>,
}

impl CatalogSource for FakeSource {
    fn mapping(&self) -> Result<CatalogMapping, AppError> {
        Ok(CatalogMapping::default())
    }
    fn products(&self) -> Result<Vec<Product>, AppError> {
        Ok(self.products.lock().unwrap().clone())
    }
    fn bloomreach_items(&self) -> Result<Vec<BloomreachItem>, AppError> {
        Ok(self.items.lock().unwrap().clone())
    }
}

fn fixture() -> (
    tempfile::TempDir,
    Store,
    Arc<ManualClock>,
    Arc<FakeSource>,
    AppApi,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb")).unwrap();
    let clock = ManualClock::new(Utc.timestamp_millis_opt(T0_MS).unwrap());
    let bigcommerce = vec![product(&[(1, "10", 5), (2, "12", 4), (3, "14", 3)])];
    let mapping = CatalogMapping::default();
    // Bloomreach holds what BigReach wrote: variant 1 as mapped, variant 2 with a price edited
    // behind BigReach's back, variant 3 deleted behind its back, and an item 9 of a variant
    // BigCommerce no longer has.
    let mut items: Vec<BloomreachItem> = crate::map::catalog_items(&bigcommerce[0], &mapping)
        .into_iter()
        .map(|i| (i.item_id, i.properties))
        .collect();
    items[1].1.insert("price".into(), json!(99));
    items[1].1.insert("in_stock".into(), json!("True"));
    items.remove(2);
    let mut gone = items[0].1.clone();
    gone.insert("sku".into(), json!("TEE-9"));
    items.push(("9".into(), gone));
    let source = Arc::new(FakeSource {
        products: Mutex::new(bigcommerce),
        items: Mutex::new(items),
    });
    let api = AppApi::new(store.clone(), clock.clone()).with_catalog_source(source.clone());
    (dir, store, clock, source, api)
}

#[test]
fn without_a_source_the_comparison_says_the_appliance_must_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb")).unwrap();
    let api = AppApi::new(store, ManualClock::new(Utc::now()));
    let error = api
        .call(Operation::CatalogDrift { repair: false }, "test")
        .unwrap_err();
    assert_eq!(error.code, Code::NotRunning);
    assert!(error.message.contains("bigreach serve"), "{error}");
    let error = api.call(Operation::LastCatalogDrift, "test").unwrap_err();
    assert_eq!(error.code, Code::NotFound);
    assert!(Operation::CatalogDrift { repair: true }.changes_state());
    assert!(!Operation::CatalogDrift { repair: false }.changes_state());
    assert!(!Operation::LastCatalogDrift.changes_state());
}

#[test]
fn a_report_finds_the_drift_and_the_repair_enqueues_deltas_full_states_and_deletes() {
    let (_dir, store, clock, _source, api) = fixture();
    let report = api.catalog_drift(false, "operator (test)").unwrap();
    assert_eq!(report.missing, vec!["3"]);
    assert_eq!(report.extra, vec!["9"]);
    assert_eq!(report.differing.len(), 1);
    assert_eq!(report.differing[0].item_id, "2");
    // "True" is how Bloomreach may spell true: only the price differs.
    let fields: Vec<&str> = report.differing[0]
        .fields
        .iter()
        .map(|f| f.field.as_str())
        .collect();
    assert_eq!(fields, ["price"]);
    assert_eq!(report.counts.in_sync, 1);
    assert!(report.unrepaired());
    assert_eq!(
        store.counts().unwrap().enqueued,
        0,
        "a report changes nothing"
    );

    clock.advance(std::time::Duration::from_secs(60));
    let repaired = api.catalog_drift(true, "operator (test)").unwrap();
    let repair = repaired.repair.clone().unwrap();
    assert_eq!(
        (repair.partial_updates, repair.full_upserts, repair.deletes),
        (1, 1, 1)
    );
    assert!(!repaired.unrepaired());
    let commands = store.catalog_item_commands().unwrap();
    let payload = |id: &str| -> Value { serde_json::from_slice(&commands[id].payload).unwrap() };
    assert_eq!(payload("2"), json!({"price": 12.0}));
    assert_eq!(payload("3")["sku"], "TEE-3");
    assert!(
        payload("3").as_object().unwrap().len() > 10,
        "the full state"
    );
    assert!(drift::is_delete(&commands["9"].payload));
    assert_eq!(
        commands["9"].destination,
        Destination::CatalogItem {
            item_id: "9".into()
        }
    );
    // While those writes are queued, a comparison calls them pending, not drift.
    let again = api.catalog_drift(false, "operator (test)").unwrap();
    assert_eq!(again.drifted(), 0, "{again:?}");
    assert_eq!(again.pending_writes, vec!["2", "3"]);
    assert_eq!(again.retired, vec!["9"]);
    // The repaired state is the last one enqueued: a later live delta is taken against it.
    let snapshot = store.snapshot("catalog_item:2").unwrap().unwrap();
    let state: Map<String, Value> = serde_json::from_slice(&snapshot.json).unwrap();
    assert_eq!(state["price"], json!(12.0));
    assert!(store.snapshot("catalog_item:9").unwrap().is_none());

    let actions: Vec<(String, String, Value)> = store
        .audit_log()
        .unwrap()
        .into_iter()
        .map(|r| (r.actor, r.action, serde_json::from_str(&r.detail).unwrap()))
        .collect();
    let drift_runs: Vec<&(String, String, Value)> =
        actions.iter().filter(|a| a.1 == AUDIT_DRIFT).collect();
    assert_eq!(drift_runs.len(), 3);
    assert_eq!(drift_runs[0].2["differing"], 1);
    assert_eq!(drift_runs[0].0, "operator (test)");
    let repairs: Vec<&(String, String, Value)> =
        actions.iter().filter(|a| a.1 == AUDIT_REPAIRED).collect();
    assert_eq!(repairs.len(), 1);
    assert_eq!(repairs[0].2["deletes"], 1);

    let last = api.call(Operation::LastCatalogDrift, "test").unwrap();
    assert_eq!(last, Answer::CatalogDrift(Box::new(again)));
}

#[test]
fn a_repair_never_overtakes_a_write_enqueued_since_the_comparison_began() {
    let (_dir, store, clock, _source, api) = fixture();
    let report = api.catalog_drift(false, "test").unwrap();
    let started = report.started_at.timestamp_millis();
    // A live write of item 2 lands after the comparison read both sides.
    let newer = crate::map::catalog_items(
        &product(&[(1, "10", 5), (2, "11", 4), (3, "14", 3)]),
        &CatalogMapping::default(),
    )
    .remove(1);
    store
        .write(|tx| {
            let mut done = tx.fact_record("item:2")?;
            assert!(done.is_none());
            tx.enqueue(&newer.command(&newer.properties), started + 1)?;
            done = tx.fact_record("item:2")?;
            assert!(done.is_some());
            let plan = drift::repair_plan(&report, std::slice::from_ref(&newer));
            let repair = enqueue_repair(tx, &plan, started, clock.now_ms())?;
            assert_eq!(repair.skipped, vec!["2"]);
            assert_eq!(repair.partial_updates, 0);
            Ok(())
        })
        .unwrap();
    let commands = store.catalog_item_commands().unwrap();
    let payload: Value = serde_json::from_slice(&commands["2"].payload).unwrap();
    assert_eq!(payload["price"], json!(11.0), "the newer write stays");
}

#[test]
fn the_report_shape_is_pinned() {
    let (_dir, _store, _clock, _source, api) = fixture();
    let report = api
        .call(Operation::CatalogDrift { repair: true }, "test")
        .unwrap();
    insta::assert_json_snapshot!("catalog_drift", report);
    let operations = [
        Operation::CatalogDrift { repair: true },
        Operation::LastCatalogDrift,
    ];
    let json = serde_json::to_value(&operations).unwrap();
    assert_eq!(
        json,
        json!([{"op": "catalog_drift", "repair": true}, {"op": "last_catalog_drift"}])
    );
    let back: Vec<Operation> = serde_json::from_value(json).unwrap();
    assert_eq!(back, operations);
}
