//! What the catalog drift comparison reads from and keeps in the store: the last catalog
//! command of every item (`outbox_facts` rows `item:<id>`), the products waiting in the fetch
//! queue, and the last report (`meta` `catalog_drift_last`, its JSON), so `bigreach catalog
//! drift --last` can show it and the schedule knows when it last ran (`meta`
//! `catalog_drift_at`, ms).

use std::collections::{BTreeMap, BTreeSet};

use redb::ReadableDatabase;

use super::outbox::FactRow;
use super::schema::{FETCH_QUEUE, META, OUTBOX, OUTBOX_FACTS, SNAPSHOTS};
use super::{decode, Store, StoreError, StoreTxn};
use crate::map::catalog::drift::DriftReport;
use crate::model::OutboxRecord;

/// The `meta` key of the last drift report (JSON).
const KEY_LAST_REPORT: &str = "catalog_drift_last";
/// The `meta` key of when the scheduled comparison last ran or its period began (ms).
pub const KEY_DRIFT_AT: &str = "catalog_drift_at";

fn codec(operation: &'static str, error: serde_json::Error) -> StoreError {
    StoreError::Codec {
        what: "catalog drift report",
        operation,
        message: error.to_string(),
    }
}

impl Store {
    /// The last command of every catalog item, by item id.
    pub fn catalog_item_commands(&self) -> Result<BTreeMap<String, OutboxRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let facts = txn.open_table(OUTBOX_FACTS)?;
        let outbox = txn.open_table(OUTBOX)?;
        let mut out = BTreeMap::new();
        for row in facts.range("item:".."item;")? {
            let (fact, value) = row?;
            let Some(item_id) = fact.value().strip_prefix("item:").map(str::to_owned) else {
                continue;
            };
            let row: FactRow = decode("fact row", value.value())?;
            if let Some(record) = outbox.get(row.id)? {
                out.insert(item_id, decode("outbox record", record.value())?);
            }
        }
        Ok(out)
    }

    /// The ids of the products waiting in the fetch queue.
    pub fn queued_product_fetches(&self) -> Result<BTreeSet<String>, StoreError> {
        let txn = self.db.begin_read()?;
        let queue = txn.open_table(FETCH_QUEUE)?;
        let mut out = BTreeSet::new();
        for row in queue.range("product:".."product;")? {
            let (key, _) = row?;
            if let Some(id) = key.value().strip_prefix("product:") {
                out.insert(id.to_owned());
            }
        }
        Ok(out)
    }

    /// The last catalog drift report, if a comparison ever ran.
    pub fn last_catalog_drift(&self) -> Result<Option<DriftReport>, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let Some(value) = meta.get(KEY_LAST_REPORT)? else {
            return Ok(None);
        };
        serde_json::from_slice(value.value())
            .map(Some)
            .map_err(|e| codec("decoded", e))
    }
}

impl StoreTxn<'_> {
    /// Keeps `report` as the last catalog drift report.
    pub fn set_last_catalog_drift(&mut self, report: &DriftReport) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(report).map_err(|e| codec("encoded", e))?;
        self.txn
            .open_table(META)?
            .insert(KEY_LAST_REPORT, bytes.as_slice())?;
        Ok(())
    }

    /// Forgets a snapshot (the state of a catalog item BigReach deleted, so that an item of the
    /// same id is written in full should it come back).
    pub fn remove_snapshot(&mut self, key: &str) -> Result<(), StoreError> {
        self.txn.open_table(SNAPSHOTS)?.remove(key)?;
        Ok(())
    }
}
