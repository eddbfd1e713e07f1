//! The inbox family: `inbox` (every webhook and polled resource, durable before it is
//! acknowledged), `inbox_hashes` (webhook dedupe) and the processing cursor in `meta`.

use redb::{ReadableDatabase, ReadableTable};

use super::schema::{INBOX, INBOX_HASHES, KEY_INBOX_CURSOR, KEY_NEXT_INBOX, META};
use super::{decode, encode, u64_from, Store, StoreError, StoreTxn};
use crate::model::InboxEntry;

/// The result of appending webhooks to the inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Stored under this sequence number.
    Stored(u64),
    /// A delivery with the same hash was stored before (at this sequence number).
    Duplicate(u64),
}

impl Store {
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
}

impl StoreTxn<'_> {
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
}
