//! What an order counts as for revenue: status id × `payment_status` → [`PaymentState`], with the
//! defaults of `data/mapping.toml` `[orders]` (reference §3.3, §3.4) and the overrides of
//! bigreach.toml `[mapping.orders]`.

use std::collections::BTreeMap;

use bigreach_bigcommerce::Order;
use serde::{Deserialize, Serialize};

/// What an order counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentState {
    /// Money captured: a purchase.
    Paid,
    /// Not paid yet (unpaid, pending, awaiting payment, authorized only): no purchase yet.
    Held,
    /// Cancelled or declined before any money was captured: no purchase.
    Cancelled,
    /// Cancelled or declined after the money was captured: the purchase, then one cancellation.
    CancelledAfterPayment,
    /// Refunded in full; it was paid first, so the purchase stands (refunds are separate facts).
    Refunded,
    /// Refunded in part; the purchase stands.
    PartiallyRefunded,
}

impl PaymentState {
    /// Whether the sale happened (so a `success` purchase is due).
    pub fn was_paid(self) -> bool {
        matches!(
            self,
            Self::Paid | Self::CancelledAfterPayment | Self::Refunded | Self::PartiallyRefunded
        )
    }

    /// The vocabulary name, as written in `data/mapping.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Paid => "paid",
            Self::Held => "held",
            Self::Cancelled => "cancelled",
            Self::CancelledAfterPayment => "cancelled after payment",
            Self::Refunded => "refunded",
            Self::PartiallyRefunded => "partially_refunded",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "paid" => Self::Paid,
            "held" => Self::Held,
            "cancelled" => Self::Cancelled,
            "refunded" => Self::Refunded,
            "partially_refunded" => Self::PartiallyRefunded,
            _ => return None,
        })
    }
}

/// `payment_status` values that show money was captured at some point (reference §3.4).
const CAPTURED: [&str; 4] = ["captured", "paid", "refunded", "partially refunded"];

/// The keys of `[mapping.orders.purchase_status]`.
const PURCHASE_STATUS_KEYS: [&str; 4] = ["success", "cancelled", "refund", "adjusted"];

/// `[mapping.orders]` in bigreach.toml (and `[orders]` in data/mapping.toml): names, as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderMappingSettings {
    /// Status id (as a string key) → state name.
    #[serde(default)]
    pub status: BTreeMap<String, String>,
    /// `payment_status` → state name; refines a `paid` status only.
    #[serde(default)]
    pub payment_status: BTreeMap<String, String>,
    /// Which `purchase_status` values are sent: `success`, `cancelled`, `refund` → the value.
    #[serde(default)]
    pub purchase_status: BTreeMap<String, String>,
}

/// The order mapping, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderMapping {
    status: BTreeMap<u32, PaymentState>,
    payment_status: BTreeMap<String, PaymentState>,
    /// `purchase_status` of a sale.
    pub success: String,
    /// `purchase_status` of a cancellation.
    pub cancelled: String,
    /// `purchase_status` of a refund (one event per v3 refund).
    pub refund: String,
    /// `purchase_status` of an amount edit on a paid order (see `map::changes`).
    pub adjusted: String,
}

fn defaults() -> OrderMappingSettings {
    #[derive(Deserialize)]
    struct File {
        #[serde(default)]
        orders: OrderMappingSettings,
    }
    toml::from_str::<File>(super::DEFAULT_MAPPING)
        .map(|f| f.orders)
        .unwrap_or_default()
}

/// A problem with one `[mapping.orders]` entry: (field path, what is wrong).
pub type Problem = (String, String);

impl Default for OrderMapping {
    fn default() -> Self {
        // The compiled-in file is checked by a test (the defaults parse without problems); an
        // unreadable one would be a build defect, so fall back to an empty table (all held).
        Self::with_overrides(&OrderMappingSettings::default()).unwrap_or(Self {
            status: BTreeMap::new(),
            payment_status: BTreeMap::new(),
            success: "success".into(),
            cancelled: "cancelled".into(),
            refund: "refund".into(),
            adjusted: "adjusted".into(),
        })
    }
}

impl OrderMapping {
    /// The defaults with `overrides` on top; every bad entry is reported, not just the first.
    pub fn with_overrides(overrides: &OrderMappingSettings) -> Result<Self, Vec<Problem>> {
        let mut settings = defaults();
        settings.status.extend(overrides.status.clone());
        settings
            .payment_status
            .extend(overrides.payment_status.clone());
        settings
            .purchase_status
            .extend(overrides.purchase_status.clone());
        let mut problems = Vec::new();
        let states = "must be one of paid, held, cancelled, refunded, partially_refunded";
        let mut status = BTreeMap::new();
        for (id, name) in &settings.status {
            let field = format!("mapping.orders.status.{id}");
            match (id.parse::<u32>(), PaymentState::parse(name)) {
                (Ok(id), Some(state)) => {
                    status.insert(id, state);
                }
                (Err(_), _) => problems.push((field, "must be a status id (0-255)".to_owned())),
                (_, None) => problems.push((field, states.to_owned())),
            }
        }
        let mut payment_status = BTreeMap::new();
        for (value, name) in &settings.payment_status {
            match PaymentState::parse(name) {
                Some(state) => {
                    payment_status.insert(value.clone(), state);
                }
                None => problems.push((
                    format!("mapping.orders.payment_status.{value:?}"),
                    states.to_owned(),
                )),
            }
        }
        let mut vocabulary = |key: &str| {
            let value = settings
                .purchase_status
                .get(key)
                .cloned()
                .unwrap_or_else(|| key.to_owned());
            if value.is_empty() {
                problems.push((
                    format!("mapping.orders.purchase_status.{key}"),
                    "must not be empty".to_owned(),
                ));
            }
            value
        };
        let success = vocabulary("success");
        let cancelled = vocabulary("cancelled");
        let refund = vocabulary("refund");
        let adjusted = vocabulary("adjusted");
        for key in settings.purchase_status.keys() {
            if !PURCHASE_STATUS_KEYS.contains(&key.as_str()) {
                problems.push((
                    format!("mapping.orders.purchase_status.{key}"),
                    "unknown; the values are success, cancelled, refund and adjusted".to_owned(),
                ));
            }
        }
        if problems.is_empty() {
            Ok(Self {
                status,
                payment_status,
                success,
                cancelled,
                refund,
                adjusted,
            })
        } else {
            Err(problems)
        }
    }

    /// What `order` counts as. An unmapped status id is held: nothing is sent for a status
    /// BigReach was not told is paid.
    pub fn state(&self, order: &Order) -> PaymentState {
        let by_status = self
            .status
            .get(&order.status_id)
            .copied()
            .unwrap_or(PaymentState::Held);
        let state = match by_status {
            PaymentState::Paid => self
                .payment_status
                .get(order.payment_status.as_str())
                .copied()
                .unwrap_or(PaymentState::Paid),
            other => other,
        };
        if state == PaymentState::Cancelled && CAPTURED.contains(&order.payment_status.as_str()) {
            PaymentState::CancelledAfterPayment
        } else {
            state
        }
    }
}
