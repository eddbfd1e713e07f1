//! Orders (v2) and their line items.
//!
//! v2 money arrives as 4-decimal strings and dates as RFC 2822 strings; see
//! [`crate::wire_format`]. `line_items` is not a wire field: [`crate::BigCommerceClient`] fills it
//! from `include=consignments.line_items` or, when that is incomplete, from
//! `GET /v2/orders/{id}/products`.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::wire_format::{self, null_as_default};

/// A custom form field on an address or customer (`{name, value}`); the value may be a string,
/// number or list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FormField {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default)]
    pub value: serde_json::Value,
}

/// The billing address of a v2 order: a guest's only identity lives here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct BillingAddress {
    #[serde(default, deserialize_with = "null_as_default")]
    pub first_name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub last_name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub company: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub street_1: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub city: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub state: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub zip: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub country: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub country_iso2: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub phone: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub email: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub form_fields: Vec<FormField>,
}

/// A v2 order. All amounts are in the transactional currency, `default_currency_code`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    #[serde(with = "wire_format::id")]
    pub id: u64,
    /// `0` = guest order.
    #[serde(default, with = "wire_format::id")]
    pub customer_id: u64,
    #[serde(with = "wire_format::datetime")]
    pub date_created: DateTime<Utc>,
    #[serde(with = "wire_format::datetime")]
    pub date_modified: DateTime<Utc>,
    /// Map by this id, never by `status`: merchants can rename statuses.
    #[serde(default, deserialize_with = "wire_format::count::deserialize")]
    pub status_id: u32,
    #[serde(default, deserialize_with = "null_as_default")]
    pub status: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub payment_status: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub payment_method: String,
    #[serde(default, with = "wire_format::decimal")]
    pub subtotal_ex_tax: Decimal,
    #[serde(default, with = "wire_format::decimal")]
    pub subtotal_inc_tax: Decimal,
    #[serde(default, with = "wire_format::decimal")]
    pub total_ex_tax: Decimal,
    #[serde(default, with = "wire_format::decimal")]
    pub total_inc_tax: Decimal,
    #[serde(default, with = "wire_format::decimal")]
    pub total_tax: Decimal,
    #[serde(default, with = "wire_format::decimal")]
    pub shipping_cost_ex_tax: Decimal,
    #[serde(default, with = "wire_format::decimal")]
    pub shipping_cost_inc_tax: Decimal,
    #[serde(default, with = "wire_format::decimal")]
    pub discount_amount: Decimal,
    #[serde(default, with = "wire_format::decimal")]
    pub coupon_discount: Decimal,
    /// Number of items (sum of line quantities).
    #[serde(default, deserialize_with = "wire_format::count::deserialize")]
    pub items_total: u32,
    /// The display currency.
    #[serde(default, deserialize_with = "null_as_default")]
    pub currency_code: String,
    #[serde(default, with = "wire_format::decimal")]
    pub currency_exchange_rate: Decimal,
    /// The TRANSACTIONAL currency, despite its name: every amount on the order is in it.
    #[serde(default, deserialize_with = "null_as_default")]
    pub default_currency_code: String,
    /// The store's default currency; may be `""` when multi-currency is off.
    #[serde(default, deserialize_with = "null_as_default")]
    pub store_default_currency_code: String,
    #[serde(default, with = "wire_format::decimal")]
    pub store_default_to_transactional_exchange_rate: Decimal,
    #[serde(default, deserialize_with = "null_as_default")]
    pub billing_address: BillingAddress,
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_email_opt_in: bool,
    #[serde(default, with = "wire_format::id")]
    pub channel_id: u64,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub cart_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub order_source: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub customer_locale: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub is_deleted: bool,
    /// Filled by the client (not a wire field). Always complete when returned by the client.
    #[serde(default)]
    pub line_items: Vec<OrderProduct>,
    /// Not a wire field either: the v3 refunds of the order, filled by the appliance's enrich
    /// stage for refunded and partially refunded orders (`GET v3/orders/{id}/payment_actions/
    /// refunds`); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refunds: Vec<crate::Refund>,
}

fn empty_as_none<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(deserializer)?;
    Ok(value.filter(|text| !text.trim().is_empty()))
}

/// A chosen option on an order line (e.g. Color: Blue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ProductOption {
    #[serde(default, deserialize_with = "null_as_default")]
    pub display_name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub display_value: String,
}

/// One order line (`GET /v2/orders/{id}/products`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderProduct {
    /// The order-product id (used by refunds and shipments).
    #[serde(with = "wire_format::id")]
    pub id: u64,
    #[serde(default, with = "wire_format::id")]
    pub order_id: u64,
    #[serde(default, with = "wire_format::id")]
    pub product_id: u64,
    /// Absent for custom products.
    #[serde(default, with = "wire_format::optional_id")]
    pub variant_id: Option<u64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub sku: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub brand: String,
    #[serde(default, deserialize_with = "wire_format::count::deserialize")]
    pub quantity: u32,
    #[serde(default, with = "wire_format::decimal")]
    pub base_price: Decimal,
    #[serde(default, with = "wire_format::decimal")]
    pub price_ex_tax: Decimal,
    #[serde(default, with = "wire_format::decimal")]
    pub price_inc_tax: Decimal,
    #[serde(default, with = "wire_format::decimal")]
    pub total_ex_tax: Decimal,
    #[serde(default, with = "wire_format::decimal")]
    pub total_inc_tax: Decimal,
    /// Line total after all discounts, incl. tax: the best "paid" value.
    #[serde(default, with = "wire_format::optional_decimal")]
    pub discounted_total_inc_tax: Option<Decimal>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub product_options: Vec<ProductOption>,
}

/// Line items found inside an order's `consignments` (from `include=consignments.line_items`).
///
/// Returns `None` when the consignments do not carry complete line items: an element is only a
/// `{url, resource}` link, does not parse, or the quantities do not add up to `items_total`.
/// The caller then fetches `GET /v2/orders/{id}/products`.
pub(crate) fn line_items_from_consignments(
    consignments: Option<&serde_json::Value>,
    items_total: u32,
) -> Option<Vec<OrderProduct>> {
    let mut raw_items = Vec::new();
    if let Some(consignments) = consignments {
        collect_line_items(consignments, &mut raw_items);
    }
    let mut items: Vec<OrderProduct> = Vec::with_capacity(raw_items.len());
    for raw in raw_items {
        // A `{url, resource}` link instead of the object: not expanded.
        let is_object_with_product = raw.as_object().is_some_and(|object| {
            object.contains_key("product_id") || object.contains_key("quantity")
        });
        if !is_object_with_product {
            return None;
        }
        let item: OrderProduct = serde_json::from_value(raw.clone()).ok()?;
        if !items.iter().any(|known| known.id == item.id) {
            items.push(item);
        }
    }
    let quantity: u64 = items.iter().map(|item| u64::from(item.quantity)).sum();
    (quantity == u64::from(items_total)).then_some(items)
}

fn collect_line_items<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a serde_json::Value>) {
    match value {
        serde_json::Value::Object(object) => {
            for (key, child) in object {
                if key == "line_items" {
                    match child {
                        serde_json::Value::Array(elements) => out.extend(elements.iter()),
                        serde_json::Value::Null => {}
                        single => out.push(single),
                    }
                } else {
                    collect_line_items(child, out);
                }
            }
        }
        serde_json::Value::Array(elements) => {
            for element in elements {
                collect_line_items(element, out);
            }
        }
        _ => {}
    }
}
