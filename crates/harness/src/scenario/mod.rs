//! `bigreach scenario run FILE`: a scenario file describes a store, shoppers and their actions,
//! crowds of generated shoppers, and a fault schedule. The runner plays it through both twins and
//! the appliance on one accelerated clock, then compares Bloomreach's final state with the
//! store's ground truth.
//!
//! Scenario files live in `data/scenarios/`; see `data/scenarios/README.md` for the format.
//!
//! This module is the file format and the report; `runner.rs` plays a scenario and judges it
//! with the ground-truth verdict. The defaults a scenario file may leave out (seed, speed,
//! limits, the poll interval, a small store, both twins' settings) are constants here, compiled
//! in like everything else; scenario files themselves load from their paths.

#[cfg(feature = "run")]
mod runner;

use std::path::{Path, PathBuf};

use bigreach_twins::control::{BIGCOMMERCE_FAULTS, BLOOMREACH_FAULTS};
use serde::{Deserialize, Serialize};

#[cfg(feature = "run")]
use crate::demo::DemoError;
use crate::plan::StorePlan;
#[cfg(feature = "run")]
use crate::plan::{BigCommercePlan, BloomreachPlan, DemoPlan, TradingPlan};
use crate::verdict::DemoSummary;

#[cfg(feature = "run")]
pub use runner::{run, run_with_bloomreach_proxy, RunOptions};

/// A scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name.
    pub name: String,
    /// What it shows (which merchant story).
    pub description: String,
    /// Seed of the store and of the twins' randomness.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Virtual seconds per real second.
    #[serde(default = "default_speed")]
    pub speed: f64,
    /// Give up after this many real seconds.
    #[serde(default = "default_limit")]
    pub limit_secs: u64,
    /// The appliance's safety-net poll interval, in virtual seconds.
    #[serde(default = "default_poll")]
    pub poll_interval_secs: u64,
    /// Seeded history (optional).
    #[serde(default)]
    pub store: Option<StorePlan>,
    /// BigCommerce twin settings.
    #[serde(default)]
    pub bigcommerce: ScenarioBigCommerce,
    /// Bloomreach twin settings.
    #[serde(default)]
    pub bloomreach: ScenarioBloomreach,
    /// Named shoppers with scripted actions.
    #[serde(default)]
    pub shoppers: Vec<Shopper>,
    /// Crowds of generated shoppers.
    #[serde(default)]
    pub crowds: Vec<Crowd>,
    /// Faults, each on for a while.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Scripted merchant edits of the catalog (sales, stock, variant-only edits).
    #[serde(default)]
    pub catalog: Vec<CatalogEdit>,
    /// The appliance sends the `back_in_stock` and `price_drop` trigger events
    /// (`[mapping.catalog] triggers`).
    #[serde(default)]
    pub catalog_triggers: bool,
    /// The appliance's `[mapping.catalog] debounce_secs` (default: its default).
    #[serde(default)]
    pub debounce_secs: Option<u64>,
    /// The appliance's `[mapping.catalog] drift_compare_secs`, the full catalog comparison's
    /// period (default: its default, a day).
    #[serde(default)]
    pub drift_compare_secs: Option<u64>,
    /// The appliance's `[cutover]` settings (default: the config's defaults, starting at
    /// `connect` when the scenario has `stages`).
    #[serde(default)]
    pub cutover: Option<bigreach_core::config::CutoverSettings>,
    /// Operator steps of the staged cutover (`advance`, `rollback`, `preflight`), in order.
    #[serde(default)]
    pub stages: Vec<StageStep>,
    /// A setup mistake the preflight must catch (only with `stages`).
    #[serde(default)]
    pub preflight_trouble: Option<PreflightTrouble>,
    /// What this scenario expects beyond the universal checks.
    #[serde(default)]
    pub expect: Expectations,
}

/// One operator step of the staged cutover, made through the app API as an operator would.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageStep {
    /// Virtual minutes after the start of trading.
    pub at_min: f64,
    /// `advance` (shows the plan, runs the real preflight when the plan needs one, advances
    /// with the plan's hash), `rollback` or `preflight` (a run on its own).
    #[serde(rename = "do")]
    pub action: String,
    /// The step must be refused with this error code (`preflight_failed`, `stage_held`, …):
    /// a refusal with another code, or none, fails the scenario.
    #[serde(default)]
    pub refused: Option<String>,
}

/// Something the merchant got wrong before the cutover, which the preflight must catch and
/// which the merchant fixes at `fixed_at_min`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreflightTrouble {
    /// The storefront's `Content-Security-Policy` leaves the Bloomreach SDK host out of
    /// `script-src` and `connect-src`.
    #[serde(default)]
    pub csp_blocks_sdk: bool,
    /// Virtual minutes after the start of trading when the merchant fixes it (never when
    /// absent).
    #[serde(default)]
    pub fixed_at_min: Option<f64>,
}

