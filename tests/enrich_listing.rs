//! Enrich lists the orders a burst of notifications names by what changed since the oldest
//! notification when their ids are spread out. While it pages through that listing, staff keep
//! editing orders (the twin's `order_listing_churn` fault edits the listing's first order before
//! each page after the first). Listed by modification time, the edited order moves to the last
//! page and the order on the first page's boundary is on neither: its purchase would wait for
//! the safety-net poll, which is off here. Listed by id, nothing moves, and every purchase
//! arrives. The appliance and both twins run on one manual clock.

mod common;

use std::time::Duration;

use bigreach_clock::{Clock, ManualClock};
use bigreach_harness::twins::Twins;
use bigreach_twins::bigcommerce::OrderEdit;
use bigreach_twins::control::FaultSwitch;
use chrono::{TimeZone, Utc};
use common::manual_clock::{
    advance_until, drive, paid_guest_order, purchases_in_bloomreach, small_plan, start_appliance,
};

/// New orders in the burst: more than one listing page (250).
const NEW_ORDERS: usize = 300;

/// Both twins and the appliance on one manual clock, the first sync done.
struct Synced {
    _dir: tempfile::TempDir,
    clock: std::sync::Arc<ManualClock>,
    twins: Twins,
    config: bigreach_core::config::Config,
    appliance: bigreach_runtime::Appliance,
}

/// The small store with 1,200 historical orders over 30 days (ids far enough apart for several
/// id ranges), and the poller off: no safety net, what enrich misses stays missing.
async fn synced() -> Synced {
    let mut plan = small_plan();
    plan.store.historical_orders = 1_200;
    plan.store.history_days = 30;
    let dir = tempfile::tempdir().unwrap();
    // On a whole second, so that the writes below and those during a listing fall in different
    // seconds once the clock moves.
    let clock = ManualClock::new(Utc.timestamp_opt(Utc::now().timestamp(), 0).unwrap());
    let twins = Twins::start(&plan, clock.clone()).await.unwrap();
    let secrets = Twins::secrets();
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    config.bigcommerce.poll_interval_secs = 86_400;
    let appliance = start_appliance(&clock, &config, &secrets, listeners).await;
    advance_until(&clock, Duration::from_millis(100), "the first sync", || {
        is_idle(&twins, &appliance)
    })
    .await;
    Synced {
        _dir: dir,
        clock,
        twins,
        config,
        appliance,
    }
}

