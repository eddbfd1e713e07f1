//! The outbox domain: what a frozen command is and where it goes, the lanes it waits in, the
//! outcome of an attempt, and the pure lane policy that picks each batch ([`policy`]).
//!
//! The store (`crate::store`, its `outbox` family) keeps the tables: it gathers due candidates
//! with a bounded scan, hands them to [`policy::select_batch`], and applies the outcomes the
//! deliverer records. The runtime's deliverer sends each batch through the sink of its
//! [`Channel`].

mod destination;
pub mod policy;

use serde::{Deserialize, Serialize};

pub use destination::Destination;

/// The delivery channel a command goes through: one runtime sink each. Each claim serves one
/// channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The tracking batch endpoint (profile updates and events).
    Tracking,
    /// The catalog bulk partial update.
    Catalog,
    // Room for the Imports API (history through the backfill lane): a third channel, with its
    // own sink, when the backfill issue lands.
}

/// A set of lanes (what the current stage lets deliver; today every lane).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LaneSet(u8);

impl LaneSet {
    /// Every lane.
    pub const ALL: LaneSet = LaneSet(0b11_1111);
    /// No lane.
    pub const NONE: LaneSet = LaneSet(0);

    /// These lanes.
    pub fn of(lanes: &[Lane]) -> LaneSet {
        LaneSet(lanes.iter().fold(0, |bits, lane| bits | 1 << lane.index()))
    }

    /// Whether `lane` is in the set.
    pub fn contains(self, lane: Lane) -> bool {
        self.0 & (1 << lane.index()) != 0
    }

    /// The lanes of this set that belong to `channel`, highest priority first.
    pub fn lanes_of(self, channel: Channel) -> Vec<Lane> {
        Lane::ALL
            .into_iter()
            .filter(|lane| self.contains(*lane) && lane.channel() == channel)
            .collect()
    }
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
    /// Marketing trigger events BigReach derives itself (`back_in_stock`, `price_drop`): they
    /// start Bloomreach scenarios that email shoppers, so the cutover stage "production
    /// triggers" is the one to open this lane. Sent only when `[mapping.catalog] triggers` is
    /// on. Last in priority (each lower lane with due work still keeps its share of a batch).
    Triggers = 5,
}

impl Lane {
    /// All lanes, highest priority first.
    pub const ALL: [Lane; 6] = [
        Lane::Transactions,
        Lane::Customers,
        Lane::Carts,
        Lane::Catalog,
        Lane::Backfill,
        Lane::Triggers,
    ];

    /// The lane's on-disk number.
    pub fn index(self) -> u8 {
        self as u8
    }

    /// The lane for an on-disk number.
    pub fn from_index(index: u8) -> Option<Lane> {
        Lane::ALL.get(usize::from(index)).copied()
    }

    /// The channel its commands are delivered through.
    pub fn channel(self) -> Channel {
        match self {
            Lane::Catalog => Channel::Catalog,
            Lane::Transactions
            | Lane::Customers
            | Lane::Carts
            | Lane::Backfill
            | Lane::Triggers => Channel::Tracking,
        }
    }

    /// A short name for logs, metrics and the UI.
    pub fn name(self) -> &'static str {
        match self {
            Lane::Transactions => "transactions",
            Lane::Customers => "customers",
            Lane::Carts => "carts",
            Lane::Catalog => "catalog",
            Lane::Backfill => "backfill",
            Lane::Triggers => "triggers",
        }
    }
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
    /// A catalog item state replaced by a newer state of the same item before it was delivered
    /// (the newest state wins; an older one is never sent after it), or a trigger event
    /// replaced or withdrawn within its debounce window. Since schema version 4.
    Superseded,
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