/// The stage steps a scenario may take.
pub const STAGE_STEPS: [&str; 3] = ["advance", "rollback", "preflight"];

/// One scripted catalog edit, made the way a merchant makes it (variant edits do not bump the
/// product's `date_modified`; BigCommerce sends `store/sku/updated`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogEdit {
    /// Virtual minutes after the start of trading.
    pub at_min: f64,
    /// `price_drop` (put the variant on sale at `price`; its regular price stays), `end_sale`,
    /// `variant_edit` (a new regular `price`, clearing any sale), `stock` (set it to `stock`),
    /// `stock_flap` (set it to each of `levels` in turn, `every_secs` virtual seconds apart);
    /// behind the connector's back: `bloomreach_edit` (someone sets the variant's catalog item's
    /// `price` and/or `stock_level` in Bloomreach to `price`/`stock`), `bloomreach_delete`
    /// (someone deletes the item in Bloomreach); `variant_delete` (the merchant deletes the
    /// variant in BigCommerce, `store/sku/deleted`, which BigReach does not follow).
    #[serde(rename = "do")]
    pub action: String,
    /// 1-based position among the store's variants (sorted by id).
    pub variant: usize,
    /// `price_drop`/`variant_edit`: the price, a decimal string.
    #[serde(default)]
    pub price: Option<String>,
    /// `stock`: the level.
    #[serde(default)]
    pub stock: Option<i64>,
    /// `stock_flap`: the levels, in order.
    #[serde(default)]
    pub levels: Vec<i64>,
    /// `stock_flap`: virtual seconds between two levels (default 2).
    #[serde(default)]
    pub every_secs: Option<f64>,
}

impl CatalogEdit {
    /// The price, when the edit has one.
    pub fn price(&self) -> Result<Option<rust_decimal::Decimal>, String> {
        self.price
            .as_deref()
            .map(|text| {
                text.trim()
                    .parse::<rust_decimal::Decimal>()
                    .ok()
                    .filter(|p| *p > rust_decimal::Decimal::ZERO)
                    .ok_or_else(|| format!("catalog price {text:?} is not a positive decimal"))
            })
            .transpose()
    }

    fn check(&self) -> Result<(), String> {
        let at = format!("catalog edit at {} min", self.at_min);
        if self.variant == 0 {
            return Err(format!("{at}: variant positions start at 1"));
        }
        let price = self.price().map_err(|e| format!("{at}: {e}"))?;
        let ok = match self.action.as_str() {
            "price_drop" | "variant_edit" => price.is_some() && self.stock.is_none() && self.levels.is_empty(),
            "end_sale" | "bloomreach_delete" | "variant_delete" => price.is_none() && self.stock.is_none() && self.levels.is_empty(),
            "bloomreach_edit" => (price.is_some() || self.stock.is_some()) && self.stock.is_none_or(|s| s >= 0) && self.levels.is_empty(),
            "stock" => price.is_none() && self.stock.is_some_and(|s| s >= 0) && self.levels.is_empty(),
            "stock_flap" => price.is_none() && self.stock.is_none() && !self.levels.is_empty() && self.levels.iter().all(|l| *l >= 0),
            other => return Err(format!("{at}: unknown catalog edit {other:?}; use price_drop, end_sale, variant_edit, stock, stock_flap, bloomreach_edit, bloomreach_delete or variant_delete")),
        };
        if !ok {
            return Err(format!(
                "{at}: {} takes {}",
                self.action,
                match self.action.as_str() {
                    "price_drop" | "variant_edit" => "price = \"…\" only",
                    "end_sale" | "bloomreach_delete" | "variant_delete" => "nothing else",
                    "bloomreach_edit" => "price = \"…\" and/or stock = N (≥ 0)",
                    "stock" => "stock = N (≥ 0) only",
                    _ => "levels = [N, …] (each ≥ 0) and every_secs",
                }
            ));
        }
        if self
            .every_secs
            .is_some_and(|s| !(0.0..=3600.0).contains(&s))
        {
            return Err(format!("{at}: every_secs must be between 0 and 3600"));
        }
        Ok(())
    }
}

/// A catalog item Bloomreach must hold at the end, keyed by a variant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedCatalogItem {
    /// 1-based position among the store's variants (sorted by id); the item's `item_id` must
    /// be that variant's id, with its product's id, a URL and an image, and its price and stock.
    pub variant: usize,
    /// `price`, a decimal string.
    #[serde(default)]
    pub price: Option<String>,
    /// `list_price`, a decimal string.
    #[serde(default)]
    pub list_price: Option<String>,
    /// `discount_percentage`, a decimal string.
    #[serde(default)]
    pub discount_percentage: Option<String>,
    /// `in_stock`.
    #[serde(default)]
    pub in_stock: Option<bool>,
}

