//! Snapshots: the last seen state of each resource (`snapshots`: `kind:id` → [`Snapshot`]),
//! which ingest diffs against, and the last enqueued full state of each catalog item
//! (`catalog_item:<variant id>`, its properties as JSON), which catalog deltas diff against.

use redb::{ReadableDatabase, ReadableTable};

use super::schema::SNAPSHOTS;
use super::{decode, encode, Store, StoreError, StoreTxn};
use crate::model::Snapshot;

impl Store {
    /// Reads a snapshot.
    pub fn snapshot(&self, key: &str) -> Result<Option<Snapshot>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(SNAPSHOTS)?;
        table
            .get(key)?
            .map(|v| decode("snapshot", v.value()))
            .transpose()
    }
}

impl StoreTxn<'_> {
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
}
