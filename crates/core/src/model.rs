//! Records the store keeps: inbox entries, snapshots and audit entries, plus the outbox's
//! records re-exported from [`crate::outbox`] (where lanes, destinations, commands and outcomes
//! live). All are encoded with MessagePack (rmp-serde) on disk.

use serde::{Deserialize, Serialize};

pub use crate::outbox::{
    AttemptOutcome, CommandStatus, DeliveryRecord, Destination, Lane, NewCommand, OutboxRecord,
};

/// A BigCommerce resource BigReach follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ResourceKind {
    /// A v2 order with its line items.
    Order,
    /// A v3 customer.
    Customer,
    /// A v3 product with its variants.
    Product,
    /// A v3 cart.
    Cart,
}

impl ResourceKind {
    /// The prefix used in store keys.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Order => "order",
            ResourceKind::Customer => "customer",
            ResourceKind::Product => "product",
            ResourceKind::Cart => "cart",
        }
    }
}

/// What a webhook asks the enrich stage to fetch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FetchTarget {
    /// `GET v2/orders/{id}` with line items.
    Order(u64),
    /// `GET v3/customers?id:in=`.
    Customer(u64),
    /// `GET v3/catalog/products?id:in=` with variants.
    Product(u64),
    /// `GET v3/carts/{id}`.
    Cart(String),
}

impl FetchTarget {
    /// The queue key, e.g. `order:5021`.
    pub fn key(&self) -> String {
        match self {
            FetchTarget::Order(id) => format!("order:{id}"),
            FetchTarget::Customer(id) => format!("customer:{id}"),
            FetchTarget::Product(id) => format!("product:{id}"),
            FetchTarget::Cart(id) => format!("cart:{id}"),
        }
    }

    /// The target for a queue key.
    pub fn from_key(key: &str) -> Option<Self> {
        let (kind, id) = key.split_once(':')?;
        if kind == "cart" {
            return (!id.is_empty()).then(|| FetchTarget::Cart(id.to_owned()));
        }
        let id = id.parse().ok()?;
        match kind {
            "order" => Some(FetchTarget::Order(id)),
            "customer" => Some(FetchTarget::Customer(id)),
            "product" => Some(FetchTarget::Product(id)),
            _ => None,
        }
    }
}

/// How an inbox entry arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InboxSource {
    /// A webhook delivery (a thin notification).
    Webhook,
    /// A full resource from the poller or the backfill.
    Poll,
}

/// The content of an inbox entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InboxBody {
    /// A webhook notification: what to fetch (if BigReach follows that scope) and the raw body.
    Notification {
        /// The webhook scope, e.g. `store/order/statusUpdated`.
        scope: String,
        /// What to fetch; `None` for scopes recorded but not followed yet.
        fetch: Option<FetchTarget>,
    },
    /// A full resource as JSON.
    Resource {
        /// Which kind of resource.
        kind: ResourceKind,
        /// The resource, as the BigCommerce client decoded it, re-encoded as JSON.
        json: Vec<u8>,
    },
}

/// One durable inbox entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxEntry {
    /// Arrival time at BigReach (ms since epoch, UTC).
    pub received_at_ms: i64,
    /// When BigCommerce says the event happened (ms since epoch, UTC).
    pub event_time_ms: i64,
    /// How it arrived.
    pub source: InboxSource,
    /// The webhook `hash` (dedupe key), if any.
    pub hash: Option<String>,
    /// True for entries of the first full sync (history), which go to the backfill lane.
    pub initial_sync: bool,
    /// The content.
    pub body: InboxBody,
}

/// A snapshot of a resource as last seen, with the fingerprint of what matters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Hash of the fields the mapper reads.
    pub fingerprint: String,
    /// When it was stored.
    pub observed_at_ms: i64,
    /// The resource as JSON.
    pub json: Vec<u8>,
}

/// One entry of the hash-chained audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the chain, from 1.
    pub seq: u64,
    /// When (ms since epoch, UTC).
    pub at_ms: i64,
    /// Who: `system`, `operator` or a component name.
    pub actor: String,
    /// What, e.g. `store.created`, `config.loaded`, `delivery.summary`.
    pub action: String,
    /// Details as JSON text (never secrets).
    pub detail: String,
    /// Hash of the previous record (hex), empty for the first.
    pub prev_hash: String,
    /// SHA-256 over `prev_hash`, seq, time, actor, action and detail (hex).
    pub hash: String,
}
