//! The ground-truth verdict, in one copy: [`evaluate`] compares the Bloomreach twin's state with
//! the BigCommerce twin's truth and counts what is missing, doubled, wrong or split;
//! [`DemoSummary::findings`] turns those counts into the checks that failed. The demo, the
//! scenarios, the crash harness and the flash-sale benchmark all judge through these two.

use std::collections::{BTreeMap, BTreeSet};

use bigreach_core::config::IdNames;
use bigreach_twins::bigcommerce::BigCommerceTruth;
use bigreach_twins::bloomreach::BloomreachTruth;
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
    /// Purchases measured (those paid during the trading burst).
    pub count: usize,
}

/// What Bloomreach holds compared with the store's truth (see [`evaluate`]); the demo, the
/// scenarios, the crash harness and the flash-sale benchmark all report it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DemoSummary {
    /// Orders whose payment BigCommerce captured.
    pub orders_paid_in_bigcommerce: usize,
    /// Distinct purchases (by `purchase_id`) Bloomreach holds.
    pub purchases_in_bloomreach: usize,
    /// Paid orders without a purchase.
    pub purchases_missing: usize,
    /// Extra purchase events beyond one per order (after Bloomreach's duplicate filter).
    pub purchases_duplicated: usize,
    /// Purchases whose total or currency differs from the order.
    pub purchases_wrong_amount: usize,
    /// Purchases for orders that were never paid.
    pub purchases_unpaid: usize,
    /// Purchases on a profile that is not the paying person's (a split or a false merge).
    pub purchases_on_other_profiles: usize,
    /// Paid orders of persons with no usable identifier (placeholder email, no phone, no
    /// account), withheld by policy: a placeholder never becomes an ID.
    pub purchases_withheld_no_id: usize,
    /// Refunds BigCommerce made of orders whose purchase Bloomreach should hold.
    pub refunds_in_bigcommerce: usize,
    /// Distinct refunds (by `refund_id`) Bloomreach holds.
    pub refunds_in_bloomreach: usize,
    /// Refunds without a refund event.
    pub refunds_missing: usize,
    /// Extra refund events beyond one per refund (after Bloomreach's duplicate filter).
    pub refunds_duplicated: usize,
    /// Refund events whose amount (to the cent, in the shopper's currency) or currency differs
    /// from the refund, or that sit on another order.
    pub refunds_wrong_amount: usize,
    /// Refund events for no refund of a paid order (an unknown refund, or one of an order whose
    /// sale never happened).
    pub refunds_unknown: usize,
    /// Paid orders later cancelled or declined (each must be one cancellation event).
    pub cancellations_in_bigcommerce: usize,
    /// Paid-then-cancelled orders without a cancellation event.
    pub cancellations_missing: usize,
    /// Extra cancellation events beyond one per order.
    pub cancellations_duplicated: usize,
    /// Cancellation events for orders that were not paid and then cancelled.
    pub cancellations_unknown: usize,
    /// Persons in the store's truth.
    pub persons_in_truth: usize,
    /// Profiles in Bloomreach.
    pub profiles_in_bloomreach: usize,
    /// Extra profiles for persons split across several.
    pub duplicate_profiles: usize,
    /// Persons who should have a profile (registered, or with a paid order) but have none.
    pub persons_without_profile: usize,
    /// Persons who need no profile: guests whose orders were never paid.
    pub persons_never_paid: usize,
    /// Profiles holding more than one person.
    pub merged_profiles: usize,
    /// Variants in the store.
    pub variants_in_bigcommerce: usize,
    /// Items in the Bloomreach catalog.
    pub catalog_items_in_bloomreach: usize,
    /// Variants without a catalog item.
    pub catalog_items_missing: usize,
    /// From BigCommerce payment to Bloomreach acknowledgement, for purchases paid live.
    pub latency_ms: Latency,
    /// 429 answers Bloomreach gave.
    pub bloomreach_429s: u64,
    /// Events Bloomreach's duplicate filter dropped (resends absorbed).
    pub bloomreach_duplicates_dropped: u64,
    /// 429 answers BigCommerce gave.
    pub bigcommerce_429s: u64,
    /// Webhook deliveries BigCommerce made.
    pub webhooks_sent: u64,
    /// Commands the appliance dead-lettered.
    pub dead_letters: u64,
    /// Sales revenue per currency on both sides (see [`Revenue`]).
    pub revenue: Revenue,
    /// Sales whose timestamp is not the order's creation time (a sale must not move however
    /// often the order is re-evaluated, e.g. when a held order becomes paid).
    pub purchases_wrong_time: usize,
    /// True when the appliance went idle before the time limit.
    pub finished: bool,
    /// Wall-clock seconds.
    pub elapsed_s: f64,
}

/// Sales revenue on both sides, exact decimals: the store's paid orders (those BigReach may
/// send: persons with a usable identifier) and Bloomreach's purchases (`success`, one per
/// `purchase_id`, plus any `adjusted` changes).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Revenue {
    /// Per local (transactional) currency: `total_inc_tax` vs `total_price_local_currency`.
    pub local: BTreeMap<String, RevenuePair>,
    /// Per reference currency (the store default): each order's total ÷ its rate, to the cent
    /// half away from zero, vs `total_price`.
    pub reference: BTreeMap<String, RevenuePair>,
}

/// One currency's revenue on both sides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RevenuePair {
    /// The store's ground truth.
    pub store: Decimal,
    /// What Bloomreach holds.
    pub bloomreach: Decimal,
}

