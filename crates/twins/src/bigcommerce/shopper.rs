//! Shopper and merchant actions (driven by a scenario runner, by crowds, or by REST writes in
//! `writes.rs`), refunds and refund quotes, and fault switches: the twin's one state machine.
//!
//! Every action takes the store lock, changes the store, and queues the documented webhooks
//! while the lock is held (lock order: store, then dispatcher), so a receiver never sees an
//! event for a change the REST API does not show yet.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::seq::IndexedRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::config::TwinError;
use super::model::{
    Cart, CartLine, Country, Currency, Person, Refund, RefundItem, Store, Tracking,
};
use super::seed::{self, secs, Overrides};
use super::webhooks::emit;
use super::wire::{slug, status_name, variant_effective_price};
use super::Inner;

/// A human as the scenario runner describes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopperSpec {
    /// As typed at checkout; may carry case/whitespace variants.
    pub email: Option<String>,
    /// As typed (national or international format).
    pub phone: Option<String>,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Country (ISO 3166-1 alpha-2).
    pub country_iso2: String,
}

/// One checkout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutSpec {
    /// Billing email as typed; `None` = the person's email.
    pub email_as_typed: Option<String>,
    /// Billing phone as typed; `None` = the person's phone.
    pub phone_as_typed: Option<String>,
    /// Transactional currency; `None` = store default (or the cart's).
    pub currency: Option<String>,
    /// `(variant id, quantity)`; empty = 1-3 random lines from the seed (or the cart's lines).
    pub lines: Vec<(u64, u32)>,
    /// `false` = as the registered customer (the person must be registered).
    pub as_guest: bool,
    /// Converts this cart (its lines and currency are used).
    pub cart_id: Option<String>,
}

/// What a scripted checkout fixes beyond [`CheckoutSpec`] (all optional: `None` keeps the
/// seeded draw).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutExtras {
    /// A display (non-transactional) currency the shopper browsed in: the order is then
    /// transacted in the store default currency, with `currency_code` the display one.
    pub display_currency: Option<String>,
    /// Force the SAVE10 coupon (10 % off; store default currency only) on or off.
    pub coupon: Option<bool>,
    /// Shipping: `free`, `flat` (4.95) or `express` (9.95), in the store default currency
    /// converted to the order's.
    pub shipping: Option<String>,
}

/// Webhook delivery faults (the scenario runner toggles them on the clock).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookFaults {
    /// Per-mille share of deliveries sent twice (same body, same `hash`).
    pub duplicate_per_mille: u32,
    /// Each delivery waits a random extra 0..=this on the clock, so deliveries reorder.
    pub max_extra_delay: Duration,
    /// Until then every delivery attempt fails as if the receiver were unreachable; retries
    /// follow the schedule and the hook is deactivated when it runs out.
    pub fail_all_until: Option<DateTime<Utc>>,
}

/// Runs `f` with the store locked and the seeded rng taken out of it.
fn locked<T>(
    inner: &Inner,
    f: impl FnOnce(&mut Store, &mut ChaCha8Rng) -> Result<T, TwinError>,
) -> Result<T, TwinError> {
    let mut guard = inner.store.lock();
    let store = &mut *guard;
    let mut rng = store.rng.clone();
    let out = f(store, &mut rng);
    store.rng = rng;
    out
}

fn person_index(store: &Store, person_id: u64) -> Result<usize, TwinError> {
    store
        .persons
        .iter()
        .position(|p| p.person_id == person_id)
        .ok_or(TwinError::UnknownPerson(person_id))
}

fn rejected(msg: impl Into<String>) -> TwinError {
    TwinError::Rejected(msg.into())
}

/// E.164 from a phone as typed in `country` (`None` if it has too few digits).
fn e164(raw: &str, country: &Country) -> Option<String> {
    let t = raw.trim();
    let digits: String = t.chars().filter(char::is_ascii_digit).collect();
    let international = if t.starts_with('+') {
        Some(digits.clone())
    } else {
        digits.strip_prefix("00").map(str::to_owned)
    };
    let full = match international {
        Some(d) => d,
        None if country.dial == "1" && digits.len() == 11 && digits.starts_with('1') => digits,
        None => format!("{}{}", country.dial, digits.trim_start_matches('0')),
    };
    (full.len() >= 8 && full.len() <= 15).then(|| format!("+{full}"))
}

fn hex32(rng: &mut ChaCha8Rng) -> String {
    let a: u128 = rng.random();
    format!("{a:032x}")
}

pub(crate) fn add_person(inner: &Inner, spec: &ShopperSpec) -> u64 {
    add_person_locked(&mut inner.store.lock(), spec)
}

pub(crate) fn add_person_locked(store: &mut Store, spec: &ShopperSpec) -> u64 {
    let countries = seed::countries();
    let country = countries
        .iter()
        .position(|c| c.iso2.eq_ignore_ascii_case(spec.country_iso2.trim()))
        .unwrap_or(0);
    let person_id = store.persons.len() as u64 + 1;
    let typed = spec.email.clone().filter(|e| !e.trim().is_empty());
    let email = typed.as_ref().map(|e| e.trim().to_lowercase());
    let (phone_e164, phone_display) = match &spec.phone {
        Some(p) => match e164(p, &countries[country]) {
            Some(e) => (Some(e), Some(p.clone())),
            None => (None, None),
        },
        None => (None, None),
    };
    let n: u32 = store.rng.random_range(1..400);
    store.persons.push(Person {
        person_id,
        customer_id: None,
        first_name: spec.first_name.clone(),
        last_name: spec.last_name.clone(),
        email,
        typed_email: typed,
        phone_e164,
        phone_display,
        country,
        street: format!("{n} Market Street"),
        scripted: true,
    });
    person_id
}

pub(crate) fn register(inner: &Inner, person_id: u64) -> Result<u64, TwinError> {
    locked(inner, |store, rng| {
        register_locked(inner, store, rng, person_id)
    })
}

pub(crate) fn register_locked(
    inner: &Inner,
    store: &mut Store,
    rng: &mut ChaCha8Rng,
    person_id: u64,
) -> Result<u64, TwinError> {
    let idx = person_index(store, person_id)?;
    let p = &store.persons[idx];
    if let Some(c) = p.customer_id {
        return Err(rejected(format!(
            "person {person_id} is already registered as customer {c}"
        )));
    }
    let Some(email) = p.email.clone() else {
        return Err(rejected("a customer account needs an email"));
    };
    if store
        .customers
        .values()
        .any(|c| c.email.trim().eq_ignore_ascii_case(&email))
    {
        return Err(rejected(format!("a customer with {email} already exists")));
    }
    let now = inner.clock.now();
    let id = seed::register(store, rng, idx, now, now);
    emit(
        inner,
        store,
        "store/customer/created",
        json!({ "type": "customer", "id": id }),
    );
    Ok(id)
}

pub(crate) fn update_customer(
    inner: &Inner,
    customer_id: u64,
    email: Option<&str>,
    phone: Option<&str>,
) -> Result<(), TwinError> {
    if email.is_none() && phone.is_none() {
        return Err(rejected("nothing to update"));
    }
    let patch = CustomerPatch {
        email: email.map(str::to_owned),
        phone: phone.map(str::to_owned),
        ..CustomerPatch::default()
    };
    update_customer_patch(inner, customer_id, &patch)
}

