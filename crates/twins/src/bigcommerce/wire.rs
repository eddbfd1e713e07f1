//! JSON shapes, written from the BigCommerce OpenAPI files (never shared with the client crate).

use chrono::{DateTime, Utc};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::model::{Cart, Currency, Customer, Hook, Order, OrderLine, Product, Refund, Variant};

/// v2 money: a string with 4 decimals.
pub(crate) fn money(d: Decimal) -> String {
    format!("{:.4}", d)
}

/// v2 exchange rate: a string with 10 decimals.
pub(crate) fn rate(d: Decimal) -> String {
    format!("{:.10}", d)
}

/// v2 date: RFC 2822 in +0000.
pub(crate) fn rfc2822(dt: DateTime<Utc>) -> String {
    dt.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// v3 date: ISO 8601 with offset.
pub(crate) fn iso(dt: DateTime<Utc>) -> String {
    dt.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// Merges the keys of `b` into the object `a` (keeps `json!` invocations small).
pub(crate) fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(m), Value::Object(extra)) = (a.as_object_mut(), b) {
        m.extend(extra);
    }
    a
}

/// v3 number.
pub(crate) fn num(d: Decimal) -> Value {
    d.to_f64()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

fn opt_num(d: Option<Decimal>) -> Value {
    d.map_or(Value::Null, num)
}

fn resource(api_root: &str, path: String) -> Value {
    json!({ "url": format!("{}v2{}", api_root, path), "resource": path })
}

/// How `include=consignments...` was asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConsignmentInclude {
    pub line_items: bool,
    pub object_structure: bool,
}

