//! The backfill's progress: the `backfill` table, one row (`progress` → MessagePack of
//! [`BackfillProgress`]), created on open (a store from before it has no row: no backfill ran).
//! The history watermark is also kept in `meta` (`history_watermark_ms`), where live ingest
//! reads it.

use redb::{ReadableDatabase, ReadableTable};

use super::schema::BACKFILL;
use super::{decode, encode, Store, StoreError, StoreTxn};
use crate::backfill::progress::BackfillProgress;

const KEY_PROGRESS: &str = "progress";
/// The `meta` key of the cut-over watermark (ms since epoch): orders created at or before it
/// belong to the history import.
pub const KEY_HISTORY_WATERMARK: &str = "history_watermark_ms";

impl Store {
    /// The backfill's progress, if one started.
    pub fn backfill_progress(&self) -> Result<Option<BackfillProgress>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(BACKFILL)?;
        table
            .get(KEY_PROGRESS)?
            .map(|v| decode("backfill progress", v.value()))
            .transpose()
    }

    /// The cut-over watermark, once a backfill recorded one.
    pub fn history_watermark_ms(&self) -> Result<Option<i64>, StoreError> {
        self.meta_i64(KEY_HISTORY_WATERMARK)
    }
}

impl StoreTxn<'_> {
    /// The cut-over watermark, inside a write transaction (live ingest reads it).
    pub fn history_watermark_ms(&self) -> Result<Option<i64>, StoreError> {
        let meta = self.txn.open_table(super::schema::META)?;
        let value = meta
            .get(KEY_HISTORY_WATERMARK)?
            .map(|v| super::u64_from(v.value()) as i64);
        Ok(value)
    }

    /// Records the backfill's progress (and its watermark in `meta`).
    pub fn put_backfill_progress(&mut self, progress: &BackfillProgress) -> Result<(), StoreError> {
        let bytes = encode("backfill progress", progress)?;
        self.txn
            .open_table(BACKFILL)?
            .insert(KEY_PROGRESS, bytes.as_slice())?;
        self.set_meta_i64(KEY_HISTORY_WATERMARK, progress.watermark.timestamp_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backfill::FileKind;

    #[test]
    fn progress_survives_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store.redb");
        let start = chrono::DateTime::from_timestamp(1_700_000_000, 0).expect("valid");
        let mut progress = BackfillProgress::new(start, None, start, 5);
        progress
            .files
            .get_mut(&FileKind::Purchases)
            .expect("purchases")
            .commit(0, 3, 321);
        {
            let store = Store::open(&path).expect("open");
            assert_eq!(store.backfill_progress().expect("read"), None);
            store
                .write(|txn| txn.put_backfill_progress(&progress))
                .expect("write");
        }
        let store = Store::open(&path).expect("reopen");
        assert_eq!(store.backfill_progress().expect("read"), Some(progress));
        assert_eq!(
            store.history_watermark_ms().expect("meta"),
            Some(start.timestamp_millis())
        );
    }
}