/// `POST v3/customers`: a guest with the same canonical email registers (their earlier guest
/// orders keep `customer_id` 0), anyone else becomes a new person first
/// (`store/customer/created`).
pub(crate) fn create_customer(inner: &Inner, patch: &CustomerPatch) -> Result<u64, TwinError> {
    let Some(email) = patch
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| e.contains('@'))
    else {
        return Err(rejected("a customer account needs an email"));
    };
    locked(inner, |store, rng| {
        let canonical = email.to_lowercase();
        let known = store
            .persons
            .iter()
            .find(|p| p.email.as_deref() == Some(canonical.as_str()))
            .map(|p| p.person_id);
        let person_id = match known {
            Some(id) => id,
            None => add_person_locked(
                store,
                &ShopperSpec {
                    email: Some(email.to_owned()),
                    phone: patch.phone.clone(),
                    first_name: patch.first_name.clone().unwrap_or_default(),
                    last_name: patch.last_name.clone().unwrap_or_default(),
                    country_iso2: String::new(),
                },
            ),
        };
        let id = register_locked(inner, store, rng, person_id)?;
        if let Some(c) = store.customers.get_mut(&id) {
            c.email = email.to_owned();
            if let Some(v) = &patch.first_name {
                c.first_name = v.clone();
            }
            if let Some(v) = &patch.last_name {
                c.last_name = v.clone();
            }
            if let Some(v) = &patch.phone {
                c.phone = v.clone();
            }
            if let Some(v) = &patch.company {
                c.company = v.clone();
            }
        }
        Ok(id)
    })
}

/// What a customer update changes (`None` = unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CustomerPatch {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company: Option<String>,
}

impl CustomerPatch {
    fn is_empty(&self) -> bool {
        *self == CustomerPatch::default()
    }
}

/// Changes a customer (`store/customer/updated`); the person's identity follows the email and
/// phone.
pub(crate) fn update_customer_patch(
    inner: &Inner,
    customer_id: u64,
    patch: &CustomerPatch,
) -> Result<(), TwinError> {
    locked(inner, |store, _rng| {
        if patch.is_empty() {
            return Err(rejected("nothing to update"));
        }
        if !store.customers.contains_key(&customer_id) {
            return Err(TwinError::UnknownCustomer(customer_id));
        }
        let email = match patch.email.as_deref().map(str::trim) {
            Some(e) if e.is_empty() || !e.contains('@') => {
                return Err(rejected(format!("invalid email {e:?}")))
            }
            Some(e) => {
                if store
                    .customers
                    .values()
                    .any(|c| c.id != customer_id && c.email.trim().eq_ignore_ascii_case(e))
                {
                    return Err(rejected(format!("a customer with {e} already exists")));
                }
                Some(e.to_owned())
            }
            None => None,
        };
        let phone = patch.phone.as_deref();
        let now = inner.clock.now();
        if let Some(c) = store.customers.get_mut(&customer_id) {
            if let Some(e) = &email {
                c.email = e.clone();
            }
            if let Some(p) = phone {
                c.phone = p.to_owned();
            }
            if let Some(n) = &patch.first_name {
                c.first_name = n.clone();
            }
            if let Some(n) = &patch.last_name {
                c.last_name = n.clone();
            }
            if let Some(n) = &patch.company {
                c.company = n.clone();
            }
            c.date_modified = secs(now);
        }
        let countries = seed::countries();
        if let Some(p) = store
            .persons
            .iter_mut()
            .find(|p| p.customer_id == Some(customer_id))
        {
            if let Some(e) = &email {
                p.email = Some(e.to_lowercase());
                p.typed_email = Some(e.clone());
            }
            if let Some(ph) = phone {
                p.phone_e164 = e164(ph, &countries[p.country.min(countries.len() - 1)]);
                p.phone_display = p.phone_e164.as_ref().map(|_| ph.to_owned());
            }
            if let Some(n) = &patch.first_name {
                p.first_name = n.clone();
            }
            if let Some(n) = &patch.last_name {
                p.last_name = n.clone();
            }
        }
        emit(
            inner,
            store,
            "store/customer/updated",
            json!({ "type": "customer", "id": customer_id }),
        );
        Ok(())
    })
}

fn resolve_currency(store: &Store, code: Option<&str>) -> Result<Currency, TwinError> {
    let found = match code {
        None => store.currencies.first(),
        Some(c) => store
            .currencies
            .iter()
            .find(|x| x.code.eq_ignore_ascii_case(c.trim())),
    };
    found.cloned().ok_or_else(|| {
        rejected(format!(
            "currency {} is not a transactional currency of the store",
            code.unwrap_or("(default)")
        ))
    })
}

/// Validates `(variant, qty)` lines and merges repeats of one variant (as a cart does).
fn merge_lines(store: &Store, lines: &[(u64, u32)]) -> Result<Vec<(u64, u32)>, TwinError> {
    let mut out: Vec<(u64, u32)> = Vec::new();
    for (vid, qty) in lines {
        if !store.variants.contains_key(vid) {
            return Err(TwinError::UnknownVariant(*vid));
        }
        if *qty == 0 {
            return Err(rejected(format!(
                "quantity of variant {vid} must be at least 1"
            )));
        }
        match out.iter_mut().find(|(v, _)| v == vid) {
            Some((_, q)) => *q = q.saturating_add(*qty),
            None => out.push((*vid, *qty)),
        }
    }
    Ok(out)
}

pub(crate) fn create_cart(
    inner: &Inner,
    person_id: u64,
    lines: &[(u64, u32)],
    currency: Option<&str>,
) -> Result<String, TwinError> {
    locked(inner, |store, rng| {
        let idx = person_index(store, person_id)?;
        if lines.is_empty() {
            return Err(rejected("a cart needs at least one line item"));
        }
        let lines = merge_lines(store, lines)?;
        let cur = resolve_currency(store, currency)?;
        let person = store.persons[idx].clone();
        let countries = seed::countries();
        let country = &countries[person.country.min(countries.len() - 1)];
        let now = inner.clock.now();
        let cart_id = seed::uuid_like(rng);
        let hash = inner.config.store_hash.clone();
        let mut cart_lines = Vec::new();
        for (vid, qty) in lines {
            let v = store.variants[&vid].clone();
            let Some(p) = store.products.get(&v.product_id).cloned() else {
                return Err(TwinError::UnknownVariant(vid));
            };
            let dp = cur.decimal_places;
            cart_lines.push(CartLine {
                id: seed::uuid_like(rng),
                product_id: p.id,
                variant_id: v.id,
                sku: v.sku.clone(),
                name: p.name.clone(),
                url: format!("https://twin-store.example.com/{}/", slug(&p.name)),
                image_url: format!(
                    "https://cdn11.bigcommerce.com/s-{hash}/images/stencil/100x100/products/{}/{}/item.jpg",
                    p.id, p.image_id
                ),
                quantity: qty,
                original_price: (v.price.unwrap_or(p.price) * cur.rate).round_dp(dp),
                list_price: (variant_effective_price(&p, &v) * cur.rate).round_dp(dp),
                options: v.option_values.clone(),
            });
        }
        let customer_id = person.customer_id.unwrap_or(0);
        let email = person
            .customer_id
            .and_then(|c| store.customers.get(&c))
            .map(|c| c.email.clone());
        let line_ids: Vec<String> = cart_lines.iter().map(|l| l.id.clone()).collect();
        store.carts.insert(
            cart_id.clone(),
            Cart {
                id: cart_id.clone(),
                person_id,
                customer_id,
                email,
                currency: cur.code.clone(),
                locale: country.locale.split('-').next().unwrap_or("en").to_owned(),
                lines: cart_lines,
                created: now,
                updated: now,
                version: 1,
                token: None,
                abandoned_at: None,
                converted_order: None,
                deleted: false,
            },
        );
        emit(
            inner,
            store,
            "store/cart/created",
            json!({ "type": "cart", "id": cart_id }),
        );
        for line_id in line_ids {
            emit(
                inner,
                store,
                "store/cart/lineItem/created",
                json!({ "type": "cart_line_item", "id": line_id, "cartId": cart_id }),
            );
        }
        emit(
            inner,
            store,
            "store/cart/updated",
            json!({ "type": "cart", "id": cart_id }),
        );
        Ok(cart_id)
    })
}

