//! Identity links (`identity`: person key or `phone-owner:…` → person key or email). The rules
//! that read and write them live in `crate::identity::rules`; this file only stores them.

use redb::{ReadableDatabase, ReadableTable};

use super::schema::IDENTITY;
use super::{Store, StoreError, StoreTxn};

impl Store {
    /// Reads an identity link.
    pub fn identity(&self, key: &str) -> Result<Option<String>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(IDENTITY)?;
        let value = table.get(key)?;
        Ok(value.map(|v| v.value().to_owned()))
    }
}

impl StoreTxn<'_> {
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
}
