//! The writes a merchant's tools make over REST: orders (v2 create and status change), refunds
//! (v3 quote and create), customers (v3 create and update), products, variants and inventory.
//!
//! Every write goes through the same functions as the shopper actions in `shopper.rs`, so it
//! fires the same webhooks through the same dispatcher (at-least-once, duplicates and
//! reordering when those faults are on). Validation answers like the real API: v3 422
//! `{status, title, type, errors: {field: message}}` (`ErrorResponse`); v2 400 with the v2
//! error array `[{status, message}]` (*inferred*: the v2 spec documents no error body for
//! writes).

use bytes::Bytes;
use http::{Method, StatusCode};
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::config::TwinError;
use super::model::Tracking;
use super::server::{not_found, parse_json_body, unprocessable, Api, Params, Reply};
use super::shopper::{self, CustomerPatch, NewProduct, ProductPatch, RestOrder};
use super::wire::{self, status_name, CustomerInclude, ProductInclude};
use super::Inner;

/// At most this many customers per v3 customers write (`customers.v3.yml`: 413 above).
const MAX_CUSTOMERS_PER_WRITE: usize = 10;
/// At most this many variants per `PUT v3/catalog/variants`.
const MAX_VARIANTS_PER_WRITE: usize = 50;

pub(super) fn route(
    inner: &Inner,
    method: &Method,
    api: Api,
    rest: &[&str],
    _p: &Params,
    body: Option<&Bytes>,
) -> Option<Reply> {
    let post = *method == Method::POST;
    let put = *method == Method::PUT;
    let reply = match (api, rest) {
        (Api::V2, ["orders"]) if post => create_order(inner, body),
        (Api::V2, ["orders", id]) if put => update_order(inner, id, body),
        (Api::V3, ["orders", id, "payment_actions", "refund_quotes"]) if post => {
            refund(inner, id, body, false)
        }
        (Api::V3, ["orders", id, "payment_actions", "refunds"]) if post => {
            refund(inner, id, body, true)
        }
        (Api::V2, ["customers"]) if post => write_customer_v2(inner, None, body),
        (Api::V2, ["customers", id]) if put => match id.parse::<u64>() {
            Ok(id) => write_customer_v2(inner, Some(id), body),
            Err(_) => not_found(Api::V2),
        },
        (Api::V3, ["customers"]) if post => write_customers(inner, body, true),
        (Api::V3, ["customers"]) if put => write_customers(inner, body, false),
        (Api::V3, ["catalog", "products"]) if post => create_product(inner, body),
        (Api::V3, ["catalog", "products", id]) if put => update_product(inner, id, body),
        (Api::V3, ["catalog", "products", pid, "variants", vid]) if put => {
            update_variant(inner, Some(pid), vid, body)
        }
        (Api::V3, ["catalog", "variants"]) if put => update_variants(inner, body),
        (Api::V3, ["inventory", "adjustments", "absolute"]) if put => {
            adjust_inventory(inner, body, true)
        }
        (Api::V3, ["inventory", "adjustments", "relative"]) if post => {
            adjust_inventory(inner, body, false)
        }
        _ => return None,
    };
    Some(reply)
}

fn v2_invalid(message: &str) -> Reply {
    Reply::v2_error(StatusCode::BAD_REQUEST, message)
}

fn v2_field(field: &str) -> Reply {
    v2_invalid(&format!("The field '{field}' is invalid."))
}

fn v2_from(e: &TwinError) -> Reply {
    match e {
        TwinError::UnknownOrder(_) => not_found(Api::V2),
        TwinError::UnknownCustomer(_) => v2_field("customer_id"),
        TwinError::UnknownVariant(_) => v2_field("products"),
        other => v2_invalid(&other.to_string()),
    }
}

fn v3_from(e: &TwinError, field: &str) -> Reply {
    match e {
        TwinError::UnknownOrder(_) => {
            Reply::v3_error(StatusCode::NOT_FOUND, "The requested order was not found.")
        }
        TwinError::UnknownProduct(_) => Reply::v3_error(
            StatusCode::NOT_FOUND,
            "The requested product was not found.",
        ),
        other => unprocessable(field, &other.to_string()),
    }
}

fn v2_body(body: Option<&Bytes>) -> Result<Map<String, Value>, Reply> {
    parse_json_body(body).map_err(|_| v2_invalid("The request body is not valid JSON."))
}

fn str_of<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str)
}

fn u64_of(v: Option<&Value>) -> Result<Option<u64>, ()> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or(()),
    }
}