pub(crate) fn order_json(
    o: &Order,
    api_root: &str,
    consignments: Option<ConsignmentInclude>,
) -> Value {
    let t = o.totals();
    let b = &o.billing;
    let status = status_name(o.status_id);
    let v = json!({
        "id": o.id,
        "customer_id": o.customer_id,
        "date_created": rfc2822(o.date_created),
        "date_modified": rfc2822(o.date_modified),
        "date_shipped": o.date_shipped.map(rfc2822).unwrap_or_default(),
        "status_id": o.status_id,
        "status": status,
        "custom_status": status,
        "cart_id": o.cart_id,
        "subtotal_ex_tax": money(t.subtotal_ex),
        "subtotal_inc_tax": money(t.subtotal_inc),
        "subtotal_tax": money(t.subtotal_tax),
        "base_shipping_cost": money(t.shipping_ex),
        "shipping_cost_ex_tax": money(t.shipping_ex),
        "shipping_cost_inc_tax": money(t.shipping_inc),
        "shipping_cost_tax": money(t.shipping_tax),
        "shipping_cost_tax_class_id": 2,
        "base_handling_cost": money(Decimal::ZERO),
        "handling_cost_ex_tax": money(Decimal::ZERO),
        "handling_cost_inc_tax": money(Decimal::ZERO),
        "handling_cost_tax": money(Decimal::ZERO),
        "handling_cost_tax_class_id": 2,
        "base_wrapping_cost": money(Decimal::ZERO),
        "wrapping_cost_ex_tax": money(Decimal::ZERO),
        "wrapping_cost_inc_tax": money(Decimal::ZERO),
        "wrapping_cost_tax": money(Decimal::ZERO),
        "wrapping_cost_tax_class_id": 3,
    });
    let more = json!({
        "total_ex_tax": money(t.total_ex),
        "total_inc_tax": money(t.total_inc),
        "total_tax": money(t.total_tax),
        "items_total": t.items_total,
        "items_shipped": if o.date_shipped.is_some() { t.items_total } else { 0 },
        "payment_method": o.payment_method,
        "payment_provider_id": o.payment_provider_id,
        "payment_status": o.payment_status,
        "refunded_amount": money(Decimal::ZERO),
        "order_is_digital": false,
        "store_credit_amount": money(Decimal::ZERO),
        "gift_certificate_amount": money(Decimal::ZERO),
        "ip_address": o.ip_address,
        "ip_address_v6": "",
        "geoip_country": o.geoip_country,
        "geoip_country_iso2": o.geoip_iso2,
        // The display currency (the transactional one unless the shopper browsed in another).
        "currency_id": o.display.as_ref().map_or(o.currency_id, |d| d.0),
        "currency_code": o.display.as_ref().map_or(o.currency_code.as_str(), |d| d.1.as_str()),
        "currency_exchange_rate": rate(o.display.as_ref().map_or(o.rate, |d| d.2)),
        "default_currency_id": o.currency_id,
        "default_currency_code": o.currency_code,
        "store_default_currency_code": if o.multi_currency { o.store_default_currency.clone() } else { String::new() },
        "store_default_to_transactional_exchange_rate": rate(o.rate),
        "staff_notes": o.staff_notes,
        "customer_message": "",
    });
    let more = merge(
        more,
        json!({
            "discount_amount": money(t.discount),
            "coupon_discount": money(if o.coupon.is_some() { t.discount } else { Decimal::ZERO }),
            "shipping_address_count": 1,
            "is_deleted": false,
            "ebay_order_id": "0",
            "is_tax_inclusive_pricing": false,
            "is_email_opt_in": o.is_email_opt_in,
            "billing_address": {
                "first_name": b.first_name,
                "last_name": b.last_name,
                "company": b.company,
                "street_1": b.street_1,
                "street_2": "",
                "city": b.city,
                "state": b.state,
                "zip": b.zip,
                "country": b.country,
                "country_iso2": b.country_iso2,
                "phone": b.phone,
                "email": b.email,
                "form_fields": []
            },
            "order_source": o.order_source,
            "channel_id": 1,
            "external_source": null,
            "external_id": null,
            "external_merchant_id": null,
            "external_order_id": "",
            "customer_locale": o.customer_locale,
            "tax_provider_id": "BasicTaxProvider",
            "products": resource(api_root, format!("/orders/{}/products", o.id)),
            "shipping_addresses": resource(api_root, format!("/orders/{}/shipping_addresses", o.id)),
            "coupons": resource(api_root, format!("/orders/{}/coupons", o.id)),
        }),
    );
    let mut v = merge(v, more);
    let consignments_value = match consignments {
        None => resource(api_root, format!("/orders/{}/consignments", o.id)),
        Some(inc) => {
            let line_items: Vec<Value> = o
                .lines
                .iter()
                .map(|l| {
                    if inc.line_items {
                        order_product_json(o, l)
                    } else {
                        resource(api_root, format!("/orders/{}/products/{}", o.id, l.id))
                    }
                })
                .collect();
            let mut shipping = shipping_address_base(o, t.items_total);
            if let Some(m) = shipping.as_object_mut() {
                m.insert("line_items".into(), Value::Array(line_items));
                // consignment money is numeric (shippingConsignment_Get).
                m.insert("base_cost".into(), num(t.shipping_ex));
                m.insert("cost_ex_tax".into(), num(t.shipping_ex));
                m.insert("cost_inc_tax".into(), num(t.shipping_inc));
                m.insert("cost_tax".into(), num(t.shipping_tax));
                m.insert("base_handling_cost".into(), num(Decimal::ZERO));
                m.insert("handling_cost_ex_tax".into(), num(Decimal::ZERO));
                m.insert("handling_cost_inc_tax".into(), num(Decimal::ZERO));
                m.insert("handling_cost_tax".into(), num(Decimal::ZERO));
                m.insert(
                    "shipping_quotes".into(),
                    resource(
                        api_root,
                        format!(
                            "/orders/{}/consignments/shipping/{}/shipping_quotes",
                            o.id, o.shipping_address_id
                        ),
                    ),
                );
            }
            let obj = json!({
                "pickups": [],
                "shipping": [shipping],
                "downloads": [],
                "email": { "gift_certificates": [] }
            });
            if inc.object_structure {
                obj
            } else {
                Value::Array(vec![obj])
            }
        }
    };
    if let Some(m) = v.as_object_mut() {
        m.insert("consignments".into(), consignments_value);
    }
    v
}

