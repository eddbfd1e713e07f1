//! Reconciliation: what BigCommerce was paid against what Bloomreach acknowledged, per day (in
//! the store's time zone) and currency.
//!
//! The comparison is pure. The BigCommerce side is a listing of orders (never the local
//! snapshots: a store that missed an order cannot vouch for it) with their refunds; the
//! Bloomreach side is the delivery ledger: the `purchase` events Bloomreach acknowledged. Each
//! paid order lands in one class ([`Class`]), each refund in one of its own, and the day rows
//! add them up in exact decimals. Amounts are compared in the shopper's currency
//! (`total_price_local_currency` with `local_currency`), which both sides carry unconverted.
//!
//! The vocabulary and the CSV columns are written down in `data/contract/reconciliation.md`.

use std::collections::{BTreeMap, BTreeSet};
use ts_rs::TS;

use bigreach_bigcommerce::Order;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::map::payment::{OrderMapping, PaymentState};

/// The longest range one reconciliation covers.
pub const MAX_DAYS: i64 = 366;

/// Which days to reconcile (inclusive, in the store's time zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct DayRange {
    /// First day.
    pub from: NaiveDate,
    /// Last day (inclusive).
    pub to: NaiveDate,
}

/// A range that cannot be reconciled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// `to` is before `from`.
    #[error("the range ends ({to}) before it starts ({from}); give --from on or before --to")]
    Backwards {
        /// First day.
        from: NaiveDate,
        /// Last day.
        to: NaiveDate,
    },
    /// Too many days at once.
    #[error("{days} days is more than {MAX_DAYS} at once; reconcile a shorter range")]
    TooLong {
        /// Days asked for.
        days: i64,
    },
}

impl DayRange {
    /// A checked range.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Self, RangeError> {
        if to < from {
            return Err(RangeError::Backwards { from, to });
        }
        let days = (to - from).num_days() + 1;
        if days > MAX_DAYS {
            return Err(RangeError::TooLong { days });
        }
        Ok(Self { from, to })
    }

    /// Whether `day` is in the range.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.from <= day && day <= self.to
    }

    /// The first instant of `from` and the first instant after `to`, in `zone`, as UTC.
    pub fn bounds(&self, zone: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = day_start(zone, self.from);
        let end = day_start(zone, self.to.succ_opt().unwrap_or(self.to));
        (start, end)
    }
}

/// The first instant of `day` in `zone` (the earliest, where a DST change repeats midnight; the
/// first valid instant, where it skips it).
fn day_start(zone: Tz, day: NaiveDate) -> DateTime<Utc> {
    let mut at = day.and_time(chrono::NaiveTime::MIN);
    for _ in 0..4 {
        if let Some(local) = zone.from_local_datetime(&at).earliest() {
            return local.with_timezone(&Utc);
        }
        at += chrono::Duration::minutes(30);
    }
    Utc.from_utc_datetime(&day.and_time(chrono::NaiveTime::MIN))
}

/// The store's time zone from its IANA name; UTC when the name is empty or unknown.
pub fn store_zone(name: &str) -> Tz {
    name.parse().unwrap_or(Tz::UTC)
}

/// A refund as BigCommerce lists it (v3 payment actions), amounts in the order's currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRefund {
    /// Refund id.
    pub id: u64,
    /// The order it belongs to.
    pub order_id: u64,
    /// When it was processed.
    pub created: DateTime<Utc>,
    /// Amount refunded (incl. tax), the order's transactional currency.
    pub amount: Decimal,
}

/// An acknowledged `purchase` event, as read from the delivery ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveredPurchase {
    /// The command id.
    pub command_id: u64,
    /// `purchase_id` (the order id).
    pub order_id: u64,
    /// `purchase_status`.
    pub status: String,
    /// `refund_id`, on refund events.
    pub refund_id: Option<u64>,
    /// `total_price_local_currency`.
    pub amount: Decimal,
    /// `local_currency`.
    pub currency: String,
    /// The event's timestamp.
    pub at: DateTime<Utc>,
}

