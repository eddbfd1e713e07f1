//! Refunds (reference bloomreach.md §6.7): each v3 refund of a sold order is one more `purchase`
//! with the same `purchase_id`, `purchase_status` = the configured refund name (default
//! `refund`), the refunded amounts and the refund's own timestamp, plus one `purchase_item` per
//! refunded product line. Fact keys `refund:<refund id>` and `refund_item:<refund id>:<line id>`,
//! so a refund is sent once however often the order is notified or re-read.
//!
//! All refund money goes through [`refund_money`]: as for the sale, `total_price` in the
//! reference currency (through the one conversion, [`OrderCurrency::reference`]), the shopper's
//! amount in `total_price_local_currency` with `local_currency`, and the rate.

use bigreach_bigcommerce::{Order, OrderProduct, Refund, RefundItem};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::currency::OrderCurrency;
use super::{
    event_command, insert_currencies, money, unix_seconds, MappingContext, PURCHASE, PURCHASE_ITEM,
};
use crate::identity::ResolvedIds;
use crate::model::{Lane, NewCommand};

/// The refunds of a sold order → one refund `purchase` each, plus one `purchase_item` per
/// refunded product line. Nothing when the sale never happened (a refund only follows a sale;
/// ingest records why), and nothing for a refund that names another order.
pub fn refund_commands(
    order: &Order,
    ids: &ResolvedIds,
    ctx: &MappingContext,
    lane: Lane,
) -> Vec<NewCommand> {
    if !ctx.orders.state(order).was_paid() {
        return Vec::new();
    }
    // The sale's currencies; an order whose amounts cannot be converted sends no sale either
    // (ingest withholds it with the reason).
    let Ok(currency) = ctx.order_currency(order) else {
        return Vec::new();
    };
    let mut refunds: Vec<&Refund> = order
        .refunds
        .iter()
        .filter(|r| r.order_id == 0 || r.order_id == order.id)
        .collect();
    refunds.sort_by_key(|r| r.id);
    refunds.dedup_by_key(|r| r.id);
    let mut commands = Vec::new();
    for refund in refunds {
        let timestamp = unix_seconds(refund.created);
        let event_time_ms = refund.created.timestamp_millis();
        let lines: Vec<(&RefundItem, Option<&OrderProduct>)> = refund
            .items
            .iter()
            .filter(|item| item.is_product())
            .map(|item| {
                let line = order.line_items.iter().find(|l| l.id == item.item_id);
                (item, line)
            })
            .collect();
        let mut p = Map::new();
        p.insert("purchase_id".into(), json!(order.id));
        p.insert("purchase_status".into(), json!(ctx.orders.refund));
        p.insert("refund_id".into(), json!(refund.id));
        p.insert("refund_reason".into(), json!(refund.reason));
        p.insert("purchase_source_type".into(), json!("online"));
        p.insert("purchase_source_name".into(), json!(ctx.source_name));
        p.insert("status_id".into(), json!(order.status_id));
        refund_money(
            &mut p,
            &currency,
            refund.total_amount,
            Some(refund.total_tax),
        );
        let total_quantity: u64 = lines.iter().map(|(item, _)| quantity(item)).sum();
        p.insert("total_quantity".into(), json!(total_quantity));
        let mut product_ids: Vec<String> = lines
            .iter()
            .filter_map(|(_, line)| line.map(|l| l.product_id.to_string()))
            .collect();
        product_ids.dedup();
        p.insert("product_ids".into(), json!(product_ids));
        p.insert(
            "variant_ids".into(),
            json!(lines
                .iter()
                .filter_map(|(_, line)| line.and_then(|l| l.variant_id).map(|v| v.to_string()))
                .collect::<Vec<_>>()),
        );
        p.insert(
            "product_list".into(),
            Value::Array(
                lines
                    .iter()
                    .map(|(item, line)| {
                        json!({
                            "product_id": line.map(|l| l.product_id.to_string()),
                            "variant_id": line.and_then(|l| l.variant_id).map(|v| v.to_string()),
                            "sku": line.map(|l| l.sku.clone()),
                            "quantity": quantity(item),
                        })
                    })
                    .collect(),
            ),
        );
        p.insert(
            "refunded_items".into(),
            json!(refund
                .items
                .iter()
                .map(|i| i.item_type.to_ascii_lowercase())
                .collect::<Vec<_>>()),
        );
        commands.push(event_command(
            lane,
            format!("refund:{}", refund.id),
            ids,
            PURCHASE,
            timestamp,
            p,
            event_time_ms,
        ));
        for (item, line) in lines {
            let mut p = Map::new();
            p.insert("purchase_id".into(), json!(order.id));
            p.insert("purchase_status".into(), json!(ctx.orders.refund));
            p.insert("refund_id".into(), json!(refund.id));
            p.insert("line_id".into(), json!(item.item_id));
            p.insert(
                "product_id".into(),
                json!(line.map(|l| l.product_id.to_string())),
            );
            p.insert(
                "variant_id".into(),
                json!(line.and_then(|l| l.variant_id).map(|v| v.to_string())),
            );
            p.insert("sku".into(), json!(line.map(|l| l.sku.clone())));
            p.insert("title".into(), json!(line.map(|l| l.name.clone())));
            p.insert("quantity".into(), json!(quantity(item)));
            refund_money(&mut p, &currency, line_amount(item, line), None);
            commands.push(event_command(
                lane,
                format!("refund_item:{}:{}", refund.id, item.item_id),
                ids,
                PURCHASE_ITEM,
                timestamp,
                p,
                event_time_ms,
            ));
        }
    }
    commands
}

fn quantity(item: &RefundItem) -> u64 {
    item.quantity.unwrap_or(0)
}

/// What a refunded product line gave back: the amount asked for when the refund names one,
/// else the line's paid total (after discounts, incl. tax) for the refunded units, to the cent.
/// The refund's `total_amount` is BigCommerce's figure; this per-line split is derived.
fn line_amount(item: &RefundItem, line: Option<&OrderProduct>) -> Decimal {
    if let Some(amount) = item.requested_amount {
        return amount;
    }
    let Some(line) = line.filter(|l| l.quantity > 0) else {
        return Decimal::ZERO;
    };
    let paid = line.discounted_total_inc_tax.unwrap_or(line.total_inc_tax);
    (paid * Decimal::from(quantity(item)) / Decimal::from(line.quantity)).round_dp(2)
}

/// Writes a refunded amount (and its tax) as the sale writes its total: `total_price` and
/// `total_price_without_tax`, `tax_value` in the reference currency, `total_price_local_currency`
/// in the shopper's, with `local_currency`, `reference_currency` and `exchange_rate`.
pub(crate) fn refund_money(
    p: &mut Map<String, Value>,
    currency: &OrderCurrency,
    total: Decimal,
    tax: Option<Decimal>,
) {
    p.insert("total_price".into(), money(currency.reference(total)));
    p.insert("total_price_local_currency".into(), money(total));
    if let Some(tax) = tax {
        p.insert("tax_value".into(), money(currency.reference(tax)));
        p.insert(
            "total_price_without_tax".into(),
            money(currency.reference(total - tax)),
        );
    }
    insert_currencies(p, currency);
}