fn shipping_address_base(o: &Order, items_total: u64) -> Value {
    let b = &o.billing;
    json!({
        "id": o.shipping_address_id,
        "first_name": b.first_name,
        "last_name": b.last_name,
        "company": b.company,
        "street_1": b.street_1,
        "street_2": "",
        "city": b.city,
        "state": b.state,
        "zip": b.zip,
        "country": b.country,
        "country_iso2": b.country_iso2,
        "phone": b.phone,
        "email": b.email,
        "form_fields": [],
        "shipping_method": o.shipping_method,
        "items_total": items_total,
        "items_shipped": if o.date_shipped.is_some() { items_total } else { 0 },
        "cost_tax_class_id": 2,
        "handling_cost_tax_class_id": 2,
        "shipping_zone_id": 1,
        "shipping_zone_name": b.country,
    })
}

pub(crate) fn shipping_address_json(o: &Order, api_root: &str) -> Value {
    let t = o.totals();
    let mut v = shipping_address_base(o, t.items_total);
    if let Some(m) = v.as_object_mut() {
        m.insert("order_id".into(), json!(o.id));
        m.insert("base_cost".into(), json!(money(t.shipping_ex)));
        m.insert("cost_ex_tax".into(), json!(money(t.shipping_ex)));
        m.insert("cost_inc_tax".into(), json!(money(t.shipping_inc)));
        m.insert("cost_tax".into(), json!(money(t.shipping_tax)));
        m.insert("base_handling_cost".into(), json!(money(Decimal::ZERO)));
        m.insert("handling_cost_ex_tax".into(), json!(money(Decimal::ZERO)));
        m.insert("handling_cost_inc_tax".into(), json!(money(Decimal::ZERO)));
        m.insert("handling_cost_tax".into(), json!(money(Decimal::ZERO)));
        m.insert(
            "shipping_quotes".into(),
            resource(
                api_root,
                format!(
                    "/orders/{}/shipping_addresses/{}/shipping_quotes",
                    o.id, o.shipping_address_id
                ),
            ),
        );
    }
    v
}

pub(crate) fn coupon_json(o: &Order) -> Option<Value> {
    let (id, code, _) = o.coupon.as_ref()?;
    let discount = o.totals().discount;
    Some(json!({
        "id": id,
        "coupon_id": 10 + (id % 5),
        "order_id": o.id,
        "code": code,
        "amount": money(Decimal::from(10)),
        "type": 1,
        "discount": num(discount),
    }))
}

