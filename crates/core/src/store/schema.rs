//! The schema: every table definition, the meta keys, [`SCHEMA_VERSION`], and opening a file
//! (create the tables, refuse a newer schema, migrate an older one in place).

use redb::{MultimapTableDefinition, ReadableDatabase, ReadableTable, TableDefinition};

use super::{migrations, u64_from, Store, StoreError};

/// The schema version this build writes.
pub const SCHEMA_VERSION: u64 = 4;

pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(super) const INBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("inbox");
pub(super) const INBOX_HASHES: TableDefinition<&str, u64> = TableDefinition::new("inbox_hashes");
pub(super) const SNAPSHOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshots");
pub(super) const IDENTITY: TableDefinition<&str, &str> = TableDefinition::new("identity");
pub(super) const WITHHELD: TableDefinition<&str, &[u8]> = TableDefinition::new("withheld");
pub(super) const PERSON_WITHHELD: MultimapTableDefinition<&str, &str> =
    MultimapTableDefinition::new("person_withheld");
pub(super) const FETCH_QUEUE: TableDefinition<&str, (i64, i64)> =
    TableDefinition::new("fetch_queue");
/// Fetch targets whose fetch failed for good (schema 3).
pub(super) const SET_ASIDE: TableDefinition<&str, &[u8]> = TableDefinition::new("set_aside");
pub(super) const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
pub(super) const OUTBOX_READY: TableDefinition<(u8, i64, u64), ()> =
    TableDefinition::new("outbox_ready");
pub(super) const OUTBOX_QUEUE: TableDefinition<(u8, u64), ()> =
    TableDefinition::new("outbox_queue");
pub(super) const PENDING_PROFILES: MultimapTableDefinition<&str, u64> =
    MultimapTableDefinition::new("pending_profiles");
pub(super) const OUTBOX_FACTS: TableDefinition<&str, &[u8]> = TableDefinition::new("outbox_facts");
pub(super) const LEDGER: TableDefinition<u64, &[u8]> = TableDefinition::new("ledger");
pub(super) const DEAD_LETTERS: TableDefinition<u64, ()> = TableDefinition::new("dead_letters");
pub(super) const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// Commands per person, in enqueue order (for traces and per-customer ordering).
pub(super) const PERSON_COMMANDS: MultimapTableDefinition<&str, u64> =
    MultimapTableDefinition::new("person_commands");
/// The cutover state (key 0) and its history of transitions (keys 1…); created on open, so a
/// store from before it has no row and behaves as the configured start stage.
pub(super) const CUTOVER: TableDefinition<u64, &[u8]> = TableDefinition::new("cutover");
/// The history backfill's progress (`store::backfill`); created on open like `cutover`.
pub(super) const BACKFILL: TableDefinition<&str, &[u8]> = TableDefinition::new("backfill");

pub(super) const KEY_SCHEMA: &str = "schema_version";
pub(super) const KEY_NEXT_INBOX: &str = "next_inbox_seq";
pub(super) const KEY_NEXT_OUTBOX: &str = "next_outbox_id";
pub(super) const KEY_INBOX_CURSOR: &str = "inbox_cursor";
pub(super) const KEY_AUDIT_HEAD: &str = "audit_head";
/// The checkpoint text of the last audit export (`audit::bundle`).
pub(super) const KEY_AUDIT_LAST_EXPORT: &str = "audit_last_export";

impl Store {
    /// Creates missing tables and checks (or migrates) the schema version, in one transaction.
    pub(super) fn init_schema(&self) -> Result<(), StoreError> {
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
                Some(v @ 1..=3) => {
                    drop(meta);
                    if v == 1 {
                        migrations::v1_to_v2::migrate(&txn)?;
                    }
                    if v <= 2 {
                        migrations::v2_to_v3::migrate(&txn)?;
                    }
                    // 3 → 4 rewrites nothing (see `migrations`): the new number alone keeps a
                    // version 3 build from reading a `Superseded` status it cannot decode.
                    meta = txn.open_table(META)?;
                    meta.insert(KEY_SCHEMA, SCHEMA_VERSION.to_le_bytes().as_slice())?;
                    tracing::info!(path = %self.path, from = v, to = SCHEMA_VERSION, "store migrated");
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
            txn.open_table(SET_ASIDE)?;
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
            txn.open_table(CUTOVER)?;
            txn.open_table(BACKFILL)?;
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
}
