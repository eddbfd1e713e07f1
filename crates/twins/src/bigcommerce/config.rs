//! Configuration, seed and burst parameters, errors.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The documented webhook retry schedule (seconds): 11 retries over about 48 hours.
pub const DOCUMENTED_RETRY_SCHEDULE_SECS: [u64; 11] = [
    60, 180, 300, 600, 900, 1800, 3600, 7200, 21600, 50400, 86400,
];

/// How the twin is configured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BigCommerceTwinConfig {
    /// The store hash in `/stores/{hash}/`.
    pub store_hash: String,
    /// The only accepted `X-Auth-Token`.
    pub access_token: String,
    /// The plan, which sets the request quota per 30 s window.
    pub plan: QuotaPlan,
    /// Seed of every random choice the twin makes.
    pub seed: u64,
    /// Per-mille chance of a platform 429 *without* quota headers (default 0).
    pub platform_429_per_mille: u32,
    /// Delays between webhook delivery attempts, measured on the clock.
    pub webhook_retry_schedule: Vec<Duration>,
    /// The store's default currency (ISO 4217).
    pub store_default_currency: String,
}

impl Default for BigCommerceTwinConfig {
    fn default() -> Self {
        Self {
            store_hash: "abc123".to_owned(),
            access_token: "twin-access-token".to_owned(),
            plan: QuotaPlan::Standard,
            seed: 42,
            platform_429_per_mille: 0,
            webhook_retry_schedule: DOCUMENTED_RETRY_SCHEDULE_SECS
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
            store_default_currency: "USD".to_owned(),
        }
    }
}

/// The store's plan; only the request quota differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum QuotaPlan {
    /// 150 requests per 30 s.
    Standard,
    /// 150 requests per 30 s.
    Plus,
    /// 450 requests per 30 s.
    Pro,
    /// A negotiated quota.
    Enterprise {
        /// Requests per 30 s window.
        requests_per_window: u32,
    },
}

impl QuotaPlan {
    /// Requests allowed per 30 s window.
    pub fn requests_per_window(&self) -> u32 {
        match self {
            QuotaPlan::Standard | QuotaPlan::Plus => 150,
            QuotaPlan::Pro => 450,
            QuotaPlan::Enterprise {
                requests_per_window,
            } => *requests_per_window,
        }
    }

    pub(crate) fn plan_name(&self) -> (&'static str, &'static str) {
        match self {
            QuotaPlan::Standard => ("Standard", "Standard"),
            QuotaPlan::Plus => ("Plus", "Plus"),
            QuotaPlan::Pro => ("Pro", "Pro"),
            QuotaPlan::Enterprise { .. } => ("Enterprise", "Enterprise"),
        }
    }
}

/// What [`super::BigCommerceTwin::seed_store`] creates.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreSeed {
    /// Registered customers (some of them checked out as guests before registering).
    pub customers: usize,
    /// Products.
    pub products: usize,
    /// Each product gets 1..=this many variants.
    pub max_variants_per_product: usize,
    /// Orders placed over the history.
    pub historical_orders: usize,
    /// History spans this many days before `clock.now()`.
    pub history_days: u32,
    /// Per-mille share of guest orders.
    pub guest_share_per_mille: u32,
    /// Per-mille share of guest persons who give only a phone number, no email.
    pub phone_only_guest_per_mille: u32,
    /// Transactional currencies enabled; the first is the store default.
    pub currencies: Vec<String>,
}

impl Default for StoreSeed {
    fn default() -> Self {
        Self {
            customers: 40,
            products: 20,
            max_variants_per_product: 4,
            historical_orders: 120,
            history_days: 90,
            guest_share_per_mille: 300,
            phone_only_guest_per_mille: 100,
            currencies: vec!["USD".to_owned(), "EUR".to_owned(), "GBP".to_owned()],
        }
    }
}

/// Live trading driven by [`super::BigCommerceTwin::run_trading`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TradingBurst {
    /// Orders placed (each goes through the checkout state machine).
    pub orders: usize,
    /// New customer registrations.
    pub new_customers: usize,
    /// Variant edits (price, sale price, stock).
    pub variant_edits: usize,
    /// Spread over this much clock time.
    pub over: Duration,
}

/// Errors of the twin.
#[derive(Debug, thiserror::Error)]
pub enum TwinError {
    /// The listener could not be bound.
    #[error("cannot bind the BigCommerce twin listener: {0}")]
    Bind(#[source] std::io::Error),
    /// A URL could not be built.
    #[error("cannot build the twin URL: {0}")]
    Url(#[from] url::ParseError),
    /// The outbound HTTP client could not be built.
    #[error("cannot build the webhook HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The configuration is unusable.
    #[error("invalid twin configuration: {0}")]
    Config(String),
    /// No person with this id (see `add_person`).
    #[error("unknown person {0}")]
    UnknownPerson(u64),
    /// No registered customer with this id.
    #[error("unknown customer {0}")]
    UnknownCustomer(u64),
    /// No order with this id.
    #[error("unknown order {0}")]
    UnknownOrder(u64),
    /// No order line (order product) with this id on the order.
    #[error("order {order_id} has no order product {order_product_id}")]
    UnknownOrderProduct {
        /// The order.
        order_id: u64,
        /// The order-product id asked for.
        order_product_id: u64,
    },
    /// No product with this id.
    #[error("unknown product {0}")]
    UnknownProduct(u64),
    /// No variant with this id.
    #[error("unknown variant {0}")]
    UnknownVariant(u64),
    /// No live cart with this id (never created, converted into an order, or deleted: the API
    /// answers 404 for all three).
    #[error("unknown cart {0}")]
    UnknownCart(String),
    /// The order's current status does not allow the action (e.g. paying a cancelled order).
    #[error("cannot {action} order {order_id} in status {status_id} ({status})")]
    InvalidTransition {
        /// The order.
        order_id: u64,
        /// What was attempted (`pay`, `decline`, `ship`, `cancel`, `refund`).
        action: &'static str,
        /// The order's status id when it was attempted.
        status_id: u8,
        /// The status name.
        status: &'static str,
    },
    /// A shopper action the real store would refuse (bad quantity, currency not transactional,
    /// refunding more than is left, abandoning a cart touched less than an hour ago, ...).
    #[error("rejected: {0}")]
    Rejected(String),
    /// A write that conflicts with existing data (a duplicate product name or SKU).
    #[error("conflict: {0}")]
    Conflict(String),
}
