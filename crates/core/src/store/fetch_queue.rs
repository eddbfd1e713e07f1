//! The fetch queue: resources to re-fetch from BigCommerce, one entry per resource however many
//! notifications named it (`fetch_queue`: key → `(due ms, oldest notification ms)`).

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::schema::FETCH_QUEUE;
use super::{Store, StoreError, StoreTxn};
use crate::model::FetchTarget;

impl Store {
    /// Queued fetches due at `now_ms`: (target, oldest notification time in ms).
    pub fn due_fetches(&self, now_ms: i64) -> Result<Vec<(FetchTarget, i64)>, StoreError> {
        let txn = self.db.begin_read()?;
        let queue = txn.open_table(FETCH_QUEUE)?;
        let mut out = Vec::new();
        for row in queue.iter()? {
            let (key, value) = row?;
            let (due, oldest) = value.value();
            if due <= now_ms {
                if let Some(target) = FetchTarget::from_stored_key(key.value()) {
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
}

impl StoreTxn<'_> {
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

    /// Removes a fetch from the queue (it was fetched), and its set-aside record if a later
    /// notification or a replay made it work.
    pub fn clear_fetch(&mut self, target: &FetchTarget) -> Result<(), StoreError> {
        self.txn
            .open_table(FETCH_QUEUE)?
            .remove(target.key().as_str())?;
        self.clear_set_aside(target)
    }
}
