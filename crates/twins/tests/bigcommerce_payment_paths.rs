//! Payment paths, fulfilment moves, order edits and display currencies of the BigCommerce twin,
//! as a client sees them over REST.

use bigreach_clock::ManualClock;
use bigreach_twins::bigcommerce::{
    BigCommerceTwin, BigCommerceTwinConfig, CheckoutExtras, CheckoutSpec, OrderEdit, QuotaPlan,
    ShopperSpec, StoreSeed, TwinError,
};
use chrono::{TimeZone, Utc};
use serde_json::Value;

async fn twin() -> BigCommerceTwin {
    let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap());
    let twin = BigCommerceTwin::start(
        BigCommerceTwinConfig {
            plan: QuotaPlan::Enterprise {
                requests_per_window: 1_000_000,
            },
            ..BigCommerceTwinConfig::default()
        },
        clock,
    )
    .await
    .expect("start");
    twin.seed_store(&StoreSeed {
        products: 4,
        customers: 0,
        historical_orders: 0,
        currencies: vec!["EUR".into(), "GBP".into()],
        ..StoreSeed::default()
    });
    twin
}

async fn order_json(twin: &BigCommerceTwin, id: u64) -> Value {
    reqwest::Client::new()
        .get(twin.api_root().join(&format!("v2/orders/{id}")).unwrap())
        .header(
            "X-Auth-Token",
            BigCommerceTwinConfig::default().access_token,
        )
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn place(twin: &BigCommerceTwin, person: u64, extras: &CheckoutExtras) -> Result<u64, TwinError> {
    let variant = twin.variant_ids()[0];
    twin.checkout_with(
        person,
        &CheckoutSpec {
            lines: vec![(variant, 2)],
            as_guest: true,
            ..CheckoutSpec::default()
        },
        extras,
    )
}

fn paid(twin: &BigCommerceTwin, id: u64) -> bool {
    twin.truth()
        .orders
        .iter()
        .find(|o| o.order_id == id)
        .expect("order")
        .paid
}

/// A twin action on an order.
type Move = fn(&BigCommerceTwin, u64) -> Result<(), TwinError>;

#[tokio::test]
async fn held_payment_paths_are_unpaid_until_captured() {
    let twin = twin().await;
    let person = twin.add_person(&ShopperSpec {
        email: Some("p@example.com".into()),
        country_iso2: "US".into(),
        ..ShopperSpec::default()
    });
    let cases: [(Move, u64, &str, &str, &str); 3] = [
        (
            BigCommerceTwin::authorize,
            11,
            "authorized",
            "captured",
            "Credit Card",
        ),
        (
            BigCommerceTwin::cash_on_delivery,
            11,
            "pending",
            "paid",
            "Cash on Delivery",
        ),
        (
            BigCommerceTwin::await_payment,
            7,
            "pending",
            "paid",
            "Bank Deposit",
        ),
    ];
    for (start, status, held, captured, method) in cases {
        let id = place(&twin, person, &CheckoutExtras::default()).unwrap();
        start(&twin, id).unwrap();
        let o = order_json(&twin, id).await;
        assert_eq!(
            (
                o["status_id"].as_u64(),
                o["payment_status"].as_str(),
                o["payment_method"].as_str()
            ),
            (Some(status), Some(held), Some(method))
        );
        assert!(!paid(&twin, id), "{method} is not paid before capture");
        twin.capture(id).unwrap();
        let o = order_json(&twin, id).await;
        assert_eq!(
            (o["status_id"].as_u64(), o["payment_status"].as_str()),
            (Some(11), Some(captured))
        );
        assert!(paid(&twin, id));
        // Capturing twice is refused.
        assert!(twin.capture(id).is_err());
    }
}

#[tokio::test]
async fn fulfilment_moves_and_edits_change_the_status_or_notes_only() {
    let twin = twin().await;
    let person = twin.add_person(&ShopperSpec {
        email: Some("f@example.com".into()),
        country_iso2: "GB".into(),
        ..ShopperSpec::default()
    });
    let id = place(&twin, person, &CheckoutExtras::default()).unwrap();
    twin.pay(id).unwrap();
    let total = order_json(&twin, id).await["total_inc_tax"].clone();
    twin.await_shipment(id).unwrap();
    assert_eq!(order_json(&twin, id).await["status_id"], 9);
    twin.edit_order(id, OrderEdit::Tracking("1Z1".into()))
        .unwrap();
    twin.ship_partially(id).unwrap();
    assert_eq!(order_json(&twin, id).await["status_id"], 3);
    twin.edit_order(id, OrderEdit::StaffNote("fragile".into()))
        .unwrap();
    twin.ship(id).unwrap();
    let o = order_json(&twin, id).await;
    assert_eq!(
        (o["status_id"].as_u64(), o["staff_notes"].as_str()),
        (Some(2), Some("fragile"))
    );
    assert_eq!(
        o["total_inc_tax"], total,
        "fulfilment never moves the amounts"
    );
    assert!(
        twin.await_shipment(id).is_err(),
        "a shipped order is not packed again"
    );
}

#[tokio::test]
async fn a_display_currency_order_is_transacted_in_the_store_default() {
    let twin = twin().await;
    let person = twin.add_person(&ShopperSpec {
        email: Some("d@example.co.uk".into()),
        country_iso2: "GB".into(),
        ..ShopperSpec::default()
    });
    let extras = CheckoutExtras {
        display_currency: Some("GBP".into()),
        coupon: Some(false),
        shipping: Some("free".into()),
    };
    let id = place(&twin, person, &extras).unwrap();
    let o = order_json(&twin, id).await;
    assert_eq!(
        (
            o["currency_code"].as_str(),
            o["currency_exchange_rate"].as_str(),
            o["default_currency_code"].as_str(),
            o["store_default_to_transactional_exchange_rate"].as_str()
        ),
        (
            Some("GBP"),
            Some("0.7900000000"),
            Some("USD"),
            Some("1.0000000000")
        )
    );
    assert_eq!(o["shipping_cost_inc_tax"], "0.0000");
    let truth = twin.truth();
    let order = truth.orders.iter().find(|o| o.order_id == id).unwrap();
    assert_eq!(
        (order.currency.as_str(), order.display_currency.as_deref()),
        ("USD", Some("GBP"))
    );
    // The store default is no display currency, and a display order names no other currency.
    let usd = CheckoutExtras {
        display_currency: Some("USD".into()),
        ..CheckoutExtras::default()
    };
    assert!(place(&twin, person, &usd).is_err());
    let bad = CheckoutExtras {
        shipping: Some("drone".into()),
        ..CheckoutExtras::default()
    };
    assert!(place(&twin, person, &bad).is_err());
}
