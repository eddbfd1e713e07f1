//! The synthetic store: seeded history and live trading.

use std::collections::BTreeMap;

use chrono::{DateTime, SubsecRound, Utc};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde_json::json;

use super::config::{StoreSeed, TradingBurst};
use super::model::{
    Address, Country, Currency, Customer, LineOption, OptionValue, Order, OrderLine, Person,
    Product, Store, Tracking, Variant,
};
use super::shopper::{transition_locked, Transition};
use super::webhooks::emit;
use super::wire::variant_effective_price;
use super::Inner;

const FIRST: &[&str] = &[
    "Lena", "Oliver", "Amara", "Jonas", "Sofia", "Mateo", "Hana", "Lucas", "Chloe", "Noah",
    "Priya", "Elias", "Maya", "Finn", "Zoe", "Omar", "Ines", "Theo", "Yuki", "Clara",
];
const LAST: &[&str] = &[
    "Vogel", "Smith", "Okafor", "Becker", "Rossi", "Garcia", "Tanaka", "Martin", "Dubois", "Brown",
    "Patel", "Schmidt", "Nguyen", "Kowalski", "Silva", "Haddad", "Larsen", "Murphy", "Ito",
    "Klein",
];
const ADJ: &[&str] = &[
    "Organic", "Classic", "Fleece", "Merino", "Canvas", "Linen", "Trail", "Urban", "Cozy", "Alpine",
];
const NOUN: &[&str] = &[
    "Tee", "Hoodie", "Beanie", "Tote", "Jacket", "Socks", "Cap", "Scarf", "Backpack", "Mug",
];
const BRANDS: &[&str] = &["Northwind", "Contoso", "Fabrikam", "Tailspin"];
const COLORS: &[&str] = &["Red", "Blue", "Green", "Black", "White"];
const SIZES: &[&str] = &["S", "M", "L", "XL"];

pub(crate) fn countries() -> Vec<Country> {
    vec![
        Country {
            iso2: "US",
            name: "United States",
            city: "Austin",
            state: "Texas",
            zip: "78701",
            dial: "1",
            tax_rate: Decimal::new(825, 4),
            locale: "en-US",
        },
        Country {
            iso2: "DE",
            name: "Germany",
            city: "Berlin",
            state: "Berlin",
            zip: "10969",
            dial: "49",
            tax_rate: Decimal::new(19, 2),
            locale: "de-DE",
        },
        Country {
            iso2: "GB",
            name: "United Kingdom",
            city: "London",
            state: "London",
            zip: "SW1A 1AA",
            dial: "44",
            tax_rate: Decimal::new(20, 2),
            locale: "en-GB",
        },
        Country {
            iso2: "FR",
            name: "France",
            city: "Paris",
            state: "Ile-de-France",
            zip: "75001",
            dial: "33",
            tax_rate: Decimal::new(20, 2),
            locale: "fr-FR",
        },
        Country {
            iso2: "CA",
            name: "Canada",
            city: "Toronto",
            state: "Ontario",
            zip: "M5H 2N2",
            dial: "1",
            tax_rate: Decimal::new(13, 2),
            locale: "en-CA",
        },
        Country {
            iso2: "AU",
            name: "Australia",
            city: "Sydney",
            state: "New South Wales",
            zip: "2000",
            dial: "61",
            tax_rate: Decimal::new(10, 2),
            locale: "en-AU",
        },
    ]
}

/// (name, token, decimal places, units per USD, country)
fn currency_facts(code: &str) -> (&'static str, &'static str, u32, Decimal, &'static str) {
    match code {
        "USD" => ("US Dollar", "$", 2, Decimal::ONE, "US"),
        "EUR" => ("Euro", "€", 2, Decimal::new(92, 2), "DE"),
        "GBP" => ("British Pound", "£", 2, Decimal::new(79, 2), "GB"),
        "CAD" => ("Canadian Dollar", "$", 2, Decimal::new(136, 2), "CA"),
        "AUD" => ("Australian Dollar", "$", 2, Decimal::new(152, 2), "AU"),
        "JPY" => ("Japanese Yen", "¥", 0, Decimal::new(15120, 2), "JP"),
        _ => ("Currency", "¤", 2, Decimal::ONE, "US"),
    }
}

/// The enabled currencies; `codes[0]` is the store default.
pub(crate) fn currencies(codes: &[String]) -> Vec<Currency> {
    let default = codes.first().map_or("USD", String::as_str);
    let (_, _, _, default_per_usd, _) = currency_facts(default);
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for code in codes {
        let code = code.trim().to_uppercase();
        if code.is_empty() || seen.contains(&code) {
            continue;
        }
        seen.push(code.clone());
        let (name, token, dp, per_usd, iso2) = currency_facts(&code);
        out.push(Currency {
            id: out.len() as u64 + 1,
            is_default: out.is_empty(),
            rate: (per_usd / default_per_usd).round_dp(10),
            code,
            name,
            token,
            decimal_places: dp,
            country_iso2: iso2,
        });
    }
    out
}