impl Revenue {
    /// One line for reports: `revenue USD 120.50 = 120.50, EUR … (local); USD … (reference)`,
    /// store first, then Bloomreach.
    pub fn describe(&self) -> String {
        let side = |map: &BTreeMap<String, RevenuePair>| {
            map.iter()
                .map(|(c, p)| {
                    let sign = if p.store == p.bloomreach { "=" } else { "≠" };
                    format!("{c} {} {sign} {}", p.store, p.bloomreach)
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "revenue store vs Bloomreach: {} (local); {} (reference)",
            side(&self.local),
            side(&self.reference)
        )
    }

    /// The currencies (`local:EUR`, `reference:USD`) whose two sides differ.
    pub fn mismatches(&self) -> Vec<String> {
        let side = |kind: &str, map: &BTreeMap<String, RevenuePair>| {
            map.iter()
                .filter(|(_, p)| p.store != p.bloomreach)
                .map(|(c, p)| {
                    format!(
                        "{kind}:{c} store {} vs Bloomreach {}",
                        p.store, p.bloomreach
                    )
                })
                .collect::<Vec<_>>()
        };
        let mut out = side("local", &self.local);
        out.extend(side("reference", &self.reference));
        out
    }
}

/// An order's total in the store default currency as BigReach must send it: total ÷ the
/// order's rate (units per store-default unit), half away from zero to the cent. Worked out
/// here from the twin's own figures, independently of the mapping's code.
pub fn reference_total(order: &bigreach_twins::bigcommerce::OrderTruth) -> Decimal {
    reference_amount(order, &order.store_currency, Decimal::ONE)
}

/// An order's total in `reference`, a currency worth `reference_per_store` units per 1 unit of
/// the store default: total × reference_per_store ÷ the order's rate, half away from zero to the
/// cent.
pub fn reference_amount(
    order: &bigreach_twins::bigcommerce::OrderTruth,
    reference: &str,
    reference_per_store: Decimal,
) -> Decimal {
    let local_per_store = if order.currency == order.store_currency || order.rate <= Decimal::ZERO {
        Decimal::ONE
    } else {
        order.rate
    };
    let exact = if order.currency == reference {
        order.total_inc_tax
    } else {
        order.total_inc_tax * reference_per_store / local_per_store
    };
    exact.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

fn decimal_of(value: Option<&serde_json::Value>) -> Option<Decimal> {
    value
        .and_then(|v| v.as_f64())
        .and_then(Decimal::from_f64)
        .map(|d| d.round_dp(4))
}

/// What a check is about; the demo prints one line per family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Every paid order is exactly one purchase, right in amount, on the payer's profile.
    Purchases,
    /// One profile per person, and a profile for everyone who needs one.
    People,
    /// Every variant is a catalog item.
    Catalog,
    /// The appliance went idle before the time limit.
    Run,
}

/// One ground-truth check. Each passes when its count in the summary is zero (for
/// [`Check::Finished`]: when the run finished).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// [`DemoSummary::finished`].
    Finished,
    /// [`DemoSummary::purchases_missing`].
    PurchasesMissing,
    /// [`DemoSummary::purchases_duplicated`].
    PurchasesDuplicated,
    /// [`DemoSummary::purchases_wrong_amount`].
    PurchasesWrongAmount,
    /// [`DemoSummary::purchases_unpaid`].
    PurchasesUnpaid,
    /// [`DemoSummary::purchases_on_other_profiles`].
    PurchasesOnOtherProfiles,
    /// [`DemoSummary::refunds_missing`].
    RefundsMissing,
    /// [`DemoSummary::refunds_duplicated`].
    RefundsDuplicated,
    /// [`DemoSummary::refunds_wrong_amount`].
    RefundsWrongAmount,
    /// [`DemoSummary::refunds_unknown`].
    RefundsUnknown,
    /// [`DemoSummary::cancellations_missing`].
    CancellationsMissing,
    /// [`DemoSummary::cancellations_duplicated`].
    CancellationsDuplicated,
    /// [`DemoSummary::cancellations_unknown`].
    CancellationsUnknown,
    /// [`DemoSummary::duplicate_profiles`].
    DuplicateProfiles,
    /// [`DemoSummary::merged_profiles`].
    MergedProfiles,
    /// [`DemoSummary::persons_without_profile`].
    PersonsWithoutProfile,
    /// [`DemoSummary::catalog_items_missing`].
    CatalogItemsMissing,
}

impl Check {
    /// Every check, in report order.
    pub const ALL: [Check; 17] = [
        Check::Finished,
        Check::PurchasesMissing,
        Check::PurchasesDuplicated,
        Check::PurchasesWrongAmount,
        Check::PurchasesUnpaid,
        Check::PurchasesOnOtherProfiles,
        Check::RefundsMissing,
        Check::RefundsDuplicated,
        Check::RefundsWrongAmount,
        Check::RefundsUnknown,
        Check::CancellationsMissing,
        Check::CancellationsDuplicated,
        Check::CancellationsUnknown,
        Check::DuplicateProfiles,
        Check::MergedProfiles,
        Check::PersonsWithoutProfile,
        Check::CatalogItemsMissing,
    ];