/// A JSON number or a numeric string (the v2 "Float, Float-As-String, Integer") as a decimal.
fn decimal_of(v: Option<&Value>) -> Result<Option<Decimal>, ()> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => s.trim().parse::<Decimal>().map(Some).map_err(|_| ()),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                return Ok(Some(Decimal::from(i)));
            }
            n.as_f64()
                .and_then(Decimal::from_f64)
                .map(|d| Some(d.round_dp(4)))
                .ok_or(())
        }
        Some(_) => Err(()),
    }
}

/// Fields of `POST v2/orders` the twin reads; the rest of `order_Post` is refused rather than
/// silently dropped. `shipping_addresses` is accepted and ignored: the twin ships to the billing
/// address.
const ORDER_POST_FIELDS: &[&str] = &[
    "billing_address",
    "products",
    "customer_id",
    "status_id",
    "default_currency_code",
    "shipping_addresses",
];

/// `POST v2/orders` → the new order (200, `order_Resp`).
fn create_order(inner: &Inner, body: Option<&Bytes>) -> Reply {
    let m = match v2_body(body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    if let Some(k) = m.keys().find(|k| !ORDER_POST_FIELDS.contains(&k.as_str())) {
        return v2_invalid(&format!(
            "The field '{k}' is not simulated by the twin (it reads {}).",
            ORDER_POST_FIELDS.join(", ")
        ));
    }
    let Some(Value::Object(billing)) = m.get("billing_address") else {
        return v2_invalid("The field 'billing_address' is required.");
    };
    let zip = str_of(billing, "zip").unwrap_or_default();
    if zip.trim().chars().count() < 2 {
        return v2_invalid(
            "The billing address must include the ZIP code (two or more characters).",
        );
    }
    let email = str_of(billing, "email").unwrap_or_default().to_owned();
    if !email.trim().is_empty() && !email.contains('@') {
        return v2_field("billing_address.email");
    }
    let Ok(customer_id) = u64_of(m.get("customer_id")) else {
        return v2_field("customer_id");
    };
    let status_id = match u64_of(m.get("status_id")) {
        Ok(None) => 1,
        Ok(Some(s)) if s <= 14 => s as u8,
        _ => return v2_field("status_id"),
    };
    let Some(Value::Array(products)) = m.get("products") else {
        return v2_invalid("The field 'products' is required.");
    };
    if products.is_empty() {
        return v2_invalid("The field 'products' must hold at least one product.");
    }
    let mut lines = Vec::new();
    {
        let store = inner.store.lock();
        for (i, item) in products.iter().enumerate() {
            let Some(item) = item.as_object() else {
                return v2_field(&format!("products[{i}]"));
            };
            let Ok(Some(product_id)) = u64_of(item.get("product_id")) else {
                return v2_invalid(&format!(
                    "products[{i}]: custom products (no product_id) are not simulated by the twin."
                ));
            };
            let quantity = match u64_of(item.get("quantity")) {
                Ok(Some(q)) if q >= 1 => u32::try_from(q).unwrap_or(u32::MAX),
                _ => return v2_field(&format!("products[{i}].quantity")),
            };
            let Some(product) = store.products.get(&product_id) else {
                return v2_field(&format!("products[{i}].product_id"));
            };
            let variant_id = match u64_of(item.get("variant_id")) {
                Ok(Some(v)) if product.variant_ids.contains(&v) => v,
                Ok(Some(_)) | Err(()) => return v2_field(&format!("products[{i}].variant_id")),
                Ok(None) => match product.variant_ids.as_slice() {
                    [only] => *only,
                    _ => {
                        return v2_invalid(&format!(
                            "products[{i}]: product {product_id} has variants; give variant_id (product_options are not simulated by the twin)."
                        ))
                    }
                },
            };
            lines.push((variant_id, quantity));
        }
    }
    let req = RestOrder {
        customer_id: customer_id.unwrap_or(0),
        first_name: str_of(billing, "first_name").unwrap_or_default().to_owned(),
        last_name: str_of(billing, "last_name").unwrap_or_default().to_owned(),
        email,
        phone: str_of(billing, "phone").unwrap_or_default().to_owned(),
        country_iso2: str_of(billing, "country_iso2").unwrap_or("US").to_owned(),
        lines,
        currency: str_of(&m, "default_currency_code").map(str::to_owned),
        status_id,
    };
    match shopper::create_order_rest(inner, &req) {
        Ok(id) => order_reply(inner, id),
        Err(e) => v2_from(&e),
    }
}

fn order_reply(inner: &Inner, id: u64) -> Reply {
    let store = inner.store.lock();
    match store.orders.get(&id) {
        Some(o) => Reply::json(
            StatusCode::OK,
            &wire::order_json(o, inner.api_root.as_str(), None),
        ),
        None => not_found(Api::V2),
    }
}

/// `PUT v2/orders/{id}` with `status_id` → the order. Other `order_Put` fields are refused
/// (not simulated).
fn update_order(inner: &Inner, id: &str, body: Option<&Bytes>) -> Reply {
    let Ok(order_id) = id.parse::<u64>() else {
        return not_found(Api::V2);
    };
    let m = match v2_body(body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    if let Some(k) = m.keys().find(|k| k.as_str() != "status_id") {
        return v2_invalid(&format!(
            "The field '{k}' is not simulated by the twin (it changes status_id only)."
        ));
    }
    let status_id = match u64_of(m.get("status_id")) {
        Ok(Some(s)) if s <= 14 => s as u8,
        Ok(None) => return v2_invalid("The field 'status_id' is required."),
        _ => return v2_field("status_id"),
    };
    match shopper::set_status(inner, order_id, status_id) {
        Ok(()) => order_reply(inner, order_id),
        Err(TwinError::InvalidTransition {
            status_id: from, ..
        }) => v2_invalid(&format!(
            "The order cannot move from status {from} ({}) to {status_id} ({}).",
            status_name(from),
            status_name(status_id)
        )),
        Err(e) => v2_from(&e),
    }
}

/// What a refund request asks for.
enum RefundAsk {
    /// `(order product id, quantity)`; empty = everything left, shipping included.
    Lines(Vec<(u64, u32)>),
    /// An amount off the whole order (an ORDER item).
    Amount(Decimal),
}

/// Reads refund `items`: PRODUCT items by order-product id and quantity; a SHIPPING item only
/// together with every unit left (the twin refunds shipping with "everything left", which is
/// the empty line list); or one ORDER item with an `amount` (a refund by amount). Other
/// amount-bound items are not simulated.
fn refund_lines(inner: &Inner, order_id: u64, m: &Map<String, Value>) -> Result<RefundAsk, Reply> {
    let Some(Value::Array(items)) = m.get("items") else {
        return Err(unprocessable("items", "error.path.missing"));
    };
    if items.is_empty() {
        return Err(unprocessable("items", "at least one item is required"));
    }
    let mut lines = Vec::new();
    let mut shipping = false;
    for (i, item) in items.iter().enumerate() {
        let field = format!("items[{i}]");
        let Some(item) = item.as_object() else {
            return Err(unprocessable(&field, "must be an object"));
        };
        if str_of(item, "item_type") == Some("ORDER") {
            // Amount-bound: `{item_type: ORDER, item_id: <order id>, amount}` (spec
            // `AmountBoundItem`), alone in the request.
            if items.len() != 1 {
                return Err(unprocessable(
                    "items",
                    "an ORDER refund by amount is simulated only as the one item of a refund",
                ));
            }
            if u64_of(item.get("item_id")) != Ok(Some(order_id)) {
                return Err(unprocessable(
                    &format!("{field}.item_id"),
                    "must be the order id for item_type ORDER",
                ));
            }
            return match decimal_of(item.get("amount")) {
                Ok(Some(amount)) if amount > Decimal::ZERO => Ok(RefundAsk::Amount(amount)),
                _ => Err(unprocessable(
                    &format!("{field}.amount"),
                    "must be a positive number",
                )),
            };
        }
        if item.get("amount").is_some_and(|a| !a.is_null()) {
            return Err(unprocessable(
                &format!("{field}.amount"),
                "amounts are simulated on ORDER items only; refund products by quantity",
            ));
        }
        match str_of(item, "item_type") {
            Some("PRODUCT") => {
                let Ok(Some(op)) = u64_of(item.get("item_id")) else {
                    return Err(unprocessable(
                        &format!("{field}.item_id"),
                        "error.path.missing",
                    ));
                };
                let q = match u64_of(item.get("quantity")) {
                    Ok(Some(q)) if q >= 1 => u32::try_from(q).unwrap_or(u32::MAX),
                    _ => {
                        return Err(unprocessable(
                            &format!("{field}.quantity"),
                            "must be a positive integer",
                        ))
                    }
                };
                lines.push((op, q));
            }
            Some("SHIPPING") => shipping = true,
            Some(other) => {
                return Err(unprocessable(
                    &format!("{field}.item_type"),
                    &format!(
                    "{other} refunds are not simulated by the twin (PRODUCT, SHIPPING, ORDER are)"
                ),
                ))
            }
            None => {
                return Err(unprocessable(
                    &format!("{field}.item_type"),
                    "error.path.missing",
                ))
            }
        }
    }
    if !shipping {
        return Ok(RefundAsk::Lines(lines));
    }
    let store = inner.store.lock();
    let Some(o) = store.orders.get(&order_id) else {
        return Err(Reply::v3_error(
            StatusCode::NOT_FOUND,
            "The requested order was not found.",
        ));
    };
    let everything = o.lines.iter().all(|l| {
        let left = l.quantity - l.quantity_refunded;
        let asked: u32 = lines
            .iter()
            .filter(|(id, _)| *id == l.id)
            .map(|(_, q)| q)
            .sum();
        asked == left
    }) && lines
        .iter()
        .all(|(id, _)| o.lines.iter().any(|l| l.id == *id));
    if everything {
        Ok(RefundAsk::Lines(Vec::new()))
    } else {
        Err(unprocessable(
            "items",
            "a SHIPPING refund is simulated only together with every product unit left",
        ))
    }
}

/// `POST v3/orders/{id}/payment_actions/refund_quotes` (201 `RefundQuote_Resp`) and
/// `.../refunds` (201 `Refund_Resp`; `payments` must add up to the quote).
fn refund(inner: &Inner, id: &str, body: Option<&Bytes>, create: bool) -> Reply {
    let Ok(order_id) = id.parse::<u64>() else {
        return Reply::v3_error(StatusCode::NOT_FOUND, "The requested order was not found.");
    };
    let m = match parse_json_body(body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let ask = match refund_lines(inner, order_id, &m) {
        Ok(ask) => ask,
        Err(r) => return r,
    };
    let quoted = match &ask {
        RefundAsk::Lines(lines) => shopper::refund_quote(inner, order_id, lines),
        RefundAsk::Amount(amount) => shopper::amount_refund_quote(inner, order_id, *amount),
    };
    let quote = match quoted {
        Ok(q) => q,
        Err(e) => return v3_from(&e, "items"),
    };
    if !create {
        let description = match quote.provider_id {
            "stripev3" => "Stripe",
            "paypalexpress" => "PayPal Express",
            "bankdeposit" => "Bank Deposit",
            _ => "Custom",
        };
        let data = json!({
            "order_id": order_id,
            "total_refund_amount": wire::num(quote.amount),
            "total_refund_tax_amount": wire::num(quote.tax),
            "order_level_refund_amount": match &ask {
                RefundAsk::Amount(amount) => wire::num(*amount),
                RefundAsk::Lines(_) => json!(0),
            },
            "rounding": 0,
            "adjustment": 0,
            "tax_inclusive": true,
            "refund_methods": [[{
                "provider_id": quote.provider_id,
                "provider_description": description,
                "amount": wire::num(quote.amount),
                "offline": quote.offline,
                "offline_provider": quote.offline,
                "offline_reason": if quote.offline { "This payment method refunds offline only." } else { "" },
            }]],
        });
        return Reply::json(StatusCode::CREATED, &json!({ "data": data, "meta": {} }));
    }
    let Some(Value::Array(payments)) = m.get("payments") else {
        return unprocessable("payments", "error.path.missing");
    };
    let mut paid = Decimal::ZERO;
    for (i, pay) in payments.iter().enumerate() {
        let field = format!("payments[{i}]");
        let Some(pay) = pay.as_object() else {
            return unprocessable(&field, "must be an object");
        };
        match str_of(pay, "provider_id") {
            Some(p) if p == quote.provider_id || p == "custom" || p == "storecredit" => {}
            _ => {
                return unprocessable(
                    &format!("{field}.provider_id"),
                    &format!("must be {} (from the refund quote)", quote.provider_id),
                )
            }
        }
        match decimal_of(pay.get("amount")) {
            Ok(Some(a)) if a > Decimal::ZERO => paid += a,
            _ => return unprocessable(&format!("{field}.amount"), "must be a positive number"),
        }
    }
    if paid.round_dp(2) != quote.amount.round_dp(2) {
        return unprocessable(
            "payments",
            &format!(
                "the payments add up to {paid}, the refund quote is {}",
                quote.amount
            ),
        );
    }
    let created = match &ask {
        RefundAsk::Lines(lines) => shopper::refund(inner, order_id, lines),
        RefundAsk::Amount(amount) => shopper::refund_amount(inner, order_id, *amount),
    };
    let refund_id = match created {
        Ok(r) => r,
        Err(e) => return v3_from(&e, "items"),
    };
    let store = inner.store.lock();
    match store.refunds.get(&refund_id) {
        Some(r) => Reply::json(
            StatusCode::CREATED,
            &json!({ "data": wire::refund_json(r), "meta": {} }),
        ),
        None => Reply::v3_error(StatusCode::NOT_FOUND, "The requested refund was not found."),
    }
}

fn customer_rows(body: Option<&Bytes>) -> Result<Vec<Map<String, Value>>, Reply> {
    let bytes = body.map(|b| b.as_ref()).unwrap_or_default();
    let Ok(Value::Array(rows)) = serde_json::from_slice::<Value>(bytes) else {
        return Err(unprocessable("body", "an array of customers is required"));
    };
    if rows.len() > MAX_CUSTOMERS_PER_WRITE {
        return Err(Reply::v3_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The request payload is too large. The maximum number of items allowed in the array is 10.",
        ));
    }
    if rows.is_empty() {
        return Err(unprocessable("body", "at least one customer is required"));
    }
    rows.into_iter()
        .enumerate()
        .map(|(i, r)| match r {
            Value::Object(m) => Ok(m),
            _ => Err(unprocessable(&format!("[{i}]"), "must be an object")),
        })
        .collect()
}

fn string_field(m: &Map<String, Value>, i: usize, key: &str) -> Result<Option<String>, Reply> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(unprocessable(
            &format!("[{i}].{key}"),
            "error.expected.jsstring",
        )),
    }
}