fn rand_time(rng: &mut ChaCha8Rng, from: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
    let span = (to - from).num_milliseconds().max(1);
    let ms = rng.random_range(0..span);
    let nanos = rng.random_range(0..1_000_000);
    from + chrono::Duration::milliseconds(ms) + chrono::Duration::nanoseconds(nanos)
}

pub(crate) fn secs(dt: DateTime<Utc>) -> DateTime<Utc> {
    dt.trunc_subsecs(0)
}

fn phone_for(country: &Country, n: u64, style: u8) -> (String, String) {
    let d4 = n % 10_000;
    let d7 = 1_000_000 + n % 9_000_000;
    match country.dial {
        "1" => {
            let area = if country.iso2 == "CA" { 416 } else { 512 };
            let e164 = format!("+1{area}555{d4:04}");
            let shown = match style % 3 {
                0 => format!("({area}) 555-{d4:04}"),
                1 => format!("+1 {area}-555-{d4:04}"),
                _ => format!("{area}.555.{d4:04}"),
            };
            (e164, shown)
        }
        "44" => {
            let e164 = format!("+44207946{d4:04}");
            let shown = if style.is_multiple_of(2) {
                format!("020 7946 {d4:04}")
            } else {
                format!("+44 20 7946 {d4:04}")
            };
            (e164, shown)
        }
        "49" => {
            let e164 = format!("+4930{d7}");
            let shown = if style.is_multiple_of(2) {
                format!("030 {d7}")
            } else {
                format!("+49 30 {d7}")
            };
            (e164, shown)
        }
        "33" => {
            let e164 = format!("+331{:08}", 10_000_000 + n % 89_999_999);
            let digits = &e164[3..];
            let shown = if style.is_multiple_of(2) {
                format!("0{}", digits)
            } else {
                format!("+33 {}", digits)
            };
            (e164, shown)
        }
        _ => {
            let e164 = format!("+612{:08}", 10_000_000 + n % 89_999_999);
            let digits = &e164[4..];
            let shown = if style.is_multiple_of(2) {
                format!("(02) {digits}")
            } else {
                format!("+61 2 {digits}")
            };
            (e164, shown)
        }
    }
}

fn new_person(
    store: &mut Store,
    rng: &mut ChaCha8Rng,
    countries: &[Country],
    with_email: bool,
    with_phone: bool,
) -> usize {
    let person_id = store.persons.len() as u64 + 1;
    let first = (*FIRST.choose(rng).unwrap_or(&"Alex")).to_owned();
    let last = (*LAST.choose(rng).unwrap_or(&"Doe")).to_owned();
    let country = rng.random_range(0..countries.len());
    let domain = ["example.com", "example.org", "example.net"][rng.random_range(0..3)];
    let email = with_email.then(|| {
        format!(
            "{}.{}{}@{}",
            first.to_lowercase(),
            last.to_lowercase(),
            person_id,
            domain
        )
    });
    let (phone_e164, phone_display) = if with_phone {
        let (e, s) = phone_for(
            &countries[country],
            person_id * 7 + 13,
            rng.random_range(0..3),
        );
        (Some(e), Some(s))
    } else {
        (None, None)
    };
    store.persons.push(Person {
        person_id,
        customer_id: None,
        first_name: first,
        last_name: last,
        email,
        typed_email: None,
        phone_e164,
        phone_display,
        country,
        street: format!("{} Market Street", rng.random_range(1..400)),
        scripted: false,
    });
    store.persons.len() - 1
}

pub(crate) fn register(
    store: &mut Store,
    rng: &mut ChaCha8Rng,
    person_idx: usize,
    created: DateTime<Utc>,
    modified: DateTime<Utc>,
) -> u64 {
    let id = store.next("customer");
    let address_id = store.next("address");
    let p = &mut store.persons[person_idx];
    p.customer_id = Some(id);
    let email = p.email.clone().unwrap_or_default();
    let c = Customer {
        id,
        email,
        first_name: p.first_name.clone(),
        last_name: p.last_name.clone(),
        company: String::new(),
        phone: p.phone_display.clone().unwrap_or_default(),
        date_created: secs(created),
        date_modified: secs(modified.max(created)),
        accepts_marketing: rng.random_bool(0.4),
        registration_ip: format!("198.51.100.{}", rng.random_range(1..255)),
        country: p.country,
        street: p.street.clone(),
        address_id,
    };
    store.customers.insert(id, c);
    id
}

