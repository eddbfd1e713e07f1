//! Pure mapping from BigCommerce resources to Bloomreach commands. No I/O.
//!
//! Payloads are frozen here: every value is derived from the source record (never "now"), keys
//! are sorted (serde_json maps are ordered), and money is written from its `Decimal` form, so the
//! same record always yields byte-identical payloads and Bloomreach's duplicate filter absorbs a
//! resend.
//!
//! Money on the wire: Bloomreach reads numbers. A `Decimal` is normalized and written as the
//! shortest JSON number that round-trips; amounts with more than 15 significant digits are
//! rounded to 4 decimal places first (BigCommerce's own precision), so no amount is ever changed
//! by float conversion in the range a shop can produce.

use bigreach_bigcommerce::{Cart, Customer, Order, OrderProduct};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::identity::ResolvedIds;
use crate::model::{Destination, Lane, NewCommand};

pub mod catalog;
pub mod changes;
pub mod currency;
pub mod payment;
pub mod refund;

pub use catalog::{
    catalog_commands, catalog_delta, catalog_item_properties, catalog_items, CatalogMapping,
    CatalogMappingSettings, CATALOG_FIELDS,
};

pub use refund::refund_commands;

/// Whether the sale happened for `order` (so a `success` purchase is due), by the order mapping
/// of `ctx` (status id × `payment_status`, see [`payment`]).
pub fn is_paid(order: &Order, ctx: &MappingContext) -> bool {
    ctx.orders.state(order).was_paid()
}

/// The event type of purchases.
pub const PURCHASE: &str = "purchase";
/// The event type of purchase lines.
pub const PURCHASE_ITEM: &str = "purchase_item";

/// Context the mapper needs beyond the resource itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingContext {
    /// The store's default currency (from `GET v2/store` / `v2/currencies`).
    pub store_currency: String,
    /// `purchase_source_name` (the store's domain or name).
    pub source_name: String,
    /// Profile property names.
    pub profile: ProfileMapping,
    /// Customer group names by id (`GET v2/customer_groups`; empty on plans without groups).
    pub group_names: std::collections::BTreeMap<u64, String>,
    /// Customer attribute names by id (`GET v3/customers/attributes`).
    pub attribute_names: std::collections::BTreeMap<u64, String>,
    /// What an order counts as (paid, held, cancelled, refunded) and the `purchase_status` names.
    pub orders: payment::OrderMapping,
    /// The store's currencies and rates, and the reference currency (see [`currency`]).
    pub currencies: currency::StoreCurrencies,
}

impl MappingContext {
    /// The two currencies of `order` (local and reference) and the rate between them; every
    /// money conversion of an order goes through the result's [`currency::OrderCurrency::reference`].
    pub fn order_currency(
        &self,
        order: &Order,
    ) -> Result<currency::OrderCurrency, currency::CurrencyError> {
        currency::OrderCurrency::of(order, &self.store_currency, &self.currencies)
    }
}

/// The default mapping (profile properties, `[orders]`), `data/mapping.toml`, compiled in.
pub(crate) const DEFAULT_MAPPING: &str = include_str!("../../../../data/mapping.toml");

/// Profile property names: BigReach's source name → the Bloomreach property (empty = drop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileMapping {
    names: std::collections::BTreeMap<String, String>,
}

impl Default for ProfileMapping {
    fn default() -> Self {
        #[derive(serde::Deserialize)]
        struct File {
            profile: std::collections::BTreeMap<String, String>,
        }
        // The file is part of the build and checked by a test; an unreadable one would be a
        // build defect, so fall back to identity names rather than fail at run time.
        let names = toml::from_str::<File>(DEFAULT_MAPPING)
            .map(|f| f.profile)
            .unwrap_or_default();
        Self { names }
    }
}

impl ProfileMapping {
    /// The defaults with `overrides` (from `[mapping.profile]` in bigreach.toml) on top.
    pub fn with_overrides(overrides: &std::collections::BTreeMap<String, String>) -> Self {
        let mut mapping = Self::default();
        for (source, target) in overrides {
            mapping.names.insert(source.clone(), target.clone());
        }
        mapping
    }