impl DeliveredPurchase {
    /// Reads a `purchase` event's batch `data` (`event_type`, `timestamp`, `properties`); `None`
    /// for other events and for payloads without an order id.
    pub fn from_event(command_id: u64, payload: &[u8]) -> Option<Self> {
        let data: serde_json::Value = serde_json::from_slice(payload).ok()?;
        if data.get("event_type")?.as_str()? != "purchase" {
            return None;
        }
        let properties = data.get("properties")?;
        let order_id = properties.get("purchase_id")?.as_u64()?;
        let status = properties
            .get("purchase_status")
            .and_then(|s| s.as_str())
            .unwrap_or_default()
            .to_owned();
        let amount = properties
            .get("total_price_local_currency")
            .or_else(|| properties.get("total_price"))
            .and_then(json_decimal)
            .unwrap_or_default();
        let currency = properties
            .get("local_currency")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .to_owned();
        let at = data
            .get("timestamp")
            .and_then(|t| t.as_f64())
            .and_then(|secs| DateTime::from_timestamp_millis((secs * 1000.0).round() as i64))
            .unwrap_or_default();
        let refund_id = properties.get("refund_id").and_then(|r| r.as_u64());
        Some(Self {
            command_id,
            order_id,
            status,
            refund_id,
            amount,
            currency,
            at,
        })
    }
}

/// A JSON number or numeric string as an exact decimal (the number's own digits, never through
/// f64).
fn json_decimal(value: &serde_json::Value) -> Option<Decimal> {
    match value {
        serde_json::Value::Number(n) => {
            let text = n.to_string();
            text.parse::<Decimal>()
                .ok()
                .or_else(|| Decimal::from_scientific(&text).ok())
        }
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// What an order (or a refund) came out as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Both sides agree (once, same amount and currency).
    Matched,
    /// Paid in BigCommerce, not acknowledged by Bloomreach.
    Missing,
    /// Acknowledged by Bloomreach, not paid in BigCommerce (in this range).
    Extra,
    /// Acknowledged more than once.
    Duplicate,
    /// Acknowledged once, with another amount or currency.
    AmountMismatch,
}

impl Class {
    /// The name used in the report and the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Class::Matched => "matched",
            Class::Missing => "missing",
            Class::Extra => "extra",
            Class::Duplicate => "duplicate",
            Class::AmountMismatch => "amount_mismatch",
        }
    }
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// A sale (`purchase` with the success status).
    Sale,
    /// A refund (`purchase` with the refund status).
    Refund,
}

/// One order or refund that did not match, with both sides' figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Finding {
    /// Sale or refund.
    pub subject: Subject,
    /// The class.
    pub class: Class,
    /// The BigCommerce order id.
    pub order_id: u64,
    /// The refund id, for refunds.
    pub refund_id: Option<u64>,
    /// The day it counts on (store time zone).
    pub day: NaiveDate,
    /// The shopper's currency.
    pub currency: String,
    /// BigCommerce's amount, when BigCommerce has it.
    #[ts(type = "string | null")]
    pub bigcommerce_amount: Option<Decimal>,
    /// Bloomreach's amount (the first acknowledgement), when Bloomreach has it.
    #[ts(type = "string | null")]
    pub bloomreach_amount: Option<Decimal>,
    /// How many times Bloomreach acknowledged it.
    pub acknowledged: u32,
    /// What BigReach knows of it (filled in by the application API: pending, dead letter,
    /// withheld, never seen…).
    pub note: String,
}