fn create_product(
    store: &mut Store,
    rng: &mut ChaCha8Rng,
    max_variants: usize,
    created: DateTime<Utc>,
    modified: DateTime<Utc>,
) {
    let id = store.next("product");
    let adj = *ADJ.choose(rng).unwrap_or(&"Classic");
    let noun = *NOUN.choose(rng).unwrap_or(&"Tee");
    let name = format!("{adj} {noun} {id}");
    let sku = format!(
        "{}-{}-{id}",
        &noun.to_uppercase()[..noun.len().min(4)],
        &adj.to_uppercase()[..3]
    );
    let cents = [0i64, 95, 99][rng.random_range(0..3)];
    let price = Decimal::new(rng.random_range(5..200) * 100 + cents, 2);
    let sale_price = if rng.random_bool(0.2) {
        (price * Decimal::new(8, 1)).round_dp(2)
    } else {
        Decimal::ZERO
    };
    let n_variants = rng.random_range(1..=max_variants.max(1));
    let tracking = if n_variants == 1 {
        if rng.random_bool(0.75) {
            Tracking::Product
        } else {
            Tracking::None
        }
    } else {
        match rng.random_range(0..10) {
            0 => Tracking::None,
            1 => Tracking::Product,
            _ => Tracking::Variant,
        }
    };
    let weight = Decimal::new(rng.random_range(1..30), 1);
    let cost_price = (price * Decimal::new(4, 1)).round_dp(2);
    let mut variant_ids = Vec::new();
    let mut base_variant_id = None;
    if n_variants == 1 {
        let vid = store.next("variant");
        store.variants.insert(
            vid,
            Variant {
                id: vid,
                product_id: id,
                sku: sku.clone(),
                sku_id: None,
                price: None,
                sale_price: None,
                cost_price,
                weight: None,
                inventory_level: 0,
                option_values: Vec::new(),
            },
        );
        variant_ids.push(vid);
        base_variant_id = Some(vid);
    } else {
        let color_opt = store.next("option");
        let size_opt = store.next("option");
        let mut color_vals: BTreeMap<&str, u64> = BTreeMap::new();
        let mut size_vals: BTreeMap<&str, u64> = BTreeMap::new();
        let mut combos: Vec<(&str, &str)> = Vec::new();
        for c in COLORS {
            for s in SIZES {
                combos.push((c, s));
            }
        }
        combos.shuffle(rng);
        combos.truncate(n_variants);
        for (c, s) in combos {
            let cv = match color_vals.get(c) {
                Some(v) => *v,
                None => {
                    let v = store.next("option_value");
                    color_vals.insert(c, v);
                    v
                }
            };
            let sv = match size_vals.get(s) {
                Some(v) => *v,
                None => {
                    let v = store.next("option_value");
                    size_vals.insert(s, v);
                    v
                }
            };
            let vid = store.next("variant");
            let sku_id = store.next("sku");
            let vprice = rng
                .random_bool(0.3)
                .then(|| price + Decimal::from(rng.random_range(2..10)));
            let vsale = rng
                .random_bool(0.15)
                .then(|| (vprice.unwrap_or(price) * Decimal::new(85, 2)).round_dp(2));
            store.variants.insert(
                vid,
                Variant {
                    id: vid,
                    product_id: id,
                    sku: format!("{sku}-{}-{}", c.to_uppercase(), s),
                    sku_id: Some(sku_id),
                    price: vprice,
                    sale_price: vsale,
                    cost_price,
                    weight: rng.random_bool(0.2).then(|| weight + Decimal::new(1, 1)),
                    inventory_level: if tracking == Tracking::Variant {
                        rng.random_range(0..120)
                    } else {
                        0
                    },
                    option_values: vec![
                        OptionValue {
                            id: cv,
                            label: (*c).to_owned(),
                            option_id: color_opt,
                            option_display_name: "Color".into(),
                        },
                        OptionValue {
                            id: sv,
                            label: (*s).to_owned(),
                            option_id: size_opt,
                            option_display_name: "Size".into(),
                        },
                    ],
                },
            );
            variant_ids.push(vid);
        }
    }
    let inventory_level = match tracking {
        Tracking::Variant => variant_ids
            .iter()
            .filter_map(|v| store.variants.get(v))
            .map(|v| v.inventory_level)
            .sum(),
        Tracking::Product => rng.random_range(0..300),
        Tracking::None => 0,
    };
    let mut custom_fields = Vec::new();
    if rng.random_bool(0.4) {
        let cf = store.next("custom_field");
        custom_fields.push((cf, "material".to_owned(), "100% organic cotton".to_owned()));
    }
    let image_id = store.next("image");
    store.products.insert(
        id,
        Product {
            id,
            name,
            sku,
            description: format!("<p>{adj} {noun}, made to last.</p>"),
            price,
            sale_price,
            retail_price: (price * Decimal::new(12, 1)).round_dp(2),
            cost_price,
            weight,
            brand_id: rng.random_range(1..=BRANDS.len() as u64),
            categories: vec![rng.random_range(18..30)],
            tracking,
            inventory_level,
            date_created: secs(created),
            date_modified: secs(modified.max(created)),
            base_variant_id,
            variant_ids,
            custom_fields,
            image_id,
            total_sold: 0,
            brand: BRANDS[rng.random_range(0..BRANDS.len())].to_owned(),
        },
    );
}