pub(crate) fn order_product_json(o: &Order, l: &OrderLine) -> Value {
    let discounted = l.total_inc() - l.discount - l.discount_tax;
    let applied: Vec<Value> = match &o.coupon {
        Some((_, code, _)) if !l.discount.is_zero() => vec![json!({
            "id": "coupon",
            "amount": money(l.discount),
            "name": code,
            "code": code,
            "target": "order"
        })],
        _ => Vec::new(),
    };
    let options: Vec<Value> = l
        .options
        .iter()
        .map(|op| {
            let swatch = op.display_name == "Color";
            json!({
                "id": op.id,
                "option_id": op.option_id,
                "order_product_id": l.id,
                "product_option_id": op.option_id,
                "display_name": op.display_name,
                "display_name_customer": op.display_name,
                "display_name_merchant": op.display_name,
                "display_value": op.display_value,
                "display_value_customer": op.display_value,
                "display_value_merchant": op.display_value,
                "value": op.value_id.to_string(),
                "type": if swatch { "Swatch" } else { "Multiple choice" },
                "name": op.display_name,
                "display_style": if swatch { "Swatch" } else { "Rectangle" },
            })
        })
        .collect();
    let first = json!({
        "id": l.id,
        "order_id": o.id,
        "product_id": l.product_id,
        "variant_id": l.variant_id,
        "order_pickup_method_id": 0,
        "order_address_id": o.shipping_address_id,
        "name": l.name,
        "name_customer": l.name,
        "name_merchant": l.name,
        "sku": l.sku,
        "upc": "",
        "type": "physical",
        "base_price": money(l.price_ex),
        "price_ex_tax": money(l.price_ex),
        "price_inc_tax": money(l.price_ex + l.price_tax),
        "price_tax": money(l.price_tax),
        "base_total": money(l.total_ex()),
        "total_ex_tax": money(l.total_ex()),
        "total_inc_tax": money(l.total_inc()),
        "total_tax": money(l.total_tax()),
        "weight": money(l.weight),
        "width": money(Decimal::ZERO),
        "height": money(Decimal::ZERO),
        "depth": money(Decimal::ZERO),
    });
    let more = json!({
        "quantity": l.quantity,
        "base_cost_price": money(l.cost_price),
        "cost_price_inc_tax": money(l.cost_price),
        "cost_price_ex_tax": money(l.cost_price),
        "cost_price_tax": money(Decimal::ZERO),
        "is_refunded": l.quantity_refunded > 0,
        "quantity_refunded": l.quantity_refunded,
        "refund_amount": money(Decimal::ZERO),
        "return_id": 0,
        "wrapping_id": 0,
        "wrapping_name": "",
        "base_wrapping_cost": money(Decimal::ZERO),
        "wrapping_cost_ex_tax": money(Decimal::ZERO),
        "wrapping_cost_inc_tax": money(Decimal::ZERO),
        "wrapping_cost_tax": money(Decimal::ZERO),
        "wrapping_message": "",
        "quantity_shipped": if o.date_shipped.is_some() { l.quantity } else { 0 },
        "event_name": null,
        "event_date": "",
        "fixed_shipping_cost": money(Decimal::ZERO),
        "ebay_item_id": "",
        "ebay_transaction_id": "",
        "option_set_id": if l.options.is_empty() { Value::Null } else { json!(l.product_id) },
        "parent_order_product_id": null,
        "is_bundled_product": false,
        "bin_picking_number": "",
        "external_id": null,
        "brand": l.brand,
        "applied_discounts": applied,
        "product_options": options,
        "configurable_fields": [],
        "gift_certificate_id": null,
        "discounted_total_inc_tax": money(discounted),
    });
    merge(first, more)
}

pub(crate) fn status_name(id: u8) -> &'static str {
    match id {
        0 => "Incomplete",
        1 => "Pending",
        2 => "Shipped",
        3 => "Partially Shipped",
        4 => "Refunded",
        5 => "Cancelled",
        6 => "Declined",
        7 => "Awaiting Payment",
        8 => "Awaiting Pickup",
        9 => "Awaiting Shipment",
        10 => "Completed",
        11 => "Awaiting Fulfillment",
        12 => "Manual Verification Required",
        13 => "Disputed",
        14 => "Partially Refunded",
        _ => "Unknown",
    }
}

/// Which optional blocks a v3 customer carries.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CustomerInclude {
    pub addresses: bool,
    pub attributes: bool,
    pub formfields: bool,
    pub storecredit: bool,
}