/// One day and currency, both sides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct DayRow {
    /// The day (store time zone).
    pub day: Option<NaiveDate>,
    /// ISO 4217 code of the shopper's currency.
    pub currency: String,
    /// Paid orders created that day.
    pub bigcommerce_orders: u64,
    /// Their totals incl. tax.
    #[ts(type = "string")]
    pub bigcommerce_gross: Decimal,
    /// Their discounts (order discounts plus coupons).
    #[ts(type = "string")]
    pub bigcommerce_discounts: Decimal,
    /// Their tax.
    #[ts(type = "string")]
    pub bigcommerce_tax: Decimal,
    /// Their shipping incl. tax.
    #[ts(type = "string")]
    pub bigcommerce_shipping: Decimal,
    /// Refunds processed that day.
    #[ts(type = "string")]
    pub bigcommerce_refunds: Decimal,
    /// Gross less refunds.
    #[ts(type = "string")]
    pub bigcommerce_net: Decimal,
    /// Paid orders cancelled that day (shown, not subtracted: the money goes back as a refund).
    pub bigcommerce_cancelled: u64,
    /// Orders created that day that are not paid (held, cancelled before payment): left out of
    /// both sides by policy.
    pub bigcommerce_unpaid: u64,
    /// Sales Bloomreach acknowledged that day (each order once).
    pub bloomreach_orders: u64,
    /// Their totals.
    #[ts(type = "string")]
    pub bloomreach_gross: Decimal,
    /// Refund events Bloomreach acknowledged that day (each refund once).
    #[ts(type = "string")]
    pub bloomreach_refunds: Decimal,
    /// Gross less refunds.
    #[ts(type = "string")]
    pub bloomreach_net: Decimal,
    /// Cancellations Bloomreach acknowledged that day.
    pub bloomreach_cancelled: u64,
    /// Sales and refunds in each class.
    pub matched: u64,
    /// Missing in Bloomreach.
    pub missing: u64,
    /// Only in Bloomreach.
    pub extra: u64,
    /// Acknowledged more than once.
    pub duplicate: u64,
    /// Different amounts.
    pub amount_mismatch: u64,
    /// `bigcommerce_net − bloomreach_net`.
    #[ts(type = "string")]
    pub difference: Decimal,
}

impl DayRow {
    /// Every amount with two decimal places (more only where an amount has them).
    fn tidy(&mut self) {
        for amount in [
            &mut self.bigcommerce_gross,
            &mut self.bigcommerce_discounts,
            &mut self.bigcommerce_tax,
            &mut self.bigcommerce_shipping,
            &mut self.bigcommerce_refunds,
            &mut self.bigcommerce_net,
            &mut self.bloomreach_gross,
            &mut self.bloomreach_refunds,
            &mut self.bloomreach_net,
            &mut self.difference,
        ] {
            *amount = to_cents(*amount);
        }
    }

    /// Whether both sides agree on this row.
    pub fn balanced(&self) -> bool {
        self.missing == 0
            && self.extra == 0
            && self.duplicate == 0
            && self.amount_mismatch == 0
            && self.difference.is_zero()
    }
}

/// A reconciliation: the rows, the findings and whether it balances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Reconciliation {
    /// The days.
    pub range: DayRange,
    /// The store's time zone (IANA name).
    pub time_zone: String,
    /// When it was made.
    pub generated_at: DateTime<Utc>,
    /// One row per day and currency with any activity, by day then currency.
    pub rows: Vec<DayRow>,
    /// One total row per currency over the range.
    pub totals: Vec<DayRow>,
    /// Everything that is not matched, by day then order.
    pub findings: Vec<Finding>,
    /// Whether every row balances (the sign-off line).
    pub balanced: bool,
    /// What `--repair` did, when asked.
    pub repair: Option<Repair>,
}

/// What a repair did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Repair {
    /// Orders re-read into the pipeline (their missing events are enqueued once).
    pub orders_resent: Vec<u64>,
    /// Dead letters put back in their lane.
    pub dead_letters_replayed: Vec<u64>,
    /// Missing events already on their way (pending in the outbox): nothing to do.
    pub already_pending: Vec<u64>,
    /// Missing events an operator discarded: left alone.
    pub left_discarded: Vec<u64>,
}