/// The email as a guest typed it this time (case and whitespace vary between orders).
fn typed_email(rng: &mut ChaCha8Rng, canonical: &str) -> String {
    match rng.random_range(0..20) {
        0..=11 => canonical.to_owned(),
        12..=14 => {
            let mut c = canonical.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        }
        15..=16 => canonical.to_uppercase(),
        17 => format!(" {canonical}"),
        _ => format!("{canonical} "),
    }
}

pub(crate) struct OrderPlan {
    pub person_idx: usize,
    pub customer_id: u64,
    pub at: DateTime<Utc>,
    pub status_id: u8,
    pub payment_status: &'static str,
    pub paid_at: Option<DateTime<Utc>>,
    pub date_modified: DateTime<Utc>,
    pub date_shipped: Option<DateTime<Utc>>,
}

/// What a shopper action fixes instead of the seeded draws.
#[derive(Default)]
pub(crate) struct Overrides {
    pub currency: Option<Currency>,
    pub lines: Option<Vec<(u64, u32)>>,
    /// Billing email as typed (`Some("")` for none).
    pub email: Option<String>,
    /// Billing phone as typed (`Some("")` for none).
    pub phone: Option<String>,
    pub cart_id: Option<String>,
    pub no_coupon: bool,
    /// `order_source` (default `www`; orders created over the v2 API are `external`).
    pub order_source: Option<&'static str>,
    /// The display currency the shopper browsed in (the order is then transacted in the
    /// store default).
    pub display: Option<Currency>,
    /// `Some(true)`: the SAVE10 coupon applies (store default currency only); `Some(false)`:
    /// none; `None`: the seeded draw.
    pub coupon: Option<bool>,
    /// Shipping method: 0 free, 1 flat rate (4.95), 2 express (9.95, in the store default
    /// currency); `None`: the seeded draw.
    pub shipping: Option<i32>,
}

