//! Reads that public clients call by default beyond BigReach's own path: v2 order counts,
//! the status catalogue, an order's taxes, shipments, messages, fees, consignments and shipping
//! quotes (every resource link the twin emits is served), and the v2 customers resource.
//!
//! Shapes are written from `orders.v2.oas2.yml` and `customers.v2.yml`. v2 collections are bare
//! arrays; an empty one is 204 without a body.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use http::StatusCode;

use super::model::{Customer, Order, Store};
use super::seed;
use super::server::{
    bad_request, date_filter, not_found, num_filter, page_limit, with_order, Api, Params, Reply,
    MAX_LIMIT,
};
use super::wire::{self, money, rfc2822, status_name};
use super::Inner;

/// The status catalogue: (id, sort order in the control panel, system description). Sort
/// orders as in the `GET /order_statuses` example of `orders.v2.oas2.yml`; descriptions are the
/// reference's paraphrases (§3.3), not the spec's text.
const STATUSES: [(u8, u32, &str); 15] = [
    (0, 0, "Shopper reached payment but did not finish."),
    (1, 1, "Checkout started, not completed."),
    (2, 8, "Fully shipped."),
    (3, 6, "Some items shipped."),
    (4, 11, "Merchant used Refund (full)."),
    (5, 9, "Merchant cancelled."),
    (6, 10, "Merchant declined (e.g. no manual payment)."),
    (7, 2, "Checkout done, payment not yet confirmed."),
    (8, 5, "Ready for in-store pickup."),
    (9, 4, "Packed, waiting for carrier."),
    (10, 7, "Paid (typically digital, available for download)."),
    (11, 3, "Checkout done and payment confirmed."),
    (12, 13, "On hold for manual check."),
    (13, 12, "PayPal dispute opened."),
    (14, 14, "Merchant refunded part of the order."),
];

fn status_json(id: u8, sort: u32, description: &str) -> Value {
    let name = status_name(id);
    // The twin's merchant never renames a status, so `custom_label` is the system label.
    json!({
        "id": id, "name": name, "system_label": name, "custom_label": name,
        "system_description": description, "order": sort,
    })
}