/// What BigCommerce says, listed for the range.
#[derive(Debug, Clone, Default)]
pub struct BigCommerceSide {
    /// Orders created in the range, and orders with refunds or cancellations in it.
    pub orders: Vec<Order>,
    /// Refunds of those orders.
    pub refunds: Vec<SourceRefund>,
}

/// The names of `purchase_status` that mark a sale, a refund and a cancellation.
#[derive(Debug, Clone)]
pub struct StatusNames {
    /// Sale.
    pub success: String,
    /// Refund.
    pub refund: String,
    /// Cancellation.
    pub cancelled: String,
    /// An amount edit on a paid order (the event carries the change).
    pub adjusted: String,
}

impl StatusNames {
    /// The names the order mapping sends.
    pub fn of(mapping: &OrderMapping) -> Self {
        Self {
            success: mapping.success.clone(),
            refund: mapping.refund.clone(),
            cancelled: mapping.cancelled.clone(),
            adjusted: mapping.adjusted.clone(),
        }
    }
}

/// Compares both sides over `range` in `zone`.
pub fn compare(
    range: DayRange,
    zone: Tz,
    mapping: &OrderMapping,
    names: &StatusNames,
    bigcommerce: &BigCommerceSide,
    delivered: &[DeliveredPurchase],
    now: DateTime<Utc>,
) -> Reconciliation {
    let day_of = |at: DateTime<Utc>| at.with_timezone(&zone).date_naive();
    let mut rows: BTreeMap<(NaiveDate, String), DayRow> = BTreeMap::new();
    let mut findings = Vec::new();

    // Bloomreach: acknowledged sales, refunds and cancellations, by order and refund.
    let mut sales: BTreeMap<u64, Vec<&DeliveredPurchase>> = BTreeMap::new();
    let mut refunds: BTreeMap<u64, Vec<&DeliveredPurchase>> = BTreeMap::new();
    let mut cancellations: BTreeSet<u64> = BTreeSet::new();
    // Amount edits of paid orders, each acknowledged event once (by command).
    let mut adjustments: BTreeMap<u64, Decimal> = BTreeMap::new();
    let mut adjustment_commands = BTreeSet::new();
    for purchase in delivered {
        if purchase.status == names.success || purchase.status.is_empty() {
            sales.entry(purchase.order_id).or_default().push(purchase);
        } else if purchase.status == names.adjusted {
            if adjustment_commands.insert(purchase.command_id) {
                *adjustments.entry(purchase.order_id).or_default() += purchase.amount;
            }
        } else if purchase.status == names.refund {
            if let Some(id) = purchase.refund_id {
                refunds.entry(id).or_default().push(purchase);
            }
        } else if purchase.status == names.cancelled
            && range.contains(day_of(purchase.at))
            && cancellations.insert(purchase.order_id)
        {
            row(&mut rows, day_of(purchase.at), &purchase.currency).bloomreach_cancelled += 1;
        }
    }

    // BigCommerce: paid orders created in the range.
    let mut paid_seen = BTreeSet::new();
    for order in &bigcommerce.orders {
        let state = mapping.state(order);
        let currency = local_currency(order);
        if state == PaymentState::CancelledAfterPayment
            && range.contains(day_of(order.date_modified))
        {
            row(&mut rows, day_of(order.date_modified), &currency).bigcommerce_cancelled += 1;
        }
        let day = day_of(order.date_created);
        if !range.contains(day) || !paid_seen.insert(order.id) {
            continue;
        }
        if !state.was_paid() {
            row(&mut rows, day, &currency).bigcommerce_unpaid += 1;
            continue;
        }
        let r = row(&mut rows, day, &currency);
        r.bigcommerce_orders += 1;
        r.bigcommerce_gross += order.total_inc_tax;
        r.bigcommerce_discounts += order.discount_amount + order.coupon_discount;
        r.bigcommerce_tax += order.total_tax;
        r.bigcommerce_shipping += order.shipping_cost_inc_tax;
        let acks = sales.remove(&order.id).unwrap_or_default();
        // Bloomreach's amount for a sale: the sale event plus the changes of any amount edits.
        let adjustment = adjustments.remove(&order.id).unwrap_or_default();
        let class = classify(order.total_inc_tax - adjustment, &currency, &acks);
        if let Some(first) = acks.first() {
            // Bloomreach's side counts on Bloomreach's day (the same day when the timestamp is
            // the order's creation, as BigReach sends it).
            let br_day = day_of(first.at);
            if range.contains(br_day) {
                let r = row(&mut rows, br_day, &first.currency);
                r.bloomreach_orders += 1;
                r.bloomreach_gross += first.amount + adjustment;
            }
        }
        count(row(&mut rows, day, &currency), class);
        if class != Class::Matched {
            findings.push(Finding {
                subject: Subject::Sale,
                class,
                order_id: order.id,
                refund_id: None,
                day,
                currency: currency.clone(),
                bigcommerce_amount: Some(order.total_inc_tax),
                bloomreach_amount: acks.first().map(|a| a.amount + adjustment),
                acknowledged: acks.len() as u32,
                note: String::new(),
            });
        }
    }
    // Sales Bloomreach holds that BigCommerce does not count as paid in the range.
    for acks in sales.into_values() {
        let Some(first) = acks.first() else { continue };
        let day = day_of(first.at);
        if !range.contains(day) {
            continue;
        }
        let r = row(&mut rows, day, &first.currency);
        r.bloomreach_orders += 1;
        r.bloomreach_gross += first.amount;
        r.extra += 1;
        findings.push(extra(Subject::Sale, first, None, day, acks.len()));
    }

    // Refunds, on the day they were processed.
    let currencies: BTreeMap<u64, String> = bigcommerce
        .orders
        .iter()
        .map(|o| (o.id, local_currency(o)))
        .collect();
    let mut refunds_seen = BTreeSet::new();
    for refund in &bigcommerce.refunds {
        let day = day_of(refund.created);
        if !range.contains(day) || !refunds_seen.insert(refund.id) {
            continue;
        }
        let currency = currencies
            .get(&refund.order_id)
            .cloned()
            .unwrap_or_default();
        let r = row(&mut rows, day, &currency);
        r.bigcommerce_refunds += refund.amount;
        let acks = refunds.remove(&refund.id).unwrap_or_default();
        let class = classify(refund.amount, &currency, &acks);
        if let Some(first) = acks.first() {
            let br_day = day_of(first.at);
            if range.contains(br_day) {
                row(&mut rows, br_day, &first.currency).bloomreach_refunds += first.amount;
            }
        }
        count(row(&mut rows, day, &currency), class);
        if class != Class::Matched {
            findings.push(Finding {
                subject: Subject::Refund,
                class,
                order_id: refund.order_id,
                refund_id: Some(refund.id),
                day,
                currency,
                bigcommerce_amount: Some(refund.amount),
                bloomreach_amount: acks.first().map(|a| a.amount),
                acknowledged: acks.len() as u32,
                note: String::new(),
            });
        }
    }
    for (refund_id, acks) in refunds {
        let Some(first) = acks.first() else { continue };
        let day = day_of(first.at);
        if !range.contains(day) {
            continue;
        }
        let r = row(&mut rows, day, &first.currency);
        r.bloomreach_refunds += first.amount;
        r.extra += 1;
        findings.push(extra(
            Subject::Refund,
            first,
            Some(refund_id),
            day,
            acks.len(),
        ));
    }

    let mut rows: Vec<DayRow> = rows.into_values().collect();
    let mut totals: BTreeMap<String, DayRow> = BTreeMap::new();
    for r in &mut rows {
        r.bigcommerce_net = r.bigcommerce_gross - r.bigcommerce_refunds;
        r.bloomreach_net = r.bloomreach_gross - r.bloomreach_refunds;
        r.difference = r.bigcommerce_net - r.bloomreach_net;
        add_into(
            totals.entry(r.currency.clone()).or_insert_with(|| DayRow {
                currency: r.currency.clone(),
                ..DayRow::default()
            }),
            r,
        );
    }
    for r in rows.iter_mut().chain(totals.values_mut()) {
        r.tidy();
    }
    for f in &mut findings {
        f.bigcommerce_amount = f.bigcommerce_amount.map(to_cents);
        f.bloomreach_amount = f.bloomreach_amount.map(to_cents);
    }
    findings.sort_by(|a, b| {
        (a.day, a.order_id, a.subject, a.refund_id).cmp(&(
            b.day,
            b.order_id,
            b.subject,
            b.refund_id,
        ))
    });
    let balanced = rows.iter().all(DayRow::balanced);
    Reconciliation {
        range,
        time_zone: zone.name().to_owned(),
        generated_at: now,
        rows,
        totals: totals.into_values().collect(),
        findings,
        balanced,
        repair: None,
    }
}

