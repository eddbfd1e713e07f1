//! Synthetic outbox backlogs (drain, and the flash sale's history traffic), built the way the
//! ingest step builds them: synthetic BigCommerce orders and customers go through the product's
//! own mapping (`core::map`: `guest_profile_command`, `customer_command`, `purchase_commands`)
//! and are enqueued through the store, which drops a profile command whose content it already
//! holds, exactly as in production.

use std::collections::BTreeMap;

use bigreach_bigcommerce::{BillingAddress, Customer, Order, OrderProduct, ProductOption};
use bigreach_core::config::IdNames;
use bigreach_core::identity::ResolvedIds;
use bigreach_core::map::{self, MappingContext, ProfileMapping};
use bigreach_core::model::{Lane, NewCommand};
use bigreach_core::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::figures::{mix, round1};

/// Commands per enqueue transaction.
pub(super) const ENQUEUE_CHUNK: usize = 5_000;

/// The store the synthetic orders come from: its domain names the purchases' source.
const SOURCE_NAME: &str = "bench.example";
/// The store's default currency; orders in another currency carry a store-currency total too.
const STORE_CURRENCY: &str = "USD";

/// Generates synthetic orders and turns them into frozen tracking commands through
/// `core::map`, in the order the ingest step enqueues them: a guest order is its guest profile
/// followed by one `purchase` and 1–3 `purchase_item`s, all in the order's lane (so the events
/// wait for the profile, as per-customer ordering requires); every other order is a registered
/// customer's, and every second one of those is preceded by a profile update in the customers
/// lane.
pub(super) struct CommandMix {
    pub(super) ids: IdNames,
    /// Persons the commands are spread over.
    pub(super) persons: u64,
    /// First purchase id.
    pub(super) order_base: u64,
    /// Orders generated so far.
    pub(super) orders: u64,
    /// Domain of the synthetic emails.
    pub(super) email_domain: &'static str,
    /// Whether some orders are registered customers' (with a `customer_id`). Without, every
    /// order is a guest's (flash-sale backfill, so that the synthetic persons never collide
    /// with the twin store's customers).
    pub(super) registered: bool,
    /// The lane of an order's commands.
    pub(super) lane_of_order: fn(u64) -> Lane,
    /// Order times start here (Unix seconds).
    pub(super) base_unix_s: i64,
}

fn cents(amount: u64) -> Decimal {
    Decimal::new(i64::try_from(amount).unwrap_or(i64::MAX), 2)
}

fn mapping_context() -> MappingContext {
    MappingContext {
        store_currency: STORE_CURRENCY.to_owned(),
        source_name: SOURCE_NAME.to_owned(),
        profile: ProfileMapping::default(),
        group_names: BTreeMap::new(),
        attribute_names: BTreeMap::new(),
        orders: Default::default(),
        currencies: Default::default(),
    }
}

impl CommandMix {
    /// Appends the commands of the next order (with its profile command, if any) to `out`.
    pub(super) fn next_order(&mut self, out: &mut Vec<(NewCommand, Lane)>) {
        let k = self.orders;
        self.orders += 1;
        let order_id = self.order_base + k;
        let person = mix(k) % self.persons;
        let guest = !self.registered || k % 2 == 1;
        let email = format!("shopper{person}@{}", self.email_domain);
        let phone = format!("+1555{:07}", person % 10_000_000);
        let customer_id = 700_000 + person;
        let ids = if guest {
            ResolvedIds::email(&self.ids, &email)
        } else {
            ResolvedIds::customer(&self.ids, customer_id, Some(&email))
        };
        let lane = (self.lane_of_order)(k);
        let at = DateTime::<Utc>::from_timestamp(self.base_unix_s + (k as i64 * 7) % 86_400, 0)
            .unwrap_or_default();
        let ctx = mapping_context();
        let billing = BillingAddress {
            first_name: format!("Shopper{person}"),
            last_name: "Bench".to_owned(),
            city: "Springfield".to_owned(),
            country: "United States".to_owned(),
            country_iso2: "US".to_owned(),
            phone: phone.clone(),
            email: email.clone(),
            ..BillingAddress::default()
        };
        let order_customer = if guest { 0 } else { customer_id };
        let order = Self::order(k, order_id, order_customer, at, billing);

        if guest {
            out.push((
                map::guest_profile_command(&order, &ids, Some(&phone), lane, &ctx),
                lane,
            ));
        } else if k.is_multiple_of(4) {
            let customer = Customer {
                id: customer_id,
                email: email.clone(),
                first_name: format!("Shopper{person}"),
                last_name: "Bench".to_owned(),
                company: String::new(),
                phone: phone.clone(),
                customer_group_id: person % 4,
                date_created: at - chrono::Duration::days(1),
                date_modified: at,
                accepts_product_review_abandoned_cart_emails: k.is_multiple_of(3),
                origin_channel_id: Some(1),
                attributes: Vec::new(),
                form_fields: Vec::new(),
            };
            out.push((
                map::customer_command(&customer, &ids, Some(&phone), Lane::Customers, &ctx),
                Lane::Customers,
            ));
        }
        for command in map::purchase_commands(&order, &ids, &ctx, lane) {
            out.push((command, lane));
        }
    }