fn default_seed() -> u64 {
    1
}
fn default_speed() -> f64 {
    60.0
}
fn default_limit() -> u64 {
    120
}
fn default_poll() -> u64 {
    300
}

/// BigCommerce twin settings of a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioBigCommerce {
    /// `standard`, `plus`, `pro` or `enterprise`.
    #[serde(default = "default_plan")]
    pub plan: String,
    /// Store default currency, then other transactional currencies.
    #[serde(default = "default_currencies")]
    pub currencies: Vec<String>,
}

impl Default for ScenarioBigCommerce {
    fn default() -> Self {
        Self {
            plan: default_plan(),
            currencies: default_currencies(),
        }
    }
}

fn default_plan() -> String {
    "standard".into()
}
fn default_currencies() -> Vec<String> {
    vec!["USD".into()]
}

/// Bloomreach twin settings of a scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioBloomreach {
    /// Per-IP ceiling.
    #[serde(default = "default_rpm")]
    pub requests_per_minute: u32,
    /// The appliance's `[bloomreach] reference_currency` (default: the store's default).
    #[serde(default)]
    pub reference_currency: Option<String>,
}

impl Default for ScenarioBloomreach {
    fn default() -> Self {
        Self {
            requests_per_minute: default_rpm(),
            reference_currency: None,
        }
    }
}

fn default_rpm() -> u32 {
    6000
}

/// A named shopper.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shopper {
    /// Name used in reports.
    pub name: String,
    /// Email as the shopper usually types it.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone as typed.
    #[serde(default)]
    pub phone: Option<String>,
    /// Country (ISO alpha-2).
    #[serde(default = "default_country")]
    pub country: String,
    /// Actions in time order.
    pub actions: Vec<Action>,
}

fn default_country() -> String {
    "US".into()
}

/// One shopper action at a virtual minute.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Virtual minutes after the start of trading.
    pub at_min: f64,
    /// What: `register`, `checkout`, `pay`, `decline`, `ship`, `cancel`, `refund`,
    /// `refund_rest`, `cart`, `cart_email`, `abandon_cart`, `update_email`. May be left out
    /// when `refund` is given (it is then `refund`).
    #[serde(rename = "do", default)]
    pub action: String,
    /// `checkout`: as a guest (default) or as the registered customer.
    #[serde(default)]
    pub as_guest: Option<bool>,
    /// `checkout`/`cart_email`/`update_email`: the email as typed this time.
    #[serde(default)]
    pub email: Option<String>,
    /// `checkout`: the phone as typed this time.
    #[serde(default)]
    pub phone: Option<String>,
    /// `checkout`/`cart`: the transactional currency.
    #[serde(default)]
    pub currency: Option<String>,
    /// `checkout`: use the shopper's last cart.
    #[serde(default)]
    pub from_cart: bool,
    /// `refund` (old form): refund one unit of the first line; otherwise everything left.
    #[serde(default)]
    pub partial: bool,
    /// `checkout`: the lines, each a variant (1-based position among the store's variants, by
    /// id) and a quantity; empty = 1-3 random lines.
    #[serde(default)]
    pub lines: Vec<LineSpec>,
    /// `checkout`: the SAVE10 coupon (10 % off, store default currency only) on or off.
    #[serde(default)]
    pub coupon: Option<bool>,
    /// `checkout`: `free`, `flat` (4.95) or `express` (9.95), store default currency converted.
    #[serde(default)]
    pub shipping: Option<String>,
    /// `checkout`: a display (non-transactional) currency; the order is transacted in the
    /// store default.
    #[serde(default)]
    pub display_currency: Option<String>,
    /// `pay`: `card` (captured, the default), `authorize_only` (11, authorized),
    /// `cash_on_delivery` (11, pending) or `offline` (7 Awaiting Payment, pending); the last
    /// three are paid by a later `capture`, or never.
    #[serde(default)]
    pub payment: Option<String>,
    /// `staff_note`: the note; `tracking`: the tracking number.
    #[serde(default)]
    pub text: Option<String>,
    /// `refund`: which refund. `partial` (with `amount`: that much off the whole order),
    /// `line` (`quantity` units, default 1, of order line `line`, 1-based, default 1) or
    /// `full` (everything left, shipping included).
    #[serde(default)]
    pub refund: Option<String>,
    /// `refund = "partial"`: the amount, a decimal string in the order's currency (`"12.50"`).
    #[serde(default)]
    pub amount: Option<String>,
    /// `refund = "line"`: the order line, 1-based.
    #[serde(default)]
    pub line: Option<usize>,
    /// `refund = "line"`: units of that line.
    #[serde(default)]
    pub quantity: Option<u32>,
}