    /// The family the check belongs to.
    pub fn family(self) -> Family {
        match self {
            Check::Finished => Family::Run,
            Check::PurchasesMissing
            | Check::PurchasesDuplicated
            | Check::PurchasesWrongAmount
            | Check::PurchasesUnpaid
            | Check::PurchasesOnOtherProfiles
            | Check::RefundsMissing
            | Check::RefundsDuplicated
            | Check::RefundsWrongAmount
            | Check::RefundsUnknown
            | Check::CancellationsMissing
            | Check::CancellationsDuplicated
            | Check::CancellationsUnknown => Family::Purchases,
            Check::DuplicateProfiles | Check::MergedProfiles | Check::PersonsWithoutProfile => {
                Family::People
            }
            Check::CatalogItemsMissing => Family::Catalog,
        }
    }

    /// What failing it means, for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Check::Finished => "the appliance did not finish within the time limit",
            Check::PurchasesMissing => "paid orders without a purchase",
            Check::PurchasesDuplicated => "purchases doubled",
            Check::PurchasesWrongAmount => "purchases with a wrong total or currency",
            Check::PurchasesUnpaid => "purchases for orders never paid",
            Check::PurchasesOnOtherProfiles => "purchases on another person's profile",
            Check::RefundsMissing => "refunds without a refund event",
            Check::RefundsDuplicated => "refund events doubled",
            Check::RefundsWrongAmount => "refund events with a wrong amount or currency",
            Check::RefundsUnknown => "refund events for no refund of a paid order",
            Check::CancellationsMissing => "paid orders cancelled without a cancellation event",
            Check::CancellationsDuplicated => "cancellation events doubled",
            Check::CancellationsUnknown => "cancellation events for orders not paid and cancelled",
            Check::DuplicateProfiles => "extra profiles of split persons",
            Check::MergedProfiles => "profiles holding several persons",
            Check::PersonsWithoutProfile => "persons without a profile",
            Check::CatalogItemsMissing => "variants missing from the catalog",
        }
    }
}

/// A failed check and how many things failed it (1 for [`Check::Finished`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check.
    pub check: Check,
    /// How many.
    pub count: usize,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.check {
            Check::Finished => f.write_str(self.check.describe()),
            check => write!(f, "{} {}", self.count, check.describe()),
        }
    }
}

impl DemoSummary {
    /// The summary's count for a check: how many things failed it (for [`Check::Finished`], 1
    /// when the run did not finish).
    pub fn count(&self, check: Check) -> usize {
        match check {
            Check::Finished => usize::from(!self.finished),
            Check::PurchasesMissing => self.purchases_missing,
            Check::PurchasesDuplicated => self.purchases_duplicated,
            Check::PurchasesWrongAmount => self.purchases_wrong_amount,
            Check::PurchasesUnpaid => self.purchases_unpaid,
            Check::PurchasesOnOtherProfiles => self.purchases_on_other_profiles,
            Check::RefundsMissing => self.refunds_missing,
            Check::RefundsDuplicated => self.refunds_duplicated,
            Check::RefundsWrongAmount => self.refunds_wrong_amount,
            Check::RefundsUnknown => self.refunds_unknown,
            Check::CancellationsMissing => self.cancellations_missing,
            Check::CancellationsDuplicated => self.cancellations_duplicated,
            Check::CancellationsUnknown => self.cancellations_unknown,
            Check::DuplicateProfiles => self.duplicate_profiles,
            Check::MergedProfiles => self.merged_profiles,
            Check::PersonsWithoutProfile => self.persons_without_profile,
            Check::CatalogItemsMissing => self.catalog_items_missing,
        }
    }

    /// Every check that failed, in report order. Empty means clean.
    pub fn findings(&self) -> Vec<Finding> {
        Check::ALL
            .into_iter()
            .map(|check| Finding {
                check,
                count: self.count(check),
            })
            .filter(|finding| finding.count > 0)
            .collect()
    }

    /// True when every check of `family` passed.
    pub fn family_is_clean(&self, family: Family) -> bool {
        Check::ALL
            .into_iter()
            .filter(|check| check.family() == family)
            .all(|check| self.count(check) == 0)
    }

    /// True when the run finished and nothing is missing, doubled, wrong or split.
    pub fn is_clean(&self) -> bool {
        self.findings().is_empty()
    }
}

/// Compares Bloomreach's state with the store's truth. The ID names are the appliance's;
/// purchases paid at or after `live_since` are measured for latency. `finished`, `dead_letters`
/// and `elapsed_s` come from the run, not the truths: the caller fills them in.
pub fn evaluate(
    store: &BigCommerceTruth,
    bloomreach: &BloomreachTruth,
    ids: &IdNames,
    catalog_name: &str,
    live_since: chrono::DateTime<chrono::Utc>,
) -> DemoSummary {
    evaluate_in(store, bloomreach, ids, catalog_name, live_since, None)
}