/// Routes the reads of this module; `None` when the path is not one of them.
pub(super) fn route(
    inner: &Inner,
    api: Api,
    get: bool,
    rest: &[&str],
    p: &Params,
) -> Option<Reply> {
    if !get {
        return None;
    }
    let reply = match (api, rest) {
        (Api::V2, ["orders", "count"]) => orders_count(inner, p),
        (Api::V2, ["order_statuses"]) => {
            let mut rows: Vec<(u8, u32, &str)> = STATUSES.to_vec();
            rows.sort_by_key(|r| r.0);
            Reply::json(
                StatusCode::OK,
                &Value::Array(
                    rows.iter()
                        .map(|(i, s, d)| status_json(*i, *s, d))
                        .collect(),
                ),
            )
        }
        (Api::V2, ["order_statuses", id]) => {
            match STATUSES
                .iter()
                .find(|(i, _, _)| id.parse::<u8>().ok() == Some(*i))
            {
                Some((i, s, d)) => Reply::json(StatusCode::OK, &status_json(*i, *s, d)),
                None => not_found(Api::V2),
            }
        }
        (Api::V2, ["orders", id, "taxes"]) => with_order(inner, id, |o| taxes(o, p)),
        (Api::V2, ["orders", id, "shipments"]) => with_order(inner, id, |o| {
            if let Err(r) = page_limit(p, Api::V2, MAX_LIMIT) {
                return r;
            }
            match shipment_json(o) {
                Some(s) => Reply::json(StatusCode::OK, &json!([s])),
                None => Reply::no_content(),
            }
        }),
        (Api::V2, ["orders", id, "shipments", "count"]) => with_order(inner, id, |o| {
            Reply::json(
                StatusCode::OK,
                &json!({ "count": usize::from(o.date_shipped.is_some()) }),
            )
        }),
        (Api::V2, ["orders", id, "shipments", sid]) => with_order(inner, id, |o| {
            match shipment_json(o).filter(|_| sid.parse::<u64>().ok() == Some(o.id)) {
                Some(s) => Reply::json(StatusCode::OK, &s),
                None => not_found(Api::V2),
            }
        }),
        // The twin's shoppers never write order messages, and its orders carry no fees.
        (Api::V2, ["orders", id, "messages"]) => with_order(inner, id, |_| Reply::no_content()),
        (Api::V2, ["orders", id, "fees"]) => with_order(inner, id, |_| Reply::no_content()),
        (Api::V2, ["orders", id, "consignments"]) => {
            let line_items = match p.get("include").map(String::as_str) {
                None | Some("") => false,
                Some("consignments.line_items") => true,
                Some(_) => return Some(bad_request(Api::V2, "include")),
            };
            with_order(inner, id, |o| {
                let v = wire::order_json(
                    o,
                    inner.api_root.as_str(),
                    Some(wire::ConsignmentInclude {
                        line_items,
                        object_structure: true,
                    }),
                );
                Reply::json(StatusCode::OK, &v["consignments"])
            })
        }
        (Api::V2, ["orders", id, "shipping_addresses", aid]) => with_order(inner, id, |o| {
            if aid.parse::<u64>().ok() == Some(o.shipping_address_id) {
                Reply::json(
                    StatusCode::OK,
                    &wire::shipping_address_json(o, inner.api_root.as_str()),
                )
            } else {
                not_found(Api::V2)
            }
        }),
        (Api::V2, ["orders", id, "shipping_addresses", aid, "shipping_quotes"])
        | (Api::V2, ["orders", id, "consignments", "shipping", aid, "shipping_quotes"]) => {
            with_order(inner, id, |o| {
                if aid.parse::<u64>().ok() == Some(o.shipping_address_id) {
                    Reply::json(StatusCode::OK, &shipping_quote_json(o))
                } else {
                    not_found(Api::V2)
                }
            })
        }
        (Api::V2, ["customers"]) => list_customers_v2(inner, p),
        (Api::V2, ["customers", "count"]) => {
            let n = inner.store.lock().customers.len();
            Reply::json(StatusCode::OK, &json!({ "count": n }))
        }
        (Api::V2, ["customers", id]) => with_customer(inner, id, |c, root| {
            Reply::json(StatusCode::OK, &customer_v2_json(c, root))
        }),
        (Api::V2, ["customers", id, "addresses"]) => with_customer(inner, id, |c, _| {
            if let Err(r) = page_limit(p, Api::V2, MAX_LIMIT) {
                return r;
            }
            Reply::json(StatusCode::OK, &json!([customer_address_v2_json(c)]))
        }),
        (Api::V2, ["customers", id, "addresses", "count"]) => with_customer(inner, id, |_, _| {
            Reply::json(StatusCode::OK, &json!({ "count": 1 }))
        }),
        (Api::V2, ["customers", id, "addresses", aid]) => with_customer(inner, id, |c, _| {
            if aid.parse::<u64>().ok() == Some(c.address_id) {
                Reply::json(StatusCode::OK, &customer_address_v2_json(c))
            } else {
                not_found(Api::V2)
            }
        }),
        (Api::V2, ["customer_groups", "count"]) => Reply::json(
            StatusCode::OK,
            &json!({ "count": wire::CUSTOMER_GROUPS.len() }),
        ),
        (Api::V2, ["customer_groups", id]) => {
            let all = wire::customer_groups_json();
            match all.as_array().and_then(|a| {
                a.iter()
                    .find(|g| id.parse::<u64>().ok() == g["id"].as_u64())
            }) {
                Some(g) => Reply::json(StatusCode::OK, g),
                None => not_found(Api::V2),
            }
        }
        (Api::V3, ["orders", id, "transactions"]) => transactions(inner, id),
        _ => return None,
    };
    Some(reply)
}

/// The filters of `GET v2/orders` and `GET v2/orders/count`.
pub(super) struct OrderFilter {
    min_dm: Option<DateTime<Utc>>,
    max_dm: Option<DateTime<Utc>>,
    min_dc: Option<DateTime<Utc>>,
    max_dc: Option<DateTime<Utc>>,
    min_id: Option<u64>,
    max_id: Option<u64>,
    min_total: Option<Decimal>,
    max_total: Option<Decimal>,
    customer_id: Option<u64>,
    channel_id: Option<u64>,
    pub(super) status_id: Option<u8>,
    email: Option<String>,
    cart_id: Option<String>,
    payment_method: Option<String>,
}

impl OrderFilter {
    pub(super) fn parse(p: &Params, now: DateTime<Utc>) -> Result<Self, Reply> {
        let api = Api::V2;
        Ok(Self {
            min_dm: date_filter(p, "min_date_modified", api, now)?,
            max_dm: date_filter(p, "max_date_modified", api, now)?,
            min_dc: date_filter(p, "min_date_created", api, now)?,
            max_dc: date_filter(p, "max_date_created", api, now)?,
            min_id: num_filter::<u64>(p, "min_id", api)?,
            max_id: num_filter::<u64>(p, "max_id", api)?,
            min_total: num_filter::<Decimal>(p, "min_total", api)?,
            max_total: num_filter::<Decimal>(p, "max_total", api)?,
            customer_id: num_filter::<u64>(p, "customer_id", api)?,
            channel_id: num_filter::<u64>(p, "channel_id", api)?,
            status_id: num_filter::<u8>(p, "status_id", api)?,
            email: p.get("email").map(|e| e.trim().to_lowercase()),
            cart_id: p.get("cart_id").cloned(),
            payment_method: p.get("payment_method").cloned(),
        })
    }