    /// The `k`th order: paid, 1–3 lines, in USD, EUR or GBP.
    fn order(
        k: u64,
        order_id: u64,
        customer_id: u64,
        at: DateTime<Utc>,
        billing_address: BillingAddress,
    ) -> Order {
        let lines = 1 + (k % 3);
        let currency = ["USD", "EUR", "GBP"][(k % 3) as usize];
        let rate = [cents(100), cents(92), cents(79)][(k % 3) as usize];
        let line_items: Vec<OrderProduct> = (0..lines)
            .map(|line| {
                let product = 100 + mix(k * 4 + line) % 400;
                let quantity = 1 + (mix(k + line) % 3);
                let unit_ex_tax = 999 + mix(k ^ line) % 15_000;
                let unit_inc_tax = unit_ex_tax + unit_ex_tax / 10;
                OrderProduct {
                    id: order_id * 10 + line,
                    order_id,
                    product_id: product,
                    variant_id: Some(product * 10 + line),
                    sku: format!("SKU-{product}-{line}"),
                    name: format!("Bench product {product}"),
                    brand: "BigReach Bench".to_owned(),
                    quantity: u32::try_from(quantity).unwrap_or(1),
                    base_price: cents(unit_ex_tax),
                    price_ex_tax: cents(unit_ex_tax),
                    price_inc_tax: cents(unit_inc_tax),
                    total_ex_tax: cents(unit_ex_tax * quantity),
                    total_inc_tax: cents(unit_inc_tax * quantity),
                    discounted_total_inc_tax: None,
                    product_options: vec![
                        ProductOption {
                            display_name: "Size".to_owned(),
                            display_value: "M".to_owned(),
                        },
                        ProductOption {
                            display_name: "Colour".to_owned(),
                            display_value: "Blue".to_owned(),
                        },
                    ],
                }
            })
            .collect();
        let subtotal_ex_tax: Decimal = line_items.iter().map(|l| l.total_ex_tax).sum();
        let subtotal_inc_tax: Decimal = line_items.iter().map(|l| l.total_inc_tax).sum();
        let shipping = cents(595);
        Order {
            id: order_id,
            customer_id,
            date_created: at,
            date_modified: at,
            status_id: 11,
            status: "Awaiting Fulfillment".to_owned(),
            payment_status: "captured".to_owned(),
            payment_method: "Credit Card".to_owned(),
            subtotal_ex_tax,
            subtotal_inc_tax,
            total_ex_tax: subtotal_ex_tax + shipping,
            total_inc_tax: subtotal_inc_tax + shipping,
            total_tax: subtotal_inc_tax - subtotal_ex_tax,
            shipping_cost_ex_tax: shipping,
            shipping_cost_inc_tax: shipping,
            discount_amount: Decimal::ZERO,
            coupon_discount: Decimal::ZERO,
            items_total: line_items.iter().map(|l| l.quantity).sum(),
            currency_code: currency.to_owned(),
            currency_exchange_rate: rate,
            default_currency_code: currency.to_owned(),
            store_default_currency_code: STORE_CURRENCY.to_owned(),
            store_default_to_transactional_exchange_rate: rate,
            billing_address,
            is_email_opt_in: k.is_multiple_of(3),
            channel_id: 1,
            cart_id: None,
            order_source: "www".to_owned(),
            customer_locale: "en-US".to_owned(),
            is_deleted: false,
            line_items,
            refunds: Vec::new(),
        }
    }
}