fn live_cart<'a>(store: &'a mut Store, cart_id: &str) -> Result<&'a mut Cart, TwinError> {
    store
        .carts
        .get_mut(cart_id)
        .filter(|c| c.live())
        .ok_or_else(|| TwinError::UnknownCart(cart_id.to_owned()))
}

pub(crate) fn set_cart_email(inner: &Inner, cart_id: &str, email: &str) -> Result<(), TwinError> {
    locked(inner, |store, _rng| {
        if email.trim().is_empty() || !email.contains('@') {
            return Err(rejected(format!("invalid email {email:?}")));
        }
        let now = inner.clock.now();
        let cart = live_cart(store, cart_id)?;
        cart.email = Some(email.to_owned());
        cart.updated = now;
        cart.version += 1;
        let person_id = cart.person_id;
        // A guest without a known email has now given one.
        if let Some(p) = store
            .persons
            .iter_mut()
            .find(|p| p.person_id == person_id && p.email.is_none())
        {
            p.email = Some(email.trim().to_lowercase());
            p.typed_email = Some(email.to_owned());
        }
        emit(
            inner,
            store,
            "store/cart/updated",
            json!({ "type": "cart", "id": cart_id }),
        );
        Ok(())
    })
}

pub(crate) fn abandon_cart(inner: &Inner, cart_id: &str) -> Result<String, TwinError> {
    locked(inner, |store, rng| {
        let now = inner.clock.now();
        let cart = live_cart(store, cart_id)?;
        let idle = now - cart.updated;
        if idle < chrono::Duration::hours(1) {
            return Err(rejected(format!(
                "cart {cart_id} changed {}s ago; a cart is abandoned after an hour without changes",
                idle.num_seconds()
            )));
        }
        if cart.abandoned_at.is_some_and(|a| a >= cart.updated) {
            return Err(rejected(format!(
                "cart {cart_id} was already abandoned and has not changed since"
            )));
        }
        let token = match &cart.token {
            Some(t) => t.clone(),
            None => {
                let t = hex32(rng);
                cart.token = Some(t.clone());
                t
            }
        };
        cart.abandoned_at = Some(now);
        store
            .abandoned_tokens
            .insert(token.clone(), cart_id.to_owned());
        emit(
            inner,
            store,
            "store/cart/abandoned",
            json!({ "type": "cart", "id": cart_id, "token": token }),
        );
        Ok(token)
    })
}

pub(crate) fn checkout(
    inner: &Inner,
    person_id: u64,
    spec: &CheckoutSpec,
    extras: &CheckoutExtras,
) -> Result<u64, TwinError> {
    let shipping = match extras.shipping.as_deref() {
        None => None,
        Some("free") => Some(0),
        Some("flat") => Some(1),
        Some("express") => Some(2),
        Some(other) => {
            return Err(rejected(format!(
                "shipping {other:?} is not offered (free, flat, express)"
            )))
        }
    };
    locked(inner, |store, rng| {
        let display = match &extras.display_currency {
            None => None,
            Some(code) => {
                let found = resolve_currency(store, Some(code))?;
                if found.is_default {
                    return Err(rejected(format!(
                        "{code} is the store default; a display currency differs from it"
                    )));
                }
                Some(found)
            }
        };
        if display.is_some() && (spec.currency.is_some() || spec.cart_id.is_some()) {
            return Err(rejected(
                "a display-currency order is transacted in the store default; give no currency or cart",
            ));
        }
        let idx = person_index(store, person_id)?;
        let person = store.persons[idx].clone();
        let customer_id = if spec.as_guest {
            0
        } else {
            person.customer_id.ok_or_else(|| {
                rejected(format!(
                    "person {person_id} is not registered; check out as a guest"
                ))
            })?
        };
        let (lines, currency) = match &spec.cart_id {
            Some(cid) => {
                let cart = live_cart(store, cid)?;
                if cart.person_id != person_id {
                    return Err(rejected(format!(
                        "cart {cid} belongs to person {}",
                        cart.person_id
                    )));
                }
                if let Some(c) = &spec.currency {
                    if !c.trim().eq_ignore_ascii_case(&cart.currency) {
                        return Err(rejected(format!(
                            "cart {cid} is in {}; a cart keeps its currency",
                            cart.currency
                        )));
                    }
                }
                let lines: Vec<(u64, u32)> = cart
                    .lines
                    .iter()
                    .map(|l| (l.variant_id, l.quantity))
                    .collect();
                let code = cart.currency.clone();
                (lines, resolve_currency(store, Some(&code))?)
            }
            None => {
                let currency = resolve_currency(store, spec.currency.as_deref())?;
                let lines = if spec.lines.is_empty() {
                    let ids: Vec<u64> = store.variants.keys().copied().collect();
                    if ids.is_empty() {
                        return Err(rejected("the store has no products"));
                    }
                    let n = rng.random_range(1..=ids.len().min(3));
                    let chosen: Vec<u64> = ids.choose_multiple(rng, n).copied().collect();
                    chosen
                        .into_iter()
                        .map(|v| (v, rng.random_range(1..=3)))
                        .collect()
                } else {
                    merge_lines(store, &spec.lines)?
                };
                (lines, currency)
            }
        };
        let registered_email = (customer_id != 0)
            .then(|| store.customers.get(&customer_id).map(|c| c.email.clone()))
            .flatten();
        let email = spec
            .email_as_typed
            .clone()
            .or(registered_email)
            .or_else(|| person.typed_email.clone())
            .or_else(|| person.email.clone())
            .unwrap_or_default();
        let phone = spec
            .phone_as_typed
            .clone()
            .or_else(|| person.phone_display.clone())
            .unwrap_or_default();
        if person.email.is_none() && !email.trim().is_empty() {
            let p = &mut store.persons[idx];
            p.email = Some(email.trim().to_lowercase());
            p.typed_email = Some(email.clone());
        }
        let now = inner.clock.now();
        let (status_id, payment_status) = if rng.random_bool(0.8) {
            (0, "")
        } else {
            (1, "pending")
        };
        let plan = seed::OrderPlan {
            person_idx: idx,
            customer_id,
            at: now,
            status_id,
            payment_status,
            paid_at: None,
            date_modified: now,
            date_shipped: None,
        };
        let ov = Overrides {
            currency: Some(currency),
            lines: Some(lines),
            email: Some(email),
            phone: Some(phone),
            cart_id: spec.cart_id.clone(),
            no_coupon: spec.cart_id.is_some(),
            order_source: None,
            display,
            coupon: extras.coupon,
            shipping,
        };
        let countries = seed::countries();
        let id = seed::build_order(store, rng, &countries, plan, ov)
            .ok_or_else(|| rejected("the order could not be built"))?;
        emit(
            inner,
            store,
            "store/order/created",
            json!({ "type": "order", "id": id }),
        );
        if let Some(cid) = &spec.cart_id {
            if let Some(cart) = store.carts.get_mut(cid) {
                cart.converted_order = Some(id);
                cart.updated = now;
            }
            emit(
                inner,
                store,
                "store/cart/converted",
                json!({ "type": "cart", "id": cid, "orderId": id }),
            );
        }
        Ok(id)
    })
}