    /// The ids the filter allows, as a range of keys (`None` when no id can match).
    pub(super) fn id_bounds(&self) -> Option<std::ops::RangeInclusive<u64>> {
        let (min, max) = (self.min_id.unwrap_or(0), self.max_id.unwrap_or(u64::MAX));
        (min <= max).then_some(min..=max)
    }

    /// Every filter except the status (the listing hides Incomplete unless asked for it; the
    /// count shows every status).
    pub(super) fn matches(&self, o: &Order) -> bool {
        // Totals cost a pass over the lines: only when a total filter asks for them.
        let total_ok = || {
            if self.min_total.is_none() && self.max_total.is_none() {
                return true;
            }
            let total = o.totals().total_inc;
            self.min_total.is_none_or(|d| total >= d) && self.max_total.is_none_or(|d| total <= d)
        };
        self.min_dm.is_none_or(|d| o.date_modified >= d)
            && self.max_dm.is_none_or(|d| o.date_modified <= d)
            && self.min_dc.is_none_or(|d| o.date_created >= d)
            && self.max_dc.is_none_or(|d| o.date_created <= d)
            && self.min_id.is_none_or(|d| o.id >= d)
            && self.max_id.is_none_or(|d| o.id <= d)
            && self.customer_id.is_none_or(|c| o.customer_id == c)
            && self.channel_id.is_none_or(|c| c == 1)
            && self
                .email
                .as_ref()
                .is_none_or(|e| o.billing.email.trim().to_lowercase() == *e)
            && self.cart_id.as_ref().is_none_or(|c| &o.cart_id == c)
            && self
                .payment_method
                .as_ref()
                .is_none_or(|m| o.payment_method.eq_ignore_ascii_case(m))
            && total_ok()
    }
}

/// `GET v2/orders/count`: `{statuses: [... count, sort_order], count}` with the listing's
/// filters; statuses in control-panel order and `count` their sum (Incomplete included, as in
/// the spec's example, whose counts add up to `count`).
fn orders_count(inner: &Inner, p: &Params) -> Reply {
    let filter = match OrderFilter::parse(p, inner.clock.now()) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let store = inner.store.lock();
    let mut counts = [0u64; 15];
    for o in store.orders.values().filter(|o| filter.matches(o)) {
        if filter.status_id.is_none_or(|s| s == o.status_id) {
            if let Some(slot) = counts.get_mut(usize::from(o.status_id)) {
                *slot += 1;
            }
        }
    }
    let mut rows: Vec<(u8, u32, &str)> = STATUSES.to_vec();
    rows.sort_by_key(|r| r.1);
    let statuses: Vec<Value> = rows
        .iter()
        .map(|(id, sort, d)| {
            let mut v = status_json(*id, *sort, d);
            if let Some(m) = v.as_object_mut() {
                m.remove("order");
                m.insert("count".into(), json!(counts[usize::from(*id)]));
                m.insert("sort_order".into(), json!(sort));
            }
            v
        })
        .collect();
    Reply::json(
        StatusCode::OK,
        &json!({ "statuses": statuses, "count": counts.iter().sum::<u64>() }),
    )
}

fn tax_rate_of(o: &Order) -> Decimal {
    seed::countries()
        .iter()
        .find(|c| c.iso2 == o.billing.country_iso2)
        .map_or(Decimal::ZERO, |c| c.tax_rate)
}

