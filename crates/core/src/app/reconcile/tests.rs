use std::sync::Arc;

use bigreach_bigcommerce::Order;
use bigreach_clock::ManualClock;
use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::config::IdNames;
use crate::ingest::IngestSettings;
use crate::map::MappingContext;
use crate::model::AttemptOutcome;
use crate::store::Store;

/// 2025-03-04T00:00:00Z: the day after the orders.
const NOW_MS: i64 = 1_741_046_400_000;

fn order(id: u64, total: &str) -> Order {
    let mut order: Order = serde_json::from_value(json!({
        "id": id, "customer_id": 0,
        "date_created": "Mon, 03 Mar 2025 14:22:10 +0000",
        "date_modified": "Mon, 03 Mar 2025 14:25:41 +0000",
        "status_id": 11, "status": "Awaiting Fulfillment", "payment_status": "captured",
        "total_inc_tax": total, "total_ex_tax": total, "items_total": 1,
        "default_currency_code": "USD",
        "billing_address": {"email": format!("shopper{id}@example.org"), "country_iso2": "US"}
    }))
    .unwrap();
    order.line_items = serde_json::from_value(json!([
        {"id": id * 10, "order_id": id, "product_id": 3, "variant_id": 4, "quantity": 1,
         "price_inc_tax": total, "total_inc_tax": total}
    ]))
    .unwrap();
    order
}

fn settings() -> IngestSettings {
    IngestSettings {
        ids: IdNames::default(),
        mapping: MappingContext {
            store_currency: "USD".into(),
            source_name: "shop".into(),
            profile: Default::default(),
            group_names: Default::default(),
            attribute_names: Default::default(),
            orders: Default::default(),
            currencies: Default::default(),
        },
        phone_region: Some("US".into()),
        policy: crate::config::IdentityPolicy::Bigreach,
        catalog: Default::default(),
    }
}

struct Listing(Vec<Order>);

impl OrderSource for Listing {
    fn time_zone(&self) -> Result<String, AppError> {
        Ok("Etc/UTC".into())
    }
    fn settings(&self) -> Result<IngestSettings, AppError> {
        Ok(settings())
    }
    fn list(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<BigCommerceSide, AppError> {
        Ok(BigCommerceSide {
            orders: self
                .0
                .iter()
                .filter(|o| start <= o.date_created && o.date_created < end)
                .cloned()
                .collect(),
            refunds: Vec::new(),
        })
    }
}

fn api(store: &Store, orders: Vec<Order>) -> AppApi {
    let clock = ManualClock::new(Utc.timestamp_millis_opt(NOW_MS).unwrap());
    AppApi::new(store.clone(), clock).with_order_source(Arc::new(Listing(orders)))
}

/// Reads `orders` into the pipeline as enrich would, returning the purchase command ids.
fn ingest(store: &Store, orders: &[Order]) -> Vec<u64> {
    let batch = IngestBatch {
        observed: orders
            .iter()
            .map(|o| Observed {
                resource: Resource::Order(Box::new(o.clone())),
                initial_sync: false,
            })
            .collect(),
        ..IngestBatch::default()
    };
    crate::ingest::ingest(store, &settings(), &batch, NOW_MS - 1000).unwrap();
    orders
        .iter()
        .map(|o| {
            store
                .fact_command(&format!("purchase:{}", o.id))
                .unwrap()
                .unwrap()
                .id
        })
        .collect()
}

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn request(repair: bool) -> ReconcileRequest {
    ReconcileRequest {
        from: day("2025-03-03"),
        to: day("2025-03-03"),
        repair,
    }
}

#[test]
fn missing_purchases_are_explained_and_repaired_once_through_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb")).unwrap();
    let (delivered, dead, pending, unseen) = (
        order(1, "10.00"),
        order(2, "20.00"),
        order(3, "30.00"),
        order(4, "40.00"),
    );
    let ids = ingest(&store, &[delivered.clone(), dead.clone(), pending.clone()]);
    store
        .record_attempts(
            &[
                (ids[0], AttemptOutcome::Delivered { request_id: None }),
                (
                    ids[1],
                    AttemptOutcome::Dead {
                        reason: "HTTP 400: bad".into(),
                    },
                ),
            ],
            NOW_MS - 500,
            5,
        )
        .unwrap();
    let api = api(&store, vec![delivered, dead, pending, unseen]);

    let out = api.reconcile(request(false), "operator").unwrap();
    assert!(!out.balanced);
    let findings: Vec<(u64, Class, &str)> = out
        .findings
        .iter()
        .map(|f| (f.order_id, f.class, f.note.split(' ').next().unwrap_or("")))
        .collect();
    assert_eq!(
        findings,
        vec![
            (2, Class::Missing, "dead"),
            (3, Class::Missing, "pending"),
            (4, Class::Missing, "never"),
        ]
    );
    assert_eq!(out.rows[0].bigcommerce_gross, "100.00".parse().unwrap());
    assert_eq!(out.rows[0].bloomreach_gross, "10.00".parse().unwrap());
    assert!(out.repair.is_none());
    // The answer's shape, as the CLI, the local API and the screens read it.
    insta::assert_json_snapshot!("reconciliation", out);

    let out = api.reconcile(request(true), "operator").unwrap();
    let repair = out.repair.expect("a repair");
    assert_eq!(repair.dead_letters_replayed, vec![ids[1]]);
    assert_eq!(repair.already_pending, vec![3]);
    assert_eq!(repair.orders_resent, vec![4]);
    let resent = store.fact_command("purchase:4").unwrap().expect("enqueued");
    assert_eq!(resent.status, CommandStatus::Pending);

    // A second repair sends nothing twice: everything missing is now on its way.
    let out = api.reconcile(request(true), "operator").unwrap();
    let repair = out.repair.expect("a repair");
    assert!(repair.orders_resent.is_empty() && repair.dead_letters_replayed.is_empty());
    assert_eq!(repair.already_pending, vec![2, 3, 4]);

    // Delivered, everything balances.
    let pending: Vec<(u64, AttemptOutcome)> = [ids[1], ids[2], resent.id]
        .into_iter()
        .map(|id| (id, AttemptOutcome::Delivered { request_id: None }))
        .collect();
    store.record_attempts(&pending, NOW_MS, 5).unwrap();
    let out = api.reconcile(request(false), "operator").unwrap();
    assert!(out.balanced, "{:#?}", out.findings);
    assert_eq!(out.totals[0].bloomreach_net, "100.00".parse().unwrap());

    let actions: Vec<String> = store
        .audit_log()
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| a.starts_with("reconcile."))
            .count(),
        4,
        "{actions:?}"
    );
    assert!(actions.contains(&"dead_letter.replayed".to_owned()));
}

#[test]
fn reconciling_needs_the_running_appliance_and_a_valid_range() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb")).unwrap();
    let clock = ManualClock::new(Utc.timestamp_millis_opt(NOW_MS).unwrap());
    let error = AppApi::new(store.clone(), clock)
        .reconcile(request(false), "operator")
        .unwrap_err();
    assert_eq!(error.code, Code::NotRunning);
    let backwards = ReconcileRequest {
        from: day("2025-03-04"),
        to: day("2025-03-03"),
        repair: false,
    };
    let error = api(&store, vec![])
        .reconcile(backwards, "operator")
        .unwrap_err();
    assert_eq!(error.code, Code::BadRequest);
    assert!(
        error.message.contains("before it starts"),
        "{}",
        error.message
    );
}
