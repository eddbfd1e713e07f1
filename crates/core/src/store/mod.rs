//! The store: BigReach's only owner of redb tables.
//!
//! # On-disk layout (schema version 1)
//!
//! | table | key | value | purpose |
//! |---|---|---|---|
//! | `meta` | `&str` | `&[u8]` | schema version, id counters, inbox cursor, poll watermarks |
//! | `inbox` | `u64` seq | `InboxEntry` | every webhook and polled resource, durable before ack |
//! | `inbox_hashes` | `&str` webhook hash | `u64` seq | webhook dedupe |
//! | `snapshots` | `&str` `kind:id` | `Snapshot` | last seen state of each resource |
//! | `identity` | `&str` `email:…`/`customer:…` | `&str` | identity links |
//! | `withheld` | `&str` subject (`order:…`) | `WithheldRecord` | what was not sent, and why (traces) |
//! | `person_withheld` | `&str` person (multimap) | `&str` subject | withheld subjects per person |
//! | `fetch_queue` | `&str` `order:…`/`customer:…`/`product:…` | `(i64 due ms, i64 oldest event ms)` | resources to re-fetch, coalesced |
//! | `outbox` | `u64` id | `OutboxRecord` | frozen commands, all states |
//! | `outbox_ready` | `(u8 lane, i64 next attempt ms, u64 id)` | `()` | pending commands by lane, then due time |
//! | `outbox_queue` | `(u8 lane, u64 id)` | `()` | pending commands by lane, in enqueue order (depth, oldest age) |
//! | `pending_profiles` | `&str` person (multimap) | `u64` id | undelivered profile commands per person |
//! | `outbox_facts` | `&str` fact | `(u64 id, String hash)` | a fact is enqueued once per content |
//! | `ledger` | `u64` id | `DeliveryRecord` | what Bloomreach acknowledged |
//! | `dead_letters` | `u64` id | `()` | index of dead commands |
//! | `audit` | `u64` seq | `AuditRecord` | hash-chained operator/system log |
//!
//! Values are MessagePack (rmp-serde). `outbox`, its three indexes (`outbox_ready`,
//! `outbox_queue`, `pending_profiles`), `outbox_facts`, `ledger` and `dead_letters` are always
//! updated in the same write transaction.
//!
//! Schema history: version 1 indexed pending commands in `outbox_pending` `(lane, id) → next
//! attempt`; version 2 replaced it with `outbox_ready`, `outbox_queue` and `pending_profiles`
//! (rebuilt from `outbox` when a version 1 store is opened).
//!
//! # Invariants
//! - Every write is one redb write transaction with `Durability::Immediate`: a caller that got
//!   `Ok` can acknowledge to the outside world.
//! - A store written by a newer schema is refused, never modified.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use redb::{
    Database, MultimapTableDefinition, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition, WriteTransaction,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{
    AttemptOutcome, AuditRecord, CommandStatus, DeliveryRecord, Destination, FetchTarget,
    InboxEntry, Lane, NewCommand, OutboxRecord, Snapshot,
};

/// The schema version this build writes.
pub const SCHEMA_VERSION: u64 = 2;

/// Slots of a batch kept for each lower lane that has due work, so that no lane starves while
/// purchases still take most of every batch.
pub const LOWER_LANE_SHARE: usize = 2;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const INBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("inbox");
const INBOX_HASHES: TableDefinition<&str, u64> = TableDefinition::new("inbox_hashes");
const SNAPSHOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshots");
const IDENTITY: TableDefinition<&str, &str> = TableDefinition::new("identity");
const WITHHELD: TableDefinition<&str, &[u8]> = TableDefinition::new("withheld");
const PERSON_WITHHELD: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("person_withheld");
const FETCH_QUEUE: TableDefinition<&str, (i64, i64)> = TableDefinition::new("fetch_queue");
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
const OUTBOX_READY: TableDefinition<(u8, i64, u64), ()> = TableDefinition::new("outbox_ready");
const OUTBOX_QUEUE: TableDefinition<(u8, u64), ()> = TableDefinition::new("outbox_queue");
const PENDING_PROFILES: MultimapTableDefinition<&str, u64> =
    MultimapTableDefinition::new("pending_profiles");
/// Schema version 1's pending index, replaced in version 2.
const V1_OUTBOX_PENDING: TableDefinition<(u8, u64), i64> = TableDefinition::new("outbox_pending");
const OUTBOX_FACTS: TableDefinition<&str, &[u8]> = TableDefinition::new("outbox_facts");
const LEDGER: TableDefinition<u64, &[u8]> = TableDefinition::new("ledger");
const DEAD_LETTERS: TableDefinition<u64, ()> = TableDefinition::new("dead_letters");
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// Commands per person, in enqueue order (for traces and per-customer ordering).
const PERSON_COMMANDS: MultimapTableDefinition<&str, u64> =
    MultimapTableDefinition::new("person_commands");

const KEY_SCHEMA: &str = "schema_version";
const KEY_NEXT_INBOX: &str = "next_inbox_seq";
const KEY_NEXT_OUTBOX: &str = "next_outbox_id";
const KEY_INBOX_CURSOR: &str = "inbox_cursor";
const KEY_AUDIT_HEAD: &str = "audit_head";