    /// Renames (or drops) properties; unlisted ones keep their names.
    pub fn apply(&self, properties: Map<String, Value>) -> Map<String, Value> {
        properties
            .into_iter()
            .filter_map(|(key, value)| match self.names.get(&key) {
                Some(target) if target.is_empty() => None,
                Some(target) => Some((target.clone(), value)),
                None => Some((key, value)),
            })
            .collect()
    }
}

/// Writes a decimal as a JSON number (see the module docs).
pub fn money(amount: Decimal) -> Value {
    let mut normalized = amount.normalize();
    if normalized.mantissa().unsigned_abs() >= 1_000_000_000_000_000 {
        normalized = normalized.round_dp(4).normalize();
    }
    normalized
        .to_f64()
        .and_then(serde_json::Number::from_f64)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Unix seconds as Bloomreach reads timestamps.
pub fn unix_seconds(at: chrono::DateTime<chrono::Utc>) -> f64 {
    at.timestamp_millis() as f64 / 1000.0
}

fn content_hash(value: &Value) -> String {
    hex::encode(Sha256::digest(value.to_string().as_bytes()))
}

fn event_command(
    lane: Lane,
    fact: String,
    ids: &ResolvedIds,
    event_type: &str,
    timestamp: f64,
    properties: Map<String, Value>,
    event_time_ms: i64,
) -> NewCommand {
    let data = json!({
        "customer_ids": ids.customer_ids,
        "event_type": event_type,
        "timestamp": timestamp,
        "properties": properties,
    });
    NewCommand {
        lane,
        destination: Destination::Event,
        fact,
        // Events are facts: sent once, whatever later edits say.
        content_hash: "once".to_owned(),
        customer_key: Some(ids.person.store_key()),
        payload: data.to_string().into_bytes(),
        event_time_ms,
    }
}

fn options_text(options: impl Iterator<Item = (String, String)>) -> String {
    options
        .map(|(name, value)| format!("{name}: {value}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A paid order → one `purchase` plus one `purchase_item` per line, then its refunds
/// ([`refund_commands`]). Amounts are in the
/// reference currency (`total_price`, line prices), with the shopper's (`*_local_currency`,
/// `local_currency`) and the rate alongside (see [`currency`]). Returns nothing for an unpaid
/// order, or one whose amounts cannot be converted (ingest withholds it with the reason).
pub fn purchase_commands(
    order: &Order,
    ids: &ResolvedIds,
    ctx: &MappingContext,
    lane: Lane,
) -> Vec<NewCommand> {
    let state = ctx.orders.state(order);
    if !state.was_paid() {
        return Vec::new();
    }
    let Ok(currency) = ctx.order_currency(order) else {
        return Vec::new();
    };
    let timestamp = unix_seconds(order.date_created);
    let event_time_ms = order.date_modified.timestamp_millis();
    let total_quantity: u32 = order.line_items.iter().map(|l| l.quantity).sum();
    let mut product_ids: Vec<String> = order
        .line_items
        .iter()
        .map(|l| l.product_id.to_string())
        .collect();
    product_ids.dedup();
    let variant_ids: Vec<String> = order
        .line_items
        .iter()
        .filter_map(|l| l.variant_id.map(|v| v.to_string()))
        .collect();
    let product_list: Vec<Value> = order
        .line_items
        .iter()
        .map(|l| {
            json!({
                "product_id": l.product_id.to_string(),
                "variant_id": l.variant_id.map(|v| v.to_string()),
                "sku": l.sku,
                "quantity": l.quantity,
            })
        })
        .collect();

    let mut properties = Map::new();
    properties.insert("purchase_id".into(), json!(order.id));
    properties.insert("purchase_status".into(), json!(ctx.orders.success));
    properties.insert("purchase_source_type".into(), json!("online"));
    properties.insert("purchase_source_name".into(), json!(ctx.source_name));
    properties.insert("status_id".into(), json!(order.status_id));
    insert_order_amounts(&mut properties, order, &currency);
    properties.insert("total_quantity".into(), json!(total_quantity));
    properties.insert("product_ids".into(), json!(product_ids));
    properties.insert("variant_ids".into(), json!(variant_ids));
    properties.insert("product_list".into(), Value::Array(product_list));
    properties.insert("payment_type".into(), json!(order.payment_method));
    properties.insert("channel_id".into(), json!(order.channel_id));

    let cancellation = (state == payment::PaymentState::CancelledAfterPayment).then(|| {
        let mut cancelled = properties.clone();
        cancelled.insert("purchase_status".into(), json!(ctx.orders.cancelled));
        cancelled
    });
    let mut commands = vec![event_command(
        lane,
        format!("purchase:{}", order.id),
        ids,
        PURCHASE,
        timestamp,
        properties,
        event_time_ms,
    )];
    if let Some(cancelled) = cancellation {
        // One cancellation per order (its own fact key), at the time BigCommerce last changed
        // the order; the sale above keeps its key, so a purchase sent earlier is not resent.
        commands.push(event_command(
            lane,
            format!("purchase_cancelled:{}", order.id),
            ids,
            PURCHASE,
            unix_seconds(order.date_modified),
            cancelled,
            event_time_ms,
        ));
    }
    for line in &order.line_items {
        commands.push(event_command(
            lane,
            format!("purchase_item:{}:{}", order.id, line.id),
            ids,
            PURCHASE_ITEM,
            timestamp,
            purchase_item_properties(order, line, &currency, &ctx.orders.success),
            event_time_ms,
        ));
    }
    // Refunds follow the sale (their own facts, see `refund`).
    commands.extend(refund_commands(order, ids, ctx, lane));
    commands
}

/// The order-level amounts of a `purchase`, in both currencies (one definition, shared by the
/// sale and its cancellation).
fn insert_order_amounts(
    properties: &mut Map<String, Value>,
    order: &Order,
    currency: &currency::OrderCurrency,
) {
    let reference = |amount: Decimal| money(currency.reference(amount));
    properties.insert("total_price".into(), reference(order.total_inc_tax));
    properties.insert(
        "total_price_without_tax".into(),
        reference(order.total_ex_tax),
    );
    properties.insert("tax_value".into(), reference(order.total_tax));
    properties.insert(
        "shipping_cost".into(),
        reference(order.shipping_cost_inc_tax),
    );
    properties.insert("discount_value".into(), reference(order.discount_amount));
    properties.insert(
        "total_price_local_currency".into(),
        money(order.total_inc_tax),
    );
    insert_currencies(properties, currency);
}

/// `local_currency`, `reference_currency` and `exchange_rate` (local units per 1 reference unit).
pub(super) fn insert_currencies(
    properties: &mut Map<String, Value>,
    currency: &currency::OrderCurrency,
) {
    properties.insert("local_currency".into(), json!(currency.local));
    properties.insert("reference_currency".into(), json!(currency.reference));
    properties.insert("exchange_rate".into(), money(currency.exchange_rate()));
}

fn purchase_item_properties(
    order: &Order,
    line: &OrderProduct,
    currency: &currency::OrderCurrency,
    success: &str,
) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("purchase_id".into(), json!(order.id));
    p.insert("purchase_status".into(), json!(success));
    p.insert("line_id".into(), json!(line.id));
    p.insert("product_id".into(), json!(line.product_id.to_string()));
    p.insert(
        "variant_id".into(),
        json!(line.variant_id.map(|v| v.to_string())),
    );
    p.insert("sku".into(), json!(line.sku));
    p.insert("title".into(), json!(line.name));
    p.insert("brand".into(), json!(line.brand));
    p.insert("quantity".into(), json!(line.quantity));
    let line_total = line.discounted_total_inc_tax.unwrap_or(line.total_inc_tax);
    p.insert(
        "price".into(),
        money(currency.reference(line.price_inc_tax)),
    );
    p.insert(
        "price_without_tax".into(),
        money(currency.reference(line.price_ex_tax)),
    );
    p.insert("total_price".into(), money(currency.reference(line_total)));
    p.insert("price_local_currency".into(), money(line.price_inc_tax));
    p.insert("total_price_local_currency".into(), money(line_total));
    insert_currencies(&mut p, currency);
    p.insert(
        "variant_options".into(),
        json!(options_text(
            line.product_options
                .iter()
                .map(|o| (o.display_name.clone(), o.display_value.clone()))
        )),
    );
    p
}

/// A registered customer → a `customers` command with profile properties.
pub fn customer_command(
    customer: &Customer,
    ids: &ResolvedIds,
    phone_e164: Option<&str>,
    lane: Lane,
    ctx: &MappingContext,
) -> NewCommand {
    let mut p = Map::new();
    p.insert("email".into(), json!(customer.email.trim()));
    p.insert("first_name".into(), json!(customer.first_name));
    p.insert("last_name".into(), json!(customer.last_name));
    p.insert(
        "phone".into(),
        json!(phone_e164.unwrap_or(customer.phone.trim())),
    );
    p.insert("company".into(), json!(customer.company));
    p.insert(
        "customer_group_id".into(),
        json!(customer.customer_group_id),
    );
    p.insert(
        "accepts_marketing".into(),
        json!(customer.accepts_product_review_abandoned_cart_emails),
    );
    p.insert("registered".into(), json!(true));
    p.insert(
        "registered_at".into(),
        json!(customer.date_created.timestamp()),
    );
    if let Some(channel) = customer.origin_channel_id {
        p.insert("origin_channel_id".into(), json!(channel));
    }
    if let Some(name) = ctx.group_names.get(&customer.customer_group_id) {
        p.insert("customer_group".into(), json!(name));
    }
    for attribute in &customer.attributes {
        p.insert(
            attribute_property(ctx, attribute.attribute_id),
            json!(attribute.attribute_value.trim()),
        );
    }
    for field in &customer.form_fields {
        let name = property_name(&field.name);
        if !name.is_empty() {
            p.insert(format!("form_{name}"), flat_value(&field.value));
        }
    }
    p.insert("customer_type".into(), json!("registered"));
    p.insert(
        "segment".into(),
        json!(segment(
            "registered",
            customer.customer_group_id,
            &customer.attributes,
            ctx
        )),
    );
    profile_command(
        format!("customer:{}", customer.id),
        ids,
        p,
        customer.date_modified,
        lane,
        &ctx.profile,
    )
}

/// A form-field or attribute name as a Bloomreach property name: ASCII snake_case.
pub fn property_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_owned()
}

/// Form-field values may be strings, numbers or lists; lists become comma-separated text so a
/// segment filter can match them.
fn flat_value(value: &Value) -> Value {
    match value {
        Value::Array(items) => json!(items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(", ")),
        other => other.clone(),
    }
}

/// The property name of a customer attribute: `attr_<snake_case name>` when its definition is
/// known, else `attribute_<id>`.
fn attribute_property(ctx: &MappingContext, id: u64) -> String {
    match ctx.attribute_names.get(&id).map(|n| property_name(n)) {
        Some(name) if !name.is_empty() => format!("attr_{name}"),
        _ => format!("attribute_{id}"),
    }
}

/// The one combined segmentation property, so marketers filter on a single field:
/// `type:<registered|guest>|group:<group name, or id when names are unknown>|<attribute>:<value>…`
/// with attribute parts sorted. Example:
/// `type:registered|group:Wholesale|attr_loyalty_tier:gold`. Guests: `type:guest|group:none`.
pub fn segment(
    customer_type: &str,
    group_id: u64,
    attributes: &[bigreach_bigcommerce::CustomerAttribute],
    ctx: &MappingContext,
) -> String {
    let group = if group_id == 0 {
        "none".to_owned()
    } else {
        ctx.group_names
            .get(&group_id)
            .cloned()
            .unwrap_or_else(|| group_id.to_string())
    };
    let mut parts = vec![format!("type:{customer_type}"), format!("group:{group}")];
    let mut attrs: Vec<_> = attributes
        .iter()
        .map(|a| {
            format!(
                "{}:{}",
                attribute_property(ctx, a.attribute_id),
                a.attribute_value.trim()
            )
        })
        .collect();
    attrs.sort();
    parts.extend(attrs);
    parts.join("|")
}

/// A guest's profile properties from the order's billing address.
pub fn guest_profile_command(
    order: &Order,
    ids: &ResolvedIds,
    phone_e164: Option<&str>,
    lane: Lane,
    ctx: &MappingContext,
) -> NewCommand {
    let b = &order.billing_address;
    let mut p = Map::new();
    if !b.email.trim().is_empty() {
        p.insert("email".into(), json!(b.email.trim().to_lowercase()));
    }
    p.insert("first_name".into(), json!(b.first_name));
    p.insert("last_name".into(), json!(b.last_name));
    if let Some(phone) = phone_e164 {
        p.insert("phone".into(), json!(phone));
    }
    p.insert("country".into(), json!(b.country_iso2));
    p.insert("city".into(), json!(b.city));
    p.insert("accepts_marketing".into(), json!(order.is_email_opt_in));
    if !order.customer_locale.is_empty() {
        p.insert("locale".into(), json!(order.customer_locale));
    }
    p.insert("customer_type".into(), json!("guest"));
    p.insert("segment".into(), json!(segment("guest", 0, &[], ctx)));
    profile_command(
        format!("guest:{}", ids.person.store_key()),
        ids,
        p,
        order.date_modified,
        lane,
        &ctx.profile,
    )
}

fn profile_command(
    fact: String,
    ids: &ResolvedIds,
    properties: Map<String, Value>,
    modified: chrono::DateTime<chrono::Utc>,
    lane: Lane,
    mapping: &ProfileMapping,
) -> NewCommand {
    let properties = mapping.apply(properties);
    let content = json!({"ids": ids.customer_ids, "properties": properties});
    let data = json!({
        "customer_ids": ids.customer_ids,
        "properties": properties,
        "update_timestamp": unix_seconds(modified),
    });
    NewCommand {
        lane,
        destination: Destination::CustomerUpdate,
        fact,
        content_hash: content_hash(&content),
        customer_key: Some(ids.person.store_key()),
        payload: data.to_string().into_bytes(),
        event_time_ms: modified.timestamp_millis(),
    }
}

/// The event type of cart changes.
pub const CART_UPDATE: &str = "cart_update";

/// A cart state → one `cart_update` event (one per distinct cart state: the fact includes the
/// cart's `updated_time`), with the variants the shopper holds, so abandoned-cart flows can
/// show the exact variant.
pub fn cart_command(cart: &Cart, ids: &ResolvedIds) -> NewCommand {
    let lines: Vec<_> = cart.lines().collect();
    let total_quantity: u32 = lines.iter().map(|l| l.quantity).sum();
    let product_list: Vec<Value> = lines
        .iter()
        .map(|l| {
            json!({
                "product_id": l.product_id.to_string(),
                "variant_id": l.variant_id.map(|v| v.to_string()),
                "sku": l.sku,
                "quantity": l.quantity,
                "price": money(l.sale_price),
            })
        })
        .collect();
    let mut p = Map::new();
    p.insert(
        "action".into(),
        json!(if lines.is_empty() { "empty" } else { "update" }),
    );
    p.insert("cart_id".into(), json!(cart.id));
    p.insert("product_list".into(), Value::Array(product_list));
    p.insert(
        "product_ids".into(),
        json!(lines
            .iter()
            .map(|l| l.product_id.to_string())
            .collect::<Vec<_>>()),
    );
    p.insert(
        "variant_ids".into(),
        json!(lines
            .iter()
            .filter_map(|l| l.variant_id.map(|v| v.to_string()))
            .collect::<Vec<_>>()),
    );
    p.insert("total_quantity".into(), json!(total_quantity));
    p.insert("total_price".into(), money(cart.cart_amount));
    p.insert("local_currency".into(), json!(cart.currency.code));
    event_command(
        Lane::Carts,
        format!("cart:{}:{}", cart.id, cart.updated_time.timestamp_millis()),
        ids,
        CART_UPDATE,
        unix_seconds(cart.updated_time),
        p,
        cart.updated_time.timestamp_millis(),
    )
}

/// A guest's profile from the email typed into a cart (so email campaigns can reach them).
pub fn cart_guest_profile_command(
    cart: &Cart,
    ids: &ResolvedIds,
    ctx: &MappingContext,
) -> NewCommand {
    let mut p = Map::new();
    p.insert("email".into(), json!(cart.email.trim().to_lowercase()));
    if !cart.locale.is_empty() {
        p.insert("locale".into(), json!(cart.locale));
    }
    p.insert("customer_type".into(), json!("guest"));
    p.insert("segment".into(), json!(segment("guest", 0, &[], ctx)));
    profile_command(
        format!("cart-guest:{}", ids.person.store_key()),
        ids,
        p,
        cart.updated_time,
        Lane::Carts,
        &ctx.profile,
    )
}

#[cfg(test)]
mod tests;
