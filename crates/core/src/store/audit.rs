//! The audit log: a hash chain of operator and system records (`audit`: seq → [`AuditRecord`],
//! its head hash in `meta`), and the checkpoint text of the last export (`meta`
//! `audit_last_export`, written by `audit::bundle`).

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};
use sha2::{Digest, Sha256};

use super::schema::{AUDIT, KEY_AUDIT_HEAD, KEY_AUDIT_LAST_EXPORT, META};
use super::{decode, encode, Store, StoreError, StoreTxn};
use crate::model::AuditRecord;

impl Store {
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

    /// The checkpoint text of the last audit export, if there was one.
    pub fn audit_last_export(&self) -> Result<Option<String>, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(meta
            .get(KEY_AUDIT_LAST_EXPORT)?
            .map(|v| String::from_utf8_lossy(v.value()).into_owned()))
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

impl StoreTxn<'_> {
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

impl StoreTxn<'_> {
    /// Records the checkpoint text of an audit export (the next export proves consistency
    /// with it).
    pub fn set_audit_last_export(&mut self, checkpoint: &str) -> Result<(), StoreError> {
        self.txn
            .open_table(META)?
            .insert(KEY_AUDIT_LAST_EXPORT, checkpoint.as_bytes())?;
        Ok(())
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