/// `POST v3/customers` (create: `email`, `first_name`, `last_name` required; the email must be
/// new) and `PUT v3/customers` (update by `id`: email, names, phone, company). Each customer
/// fires `store/customer/created` or `store/customer/updated`. Answers
/// `CustomerCollectionResponse`; the whole batch is refused when one customer is invalid.
fn write_customers(inner: &Inner, body: Option<&Bytes>, create: bool) -> Reply {
    let rows = match customer_rows(body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let mut patches = Vec::new();
    for (i, m) in rows.iter().enumerate() {
        let read = || -> Result<(Option<u64>, CustomerPatch), Reply> {
            let patch = CustomerPatch {
                email: string_field(m, i, "email")?,
                phone: string_field(m, i, "phone")?,
                first_name: string_field(m, i, "first_name")?,
                last_name: string_field(m, i, "last_name")?,
                company: string_field(m, i, "company")?,
            };
            let id = u64_of(m.get("id"))
                .map_err(|_| unprocessable(&format!("[{i}].id"), "error.expected.jsnumber"))?;
            Ok((id, patch))
        };
        let (id, patch) = match read() {
            Ok(x) => x,
            Err(r) => return r,
        };
        if create {
            for (key, v) in [
                ("email", &patch.email),
                ("first_name", &patch.first_name),
                ("last_name", &patch.last_name),
            ] {
                if v.as_deref().is_none_or(|s| s.trim().is_empty()) {
                    return unprocessable(&format!("[{i}].{key}"), "error.path.missing");
                }
            }
        } else if id.is_none() {
            return unprocessable(&format!("[{i}].id"), "error.path.missing");
        }
        if let Some(e) = &patch.email {
            if !e.contains('@') || e.trim().is_empty() {
                return unprocessable(&format!("[{i}].email"), "error.email");
            }
        }
        patches.push((id, patch));
    }
    let mut ids = Vec::new();
    for (i, (id, patch)) in patches.iter().enumerate() {
        let result = if create {
            shopper::create_customer(inner, patch)
        } else {
            let id = id.unwrap_or_default();
            shopper::update_customer_patch(inner, id, patch).map(|()| id)
        };
        match result {
            Ok(id) => ids.push(id),
            Err(TwinError::UnknownCustomer(id)) => {
                return unprocessable(
                    &format!("[{i}].id"),
                    &format!("customer {id} does not exist"),
                )
            }
            Err(e) => return unprocessable(&format!("[{i}].email"), &e.to_string()),
        }
    }
    let countries = super::seed::countries();
    let store = inner.store.lock();
    let data: Vec<Value> = ids
        .iter()
        .filter_map(|id| store.customers.get(id))
        .map(|c| {
            let k = &countries[c.country.min(countries.len() - 1)];
            wire::customer_json(
                c,
                CustomerInclude::default(),
                (k.iso2, k.name, k.city, k.state, k.zip),
            )
        })
        .collect();
    let n = data.len();
    Reply::json(
        StatusCode::OK,
        &json!({ "data": data, "meta": { "pagination": super::server::pagination(n, n, 1, n.max(1), "") } }),
    )
}

/// Fields of the v2 customer writes the twin reads. `_authentication` (passwords) is accepted
/// and ignored: the twin has no storefront logins.
const CUSTOMER_V2_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "phone",
    "company",
    "_authentication",
];