/// An order status change the merchant or the payment gateway makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// Payment captured → 11.
    Pay,
    /// Payment declined → 6.
    Decline,
    /// Offline payment awaited → 7.
    AwaitPayment,
    /// Fully shipped → 2.
    Ship,
    /// Cancelled → 5.
    Cancel,
    /// An authorize-only gateway: → 11 with `payment_status` `authorized`; no money yet.
    Authorize,
    /// Cash on delivery: → 11 with `payment_status` `pending`; paid when delivered.
    CashOnDelivery,
    /// The money arrives: an authorization captured, cash on delivery or an offline payment
    /// received (`payment_status` `captured`/`paid`; from 7 → 11).
    Capture,
    /// Packed, waiting for the carrier: → 9.
    AwaitShipment,
    /// Some items shipped: → 3.
    ShipPartially,
}

pub(crate) fn transition(inner: &Inner, order_id: u64, t: Transition) -> Result<(), TwinError> {
    locked(inner, |store, rng| {
        transition_locked(inner, store, rng, order_id, t)
    })
}

pub(crate) fn transition_locked(
    inner: &Inner,
    store: &mut Store,
    rng: &mut ChaCha8Rng,
    order_id: u64,
    t: Transition,
) -> Result<(), TwinError> {
    let now = inner.clock.now();
    let Some(order) = store.orders.get_mut(&order_id) else {
        return Err(TwinError::UnknownOrder(order_id));
    };
    let from = order.status_id;
    let (action, allowed, to): (&'static str, bool, u8) = match t {
        Transition::Pay => ("pay", matches!(from, 0 | 1 | 7), 11),
        Transition::Decline => ("decline", matches!(from, 0 | 1 | 7), 6),
        Transition::AwaitPayment => ("await payment for", matches!(from, 0 | 1), 7),
        Transition::Ship => ("ship", matches!(from, 3 | 9 | 11), 2),
        Transition::Cancel => ("cancel", !matches!(from, 4 | 5), 5),
        Transition::Authorize => ("authorize", matches!(from, 0 | 1), 11),
        Transition::CashOnDelivery => ("take cash on delivery for", matches!(from, 0 | 1), 11),
        Transition::Capture => (
            "capture",
            !order.paid && matches!(from, 2 | 3 | 7 | 8 | 9 | 11),
            if from == 7 { 11 } else { from },
        ),
        Transition::AwaitShipment => ("await shipment for", from == 11, 9),
        Transition::ShipPartially => ("ship part of", matches!(from, 9 | 11), 3),
    };
    if !allowed {
        return Err(TwinError::InvalidTransition {
            order_id,
            action,
            status_id: from,
            status: status_name(from),
        });
    }
    order.status_id = to;
    // `order_commit_lag`: stamped before it becomes visible, as a commit that lagged.
    let lag = inner
        .commit_lag_ms
        .load(std::sync::atomic::Ordering::Relaxed);
    order.date_modified = secs(now - chrono::Duration::milliseconds(lag as i64));
    let mut stock = 0i64;
    match t {
        Transition::Pay => {
            order.paid = true;
            order.paid_at = Some(now);
            order.payment_status = "captured";
            order.payment_method = if rng.random_bool(0.8) {
                "Credit Card"
            } else {
                "PayPal"
            };
            order.payment_provider_id = format!("ch_{:016x}", rng.random::<u64>());
            order.stock_taken = true;
            stock = -1;
        }
        Transition::Decline => order.payment_status = "declined",
        Transition::AwaitPayment => {
            order.payment_status = "pending";
            order.payment_method = "Bank Deposit";
        }
        Transition::Ship => order.date_shipped = Some(secs(now)),
        Transition::AwaitShipment | Transition::ShipPartially => {}
        Transition::Authorize | Transition::CashOnDelivery => {
            let authorize = t == Transition::Authorize;
            order.payment_status = if authorize { "authorized" } else { "pending" };
            order.payment_method = if authorize {
                "Credit Card"
            } else {
                "Cash on Delivery"
            };
            if authorize {
                order.payment_provider_id = format!("ch_{:016x}", rng.random::<u64>());
            }
            // The goods are committed at checkout.
            order.stock_taken = true;
            stock = -1;
        }
        Transition::Capture => {
            order.paid = true;
            order.paid_at = Some(now);
            order.payment_status = if order.payment_status == "authorized" {
                "captured"
            } else {
                "paid"
            };
            if !order.stock_taken {
                order.stock_taken = true;
                stock = -1;
            }
        }
        Transition::Cancel => {
            if !order.paid {
                order.payment_status = "void";
            }
            if order.stock_taken {
                order.stock_taken = false;
                stock = 1;
            }
        }
    }
    emit(
        inner,
        store,
        "store/order/updated",
        json!({ "type": "order", "id": order_id }),
    );
    if from != to {
        emit(
            inner,
            store,
            "store/order/statusUpdated",
            json!({ "type": "order", "id": order_id, "status": { "previous_status_id": from, "new_status_id": to } }),
        );
    }
    if stock != 0 {
        move_stock(inner, store, order_id, stock);
    }
    Ok(())
}

/// A merchant edit that is not a status move: a staff note, or a shipment's tracking number
/// (`date_modified` bumps, `store/order/updated` fires).
pub(crate) fn edit_order(inner: &Inner, order_id: u64, edit: OrderEdit) -> Result<(), TwinError> {
    locked(inner, |store, _| {
        let now = inner.clock.now();
        let order = store
            .orders
            .get_mut(&order_id)
            .ok_or(TwinError::UnknownOrder(order_id))?;
        match edit {
            OrderEdit::StaffNote(note) => order.staff_notes = note,
            OrderEdit::Tracking(number) => order.tracking_numbers.push(number),
        }
        order.date_modified = secs(now);
        emit(
            inner,
            store,
            "store/order/updated",
            json!({ "type": "order", "id": order_id }),
        );
        Ok(())
    })
}

/// An order edit without a status move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderEdit {
    /// Replaces the staff notes.
    StaffNote(String),
    /// Adds a shipment tracking number.
    Tracking(String),
}

/// Stock leaves (`sign` -1, on capture) or comes back (+1, on cancel or full refund); the
/// product's `date_modified` does not move.
fn move_stock(inner: &Inner, store: &mut Store, order_id: u64, sign: i64) {
    let lines: Vec<(u64, u64, u32)> = match store.orders.get(&order_id) {
        Some(o) => o
            .lines
            .iter()
            .map(|l| (l.product_id, l.variant_id, l.quantity))
            .collect(),
        None => return,
    };
    for (product_id, variant_id, qty) in lines {
        let delta = sign * i64::from(qty);
        let Some(p) = store.products.get_mut(&product_id) else {
            continue;
        };
        if sign < 0 {
            p.total_sold += u64::from(qty);
        }
        match p.tracking {
            Tracking::None => {}
            Tracking::Product => {
                p.inventory_level += delta;
                emit(
                    inner,
                    store,
                    "store/product/inventory/order/updated",
                    json!({ "type": "product", "id": product_id, "inventory": { "product_id": product_id, "method": "relative", "value": delta } }),
                );
            }
            Tracking::Variant => {
                p.inventory_level += delta;
                let sku_id = match store.variants.get_mut(&variant_id) {
                    Some(v) => {
                        v.inventory_level += delta;
                        v.sku_id.unwrap_or(v.id)
                    }
                    None => continue,
                };
                emit(
                    inner,
                    store,
                    "store/sku/inventory/order/updated",
                    json!({ "type": "sku", "id": sku_id, "inventory": { "product_id": product_id, "method": "relative", "value": delta, "variant_id": variant_id } }),
                );
            }
        }
    }
}