/// A sale or refund only Bloomreach holds, on the day of its (first) event.
fn extra(
    subject: Subject,
    first: &DeliveredPurchase,
    refund_id: Option<u64>,
    day: NaiveDate,
    acknowledged: usize,
) -> Finding {
    Finding {
        subject,
        class: Class::Extra,
        order_id: first.order_id,
        refund_id,
        day,
        currency: first.currency.clone(),
        bigcommerce_amount: None,
        bloomreach_amount: Some(first.amount),
        acknowledged: acknowledged as u32,
        note: String::new(),
    }
}

/// The shopper's (transactional) currency of an order.
fn local_currency(order: &Order) -> String {
    if !order.default_currency_code.is_empty() {
        order.default_currency_code.clone()
    } else {
        order.currency_code.clone()
    }
}

fn row<'a>(
    rows: &'a mut BTreeMap<(NaiveDate, String), DayRow>,
    day: NaiveDate,
    currency: &str,
) -> &'a mut DayRow {
    rows.entry((day, currency.to_owned()))
        .or_insert_with(|| DayRow {
            day: Some(day),
            currency: currency.to_owned(),
            ..DayRow::default()
        })
}

fn classify(amount: Decimal, currency: &str, acks: &[&DeliveredPurchase]) -> Class {
    match acks {
        [] => Class::Missing,
        [one] if one.amount == amount && one.currency.eq_ignore_ascii_case(currency) => {
            Class::Matched
        }
        [_] => Class::AmountMismatch,
        _ => Class::Duplicate,
    }
}