/// `POST v2/customers` (first name, last name and email required) and `PUT v2/customers/{id}`
/// → the v2 customer, through the same functions as the v3 writes (`store/customer/created` /
/// `updated`). Errors are the v2 array (400; unknown customer 404).
fn write_customer_v2(inner: &Inner, id: Option<u64>, body: Option<&Bytes>) -> Reply {
    let m = match v2_body(body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    if let Some(k) = m.keys().find(|k| !CUSTOMER_V2_FIELDS.contains(&k.as_str())) {
        return v2_invalid(&format!("The field '{k}' is not simulated by the twin."));
    }
    let text = |key: &str| -> Result<Option<String>, Reply> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(v2_field(key)),
        }
    };
    let read = || -> Result<CustomerPatch, Reply> {
        Ok(CustomerPatch {
            email: text("email")?,
            phone: text("phone")?,
            first_name: text("first_name")?,
            last_name: text("last_name")?,
            company: text("company")?,
        })
    };
    let patch = match read() {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Some(e) = &patch.email {
        if !e.contains('@') {
            return v2_field("email");
        }
    }
    let result = match id {
        None => {
            for (key, v) in [
                ("first_name", &patch.first_name),
                ("last_name", &patch.last_name),
                ("email", &patch.email),
            ] {
                if v.as_deref().is_none_or(|s| s.trim().is_empty()) {
                    return v2_invalid(&format!("The field '{key}' is required."));
                }
            }
            shopper::create_customer(inner, &patch)
        }
        Some(id) => shopper::update_customer_patch(inner, id, &patch).map(|()| id),
    };
    let id = match result {
        Ok(id) => id,
        Err(TwinError::UnknownCustomer(_)) => return not_found(Api::V2),
        Err(e) => return v2_invalid(&e.to_string()),
    };
    let store = inner.store.lock();
    match store.customers.get(&id) {
        Some(c) => Reply::json(
            StatusCode::OK,
            &super::reads::customer_v2_json(c, inner.api_root.as_str()),
        ),
        None => not_found(Api::V2),
    }
}