/// A scripted refund, as checked when the file loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundSpec {
    /// Everything left, shipping included.
    Full,
    /// One unit of the first line (the old `partial = true`).
    FirstUnit,
    /// An amount off the whole order.
    Amount(rust_decimal::Decimal),
    /// Units of one line (index from 0).
    Line {
        /// Order line, from 0.
        index: usize,
        /// Units.
        quantity: u32,
    },
}

impl Action {
    /// What the action does (`refund` when only `refund = …` is given).
    pub fn name(&self) -> &str {
        if self.action.is_empty() && self.refund.is_some() {
            "refund"
        } else {
            &self.action
        }
    }

    /// The refund a `refund`/`refund_rest` action asks for; an error for a bad combination.
    pub fn refund_spec(&self) -> Result<RefundSpec, String> {
        let refund_fields = self.amount.is_some() || self.line.is_some() || self.quantity.is_some();
        match (self.name(), self.refund.as_deref()) {
            ("refund_rest", None) if !refund_fields && !self.partial => Ok(RefundSpec::Full),
            ("refund", None) if !refund_fields => Ok(if self.partial {
                RefundSpec::FirstUnit
            } else {
                RefundSpec::Full
            }),
            ("refund", Some("full")) if !refund_fields && !self.partial => Ok(RefundSpec::Full),
            ("refund", Some("partial")) if self.line.is_none() && self.quantity.is_none() => {
                let text = self
                    .amount
                    .as_deref()
                    .ok_or("refund = \"partial\" needs amount = \"…\"")?;
                let amount: rust_decimal::Decimal = text
                    .trim()
                    .parse()
                    .map_err(|_| format!("refund amount {text:?} is not a decimal"))?;
                if amount <= rust_decimal::Decimal::ZERO || amount.scale() > 2 {
                    return Err(format!(
                        "refund amount {text:?} must be positive with at most 2 decimals"
                    ));
                }
                Ok(RefundSpec::Amount(amount))
            }
            ("refund", Some("line")) if self.amount.is_none() => {
                let line = self.line.unwrap_or(1);
                let quantity = self.quantity.unwrap_or(1);
                if line == 0 || quantity == 0 {
                    return Err("refund line and quantity start at 1".to_owned());
                }
                Ok(RefundSpec::Line {
                    index: line - 1,
                    quantity,
                })
            }
            ("refund", Some(other)) if !["full", "partial", "line"].contains(&other) => {
                Err(format!(
                "unknown refund {other:?}; use partial (with amount), line (line, quantity) or full"
            ))
            }
            ("refund" | "refund_rest", _) => Err(
                "refund takes partial = true (old form), or refund = \"partial\" with amount, \
                 \"line\" with line and quantity, or \"full\" with nothing else"
                    .to_owned(),
            ),
            (other, _) => Err(format!("{other} is not a refund")),
        }
    }
}

/// One scripted order line.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineSpec {
    /// 1-based position among the store's variants (sorted by id).
    pub variant: usize,
    /// Units.
    pub quantity: u32,
}

/// A crowd: generated shoppers trading over a window.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crowd {
    /// Start, in virtual minutes.
    pub at_min: f64,
    /// Length, in virtual minutes.
    pub over_mins: f64,
    /// Orders placed.
    pub orders: usize,
    /// New registrations.
    #[serde(default)]
    pub new_customers: usize,
    /// Variant edits.
    #[serde(default)]
    pub variant_edits: usize,
}

/// A fault switched on at `at_min` for `for_mins`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Start, in virtual minutes.
    pub at_min: f64,
    /// Length, in virtual minutes.
    pub for_mins: f64,
    /// One of the twins' fault kinds ([`BIGCOMMERCE_FAULTS`], [`BLOOMREACH_FAULTS`]; checked
    /// when the file loads): `bloomreach_rate_limit` (requests_per_minute),
    /// `bloomreach_outage`, `bloomreach_5xx` (per_mille), `bloomreach_latency` (latency_ms),
    /// `webhook_duplicates` (per_mille), `webhook_reorder` (max_delay_secs), `webhook_outage`,
    /// `hook_deactivation`, `bigcommerce_slow` (latency_ms), `bigcommerce_platform_429`
    /// (per_mille), `order_listing_churn`, `order_commit_lag` (latency_ms). The runner switches it with the twin's own `switch_fault`, as the control
    /// API `PUT /_twin/faults/{kind}` does; unset parameters take the twins' defaults.
    pub kind: String,
    /// For rate limits.
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// For probabilistic faults.
    #[serde(default)]
    pub per_mille: Option<u32>,
    /// For latency faults.
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// For reordering.
    #[serde(default)]
    pub max_delay_secs: Option<u64>,
}