/// [`evaluate`] for an appliance configured with a reference currency (`None`: the store
/// default); reference amounts are then expected in it, converted through the store's rates.
pub fn evaluate_in(
    store: &BigCommerceTruth,
    bloomreach: &BloomreachTruth,
    ids: &IdNames,
    catalog_name: &str,
    live_since: chrono::DateTime<chrono::Utc>,
    reference_currency: Option<&str>,
) -> DemoSummary {
    let reference_of = |order: &bigreach_twins::bigcommerce::OrderTruth| {
        let code = reference_currency.unwrap_or(order.store_currency.as_str());
        let per_store = if code == order.store_currency {
            Decimal::ONE
        } else {
            store.currency_rates.get(code).copied().unwrap_or_default()
        };
        (code.to_owned(), reference_amount(order, code, per_store))
    };
    let mut summary = DemoSummary::default();
    let orders: BTreeMap<u64, _> = store.orders.iter().map(|o| (o.order_id, o)).collect();
    // purchase_id → (count, first received_at, total, currency)
    let mut purchases: BTreeMap<u64, Vec<(&bigreach_twins::bloomreach::EventTruth, u64)>> =
        BTreeMap::new();
    for profile in &bloomreach.profiles {
        for event in &profile.events {
            // Sales only: a cancellation (`purchase_status` "cancelled") is a separate fact.
            let sale = event
                .properties
                .get("purchase_status")
                .and_then(|v| v.as_str())
                .is_none_or(|s| s == "success");
            if event.event_type != "purchase" || !sale {
                continue;
            }
            if let Some(id) = event.properties.get("purchase_id").and_then(|v| v.as_u64()) {
                purchases
                    .entry(id)
                    .or_default()
                    .push((event, profile.internal_id));
            }
        }
    }
    // Persons with no usable identifier (only a placeholder email such as test@test.com, no
    // phone, no account) can never have a profile: their purchases are withheld by policy.
    let unidentifiable: BTreeSet<u64> = store
        .persons
        .iter()
        .filter(|p| {
            p.customer_id.is_none()
                && p.phone_e164.is_none()
                && p.email
                    .as_deref()
                    .and_then(bigreach_core::identity::normalize_email)
                    .is_none()
        })
        .map(|p| p.person_id)
        .collect();
    let paid: Vec<_> = store
        .orders
        .iter()
        .filter(|o| o.paid && !unidentifiable.contains(&o.person_id))
        .collect();
    summary.purchases_withheld_no_id = store
        .orders
        .iter()
        .filter(|o| o.paid && unidentifiable.contains(&o.person_id))
        .count();
    summary.orders_paid_in_bigcommerce = paid.len() + summary.purchases_withheld_no_id;
    summary.purchases_in_bloomreach = purchases.len();
    let mut latencies = Vec::new();
    let (mut sold_local, mut sold_reference) = (Vec::new(), Vec::new());
    for order in &paid {
        match purchases.get(&order.order_id) {
            None => {
                summary.purchases_missing += 1;
                let local = summary
                    .revenue
                    .local
                    .entry(order.currency.clone())
                    .or_default();
                local.store += order.total_inc_tax;
                let (code, amount) = reference_of(order);
                summary.revenue.reference.entry(code).or_default().store += amount;
            }
            Some(events) => {
                summary.purchases_duplicated += events.len() - 1;
                let (event, _) = events[0];
                let local_total = decimal_of(event.properties.get("total_price_local_currency"));
                let reference = decimal_of(event.properties.get("total_price"));
                let text = |key: &str| event.properties.get(key).and_then(|v| v.as_str());
                let (reference_code, expected_reference) = reference_of(order);
                if let Some(created) = order.date_created {
                    let at = created.timestamp_millis() as f64 / 1000.0;
                    if events
                        .iter()
                        .any(|(e, _)| (e.timestamp - at).abs() > 0.0005)
                    {
                        summary.purchases_wrong_time += 1;
                    }
                }
                // The shopper's amount in the transactional currency, and the reference amount
                // in the store default, both to the cent.
                if local_total.map(|t| t.round_dp(2)) != Some(order.total_inc_tax.round_dp(2))
                    || text("local_currency") != Some(order.currency.as_str())
                    || reference != Some(expected_reference)
                    || text("reference_currency") != Some(reference_code.as_str())
                {
                    summary.purchases_wrong_amount += 1;
                }
                let local = summary
                    .revenue
                    .local
                    .entry(order.currency.clone())
                    .or_default();
                local.store += order.total_inc_tax;
                summary
                    .revenue
                    .reference
                    .entry(reference_code)
                    .or_default()
                    .store += expected_reference;
                if let Some(paid_at) = order.paid_at.filter(|at| *at >= live_since) {
                    let first = events
                        .iter()
                        .map(|(e, _)| e.received_at)
                        .min()
                        .unwrap_or(paid_at);
                    latencies.push((first - paid_at).num_milliseconds().max(0) as u64);
                }
            }
        }
    }
    // Bloomreach's side: one sale per `purchase_id` (doubles are counted above), plus amount
    // edits on paid orders (`adjusted`), which carry the change.
    let sales = purchases.values().map(|events| events[0].0);
    let adjustments = bloomreach
        .profiles
        .iter()
        .flat_map(|p| &p.events)
        .filter(|event| {
            event.event_type == "purchase"
                && event
                    .properties
                    .get("purchase_status")
                    .and_then(|v| v.as_str())
                    == Some("adjusted")
        });
    for event in sales.chain(adjustments) {
        let text = |key: &str| event.properties.get(key).and_then(|v| v.as_str());
        if let (Some(t), Some(c)) = (
            decimal_of(event.properties.get("total_price_local_currency")),
            text("local_currency"),
        ) {
            sold_local.push((c.to_owned(), t));
        }
        if let (Some(t), Some(c)) = (
            decimal_of(event.properties.get("total_price")),
            text("reference_currency"),
        ) {
            sold_reference.push((c.to_owned(), t));
        }
    }
    for (currency, total) in sold_local {
        summary
            .revenue
            .local
            .entry(currency)
            .or_default()
            .bloomreach += total;
    }
    for (currency, total) in sold_reference {
        summary
            .revenue
            .reference
            .entry(currency)
            .or_default()
            .bloomreach += total;
    }
    for map in [&mut summary.revenue.local, &mut summary.revenue.reference] {
        for pair in map.values_mut() {
            pair.store = pair.store.normalize();
            pair.bloomreach = pair.bloomreach.normalize();
        }
    }
    summary.purchases_unpaid = purchases
        .keys()
        .filter(|id| orders.get(id).is_none_or(|o| !o.paid))
        .count();
    latencies.sort_unstable();
    summary.latency_ms = Latency {
        p50: percentile(&latencies, 50),
        p99: percentile(&latencies, 99),
        max: latencies.last().copied().unwrap_or(0),
        count: latencies.len(),
    };

    // Persons ↔ profiles, through the IDs the appliance uses.
    // Which person a profile belongs to is the truth's question, not Bloomreach's: an email ID
    // in another case or with stray spaces still names the same person (so a connector that
    // keys profiles by the email as typed shows up as splitting that person).
    let mut owner: BTreeMap<(String, String), BTreeSet<u64>> = BTreeMap::new();
    for profile in &bloomreach.profiles {
        for (name, values) in &profile.ids {
            for value in values {
                let value = if *name == ids.email {
                    value.trim().to_lowercase()
                } else {
                    value.clone()
                };
                owner
                    .entry((name.clone(), value))
                    .or_default()
                    .insert(profile.internal_id);
            }
        }
    }
    let mut persons_of_profile: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    let mut profiles_of_person: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    let paying: BTreeSet<u64> = paid.iter().map(|o| o.person_id).collect();
    // An identifier several persons share (a household phone or email) says nothing about which
    // of them a profile belongs to, so it is not used to map persons to profiles.
    let mut holders: BTreeMap<(String, String), usize> = BTreeMap::new();
    let person_keys = |person: &bigreach_twins::bigcommerce::PersonTruth| {
        let mut keys = Vec::new();
        if let Some(id) = person.customer_id {
            keys.push((ids.customer_id.clone(), id.to_string()));
        }
        if let Some(email) = &person.email {
            keys.push((ids.email.clone(), email.clone()));
        }
        if let Some(phone) = &person.phone_e164 {
            keys.push((ids.phone.clone(), phone.clone()));
        }
        keys
    };
    for person in &store.persons {
        for key in person_keys(person) {
            *holders.entry(key).or_default() += 1;
        }
    }
    // A person whose every identifier is shared (a phone-only guest on a household phone) is
    // attributed through those shared identifiers, but only to profiles no person with an
    // identifier of their own holds; persons with their own identifiers go first.
    let unique_keys = |person: &bigreach_twins::bigcommerce::PersonTruth| -> Vec<_> {
        person_keys(person)
            .into_iter()
            .filter(|key| holders.get(key) == Some(&1))
            .collect()
    };
    let (mut ordered, only_shared): (Vec<_>, Vec<_>) = store
        .persons
        .iter()
        .partition(|person| !unique_keys(person).is_empty());
    ordered.extend(only_shared);
    let mut claimed: BTreeSet<u64> = BTreeSet::new();
    for person in ordered {
        let own = unique_keys(person);
        let shared_only = own.is_empty();
        let keys = if shared_only {
            person_keys(person)
        } else {
            own
        };
        let profiles: BTreeSet<u64> = keys
            .iter()
            .filter_map(|k| owner.get(k))
            .flatten()
            .copied()
            .filter(|profile| !shared_only || !claimed.contains(profile))
            .collect();
        if !shared_only {
            claimed.extend(profiles.iter().copied());
        }
        summary.duplicate_profiles += profiles.len().saturating_sub(1);
        profiles_of_person.insert(person.person_id, profiles.clone());
        let needs_profile = !unidentifiable.contains(&person.person_id)
            && (person.customer_id.is_some() || paying.contains(&person.person_id));
        if profiles.is_empty() {
            if needs_profile {
                summary.persons_without_profile += 1;
            } else {
                summary.persons_never_paid += 1;
            }
        }
        for profile in profiles {
            persons_of_profile
                .entry(profile)
                .or_default()
                .insert(person.person_id);
        }
    }
    summary.merged_profiles = persons_of_profile.values().filter(|p| p.len() > 1).count();
    // Every purchase must sit on a profile of the person who paid.
    for order in &paid {
        let Some(events) = purchases.get(&order.order_id) else {
            continue;
        };
        let theirs = profiles_of_person.get(&order.person_id);
        if events
            .iter()
            .any(|(_, profile)| theirs.is_none_or(|p| !p.contains(profile)))
        {
            summary.purchases_on_other_profiles += 1;
        }
    }
    evaluate_refunds(store, bloomreach, &paid, &mut summary);
    evaluate_cancellations(bloomreach, &paid, &mut summary);
    summary.persons_in_truth = store.persons.len();
    summary.profiles_in_bloomreach = bloomreach.profiles.len();

    summary.variants_in_bigcommerce = store.variant_ids.len();
    let catalog = bloomreach.catalogs.iter().find(|c| c.name == catalog_name);
    summary.catalog_items_in_bloomreach = catalog.map_or(0, |c| c.items.len());
    summary.catalog_items_missing = store
        .variant_ids
        .iter()
        .filter(|id| catalog.is_none_or(|c| !c.items.contains_key(&id.to_string())))
        .count();
    summary.bloomreach_429s = bloomreach.stats.rate_limited_429;
    summary.bloomreach_duplicates_dropped = bloomreach.stats.duplicate_events_dropped;
    summary.bigcommerce_429s = store.rate_limited_429;
    summary.webhooks_sent = store.webhooks_sent;
    summary
}

