//! Records the store keeps: inbox entries, outbox commands, delivery records, snapshots and
//! audit entries. All are encoded with MessagePack (rmp-serde) on disk.

use serde::{Deserialize, Serialize};

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

/// Outbox priority lanes, highest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Lane {
    /// Purchases, refunds and cancellations.
    Transactions = 0,
    /// Customer profile updates.
    Customers = 1,
    /// Cart events.
    Carts = 2,
    /// Catalog items.
    Catalog = 3,
    /// History loaded by the first sync.
    Backfill = 4,
}

impl Lane {
    /// All lanes, highest priority first.
    pub const ALL: [Lane; 5] = [
        Lane::Transactions,
        Lane::Customers,
        Lane::Carts,
        Lane::Catalog,
        Lane::Backfill,
    ];

    /// The lane's on-disk number.
    pub fn index(self) -> u8 {
        self as u8
    }

    /// The lane for an on-disk number.
    pub fn from_index(index: u8) -> Option<Lane> {
        Lane::ALL.get(usize::from(index)).copied()
    }

    /// A short name for logs, metrics and the UI.
    pub fn name(self) -> &'static str {
        match self {
            Lane::Transactions => "transactions",
            Lane::Customers => "customers",
            Lane::Carts => "carts",
            Lane::Catalog => "catalog",
            Lane::Backfill => "backfill",
        }
    }
}

/// Where a frozen command goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Destination {
    /// A tracking batch command (`customers` or `customers/events`); the payload is its `data`.
    Tracking {
        /// The batch command name.
        name: String,
    },
    /// A catalog item upsert (bulk partial update); the payload is its `properties`.
    CatalogItem {
        /// The catalog item id (the variant id).
        item_id: String,
    },
}

/// A command to enqueue, produced by the mapper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewCommand {
    /// Its lane.
    pub lane: Lane,
    /// Where it goes.
    pub destination: Destination,
    /// The fact it states, e.g. `purchase:5021` or `customer:42`. A fact is sent again only when
    /// its content hash changes; facts with a constant hash are sent once.
    pub fact: String,
    /// Hash of the fact's content.
    pub content_hash: String,
    /// The person it concerns (for per-customer ordering and traces).
    pub customer_key: Option<String>,
    /// The frozen JSON payload.
    pub payload: Vec<u8>,
    /// When the fact happened in BigCommerce (ms since epoch, UTC).
    pub event_time_ms: i64,
}

/// The delivery state of a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandStatus {
    /// Waiting for (re)delivery.
    Pending,
    /// Acknowledged by Bloomreach.
    Delivered,
    /// Given up on after its retry budget or a permanent error; an operator can replay it.
    Dead,
    /// A dead letter an operator gave up on.
    Discarded,
}

/// A frozen command in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxRecord {
    /// Outbox id; also the Bloomreach `command_id`.
    pub id: u64,
    /// Its lane.
    pub lane: Lane,
    /// Where it goes.
    pub destination: Destination,
    /// The fact it states.
    pub fact: String,
    /// The person it concerns.
    pub customer_key: Option<String>,
    /// The frozen JSON payload, byte-identical on every attempt.
    pub payload: Vec<u8>,
    /// When the fact happened in BigCommerce.
    pub event_time_ms: i64,
    /// When it was enqueued.
    pub enqueued_at_ms: i64,
    /// Attempts so far.
    pub attempts: u32,
    /// Earliest time of the next attempt.
    pub next_attempt_ms: i64,
    /// State.
    pub status: CommandStatus,
    /// The last error, for operators.
    pub last_error: Option<String>,
}

/// What Bloomreach acknowledged for one command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// When the acknowledgement arrived.
    pub acked_at_ms: i64,
    /// The response's `x-request-id`.
    pub request_id: Option<String>,
    /// Attempts it took.
    pub attempts: u32,
}

/// The result of one delivery attempt for one command.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    /// Bloomreach accepted it.
    Delivered {
        /// The response's request id.
        request_id: Option<String>,
    },
    /// Try again no earlier than `next_attempt_ms`.
    Retry {
        /// Why.
        error: String,
        /// When.
        next_attempt_ms: i64,
        /// Whether this attempt counts against the retry budget (429 and 5xx do not).
        counts: bool,
    },
    /// Dead-letter it.
    Dead {
        /// Why.
        reason: String,
    },
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