fn money_field(m: &Map<String, Value>, key: &str) -> Result<Option<Decimal>, Reply> {
    decimal_of(m.get(key)).map_err(|()| unprocessable(key, "error.expected.jsnumber"))
}

/// Fields of `product_Put` the twin changes; others are refused (not simulated).
const PRODUCT_PUT_FIELDS: &[&str] = &[
    "name",
    "description",
    "price",
    "sale_price",
    "retail_price",
    "cost_price",
    "inventory_level",
];

/// Fields of `product_Base_POST` the twin reads; others (variants, options, categories,
/// images, custom fields, ...) are refused as not simulated.
const PRODUCT_POST_FIELDS: &[&str] = &[
    "name",
    "type",
    "sku",
    "description",
    "weight",
    "price",
    "sale_price",
    "retail_price",
    "cost_price",
    "inventory_tracking",
    "inventory_level",
];

/// `POST v3/catalog/products` (`name`, `type` physical, `weight`, `price` required) → `{data:
/// product_Full, meta: {}}`; a duplicate name or SKU is 409, invalid data 422.
fn create_product(inner: &Inner, body: Option<&Bytes>) -> Reply {
    let m = match parse_json_body(body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    if let Some(k) = m
        .keys()
        .find(|k| !PRODUCT_POST_FIELDS.contains(&k.as_str()))
    {
        return unprocessable(k, "this field is not simulated by the twin");
    }
    let read = || -> Result<NewProduct, Reply> {
        let name = string_field(&m, 0, "name")?
            .ok_or_else(|| unprocessable("name", "error.path.missing"))?;
        match str_of(&m, "type") {
            Some("physical") => {}
            Some(_) => {
                return Err(unprocessable(
                    "type",
                    "only physical products are simulated by the twin",
                ))
            }
            None => return Err(unprocessable("type", "error.path.missing")),
        }
        let weight = money_field(&m, "weight")?
            .ok_or_else(|| unprocessable("weight", "error.path.missing"))?;
        let price = money_field(&m, "price")?
            .ok_or_else(|| unprocessable("price", "error.path.missing"))?;
        let track_by_product = match str_of(&m, "inventory_tracking") {
            None | Some("none") => false,
            Some("product") => true,
            Some(_) => {
                return Err(unprocessable(
                    "inventory_tracking",
                    "none or product (variant tracking needs option variants, not simulated)",
                ))
            }
        };
        let inventory_level = match m.get("inventory_level") {
            None | Some(Value::Null) => 0,
            Some(v) => v
                .as_i64()
                .ok_or_else(|| unprocessable("inventory_level", "error.expected.jsnumber"))?,
        };
        Ok(NewProduct {
            name,
            sku: string_field(&m, 0, "sku")?.unwrap_or_default(),
            description: string_field(&m, 0, "description")?.unwrap_or_default(),
            price,
            sale_price: money_field(&m, "sale_price")?.unwrap_or_default(),
            retail_price: money_field(&m, "retail_price")?.unwrap_or_default(),
            cost_price: money_field(&m, "cost_price")?.unwrap_or_default(),
            weight,
            track_by_product,
            inventory_level,
        })
    };
    let spec = match read() {
        Ok(s) => s,
        Err(r) => return r,
    };
    match shopper::create_product(inner, &spec) {
        Ok(id) => product_reply(inner, id),
        Err(TwinError::Conflict(msg)) => Reply::v3_invalid(
            StatusCode::CONFLICT,
            "The product conflicts with another product.",
            json!({ "name": msg }),
        ),
        Err(e) => v3_from(&e, "product"),
    }
}

fn product_reply(inner: &Inner, product_id: u64) -> Reply {
    let store = inner.store.lock();
    let Some(p) = store.products.get(&product_id) else {
        return Reply::v3_error(
            StatusCode::NOT_FOUND,
            "The requested product was not found.",
        );
    };
    let vs: Vec<&super::model::Variant> = p
        .variant_ids
        .iter()
        .filter_map(|v| store.variants.get(v))
        .collect();
    Reply::json(
        StatusCode::OK,
        &json!({ "data": wire::product_json(p, &vs, ProductInclude::default(), &inner.config.store_hash), "meta": {} }),
    )
}

/// `PUT v3/catalog/products/{id}` → `{data: product_Full, meta: {}}`.
fn update_product(inner: &Inner, id: &str, body: Option<&Bytes>) -> Reply {
    let Ok(product_id) = id.parse::<u64>() else {
        return Reply::v3_error(
            StatusCode::NOT_FOUND,
            "The requested product was not found.",
        );
    };
    let m = match parse_json_body(body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    if let Some(k) = m.keys().find(|k| !PRODUCT_PUT_FIELDS.contains(&k.as_str())) {
        return unprocessable(k, "this field is not simulated by the twin");
    }
    let read =
        || -> Result<ProductPatch, Reply> {
            Ok(ProductPatch {
                name: string_field(&m, 0, "name")?,
                description: string_field(&m, 0, "description")?,
                price: money_field(&m, "price")?,
                sale_price: money_field(&m, "sale_price")?,
                retail_price: money_field(&m, "retail_price")?,
                cost_price: money_field(&m, "cost_price")?,
                inventory_level: match m.get("inventory_level") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(v.as_i64().ok_or_else(|| {
                        unprocessable("inventory_level", "error.expected.jsnumber")
                    })?),
                },
            })
        };
    let patch = match read() {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(e) = shopper::edit_product(inner, product_id, &patch) {
        return v3_from(&e, "product");
    }
    product_reply(inner, product_id)
}

/// Reads `{price?, inventory_level?}` of a variant write; other fields are refused.
fn variant_patch(
    m: &Map<String, Value>,
    prefix: &str,
) -> Result<(Option<Decimal>, Option<i64>), Reply> {
    if let Some(k) = m.keys().find(|k| {
        !matches!(
            k.as_str(),
            "id" | "product_id" | "price" | "inventory_level"
        )
    }) {
        return Err(unprocessable(
            &format!("{prefix}{k}"),
            "this field is not simulated by the twin (price, inventory_level are)",
        ));
    }
    let price = decimal_of(m.get("price"))
        .map_err(|()| unprocessable(&format!("{prefix}price"), "error.expected.jsnumber"))?;
    let level = match m.get("inventory_level") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or_else(|| {
            unprocessable(
                &format!("{prefix}inventory_level"),
                "error.expected.jsnumber",
            )
        })?),
    };
    Ok((price, level))
}