/// A refund event as Bloomreach holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundEvent {
    /// `refund_id`.
    pub refund_id: u64,
    /// `purchase_id`.
    pub purchase_id: Option<u64>,
    /// The amount in the shopper's currency, to the cent.
    pub amount: Option<Decimal>,
    /// `local_currency`.
    pub currency: Option<String>,
}

/// The refund events on `profiles`.
pub fn refund_events<'a>(
    profiles: impl IntoIterator<Item = &'a bigreach_twins::bloomreach::ProfileTruth>,
) -> Vec<RefundEvent> {
    let mut out = Vec::new();
    for profile in profiles {
        for event in &profile.events {
            if event.event_type != "purchase" {
                continue;
            }
            let Some(refund_id) = event.properties.get("refund_id").and_then(|v| v.as_u64()) else {
                continue;
            };
            // The amount the shopper got back, in their currency: `total_price_local_currency`
            // stays in it whatever currency `total_price` is reported in.
            let amount = event
                .properties
                .get("total_price_local_currency")
                .or_else(|| event.properties.get("total_price"))
                .and_then(|v| v.as_f64())
                .and_then(Decimal::from_f64)
                .map(|a| a.round_dp(2));
            out.push(RefundEvent {
                refund_id,
                purchase_id: event.properties.get("purchase_id").and_then(|v| v.as_u64()),
                amount,
                currency: event
                    .properties
                    .get("local_currency")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned),
            });
        }
    }
    out
}

