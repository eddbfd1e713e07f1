//! The conversion direction, checked against the BigCommerce twin's `GET v2/currencies`: an
//! order's amounts divided by its currency's `currency_exchange_rate` are the store-default
//! (reference) amounts, not multiplied.

use bigreach_bigcommerce::{Currency, Order, OrderProduct};
use bigreach_clock::ManualClock;
use bigreach_core::config::IdNames;
use bigreach_core::identity::ResolvedIds;
use bigreach_core::map::currency::{round_cents, StoreCurrencies};
use bigreach_core::map::{purchase_commands, MappingContext, ProfileMapping};
use bigreach_core::model::Lane;
use bigreach_twins::bigcommerce::{
    BigCommerceTwin, BigCommerceTwinConfig, CheckoutExtras, CheckoutSpec, QuotaPlan, ShopperSpec,
    StoreSeed,
};
use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;

async fn get<T: DeserializeOwned>(twin: &BigCommerceTwin, path: &str) -> T {
    let config = BigCommerceTwinConfig::default();
    reqwest::Client::new()
        .get(twin.api_root().join(path).expect("url"))
        .header("X-Auth-Token", config.access_token)
        .header("Accept", "application/json")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

async fn fetch_order(twin: &BigCommerceTwin, id: u64) -> Order {
    let mut order: Order = get(twin, &format!("v2/orders/{id}")).await;
    order.line_items = get::<Vec<OrderProduct>>(twin, &format!("v2/orders/{id}/products")).await;
    order
}

fn context(currencies: &[Currency]) -> MappingContext {
    MappingContext {
        store_currency: currencies
            .iter()
            .find(|c| c.is_default)
            .map(|c| c.currency_code.clone())
            .expect("a default currency"),
        source_name: "twin".into(),
        profile: ProfileMapping::default(),
        group_names: Default::default(),
        attribute_names: Default::default(),
        orders: Default::default(),
        currencies: StoreCurrencies {
            reference: String::new(),
            rates: currencies
                .iter()
                .map(|c| (c.currency_code.clone(), c.currency_exchange_rate))
                .collect(),
        },
    }
}

fn property(order: &Order, ctx: &MappingContext, key: &str) -> serde_json::Value {
    let ids = ResolvedIds::email(&IdNames::default(), "shopper@example.de");
    let commands = purchase_commands(order, &ids, ctx, Lane::Transactions);
    let purchase: serde_json::Value =
        serde_json::from_slice(&commands.first().expect("a purchase").payload).unwrap();
    purchase["properties"][key].clone()
}

fn decimal(value: &serde_json::Value) -> Decimal {
    value.to_string().parse().expect("a number")
}

#[tokio::test]
async fn amounts_divided_by_the_v2_currencies_rate_are_the_store_default_amounts() {
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
    .expect("twin");
    twin.seed_store(&StoreSeed {
        products: 4,
        customers: 0,
        historical_orders: 0,
        currencies: vec!["EUR".into(), "GBP".into()],
        ..StoreSeed::default()
    });
    let person = twin.add_person(&ShopperSpec {
        email: Some("shopper@example.de".into()),
        phone: None,
        first_name: "Ute".into(),
        last_name: "Berg".into(),
        country_iso2: "DE".into(),
    });
    let variant = twin.variant_ids()[0];
    let usd_unit = twin
        .truth()
        .variants
        .iter()
        .find(|v| v.variant_id == variant)
        .expect("variant")
        .price;
    let extras = CheckoutExtras {
        coupon: Some(false),
        shipping: Some("free".into()),
        ..CheckoutExtras::default()
    };
    let eur = twin
        .checkout_with(
            person,
            &CheckoutSpec {
                currency: Some("EUR".into()),
                lines: vec![(variant, 3)],
                as_guest: true,
                ..CheckoutSpec::default()
            },
            &extras,
        )
        .expect("EUR checkout");
    twin.pay(eur).expect("pay");
    let currencies: Vec<Currency> = get(&twin, "v2/currencies").await;
    let ctx = context(&currencies);
    assert_eq!(ctx.store_currency, "USD");
    let eur_rate = ctx.currencies.rates["EUR"];
    assert_eq!(eur_rate, Decimal::new(92, 2), "EUR units per 1 USD");

    let order = fetch_order(&twin, eur).await;
    assert_eq!(order.default_currency_code, "EUR");
    let total_price = decimal(&property(&order, &ctx, "total_price"));
    assert_eq!(total_price, round_cents(order.total_inc_tax / eur_rate));
    // What was bought, in USD: 3 units at the USD price plus German VAT (19 %). Dividing the EUR
    // total by the rate gives it back up to the cents lost rounding each EUR unit price;
    // multiplying would be about 16 % off.
    let usd_goods = usd_unit * Decimal::from(3) * Decimal::new(119, 2);
    assert!(
        (total_price - usd_goods).abs() <= Decimal::new(5, 2),
        "{total_price} vs {usd_goods}"
    );
    assert!((order.total_inc_tax * eur_rate - usd_goods).abs() > Decimal::new(5, 2));
    assert_eq!(property(&order, &ctx, "local_currency"), "EUR");

    // Browsing in GBP (display only): transacted in USD, and local_currency says USD.
    let display = twin
        .checkout_with(
            person,
            &CheckoutSpec {
                lines: vec![(variant, 1)],
                as_guest: true,
                ..CheckoutSpec::default()
            },
            &CheckoutExtras {
                display_currency: Some("GBP".into()),
                ..extras
            },
        )
        .expect("display-currency checkout");
    twin.pay(display).expect("pay");
    let order = fetch_order(&twin, display).await;
    assert_eq!(
        (
            order.currency_code.as_str(),
            order.default_currency_code.as_str()
        ),
        ("GBP", "USD")
    );
    assert_eq!(property(&order, &ctx, "local_currency"), "USD");
    assert_eq!(
        decimal(&property(&order, &ctx, "total_price")),
        round_cents(order.total_inc_tax)
    );
    twin.shutdown().await;
}
