//! Schema 2 → 3: adds the empty `set_aside` table (fetch targets whose fetch failed for good).
//! Nothing else changes; a store at version 3 is refused by a version 2 build.

use redb::WriteTransaction;

use crate::store::schema::SET_ASIDE;
use crate::store::StoreError;

/// Runs the migration inside the opening transaction.
pub(in crate::store) fn migrate(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(SET_ASIDE)?;
    Ok(())
}