/// Every webhook delivered, a poll pass done and nothing left to do.
fn is_idle(twins: &Twins, appliance: &bigreach_runtime::Appliance) -> bool {
    twins.bigcommerce.webhook_backlog() == 0
        && appliance.poll_passes() >= 1
        && appliance.status().unwrap().idle
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_edited_while_enrich_pages_through_a_listing_hide_no_purchase() {
    let Synced {
        _dir,
        clock,
        twins,
        config,
        appliance,
    } = synced().await;
    let step = Duration::from_millis(100);
    let idle = || is_idle(&twins, &appliance);

    // The burst, all at one instant: three old orders get a staff note (the first, middle and
    // last ids: notifications over more id ranges than enrich lists by range) and 300 shoppers
    // pay.
    let live_since = clock.now();
    let mut history: Vec<u64> = twins
        .bigcommerce
        .truth()
        .orders
        .iter()
        .map(|o| o.order_id)
        .collect();
    history.sort_unstable();
    let spread = [
        history[0],
        history[history.len() / 2],
        history[history.len() - 1],
    ];
    assert!(
        spread[2] - spread[0] > 1_000,
        "the history's ids span more than two id ranges: {spread:?}"
    );
    for id in spread {
        twins
            .bigcommerce
            .edit_order(id, OrderEdit::StaffNote("gift wrap".into()))
            .unwrap();
    }
    let new: Vec<u64> = (0..NEW_ORDERS)
        .map(|i| paid_guest_order(&twins.bigcommerce, &format!("burst{i}@example.com"), None))
        .collect();
    twins
        .bigcommerce
        .switch_fault(&FaultSwitch {
            kind: "order_listing_churn".into(),
            on: true,
            ..FaultSwitch::default()
        })
        .unwrap();
    // Every notification of the burst is in the inbox before enrich's next round (the clock
    // has not moved, so enrich still waits out its coalescing pause): one round sees them all,
    // and a later notification of the same order cannot make up for one it missed.
    tokio::time::timeout(
        Duration::from_secs(60),
        twins.bigcommerce.webhooks_settled(),
    )
    .await
    .expect("the burst's webhooks are delivered");
    clock.advance(Duration::from_millis(1_500));
    advance_until(&clock, step, "the burst delivered", idle).await;

    let summary = bigreach_harness::verdict::evaluate(
        &twins.bigcommerce.truth(),
        &twins.bloomreach.truth(),
        &config.bloomreach.ids,
        &config.bloomreach.catalog_name,
        live_since,
    );
    let edited_while_listed = twins
        .bigcommerce
        .truth()
        .orders
        .iter()
        .filter(|o| new.contains(&o.order_id))
        .count();
    assert_eq!(
        edited_while_listed, NEW_ORDERS,
        "the burst's orders are in the store"
    );
    assert!(
        appliance.status().unwrap().metrics.resources_fetched >= NEW_ORDERS as u64,
        "enrich fetched fewer orders than the burst placed"
    );
    assert_eq!(
        summary.purchases_missing, 0,
        "a purchase went missing while enrich paged through orders that kept changing"
    );
    assert_eq!(summary.purchases_duplicated, 0);
    drive(&clock, appliance.shutdown()).await;
    twins.shutdown().await;
}

/// A payment whose commit lagged: the twin's `order_commit_lag` stamps it 5 s before it becomes
/// visible, so the next listing by modification time (which starts 2 s before the oldest
/// notification, or where the last listing's coverage ends) cannot show it. The notified order
/// then goes on to the listing by id range instead of waiting for the safety-net poll (off
/// here): its purchase arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_committed_after_a_listing_by_modification_time_still_arrives() {
    let Synced {
        _dir,
        clock,
        twins,
        appliance,
        ..
    } = synced().await;
    let step = Duration::from_millis(100);
    let idle = || is_idle(&twins, &appliance);

    // Unpaid orders of the history, in id ranges far apart: notified together, they are listed
    // by modification time first.
    let mut unpaid: Vec<u64> = twins
        .bigcommerce
        .truth()
        .orders
        .iter()
        .filter(|o| matches!(o.status_id, 1 | 7))
        .map(|o| o.order_id)
        .collect();
    unpaid.sort_unstable();
    assert!(
        unpaid.len() >= 3,
        "the history has unpaid orders: {unpaid:?}"
    );
    let spread = [
        unpaid[0],
        unpaid[unpaid.len() / 2],
        unpaid[unpaid.len() - 1],
    ];
    assert!(
        spread[1] - spread[0] > 500 && spread[2] - spread[1] > 500,
        "three id ranges: {spread:?}"
    );
    assert!(spread
        .iter()
        .all(|id| !purchases_in_bloomreach(&twins.bloomreach).contains_key(id)));
    twins
        .bigcommerce
        .switch_fault(&FaultSwitch {
            kind: "order_commit_lag".into(),
            on: true,
            ..FaultSwitch::default()
        })
        .unwrap();
    for id in spread {
        twins.bigcommerce.pay(id).unwrap();
    }
    tokio::time::timeout(
        Duration::from_secs(60),
        twins.bigcommerce.webhooks_settled(),
    )
    .await
    .expect("the payments' webhooks are delivered");
    clock.advance(Duration::from_millis(1_500));
    advance_until(&clock, step, "the payments handled", idle).await;
    let arrived = purchases_in_bloomreach(&twins.bloomreach);
    let missing: Vec<u64> = spread
        .iter()
        .copied()
        .filter(|id| !arrived.contains_key(id))
        .collect();
    assert!(
        missing.is_empty(),
        "purchases that waited for the safety-net poll: {missing:?}"
    );
    drive(&clock, appliance.shutdown()).await;
    twins.shutdown().await;
}