/// Records a refund in the store (no webhooks): `lines` empty = everything left, shipping
/// included. Sets the line and order refund state, the status (4 when every unit is refunded,
/// else 14) and the payment status. Returns (refund id, previous status).
pub(crate) fn apply_refund(
    store: &mut Store,
    order_id: u64,
    lines: &[(u64, u32)],
    at: DateTime<Utc>,
) -> Result<(u64, u8), TwinError> {
    let dp = {
        let o = store
            .orders
            .get(&order_id)
            .ok_or(TwinError::UnknownOrder(order_id))?;
        store
            .currencies
            .iter()
            .find(|c| c.code == o.currency_code)
            .map_or(2, |c| c.decimal_places)
    };
    let Some(order) = store.orders.get(&order_id) else {
        return Err(TwinError::UnknownOrder(order_id));
    };
    // (line index, units) to refund.
    let mut wanted: BTreeMap<usize, u32> = BTreeMap::new();
    let mut shipping = false;
    if lines.is_empty() {
        for (i, l) in order.lines.iter().enumerate() {
            let left = l.quantity - l.quantity_refunded;
            if left > 0 {
                wanted.insert(i, left);
            }
        }
        let t = order.totals();
        shipping = order.shipping_refunded < t.shipping_inc;
        if wanted.is_empty() && !shipping {
            return Err(rejected(format!(
                "order {order_id} has nothing left to refund"
            )));
        }
    } else {
        for (op_id, qty) in lines {
            let Some(i) = order.lines.iter().position(|l| l.id == *op_id) else {
                return Err(TwinError::UnknownOrderProduct {
                    order_id,
                    order_product_id: *op_id,
                });
            };
            if *qty == 0 || wanted.contains_key(&i) {
                return Err(rejected(format!(
                    "order product {op_id}: quantity must be at least 1 and listed once"
                )));
            }
            let l = &order.lines[i];
            if *qty > l.quantity - l.quantity_refunded {
                return Err(rejected(format!(
                    "order product {op_id}: {qty} requested, {} left to refund",
                    l.quantity - l.quantity_refunded
                )));
            }
            wanted.insert(i, *qty);
        }
    }
    let provider_id = match order.payment_method {
        "Credit Card" => "stripev3",
        "PayPal" => "paypalexpress",
        "Bank Deposit" => "bankdeposit",
        _ => "custom",
    };
    let offline = matches!(provider_id, "bankdeposit" | "custom");
    let provider_ref = order.payment_provider_id.clone();
    let refund_id = store.next("refund");
    let payment_id = store.next("refund_payment");
    let Some(order) = store.orders.get_mut(&order_id) else {
        return Err(TwinError::UnknownOrder(order_id));
    };
    // Cumulative rounding: the last unit of a line refunds exactly what is left of it.
    let share = |total: Decimal, units: u32, of: u32| -> Decimal {
        (total * Decimal::from(units) / Decimal::from(of.max(1))).round_dp(dp)
    };
    let mut amount = Decimal::ZERO;
    let mut tax = Decimal::ZERO;
    let mut items = Vec::new();
    for (i, q) in &wanted {
        let l = &mut order.lines[*i];
        let before = l.quantity_refunded;
        let after = before + q;
        amount += share(l.paid_inc(), after, l.quantity) - share(l.paid_inc(), before, l.quantity);
        tax += share(l.paid_tax(), after, l.quantity) - share(l.paid_tax(), before, l.quantity);
        l.quantity_refunded = after;
        items.push(RefundItem {
            item_type: "PRODUCT",
            item_id: l.id,
            quantity: Some(*q),
            requested_amount: None,
        });
    }
    if shipping {
        let t = order.totals();
        amount += t.shipping_inc - order.shipping_refunded;
        if order.shipping_refunded.is_zero() {
            tax += t.shipping_tax;
        }
        order.shipping_refunded = t.shipping_inc;
        items.push(RefundItem {
            item_type: "SHIPPING",
            item_id: order.shipping_address_id,
            quantity: None,
            requested_amount: None,
        });
    }
    // Amount refunds (ORDER items) came off the order total, not off a line: what is left to
    // give back is the total less every refund so far, so "everything left" ends exactly at the
    // order total.
    let left = order.totals().total_inc - order.refunded_total;
    if left <= Decimal::ZERO {
        return Err(rejected(format!(
            "order {order_id} has nothing left to refund"
        )));
    }
    if amount > left {
        amount = left;
    }
    tax = tax.min(amount);
    order.refunded_total += amount;
    let previous = order.status_id;
    let all = order
        .lines
        .iter()
        .all(|l| l.quantity_refunded == l.quantity);
    mark_refunded(order, all);
    store.refunds.insert(
        refund_id,
        Refund {
            id: refund_id,
            order_id,
            created: secs(at),
            reason: "Refund requested by the shopper".to_owned(),
            total_amount: amount,
            total_tax: tax,
            items,
            payment_id,
            provider_id,
            offline,
            transaction_id: format!("{provider_ref}-r{refund_id}"),
        },
    );
    Ok((refund_id, previous))
}

/// Records a refund of `amount` off the whole order (an `ORDER` item with `requested_amount`,
/// no tax, no stock back; reference §3.9), without webhooks. At most what is left of the order
/// total; status → 4 Refunded once the refunds reach the total, else 14. Returns (refund id,
/// previous status).
pub(crate) fn apply_amount_refund(
    store: &mut Store,
    order_id: u64,
    amount: Decimal,
    at: DateTime<Utc>,
) -> Result<(u64, u8), TwinError> {
    let (provider_id, offline, provider_ref, left) = {
        let order = store
            .orders
            .get(&order_id)
            .ok_or(TwinError::UnknownOrder(order_id))?;
        let provider_id = match order.payment_method {
            "Credit Card" => "stripev3",
            "PayPal" => "paypalexpress",
            "Bank Deposit" => "bankdeposit",
            _ => "custom",
        };
        (
            provider_id,
            matches!(provider_id, "bankdeposit" | "custom"),
            order.payment_provider_id.clone(),
            order.totals().total_inc - order.refunded_total,
        )
    };
    if amount <= Decimal::ZERO || amount.round_dp(2) != amount {
        return Err(rejected(format!(
            "refund amount {amount} must be positive with at most 2 decimals"
        )));
    }
    if amount > left {
        return Err(rejected(format!(
            "order {order_id}: {amount} requested, {left} left to refund"
        )));
    }
    let refund_id = store.next("refund");
    let payment_id = store.next("refund_payment");
    let Some(order) = store.orders.get_mut(&order_id) else {
        return Err(TwinError::UnknownOrder(order_id));
    };
    order.refunded_total += amount;
    let previous = order.status_id;
    let whole = order.refunded_total >= order.totals().total_inc;
    mark_refunded(order, whole);
    store.refunds.insert(
        refund_id,
        Refund {
            id: refund_id,
            order_id,
            created: secs(at),
            reason: "Refund requested by the shopper".to_owned(),
            total_amount: amount,
            total_tax: Decimal::ZERO,
            items: vec![RefundItem {
                item_type: "ORDER",
                item_id: order_id,
                quantity: None,
                requested_amount: Some(amount),
            }],
            payment_id,
            provider_id,
            offline,
            transaction_id: format!("{provider_ref}-r{refund_id}"),
        },
    );
    Ok((refund_id, previous))
}

/// A refund of `amount` off the whole order, with the webhooks a real store fires (see
/// [`refund`]).
pub(crate) fn refund_amount(
    inner: &Inner,
    order_id: u64,
    amount: Decimal,
) -> Result<u64, TwinError> {
    refund_by(inner, order_id, |store, now| {
        apply_amount_refund(store, order_id, amount, now)
    })
}

