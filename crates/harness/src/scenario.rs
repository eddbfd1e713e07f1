//! `bigreach scenario run FILE`: a scenario file describes a store, shoppers and their actions,
//! crowds of generated shoppers, and a fault schedule. The runner plays it through both twins and
//! the appliance on one accelerated clock, then compares Bloomreach's final state with the
//! store's ground truth.
//!
//! Scenario files live in `data/scenarios/`; see `data/scenarios/README.md` for the format.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bigreach_clock::{ScaledClock, SharedClock};
use bigreach_core::config::Config;
use bigreach_core::secret::SecretResolver;
use bigreach_runtime::Appliance;
use bigreach_twins::bigcommerce::{CheckoutSpec, ShopperSpec, TradingBurst, WebhookFaults};
use bigreach_twins::bloomreach::LatencyModel;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::demo::DemoError;
use crate::plan::{BigCommercePlan, BloomreachPlan, DemoPlan, StorePlan, TradingPlan};
use crate::twins::{credentials, Twins};
use crate::verdict::{evaluate, DemoSummary};

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
    /// What this scenario expects beyond the universal checks.
    #[serde(default)]
    pub expect: Expectations,
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
}

impl Default for ScenarioBloomreach {
    fn default() -> Self {
        Self {
            requests_per_minute: default_rpm(),
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
    /// `refund_rest`, `cart`, `cart_email`, `abandon_cart`, `update_email`.
    #[serde(rename = "do")]
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
    /// `refund`: refund only the first line (partial); otherwise everything left.
    #[serde(default)]
    pub partial: bool,
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
    /// `bloomreach_rate_limit` (requests_per_minute), `bloomreach_outage`, `bloomreach_5xx`
    /// (per_mille), `bloomreach_latency` (latency_ms), `webhook_duplicates` (per_mille),
    /// `webhook_reorder` (max_delay_secs), `webhook_outage`, `hook_deactivation`,
    /// `bigcommerce_slow` (latency_ms), `bigcommerce_platform_429` (per_mille).
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
    #[error("{0}")]
    Demo(#[from] DemoError),
    /// The appliance failed to start.
    #[error("starting the appliance failed: {0}")]
    Start(#[from] bigreach_runtime::StartError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] bigreach_core::store::StoreError),
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
    /// Hooks the appliance restored.
    pub hooks_restored: u64,
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
        let scenario: Scenario =
            toml::from_str(&text).map_err(|e| error(e.message().to_owned()))?;
        scenario.check().map_err(error)?;
        Ok(scenario)
    }

    fn check(&self) -> Result<(), String> {
        const ACTIONS: [&str; 12] = [
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
        ];
        const FAULTS: [&str; 10] = [
            "bloomreach_rate_limit",
            "bloomreach_outage",
            "bloomreach_5xx",
            "bloomreach_latency",
            "webhook_duplicates",
            "webhook_reorder",
            "webhook_outage",
            "hook_deactivation",
            "bigcommerce_slow",
            "bigcommerce_platform_429",
        ];
        if !(1.0..=100_000.0).contains(&self.speed) {
            return Err(format!("speed {} must be between 1 and 100000", self.speed));
        }
        for shopper in &self.shoppers {
            if shopper.email.is_none() && shopper.phone.is_none() {
                return Err(format!(
                    "shopper {} needs an email or a phone",
                    shopper.name
                ));
            }
            for action in &shopper.actions {
                if !ACTIONS.contains(&action.action.as_str()) {
                    return Err(format!(
                        "shopper {}: unknown action {:?}; use one of {ACTIONS:?}",
                        shopper.name, action.action
                    ));
                }
            }
        }
        for fault in &self.faults {
            if !FAULTS.contains(&fault.kind.as_str()) {
                return Err(format!(
                    "unknown fault {:?}; use one of {FAULTS:?}",
                    fault.kind
                ));
            }
        }
        Ok(())
    }

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

fn minutes(m: f64) -> Duration {
    Duration::from_secs_f64((m * 60.0).max(0.0))
}

async fn sleep_until(clock: &SharedClock, at: DateTime<Utc>) {
    let now = clock.now();
    if at > now {
        clock.sleep((at - now).to_std().unwrap_or_default()).await;
    }
}

/// Options for a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Replace the Bloomreach base URL the appliance uses (tests put a faulty proxy there).
    pub bloomreach_url: Option<url::Url>,
    /// How the appliance chooses customer IDs (`email-as-id` is the comparison baseline).
    pub identity: bigreach_core::config::IdentityPolicy,
}

/// Runs a scenario and reports what it found.
pub async fn run(
    scenario: &Scenario,
    data_dir: &Path,
    options: &RunOptions,
) -> Result<ScenarioReport, ScenarioError> {
    let scaled = ScaledClock::new(Utc::now(), scenario.speed);
    let clock: SharedClock = scaled.clone();
    let plan = scenario.plan();
    let twins = Twins::start(&plan, clock.clone()).await?;
    let result = run_with(scenario, &twins, data_dir, options, clock).await;
    twins.shutdown().await;
    result
}

/// Runs a scenario with the appliance talking to Bloomreach through a proxy that `make_proxy`
/// starts in front of the Bloomreach twin (tests use it to break the network on purpose).
pub async fn run_with_bloomreach_proxy<F, Fut>(
    scenario: &Scenario,
    data_dir: &Path,
    make_proxy: F,
) -> Result<ScenarioReport, ScenarioError>
where
    F: FnOnce(url::Url) -> Fut,
    Fut: std::future::Future<Output = url::Url>,
{
    let clock: SharedClock = ScaledClock::new(Utc::now(), scenario.speed);
    let plan = scenario.plan();
    let twins = Twins::start(&plan, clock.clone()).await?;
    let options = RunOptions {
        bloomreach_url: Some(make_proxy(twins.bloomreach.base_url()).await),
        ..RunOptions::default()
    };
    let result = run_with(scenario, &twins, data_dir, &options, clock).await;
    twins.shutdown().await;
    result
}

async fn run_with(
    scenario: &Scenario,
    twins: &Twins,
    data_dir: &Path,
    options: &RunOptions,
    clock: SharedClock,
) -> Result<ScenarioReport, ScenarioError> {
    let started = Instant::now();
    let limit = Duration::from_secs(scenario.limit_secs);
    let secrets = SecretResolver::new();
    let mut config: Config = twins.appliance_config(data_dir, &secrets);
    config.bigcommerce.poll_interval_secs = scenario.poll_interval_secs;
    if let Some(url) = &options.bloomreach_url {
        config.bloomreach.base_url = url.clone();
    }
    config.bloomreach.identity = options.identity;
    let persons: Vec<u64> = scenario
        .shoppers
        .iter()
        .map(|s| {
            twins.bigcommerce.add_person(&ShopperSpec {
                email: s.email.clone(),
                phone: s.phone.clone(),
                first_name: s.name.clone(),
                last_name: "Scenario".into(),
                country_iso2: s.country.clone(),
            })
        })
        .collect();
    let appliance = Appliance::start(&config, &secrets, clock.clone()).await?;
    appliance.wait_poll_passes(1).await;
    let t0 = clock.now();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for (shopper, person) in scenario.shoppers.iter().cloned().zip(persons) {
        let (bc, clock, errors) = (twins.bigcommerce.clone(), clock.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut state = ShopperState::default();
            for action in &shopper.actions {
                let at =
                    t0 + chrono::Duration::from_std(minutes(action.at_min)).unwrap_or_default();
                sleep_until(&clock, at).await;
                if let Err(e) = perform(&bc, person, action, &mut state).await {
                    errors.lock().push(format!(
                        "{} at {} min: {} failed: {e}",
                        shopper.name, action.at_min, action.action
                    ));
                }
            }
        }));
    }
    for crowd in scenario.crowds.clone() {
        let (bc, clock) = (twins.bigcommerce.clone(), clock.clone());
        tasks.push(tokio::spawn(async move {
            let at = t0 + chrono::Duration::from_std(minutes(crowd.at_min)).unwrap_or_default();
            sleep_until(&clock, at).await;
            bc.run_trading(&TradingBurst {
                orders: crowd.orders,
                new_customers: crowd.new_customers,
                variant_edits: crowd.variant_edits,
                over: minutes(crowd.over_mins),
            })
            .await;
        }));
    }
    let webhook_faults = Arc::new(Mutex::new(WebhookFaults::default()));
    for fault in scenario.faults.clone() {
        let (bc, br, clock, webhook_faults) = (
            twins.bigcommerce.clone(),
            twins.bloomreach.clone(),
            clock.clone(),
            webhook_faults.clone(),
        );
        let rpm = scenario.bloomreach.requests_per_minute;
        tasks.push(tokio::spawn(async move {
            let at = t0 + chrono::Duration::from_std(minutes(fault.at_min)).unwrap_or_default();
            let until =
                at + chrono::Duration::from_std(minutes(fault.for_mins)).unwrap_or_default();
            sleep_until(&clock, at).await;
            switch_fault(&fault, true, until, &bc, &br, rpm, &webhook_faults);
            sleep_until(&clock, until).await;
            switch_fault(&fault, false, until, &bc, &br, rpm, &webhook_faults);
        }));
    }
    let mut finished = true;
    for task in tasks {
        let remaining = limit.saturating_sub(started.elapsed());
        if tokio::time::timeout(remaining, task).await.is_err() {
            finished = false;
        }
    }
    // Everything happened. Wait for two more poll passes (the safety net has then listed every
    // change) and for the appliance to go idle.
    let passes = appliance.poll_passes();
    let mut idle_checks = 0;
    if finished {
        finished = false;
        while started.elapsed() < limit {
            clock
                .sleep(Duration::from_secs_f64(0.1 * scenario.speed))
                .await;
            let idle = appliance.poll_passes() >= passes + 2 && appliance.status()?.idle;
            idle_checks = if idle { idle_checks + 1 } else { 0 };
            if idle_checks >= 3 {
                finished = true;
                break;
            }
        }
    }
    let status = appliance.status()?;
    appliance.shutdown().await;
    let store_truth = twins.bigcommerce.truth();
    let bloomreach_truth = twins.bloomreach.truth();
    let mut summary = evaluate(
        &store_truth,
        &bloomreach_truth,
        &config.bloomreach.ids,
        &config.bloomreach.catalog_name,
        t0,
    );
    summary.dead_letters = status.store.dead_letters;
    summary.finished = finished;
    summary.elapsed_s = (started.elapsed().as_millis() as f64 / 100.0).round() / 10.0;

    let catalog = bloomreach_truth
        .catalogs
        .iter()
        .find(|c| c.name == config.bloomreach.catalog_name);
    let catalog_items_stale = store_truth
        .variants
        .iter()
        .filter(|v| {
            let Some(item) = catalog.and_then(|c| c.items.get(&v.variant_id.to_string())) else {
                return false; // counted as missing already
            };
            let price = item
                .get("price")
                .and_then(|p| p.as_f64())
                .and_then(Decimal::from_f64)
                .map(|p| p.round_dp(2));
            let stock = item.get("stock_level").and_then(|s| s.as_i64());
            price != Some(v.price.round_dp(2)) || stock != Some(v.inventory_level)
        })
        .count();
    let hooks_restored = status.metrics.hooks_restored;
    let e = &scenario.expect;
    let mut unmet = Vec::new();
    if summary.bloomreach_429s < e.min_bloomreach_429s {
        unmet.push(format!(
            "expected at least {} Bloomreach 429s, saw {}",
            e.min_bloomreach_429s, summary.bloomreach_429s
        ));
    }
    if summary.bloomreach_duplicates_dropped < e.min_duplicates_dropped {
        unmet.push(format!(
            "expected at least {} duplicates dropped, saw {}",
            e.min_duplicates_dropped, summary.bloomreach_duplicates_dropped
        ));
    }
    if hooks_restored < e.min_hooks_restored {
        unmet.push(format!(
            "expected at least {} hooks restored, saw {hooks_restored}",
            e.min_hooks_restored
        ));
    }
    if let Some(max) = e.max_latency_p99_ms {
        if summary.latency_ms.p99 > max {
            unmet.push(format!(
                "expected purchase latency p99 ≤ {max} ms, saw {} ms",
                summary.latency_ms.p99
            ));
        }
    }
    if summary.orders_paid_in_bigcommerce < e.min_paid_orders {
        unmet.push(format!(
            "expected at least {} paid orders, saw {}",
            e.min_paid_orders, summary.orders_paid_in_bigcommerce
        ));
    }
    for expected in &e.events {
        let email = expected.email.trim().to_lowercase();
        let found = bloomreach_truth.profiles.iter().any(|p| {
            p.ids
                .get(&config.bloomreach.ids.email)
                .is_some_and(|values| values.contains(&email))
                && p.events
                    .iter()
                    .any(|ev| ev.event_type == expected.event_type)
        });
        if !found {
            unmet.push(format!(
                "expected a {} event on the profile of {email}",
                expected.event_type
            ));
        }
    }
    let action_errors = errors.lock().clone();
    let passed = summary.is_clean()
        && catalog_items_stale == 0
        && action_errors.is_empty()
        && unmet.is_empty();
    Ok(ScenarioReport {
        scenario: scenario.name.clone(),
        summary,
        catalog_items_stale,
        hooks_restored,
        action_errors,
        unmet_expectations: unmet,
        speed: scenario.speed,
        passed,
    })
}

#[derive(Default)]
struct ShopperState {
    orders: Vec<u64>,
    carts: Vec<String>,
}

/// The order-product ids of an order, read through the twin's REST API like any other client.
async fn order_lines(
    bc: &bigreach_twins::bigcommerce::BigCommerceTwin,
    order: u64,
) -> Result<Vec<(u64, u32)>, String> {
    let url = bc
        .api_root()
        .join(&format!("v2/orders/{order}/products"))
        .map_err(|e| e.to_string())?;
    let lines: Vec<serde_json::Value> = reqwest::Client::new()
        .get(url)
        .header("X-Auth-Token", credentials::BC_TOKEN)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    Ok(lines
        .iter()
        .filter_map(|l| {
            Some((
                l.get("id")?.as_u64()?,
                u32::try_from(l.get("quantity")?.as_u64()?).ok()?,
            ))
        })
        .collect())
}

async fn perform(
    bc: &bigreach_twins::bigcommerce::BigCommerceTwin,
    person: u64,
    action: &Action,
    state: &mut ShopperState,
) -> Result<(), String> {
    let last_order = || {
        state
            .orders
            .last()
            .copied()
            .ok_or("no order yet".to_owned())
    };
    match action.action.as_str() {
        "register" => bc.register(person).map(|_| ()).map_err(|e| e.to_string()),
        "checkout" => {
            let cart_id = if action.from_cart {
                Some(state.carts.last().cloned().ok_or("no cart yet")?)
            } else {
                None
            };
            let order = bc
                .checkout(
                    person,
                    &CheckoutSpec {
                        email_as_typed: action.email.clone(),
                        phone_as_typed: action.phone.clone(),
                        currency: action.currency.clone(),
                        lines: Vec::new(),
                        as_guest: action.as_guest.unwrap_or(true),
                        cart_id,
                    },
                )
                .map_err(|e| e.to_string())?;
            state.orders.push(order);
            Ok(())
        }
        "pay" => bc.pay(last_order()?).map_err(|e| e.to_string()),
        "decline" => bc.decline(last_order()?).map_err(|e| e.to_string()),
        "ship" => bc.ship(last_order()?).map_err(|e| e.to_string()),
        "cancel" => bc.cancel(last_order()?).map_err(|e| e.to_string()),
        "refund" | "refund_rest" => {
            let order = last_order()?;
            let lines = if action.partial {
                // One unit of the first line.
                let first = *order_lines(bc, order)
                    .await?
                    .first()
                    .ok_or("order has no lines")?;
                vec![(first.0, 1)]
            } else {
                Vec::new()
            };
            bc.refund(order, &lines)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        "cart" => {
            let variants = bc.variant_ids();
            let first = *variants.first().ok_or("the store has no variants")?;
            let cart = bc
                .create_cart(person, &[(first, 1)], action.currency.as_deref())
                .map_err(|e| e.to_string())?;
            state.carts.push(cart);
            Ok(())
        }
        "cart_email" => {
            let cart = state.carts.last().ok_or("no cart yet")?;
            let email = action.email.as_deref().ok_or("cart_email needs email")?;
            bc.set_cart_email(cart, email).map_err(|e| e.to_string())
        }
        "abandon_cart" => {
            let cart = state.carts.last().ok_or("no cart yet")?;
            bc.abandon_cart(cart).map(|_| ()).map_err(|e| e.to_string())
        }
        "update_email" => {
            Err("update_email needs the registered customer id; not supported yet".into())
        }
        other => Err(format!("unknown action {other}")),
    }
}

fn switch_fault(
    fault: &Fault,
    on: bool,
    until: DateTime<Utc>,
    bc: &bigreach_twins::bigcommerce::BigCommerceTwin,
    br: &bigreach_twins::bloomreach::BloomreachTwin,
    normal_rpm: u32,
    webhook_faults: &Mutex<WebhookFaults>,
) {
    let set_webhook = |change: &dyn Fn(&mut WebhookFaults)| {
        let mut faults = webhook_faults.lock();
        change(&mut faults);
        bc.set_webhook_faults(faults.clone());
    };
    tracing::info!(kind = %fault.kind, on, "scenario fault");
    match fault.kind.as_str() {
        "bloomreach_rate_limit" => br.set_requests_per_minute(if on {
            fault.requests_per_minute.unwrap_or(30)
        } else {
            normal_rpm
        }),
        "bloomreach_outage" => br.set_outage(on.then_some(until)),
        "bloomreach_5xx" => br.set_server_error_per_mille(if on {
            fault.per_mille.unwrap_or(300)
        } else {
            0
        }),
        "bloomreach_latency" => br.set_latency(if on {
            LatencyModel {
                base: Duration::from_millis(fault.latency_ms.unwrap_or(2000)),
                jitter: Duration::from_millis(fault.latency_ms.unwrap_or(2000) / 2),
            }
        } else {
            LatencyModel::ZERO
        }),
        "webhook_duplicates" => set_webhook(&|f| {
            f.duplicate_per_mille = if on {
                fault.per_mille.unwrap_or(300)
            } else {
                0
            }
        }),
        "webhook_reorder" => set_webhook(&|f| {
            f.max_extra_delay = if on {
                Duration::from_secs(fault.max_delay_secs.unwrap_or(120))
            } else {
                Duration::ZERO
            }
        }),
        "webhook_outage" => set_webhook(&|f| f.fail_all_until = on.then_some(until)),
        "hook_deactivation" if on => bc.deactivate_hooks(),
        "bigcommerce_slow" => bc.set_response_delay(if on {
            Duration::from_millis(fault.latency_ms.unwrap_or(2000))
        } else {
            Duration::ZERO
        }),
        "bigcommerce_platform_429" => bc.set_platform_429_per_mille(if on {
            fault.per_mille.unwrap_or(100)
        } else {
            0
        }),
        _ => {}
    }
}
