//! The twin's internal store state and the ground truth.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Ground truth of the simulated store.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BigCommerceTruth {
    /// Every human, across guest and registered identities.
    pub persons: Vec<PersonTruth>,
    /// Every order.
    pub orders: Vec<OrderTruth>,
    /// The store's currencies: code → units per 1 unit of the store default (as
    /// `GET v2/currencies` lists them).
    #[serde(default)]
    pub currency_rates: BTreeMap<String, Decimal>,
    /// Every variant id (including base variants).
    pub variant_ids: Vec<u64>,
    /// Every variant with what a shopper pays for it now and its stock.
    pub variants: Vec<VariantTruth>,
    /// Every cart ever created (converted and deleted ones included).
    pub carts: Vec<CartTruth>,
    /// Every v3 refund, ascending refund id.
    #[serde(default)]
    pub refunds: Vec<RefundTruth>,
    /// Number of products.
    pub products: usize,
    /// Webhook delivery attempts made (first attempts and retries).
    pub webhooks_sent: u64,
    /// REST requests answered under `/stores/` (any status).
    pub requests_served: u64,
    /// The same requests by endpoint: the path after the store hash with every id as `{id}`
    /// (`v2/orders`, `v2/orders/{id}/products`, `v3/customers`).
    pub requests_by_endpoint: BTreeMap<String, u64>,
    /// 429 responses (quota and platform).
    pub rate_limited_429: u64,
    /// Webhook deliveries acknowledged with a 2xx.
    pub webhooks_delivered: u64,
    /// Webhook attempts that failed (non-2xx, connection error, timeout).
    pub webhook_failures: u64,
    /// Hooks deactivated by the twin: the retry schedule ran out, or `deactivate_hooks`.
    pub hooks_deactivated: u64,
    /// Webhook events generated (one per matching hook and change).
    pub webhook_events: u64,
    /// The `hash` of every webhook delivery acknowledged with a 2xx, in order (a hash repeats
    /// when the same event was acknowledged more than once).
    #[serde(default)]
    pub acknowledged_webhook_hashes: Vec<String>,
}

/// One human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonTruth {
    /// Stable id across guest and registered identities.
    pub person_id: u64,
    /// Registered customer id, once registered.
    pub customer_id: Option<u64>,
    /// Canonical lowercase email.
    pub email: Option<String>,
    /// Phone in E.164.
    pub phone_e164: Option<String>,
}

/// One order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderTruth {
    /// Order id.
    pub order_id: u64,
    /// The human who placed it.
    pub person_id: u64,
    /// Payment was captured at some point (refunded orders stay paid).
    pub paid: bool,
    /// When the payment was captured, full clock precision.
    pub paid_at: Option<DateTime<Utc>>,
    /// Transactional currency.
    pub currency: String,
    /// `total_inc_tax` in the transactional currency.
    pub total_inc_tax: Decimal,
    /// Number of order lines.
    pub line_count: usize,
    /// Sum of the order's v3 refunds, transactional currency (the v2 `refunded_amount` stays 0).
    pub refunded_total: Decimal,
    /// Current status id (see reference §3.3).
    pub status_id: u32,
    /// The store's default currency.
    #[serde(default)]
    pub store_currency: String,
    /// Units of `currency` per 1 unit of `store_currency` (the order's
    /// `store_default_to_transactional_exchange_rate`; 1 in the store currency).
    #[serde(default)]
    pub rate: Decimal,
    /// The display currency the shopper browsed in, when it is not the transactional one.
    #[serde(default)]
    pub display_currency: Option<String>,
    /// `payment_method` (e.g. `Credit Card`, `Cash on Delivery`, `Bank Deposit`).
    #[serde(default)]
    pub payment_method: String,
    /// `date_created` (whole seconds, as the API shows it).
    #[serde(default)]
    pub date_created: Option<DateTime<Utc>>,
}