/// Errors from the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The storage engine failed (I/O, corruption, a full disk).
    #[error("store engine error: {source}; check free disk space and file permissions of the data directory")]
    Engine {
        /// The redb error.
        #[from]
        source: redb::Error,
    },
    /// The store was written by a newer BigReach.
    #[error("the store at {path} has schema version {found}, newer than this build supports ({supported}); run the newer BigReach or restore a backup")]
    SchemaTooNew {
        /// The file.
        path: String,
        /// Version on disk.
        found: u64,
        /// Version this build writes.
        supported: u64,
    },
    /// The store has an older schema this build cannot migrate.
    #[error("the store at {path} has schema version {found}, which this build cannot migrate (it supports {supported}); export it with the older BigReach first")]
    SchemaTooOld {
        /// The file.
        path: String,
        /// Version on disk.
        found: u64,
        /// Version this build writes.
        supported: u64,
    },
    /// A record could not be encoded or decoded.
    #[error("store record {what} could not be {operation}: {message}; the store may be damaged, restore a backup or run `bigreach verify`")]
    Codec {
        /// Which record.
        what: &'static str,
        /// "encoded" or "decoded".
        operation: &'static str,
        /// The codec's message.
        message: String,
    },
}

macro_rules! engine_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Engine { source: e.into() }
            }
        }
    )*};
}
engine_from!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec_named(value).map_err(|e| StoreError::Codec {
        what,
        operation: "encoded",
        message: e.to_string(),
    })
}

fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    rmp_serde::from_slice(bytes).map_err(|e| StoreError::Codec {
        what,
        operation: "decoded",
        message: e.to_string(),
    })
}

fn u64_from(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = bytes.len().min(8);
    buf[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(buf)
}

/// The result of appending webhooks to the inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored under this sequence number.
    Stored(u64),
    /// A delivery with the same hash was stored before (at this sequence number).
    Duplicate(u64),
}

/// Counts for status screens and the demo.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreCounts {
    /// Inbox entries in total.
    pub inbox_total: u64,
    /// Inbox entries not yet processed.
    pub inbox_pending: u64,
    /// Resources waiting to be re-fetched from BigCommerce.
    pub fetch_queue: u64,
    /// Pending commands per lane (lane name → count).
    pub outbox_pending: BTreeMap<String, u64>,
    /// The oldest pending command per lane (lanes with pending commands only).
    pub outbox_oldest: BTreeMap<String, OldestPending>,
    /// Commands acknowledged by Bloomreach.
    pub delivered: u64,
    /// Dead-lettered commands.
    pub dead_letters: u64,
    /// Commands ever enqueued.
    pub enqueued: u64,
    /// Audit records.
    pub audit_records: u64,
}

/// Something BigReach did not send, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithheldRecord {
    /// What, e.g. `order:5021`.
    pub subject: String,
    /// Why, e.g. `not paid (status 7 "Awaiting Payment", payment "pending")`.
    pub reason: String,
    /// The person it belongs to, when one could be told (`email:…`, `customer:…`, `phone:…`,
    /// or `raw-email:…` for a placeholder value that never becomes an ID).
    pub person: Option<String>,
    /// When it was decided (ms since epoch).
    pub at_ms: i64,
}

/// The oldest pending command of a lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OldestPending {
    /// When it was enqueued (ms since epoch).
    pub enqueued_at_ms: i64,
    /// When its fact happened in BigCommerce (ms since epoch).
    pub event_time_ms: i64,
}

fn is_event(record: &OutboxRecord) -> bool {
    matches!(&record.destination, Destination::Tracking { name } if name == "customers/events")
}

fn is_profile(record: &OutboxRecord) -> bool {
    matches!(&record.destination, Destination::Tracking { name } if name == "customers")
}

/// Rebuilds version 2's pending indexes from the outbox and drops version 1's.
fn migrate_v1_to_v2(txn: &WriteTransaction) -> Result<(), StoreError> {
    let pending: Vec<OutboxRecord> = {
        let outbox = txn.open_table(OUTBOX)?;
        let mut out = Vec::new();
        for row in outbox.iter()? {
            let (_, value) = row?;
            let record: OutboxRecord = decode("outbox record", value.value())?;
            if record.status == CommandStatus::Pending {
                out.push(record);
            }
        }
        out
    };
    let mut typed = StoreTxn { txn };
    for record in &pending {
        typed.index_pending(record)?;
    }
    txn.delete_table(V1_OUTBOX_PENDING)
        .map_err(|e| StoreError::Engine { source: e.into() })?;
    Ok(())
}