/// `GET v2/orders/{id}/taxes`: with `details=true` one row per taxed line and one for shipping
/// (`line_item_type`, `order_product_id`); without, one row per order address with the order's
/// tax (*inferred* from the parameter's description). Ids: the order-product id for item rows,
/// the order id for summary and shipping rows (*inferred*).
fn taxes(o: &Order, p: &Params) -> Reply {
    let details = match p.get("details").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return bad_request(Api::V2, "details"),
    };
    if let Err(r) = page_limit(p, Api::V2, MAX_LIMIT) {
        return r;
    }
    let rate = money(tax_rate_of(o) * Decimal::from(100));
    let t = o.totals();
    let row = |id: u64, amount: Decimal, product: Option<u64>, kind: Option<&str>| {
        let mut v = json!({
            "id": id,
            "order_id": o.id,
            "order_address_id": o.shipping_address_id,
            "tax_rate_id": 1,
            "sales_tax_id": "1",
            "tax_class_id": 0,
            "name": "Tax",
            "class": "Default Tax Class",
            "rate": rate,
            "priority": 0,
            "priority_amount": money(amount),
            "line_amount": money(amount),
            "order_pickup_method_id": 0,
        });
        if let (Some(kind), Some(m)) = (kind, v.as_object_mut()) {
            m.insert(
                "order_product_id".into(),
                product.map_or(Value::Null, |id| json!(id.to_string())),
            );
            m.insert("line_item_type".into(), json!(kind));
        }
        v
    };
    let rows: Vec<Value> = if details {
        let mut rows: Vec<Value> = o
            .lines
            .iter()
            .filter(|l| !l.paid_tax().is_zero())
            .map(|l| row(l.id, l.paid_tax(), Some(l.id), Some("item")))
            .collect();
        if !t.shipping_tax.is_zero() {
            rows.push(row(o.id, t.shipping_tax, None, Some("shipping")));
        }
        rows
    } else if t.total_tax.is_zero() {
        Vec::new()
    } else {
        vec![row(o.id, t.total_tax, None, None)]
    };
    if rows.is_empty() {
        Reply::no_content()
    } else {
        Reply::json(StatusCode::OK, &Value::Array(rows))
    }
}

/// A shipped order has one shipment of every line to its one address (`id` = the order id,
/// *inferred*; the twin ships whole orders only).
fn shipment_json(o: &Order) -> Option<Value> {
    let shipped = o.date_shipped?;
    let b = &o.billing;
    let address = json!({
        "first_name": b.first_name, "last_name": b.last_name, "company": b.company,
        "street_1": b.street_1, "street_2": "", "city": b.city, "state": b.state, "zip": b.zip,
        "country": b.country, "country_iso2": b.country_iso2, "phone": b.phone, "email": b.email,
    });
    let items: Vec<Value> = o
        .lines
        .iter()
        .map(|l| json!({ "order_product_id": l.id, "product_id": l.product_id, "quantity": l.quantity }))
        .collect();
    let tracking = format!("TW{:010}US", o.id);
    Some(json!({
        "id": o.id,
        "order_id": o.id,
        "customer_id": o.customer_id,
        "order_address_id": o.shipping_address_id,
        "date_created": rfc2822(shipped),
        "tracking_number": tracking,
        "merchant_shipping_cost": money(Decimal::ZERO),
        "shipping_method": o.shipping_method,
        "shipping_provider": "usps",
        "tracking_carrier": "",
        "tracking_link": "",
        "comments": "",
        "billing_address": address.clone(),
        "shipping_address": address,
        "items": items,
        "shipping_provider_display_name": "USPS",
        "generated_tracking_link": format!("https://tools.usps.com/go/TrackConfirmAction?tLabels={tracking}"),
    }))
}

/// The one (fixed-rate) shipping quote of the order's address.
fn shipping_quote_json(o: &Order) -> Value {
    json!({
        "id": o.shipping_address_id.to_string(),
        "uuid": format!("00000000-0000-4000-8000-{:012x}", o.id),
        "timestamp": rfc2822(o.date_created),
        "shipping_provider_id": "bcfixedshipping",
        "shipping_provider_quote": [],
        "provider_code": "shipping_flatrate",
        "carrier_code": "",
        "rate_code": "",
        "rate_id": "",
        "method_id": 1,
    })
}

/// `GET v3/orders/{id}/transactions`: one captured `purchase` transaction for an order whose
/// payment was captured; 204 when there is none (reference §3.1).
fn transactions(inner: &Inner, id: &str) -> Reply {
    let store = inner.store.lock();
    let Some(o) = id.parse::<u64>().ok().and_then(|id| store.orders.get(&id)) else {
        return Reply::v3_error(StatusCode::NOT_FOUND, "The requested order was not found.");
    };
    let Some(paid_at) = o.paid_at.filter(|_| o.paid) else {
        return Reply::no_content();
    };
    let gateway = match o.payment_method {
        "PayPal" => "paypalexpress",
        "Bank Deposit" => "bankdeposit",
        _ => "stripev3",
    };
    let t = o.totals();
    let data = json!([{
        "id": o.id,
        "order_id": o.id.to_string(),
        "event": "purchase",
        "method": if gateway == "bankdeposit" { "offline" } else { "credit_card" },
        "amount": wire::num(t.total_inc),
        "currency": o.currency_code,
        "gateway": gateway,
        "gateway_transaction_id": o.payment_provider_id,
        "date_created": wire::iso(paid_at),
        "test": false,
        "status": "ok",
        "fraud_review": false,
        "offline": null,
        "custom": null,
        "payment_method_id": gateway,
    }]);
    Reply::json(
        StatusCode::OK,
        &json!({ "data": data, "meta": { "pagination": { "total": 1, "count": 1, "per_page": 50, "current_page": 1, "total_pages": 1, "links": { "current": "?page=1&limit=50" } } } }),
    )
}

