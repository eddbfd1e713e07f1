//! The safety-net poll lists every order changed since its watermark minus a 600 s overlap, so
//! each pass re-lists what the previous passes (and the webhooks) already brought. What the
//! store already holds exactly is left out of the inbox: in a sale, a pass would otherwise queue
//! thousands of unchanged orders ahead of the new webhooks. A changed order still goes in.
//! Webhooks are not registered here, so only the poller sees the orders. The appliance and both
//! twins run on one manual clock.

mod common;

use std::time::Duration;

use bigreach_clock::ManualClock;
use bigreach_harness::twins::Twins;
use chrono::Utc;
use common::manual_clock::{advance_until, drive, paid_guest_order, small_plan, start_appliance};

const POLL_SECS: u64 = 300;

/// Inbox entries appended since the store was created.
fn inbox_appended(appliance: &bigreach_runtime::Appliance) -> i64 {
    appliance
        .store()
        .meta_i64("next_inbox_seq")
        .unwrap()
        .unwrap_or(1)
        - 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_pass_queues_only_what_changed_since_the_store_saw_it() {
    // No history: its refunded orders are re-queued on every pass that lists them (their
    // refunds are read with them, so only enrich can tell whether they changed).
    let mut plan = small_plan();
    plan.store.historical_orders = 0;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Utc::now());
    let twins = Twins::start(&plan, clock.clone()).await.unwrap();
    let secrets = Twins::secrets();
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    config.webhooks.manage_hooks = false;
    config.bigcommerce.poll_interval_secs = POLL_SECS;
    let appliance = start_appliance(&clock, &config, &secrets, listeners).await;
    let step = Duration::from_millis(500);
    let passes_then_idle = |n: u64| {
        let appliance = &appliance;
        move || appliance.poll_passes() >= n && appliance.status().unwrap().idle
    };
    advance_until(&clock, step, "the first sync", passes_then_idle(1)).await;

    let order = paid_guest_order(&twins.bigcommerce, "poll.unchanged@example.com", None);
    advance_until(&clock, step, "the order polled", passes_then_idle(2)).await;
    let after_order = inbox_appended(&appliance);
    assert!(after_order > 0, "the poller queued nothing at all");

    // The next pass lists the order again (it changed within the overlap), unchanged.
    advance_until(&clock, step, "a pass with no change", passes_then_idle(3)).await;
    assert_eq!(
        inbox_appended(&appliance),
        after_order,
        "a pass over orders the store already holds queued them again"
    );

    // A change is queued: the cancellation reaches the inbox on the next pass.
    twins.bigcommerce.cancel(order).unwrap();
    advance_until(&clock, step, "the cancellation polled", passes_then_idle(4)).await;
    assert_eq!(
        inbox_appended(&appliance),
        after_order + 1,
        "the pass after one order changed did not queue exactly that order"
    );
    drive(&clock, appliance.shutdown()).await;
    twins.shutdown().await;
}