/// The store handle. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    path: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (or creates) the store at `path`, checking its schema version.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path)?;
        let store = Store {
            db: Arc::new(db),
            path: path.display().to_string(),
        };
        store.init_schema()?;
        Ok(store)
    }

    fn init_schema(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            let found = meta.get(KEY_SCHEMA)?.map(|v| u64_from(v.value()));
            match found {
                None => {
                    meta.insert(KEY_SCHEMA, SCHEMA_VERSION.to_le_bytes().as_slice())?;
                }
                Some(v) if v > SCHEMA_VERSION => {
                    return Err(StoreError::SchemaTooNew {
                        path: self.path.clone(),
                        found: v,
                        supported: SCHEMA_VERSION,
                    });
                }
                Some(1) => {
                    drop(meta);
                    migrate_v1_to_v2(&txn)?;
                    meta = txn.open_table(META)?;
                    meta.insert(KEY_SCHEMA, SCHEMA_VERSION.to_le_bytes().as_slice())?;
                    tracing::info!(path = %self.path, "store migrated from schema 1 to 2");
                }
                Some(v) if v < SCHEMA_VERSION => {
                    return Err(StoreError::SchemaTooOld {
                        path: self.path.clone(),
                        found: v,
                        supported: SCHEMA_VERSION,
                    });
                }
                Some(_) => {}
            }
            drop(meta);
            txn.open_table(INBOX)?;
            txn.open_table(INBOX_HASHES)?;
            txn.open_table(SNAPSHOTS)?;
            txn.open_table(IDENTITY)?;
            txn.open_table(FETCH_QUEUE)?;
            txn.open_table(WITHHELD)?;
            txn.open_multimap_table(PERSON_WITHHELD)?;
            txn.open_table(OUTBOX)?;
            txn.open_table(OUTBOX_READY)?;
            txn.open_table(OUTBOX_QUEUE)?;
            txn.open_multimap_table(PENDING_PROFILES)?;
            txn.open_table(OUTBOX_FACTS)?;
            txn.open_table(LEDGER)?;
            txn.open_table(DEAD_LETTERS)?;
            txn.open_table(AUDIT)?;
            txn.open_multimap_table(PERSON_COMMANDS)?;
        }
        txn.commit()?;
        Ok(())
    }

    /// The schema version recorded in the file.
    pub fn schema_version(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(meta
            .get(KEY_SCHEMA)?
            .map(|v| u64_from(v.value()))
            .unwrap_or(0))
    }

    /// Runs `f` in one write transaction with typed operations, and commits durably.
    pub fn write<T>(
        &self,
        f: impl FnOnce(&mut StoreTxn<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let txn = self.db.begin_write()?;
        let mut typed = StoreTxn { txn: &txn };
        let value = f(&mut typed)?;
        txn.commit()?;
        Ok(value)
    }

    /// Appends webhook deliveries to the inbox in ONE durable commit (group commit), deduping by
    /// `hash`. Returns one result per entry, in order.
    pub fn append_inbox(&self, entries: &[InboxEntry]) -> Result<Vec<Appended>, StoreError> {
        self.write(|tx| tx.append_inbox_group(entries))
    }

    /// Whether the inbox holds a webhook delivery with this `hash` (read-only; audits and the
    /// crash harness use it to prove that every acknowledged webhook was stored).
    pub fn has_webhook_hash(&self, hash: &str) -> Result<bool, StoreError> {
        let txn = self.db.begin_read()?;
        let hashes = txn.open_table(INBOX_HASHES)?;
        let Some(seq) = hashes.get(hash)?.map(|seq| seq.value()) else {
            return Ok(false);
        };
        let inbox = txn.open_table(INBOX)?;
        Ok(inbox.get(seq)?.is_some())
    }

    /// Inbox entries after the processing cursor, at most `limit`.
    pub fn pending_inbox(&self, limit: usize) -> Result<Vec<(u64, InboxEntry)>, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let cursor = meta
            .get(KEY_INBOX_CURSOR)?
            .map(|v| u64_from(v.value()))
            .unwrap_or(0);
        let inbox = txn.open_table(INBOX)?;
        let mut out = Vec::new();
        for row in inbox.range(cursor + 1..)? {
            let (k, v) = row?;
            out.push((k.value(), decode("inbox entry", v.value())?));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Reads a snapshot.
    pub fn snapshot(&self, key: &str) -> Result<Option<Snapshot>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(SNAPSHOTS)?;
        table
            .get(key)?
            .map(|v| decode("snapshot", v.value()))
            .transpose()
    }

    /// Queued fetches due at `now_ms`: (target, oldest notification time in ms).
    pub fn due_fetches(&self, now_ms: i64) -> Result<Vec<(FetchTarget, i64)>, StoreError> {
        let txn = self.db.begin_read()?;
        let queue = txn.open_table(FETCH_QUEUE)?;
        let mut out = Vec::new();
        for row in queue.iter()? {
            let (key, value) = row?;
            let (due, oldest) = value.value();
            if due <= now_ms {
                if let Some(target) = FetchTarget::from_key(key.value()) {
                    out.push((target, oldest));
                }
            }
        }
        Ok(out)
    }

    /// Queued fetches in total, and the earliest due time.
    pub fn fetch_queue_state(&self) -> Result<(u64, Option<i64>), StoreError> {
        let txn = self.db.begin_read()?;
        let queue = txn.open_table(FETCH_QUEUE)?;
        let mut earliest: Option<i64> = None;
        for row in queue.iter()? {
            let (_, value) = row?;
            let due = value.value().0;
            earliest = Some(earliest.map_or(due, |e: i64| e.min(due)));
        }
        Ok((queue.len()?, earliest))
    }

    /// Reads a `meta` value (watermarks and similar), as i64.
    pub fn meta_i64(&self, key: &str) -> Result<Option<i64>, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(meta.get(key)?.map(|v| u64_from(v.value()) as i64))
    }

    /// The next batch: pending tracking commands (or, with `catalog`, catalog items) due at
    /// `now_ms`, skipping ids in `exclude` (in flight).
    ///
    /// - Lanes are served by priority, but each lower lane with due work keeps
    ///   [`LOWER_LANE_SHARE`] slots of the batch, so none starves while purchases still overtake
    ///   it within one batch.
    /// - Per-customer order: an event waits while a profile command of the same person with a
    ///   lower id is undelivered (even in flight), so a segment never sees a purchase on an empty
    ///   profile. Only that person's events wait.
    pub fn due_commands(
        &self,
        now_ms: i64,
        max: usize,
        catalog: bool,
        exclude: &HashSet<u64>,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let ready = txn.open_table(OUTBOX_READY)?;
        let outbox = txn.open_table(OUTBOX)?;
        let profiles = txn.open_multimap_table(PENDING_PROFILES)?;
        let mut per_lane: Vec<Vec<OutboxRecord>> = Vec::new();
        // Profile commands that hold back someone's events jump the queue (whatever their lane),
        // so a purchase waits one batch for its profile, not for the customers lane's share.
        let mut promoted: Vec<OutboxRecord> = Vec::new();
        let mut promoted_ids: HashSet<u64> = HashSet::new();
        for lane in Lane::ALL {
            if (lane == Lane::Catalog) != catalog {
                continue;
            }
            let mut candidates = Vec::new();
            let mut scanned = 0;
            let range = (lane.index(), i64::MIN, 0)..=(lane.index(), now_ms, u64::MAX);
            for row in ready.range(range)? {
                let (key, _) = row?;
                let (_, _, id) = key.value();
                scanned += 1;
                if scanned > max * 20 || candidates.len() >= max {
                    break;
                }
                if exclude.contains(&id) {
                    continue;
                }
                let Some(value) = outbox.get(id)? else {
                    continue;
                };
                let record: OutboxRecord = decode("outbox record", value.value())?;
                if promoted_ids.contains(&id) {
                    continue;
                }
                if is_event(&record) {
                    if let Some(person) = &record.customer_key {
                        let mut earlier = profiles.get(person.as_str())?;
                        let blocking = match earlier.next() {
                            Some(first) => Some(first?.value()).filter(|p| *p < id),
                            None => None,
                        };
                        if let Some(profile_id) = blocking {
                            if promoted.len() < max / 2
                                && !exclude.contains(&profile_id)
                                && !promoted_ids.contains(&profile_id)
                            {
                                if let Some(value) = outbox.get(profile_id)? {
                                    let profile: OutboxRecord =
                                        decode("outbox record", value.value())?;
                                    if profile.next_attempt_ms <= now_ms
                                        && profile.status == CommandStatus::Pending
                                    {
                                        promoted_ids.insert(profile_id);
                                        promoted.push(profile);
                                    }
                                }
                            }
                            continue;
                        }
                    }
                }
                candidates.push(record);
            }
            per_lane.push(candidates);
        }
        // Promoted profile commands first; then a share for each lower lane with work, then fill
        // by priority.
        for candidates in &mut per_lane {
            candidates.retain(|c| !promoted_ids.contains(&c.id));
        }
        let mut take: Vec<usize> = vec![0; per_lane.len()];
        let mut left = max - promoted.len().min(max);
        let first_busy = per_lane.iter().position(|c| !c.is_empty());
        for (i, candidates) in per_lane.iter().enumerate() {
            if Some(i) != first_busy && !candidates.is_empty() {
                let share = LOWER_LANE_SHARE.min(candidates.len()).min(left);
                take[i] = share;
                left -= share;
            }
        }
        for (i, candidates) in per_lane.iter().enumerate() {
            let more = (candidates.len() - take[i]).min(left);
            take[i] += more;
            left -= more;
        }
        Ok(promoted
            .into_iter()
            .take(max)
            .chain(
                per_lane
                    .into_iter()
                    .zip(take)
                    .flat_map(|(candidates, n)| candidates.into_iter().take(n)),
            )
            .collect())
    }

    /// Earliest next attempt among pending commands (for the deliverer to sleep until).
    pub fn next_due_ms(&self) -> Result<Option<i64>, StoreError> {
        let txn = self.db.begin_read()?;
        let ready = txn.open_table(OUTBOX_READY)?;
        let mut min: Option<i64> = None;
        for lane in Lane::ALL {
            let range = (lane.index(), i64::MIN, 0)..=(lane.index(), i64::MAX, u64::MAX);
            if let Some(row) = ready.range(range)?.next() {
                let (key, _) = row?;
                let next = key.value().1;
                min = Some(min.map_or(next, |m: i64| m.min(next)));
            }
        }
        Ok(min)
    }

    /// Records the outcome of one delivery attempt for many commands, in one transaction.
    pub fn record_attempts(
        &self,
        outcomes: &[(u64, AttemptOutcome)],
        now_ms: i64,
        retry_budget: u32,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            for (id, outcome) in outcomes {
                tx.record_attempt(*id, outcome, now_ms, retry_budget)?;
            }
            Ok(())
        })
    }

    /// One command by id.
    pub fn command(&self, id: u64) -> Result<Option<OutboxRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let outbox = txn.open_table(OUTBOX)?;
        outbox
            .get(id)?
            .map(|v| decode("outbox record", v.value()))
            .transpose()
    }

    /// What Bloomreach acknowledged for a command.
    pub fn delivery(&self, id: u64) -> Result<Option<DeliveryRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let ledger = txn.open_table(LEDGER)?;
        ledger
            .get(id)?
            .map(|v| decode("delivery record", v.value()))
            .transpose()
    }

    /// Every delivered command with its acknowledgement (for latency figures and reconciliation).
    pub fn deliveries(&self) -> Result<Vec<(OutboxRecord, DeliveryRecord)>, StoreError> {
        let txn = self.db.begin_read()?;
        let ledger = txn.open_table(LEDGER)?;
        let outbox = txn.open_table(OUTBOX)?;
        let mut out = Vec::new();
        for row in ledger.iter()? {
            let (id, v) = row?;
            let record: DeliveryRecord = decode("delivery record", v.value())?;
            if let Some(cmd) = outbox.get(id.value())? {
                out.push((decode("outbox record", cmd.value())?, record));
            }
        }
        Ok(out)
    }

    /// Dead-lettered commands.
    pub fn dead_letters(&self) -> Result<Vec<OutboxRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let dead = txn.open_table(DEAD_LETTERS)?;
        let outbox = txn.open_table(OUTBOX)?;
        let mut out = Vec::new();
        for row in dead.iter()? {
            let (id, _) = row?;
            if let Some(v) = outbox.get(id.value())? {
                out.push(decode("outbox record", v.value())?);
            }
        }
        Ok(out)
    }

    /// Reads an identity link.
    pub fn identity(&self, key: &str) -> Result<Option<String>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(IDENTITY)?;
        let value = table.get(key)?;
        Ok(value.map(|v| v.value().to_owned()))
    }

    /// What was withheld for a person key, and why.
    pub fn withheld_for(&self, person: &str) -> Result<Vec<WithheldRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let index = txn.open_multimap_table(PERSON_WITHHELD)?;
        let table = txn.open_table(WITHHELD)?;
        let mut out = Vec::new();
        for subject in index.get(person)? {
            if let Some(value) = table.get(subject?.value())? {
                out.push(decode("withheld record", value.value())?);
            }
        }
        Ok(out)
    }

    /// Commands enqueued for a person key, in order.
    pub fn commands_for_person(&self, person: &str) -> Result<Vec<OutboxRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let index = txn.open_multimap_table(PERSON_COMMANDS)?;
        let outbox = txn.open_table(OUTBOX)?;
        let mut out = Vec::new();
        for id in index.get(person)? {
            if let Some(v) = outbox.get(id?.value())? {
                out.push(decode("outbox record", v.value())?);
            }
        }
        Ok(out)
    }

    /// Counts for status screens.
    pub fn counts(&self) -> Result<StoreCounts, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let cursor = meta
            .get(KEY_INBOX_CURSOR)?
            .map(|v| u64_from(v.value()))
            .unwrap_or(0);
        let next_inbox = meta
            .get(KEY_NEXT_INBOX)?
            .map(|v| u64_from(v.value()))
            .unwrap_or(1);
        let next_outbox = meta
            .get(KEY_NEXT_OUTBOX)?
            .map(|v| u64_from(v.value()))
            .unwrap_or(1);
        let inbox = txn.open_table(INBOX)?;
        let queue = txn.open_table(OUTBOX_QUEUE)?;
        let outbox = txn.open_table(OUTBOX)?;
        let mut outbox_pending = BTreeMap::new();
        let mut outbox_oldest = BTreeMap::new();
        for lane in Lane::ALL {
            let range = (lane.index(), 0)..=(lane.index(), u64::MAX);
            let mut count = 0u64;
            let mut oldest = None;
            for row in queue.range(range)? {
                let (key, _) = row?;
                if count == 0 {
                    if let Some(value) = outbox.get(key.value().1)? {
                        let record: OutboxRecord = decode("outbox record", value.value())?;
                        oldest = Some(OldestPending {
                            enqueued_at_ms: record.enqueued_at_ms,
                            event_time_ms: record.event_time_ms,
                        });
                    }
                }
                count += 1;
            }
            outbox_pending.insert(lane.name().to_owned(), count);
            if let Some(oldest) = oldest {
                outbox_oldest.insert(lane.name().to_owned(), oldest);
            }
        }
        let inbox_total = inbox.len()?;
        Ok(StoreCounts {
            inbox_total,
            inbox_pending: next_inbox.saturating_sub(1).saturating_sub(cursor),
            fetch_queue: txn.open_table(FETCH_QUEUE)?.len()?,
            outbox_pending,
            outbox_oldest,
            delivered: txn.open_table(LEDGER)?.len()?,
            dead_letters: txn.open_table(DEAD_LETTERS)?.len()?,
            enqueued: next_outbox.saturating_sub(1),
            audit_records: txn.open_table(AUDIT)?.len()?,
        })
    }

    /// The whole audit chain, in order.
    pub fn audit_log(&self) -> Result<Vec<AuditRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let audit = txn.open_table(AUDIT)?;
        let mut out = Vec::new();
        for row in audit.iter()? {
            let (_, v) = row?;
            out.push(decode("audit record", v.value())?);
        }
        Ok(out)
    }

    /// Appends one audit record in its own transaction.
    pub fn audit(
        &self,
        at_ms: i64,
        actor: &str,
        action: &str,
        detail: &serde_json::Value,
    ) -> Result<AuditRecord, StoreError> {
        self.write(|tx| tx.audit(at_ms, actor, action, detail))
    }
}