/// Scenario-specific expectations.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// The fault must have been felt: at least this many 429s from Bloomreach.
    #[serde(default)]
    pub min_bloomreach_429s: u64,
    /// At least this many resends absorbed by Bloomreach's duplicate filter.
    #[serde(default)]
    pub min_duplicates_dropped: u64,
    /// At least this many hooks restored by the appliance.
    #[serde(default)]
    pub min_hooks_restored: u64,
    /// Purchase latency p99 (virtual ms) at most this.
    #[serde(default)]
    pub max_latency_p99_ms: Option<u64>,
    /// At least this many paid orders (guards against an empty scenario).
    #[serde(default)]
    pub min_paid_orders: usize,
    /// Events that must be on the profile of a given email (e.g. a guest's `cart_update`).
    #[serde(default)]
    pub events: Vec<ExpectedEvent>,
    /// Sales revenue per local currency, exact decimals as strings (`{ USD = "129.65" }`):
    /// both the store's paid orders and Bloomreach's purchases must add up to it.
    #[serde(default)]
    pub revenue: std::collections::BTreeMap<String, rust_decimal::Decimal>,
    /// The same in the reference currency (`{ USD = "…" }`).
    #[serde(default)]
    pub reference_revenue: std::collections::BTreeMap<String, rust_decimal::Decimal>,
    /// Exactly this many `purchase` events with `purchase_status` `success` in Bloomreach.
    #[serde(default)]
    pub purchases: Option<usize>,
    /// Exactly this many `purchase` events with `purchase_status` `cancelled`.
    #[serde(default)]
    pub cancellations: Option<usize>,
    /// Exactly this many distinct refunds (by `refund_id`) in Bloomreach.
    #[serde(default)]
    pub refunds: Option<usize>,
    /// The refund events' amounts (shopper's currency, each refund once) add up to exactly this
    /// decimal string.
    #[serde(default)]
    pub refunded_total: Option<String>,
    /// Per person: the refunds on the profile of an email.
    #[serde(default)]
    pub refunded: Vec<ExpectedRefunds>,
    /// Catalog items Bloomreach must hold, keyed by variant.
    #[serde(default)]
    pub catalog_items: Vec<ExpectedCatalogItem>,
    /// Exactly this many trigger events of each type (`back_in_stock`, `price_drop`) on the
    /// trigger profile.
    #[serde(default)]
    pub trigger_events: std::collections::BTreeMap<String, usize>,
    /// At most this many catalog item writes Bloomreach accepted during the run.
    #[serde(default)]
    pub max_catalog_item_writes: Option<u64>,
    /// At least this many writes the catalog drift comparison's repairs enqueued (partial
    /// updates, full writes, deletes; from the `catalog.drift_repaired` audit entries). The run
    /// waits for them before it judges.
    #[serde(default)]
    pub min_drift_repairs: u64,
    /// The cutover stage at the end (`read_only`, `ingest`, …).
    #[serde(default)]
    pub stage: Option<bigreach_core::cutover::Stage>,
    /// An automatic check fell back from a stage, naming this check (`rate_limited`, …).
    #[serde(default)]
    pub fell_back_on: Option<String>,
}

/// The refunds that must be on the profile keyed by an email.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedRefunds {
    /// The email (any case; compared normalized).
    pub email: String,
    /// Distinct refunds on that profile.
    #[serde(default)]
    pub refunds: Option<usize>,
    /// Their amounts add up to exactly this decimal string.
    #[serde(default)]
    pub total: Option<String>,
}

/// An event that must reach the profile keyed by an email.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedEvent {
    /// The email (any case; compared normalized).
    pub email: String,
    /// The event type, e.g. `cart_update`.
    pub event_type: String,
}

/// Scenario failures (not findings: a scenario that runs and finds problems is a report).
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file is unreadable or invalid.
    #[error("scenario {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The run failed.
    #[cfg(feature = "run")]
    #[error("{0}")]
    Demo(#[from] DemoError),
    /// The appliance failed to start.
    #[cfg(feature = "run")]
    #[error("starting the appliance failed: {0}")]
    Start(#[from] bigreach_runtime::StartError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] bigreach_core::store::StoreError),
    /// The appliance did not finish its first poll pass within the run's time limit, so
    /// trading never started.
    #[error(
        "the appliance did not finish its first BigCommerce poll pass within the run's limit \
         of {limit_secs} s; its log says which request keeps failing (a missing scope?)"
    )]
    FirstPollPass {
        /// The scenario's `limit_secs`.
        limit_secs: u64,
    },
}