pub(crate) fn customer_json(
    c: &Customer,
    inc: CustomerInclude,
    country: (&str, &str, &str, &str, &str),
) -> Value {
    let (iso2, name, city, state, zip) = country;
    let mut v = json!({
        "id": c.id,
        "email": c.email,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "company": c.company,
        "phone": c.phone,
        "registration_ip_address": c.registration_ip,
        "notes": "",
        "tax_exempt_category": "",
        "customer_group_id": customer_group_of(c.id),
        "date_modified": iso(c.date_modified),
        "date_created": iso(c.date_created),
        "address_count": 1,
        "attribute_count": 1,
        "authentication": { "force_password_reset": false },
        "accepts_product_review_abandoned_cart_emails": c.accepts_marketing,
        "origin_channel_id": 1,
    });
    let m = v.as_object_mut();
    if let Some(m) = m {
        if inc.addresses {
            m.insert(
                "addresses".into(),
                json!([{
                    "id": c.address_id,
                    "customer_id": c.id,
                    "first_name": c.first_name,
                    "last_name": c.last_name,
                    "company": c.company,
                    "address1": c.street,
                    "address2": "",
                    "city": city,
                    "state_or_province": state,
                    "postal_code": zip,
                    "country_code": iso2,
                    "country": name,
                    "phone": c.phone,
                    "address_type": "residential",
                }]),
            );
        }
        if inc.attributes {
            m.insert(
                "attributes".into(),
                json!([{
                    "id": c.id,
                    "customer_id": c.id,
                    "attribute_id": 1,
                    "attribute_value": loyalty_tier_of(c.id),
                    "date_created": iso(c.date_created),
                    "date_modified": iso(c.date_modified),
                }]),
            );
        }
        if inc.formfields {
            m.insert("form_fields".into(), json!([]));
        }
        if inc.storecredit {
            m.insert("store_credit_amounts".into(), json!([{ "amount": 0 }]));
        }
    }
    v
}

/// Which optional blocks a v3 product carries.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProductInclude {
    pub variants: bool,
    pub custom_fields: bool,
    pub images: bool,
    pub primary_image: bool,
    pub options: bool,
}

fn product_calculated(p: &Product) -> Decimal {
    if p.sale_price > Decimal::ZERO {
        p.sale_price
    } else {
        p.price
    }
}

pub(crate) fn variant_effective_price(p: &Product, v: &Variant) -> Decimal {
    v.sale_price
        .or(v.price)
        .unwrap_or_else(|| product_calculated(p))
}

pub(crate) fn variant_json(p: &Product, v: &Variant) -> Value {
    let option_values: Vec<Value> = v
        .option_values
        .iter()
        .map(|ov| {
            json!({
                "id": ov.id,
                "label": ov.label,
                "option_id": ov.option_id,
                "option_display_name": ov.option_display_name,
            })
        })
        .collect();
    let (inv, warn) = match p.tracking {
        super::model::Tracking::Variant => (json!(v.inventory_level), json!(5)),
        _ => (json!(0), json!(0)),
    };
    json!({
        "id": v.id,
        "product_id": v.product_id,
        "sku": v.sku,
        "sku_id": v.sku_id,
        "price": opt_num(v.price),
        "calculated_price": num(variant_effective_price(p, v)),
        "sale_price": opt_num(v.sale_price),
        "retail_price": null,
        "map_price": 0,
        "weight": opt_num(v.weight),
        "width": null,
        "height": null,
        "depth": null,
        "calculated_weight": num(v.weight.unwrap_or(p.weight)),
        "is_free_shipping": false,
        "fixed_cost_shipping_price": null,
        "cost_price": num(v.cost_price),
        "purchasing_disabled": false,
        "purchasing_disabled_message": "",
        "image_url": "",
        "upc": "",
        "mpn": "",
        "gtin": "",
        "inventory_level": inv,
        "inventory_warning_level": warn,
        "bin_picking_number": "",
        "option_values": option_values,
    })
}