pub(crate) fn refund(inner: &Inner, order_id: u64, lines: &[(u64, u32)]) -> Result<u64, TwinError> {
    refund_by(inner, order_id, |store, now| {
        apply_refund(store, order_id, lines, now)
    })
}

/// Checks the order can be refunded, records the refund with `apply`, then fires
/// `store/order/refund/created`, `store/order/updated` and, when the status changed,
/// `store/order/statusUpdated`; stock comes back on a full refund.
fn refund_by(
    inner: &Inner,
    order_id: u64,
    apply: impl FnOnce(&mut Store, DateTime<Utc>) -> Result<(u64, u8), TwinError>,
) -> Result<u64, TwinError> {
    locked(inner, |store, _rng| {
        let now = inner.clock.now();
        let from = store
            .orders
            .get(&order_id)
            .map(|o| o.status_id)
            .ok_or(TwinError::UnknownOrder(order_id))?;
        if !matches!(from, 2 | 3 | 9 | 10 | 11 | 14) {
            return Err(TwinError::InvalidTransition {
                order_id,
                action: "refund",
                status_id: from,
                status: status_name(from),
            });
        }
        let (refund_id, previous) = apply(store, now)?;
        let (to, give_back) = match store.orders.get_mut(&order_id) {
            Some(o) => {
                o.date_modified = secs(now);
                let give_back = o.status_id == 4 && o.stock_taken;
                if give_back {
                    o.stock_taken = false;
                }
                (o.status_id, give_back)
            }
            None => return Err(TwinError::UnknownOrder(order_id)),
        };
        emit(
            inner,
            store,
            "store/order/refund/created",
            json!({ "type": "order", "id": order_id, "refund": { "refund_id": refund_id } }),
        );
        emit(
            inner,
            store,
            "store/order/updated",
            json!({ "type": "order", "id": order_id }),
        );
        if to != previous {
            emit(
                inner,
                store,
                "store/order/statusUpdated",
                json!({ "type": "order", "id": order_id, "status": { "previous_status_id": previous, "new_status_id": to } }),
            );
        }
        // Stock comes back on a full refund, not on a partial one.
        if give_back {
            move_stock(inner, store, order_id, 1);
        }
        Ok(refund_id)
    })
}

pub(crate) fn edit_variant(
    inner: &Inner,
    variant_id: u64,
    price: Option<Decimal>,
    inventory_level: Option<i64>,
) -> Result<(), TwinError> {
    locked(inner, |store, _rng| {
        let Some(v) = store.variants.get(&variant_id) else {
            return Err(TwinError::UnknownVariant(variant_id));
        };
        if price.is_none() && inventory_level.is_none() {
            return Err(rejected("nothing to update"));
        }
        if price.is_some_and(|p| p < Decimal::ZERO) {
            return Err(rejected("price must not be negative"));
        }
        let product_id = v.product_id;
        let sku_id = v.sku_id.unwrap_or(variant_id);
        let Some(p) = store.products.get(&product_id) else {
            return Err(TwinError::UnknownVariant(variant_id));
        };
        let tracking = p.tracking;
        if inventory_level.is_some() {
            match tracking {
                Tracking::Variant => {}
                Tracking::Product if p.base_variant_id == Some(variant_id) => {}
                Tracking::Product => {
                    return Err(rejected(format!(
                        "product {product_id} tracks inventory by product, not by variant"
                    )))
                }
                Tracking::None => {
                    return Err(rejected(format!(
                        "product {product_id} does not track inventory"
                    )))
                }
            }
        }
        if let Some(v) = store.variants.get_mut(&variant_id) {
            if let Some(price) = price {
                v.price = Some(price);
                v.sale_price = None;
            }
            if let (Some(level), Tracking::Variant) = (inventory_level, tracking) {
                v.inventory_level = level;
            }
        }
        if let Some(level) = inventory_level {
            let sum: i64 = store
                .variants
                .values()
                .filter(|v| v.product_id == product_id)
                .map(|v| v.inventory_level)
                .sum();
            if let Some(p) = store.products.get_mut(&product_id) {
                // Documented quirk: variant changes do not bump the product's date_modified.
                p.inventory_level = if tracking == Tracking::Variant {
                    sum
                } else {
                    level
                };
            }
        }
        emit(
            inner,
            store,
            "store/sku/updated",
            json!({ "type": "sku", "id": sku_id, "sku": { "product_id": product_id, "variant_id": variant_id } }),
        );
        match (inventory_level, tracking) {
            (Some(level), Tracking::Variant) => emit(
                inner,
                store,
                "store/sku/inventory/updated",
                json!({ "type": "sku", "id": sku_id, "inventory": { "product_id": product_id, "method": "absolute", "value": level, "variant_id": variant_id } }),
            ),
            (Some(level), _) => emit(
                inner,
                store,
                "store/product/inventory/updated",
                json!({ "type": "product", "id": product_id, "inventory": { "product_id": product_id, "method": "absolute", "value": level } }),
            ),
            (None, _) => {}
        }
        Ok(())
    })
}

/// The merchant deletes a variant (`store/sku/deleted`): it leaves the store and its product.
/// A product keeps at least one variant, and its base variant is never deleted this way.
pub(crate) fn delete_variant(inner: &Inner, variant_id: u64) -> Result<(), TwinError> {
    locked(inner, |store, _rng| {
        let Some(v) = store.variants.get(&variant_id) else {
            return Err(TwinError::UnknownVariant(variant_id));
        };
        let (product_id, sku_id) = (v.product_id, v.sku_id.unwrap_or(variant_id));
        let Some(p) = store.products.get(&product_id) else {
            return Err(TwinError::UnknownVariant(variant_id));
        };
        if p.base_variant_id == Some(variant_id) || p.variant_ids.len() < 2 {
            return Err(rejected(format!(
                "variant {variant_id} is the only or the base variant of product {product_id}; delete the product instead"
            )));
        }
        let tracking = p.tracking;
        store.variants.remove(&variant_id);
        let sum: i64 = store
            .variants
            .values()
            .filter(|v| v.product_id == product_id)
            .map(|v| v.inventory_level)
            .sum();
        if let Some(p) = store.products.get_mut(&product_id) {
            p.variant_ids.retain(|id| *id != variant_id);
            if tracking == Tracking::Variant {
                p.inventory_level = sum;
            }
        }
        emit(
            inner,
            store,
            "store/sku/deleted",
            json!({ "type": "sku", "id": sku_id, "sku": { "product_id": product_id, "variant_id": variant_id } }),
        );
        Ok(())
    })
}

/// Puts a variant on sale at `sale_price` (below its regular price), or ends its sale with
/// `None` (`store/sku/updated`). The regular price stays; the product's `date_modified` is not
/// bumped.
pub(crate) fn set_sale_price(
    inner: &Inner,
    variant_id: u64,
    sale_price: Option<Decimal>,
) -> Result<(), TwinError> {
    locked(inner, |store, _rng| {
        let Some(v) = store.variants.get_mut(&variant_id) else {
            return Err(TwinError::UnknownVariant(variant_id));
        };
        if sale_price.is_some_and(|p| p <= Decimal::ZERO) {
            return Err(rejected("a sale price must be positive"));
        }
        v.sale_price = sale_price;
        let (product_id, sku_id) = (v.product_id, v.sku_id.unwrap_or(variant_id));
        emit(
            inner,
            store,
            "store/sku/updated",
            json!({ "type": "sku", "id": sku_id, "sku": { "product_id": product_id, "variant_id": variant_id } }),
        );
        Ok(())
    })
}