fn count(row: &mut DayRow, class: Class) {
    match class {
        Class::Matched => row.matched += 1,
        Class::Missing => row.missing += 1,
        Class::Extra => row.extra += 1,
        Class::Duplicate => row.duplicate += 1,
        Class::AmountMismatch => row.amount_mismatch += 1,
    }
}

fn add_into(total: &mut DayRow, r: &DayRow) {
    total.bigcommerce_orders += r.bigcommerce_orders;
    total.bigcommerce_gross += r.bigcommerce_gross;
    total.bigcommerce_discounts += r.bigcommerce_discounts;
    total.bigcommerce_tax += r.bigcommerce_tax;
    total.bigcommerce_shipping += r.bigcommerce_shipping;
    total.bigcommerce_refunds += r.bigcommerce_refunds;
    total.bigcommerce_net += r.bigcommerce_net;
    total.bigcommerce_cancelled += r.bigcommerce_cancelled;
    total.bigcommerce_unpaid += r.bigcommerce_unpaid;
    total.bloomreach_orders += r.bloomreach_orders;
    total.bloomreach_gross += r.bloomreach_gross;
    total.bloomreach_refunds += r.bloomreach_refunds;
    total.bloomreach_net += r.bloomreach_net;
    total.bloomreach_cancelled += r.bloomreach_cancelled;
    total.matched += r.matched;
    total.missing += r.missing;
    total.extra += r.extra;
    total.duplicate += r.duplicate;
    total.amount_mismatch += r.amount_mismatch;
    total.difference += r.difference;
}