fn variant_reply_json(inner: &Inner, variant_id: u64) -> Option<Value> {
    let store = inner.store.lock();
    let v = store.variants.get(&variant_id)?;
    let p = store.products.get(&v.product_id)?;
    Some(wire::variant_json(p, v))
}

/// `PUT v3/catalog/products/{pid}/variants/{vid}` → `{data: productVariant_Full, meta: {}}`.
fn update_variant(inner: &Inner, pid: Option<&str>, vid: &str, body: Option<&Bytes>) -> Reply {
    let not_found = || {
        Reply::v3_error(
            StatusCode::NOT_FOUND,
            "The requested variant was not found.",
        )
    };
    let Ok(variant_id) = vid.parse::<u64>() else {
        return not_found();
    };
    let belongs = {
        let store = inner.store.lock();
        store
            .variants
            .get(&variant_id)
            .is_some_and(|v| pid.is_none_or(|p| p.parse::<u64>().ok() == Some(v.product_id)))
    };
    if !belongs {
        return not_found();
    }
    let m = match parse_json_body(body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let (price, level) = match variant_patch(&m, "") {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(e) = shopper::edit_variant(inner, variant_id, price, level) {
        return v3_from(&e, "variant");
    }
    match variant_reply_json(inner, variant_id) {
        Some(v) => Reply::json(StatusCode::OK, &json!({ "data": v, "meta": {} })),
        None => not_found(),
    }
}

/// `PUT v3/catalog/variants` with `[{id, price?, inventory_level?}]` (at most 50) → every
/// variant. Validated whole before any change.
fn update_variants(inner: &Inner, body: Option<&Bytes>) -> Reply {
    let bytes = body.map(|b| b.as_ref()).unwrap_or_default();
    let Ok(Value::Array(rows)) = serde_json::from_slice::<Value>(bytes) else {
        return unprocessable("body", "an array of variants is required");
    };
    if rows.len() > MAX_VARIANTS_PER_WRITE {
        return Reply::v3_invalid(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The request payload is too large. The maximum items allowed in the array is 50",
            json!({}),
        );
    }
    let mut edits = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let prefix = format!("[{i}].");
        let Some(m) = row.as_object() else {
            return unprocessable(&format!("[{i}]"), "must be an object");
        };
        let Ok(Some(id)) = u64_of(m.get("id")) else {
            return unprocessable(&format!("{prefix}id"), "error.path.missing");
        };
        if !inner.store.lock().variants.contains_key(&id) {
            return unprocessable(&format!("{prefix}id"), "the variant does not exist");
        }
        match variant_patch(m, &prefix) {
            Ok((price, level)) => edits.push((id, price, level)),
            Err(r) => return r,
        }
    }
    let mut data = Vec::new();
    for (i, (id, price, level)) in edits.into_iter().enumerate() {
        if let Err(e) = shopper::edit_variant(inner, id, price, level) {
            return v3_from(&e, &format!("[{i}]"));
        }
        if let Some(v) = variant_reply_json(inner, id) {
            data.push(v);
        }
    }
    let n = data.len();
    Reply::json(
        StatusCode::OK,
        &json!({ "data": data, "meta": { "pagination": super::server::pagination(n, n, 1, n.max(1), "") } }),
    )
}

/// `PUT v3/inventory/adjustments/absolute` and `POST .../relative` with `{reason?, items:
/// [{location_id, variant_id | product_id | sku, quantity}]}` → `{transaction_id}`. The twin
/// has one location (id 1). Each item goes through the same edit as a variant write (the
/// inventory webhooks); an item of the wrong tracking mode answers 422 as documented.
fn adjust_inventory(inner: &Inner, body: Option<&Bytes>, absolute: bool) -> Reply {
    let m = match parse_json_body(body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let Some(Value::Array(items)) = m.get("items") else {
        return unprocessable("items", "error.path.missing");
    };
    let mut edits: Vec<(u64, i64)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = |k: &str| format!("items[{i}].{k}");
        let Some(item) = item.as_object() else {
            return unprocessable(&format!("items[{i}]"), "must be an object");
        };
        match u64_of(item.get("location_id")) {
            Ok(Some(1)) => {}
            _ => return unprocessable(&field("location_id"), "the twin has one location, id 1"),
        }
        let Some(quantity) = item.get("quantity").and_then(Value::as_i64) else {
            return unprocessable(&field("quantity"), "error.path.missing");
        };
        let store = inner.store.lock();
        let variant = if let Ok(Some(v)) = u64_of(item.get("variant_id")) {
            store.variants.get(&v)
        } else if let Ok(Some(p)) = u64_of(item.get("product_id")) {
            store
                .products
                .get(&p)
                .and_then(|p| p.base_variant_id.or(p.variant_ids.first().copied()))
                .and_then(|v| store.variants.get(&v))
        } else if let Some(sku) = str_of(item, "sku") {
            store
                .variants
                .values()
                .find(|v| v.sku.eq_ignore_ascii_case(sku))
        } else {
            return unprocessable(
                &field("variant_id"),
                "variant_id, product_id or sku is required",
            );
        };
        let Some(v) = variant else {
            return unprocessable(&field("variant_id"), "the item does not exist");
        };
        let Some(p) = store.products.get(&v.product_id) else {
            return unprocessable(&field("variant_id"), "the item does not exist");
        };
        let current = match p.tracking {
            Tracking::Variant => v.inventory_level,
            Tracking::Product if p.base_variant_id == Some(v.id) => p.inventory_level,
            Tracking::Product => {
                return Reply::v3_invalid(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("[Item with variant_id {} is tracked by product, please update stock by product_id]", v.id),
                    json!({}),
                )
            }
            Tracking::None => {
                return unprocessable(&field("variant_id"), "the product does not track inventory")
            }
        };
        let level = if absolute {
            quantity
        } else {
            current + quantity
        };
        edits.push((v.id, level));
    }
    if edits.is_empty() {
        return unprocessable("items", "at least one item is required");
    }
    for (i, (variant_id, level)) in edits.iter().enumerate() {
        if let Err(e) = shopper::edit_variant(inner, *variant_id, None, Some(*level)) {
            return v3_from(&e, &format!("items[{i}]"));
        }
    }
    let txn = {
        let mut store = inner.store.lock();
        store.next("inventory_transaction")
    };
    Reply::json(
        StatusCode::OK,
        &json!({ "transaction_id": format!("{:08x}-0000-4000-8000-{txn:012x}", inner.store_id) }),
    )
}
