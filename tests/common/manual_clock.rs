//! Driving an appliance that runs on a [`ManualClock`]: the test moves the clock in small
//! steps while the appliance's I/O runs for real, and every wait is bounded by real time.
//! Shared by the tests that revoke credentials, start during an outage or feed poison.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use bigreach_clock::{Clock, ManualClock, SystemClock};
use bigreach_harness::plan::DemoPlan;
use chrono::Utc;

/// Advances the manual clock in small steps until `condition` holds (bounded by 60 s of real
/// time): the appliance's timers fire as the clock moves, its I/O runs for real.
pub async fn advance_until<F: Fn() -> bool>(
    clock: &ManualClock,
    step: Duration,
    what: &str,
    condition: F,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        clock.advance(step);
        SystemClock.sleep(Duration::from_millis(5)).await;
    }
}

/// Advances the manual clock by `total` in steps, letting the appliance run between them.
pub async fn advance_by(clock: &ManualClock, total: Duration, step: Duration) {
    let mut moved = Duration::ZERO;
    while moved < total {
        clock.advance(step);
        moved += step;
        SystemClock.sleep(Duration::from_millis(5)).await;
    }
}

/// Runs `work` to completion while moving the manual clock (the appliance's clients pace on it
/// and its receiver commits in timed groups), bounded by 60 s of real time.
pub async fn drive<T>(clock: &ManualClock, work: impl Future<Output = T>) -> T {
    tokio::pin!(work);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = SystemClock.sleep(Duration::from_millis(2)) => {
                assert!(tokio::time::Instant::now() < deadline, "timed out");
                clock.advance(Duration::from_millis(20));
            }
        }
    }
}

/// The small demo plan without a trading burst.
pub fn small_plan() -> DemoPlan {
    let mut plan =
        DemoPlan::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo-small.toml"))
            .unwrap();
    plan.trading.over_secs = 0;
    plan
}

/// A webhook envelope from the twin's store: its `producer` names the store hash; the numeric
/// `store_id` is left out (the receiver then judges it by `producer`; [`webhook_from`] sets it).
pub fn webhook(scope: &str, data: serde_json::Value, hash: &str) -> String {
    serde_json::json!({
        "scope": scope,
        "data": data,
        "hash": hash,
        "created_at": Utc::now().timestamp(),
        "producer": "stores/demo42"
    })
    .to_string()
}

/// A webhook envelope naming the numeric store `store_id` (and the twin's store hash).
pub fn webhook_from(store_id: &str, scope: &str, data: serde_json::Value, hash: &str) -> String {
    serde_json::json!({
        "scope": scope,
        "store_id": store_id,
        "data": data,
        "hash": hash,
        "created_at": Utc::now().timestamp(),
        "producer": "stores/demo42"
    })
    .to_string()
}

/// Posts `body` to the receiver at `url` with the twin's secret; the answer's status.
pub async fn post_webhook(clock: &ManualClock, url: &str, body: String) -> u16 {
    drive(
        clock,
        reqwest::Client::new()
            .post(url)
            .header(
                bigreach_runtime::receiver::SECRET_HEADER,
                bigreach_harness::twins::credentials::WEBHOOK_SECRET,
            )
            .body(body)
            .send(),
    )
    .await
    .unwrap()
    .status()
    .as_u16()
}

/// Starts the appliance on `clock` (its start-up paces on the clock, so the clock is driven).
pub async fn start_appliance(
    clock: &std::sync::Arc<ManualClock>,
    config: &bigreach_core::config::Config,
    secrets: &bigreach_core::secret::SecretResolver,
    listeners: bigreach_runtime::Listeners,
) -> bigreach_runtime::Appliance {
    drive(
        clock,
        bigreach_runtime::Appliance::start_with(config, secrets, clock.clone(), listeners),
    )
    .await
    .expect("the appliance starts")
}

/// A guest checkout by a new shopper with `email`, in `currency` (`None`: the store default),
/// paid; returns the order id.
pub fn paid_guest_order(
    bigcommerce: &bigreach_twins::bigcommerce::BigCommerceTwin,
    email: &str,
    currency: Option<&str>,
) -> u64 {
    use bigreach_twins::bigcommerce::{CheckoutSpec, ShopperSpec};
    let person = bigcommerce.add_person(&ShopperSpec {
        email: Some(email.to_owned()),
        phone: None,
        first_name: "Test".into(),
        last_name: "Shopper".into(),
        country_iso2: "US".into(),
    });
    let order = bigcommerce
        .checkout(
            person,
            &CheckoutSpec {
                as_guest: true,
                currency: currency.map(str::to_owned),
                ..CheckoutSpec::default()
            },
        )
        .expect("the twin takes the checkout");
    bigcommerce.pay(order).expect("the twin takes the payment");
    order
}

/// Purchase ids of the Bloomreach twin's `purchase` sale events (refunds left out), with how
/// often each is stored.
pub fn purchases_in_bloomreach(
    bloomreach: &bigreach_twins::bloomreach::BloomreachTwin,
) -> std::collections::BTreeMap<u64, usize> {
    let mut seen = std::collections::BTreeMap::new();
    for profile in bloomreach.truth().profiles {
        for event in &profile.events {
            if event.event_type == "purchase"
                && event
                    .properties
                    .get("purchase_status")
                    .and_then(|s| s.as_str())
                    != Some("refund")
            {
                let id = event.properties["purchase_id"].as_u64().unwrap();
                *seen.entry(id).or_insert(0) += 1;
            }
        }
    }
    seen
}