fn with_customer(inner: &Inner, id: &str, f: impl FnOnce(&Customer, &str) -> Reply) -> Reply {
    let Ok(id) = id.parse::<u64>() else {
        return not_found(Api::V2);
    };
    let store = inner.store.lock();
    match store.customers.get(&id) {
        Some(c) => f(c, inner.api_root.as_str()),
        None => not_found(Api::V2),
    }
}

/// v2 `customer_Full`.
pub(super) fn customer_v2_json(c: &Customer, api_root: &str) -> Value {
    json!({
        "id": c.id,
        "date_created": rfc2822(c.date_created),
        "date_modified": rfc2822(c.date_modified),
        "company": c.company,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "email": c.email,
        "phone": c.phone,
        "store_credit": money(Decimal::ZERO),
        "registration_ip_address": c.registration_ip,
        "customer_group_id": wire::customer_group_of(c.id),
        "notes": "",
        "tax_exempt_category": "",
        "accepts_marketing": c.accepts_marketing,
        "addresses": {
            "url": format!("{api_root}v2/customers/{}/addresses", c.id),
            "resource": format!("/customers/{}/addresses", c.id),
        },
        "form_fields": null,
        "reset_pass_on_login": false,
    })
}

fn customer_address_v2_json(c: &Customer) -> Value {
    let countries = seed::countries();
    let k = &countries[c.country.min(countries.len() - 1)];
    json!({
        "id": c.address_id,
        "customer_id": c.id,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "company": c.company,
        "street_1": c.street,
        "street_2": "",
        "city": k.city,
        "state": k.state,
        "zip": k.zip,
        "country": k.name,
        "country_iso2": k.iso2,
        "phone": c.phone,
        "address_type": "residential",
    })
}

/// `GET v2/customers`: the documented filters, `page`/`limit`, ascending id; 204 when empty.
fn list_customers_v2(inner: &Inner, p: &Params) -> Reply {
    let api = Api::V2;
    let now = inner.clock.now();
    let parsed = (|| -> Result<_, Reply> {
        Ok((
            page_limit(p, api, MAX_LIMIT)?,
            num_filter::<u64>(p, "min_id", api)?,
            num_filter::<u64>(p, "max_id", api)?,
            num_filter::<u64>(p, "customer_group_id", api)?,
            date_filter(p, "min_date_created", api, now)?,
            date_filter(p, "max_date_created", api, now)?,
            date_filter(p, "min_date_modified", api, now)?,
            date_filter(p, "max_date_modified", api, now)?,
        ))
    })();
    let ((page, limit), min_id, max_id, group, min_dc, max_dc, min_dm, max_dm) = match parsed {
        Ok(x) => x,
        Err(r) => return r,
    };
    let text = |key: &str, value: &str| {
        p.get(key)
            .is_none_or(|want| want.trim().eq_ignore_ascii_case(value.trim()))
    };
    let store: &Store = &inner.store.lock();
    let rows: Vec<Value> = store
        .customers
        .values()
        .filter(|c| min_id.is_none_or(|v| c.id >= v) && max_id.is_none_or(|v| c.id <= v))
        .filter(|c| group.is_none_or(|g| wire::customer_group_of(c.id) == g))
        .filter(|c| min_dc.is_none_or(|d| c.date_created >= d))
        .filter(|c| max_dc.is_none_or(|d| c.date_created <= d))
        .filter(|c| min_dm.is_none_or(|d| c.date_modified >= d))
        .filter(|c| max_dm.is_none_or(|d| c.date_modified <= d))
        .filter(|c| {
            text("first_name", &c.first_name)
                && text("last_name", &c.last_name)
                && text("company", &c.company)
                && text("email", &c.email)
                && text("phone", &c.phone)
                && text("tax_exempt_category", "")
        })
        .skip((page - 1) * limit)
        .take(limit)
        .map(|c| customer_v2_json(c, inner.api_root.as_str()))
        .collect();
    if rows.is_empty() {
        Reply::no_content()
    } else {
        Reply::json(StatusCode::OK, &Value::Array(rows))
    }
}
