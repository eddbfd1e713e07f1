//! Schema 1 → 2: rebuilds version 2's pending indexes from the outbox and drops version 1's
//! `outbox_pending`.

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use crate::model::{CommandStatus, OutboxRecord};
use crate::store::schema::OUTBOX;
use crate::store::{decode, StoreError, StoreTxn};

/// Schema version 1's pending index, replaced in version 2.
pub(in crate::store) const V1_OUTBOX_PENDING: TableDefinition<(u8, u64), i64> =
    TableDefinition::new("outbox_pending");

/// Runs the migration inside the opening transaction.
pub(in crate::store) fn migrate(txn: &WriteTransaction) -> Result<(), StoreError> {
    let pending: Vec<OutboxRecord> = {
        let outbox = txn.open_table(OUTBOX)?;
        let mut out = Vec::new();
        for row in outbox.iter()? {
            let (_, value) = row?;
            let record: OutboxRecord = decode("outbox record", value.value())?;
            if record.status == CommandStatus::Pending {
                out.push(record);
            }
        }
        out
    };
    let mut typed = StoreTxn { txn };
    for record in &pending {
        typed.index_pending(record)?;
    }
    txn.delete_table(V1_OUTBOX_PENDING)
        .map_err(|e| StoreError::Engine { source: e.into() })?;
    Ok(())
}