pub(crate) fn build_order(
    store: &mut Store,
    rng: &mut ChaCha8Rng,
    countries: &[Country],
    plan: OrderPlan,
    ov: Overrides,
) -> Option<u64> {
    if store.variants.is_empty() || store.currencies.is_empty() {
        return None;
    }
    let person = store.persons.get(plan.person_idx)?.clone();
    let country = &countries[person.country];
    let currency = match ov.currency {
        Some(c) => c,
        None => {
            if rng.random_bool(0.6) || store.currencies.len() == 1 {
                store.currencies[0].clone()
            } else {
                store.currencies[rng.random_range(0..store.currencies.len())].clone()
            }
        }
    };
    let dp = currency.decimal_places;
    let chosen: Vec<(u64, Option<u32>)> = match ov.lines {
        Some(given) => given.into_iter().map(|(v, q)| (v, Some(q))).collect(),
        None => {
            let variant_ids: Vec<u64> = store.variants.keys().copied().collect();
            let n_lines = rng.random_range(1..=variant_ids.len().min(4));
            variant_ids
                .choose_multiple(rng, n_lines)
                .map(|v| (*v, None))
                .collect()
        }
    };
    let mut lines = Vec::new();
    for (vid, qty) in chosen {
        let v = store.variants.get(&vid)?.clone();
        let p = store.products.get(&v.product_id)?.clone();
        let unit_default = variant_effective_price(&p, &v);
        let price_ex = (unit_default * currency.rate).round_dp(dp);
        let price_tax = (price_ex * country.tax_rate).round_dp(dp);
        let line_id = store.next("order_product");
        let options = v
            .option_values
            .iter()
            .map(|ov| LineOption {
                id: 0,
                option_id: ov.option_id,
                display_name: ov.option_display_name.clone(),
                display_value: ov.label.clone(),
                value_id: ov.id,
            })
            .collect::<Vec<_>>();
        let mut options_with_ids = Vec::new();
        for mut op in options {
            op.id = store.next("line_option");
            options_with_ids.push(op);
        }
        lines.push(OrderLine {
            id: line_id,
            product_id: p.id,
            variant_id: v.id,
            sku: v.sku.clone(),
            name: p.name.clone(),
            brand: p.brand.clone(),
            quantity: match qty {
                Some(q) => q,
                None => rng.random_range(1..=3),
            },
            price_ex,
            price_tax,
            cost_price: (v.cost_price * currency.rate).round_dp(dp),
            discount: Decimal::ZERO,
            discount_tax: Decimal::ZERO,
            options: options_with_ids,
            weight: v.weight.unwrap_or(p.weight),
            quantity_refunded: 0,
        });
    }
    // Coupons only work in the store's default currency.
    let mut coupon = None;
    let wants_coupon = match ov.coupon {
        Some(forced) => forced,
        // Drawn exactly as before scripted coupons existed, so seeded stores stay the same.
        None => !ov.no_coupon && currency.is_default && rng.random_bool(0.25),
    };
    if wants_coupon && currency.is_default {
        let subtotal: Decimal = lines.iter().map(OrderLine::total_ex).sum();
        let discount = (subtotal * Decimal::new(10, 2)).round_dp(dp);
        if discount > Decimal::ZERO {
            let mut left = discount;
            let n = lines.len();
            for (i, l) in lines.iter_mut().enumerate() {
                let share = if i + 1 == n {
                    left
                } else {
                    (discount * l.total_ex() / subtotal).round_dp(dp).min(left)
                };
                left -= share;
                l.discount = share;
                l.discount_tax = (share * country.tax_rate).round_dp(dp);
            }
            let cid = store.next("coupon");
            coupon = Some((cid, "SAVE10".to_owned(), discount));
        }
    }
    let (shipping_usd, method) = match ov.shipping.unwrap_or_else(|| rng.random_range(0..3i32)) {
        0 => (Decimal::ZERO, "Free Shipping"),
        1 => (Decimal::new(495, 2), "Flat Rate"),
        _ => (Decimal::new(995, 2), "Express"),
    };
    let shipping_ex = (shipping_usd * currency.rate).round_dp(dp);
    let shipping_tax = (shipping_ex * country.tax_rate).round_dp(dp);
    let is_guest = plan.customer_id == 0;
    let email = match (ov.email, &person.email, is_guest) {
        (Some(e), _, _) => e,
        (None, Some(e), true) => typed_email(rng, e),
        (None, Some(e), false) => e.clone(),
        (None, None, _) => String::new(),
    };
    let phone = match (ov.phone, &person.phone_display, &person.email) {
        (Some(p), _, _) => p,
        (None, Some(p), None) => p.clone(),
        (None, Some(p), Some(_)) if rng.random_bool(0.6) => p.clone(),
        _ => String::new(),
    };
    let id = store.next("order");
    let shipping_address_id = store.next("address");
    let paid = plan.paid_at.is_some();
    let payment_method = match plan.status_id {
        7 => "Bank Deposit",
        0 | 1 => "",
        _ => {
            if rng.random_bool(0.8) {
                "Credit Card"
            } else {
                "PayPal"
            }
        }
    };
    let order = Order {
        id,
        customer_id: plan.customer_id,
        person_id: person.person_id,
        date_created: secs(plan.at),
        date_modified: secs(plan.date_modified.max(plan.at)),
        date_shipped: plan.date_shipped.map(secs),
        status_id: plan.status_id,
        payment_status: plan.payment_status,
        payment_method,
        payment_provider_id: if paid {
            format!("ch_{:016x}", rng.random::<u64>())
        } else {
            String::new()
        },
        currency_id: currency.id,
        currency_code: currency.code.clone(),
        rate: currency.rate,
        store_default_currency: store.currencies[0].code.clone(),
        multi_currency: store.currencies.len() > 1,
        billing: Address {
            first_name: person.first_name.clone(),
            last_name: person.last_name.clone(),
            company: String::new(),
            street_1: person.street.clone(),
            city: country.city.to_owned(),
            state: country.state.to_owned(),
            zip: country.zip.to_owned(),
            country: country.name.to_owned(),
            country_iso2: country.iso2.to_owned(),
            phone,
            email,
        },
        shipping_address_id,
        shipping_method: method,
        shipping_ex,
        shipping_tax,
        coupon,
        lines,
        cart_id: match ov.cart_id {
            Some(c) => c,
            None => uuid_like(rng),
        },
        paid_at: plan.paid_at,
        paid,
        ip_address: format!("203.0.113.{}", rng.random_range(1..255)),
        is_email_opt_in: rng.random_bool(0.3),
        customer_locale: country.locale,
        order_source: ov.order_source.unwrap_or("www"),
        geoip_country: country.name.to_owned(),
        geoip_iso2: country.iso2.to_owned(),
        refunded_total: Decimal::ZERO,
        shipping_refunded: Decimal::ZERO,
        stock_taken: false,
        display: ov.display.map(|d| (d.id, d.code, d.rate)),
        staff_notes: String::new(),
        tracking_numbers: Vec::new(),
    };
    if paid {
        for l in &order.lines {
            if let Some(p) = store.products.get_mut(&l.product_id) {
                p.total_sold += u64::from(l.quantity);
            }
        }
    }
    store.orders.insert(id, order);
    Some(id)
}