/// One v3 refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundTruth {
    /// Refund id.
    pub refund_id: u64,
    /// The refunded order.
    pub order_id: u64,
    /// When it was made.
    pub created: DateTime<Utc>,
    /// Amount given back, tax included, in the order's transactional currency.
    pub total_amount: Decimal,
    /// Tax given back.
    pub total_tax: Decimal,
    /// The order's transactional currency.
    pub currency: String,
}

/// One variant (base variants included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantTruth {
    /// Variant id.
    pub variant_id: u64,
    /// Its product.
    pub product_id: u64,
    /// Variant SKU.
    pub sku: String,
    /// Effective price a shopper pays now, store default currency (sale price if any).
    pub price: Decimal,
    /// Stock: the variant's level when tracked by variant, the product's when tracked by
    /// product, 0 when not tracked.
    pub inventory_level: i64,
    /// `none`, `product` or `variant` (the product's `inventory_tracking`).
    pub inventory_tracking: String,
}

/// One cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartTruth {
    /// Cart UUID.
    pub cart_id: String,
    /// The shopper.
    pub person_id: u64,
    /// The cart's email, canonical (trimmed, lowercase); `None` until a guest typed one.
    pub email: Option<String>,
    /// `store/cart/abandoned` fired for it at least once.
    pub abandoned: bool,
    /// The order it became; the cart then answers 404.
    pub converted_order: Option<u64>,
}

