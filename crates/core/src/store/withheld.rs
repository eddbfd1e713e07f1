//! What was not sent, and why: `withheld` (subject → [`WithheldRecord`]) and its per-person
//! index `person_withheld`, so that a trace can answer "why did this person not enter the flow".

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use super::schema::{PERSON_WITHHELD, WITHHELD};
use super::{decode, encode, Store, StoreError, StoreTxn};

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

impl Store {
    /// Why a subject (`order:5021`) was withheld, if it is.
    pub fn withheld(&self, subject: &str) -> Result<Option<WithheldRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(WITHHELD)?;
        table
            .get(subject)?
            .map(|v| decode("withheld record", v.value()))
            .transpose()
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
}

impl StoreTxn<'_> {
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
}