/// Refunds: each refund of a paid (and identifiable) order is exactly one refund event, with
/// the refund's amount to the cent and the order's currency; no refund event for anything else.
fn evaluate_refunds(
    store: &BigCommerceTruth,
    bloomreach: &BloomreachTruth,
    paid: &[&bigreach_twins::bigcommerce::OrderTruth],
    summary: &mut DemoSummary,
) {
    let sold: BTreeSet<u64> = paid.iter().map(|o| o.order_id).collect();
    let expected: BTreeMap<u64, &bigreach_twins::bigcommerce::RefundTruth> = store
        .refunds
        .iter()
        .filter(|r| sold.contains(&r.order_id))
        .map(|r| (r.refund_id, r))
        .collect();
    let mut held: BTreeMap<u64, Vec<RefundEvent>> = BTreeMap::new();
    for event in refund_events(&bloomreach.profiles) {
        held.entry(event.refund_id).or_default().push(event);
    }
    summary.refunds_in_bigcommerce = expected.len();
    summary.refunds_in_bloomreach = held.len();
    for (refund_id, truth) in &expected {
        let Some(events) = held.get(refund_id) else {
            summary.refunds_missing += 1;
            continue;
        };
        summary.refunds_duplicated += events.len() - 1;
        let right = events.iter().all(|event| {
            event.purchase_id == Some(truth.order_id)
                && event.amount == Some(truth.total_amount.round_dp(2))
                && event.currency.as_deref() == Some(truth.currency.as_str())
        });
        if !right {
            summary.refunds_wrong_amount += 1;
        }
    }
    summary.refunds_unknown = held.keys().filter(|id| !expected.contains_key(id)).count();
}

/// Cancellations: each paid (and identifiable) order that was then cancelled or declined (status
/// 5 or 6) is exactly one `purchase` event with `purchase_status` `cancelled`; no cancellation
/// event for anything else.
fn evaluate_cancellations(
    bloomreach: &BloomreachTruth,
    paid: &[&bigreach_twins::bigcommerce::OrderTruth],
    summary: &mut DemoSummary,
) {
    let expected: BTreeSet<u64> = paid
        .iter()
        .filter(|o| matches!(o.status_id, 5 | 6))
        .map(|o| o.order_id)
        .collect();
    let mut held: BTreeMap<u64, usize> = BTreeMap::new();
    for event in bloomreach.profiles.iter().flat_map(|p| &p.events) {
        let cancelled = event
            .properties
            .get("purchase_status")
            .and_then(|v| v.as_str())
            == Some("cancelled");
        if event.event_type != "purchase" || !cancelled {
            continue;
        }
        if let Some(id) = event.properties.get("purchase_id").and_then(|v| v.as_u64()) {
            *held.entry(id).or_default() += 1;
        }
    }
    summary.cancellations_in_bigcommerce = expected.len();
    for id in &expected {
        match held.get(id) {
            None => summary.cancellations_missing += 1,
            Some(n) => summary.cancellations_duplicated += n - 1,
        }
    }
    summary.cancellations_unknown = held.keys().filter(|id| !expected.contains(id)).count();
}

fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use bigreach_twins::bloomreach::TwinStats;

    #[test]
    fn percentiles_use_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 50), 50);
        assert_eq!(percentile(&values, 99), 99);
        assert_eq!(percentile(&[7], 99), 7);
        assert_eq!(percentile(&[], 50), 0);
    }

    fn clean() -> DemoSummary {
        DemoSummary {
            finished: true,
            ..DemoSummary::default()
        }
    }

    #[test]
    fn a_finished_run_with_nothing_wrong_is_clean() {
        assert!(clean().is_clean());
        assert!(clean().findings().is_empty());
        assert!(!DemoSummary::default().is_clean(), "unfinished");
    }

    #[test]
    fn each_check_alone_makes_the_verdict_fail_in_its_family() {
        for check in Check::ALL {
            let mut summary = clean();
            match check {
                Check::Finished => summary.finished = false,
                Check::PurchasesMissing => summary.purchases_missing = 2,
                Check::PurchasesDuplicated => summary.purchases_duplicated = 2,
                Check::PurchasesWrongAmount => summary.purchases_wrong_amount = 2,
                Check::PurchasesUnpaid => summary.purchases_unpaid = 2,
                Check::PurchasesOnOtherProfiles => summary.purchases_on_other_profiles = 2,
                Check::RefundsMissing => summary.refunds_missing = 2,
                Check::RefundsDuplicated => summary.refunds_duplicated = 2,
                Check::RefundsWrongAmount => summary.refunds_wrong_amount = 2,
                Check::RefundsUnknown => summary.refunds_unknown = 2,
                Check::CancellationsMissing => summary.cancellations_missing = 2,
                Check::CancellationsDuplicated => summary.cancellations_duplicated = 2,
                Check::CancellationsUnknown => summary.cancellations_unknown = 2,
                Check::DuplicateProfiles => summary.duplicate_profiles = 2,
                Check::MergedProfiles => summary.merged_profiles = 2,
                Check::PersonsWithoutProfile => summary.persons_without_profile = 2,
                Check::CatalogItemsMissing => summary.catalog_items_missing = 2,
            }
            let expected = if check == Check::Finished { 1 } else { 2 };
            assert_eq!(
                summary.findings(),
                vec![Finding {
                    check,
                    count: expected
                }],
                "{check:?}"
            );
            assert!(!summary.is_clean(), "{check:?}");
            assert!(!summary.family_is_clean(check.family()), "{check:?}");
            for other in [
                Family::Purchases,
                Family::People,
                Family::Catalog,
                Family::Run,
            ] {
                if other != check.family() {
                    assert!(summary.family_is_clean(other), "{check:?} {other:?}");
                }
            }
        }
    }

    #[test]
    fn findings_read_as_sentences() {
        let finding = Finding {
            check: Check::PurchasesOnOtherProfiles,
            count: 3,
        };
        assert_eq!(
            finding.to_string(),
            "3 purchases on another person's profile"
        );
    }

    fn refund_event(
        refund_id: u64,
        order_id: u64,
        amount: f64,
        currency: &str,
    ) -> bigreach_twins::bloomreach::EventTruth {
        bigreach_twins::bloomreach::EventTruth {
            event_type: "purchase".into(),
            timestamp: 1.0,
            properties: serde_json::json!({
                "purchase_id": order_id, "purchase_status": "refund", "refund_id": refund_id,
                "total_price": amount, "total_price_local_currency": amount,
                "local_currency": currency,
            })
            .as_object()
            .cloned()
            .unwrap(),
            received_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn refunds_are_judged_missing_doubled_wrong_or_unknown_to_the_cent() {
        use bigreach_twins::bigcommerce::{OrderTruth, RefundTruth};
        let order = |order_id: u64, paid: bool| OrderTruth {
            order_id,
            person_id: 1,
            paid,
            paid_at: None,
            currency: "EUR".into(),
            total_inc_tax: "100".parse().unwrap(),
            line_count: 1,
            refunded_total: Decimal::ZERO,
            status_id: 14,
            store_currency: "EUR".into(),
            rate: Decimal::ONE,
            display_currency: None,
            payment_method: "Credit Card".into(),
            date_created: None,
        };
        let refund = |refund_id: u64, order_id: u64, amount: &str| RefundTruth {
            refund_id,
            order_id,
            created: chrono::Utc::now(),
            total_amount: amount.parse().unwrap(),
            total_tax: Decimal::ZERO,
            currency: "EUR".into(),
        };
        let store = BigCommerceTruth {
            orders: vec![order(1, true), order(2, false)],
            refunds: vec![
                refund(10, 1, "12.50"),
                refund(11, 1, "30.05"),
                refund(12, 1, "7.00"),
                refund(13, 1, "1.00"),
                // Of an order never paid: no refund event is due.
                refund(14, 2, "5.00"),
            ],
            ..BigCommerceTruth::default()
        };
        let profile = bigreach_twins::bloomreach::ProfileTruth {
            internal_id: 1,
            ids: Default::default(),
            properties: Default::default(),
            events: vec![
                refund_event(10, 1, 12.5, "EUR"),
                refund_event(11, 1, 30.05, "EUR"),
                refund_event(11, 1, 30.05, "EUR"),
                refund_event(12, 1, 7.01, "EUR"),
                refund_event(14, 2, 5.0, "EUR"),
            ],
            merged_from: Vec::new(),
            anonymized: false,
        };
        let bloomreach = BloomreachTruth {
            profiles: vec![profile],
            catalogs: Vec::new(),
            imports: Vec::new(),
            stats: Default::default(),
        };
        let paid: Vec<_> = store.orders.iter().filter(|o| o.paid).collect();
        let mut summary = clean();
        evaluate_refunds(&store, &bloomreach, &paid, &mut summary);
        assert_eq!(summary.refunds_in_bigcommerce, 4);
        assert_eq!(summary.refunds_in_bloomreach, 4);
        assert_eq!(summary.refunds_missing, 1, "13");
        assert_eq!(summary.refunds_duplicated, 1, "11");
        assert_eq!(summary.refunds_wrong_amount, 1, "12 is a cent off");
        assert_eq!(summary.refunds_unknown, 1, "14");
        assert!(!summary.family_is_clean(Family::Purchases));
    }

    #[test]
    fn cancellations_are_judged_missing_doubled_or_unknown() {
        let with_status = |id: u64, paid: bool, status_id: u32| {
            let mut o = order(id, 1, "USD", "10.00", "1");
            o.paid = paid;
            o.status_id = status_id;
            o
        };
        // 1 paid then cancelled (one event, right), 2 paid then declined (missing), 3 paid then
        // cancelled (doubled), 4 declined before payment and 5 shipped: no event is due.
        let orders = [
            with_status(1, true, 5),
            with_status(2, true, 6),
            with_status(3, true, 5),
            with_status(4, false, 6),
            with_status(5, true, 2),
        ];
        let cancellation = |order_id: u64| bigreach_twins::bloomreach::EventTruth {
            event_type: "purchase".into(),
            timestamp: 1.0,
            properties:
                serde_json::json!({"purchase_id": order_id, "purchase_status": "cancelled"})
                    .as_object()
                    .cloned()
                    .unwrap(),
            received_at: chrono::Utc::now(),
        };
        let bloomreach = BloomreachTruth {
            profiles: vec![bigreach_twins::bloomreach::ProfileTruth {
                internal_id: 1,
                ids: Default::default(),
                properties: Default::default(),
                events: [1, 3, 3, 4].into_iter().map(cancellation).collect(),
                merged_from: Vec::new(),
                anonymized: false,
            }],
            catalogs: Vec::new(),
            imports: Vec::new(),
            stats: Default::default(),
        };
        let paid: Vec<_> = orders.iter().filter(|o| o.paid).collect();
        let mut summary = clean();
        evaluate_cancellations(&bloomreach, &paid, &mut summary);
        assert_eq!(summary.cancellations_in_bigcommerce, 3);
        assert_eq!(summary.cancellations_missing, 1, "2");
        assert_eq!(summary.cancellations_duplicated, 1, "3");
        assert_eq!(summary.cancellations_unknown, 1, "4");
        assert!(!summary.family_is_clean(Family::Purchases));
    }

    fn order(
        id: u64,
        person: u64,
        currency: &str,
        total: &str,
        rate: &str,
    ) -> bigreach_twins::bigcommerce::OrderTruth {
        serde_json::from_value(serde_json::json!({
            "order_id": id, "person_id": person, "paid": true, "paid_at": null,
            "currency": currency, "total_inc_tax": total, "line_count": 1,
            "refunded_total": "0", "status_id": 11, "store_currency": "USD", "rate": rate,
            "display_currency": null, "payment_method": "Credit Card",
            "date_created": "1970-01-01T00:00:01Z"
        }))
        .unwrap()
    }

    fn purchase(id: u64, local: f64, currency: &str, reference: f64) -> serde_json::Value {
        serde_json::json!({
            "event_type": "purchase", "timestamp": 1.0, "received_at": "2026-03-01T12:00:00Z",
            "properties": {"purchase_id": id, "purchase_status": "success",
                           "total_price_local_currency": local, "local_currency": currency,
                           "total_price": reference, "reference_currency": "USD"}
        })
    }

    /// A phone-only guest (B) whose phone a household member (A) later typed with an email:
    /// the phone's profile is B's; A's is the email one. B is attributed through the shared
    /// phone to the profile nobody with an identifier of their own holds. Revenue: 10.00 USD
    /// plus 46.00 EUR at 0.92 EUR per USD (46 / 0.92 = 50.00 USD) = 60.00 USD in reference.
    #[test]
    fn a_person_known_only_by_a_shared_phone_is_attributed_and_revenue_adds_up_per_currency() {
        let store = BigCommerceTruth {
            persons: serde_json::from_value(serde_json::json!([
                {"person_id": 1, "customer_id": null, "email": "a@example.com", "phone_e164": "+12125550100"},
                {"person_id": 2, "customer_id": null, "email": null, "phone_e164": "+12125550100"}
            ]))
            .unwrap(),
            orders: vec![
                order(10, 1, "USD", "10.00", "1"),
                order(11, 2, "EUR", "46.00", "0.92"),
            ],
            ..BigCommerceTruth::default()
        };
        let bloomreach: BloomreachTruth = serde_json::from_value(serde_json::json!({
            "profiles": [
                {"internal_id": 1, "ids": {"email_id": ["a@example.com"]}, "properties": {},
                 "events": [purchase(10, 10.0, "USD", 10.0)], "merged_from": [], "anonymized": false},
                {"internal_id": 2, "ids": {"phone_id": ["+12125550100"]}, "properties": {},
                 "events": [purchase(11, 46.0, "EUR", 50.0)], "merged_from": [], "anonymized": false}
            ],
            "catalogs": [], "imports": [], "stats": TwinStats::default()
        }))
        .unwrap();
        let summary = evaluate(
            &store,
            &bloomreach,
            &IdNames::default(),
            "c",
            chrono::Utc::now(),
        );
        assert_eq!(
            (
                summary.persons_without_profile,
                summary.purchases_on_other_profiles,
                summary.merged_profiles,
                summary.purchases_wrong_amount
            ),
            (0, 0, 0, 0),
            "{summary:?}"
        );
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(
            summary.revenue.local["EUR"],
            RevenuePair {
                store: d("46"),
                bloomreach: d("46")
            }
        );
        assert_eq!(
            summary.revenue.reference["USD"],
            RevenuePair {
                store: d("60"),
                bloomreach: d("60")
            }
        );
        assert!(summary.revenue.mismatches().is_empty());
        assert_eq!(summary.purchases_wrong_time, 0);
        // A sale stamped with another time (say, when it became paid) is reported.
        let mut moved = bloomreach.clone();
        moved.profiles[1].events[0].timestamp = 61.0;
        let summary = evaluate(&store, &moved, &IdNames::default(), "c", chrono::Utc::now());
        assert_eq!(summary.purchases_wrong_time, 1);
    }
}