#[derive(Debug, Clone)]
pub(crate) struct Country {
    pub iso2: &'static str,
    pub name: &'static str,
    pub city: &'static str,
    pub state: &'static str,
    pub zip: &'static str,
    pub dial: &'static str,
    pub tax_rate: Decimal,
    pub locale: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub person_id: u64,
    pub customer_id: Option<u64>,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    /// The email as this person types it at a guest checkout (case/whitespace variant), if
    /// fixed by `add_person`; seeded persons vary it per order.
    pub typed_email: Option<String>,
    pub phone_e164: Option<String>,
    pub phone_display: Option<String>,
    pub country: usize,
    pub street: String,
    /// Added by the scenario runner (`add_person`): generated trading never acts as this person.
    pub scripted: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Customer {
    pub id: u64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub company: String,
    pub phone: String,
    pub date_created: DateTime<Utc>,
    pub date_modified: DateTime<Utc>,
    pub accepts_marketing: bool,
    pub registration_ip: String,
    pub country: usize,
    pub street: String,
    pub address_id: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tracking {
    None,
    Product,
    Variant,
}

impl Tracking {
    pub fn as_str(self) -> &'static str {
        match self {
            Tracking::None => "none",
            Tracking::Product => "product",
            Tracking::Variant => "variant",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct OptionValue {
    pub id: u64,
    pub label: String,
    pub option_id: u64,
    pub option_display_name: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Product {
    pub id: u64,
    pub name: String,
    pub sku: String,
    pub description: String,
    pub price: Decimal,
    pub sale_price: Decimal,
    pub retail_price: Decimal,
    pub cost_price: Decimal,
    pub weight: Decimal,
    pub brand_id: u64,
    pub categories: Vec<u64>,
    pub tracking: Tracking,
    pub inventory_level: i64,
    pub date_created: DateTime<Utc>,
    pub date_modified: DateTime<Utc>,
    pub base_variant_id: Option<u64>,
    pub variant_ids: Vec<u64>,
    pub custom_fields: Vec<(u64, String, String)>,
    pub image_id: u64,
    pub total_sold: u64,
    pub brand: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Variant {
    pub id: u64,
    pub product_id: u64,
    pub sku: String,
    pub sku_id: Option<u64>,
    pub price: Option<Decimal>,
    pub sale_price: Option<Decimal>,
    pub cost_price: Decimal,
    pub weight: Option<Decimal>,
    pub inventory_level: i64,
    pub option_values: Vec<OptionValue>,
}

#[derive(Debug, Clone)]
pub(crate) struct Address {
    pub first_name: String,
    pub last_name: String,
    pub company: String,
    pub street_1: String,
    pub city: String,
    pub state: String,
    pub zip: String,
    pub country: String,
    pub country_iso2: String,
    pub phone: String,
    pub email: String,
}

#[derive(Debug, Clone)]
pub(crate) struct LineOption {
    pub id: u64,
    pub option_id: u64,
    pub display_name: String,
    pub display_value: String,
    pub value_id: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct OrderLine {
    pub id: u64,
    pub product_id: u64,
    pub variant_id: u64,
    pub sku: String,
    pub name: String,
    pub brand: String,
    pub quantity: u32,
    /// Unit price excluding tax, transactional currency.
    pub price_ex: Decimal,
    /// Unit tax.
    pub price_tax: Decimal,
    pub cost_price: Decimal,
    /// Order-level discount allocated to this line (ex tax).
    pub discount: Decimal,
    /// Tax removed by the discount.
    pub discount_tax: Decimal,
    pub options: Vec<LineOption>,
    pub weight: Decimal,
    /// Units refunded so far (v3 refunds).
    pub quantity_refunded: u32,
}

impl OrderLine {
    pub fn total_ex(&self) -> Decimal {
        self.price_ex * Decimal::from(self.quantity)
    }
    pub fn total_tax(&self) -> Decimal {
        self.price_tax * Decimal::from(self.quantity)
    }
    pub fn total_inc(&self) -> Decimal {
        self.total_ex() + self.total_tax()
    }
    /// What the shopper paid for the line: inc. tax, after its share of order discounts.
    pub fn paid_inc(&self) -> Decimal {
        self.total_inc() - self.discount - self.discount_tax
    }
    /// Tax paid for the line after discounts.
    pub fn paid_tax(&self) -> Decimal {
        self.total_tax() - self.discount_tax
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub id: u64,
    pub customer_id: u64,
    pub person_id: u64,
    pub date_created: DateTime<Utc>,
    pub date_modified: DateTime<Utc>,
    pub date_shipped: Option<DateTime<Utc>>,
    pub status_id: u8,
    pub payment_status: &'static str,
    pub payment_method: &'static str,
    pub payment_provider_id: String,
    pub currency_id: u64,
    pub currency_code: String,
    /// Store default → transactional rate.
    pub rate: Decimal,
    pub store_default_currency: String,
    pub multi_currency: bool,
    pub billing: Address,
    pub shipping_address_id: u64,
    pub shipping_method: &'static str,
    pub shipping_ex: Decimal,
    pub shipping_tax: Decimal,
    pub coupon: Option<(u64, String, Decimal)>,
    pub lines: Vec<OrderLine>,
    pub cart_id: String,
    pub paid_at: Option<DateTime<Utc>>,
    pub paid: bool,
    pub ip_address: String,
    pub is_email_opt_in: bool,
    pub customer_locale: &'static str,
    pub order_source: &'static str,
    pub geoip_country: String,
    pub geoip_iso2: String,
    /// Sum of the v3 refunds (transactional currency).
    pub refunded_total: Decimal,
    /// Shipping (inc. tax) refunded so far.
    pub shipping_refunded: Decimal,
    /// Stock was taken for this order (live capture), so a cancel or full refund returns it.
    pub stock_taken: bool,
    /// The display (non-transactional) currency the shopper browsed in: (id, code, rate from
    /// the store default). The order is transacted in the store default then.
    pub display: Option<(u64, String, Decimal)>,
    /// Merchant's staff notes.
    pub staff_notes: String,
    /// Tracking numbers of the order's shipments (shipments are not served; adding one
    /// changes the order's `date_modified`).
    pub tracking_numbers: Vec<String>,
}

/// Derived money of an order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Totals {
    pub subtotal_ex: Decimal,
    pub subtotal_tax: Decimal,
    pub subtotal_inc: Decimal,
    pub shipping_ex: Decimal,
    pub shipping_tax: Decimal,
    pub shipping_inc: Decimal,
    pub discount: Decimal,
    pub total_ex: Decimal,
    pub total_tax: Decimal,
    pub total_inc: Decimal,
    pub items_total: u64,
}

impl Order {
    pub fn totals(&self) -> Totals {
        let subtotal_ex: Decimal = self.lines.iter().map(OrderLine::total_ex).sum();
        let subtotal_tax: Decimal = self.lines.iter().map(OrderLine::total_tax).sum();
        let discount: Decimal = self.lines.iter().map(|l| l.discount).sum();
        let discount_tax: Decimal = self.lines.iter().map(|l| l.discount_tax).sum();
        let total_ex = subtotal_ex + self.shipping_ex - discount;
        let total_tax = subtotal_tax + self.shipping_tax - discount_tax;
        Totals {
            subtotal_ex,
            subtotal_tax,
            subtotal_inc: subtotal_ex + subtotal_tax,
            shipping_ex: self.shipping_ex,
            shipping_tax: self.shipping_tax,
            shipping_inc: self.shipping_ex + self.shipping_tax,
            discount,
            total_ex,
            total_tax,
            total_inc: total_ex + total_tax,
            items_total: self.lines.iter().map(|l| u64::from(l.quantity)).sum(),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Currency {
    pub id: u64,
    pub code: String,
    pub name: &'static str,
    pub token: &'static str,
    pub decimal_places: u32,
    /// Store default → this currency.
    pub rate: Decimal,
    pub is_default: bool,
    pub country_iso2: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) struct Hook {
    pub id: u64,
    pub scope: String,
    pub destination: String,
    pub is_active: bool,
    pub headers: Option<BTreeMap<String, String>>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One line of a cart (a physical item).
#[derive(Debug, Clone)]
pub(crate) struct CartLine {
    pub id: String,
    pub product_id: u64,
    pub variant_id: u64,
    pub sku: String,
    pub name: String,
    pub url: String,
    pub image_url: String,
    pub quantity: u32,
    /// Default (non-sale) price, transactional currency.
    pub original_price: Decimal,
    /// Price before discounts (sale price if any), transactional currency.
    pub list_price: Decimal,
    pub options: Vec<OptionValue>,
}

#[derive(Debug, Clone)]
pub(crate) struct Cart {
    pub id: String,
    pub person_id: u64,
    pub customer_id: u64,
    /// As typed (the API shows what the shopper typed); empty until provided.
    pub email: Option<String>,
    pub currency: String,
    pub locale: String,
    pub lines: Vec<CartLine>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub version: u64,
    pub token: Option<String>,
    /// When `store/cart/abandoned` last fired.
    pub abandoned_at: Option<DateTime<Utc>>,
    pub converted_order: Option<u64>,
    pub deleted: bool,
}

impl Cart {
    pub fn live(&self) -> bool {
        self.converted_order.is_none() && !self.deleted
    }
}

#[derive(Debug, Clone)]
pub(crate) struct RefundItem {
    /// `PRODUCT`, `SHIPPING` or `ORDER`.
    pub item_type: &'static str,
    /// Order-product id (PRODUCT), order-address id (SHIPPING) or order id (ORDER).
    pub item_id: u64,
    pub quantity: Option<u32>,
    /// The amount asked for (ORDER items).
    pub requested_amount: Option<Decimal>,
}

#[derive(Debug, Clone)]
pub(crate) struct Refund {
    pub id: u64,
    pub order_id: u64,
    pub created: DateTime<Utc>,
    pub reason: String,
    pub total_amount: Decimal,
    pub total_tax: Decimal,
    pub items: Vec<RefundItem>,
    pub payment_id: u64,
    pub provider_id: &'static str,
    pub offline: bool,
    pub transaction_id: String,
}

#[derive(Debug, Clone)]
pub(crate) struct QuotaWindow {
    pub started: Option<DateTime<Utc>>,
    pub used: u32,
}

/// The mutable store.
pub(crate) struct Store {
    pub persons: Vec<Person>,
    pub customers: BTreeMap<u64, Customer>,
    pub products: BTreeMap<u64, Product>,
    pub variants: BTreeMap<u64, Variant>,
    pub orders: BTreeMap<u64, Order>,
    pub hooks: BTreeMap<u64, Hook>,
    pub carts: BTreeMap<String, Cart>,
    /// Abandoned-cart recovery token → cart id.
    pub abandoned_tokens: BTreeMap<String, String>,
    pub refunds: BTreeMap<u64, Refund>,
    pub faults: super::shopper::WebhookFaults,
    /// Draws of the webhook fault injection (duplicates, extra delays), seeded.
    pub fault_rng: ChaCha8Rng,
    pub currencies: Vec<Currency>,
    pub next_id: BTreeMap<&'static str, u64>,
    pub rng: ChaCha8Rng,
    pub platform_rng: ChaCha8Rng,
    pub quota: QuotaWindow,
    pub store_created: DateTime<Utc>,
    pub bursts: u64,
}

impl Store {
    pub fn next(&mut self, kind: &'static str) -> u64 {
        let start = match kind {
            "customer" => 1,
            "product" => 111,
            "variant" => 501,
            "sku" => 301,
            "order" => 100,
            "order_product" => 1001,
            "option" => 11,
            "option_value" => 101,
            "line_option" => 1,
            "address" => 1,
            "hook" => 20_000_001,
            "custom_field" => 1,
            "image" => 901,
            "coupon" => 1,
            "event" => 1,
            "refund" => 1,
            "refund_payment" => 1,
            _ => 1,
        };
        let slot = self.next_id.entry(kind).or_insert(start);
        let id = *slot;
        *slot += 1;
        id
    }

    pub fn truth(&self) -> BigCommerceTruth {
        BigCommerceTruth {
            persons: self
                .persons
                .iter()
                .map(|p| PersonTruth {
                    person_id: p.person_id,
                    customer_id: p.customer_id,
                    email: p.email.clone(),
                    phone_e164: p.phone_e164.clone(),
                })
                .collect(),
            orders: self
                .orders
                .values()
                .map(|o| OrderTruth {
                    order_id: o.id,
                    person_id: o.person_id,
                    paid: o.paid,
                    paid_at: o.paid_at,
                    currency: o.currency_code.clone(),
                    total_inc_tax: o.totals().total_inc,
                    line_count: o.lines.len(),
                    refunded_total: o.refunded_total,
                    status_id: u32::from(o.status_id),
                    store_currency: o.store_default_currency.clone(),
                    rate: o.rate,
                    display_currency: o.display.as_ref().map(|d| d.1.clone()),
                    payment_method: o.payment_method.to_owned(),
                    date_created: Some(o.date_created),
                })
                .collect(),
            currency_rates: self
                .currencies
                .iter()
                .map(|c| (c.code.clone(), c.rate))
                .collect(),
            variant_ids: self.variants.keys().copied().collect(),
            variants: self
                .variants
                .values()
                .filter_map(|v| {
                    let p = self.products.get(&v.product_id)?;
                    Some(VariantTruth {
                        variant_id: v.id,
                        product_id: v.product_id,
                        sku: v.sku.clone(),
                        price: super::wire::variant_effective_price(p, v),
                        inventory_level: match p.tracking {
                            Tracking::Variant => v.inventory_level,
                            Tracking::Product => p.inventory_level,
                            Tracking::None => 0,
                        },
                        inventory_tracking: p.tracking.as_str().to_owned(),
                    })
                })
                .collect(),
            carts: self
                .carts
                .values()
                .map(|c| CartTruth {
                    cart_id: c.id.clone(),
                    person_id: c.person_id,
                    email: c
                        .email
                        .as_ref()
                        .map(|e| e.trim().to_lowercase())
                        .filter(|e| !e.is_empty()),
                    abandoned: c.abandoned_at.is_some(),
                    converted_order: c.converted_order,
                })
                .collect(),
            refunds: self
                .refunds
                .values()
                .map(|r| RefundTruth {
                    refund_id: r.id,
                    order_id: r.order_id,
                    created: r.created,
                    total_amount: r.total_amount,
                    total_tax: r.total_tax,
                    currency: self
                        .orders
                        .get(&r.order_id)
                        .map(|o| o.currency_code.clone())
                        .unwrap_or_default(),
                })
                .collect(),
            products: self.products.len(),
            ..BigCommerceTruth::default()
        }
    }
}
