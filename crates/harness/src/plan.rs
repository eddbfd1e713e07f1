//! Demo plans: the store the BigCommerce twin seeds, the live trading burst, and both twins'
//! settings.
//!
//! The shipped plans (`data/demo.toml` and `data/demo-small.toml`) are compiled in, so
//! `bigreach demo` and `bigreach sim` work from any directory; a path still overrides them
//! ([`DemoPlan::from_arg`]).

use std::path::Path;
use std::time::Duration;

use bigreach_twins::bigcommerce::{QuotaPlan, StoreSeed, TradingBurst};
use serde::Deserialize;

/// The compiled-in plans by name: `demo` (the full demo, `data/demo.toml`) and `small` (the
/// quick one the tests use, `data/demo-small.toml`).
pub const BUILTIN_PLANS: [(&str, &str); 2] = [
    ("demo", include_str!("../../../data/demo.toml")),
    ("small", include_str!("../../../data/demo-small.toml")),
];

/// The plan `bigreach demo` and `bigreach sim` use when no `--plan` is given.
pub const DEFAULT_PLAN: &str = "demo";

/// A plan that could not be read, parsed or used.
#[derive(Debug, thiserror::Error)]
#[error("demo plan {origin}: {message}")]
pub struct PlanError {
    /// Where the plan came from: a file path, or `built-in plan NAME`.
    pub origin: String,
    /// What is wrong.
    pub message: String,
}

/// A demo plan: the seeded store, the live trading burst and both twins' settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoPlan {
    /// Seed of the synthetic store.
    pub seed: u64,
    /// The store.
    pub store: StorePlan,
    /// The live trading burst.
    pub trading: TradingPlan,
    /// BigCommerce twin settings.
    pub bigcommerce: BigCommercePlan,
    /// Bloomreach twin settings.
    pub bloomreach: BloomreachPlan,
}

/// The seeded store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct StorePlan {
    pub customers: usize,
    pub products: usize,
    pub max_variants_per_product: usize,
    pub historical_orders: usize,
    pub history_days: u32,
    pub guest_share_per_mille: u32,
    pub phone_only_guest_per_mille: u32,
    pub currencies: Vec<String>,
}

/// The trading burst.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct TradingPlan {
    pub orders: usize,
    pub new_customers: usize,
    pub variant_edits: usize,
    pub over_secs: u64,
}

/// BigCommerce twin settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BigCommercePlan {
    /// `standard`, `plus`, `pro` or `enterprise`.
    pub plan: String,
}

/// Bloomreach twin settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BloomreachPlan {
    /// The per-IP ceiling.
    pub requests_per_minute: u32,
}

impl DemoPlan {
    /// A compiled-in plan by name (see [`BUILTIN_PLANS`]).
    pub fn builtin(name: &str) -> Option<Self> {
        let (_, text) = BUILTIN_PLANS.iter().find(|(n, _)| *n == name)?;
        // The shipped plans are checked by a test; a broken one is a build defect.
        Self::parse(text, &format!("built-in plan {name}")).ok()
    }

    /// What `--plan` names: a compiled-in plan (`demo`, `small`) or the path of a plan file.
    pub fn from_arg(arg: &str) -> Result<Self, PlanError> {
        match Self::builtin(arg) {
            Some(plan) => Ok(plan),
            None => Self::load(Path::new(arg)),
        }
    }

    /// Reads a plan file.
    pub fn load(path: &Path) -> Result<Self, PlanError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PlanError {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        Self::parse(&text, &origin)
    }

    /// Parses and checks a plan's TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, PlanError> {
        let error = |message: String| PlanError {
            origin: origin.to_owned(),
            message,
        };
        let plan: DemoPlan = toml::from_str(text).map_err(|e| error(e.message().to_owned()))?;
        plan.quota_plan().map_err(|e| error(e.message))?;
        Ok(plan)
    }

    /// The BigCommerce twin's API quota.
    pub(crate) fn quota_plan(&self) -> Result<QuotaPlan, PlanError> {
        match self.bigcommerce.plan.as_str() {
            "standard" => Ok(QuotaPlan::Standard),
            "plus" => Ok(QuotaPlan::Plus),
            "pro" => Ok(QuotaPlan::Pro),
            "enterprise" => Ok(QuotaPlan::Enterprise {
                requests_per_window: 3000,
            }),
            other => Err(PlanError {
                origin: "bigcommerce.plan".to_owned(),
                message: format!("unknown plan {other:?}; use standard, plus, pro or enterprise"),
            }),
        }
    }

    /// The twin's store seed.
    pub fn store_seed(&self) -> StoreSeed {
        StoreSeed {
            customers: self.store.customers,
            products: self.store.products,
            max_variants_per_product: self.store.max_variants_per_product,
            historical_orders: self.store.historical_orders,
            history_days: self.store.history_days,
            guest_share_per_mille: self.store.guest_share_per_mille,
            phone_only_guest_per_mille: self.store.phone_only_guest_per_mille,
            currencies: self.store.currencies.clone(),
        }
    }

    /// The twin's trading burst.
    pub fn trading_burst(&self) -> TradingBurst {
        TradingBurst {
            orders: self.trading.orders,
            new_customers: self.trading.new_customers,
            variant_edits: self.trading.variant_edits,
            over: Duration::from_secs(self.trading.over_secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_plans_are_the_shipped_files() {
        for (name, file) in [("demo", "demo.toml"), ("small", "demo-small.toml")] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../data")
                .join(file);
            let from_file = DemoPlan::load(&path).unwrap();
            let builtin = DemoPlan::builtin(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(builtin.seed, from_file.seed, "{name}");
            assert_eq!(builtin.store.customers, from_file.store.customers, "{name}");
            assert_eq!(builtin.trading.orders, from_file.trading.orders, "{name}");
        }
        assert!(DemoPlan::builtin(DEFAULT_PLAN).is_some());
        assert!(DemoPlan::builtin("nope").is_none());
    }

    #[test]
    fn a_missing_plan_file_names_the_file() {
        let err = DemoPlan::from_arg("no/such/plan.toml").unwrap_err();
        assert_eq!(err.origin, "no/such/plan.toml");
        assert!(!err.to_string().contains('\n'), "{err}");
    }

    #[test]
    fn an_unknown_bigcommerce_plan_is_refused_at_load() {
        let text = BUILTIN_PLANS[1]
            .1
            .replace("plan = \"pro\"", "plan = \"gold\"");
        assert_ne!(
            text, BUILTIN_PLANS[1].1,
            "the small plan names plan = \"pro\""
        );
        let err = DemoPlan::parse(&text, "test").unwrap_err();
        assert!(err.message.contains("unknown plan"), "{err}");
    }
}