pub(crate) fn product_json(
    p: &Product,
    variants: &[&Variant],
    inc: ProductInclude,
    store_hash: &str,
) -> Value {
    let image = json!({
        "id": p.image_id,
        "product_id": p.id,
        "is_thumbnail": true,
        "sort_order": 0,
        "description": "",
        "image_file": format!("products/{}/{}/item.jpg", p.id, p.image_id),
        "url_zoom": format!("https://cdn11.bigcommerce.com/s-{store_hash}/images/stencil/1280x1280/products/{}/{}/item.jpg", p.id, p.image_id),
        "url_standard": format!("https://cdn11.bigcommerce.com/s-{store_hash}/images/stencil/500x659/products/{}/{}/item.jpg", p.id, p.image_id),
        "url_thumbnail": format!("https://cdn11.bigcommerce.com/s-{store_hash}/images/stencil/100x100/products/{}/{}/item.jpg", p.id, p.image_id),
        "url_tiny": format!("https://cdn11.bigcommerce.com/s-{store_hash}/images/stencil/50x50/products/{}/{}/item.jpg", p.id, p.image_id),
        "image_url": "",
        "date_modified": iso(p.date_created),
    });
    let v = json!({
        "id": p.id,
        "name": p.name,
        "type": "physical",
        "sku": p.sku,
        "description": p.description,
        "weight": num(p.weight),
        "width": 0,
        "depth": 0,
        "height": 0,
        "price": num(p.price),
        "cost_price": num(p.cost_price),
        "retail_price": num(p.retail_price),
        "sale_price": num(p.sale_price),
        "map_price": 0,
        "tax_class_id": 0,
        "product_tax_code": "",
        "calculated_price": num(product_calculated(p)),
        "categories": p.categories,
        "brand_id": p.brand_id,
        "option_set_id": if p.base_variant_id.is_none() { p.id } else { 0 },
        "option_set_display": "right",
        "inventory_level": match p.tracking { super::model::Tracking::None => 0, _ => p.inventory_level },
        "inventory_warning_level": 0,
        "inventory_tracking": p.tracking.as_str(),
        "reviews_rating_sum": 0,
        "reviews_count": 0,
        "total_sold": p.total_sold,
        "fixed_cost_shipping_price": 0,
        "is_free_shipping": false,
        "is_visible": true,
        "is_featured": false,
        "related_products": [-1],
        "warranty": "",
        "bin_picking_number": "",
        "layout_file": "product.html",
    });
    let more = json!({
        "upc": "",
        "mpn": "",
        "gtin": "",
        "search_keywords": "",
        "availability": "available",
        "availability_description": "",
        "gift_wrapping_options_type": "any",
        "gift_wrapping_options_list": [],
        "sort_order": 0,
        "condition": "New",
        "is_condition_shown": false,
        "order_quantity_minimum": 0,
        "order_quantity_maximum": 0,
        "page_title": "",
        "meta_keywords": [],
        "meta_description": "",
        "date_created": iso(p.date_created),
        "date_modified": iso(p.date_modified),
        "view_count": 0,
        "preorder_release_date": null,
        "preorder_message": "",
        "is_preorder_only": false,
        "is_price_hidden": false,
        "price_hidden_label": "",
        "custom_url": { "url": format!("/{}/", slug(&p.name)), "is_customized": false },
        "base_variant_id": p.base_variant_id,
        "open_graph_type": "product",
        "open_graph_title": "",
        "open_graph_description": "",
        "open_graph_use_meta_description": true,
        "open_graph_use_product_name": true,
        "open_graph_use_image": true,
    });
    let mut v = merge(v, more);
    if let Some(m) = v.as_object_mut() {
        if inc.variants {
            m.insert(
                "variants".into(),
                Value::Array(variants.iter().map(|x| variant_json(p, x)).collect()),
            );
        }
        if inc.custom_fields {
            m.insert(
                "custom_fields".into(),
                Value::Array(
                    p.custom_fields
                        .iter()
                        .map(|(id, n, val)| json!({ "id": id, "name": n, "value": val }))
                        .collect(),
                ),
            );
        }
        if inc.images {
            m.insert("images".into(), json!([image.clone()]));
        }
        if inc.primary_image {
            m.insert("primary_image".into(), image);
        }
        if inc.options {
            m.insert("options".into(), options_json(p, variants));
        }
    }
    v
}

