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
    /// One of the twins' fault kinds ([`BIGCOMMERCE_FAULTS`], [`BLOOMREACH_FAULTS`]; checked
    /// when the file loads): `bloomreach_rate_limit` (requests_per_minute),
    /// `bloomreach_outage`, `bloomreach_5xx` (per_mille), `bloomreach_latency` (latency_ms),
    /// `webhook_duplicates` (per_mille), `webhook_reorder` (max_delay_secs), `webhook_outage`,
    /// `hook_deactivation`, `bigcommerce_slow` (latency_ms), `bigcommerce_platform_429`
    /// (per_mille). The runner switches it with the twin's own `switch_fault`, as the control
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
        Self::parse(&text).map_err(error)
    }

    /// Parses and checks a scenario file's text (what [`Scenario::load`] does after reading).
    pub fn parse(text: &str) -> Result<Self, String> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        scenario.check()?;
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
                if !ACTIONS.contains(&action.action.as_str()) {
                    return Err(format!(
                        "shopper {}: unknown action {:?}; use one of {ACTIONS:?}",
                        shopper.name, action.action
                    ));
                }
            }
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
