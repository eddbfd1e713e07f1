//! Run-time control shared by the scenario runner's fault schedule and the twins' control API
//! (`/_twin/faults/{kind}` and `/_twin/crowd` on each twin's own port): one vocabulary of
//! faults, switched by the same functions whichever side asks.
//!
//! Fault kinds are the names scenario files use. BigCommerce twin: `webhook_duplicates`
//! (`per_mille`, default 300), `webhook_reorder` (`max_delay_secs`, default 120),
//! `webhook_outage` (until `until` / `for_secs`, else until switched off), `hook_deactivation`
//! (on only; hooks come back with `PUT v3/hooks/{id}` `{"is_active": true}`),
//! `bigcommerce_slow` (`latency_ms`, default 2000), `bigcommerce_platform_429` (`per_mille`,
//! default 100), `order_listing_churn` (before each order listing page after the first, the
//! listing's first order is edited, as staff do while a client pages), `order_commit_lag`
//! (`latency_ms`, default 5000: an order's status change is stamped that long before it becomes
//! visible, as a commit that lagged behind newer ones). Bloomreach twin: `bloomreach_outage` (until `until` / `for_secs`),
//! `bloomreach_rate_limit` (`requests_per_minute`, default 30), `bloomreach_5xx` (`per_mille`,
//! default 300), `bloomreach_latency` (`latency_ms`, default 2000, jitter half of it).
//! Switching a fault off restores the twin's configured value.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Fault kinds the BigCommerce twin switches.
pub const BIGCOMMERCE_FAULTS: &[&str] = &[
    "webhook_duplicates",
    "webhook_reorder",
    "webhook_outage",
    "hook_deactivation",
    "bigcommerce_slow",
    "bigcommerce_platform_429",
    "order_listing_churn",
    "order_commit_lag",
];

/// Fault kinds the Bloomreach twin switches.
pub const BLOOMREACH_FAULTS: &[&str] = &[
    "bloomreach_outage",
    "bloomreach_rate_limit",
    "bloomreach_5xx",
    "bloomreach_latency",
];

/// One fault switched on or off. Parameters a kind does not use are ignored; absent ones take
/// the defaults listed in the module docs (the scenario runner's defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSwitch {
    /// The fault kind (the control API takes it from the path).
    #[serde(default)]
    pub kind: String,
    /// On or off.
    pub on: bool,
    /// Share in thousandths (duplicates, random 5xx, platform 429s).
    #[serde(default)]
    pub per_mille: Option<u32>,
    /// Bloomreach's per-minute ceiling while `bloomreach_rate_limit` is on.
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// Added latency (Bloomreach, BigCommerce slowness).
    #[serde(default)]
    pub latency_ms: Option<u64>,
    /// Largest random extra delay per webhook delivery (reordering).
    #[serde(default)]
    pub max_delay_secs: Option<u64>,
    /// End of an outage on the clock.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    /// End of an outage, in seconds from now on the clock (when `until` is absent).
    #[serde(default)]
    pub for_secs: Option<u64>,
}

impl FaultSwitch {
    /// When an outage switched on now ends: `until`, else `now + for_secs`, else in 100 years
    /// (until switched off).
    pub fn outage_end(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.until.unwrap_or_else(|| {
            let secs = self.for_secs.unwrap_or(100 * 365 * 86_400);
            now + chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 1000))
        })
    }
}

/// A crowd of generated shoppers started at run time: `orders` orders (each placed, then
/// settled through the checkout state machine), `new_customers` registrations and
/// `variant_edits` catalog edits, spread evenly over `over_secs` of clock time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrowdRequest {
    /// Orders placed.
    pub orders: usize,
    /// New registrations.
    #[serde(default)]
    pub new_customers: usize,
    /// Variant edits (price, stock).
    #[serde(default)]
    pub variant_edits: usize,
    /// Clock seconds the crowd spreads over.
    pub over_secs: u64,
}

/// Why a control request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ControlError {
    /// The kind is not one this twin switches.
    #[error("unknown fault kind {kind:?} for the {twin} twin; it switches {known}")]
    UnknownFault {
        /// The kind asked for.
        kind: String,
        /// `BigCommerce` or `Bloomreach`.
        twin: &'static str,
        /// The kinds it knows, comma-separated.
        known: String,
    },
    /// A crowd needs a non-zero duration to spread over.
    #[error("a crowd needs over_secs of at least 1")]
    EmptyCrowd,
}

impl ControlError {
    pub(crate) fn unknown(kind: &str, twin: &'static str, known: &[&str]) -> Self {
        Self::UnknownFault {
            kind: kind.to_owned(),
            twin,
            known: known.join(", "),
        }
    }
}