/// Figures of an enqueue run.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Enqueued {
    /// Commands the store enqueued (profile commands whose content it already held are not
    /// counted: the store drops them).
    pub(super) commands: u64,
    pub(super) per_lane: BTreeMap<&'static str, u64>,
    /// Orders generated to get there.
    pub(super) orders: u64,
    pub(super) transactions: u64,
    pub(super) seconds: f64,
    pub(super) commands_per_s: f64,
}

/// Enqueues exactly `count` commands from `mix` in transactions of up to [`ENQUEUE_CHUNK`].
pub(super) fn enqueue_backlog(
    store: &Store,
    mix: &mut CommandMix,
    count: usize,
    now_ms: i64,
) -> Result<Enqueued, StoreError> {
    let started = std::time::Instant::now();
    let orders_before = mix.orders;
    let mut per_lane: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut buffer: Vec<(NewCommand, Lane)> = Vec::with_capacity(ENQUEUE_CHUNK + 8);
    let mut done = 0usize;
    let mut transactions = 0;
    while done < count {
        while buffer.len() < ENQUEUE_CHUNK.min(count - done) {
            mix.next_order(&mut buffer);
        }
        let take = buffer.len().min(ENQUEUE_CHUNK).min(count - done);
        let chunk: Vec<(NewCommand, Lane)> = buffer.drain(..take).collect();
        let enqueued: Vec<Lane> = store.write(|tx| {
            let mut lanes = Vec::with_capacity(chunk.len());
            for (command, lane) in &chunk {
                if tx.enqueue(command, now_ms)?.is_some() {
                    lanes.push(*lane);
                }
            }
            Ok(lanes)
        })?;
        transactions += 1;
        for lane in &enqueued {
            *per_lane.entry(lane.name()).or_insert(0) += 1;
        }
        done += enqueued.len();
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(Enqueued {
        commands: count as u64,
        per_lane,
        orders: mix.orders - orders_before,
        transactions,
        seconds: round1(seconds),
        commands_per_s: (count as f64 / seconds.max(1e-9)).round(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn lane_of(order: u64) -> Lane {
        if order % 4 == 3 {
            Lane::Backfill
        } else {
            Lane::Transactions
        }
    }

    fn mix(persons: u64) -> CommandMix {
        CommandMix {
            ids: IdNames::default(),
            persons,
            order_base: 1,
            orders: 0,
            email_domain: "bench.example",
            registered: true,
            lane_of_order: lane_of,
            base_unix_s: 1_767_225_600,
        }
    }

    #[test]
    fn the_mix_makes_the_products_tracking_commands() {
        let mut mix = mix(10);
        let mut out = Vec::new();
        for _ in 0..8 {
            mix.next_order(&mut out);
        }
        assert!(out.iter().any(|(_, lane)| *lane == Lane::Backfill));
        assert!(out.iter().any(|(_, lane)| *lane == Lane::Customers));
        let mut purchases = 0;
        for (command, lane) in &out {
            assert_eq!(command.lane, *lane);
            let data: Value = serde_json::from_slice(&command.payload).unwrap();
            assert!(data.get("customer_ids").is_some(), "{data}");
            assert!(command.customer_key.is_some());
            let Some(name) = command.destination.batch_name() else {
                panic!("{:?}", command.destination);
            };
            if data["event_type"] == "purchase" {
                purchases += 1;
                assert_eq!(name, "customers/events");
                let total = data["properties"]["total_price"].as_f64().unwrap();
                assert!(total > 5.95, "{data}");
                assert!(data["properties"]["local_currency"].is_string(), "{data}");
            }
        }
        assert_eq!(purchases, 8);
    }

    #[test]
    fn the_backlog_counts_what_the_store_enqueued() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("bench.redb")).unwrap();
        // Three persons, many orders: most guest profiles repeat and the store drops them.
        let mut mix = mix(3);
        let enqueued = enqueue_backlog(&store, &mut mix, 1_000, 0).unwrap();
        assert_eq!(enqueued.commands, 1_000);
        assert_eq!(enqueued.per_lane.values().sum::<u64>(), 1_000);
        assert_eq!(
            store.counts().unwrap().outbox_pending.values().sum::<u64>(),
            1_000
        );
        assert!(enqueued.orders > 0);
    }
}