fn options_json(p: &Product, variants: &[&Variant]) -> Value {
    let mut by_option: Map<String, Value> = Map::new();
    let mut order: Vec<(u64, String)> = Vec::new();
    for v in variants {
        for ov in &v.option_values {
            let key = ov.option_id.to_string();
            if !by_option.contains_key(&key) {
                order.push((ov.option_id, ov.option_display_name.clone()));
                by_option.insert(key.clone(), json!([]));
            }
            if let Some(Value::Array(vals)) = by_option.get_mut(&key) {
                if !vals.iter().any(|x| x["id"] == json!(ov.id)) {
                    let sort = vals.len();
                    vals.push(json!({ "id": ov.id, "label": ov.label, "sort_order": sort, "is_default": false, "value_data": null }));
                }
            }
        }
    }
    Value::Array(
        order
            .into_iter()
            .enumerate()
            .map(|(i, (id, name))| {
                json!({
                    "id": id,
                    "product_id": p.id,
                    "display_name": name,
                    "type": if name == "Color" { "swatch" } else { "rectangles" },
                    "sort_order": i,
                    "option_values": by_option.get(&id.to_string()).cloned().unwrap_or(Value::Null),
                })
            })
            .collect(),
    )
}

pub(crate) fn slug(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

pub(crate) fn currency_json(c: &Currency, now: DateTime<Utc>) -> Value {
    json!({
        "id": c.id,
        "is_default": c.is_default,
        "last_updated": rfc2822(now),
        "country_iso2": c.country_iso2,
        "default_for_country_codes": [c.country_iso2],
        "currency_code": c.code,
        "currency_exchange_rate": rate(c.rate),
        "name": c.name,
        "token": c.token,
        "auto_update": false,
        "decimal_token": ".",
        "decimal_places": c.decimal_places,
        "enabled": true,
        "is_transactional": true,
        "token_location": "left",
        "thousands_token": ",",
        "use_default_name": true,
    })
}

pub(crate) fn hook_json(h: &Hook, client_id: &str, store_hash: &str) -> Value {
    json!({
        "id": h.id,
        "client_id": client_id,
        "store_hash": store_hash,
        "scope": h.scope,
        "destination": h.destination,
        "headers": h.headers,
        "is_active": h.is_active,
        "created_at": h.created_at,
        "updated_at": h.updated_at,
    })
}

/// v3 refund (orders.v3.yml `Refund`, reference §3.9/§10.5); amounts in the order's
/// transactional currency.
pub(crate) fn refund_json(r: &Refund) -> Value {
    let items: Vec<Value> = r
        .items
        .iter()
        .map(|i| {
            let mut v = json!({
                "item_type": i.item_type,
                "item_id": i.item_id,
                "requested_amount": i.requested_amount.map(num),
                "reason": r.reason,
            });
            if let (Some(q), Some(m)) = (i.quantity, v.as_object_mut()) {
                m.insert("quantity".into(), json!(q));
            }
            v
        })
        .collect();
    json!({
        "id": r.id,
        "order_id": r.order_id,
        "user_id": 0,
        "created": iso(r.created),
        "reason": r.reason,
        "total_amount": num(r.total_amount),
        "total_tax": num(r.total_tax),
        "uses_merchant_override_values": false,
        "items": items,
        "payments": [{
            "id": r.payment_id,
            "provider_id": r.provider_id,
            "amount": num(r.total_amount),
            "offline": r.offline,
            "is_declined": false,
            "declined_message": "",
            "transaction_id": r.transaction_id,
        }],
    })
}

/// v3 cart (carts.v3.yml `Cart_Full`, reference §7.2/§10.4). `options` only when asked for with
/// `include=line_items.physical_items.options`.
pub(crate) fn cart_json(c: &Cart, with_options: bool) -> Value {
    let items: Vec<Value> = c
        .lines
        .iter()
        .map(|l| {
            let q = Decimal::from(l.quantity);
            let mut v = json!({
                "id": l.id,
                "parent_id": null,
                "variant_id": l.variant_id,
                "product_id": l.product_id,
                "sku": l.sku,
                "name": l.name,
                "url": l.url,
                "quantity": l.quantity,
                "taxable": true,
                "image_url": l.image_url,
                "discounts": [],
                "coupons": [],
                "discount_amount": 0,
                "coupon_amount": 0,
                "original_price": num(l.original_price),
                "list_price": num(l.list_price),
                "sale_price": num(l.list_price),
                "extended_list_price": num(l.list_price * q),
                "extended_sale_price": num(l.list_price * q),
                "is_require_shipping": true,
                "is_mutable": true,
                "added_by_promotion": false,
            });
            if let (true, Some(m)) = (with_options, v.as_object_mut()) {
                let opts: Vec<Value> = l
                    .options
                    .iter()
                    .map(|o| json!({ "name": o.option_display_name, "nameId": o.option_id, "value": o.label, "valueId": o.id }))
                    .collect();
                m.insert("options".into(), Value::Array(opts));
            }
            v
        })
        .collect();
    let base: Decimal = c
        .lines
        .iter()
        .map(|l| l.list_price * Decimal::from(l.quantity))
        .sum();
    json!({
        "id": c.id,
        "customer_id": c.customer_id,
        "channel_id": 1,
        "email": c.email.clone().unwrap_or_default(),
        "currency": { "code": c.currency },
        "tax_included": false,
        "base_amount": num(base),
        "discount_amount": 0,
        "manual_discount_amount": 0,
        "cart_amount": num(base),
        "coupons": [],
        "discounts": [],
        "line_items": {
            "physical_items": items,
            "digital_items": [],
            "gift_certificates": [],
            "custom_items": [],
        },
        "created_time": iso(c.created),
        "updated_time": iso(c.updated),
        "locale": c.locale,
        "version": c.version,
    })
}

/// The twin's customer groups (`GET v2/customer_groups`): id 0 means no group.
pub(crate) const CUSTOMER_GROUPS: [(u64, &str, bool); 2] =
    [(1, "Retail", true), (2, "Wholesale", false)];

/// A customer's group, derived from the id so that it is stable: most retail, some wholesale,
/// some in no group.
pub(crate) fn customer_group_of(customer_id: u64) -> u64 {
    match customer_id % 5 {
        0 => 0,
        1..=3 => 1,
        _ => 2,
    }
}

/// The one customer attribute the twin defines (`GET v3/customers/attributes`, id 1).
pub(crate) const LOYALTY_ATTRIBUTE: (u64, &str) = (1, "Loyalty tier");

/// A customer's loyalty tier, derived from the id.
pub(crate) fn loyalty_tier_of(customer_id: u64) -> &'static str {
    ["bronze", "silver", "gold"][(customer_id % 3) as usize]
}

/// `GET v2/customer_groups` rows.
pub(crate) fn customer_groups_json() -> Value {
    Value::Array(
        CUSTOMER_GROUPS
            .iter()
            .map(|(id, name, is_default)| {
                json!({
                    "id": id, "name": name, "is_default": is_default, "category_access": {"type": "all"},
                    "discount_rules": [], "is_group_for_guests": false,
                    // The spec's example format (`customerGroup_Full`); the twin's groups are fixed.
                    "date_created": "2024-01-01 00:00:00", "date_modified": "2024-01-01 00:00:00",
                })
            })
            .collect(),
    )
}

/// `GET v3/customers/attributes` envelope.
pub(crate) fn customer_attributes_json() -> Value {
    let (id, name) = LOYALTY_ATTRIBUTE;
    json!({
        "data": [{"id": id, "name": name, "type": "string",
                  "date_created": "2024-01-01T00:00:00Z", "date_modified": "2024-01-01T00:00:00Z"}],
        "meta": {"pagination": {"total": 1, "count": 1, "per_page": 50, "current_page": 1,
                                "total_pages": 1, "links": {"current": "?page=1"}}}
    })
}
