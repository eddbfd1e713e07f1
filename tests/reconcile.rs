//! Reconciliation against a running appliance: sales and a refund BigReach never heard of (a
//! proxy in front of the receiver that answered 200 and dropped the deliveries, then hooks
//! disabled over a weekend with the safety-net poll off) are found per day and currency by
//! `POST /api/reconcile`, explained, and repaired through the outbox; afterwards both sides
//! agree to the cent, and the twin's Bloomreach holds every purchase once. One manual clock runs
//! the appliance and both twins.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bigreach_clock::ManualClock;
use bigreach_harness::twins::Twins;
use chrono::{DateTime, Utc};
use common::manual_clock::{
    advance_by, advance_until, drive, paid_guest_order, small_plan, start_appliance,
};
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// Friday 6 March 2026, 09:00 UTC (the twin's store keeps UTC).
const FRIDAY_9AM: &str = "2026-03-06T09:00:00Z";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_finds_and_repairs_every_missing_purchase_to_the_cent() {
    let mut plan = small_plan();
    // No seeded history: every order of the range is one this test places.
    plan.store.historical_orders = 0;
    plan.store.currencies = vec!["USD".into(), "EUR".into(), "GBP".into()];
    let dir = tempfile::tempdir().unwrap();
    let start: DateTime<Utc> = FRIDAY_9AM.parse().unwrap();
    let clock = ManualClock::new(start);
    let twins = Twins::start(&plan, clock.clone()).await.unwrap();
    let secrets = Twins::secrets();
    let (mut config, listeners) = twins.appliance_config(dir.path()).unwrap();
    // The safety-net poll is off (once a month), so a lost webhook stays lost.
    config.bigcommerce.poll_interval_secs = 30 * 24 * 3600;
    // A proxy in front of the receiver that can lie: 200 to BigCommerce, nothing forwarded.
    let lying = Arc::new(AtomicBool::new(false));
    let swallowed = Arc::new(AtomicUsize::new(0));
    let (flag, count) = (lying.clone(), swallowed.clone());
    let receiver = url::Url::parse(&format!(
        "http://{}/",
        config.webhooks.public_url.host_str().unwrap().to_owned()
            + ":"
            + &config.webhooks.public_url.port().unwrap().to_string()
    ))
    .unwrap();
    let proxy = common::proxy(
        receiver,
        Arc::new(move |_: &str, _: &[u8]| {
            if flag.load(Ordering::SeqCst) {
                count.fetch_add(1, Ordering::SeqCst);
                return common::Verdict::Answer(200, "{}".into());
            }
            common::Verdict::Forward
        }),
        Arc::new(|_: &str, _: &[u8], _: u16, _: &[u8]| None),
    )
    .await;
    config.webhooks.public_url = proxy.join("webhooks").unwrap();
    let appliance = start_appliance(&clock, &config, &secrets, listeners).await;
    advance_until(&clock, Duration::from_millis(100), "the first sync", || {
        appliance.poll_passes() >= 1 && appliance.status().unwrap().idle
    })
    .await;

    let bc = &twins.bigcommerce;
    let buy = |n: u32, currency: &str| {
        paid_guest_order(bc, &format!("reconcile{n}@example.com"), Some(currency))
    };
    let purchases_in_bloomreach = || {
        let mut ids: Vec<u64> = twins
            .bloomreach
            .truth()
            .profiles
            .iter()
            .flat_map(|p| p.events.iter())
            .filter(|e| e.event_type == "purchase" && e.properties["purchase_status"] == "success")
            .filter_map(|e| e.properties["purchase_id"].as_u64())
            .collect();
        ids.sort_unstable();
        ids
    };
    let settle = |what: &'static str, want: Vec<u64>| {
        let (clock, appliance) = (&clock, &appliance);
        async move {
            advance_until(clock, Duration::from_millis(200), what, || {
                purchases_in_bloomreach() == want && appliance.status().unwrap().idle
            })
            .await;
        }
    };

    // Friday: a USD sale arrives; a EUR sale's deliveries are swallowed by the lying proxy; a
    // GBP sale arrives.
    let usd = buy(1, "USD");
    settle("the USD sale", vec![usd]).await;
    advance_by(&clock, Duration::from_secs(3600), Duration::from_secs(60)).await;
    lying.store(true, Ordering::SeqCst);
    let eur = buy(2, "EUR");
    advance_until(
        &clock,
        Duration::from_millis(200),
        "the swallowed webhooks",
        || swallowed.load(Ordering::SeqCst) >= 1 && bc.webhook_backlog() == 0,
    )
    .await;
    lying.store(false, Ordering::SeqCst);
    advance_by(&clock, Duration::from_secs(3600), Duration::from_secs(60)).await;
    let gbp = buy(3, "GBP");
    settle("the GBP sale", vec![usd, gbp]).await;

    // The weekend: the hooks are disabled; two sales nobody hears of.
    bc.deactivate_hooks();
    advance_by(
        &clock,
        Duration::from_secs(24 * 3600),
        Duration::from_secs(600),
    )
    .await;
    let saturday = buy(4, "USD");
    advance_by(
        &clock,
        Duration::from_secs(24 * 3600),
        Duration::from_secs(600),
    )
    .await;
    let sunday = buy(5, "EUR");
    // Sunday evening 12.50 of Friday's USD sale is refunded; nobody hears of that either.
    advance_by(
        &clock,
        Duration::from_secs(8 * 3600),
        Duration::from_secs(600),
    )
    .await;
    let refund = bc.refund_amount(usd, "12.50".parse().unwrap()).unwrap();
    advance_by(
        &clock,
        Duration::from_secs(10 * 3600),
        Duration::from_secs(600),
    )
    .await;
    assert_eq!(purchases_in_bloomreach(), vec![usd, gbp]);

    // Monday: reconcile Friday to Sunday.
    let status = appliance.status().unwrap();
    let base = format!("http://{}", status.api_address);
    let token = appliance.api_token().to_owned();
    let reconcile = |repair: bool| {
        let (base, token, clock) = (base.clone(), token.clone(), &clock);
        async move {
            let answer = drive(
                clock,
                reqwest::Client::new()
                    .post(format!("{base}/api/reconcile"))
                    .bearer_auth(token)
                    .json(&json!({"from": "2026-03-06", "to": "2026-03-08", "repair": repair}))
                    .send(),
            )
            .await
            .unwrap();
            assert_eq!(answer.status(), 200);
            drive(clock, answer.json::<Value>()).await.unwrap()
        }
    };
    let report = reconcile(false).await;
    assert_eq!(report["balanced"], false);
    let missing: Vec<(u64, String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["class"], "missing", "{f}");
            let text = |key: &str| f[key].as_str().unwrap().to_owned();
            (
                f["order_id"].as_u64().unwrap(),
                text("subject"),
                text("note"),
            )
        })
        .collect();
    let subject = |id: u64, what: &str| (id, what.to_owned());
    assert_eq!(
        missing
            .iter()
            .map(|(id, what, _)| (*id, what.clone()))
            .collect::<Vec<_>>(),
        vec![
            subject(eur, "sale"),
            subject(saturday, "sale"),
            subject(usd, "refund"),
            subject(sunday, "sale"),
        ]
    );
    // The refund counts on the day it was processed (by day, then order), in the order's
    // currency.
    let found = &report["findings"][2];
    assert_eq!(found["refund_id"], refund);
    assert_eq!(found["day"], "2026-03-08");
    assert_eq!(found["currency"], "USD");
    assert_eq!(found["bigcommerce_amount"], "12.50");
    assert!(
        missing
            .iter()
            .filter(|(_, what, _)| what == "sale")
            .all(|(_, _, note)| note.starts_with("never seen")),
        "{missing:?}"
    );
    let rows: Vec<(String, String, u64, u64)> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["day"].as_str().unwrap().to_owned(),
                r["currency"].as_str().unwrap().to_owned(),
                r["bigcommerce_orders"].as_u64().unwrap(),
                r["bloomreach_orders"].as_u64().unwrap(),
            )
        })
        .collect();
    let row = |d: &str, c: &str, b: u64, r: u64| (d.to_owned(), c.to_owned(), b, r);
    assert_eq!(
        rows,
        vec![
            row("2026-03-06", "EUR", 1, 0),
            row("2026-03-06", "GBP", 1, 1),
            row("2026-03-06", "USD", 1, 1),
            row("2026-03-07", "USD", 1, 0),
            row("2026-03-08", "EUR", 1, 0),
            // Sunday's USD row holds only the refund.
            row("2026-03-08", "USD", 0, 0),
        ]
    );

    // Repair: the missing sales go through the outbox, once, however often it is asked.
    let repaired = reconcile(true).await;
    let resent: Vec<u64> = repaired["repair"]["orders_resent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(resent, vec![usd, eur, saturday, sunday]);
    let mut all = vec![usd, eur, gbp, saturday, sunday];
    all.sort_unstable();
    settle("the repaired sales", all.clone()).await;
    let again = reconcile(true).await;
    assert_eq!(again["repair"]["orders_resent"], json!([]));
    advance_by(&clock, Duration::from_secs(60), Duration::from_secs(1)).await;
    assert_eq!(purchases_in_bloomreach(), all, "nothing was sent twice");

    // Balanced, and both sides' totals per currency are the store's, to the cent.
    let report = reconcile(false).await;
    assert_eq!(report["balanced"], true, "{report:#}");
    // Net per currency, sales less refunds: the store's truth, and the events the Bloomreach
    // twin holds.
    let mut truth: BTreeMap<String, Decimal> = BTreeMap::new();
    for order in bc.truth().orders.iter().filter(|o| o.paid) {
        *truth.entry(order.currency.clone()).or_default() +=
            order.total_inc_tax - order.refunded_total;
    }
    let refunded: Decimal = bc.truth().orders.iter().map(|o| o.refunded_total).sum();
    assert_eq!(refunded, "12.50".parse::<Decimal>().unwrap());
    let mut bloomreach: BTreeMap<String, Decimal> = BTreeMap::new();
    for event in twins
        .bloomreach
        .truth()
        .profiles
        .iter()
        .flat_map(|p| p.events.iter())
    {
        let sign = match event.properties["purchase_status"].as_str() {
            Some("success") => Decimal::ONE,
            Some("refund") => -Decimal::ONE,
            _ => continue,
        };
        if event.event_type == "purchase" {
            let currency = event.properties["local_currency"]
                .as_str()
                .unwrap()
                .to_owned();
            let amount: Decimal = event.properties["total_price_local_currency"]
                .to_string()
                .parse()
                .unwrap();
            *bloomreach.entry(currency).or_default() += sign * amount;
        }
    }
    let totals: BTreeMap<String, (Decimal, Decimal)> = report["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let amount = |key: &str| t[key].as_str().unwrap().parse::<Decimal>().unwrap();
            (
                t["currency"].as_str().unwrap().to_owned(),
                (amount("bigcommerce_net"), amount("bloomreach_net")),
            )
        })
        .collect();
    assert_eq!(totals.keys().collect::<Vec<_>>(), vec!["EUR", "GBP", "USD"]);
    for (currency, (bigcommerce, bloomreach_net)) in &totals {
        assert_eq!(
            *bigcommerce, truth[currency],
            "{currency}: BigCommerce side"
        );
        assert_eq!(
            *bloomreach_net, truth[currency],
            "{currency}: Bloomreach side"
        );
        assert_eq!(
            bloomreach[currency], truth[currency],
            "{currency}: the twin's events"
        );
    }
    drive(&clock, appliance.shutdown()).await;
    twins.shutdown().await;
}