pub(crate) fn uuid_like(rng: &mut ChaCha8Rng) -> String {
    let a: u128 = rng.random();
    let h = format!("{a:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// History: silent, deterministic from `config.seed`.
pub(crate) fn seed_store(inner: &Inner, seed: &StoreSeed) {
    let now = inner.clock.now();
    let countries = countries();
    let mut rng = ChaCha8Rng::seed_from_u64(inner.config.seed ^ 0x05EE_D570_4E00);
    let mut store = inner.store.lock();
    let mut codes = vec![inner.config.store_default_currency.to_uppercase()];
    codes.extend(seed.currencies.iter().map(|c| c.trim().to_uppercase()));
    store.currencies = currencies(&codes);

    let span_days = i64::from(seed.history_days.max(1));
    let start = now - chrono::Duration::days(span_days);
    let before = start - chrono::Duration::days(365);
    let latest = now - chrono::Duration::minutes(10);

    for _ in 0..seed.products {
        let created = rand_time(&mut rng, before, start);
        let modified = if rng.random_bool(0.5) {
            rand_time(&mut rng, created, latest)
        } else {
            created
        };
        create_product(
            &mut store,
            &mut rng,
            seed.max_variants_per_product,
            created,
            modified,
        );
    }

    // Registered customers; some are former guests who register mid-history.
    let guest_share = f64::from(seed.guest_share_per_mille.min(1000)) / 1000.0;
    let expected_guest_orders = (seed.historical_orders as f64 * guest_share).round() as usize;
    let former_guests = if expected_guest_orders > 0 {
        seed.customers * 15 / 100
    } else {
        0
    };
    let mid = start + (now - start) / 2;
    let mut regs: Vec<(usize, DateTime<Utc>, bool)> = Vec::new();
    for i in 0..seed.customers {
        let with_phone = rng.random_bool(0.5);
        let idx = new_person(&mut store, &mut rng, &countries, true, with_phone);
        let former = i < former_guests;
        let created = if former {
            rand_time(&mut rng, mid, latest)
        } else {
            rand_time(&mut rng, before, latest)
        };
        regs.push((idx, created, former));
    }
    regs.sort_by_key(|r| r.1);
    let mut customers_at: Vec<(usize, DateTime<Utc>, bool)> = Vec::new();
    for (idx, created, former) in regs {
        let modified = if rng.random_bool(0.3) {
            rand_time(&mut rng, created, latest)
        } else {
            created
        };
        register(&mut store, &mut rng, idx, created, modified);
        customers_at.push((idx, secs(created), former));
    }

    // Pure guests (never register during history).
    let n_guests = if expected_guest_orders > 0 {
        (expected_guest_orders * 2 / 3).max(1)
    } else {
        0
    };
    let phone_only = f64::from(seed.phone_only_guest_per_mille.min(1000)) / 1000.0;
    let mut guests: Vec<usize> = Vec::new();
    for _ in 0..n_guests {
        let p_only = rng.random_bool(phone_only);
        let idx = if p_only {
            new_person(&mut store, &mut rng, &countries, false, true)
        } else {
            let with_phone = rng.random_bool(0.4);
            new_person(&mut store, &mut rng, &countries, true, with_phone)
        };
        guests.push(idx);
    }

    let mut times: Vec<DateTime<Utc>> = (0..seed.historical_orders)
        .map(|_| rand_time(&mut rng, start, latest))
        .collect();
    times.sort();
    for t in times {
        let t = secs(t);
        let want_guest = rng.random_bool(guest_share);
        let pick = pick_person(&mut rng, &customers_at, &guests, t, want_guest)
            .or_else(|| pick_person(&mut rng, &customers_at, &guests, t, !want_guest));
        let (person_idx, registered) = match pick {
            Some(p) => p,
            None => match customers_at.first() {
                // Everyone registered later: this is a guest checkout of a future customer.
                Some(c) => (c.0, false),
                None => continue,
            },
        };
        let customer_id = if registered {
            store.persons[person_idx].customer_id.unwrap_or(0)
        } else {
            0
        };
        let plan = historical_plan(&mut rng, person_idx, customer_id, t, now);
        let status = plan.status_id;
        let refunded_at = plan.date_modified;
        let id = build_order(&mut store, &mut rng, &countries, plan, Overrides::default());
        // Refunded history has its v3 refund records (no draws: the seeded stream is unchanged).
        if let (Some(id), 4 | 14) = (id, status) {
            let lines: Vec<(u64, u32)> = match status {
                4 => Vec::new(),
                _ => {
                    let o = &store.orders[&id];
                    match o.lines.first() {
                        Some(l) if o.totals().items_total > 1 => vec![(l.id, 1)],
                        _ => continue,
                    }
                }
            };
            let _ = super::shopper::apply_refund(&mut store, id, &lines, secs(refunded_at));
        }
    }
}

/// Returns (person index, registered at `t`).
fn pick_person(
    rng: &mut ChaCha8Rng,
    customers_at: &[(usize, DateTime<Utc>, bool)],
    guests: &[usize],
    t: DateTime<Utc>,
    guest: bool,
) -> Option<(usize, bool)> {
    if guest {
        if rng.random_bool(0.3) {
            for _ in 0..6 {
                if let Some(c) = customers_at.choose(rng) {
                    if c.2 && c.1 > t {
                        return Some((c.0, false));
                    }
                }
            }
        }
        guests.choose(rng).map(|g| (*g, false))
    } else {
        for _ in 0..24 {
            if let Some(c) = customers_at.choose(rng) {
                if c.1 <= t {
                    return Some((c.0, true));
                }
            }
        }
        customers_at
            .iter()
            .filter(|c| c.1 <= t)
            .collect::<Vec<_>>()
            .choose(rng)
            .map(|c| (c.0, true))
    }
}

fn historical_plan(
    rng: &mut ChaCha8Rng,
    person_idx: usize,
    customer_id: u64,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> OrderPlan {
    const WEIGHTS: [(u8, u32); 9] = [
        (2, 28),
        (10, 14),
        (11, 22),
        (0, 5),
        (7, 6),
        (5, 6),
        (6, 5),
        (4, 5),
        (14, 9),
    ];
    let total: u32 = WEIGHTS.iter().map(|w| w.1).sum();
    let mut roll = rng.random_range(0..total);
    let mut status_id = 11;
    for (s, w) in WEIGHTS {
        if roll < w {
            status_id = s;
            break;
        }
        roll -= w;
    }
    let cap = |dt: DateTime<Utc>| dt.min(now);
    let paid_at = matches!(status_id, 2 | 10 | 11 | 4 | 14).then(|| {
        cap(rand_time(
            rng,
            at + chrono::Duration::seconds(2),
            at + chrono::Duration::seconds(600),
        ))
    });
    let payment_status = match status_id {
        2 | 10 | 11 => {
            if rng.random_bool(0.75) {
                "captured"
            } else {
                "paid"
            }
        }
        0 => "",
        7 => "pending",
        5 => "void",
        6 => "declined",
        4 => "refunded",
        _ => "partially refunded",
    };
    let later = |rng: &mut ChaCha8Rng, from: DateTime<Utc>, min_h: i64, max_h: i64| {
        cap(rand_time(
            rng,
            from + chrono::Duration::hours(min_h),
            from + chrono::Duration::hours(max_h),
        ))
    };
    let base = paid_at.unwrap_or(at);
    let (date_modified, date_shipped) = match status_id {
        0 => (at, None),
        7 => (
            at + chrono::Duration::seconds(rng.random_range(1..120)),
            None,
        ),
        5 | 6 => (later(rng, at, 1, 72), None),
        10 | 11 => (base, None),
        2 => {
            let shipped = later(rng, base, 12, 120);
            (shipped, Some(shipped))
        }
        _ => (later(rng, base, 48, 480), None),
    };
    OrderPlan {
        person_idx,
        customer_id,
        at,
        status_id,
        payment_status,
        paid_at,
        date_modified: cap(date_modified),
        date_shipped,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    CreateOrder(usize),
    SettleOrder(usize),
    NewCustomer,
    EditVariant,
}

/// Live trading: actions spread evenly over `burst.over` on the clock.
pub(crate) async fn run_trading(inner: &Inner, burst: &TradingBurst) {
    let actions = {
        let mut store = inner.store.lock();
        store.bursts += 1;
        let rng = &mut store.rng;
        let mut base: Vec<Action> = (0..burst.orders).map(Action::CreateOrder).collect();
        base.extend(std::iter::repeat_n(
            Action::NewCustomer,
            burst.new_customers,
        ));
        base.extend(std::iter::repeat_n(
            Action::EditVariant,
            burst.variant_edits,
        ));
        base.shuffle(rng);
        for k in 0..burst.orders {
            let pos = base
                .iter()
                .position(|a| *a == Action::CreateOrder(k))
                .unwrap_or(0);
            let at = rng.random_range(pos + 1..=base.len());
            base.insert(at, Action::SettleOrder(k));
        }
        base
    };
    if actions.is_empty() {
        return;
    }
    let step = burst.over / u32::try_from(actions.len()).unwrap_or(u32::MAX);
    let mut order_ids: BTreeMap<usize, u64> = BTreeMap::new();
    let countries = countries();
    for action in actions {
        inner.clock.sleep(step).await;
        let mut guard = inner.store.lock();
        let store = &mut *guard;
        let mut rng = store.rng.clone();
        match action {
            Action::CreateOrder(k) => {
                if let Some(id) = live_create_order(inner, store, &mut rng, &countries) {
                    order_ids.insert(k, id);
                }
            }
            Action::SettleOrder(k) => {
                if let Some(id) = order_ids.get(&k) {
                    live_settle_order(inner, store, &mut rng, *id);
                }
            }
            Action::NewCustomer => live_new_customer(inner, store, &mut rng, &countries),
            Action::EditVariant => live_edit_variant(inner, store, &mut rng),
        }
        store.rng = rng;
    }
}

fn live_create_order(
    inner: &Inner,
    store: &mut Store,
    rng: &mut ChaCha8Rng,
    countries: &[Country],
) -> Option<u64> {
    let now = inner.clock.now();
    let roll = rng.random_range(0..10);
    let registered: Vec<usize> = store
        .persons
        .iter()
        .enumerate()
        .filter(|(_, p)| p.customer_id.is_some() && !p.scripted)
        .map(|(i, _)| i)
        .collect();
    let old_guests: Vec<usize> = store
        .persons
        .iter()
        .enumerate()
        .filter(|(_, p)| p.customer_id.is_none() && !p.scripted)
        .map(|(i, _)| i)
        .collect();
    let (person_idx, customer_id) = if roll < 5 && !registered.is_empty() {
        let idx = *registered.choose(rng)?;
        (idx, store.persons[idx].customer_id.unwrap_or(0))
    } else if roll < 7 && !old_guests.is_empty() {
        (*old_guests.choose(rng)?, 0)
    } else {
        let phone_only = rng.random_bool(0.1);
        let with_phone = phone_only || rng.random_bool(0.4);
        let idx = new_person(store, rng, countries, !phone_only, with_phone);
        (idx, 0)
    };
    let (status_id, payment_status) = if rng.random_bool(0.8) {
        (0, "")
    } else {
        (1, "pending")
    };
    let plan = OrderPlan {
        person_idx,
        customer_id,
        at: now,
        status_id,
        payment_status,
        paid_at: None,
        date_modified: now,
        date_shipped: None,
    };
    let id = build_order(store, rng, countries, plan, Overrides::default())?;
    emit(
        inner,
        store,
        "store/order/created",
        json!({ "type": "order", "id": id }),
    );
    Some(id)
}

fn live_settle_order(inner: &Inner, store: &mut Store, rng: &mut ChaCha8Rng, id: u64) {
    let roll = rng.random_range(0..100);
    let t = match roll {
        0..=84 => Transition::Pay,
        85..=92 => Transition::Decline,
        _ => Transition::AwaitPayment,
    };
    // A live order is always Incomplete or Pending here, so every transition is allowed.
    let _ = transition_locked(inner, store, rng, id, t);
}

fn live_new_customer(
    inner: &Inner,
    store: &mut Store,
    rng: &mut ChaCha8Rng,
    countries: &[Country],
) {
    let now = inner.clock.now();
    let converting: Vec<usize> = store
        .persons
        .iter()
        .enumerate()
        .filter(|(_, p)| p.customer_id.is_none() && p.email.is_some() && !p.scripted)
        .map(|(i, _)| i)
        .collect();
    let idx = match converting.choose(rng) {
        Some(i) if rng.random_bool(0.3) => *i,
        _ => {
            let with_phone = rng.random_bool(0.5);
            new_person(store, rng, countries, true, with_phone)
        }
    };
    let id = register(store, rng, idx, now, now);
    emit(
        inner,
        store,
        "store/customer/created",
        json!({ "type": "customer", "id": id }),
    );
}

fn live_edit_variant(inner: &Inner, store: &mut Store, rng: &mut ChaCha8Rng) {
    let editable: Vec<u64> = store
        .variants
        .values()
        .filter(|v| v.sku_id.is_some())
        .map(|v| v.id)
        .collect();
    let Some(vid) = editable.choose(rng).copied() else {
        return;
    };
    let Some(v) = store.variants.get(&vid) else {
        return;
    };
    let product_id = v.product_id;
    let sku_id = v.sku_id.unwrap_or(vid);
    let Some(tracking) = store
        .products
        .get(&product_id)
        .map(|p| (p.tracking, p.price))
    else {
        return;
    };
    let (tracking, product_price) = tracking;
    let kind = rng.random_range(0..10);
    let mut inventory_changed = None;
    if let Some(v) = store.variants.get_mut(&vid) {
        if kind < 4 || (kind >= 7 && tracking != Tracking::Variant) {
            let base = v.price.unwrap_or(product_price);
            v.price = Some(base + Decimal::new(rng.random_range(100..500), 2));
        } else if kind < 7 {
            v.sale_price = match v.sale_price {
                Some(_) => None,
                None => Some((v.price.unwrap_or(product_price) * Decimal::new(9, 1)).round_dp(2)),
            };
        } else {
            let level = rng.random_range(0..150);
            inventory_changed = Some(level);
            v.inventory_level = level;
        }
    }
    if inventory_changed.is_some() {
        let sum: i64 = store
            .variants
            .values()
            .filter(|v| v.product_id == product_id)
            .map(|v| v.inventory_level)
            .sum();
        if let Some(p) = store.products.get_mut(&product_id) {
            // Documented quirk: variant changes do not bump the product's date_modified.
            p.inventory_level = sum;
        }
    }
    emit(
        inner,
        store,
        "store/sku/updated",
        json!({ "type": "sku", "id": sku_id, "sku": { "product_id": product_id, "variant_id": vid } }),
    );
    if let Some(level) = inventory_changed {
        emit(
            inner,
            store,
            "store/sku/inventory/updated",
            json!({ "type": "sku", "id": sku_id, "inventory": { "product_id": product_id, "method": "absolute", "value": level, "variant_id": vid } }),
        );
    }
}