/// Verifies an audit chain; returns the seq of the first broken record.
pub fn verify_audit_chain(records: &[AuditRecord]) -> Result<(), u64> {
    let mut prev = String::new();
    for (i, r) in records.iter().enumerate() {
        if r.seq != i as u64 + 1 || r.prev_hash != prev || r.hash != audit_hash(r) {
            return Err(r.seq);
        }
        prev = r.hash.clone();
    }
    Ok(())
}

fn audit_hash(r: &AuditRecord) -> String {
    let mut h = Sha256::new();
    h.update(r.prev_hash.as_bytes());
    h.update(r.seq.to_le_bytes());
    h.update(r.at_ms.to_le_bytes());
    for part in [&r.actor, &r.action, &r.detail] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

#[derive(Serialize, Deserialize)]
struct FactRow {
    id: u64,
    content_hash: String,
}

/// Typed operations inside one write transaction. Obtained from [`Store::write`].
pub struct StoreTxn<'a> {
    txn: &'a WriteTransaction,
}

impl StoreTxn<'_> {
    fn next_counter(&self, key: &str) -> Result<u64, StoreError> {
        let mut meta = self.txn.open_table(META)?;
        let next = meta.get(key)?.map(|v| u64_from(v.value())).unwrap_or(1);
        meta.insert(key, (next + 1).to_le_bytes().as_slice())?;
        Ok(next)
    }

    /// Appends many inbox entries (the receiver's group commit): the tables are opened and the
    /// sequence counter moved once for the whole group. Duplicates by hash are recognised
    /// against the store and within the group.
    pub fn append_inbox_group(
        &mut self,
        entries: &[InboxEntry],
    ) -> Result<Vec<Appended>, StoreError> {
        let mut meta = self.txn.open_table(META)?;
        let mut next = meta
            .get(KEY_NEXT_INBOX)?
            .map(|v| u64_from(v.value()))
            .unwrap_or(1);
        let mut inbox = self.txn.open_table(INBOX)?;
        let mut hashes = self.txn.open_table(INBOX_HASHES)?;
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            if let Some(hash) = &entry.hash {
                let existing = hashes.get(hash.as_str())?.map(|seq| seq.value());
                if let Some(seq) = existing {
                    out.push(Appended::Duplicate(seq));
                    continue;
                }
            }
            let seq = next;
            next += 1;
            let bytes = encode("inbox entry", entry)?;
            inbox.insert(seq, bytes.as_slice())?;
            if let Some(hash) = &entry.hash {
                hashes.insert(hash.as_str(), seq)?;
            }
            out.push(Appended::Stored(seq));
        }
        meta.insert(KEY_NEXT_INBOX, next.to_le_bytes().as_slice())?;
        Ok(out)
    }

    /// Appends one inbox entry, deduping webhook deliveries by hash.
    pub fn append_inbox(&mut self, entry: &InboxEntry) -> Result<Appended, StoreError> {
        if let Some(hash) = &entry.hash {
            let hashes = self.txn.open_table(INBOX_HASHES)?;
            let existing = hashes.get(hash.as_str())?.map(|seq| seq.value());
            if let Some(seq) = existing {
                return Ok(Appended::Duplicate(seq));
            }
        }
        let seq = self.next_counter(KEY_NEXT_INBOX)?;
        let bytes = encode("inbox entry", entry)?;
        self.txn.open_table(INBOX)?.insert(seq, bytes.as_slice())?;
        if let Some(hash) = &entry.hash {
            self.txn
                .open_table(INBOX_HASHES)?
                .insert(hash.as_str(), seq)?;
        }
        Ok(Appended::Stored(seq))
    }

    /// Queues a re-fetch. A target already queued keeps its due time (so repeated notifications
    /// coalesce without postponing the fetch) and its oldest notification time.
    pub fn queue_fetch(
        &mut self,
        target: &FetchTarget,
        due_ms: i64,
        event_ms: i64,
    ) -> Result<(), StoreError> {
        let key = target.key();
        let mut queue = self.txn.open_table(FETCH_QUEUE)?;
        let existing = queue.get(key.as_str())?.map(|v| v.value());
        let value = match existing {
            Some((due, oldest)) => (due.min(due_ms), oldest.min(event_ms)),
            None => (due_ms, event_ms),
        };
        queue.insert(key.as_str(), value)?;
        Ok(())
    }

    /// Records that `record.subject` was withheld (replacing an earlier reason).
    pub fn set_withheld(&mut self, record: &WithheldRecord) -> Result<(), StoreError> {
        self.clear_withheld(&record.subject)?;
        let bytes = encode("withheld record", record)?;
        self.txn
            .open_table(WITHHELD)?
            .insert(record.subject.as_str(), bytes.as_slice())?;
        if let Some(person) = &record.person {
            self.txn
                .open_multimap_table(PERSON_WITHHELD)?
                .insert(person.as_str(), record.subject.as_str())?;
        }
        Ok(())
    }

    /// Forgets a withheld subject (it was sent after all).
    pub fn clear_withheld(&mut self, subject: &str) -> Result<(), StoreError> {
        let previous = {
            let table = self.txn.open_table(WITHHELD)?;
            let value = table.get(subject)?;
            value
                .map(|v| decode::<WithheldRecord>("withheld record", v.value()))
                .transpose()?
        };
        if let Some(previous) = previous {
            self.txn.open_table(WITHHELD)?.remove(subject)?;
            if let Some(person) = &previous.person {
                self.txn
                    .open_multimap_table(PERSON_WITHHELD)?
                    .remove(person.as_str(), subject)?;
            }
        }
        Ok(())
    }

    /// Removes a fetch from the queue (it was fetched).
    pub fn clear_fetch(&mut self, target: &FetchTarget) -> Result<(), StoreError> {
        self.txn
            .open_table(FETCH_QUEUE)?
            .remove(target.key().as_str())?;
        Ok(())
    }

    /// Marks inbox entries up to `seq` as processed.
    pub fn advance_inbox_cursor(&mut self, seq: u64) -> Result<(), StoreError> {
        let mut meta = self.txn.open_table(META)?;
        let current = meta
            .get(KEY_INBOX_CURSOR)?
            .map(|v| u64_from(v.value()))
            .unwrap_or(0);
        if seq > current {
            meta.insert(KEY_INBOX_CURSOR, seq.to_le_bytes().as_slice())?;
        }
        Ok(())
    }

    /// Sets a `meta` i64 (watermarks).
    pub fn set_meta_i64(&mut self, key: &str, value: i64) -> Result<(), StoreError> {
        self.txn
            .open_table(META)?
            .insert(key, (value as u64).to_le_bytes().as_slice())?;
        Ok(())
    }

    /// Reads a snapshot.
    pub fn snapshot(&self, key: &str) -> Result<Option<Snapshot>, StoreError> {
        let table = self.txn.open_table(SNAPSHOTS)?;
        let value = table.get(key)?;
        value.map(|v| decode("snapshot", v.value())).transpose()
    }

    /// Writes a snapshot.
    pub fn put_snapshot(&mut self, key: &str, snapshot: &Snapshot) -> Result<(), StoreError> {
        let bytes = encode("snapshot", snapshot)?;
        self.txn
            .open_table(SNAPSHOTS)?
            .insert(key, bytes.as_slice())?;
        Ok(())
    }

    /// Reads an identity link.
    pub fn identity(&self, key: &str) -> Result<Option<String>, StoreError> {
        let table = self.txn.open_table(IDENTITY)?;
        let value = table.get(key)?;
        Ok(value.map(|v| v.value().to_owned()))
    }

    /// Writes an identity link.
    pub fn set_identity(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.txn.open_table(IDENTITY)?.insert(key, value)?;
        Ok(())
    }

    /// Enqueues a command unless the same fact with the same content was enqueued before.
    /// Returns the new outbox id, or `None` when it was a repeat.
    pub fn enqueue(
        &mut self,
        command: &NewCommand,
        now_ms: i64,
    ) -> Result<Option<u64>, StoreError> {
        {
            let facts = self.txn.open_table(OUTBOX_FACTS)?;
            let existing = facts
                .get(command.fact.as_str())?
                .map(|row| decode::<FactRow>("fact row", row.value()))
                .transpose()?;
            if existing.is_some_and(|row| row.content_hash == command.content_hash) {
                return Ok(None);
            }
        }
        let id = self.next_counter(KEY_NEXT_OUTBOX)?;
        let record = OutboxRecord {
            id,
            lane: command.lane,
            destination: command.destination.clone(),
            fact: command.fact.clone(),
            customer_key: command.customer_key.clone(),
            payload: command.payload.clone(),
            event_time_ms: command.event_time_ms,
            enqueued_at_ms: now_ms,
            attempts: 0,
            next_attempt_ms: now_ms,
            status: CommandStatus::Pending,
            last_error: None,
        };
        let bytes = encode("outbox record", &record)?;
        self.txn.open_table(OUTBOX)?.insert(id, bytes.as_slice())?;
        self.index_pending(&record)?;
        let fact = encode(
            "fact row",
            &FactRow {
                id,
                content_hash: command.content_hash.clone(),
            },
        )?;
        self.txn
            .open_table(OUTBOX_FACTS)?
            .insert(command.fact.as_str(), fact.as_slice())?;
        if let Some(person) = &command.customer_key {
            self.txn
                .open_multimap_table(PERSON_COMMANDS)?
                .insert(person.as_str(), id)?;
        }
        Ok(Some(id))
    }

    /// Records one attempt's outcome for one command.
    pub fn record_attempt(
        &mut self,
        id: u64,
        outcome: &AttemptOutcome,
        now_ms: i64,
        retry_budget: u32,
    ) -> Result<(), StoreError> {
        let outbox = self.txn.open_table(OUTBOX)?;
        let Some(mut record) = outbox
            .get(id)?
            .map(|v| decode::<OutboxRecord>("outbox record", v.value()))
            .transpose()?
        else {
            return Ok(());
        };
        if record.status != CommandStatus::Pending {
            // Already settled (e.g. a late duplicate answer): never count twice.
            return Ok(());
        }
        drop(outbox);
        self.unindex_pending(&record)?;
        record.attempts += 1;
        match outcome {
            AttemptOutcome::Delivered { request_id } => {
                record.status = CommandStatus::Delivered;
                record.last_error = None;
                let delivery = encode(
                    "delivery record",
                    &DeliveryRecord {
                        acked_at_ms: now_ms,
                        request_id: request_id.clone(),
                        attempts: record.attempts,
                    },
                )?;
                self.txn
                    .open_table(LEDGER)?
                    .insert(id, delivery.as_slice())?;
            }
            AttemptOutcome::Retry {
                error,
                next_attempt_ms,
                counts,
            } => {
                if !counts {
                    // 429 and 5xx do not use up the retry budget.
                    record.attempts -= 1;
                }
                record.last_error = Some(error.clone());
                if record.attempts >= retry_budget {
                    record.status = CommandStatus::Dead;
                    record.last_error = Some(format!(
                        "retry budget of {retry_budget} used up; last error: {error}"
                    ));
                    self.txn.open_table(DEAD_LETTERS)?.insert(id, ())?;
                } else {
                    record.next_attempt_ms = *next_attempt_ms;
                    self.index_pending(&record)?;
                }
            }
            AttemptOutcome::Dead { reason } => {
                record.status = CommandStatus::Dead;
                record.last_error = Some(reason.clone());
                self.txn.open_table(DEAD_LETTERS)?.insert(id, ())?;
            }
        }
        let mut outbox = self.txn.open_table(OUTBOX)?;
        let bytes = encode("outbox record", &record)?;
        outbox.insert(id, bytes.as_slice())?;
        Ok(())
    }

    /// Adds a pending command to the indexes.
    fn index_pending(&mut self, record: &OutboxRecord) -> Result<(), StoreError> {
        let lane = record.lane.index();
        self.txn
            .open_table(OUTBOX_READY)?
            .insert((lane, record.next_attempt_ms, record.id), ())?;
        self.txn
            .open_table(OUTBOX_QUEUE)?
            .insert((lane, record.id), ())?;
        if is_profile(record) {
            if let Some(person) = &record.customer_key {
                self.txn
                    .open_multimap_table(PENDING_PROFILES)?
                    .insert(person.as_str(), record.id)?;
            }
        }
        Ok(())
    }

    /// Removes a command from the pending indexes (before it is settled or rescheduled).
    fn unindex_pending(&mut self, record: &OutboxRecord) -> Result<(), StoreError> {
        let lane = record.lane.index();
        self.txn
            .open_table(OUTBOX_READY)?
            .remove((lane, record.next_attempt_ms, record.id))?;
        self.txn
            .open_table(OUTBOX_QUEUE)?
            .remove((lane, record.id))?;
        if is_profile(record) {
            if let Some(person) = &record.customer_key {
                self.txn
                    .open_multimap_table(PENDING_PROFILES)?
                    .remove(person.as_str(), record.id)?;
            }
        }
        Ok(())
    }

    /// Puts a dead letter back in its lane, byte-identical, with a fresh retry budget.
    /// Returns the record, or `None` when `id` is not a dead letter.
    pub fn replay_dead_letter(
        &mut self,
        id: u64,
        now_ms: i64,
    ) -> Result<Option<OutboxRecord>, StoreError> {
        let Some(mut record) = self.dead_record(id)? else {
            return Ok(None);
        };
        self.txn.open_table(DEAD_LETTERS)?.remove(id)?;
        record.status = CommandStatus::Pending;
        record.attempts = 0;
        record.next_attempt_ms = now_ms;
        record.last_error = record
            .last_error
            .map(|e| format!("replayed by an operator after: {e}"));
        self.index_pending(&record)?;
        let bytes = encode("outbox record", &record)?;
        self.txn.open_table(OUTBOX)?.insert(id, bytes.as_slice())?;
        Ok(Some(record))
    }

    /// Gives a dead letter up for good (kept in the outbox for traces and the audit).
    pub fn discard_dead_letter(&mut self, id: u64) -> Result<Option<OutboxRecord>, StoreError> {
        let Some(mut record) = self.dead_record(id)? else {
            return Ok(None);
        };
        self.txn.open_table(DEAD_LETTERS)?.remove(id)?;
        record.status = CommandStatus::Discarded;
        let bytes = encode("outbox record", &record)?;
        self.txn.open_table(OUTBOX)?.insert(id, bytes.as_slice())?;
        Ok(Some(record))
    }

    fn dead_record(&self, id: u64) -> Result<Option<OutboxRecord>, StoreError> {
        let dead = self.txn.open_table(DEAD_LETTERS)?;
        if dead.get(id)?.is_none() {
            return Ok(None);
        }
        let outbox = self.txn.open_table(OUTBOX)?;
        let value = outbox.get(id)?;
        value
            .map(|v| decode::<OutboxRecord>("outbox record", v.value()))
            .transpose()
    }

    /// Appends an audit record to the hash chain.
    pub fn audit(
        &mut self,
        at_ms: i64,
        actor: &str,
        action: &str,
        detail: &serde_json::Value,
    ) -> Result<AuditRecord, StoreError> {
        let meta = self.txn.open_table(META)?;
        let prev_hash = meta
            .get(KEY_AUDIT_HEAD)?
            .map(|v| String::from_utf8_lossy(v.value()).into_owned())
            .unwrap_or_default();
        drop(meta);
        let seq = self.txn.open_table(AUDIT)?.len()? + 1;
        let mut record = AuditRecord {
            seq,
            at_ms,
            actor: actor.to_owned(),
            action: action.to_owned(),
            detail: detail.to_string(),
            prev_hash,
            hash: String::new(),
        };
        record.hash = audit_hash(&record);
        let bytes = encode("audit record", &record)?;
        self.txn.open_table(AUDIT)?.insert(seq, bytes.as_slice())?;
        self.txn
            .open_table(META)?
            .insert(KEY_AUDIT_HEAD, record.hash.as_bytes())?;
        Ok(record)
    }
}

#[cfg(test)]
mod tests;