/// What a scenario run found.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    /// The scenario's name.
    pub scenario: String,
    /// The ground-truth verdict's counts (shared with the demo).
    pub summary: DemoSummary,
    /// Catalog items whose price or stock differs from the store's variant.
    pub catalog_items_stale: usize,
    /// Catalog item writes Bloomreach accepted during the run (debouncing is measured by it).
    pub catalog_item_writes: u64,
    /// Catalog requests the appliance sent (bulk updates, field declarations).
    pub catalog_requests: u64,
    /// Hooks the appliance restored.
    pub hooks_restored: u64,
    /// Writes the catalog drift comparison's repairs enqueued.
    pub drift_repairs: u64,
    /// Catalog items of variants the store no longer has (a deleted variant's item left behind).
    pub catalog_items_extra: usize,
    /// Shopper actions the twin refused (a scenario bug).
    pub action_errors: Vec<String>,
    /// Expectations not met.
    pub unmet_expectations: Vec<String>,
    /// Virtual seconds per real second.
    pub speed: f64,
    /// Pass or fail.
    pub passed: bool,
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let error = |message: String| ScenarioError::File {
            path: path.to_owned(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
        Self::parse(&text).map_err(error)
    }

    /// Parses and checks a scenario file's text (what [`Scenario::load`] does after reading).
    pub fn parse(text: &str) -> Result<Self, String> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        scenario.check()?;
        Ok(scenario)
    }

    fn check(&self) -> Result<(), String> {
        const ACTIONS: [&str; 17] = [
            "register",
            "checkout",
            "pay",
            "decline",
            "ship",
            "cancel",
            "refund",
            "refund_rest",
            "cart",
            "cart_email",
            "abandon_cart",
            "update_email",
            "capture",
            "await_shipment",
            "ship_partially",
            "staff_note",
            "tracking",
        ];
        const PAYMENTS: [&str; 4] = ["card", "authorize_only", "cash_on_delivery", "offline"];
        if !(1.0..=100_000.0).contains(&self.speed) {
            return Err(format!("speed {} must be between 1 and 100000", self.speed));
        }
        // Every time must be one the runner can schedule (no inf, nan, negative or huge minutes).
        const MAX_MINUTES: f64 = 525_600.0;
        let times = (self.shoppers.iter().flat_map(|s| &s.actions))
            .map(|a| ("actions.at_min", a.at_min))
            .chain((self.crowds.iter()).flat_map(|c| {
                [
                    ("crowds.at_min", c.at_min),
                    ("crowds.over_mins", c.over_mins),
                ]
            }))
            .chain(
                (self.faults.iter())
                    .flat_map(|f| [("faults.at_min", f.at_min), ("faults.for_mins", f.for_mins)]),
            );
        if let Some((field, minutes)) = times
            .into_iter()
            .find(|(_, m)| !(0.0..=MAX_MINUTES).contains(m))
        {
            return Err(format!(
                "{field} = {minutes} must be between 0 and {MAX_MINUTES} virtual minutes (a year)"
            ));
        }
        for shopper in &self.shoppers {
            if shopper.email.is_none() && shopper.phone.is_none() {
                return Err(format!(
                    "shopper {} needs an email or a phone",
                    shopper.name
                ));
            }
            for action in &shopper.actions {
                if !ACTIONS.contains(&action.name()) {
                    return Err(format!(
                        "shopper {}: unknown action {:?}; use one of {ACTIONS:?}",
                        shopper.name,
                        action.name()
                    ));
                }
                if let Some(payment) = &action.payment {
                    if action.action != "pay" || !PAYMENTS.contains(&payment.as_str()) {
                        return Err(format!(
                            "shopper {}: payment {payment:?} goes on a pay action, one of {PAYMENTS:?}",
                            shopper.name
                        ));
                    }
                }
                let refund_fields = action.refund.is_some()
                    || action.amount.is_some()
                    || action.line.is_some()
                    || action.quantity.is_some();
                if matches!(action.name(), "refund" | "refund_rest") {
                    action.refund_spec().map_err(|e| {
                        format!("shopper {} at {} min: {e}", shopper.name, action.at_min)
                    })?;
                } else if refund_fields {
                    return Err(format!(
                        "shopper {} at {} min: refund, amount, line and quantity belong to a refund",
                        shopper.name, action.at_min
                    ));
                }
            }
        }
        let totals = std::iter::once(("refunded_total", self.expect.refunded_total.as_ref()))
            .chain(
                self.expect
                    .refunded
                    .iter()
                    .map(|r| ("refunded.total", r.total.as_ref())),
            );
        for (field, total) in totals {
            if let Some(text) = total {
                text.trim()
                    .parse::<rust_decimal::Decimal>()
                    .map_err(|_| format!("expect.{field} {text:?} is not a decimal"))?;
            }
        }
        for edit in &self.catalog {
            edit.check()?;
            if !(0.0..=MAX_MINUTES).contains(&edit.at_min) {
                return Err(format!(
                    "catalog.at_min = {} must be between 0 and {MAX_MINUTES} virtual minutes (a year)",
                    edit.at_min
                ));
            }
        }
        for item in &self.expect.catalog_items {
            if item.variant == 0 {
                return Err("expect.catalog_items: variant positions start at 1".to_owned());
            }
            for text in [&item.price, &item.list_price, &item.discount_percentage]
                .into_iter()
                .flatten()
            {
                text.trim()
                    .parse::<rust_decimal::Decimal>()
                    .map_err(|_| format!("expect.catalog_items {text:?} is not a decimal"))?;
            }
        }
        for step in &self.stages {
            if !STAGE_STEPS.contains(&step.action.as_str()) {
                return Err(format!(
                    "unknown stage step {:?} (at_min {}); steps are {}",
                    step.action,
                    step.at_min,
                    STAGE_STEPS.join(", ")
                ));
            }
            if let Some(code) = &step.refused {
                if !bigreach_core::app::Code::ALL
                    .iter()
                    .any(|known| known.as_str() == code)
                {
                    return Err(format!(
                        "stage step {} at {} min: refused = {code:?} is not an error code",
                        step.action, step.at_min
                    ));
                }
            }
        }
        if self.preflight_trouble.is_some() && self.stages.is_empty() {
            return Err("preflight_trouble needs stage steps that run the preflight".to_owned());
        }
        for fault in &self.faults {
            let kind = fault.kind.as_str();
            if !BIGCOMMERCE_FAULTS.contains(&kind) && !BLOOMREACH_FAULTS.contains(&kind) {
                return Err(format!(
                    "unknown fault kind {kind:?} (at_min {}); the twins switch {} (BigCommerce) \
                     and {} (Bloomreach)",
                    fault.at_min,
                    BIGCOMMERCE_FAULTS.join(", "),
                    BLOOMREACH_FAULTS.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The twins' plan: the scenario's store (or a small default one), no trading burst.
    #[cfg(feature = "run")]
    fn plan(&self) -> DemoPlan {
        let store = self.store.clone().unwrap_or(StorePlan {
            customers: 0,
            products: 8,
            max_variants_per_product: 3,
            historical_orders: 0,
            history_days: 30,
            guest_share_per_mille: 500,
            phone_only_guest_per_mille: 50,
            currencies: self.bigcommerce.currencies.clone(),
        });
        DemoPlan {
            seed: self.seed,
            store: StorePlan {
                currencies: self.bigcommerce.currencies.clone(),
                ..store
            },
            trading: TradingPlan {
                orders: 0,
                new_customers: 0,
                variant_edits: 0,
                over_secs: 0,
            },
            bigcommerce: BigCommercePlan {
                plan: self.bigcommerce.plan.clone(),
            },
            bloomreach: BloomreachPlan {
                requests_per_minute: self.bloomreach.requests_per_minute,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, faults: &str) -> PathBuf {
        let path = dir.join("story.toml");
        std::fs::write(
            &path,
            format!("name = \"x\"\ndescription = \"y\"\n{faults}"),
        )
        .unwrap();
        path
    }

    #[test]
    fn an_unknown_fault_is_refused_at_load_naming_the_file_the_fault_and_the_known_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "[[faults]]\nkind = \"meteor\"\nat_min = 1\nfor_mins = 1\n",
        );
        let err = Scenario::load(&path).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("\"meteor\""), "{err}");
        for kind in BIGCOMMERCE_FAULTS.iter().chain(BLOOMREACH_FAULTS) {
            assert!(err.contains(kind), "{kind} missing from: {err}");
        }
    }

    #[test]
    fn an_expected_refusal_must_be_an_error_code_and_preflight_trouble_needs_stage_steps() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "[[stages]]\nat_min = 1\ndo = \"advance\"\nrefused = \"nope\"\n",
        );
        let err = Scenario::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("refused = \"nope\" is not an error code"),
            "{err}"
        );
        let path = write(
            dir.path(),
            "[[stages]]\nat_min = 1\ndo = \"advance\"\nrefused = \"preflight_failed\"\n",
        );
        let scenario = Scenario::load(&path).unwrap();
        assert_eq!(
            scenario.stages[0].refused.as_deref(),
            Some("preflight_failed")
        );
        let path = write(
            dir.path(),
            "[preflight_trouble]\ncsp_blocks_sdk = true\nfixed_at_min = 2\n",
        );
        let err = Scenario::load(&path).unwrap_err().to_string();
        assert!(err.contains("preflight_trouble needs stage steps"), "{err}");
    }

    #[test]
    fn refunds_are_scripted_by_amount_by_line_or_in_full_and_the_old_forms_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let scenario = Scenario::load(&write(
            dir.path(),
            r#"[[shoppers]]
name = "a"
email = "a@example.com"
actions = [
  { at_min = 1, do = "refund", partial = true },
  { at_min = 2, do = "refund_rest" },
  { at_min = 3, do = "refund" },
  { at_min = 4, refund = "partial", amount = "12.50" },
  { at_min = 5, do = "refund", refund = "line", line = 2, quantity = 3 },
  { at_min = 6, refund = "line" },
  { at_min = 7, refund = "full" },
]
[expect]
refunds = 3
refunded_total = "19.75"
refunded = [{ email = "a@example.com", refunds = 2, total = "7.25" }]
"#,
        ))
        .unwrap();
        let specs: Vec<RefundSpec> = scenario.shoppers[0]
            .actions
            .iter()
            .map(|a| a.refund_spec().unwrap())
            .collect();
        assert_eq!(
            specs,
            vec![
                RefundSpec::FirstUnit,
                RefundSpec::Full,
                RefundSpec::Full,
                RefundSpec::Amount("12.50".parse().unwrap()),
                RefundSpec::Line {
                    index: 1,
                    quantity: 3
                },
                RefundSpec::Line {
                    index: 0,
                    quantity: 1
                },
                RefundSpec::Full,
            ]
        );
        assert_eq!(scenario.expect.refunds, Some(3));
        for (bad, says) in [
            (r#"{ at_min = 1, refund = "partial" }"#, "needs amount"),
            (
                r#"{ at_min = 1, refund = "partial", amount = "1.005" }"#,
                "at most 2 decimals",
            ),
            (
                r#"{ at_min = 1, refund = "partial", amount = "-1" }"#,
                "positive",
            ),
            (
                r#"{ at_min = 1, refund = "partial", amount = "ten" }"#,
                "not a decimal",
            ),
            (r#"{ at_min = 1, refund = "line", line = 0 }"#, "start at 1"),
            (r#"{ at_min = 1, refund = "most" }"#, "unknown refund"),
            (
                r#"{ at_min = 1, refund = "full", amount = "1" }"#,
                "refund takes",
            ),
            (
                r#"{ at_min = 1, do = "pay", amount = "1" }"#,
                "belong to a refund",
            ),
        ] {
            let path = write(
                dir.path(),
                &format!(
                    "[[shoppers]]\nname = \"a\"\nemail = \"a@example.com\"\nactions = [{bad}]\n"
                ),
            );
            let err = Scenario::load(&path).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let path = write(dir.path(), "[expect]\nrefunded_total = \"lots\"\n");
        assert!(Scenario::load(&path)
            .unwrap_err()
            .to_string()
            .contains("not a decimal"));
    }

    #[test]
    fn drift_steps_load_and_a_wrong_combination_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let scenario = Scenario::load(&write(
            dir.path(),
            r#"drift_compare_secs = 3600
[[catalog]]
at_min = 1
do = "bloomreach_edit"
variant = 1
price = "0.50"
[[catalog]]
at_min = 2
do = "bloomreach_edit"
variant = 2
stock = 9
[[catalog]]
at_min = 3
do = "bloomreach_delete"
variant = 3
[[catalog]]
at_min = 4
do = "variant_delete"
variant = 4
[expect]
min_drift_repairs = 4
"#,
        ))
        .unwrap();
        assert_eq!(scenario.drift_compare_secs, Some(3600));
        assert_eq!(scenario.expect.min_drift_repairs, 4);
        assert_eq!(scenario.catalog.len(), 4);
        for (bad, says) in [
            ("do = \"bloomreach_edit\"", "price = "),
            ("do = \"bloomreach_edit\"\nstock = -1", "price = "),
            ("do = \"bloomreach_delete\"\nprice = \"1\"", "nothing else"),
            ("do = \"variant_delete\"\nstock = 1", "nothing else"),
            ("do = \"bloomreach_move\"", "bloomreach_delete"),
        ] {
            let path = write(
                dir.path(),
                &format!("[[catalog]]\nat_min = 1\nvariant = 1\n{bad}\n"),
            );
            let err = Scenario::load(&path).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn every_fault_kind_the_twins_switch_loads() {
        let dir = tempfile::tempdir().unwrap();
        let faults: String = BIGCOMMERCE_FAULTS
            .iter()
            .chain(BLOOMREACH_FAULTS)
            .map(|kind| format!("[[faults]]\nkind = \"{kind}\"\nat_min = 1\nfor_mins = 1\n"))
            .collect();
        let scenario = Scenario::load(&write(dir.path(), &faults)).unwrap();
        assert_eq!(
            scenario.faults.len(),
            BIGCOMMERCE_FAULTS.len() + BLOOMREACH_FAULTS.len()
        );
    }
}