/// An order created over `POST v2/orders` (the twin's own reading of the request).
#[derive(Debug, Clone, Default)]
pub(crate) struct RestOrder {
    /// 0 = guest.
    pub customer_id: u64,
    /// Billing address fields as sent.
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub country_iso2: String,
    /// `(variant id, quantity)`, already resolved from products.
    pub lines: Vec<(u64, u32)>,
    /// Transactional currency; `None` = store default.
    pub currency: Option<String>,
    /// Requested status (default 1 Pending).
    pub status_id: u8,
}

/// The state-machine moves that lead from Pending to a status a merchant may set, or `None`
/// when the twin does not model the status.
pub(crate) fn moves_to(status_id: u8) -> Option<&'static [Transition]> {
    match status_id {
        0 | 1 => Some(&[]),
        7 => Some(&[Transition::AwaitPayment]),
        11 => Some(&[Transition::Pay]),
        6 => Some(&[Transition::Decline]),
        5 => Some(&[Transition::Cancel]),
        2 => Some(&[Transition::Pay, Transition::Ship]),
        _ => None,
    }
}

/// `POST v2/orders`: the order is placed like a checkout (`store/order/created`, status
/// Incomplete or Pending) with `order_source` `external`, then moved through the same state machine as the shopper
/// actions to the requested status: a status of 11 also fires `updated` + `statusUpdated` and
/// takes the stock (*inferred*). A guest is matched to the person with the same canonical
/// email, or becomes a new person.
pub(crate) fn create_order_rest(inner: &Inner, req: &RestOrder) -> Result<u64, TwinError> {
    let moves = moves_to(req.status_id).ok_or_else(|| {
        rejected(format!(
            "status_id {} at creation is not simulated by the twin (0, 1, 2, 5, 6, 7, 11 are)",
            req.status_id
        ))
    })?;
    locked(inner, |store, rng| {
        if req.lines.is_empty() {
            return Err(rejected("an order needs at least one product"));
        }
        let lines = merge_lines(store, &req.lines)?;
        let currency = resolve_currency(store, req.currency.as_deref())?;
        let canonical = req.email.trim().to_lowercase();
        let person_id = if req.customer_id != 0 {
            store
                .persons
                .iter()
                .find(|p| p.customer_id == Some(req.customer_id))
                .map(|p| p.person_id)
                .ok_or(TwinError::UnknownCustomer(req.customer_id))?
        } else {
            let known = (!canonical.is_empty())
                .then(|| {
                    store
                        .persons
                        .iter()
                        .find(|p| p.email.as_deref() == Some(canonical.as_str()))
                        .map(|p| p.person_id)
                })
                .flatten();
            match known {
                Some(id) => id,
                None => add_person_locked(
                    store,
                    &ShopperSpec {
                        email: Some(req.email.clone()).filter(|e| !e.trim().is_empty()),
                        phone: Some(req.phone.clone()).filter(|p| !p.trim().is_empty()),
                        first_name: req.first_name.clone(),
                        last_name: req.last_name.clone(),
                        country_iso2: req.country_iso2.clone(),
                    },
                ),
            }
        };
        let idx = person_index(store, person_id)?;
        let now = inner.clock.now();
        let plan = seed::OrderPlan {
            person_idx: idx,
            customer_id: req.customer_id,
            at: now,
            status_id: if req.status_id == 0 { 0 } else { 1 },
            payment_status: if req.status_id == 0 { "" } else { "pending" },
            paid_at: None,
            date_modified: now,
            date_shipped: None,
        };
        let ov = Overrides {
            currency: Some(currency),
            lines: Some(lines),
            email: Some(req.email.clone()),
            phone: Some(req.phone.clone()),
            cart_id: None,
            no_coupon: true,
            order_source: Some("external"),
            ..Overrides::default()
        };
        let countries = seed::countries();
        let id = seed::build_order(store, rng, &countries, plan, ov)
            .ok_or_else(|| rejected("the order could not be built"))?;
        if let Some(o) = store.orders.get_mut(&id) {
            // The billing address is the one sent, not the person's.
            o.billing.first_name = req.first_name.clone();
            o.billing.last_name = req.last_name.clone();
        }
        emit(
            inner,
            store,
            "store/order/created",
            json!({ "type": "order", "id": id }),
        );
        for t in moves {
            transition_locked(inner, store, rng, id, *t)?;
        }
        Ok(id)
    })
}

/// `PUT v2/orders/{id}` with a `status_id`: one state-machine move (the same as the shopper
/// actions). Setting the current status again changes nothing.
pub(crate) fn set_status(inner: &Inner, order_id: u64, status_id: u8) -> Result<(), TwinError> {
    locked(inner, |store, rng| {
        let from = store
            .orders
            .get(&order_id)
            .map(|o| o.status_id)
            .ok_or(TwinError::UnknownOrder(order_id))?;
        if from == status_id {
            return Ok(());
        }
        let t = match status_id {
            11 => Transition::Pay,
            6 => Transition::Decline,
            7 => Transition::AwaitPayment,
            2 => Transition::Ship,
            5 => Transition::Cancel,
            4 | 14 => {
                return Err(rejected(
                    "refund through POST v3/orders/{id}/payment_actions/refunds",
                ))
            }
            other => {
                return Err(rejected(format!(
                    "status_id {other} is not simulated by the twin (2, 5, 6, 7, 11 are)"
                )))
            }
        };
        transition_locked(inner, store, rng, order_id, t)
    })
}

/// What a refund of `lines` would be, without recording it: (total amount, tax, payment
/// provider, offline).
pub(crate) struct QuoteTruth {
    pub amount: Decimal,
    pub tax: Decimal,
    pub provider_id: &'static str,
    pub offline: bool,
}

/// A refund quote: the refund is computed exactly as [`refund`] would record it, then undone.
pub(crate) fn refund_quote(
    inner: &Inner,
    order_id: u64,
    lines: &[(u64, u32)],
) -> Result<QuoteTruth, TwinError> {
    quote_by(inner, order_id, |store, now| {
        apply_refund(store, order_id, lines, now)
    })
}

/// The quote of a refund of `amount` off the whole order.
pub(crate) fn amount_refund_quote(
    inner: &Inner,
    order_id: u64,
    amount: Decimal,
) -> Result<QuoteTruth, TwinError> {
    quote_by(inner, order_id, |store, now| {
        apply_amount_refund(store, order_id, amount, now)
    })
}

/// Applies a refund with `apply` and rolls the store back, keeping what it would refund.
fn quote_by(
    inner: &Inner,
    order_id: u64,
    apply: impl FnOnce(&mut Store, DateTime<Utc>) -> Result<(u64, u8), TwinError>,
) -> Result<QuoteTruth, TwinError> {
    locked(inner, |store, _rng| {
        let order = store
            .orders
            .get(&order_id)
            .cloned()
            .ok_or(TwinError::UnknownOrder(order_id))?;
        if !matches!(order.status_id, 2 | 3 | 9 | 10 | 11 | 14) {
            return Err(TwinError::InvalidTransition {
                order_id,
                action: "refund",
                status_id: order.status_id,
                status: status_name(order.status_id),
            });
        }
        let next_id = store.next_id.clone();
        let applied = apply(store, inner.clock.now());
        let quote = applied.as_ref().ok().and_then(|(rid, _)| {
            store.refunds.remove(rid).map(|r| QuoteTruth {
                amount: r.total_amount,
                tax: r.total_tax,
                provider_id: r.provider_id,
                offline: r.offline,
            })
        });
        store.orders.insert(order_id, order);
        store.next_id = next_id;
        applied?;
        quote.ok_or_else(|| rejected("the quote could not be computed"))
    })
}