/// The finance CSV: one row per day and currency, then one total row per currency (day
/// `total`), with the columns of `data/contract/reconciliation.md`. Amounts are exact decimals
/// with two places.
pub fn to_csv(reconciliation: &Reconciliation) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(CSV_COLUMNS)?;
    let generated = reconciliation
        .generated_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for r in reconciliation.rows.iter().chain(&reconciliation.totals) {
        let day = r
            .day
            .map(|d| d.to_string())
            .unwrap_or_else(|| "total".to_owned());
        out.write_record([
            day,
            reconciliation.time_zone.clone(),
            r.currency.clone(),
            r.bigcommerce_orders.to_string(),
            cents(r.bigcommerce_gross),
            cents(r.bigcommerce_discounts),
            cents(r.bigcommerce_tax),
            cents(r.bigcommerce_shipping),
            cents(r.bigcommerce_refunds),
            cents(r.bigcommerce_net),
            r.bigcommerce_cancelled.to_string(),
            r.bigcommerce_unpaid.to_string(),
            r.bloomreach_orders.to_string(),
            cents(r.bloomreach_gross),
            cents(r.bloomreach_refunds),
            cents(r.bloomreach_net),
            r.bloomreach_cancelled.to_string(),
            r.matched.to_string(),
            r.missing.to_string(),
            r.extra.to_string(),
            r.duplicate.to_string(),
            r.amount_mismatch.to_string(),
            cents(r.difference),
            if r.balanced() { "yes" } else { "no" }.to_owned(),
            generated.clone(),
        ])?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

/// The CSV header, in order.
pub const CSV_COLUMNS: [&str; 25] = [
    "day",
    "time_zone",
    "currency",
    "bigcommerce_orders",
    "bigcommerce_gross",
    "bigcommerce_discounts",
    "bigcommerce_tax",
    "bigcommerce_shipping",
    "bigcommerce_refunds",
    "bigcommerce_net",
    "bigcommerce_cancelled",
    "bigcommerce_unpaid",
    "bloomreach_orders",
    "bloomreach_gross",
    "bloomreach_refunds",
    "bloomreach_net",
    "bloomreach_cancelled",
    "matched",
    "missing",
    "extra",
    "duplicate",
    "amount_mismatch",
    "difference",
    "balanced",
    "generated_at_utc",
];

/// The detail CSV: one row per finding (every sale or refund that is not matched), with the
/// order reference and what BigReach knows of it.
pub fn findings_csv(reconciliation: &Reconciliation) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(FINDINGS_COLUMNS)?;
    let amount = |a: Option<Decimal>| a.map(cents).unwrap_or_default();
    for f in &reconciliation.findings {
        out.write_record([
            f.day.to_string(),
            f.currency.clone(),
            match f.subject {
                Subject::Sale => "sale",
                Subject::Refund => "refund",
            }
            .to_owned(),
            f.class.name().to_owned(),
            f.order_id.to_string(),
            f.refund_id.map(|id| id.to_string()).unwrap_or_default(),
            amount(f.bigcommerce_amount),
            amount(f.bloomreach_amount),
            f.acknowledged.to_string(),
            f.note.clone(),
        ])?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

/// The detail CSV header, in order.
pub const FINDINGS_COLUMNS: [&str; 10] = [
    "day",
    "currency",
    "subject",
    "class",
    "order_id",
    "refund_id",
    "bigcommerce_amount",
    "bloomreach_amount",
    "acknowledged",
    "explanation",
];

/// An amount with two decimal places (more only if the amount has them: BigCommerce sends
/// four, mostly zeros).
fn to_cents(amount: Decimal) -> Decimal {
    let mut a = amount.normalize();
    if a.scale() < 2 {
        a.rescale(2);
    }
    a
}

/// [`to_cents`] as text.
fn cents(amount: Decimal) -> String {
    to_cents(amount).to_string()
}

#[cfg(test)]
mod tests;
