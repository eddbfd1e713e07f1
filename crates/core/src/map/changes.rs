//! Change detection for orders: which changes of an order matter to marketing and finance, in
//! one place ([`marketing_fields`]), and the one event an amount edit on a paid order makes
//! ([`adjustment_command`]). Written down in `data/contract/purchases.md` ("When an order
//! update sends something").

use bigreach_bigcommerce::Order;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{event_command, insert_currencies, money, unix_seconds, MappingContext, PURCHASE};
use crate::identity::ResolvedIds;
use crate::model::{Lane, NewCommand};

/// The marketing-relevant fields of an order. An `orders/updated` that leaves them all as they
/// were (fulfilment, shipping details and tracking, staff notes, a move between two paid
/// statuses) sends nothing. They are: what the order counts as (paid, held, cancelled,
/// refunded; not the status id), the transactional currency and the order amounts (totals
/// with and without tax, tax, shipping, discounts), every line (product, variant, SKU,
/// quantity, unit and line prices), the buyer (customer id, billing email, phone, names,
/// country, city, email opt-in, locale), and its refunds (each refund id with its amount: a
/// second partial refund leaves the status and the totals as they were, yet it is news).
pub fn marketing_fields(order: &Order, ctx: &MappingContext) -> Value {
    let b = &order.billing_address;
    let lines: Vec<Value> = order
        .line_items
        .iter()
        .map(|l| {
            json!([
                l.id,
                l.product_id,
                l.variant_id,
                l.sku,
                l.quantity,
                l.price_ex_tax.normalize().to_string(),
                l.price_inc_tax.normalize().to_string(),
                l.total_inc_tax.normalize().to_string(),
                l.discounted_total_inc_tax
                    .map(|d| d.normalize().to_string()),
            ])
        })
        .collect();
    json!({
        "state": ctx.orders.state(order).name(),
        "currency": [order.default_currency_code, order.store_default_to_transactional_exchange_rate.normalize().to_string()],
        "amounts": amounts(order).map(|a| a.normalize().to_string()),
        "lines": lines,
        "buyer": [order.customer_id, b.email, b.phone, b.first_name, b.last_name,
                  b.country_iso2, b.city, order.is_email_opt_in, order.customer_locale],
        "refunds": order
            .refunds
            .iter()
            .map(|r| json!([r.id, r.total_amount.normalize().to_string()]))
            .collect::<Vec<_>>(),
    })
}

/// The hash of [`marketing_fields`]: equal hashes, nothing to send.
pub fn marketing_fingerprint(order: &Order, ctx: &MappingContext) -> String {
    hex::encode(Sha256::digest(
        marketing_fields(order, ctx).to_string().as_bytes(),
    ))
}

/// Total inc. tax, total ex. tax, tax, shipping inc. tax, discount (local currency).
fn amounts(order: &Order) -> [Decimal; 5] {
    [
        order.total_inc_tax,
        order.total_ex_tax,
        order.total_tax,
        order.shipping_cost_inc_tax,
        order.discount_amount,
    ]
}

/// An edit of the amounts of an order that was paid before and still is: one `purchase` with
/// `purchase_status` `adjusted` (configurable) whose amounts are the change (new − before, in
/// both currencies, so summing `total_price` over sales and adjustments gives the revenue),
/// with the order's new totals alongside. Stamped with the order's `date_modified`; its fact
/// key (`purchase_adjusted:<id>:<date_modified ms>`) makes it once per edit. `None` when the
/// amounts did not change, either side was not a sale, or a currency cannot be converted.
pub fn adjustment_command(
    before: &Order,
    after: &Order,
    ids: &ResolvedIds,
    ctx: &MappingContext,
    lane: Lane,
) -> Option<NewCommand> {
    let paid = |o: &Order| ctx.orders.state(o) == super::payment::PaymentState::Paid;
    if !paid(before) || !paid(after) || amounts(before) == amounts(after) {
        return None;
    }
    let now = ctx.order_currency(after).ok()?;
    let then = ctx.order_currency(before).ok()?;
    if now.local != then.local {
        return None;
    }
    // Each side converted through the one conversion, then subtracted, so the adjustments
    // add up to the reference totals sent for the order.
    let change = |f: fn(&Order) -> Decimal| {
        (
            now.reference(f(after)) - then.reference(f(before)),
            f(after) - f(before),
        )
    };
    let (total, total_local) = change(|o| o.total_inc_tax);
    let (without_tax, _) = change(|o| o.total_ex_tax);
    let (tax, _) = change(|o| o.total_tax);
    let (shipping, _) = change(|o| o.shipping_cost_inc_tax);
    let (discount, _) = change(|o| o.discount_amount);
    let mut p = Map::new();
    p.insert("purchase_id".into(), json!(after.id));
    p.insert("purchase_status".into(), json!(ctx.orders.adjusted));
    p.insert("purchase_source_type".into(), json!("online"));
    p.insert("purchase_source_name".into(), json!(ctx.source_name));
    p.insert("status_id".into(), json!(after.status_id));
    p.insert("total_price".into(), money(total));
    p.insert("total_price_without_tax".into(), money(without_tax));
    p.insert("tax_value".into(), money(tax));
    p.insert("shipping_cost".into(), money(shipping));
    p.insert("discount_value".into(), money(discount));
    p.insert("total_price_local_currency".into(), money(total_local));
    p.insert(
        "order_total_price".into(),
        money(now.reference(after.total_inc_tax)),
    );
    p.insert(
        "order_total_price_local_currency".into(),
        money(after.total_inc_tax),
    );
    insert_currencies(&mut p, &now);
    let modified = after.date_modified;
    Some(event_command(
        lane,
        format!(
            "purchase_adjusted:{}:{}",
            after.id,
            modified.timestamp_millis()
        ),
        ids,
        PURCHASE,
        unix_seconds(modified),
        p,
        modified.timestamp_millis(),
    ))
}