/// A product created over `POST v3/catalog/products` (no option variants: one base variant).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct NewProduct {
    pub name: String,
    pub sku: String,
    pub description: String,
    pub price: Decimal,
    pub sale_price: Decimal,
    pub retail_price: Decimal,
    pub cost_price: Decimal,
    pub weight: Decimal,
    /// `none` or `product`.
    pub track_by_product: bool,
    pub inventory_level: i64,
}

/// `POST v3/catalog/products`: a product with its base variant (`store/product/created`).
/// Duplicate names or SKUs are [`TwinError::Conflict`] (409 on the wire).
pub(crate) fn create_product(inner: &Inner, spec: &NewProduct) -> Result<u64, TwinError> {
    locked(inner, |store, _rng| {
        if spec.name.trim().is_empty() {
            return Err(rejected("name must not be empty"));
        }
        for (field, v) in [
            ("price", spec.price),
            ("sale_price", spec.sale_price),
            ("retail_price", spec.retail_price),
            ("cost_price", spec.cost_price),
            ("weight", spec.weight),
        ] {
            if v < Decimal::ZERO {
                return Err(rejected(format!("{field} must not be negative")));
            }
        }
        if store.products.values().any(|p| p.name == spec.name) {
            return Err(TwinError::Conflict(format!(
                "a product named {:?} already exists",
                spec.name
            )));
        }
        if !spec.sku.is_empty()
            && store
                .variants
                .values()
                .any(|v| v.sku.eq_ignore_ascii_case(&spec.sku))
        {
            return Err(TwinError::Conflict(format!(
                "the SKU {:?} is already in use",
                spec.sku
            )));
        }
        let now = secs(inner.clock.now());
        let id = store.next("product");
        let vid = store.next("variant");
        let image_id = store.next("image");
        let sku = if spec.sku.is_empty() {
            format!("SKU-{id}")
        } else {
            spec.sku.clone()
        };
        store.variants.insert(
            vid,
            super::model::Variant {
                id: vid,
                product_id: id,
                sku: sku.clone(),
                sku_id: None,
                price: None,
                sale_price: None,
                cost_price: spec.cost_price,
                weight: None,
                inventory_level: 0,
                option_values: Vec::new(),
            },
        );
        store.products.insert(
            id,
            super::model::Product {
                id,
                name: spec.name.clone(),
                sku,
                description: spec.description.clone(),
                price: spec.price,
                sale_price: spec.sale_price,
                retail_price: spec.retail_price,
                cost_price: spec.cost_price,
                weight: spec.weight,
                brand_id: 0,
                categories: Vec::new(),
                tracking: if spec.track_by_product {
                    Tracking::Product
                } else {
                    Tracking::None
                },
                inventory_level: if spec.track_by_product {
                    spec.inventory_level
                } else {
                    0
                },
                date_created: now,
                date_modified: now,
                base_variant_id: Some(vid),
                variant_ids: vec![vid],
                custom_fields: Vec::new(),
                image_id,
                total_sold: 0,
                brand: String::new(),
            },
        );
        emit(
            inner,
            store,
            "store/product/created",
            json!({ "type": "product", "id": id }),
        );
        Ok(id)
    })
}

/// What a product update changes (`None` = unchanged).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ProductPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub price: Option<Decimal>,
    pub sale_price: Option<Decimal>,
    pub retail_price: Option<Decimal>,
    pub cost_price: Option<Decimal>,
    pub inventory_level: Option<i64>,
}

/// `PUT v3/catalog/products/{id}`: bumps `date_modified`, fires `store/product/updated`, and
/// `store/product/inventory/updated` when the stock of a product-tracked product changed.
pub(crate) fn edit_product(
    inner: &Inner,
    product_id: u64,
    patch: &ProductPatch,
) -> Result<(), TwinError> {
    locked(inner, |store, _rng| {
        if *patch == ProductPatch::default() {
            return Err(rejected("nothing to update"));
        }
        let Some(p) = store.products.get(&product_id) else {
            return Err(TwinError::UnknownProduct(product_id));
        };
        for (field, v) in [
            ("price", patch.price),
            ("sale_price", patch.sale_price),
            ("retail_price", patch.retail_price),
            ("cost_price", patch.cost_price),
        ] {
            if v.is_some_and(|v| v < Decimal::ZERO) {
                return Err(rejected(format!("{field} must not be negative")));
            }
        }
        if patch.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(rejected("name must not be empty"));
        }
        if let Some(name) = &patch.name {
            if store
                .products
                .values()
                .any(|o| o.id != product_id && o.name == *name)
            {
                return Err(rejected(format!("a product named {name:?} already exists")));
            }
        }
        if patch.inventory_level.is_some() {
            match p.tracking {
                Tracking::Product => {}
                Tracking::Variant => {
                    return Err(rejected(format!(
                        "product {product_id} tracks inventory by variant; set it on the variants"
                    )))
                }
                Tracking::None => {
                    return Err(rejected(format!(
                        "product {product_id} does not track inventory"
                    )))
                }
            }
        }
        let now = inner.clock.now();
        if let Some(p) = store.products.get_mut(&product_id) {
            if let Some(v) = &patch.name {
                p.name = v.clone();
            }
            if let Some(v) = &patch.description {
                p.description = v.clone();
            }
            if let Some(v) = patch.price {
                p.price = v;
            }
            if let Some(v) = patch.sale_price {
                p.sale_price = v;
            }
            if let Some(v) = patch.retail_price {
                p.retail_price = v;
            }
            if let Some(v) = patch.cost_price {
                p.cost_price = v;
            }
            if let Some(v) = patch.inventory_level {
                p.inventory_level = v;
            }
            p.date_modified = secs(now);
        }
        emit(
            inner,
            store,
            "store/product/updated",
            json!({ "type": "product", "id": product_id }),
        );
        if let Some(level) = patch.inventory_level {
            emit(
                inner,
                store,
                "store/product/inventory/updated",
                json!({ "type": "product", "id": product_id, "inventory": { "product_id": product_id, "method": "absolute", "value": level } }),
            );
        }
        Ok(())
    })
}

pub(crate) fn deactivate_hooks(inner: &Inner) {
    let now = inner.clock.now().timestamp();
    let mut store = inner.store.lock();
    for h in store.hooks.values_mut().filter(|h| h.is_active) {
        h.is_active = false;
        h.updated_at = now;
        inner
            .counters
            .hooks_deactivated
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    inner.dispatcher.state.lock().pending.clear();
    drop(store);
    inner.dispatcher.wake.notify_one();
}

/// The status a refund leaves: Refunded (4) when `whole`, else Partially Refunded (14).
fn mark_refunded(order: &mut super::model::Order, whole: bool) {
    if whole {
        order.status_id = 4;
        order.payment_status = "refunded";
    } else {
        order.status_id = 14;
        order.payment_status = "partially refunded";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_become_e164() {
        let c = seed::countries();
        let us = &c[0];
        let de = &c[1];
        assert_eq!(e164("(512) 555-0142", us).as_deref(), Some("+15125550142"));
        assert_eq!(e164("1-512-555-0142", us).as_deref(), Some("+15125550142"));
        assert_eq!(e164("+49 30 1234567", us).as_deref(), Some("+49301234567"));
        assert_eq!(e164("030 1234567", de).as_deref(), Some("+49301234567"));
        assert_eq!(e164("0049 30 1234567", de).as_deref(), Some("+49301234567"));
        assert_eq!(e164("12", de), None);
    }
}
