//! The store: BigReach's only owner of redb tables.
//!
//! One file per table family; each adds its typed operations to [`Store`] (reads, each in its
//! own read transaction) and [`StoreTxn`] (writes inside [`Store::write`]):
//! [`schema`] (table definitions, version checks, opening), [`migrations`], `inbox`,
//! `fetch_queue`, `set_aside` (fetches that failed for good), `snapshots`, `identity` (links),
//! `withheld`, `outbox` (outbox, its indexes, facts, ledger, dead letters), `audit` and `cutover`. This file holds the handle, the transaction, the
//! errors and the codec helpers.
//!
//! # On-disk layout (schema version 4)
//!
//! | table | key | value | purpose |
//! |---|---|---|---|
//! | `meta` | `&str` | `&[u8]` | schema version, id counters, inbox cursor, poll watermarks, audit head |
//! | `inbox` | `u64` seq | `InboxEntry` | every webhook and polled resource, durable before ack |
//! | `inbox_hashes` | `&str` webhook hash | `u64` seq | webhook dedupe |
//! | `snapshots` | `&str` `kind:id` | `Snapshot` | last seen state of each resource |
//! | `identity` | `&str` `email:…`/`customer:…`/`phone-owner:…` | `&str` | identity links |
//! | `withheld` | `&str` subject (`order:…`) | `WithheldRecord` | what was not sent, and why (traces) |
//! | `person_withheld` | `&str` person (multimap) | `&str` subject | withheld subjects per person |
//! | `fetch_queue` | `&str` `order:…`/`customer:…`/`product:…`/`cart:…` | `(i64 due ms, i64 oldest event ms)` | resources to re-fetch, coalesced |
//! | `set_aside` | `&str` fetch key | `SetAsideFetch` | fetches that failed for good, with the reason, out of the queue |
//! | `outbox` | `u64` id | `OutboxRecord` | frozen commands, all states |
//! | `outbox_ready` | `(u8 lane, i64 next attempt ms, u64 id)` | `()` | pending commands by lane, then due time |
//! | `outbox_queue` | `(u8 lane, u64 id)` | `()` | pending commands by lane, in enqueue order (depth, oldest age) |
//! | `pending_profiles` | `&str` person (multimap) | `u64` id | undelivered profile commands per person |
//! | `person_commands` | `&str` person (multimap) | `u64` id | every command per person, in enqueue order (traces) |
//! | `outbox_facts` | `&str` fact | `FactRow { id, content_hash }` | a fact is enqueued once per content |
//! | `ledger` | `u64` id | `DeliveryRecord` | what Bloomreach acknowledged |
//! | `dead_letters` | `u64` id | `()` | index of dead commands |
//! | `audit` | `u64` seq | `AuditRecord` | hash-chained operator/system log |
//! | `cutover` | `u64` (0: state, 1…: history) | `CutoverState` / `Transition` | the cutover stage, its hold and every transition (`cutover`) |
//!
//! Values are MessagePack (rmp-serde, named fields). `outbox`, its three indexes
//! (`outbox_ready`, `outbox_queue`, `pending_profiles`), `person_commands`, `outbox_facts`,
//! `ledger` and `dead_letters` are always updated in the same write transaction.
//!
//! Schema history: version 1 indexed pending commands in `outbox_pending` `(lane, id) → next
//! attempt`; version 2 replaced it with `outbox_ready`, `outbox_queue` and `pending_profiles`
//! (rebuilt from `outbox` when a version 1 store is opened, [`migrations`]); version 3 added
//! `set_aside`; version 4 added the `Superseded` command status (no table changes).
//!
//! # Invariants
//! - Every write is one redb write transaction with `Durability::Immediate`: a caller that got
//!   `Ok` can acknowledge to the outside world.
//! - A store written by a newer schema is refused, never modified.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use ts_rs::TS;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::model::{Lane, OutboxRecord};

mod audit;
mod backfill;
mod catalog_drift;
mod cutover;
mod fetch_queue;
mod identity;
mod inbox;
pub mod migrations;
mod outbox;
pub mod schema;
mod set_aside;
mod snapshots;
mod withheld;

pub use crate::outbox::policy::LOWER_LANE_SHARE;
pub use audit::verify_audit_chain;
pub use backfill::KEY_HISTORY_WATERMARK;
pub use catalog_drift::KEY_DRIFT_AT;
pub use cutover::AppliedChange;
pub use inbox::Appended;
pub use schema::SCHEMA_VERSION;
pub use set_aside::SetAsideFetch;
pub use withheld::WithheldRecord;

use schema::{
    AUDIT, DEAD_LETTERS, FETCH_QUEUE, INBOX, KEY_INBOX_CURSOR, KEY_NEXT_INBOX, KEY_NEXT_OUTBOX,
    LEDGER, META, OUTBOX, OUTBOX_QUEUE, SET_ASIDE,
};

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
    /// Another process holds the store open: a running appliance (`bigreach serve`, the desktop
    /// app or a demo).
    #[error("the store at {path} is open in another process (a running `bigreach serve`, the desktop app or a demo); stop it and run this again, or run it on a copy of the data directory taken while BigReach was stopped")]
    InUse {
        /// The file.
        path: String,
    },
    /// A record could not be encoded or decoded.
    #[error("store record {what} could not be {operation}: {message}; the store file may be damaged: stop BigReach and restore the data directory (its `bigreach.redb`) from a backup")]
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

/// Counts for status screens and the demo.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct StoreCounts {
    /// Inbox entries in total.
    pub inbox_total: u64,
    /// Inbox entries not yet processed.
    pub inbox_pending: u64,
    /// Resources waiting to be re-fetched from BigCommerce.
    pub fetch_queue: u64,
    /// Fetches set aside because they failed for good (an operator replays or discards them).
    pub set_aside: u64,
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

/// The oldest pending command of a lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct OldestPending {
    /// When it was enqueued (ms since epoch).
    pub enqueued_at_ms: i64,
    /// When its fact happened in BigCommerce (ms since epoch).
    pub event_time_ms: i64,
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
        let db = Database::create(path).map_err(|error| match error {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
                path: path.display().to_string(),
            },
            other => other.into(),
        })?;
        let store = Store {
            db: Arc::new(db),
            path: path.display().to_string(),
        };
        store.init_schema()?;
        Ok(store)
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

    /// Reads a `meta` value (watermarks and similar), as i64.
    pub fn meta_i64(&self, key: &str) -> Result<Option<i64>, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(meta.get(key)?.map(|v| u64_from(v.value()) as i64))
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
            set_aside: txn.open_table(SET_ASIDE)?.len()?,
            outbox_pending,
            outbox_oldest,
            delivered: txn.open_table(LEDGER)?.len()?,
            dead_letters: txn.open_table(DEAD_LETTERS)?.len()?,
            enqueued: next_outbox.saturating_sub(1),
            audit_records: txn.open_table(AUDIT)?.len()?,
        })
    }
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

    /// Sets a `meta` i64 (watermarks).
    pub fn set_meta_i64(&mut self, key: &str, value: i64) -> Result<(), StoreError> {
        self.txn
            .open_table(META)?
            .insert(key, (value as u64).to_le_bytes().as_slice())?;
        Ok(())
    }
}

#[cfg(test)]
mod outbox_model;
#[cfg(test)]
mod tests;
